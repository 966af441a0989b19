//! Two writers racing for one log version: an ingest and a compaction each commit while the
//! other is between choosing its version and committing. The loser goes on top of the winner
//! with nothing lost or doubled. (Alone in its test binary: the crash-point callbacks it sets
//! are process-wide.)

#![allow(clippy::unwrap_used, reason = "a test's unwrap is its failure message")]

use std::io::Write;
use std::path::Path;
use std::sync::atomic::Ordering;

use trawl_lake::{CompactOptions, IngestOptions, Lake, compact};

fn write_records(path: &Path, records: &serde_json::Value) {
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    let body = serde_json::to_vec(&serde_json::json!({ "Records": records })).unwrap();
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    e.write_all(&body).unwrap();
    std::fs::write(path, e.finish().unwrap()).unwrap();
}

fn event(id: &str, time: &str) -> serde_json::Value {
    serde_json::json!({"eventVersion": "1.09", "eventTime": time, "eventSource": "s3.amazonaws.com",
        "eventName": "GetObject", "awsRegion": "eu-west-1", "eventID": id})
}

#[test]
fn a_writer_that_loses_the_race_for_a_version_commits_on_top_of_the_winner() {
    let scenario = fail::FailScenario::setup();
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path().join("src");
    for day in 1..=3 {
        write_records(
            &src.join(format!("d{day}.json.gz")),
            &serde_json::json!([event(
                &format!("e{day}"),
                &format!("2024-05-0{day}T10:00:00Z")
            )]),
        );
    }
    let lake = Lake::create(dir.path().join("lake")).unwrap();
    // Three small files for one day: something to compact.
    for n in 0..3 {
        let one = dir.path().join(format!("one{n}"));
        write_records(
            &one.join("x.json.gz"),
            &serde_json::json!([event(&format!("x{n}"), "2024-05-01T12:00:00Z")]),
        );
        trawl_testkit::ingest(&lake, &[one]);
    }
    assert_eq!(lake.snapshot().unwrap().version, 3);

    // 1. The ingest chose version 4; a compaction commits 4 first.
    let compactor = lake.clone();
    let fired = trawl_testkit::once_at("lake::before-commit", move || {
        let s = compact(&compactor, &CompactOptions::default()).unwrap();
        assert_eq!(s.version, Some(4), "{s:?}");
    });
    // A bad record: its quarantine side file must follow the commit to its new version.
    write_records(
        &src.join("bad.json.gz"),
        &serde_json::json!([event("e9", "2024-05-01T13:00:00Z"), 42]),
    );
    let s = trawl_testkit::ingest_with(&lake, std::slice::from_ref(&src), IngestOptions::default());
    assert!(fired.load(Ordering::SeqCst));
    fail::remove("lake::before-commit");
    assert_eq!(s.commit_retries, 1, "{s:?}");
    assert_eq!(s.lake_version, 5);
    assert_eq!(s.bad_records, 1);
    let snap = lake.snapshot().unwrap();
    assert_eq!(snap.version, 5);
    assert_eq!(
        snap.rows(),
        3 + 4,
        "compacted rows and the ingest's, once each"
    );
    assert!(lake.layout().quarantine(5).exists());
    assert!(!lake.layout().quarantine(4).exists());
    let v = trawl_lake::verify(&lake).unwrap();
    assert!(
        v.is_clean() && v.orphans.is_empty() && v.manifests.is_empty(),
        "{v:?}"
    );

    // 2. The compaction chose version 6; an ingest commits 6 first.
    let more = dir.path().join("more");
    write_records(
        &more.join("m.json.gz"),
        &serde_json::json!([
            event("m1", "2024-05-02T09:00:00Z"),
            event("e2", "2024-05-02T10:00:00Z")
        ]),
    );
    let writer = lake.clone();
    let fired = trawl_testkit::once_at("lake::compact-before-commit", move || {
        let s = trawl_testkit::ingest(&writer, std::slice::from_ref(&more));
        assert_eq!(
            (s.lake_version, s.events_stored, s.duplicates_dropped),
            (6, 1, 1)
        );
    });
    let s = compact(&lake, &CompactOptions::default()).unwrap();
    assert!(fired.load(Ordering::SeqCst));
    fail::remove("lake::compact-before-commit");
    assert_eq!((s.retries, s.version), (1, Some(7)), "{s:?}");
    let snap = lake.snapshot().unwrap();
    assert_eq!(snap.rows(), 3 + 4 + 1);
    let ids: Vec<&str> = snap.files.iter().map(|f| f.path.as_str()).collect();
    // The ingest's file of 2024-05-02 is live beside the compaction's output.
    assert!(
        ids.iter().any(|p| p.contains("dt=2024-05-02/part-")),
        "{ids:?}"
    );
    let v = trawl_lake::verify(&lake).unwrap();
    assert!(
        v.is_clean() && v.orphans.is_empty() && v.manifests.is_empty(),
        "{v:?}"
    );
    scenario.teardown();
}
