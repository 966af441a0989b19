//! `trawl sql --stats`: what each statement cost, on stderr or in the JSON output.

#![allow(clippy::unwrap_used, reason = "a test's unwrap is its failure message")]

use std::path::{Path, PathBuf};
use std::process::Output;

use trawl_testkit::{stderr, stdout};

fn trawl(args: &[&str]) -> Output {
    trawl_testkit::run(env!("CARGO_BIN_EXE_trawl"), args)
}

/// Bytes of the gzipped log objects under `dir`.
fn gz_bytes(dir: &Path) -> u64 {
    trawl_testkit::files(dir)
        .iter()
        .filter(|rel| rel.ends_with(".json.gz"))
        .map(|rel| std::fs::metadata(dir.join(rel)).unwrap().len())
        .sum()
}

/// A generated trail of 1,500 events over two days under `dir/trail`, ingested into
/// `dir/NAME` with `extra` ingest flags.
fn generated_lake(dir: &Path, name: &str, extra: &[&str]) -> (PathBuf, String) {
    let trail = dir.join("trail");
    if !trail.exists() {
        let spec = trawl_gen::TrailSpec {
            events: 1_500,
            days: 2,
            ..trawl_gen::TrailSpec::default()
        };
        trawl_gen::write_trail(&trail, &spec).unwrap();
    }
    let lake = dir.join(name).display().to_string();
    let mut args = vec!["ingest", "--lake", &lake, trail.to_str().unwrap()];
    args.extend_from_slice(extra);
    let o = trawl(&args);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    (trail, lake)
}

