//! `trawl timeline` as a user runs it: one subject required, each format, a window, lines in
//! order, and a plain message when nothing matches.

#![allow(clippy::unwrap_used, reason = "a test's unwrap is its failure message")]

use std::io::Write;
use std::path::Path;
use std::process::Output;

use trawl_testkit::{stderr, stdout};

fn trawl(args: &[&str]) -> Output {
    trawl_testkit::run(env!("CARGO_BIN_EXE_trawl"), args)
}

fn lake(dir: &Path) -> String {
    let user = serde_json::json!({"type": "IAMUser", "principalId": "AIDA1", "accountId": "999900001111",
        "arn": "arn:aws:iam::999900001111:user/dev_ops", "userName": "dev_ops", "accessKeyId": "AKIAEXAMPLE1"});
    let ev = |id: &str, t: &str, name: &str, params: serde_json::Value| {
        serde_json::json!({"eventVersion": "1.09", "eventID": id, "eventTime": t,
            "eventSource": "s3.amazonaws.com", "eventName": name, "awsRegion": "eu-west-1",
            "sourceIPAddress": "198.51.100.77", "userAgent": "aws-cli/2.15, \"quoted\"",
            "userIdentity": user, "requestParameters": params, "recipientAccountId": "999900001111"})
    };
    let records = serde_json::json!({"Records": [
        ev("e-3", "2024-03-02T10:00:00Z", "DeleteObject", serde_json::json!({"bucketName": "b", "key": "k,1"})),
        ev("e-1", "2024-03-01T10:00:00Z", "GetObject", serde_json::json!({"bucketName": "b", "key": "k"})),
        ev("e-2", "2024-03-01T11:00:00Z", "PutObject", serde_json::json!({"bucketName": "b", "key": "k"})),
    ]});
    let path = dir.join("trail/a.json.gz");
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    e.write_all(&serde_json::to_vec(&records).unwrap()).unwrap();
    std::fs::write(&path, e.finish().unwrap()).unwrap();
    let lake = dir.join("lake").display().to_string();
    let o = trawl(&["ingest", "--lake", &lake, path.to_str().unwrap()]);
    assert!(o.status.success(), "{}", stderr(&o));
    lake
}

