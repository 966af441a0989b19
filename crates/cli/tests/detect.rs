//! `trawl detect` and `trawl ingest --detect` as a user runs them: each format, a window,
//! rules that cannot run reported by file while the others run, a bad path refused before
//! anything is read, and `--detect` seeing only what the run committed.

#![allow(clippy::unwrap_used, reason = "a test's unwrap is its failure message")]

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Output;

use serde_json::{Value, json};
use trawl_testkit::{stderr, stdout};

fn trawl(args: &[&str]) -> Output {
    trawl_testkit::run(env!("CARGO_BIN_EXE_trawl"), args)
}

fn event(id: &str, time: &str, source: &str, name: &str) -> Value {
    json!({"eventVersion": "1.09", "eventID": id, "eventTime": time, "eventSource": source,
        "eventName": name, "awsRegion": "eu-west-1", "sourceIPAddress": "198.51.100.9",
        "userAgent": "aws-cli/2.15", "recipientAccountId": "999900001111",
        "userIdentity": {"type": "IAMUser", "arn": "arn:aws:iam::999900001111:user/ops",
            "userName": "ops", "accountId": "999900001111"},
        "requestParameters": {"name": "main-trail"}})
}

fn trail_file(path: &Path, records: &[Value]) -> PathBuf {
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    e.write_all(json!({ "Records": records }).to_string().as_bytes())
        .unwrap();
    std::fs::write(path, e.finish().unwrap()).unwrap();
    path.to_path_buf()
}

fn rule(dir: &Path, file: &str, title: &str, name: &str, level: &str) -> PathBuf {
    let p = dir.join(file);
    std::fs::create_dir_all(dir).unwrap();
    std::fs::write(
        &p,
        format!(
            "title: {title}\nid: 11111111-0000-4000-8000-{:012}\nauthor: trawl tests\n\
             level: {level}\ntags:\n    - attack.t1562.008\n\
             logsource:\n    product: aws\n    service: cloudtrail\n\
             detection:\n    selection:\n        eventSource: cloudtrail.amazonaws.com\n\
             \x20       eventName: {name}\n    condition: selection\n",
            file.len()
        ),
    )
    .unwrap();
    p
}

