//! The `trawl` binary as a user runs it: exit codes, output formats, messages.

#![allow(clippy::unwrap_used, reason = "a test's unwrap is its failure message")]

use std::path::{Path, PathBuf};
use std::process::Output;

use trawl_testkit::{fixtures, generated_block, stderr, stdout};

fn trawl(args: &[&str]) -> Output {
    trawl_testkit::run(env!("CARGO_BIN_EXE_trawl"), args)
}

fn lake_with_forms(dir: &Path) -> String {
    let lake = dir.join("lake").display().to_string();
    let o = trawl(&[
        "ingest",
        "--lake",
        &lake,
        fixtures().join("forms").to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    lake
}

#[test]
fn ingest_summary_and_exit_code_zero() {
    let dir = tempfile::tempdir().unwrap();
    let lake = dir.path().join("lake").display().to_string();
    let o = trawl(&[
        "ingest",
        "--lake",
        &lake,
        fixtures().join("forms").to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let mut settings = insta::Settings::clone_current();
    settings.add_filter(&regex_escape(&lake), "[LAKE]");
    settings.add_filter(r"speed .*", "speed [TIMING]");
    settings.add_filter(
        r"\d+(\.\d+)? (KiB|B) read, \d+(\.\d+)? (KiB|B) of JSON",
        "[BYTES]",
    );
    // Inline, so the expectation does not depend on where the checkout was compiled.
    settings.bind(|| {
        insta::assert_snapshot!(stdout(&o), @r"
        lake            [LAKE] (version 1)
        objects         8 found, 8 read, 0 already in the lake
        bytes           [BYTES]
        events          10 stored, 0 duplicates dropped, 0 conflicts, 0 outside the time window
        also seen       1 digest files, 1 insight events
        speed [TIMING]
        commits         1 (2 files written)
        ");
    });
}

fn regex_escape(s: &str) -> String {
    s.chars()
        .map(|c| {
            if "\\.+*?()|[]{}^$".contains(c) {
                format!("\\{c}")
            } else {
                c.to_string()
            }
        })
        .collect()
}

#[test]
fn ingest_json_summary_lists_quarantined_objects_and_exits_one() {
    let dir = tempfile::tempdir().unwrap();
    let lake = dir.path().join("lake").display().to_string();
    let bad = fixtures().join("bad");
    let o = trawl(&[
        "ingest",
        "--json",
        "--lake",
        &lake,
        bad.to_str().unwrap(),
        fixtures().join("forms/records.json").to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    let summary: serde_json::Value =
        serde_json::from_str(&stdout(&o)).expect("one JSON object on stdout");
    assert_eq!(
        summary["events_stored"], 4,
        "records.json 2 + mixed.jsonl 2"
    );
    assert_eq!(summary["bad_records"], 2);
    let q = summary["quarantined"].as_array().unwrap();
    assert_eq!(q.len(), 4);
    for entry in q {
        let path = entry["path"].as_str().unwrap();
        assert!(path.starts_with(bad.to_str().unwrap()), "{entry}");
        assert!(
            entry["reason"].as_str().unwrap().starts_with(path),
            "reason names the object: {entry}"
        );
    }
}

#[test]
fn errors_name_the_object_and_exit_two() {
    let dir = tempfile::tempdir().unwrap();
    let lake = dir.path().join("lake").display().to_string();
    let missing = dir.path().join("no-such-trail");
    let o = trawl(&["ingest", "--lake", &lake, missing.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(2));
    assert!(
        stderr(&o).contains(&format!("error: {}: not found", missing.display())),
        "{}",
        stderr(&o)
    );

    let o = trawl(&["sql", "--lake", dir.path().to_str().unwrap(), "SELECT 1"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(
        stderr(&o).contains("no trawl lake at")
            && stderr(&o).contains("hint: create one with `trawl ingest"),
        "{}",
        stderr(&o)
    );

    let lake = lake_with_forms(dir.path());
    let o = trawl(&[
        "sql",
        "--lake",
        &lake,
        "SELECT no_such_column FROM cloudtrail_logs",
    ]);
    assert_eq!(o.status.code(), Some(2));
    assert!(
        stderr(&o).contains("query error") && stderr(&o).contains("no_such_column"),
        "{}",
        stderr(&o)
    );

    let o = trawl(&["ingest", "--lake", &lake, "--since", "last tuesday", "x"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(
        stderr(&o).contains("--since \"last tuesday\" is neither an RFC 3339 time"),
        "{}",
        stderr(&o)
    );
}

#[test]
fn sql_output_formats() {
    let dir = tempfile::tempdir().unwrap();
    let lake = lake_with_forms(dir.path());
    let sql = "SELECT eventid, readonly, errorcode FROM cloudtrail_logs WHERE eventid IN ('fixture-0001', 'fixture-0002') ORDER BY eventid";
    let run_sql = |format: &str, sql: &str| {
        let o = trawl(&["sql", "--lake", &lake, "--format", format, sql]);
        assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
        stdout(&o)
    };
    let run = |format: &str| run_sql(format, sql);
    assert_eq!(
        run("csv"),
        "eventid,readonly,errorcode\nfixture-0001,true,\nfixture-0002,true,\n"
    );
    assert_eq!(
        run("jsonl"),
        "{\"eventid\":\"fixture-0001\",\"readonly\":\"true\",\"errorcode\":null}\n{\"eventid\":\"fixture-0002\",\"readonly\":\"true\",\"errorcode\":null}\n"
    );
    let json: serde_json::Value = serde_json::from_str(&run("json")).unwrap();
    assert_eq!(json.as_array().unwrap().len(), 2);
    assert_eq!(json[1]["eventid"], "fixture-0002");
    let table = run("table");
    assert!(
        table.contains("| eventid      | readonly | errorcode |"),
        "{table}"
    );
    // Arrays and bytes, which CSV has no type for, are written as their text.
    assert_eq!(
        run_sql(
            "csv",
            "SELECT split('a/b', '/') AS parts, to_utf8('A') AS bytes"
        ),
        "parts,bytes\n\"[a, b]\",41\n"
    );
}

#[test]
fn sql_file_with_several_statements_and_comments() {
    let dir = tempfile::tempdir().unwrap();
    let lake = lake_with_forms(dir.path());
    let file = dir.path().join("q.sql");
    std::fs::write(
        &file,
        "-- how many events?\nSELECT count(*) AS n FROM cloudtrail_logs;\n/* insight events */\nSELECT count(*) AS insights FROM cloudtrail_logs WHERE eventcategory = 'Insight';\n",
    )
    .unwrap();
    let o = trawl(&[
        "sql",
        "--lake",
        &lake,
        "--format",
        "csv",
        "-f",
        file.to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert_eq!(stdout(&o), "n\n10\ninsights\n1\n");
}

#[test]
fn demo_runs_end_to_end() {
    let dir = tempfile::tempdir().unwrap();
    let o = trawl(&[
        "demo",
        "--dir",
        dir.path().to_str().unwrap(),
        "--events",
        "3000",
    ]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let out = stdout(&o);
    // The generated events and the intrusion story planted for docs/investigate.md.
    assert!(out.contains("events          3012 stored"), "{out}");
    for title in [
        "Top 10 events",
        "Console logins per user",
        "Security group rules opened to 0.0.0.0/0",
        "Root activity",
    ] {
        assert!(out.contains(title), "{title} missing from:\n{out}");
    }
    // A second run reuses the trail and the ledger: nothing new is stored.
    let again = trawl(&[
        "demo",
        "--dir",
        dir.path().to_str().unwrap(),
        "--events",
        "3000",
    ]);
    assert!(
        stdout(&again).contains("events          0 stored"),
        "{}",
        stdout(&again)
    );
}

#[test]
fn cli_reference_has_the_current_help() {
    let mut text = String::new();
    for cmd in [
        &["--help"][..],
        &["ingest", "--help"],
        &["sql", "--help"],
        &["demo", "--help"],
        &["generate", "--help"],
        &["report", "--help"],
        &["serve", "--help"],
        &["verify", "--help"],
        &["validate", "--help"],
        &["cluster", "scheduler", "--help"],
        &["cluster", "executor", "--help"],
    ] {
        let o = trawl(cmd);
        assert_eq!(o.status.code(), Some(0));
        text.push_str(&format!(
            "### `trawl {}`\n\n```text\n{}```\n\n",
            cmd.join(" "),
            stdout(&o)
        ));
    }
    generated_block("cli.md", "help", "cargo test -p trawl-cli", &text);
}

#[test]
fn a_lake_inside_the_source_tree_is_not_ingested() {
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path().join("logs");
    std::fs::create_dir_all(&src).unwrap();
    for f in std::fs::read_dir(fixtures().join("forms")).unwrap() {
        let f = f.unwrap().path();
        std::fs::copy(&f, src.join(f.file_name().unwrap())).unwrap();
    }
    let lake = src.join("trawl-lake");
    for _ in 0..2 {
        let o = trawl(&[
            "ingest",
            "--json",
            "--lake",
            lake.to_str().unwrap(),
            src.to_str().unwrap(),
        ]);
        assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
        let summary: serde_json::Value = serde_json::from_str(&stdout(&o)).unwrap();
        assert_eq!(summary["objects_found"], 8, "{summary}");
    }
}

#[test]
fn report_json_all_dashboards_and_last_period() {
    let dir = tempfile::tempdir().unwrap();
    let trail = dir.path().join("trail");
    let o = trawl(&[
        "generate",
        "--out",
        trail.to_str().unwrap(),
        "--events",
        "3000",
        "--days",
        "3",
    ]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let lake = dir.path().join("lake").display().to_string();
    let o = trawl(&["ingest", "--lake", &lake, trail.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));

    let o = trawl(&["report", "all", "--lake", &lake, "--format", "json"]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    let dashboards = v["dashboards"].as_array().unwrap();
    assert_eq!(dashboards.len(), 5);
    let tiles: usize = dashboards
        .iter()
        .map(|d| d["tiles"].as_array().unwrap().len())
        .sum();
    assert_eq!(tiles, 6 + 7 + 8 + 2 + 4);
    // All 3,000 events are in "Top Events (Full Detail)", as JSON numbers.
    let full = &dashboards[0]["tiles"][1];
    assert_eq!(full["id"], "top-events-full-detail");
    let total: u64 = full["rows"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r[1].as_u64().unwrap())
        .sum();
    assert_eq!(total, 3000);

    // --last 1d: the day before the newest event, the same count SQL gives.
    let o = trawl(&[
        "report",
        "general-operations",
        "--lake",
        &lake,
        "--format",
        "json",
        "--last",
        "1d",
    ]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    let last_day: u64 = v["dashboards"][0]["tiles"][1]["rows"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r[1].as_u64().unwrap())
        .sum();
    let o = trawl(&[
        "sql",
        "--lake",
        &lake,
        "--format",
        "csv",
        "SELECT count(*) FROM cloudtrail_logs WHERE from_iso8601_timestamp(eventtime) >= \
         (SELECT max(from_iso8601_timestamp(eventtime)) FROM cloudtrail_logs) - INTERVAL '1' DAY",
    ]);
    let want: u64 = stdout(&o).lines().nth(1).unwrap().trim().parse().unwrap();
    assert!(want > 0 && want < 3000);
    assert_eq!(last_day, want);

    // Without a range, each dashboard's default counted back from the newest event: 48 hours
    // for Error Overview (its JSON says the range), everything with --all-time.
    let newest = trawl(&[
        "sql",
        "--lake",
        &lake,
        "--format",
        "csv",
        "SELECT to_iso8601(max(from_iso8601_timestamp(eventtime)) - INTERVAL '48' HOUR) FROM cloudtrail_logs",
    ]);
    let since = stdout(&newest).lines().nth(1).unwrap().trim().to_string();
    let events_in = |args: &[&str]| -> (Option<String>, u64) {
        let mut all = vec![
            "report",
            "error-overview",
            "--lake",
            &lake,
            "--format",
            "json",
        ];
        all.extend_from_slice(args);
        let o = trawl(&all);
        assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
        let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
        let d = &v["dashboards"][0];
        let over_time = d["tiles"]
            .as_array()
            .unwrap()
            .iter()
            .find(|t| t["id"] == "errors-and-events-over-time")
            .unwrap();
        let events = over_time["rows"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r[1].as_u64().unwrap())
            .sum();
        (d["since"].as_str().map(str::to_string), events)
    };
    let (default_since, default_events) = events_in(&[]);
    assert_eq!(
        default_since.as_deref().map(|s| s.trim_end_matches('Z')),
        Some(since.trim_end_matches('Z').trim_end_matches(".000")),
        "{since}"
    );
    let (all_since, all_events) = events_in(&["--all-time"]);
    assert_eq!(all_since, None);
    assert_eq!(all_events, 3000);
    assert!(
        default_events > 0 && default_events < 3000,
        "{default_events}"
    );
    // Days and hours in another zone; an unknown zone says what to write.
    let (_, la_events) = events_in(&["--all-time", "--tz", "America/Los_Angeles"]);
    assert_eq!(la_events, 3000);
    let o = trawl(&["report", "--lake", &lake, "--tz", "Mars/Olympus"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(
        stderr(&o).contains("unknown time zone \"Mars/Olympus\""),
        "{}",
        stderr(&o)
    );

    let o = trawl(&["report", "nope", "--lake", &lake]);
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("general-operations"), "{}", stderr(&o));
}

#[test]
fn serve_refuses_a_reachable_address_without_allow_remote() {
    let dir = tempfile::tempdir().unwrap();
    let lake = lake_with_forms(dir.path());
    let o = trawl(&["serve", "--lake", &lake, "--addr", "0.0.0.0:0"]);
    assert_eq!(o.status.code(), Some(2));
    let err = stderr(&o);
    assert!(
        err.contains("refusing to listen on 0.0.0.0:0") && err.contains("--allow-remote"),
        "{err}"
    );
    // With the flag it serves, and warns.
    let mut child = trawl_testkit::trawl(env!("CARGO_BIN_EXE_trawl"))
        .args([
            "serve",
            "--lake",
            &lake,
            "--addr",
            "0.0.0.0:0",
            "--allow-remote",
        ])
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut err = std::io::BufReader::new(child.stderr.take().unwrap());
    let mut said = String::new();
    while !said.contains("WARNING") {
        let mut line = String::new();
        if std::io::BufRead::read_line(&mut err, &mut line).unwrap() == 0 {
            break;
        }
        said.push_str(&line);
    }
    child.kill().unwrap();
    child.wait().unwrap();
    assert!(
        said.contains("serving") && said.contains("WARNING") && said.contains("no login"),
        "{said}"
    );
}

#[test]
fn verify_finds_damaged_missing_and_orphaned_files() {
    let dir = tempfile::tempdir().unwrap();
    let lake = lake_with_forms(dir.path());
    let o = trawl(&["verify", "--lake", &lake]);
    assert_eq!(o.status.code(), Some(0), "{}{}", stdout(&o), stderr(&o));
    assert!(stdout(&o).contains("all present, unchanged and readable"));
    let report = |o: &Output| -> serde_json::Value { serde_json::from_str(&stdout(o)).unwrap() };
    let clean = report(&trawl(&["verify", "--json", "--lake", &lake]));
    assert!(clean["files_checked"].as_u64().unwrap() > 0);
    assert_eq!(clean["problems"], serde_json::json!([]));

    let mut data: Vec<PathBuf> = walk(&Path::new(&lake).join("events"));
    data.sort();
    // One bit flipped in the first file, the second deleted, a stray file added.
    let mut bytes = std::fs::read(&data[0]).unwrap();
    let mid = bytes.len() / 2;
    bytes[mid] ^= 1;
    std::fs::write(&data[0], bytes).unwrap();
    std::fs::remove_file(&data[1]).unwrap();
    let stray = Path::new(&lake).join("events/dt=2024-01-01/part-stray.parquet");
    std::fs::create_dir_all(stray.parent().unwrap()).unwrap();
    std::fs::write(&stray, b"PAR1").unwrap();

    let o = trawl(&["verify", "--json", "--lake", &lake]);
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    let r = report(&o);
    let rel = |p: &Path| {
        p.strip_prefix(&lake)
            .unwrap()
            .to_string_lossy()
            .into_owned()
    };
    let problems = r["problems"].as_array().unwrap();
    assert_eq!(problems.len(), 2, "{r}");
    assert_eq!(problems[0]["path"], rel(&data[0]));
    assert!(
        problems[0]["problem"]
            .as_str()
            .unwrap()
            .contains("content changed")
    );
    assert_eq!(problems[1]["path"], rel(&data[1]));
    assert!(problems[1]["problem"].as_str().unwrap().contains("missing"));
    assert_eq!(r["orphans"][0]["path"], rel(&stray), "{r}");
    let text = stdout(&trawl(&["verify", "--lake", &lake]));
    assert!(
        text.contains("DAMAGED") && text.contains("restore"),
        "{text}"
    );
}

fn walk(dir: &Path) -> Vec<PathBuf> {
    walkdir::WalkDir::new(dir)
        .into_iter()
        .map(|e| e.unwrap())
        .filter(|e| e.file_type().is_file())
        .map(|e| e.into_path())
        .collect()
}

#[test]
fn verify_rebuilds_a_lost_ledger_from_the_data_files() {
    let dir = tempfile::tempdir().unwrap();
    let trail = dir.path().join("trail");
    let spec = trawl_gen::TrailSpec {
        events: 2_000,
        days: 3,
        duplicate_rate: 0.05,
        ..trawl_gen::TrailSpec::default()
    };
    trawl_gen::write_trail(&trail, &spec).unwrap();
    let lake = dir.path().join("lake");
    let lake = lake.to_str().unwrap();
    let ingest = |extra: &[&str]| -> serde_json::Value {
        let mut args = vec!["ingest", "--json", "--lake", lake, trail.to_str().unwrap()];
        args.extend_from_slice(extra);
        let o = trawl(&args);
        assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
        serde_json::from_str(&stdout(&o)).unwrap()
    };
    ingest(&[]);
    let ids = || {
        let o = trawl(&[
            "sql",
            "--lake",
            lake,
            "--format",
            "csv",
            "SELECT eventid, eventname, \"$path\" FROM cloudtrail_logs ORDER BY 1, 2, 3",
        ]);
        assert!(o.status.success(), "{}", stderr(&o));
        stdout(&o)
    };
    let before = ids();
    // The log is lost, and one dedup index with it.
    std::fs::remove_dir_all(Path::new(lake).join("_trawl/log")).unwrap();
    let index = walk(&Path::new(lake).join("_trawl/index")).remove(0);
    std::fs::remove_file(&index).unwrap();
    assert_eq!(ids().lines().count(), 1, "no log, no rows");
    let text = stdout(&trawl(&["verify", "--lake", lake]));
    assert!(text.contains("--rebuild-ledger"), "{text}");

    let o = trawl(&["verify", "--rebuild-ledger", "--json", "--lake", lake]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let r: serde_json::Value = serde_json::from_str(&stdout(&o)).unwrap();
    assert_eq!(r["indexes_rebuilt"], 1, "{r}");
    assert_eq!(r["skipped"], serde_json::json!([]));
    assert_eq!(ids(), before, "the same rows, sources included");
    let o = trawl(&["verify", "--lake", lake]);
    assert_eq!(o.status.code(), Some(0), "{}", stdout(&o));
    assert!(index.exists());
    // The sources are known again: nothing is read twice, except objects none of whose
    // events were stored (re-deliveries of events already in): those are read and dropped.
    let s = ingest(&[]);
    assert!(
        s["objects_read"].as_u64().unwrap() * 20 < s["objects_found"].as_u64().unwrap(),
        "{s}"
    );
    assert_eq!(s["events_stored"], 0, "{s}");
    assert_eq!(s["conflicts"], 0, "{s}");
    // Even read again (as S3 objects without a size and ETag would be), nothing is stored twice.
    for f in walk(&trail) {
        let t = std::fs::File::options().append(true).open(&f).unwrap();
        t.set_modified(std::time::SystemTime::now() + std::time::Duration::from_secs(5))
            .unwrap();
    }
    let s = ingest(&[]);
    assert_eq!(s["events_stored"], 0, "{s}");
    assert_eq!(s["conflicts"], 0, "{s}");
    assert_eq!(ids(), before);
}

#[test]
fn three_shards_one_after_another_store_what_one_run_stores() {
    let dir = tempfile::tempdir().unwrap();
    let trail = dir.path().join("trail");
    // 16 streams (4 accounts x 4 regions), so that each of three shares has some.
    let spec = trawl_gen::TrailSpec {
        events: 3_000,
        days: 2,
        duplicate_rate: 0.05,
        accounts: [
            "111122223333",
            "444455556666",
            "777788889999",
            "123412341234",
        ]
        .map(String::from)
        .to_vec(),
        regions: ["us-east-1", "eu-west-1", "ap-south-1", "us-west-2"]
            .map(String::from)
            .to_vec(),
        ..trawl_gen::TrailSpec::default()
    };
    trawl_gen::write_trail(&trail, &spec).unwrap();
    let files = trawl_testkit::files(&trail).len() as u64;
    let ingest = |lake: &str, extra: &[&str]| -> serde_json::Value {
        let mut args = vec!["ingest", "--json", "--lake", lake, trail.to_str().unwrap()];
        args.extend_from_slice(extra);
        let o = trawl(&args);
        assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
        serde_json::from_str(&stdout(&o)).unwrap()
    };
    let ids = |lake: &str| {
        let sql = "SELECT eventid, count(*) FROM cloudtrail_logs GROUP BY 1 ORDER BY 1";
        stdout(&trawl(&["sql", "--format", "csv", "--lake", lake, sql]))
    };
    let one = dir.path().join("one").display().to_string();
    let whole = ingest(&one, &[]);
    let sharded = dir.path().join("sharded").display().to_string();
    let mut sums = [0u64; 4];
    for k in 1..=3 {
        let s = ingest(&sharded, &["--shard", &format!("{k}/3")]);
        assert!(s["objects_read"].as_u64().unwrap() > 0, "shard {k}/3: {s}");
        for (sum, field) in sums.iter_mut().zip([
            "objects_read",
            "events_stored",
            "duplicates_dropped",
            "conflicts",
        ]) {
            *sum += s[field].as_u64().unwrap();
        }
    }
    assert_eq!(sums[0], files, "every object in exactly one share");
    let want = [
        "objects_read",
        "events_stored",
        "duplicates_dropped",
        "conflicts",
    ]
    .map(|f| whole[f].as_u64().unwrap());
    assert_eq!(sums, want, "the shares add up to one run");
    assert!(want[2] > 0, "the trail has re-deliveries: {whole}");
    assert_eq!(ids(&sharded), ids(&one), "the same eventID multiset");
    // A shard run again reads nothing; a bad value is refused naming the flag.
    let again = ingest(&sharded, &["--shard", "2/3"]);
    assert_eq!(again["objects_read"], 0, "{again}");
    let o = trawl(&["ingest", "--lake", &sharded, "--shard", "4/3", "x"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("write K/N"), "{}", stderr(&o));
}

#[test]
fn memory_limit_bounds_a_query_and_the_error_says_how_to_raise_it() {
    let dir = tempfile::tempdir().unwrap();
    let lake = lake_with_forms(dir.path());
    let sql = "SELECT count(*) FROM cloudtrail_logs";
    let o = trawl(&["sql", "--lake", &lake, "--memory-limit", "64MiB", sql]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert!(stdout(&o).contains("10"), "{}", stdout(&o));
    let o = trawl(&["sql", "--lake", &lake, "--memory-limit", "lots", sql]);
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("--memory-limit"), "{}", stderr(&o));
    // A cross join whose build side cannot spill, under a limit too small for it.
    let o = trawl(&[
        "sql",
        "--lake",
        &lake,
        "--memory-limit",
        "1KiB",
        "SELECT array_agg(a.requestparameters || b.requestparameters) FROM cloudtrail_logs a CROSS JOIN cloudtrail_logs b",
    ]);
    assert_eq!(o.status.code(), Some(2), "{}", stdout(&o));
    let err = stderr(&o);
    assert!(
        err.contains("the limit is") && err.contains("raise it with --memory-limit"),
        "{err}"
    );
}
