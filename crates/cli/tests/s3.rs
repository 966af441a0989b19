//! `trawl ingest s3://...` against a real S3 endpoint on loopback (s3s-fs, in process, with
//! injected faults): the same trail ingested from disk and from S3 gives the same lake.

#![allow(clippy::unwrap_used, reason = "a test's unwrap is its failure message")]

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use std::time::Duration;

use trawl_s3_fake::{FakeS3, Faults};

const BUCKET: &str = "logs";
/// The trail sits under a custom prefix, as organization trails often do.
const PREFIX: &str = "org-trail";

fn trawl(args: &[&str], endpoint: Option<&str>) -> Output {
    command(args, endpoint).output().expect("trawl runs")
}

fn command(args: &[&str], endpoint: Option<&str>) -> Command {
    let mut cmd = trawl_testkit::trawl_s3_client(env!("CARGO_BIN_EXE_trawl"));
    cmd.args(args);
    if let Some(e) = endpoint {
        cmd.args(["--endpoint-url", e]);
    }
    cmd
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

fn summary(o: &Output) -> serde_json::Value {
    serde_json::from_slice(&o.stdout)
        .unwrap_or_else(|e| panic!("summary is JSON ({e}): {}", stderr(o)))
}

/// A seeded trail on disk: `dir/AWSLogs/...`, `files` objects.
fn trail(dir: &Path, events: usize, days: u32, per_file: usize) -> PathBuf {
    let spec = trawl_gen::TrailSpec {
        events,
        days,
        events_per_file: per_file,
        duplicate_rate: 0.01,
        ..trawl_gen::TrailSpec::default()
    };
    trawl_gen::write_trail(dir, &spec).unwrap();
    dir.to_path_buf()
}

use trawl_testkit::files;

fn walkdir(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            out.extend(walkdir(&p));
        } else {
            out.push(p);
        }
    }
    out
}

/// Serves `trail` as `s3://logs/org-trail/...`, with a non-CloudTrail folder beside it.
fn serve(root: &Path, trail: &Path, faults: Faults) -> FakeS3 {
    let s3 = trawl_testkit::s3(root, faults);
    trawl_testkit::upload(&s3, BUCKET, PREFIX, trail);
    // Another service's logs in the same account folder: never listed into, never fetched.
    s3.put(
        BUCKET,
        &format!("{PREFIX}/AWSLogs/111122223333/Config/us-east-1/2024/3/1/config.json.gz"),
        b"not cloudtrail",
    )
    .unwrap();
    s3
}

/// `trawl ingest --json` of the served trail into `lake`, with `more` options.
fn ingest_trail(lake: &str, s3: &FakeS3, more: &[&str]) -> Output {
    let mut args = vec!["ingest", "--lake", lake, "s3://logs/org-trail", "--json"];
    args.extend_from_slice(more);
    trawl(&args, Some(&s3.endpoint()))
}

/// Serves `trail` with `faults` and ingests it into `lake` with `attempts` tries a request;
/// asserts the run exited 1 with one input quarantined, `path`. Returns the endpoint, the
/// summary and the reason.
#[track_caller]
fn quarantines_one(
    root: &Path,
    trail: &Path,
    faults: Faults,
    lake: &str,
    attempts: u32,
    path: &str,
) -> (FakeS3, serde_json::Value, String) {
    let s3 = serve(root, trail, faults);
    let o = ingest_trail(lake, &s3, &["--max-attempts", &attempts.to_string()]);
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    let s = summary(&o);
    let q = s["quarantined"].as_array().unwrap();
    assert_eq!(q.len(), 1, "{s}");
    assert_eq!(q[0]["path"], path);
    let reason = q[0]["reason"].as_str().unwrap().to_string();
    (s3, s, reason)
}

/// Asserts two lakes' rows are equal, showing the first difference only.
#[track_caller]
fn assert_same(a: &[String], b: &[String]) {
    if a != b {
        let first = a.iter().zip(b).position(|(x, y)| x != y);
        // The columns that differ in that row.
        let diff = first.map(|i| {
            let x: serde_json::Map<String, serde_json::Value> =
                serde_json::from_str(&a[i]).unwrap();
            let y: serde_json::Map<String, serde_json::Value> =
                serde_json::from_str(&b[i]).unwrap();
            x.iter()
                .filter(|(k, v)| y.get(*k) != Some(v))
                .map(|(k, v)| {
                    format!(
                        "{k}: {v} vs {}",
                        y.get(k).unwrap_or(&serde_json::Value::Null)
                    )
                })
                .collect::<Vec<_>>()
        });
        panic!(
            "lakes differ: {} vs {} rows; first difference at row {first:?}: {diff:?}",
            a.len(),
            b.len(),
        );
    }
}

