//! Lookups of one value skip the files whose needle filter says they do not hold it
//! (`trawl_lake::needles`, crate `needles`): every lookup of every value of the lake finds
//! exactly its rows, the file that holds a planted value is about the only one read, and a
//! damaged, foreign or missing filter costs reading the file, never a row.

#![allow(clippy::unwrap_used, reason = "a test's unwrap is its failure message")]

use std::collections::BTreeMap;
use std::path::Path;

use trawl_lake::{CompactOptions, Lake};
use trawl_query::QueryEngine;

#[path = "support/rows.rs"]
mod rows;

const NEEDLE_ID: &str = "ffffffff-0000-4000-8000-00000000beef";
const NEEDLE_KEY: &str = "AKIANEEDLETEST000001";

/// Three deliveries of a generated week (a few files a day), then one object holding the
/// needle event, in its own commit.
fn lake(dir: &Path) -> Lake {
    let lake = Lake::create(dir.join("lake")).unwrap();
    for seed in [5, 6, 7] {
        let trail = trawl_testkit::trail(&dir.join(format!("trail{seed}")), seed, 1500, 7);
        trawl_testkit::ingest(&lake, &[trail]);
    }
    let path = dir.join("needle.json");
    std::fs::write(
        &path,
        format!(
            r#"{{"Records":[{{"eventVersion":"1.08","eventTime":"2024-03-04T10:00:00Z","eventSource":"s3.amazonaws.com","eventName":"GetObject","awsRegion":"us-east-1","sourceIPAddress":"198.51.100.250","userIdentity":{{"type":"IAMUser","arn":"arn:aws:iam::111122223333:user/needle","accessKeyId":"{NEEDLE_KEY}"}},"eventID":"{NEEDLE_ID}"}}]}}"#
        ),
    )
    .unwrap();
    trawl_testkit::ingest(&lake, &[path]);
    lake
}

/// `(files the scan listed, rows)` of `sql`, from EXPLAIN ANALYZE and the query.
async fn listed_and_rows(engine: &QueryEngine, sql: &str) -> (u64, Vec<String>) {
    let plan = rows::joined(engine, &format!("EXPLAIN ANALYZE {sql}"), "|")
        .await
        .join("\n");
    let listed = match plan.split("files_ranges_pruned_statistics=").nth(1) {
        Some(metric) => metric
            .split(" total")
            .next()
            .unwrap()
            .trim()
            .parse()
            .unwrap(),
        // Every file skipped: the scan is empty.
        None if plan.contains("EmptyExec") => 0,
        None => panic!("no file pruning metric in\n{plan}"),
    };
    (listed, rows::joined(engine, sql, "|").await)
}

/// How many events hold each value of `column` (a view expression), from a whole scan.
async fn counts(engine: &QueryEngine, column: &str) -> BTreeMap<String, String> {
    rows::joined(
        engine,
        &format!(
            "SELECT {column}, count(*) FROM cloudtrail_logs WHERE {column} IS NOT NULL GROUP BY 1"
        ),
        "|",
    )
    .await
    .into_iter()
    .map(|r| {
        let (v, n) = r.rsplit_once('|').unwrap();
        (v.to_string(), n.to_string())
    })
    .collect()
}

/// Every lookup column: each of (up to 40 of) its values, looked up, counts as many events
/// as the whole scan counted.
async fn every_lookup_finds_its_rows(engine: &QueryEngine) {
    for column in [
        "eventid",
        "sourceipaddress",
        "useridentity.accesskeyid",
        "useridentity.arn",
    ] {
        let all = counts(engine, column).await;
        assert!(all.len() > 1, "{column}: {} values", all.len());
        let step = (all.len() / 40).max(1);
        for (value, n) in all.iter().step_by(step) {
            let sql = format!(
                "SELECT count(*) FROM cloudtrail_logs WHERE {column} = '{}'",
                value.replace('\'', "''")
            );
            assert_eq!(
                rows::joined(engine, &sql, "|").await,
                vec![n.clone()],
                "{sql}"
            );
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lookup_reads_only_the_files_that_may_hold_its_value() {
    let dir = tempfile::tempdir().unwrap();
    let lake = lake(dir.path());
    let engine = QueryEngine::open(&lake).await.unwrap();
    let files = engine.files().len() as u64;
    assert!(files >= 10, "{files} files");

    every_lookup_finds_its_rows(&engine).await;

    let by_id = format!("SELECT eventname FROM cloudtrail_logs WHERE eventid = '{NEEDLE_ID}'");
    let (listed, found) = listed_and_rows(&engine, &by_id).await;
    assert_eq!(found, vec!["GetObject"]);
    assert!(
        listed <= 2,
        "{listed} of {files} files listed for one eventID"
    );
    let by_key = format!(
        "SELECT eventid FROM cloudtrail_logs WHERE useridentity.accesskeyid IN ('{NEEDLE_KEY}', 'AKIANOTINTHELAKE0000')"
    );
    let (listed, found) = listed_and_rows(&engine, &by_key).await;
    assert_eq!(found, vec![NEEDLE_ID]);
    assert!(listed <= 2, "{listed} of {files} files listed for a key");
    // A value no file holds: (nearly) nothing is read, nothing found.
    let (listed, found) = listed_and_rows(
        &engine,
        "SELECT eventid FROM cloudtrail_logs WHERE sourceipaddress = '192.0.2.254'",
    )
    .await;
    assert!(found.is_empty());
    assert!(
        listed <= 1,
        "{listed} of {files} files listed for an absent address"
    );

    // Damaged filters, filters of other files, and none at all: every file is read again,
    // and nothing is missed.
    let needles = lake.root().join("_trawl/needles");
    let mut names: Vec<_> = std::fs::read_dir(&needles)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    names.sort();
    assert_eq!(names.len() as u64, files, "a filter per data file");
    let first = std::fs::read(&names[0]).unwrap();
    for (i, path) in names.iter().enumerate() {
        let mut bytes = std::fs::read(path).unwrap();
        if i % 2 == 0 {
            let mid = bytes.len() / 2;
            bytes[mid] ^= 0x40;
        } else {
            bytes.clone_from(&first);
        }
        std::fs::write(path, bytes).unwrap();
    }
    let engine = QueryEngine::open(&lake).await.unwrap();
    let (listed, found) = listed_and_rows(&engine, &by_id).await;
    assert_eq!(found, vec!["GetObject"]);
    assert!(
        listed >= files - 1,
        "{listed} of {files} listed with unusable filters"
    );
    std::fs::remove_dir_all(&needles).unwrap();
    let engine = QueryEngine::open(&lake).await.unwrap();
    every_lookup_finds_its_rows(&engine).await;
    assert_eq!(
        listed_and_rows(&engine, &by_key).await.1,
        vec![NEEDLE_ID],
        "without filters"
    );

    // Compacted files get filters of their own.
    trawl_lake::compact(
        &lake,
        &CompactOptions {
            retain: std::time::Duration::ZERO,
            ..CompactOptions::default()
        },
    )
    .unwrap();
    let engine = QueryEngine::open(&lake).await.unwrap();
    let compacted = engine.files().len() as u64;
    assert!(compacted < files, "{compacted} files after compaction");
    assert_eq!(
        std::fs::read_dir(&needles).unwrap().count() as u64,
        compacted,
        "a filter per compacted file, none of the files it replaced"
    );
    every_lookup_finds_its_rows(&engine).await;
    let (listed, found) = listed_and_rows(&engine, &by_id).await;
    assert_eq!(found, vec!["GetObject"]);
    assert!(
        listed <= 1,
        "{listed} of {compacted} compacted files listed for one eventID"
    );
}
