//! `count(DISTINCT text)` and `count_if` per group (trawl's accumulators, athena::distinct and
//! athena::agg) against the same counts computed another way, through every path of a grouped
//! aggregate: one partition and several (partial states merged), and with the partial phase
//! skipped (each row converted to a state).

#![allow(clippy::unwrap_used, reason = "a test's unwrap is its failure message")]

use std::collections::BTreeMap;

use trawl_lake::{IngestOptions, Lake};
use trawl_query::QueryEngine;

#[path = "support/rows.rs"]
mod rows;

use rows::cells as rows;

/// `key -> count` from two-column rows.
fn by_key(rows: Vec<Vec<String>>) -> BTreeMap<String, String> {
    rows.into_iter()
        .map(|r| (r[0].clone(), r[1].clone()))
        .collect()
}

/// Generated events plus records with NULL, empty and non-ASCII members.
fn lake(dir: &std::path::Path) -> Lake {
    let lake = Lake::create(dir.join("lake")).unwrap();
    let trail = trawl_testkit::trail(&dir.join("trail"), 11, 3000, 3);
    trawl_testkit::ingest_with(&lake, &[trail], IngestOptions::default());
    let record = |n: u32, ip: &str, code: &str| {
        format!(
            r#"{{"eventVersion":"1.08","eventTime":"2024-03-02T10:00:0{}Z","eventSource":"s3.amazonaws.com","eventName":"GetObject","awsRegion":"us-east-1","eventID":"bbbbbbbb-0000-0000-0000-00000000000{n}"{ip}{code}}}"#,
            n % 10
        )
    };
    let body = format!(
        r#"{{"Records":[{},{},{},{},{}]}}"#,
        record(1, "", ""),
        record(2, r#","sourceIPAddress":"""#, r#","errorCode":"""#),
        record(
            3,
            r#","sourceIPAddress":"地址""#,
            r#","errorCode":"Ошибка""#
        ),
        record(4, r#","sourceIPAddress":"地址""#, ""),
        record(
            5,
            r#","sourceIPAddress":"a""#,
            r#","errorCode":"AccessDenied""#
        ),
    );
    let path = dir.join("odd.json");
    std::fs::write(&path, body).unwrap();
    trawl_testkit::ingest_with(&lake, &[path], IngestOptions::default());
    lake
}

#[tokio::test]
async fn distinct_texts_and_conditional_counts_per_group_match_their_definitions() {
    let tmp = tempfile::tempdir().unwrap();
    let lake = lake(tmp.path());
    let settings: [&[&str]; 3] = [
        &["SET datafusion.execution.target_partitions = 1"],
        &["SET datafusion.execution.target_partitions = 4"],
        &[
            "SET datafusion.execution.target_partitions = 3",
            "SET datafusion.execution.skip_partial_aggregation_probe_rows_threshold = 10",
            "SET datafusion.execution.skip_partial_aggregation_probe_ratio_threshold = 0.0",
        ],
    ];
    // Two distinct aggregates of different columns: DataFusion's own rewrite of a single one
    // does not apply, trawl's does.
    let query = "SELECT eventname, count(DISTINCT sourceipaddress) AS ips, \
                 count(DISTINCT coalesce(useridentity.arn, errorcode)) AS who, \
                 count_if(errorcode IS NOT NULL) AS errors, \
                 count(DISTINCT arrow_cast(awsregion, 'Utf8View')) AS regions, count(*) AS n \
                 FROM cloudtrail_logs GROUP BY eventname HAVING count(DISTINCT sourceipaddress) >= 0 \
                 ORDER BY eventname";
    for set in settings {
        let engine = QueryEngine::open(&lake).await.unwrap();
        for s in set {
            engine.run(s).await.unwrap();
        }
        let plan = rows(&engine, &format!("EXPLAIN {query}")).await;
        let physical = &plan.iter().find(|r| r[0] == "physical_plan").unwrap()[1];
        let aggregates = physical.matches("AggregateExec").count();
        assert!(aggregates > 0, "{physical}");
        assert_eq!(
            physical.matches("__trawl_count_distinct(").count(),
            3 * aggregates,
            "{set:?}: trawl's accumulator counts each of the three: {physical}"
        );
        let got = rows(&engine, query).await;
        let reference = |column: &str| {
            format!(
                "SELECT eventname, count(v) FROM (SELECT DISTINCT eventname, {column} AS v \
                 FROM cloudtrail_logs) GROUP BY eventname"
            )
        };
        let ips = by_key(rows(&engine, &reference("sourceipaddress")).await);
        let who = by_key(rows(&engine, &reference("coalesce(useridentity.arn, errorcode)")).await);
        let regions = by_key(rows(&engine, &reference("awsregion")).await);
        let errors = by_key(
            rows(
                &engine,
                "SELECT eventname, sum(CASE WHEN errorcode IS NOT NULL THEN 1 ELSE 0 END) \
                 FROM cloudtrail_logs GROUP BY eventname",
            )
            .await,
        );
        assert!(got.len() > 5, "{set:?}: {got:?}");
        for row in &got {
            let name = &row[0];
            assert_eq!(row[1], ips[name], "{set:?} {name}: ips");
            assert_eq!(row[2], who[name], "{set:?} {name}: who");
            assert_eq!(row[3], errors[name], "{set:?} {name}: errors");
            assert_eq!(row[4], regions[name], "{set:?} {name}: regions");
        }
        let get_object = got.iter().find(|r| r[0] == "GetObject").unwrap();
        assert_ne!(get_object[1], "0");
        // Without GROUP BY, and over no rows at all.
        let one = rows(
            &engine,
            "SELECT count(DISTINCT sourceipaddress), count_if(errorcode = 'AccessDenied') \
             FROM cloudtrail_logs",
        )
        .await;
        let want = rows(
            &engine,
            "SELECT count(*) FROM (SELECT DISTINCT sourceipaddress FROM cloudtrail_logs \
             WHERE sourceipaddress IS NOT NULL)",
        )
        .await;
        assert_eq!(one[0][0], want[0][0], "{set:?}");
        // The accumulator without GROUP BY (reached only by its internal name).
        let by_name = rows(
            &engine,
            "SELECT __trawl_count_distinct(sourceipaddress) FROM cloudtrail_logs",
        )
        .await;
        assert_eq!(by_name[0][0], want[0][0], "{set:?}: by name");
        let none = rows(
            &engine,
            "SELECT eventname, count(DISTINCT sourceipaddress), count(DISTINCT eventsource), \
             count_if(true) FROM cloudtrail_logs WHERE eventname = 'none' GROUP BY eventname",
        )
        .await;
        assert!(none.is_empty(), "{none:?}");
    }
}
