//! `trawl compact`: a day's small files become one, with every row, the dedup index and the
//! manifests kept right; replaced files stay for older readers until the retention passes.

#![allow(clippy::unwrap_used, reason = "a test's unwrap is its failure message")]

use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Duration;

use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use trawl_lake::{CompactOptions, IngestOptions, Lake, LayoutOptions, Snapshot, compact};

fn gz(data: &[u8]) -> Vec<u8> {
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    e.write_all(data).unwrap();
    e.finish().unwrap()
}

fn write_records(path: &Path, records: &[serde_json::Value]) {
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    let body = serde_json::to_vec(&serde_json::json!({ "Records": records })).unwrap();
    std::fs::write(path, gz(&body)).unwrap();
}

fn event(id: Option<&str>, time: &str, name: &str) -> serde_json::Value {
    let mut e = serde_json::json!({"eventVersion": "1.09", "eventTime": time,
        "eventSource": "iam.amazonaws.com", "eventName": name, "awsRegion": "us-east-1",
        "readOnly": false});
    if let Some(id) = id {
        e["eventID"] = id.into();
    }
    e
}

/// Every row of the snapshot's files, as its rebuilt record's JSON text, sorted.
fn rows(lake: &Lake, snap: &Snapshot) -> Vec<String> {
    let mut out = Vec::new();
    for f in &snap.files {
        let file = std::fs::File::open(lake.root().join(&f.path)).unwrap();
        for b in ParquetRecordBatchReaderBuilder::try_new(file)
            .unwrap()
            .build()
            .unwrap()
        {
            for r in trawl_schema::rebuild_batch(&b.unwrap()).unwrap() {
                out.push(serde_json::to_string(&r).unwrap());
            }
        }
    }
    out.sort();
    out
}

/// Files in days that have more than one (what a compaction with the defaults rewrites).
fn in_shared_days(snap: &Snapshot) -> usize {
    let mut per_day = std::collections::BTreeMap::<&str, usize>::new();
    for f in &snap.files {
        *per_day.entry(f.dt.as_str()).or_default() += 1;
    }
    per_day.values().filter(|n| **n > 1).sum()
}

fn days(snap: &Snapshot) -> usize {
    snap.files
        .iter()
        .map(|f| f.dt.as_str())
        .collect::<std::collections::BTreeSet<_>>()
        .len()
}

/// The event times of a data file, in file order.
fn times(path: &Path) -> Vec<Option<i64>> {
    let file = std::fs::File::open(path).unwrap();
    let mut out = Vec::new();
    for b in ParquetRecordBatchReaderBuilder::try_new(file)
        .unwrap()
        .build()
        .unwrap()
    {
        let b = b.unwrap();
        let ts = b
            .column_by_name(trawl_schema::COL_EVENTTIME_TS)
            .unwrap()
            .as_any()
            .downcast_ref::<arrow::array::TimestampMicrosecondArray>()
            .unwrap();
        out.extend(ts.iter());
    }
    out
}

/// A lake made by `runs` ingests of a generated trail's objects (a share each), plus
/// hand-written events: a conflict, an event with no eventID, one whose time does not parse.
fn incremental_lake(dir: &Path, runs: usize) -> Lake {
    let trail = trawl_testkit::trail(&dir.join("trail"), 7, 3000, 3);
    let mut objects: Vec<PathBuf> = walkdir::WalkDir::new(&trail)
        .into_iter()
        .map(|e| e.unwrap().into_path())
        .filter(|p| p.is_file())
        .collect();
    objects.sort();
    let extra = dir.join("extra");
    write_records(
        &extra.join("a.json.gz"),
        &[
            event(Some("same-id"), "2024-03-01T10:00:00Z", "CreateUser"),
            event(None, "2024-03-01T11:00:00Z", "NoId"),
            event(Some("bad-time"), "not a time", "Odd"),
        ],
    );
    write_records(
        &extra.join("b.json.gz"),
        &[event(Some("same-id"), "2024-03-01T10:00:00Z", "DeleteUser")],
    );
    objects.push(extra.join("a.json.gz"));
    objects.push(extra.join("b.json.gz"));
    let lake = Lake::create(dir.join("lake")).unwrap();
    let per_run = objects.len().div_ceil(runs);
    for chunk in objects.chunks(per_run) {
        trawl_testkit::ingest_with(&lake, chunk, IngestOptions::default());
    }
    lake
}

