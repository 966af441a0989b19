//! The lake holds every event exactly once whatever happens to `trawl ingest`: killed with
//! SIGKILL at random moments and resumed, killed at each named point of a commit (mid
//! Parquet write, after a data file is placed, before and after the log rename), stopped
//! with Ctrl-C, raced by a second writer — and queries running meanwhile only ever see
//! whole commits.
//!
//! `TRAWL_CRASH_KILLS` sets the number of random kills (default 30); the seed of the kill
//! times is printed, and `TRAWL_CRASH_SEED` replays one.

#![allow(clippy::unwrap_used, reason = "a test's unwrap is its failure message")]

use std::collections::{BTreeMap, HashSet};
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use rand::{Rng, SeedableRng};

fn trawl() -> Command {
    trawl_testkit::trawl(env!("CARGO_BIN_EXE_trawl"))
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// `trawl ingest` of `trail` into `lake`, committing every few milliseconds so a kill lands
/// between, during and after many commits.
fn ingest_cmd(lake: &Path, trail: &Path) -> Command {
    let mut cmd = trawl();
    cmd.args([
        "ingest",
        "--quiet",
        "--progress",
        "never",
        "--commit-interval",
        "0.01",
    ])
    .arg("--lake")
    .arg(lake)
    .arg(trail)
    .stdout(Stdio::null())
    .stderr(Stdio::piped());
    cmd
}

fn run_to_end(lake: &Path, trail: &Path) -> Output {
    let o = ingest_cmd(lake, trail).output().unwrap();
    assert_eq!(o.status.code(), Some(0), "{}", text(&o.stderr));
    o
}

fn sql(lake: &Path, query: &str) -> Output {
    trawl()
        .args(["sql", "--format", "csv", "--lake"])
        .arg(lake)
        .arg(query)
        .output()
        .unwrap()
}

/// eventID -> copies, of the distinct records of the trail (identical re-deliveries are one
/// record), read with serde_json: independent of trawl's reader.
fn trail_ids(trail: &Path) -> BTreeMap<String, usize> {
    let mut seen = HashSet::new();
    let mut ids = BTreeMap::new();
    for e in walkdir::WalkDir::new(trail) {
        let e = e.unwrap();
        if !e.file_type().is_file() {
            continue;
        }
        let mut json = String::new();
        flate2::read::GzDecoder::new(std::fs::File::open(e.path()).unwrap())
            .read_to_string(&mut json)
            .unwrap();
        let doc: serde_json::Value = serde_json::from_str(&json).unwrap();
        for r in doc["Records"].as_array().unwrap() {
            if seen.insert(r.to_string()) {
                *ids.entry(r["eventID"].as_str().unwrap().to_string())
                    .or_insert(0) += 1;
            }
        }
    }
    ids
}

fn lake_ids(lake: &Path) -> BTreeMap<String, usize> {
    let o = sql(lake, "SELECT eventid FROM cloudtrail_logs");
    assert!(o.status.success(), "{}", text(&o.stderr));
    let mut ids = BTreeMap::new();
    for line in text(&o.stdout).lines().skip(1) {
        *ids.entry(line.to_string()).or_insert(0) += 1;
    }
    ids
}

fn count(lake: &Path) -> Result<u64, String> {
    let o = sql(lake, "SELECT count(*) FROM cloudtrail_logs");
    if !o.status.success() {
        return Err(text(&o.stderr));
    }
    text(&o.stdout)
        .lines()
        .nth(1)
        .and_then(|l| l.parse().ok())
        .ok_or_else(|| text(&o.stdout))
}

/// With no ingest running: what queries see is exactly the last commit, and every
/// committed file is whole.
fn check_between_runs(lake: &Path) {
    if !lake.join("_trawl").exists() {
        return;
    }
    let totals = trawl_testkit::committed_totals(lake);
    assert_eq!(count(lake), Ok(*totals.last().unwrap()));
    let o = trawl()
        .args(["verify", "--lake"])
        .arg(lake)
        .output()
        .unwrap();
    assert!(
        o.status.success(),
        "trawl verify after a kill: {}{}",
        text(&o.stdout),
        text(&o.stderr)
    );
}

/// `trawl serve` on `lake` (which must exist), on a free loopback port.
struct Server {
    child: Child,
    addr: String,
}

impl Server {
    fn start(lake: &Path) -> Server {
        let mut child = trawl()
            .args(["serve", "--addr", "127.0.0.1:0", "--lake"])
            .arg(lake)
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let mut err = std::io::BufReader::new(child.stderr.take().unwrap());
        let mut line = String::new();
        std::io::BufRead::read_line(&mut err, &mut line).unwrap();
        let addr = line
            .split("http://")
            .nth(1)
            .and_then(|a| a.split('/').next())
            .unwrap_or_else(|| panic!("trawl serve said: {line}"))
            .to_string();
        Server { child, addr }
    }

    /// `count(*)` through the web console's CSV download.
    fn count(&self) -> Result<u64, String> {
        use std::io::Write;
        let mut s = std::net::TcpStream::connect(&self.addr).map_err(|e| e.to_string())?;
        write!(
            s,
            "GET /sql.csv?q=SELECT%20count(*)%20FROM%20cloudtrail_logs HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
        )
        .map_err(|e| e.to_string())?;
        let mut text = String::new();
        s.read_to_string(&mut text).map_err(|e| e.to_string())?;
        let (head, body) = text.split_once("\r\n\r\n").ok_or("no HTTP response")?;
        if !head.starts_with("HTTP/1.1 200") {
            return Err(text);
        }
        body.lines()
            .nth(1)
            .and_then(|l| l.trim().parse().ok())
            .ok_or_else(|| text.clone())
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Queries `lake` in a loop until `stop`, with `trawl sql` and through a `trawl serve`
/// started once the lake exists; every answer must be the row count of a commit.
fn reader(lake: PathBuf, stop: Arc<AtomicBool>) -> std::thread::JoinHandle<(Vec<u64>, usize)> {
    std::thread::spawn(move || {
        let (mut seen, mut served) = (Vec::new(), 0);
        let mut server: Option<Server> = None;
        while !stop.load(Ordering::Relaxed) {
            match count(&lake) {
                Ok(n) => seen.push(n),
                // Before the first commit there is no lake yet.
                Err(e) if e.contains("no trawl lake at") => continue,
                Err(e) => panic!("a query during ingest failed: {e}"),
            }
            let server = server.get_or_insert_with(|| Server::start(&lake));
            match server.count() {
                Ok(n) => {
                    seen.push(n);
                    served += 1;
                }
                Err(e) => panic!("a trawl serve query during ingest failed: {e}"),
            }
        }
        (seen, served)
    })
}

fn trail(dir: &Path, events: usize) -> PathBuf {
    trail_seeded(dir, "trail", 7, events)
}

fn trail_seeded(dir: &Path, name: &str, seed: u64, events: usize) -> PathBuf {
    let trail = dir.join(name);
    let spec = trawl_gen::TrailSpec {
        seed,
        events,
        days: 4,
        events_per_file: 60,
        duplicate_rate: 0.02,
        ..trawl_gen::TrailSpec::default()
    };
    trawl_gen::write_trail(&trail, &spec).unwrap();
    trail
}

fn kill(child: &mut Child) {
    child.kill().unwrap();
    child.wait().unwrap();
}

#[test]
fn sigkill_anywhere_then_resume_gives_every_event_once() {
    let dir = tempfile::tempdir().unwrap();
    let trail = trail(dir.path(), 12_000);
    let expected = trail_ids(&trail);
    let want_kills: usize = std::env::var("TRAWL_CRASH_KILLS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(30);
    let seed: u64 = std::env::var("TRAWL_CRASH_SEED")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .as_nanos() as u64
        });
    eprintln!("kill times from TRAWL_CRASH_SEED={seed}");
    let mut rng = rand::rngs::SmallRng::seed_from_u64(seed);

    // How long an uninterrupted run takes here, to spread the kills over it.
    let reference = dir.path().join("reference");
    let started = Instant::now();
    run_to_end(&reference, &trail);
    // The other tests of this file run beside the reference, so it can overstate how
    // long a run takes later on; every uninterrupted first run of a round corrects it.
    let mut full = started.elapsed();
    assert_eq!(lake_ids(&reference), expected, "an uninterrupted run");

    let (mut kills, mut rounds, mut second_writer_refused, mut served_total) = (0, 0, 0, 0);
    while kills < want_kills {
        rounds += 1;
        assert!(rounds <= 40, "only {kills} kills landed in 40 rounds");
        let lake = dir.path().join(format!("lake-{rounds}"));
        let stop = Arc::new(AtomicBool::new(false));
        let observer = reader(lake.clone(), stop.clone());
        let mut first_run = true;
        loop {
            let mut child = ingest_cmd(&lake, &trail).spawn().unwrap();
            let spawned = Instant::now();
            let delay = full.mul_f64(rng.random_range(0.05..0.9));
            let mut finished = false;
            while spawned.elapsed() < delay {
                if child.try_wait().unwrap().is_some() {
                    finished = true;
                    break;
                }
                std::thread::sleep(Duration::from_millis(5));
            }
            if finished || child.try_wait().unwrap().is_some() {
                // Finished before the kill: the round is complete. A whole run from an
                // empty lake says how long a run takes now.
                if first_run {
                    full = full.min(spawned.elapsed());
                }
                break;
            }
            first_run = false;
            if second_writer_refused < 3 {
                let o = ingest_cmd(&lake, &trail).output().unwrap();
                if child.try_wait().unwrap().is_none() {
                    assert_eq!(o.status.code(), Some(2), "{}", text(&o.stderr));
                    assert!(
                        text(&o.stderr).contains("another trawl process is writing"),
                        "{}",
                        text(&o.stderr)
                    );
                    second_writer_refused += 1;
                }
            }
            kill(&mut child);
            kills += 1;
            check_between_runs(&lake);
        }
        // Whatever the kills left, one more run completes the lake exactly.
        run_to_end(&lake, &trail);
        stop.store(true, Ordering::Relaxed);
        let (seen, served) = observer.join().unwrap();
        served_total += served;
        let totals = trawl_testkit::committed_totals(&lake);
        for n in &seen {
            assert!(
                totals.contains(n),
                "a query saw {n} rows, which no commit had (commits: {totals:?})"
            );
        }
        assert_eq!(
            lake_ids(&lake),
            expected,
            "round {rounds}, after {kills} kills"
        );
        eprintln!(
            "round {rounds}: {} commits, {} queries during ingest ({served} through trawl serve), {kills} kills so far",
            totals.len() - 1,
            seen.len()
        );
    }
    assert!(second_writer_refused > 0, "no second writer was tried");
    assert!(served_total > 0, "no query went through trawl serve");
}

#[test]
fn a_crash_at_each_point_of_a_commit_loses_and_duplicates_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let trail = trail(dir.path(), 3_000);
    let expected = trail_ids(&trail);
    for point in [
        "lake::parquet-footer",
        "lake::data-file-placed",
        "lake::before-rename",
        "lake::before-commit",
        "lake::after-commit",
        "lake::manifests-written",
    ] {
        let lake = dir.path().join(point.replace("::", "-"));
        // Die the second time the point is reached: one commit may already be in.
        let o = ingest_cmd(&lake, &trail)
            .env("FAILPOINTS", format!("{point}=1*off->return"))
            .output()
            .unwrap();
        assert!(
            !o.status.success() && o.status.code().is_none(),
            "{point}: the run was not killed there ({:?}) {}",
            o.status,
            text(&o.stderr)
        );
        check_between_runs(&lake);
        run_to_end(&lake, &trail);
        assert_eq!(lake_ids(&lake), expected, "after a crash at {point}");
        check_between_runs(&lake);
        // The resumed run brought the symlink manifests (what other engines read) to the log.
        let o = trawl()
            .args(["verify", "--json", "--lake"])
            .arg(&lake)
            .output()
            .unwrap();
        let report: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
        assert_eq!(
            report["manifests"],
            serde_json::json!([]),
            "{point}: {report}"
        );
    }
}

fn compact(lake: &Path, extra: &[&str]) -> Output {
    trawl()
        .args(["compact", "--json", "--lake"])
        .arg(lake)
        .args(extra)
        .output()
        .unwrap()
}

#[test]
fn a_crash_at_each_point_of_a_compaction_loses_and_duplicates_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let trail = trail(dir.path(), 3_000);
    let expected = trail_ids(&trail);
    for point in ["lake::compact-before-commit", "lake::compact-after-commit"] {
        let lake = dir.path().join(point.replace("::", "-"));
        run_to_end(&lake, &trail);
        let o = trawl()
            .args(["compact", "--lake"])
            .arg(&lake)
            .env("FAILPOINTS", format!("{point}=return"))
            .output()
            .unwrap();
        assert!(
            o.status.code().is_none(),
            "{point}: not killed there ({:?}) {}",
            o.status,
            text(&o.stderr)
        );
        check_between_runs(&lake);
        assert_eq!(lake_ids(&lake), expected, "after a crash at {point}");
        // The next compaction removes what the crashed one left, or finds nothing to do.
        let o = compact(&lake, &["--retain", "0s"]);
        assert!(o.status.success(), "{}", text(&o.stderr));
        check_between_runs(&lake);
        assert_eq!(
            lake_ids(&lake),
            expected,
            "compacted after a crash at {point}"
        );
        let files = trawl_testkit::files(&lake.join("events"));
        assert!(
            files.iter().all(|f| f.contains("/compact-")) && files.len() <= 5,
            "{point}: one compacted file a day is left: {files:?}"
        );
    }
}

