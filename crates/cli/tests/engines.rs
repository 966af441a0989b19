//! Independent engines read the lake with the SQL `trawl ddl` prints: Apache Spark (local mode,
//! PyPI `pyspark` on the machine's JRE) and DuckDB answer the Athena queries of
//! `fixtures/engines/queries.sql` (struct paths, UNNEST of resources, JSON functions, time
//! windows) as `trawl sql` does, and never see the rows of a commit that did not finish.
//!
//! Needs `python3` with `pyspark` and `duckdb`, and `java`; with `CI` set their absence fails
//! the test (`.ci/run` installs them), otherwise it is skipped with a message.

#![allow(clippy::unwrap_used, reason = "a test's unwrap is its failure message")]

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use serde_json::Value;

fn trawl() -> Command {
    trawl_testkit::trawl(env!("CARGO_BIN_EXE_trawl"))
}

fn ok(o: Output, what: &str) -> String {
    assert!(
        o.status.success(),
        "{what}: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    String::from_utf8(o.stdout).unwrap()
}

fn engines_available() -> bool {
    let python = Command::new("python3")
        .args(["-c", "import duckdb, pyspark"])
        .status()
        .is_ok_and(|s| s.success());
    let java = Command::new("java")
        .arg("-version")
        .output()
        .is_ok_and(|o| o.status.success());
    if !(python && java) {
        assert!(
            std::env::var_os("CI").is_none(),
            "the engines test needs python3 with pyspark and duckdb (pip install pyspark duckdb) and a JRE (java)"
        );
        eprintln!("skipped: python3 with pyspark and duckdb, and java, are needed");
    }
    python && java
}

fn queries_file() -> PathBuf {
    trawl_testkit::repo().join("fixtures/engines/queries.sql")
}

/// The queries' Athena text, by name (the Python runner reads the engines' own text).
fn athena_queries() -> BTreeMap<String, String> {
    let text = std::fs::read_to_string(queries_file()).unwrap();
    text.split("-- name: ")
        .skip(1)
        .map(|block| {
            let (name, rest) = block.split_once('\n').unwrap();
            let athena = rest
                .split("\n-- spark:")
                .next()
                .unwrap()
                .split("\n-- duckdb:")
                .next()
                .unwrap();
            (name.trim().to_string(), athena.trim().to_string())
        })
        .collect()
}

/// A row as canonical text: its columns sorted by name, values as text.
fn canonical(row: &serde_json::Map<String, Value>) -> String {
    let m: BTreeMap<&str, Option<String>> = row
        .iter()
        .map(|(k, v)| {
            let v = match v {
                Value::Null => None,
                Value::String(s) => Some(s.clone()),
                other => Some(other.to_string()),
            };
            (k.as_str(), v)
        })
        .collect();
    serde_json::to_string(&m).unwrap()
}

/// Rows as a sorted multiset of canonical rows.
fn multiset(rows: &Value) -> Vec<String> {
    let mut out: Vec<String> = rows
        .as_array()
        .unwrap()
        .iter()
        .map(|r| canonical(r.as_object().unwrap()))
        .collect();
    out.sort();
    out
}

fn trawl_answers(lake: &Path, names: &[&str]) -> BTreeMap<String, Vec<String>> {
    let all = athena_queries();
    names
        .iter()
        .map(|n| {
            let o = trawl()
                .args(["sql", "--format", "json", "--lake"])
                .arg(lake)
                .arg(&all[*n])
                .output()
                .unwrap();
            let v: Value = serde_json::from_str(&ok(o, n)).unwrap();
            (n.to_string(), multiset(&v))
        })
        .collect()
}

fn ddl(lake: &Path, engine: &str, dir: &Path) -> PathBuf {
    let o = trawl()
        .args(["ddl", "--engine", engine, "--lake"])
        .arg(lake)
        .output()
        .unwrap();
    let path = dir.join(format!("{engine}.sql"));
    std::fs::write(&path, ok(o, "trawl ddl")).unwrap();
    path
}

/// `trawl ddl` for Spark and DuckDB into `dir`, then each engine's answers to `names`.
fn engine_answers(
    lake: &Path,
    dir: &Path,
    names: &[&str],
) -> BTreeMap<String, BTreeMap<String, Vec<String>>> {
    ddl(lake, "spark", dir);
    ddl(lake, "duckdb", dir);
    run_engines(dir, names)
}

/// Each engine's answers to `names` through the DDL files in `dir`, by engine then query.
fn run_engines(dir: &Path, names: &[&str]) -> BTreeMap<String, BTreeMap<String, Vec<String>>> {
    let script = trawl_testkit::manifest_dir().join("tests/engines/run.py");
    let out = trawl_testkit::run_peer(
        &script,
        &[
            "--queries".as_ref(),
            queries_file().as_os_str(),
            "--spark-ddl".as_ref(),
            dir.join("spark.sql").as_os_str(),
            "--duckdb-ddl".as_ref(),
            dir.join("duckdb.sql").as_os_str(),
            "--only".as_ref(),
            names.join(",").as_ref(),
        ],
    );
    let v: Value = serde_json::from_str(&out).unwrap();
    v.as_object()
        .unwrap()
        .iter()
        .map(|(engine, qs)| {
            let answers = qs
                .as_object()
                .unwrap()
                .iter()
                .map(|(n, rows)| (n.clone(), multiset(rows)))
                .collect();
            (engine.clone(), answers)
        })
        .collect()
}

fn assert_engines_agree(
    engines: &BTreeMap<String, BTreeMap<String, Vec<String>>>,
    expected: &BTreeMap<String, Vec<String>>,
    when: &str,
) {
    assert_eq!(engines.len(), 2, "both engines answered: {engines:?}");
    for (engine, answers) in engines {
        for (name, want) in expected {
            assert!(!want.is_empty(), "{name}: trawl's answer is empty ({when})");
            let got = answers.get(name).cloned().unwrap_or_default();
            if &got != want {
                let only = |a: &[String], b: &[String]| -> Vec<String> {
                    a.iter().filter(|r| !b.contains(r)).cloned().collect()
                };
                panic!(
                    "{engine} differs from trawl sql on `{name}` ({when}): {} rows against {}\n  only in {engine}: {:?}\n  only in trawl: {:?}",
                    got.len(),
                    want.len(),
                    only(&got, want),
                    only(want, &got)
                );
            }
        }
    }
}

fn ingest(lake: &Path, trail: &Path, failpoint: Option<&str>) -> Output {
    ingest_all(lake, &[trail.to_path_buf()], failpoint)
}

fn ingest_all(lake: &Path, sources: &[PathBuf], failpoint: Option<&str>) -> Output {
    let mut cmd = trawl();
    cmd.args(["ingest", "--quiet", "--progress", "never", "--lake"])
        .arg(lake)
        .args(sources);
    if let Some(point) = failpoint {
        cmd.env("FAILPOINTS", format!("{point}=return"));
    }
    cmd.output().unwrap()
}

const COUNTS: &[&str] = &["rows_per_day", "sources"];

#[test]
fn spark_and_duckdb_answer_as_trawl_sql_and_see_committed_rows_only() {
    if !engines_available() {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let lake = tmp.path().join("lake");
    let first = trawl_testkit::trail(&tmp.path().join("first"), 11, 3000, 3);
    ok(ingest(&lake, &first, None), "first ingest");
    if let Some(corpus) = std::env::var_os("TRAWL_CORPUS") {
        // Real records too (each source's `normalized/` copies): other accounts, odd
        // identities, days outside the generated ones.
        let mut files = Vec::new();
        for source in std::fs::read_dir(&corpus).unwrap() {
            let normalized = source.unwrap().path().join("normalized");
            for f in std::fs::read_dir(&normalized).into_iter().flatten() {
                let f = f.unwrap().path();
                if f.to_string_lossy().ends_with(".json.gz") {
                    files.push(f);
                }
            }
        }
        assert!(
            !files.is_empty(),
            "no normalized/*.json.gz under {corpus:?}"
        );
        ok(ingest_all(&lake, &files, None), "corpus ingest");
    }

    let names: Vec<String> = athena_queries().into_keys().collect();
    let names: Vec<&str> = names.iter().map(String::as_str).collect();
    let expected = trawl_answers(&lake, &names);
    let engines = engine_answers(&lake, tmp.path(), &names);
    assert_engines_agree(&engines, &expected, "after the ingest");

    // A commit killed half way: its data files are in events/, its log entry is not.
    let second = trawl_testkit::trail(&tmp.path().join("second"), 12, 1500, 2);
    let o = ingest(&lake, &second, Some("lake::before-commit"));
    assert!(!o.status.success(), "the crash point stopped the ingest");
    let (_, report) = verify_json(&lake);
    let orphans = report["orphans"].as_array().unwrap();
    assert!(
        orphans
            .iter()
            .any(|o| o["path"].as_str().unwrap().ends_with(".parquet")),
        "the killed commit left a data file in events/: {report}"
    );
    let before = trawl_answers(&lake, COUNTS);
    assert_eq!(before["sources"], expected["sources"]);
    let engines = engine_answers(&lake, tmp.path(), COUNTS);
    assert_engines_agree(
        &engines,
        &before,
        "after a commit killed before its log entry",
    );

    // Killed after the commit, before its manifests: the engines see the previous commit
    // whole, until the next writer (or `trawl ddl`) brings the manifests up to date.
    let o = ingest(&lake, &second, Some("lake::after-commit"));
    assert!(!o.status.success(), "the crash point stopped the ingest");
    let after = trawl_answers(&lake, COUNTS);
    assert_ne!(after["sources"], before["sources"], "the commit landed");
    let (code, report) = verify_json(&lake);
    assert_eq!(code, Some(0), "a stale manifest is not damage: {report}");
    assert!(
        !report["manifests"].as_array().unwrap().is_empty(),
        "verify reports the manifests behind the log: {report}"
    );
    // The views read the manifests at each query: the DDL printed before still applies.
    // `trawl ddl` while another process holds the writer lock prints without rewriting them.
    ddl_while_locked(&lake);
    let engines = run_engines(tmp.path(), COUNTS);
    assert_engines_agree(
        &engines,
        &before,
        "after a commit whose manifests were not written",
    );

    // `trawl ddl` rewrites them: the engines now see the new commit.
    let engines = engine_answers(&lake, tmp.path(), COUNTS);
    assert_engines_agree(
        &engines,
        &after,
        "after trawl ddl brought the manifests up to date",
    );

    // Re-laid out with a directory per account below each day: the same answers everywhere.
    let whole = trawl_answers(&lake, &names);
    let o = trawl()
        .args([
            "compact",
            "--retain",
            "0s",
            "--partition-by",
            "dt,account",
            "--lake",
        ])
        .arg(&lake)
        .output()
        .unwrap();
    ok(o, "compact --partition-by dt,account");
    assert_eq!(trawl_answers(&lake, &names), whole, "trawl, re-laid out");
    let engines = engine_answers(&lake, tmp.path(), &names);
    assert_engines_agree(
        &engines,
        &whole,
        "after the lake was re-laid out by account",
    );
}

/// `trawl ddl` while this process holds the lake's writer lock (as an ingest would): it prints
/// the statements, says the ingest keeps the manifests current, and leaves them as they are.
fn ddl_while_locked(lake: &Path) {
    let lock = std::fs::File::options()
        .write(true)
        .open(lake.join("_trawl/lock"))
        .unwrap();
    lock.lock().unwrap();
    let o = trawl()
        .args(["ddl", "--engine", "duckdb", "--lake"])
        .arg(lake)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&o.stderr).into_owned();
    assert!(stderr.contains("an ingest is writing"), "{stderr}");
    assert!(ok(o, "trawl ddl").contains("CREATE OR REPLACE VIEW cloudtrail_logs"));
    drop(lock);
}

fn verify_json(lake: &Path) -> (Option<i32>, Value) {
    let o = trawl()
        .args(["verify", "--json", "--lake"])
        .arg(lake)
        .output()
        .unwrap();
    (o.status.code(), serde_json::from_slice(&o.stdout).unwrap())
}

#[test]
fn ddl_location_reroots_the_manifests_and_later_ingests_keep_it() {
    let tmp = tempfile::tempdir().unwrap();
    let lake = tmp.path().join("lake");
    let first = trawl_testkit::trail(&tmp.path().join("first"), 3, 600, 2);
    ok(ingest(&lake, &first, None), "first ingest");
    let local =
        std::fs::read_to_string(lake.join("_trawl/manifest/dt=2024-03-01/manifest")).unwrap();
    assert!(
        local.starts_with(&format!(
            "file://{}/events/dt=2024-03-01/part-",
            lake.display()
        )),
        "{local}"
    );

    let o = trawl()
        .args([
            "ddl",
            "--engine",
            "athena",
            "--location",
            "s3://bucket/lake/",
            "--lake",
        ])
        .arg(&lake)
        .output()
        .unwrap();
    let athena = ok(o, "trawl ddl --location");
    assert!(
        athena.contains("LOCATION 's3://bucket/lake/_trawl/manifest/'"),
        "{athena}"
    );
    assert!(
        athena.contains("'projection.dt.range' = '2024-03-01,NOW'"),
        "{athena}"
    );
    assert!(athena.contains("CREATE OR REPLACE VIEW cloudtrail_logs"));

    // A later ingest (days 1-3) writes its days' manifests under the same root.
    let second = trawl_testkit::trail(&tmp.path().join("second"), 4, 600, 3);
    ok(ingest(&lake, &second, None), "second ingest");
    let dir = lake.join("_trawl/manifest");
    let mut lines = 0;
    for day in ["2024-03-01", "2024-03-02", "2024-03-03"] {
        let text = std::fs::read_to_string(dir.join(format!("dt={day}/manifest"))).unwrap();
        for line in text.lines() {
            assert!(
                line.starts_with(&format!("s3://bucket/lake/events/dt={day}/part-")),
                "{line}"
            );
            lines += 1;
        }
    }
    let (code, report) = verify_json(&lake);
    assert_eq!(code, Some(0), "{report}");
    assert_eq!(report["manifests"], serde_json::json!([]), "{report}");
    let files = report["files_checked"].as_u64().unwrap();
    assert_eq!(lines, files, "one manifest line per committed file");

    // A lost manifest is reported (engines would miss that day) and `trawl ddl` restores it.
    std::fs::remove_file(dir.join("dt=2024-03-02/manifest")).unwrap();
    let (code, report) = verify_json(&lake);
    assert_eq!(code, Some(0), "behind is not damage: {report}");
    assert_eq!(report["manifests"].as_array().unwrap().len(), 1, "{report}");
    // A line naming a file no commit holds would show engines rows the lake does not have.
    let day1 = dir.join("dt=2024-03-01/manifest");
    let mut text = std::fs::read_to_string(&day1).unwrap();
    text.push_str("s3://bucket/lake/events/dt=2024-03-01/part-00000000000000000001-0099.parquet\n");
    std::fs::write(&day1, text).unwrap();
    let (code, report) = verify_json(&lake);
    assert_eq!(code, Some(1), "{report}");
    assert!(
        report["problems"].to_string().contains("no commit holds"),
        "{report}"
    );

    let o = trawl()
        .args(["ddl", "--engine", "trino", "--lake"])
        .arg(&lake)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&o.stderr).into_owned();
    let trino = ok(o, "trawl ddl --engine trino");
    assert!(stderr.contains("manifests: 3 days written"), "{stderr}");
    assert!(trino.contains("system.sync_partition_metadata"), "{trino}");
    assert!(trino.contains("CAST(ROW("), "{trino}");
    let (code, report) = verify_json(&lake);
    assert_eq!(code, Some(0), "{report}");
    assert_eq!(report["manifests"], serde_json::json!([]), "{report}");

    // A damaged manifest record is derived data: the next writer rewrites it and the manifests.
    std::fs::write(lake.join("_trawl/manifest.json"), "{not json").unwrap();
    let third = trawl_testkit::trail(&tmp.path().join("third"), 6, 300, 4);
    ok(
        ingest(&lake, &third, None),
        "ingest after a damaged manifest record",
    );
    let (code, report) = verify_json(&lake);
    assert_eq!(code, Some(0), "{report}");
    assert_eq!(report["manifests"], serde_json::json!([]), "{report}");
    assert!(
        std::fs::read_to_string(dir.join("dt=2024-03-04/manifest"))
            .unwrap()
            .starts_with("file://"),
        "without the record, the root is the lake's directory again"
    );
}