#[test]
fn compaction_keeps_every_row_in_one_sorted_file_a_day() {
    let dir = tempfile::tempdir().unwrap();
    let lake = incremental_lake(dir.path(), 6);
    let before = lake.snapshot().unwrap();
    let days: std::collections::BTreeSet<&str> =
        before.files.iter().map(|f| f.dt.as_str()).collect();
    assert!(
        before.files.len() >= 2 * days.len(),
        "the test needs days with several files: {} files, {} days",
        before.files.len(),
        days.len()
    );
    let before_rows = rows(&lake, &before);

    let s = compact(&lake, &CompactOptions::default()).unwrap();
    let after = lake.snapshot().unwrap();
    assert_eq!(s.version, Some(after.version));
    assert_eq!(after.version, before.version + 1);
    assert_eq!(after.files.len(), days.len(), "one file a day: {s:?}");
    let rewritten = in_shared_days(&before);
    assert_eq!(s.files_before as usize, rewritten);
    assert_eq!(after.rows(), before.rows());
    assert!(s.rows > 0 && s.rows <= before.rows(), "{s:?}");
    assert_eq!(
        rows(&lake, &after),
        before_rows,
        "the same rows, conflicts included"
    );
    for f in &after.files {
        let had = before.files.iter().filter(|b| b.dt == f.dt).count();
        assert_eq!(f.path.contains("/compact-"), had > 1, "{}", f.path);
        let t = times(&lake.root().join(&f.path));
        let mut sorted = t.clone();
        sorted.sort_by_key(|t| (t.is_none(), *t));
        assert_eq!(t, sorted, "{} is sorted by event time", f.path);
    }
    // The replaced files stay for readers of the older snapshot, and are no orphans.
    assert_eq!(after.removed.len(), rewritten);
    for t in &after.removed {
        assert!(lake.root().join(&t.file.path).exists(), "{}", t.file.path);
    }
    let v = trawl_lake::verify(&lake).unwrap();
    assert!(v.is_clean(), "{:?}", v.problems);
    assert!(v.orphans.is_empty(), "{:?}", v.orphans);
    assert!(v.manifests.is_empty(), "{:?}", v.manifests);
    let manifest_lines: usize = days
        .iter()
        .map(|d| {
            std::fs::read_to_string(lake.layout().manifest(d))
                .unwrap()
                .lines()
                .count()
        })
        .sum();
    assert_eq!(manifest_lines, days.len());

    // Nothing left to do: a second compaction commits nothing.
    let again = compact(&lake, &CompactOptions::default()).unwrap();
    assert_eq!(again.version, None);
    assert_eq!(lake.snapshot().unwrap().version, after.version);

    // The next ingest dedups against the compacted files: a copy is dropped, a changed
    // event is kept as a conflict, and its recovery does not delete the replaced files.
    let more = dir.path().join("more");
    write_records(
        &more.join("c.json.gz"),
        &[
            event(Some("same-id"), "2024-03-01T10:00:00Z", "CreateUser"),
            event(Some("same-id"), "2024-03-01T10:00:00Z", "TagUser"),
        ],
    );
    let s = trawl_testkit::ingest(&lake, &[more]);
    assert_eq!((s.events_stored, s.duplicates_dropped), (1, 1), "{s:?}");
    assert_eq!(s.conflicts, 1);
    let now = lake.snapshot().unwrap();
    assert_eq!(now.rows(), before.rows() + 1);
    for t in &now.removed {
        assert!(lake.root().join(&t.file.path).exists(), "{}", t.file.path);
    }

    // Past the retention, the replaced files and their indexes are deleted.
    let purge = compact(
        &lake,
        &CompactOptions {
            retain: Duration::ZERO,
            ..CompactOptions::default()
        },
    )
    .unwrap();
    // It compacted the day the ingest added to, and deleted every replaced file, its own too.
    let last = lake.snapshot().unwrap();
    assert_eq!(purge.purged as usize, last.removed.len());
    assert!(last.removed.len() > rewritten, "{purge:?}");
    for t in &last.removed {
        assert!(!lake.root().join(&t.file.path).exists(), "{}", t.file.path);
        assert!(
            !lake.root().join(&t.file.index).exists(),
            "{}",
            t.file.index
        );
    }
    let v = trawl_lake::verify(&lake).unwrap();
    assert!(v.is_clean() && v.orphans.is_empty(), "{v:?}");
    assert_eq!(last.rows(), before.rows() + 1);
    assert_eq!(rows(&lake, &last).len() as u64, last.rows());
}

#[test]
fn a_window_compacts_only_its_days_and_small_files_only() {
    let dir = tempfile::tempdir().unwrap();
    let lake = incremental_lake(dir.path(), 4);
    let before = lake.snapshot().unwrap();
    let first_day = before.files.iter().map(|f| f.dt.clone()).min().unwrap();
    let window = trawl_schema::TimeWindow::parse(Some(&first_day), None)
        .and_then(|w| {
            let until = w.since.unwrap() + 86_400_000_000;
            trawl_schema::TimeWindow::new(w.since, Some(until))
        })
        .unwrap();
    let s = compact(
        &lake,
        &CompactOptions {
            window,
            ..CompactOptions::default()
        },
    )
    .unwrap();
    assert_eq!(s.days, 1, "{s:?}");
    let after = lake.snapshot().unwrap();
    for f in &after.files {
        assert_eq!(
            f.path.contains("/compact-"),
            f.dt == first_day,
            "{} (only {first_day} compacted)",
            f.path
        );
    }
    assert_eq!(rows(&lake, &after), rows(&lake, &before));

    // A target below every file's size: no file is small, nothing is rewritten.
    let none = compact(
        &lake,
        &CompactOptions {
            target_rows: 2,
            ..CompactOptions::default()
        },
    )
    .unwrap();
    assert_eq!(none.version, None);
}