/// Every row of the lake as JSON text, without the source column (a path on disk, a URL
/// in S3), sorted: equal for equal lakes.
fn rows(lake: &str) -> Vec<String> {
    let o = trawl(
        &[
            "sql",
            "--lake",
            lake,
            "--format",
            "jsonl",
            "SELECT * FROM trawl_cloudtrail_logs",
        ],
        None,
    );
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let mut rows: Vec<String> = String::from_utf8(o.stdout)
        .unwrap()
        .lines()
        .map(|l| {
            let mut v: serde_json::Map<String, serde_json::Value> =
                serde_json::from_str(l).unwrap();
            assert!(v.remove("trawl_source").is_some(), "{l}");
            v.remove("$path");
            serde_json::to_string(&v).unwrap()
        })
        .collect();
    rows.sort();
    rows
}

fn local_lake(dir: &Path, trail: &Path) -> Vec<String> {
    let lake = dir.join("local-lake").display().to_string();
    let o = trawl(
        &["ingest", "--lake", &lake, trail.to_str().unwrap(), "--json"],
        None,
    );
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    rows(&lake)
}

#[test]
fn s3_and_disk_give_the_same_lake_and_a_rerun_gets_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let trail = trail(&dir.path().join("trail"), 3_000, 2, 60);
    let objects = files(&trail).len();
    let s3 = serve(&dir.path().join("s3"), &trail, Faults::default());
    let lake = dir.path().join("s3-lake").display().to_string();
    // The bucket root: the walk finds `org-trail/AWSLogs/` itself.
    let o = trawl(
        &["ingest", "--lake", &lake, "s3://logs", "--json"],
        Some(&s3.endpoint()),
    );
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let s = summary(&o);
    assert_eq!(s["objects_found"], objects, "{s}");
    assert_eq!(s["s3"]["get_requests"], objects, "{s}");
    assert_eq!(s3.counters().gets() as usize, objects);
    assert_eq!(s["s3"]["list_requests"], s3.counters().lists(), "{s}");
    assert!(
        !s3.counters()
            .get_keys()
            .iter()
            .any(|k| k.contains("/Config/")),
        "another service's logs were fetched"
    );
    assert!(
        !s3.counters()
            .list_prefixes()
            .iter()
            .any(|p| p.contains("/Config/")),
        "another service's folder was listed into"
    );
    assert_same(&rows(&lake), &local_lake(dir.path(), &trail));

    // Again: the ledger has every object (by bucket, key and ETag): no GET at all.
    s3.counters().reset();
    let o = trawl(
        &["ingest", "--lake", &lake, "s3://logs/org-trail/", "--json"],
        Some(&s3.endpoint()),
    );
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let s = summary(&o);
    assert_eq!(s["objects_skipped"], objects, "{s}");
    assert_eq!(s3.counters().gets(), 0);
    assert_eq!(s["commits"], 0, "{s}");
}

#[test]
fn throttling_broken_bodies_and_stalls_are_retried_and_change_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let trail = trail(&dir.path().join("trail"), 2_000, 1, 40);
    let s3 = serve(
        &dir.path().join("s3"),
        &trail,
        Faults {
            latency: Duration::from_millis(1),
            slowdown_every: 5,
            break_body_every: 4,
            stall_every: 7,
            stall: Duration::from_millis(300),
            ..Faults::default()
        },
    );
    let lake = dir.path().join("s3-lake").display().to_string();
    let o = trawl(
        &[
            "ingest",
            "--lake",
            &lake,
            "s3://logs/org-trail/AWSLogs/",
            "--concurrency",
            "8",
            "--json",
        ],
        Some(&s3.endpoint()),
    );
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let s = summary(&o);
    assert!(s3.counters().slowdowns() > 0 && s3.counters().broken_bodies() > 0);
    let retries = s["s3"]["retries"].as_u64().unwrap();
    assert!(
        retries >= s3.counters().slowdowns() + s3.counters().broken_bodies(),
        "{s}"
    );
    assert_eq!(s["quarantined"].as_array().unwrap().len(), 0, "{s}");
    assert_same(&rows(&lake), &local_lake(dir.path(), &trail));
}

