//! The stats of `trawl sql --stats` against a lake whose files, row groups and bytes are
//! known: a generated trail compacted to one file per day in row groups of 100 rows.

#![allow(clippy::unwrap_used, reason = "a test's unwrap is its failure message")]

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use arrow::array::AsArray;
use parquet::file::reader::{FileReader, SerializedFileReader};

use trawl_lake::{CompactOptions, IngestOptions, Lake, compact, needles};
use trawl_query::QueryEngine;
use trawl_tuning::{QueryStats, Workbench};

const GROUP: usize = 100;

struct Fixture {
    _dir: tempfile::TempDir,
    trail: PathBuf,
    lake: Lake,
}

fn fixture() -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    let trail = trawl_testkit::trail(&dir.path().join("trail"), 7, 3_000, 3);
    let lake = Lake::create(dir.path().join("lake")).unwrap();
    let opts = IngestOptions {
        flush_bytes: 1,
        ..IngestOptions::default()
    };
    trawl_testkit::ingest_with(&lake, std::slice::from_ref(&trail), opts);
    let summary = compact(
        &lake,
        &CompactOptions {
            layout: Some(trawl_lake::LayoutOptions {
                row_group_rows: GROUP,
                ..Default::default()
            }),
            ..CompactOptions::default()
        },
    )
    .unwrap();
    assert!(summary.files_after < summary.files_before, "{summary:?}");
    assert_eq!(lake.snapshot().unwrap().files.len(), 3, "one file per day");
    Fixture {
        _dir: dir,
        trail,
        lake,
    }
}

fn run(f: &Fixture, sql: &str) -> (Vec<arrow::record_batch::RecordBatch>, QueryStats) {
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let engine = QueryEngine::open(&f.lake).await.unwrap();
        let bench = Workbench::new(&f.lake, 5.0).unwrap();
        let mut results = engine.run(sql).await.unwrap();
        let r = results.pop().unwrap();
        let stats = bench.stats(&r, engine.files());
        (r.batches, stats)
    })
}

/// The event times (microseconds) of one day, in the order the compacted file holds them.
fn times_of(f: &Fixture, day: &str) -> Vec<i64> {
    let (batches, _) = run(
        f,
        &format!(
            "SELECT CAST(to_unixtime(from_iso8601_timestamp(eventtime)) * 1000000 AS BIGINT) \
             FROM cloudtrail_logs WHERE eventtime LIKE '{day}%' ORDER BY 1"
        ),
    );
    batches
        .iter()
        .flat_map(|b| {
            b.column(0)
                .as_primitive::<arrow::datatypes::Int64Type>()
                .values()
                .to_vec()
        })
        .collect()
}

fn file_of(f: &Fixture, day: &str) -> (PathBuf, u64) {
    let snap = f.lake.snapshot().unwrap();
    let file = snap.files.iter().find(|d| d.dt == day).unwrap();
    (f.lake.root().join(&file.path), file.bytes)
}

/// The gzipped log objects under `dir` (no digests), with the date folder of each.
fn objects(dir: &Path) -> Vec<(String, u64)> {
    let mut out = Vec::new();
    for rel in trawl_testkit::files(dir) {
        if rel.ends_with(".json.gz") && !rel.contains("CloudTrail-Digest") {
            let parts: Vec<&str> = rel.split('/').collect();
            let n = parts.len();
            let day = format!("{}-{}-{}", parts[n - 4], parts[n - 3], parts[n - 2]);
            out.push((day, std::fs::metadata(dir.join(&rel)).unwrap().len()));
        }
    }
    out
}

