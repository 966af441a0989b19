//! Time filters answered by whole files (crate `exact_time`): the same rows as testing every
//! row, on every kind of bound, and no per-row test when every file lies inside or outside.

#![allow(clippy::unwrap_used, reason = "a test's unwrap is its failure message")]

use trawl_lake::{IngestOptions, Lake};
use trawl_query::QueryEngine;

#[path = "support/rows.rs"]
mod rows;

/// Every row of the result, its cells joined by `|`.
async fn rows(engine: &QueryEngine, sql: &str) -> Vec<String> {
    rows::joined(engine, sql, "|").await
}

/// The physical plan of `sql`.
async fn plan(engine: &QueryEngine, sql: &str) -> String {
    rows(engine, &format!("EXPLAIN {sql}")).await.join("\n")
}

/// A generated week (one file a day), then a delivery whose records have a time that is not
/// canonical text and one that does not parse (the unknown-date partition).
fn lake(dir: &std::path::Path) -> Lake {
    let lake = Lake::create(dir.join("lake")).unwrap();
    let trail = trawl_testkit::trail(&dir.join("trail"), 7, 2100, 7);
    trawl_testkit::ingest_with(&lake, &[trail], IngestOptions::default());
    lake
}

fn add_messy(lake: &Lake, dir: &std::path::Path) {
    let record = |id: &str, time: &str| {
        format!(
            r#"{{"eventVersion":"1.08","eventTime":"{time}","eventSource":"s3.amazonaws.com","eventName":"GetObject","awsRegion":"us-east-1","eventID":"{id}","userIdentity":{{"type":"IAMUser","arn":"arn:aws:iam::111122223333:user/x"}}}}"#
        )
    };
    let body = format!(
        r#"{{"Records":[{},{},{}]}}"#,
        record(
            "aaaaaaaa-0000-0000-0000-000000000001",
            "2024-03-03 10:00:00.250"
        ),
        record("aaaaaaaa-0000-0000-0000-000000000002", "yesterday"),
        record(
            "aaaaaaaa-0000-0000-0000-000000000003",
            "2024-03-05T01:02:03+02:00"
        ),
    );
    let path = dir.join("messy.json");
    std::fs::write(&path, body).unwrap();
    trawl_testkit::ingest_with(lake, &[path], IngestOptions::default());
}

/// Bounds on every side of the lake's files: before and after it, on day edges, inside a day,
/// prefixes shorter than a time, the first and last times themselves.
async fn bounds(engine: &QueryEngine) -> Vec<String> {
    let mut out: Vec<String> = [
        "2000",
        "2024",
        "2024-03",
        "2024-03-03",
        "2024-03-03T",
        "2024-03-04T00:00:00Z",
        "2024-03-04T12:00:00Z",
        "2024-03-05T23:59:59Z",
        "2030",
        "yesterday",
        "",
    ]
    .into_iter()
    .map(String::from)
    .collect();
    out.extend(
        rows(
            engine,
            "SELECT min(eventtime) FROM cloudtrail_logs WHERE dt <> '__HIVE_DEFAULT_PARTITION__' \
             UNION ALL SELECT max(eventtime) FROM cloudtrail_logs WHERE dt <> '__HIVE_DEFAULT_PARTITION__'",
        )
        .await,
    );
    out
}

