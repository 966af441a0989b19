//! What trawl's test crates share (a dev-dependency only): the fixture trails and lakes
//! built from them, the `trawl` binary run as a user runs it, an S3 endpoint on loopback,
//! and golden files (snapshots with the run's temporary paths and timings filtered, and the
//! generated blocks of `docs/`).
//!
//! ```
//! let forms = trawl_testkit::fixtures().join("forms");
//! assert!(forms.is_dir());
//! ```

// Test helpers panic with a message naming what failed: that is the test's failure.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use trawl_lake::{IngestOptions, IngestSummary, Lake};

/// The repository root: two levels above the crate whose tests run (cargo sets
/// `CARGO_MANIFEST_DIR` when it runs them; read at run time, so a test kit built in another
/// checkout sharing the target directory still points at this one).
pub fn repo() -> PathBuf {
    let root = manifest_dir().join("../..");
    std::fs::canonicalize(&root).unwrap_or(root)
}

/// The directory of the crate whose test is running (`CARGO_MANIFEST_DIR` read at run time,
/// as cargo sets it for tests; the test kit's own at build time otherwise).
pub fn manifest_dir() -> PathBuf {
    std::env::var_os("CARGO_MANIFEST_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")))
}

/// `fixtures/`: the project's own trails (forms, odd records, sessions...).
pub fn fixtures() -> PathBuf {
    repo().join("fixtures")
}

/// Ingests the files and trees at `paths` into `lake` as `trawl ingest` does (the listing
/// consumed as the run goes), with `opts`.
pub fn ingest_with(lake: &Lake, paths: &[PathBuf], opts: IngestOptions) -> IngestSummary {
    let listing =
        trawl_ingest::walk_local(paths, None).unwrap_or_else(|e| panic!("listing {paths:?}: {e}"));
    lake.ingest(listing)
        .options(opts)
        .run()
        .unwrap_or_else(|e| panic!("ingesting {paths:?}: {e}"))
}

/// [`ingest_with`] the default options.
pub fn ingest(lake: &Lake, paths: &[PathBuf]) -> IngestSummary {
    ingest_with(lake, paths, IngestOptions::default())
}

/// A new lake at `dir/lake` holding the fixture trails `names` (folders of `fixtures/`).
pub fn fixture_lake(dir: &Path, names: &[&str]) -> Lake {
    let lake = Lake::create(dir.join("lake")).unwrap();
    let paths: Vec<PathBuf> = names.iter().map(|n| fixtures().join(n)).collect();
    ingest(&lake, &paths);
    lake
}

/// A seeded synthetic trail of `events` events over `days` days, written under `dir`.
pub fn trail(dir: &Path, seed: u64, events: usize, days: u32) -> PathBuf {
    let spec = trawl_gen::TrailSpec {
        seed,
        events,
        days,
        ..trawl_gen::TrailSpec::default()
    };
    trawl_gen::write_trail(dir, &spec).unwrap();
    dir.to_path_buf()
}

/// The `trawl` binary at `bin` (a test passes `env!("CARGO_BIN_EXE_trawl")`) as a user runs
/// it: no lake from the environment, no crash points, no colour.
pub fn trawl(bin: &str) -> Command {
    let mut cmd = Command::new(bin);
    cmd.env_remove("TRAWL_LAKE")
        .env_remove("TRAWL_GEOIP")
        .env_remove("FAILPOINTS")
        .env("NO_COLOR", "1");
    cmd
}

/// [`trawl`] as a client of the test S3 endpoint ([`s3`]): its keys, a region, and nothing
/// from the machine's AWS configuration (profiles, endpoints, instance metadata).
pub fn trawl_s3_client(bin: &str) -> Command {
    let mut cmd = trawl(bin);
    cmd.env_remove("AWS_PROFILE")
        .env_remove("AWS_ENDPOINT_URL")
        .env_remove("AWS_ENDPOINT_URL_S3")
        .env_remove("AWS_ENDPOINT_URL_CLOUDTRAIL")
        .env("AWS_ACCESS_KEY_ID", trawl_s3_fake::ACCESS_KEY)
        .env("AWS_SECRET_ACCESS_KEY", trawl_s3_fake::SECRET_KEY)
        .env("AWS_REGION", "us-east-1")
        .env("AWS_CONFIG_FILE", "/dev/null")
        .env("AWS_SHARED_CREDENTIALS_FILE", "/dev/null")
        .env("AWS_EC2_METADATA_DISABLED", "true");
    cmd
}

/// Runs [`trawl`] with `args` to its end.
pub fn run(bin: &str, args: &[&str]) -> Output {
    trawl(bin).args(args).output().expect("trawl runs")
}

