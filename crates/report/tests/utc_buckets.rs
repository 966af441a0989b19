//! The UTC time buckets of the tiles ([`trawl_report::dashboards::zoned`] with no zone) read
//! what the lake stores (`dt`, `eventtime_ts`) instead of parsing `eventtime`: on every
//! event, however its time was written, they are the buckets of
//! `from_iso8601_timestamp(eventtime)`.

#![allow(clippy::unwrap_used, reason = "a test's unwrap is its failure message")]

use serde_json::json;

/// Times written every way the lake accepts, at the edges of seconds, half hours, hours and
/// days, and times that do not parse.
const TIMES: &[&str] = &[
    "2024-03-03T10:00:00Z",
    "2024-03-03T10:29:59.999Z",
    "2024-03-03T10:30:00.001Z",
    "2024-03-03T23:59:59.999999Z",
    "2024-03-03 10:00:00.250",
    "2024-03-04T00:00:00.5+00:00",
    "2024-03-05T01:02:03+02:00",
    "2024-03-05T23:30:00-05:00",
    "2024-03-06T12:00:00.123456789Z",
    "2024-02-29T23:59:59Z",
    "2023-12-31T23:59:59.9Z",
    "1999-12-31T23:45:00Z",
    "yesterday",
    "",
    "2024-13-45T99:99:99Z",
];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn utc_buckets_from_stored_columns_are_those_of_the_parsed_text() {
    let dir = tempfile::tempdir().unwrap();
    let records: Vec<_> = TIMES
        .iter()
        .enumerate()
        .map(|(i, t)| {
            json!({"eventVersion": "1.08", "eventTime": t, "eventSource": "s3.amazonaws.com",
                   "eventName": "GetObject", "awsRegion": "us-east-1",
                   "eventID": format!("00000000-0000-0000-0000-{i:012}")})
        })
        .collect();
    let file = dir.path().join("trail.json");
    std::fs::write(&file, json!({ "Records": records }).to_string()).unwrap();
    let lake = trawl_lake::Lake::create(dir.path().join("lake")).unwrap();
    trawl_testkit::ingest(&lake, &[file]);
    let engine = trawl_query::QueryEngine::open(&lake).await.unwrap();

    let buckets = |day: &str, ts: &str, half: &str| {
        format!(
            "SELECT eventid, {day} AS day, hour({ts}) AS h, day_of_week({ts}) AS dow, \
             minute({ts}) AS m, second({ts}) AS s, {half} AS half \
             FROM cloudtrail_logs ORDER BY eventid"
        )
    };
    let stored = trawl_report::dashboards::zoned(&buckets("{day}", "{ts}", "{halfhour}"), None);
    assert!(
        stored.contains("dt AS day") && stored.contains("hour(eventtime_ts)"),
        "{stored}"
    );
    let parsed = buckets(
        "date_format(from_iso8601_timestamp(eventtime), '%Y-%m-%d')",
        "from_iso8601_timestamp(eventtime)",
        "from_unixtime(CAST(floor(to_unixtime(from_iso8601_timestamp(eventtime)) / 1800) * 1800 AS bigint))",
    );
    let table = |sql: String| {
        let engine = &engine;
        async move {
            let result = engine.run(&sql).await.unwrap().pop().unwrap();
            arrow::util::pretty::pretty_format_batches(&result.batches)
                .unwrap()
                .to_string()
        }
    };
    let (a, b) = (table(stored).await, table(parsed).await);
    assert_eq!(a, b);
    // Every event is there, and times written with an offset landed in their UTC day.
    assert_eq!(a.lines().count(), TIMES.len() + 4, "{a}");
    assert!(
        a.contains("| 2024-03-04 | 23 |") && a.contains("| 2024-03-06 | 4  |"),
        "{a}"
    );
}