#[test]
fn a_time_filter_prunes_partitions_and_row_groups_exactly() {
    let f = fixture();
    let day = "2024-03-02";
    let bound = "2024-03-02T12:00:00Z";
    let bound_us = chrono::DateTime::parse_from_rfc3339(bound)
        .unwrap()
        .timestamp_micros();
    let times = times_of(&f, day);
    let (path, file_bytes) = file_of(&f, day);
    let reader = SerializedFileReader::new(std::fs::File::open(&path).unwrap()).unwrap();
    let meta = reader.metadata();
    let groups = meta.num_row_groups();
    assert_eq!(
        groups,
        times.len().div_ceil(GROUP),
        "row groups of {GROUP} rows"
    );
    // A row group is pruned when its latest event is before the bound.
    let pruned = times
        .chunks(GROUP)
        .filter(|c| *c.last().unwrap() < bound_us)
        .count();
    assert!(pruned > 0 && pruned < groups, "{pruned} of {groups}");
    let want_rows = times.iter().filter(|t| **t >= bound_us).count() as u64;

    let (_, stats) = run(
        &f,
        &format!(
            "SELECT eventname FROM cloudtrail_logs WHERE eventtime >= '{bound}' AND eventtime < '2024-03-03'"
        ),
    );
    assert_eq!(stats.rows, want_rows, "{stats:?}");
    let s = stats.scan.clone().unwrap();
    assert_eq!(s.scans, 1);
    assert_eq!(s.files_in_lake, 3);
    assert_eq!(s.partitions_in_lake, 3);
    assert_eq!(s.files_listed, 1, "partition pruning keeps one day: {s:?}");
    assert_eq!(s.partitions, vec![day.to_string()]);
    assert_eq!(s.bytes_listed, file_bytes);
    assert_eq!(s.file_ranges.read, 1, "{s:?}");
    assert_eq!(s.row_groups_by_statistics.pruned, pruned as u64, "{s:?}");
    assert_eq!(
        s.row_groups_by_statistics.read,
        (groups - pruned) as u64,
        "{s:?}"
    );
    assert_eq!(s.row_groups(), (groups as u64, (groups - pruned) as u64));
    // The bytes read: at least the `eventname` column chunks of the row groups kept, at most
    // the file.
    let col = meta
        .file_metadata()
        .schema_descr()
        .columns()
        .iter()
        .position(|c| c.name() == "eventname")
        .unwrap();
    let chunks: i64 = (pruned..groups)
        .map(|g| meta.row_group(g).column(col).compressed_size())
        .sum();
    assert!(
        s.bytes_scanned >= chunks as u64 && s.bytes_scanned <= file_bytes,
        "{} read; eventname chunks {chunks}, file {file_bytes}",
        s.bytes_scanned
    );

    // Athena: every object of the trail on raw JSON; those delivered that day with
    // projection; the bytes read on this lake.
    let objects = objects(&f.trail);
    let all: u64 = objects.iter().map(|(_, b)| b).sum();
    let that_day: u64 = objects
        .iter()
        .filter(|(d, _)| d == day)
        .map(|(_, b)| b)
        .sum();
    assert!(that_day > 0 && that_day < all);
    let bill = stats.athena.clone().unwrap();
    assert_eq!(bill.raw_json.bytes, all);
    assert_eq!(bill.raw_json_projected.bytes, that_day);
    assert_eq!(bill.lake.bytes, s.bytes_scanned);
    assert_eq!(bill.lake.billed_bytes, 10 << 20, "the 10 MB minimum");
    let text = stats.text();
    assert!(text.contains("partitions 1 of 3 (2024-03-02)"), "{text}");
    assert!(
        text.contains(&format!("{pruned} pruned by min/max")),
        "{text}"
    );
}

#[test]
fn a_self_join_scans_twice_and_athena_bills_both() {
    let f = fixture();
    let (_, one) = run(&f, "SELECT eventid FROM cloudtrail_logs");
    let (_, two) = run(
        &f,
        "SELECT count(*) FROM cloudtrail_logs a JOIN cloudtrail_logs b ON a.eventid = b.eventid \
         WHERE b.eventtime < '2024-03-02'",
    );
    let (s1, s2) = (one.scan.unwrap(), two.scan.unwrap());
    assert_eq!(s1.scans, 1);
    assert_eq!(s1.files_listed, 3);
    assert_eq!(s1.row_groups_by_statistics.pruned, 0, "no filter: {s1:?}");
    assert_eq!(s2.scans, 2, "{s2:?}");
    assert_eq!(s2.files_listed, 3 + 1, "{s2:?}");
    let set: BTreeSet<String> = s2.partitions.iter().cloned().collect();
    assert_eq!(set.len(), 3);
    let (b1, b2) = (one.athena.unwrap(), two.athena.unwrap());
    assert_eq!(b2.raw_json.bytes, 2 * b1.raw_json.bytes);
    assert!(b2.raw_json_projected.bytes < b2.raw_json.bytes);
    assert!(b2.raw_json_projected.bytes > b1.raw_json_projected.bytes);
}