#[test]
fn detect_in_every_format_with_a_window_and_broken_rules_reported() {
    let dir = tempfile::tempdir().unwrap();
    let ct = "cloudtrail.amazonaws.com";
    let file = trail_file(
        &dir.path().join("trail/a.json.gz"),
        &[
            event("s-1", "2024-03-01T10:00:00Z", ct, "StopLogging"),
            event("s-2", "2024-03-02T10:00:00Z", ct, "StopLogging"),
            event("d-1", "2024-03-02T11:00:00Z", ct, "DeleteTrail"),
            event(
                "x-1",
                "2024-03-02T12:00:00Z",
                "s3.amazonaws.com",
                "GetObject",
            ),
        ],
    );
    let lake = dir.path().join("lake").display().to_string();
    let o = trawl(&["ingest", "--lake", &lake, file.to_str().unwrap()]);
    assert!(o.status.success(), "{}", stderr(&o));
    let rules = dir.path().join("rules");
    rule(&rules, "stop.yml", "Trail stopped", "StopLogging", "high");
    rule(&rules, "delete.yml", "Trail deleted", "DeleteTrail", "low");
    std::fs::write(rules.join("broken.yml"), "title: [oops\n").unwrap();
    let rules = rules.display().to_string();
    let detect = |extra: &[&str]| {
        let mut args = vec!["detect", "--lake", &lake, "--rules", &rules];
        args.extend_from_slice(extra);
        trawl(&args)
    };

    // Table: a hit a line, in time order per rule; what could not run is on stderr, by file.
    let o = detect(&[]);
    assert!(o.status.success(), "{}", stderr(&o));
    let out = stdout(&o);
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines.len(), 3, "{out}");
    assert!(
        lines[0].contains("Trail deleted") && lines[0].contains("[d-1]"),
        "{out}"
    );
    assert!(
        lines[1].contains("Trail stopped") && lines[1].contains("[s-1]"),
        "{out}"
    );
    assert!(lines[2].contains("[s-2]") && lines[2].contains("eventName=StopLogging"));
    assert!(lines[1].contains("arn:aws:iam::999900001111:user/ops"));
    let err = stderr(&o);
    assert!(
        err.contains("broken.yml") && err.contains("not evaluated"),
        "{err}"
    );
    assert!(err.contains("3 hits from 2 of 2 rules"), "{err}");

    // JSONL: the rule's title, id, level, tags and author with each hit.
    let o = detect(&["--format", "jsonl", "--since", "2024-03-02"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let hits: Vec<Value> = stdout(&o)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let ids: Vec<&str> = hits
        .iter()
        .map(|h| h["event_id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, ["d-1", "s-2"]);
    let h = &hits[1];
    assert_eq!(h["title"], "Trail stopped");
    assert_eq!(h["level"], "high");
    assert_eq!(h["author"], "trawl tests");
    assert_eq!(h["tags"], json!(["attack.t1562.008"]));
    assert!(h["id"].as_str().unwrap().starts_with("11111111-"));
    assert_eq!(h["fields"]["eventSource"], "cloudtrail.amazonaws.com");
    assert_eq!(h["source_ip"], "198.51.100.9");

    // JSON: one object with the hits, what each rule did and the problems.
    let o = detect(&["--format", "json", "--min-level", "high"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let v: Value = serde_json::from_str(&stdout(&o)).unwrap();
    assert_eq!(v["hits"].as_array().unwrap().len(), 2);
    assert_eq!(v["rules"].as_array().unwrap().len(), 1);
    assert_eq!(v["rules"][0]["hits"], 2);
    assert!(
        v["problems"][0]["file"]
            .as_str()
            .unwrap()
            .ends_with("broken.yml")
    );

    // --fail-on-hit: status 1 when something hit, 0 when nothing did.
    let o = detect(&["--fail-on-hit"]);
    assert_eq!(o.status.code(), Some(1));
    let o = detect(&["--fail-on-hit", "--until", "2024-03-01"]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert!(stdout(&o).is_empty());

    // The report's "Detections" section: in HTML with the navigation, in JSON counted.
    let o = trawl(&[
        "report",
        "all",
        "--lake",
        &lake,
        "--all-time",
        "--format",
        "html",
        "--rules",
        &rules,
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let html = stdout(&o);
    assert!(html.contains("href=\"#detections\"") && html.contains("<section id=\"detections\">"));
    assert!(html.contains("3 hits from 2 of 2 Sigma rules"), "{html}");
    assert!(
        html.contains("broken.yml"),
        "the rules not evaluated are listed"
    );
    let o = trawl(&[
        "report",
        "all",
        "--lake",
        &lake,
        "--since",
        "2024-03-02",
        "--format",
        "json",
        "--rules",
        &rules,
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let v: Value = serde_json::from_str(&stdout(&o)).unwrap();
    assert_eq!(v["detections"]["hits"], 2);
    assert_eq!(v["detections"]["rules"].as_array().unwrap().len(), 2);

    // A path that is not there: status 2, naming it.
    let o = trawl(&["detect", "--lake", &lake, "--rules", "/no/such/rules"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("/no/such/rules"), "{}", stderr(&o));
    // Only broken rules: status 2, saying why.
    let only_broken = dir.path().join("broken");
    std::fs::create_dir_all(&only_broken).unwrap();
    std::fs::write(only_broken.join("x.yml"), "title: [oops\n").unwrap();
    let o = trawl(&[
        "detect",
        "--lake",
        &lake,
        "--rules",
        only_broken.to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("no rule to run"), "{}", stderr(&o));
}

#[test]
fn ingest_detect_runs_on_what_the_run_committed_only() {
    let dir = tempfile::tempdir().unwrap();
    let ct = "cloudtrail.amazonaws.com";
    let first = trail_file(
        &dir.path().join("trail/1.json.gz"),
        &[event("a-1", "2024-03-01T10:00:00Z", ct, "StopLogging")],
    );
    let second = trail_file(
        &dir.path().join("trail/2.json.gz"),
        &[
            event("a-1", "2024-03-01T10:00:00Z", ct, "StopLogging"),
            event("b-1", "2024-03-01T11:00:00Z", ct, "StopLogging"),
        ],
    );
    let rules = dir.path().join("rules");
    rule(&rules, "stop.yml", "Trail stopped", "StopLogging", "high");
    let (rules, lake) = (
        rules.display().to_string(),
        dir.path().join("lake").display().to_string(),
    );
    let ingest = |file: &Path, extra: &[&str]| {
        let mut args = vec![
            "ingest",
            "--lake",
            &lake,
            file.to_str().unwrap(),
            "--detect",
            &rules,
        ];
        args.extend_from_slice(extra);
        let o = trawl(&args);
        assert!(o.status.success(), "{}", stderr(&o));
        stdout(&o)
    };
    let out = ingest(&first, &[]);
    assert!(out.contains("1 hits from 1 of 1 rules"), "{out}");
    assert!(out.contains("[a-1]"), "{out}");
    // The second file re-delivers a-1 (dropped as a duplicate) and adds b-1: only b-1 is new.
    let v: Value = serde_json::from_str(&ingest(&second, &["--json"])).unwrap();
    let ids: Vec<&str> = v["detections"]["hits"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| h["event_id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, ["b-1"]);
    // Nothing new: said, and no rule runs.
    let out = ingest(&second, &[]);
    assert!(out.contains("this run committed no event"), "{out}");
    // A wrong rules path stops before anything is read.
    let third = trail_file(
        &dir.path().join("trail/3.json.gz"),
        &[event("c-1", "2024-03-01T12:00:00Z", ct, "StopLogging")],
    );
    let o = trawl(&[
        "ingest",
        "--lake",
        &lake,
        third.to_str().unwrap(),
        "--detect",
        "/no/such/rules",
    ]);
    assert_eq!(o.status.code(), Some(2));
    let o = trawl(&[
        "sql",
        "--lake",
        &lake,
        "--format",
        "csv",
        "SELECT count(*) FROM cloudtrail_logs",
    ]);
    assert_eq!(stdout(&o).lines().nth(1), Some("2"), "{}", stderr(&o));
}
