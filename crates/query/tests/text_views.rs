//! The engine reads the lake's short text columns as Arrow views; queries still return plain
//! text, and trawl's functions answer over a view column exactly as over the same text cast
//! to VARCHAR.

#![allow(clippy::unwrap_used, reason = "a test's unwrap is its failure message")]

use datafusion::arrow::datatypes::DataType;
use datafusion::physical_plan::ExecutionPlanProperties;
use trawl_lake::IngestOptions;
use trawl_query::QueryEngine;

#[path = "support/lake.rs"]
mod lake;
#[path = "support/rows.rs"]
mod rows;
use lake::generated_lake;
use rows::cells;

/// Whether `t` holds a view type anywhere inside.
fn has_view(t: &DataType) -> bool {
    match t {
        DataType::Utf8View | DataType::BinaryView => true,
        DataType::List(f) | DataType::LargeList(f) | DataType::Map(f, _) => has_view(f.data_type()),
        DataType::Struct(fs) => fs.iter().any(|f| has_view(f.data_type())),
        _ => false,
    }
}

/// The view columns the calls below read.
const VIEW_COLUMNS: [&str; 8] = [
    "useridentity.sessioncontext.attributes.creationdate",
    "useridentity.arn",
    "useragent",
    "eventname",
    "readonly",
    "eventsource",
    "sourceipaddress",
    "awsregion",
];

#[tokio::test]
async fn short_text_is_read_as_views_and_returned_as_text() {
    let (_tmp, lake) = generated_lake(600, &IngestOptions::default());
    let engine = QueryEngine::open(&lake).await.unwrap();

    // Inside: the short members are views, times and JSON members plain text.
    let types = cells(
        &engine,
        "SELECT arrow_typeof(eventname), arrow_typeof(useridentity.arn), arrow_typeof(readonly), \
         arrow_typeof(eventtime), arrow_typeof(requestparameters) FROM cloudtrail_logs LIMIT 1",
    )
    .await;
    assert_eq!(
        types,
        vec![vec!["Utf8View", "Utf8View", "Utf8View", "Utf8", "Utf8"]]
    );

    // Outside: no view in any result, and the statement's schema is its batches'.
    for sql in [
        "SELECT * FROM cloudtrail_logs ORDER BY eventid LIMIT 5",
        "SELECT eventname, array_agg(DISTINCT awsregion) AS regions, count(*) AS n \
         FROM cloudtrail_logs GROUP BY 1 ORDER BY 1",
        "SELECT useridentity, resources FROM cloudtrail_logs WHERE useridentity.arn IS NOT NULL LIMIT 5",
        "SELECT lower(eventsource) AS s FROM cloudtrail_logs UNION SELECT 'x' ORDER BY 1",
    ] {
        let result = engine.run(sql).await.unwrap().pop().unwrap();
        assert!(!result.batches.is_empty(), "{sql}: no rows");
        for f in result.schema.fields() {
            assert!(!has_view(f.data_type()), "{sql}: {f:?} is a view");
        }
        for b in &result.batches {
            assert_eq!(b.schema(), result.schema, "{sql}");
        }
    }

    // trawl's functions over a view column equal the same over text, and answer something.
    for call in [
        "regexp_extract(useridentity.arn, '[^/]+$')",
        "regexp_like(useragent, '^aws-cli')",
        "split(useridentity.arn, '/')",
        "element_at(split(useridentity.arn, '/'), -1)",
        "substr(eventname, 2, 5)",
        "strpos(eventname, 'e')",
        "to_utf8(eventname)",
        "CAST(readonly AS BOOLEAN)",
        "from_iso8601_timestamp(useridentity.sessioncontext.attributes.creationdate)",
        "date_parse(substr(useridentity.sessioncontext.attributes.creationdate, 1, 10), '%Y-%m-%d')",
        "json_extract_scalar(json_format(CAST(useridentity AS JSON)), '$.type')",
        "url_extract_host(concat('https://', eventsource, '/x'))",
        "try_cast(sourceipaddress AS IPADDRESS)",
        "levenshtein_distance(eventname, awsregion)",
    ] {
        // The same call with each view column it reads cast to text first (the struct of
        // the JSON call is built from views: that call is checked to run and answer).
        let plain = VIEW_COLUMNS.iter().fold(
            format!("SELECT {call} FROM cloudtrail_logs ORDER BY eventid"),
            |sql, c| sql.replace(c, &format!("CAST({c} AS VARCHAR)")),
        );
        let viewed = cells(
            &engine,
            &format!("SELECT {call} FROM cloudtrail_logs ORDER BY eventid"),
        )
        .await;
        let texted = cells(&engine, &plain).await;
        assert_eq!(viewed, texted, "{call}");
        assert!(
            viewed.iter().any(|r| r[0] != "NULL"),
            "{call}: every answer is NULL"
        );
    }

    // trawl's aggregates over views: grouped and not.
    let agg = |c: &str| {
        format!(
            "SELECT eventsource, count_if({c} LIKE '%e%'), approx_distinct({c}), count(DISTINCT {c}), \
             arbitrary({c} IS NOT NULL), element_at(histogram({c}), 'ConsoleLogin'), \
             cardinality(map_agg({c}, awsregion)) FROM cloudtrail_logs GROUP BY 1 ORDER BY 1"
        )
    };
    let viewed = cells(&engine, &agg("eventname")).await;
    let texted = cells(&engine, &agg("CAST(eventname AS VARCHAR)")).await;
    assert_eq!(viewed, texted);
    assert!(viewed.len() > 1);
    assert_eq!(
        cells(&engine, "SELECT max(eventname) FROM cloudtrail_logs").await,
        cells(
            &engine,
            "SELECT max(CAST(eventname AS VARCHAR)) FROM cloudtrail_logs"
        )
        .await
    );
}