/// The view `trawl ddl --engine athena` prints (Trino's `CAST(ROW(...) AS ROW(...))`) run by
/// trawl's own Athena front end over the flat table answers every query as trawl's view does.
#[test]
fn the_athena_view_answers_as_trawls_own() {
    let tmp = tempfile::tempdir().unwrap();
    let lake = tmp.path().join("lake");
    let trail = trawl_testkit::trail(&tmp.path().join("trail"), 5, 2000, 3);
    ok(ingest(&lake, &trail, None), "ingest");
    let o = trawl()
        .args(["ddl", "--engine", "athena", "--lake"])
        .arg(&lake)
        .output()
        .unwrap();
    let athena = ok(o, "trawl ddl --engine athena");
    let view = athena
        .split_once("CREATE OR REPLACE VIEW cloudtrail_logs AS\n")
        .unwrap()
        .1
        .trim_end()
        .trim_end_matches(';');
    assert!(view.contains("CAST(ROW("), "{view}");
    let queries = athena_queries();
    let names: Vec<&str> = queries.keys().map(String::as_str).collect();
    let expected = trawl_answers(&lake, &names);
    for (name, sql) in &queries {
        let through_view = sql.replace(
            "FROM cloudtrail_logs",
            &format!("FROM ({view}) AS cloudtrail_logs"),
        );
        assert_ne!(&through_view, sql, "{name} reads cloudtrail_logs");
        let o = trawl()
            .args(["sql", "--format", "json", "--lake"])
            .arg(&lake)
            .arg(&through_view)
            .output()
            .unwrap();
        let got: Value = serde_json::from_str(&ok(o, name)).unwrap();
        assert_eq!(
            multiset(&got),
            expected[name],
            "{name} through the Athena view"
        );
    }
}
