//! Layouts to compare: the same trail in lakes partitioned by day, by day and account, by
//! day and region, sorted and grouped differently, re-laid out by compaction, and mixing
//! layouts. Every query gives the same answer on each; the directories below the day prune.

#![allow(clippy::unwrap_used, reason = "a test's unwrap is its failure message")]

use std::io::Write;
use std::path::{Path, PathBuf};

use arrow::array::{Array, AsArray, RecordBatch};
use arrow::row::{RowConverter, SortField};
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use trawl_lake::{CompactOptions, IngestOptions, Lake, LayoutOptions, SubPartition, compact};
use trawl_query::QueryEngine;
use trawl_tuning::{LakeInfo, QueryStats, Workbench};

fn gz(path: &Path, records: serde_json::Value) {
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    e.write_all(&serde_json::to_vec(&serde_json::json!({ "Records": records })).unwrap())
        .unwrap();
    std::fs::write(path, e.finish().unwrap()).unwrap();
}

/// The generated trail's objects, plus one of events whose account and region are no
/// directory name (NULL, a path, spaces) and one whose time does not parse.
fn sources(dir: &Path) -> Vec<PathBuf> {
    let trail = trawl_testkit::trail(&dir.join("trail"), 11, 4_000, 4);
    let mut objects: Vec<PathBuf> = trawl_testkit::files(&trail)
        .into_iter()
        .filter(|r| r.ends_with(".json.gz") && !r.contains("Digest"))
        .map(|r| trail.join(r))
        .collect();
    objects.sort();
    let odd = |id: &str, time: &str, account: serde_json::Value, region: serde_json::Value| {
        serde_json::json!({"eventVersion": "1.09", "eventID": id, "eventTime": time,
            "eventSource": "s3.amazonaws.com", "eventName": "GetObject",
            "recipientAccountId": account, "awsRegion": region})
    };
    let extra = dir.join("extra/odd.json.gz");
    gz(
        &extra,
        serde_json::json!([
            odd(
                "odd-1",
                "2024-03-02T01:00:00Z",
                serde_json::Value::Null,
                "../x".into()
            ),
            odd(
                "odd-2",
                "2024-03-02T02:00:00Z",
                "not/a name".into(),
                "us-east-1".into()
            ),
            odd(
                "odd-3",
                "2024-03-03T03:00:00Z",
                "".into(),
                serde_json::Value::Null
            ),
            odd(
                "odd-4",
                "yesterday",
                "111122223333".into(),
                "eu-west-1".into()
            ),
        ]),
    );
    objects.push(extra);
    objects
}

fn layout(partition_by: &str, rows: usize, sort_by: &str) -> LayoutOptions {
    LayoutOptions::parse(
        &LayoutOptions::default(),
        Some(partition_by),
        Some(rows),
        Some(sort_by),
    )
    .unwrap()
}

fn ingest(lake: &Lake, objects: &[PathBuf], layout: Option<LayoutOptions>) {
    // One reader: which of an event's re-deliveries is kept (its trawl_source) does not
    // depend on the threads' timing.
    let opts = IngestOptions {
        flush_bytes: 256 << 10,
        threads: 1,
        layout,
        ..IngestOptions::default()
    };
    trawl_testkit::ingest_with(lake, objects, opts);
}

struct Lakes {
    _dir: tempfile::TempDir,
    lakes: Vec<(&'static str, Lake)>,
}

fn lakes() -> Lakes {
    let dir = tempfile::tempdir().unwrap();
    let objects = sources(dir.path());
    let half = objects.len() / 2;
    let make = |name: &str| Lake::create(dir.path().join(name)).unwrap();
    let by_day = make("by-day");
    ingest(&by_day, &objects, None);
    let by_account = make("by-account");
    ingest(
        &by_account,
        &objects,
        Some(layout("dt,account", 500, "eventsource,eventtime")),
    );
    let by_region = make("by-region");
    ingest(
        &by_region,
        &objects,
        Some(layout("dt,region", 300, "eventname")),
    );
    // Ingested by day, then re-laid out by compaction: cut into small files, merged in rounds.
    let relaid = make("relaid");
    ingest(&relaid, &objects, None);
    let s = compact(
        &relaid,
        &CompactOptions {
            layout: Some(layout("dt,account", 200, "useridentity_arn")),
            target_rows: 400,
            fan_in: 2,
            ..CompactOptions::default()
        },
    )
    .unwrap();
    assert!(s.relaid_days >= 4, "{s:?}");
    // Half by region, half by day: a lake whose files mix layouts.
    let mixed = make("mixed");
    ingest(
        &mixed,
        &objects[..half],
        Some(layout("dt,region", 1000, "eventtime")),
    );
    ingest(&mixed, &objects[half..], Some(LayoutOptions::default()));
    Lakes {
        _dir: dir,
        lakes: vec![
            ("by-day", by_day),
            ("by-account", by_account),
            ("by-region", by_region),
            ("relaid", relaid),
            ("mixed", mixed),
        ],
    }
}

fn run(lake: &Lake, sql: &str) -> (Vec<RecordBatch>, QueryStats) {
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let engine = QueryEngine::open(lake).await.unwrap();
        let bench = Workbench::new(lake, 5.0).unwrap();
        let mut results = engine.run(sql).await.unwrap();
        let r = results.pop().unwrap();
        let stats = bench.stats(&r, engine.files());
        (r.batches, stats)
    })
}