#[test]
fn a_timeline_in_every_format() {
    let dir = tempfile::tempdir().unwrap();
    let lake = lake(dir.path());
    let run = |extra: &[&str]| {
        let mut args = vec!["timeline", "--lake", &lake];
        args.extend_from_slice(extra);
        let o = trawl(&args);
        assert!(o.status.success(), "{}", stderr(&o));
        stdout(&o)
    };
    // One subject, exactly.
    let o = trawl(&["timeline", "--lake", &lake]);
    assert_eq!(o.status.code(), Some(2));
    let o = trawl(&["timeline", "--lake", &lake, "--ip", "a", "--principal", "b"]);
    assert_eq!(o.status.code(), Some(2));

    let table = run(&["--principal", "dev_ops"]);
    let lines: Vec<&str> = table.lines().collect();
    assert_eq!(lines.len(), 3, "{table}");
    assert!(
        lines[0].starts_with("2024-03-01T10:00:00Z  999900001111  eu-west-1 "),
        "{table}"
    );
    assert!(
        lines[0].contains(" s3 ") && lines[0].contains(" GetObject "),
        "{table}"
    );
    assert!(
        lines[2].contains("s3://b/k,1") && lines[2].ends_with("e-3"),
        "{table}"
    );

    let jsonl = run(&["--access-key", "AKIAEXAMPLE1", "--format", "jsonl"]);
    let rows: Vec<serde_json::Value> = jsonl
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let ids: Vec<&str> = rows
        .iter()
        .map(|r| r["event_id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, ["e-1", "e-2", "e-3"]);
    assert_eq!(rows[0]["summary"], "s3://b/k");
    assert_eq!(rows[0]["outcome"], "");

    let json: serde_json::Value = serde_json::from_str(&run(&[
        "--ip",
        "198.51.100.77",
        "--format",
        "json",
        "--since",
        "2024-03-01T10:30:00Z",
    ]))
    .unwrap();
    let ids: Vec<&str> = json
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["event_id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, ["e-2", "e-3"]);

    let csv = run(&[
        "--principal",
        "arn:aws:iam::999900001111:user/dev_ops",
        "--format",
        "csv",
        "--until",
        "2024-03-02",
    ]);
    let lines: Vec<&str> = csv.lines().collect();
    assert_eq!(
        lines[0],
        "time,account,region,source,event,outcome,ip,country,user_agent,principal,summary,event_id"
    );
    assert_eq!(lines.len(), 3, "{csv}");
    assert!(
        lines[1].contains(",\"aws-cli/2.15, \"\"quoted\"\"\","),
        "{csv}"
    );

    // Nothing matches: no lines, a message naming the lake and the subject.
    let o = trawl(&["timeline", "--lake", &lake, "--session", "nobody"]);
    assert!(o.status.success());
    assert_eq!(stdout(&o), "");
    assert!(
        stderr(&o).contains("no events in") && stderr(&o).contains("nobody"),
        "{}",
        stderr(&o)
    );
}

#[test]
fn a_summary_per_principal_ip_and_account() {
    let dir = tempfile::tempdir().unwrap();
    let lake = lake(dir.path());
    let json = |extra: &[&str]| -> serde_json::Value {
        let mut args = vec!["summary", "--lake", &lake, "--format", "json"];
        args.extend_from_slice(extra);
        let o = trawl(&args);
        assert!(o.status.success(), "{}", stderr(&o));
        serde_json::from_str(&stdout(&o)).unwrap()
    };
    let rows = json(&[]);
    assert_eq!(rows.as_array().unwrap().len(), 1, "{rows}");
    let r = &rows[0];
    assert_eq!(r["key"], "arn:aws:iam::999900001111:user/dev_ops");
    assert_eq!(r["events"], 3);
    assert_eq!(r["first_seen"], "2024-03-01T10:00:00Z");
    assert_eq!(r["last_seen"], "2024-03-02T10:00:00Z");
    assert_eq!(
        r["services"]["values"],
        serde_json::json!(["s3.amazonaws.com"])
    );
    assert_eq!(
        r["top_events"],
        serde_json::json!([["DeleteObject", 1], ["GetObject", 1], ["PutObject", 1]])
    );
    assert_eq!(json(&["--by", "ip"])[0]["key"], "198.51.100.77");
    assert_eq!(
        json(&["--by", "account", "--since", "2024-03-02"])[0]["events"],
        1
    );
    // Too few events: no rows, and a message.
    let o = trawl(&["summary", "--lake", &lake, "--min-events", "4"]);
    assert!(o.status.success());
    assert_eq!(stdout(&o), "");
    assert!(stderr(&o).contains("no events in"), "{}", stderr(&o));
    let o = trawl(&["summary", "--lake", &lake]);
    let text = stdout(&o);
    assert!(text.starts_with("arn:aws:iam::999900001111:user/dev_ops\n  3 events, 2024-03-01T10:00:00Z .. 2024-03-02T10:00:00Z; errors 0"), "{text}");
    assert!(
        text.contains("top events DeleteObject:1 GetObject:1 PutObject:1"),
        "{text}"
    );
}

#[test]
fn lineage_comes_first_and_says_where_the_chain_breaks() {
    let dir = tempfile::tempdir().unwrap();
    let lake = lake(dir.path());
    let lineage = |extra: &[&str]| {
        let mut args = vec![
            "timeline",
            "--lake",
            &lake,
            "--access-key",
            "AKIAEXAMPLE1",
            "--lineage",
        ];
        args.extend_from_slice(extra);
        trawl(&args)
    };
    let o = lineage(&[]);
    assert!(o.status.success(), "{}", stderr(&o));
    let text = stdout(&o);
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines[0], "lineage of AKIAEXAMPLE1");
    assert!(
        lines[1].starts_with("  end: no CreateAccessKey of AKIAEXAMPLE1 in the lake (its first event is 2024-03-01T10:00:00Z)"),
        "{text}"
    );
    assert_eq!(
        lines.len(),
        2 + 3,
        "the chain, then the three events: {text}"
    );
    let o = lineage(&["--format", "jsonl"]);
    let first: serde_json::Value =
        serde_json::from_str(stdout(&o).lines().next().unwrap()).unwrap();
    assert_eq!(first["lineage"]["key"], "AKIAEXAMPLE1");
    for bad in [
        vec!["--ip", "198.51.100.77", "--lineage"],
        vec!["--session", "x", "--lineage", "--format", "json"],
    ] {
        let mut args = vec!["timeline", "--lake", &lake];
        args.extend(bad);
        let o = trawl(&args);
        assert_eq!(o.status.code(), Some(2), "{args:?}");
        assert!(stderr(&o).contains("--lineage"), "{}", stderr(&o));
    }
}

#[test]
fn follow_needs_lineage() {
    let o = trawl(&["timeline", "--session", "x", "--follow"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("--lineage"), "{}", stderr(&o));
}

#[test]
fn html_pages_escape_what_they_show() {
    let dir = tempfile::tempdir().unwrap();
    let lake = lake(dir.path());
    for (cmd, subject) in [
        ("timeline", ["--ip", "198.51.100.77"]),
        ("summary", ["--by", "ip"]),
    ] {
        let o = trawl(&[
            cmd, "--lake", &lake, "--format", "html", subject[0], subject[1],
        ]);
        assert!(o.status.success(), "{}", stderr(&o));
        let page = stdout(&o);
        assert!(
            page.starts_with("<!doctype html>") && page.trim_end().ends_with("</html>"),
            "{page}"
        );
        assert!(page.contains("aws-cli/2.15, &quot;quoted&quot;"), "{page}");
        assert!(!page.contains("\"quoted\""), "{page}");
    }
    let o = trawl(&[
        "timeline",
        "--lake",
        &lake,
        "--format",
        "html",
        "--ip",
        "198.51.100.77",
    ]);
    let page = stdout(&o);
    assert_eq!(page.matches("<tr><td>").count(), 3, "{page}");
    assert!(page.contains("<td>s3://b/k,1</td>"), "{page}");
}
