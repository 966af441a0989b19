//! A top-k on the event time reads the lake's files in the order it asks for (crate
//! `time_order`): the newest day first for `ORDER BY eventtime DESC LIMIT n`, so the sort's
//! bound skips the older files unopened; the answer is the whole sort's first rows.

#![allow(clippy::unwrap_used, reason = "a test's unwrap is its failure message")]

use trawl_lake::{IngestOptions, Lake};
use trawl_query::QueryEngine;

#[path = "support/rows.rs"]
mod rows;

async fn rows(engine: &QueryEngine, sql: &str) -> Vec<String> {
    rows::joined(engine, sql, "|").await
}

/// Two deliveries of a generated week (two files a day), and a record whose time does not
/// parse (the unknown-day partition).
fn lake(dir: &std::path::Path) -> Lake {
    let lake = Lake::create(dir.join("lake")).unwrap();
    for seed in [3, 4] {
        let trail = trawl_testkit::trail(&dir.join(format!("trail{seed}")), seed, 1400, 7);
        trawl_testkit::ingest_with(&lake, &[trail], IngestOptions::default());
    }
    let path = dir.join("messy.json");
    std::fs::write(
        &path,
        r#"{"Records":[{"eventVersion":"1.08","eventTime":"yesterday","eventSource":"ec2.amazonaws.com","eventName":"RunInstances","awsRegion":"us-east-1","eventID":"aaaaaaaa-0000-0000-0000-000000000002"}]}"#,
    )
    .unwrap();
    trawl_testkit::ingest_with(&lake, &[path], IngestOptions::default());
    lake
}

/// The days of the files the scan of `sql` lists, group by group, in its plan's order (the
/// plan shows the first files of each group).
async fn scan_days(engine: &QueryEngine, sql: &str) -> Vec<Vec<String>> {
    let plan = rows(engine, &format!("EXPLAIN {sql}")).await.join("\n");
    let scan = plan
        .lines()
        .find(|l| l.contains("DataSourceExec"))
        .unwrap_or_else(|| panic!("no scan in\n{plan}"));
    let groups = scan.split("]}").next().unwrap();
    groups
        .split("], [")
        .map(|g| {
            g.split("dt=")
                .skip(1)
                .map(|s| s.split('/').next().unwrap().to_string())
                .collect()
        })
        .collect()
}

/// `(files the scan opened, files it listed)` when `sql` ran, from EXPLAIN ANALYZE.
async fn files_opened(engine: &QueryEngine, sql: &str) -> (u64, u64) {
    let plan = rows(engine, &format!("EXPLAIN ANALYZE {sql}"))
        .await
        .join("\n");
    let metric = plan
        .split("files_ranges_pruned_statistics=")
        .nth(1)
        .unwrap_or_else(|| panic!("no file pruning metric in\n{plan}"));
    // "N total → M matched"
    let number = |s: &str| s.trim().parse::<u64>().unwrap();
    let total = number(metric.split(" total").next().unwrap());
    let matched = number(
        metric
            .split('→')
            .nth(1)
            .unwrap()
            .split(" matched")
            .next()
            .unwrap(),
    );
    (matched, total)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_top_k_on_event_time_reads_the_files_it_needs_first_and_answers_as_a_whole_sort() {
    let dir = tempfile::tempdir().unwrap();
    let lake = lake(dir.path());
    let engine = QueryEngine::open(&lake).await.unwrap();
    let days: Vec<String> = rows(
        &engine,
        "SELECT DISTINCT dt FROM cloudtrail_logs WHERE dt IS NOT NULL ORDER BY dt",
    )
    .await;
    assert_eq!(days.len(), 7, "{days:?}");
    let ec2 = "WHERE eventsource = 'ec2.amazonaws.com'";
    for (filter, columns) in [
        ("", "dt, eventid, eventtime"),
        ("", "eventid, eventtime, eventname"),
        (ec2, "dt, eventid, eventtime, requestparameters"),
    ] {
        for (order, newest) in [("DESC", true), ("ASC", false)] {
            let sorted = format!(
                "SELECT {columns} FROM cloudtrail_logs {filter} ORDER BY eventtime {order}, eventid"
            );
            let whole = rows(&engine, &sorted).await;
            for k in [1, 5, 40] {
                let top = format!("{sorted} LIMIT {k}");
                assert_eq!(rows(&engine, &top).await, whole[..k], "{top}");
                let groups = scan_days(&engine, &top).await;
                let first = if newest { days.last() } else { days.first() };
                assert_eq!(groups[0].first(), first, "{top}: {groups:?}");
                for listed in &groups {
                    let known: Vec<&String> = listed
                        .iter()
                        .filter(|d| d.as_str() != "__HIVE_DEFAULT_PARTITION__")
                        .collect();
                    let mut in_order = known.clone();
                    in_order.sort();
                    if newest {
                        in_order.reverse();
                    }
                    assert_eq!(known, in_order, "{top}: {groups:?}");
                    // The unknown day (times that did not parse: NULL, sorted last) is read
                    // last.
                    if listed.len() > known.len() {
                        assert_eq!(
                            listed.last().unwrap(),
                            "__HIVE_DEFAULT_PARTITION__",
                            "{top}"
                        );
                    }
                }
            }
        }
    }
    // Newest first, the sort's bound skips most files unopened: of 15 (two a day and the
    // unknown day's), the scan opens about one per core before the bound is set.
    let newest = "SELECT dt, eventid, eventtime FROM cloudtrail_logs \
                  ORDER BY eventtime DESC, eventid LIMIT 5";
    let (opened, listed) = files_opened(&engine, newest).await;
    assert_eq!(listed, 15);
    assert!(opened <= 4, "opened {opened} of {listed} files");
}