/// Runs `cmd` to its end: its output, and its peak resident memory in bytes, read from the
/// kernel's high-water mark (`VmHWM` in `/proc/PID/status`) every few milliseconds until it
/// exits. (`getrusage` would not do: a child's count starts from its parent's peak.)
pub fn run_measured(cmd: &mut Command) -> (Output, u64) {
    use std::io::Read;
    let mut child = cmd
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("the command starts");
    let drain = |mut r: Box<dyn Read + Send>| {
        std::thread::spawn(move || {
            let mut v = Vec::new();
            r.read_to_end(&mut v).expect("pipe reads");
            v
        })
    };
    let out = drain(Box::new(child.stdout.take().expect("piped")));
    let err = drain(Box::new(child.stderr.take().expect("piped")));
    let status_file = format!("/proc/{}/status", child.id());
    let mut peak = 0u64;
    let status = loop {
        if let Ok(text) = std::fs::read_to_string(&status_file)
            && let Some(kib) = text
                .lines()
                .find_map(|l| l.strip_prefix("VmHWM:"))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        {
            peak = peak.max(kib * 1024);
        }
        if let Some(status) = child.try_wait().expect("the child is waited for") {
            break status;
        }
        std::thread::sleep(std::time::Duration::from_millis(5));
    };
    let output = Output {
        status,
        stdout: out.join().expect("stdout"),
        stderr: err.join().expect("stderr"),
    };
    (output, peak)
}

pub fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

pub fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// A plain HTTP/1.1 GET of `path` from a server on `addr`: (status, head, body).
pub fn http_get(addr: std::net::SocketAddr, path: &str) -> (u16, String, String) {
    use std::io::{Read, Write};
    let mut s = std::net::TcpStream::connect(addr).unwrap();
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut text = String::new();
    s.read_to_string(&mut text).unwrap();
    let (head, body) = text.split_once("\r\n\r\n").unwrap();
    let status = head.split(' ').nth(1).unwrap().parse().unwrap();
    (status, head.to_string(), body.to_string())
}

/// An S3 endpoint on loopback storing its buckets under `root`.
pub fn s3(root: &Path, faults: trawl_s3_fake::Faults) -> trawl_s3_fake::FakeS3 {
    trawl_s3_fake::FakeS3::start(root, 0, faults).unwrap()
}

/// Uploads every file under `dir` to `s3://bucket/prefix/<its path under dir>`; returns the
/// keys, sorted.
pub fn upload(s3: &trawl_s3_fake::FakeS3, bucket: &str, prefix: &str, dir: &Path) -> Vec<String> {
    let mut keys = Vec::new();
    for rel in files(dir) {
        let key = if prefix.is_empty() {
            rel.clone()
        } else {
            format!("{}/{rel}", prefix.trim_end_matches('/'))
        };
        s3.put(bucket, &key, &std::fs::read(dir.join(&rel)).unwrap())
            .unwrap();
        keys.push(key);
    }
    keys
}

/// The files under `dir`, as `/`-separated paths relative to it, sorted.
pub fn files(dir: &Path) -> Vec<String> {
    let mut out: Vec<String> = walkdir::WalkDir::new(dir)
        .into_iter()
        .map(|e| e.unwrap())
        .filter(|e| e.file_type().is_file())
        .map(|e| {
            e.path()
                .strip_prefix(dir)
                .unwrap()
                .components()
                .map(|c| c.as_os_str().to_string_lossy().into_owned())
                .collect::<Vec<_>>()
                .join("/")
        })
        .collect();
    out.sort();
    out
}

/// Snapshot settings for output that names `tmp` (a test's temporary directory) and says
/// how long things took: the directory becomes `[TMP]`, seconds and rates become `[SECS]`
/// and `[RATE]`, so the snapshot holds only what the run must always say.
pub fn snapshot_settings(tmp: &Path) -> insta::Settings {
    let mut s = insta::Settings::clone_current();
    s.set_prepend_module_to_snapshot(false);
    let tmp = tmp.display().to_string();
    let canonical = std::fs::canonicalize(&tmp)
        .map(|p| p.display().to_string())
        .unwrap_or_else(|_| tmp.clone());
    for t in [canonical, tmp] {
        s.add_filter(&regex_escape(&t), "[TMP]");
    }
    s.add_filter(
        &regex_escape(&fixtures().display().to_string()),
        "[FIXTURES]",
    );
    s.add_filter(
        r#""(seconds|manifest_seconds)":\s*[0-9.e+-]+"#,
        r#""$1":"[SECS]""#,
    );
    s.add_filter(
        r#""(events_per_second|json_mb_per_second)":\s*[0-9.e+-]+"#,
        r#""$1":"[RATE]""#,
    );
    s.add_filter(r"\b\d+(\.\d+)? s\b", "[SECS] s");
    s.add_filter(r"\b\d+(\.\d+)? (events/s|MB/s)", "[RATE] $2");
    s
}

