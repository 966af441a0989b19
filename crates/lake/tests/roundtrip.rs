//! JSON -> lake -> JSON keeps every field: arbitrary CloudTrail-shaped records (known members
//! with odd types, key-case variants, arbitrary extra keys and values at the top level and
//! inside `userIdentity` and `resources`, free-form members of any JSON type) are ingested
//! into a lake, read back from its Parquet files and rebuilt: each equals its original.

#![allow(clippy::unwrap_used, reason = "a test's unwrap is its failure message")]

use std::io::Write;

use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use proptest::prelude::*;
use proptest::test_runner::TestCaseError;
use serde_json::{Map, Value, json};
use trawl_lake::Lake;

fn scalar() -> impl Strategy<Value = Value> {
    prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        any::<u64>().prop_map(Value::from),
        (-1e9f64..1e9).prop_map(Value::from),
        ".{0,12}".prop_map(Value::String),
    ]
}

fn any_json() -> impl Strategy<Value = Value> {
    scalar().prop_recursive(3, 24, 4, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            prop::collection::btree_map(".{0,8}", inner, 0..4)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

/// A key that is not a known CloudTrail member in any case (those are added on purpose).
fn extra_key() -> impl Strategy<Value = String> {
    "[a-zA-Z_\\-$ é\"\\\\.]{1,10}".prop_map(|k| format!("x{k}"))
}

fn extras() -> impl Strategy<Value = Vec<(String, Value)>> {
    prop::collection::vec((extra_key(), any_json()), 0..3)
}

/// A known string member: usually a string, sometimes another type.
fn member() -> impl Strategy<Value = Option<Value>> {
    prop_oneof![
        4 => "[A-Za-z0-9:/._-]{0,16}".prop_map(|s| Some(Value::String(s))),
        1 => scalar().prop_map(Some),
        1 => Just(None),
    ]
}

fn time() -> impl Strategy<Value = Value> {
    prop_oneof![
        4 => (0u32..3, 0u32..24, 0u32..60).prop_map(|(d, h, m)| {
            Value::String(format!("2024-03-{:02}T{h:02}:{m:02}:00Z", d + 1))
        }),
        1 => Just(Value::String("2024-03-01T10:00:00.123+02:00".into())),
        1 => Just(Value::String("not a time".into())),
        1 => any::<i64>().prop_map(Value::from),
    ]
}

fn object(members: Vec<(&str, Option<Value>)>, extra: Vec<(String, Value)>) -> Value {
    let mut m = Map::new();
    for (k, v) in members {
        if let Some(v) = v {
            m.insert(k.to_string(), v);
        }
    }
    for (k, v) in extra {
        m.insert(k, v);
    }
    Value::Object(m)
}

fn user_identity() -> impl Strategy<Value = Value> {
    let issuer = (member(), member(), extras())
        .prop_map(|(t, arn, x)| object(vec![("type", t), ("arn", arn)], x));
    let session = (issuer, member(), extras()).prop_map(|(issuer, mfa, x)| {
        object(
            vec![
                ("sessionIssuer", Some(issuer)),
                (
                    "attributes",
                    Some(object(vec![("mfaAuthenticated", mfa)], Vec::new())),
                ),
            ],
            x,
        )
    });
    prop_oneof![
        6 => (member(), member(), member(), prop::option::of(session), extras()).prop_map(
            |(t, arn, account, session, x)| {
                object(
                    vec![("type", t), ("arn", arn), ("accountId", account), ("sessionContext", session)],
                    x,
                )
            }
        ),
        1 => any_json(),
    ]
}

fn resources() -> impl Strategy<Value = Option<Value>> {
    let one = (member(), member(), extras())
        .prop_map(|(arn, t, x)| object(vec![("ARN", arn), ("type", t)], x));
    prop_oneof![
        3 => prop::collection::vec(one, 0..3).prop_map(|v| Some(Value::Array(v))),
        1 => any_json().prop_map(Some),
        1 => Just(None),
    ]
}

fn record(id: usize) -> impl Strategy<Value = Value> {
    (
        (time(), member(), member(), member(), member()),
        (user_identity(), resources()),
        (
            prop::option::of(any_json()),
            prop::option::of(any_json()),
            prop::option::of(any_json()),
        ),
        prop_oneof![
            Just(None),
            Just(Some("EventName")),
            Just(Some("EVENTSOURCE"))
        ],
        extras(),
    )
        .prop_map(
            move |(
                (t, source, name, region, read_only),
                (who, res),
                (req, resp, more),
                case,
                x,
            )| {
                let mut r = object(
                    vec![
                        ("eventVersion", Some(json!("1.09"))),
                        (
                            "eventID",
                            Some(json!(format!("00000000-0000-4000-8000-{id:012}"))),
                        ),
                        ("eventTime", Some(t)),
                        ("eventSource", source),
                        ("eventName", name),
                        ("awsRegion", region),
                        ("readOnly", read_only),
                        ("userIdentity", Some(who)),
                        ("resources", res),
                        ("requestParameters", req),
                        ("responseElements", resp),
                        ("additionalEventData", more),
                    ],
                    x,
                );
                // A member spelled in another case, beside or instead of the usual one.
                if let (Some(k), Value::Object(m)) = (case, &mut r) {
                    m.insert(k.to_string(), json!("cased"));
                }
                r
            },
        )
}

fn records() -> impl Strategy<Value = Vec<Value>> {
    (1usize..12).prop_flat_map(|n| (0..n).map(record).collect::<Vec<_>>())
}

fn lake_records(lake: &std::path::Path) -> Vec<Value> {
    let mut out = Vec::new();
    for e in walkdir::WalkDir::new(lake.join("events")) {
        let e = e.unwrap();
        if !e.file_type().is_file() {
            continue;
        }
        let reader =
            ParquetRecordBatchReaderBuilder::try_new(std::fs::File::open(e.path()).unwrap())
                .unwrap()
                .build()
                .unwrap();
        for b in reader {
            out.extend(trawl_schema::rebuild_batch(&b.unwrap()).unwrap());
        }
    }
    out
}

fn id(r: &Value) -> String {
    r["eventID"].as_str().unwrap_or_default().to_string()
}

fn ingest_file(lake: &Lake, path: std::path::PathBuf) -> trawl_lake::IngestSummary {
    trawl_testkit::ingest(lake, &[path])
}

/// Ingests `records` into a new lake and compares what comes back, record by record.
fn round_trip(records: &[Value]) -> Result<(), TestCaseError> {
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path().join("in.json.gz");
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    gz.write_all(&serde_json::to_vec(&json!({ "Records": records })).unwrap())
        .unwrap();
    std::fs::write(&src, gz.finish().unwrap()).unwrap();
    let lake = Lake::create(dir.path().join("lake")).unwrap();
    let s = ingest_file(&lake, src);
    prop_assert!(s.quarantined.is_empty(), "{:?}", s.quarantined);
    prop_assert_eq!(s.bad_records, 0);
    let mut back = lake_records(&dir.path().join("lake"));
    let mut want = records.to_vec();
    back.sort_by_key(id);
    want.sort_by_key(id);
    prop_assert_eq!(back.len(), want.len());
    for (b, w) in back.iter().zip(&want) {
        prop_assert_eq!(b, w);
    }
    // The rebuilt records are the same events to dedup (their content hash is the
    // original's, whatever the key order): delivered again, all are dropped as duplicates.
    let again = dir.path().join("again.json");
    std::fs::write(
        &again,
        serde_json::to_vec(&json!({ "Records": back })).unwrap(),
    )
    .unwrap();
    let s = ingest_file(&lake, again);
    prop_assert_eq!(s.events_stored, 0);
    prop_assert_eq!(s.conflicts, 0);
    prop_assert_eq!(s.duplicates_dropped, records.len() as u64);
    Ok(())
}

#[test]
fn every_field_survives_the_lake() {
    // Value trees of nested strategies are deep: generate them on a large stack.
    let cases = std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(128);
    std::thread::Builder::new()
        .stack_size(256 << 20)
        .spawn(move || {
            let config = ProptestConfig {
                cases,
                failure_persistence: None,
                ..ProptestConfig::default()
            };
            let mut runner = proptest::test_runner::TestRunner::new(config);
            if let Err(e) = runner.run(&records(), |r| round_trip(&r)) {
                panic!("{e}");
            }
        })
        .unwrap()
        .join()
        .unwrap();
}

/// Found by the property above: serde_json without `float_roundtrip` read this one ulp off.
#[test]
fn floats_come_back_to_the_last_bit() {
    let record = json!({"eventVersion": "1.09", "eventID": "f", "eventTime": "2024-03-01T00:00:00Z",
        "requestParameters": {"y": 933394669.8351293}, "resources": [{"ARN": "a", "z": 189389555.37141135}],
        "xExtra": [1e-7, 5e-324, 1.7976931348623157e308]});
    round_trip(&[record]).unwrap();
}
