//! Dedup after a commit split one day into several files (one per core) and the day was
//! evicted from memory: every file's index must be found when the day is loaded again.

#![allow(clippy::unwrap_used, reason = "a test's unwrap is its failure message")]

use std::io::Write;
use std::path::Path;

use trawl_lake::{IngestOptions, Lake};

fn write_records(path: &Path, records: &[serde_json::Value]) {
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    let body = serde_json::to_vec(&serde_json::json!({ "Records": records })).unwrap();
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    e.write_all(&body).unwrap();
    std::fs::write(path, e.finish().unwrap()).unwrap();
}

/// Event `i` of day `day` (`2024-03-01`), in time order.
fn event(day: &str, i: usize) -> serde_json::Value {
    serde_json::json!({"eventVersion": "1.09", "eventSource": "s3.amazonaws.com",
        "eventTime": format!("{day}T{:02}:{:02}:{:02}Z", i / 3600 % 24, i / 60 % 60, i % 60),
        "eventName": "GetObject", "awsRegion": "us-east-1", "eventID": format!("{day}-{i}")})
}

#[test]
fn a_day_split_across_files_is_deduplicated_against_each_after_eviction() {
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path().join("src");
    // a: one day big enough that its commit is split into a file per core (halves of at
    // least 32 Ki rows); c: forty other days, committed next, so that a's day is evicted
    // from the dedup's memory (it keeps 32 days at most); b: the last events of a again.
    let a: Vec<_> = (0..70_000).map(|i| event("2024-03-01", i)).collect();
    let copies = a[a.len() - 10..].to_vec();
    write_records(&src.join("1-a.json.gz"), &a);
    let c: Vec<_> = (0..40)
        .map(|d| event(&format!("2024-{:02}-{:02}", 4 + d / 20, 1 + d % 20), d))
        .collect();
    write_records(&src.join("2-c.json.gz"), &c);
    write_records(&src.join("3-b.json.gz"), &copies);
    let lake = Lake::create(dir.path().join("lake")).unwrap();
    let mut opts = IngestOptions {
        threads: 1,
        flush_bytes: 1,
        dedup_events: 1,
        ..IngestOptions::default()
    };
    // Each object read whole: a's rows are one commit (not streamed in parts).
    opts.read.stream_min_bytes = u64::MAX;
    let s = trawl_testkit::ingest_with(&lake, &[src], opts);
    let day_files = lake
        .snapshot()
        .unwrap()
        .files
        .iter()
        .filter(|f| f.dt == "2024-03-01")
        .count();
    if std::thread::available_parallelism().map_or(1, |n| n.get()) > 1 {
        assert!(day_files > 1, "the big day was split: {day_files} file(s)");
    }
    assert!(s.commits >= 3, "a, c and b each a commit: {s:?}");
    assert_eq!(s.duplicates_dropped, 10, "{s:?}");
    assert_eq!(s.events_stored, 70_040, "{s:?}");
}