fn regex_escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        if "\\.+*?()|[]{}^$".contains(c) {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

/// Checks that the block `name` of `docs/<doc>` equals `content`; with `TRAWL_UPDATE_DOCS`
/// set, rewrites it instead. `regenerate` is the command the marker and the failure name.
pub fn generated_block(doc: &str, name: &str, regenerate: &str, content: &str) {
    let begin =
        format!("<!-- {name}:begin (generated by `TRAWL_UPDATE_DOCS=1 {regenerate}`) -->\n");
    let end_marker = format!("<!-- {name}:end -->");
    let path = repo().join("docs").join(doc);
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let start = text
        .find(&begin)
        .unwrap_or_else(|| panic!("{doc}: no {begin}"))
        + begin.len();
    let end = text
        .find(&end_marker)
        .unwrap_or_else(|| panic!("{doc}: no {end_marker}"));
    if std::env::var_os("TRAWL_UPDATE_DOCS").is_some() {
        std::fs::write(
            &path,
            format!("{}{content}{}", &text[..start], &text[end..]),
        )
        .unwrap();
        return;
    }
    assert_eq!(
        &text[start..end],
        content,
        "docs/{doc} is stale: run TRAWL_UPDATE_DOCS=1 {regenerate}"
    );
}

/// The DuckDB type of one CloudTrail record, from trawl's schema (JSON members as JSON, booleans
/// as the text Athena shows), for the differential tests that read the raw trail with DuckDB.
pub fn duckdb_record_type() -> String {
    fn of(fields: &[trawl_schema::Field]) -> String {
        use trawl_schema::Kind;
        let members: Vec<String> = fields
            .iter()
            .map(|f| {
                let ty = match f.kind {
                    Kind::Str | Kind::Time | Kind::Bool => "VARCHAR".to_string(),
                    Kind::Json => "JSON".to_string(),
                    Kind::StrMap => "MAP(VARCHAR, VARCHAR)".to_string(),
                    Kind::Resources => {
                        "STRUCT(\"ARN\" VARCHAR, \"accountId\" VARCHAR, \"type\" VARCHAR)[]"
                            .to_string()
                    }
                    Kind::Object(children) => of(children),
                };
                format!("\"{}\" {ty}", f.key)
            })
            .collect();
        format!("STRUCT({})", members.join(", "))
    }
    of(trawl_schema::FIELDS)
}

/// Whether `python3` can import `duckdb` (the differential tests' peer). With `CI` set, its
/// absence fails the test instead of skipping it.
pub fn duckdb_available() -> bool {
    let ok = Command::new("python3")
        .args(["-c", "import duckdb"])
        .status()
        .is_ok_and(|s| s.success());
    if !ok && std::env::var_os("CI").is_some() {
        panic!("python3 with duckdb is needed for the differential tests: pip install duckdb");
    }
    ok
}

/// Runs the Python script `script` with `args` (a differential test's DuckDB peer) and returns
/// its stdout; a failure shows the script's stderr.
pub fn run_peer(script: &Path, args: &[&std::ffi::OsStr]) -> String {
    let out = Command::new("python3")
        .arg(script)
        .args(args)
        .output()
        .expect("python3 runs");
    assert!(
        out.status.success(),
        "{} failed: {}",
        script.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).expect("the peer prints UTF-8")
}

/// Runs `then` once, the first time a writer passes the crash point `name` (the `fail` crate's
/// callback; process-wide, so a test binary that sets one runs alone): the flag says whether it
/// ran.
pub fn once_at(
    name: &str,
    then: impl Fn() + Send + Sync + 'static,
) -> std::sync::Arc<std::sync::atomic::AtomicBool> {
    use std::sync::atomic::{AtomicBool, Ordering};
    let fired = std::sync::Arc::new(AtomicBool::new(false));
    let flag = std::sync::Arc::clone(&fired);
    fail::cfg_callback(name, move || {
        if !flag.swap(true, Ordering::SeqCst) {
            then();
        }
    })
    .expect("a valid crash point name");
    fired
}

/// Rows visible after each committed version: 0, then the rows of the files live after each
/// entry of the log (a compaction's entry removes files and adds their rows again). `lake` is
/// a lake's directory or a mirror of a lake in object storage (which holds its log).
pub fn committed_totals(lake: &Path) -> Vec<u64> {
    let dir = lake.join("_trawl/log");
    let mut entries: Vec<PathBuf> = std::fs::read_dir(&dir)
        .map(|d| d.map(|e| e.unwrap().path()).collect())
        .unwrap_or_default();
    entries.retain(|p| {
        p.extension().is_some_and(|x| x == "json")
            && !p.file_name().unwrap().to_string_lossy().starts_with('.')
    });
    entries.sort();
    let mut live: std::collections::BTreeMap<String, u64> = Default::default();
    let mut totals = vec![0];
    for p in entries {
        let entry: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(&p).unwrap()).unwrap();
        for gone in entry["remove"].as_array().into_iter().flatten() {
            assert!(live.remove(gone.as_str().unwrap()).is_some(), "{gone}");
        }
        for f in entry["add"].as_array().unwrap() {
            live.insert(
                f["path"].as_str().unwrap().to_string(),
                f["rows"].as_u64().unwrap(),
            );
        }
        totals.push(live.values().sum());
    }
    totals
}