/// The rows as text lines, sorted: the answer whatever order the files give it in.
fn answer(batches: &[RecordBatch]) -> Vec<String> {
    let text = arrow::util::pretty::pretty_format_batches(batches)
        .unwrap()
        .to_string();
    let mut lines: Vec<String> = text.lines().map(str::to_string).collect();
    lines.sort();
    lines
}

const QUERIES: &[&str] = &[
    // Every column but the file a row is in.
    "SELECT * EXCLUDE (\"$path\") FROM cloudtrail_logs",
    "SELECT count(*), count(DISTINCT eventid), min(eventtime), max(eventtime) FROM cloudtrail_logs",
    "SELECT recipientaccountid, awsregion, count(*) FROM cloudtrail_logs GROUP BY 1, 2",
    "SELECT eventid, eventname FROM cloudtrail_logs WHERE recipientaccountid = '111122223333'",
    "SELECT count(*) FROM cloudtrail_logs WHERE recipientaccountid IN ('444455556666', 'nobody')",
    "SELECT eventid FROM cloudtrail_logs WHERE recipientaccountid = 'not/a name'",
    "SELECT eventid FROM cloudtrail_logs WHERE recipientaccountid = ''",
    "SELECT eventid FROM cloudtrail_logs WHERE recipientaccountid IS NULL",
    "SELECT count(*) FROM cloudtrail_logs WHERE recipientaccountid = '111122223333' AND recipientaccountid = '444455556666'",
    "SELECT count(*) FROM cloudtrail_logs WHERE awsregion = 'us-east-1' OR awsregion = 'eu-west-1'",
    "SELECT eventid FROM cloudtrail_logs WHERE awsregion = '../x'",
    "SELECT eventsource, count(*) FROM cloudtrail_logs WHERE awsregion <> 'us-east-1' GROUP BY 1",
    "SELECT eventname, useridentity.arn FROM cloudtrail_logs WHERE recipientaccountid = '444455556666' \
     AND eventtime >= '2024-03-02T06:00:00Z' AND eventtime < '2024-03-03'",
    "SELECT eventid FROM cloudtrail_logs WHERE eventsource = 'iam.amazonaws.com' ORDER BY eventtime DESC, eventid LIMIT 25",
    "SELECT eventid FROM cloudtrail_logs WHERE eventtime IS NULL OR eventtime = 'yesterday'",
];

#[test]
fn every_layout_gives_the_same_answers_and_its_directories_prune() {
    let lakes = lakes();
    let (base_name, base) = &lakes.lakes[0];
    for sql in QUERIES {
        let (want, _) = run(base, sql);
        let want = answer(&want);
        assert!(
            want.len() > 4 || sql.contains("count(*)"),
            "{sql}: {want:?}"
        );
        for (name, lake) in &lakes.lakes[1..] {
            let (got, _) = run(lake, sql);
            let got = answer(&got);
            if got != want {
                let diff: Vec<_> = got.iter().filter(|l| !want.contains(l)).collect();
                let short = |l: &&String| {
                    l.chars()
                        .rev()
                        .take(300)
                        .collect::<String>()
                        .chars()
                        .rev()
                        .collect::<String>()
                };
                panic!(
                    "{sql}: {name} vs {base_name}: {} lines vs {}, e.g. {:?} not in {base_name}",
                    got.len(),
                    want.len(),
                    diff.first().map(short)
                );
            }
        }
    }
    for (name, lake) in &lakes.lakes {
        let v = trawl_lake::verify(lake).unwrap();
        assert!(v.is_clean(), "{name}: {:?}", v.problems);
    }

    // An equality on the account reads only that account's directories.
    let by_account = &lakes.lakes[1].1;
    let snap = by_account.snapshot().unwrap();
    let under = |dir: &str| snap.files.iter().filter(|f| f.path.contains(dir)).count() as u64;
    let (_, stats) = run(
        by_account,
        "SELECT count(*) FROM cloudtrail_logs WHERE recipientaccountid = '111122223333'",
    );
    let s = stats.scan.unwrap();
    assert_eq!(s.files_in_lake, snap.files.len() as u64);
    assert_eq!(s.files_listed, under("/account=111122223333/"), "{s:?}");
    assert!(
        s.files_listed > 0 && s.files_listed < s.files_in_lake,
        "{s:?}"
    );
    // A value that is no directory name is in Hive's NULL partition, with NULL and ''.
    let (_, stats) = run(
        by_account,
        "SELECT count(*) FROM cloudtrail_logs WHERE recipientaccountid = 'not/a name'",
    );
    assert_eq!(
        stats.scan.unwrap().files_listed,
        under("/account=__HIVE_DEFAULT_PARTITION__/")
    );
    // Days and regions prune together.
    let by_region = &lakes.lakes[2].1;
    let snap = by_region.snapshot().unwrap();
    let (_, stats) = run(
        by_region,
        "SELECT count(*) FROM cloudtrail_logs WHERE awsregion IN ('eu-west-1') AND eventtime >= '2024-03-03'",
    );
    let want = snap
        .files
        .iter()
        .filter(|f| {
            f.path.contains("/region=eu-west-1/")
                && (f.dt.as_str() >= "2024-03-03" || f.dt == "__HIVE_DEFAULT_PARTITION__")
        })
        .count() as u64;
    assert_eq!(stats.scan.unwrap().files_listed, want);
}