#[test]
fn a_crashed_compaction_leaves_nothing_and_rebuild_ledger_counts_replaced_rows_once() {
    let dir = tempfile::tempdir().unwrap();
    let lake = incremental_lake(dir.path(), 3);
    let before = lake.snapshot().unwrap();
    // What a compaction killed before its commit leaves: a staged file and a placed one.
    let layout = lake.layout();
    let day = &before.files[0].dt;
    let stray = layout
        .root()
        .join(trawl_lake::Layout::compacted_file(day, 99, 0));
    std::fs::copy(layout.root().join(&before.files[0].path), &stray).unwrap();
    std::fs::create_dir_all(layout.meta_dir().join("compaction")).unwrap();
    std::fs::write(
        layout.meta_dir().join("compaction/0000.parquet"),
        b"partial",
    )
    .unwrap();
    let v = trawl_lake::verify(&lake).unwrap();
    assert_eq!(v.orphans.len(), 1, "{:?}", v.orphans);

    let s = compact(&lake, &CompactOptions::default()).unwrap();
    assert_eq!(s.recovered, 1, "{s:?}");
    assert!(!stray.exists());
    assert!(!layout.meta_dir().join("compaction").exists());

    // The log lost: the rebuilt one holds the compacted files, not the replaced ones too.
    std::fs::remove_dir_all(layout.log_dir()).unwrap();
    let r = trawl_lake::rebuild_ledger(&lake).unwrap();
    assert_eq!(r.replaced.len(), in_shared_days(&before), "{r:?}");
    assert!(r.skipped.is_empty(), "{:?}", r.skipped);
    let rebuilt = lake.snapshot().unwrap();
    assert_eq!(rebuilt.rows(), before.rows());
    assert_eq!(rows(&lake, &rebuilt), rows(&lake, &before));
}

#[test]
fn a_merge_across_many_row_groups_and_a_second_compaction_keep_rows_order_and_index() {
    let dir = tempfile::tempdir().unwrap();
    let lake = incremental_lake(dir.path(), 6);
    let before = lake.snapshot().unwrap();
    let want = rows(&lake, &before);
    // Small outputs of odd row groups: several files a day, each merged from several inputs.
    let small = CompactOptions {
        target_rows: 700,
        layout: Some(LayoutOptions {
            row_group_rows: 97,
            ..LayoutOptions::default()
        }),
        ..CompactOptions::default()
    };
    assert!(
        in_shared_days(&before) > 3 * days(&before),
        "some days have more than two files, for the rounds below"
    );
    compact(&lake, &small).unwrap();
    let first = lake.snapshot().unwrap();
    assert!(
        first
            .files
            .iter()
            .filter(|f| f.path.contains("/compact-"))
            .count()
            > 3
    );
    for f in first.files.iter().filter(|f| f.path.contains("/compact-")) {
        let file = std::fs::File::open(lake.root().join(&f.path)).unwrap();
        let meta = ParquetRecordBatchReaderBuilder::try_new(file).unwrap();
        let groups = meta.metadata().num_row_groups() as u64;
        assert_eq!(groups, f.rows.div_ceil(97), "{}", f.path);
        let t = times(&lake.root().join(&f.path));
        let mut sorted = t.clone();
        sorted.sort_by_key(|t| (t.is_none(), *t));
        assert_eq!(t, sorted, "{}", f.path);
    }
    assert_eq!(rows(&lake, &first), want);
    let v = trawl_lake::verify(&lake).unwrap();
    assert!(
        v.is_clean(),
        "indexes match the merged rows: {:?}",
        v.problems
    );
    // The compacted files are small for the default target: merged again, through their
    // own indexes, two at a time (in rounds through staging).
    let s = compact(
        &lake,
        &CompactOptions {
            fan_in: 2,
            ..CompactOptions::default()
        },
    )
    .unwrap();
    assert!(!lake.layout().meta_dir().join("compaction").exists());
    assert!(s.version.is_some(), "{s:?}");
    let second = lake.snapshot().unwrap();
    assert_eq!(rows(&lake, &second), want);
    assert_eq!(second.files.len(), days(&second), "one file a day");
    let v = trawl_lake::verify(&lake).unwrap();
    assert!(v.is_clean(), "{:?}", v.problems);
}