#[test]
fn stats_go_to_stderr_and_into_the_json_output() {
    let dir = tempfile::tempdir().unwrap();
    let (trail, lake) = generated_lake(dir.path(), "lake", &[]);
    let sql = "SELECT eventname, count(*) AS n FROM cloudtrail_logs \
               WHERE eventtime >= '2024-03-02' GROUP BY 1 ORDER BY 2 DESC, 1";

    // CSV on stdout is the same with and without --stats; the stats are on stderr.
    let plain = trawl(&["sql", "--lake", &lake, "--format", "csv", sql]);
    let o = trawl(&[
        "sql",
        "--lake",
        &lake,
        "--format",
        "csv",
        "--stats",
        "--price-per-tb",
        "6.25",
        sql,
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(stdout(&o), stdout(&plain));
    let text = stderr(&o);
    for want in [
        "partitions 1 of 2 (2024-03-02)",
        "files ",
        "row groups ",
        "Athena estimate at $6.25/TB",
        "raw JSON, no partitions",
        "this lake as Parquet",
    ] {
        assert!(text.contains(want), "{want:?} in {text}");
    }

    // JSON: one object per statement, its rows and its stats.
    let two = format!("{sql}; SELECT 1 AS one");
    let o = trawl(&["sql", "--lake", &lake, "--format", "json", "--stats", &two]);
    assert!(o.status.success(), "{}", stderr(&o));
    let docs: Vec<serde_json::Value> = stdout(&o)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(docs.len(), 2, "{}", stdout(&o));
    let (doc, stats) = (&docs[0], &docs[0]["stats"]);
    let rows = doc["rows"].as_array().unwrap();
    assert_eq!(stats["rows"], rows.len() as u64);
    let total: u64 = rows.iter().map(|r| r["n"].as_u64().unwrap()).sum();
    assert!(total > 0 && total < 1_500, "{total}");
    assert_eq!(stats["scan"]["scans"], 1);
    assert_eq!(
        stats["scan"]["partitions"],
        serde_json::json!(["2024-03-02"])
    );
    assert_eq!(stats["athena"]["raw_json"]["bytes"], gz_bytes(&trail));
    assert_eq!(stats["athena"]["price_per_tb"], 5.0);
    assert!(stats["athena"]["lake"]["bytes"].as_u64().unwrap() > 0);
    // A statement that reads no lake file: no scan, Athena's minimum.
    assert_eq!(docs[1]["rows"], serde_json::json!([{"one": 1}]));
    assert_eq!(docs[1]["stats"]["scan"]["scans"], 0);
    assert_eq!(
        docs[1]["stats"]["athena"]["raw_json"]["billed_bytes"],
        10 << 20
    );
}

fn json(o: &Output) -> serde_json::Value {
    serde_json::from_str(&stdout(o)).unwrap_or_else(|e| panic!("{e}: {}", stdout(o)))
}

#[test]
fn bench_runs_a_query_set_on_two_lakes_and_fails_on_a_slower_baseline() {
    let dir = tempfile::tempdir().unwrap();
    let (_, a) = generated_lake(dir.path(), "a", &[]);
    // The same trail in two ingests of half the objects each: two files a day, the same
    // answers.
    let (trail, b) = generated_lake(dir.path(), "b", &["--shard", "1/2"]);
    let o = trawl(&[
        "ingest",
        "--lake",
        &b,
        "--shard",
        "2/2",
        trail.to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let queries = dir.path().join("queries.sql");
    let set = [
        "SELECT eventsource, count(*) FROM cloudtrail_logs GROUP BY 1",
        "SELECT eventname FROM cloudtrail_logs WHERE eventtime >= '2024-03-02T06:00:00Z' \
         AND errorcode IS NOT NULL",
    ];
    std::fs::write(
        &queries,
        format!("-- a query set\n{};\n{};\n", set[0], set[1]),
    )
    .unwrap();
    let q = queries.to_str().unwrap();
    let bench = |extra: &[&str]| {
        let mut args = vec![
            "bench", "-f", q, "--repeat", "3", "--warmup", "0", "--lake", &a, "--lake", &b,
        ];
        args.extend_from_slice(extra);
        trawl(&args)
    };
    let o = bench(&["--format", "json"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let report = json(&o);
    let runs = report["runs"].as_array().unwrap();
    assert_eq!(runs.len(), 4, "two statements on two lakes");
    for (i, sql) in set.iter().enumerate() {
        let o = trawl(&["sql", "--lake", &a, "--format", "json", sql]);
        let rows = json(&o).as_array().unwrap().len() as u64;
        let on: Vec<&serde_json::Value> = runs.iter().filter(|r| r["statement"] == i + 1).collect();
        assert_eq!(on.len(), 2);
        for r in &on {
            assert_eq!(r["rows"], rows, "{r}");
            let t = &r["seconds"];
            let (min, med, max) = (
                t["min"].as_f64().unwrap(),
                t["median"].as_f64().unwrap(),
                t["max"].as_f64().unwrap(),
            );
            assert!(0.0 < min && min <= med && med <= max, "{t}");
            assert!(r["bytes_scanned"].as_u64().unwrap() > 0, "{r}");
        }
        assert!(on[0]["ratio"].is_null());
        let ratio = on[1]["ratio"].as_f64().unwrap();
        let want = on[1]["seconds"]["median"].as_f64().unwrap()
            / on[0]["seconds"]["median"].as_f64().unwrap();
        assert!((ratio - want).abs() < 1e-9, "{ratio} vs {want}");
    }
    // CSV: a header and one row per statement and lake.
    let o = bench(&["--format", "csv"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let csv = stdout(&o);
    assert!(
        csv.starts_with("statement,lake,min_s,median_s,max_s,vs_first_lake,"),
        "{csv}"
    );
    assert_eq!(csv.lines().count(), 5, "{csv}");

    // A baseline 1000 times faster: both statements are slower, exit 1 naming them.
    let scaled = |factor: f64| {
        let mut r = report.clone();
        for run in r["runs"].as_array_mut().unwrap() {
            for k in ["min", "median", "max"] {
                let v = run["seconds"][k].as_f64().unwrap();
                run["seconds"][k] = serde_json::json!(v * factor);
            }
        }
        let path = dir.path().join(format!("baseline-{factor}.json"));
        std::fs::write(&path, serde_json::to_string(&r).unwrap()).unwrap();
        path.display().to_string()
    };
    let fast = scaled(0.001);
    let o = bench(&["--format", "json", "--baseline", &fast, "--min-delta", "0"]);
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    let err = stderr(&o);
    for want in [
        "statement 1 on",
        "statement 2 on",
        "4 statement(s) slower than",
    ] {
        assert!(err.contains(want), "{want:?} in {err}");
    }
    // A baseline 1000 times slower: nothing regressed.
    let slow = scaled(1000.0);
    let o = bench(&["--format", "json", "--baseline", &slow]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    // A file that is not a baseline: the error names it.
    let o = bench(&["--baseline", q]);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert!(stderr(&o).contains("queries.sql"), "{}", stderr(&o));
}

#[test]
fn info_describes_the_lake() {
    let dir = tempfile::tempdir().unwrap();
    let (trail, lake) = generated_lake(dir.path(), "lake", &[]);
    let o = trawl(&["info", "--lake", &lake, "--json"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let info = json(&o);
    let o = trawl(&[
        "sql",
        "--lake",
        &lake,
        "--format",
        "json",
        "SELECT count(*) AS n, min(eventtime) AS first, max(eventtime) AS last, \
         count(DISTINCT \"$path\") AS objects FROM cloudtrail_logs",
    ]);
    let want = &json(&o)[0];
    assert_eq!(info["events"], want["n"]);
    assert_eq!(info["first_event"], want["first"]);
    assert_eq!(info["last_event"], want["last"]);
    assert_eq!(info["raw_objects"], want["objects"]);
    assert_eq!(info["raw_bytes"], gz_bytes(&trail));
    assert_eq!(info["partitions"], 2);
    assert_eq!(info["first_partition"], "2024-03-01");
    assert_eq!(info["last_partition"], "2024-03-02");
    assert_eq!(info["partitioned_by"], serde_json::json!(["dt"]));
    let text = stdout(&trawl(&["info", "--lake", &lake]));
    assert!(
        text.contains("partitioned by dt, sorted by eventtime, row groups of 131072 rows"),
        "{text}"
    );
    assert!(
        text.contains("partitions    2 in 2 days (dt 2024-03-01 .. 2024-03-02)"),
        "{text}"
    );
}

#[test]
fn layout_options_are_kept_by_the_lake_shown_by_info_and_changed_by_compact() {
    let dir = tempfile::tempdir().unwrap();
    let (_, lake) = generated_lake(
        dir.path(),
        "lake",
        &[
            "--partition-by",
            "dt,region",
            "--row-group-rows",
            "400",
            "--sort-by",
            "eventsource",
        ],
    );
    let info = json(&trawl(&["info", "--lake", &lake, "--json"]));
    assert_eq!(info["partitioned_by"], serde_json::json!(["dt", "region"]));
    assert_eq!(
        info["sorted_by"],
        serde_json::json!(["eventsource", "eventtime"])
    );
    assert_eq!(info["row_group_rows"], 400);
    assert!(info["partitions"].as_u64().unwrap() > 2, "{info}");
    let count = |sql: &str| {
        let o = trawl(&["sql", "--lake", &lake, "--format", "json", sql]);
        assert!(o.status.success(), "{}", stderr(&o));
        json(&o)[0]["n"].clone()
    };
    let q = "SELECT count(*) AS n FROM cloudtrail_logs WHERE awsregion = 'us-east-1'";
    let before = count(q);
    // A wrong value names the option and what it takes; nothing is written.
    let o = trawl(&["compact", "--lake", &lake, "--partition-by", "region"]);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert!(
        stderr(&o).contains(
            "--partition-by region: the lake is partitioned by `dt`, `dt,account` or `dt,region`"
        ),
        "{}",
        stderr(&o)
    );
    // Only the row groups change: the rest stays as the lake has it.
    let o = trawl(&[
        "compact",
        "--lake",
        &lake,
        "--row-group-rows",
        "1000",
        "--json",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(json(&o)["relaid_days"], 2);
    let info = json(&trawl(&["info", "--lake", &lake, "--json"]));
    assert_eq!(info["partitioned_by"], serde_json::json!(["dt", "region"]));
    assert_eq!(info["row_group_rows"], 1000);
    assert_eq!(info["files_in_other_layouts"], 0);
    // Back to a directory a day.
    let o = trawl(&["compact", "--lake", &lake, "--partition-by", "dt"]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(
        stdout(&o).contains("re-laid out     2 days, whole"),
        "{}",
        stdout(&o)
    );
    let info = json(&trawl(&["info", "--lake", &lake, "--json"]));
    assert_eq!(info["partitioned_by"], serde_json::json!(["dt"]));
    assert_eq!(info["partitions"], 2);
    assert_eq!(count(q), before);
}
