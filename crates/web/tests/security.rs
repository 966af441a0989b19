//! What `trawl serve` exposes: the console cannot change the lake or read other files, a
//! statement is cancelled at the time limit and cut at the row limit, no URL reaches a file
//! outside the app, and each request sees the latest commit (never half of one).

#![allow(clippy::unwrap_used, reason = "a test's unwrap is its failure message")]

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use trawl_lake::Lake;

mod common;

fn get(addr: SocketAddr, path: &str) -> (u16, String) {
    let (status, _, body) = trawl_testkit::http_get(addr, path);
    (status, body)
}

fn url_encode(s: &str) -> String {
    trawl_report::html::url_encode(s)
}

fn ingest(lake: &Lake, dir: &Path, seed: u64, events: usize) {
    let trail = dir.join(format!("trail-{seed}"));
    let spec = trawl_gen::TrailSpec {
        seed,
        events,
        days: 2,
        ..trawl_gen::TrailSpec::default()
    };
    trawl_gen::write_trail(&trail, &spec).unwrap();
    trawl_testkit::ingest(lake, &[trail]);
}

fn serve(lake: Lake, limits: trawl_web::Limits) -> SocketAddr {
    common::serve(lake, None, limits, trawl_web::ServerLimits::default())
}

fn count(addr: SocketAddr) -> u64 {
    let (status, body) = get(
        addr,
        &format!(
            "/sql.csv?q={}",
            url_encode("SELECT count(*) AS n FROM cloudtrail_logs")
        ),
    );
    assert_eq!(status, 200, "{body}");
    body.lines().nth(1).unwrap().parse().unwrap()
}

#[test]
fn the_console_changes_nothing_and_reads_no_other_file() {
    let dir = tempfile::tempdir().unwrap();
    let lake = Lake::create(dir.path().join("lake")).unwrap();
    ingest(&lake, dir.path(), 1, 300);
    let before: Vec<PathBuf> = walk(&dir.path().join("lake"));
    let addr = serve(lake.clone(), trawl_web::Limits::default());
    let secret = dir.path().join("secret.csv");
    std::fs::write(&secret, "password\nhunter2\n").unwrap();
    let out = dir.path().join("copied.csv");
    let out = out.display();
    let secret = secret.display();
    let writes = [
        "INSERT INTO cloudtrail_events SELECT * FROM cloudtrail_events".to_string(),
        "CREATE TABLE t AS SELECT 1 AS x".into(),
        "DROP TABLE cloudtrail_logs".into(),
        "DROP VIEW cloudtrail_logs".into(),
        format!("COPY (SELECT 1) TO '{out}'"),
        format!("COPY cloudtrail_events TO '{out}' STORED AS CSV"),
        "SET datafusion.execution.batch_size = 1".into(),
        format!("CREATE EXTERNAL TABLE s (password STRING) STORED AS CSV LOCATION '{secret}'"),
        "CREATE EXTERNAL TABLE c (eventversion string) ROW FORMAT SERDE \
         'com.amazon.emr.hive.serde.CloudTrailSerde' LOCATION 's3://bucket/AWSLogs/'"
            .into(),
        "MSCK REPAIR TABLE cloudtrail_logs".into(),
        "SELECT 1; DROP TABLE cloudtrail_logs".into(),
        "EXPLAIN ANALYZE INSERT INTO cloudtrail_events SELECT * FROM cloudtrail_events".into(),
    ];
    for sql in &writes {
        for path in ["/sql", "/sql.csv"] {
            let (status, body) = get(addr, &format!("{path}?q={}", url_encode(sql)));
            assert_eq!(status, 403, "{path} {sql}: {body}");
            assert!(body.contains("read-only"), "{sql}: {body}");
        }
    }
    // Reading files by name: no URL tables, no file-reading table functions.
    for sql in [
        format!("SELECT * FROM '{secret}'"),
        format!("SELECT * FROM read_csv('{secret}')"),
        format!("SELECT * FROM read_parquet('{secret}')"),
        "SELECT * FROM '/etc/passwd'".to_string(),
    ] {
        let (status, body) = get(addr, &format!("/sql.csv?q={}", url_encode(&sql)));
        assert_ne!(status, 200, "{sql}: {body}");
        assert!(
            !body.contains("hunter2") && !body.contains("root:"),
            "{sql}: {body}"
        );
    }
    // The engine itself refuses, whatever the web layer lets through.
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let engine = trawl_query::QueryEngine::open(&lake).await.unwrap();
        for sql in &writes {
            let result = engine.run_read_only(sql, 10).await;
            assert!(result.is_err(), "{sql} ran");
        }
    });
    assert!(!dir.path().join("copied.csv").exists());
    assert_eq!(walk(&dir.path().join("lake")), before, "the lake changed");
    assert_eq!(count(addr), 300);
}