#[test]
fn ingest_with_compact_leaves_one_file_a_day() {
    let dir = tempfile::tempdir().unwrap();
    let trail = trail(dir.path(), 3_000);
    let lake = dir.path().join("lake");
    let o = ingest_cmd(&lake, &trail)
        .args(["--compact", "--json"])
        .stdout(Stdio::piped())
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", text(&o.stderr));
    let summary: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert!(summary["commits"].as_u64().unwrap() > 4, "{summary}");
    assert!(!summary["compact"]["version"].is_null(), "{summary}");
    assert_eq!(lake_ids(&lake), trail_ids(&trail));
    let o = trawl()
        .args(["verify", "--json", "--lake"])
        .arg(&lake)
        .output()
        .unwrap();
    let report: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(
        report["files_checked"], 4,
        "one file for each of the 4 days: {report}"
    );
    assert_eq!(report["problems"], serde_json::json!([]));
}

#[test]
fn compaction_beside_an_ingest_and_readers_keeps_every_answer_a_commit() {
    let dir = tempfile::tempdir().unwrap();
    let first = trail_seeded(dir.path(), "first", 7, 6_000);
    let second = trail_seeded(dir.path(), "second", 8, 6_000);
    let mut expected = trail_ids(&first);
    for (id, n) in trail_ids(&second) {
        *expected.entry(id).or_insert(0) += n;
    }
    let lake = dir.path().join("lake");
    run_to_end(&lake, &first);
    let stop = Arc::new(AtomicBool::new(false));
    let observer = reader(lake.clone(), stop.clone());
    let mut ingest = ingest_cmd(&lake, &second).spawn().unwrap();
    let mut compactions = Vec::new();
    while ingest.try_wait().unwrap().is_none() || compactions.len() < 2 {
        let o = compact(&lake, &[]);
        assert!(o.status.success(), "{}", text(&o.stderr));
        compactions.push(serde_json::from_slice::<serde_json::Value>(&o.stdout).unwrap());
    }
    let status = ingest.wait().unwrap();
    let err = {
        let mut e = String::new();
        ingest
            .stderr
            .take()
            .unwrap()
            .read_to_string(&mut e)
            .unwrap();
        e
    };
    assert!(status.success(), "the ingest beside compactions: {err}");
    stop.store(true, Ordering::Relaxed);
    let (seen, _) = observer.join().unwrap();
    let totals = trawl_testkit::committed_totals(&lake);
    for n in &seen {
        assert!(
            totals.contains(n),
            "a query saw {n} rows, which no commit had (commits: {totals:?})"
        );
    }
    let committed: Vec<&serde_json::Value> = compactions
        .iter()
        .filter(|c| !c["version"].is_null())
        .collect();
    assert!(
        !committed.is_empty(),
        "no compaction committed: {compactions:?}"
    );
    let o = compact(&lake, &["--retain", "0s"]);
    assert!(o.status.success(), "{}", text(&o.stderr));
    check_between_runs(&lake);
    assert_eq!(lake_ids(&lake), expected);
    eprintln!(
        "{} compactions ({} committed) beside the ingest; {} queries; {} commits",
        compactions.len(),
        committed.len(),
        seen.len(),
        totals.len() - 1
    );
}

