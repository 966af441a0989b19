//! The drill-down: several filters at once, every parameter checked (a 400 that says what was
//! expected), pages that reach every event of a large drill exactly once, and the exports.

#![allow(clippy::unwrap_used, reason = "a test's unwrap is its failure message")]

use std::collections::HashSet;
use std::net::SocketAddr;

use trawl_lake::Lake;

mod common;

fn get(addr: SocketAddr, path: &str) -> (u16, String) {
    let (status, _, body) = trawl_testkit::http_get(addr, path);
    (status, body)
}

/// A lake of `events` generated events in one account and region, served.
fn served(events: usize) -> (SocketAddr, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let lake = Lake::create(dir.path().join("lake")).unwrap();
    let trail = dir.path().join("trail");
    let spec = trawl_gen::TrailSpec {
        seed: 7,
        events,
        days: 3,
        accounts: vec!["111122223333".into()],
        regions: vec!["eu-west-1".into(), "us-east-1".into()],
        ..trawl_gen::TrailSpec::default()
    };
    trawl_gen::write_trail(&trail, &spec).unwrap();
    trawl_testkit::ingest(&lake, &[trail]);
    let addr = common::serve(
        lake,
        None,
        trawl_web::Limits::default(),
        trawl_web::ServerLimits::default(),
    );
    (addr, dir)
}

/// One number from the console's CSV.
fn number(addr: SocketAddr, sql: &str) -> u64 {
    let (status, body) = get(
        addr,
        &format!("/sql.csv?q={}", trawl_report::html::url_encode(sql)),
    );
    assert_eq!(status, 200, "{body}");
    body.lines().nth(1).unwrap().parse().unwrap()
}

/// The event ids a drill-down page lists, and its link to the next page.
fn page(addr: SocketAddr, path: &str) -> (Vec<String>, Option<String>) {
    let (status, body) = get(addr, path);
    assert_eq!(status, 200, "{path}: {body}");
    let ids = body
        .split("href=\"/events/")
        .skip(1)
        .map(|s| s.split('"').next().unwrap().to_string())
        .collect();
    let next = body
        .split("id=\"next\" href=\"")
        .nth(1)
        .map(|s| s.split('"').next().unwrap().replace("&amp;", "&"));
    (ids, next)
}

#[test]
fn a_drill_of_ten_thousand_events_pages_through_every_one_and_exports_them() {
    let (addr, _dir) = served(21_000);
    let expected = number(
        addr,
        "SELECT count(*) FROM cloudtrail_logs WHERE recipientaccountid = '111122223333' AND awsregion = 'eu-west-1'",
    );
    let distinct = number(
        addr,
        "SELECT count(DISTINCT eventid) FROM cloudtrail_logs WHERE recipientaccountid = '111122223333' AND awsregion = 'eu-west-1'",
    );
    assert!(expected >= 10_000, "{expected}");
    let mut seen = Vec::new();
    let mut next = Some("/events?account=111122223333&region=eu-west-1".to_string());
    let mut pages = 0;
    while let Some(path) = next {
        let (ids, more) = page(addr, &path);
        assert!(ids.len() <= 500);
        seen.extend(ids);
        next = more;
        pages += 1;
        assert!(pages < 100, "paging does not end");
    }
    assert_eq!(seen.len() as u64, expected, "every event listed once");
    assert_eq!(seen.iter().collect::<HashSet<_>>().len() as u64, distinct);
    // The exports hold the whole list, not a page.
    let (status, csv) = get(addr, "/events.csv?account=111122223333&region=eu-west-1");
    assert_eq!(status, 200);
    assert_eq!(
        csv.lines().count() as u64,
        expected + 1,
        "a header and every event"
    );
    assert!(csv.starts_with("eventtime,eventname,"));
    let (status, jsonl) = get(addr, "/events.jsonl?region=eu-west-1&account=111122223333");
    assert_eq!(status, 200);
    assert_eq!(jsonl.lines().count() as u64, expected);
    let first: serde_json::Value = serde_json::from_str(jsonl.lines().next().unwrap()).unwrap();
    assert_eq!(first["awsregion"], "eu-west-1");
}

#[test]
fn filters_combine_and_every_parameter_is_checked() {
    let (addr, _dir) = served(2_000);
    // Two filters: both hold on the dashboard, whose total is the console's count.
    let expected = number(
        addr,
        "SELECT count(*) FROM cloudtrail_logs WHERE awsregion = 'us-east-1' AND eventname = 'ConsoleLogin'",
    );
    let (status, body) = get(
        addr,
        "/api/dashboards/general-operations?region=us-east-1&eventname=ConsoleLogin",
    );
    assert_eq!(status, 200, "{body}");
    let v: serde_json::Value = serde_json::from_str(&body).unwrap();
    let top = &v["dashboards"][0]["tiles"][0]["rows"];
    assert_eq!(top.as_array().unwrap().len(), 1, "{top}");
    assert_eq!(top[0][1].as_u64().unwrap(), expected);
    // The page's form shows the filters it applies.
    let (status, body) = get(
        addr,
        "/dashboards/general-operations?region=us-east-1&eventname=ConsoleLogin",
    );
    assert_eq!(status, 200);
    assert!(
        body.contains("name=\"region\" size=\"12\" placeholder=\"us-east-1\" value=\"us-east-1\"")
    );
    assert!(
        body.contains("where eventname = ConsoleLogin and region = us-east-1"),
        "{body}"
    );
    // Every listed cell narrows the drill: a resource (an object's ARN here) lists the
    // events on it, the first filter kept.
    let (status, body) = get(addr, "/events?eventname=GetObject&all=1");
    assert_eq!(status, 400, "all= is a dashboard's parameter: {body}");
    let (status, body) = get(addr, "/events?eventname=GetObject");
    assert_eq!(status, 200, "{body}");
    let html = body.replace("&amp;", "&");
    let link = html
        .split("href=\"")
        .skip(1)
        .map(|s| s.split('"').next().unwrap())
        .find(|l| l.contains("resource="))
        .expect("resource links")
        .to_string();
    let (status, narrowed) = get(addr, &link);
    assert_eq!(status, 200, "{narrowed}");
    assert!(
        narrowed.contains("Events where eventname = GetObject and resource = arn:aws:s3:::"),
        "{narrowed}"
    );
    assert!(narrowed.matches("href=\"/events/").count() > 0);
    // Unknown parameters and filter columns, bad pages, drills without a filter: 400s that
    // say what was expected.
    for (path, says) in [
        (
            "/dashboards/general-operations?bucket=x",
            "\"bucket\" is not a filter column",
        ),
        (
            "/api/dashboards/error-overview?col=nope&value=1",
            "\"nope\" is not a filter column",
        ),
        (
            "/events?eventname=ConsoleLogin&page=-1",
            "a page number from 0",
        ),
        ("/events?since=2024-03-01", "a drill-down needs a filter"),
        (
            "/events.csv?colour=red",
            "\"colour\" is not a filter column",
        ),
        (
            "/dashboards/error-overview?tz=Mars/Olympus",
            "unknown time zone \"Mars/Olympus\"",
        ),
    ] {
        let (status, body) = get(addr, path);
        assert_eq!(status, 400, "{path}: {body}");
        let text = body.replace("&quot;", "\"");
        assert!(text.contains(says), "{path}: {body}");
    }
}