#[test]
fn statements_stop_at_the_time_and_row_limits() {
    let dir = tempfile::tempdir().unwrap();
    let lake = Lake::create(dir.path().join("lake")).unwrap();
    ingest(&lake, dir.path(), 2, 200);
    let addr = serve(
        lake,
        trawl_web::Limits {
            sql_timeout: Duration::from_secs(1),
            max_rows: 50,
            ..trawl_web::Limits::default()
        },
    );
    let started = std::time::Instant::now();
    let slow = "SELECT sum(value % 7) FROM range(100000000000)";
    let (status, body) = get(addr, &format!("/sql?q={}", url_encode(slow)));
    assert_eq!(status, 400, "{body}");
    assert!(body.contains("cancelled after 1 s"), "{body}");
    assert!(started.elapsed() < Duration::from_secs(20));

    let (status, csv) = get(
        addr,
        &format!("/sql.csv?q={}", url_encode("SELECT value FROM range(1000)")),
    );
    assert_eq!(status, 200);
    assert_eq!(csv.lines().count(), 51, "header and 50 rows");
    let (status, page) = get(
        addr,
        &format!(
            "/sql?q={}",
            url_encode("SELECT eventid FROM cloudtrail_logs")
        ),
    );
    assert_eq!(status, 200);
    assert!(page.contains("more than 50 rows"), "{page}");
    // Under the limit, nothing is cut.
    let (_, csv) = get(
        addr,
        &format!("/sql.csv?q={}", url_encode("SELECT value FROM range(50)")),
    );
    assert_eq!(csv.lines().count(), 51);
}

#[test]
fn no_url_reaches_a_file() {
    let dir = tempfile::tempdir().unwrap();
    let lake = Lake::create(dir.path().join("lake")).unwrap();
    ingest(&lake, dir.path(), 3, 50);
    let addr = serve(lake, trawl_web::Limits::default());
    let lake_file = "lake/_trawl/lake.json";
    for path in [
        "/../../../../../../etc/passwd".to_string(),
        "/%2e%2e/%2e%2e/%2e%2e/etc/passwd".into(),
        "/dashboards/..%2F..%2F..%2F..%2Fetc%2Fpasswd".into(),
        "/events/..%2F..%2F..%2F..%2Fetc%2Fpasswd".into(),
        "/static/../../../../etc/passwd".into(),
        "/api/dashboards/..%2f..%2f_trawl%2flake.json".into(),
        format!("/{lake_file}"),
        format!("/{}", dir.path().join(lake_file).display()),
        "/etc/passwd".into(),
    ] {
        let (status, body) = get(addr, &path);
        assert!(status == 404 || status == 400, "{path}: {status}");
        assert!(
            !body.contains("root:") && !body.contains("trawl-lake"),
            "{path}: {body}"
        );
    }
}

#[test]
fn each_request_sees_the_latest_commit() {
    let dir = tempfile::tempdir().unwrap();
    let lake = Lake::create(dir.path().join("lake")).unwrap();
    ingest(&lake, dir.path(), 4, 120);
    let addr = serve(lake.clone(), trawl_web::Limits::default());
    assert_eq!(count(addr), 120);
    ingest(&lake, dir.path(), 5, 80);
    assert_eq!(count(addr), 200);
}