/// Results of more than one batch (8,192 rows) keep their order: the casts of the output are
/// planned where nothing can spread the sorted rows over both cores.
#[tokio::test]
async fn ordered_results_of_many_batches_keep_their_order() {
    let (_tmp, lake) = generated_lake(9_000, &IngestOptions::default());
    let engine = QueryEngine::open(&lake).await.unwrap();
    let all = cells(&engine, "SELECT eventtime, eventid FROM cloudtrail_logs").await;
    assert_eq!(all.len(), 9_000);
    let mut expected = all.clone();
    // eventtime DESC, eventid ASC
    expected.sort_by(|a, b| b[0].cmp(&a[0]).then_with(|| a[1].cmp(&b[1])));
    let order = "ORDER BY eventtime DESC, eventid";
    for (sql, from, to) in [
        (
            format!("SELECT eventtime, eventid FROM cloudtrail_logs {order}"),
            0,
            9_000,
        ),
        (
            format!("SELECT eventtime, eventid FROM cloudtrail_logs {order} LIMIT 8500"),
            0,
            8_500,
        ),
        (
            format!("SELECT eventtime, eventid FROM cloudtrail_logs {order} LIMIT 501 OFFSET 8000"),
            8_000,
            8_501,
        ),
        (
            format!(
                "SELECT eventtime, eventid FROM cloudtrail_logs WHERE awsregion <> 'x' {order} LIMIT 8300"
            ),
            0,
            8_300,
        ),
    ] {
        let got = cells(&engine, &sql).await;
        assert!(got == expected[from..to], "{sql}: not in order");
        // Whatever the timing: one ordered stream at the top of the plan, nothing spreading
        // the sorted rows over partitions after the sort.
        let result = engine.run(&sql).await.unwrap().pop().unwrap();
        let plan = result.plan.unwrap();
        assert_eq!(plan.output_partitioning().partition_count(), 1, "{sql}");
        assert!(
            plan.output_ordering().is_some(),
            "{sql}: the top is unordered"
        );
    }
    let mut by_id: Vec<String> = all.iter().map(|r| r[1].clone()).collect();
    by_id.sort();
    let got: Vec<String> = cells(
        &engine,
        "SELECT eventid FROM cloudtrail_logs ORDER BY eventid LIMIT 8800",
    )
    .await
    .into_iter()
    .map(|mut r| r.remove(0))
    .collect();
    assert!(got == by_id[..8_800], "ORDER BY eventid: not in order");
}