/// An eventID lookup: each row group's min/max and bloom filter, read from the files, say
/// which groups the scan prunes by statistics and which by bloom filter; the stats must say
/// the same.
#[test]
fn an_eventid_lookup_prunes_by_min_max_then_bloom_filter_exactly() {
    use parquet::file::properties::ReaderProperties;
    use parquet::file::serialized_reader::ReadOptionsBuilder;

    let f = fixture();
    let (batches, _) = run(
        &f,
        "SELECT eventid FROM cloudtrail_logs WHERE eventtime LIKE '2024-03-02T12%' ORDER BY eventtime LIMIT 1",
    );
    let needle = batches[0].column(0).as_string::<i32>().value(0).to_string();
    let (mut by_stats, mut by_bloom, mut kept, mut files_pruned) = (0u64, 0u64, 0u64, 0u64);
    for file in &f.lake.snapshot().unwrap().files {
        let options = ReadOptionsBuilder::new()
            .with_reader_properties(
                ReaderProperties::builder()
                    .set_read_bloom_filter(true)
                    .build(),
            )
            .build();
        let reader = SerializedFileReader::new_with_options(
            std::fs::File::open(f.lake.root().join(&file.path)).unwrap(),
            options,
        )
        .unwrap();
        let meta = reader.metadata();
        let col = meta
            .file_metadata()
            .schema_descr()
            .columns()
            .iter()
            .position(|c| c.name() == "eventid")
            .unwrap();
        let range = |g: usize| {
            let s = meta.row_group(g).column(col).statistics().unwrap();
            let text = |b: Option<&[u8]>| String::from_utf8(b.unwrap().to_vec()).unwrap();
            (text(s.min_bytes_opt()), text(s.max_bytes_opt()))
        };
        let groups = meta.num_row_groups();
        let inside = |(lo, hi): (String, String)| {
            lo.as_str() <= needle.as_str() && needle.as_str() <= hi.as_str()
        };
        // A file whose eventIDs all sort apart from the needle is not opened.
        let file_lo = (0..groups).map(|g| range(g).0).min().unwrap();
        let file_hi = (0..groups).map(|g| range(g).1).max().unwrap();
        if !inside((file_lo, file_hi)) {
            files_pruned += 1;
            continue;
        }
        for g in 0..groups {
            if !inside(range(g)) {
                by_stats += 1;
                continue;
            }
            let rg = reader.get_row_group(g).unwrap();
            let bloom = rg
                .get_column_bloom_filter(col)
                .expect("eventid has a bloom filter");
            if bloom.check(&needle.as_str()) {
                kept += 1;
            } else {
                by_bloom += 1;
            }
        }
    }
    assert!(by_bloom > 0 && kept >= 1, "bloom {by_bloom}, kept {kept}");
    let lookup = format!("SELECT eventname FROM cloudtrail_logs WHERE eventid = '{needle}'");
    // The files' needle filters first: the scan lists only the files whose filter may hold
    // the eventID.
    let files = f.lake.snapshot().unwrap().files;
    let may_hold = files
        .iter()
        .filter(|file| {
            let path = f.lake.root().join(needles::path_of(&file.index));
            needles::Needles::read(&path, &file.xxh3)
                .expect("every file has a needle filter")
                .may_hold(0, &needle)
        })
        .count() as u64;
    let (rows, stats) = run(&f, &lookup);
    assert_eq!(rows.iter().map(|b| b.num_rows()).sum::<usize>(), 1);
    assert!(may_hold >= 1 && may_hold < files.len() as u64, "{may_hold}");
    assert_eq!(stats.scan.unwrap().files_listed, may_hold);
    // Without them, the footers' statistics and bloom filters decide, exactly so.
    std::fs::remove_dir_all(f.lake.root().join("_trawl/needles")).unwrap();
    let (rows, stats) = run(&f, &lookup);
    assert_eq!(rows.iter().map(|b| b.num_rows()).sum::<usize>(), 1);
    let s = stats.scan.clone().unwrap();
    assert_eq!(s.files_listed, 3, "no partition bound: {s:?}");
    assert_eq!(s.file_ranges.pruned, files_pruned, "{s:?}");
    assert_eq!(s.row_groups_by_statistics.pruned, by_stats, "{s:?}");
    assert_eq!(s.row_groups_by_bloom_filter.pruned, by_bloom, "{s:?}");
    assert_eq!(s.row_groups_by_bloom_filter.read, kept, "{s:?}");
    assert!(
        stats.text().contains(&format!(
            "{by_stats} pruned by min/max, {by_bloom} by bloom filter"
        )),
        "{}",
        stats.text()
    );
}