fn walk(root: &Path) -> Vec<PathBuf> {
    let mut out: Vec<PathBuf> = walkdir::WalkDir::new(root)
        .into_iter()
        .map(|e| e.unwrap().path().to_path_buf())
        .collect();
    out.sort();
    out
}

#[test]
fn a_bad_time_is_a_400_that_says_what_it_expected() {
    let dir = tempfile::tempdir().unwrap();
    let lake = Lake::create(dir.path().join("lake")).unwrap();
    ingest(&lake, dir.path(), 6, 40);
    let addr = serve(lake, trawl_web::Limits::default());
    let expected = "neither an RFC 3339 time (2024-03-01T12:00:00Z) nor a date (2024-03-01)";
    for path in [
        "/dashboards/general-operations?since=yesterday",
        "/api/dashboards/error-overview?until=2024-13-01",
        "/events?eventname=ConsoleLogin&since=last%20week",
    ] {
        let (status, body) = get(addr, path);
        assert_eq!(status, 400, "{path}: {body}");
        assert!(body.contains(expected), "{path}: {body}");
    }
    // An end before the start, too; an empty field is an open end.
    let (status, body) = get(
        addr,
        "/api/dashboards/error-overview?since=2024-03-02&until=2024-03-01",
    );
    assert_eq!(status, 400, "{body}");
    assert!(body.contains("is not before the end"), "{body}");
    let (status, _) = get(addr, "/api/dashboards/error-overview?since=&until=");
    assert_eq!(status, 200);
    // A time with an offset is read as the instant it names.
    let (status, body) = get(
        addr,
        "/api/dashboards/error-overview?since=2024-03-01T01:00:00%2B01:00",
    );
    assert_eq!(status, 200, "{body}");
    assert!(
        body.contains("eventtime >= '2024-03-01T00:00:00Z'"),
        "{body}"
    );
}

#[test]
fn the_console_has_its_own_memory_and_slots_so_the_dashboards_keep_answering() {
    let dir = tempfile::tempdir().unwrap();
    let lake = Lake::create(dir.path().join("lake")).unwrap();
    ingest(&lake, dir.path(), 7, 200);
    let addr = serve(
        lake,
        trawl_web::Limits {
            sql_timeout: Duration::from_secs(4),
            console_memory: Some(1 << 20),
            console_concurrency: 1,
            console_wait: Duration::from_millis(300),
            ..trawl_web::Limits::default()
        },
    );
    // Over the console's 1 MiB: refused with the limit named; the dashboards still answer.
    let heavy = "SELECT array_agg(a.requestparameters || b.requestparameters) \
                 FROM cloudtrail_logs a CROSS JOIN cloudtrail_logs b";
    let (status, body) = get(addr, &format!("/sql?q={}", url_encode(heavy)));
    assert_eq!(status, 400, "{body}");
    assert!(body.contains("the limit is 1.0 MiB"), "{body}");
    let (status, body) = get(addr, "/api/dashboards/general-operations");
    assert_eq!(status, 200, "{body}");
    // One slot: while a long statement holds it, another waits 300 ms for it, then is
    // told to try again (503).
    let long = "SELECT sum(value % 7) FROM generate_series(1, 20000000000)";
    let path = format!("/sql?q={}", url_encode(long));
    let holder = std::thread::spawn(move || get(addr, &path));
    // Let it take the slot first (it holds it for the 4 s timeout).
    std::thread::sleep(Duration::from_millis(1000));
    let started = std::time::Instant::now();
    let mut refused = None;
    while started.elapsed() < Duration::from_secs(2) {
        let (status, body) = get(addr, "/sql.csv?q=SELECT%201");
        if status == 503 {
            refused = Some(body);
            break;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let Some(refused) = refused else {
        let (status, body) = holder.join().unwrap();
        panic!("a second statement is refused while the first runs; the first: {status} {body}");
    };
    assert!(refused.contains("--sql-concurrency"), "{refused}");
    let (status, body) = holder.join().unwrap();
    assert_eq!(status, 400, "the long one ends at the timeout: {body}");
    // The slot is free again.
    let (status, body) = get(addr, "/sql.csv?q=SELECT%201");
    assert_eq!(status, 200, "{body}");
}
