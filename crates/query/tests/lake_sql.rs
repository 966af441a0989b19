//! The lake read back through DataFusion: the real corpus round-trips, messy records are
//! normalised, Athena names resolve case-insensitively, eventtime predicates prune, and
//! uncommitted files stay invisible.

#![allow(clippy::unwrap_used, reason = "a test's unwrap is its failure message")]

use std::collections::HashMap;
use std::path::PathBuf;

use datafusion::arrow::array::{Array, AsArray, RecordBatch};
use datafusion::arrow::datatypes::Int64Type;
use trawl_lake::{IngestOptions, Lake};
use trawl_query::QueryEngine;

use trawl_testkit::fixtures;

#[path = "support/lake.rs"]
mod lake;
use lake::generated_lake;

fn corpus_dir() -> Option<PathBuf> {
    let dir = std::env::var_os("TRAWL_CORPUS")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            PathBuf::from(
                std::env::var_os("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR"),
            )
            .join("../../../shared/corpus/real")
        });
    if dir.is_dir() {
        return Some(dir);
    }
    if std::env::var_os("CI").is_some() || std::env::var_os("TRAWL_CORPUS").is_some() {
        panic!(
            "real corpus not found at {}: set TRAWL_CORPUS to shared/corpus/real",
            dir.display()
        );
    }
    eprintln!(
        "skipping: real corpus not found at {} (set TRAWL_CORPUS)",
        dir.display()
    );
    None
}

fn ingest_paths(lake: &Lake, paths: &[PathBuf], opts: &IngestOptions) -> trawl_lake::IngestSummary {
    trawl_testkit::ingest_with(lake, paths, opts.clone())
}

async fn query(lake: &Lake, sql: &str) -> Vec<RecordBatch> {
    let engine = QueryEngine::open(lake).await.unwrap();
    let mut results = engine
        .run(sql)
        .await
        .unwrap_or_else(|e| panic!("{sql}: {e}"));
    results.pop().unwrap().batches
}

async fn scalar_i64(lake: &Lake, sql: &str) -> i64 {
    let batches = query(lake, sql).await;
    batches[0].column(0).as_primitive::<Int64Type>().value(0)
}

/// Column 0 of every row, as text (NULL as "NULL").
async fn strings(lake: &Lake, sql: &str) -> Vec<String> {
    column_strings(lake, sql, 0).await
}

/// Column `n` of every row, as text.
async fn column_strings(lake: &Lake, sql: &str, n: usize) -> Vec<String> {
    let mut out = Vec::new();
    for b in query(lake, sql).await {
        let col = datafusion::arrow::compute::cast(
            b.column(n),
            &datafusion::arrow::datatypes::DataType::Utf8,
        )
        .unwrap();
        let col = col.as_string::<i32>();
        for i in 0..col.len() {
            out.push(if col.is_null(i) {
                "NULL".to_string()
            } else {
                col.value(i).to_string()
            });
        }
    }
    out
}

async fn rebuilt(lake: &Lake) -> Vec<serde_json::Value> {
    query(lake, "SELECT * FROM cloudtrail_events")
        .await
        .iter()
        .flat_map(|b| trawl_schema::rebuild_batch(b).unwrap())
        .collect()
}

#[tokio::test]
async fn every_corpus_record_is_in_the_lake_and_round_trips() {
    let Some(dir) = corpus_dir() else { return };
    let tmp = tempfile::tempdir().unwrap();
    let lake = Lake::create(tmp.path().join("lake")).unwrap();
    let files: Vec<PathBuf> = walk(&dir)
        .into_iter()
        .filter(|p| {
            p.to_string_lossy().contains("/normalized/")
                && p.to_string_lossy().ends_with(".json.gz")
        })
        .collect();
    let s = ingest_paths(&lake, &files, &IngestOptions::default());
    assert!(s.quarantined.is_empty(), "{:?}", s.quarantined);
    assert_eq!(s.bad_records, 0);

    // Expected: every input record, except re-deliveries (same eventID, same JSON value;
    // key order does not matter).
    let mut expected: HashMap<String, usize> = HashMap::new();
    let mut seen = std::collections::HashSet::new();
    let mut inputs = 0;
    for f in &files {
        let text = std::io::read_to_string(flate2::read::MultiGzDecoder::new(
            std::fs::File::open(f).unwrap(),
        ))
        .unwrap();
        let v: serde_json::Value = serde_json::from_str(&text).unwrap();
        for r in v["Records"].as_array().unwrap() {
            inputs += 1;
            let key = canonical(r);
            if let Some(id) = r.get("eventID").and_then(|i| i.as_str())
                && !seen.insert((id.to_string(), key.clone()))
            {
                continue;
            }
            *expected.entry(canonical(r)).or_default() += 1;
        }
    }
    assert!(
        inputs > 1100,
        "corpus has ~1,150 normalized records, found {inputs}"
    );
    let got = rebuilt(&lake).await;
    assert_eq!(got.len() as u64, s.events_stored);
    let mut got_counts: HashMap<String, usize> = HashMap::new();
    for r in &got {
        *got_counts.entry(canonical(r)).or_default() += 1;
    }
    let missing: Vec<&String> = expected
        .keys()
        .filter(|k| got_counts.get(*k) != expected.get(*k))
        .take(3)
        .collect();
    assert!(
        missing.is_empty(),
        "records missing or altered after the lake round trip: {missing:#?}"
    );
    assert_eq!(got_counts.len(), expected.len());
    assert_eq!(s.events_stored + s.duplicates_dropped, inputs as u64);
}