/// Each time filter gives the rows that testing it on every row gives (`concat(eventtime, '')`
/// is the same text, but no file can answer for it).
async fn same_rows_as_testing_each_row(engine: &QueryEngine) {
    let bounds = bounds(engine).await;
    let select = "SELECT count(*), min(eventtime), max(eventtime), count(DISTINCT dt), \
                  count(DISTINCT eventname) FROM cloudtrail_logs WHERE";
    let mut filters = Vec::new();
    for b in &bounds {
        for op in [">=", ">", "<", "<=", "="] {
            filters.push((
                format!("eventtime {op} '{b}'"),
                format!("concat(eventtime, '') {op} '{b}'"),
            ));
            filters.push((
                format!("'{b}' {op} eventtime"),
                format!("'{b}' {op} concat(eventtime, '')"),
            ));
        }
        for c in bounds.iter().step_by(3) {
            filters.push((
                format!("eventtime BETWEEN '{b}' AND '{c}'"),
                format!("concat(eventtime, '') BETWEEN '{b}' AND '{c}'"),
            ));
        }
    }
    for (filter, tested) in filters {
        // The aggregates; a count alone (answered from the kept files' statistics when no
        // row is tested); with other filters beside it, under a LIMIT the scan may take.
        for (what, query) in [
            ("rows", format!("{select} {{}}")),
            (
                "count",
                "SELECT count(*) FROM cloudtrail_logs WHERE {}".to_string(),
            ),
            (
                "LIMIT",
                "SELECT eventid FROM cloudtrail_logs WHERE {} AND eventname <> 'x' \
                 ORDER BY eventid LIMIT 7"
                    .to_string(),
            ),
        ] {
            let got = rows(engine, &query.replace("{}", &filter)).await;
            let want = rows(engine, &query.replace("{}", &tested)).await;
            assert_eq!(got, want, "{filter}: {what}");
        }
    }
}

#[tokio::test]
async fn whole_files_answer_time_filters_with_the_rows_each_row_would() {
    let tmp = tempfile::tempdir().unwrap();
    let lake = lake(tmp.path());
    let engine = QueryEngine::open(&lake).await.unwrap();
    same_rows_as_testing_each_row(&engine).await;

    // Every file inside the bound: no row tests it; the files outside are not read.
    let all =
        "SELECT count(DISTINCT eventname) FROM cloudtrail_logs WHERE eventtime >= '2024-03-01'";
    let p = plan(&engine, all).await;
    assert!(!p.contains("eventtime@"), "no per-row test:\n{p}");
    let days = "SELECT count(DISTINCT eventname) FROM cloudtrail_logs WHERE eventtime >= '2024-03-05' AND eventtime < '2024-03-07'";
    let p = plan(&engine, days).await;
    assert!(!p.contains("eventtime@"), "no per-row test:\n{p}");
    assert_eq!(p.matches(".parquet").count(), 2, "two days' files:\n{p}");
    // Bounds at midnight: the days they name keep three days' files (`dt <= '2024-03-07'`),
    // the files' first and last times two.
    let midnights = "SELECT count(DISTINCT eventname) FROM cloudtrail_logs \
                     WHERE eventtime >= '2024-03-05T00:00:00Z' AND eventtime < '2024-03-07T00:00:00Z'";
    let p = plan(&engine, midnights).await;
    assert!(!p.contains("eventtime@"), "no per-row test:\n{p}");
    assert_eq!(
        p.matches(".parquet").count(),
        2,
        "the 2024-03-07 file lies after the bound:\n{p}"
    );
    // A bound inside a day's file: its rows are tested.
    let mid = "SELECT count(DISTINCT eventname) FROM cloudtrail_logs WHERE eventtime >= '2024-03-04T12:00:00Z'";
    let p = plan(&engine, mid).await;
    assert!(p.contains("eventtime@"), "per-row test:\n{p}");

    // Rows whose time did not parse: only the rows can tell, whatever the bound.
    add_messy(&lake, tmp.path());
    let engine = QueryEngine::open(&lake).await.unwrap();
    same_rows_as_testing_each_row(&engine).await;
    let p = plan(&engine, all).await;
    assert!(
        p.contains("eventtime@"),
        "the unknown day's rows are tested:\n{p}"
    );
    assert_eq!(
        rows(
            &engine,
            "SELECT count(*) FROM cloudtrail_logs WHERE eventtime >= 'y'"
        )
        .await,
        vec!["1".to_string()],
        "the unparsed time is compared as text"
    );
}
