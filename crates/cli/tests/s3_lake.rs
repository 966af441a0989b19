//! `--lake s3://...` end to end, on moto's S3 server (which honours If-None-Match on PUT):
//! ingest, concurrent shard writers, sql, report and verify give what a local lake gives.
//! With CI set, a missing moto fails the test instead of skipping it.

#![allow(clippy::unwrap_used, reason = "a test's unwrap is its failure message")]

use std::path::Path;
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use rand::{Rng, SeedableRng};

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

/// `trawl ingest TRAIL --lake LAKE --shard K/3 EXTRA...` from the mirror `dir/mirror-K` (as on
/// machine K), started with its output piped.
fn spawn_shard(s3: &Moto, dir: &Path, lake: &str, trail: &str, k: usize, extra: &[&str]) -> Child {
    let shard = format!("{k}/3");
    let mut args = vec!["ingest", "--lake", lake, trail, "--shard", &shard];
    args.extend_from_slice(extra);
    trawl(&s3.endpoint, &dir.join(format!("mirror-{k}")), &args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap()
}

/// `trawl verify --json` of `lake` from `mirror`, which must find no problem.
fn verified(s3: &Moto, mirror: &Path, lake: &str) -> serde_json::Value {
    let v = json(&on_s3(
        &s3.endpoint,
        mirror,
        &["verify", "--json", "--lake", lake],
    ));
    assert_eq!(v["problems"].as_array().unwrap().len(), 0, "{v}");
    v
}

fn json(text: &str) -> serde_json::Value {
    serde_json::from_str(text).unwrap()
}

/// A trail of `events` events over 3 days in 9 streams (3 accounts x 3 regions), with
/// re-deliveries, under `dir`, and the `trawl ingest --json` summary of it into a local lake
/// there: (trail, local lake, summary).
fn sharded_trail(dir: &Path, events: usize) -> (String, String, serde_json::Value) {
    let trail = dir.join("trail");
    let spec = trawl_gen::TrailSpec {
        events,
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
    let (trail, local) = (
        trail.display().to_string(),
        dir.join("local").display().to_string(),
    );
    let whole = json(&ok(trawl_testkit::run(
        BIN,
        &["ingest", "--json", "--lake", &local, &trail],
    )));
    (trail, local, whole)
}

#[test]
fn a_lake_in_s3_written_by_concurrent_shards_answers_as_a_local_lake() {
    let Some(s3) = moto() else { return };
    let dir = tempfile::tempdir().unwrap();
    let (trail, local, whole) = sharded_trail(dir.path(), 4_000);
    let (trail, local) = (trail.as_str(), local.as_str());

    // Three shards at once, each from its own mirror (as on three machines), into one lake.
    let lake = "s3://lakes/cloudtrail";
    let writers: Vec<Child> = (1..=3)
        .map(|k| spawn_shard(&s3, dir.path(), lake, trail, k, &["--json"]))
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
    assert_eq!(again["files_written"], 0, "{again}");
    let v = verified(&s3, &reader, lake);
    assert_eq!(v["rows"], whole["events_stored"], "{v}");
    assert_eq!(v["manifests"].as_array().unwrap().len(), 0, "{v}");

    // A manifest lost from the bucket: verify names it, `trawl ddl` publishes it again.
    boto(
        &s3,
        "keys = [o['Key'] for o in s3.list_objects_v2(Bucket='lakes', Prefix=sys.argv[2])['Contents']]\n\
         s3.delete_object(Bucket='lakes', Key=sorted(keys)[0])",
        &["cloudtrail/_trawl/manifest/"],
    );
    let v = verified(&s3, &reader, lake);
    assert_eq!(v["manifests"].as_array().unwrap().len(), 1, "{v}");
    let ddl = on_s3(
        &s3.endpoint,
        &reader,
        &["ddl", "--engine", "athena", "--lake", lake],
    );
    assert!(
        ddl.contains("s3://lakes/cloudtrail/_trawl/manifest/"),
        "{ddl}"
    );
    let v = verified(&s3, &reader, lake);
    assert_eq!(v["manifests"].as_array().unwrap().len(), 0, "{v}");
    // Another root for a lake in S3 is refused, naming the lake.
    let o = trawl(
        &s3.endpoint,
        &reader,
        &[
            "ddl",
            "--engine",
            "athena",
            "--lake",
            lake,
            "--location",
            "s3://elsewhere/lake",
        ],
    )
    .output()
    .unwrap();
    assert_ne!(o.status.code(), Some(0));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("s3://lakes/cloudtrail"), "{err}");

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

/// eventID -> rows, as `trawl sql` reads the lake (from S3 when `mirror` is given).
fn ids(s3: &Moto, lake: &str, mirror: Option<&Path>) -> String {
    let sql = "SELECT eventid, count(*) FROM cloudtrail_logs GROUP BY 1 ORDER BY 1";
    let args = ["sql", "--format", "csv", "--lake", lake, sql];
    match mirror {
        Some(m) => on_s3(&s3.endpoint, m, &args),
        None => ok(trawl_testkit::run(BIN, &args)),
    }
}

#[test]
fn a_crash_at_each_point_of_a_commit_to_s3_loses_and_doubles_nothing() {
    let Some(s3) = moto() else { return };
    let dir = tempfile::tempdir().unwrap();
    let trail = trawl_testkit::trail(&dir.path().join("trail"), 9, 6_000, 3);
    let trail = trail.to_str().unwrap();
    let local = dir.path().join("local");
    let local = local.to_str().unwrap();
    ok(trawl_testkit::run(
        BIN,
        &["ingest", "--quiet", "--lake", local, trail],
    ));
    let lake = "s3://lakes/crash-points";
    let mirror = dir.path().join("mirror");
    // Each run commits every few milliseconds and dies (abort, as with SIGKILL) at the second
    // pass of one point, after one commit more than the run before (at the first, for the
    // manifests).
    for point in [
        "lake::data-file-placed",
        "lake::uploaded",
        "lake::before-rename",
        "lake::before-commit",
        "lake::after-commit",
        "lake::manifests-written",
    ] {
        let o = trawl(
            &s3.endpoint,
            &mirror,
            &[
                "ingest",
                "--quiet",
                "--commit-interval",
                "0.01",
                "--lake",
                lake,
                trail,
            ],
        )
        // The manifests of a lake in S3 are published every 2 s: only the first commit's are
        // sure to be written in a short run.
        .env(
            "FAILPOINTS",
            match point {
                "lake::manifests-written" => format!("{point}=return"),
                _ => format!("{point}=1*off->return"),
            },
        )
        .output()
        .unwrap();
        assert!(!o.status.success(), "{point} was not reached");
        // What is committed reads back whole.
        let v = verified(&s3, &mirror, lake);
        if point == "lake::uploaded" {
            let orphans = v["orphans"].as_array().unwrap();
            assert!(
                !orphans.is_empty(),
                "the uploads are seen as uncommitted: {v}"
            );
        }
    }
    // Resumed from another machine: every event once.
    let other = dir.path().join("mirror-2");
    on_s3(
        &s3.endpoint,
        &other,
        &["ingest", "--quiet", "--lake", lake, trail],
    );
    assert_eq!(ids(&s3, lake, Some(&mirror)), ids(&s3, local, None));
}

#[test]
fn shards_killed_and_restarted_at_random_end_as_one_run() {
    let Some(s3) = moto() else { return };
    let dir = tempfile::tempdir().unwrap();
    let (trail, local, whole) = sharded_trail(dir.path(), 9_000);
    let (trail, local) = (trail.as_str(), local.as_str());
    let seed = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos() as u64;
    eprintln!("kill times from seed {seed}");
    let mut rng = rand::rngs::SmallRng::seed_from_u64(seed);
    let lake = "s3://lakes/killed";
    let shard = |k| {
        spawn_shard(
            &s3,
            dir.path(),
            lake,
            trail,
            k,
            &["--quiet", "--commit-interval", "0.01"],
        )
    };
    // Two rounds of three shards at once, each killed (SIGKILL) at a random moment, then
    // three runs to the end.
    for _ in 0..2 {
        let mut running: Vec<Child> = (1..=3).map(shard).collect();
        for child in &mut running {
            std::thread::sleep(Duration::from_millis(rng.random_range(50..600)));
            let _ = child.kill();
        }
        for mut child in running {
            let _ = child.wait();
        }
    }
    let last: Vec<Child> = (1..=3).map(shard).collect();
    for mut child in last {
        assert!(child.wait().unwrap().success());
    }
    let reader = dir.path().join("mirror-reader");
    assert_eq!(ids(&s3, lake, Some(&reader)), ids(&s3, local, None));
    let v = verified(&s3, &reader, lake);
    assert_eq!(v["rows"], whole["events_stored"], "{v}");
}

/// Runs a python snippet with boto3's client for the moto server as `s3` (argv[1] the
/// endpoint, then `args`).
fn boto(s3: &Moto, code: &str, args: &[&str]) {
    let script = format!(
        "import sys, os, boto3\ns3 = boto3.client('s3', endpoint_url=sys.argv[1], \
         aws_access_key_id='k', aws_secret_access_key='s', region_name='us-east-1')\n{code}"
    );
    let status = Command::new("python3")
        .arg("-c")
        .arg(script)
        .arg(&s3.endpoint)
        .args(args)
        .status()
        .unwrap();
    assert!(status.success(), "{code}");
}

#[test]
fn a_trail_in_s3_goes_into_a_lake_in_s3_and_a_lost_log_is_rebuilt_there() {
    let Some(s3) = moto() else { return };
    let dir = tempfile::tempdir().unwrap();
    let (trail, local, whole) = sharded_trail(dir.path(), 3_000);
    // The trail, as CloudTrail delivers it, in a bucket of its own.
    boto(
        &s3,
        "s3.create_bucket(Bucket='trail')\n\
         for root, _, files in os.walk(sys.argv[2]):\n    \
             for f in files:\n        \
                 p = os.path.join(root, f)\n        \
                 s3.upload_file(p, 'trail', os.path.relpath(p, sys.argv[2]))",
        &[&trail],
    );
    let lake = "s3://lakes/bucket-to-bucket";
    let mirror = dir.path().join("mirror");
    let s = json(&on_s3(
        &s3.endpoint,
        &mirror,
        &["ingest", "--json", "--lake", lake, "s3://trail/AWSLogs/"],
    ));
    assert_eq!(s["events_stored"], whole["events_stored"], "{s}");
    assert_eq!(ids(&s3, lake, Some(&mirror)), ids(&s3, &local, None));
    // The ledger knows S3 objects by ETag: a re-run from another machine reads none.
    let other = dir.path().join("mirror-2");
    let again = json(&on_s3(
        &s3.endpoint,
        &other,
        &["ingest", "--json", "--lake", lake, "s3://trail/AWSLogs/"],
    ));
    assert_eq!(again["objects_read"], 0, "{again}");
    assert_eq!(again["files_written"], 0, "{again}");

    // The log is lost; `trawl verify --rebuild-ledger` writes it again from the bucket.
    boto(
        &s3,
        "for o in s3.list_objects_v2(Bucket='lakes', Prefix=sys.argv[2]).get('Contents', []):\n    \
             s3.delete_object(Bucket='lakes', Key=o['Key'])",
        &["bucket-to-bucket/_trawl/log/"],
    );
    let r = json(&on_s3(
        &s3.endpoint,
        &dir.path().join("mirror-3"),
        &["verify", "--rebuild-ledger", "--json", "--lake", lake],
    ));
    assert_eq!(r["rows"], whole["events_stored"], "{r}");
    // The first machine's mirror follows the rebuilt log; verify is clean.
    assert_eq!(ids(&s3, lake, Some(&mirror)), ids(&s3, &local, None));
    let v = verified(&s3, &mirror, lake);
    assert_eq!(v["rows"], whole["events_stored"], "{v}");
    // S3 sources come back into the ledger without their ETags: they are read again, and
    // dedup drops every event.
    let third = json(&on_s3(
        &s3.endpoint,
        &other,
        &["ingest", "--json", "--lake", lake, "s3://trail/AWSLogs/"],
    ));
    assert_eq!(third["events_stored"], 0, "{third}");
    assert_eq!(ids(&s3, lake, Some(&mirror)), ids(&s3, &local, None));
}

#[test]
fn compaction_in_s3_beside_an_ingest_and_a_reader_keeps_every_answer_a_commit() {
    let Some(s3) = moto() else { return };
    let dir = tempfile::tempdir().unwrap();
    let first = trawl_testkit::trail(&dir.path().join("first"), 41, 3_000, 3);
    let second = trawl_testkit::trail(&dir.path().join("second"), 42, 3_000, 3);
    let (first, second) = (first.to_str().unwrap(), second.to_str().unwrap());
    let local = dir.path().join("local");
    let local = local.to_str().unwrap();
    for t in [first, second] {
        ok(trawl_testkit::run(
            BIN,
            &["ingest", "--quiet", "--lake", local, t],
        ));
    }
    let lake = "s3://lakes/busy";
    let small_commits = |mirror: &str, trail: &str| {
        trawl(
            &s3.endpoint,
            &dir.path().join(mirror),
            &[
                "ingest",
                "--quiet",
                "--commit-interval",
                "0.02",
                "--lake",
                lake,
                trail,
            ],
        )
    };
    ok(small_commits("mirror-1", first).output().unwrap());
    // Machine 2 ingests the second trail; machine 3 queries in a loop; machine 4 compacts
    // until the ingest is done, twice at least.
    let mut ingest = small_commits("mirror-2", second)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let reader_mirror = dir.path().join("mirror-3");
    let observer = {
        let (stop, endpoint, mirror) = (stop.clone(), s3.endpoint.clone(), reader_mirror.clone());
        std::thread::spawn(move || {
            let mut seen = Vec::new();
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                let out = on_s3(
                    &endpoint,
                    &mirror,
                    &[
                        "sql",
                        "--format",
                        "csv",
                        "--lake",
                        lake,
                        "SELECT count(*) FROM cloudtrail_logs",
                    ],
                );
                seen.push(out.lines().nth(1).unwrap().parse::<u64>().unwrap());
            }
            seen
        })
    };
    let compactor = dir.path().join("mirror-4");
    let mut compactions = Vec::new();
    while ingest.try_wait().unwrap().is_none() || compactions.len() < 2 {
        let c = json(&on_s3(
            &s3.endpoint,
            &compactor,
            &["compact", "--json", "--lake", lake],
        ));
        compactions.push(c);
    }
    let o = ingest.wait_with_output().unwrap();
    assert!(
        o.status.success(),
        "the ingest beside compactions: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let seen = observer.join().unwrap();
    // Every count a query returned is the rows of a committed version (the reader's mirror
    // holds the whole log once it has read the last commit).
    on_s3(
        &s3.endpoint,
        &reader_mirror,
        &["sql", "--lake", lake, "SELECT 1"],
    );
    let totals = trawl_testkit::committed_totals(&reader_mirror);
    assert!(!seen.is_empty());
    for n in &seen {
        assert!(
            totals.contains(n),
            "a query saw {n} rows, which no commit had (commits: {totals:?})"
        );
    }
    let committed = compactions
        .iter()
        .filter(|c| !c["version"].is_null())
        .count();
    assert!(committed > 0, "no compaction committed: {compactions:?}");
    // Replaced objects deleted, every event once, verify clean and no orphan.
    on_s3(
        &s3.endpoint,
        &compactor,
        &["compact", "--json", "--retain", "0s", "--lake", lake],
    );
    assert_eq!(ids(&s3, lake, Some(&compactor)), ids(&s3, local, None));
    let v = verified(&s3, &compactor, lake);
    assert_eq!(v["orphans"].as_array().unwrap().len(), 0, "{v}");
    eprintln!(
        "{} compactions ({committed} committed) beside the ingest; {} queries; {} commits",
        compactions.len(),
        seen.len(),
        totals.len() - 1
    );
}
