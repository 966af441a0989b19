//! Output that is the binary's contract, kept as snapshots (insta; review changes with
//! `cargo insta review`, or accept them with `INSTA_UPDATE=always`): the help of every
//! subcommand, `ingest --json`, the lake's file layout after a fixed ingest, `report --format
//! json` on a fixed trail, and the message of each kind of bad input. Temporary paths and
//! timings are filtered out (`trawl_testkit::snapshot_settings`).

#![allow(clippy::unwrap_used, reason = "a test's unwrap is its failure message")]

use std::path::Path;
use std::process::Output;

use trawl_testkit::{fixtures, snapshot_settings, stderr, stdout};

fn trawl(args: &[&str]) -> Output {
    trawl_testkit::run(env!("CARGO_BIN_EXE_trawl"), args)
}

fn path(p: &Path) -> String {
    p.display().to_string()
}

/// JSON text, pretty-printed (one value a line, stable key order as written).
fn pretty(text: &str) -> String {
    let v: serde_json::Value = serde_json::from_str(text).expect("JSON output");
    serde_json::to_string_pretty(&v).unwrap()
}

#[test]
fn help_of_every_subcommand() {
    for sub in [
        "", "ingest", "sql", "demo", "generate", "report", "serve", "verify", "validate",
    ] {
        let args: Vec<&str> = [sub, "--help"]
            .into_iter()
            .filter(|a| !a.is_empty())
            .collect();
        let o = trawl(&args);
        assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
        let name = if sub.is_empty() { "main" } else { sub };
        insta::with_settings!({ prepend_module_to_snapshot => false }, {
            insta::assert_snapshot!(format!("help-{name}"), stdout(&o));
        });
    }
}

#[test]
fn flags_are_shown_only_on_the_subcommands_that_use_them() {
    let help = |sub: &str| stdout(&trawl(&[sub, "--help"]));
    for sub in ["ingest", "sql", "report", "serve", "verify"] {
        assert!(help(sub).contains("--lake"), "{sub} reads a lake");
    }
    for sub in ["generate", "demo"] {
        assert!(!help(sub).contains("--lake"), "{sub} has no --lake");
    }
    for sub in ["sql", "report", "serve"] {
        assert!(help(sub).contains("--geoip"), "{sub} answers geolocation");
    }
    for sub in ["ingest", "generate", "verify", "demo"] {
        assert!(!help(sub).contains("--geoip"), "{sub} has no --geoip");
    }
    // A flag on the wrong subcommand is refused, not ignored.
    let o = trawl(&["generate", "--out", "x", "--lake", "y"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(
        stderr(&o).contains("unexpected argument '--lake'"),
        "{}",
        stderr(&o)
    );
}

#[test]
fn ingest_json_and_the_lake_layout_after_a_fixed_ingest() {
    let dir = tempfile::tempdir().unwrap();
    let lake = dir.path().join("lake");
    let o = trawl(&[
        "ingest",
        "--json",
        "--lake",
        &path(&lake),
        &path(&fixtures().join("forms")),
        &path(&fixtures().join("odd")),
        &path(&fixtures().join("bad")),
    ]);
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    snapshot_settings(dir.path()).bind(|| {
        insta::assert_snapshot!("ingest-json", pretty(&stdout(&o)));
        insta::assert_snapshot!("lake-layout", trawl_testkit::files(&lake).join("\n"));
    });
}

#[test]
fn report_json_on_a_fixed_trail() {
    let dir = tempfile::tempdir().unwrap();
    let lake = dir.path().join("lake");
    let o = trawl(&[
        "ingest",
        "--lake",
        &path(&lake),
        &path(&fixtures().join("forms")),
        &path(&fixtures().join("odd")),
        &path(&fixtures().join("sessions")),
    ]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let o = trawl(&["report", "all", "--format", "json", "--lake", &path(&lake)]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    snapshot_settings(dir.path()).bind(|| {
        insta::assert_snapshot!("report-json", pretty(&stdout(&o)));
    });
}

#[test]
fn the_message_of_each_kind_of_bad_input() {
    let dir = tempfile::tempdir().unwrap();
    let lake = path(&dir.path().join("lake"));
    let ok = trawl(&["ingest", "--lake", &lake, &path(&fixtures().join("forms"))]);
    assert_eq!(ok.status.code(), Some(0), "{}", stderr(&ok));
    let missing = path(&dir.path().join("no-such-trail"));
    let not_a_lake = path(dir.path());
    let cases: [(&str, Vec<&str>); 11] = [
        ("missing-source", vec!["ingest", "--lake", &lake, &missing]),
        (
            "bad-since",
            vec!["ingest", "--lake", &lake, "--since", "last tuesday", "x"],
        ),
        (
            "since-after-until",
            vec![
                "ingest",
                "--lake",
                &lake,
                "--since",
                "2024-03-02",
                "--until",
                "2024-03-01",
                "x",
            ],
        ),
        ("bad-s3-url", vec!["ingest", "--lake", &lake, "s3:///key"]),
        ("not-a-lake", vec!["sql", "--lake", &not_a_lake, "SELECT 1"]),
        (
            "unknown-column",
            vec![
                "sql",
                "--lake",
                &lake,
                "SELECT no_such_column FROM cloudtrail_logs",
            ],
        ),
        (
            "unknown-table",
            vec!["sql", "--lake", &lake, "SELECT * FROM no_such_table"],
        ),
        ("unknown-dashboard", vec!["report", "nope", "--lake", &lake]),
        (
            "bad-filter",
            vec!["report", "--lake", &lake, "--filter", "colour=red"],
        ),
        (
            "bad-period",
            vec!["report", "--lake", &lake, "--last", "soon"],
        ),
        (
            "missing-sql-file",
            vec!["sql", "--lake", &lake, "-f", &missing],
        ),
    ];
    let mut text = String::new();
    for (name, args) in &cases {
        let o = trawl(args);
        assert_eq!(o.status.code(), Some(2), "{name}: {}", stderr(&o));
        assert!(stdout(&o).is_empty(), "{name}: stdout carries data only");
        text.push_str(&format!("## {name}\n{}\n", stderr(&o).trim_end()));
    }
    // Bad objects are quarantined, each with a reason naming it.
    let o = trawl(&[
        "ingest",
        "--json",
        "--lake",
        &lake,
        &path(&fixtures().join("bad")),
    ]);
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    let summary: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    let mut reasons: Vec<String> = summary["quarantined"]
        .as_array()
        .unwrap()
        .iter()
        .map(|q| q["reason"].as_str().unwrap().to_string())
        .collect();
    reasons.sort();
    text.push_str(&format!("## quarantined\n{}\n", reasons.join("\n")));
    let bad_records = std::fs::read_dir(dir.path().join("lake/_trawl/quarantine"))
        .map(|d| d.count())
        .unwrap_or(0);
    assert!(bad_records > 0, "bad records are kept in the quarantine");
    snapshot_settings(dir.path()).bind(|| {
        insta::assert_snapshot!("bad-input-messages", text);
    });
}