/// The lake's files: in their layout's directories, sorted by its columns, in row groups of
/// its size, and recorded so (info, the log, and the files' metadata for a rebuilt log).
#[test]
fn files_are_written_in_their_layout_and_record_it() {
    let dir = tempfile::tempdir().unwrap();
    let objects = sources(dir.path());
    let lake = Lake::create(dir.path().join("lake")).unwrap();
    let want = layout("dt,region", 250, "eventsource,eventname");
    ingest(&lake, &objects, Some(want.clone()));
    // A later ingest without options keeps the lake's layout.
    let more = trawl_testkit::trail(&dir.path().join("more"), 12, 500, 2);
    ingest(&lake, &[more], None);
    let snap = lake.snapshot().unwrap();
    assert_eq!(snap.layout(), want);
    assert!(snap.files.iter().all(|f| f.layout.as_ref() == Some(&want)));
    for f in &snap.files {
        let (kind, value) = trawl_lake::layout_options::sub_partition_of(&f.path)
            .unwrap_or_else(|| panic!("{} is below its day", f.path));
        assert_eq!(kind, SubPartition::Region);
        let file = std::fs::File::open(lake.root().join(&f.path)).unwrap();
        let reader = ParquetRecordBatchReaderBuilder::try_new(file).unwrap();
        let meta = reader.metadata().clone();
        assert!(meta.row_groups().iter().all(|g| g.num_rows() <= 250));
        assert_eq!(meta.row_groups().len() as u64, f.rows.div_ceil(250));
        let batches: Vec<RecordBatch> = reader.build().unwrap().map(Result::unwrap).collect();
        let batch = arrow::compute::concat_batches(&batches[0].schema(), &batches).unwrap();
        let regions = batch
            .column_by_name("awsregion")
            .unwrap()
            .as_string::<i32>();
        for r in 0..batch.num_rows() {
            let v = regions.is_valid(r).then(|| regions.value(r));
            assert_eq!(trawl_lake::layout_options::partition_value(v), value);
        }
        // Sorted by eventsource, eventname, then event time, NULLs last.
        let cols: Vec<_> = ["eventsource", "eventname", "eventtime_ts"]
            .iter()
            .map(|c| batch.column_by_name(c).unwrap().clone())
            .collect();
        let fields = cols
            .iter()
            .map(|c| {
                SortField::new_with_options(
                    c.data_type().clone(),
                    arrow::compute::SortOptions {
                        descending: false,
                        nulls_first: false,
                    },
                )
            })
            .collect();
        let rows = RowConverter::new(fields)
            .unwrap()
            .convert_columns(&cols)
            .unwrap();
        assert!(
            (1..rows.num_rows()).all(|i| rows.row(i - 1) <= rows.row(i)),
            "{} is sorted",
            f.path
        );
    }
    let info = LakeInfo::of(&lake).unwrap();
    assert_eq!(info.partitioned_by, ["dt", "region"]);
    assert_eq!(info.sorted_by, ["eventsource", "eventname", "eventtime"]);
    assert_eq!(info.row_group_rows, 250);
    assert_eq!(info.files_in_other_layouts, 0);
    assert!(info.partitions > info.days, "{info:?}");
    assert!(info.text().contains("partitioned by dt, region, sorted by eventsource, eventname, eventtime, row groups of 250 rows"), "{}", info.text());

    // The log lost: the rebuilt one knows each file's layout from the file.
    std::fs::remove_dir_all(lake.layout().log_dir()).unwrap();
    let r = trawl_lake::rebuild_ledger(&lake).unwrap();
    assert!(r.skipped.is_empty(), "{:?}", r.skipped);
    let rebuilt = lake.snapshot().unwrap();
    assert_eq!(rebuilt.files.len(), snap.files.len());
    assert_eq!(rebuilt.layout(), want);

    // Compaction back to the default layout rewrites every day: files directly in the day.
    let s = compact(
        &lake,
        &CompactOptions {
            layout: Some(LayoutOptions::default()),
            ..CompactOptions::default()
        },
    )
    .unwrap();
    let after = lake.snapshot().unwrap();
    assert_eq!(s.relaid_days, info.days, "{s:?}");
    assert_eq!(after.rows(), snap.rows());
    assert_eq!(after.files.len() as u64, info.days, "a file a day");
    assert!(
        after.files.iter().all(|f| f.layout.is_none()
            && trawl_lake::layout_options::sub_partition_of(&f.path).is_none())
    );
    assert_eq!(LakeInfo::of(&lake).unwrap().partitioned_by, ["dt"]);
    assert!(trawl_lake::verify(&lake).unwrap().is_clean());
}