#[test]
fn ctrl_c_commits_what_was_read_and_says_how_to_resume() {
    let dir = tempfile::tempdir().unwrap();
    let trail = trail(dir.path(), 12_000);
    let expected = trail_ids(&trail);
    let lake = dir.path().join("lake");
    let mut stopped = None;
    for attempt in 0..5 {
        let child = ingest_cmd(&lake, &trail).spawn().unwrap();
        std::thread::sleep(Duration::from_millis(300 + 200 * attempt));
        let status = Command::new("kill")
            .args(["-INT", &child.id().to_string()])
            .status()
            .unwrap();
        assert!(status.success());
        let o = child.wait_with_output().unwrap();
        if o.status.code() == Some(130) {
            stopped = Some(o);
            break;
        }
        assert_eq!(o.status.code(), Some(0), "{}", text(&o.stderr));
        std::fs::remove_dir_all(&lake).unwrap(); // finished first: try again, sooner
    }
    let o = stopped.expect("a run was stopped by SIGINT");
    let err = text(&o.stderr);
    assert!(err.contains("stopped by Ctrl-C"), "{err}");
    assert!(
        err.contains("run the same command again to resume"),
        "{err}"
    );
    check_between_runs(&lake);
    let before = lake_ids(&lake).values().sum::<usize>();
    assert!(
        before < expected.values().sum(),
        "the stop came after the end"
    );
    run_to_end(&lake, &trail);
    assert_eq!(lake_ids(&lake), expected);
}
