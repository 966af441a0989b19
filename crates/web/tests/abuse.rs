//! Clients that try to hold `trawl serve` down: slow heads (slowloris) and idle connections
//! are closed at the header timeout, oversize heads get 431 and bodies 413, a page past the
//! request timeout gets 503, a flood of connections waits its turn — and all the while a
//! well-behaved client keeps being answered.

#![allow(clippy::unwrap_used, reason = "a test's unwrap is its failure message")]

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

use trawl_lake::Lake;

mod common;
use common::serve;

fn lake(dir: &std::path::Path) -> Lake {
    let trail = dir.join("trail");
    let spec = trawl_gen::TrailSpec {
        seed: 3,
        events: 300,
        days: 2,
        ..trawl_gen::TrailSpec::default()
    };
    trawl_gen::write_trail(&trail, &spec).unwrap();
    let lake = Lake::create(dir.join("lake")).unwrap();
    trawl_testkit::ingest(&lake, &[trail]);
    lake
}

/// Sends `request` raw and reads the answer's status line (None if the server closed the
/// connection without one).
fn raw(addr: SocketAddr, request: &[u8]) -> Option<String> {
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    // The server may answer and close before the whole request is written.
    let _ = s.write_all(request);
    let mut text = Vec::new();
    let _ = s.read_to_end(&mut text);
    let text = String::from_utf8_lossy(&text).to_string();
    text.lines().next().map(str::to_string)
}

/// A well-behaved request answers 200 within `within`.
fn answers(addr: SocketAddr, within: Duration) {
    let start = Instant::now();
    let (status, _, body) = trawl_testkit::http_get(addr, "/api/dashboards/general-operations");
    assert_eq!(status, 200, "{body}");
    assert!(
        start.elapsed() < within,
        "a good client waited {:?}",
        start.elapsed()
    );
}

#[test]
fn slow_idle_and_flooding_connections_do_not_keep_others_out() {
    let dir = tempfile::tempdir().unwrap();
    let server = trawl_web::ServerLimits {
        header_timeout: Duration::from_secs(2),
        max_connections: 32,
        ..trawl_web::ServerLimits::default()
    };
    let addr = serve(lake(dir.path()), None, trawl_web::Limits::default(), server);
    answers(addr, Duration::from_secs(10));

    // 100 slowloris clients (three times the connection cap) trickle a head that never ends.
    let start = Instant::now();
    let slow: Vec<_> = (0..100)
        .map(|_| {
            std::thread::spawn(move || {
                let mut s = TcpStream::connect(addr).unwrap();
                let _ = s.write_all(b"GET /dashboards/general-operations HTTP/1.1\r\nHost: x\r\n");
                let opened = Instant::now();
                // One header byte every 100 ms until the server hangs up (or 30 s pass).
                while opened.elapsed() < Duration::from_secs(30) {
                    if s.write_all(b"X").is_err() {
                        break;
                    }
                    std::thread::sleep(Duration::from_millis(100));
                }
                opened.elapsed()
            })
        })
        .collect();
    // Plus 100 connections that send nothing at all.
    let idle: Vec<TcpStream> = (0..100)
        .map(|_| TcpStream::connect(addr).unwrap())
        .collect();
    std::thread::sleep(Duration::from_millis(300));
    // A good client is served while they hold on: it waits at most for a slot to free,
    // which the header timeout bounds.
    answers(addr, Duration::from_secs(12));
    for t in slow {
        let held = t.join().unwrap();
        assert!(
            held < Duration::from_secs(20),
            "a slowloris connection was held {held:?} (header timeout 2 s)"
        );
    }
    // The idle ones were closed by the server: a read ends (EOF) rather than blocking.
    for mut s in idle {
        s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
        let mut buf = [0u8; 64];
        let n = s.read(&mut buf);
        assert!(matches!(n, Ok(0)) || n.is_err_and(|e| e.kind() != std::io::ErrorKind::WouldBlock));
    }
    assert!(start.elapsed() < Duration::from_secs(40));
    answers(addr, Duration::from_secs(10));
}

#[test]
fn oversize_heads_and_bodies_are_refused_and_the_server_goes_on() {
    let dir = tempfile::tempdir().unwrap();
    let server = trawl_web::ServerLimits {
        max_head_bytes: 16 << 10,
        max_body_bytes: 1024,
        ..trawl_web::ServerLimits::default()
    };
    let addr = serve(lake(dir.path()), None, trawl_web::Limits::default(), server);

    // A query string over the head limit: 431.
    let long = format!(
        "GET /sql?q={} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
        "1".repeat(40_000)
    );
    let status = raw(addr, long.as_bytes()).unwrap();
    assert!(status.contains(" 431 "), "{status}");
    // Headers over the limit: 431.
    let headers: String = (0..400)
        .map(|i| format!("X-Pad-{i}: {}\r\n", "p".repeat(100)))
        .collect();
    let big = format!("GET / HTTP/1.1\r\nHost: x\r\n{headers}Connection: close\r\n\r\n");
    let status = raw(addr, big.as_bytes()).unwrap();
    assert!(status.contains(" 431 "), "{status}");
    // A body over the limit, and one of unknown length: 413, unread.
    let status = raw(
        addr,
        b"POST /sql HTTP/1.1\r\nHost: x\r\nContent-Length: 50000000\r\nConnection: close\r\n\r\nxx",
    )
    .unwrap();
    assert!(status.contains(" 413 "), "{status}");
    let status = raw(
        addr,
        b"GET /events HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n5\r\nhello\r\n",
    )
    .unwrap();
    assert!(status.contains(" 413 "), "{status}");
    // A head within the limit still works, and so does everything else.
    let (status, _, body) =
        trawl_testkit::http_get(addr, &format!("/sql.csv?q=SELECT%20{}", "1".repeat(8000)));
    assert_eq!(
        status, 400,
        "a number too long for a bigint is the statement's fault: {body}"
    );
    answers(addr, Duration::from_secs(10));
}

#[test]
fn a_page_past_the_request_timeout_is_answered_503_and_cancelled() {
    let dir = tempfile::tempdir().unwrap();
    let server = trawl_web::ServerLimits {
        request_timeout: Duration::from_secs(1),
        ..trawl_web::ServerLimits::default()
    };
    let limits = trawl_web::Limits {
        sql_timeout: Duration::from_secs(30),
        ..trawl_web::Limits::default()
    };
    let addr = serve(lake(dir.path()), None, limits, server);
    let start = Instant::now();
    let (status, _, body) = trawl_testkit::http_get(
        addr,
        "/sql?q=SELECT%20sum(value%20%25%207)%20FROM%20generate_series(1,%2020000000000)",
    );
    assert_eq!(status, 503, "{body}");
    assert!(body.contains("--request-timeout"), "{body}");
    assert!(
        start.elapsed() < Duration::from_secs(10),
        "{:?}",
        start.elapsed()
    );
    // The cancelled statement freed its console slot: the next ones run.
    for _ in 0..3 {
        let (status, _, body) = trawl_testkit::http_get(addr, "/sql.csv?q=SELECT%201");
        assert_eq!(status, 200, "{body}");
    }
}