/// A bound inside a row group: the page index skips the pages whose rows all sort before it.
/// The pages' first rows, read from the file's offset index, and the file's sorted times give
/// the rows skipped; the stats must say the same.
#[test]
fn a_bound_inside_a_row_group_prunes_its_pages_exactly() {
    use parquet::file::metadata::{PageIndexPolicy, ParquetMetaDataReader};

    let dir = tempfile::tempdir().unwrap();
    let trail = trawl_testkit::trail(&dir.path().join("trail"), 5, 60_000, 1);
    let lake = Lake::create(dir.path().join("lake")).unwrap();
    trawl_testkit::ingest(&lake, std::slice::from_ref(&trail));
    compact(&lake, &CompactOptions::default()).unwrap();
    let snap = lake.snapshot().unwrap();
    assert_eq!(snap.files.len(), 1, "one day, one file");
    let path = lake.root().join(&snap.files[0].path);
    let f = Fixture {
        _dir: dir,
        trail,
        lake,
    };
    let times = times_of(&f, &snap.files[0].dt);
    let meta = ParquetMetaDataReader::new()
        .with_page_index_policy(PageIndexPolicy::Required)
        .parse_and_finish(&std::fs::File::open(&path).unwrap())
        .unwrap();
    assert_eq!(
        meta.num_row_groups(),
        1,
        "a row group: pages are what prunes"
    );
    let columns = meta.file_metadata().schema_descr().columns().to_vec();
    let offsets = &meta.offset_index().unwrap()[0];
    // The first rows of each page of the two columns the bound tests.
    let firsts = |name: &str| -> Vec<usize> {
        let c = columns.iter().position(|c| c.name() == name).unwrap();
        offsets[c]
            .page_locations()
            .iter()
            .map(|p| p.first_row_index as usize)
            .collect()
    };
    let (ts_pages, text_pages) = (firsts("eventtime_ts"), firsts("eventtime"));
    assert!(ts_pages.len() >= 3, "{ts_pages:?}");
    // The bound: the time of a row just inside a middle page of eventtime_ts.
    let page = ts_pages.len() / 2;
    let bound_row = ts_pages[page] + 10;
    let bound_us = times[bound_row];
    let bound = chrono::DateTime::from_timestamp_micros(bound_us)
        .unwrap()
        .format("%Y-%m-%dT%H:%M:%SZ")
        .to_string();
    // Rows of a column's pages that end before the bound are skipped; the two selections are
    // intersected, so the rows skipped are those of the column that skips more.
    let skipped = |firsts: &[usize]| -> usize {
        let ends: Vec<usize> = firsts[1..].iter().copied().chain([times.len()]).collect();
        firsts
            .iter()
            .zip(&ends)
            .take_while(|&(_, &end)| {
                chrono::DateTime::from_timestamp_micros(times[end - 1])
                    .unwrap()
                    .format("%Y-%m-%dT%H:%M:%SZ")
                    .to_string()
                    < bound
            })
            .map(|(&first, &end)| end - first)
            .sum()
    };
    let want = skipped(&ts_pages).max(skipped(&text_pages));
    assert!(want > 0 && want < times.len(), "{want} of {}", times.len());
    let (_, stats) = run(
        &f,
        &format!("SELECT count(eventname) FROM cloudtrail_logs WHERE eventtime >= '{bound}'"),
    );
    let s = stats.scan.unwrap();
    assert_eq!(s.rows_by_page_index.pruned, want as u64, "{s:?}");
    assert_eq!(
        s.rows_by_page_index.read,
        (times.len() - want) as u64,
        "{s:?}"
    );
    assert!(s.pages_by_page_index.pruned > 0, "{s:?}");
}