#[test]
fn a_failing_object_is_quarantined_by_key_and_fetched_again_next_run() {
    let dir = tempfile::tempdir().unwrap();
    let trail = trail(&dir.path().join("trail"), 1_000, 1, 100);
    let bad = files(&trail).into_iter().nth(3).unwrap();
    let bad_key = format!("{PREFIX}/{bad}");
    let root = dir.path().join("s3");
    let lake = dir.path().join("s3-lake").display().to_string();
    {
        let faults = Faults {
            always_fail: vec![bad_key.clone()],
            ..Faults::default()
        };
        let path = format!("s3://{BUCKET}/{bad_key}");
        let (s3, _, reason) = quarantines_one(&root, &trail, faults, &lake, 3, &path);
        assert!(
            reason.contains(&format!("s3://{BUCKET}/{bad_key}"))
                && reason.contains("gave up after 3 attempts")
                && reason.contains("InternalError")
                && reason.contains("run the same command again"),
            "{reason}"
        );
        let gets = s3.counters().get_keys();
        assert_eq!(gets.iter().filter(|k| **k == bad_key).count(), 3);
    }
    // The store recovers: only the quarantined object is fetched, and the lake is whole.
    let s3 = serve(&root, &trail, Faults::default());
    let o = ingest_trail(&lake, &s3, &[]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert_eq!(s3.counters().get_keys(), vec![bad_key]);
    assert_same(&rows(&lake), &local_lake(dir.path(), &trail));
}

#[test]
fn a_region_whose_listing_fails_is_reported_and_listed_again_next_run() {
    let dir = tempfile::tempdir().unwrap();
    let trail = trail(&dir.path().join("trail"), 3_000, 1, 100);
    let region = "AWSLogs/111122223333/CloudTrail/eu-west-1/";
    let broken = format!("{PREFIX}/{region}");
    let under = files(&trail)
        .into_iter()
        .filter(|f| f.starts_with(region))
        .count();
    assert!(under > 0, "the trail has objects in {region}");
    let root = dir.path().join("s3");
    let lake = dir.path().join("s3-lake").display().to_string();
    {
        let faults = Faults {
            always_fail_lists: vec![broken.clone()],
            ..Faults::default()
        };
        let path = format!("s3://{BUCKET}/{broken}");
        let (s3, s, reason) = quarantines_one(&root, &trail, faults, &lake, 2, &path);
        assert!(
            reason.contains("listing failed")
                && reason.contains("InternalError")
                && reason.contains("run the same command again"),
            "{reason}"
        );
        // The other regions were read whole.
        assert_eq!(
            s["objects_read"].as_u64().unwrap() as usize,
            files(&trail).len() - under,
            "{s}"
        );
        assert!(
            !s3.counters()
                .get_keys()
                .iter()
                .any(|k| k.starts_with(&broken))
        );
    }
    // Listed again next run: only that region's objects are fetched, and the lake is whole.
    let s3 = serve(&root, &trail, Faults::default());
    let o = ingest_trail(&lake, &s3, &[]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let gets = s3.counters().get_keys();
    assert_eq!(gets.len(), under);
    assert!(gets.iter().all(|k| k.starts_with(&broken)), "{gets:?}");
    assert_same(&rows(&lake), &local_lake(dir.path(), &trail));
}

#[test]
fn a_killed_run_resumes_without_fetching_what_it_committed() {
    let dir = tempfile::tempdir().unwrap();
    let trail = trail(&dir.path().join("trail"), 2_400, 1, 20);
    let objects = files(&trail).len();
    let s3 = serve(
        &dir.path().join("s3"),
        &trail,
        Faults {
            latency: Duration::from_millis(25),
            ..Faults::default()
        },
    );
    let lake = dir.path().join("s3-lake");
    let lake_arg = lake.display().to_string();
    let mut child = command(
        &[
            "ingest",
            "--lake",
            &lake_arg,
            "s3://logs",
            "--concurrency",
            "1",
            "--commit-interval",
            "0.2",
            "--json",
        ],
        Some(&s3.endpoint()),
    )
    .stdout(std::process::Stdio::null())
    .stderr(std::process::Stdio::null())
    .spawn()
    .unwrap();
    // Kill it (SIGKILL: no chance to clean up) once something is committed.
    let log = lake.join("_trawl/log");
    let started = std::time::Instant::now();
    while std::fs::read_dir(&log).map_or(0, |d| d.count()) < 2 {
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "no commit within a minute"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    child.kill().unwrap();
    child.wait().unwrap();
    let first_gets: BTreeSet<String> = s3.counters().get_keys().into_iter().collect();
    s3.counters().reset();

    let o = trawl(
        &["ingest", "--lake", &lake_arg, "s3://logs", "--json"],
        Some(&s3.endpoint()),
    );
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let s = summary(&o);
    let skipped = s["objects_skipped"].as_u64().unwrap() as usize;
    assert!(
        skipped > 0 && skipped < objects,
        "the kill came too late or too early: {s}"
    );
    // Nothing committed is fetched again; everything else is.
    assert_eq!(s3.counters().gets() as usize, objects - skipped);
    let second: BTreeSet<String> = s3.counters().get_keys().into_iter().collect();
    assert_eq!(second.len(), objects - skipped);
    assert!(first_gets.len() >= skipped);
    assert_same(&rows(&lake_arg), &local_lake(dir.path(), &trail));
}

#[test]
fn s3_and_local_sources_mix_in_one_command() {
    let dir = tempfile::tempdir().unwrap();
    let trail = trail(&dir.path().join("trail"), 600, 1, 100);
    let s3 = serve(&dir.path().join("s3"), &trail, Faults::default());
    let extra = dir.path().join("extra.jsonl");
    std::fs::write(
        &extra,
        r#"{"eventVersion":"1.08","eventID":"mixed-1","eventTime":"2024-05-01T00:00:00Z","eventName":"GetObject","eventSource":"s3.amazonaws.com","awsRegion":"us-east-1"}"#,
    )
    .unwrap();
    let lake = dir.path().join("lake").display().to_string();
    let o = trawl(
        &[
            "ingest",
            "--lake",
            &lake,
            "s3://logs/org-trail/",
            extra.to_str().unwrap(),
            "--json",
        ],
        Some(&s3.endpoint()),
    );
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let s = summary(&o);
    assert_eq!(s["objects_found"], files(&trail).len() + 1, "{s}");
    assert_eq!(s["events_stored"], 601, "{s}");
}

#[test]
fn an_unknown_bucket_is_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let s3 = FakeS3::start(&dir.path().join("s3"), 0, Faults::default()).unwrap();
    let lake = dir.path().join("lake").display().to_string();
    let o = trawl(
        &["ingest", "--lake", &lake, "s3://no-such-bucket/AWSLogs/"],
        Some(&s3.endpoint()),
    );
    assert_eq!(o.status.code(), Some(2));
    let err = stderr(&o);
    assert!(
        err.contains("s3://no-such-bucket/AWSLogs/") && err.contains("NoSuchBucket"),
        "{err}"
    );
}

#[test]
fn credentials_never_reach_the_output_the_logs_or_the_lake() {
    let dir = tempfile::tempdir().unwrap();
    let trail = trail(&dir.path().join("trail"), 400, 1, 50);
    let s3 = serve(
        &dir.path().join("s3"),
        &trail,
        Faults {
            slowdown_every: 3,
            ..Faults::default()
        },
    );
    let lake = dir.path().join("lake");
    let token = "IQoJb3JpZ2luX2VjEXAMPLE-trawl-session-token-must-not-leak";
    let mut printed = String::new();
    for url in ["s3://logs", "s3://no-such-bucket/AWSLogs/"] {
        // Everything logged, from every crate (the SDK, hyper, rustls...).
        let o = command(
            &[
                "ingest",
                "-vv",
                "--progress",
                "never",
                "--lake",
                lake.to_str().unwrap(),
                url,
            ],
            Some(&s3.endpoint()),
        )
        .env("TRAWL_LOG", "trace")
        .env("AWS_SESSION_TOKEN", token)
        .output()
        .unwrap();
        printed.push_str(&String::from_utf8_lossy(&o.stdout));
        printed.push_str(&stderr(&o));
    }
    assert!(
        printed.contains("no-such-bucket"),
        "the runs said nothing: {printed}"
    );
    assert!(printed.contains("TRACE"), "trace logging was not on");
    let mut stored = String::new();
    for f in walkdir(&lake) {
        stored.push_str(&String::from_utf8_lossy(&std::fs::read(f).unwrap()));
    }
    for (what, secret) in [
        ("secret access key", trawl_s3_fake::SECRET_KEY),
        ("session token", token),
        ("access key id", trawl_s3_fake::ACCESS_KEY),
    ] {
        assert!(!printed.contains(secret), "the {what} was printed");
        assert!(!stored.contains(secret), "the {what} is in the lake");
    }
}
