//! `--lake s3://...` end to end, on moto's S3 server (which honours If-None-Match on PUT):
//! ingest, concurrent shard writers, sql, report and verify give what a local lake gives.
//! With CI set, a missing moto fails the test instead of skipping it.

#![allow(clippy::unwrap_used, reason = "a test's unwrap is its failure message")]

use std::path::Path;
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_trawl");

/// moto's S3 server on a free loopback port, stopped when dropped.
struct Moto {
    child: Child,
    endpoint: String,
}

impl Drop for Moto {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn moto() -> Option<Moto> {
    let has_moto = Command::new("python3")
        .args(["-c", "import moto.server"])
        .status()
        .is_ok_and(|s| s.success());
    if !has_moto {
        assert!(
            std::env::var_os("CI").is_none(),
            "CI is set but python3 cannot import moto.server: install it (pip install 'moto[server]')"
        );
        eprintln!("skipped: no moto (pip install 'moto[server]')");
        return None;
    }
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let child = Command::new("python3")
        .args([
            "-m",
            "moto.server",
            "-H",
            "127.0.0.1",
            "-p",
            &port.to_string(),
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let endpoint = format!("http://127.0.0.1:{port}");
    let server = Moto { child, endpoint };
    let started = Instant::now();
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "moto did not start"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    let made = Command::new("python3")
        .args([
            "-c",
            "import sys, boto3; boto3.client('s3', endpoint_url=sys.argv[1], aws_access_key_id='k', \
             aws_secret_access_key='s', region_name='us-east-1').create_bucket(Bucket='lakes')",
            &server.endpoint,
        ])
        .status()
        .unwrap();
    assert!(made.success(), "creating the bucket");
    Some(server)
}

fn trawl(endpoint: &str, mirror: &Path, args: &[&str]) -> Command {
    let mut cmd = trawl_testkit::trawl_s3_client(BIN);
    cmd.args(args)
        .env("TRAWL_MIRROR", mirror)
        .env("AWS_ENDPOINT_URL", endpoint);
    cmd
}

/// Runs `trawl args` against the S3 endpoint from `mirror`: its stdout (the exit code must
/// be 0).
fn on_s3(endpoint: &str, mirror: &Path, args: &[&str]) -> String {
    ok(trawl(endpoint, mirror, args).output().unwrap())
}

fn ok(o: Output) -> String {
    assert_eq!(
        o.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    String::from_utf8(o.stdout).unwrap()
}

fn json(text: &str) -> serde_json::Value {
    serde_json::from_str(text).unwrap()
}

#[test]
fn a_lake_in_s3_written_by_concurrent_shards_answers_as_a_local_lake() {
    let Some(s3) = moto() else { return };
    let dir = tempfile::tempdir().unwrap();
    let trail = dir.path().join("trail");
    let spec = trawl_gen::TrailSpec {
        events: 4_000,
        days: 3,
        duplicate_rate: 0.05,
        accounts: ["111122223333", "444455556666", "777788889999"]
            .map(String::from)
            .to_vec(),
        regions: ["us-east-1", "eu-west-1", "ap-south-1"]
            .map(String::from)
            .to_vec(),
        ..trawl_gen::TrailSpec::default()
    };
    trawl_gen::write_trail(&trail, &spec).unwrap();
    let trail = trail.to_str().unwrap();
    let local = dir.path().join("local");
    let local = local.to_str().unwrap();
    let whole = json(&ok(trawl_testkit::run(
        BIN,
        &["ingest", "--json", "--lake", local, trail],
    )));

    // Three shards at once, each from its own mirror (as on three machines), into one lake.
    let lake = "s3://lakes/cloudtrail";
    let writers: Vec<Child> = (1..=3)
        .map(|k| {
            trawl(
                &s3.endpoint,
                &dir.path().join(format!("mirror-{k}")),
                &[
                    "ingest",
                    "--json",
                    "--lake",
                    lake,
                    trail,
                    "--shard",
                    &format!("{k}/3"),
                ],
            )
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap()
        })
        .collect();
    let mut stored = 0;
    for w in writers {
        let s = json(&ok(w.wait_with_output().unwrap()));
        stored += s["events_stored"].as_u64().unwrap();
    }
    assert_eq!(stored, whole["events_stored"].as_u64().unwrap());

    // Read from a fourth machine: the same answers as the local lake.
    let reader = dir.path().join("mirror-reader");
    let sql = "SELECT eventid, eventname, useridentity.arn, count(*) FROM cloudtrail_logs \
               GROUP BY 1, 2, 3 ORDER BY 1, 2, 3";
    let from_s3 = on_s3(
        &s3.endpoint,
        &reader,
        &["sql", "--format", "csv", "--lake", lake, sql],
    );
    let from_disk = ok(trawl_testkit::run(
        BIN,
        &["sql", "--format", "csv", "--lake", local, sql],
    ));
    assert_eq!(from_s3, from_disk);
    assert!(from_s3.lines().count() > 3000);
    // The tiles (the lakes differ in their commits, which the report's integrity note names).
    let report = |cmd: &mut Command| json(&ok(cmd.output().unwrap()))["dashboards"].clone();
    let args = |l: &str| {
        [
            "report",
            "error-overview",
            "--all-time",
            "--format",
            "json",
            "--lake",
            l,
        ]
        .map(str::to_string)
    };
    let (a, b) = (
        report(trawl(&s3.endpoint, &reader, &[]).args(args(lake))),
        report(trawl_testkit::trawl(BIN).args(args(local))),
    );
    assert!(a == b, "the error overview differs between the lakes");
    assert!(a.to_string().contains("ConsoleLogin"));

    // The ledger holds across machines: nothing is read twice.
    let again = json(&on_s3(
        &s3.endpoint,
        &reader,
        &["ingest", "--json", "--lake", lake, trail],
    ));
    assert_eq!(again["objects_read"], 0, "{again}");
    let v = json(&on_s3(
        &s3.endpoint,
        &reader,
        &["verify", "--json", "--lake", lake],
    ));
    assert_eq!(v["rows"], whole["events_stored"], "{v}");
    assert_eq!(v["problems"].as_array().unwrap().len(), 0, "{v}");

    // A lake that is not there is named, with what to do.
    let o = trawl(
        &s3.endpoint,
        &dir.path().join("mirror-x"),
        &["sql", "--lake", "s3://lakes/nothing", "SELECT 1"],
    )
    .output()
    .unwrap();
    assert_ne!(o.status.code(), Some(0));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("s3://lakes/nothing"), "{err}");
}

#[test]
fn a_writer_killed_after_its_uploads_loses_and_doubles_nothing() {
    let Some(s3) = moto() else { return };
    let dir = tempfile::tempdir().unwrap();
    let trail = trawl_testkit::trail(&dir.path().join("trail"), 5, 3_000, 2);
    let trail = trail.to_str().unwrap();
    let whole = json(&ok(trawl_testkit::run(
        BIN,
        &[
            "ingest",
            "--json",
            "--lake",
            dir.path().join("local").to_str().unwrap(),
            trail,
        ],
    )));
    let lake = "s3://lakes/crashed";
    let mirror = dir.path().join("mirror");
    // Killed (abort: no unwinding) with its first commit's files in S3 and no log entry.
    let o = trawl(
        &s3.endpoint,
        &mirror,
        &["ingest", "--json", "--lake", lake, trail],
    )
    .env("FAILPOINTS", "lake::uploaded=return")
    .output()
    .unwrap();
    assert!(!o.status.success(), "the crash point did not fire");
    let v = json(&on_s3(
        &s3.endpoint,
        &mirror,
        &["verify", "--json", "--lake", lake],
    ));
    assert_eq!(v["rows"], 0, "nothing committed: {v}");
    assert!(
        !v["orphans"].as_array().unwrap().is_empty(),
        "the uploads are seen as uncommitted: {v}"
    );
    // Run again (from another machine): every event once.
    let again = json(&on_s3(
        &s3.endpoint,
        &dir.path().join("mirror-2"),
        &["ingest", "--json", "--lake", lake, trail],
    ));
    assert_eq!(again["events_stored"], whole["events_stored"], "{again}");
    let v = json(&on_s3(
        &s3.endpoint,
        &mirror,
        &["verify", "--json", "--lake", lake],
    ));
    assert_eq!(v["rows"], whole["events_stored"], "{v}");
    assert_eq!(v["problems"].as_array().unwrap().len(), 0, "{v}");
}