/// Key-order-independent text of a JSON value.
fn canonical(v: &serde_json::Value) -> String {
    fn sort(v: &serde_json::Value) -> serde_json::Value {
        match v {
            serde_json::Value::Object(m) => {
                let mut keys: Vec<&String> = m.keys().collect();
                keys.sort();
                let mut out = serde_json::Map::new();
                for k in keys {
                    out.insert(k.clone(), sort(&m[k]));
                }
                serde_json::Value::Object(out)
            }
            serde_json::Value::Array(a) => serde_json::Value::Array(a.iter().map(sort).collect()),
            other => other.clone(),
        }
    }
    sort(v).to_string()
}

fn walk(dir: &PathBuf) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            out.extend(walk(&p))
        } else {
            out.push(p)
        }
    }
    out.sort();
    out
}

#[tokio::test]
async fn messy_records_are_normalised_and_kept_exactly() {
    let tmp = tempfile::tempdir().unwrap();
    let lake = Lake::create(tmp.path().join("lake")).unwrap();
    let s = ingest_paths(
        &lake,
        &[fixtures().join("odd/oddities.json")],
        &IngestOptions::default(),
    );
    assert_eq!(s.events_stored, 8);
    let input: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(fixtures().join("odd/oddities.json")).unwrap(),
    )
    .unwrap();
    let mut want: Vec<String> = input["Records"]
        .as_array()
        .unwrap()
        .iter()
        .map(canonical)
        .collect();
    let mut got: Vec<String> = rebuilt(&lake).await.iter().map(canonical).collect();
    want.sort();
    got.sort();
    assert_eq!(got, want);

    let q = |sql: &'static str| {
        let lake = lake.clone();
        async move { strings(&lake, sql).await }
    };
    // Lowercase `eventtime` / `EventName` keys land in their columns.
    assert_eq!(
        q("SELECT eventname FROM cloudtrail_logs WHERE eventid = 'fixture-0101'").await,
        ["DescribeInstances"]
    );
    assert_eq!(
        q("SELECT eventtime FROM cloudtrail_logs WHERE eventid = 'fixture-0101'").await,
        ["2024-03-01T10:00:00Z"]
    );
    // Other time formats are normalised; the fraction stays in eventtime_ts.
    assert_eq!(
        q("SELECT eventtime FROM cloudtrail_logs WHERE eventid = 'fixture-0102'").await,
        ["2021-10-26T21:59:39Z"]
    );
    assert_eq!(
        q("SELECT CAST(eventtime_ts AS VARCHAR) FROM cloudtrail_logs WHERE eventid = 'fixture-0103'").await,
        // Trino's text of a timestamp(6) with time zone.
        ["2024-03-01 10:00:00.123456 UTC"]
    );
    // Junk time is kept verbatim, in Hive's NULL partition.
    assert_eq!(
        q("SELECT eventtime || ' ' || coalesce(dt, 'NULL') FROM cloudtrail_logs WHERE eventid = 'fixture-0104'")
            .await,
        ["junk-time NULL"]
    );
    // Types as Athena shows them: booleans and numbers as text, arrays as JSON text.
    assert_eq!(
        q("SELECT readonly FROM cloudtrail_logs WHERE eventid = 'fixture-0102'").await,
        ["true"]
    );
    assert_eq!(
        q("SELECT useragent FROM cloudtrail_logs WHERE eventid = 'fixture-0102'").await,
        [r#"["a","b"]"#]
    );
    assert_eq!(
        q("SELECT eventversion FROM cloudtrail_logs WHERE eventid = 'fixture-0107'").await,
        ["1.09"]
    );
    // Unknown members go to trawl_unmapped under their path.
    assert_eq!(
        q("SELECT trawl_unmapped FROM cloudtrail_logs WHERE eventid = 'fixture-0104'").await,
        [r#"{"brandNewField":{"x":[1,2.5,null,true]}}"#]
    );
    assert_eq!(
        q("SELECT trawl_unmapped FROM cloudtrail_logs WHERE eventid = 'fixture-0103'").await,
        [r#"{"userIdentity":{"sessionContext":{"assumedRoot":"true"}}}"#]
    );
    // resources with `arn` in lower case still fill the struct.
    assert_eq!(
        q("SELECT resources[1]['arn'] FROM cloudtrail_logs WHERE eventid = 'fixture-0105'").await,
        ["arn:aws:s3:::b"]
    );
    assert_eq!(
        q("SELECT useridentity.sessioncontext.webidfederationdata.attributes['n'] FROM cloudtrail_logs WHERE eventid = 'fixture-0106'").await,
        ["3"]
    );
    // Free-form members keep their original key order as compact JSON.
    assert_eq!(
        q("SELECT requestparameters FROM cloudtrail_logs WHERE eventid = 'fixture-0101'").await,
        [r#"{"instancesSet":{},"filterSet":{}}"#]
    );
}

#[tokio::test]
async fn athena_names_resolve_case_insensitively() {
    let (_tmp, lake) = generated_lake(500, &IngestOptions::default());
    let direct = scalar_i64(
        &lake,
        "SELECT count(*) FROM cloudtrail_events WHERE useridentity_sessioncontext_sessionissuer_username IS NOT NULL",
    )
    .await;
    assert!(direct > 0);
    for sql in [
        "SELECT count(userIdentity.sessionContext.sessionIssuer.userName) FROM cloudtrail_logs",
        "SELECT count(USERIDENTITY.SESSIONCONTEXT.SESSIONISSUER.USERNAME) FROM default.cloudtrail_logs",
        "SELECT count(t.useridentity.sessioncontext.sessionissuer.username) FROM awsdatacatalog.default.cloudtrail_logs t",
    ] {
        assert_eq!(scalar_i64(&lake, sql).await, direct, "{sql}");
    }
    assert_eq!(
        scalar_i64(&lake, "SELECT count(*) FROM cloudtrail_logs").await,
        500
    );
}

#[tokio::test]
async fn eventtime_predicates_prune_partitions_and_row_groups() {
    // 7 days, one file per day, row groups of 100 rows.
    let opts = IngestOptions {
        layout: Some(trawl_lake::LayoutOptions {
            row_group_rows: 100,
            ..Default::default()
        }),
        ..Default::default()
    };
    let (_tmp, lake) = generated_lake(7000, &opts);
    let files = lake.snapshot().unwrap().files.len();
    assert_eq!(files, 7);

    let bound = "2024-03-06T12:00:00Z";
    let want = scalar_i64(
        &lake,
        &format!(
            "SELECT count(*) FROM cloudtrail_events WHERE eventtime_ts >= TIMESTAMP '{bound}'"
        ),
    )
    .await;
    assert!(want > 0 && want < 7000);
    // The plain string comparison, and the form the Looker block writes.
    for predicate in [
        format!("eventtime >= '{bound}'"),
        format!("from_iso8601_timestamp(eventtime) >= from_iso8601_timestamp('{bound}')"),
    ] {
        let got = scalar_i64(
            &lake,
            &format!("SELECT count(*) FROM cloudtrail_logs WHERE {predicate}"),
        )
        .await;
        assert_eq!(
            got, want,
            "pruning must not change the answer of {predicate}"
        );
        let plan = column_strings(
            &lake,
            &format!("EXPLAIN ANALYZE SELECT count(*) FROM cloudtrail_logs WHERE {predicate}"),
            1,
        )
        .await
        .join("\n");
        let scanned = plan.matches(".parquet").count();
        assert_eq!(
            scanned, 2,
            "{predicate}: only dt=2024-03-06 and dt=2024-03-07 are scanned:\n{plan}"
        );
        let pruned_rg = metric(&plan, "row_groups_pruned_statistics");
        assert!(
            pruned_rg > 0,
            "{predicate}: row groups before 12:00 on 2024-03-06 are pruned by statistics:\n{plan}"
        );
    }
    // Upper bounds through the function keep the last second whole.
    let upper = "2024-03-02T00:00:00Z";
    let want = scalar_i64(
        &lake,
        &format!("SELECT count(*) FROM cloudtrail_events WHERE eventtime < '{upper}'"),
    )
    .await;
    for op in ["<", "<="] {
        let got = scalar_i64(
            &lake,
            &format!("SELECT count(*) FROM cloudtrail_logs WHERE from_iso8601_timestamp(eventtime) {op} from_iso8601_timestamp('2024-03-01T23:59:59Z')"),
        )
        .await;
        let expected = if op == "<=" {
            want
        } else {
            scalar_i64(
                &lake,
                "SELECT count(*) FROM cloudtrail_events WHERE eventtime < '2024-03-01T23:59:59Z'",
            )
            .await
        };
        assert_eq!(got, expected, "{op}");
    }
}

/// Sums a `name=N` metric (the part before any " total" / "->") across the plan text.
fn metric(plan: &str, name: &str) -> u64 {
    plan.match_indices(&format!("{name}="))
        .map(|(i, m)| {
            let rest = &plan[i + m.len()..];
            // DataFusion prints either `N` or `N total → M matched`.
            let digits: String = rest.chars().take_while(|c| c.is_ascii_digit()).collect();
            let first: u64 = digits.parse().unwrap_or(0);
            if rest[digits.len()..].starts_with(" total") {
                // pruned = total - matched
                let matched: u64 = rest
                    .split("→ ")
                    .nth(1)
                    .map(|r| {
                        r.chars()
                            .take_while(|c| c.is_ascii_digit())
                            .collect::<String>()
                    })
                    .and_then(|d| d.parse().ok())
                    .unwrap_or(first);
                first - matched
            } else {
                first
            }
        })
        .sum()
}

#[tokio::test]
async fn uncommitted_files_are_invisible_to_queries() {
    let tmp = tempfile::tempdir().unwrap();
    let lake = Lake::create(tmp.path().join("lake")).unwrap();
    ingest_paths(
        &lake,
        &[fixtures().join("forms")],
        &IngestOptions::default(),
    );
    let before = scalar_i64(&lake, "SELECT count(*) FROM cloudtrail_logs").await;
    let snap = lake.snapshot().unwrap();
    let committed = lake.root().join(&snap.files[0].path);
    let orphan = lake.root().join(trawl_lake::Layout::data_file(
        &snap.files[0].dt,
        snap.version + 1,
        0,
    ));
    std::fs::copy(committed, orphan).unwrap();
    assert_eq!(
        scalar_i64(&lake, "SELECT count(*) FROM cloudtrail_logs").await,
        before
    );
}

#[tokio::test]
async fn ddl_tables_persist_and_their_partition_columns_prune() {
    let (_tmp, lake) = generated_lake(7000, &IngestOptions::default());
    let ddl = "CREATE EXTERNAL TABLE trails (eventname string, awsregion string)\n\
               PARTITIONED BY (region string, year string, month string, day string)\n\
               ROW FORMAT SERDE 'com.amazon.emr.hive.serde.CloudTrailSerde'\n\
               LOCATION 's3://bucket/AWSLogs/'";
    QueryEngine::open(&lake)
        .await
        .unwrap()
        .run(ddl)
        .await
        .unwrap();
    // A new session (as a later `trawl sql`) sees it.
    let day = "SELECT count(*) FROM trails WHERE year = '2024' AND month = '03' AND day = '05'";
    let want = scalar_i64(
        &lake,
        "SELECT count(*) FROM cloudtrail_events WHERE dt = '2024-03-05'",
    )
    .await;
    assert!(want > 0);
    assert_eq!(scalar_i64(&lake, day).await, want);
    // count(*) over whole partitions is answered from file statistics; make it read rows.
    let read = "SELECT count(DISTINCT eventname) FROM trails WHERE year = '2024' AND month = '03' AND day = '05'";
    let plan = column_strings(&lake, &format!("EXPLAIN ANALYZE {read}"), 1)
        .await
        .join("\n");
    assert_eq!(
        plan.matches(".parquet").count(),
        1,
        "one day of seven is read:\n{plan}"
    );
    let show = strings(&lake, "SHOW CREATE TABLE trails").await;
    assert_eq!(show, [ddl]);
    // Region is a column of the events, not a path: the answer must match.
    let by_region = scalar_i64(
        &lake,
        "SELECT count(*) FROM trails WHERE region = 'eu-west-1'",
    )
    .await;
    assert_eq!(
        by_region,
        scalar_i64(
            &lake,
            "SELECT count(*) FROM cloudtrail_logs WHERE awsregion = 'eu-west-1'"
        )
        .await
    );
}

#[tokio::test]
async fn struct_member_predicates_reach_the_flat_columns() {
    let (_tmp, lake) = generated_lake(500, &IngestOptions::default());
    // An ARN the lake holds: one it does not would leave no file to scan (needle filters).
    let arn = strings(
        &lake,
        "SELECT max(useridentity.arn) FROM cloudtrail_logs WHERE useridentity.sessioncontext.sessionissuer.arn IS NOT NULL",
    )
    .await
    .remove(0);
    let plan = column_strings(
        &lake,
        &format!("EXPLAIN SELECT count(*) FROM cloudtrail_logs WHERE useridentity.sessioncontext.sessionissuer.arn = 'x' AND useridentity.arn = '{arn}'"),
        1,
    )
    .await
    .join("\n");
    for col in [
        "useridentity_sessioncontext_sessionissuer_arn",
        "useridentity_arn",
    ] {
        assert!(
            plan.contains(&format!("{col}_min@")),
            "{col} is pruned by statistics:\n{plan}"
        );
    }
}
