//! Differential test: queries whose functions mean the same in Trino and DuckDB run through
//! trawl (on the lake) and through DuckDB (on the raw trail JSON, `tests/duckdb/peer.py`), and
//! must give the same rows. Needs `python3` with `duckdb`; with `CI` set, its absence fails.

#![allow(clippy::unwrap_used, reason = "a test's unwrap is its failure message")]

use std::path::PathBuf;

use datafusion::arrow::util::display::{ArrayFormatter, FormatOptions};

const QUERIES: &[&str] = &[
    "SELECT eventname, count(*) AS n FROM cloudtrail_logs GROUP BY eventname ORDER BY n DESC, eventname",
    "SELECT useridentity.type AS t, count(*) AS n FROM cloudtrail_logs GROUP BY 1 ORDER BY 1",
    "SELECT errorcode, count(*) FROM cloudtrail_logs WHERE errorcode IS NOT NULL GROUP BY 1 ORDER BY 1",
    "SELECT awsregion, count(DISTINCT sourceipaddress) FROM cloudtrail_logs GROUP BY 1 ORDER BY 1",
    "SELECT min(eventtime), max(eventtime), count(*) FROM cloudtrail_logs",
    "SELECT count(*) FROM cloudtrail_logs WHERE eventtime >= '2024-03-03T00:00:00Z' AND eventtime < '2024-03-05T00:00:00Z'",
    "SELECT json_extract_scalar(requestparameters, '$.bucketName') AS b, count(*) FROM cloudtrail_logs WHERE eventsource = 's3.amazonaws.com' AND eventname = 'GetObject' GROUP BY 1 ORDER BY 1",
    "SELECT useridentity.sessioncontext.sessionissuer.username AS role, count(*) FROM cloudtrail_logs WHERE useridentity.type = 'AssumedRole' GROUP BY 1 ORDER BY 1",
    "SELECT coalesce(useridentity.username, useridentity.type) AS who, count(*) FROM cloudtrail_logs WHERE eventname = 'ConsoleLogin' AND json_extract_scalar(responseelements, '$.ConsoleLogin') = 'Failure' GROUP BY 1 ORDER BY 1",
    "SELECT json_extract_scalar(additionaleventdata, '$.MFAUsed') AS mfa, count(*) FROM cloudtrail_logs WHERE eventname = 'ConsoleLogin' GROUP BY 1 ORDER BY 1",
    "SELECT hour(from_iso8601_timestamp(eventtime)) AS h, count(*) FROM cloudtrail_logs GROUP BY 1 ORDER BY 1",
    "SELECT readonly, count(*) FROM cloudtrail_logs GROUP BY 1 ORDER BY 1",
    "SELECT eventid FROM cloudtrail_logs WHERE sourceipaddress = '81.2.69.142' AND errorcode = 'AccessDenied' ORDER BY eventid LIMIT 5",
    "SELECT tlsdetails.tlsversion, count(*) FROM cloudtrail_logs GROUP BY 1 ORDER BY 1 NULLS LAST",
];

#[tokio::test]
async fn same_answers_as_duckdb() {
    if !trawl_testkit::duckdb_available() {
        eprintln!("skipping: python3 cannot import duckdb (pip install duckdb)");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let trail = dir.path().join("trail");
    let spec = trawl_gen::TrailSpec {
        seed: 7,
        events: 3000,
        duplicate_rate: 0.0,
        ..Default::default()
    };
    trawl_gen::write_trail(&trail, &spec).unwrap();
    let lake = trawl_lake::Lake::create(dir.path().join("lake")).unwrap();
    trawl_testkit::ingest(&lake, std::slice::from_ref(&trail));

    let queries_file = dir.path().join("queries.sql");
    std::fs::write(&queries_file, QUERIES.join("\n")).unwrap();
    let peer = PathBuf::from(
        std::env::var_os("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR"),
    )
    .join("tests/duckdb/peer.py");
    let record_type = trawl_testkit::duckdb_record_type();
    let out = trawl_testkit::run_peer(
        &peer,
        &[
            trail.as_os_str(),
            record_type.as_ref(),
            queries_file.as_os_str(),
        ],
    );
    let theirs: Vec<Vec<Vec<Option<String>>>> = out
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(theirs.len(), QUERIES.len());

    let engine = trawl_query::QueryEngine::open(&lake).await.unwrap();
    for (sql, want) in QUERIES.iter().zip(&theirs) {
        let result = engine.run(sql).await.unwrap().pop().unwrap();
        let options = FormatOptions::default();
        let mut got: Vec<Vec<Option<String>>> = Vec::new();
        for b in &result.batches {
            let fmts: Vec<ArrayFormatter> = b
                .columns()
                .iter()
                .map(|c| ArrayFormatter::try_new(c.as_ref(), &options).unwrap())
                .collect();
            for row in 0..b.num_rows() {
                got.push(
                    b.columns()
                        .iter()
                        .zip(&fmts)
                        .map(|(c, f)| (!c.is_null(row)).then(|| f.value(row).to_string()))
                        .collect(),
                );
            }
        }
        assert!(
            !want.is_empty(),
            "the query returns nothing, so it proves nothing: {sql}"
        );
        assert_eq!(&got, want, "trawl and DuckDB differ on: {sql}");
    }
}
