//! The "Detections" page: the rules `trawl serve --rules` was given, counted over the page's
//! range, each hit linking to its event; a plain word when no rules were given.

#![allow(clippy::unwrap_used, reason = "a test's unwrap is its failure message")]

use std::net::SocketAddr;

use trawl_lake::Lake;

mod common;

fn get(addr: SocketAddr, path: &str) -> (u16, String) {
    let (status, _, body) = trawl_testkit::http_get(addr, path);
    (status, body)
}

fn rule(dir: &std::path::Path, file: &str, title: &str, level: &str, name: &str) {
    std::fs::write(
        dir.join(file),
        format!(
            "title: {title}\nid: 22222222-0000-4000-8000-{:012}\nauthor: trawl tests\nlevel: {level}\n\
             logsource:\n    product: aws\n    service: cloudtrail\n\
             detection:\n    selection:\n        eventName: {name}\n    condition: selection\n",
            file.len()
        ),
    )
    .unwrap();
}

#[test]
fn the_detections_page_lists_each_rules_hits_over_the_range() {
    let dir = tempfile::tempdir().unwrap();
    let trail = dir.path().join("trail");
    // A quiet week, and the intrusion story on its fourth day.
    let spec = trawl_gen::TrailSpec {
        events: 2000,
        days: 7,
        benign: true,
        ..Default::default()
    };
    trawl_gen::write_trail(&trail, &spec).unwrap();
    let start = spec.start + chrono::Duration::days(3);
    trawl_gen::story::write_intrusion(&trail, start, &spec.accounts[0]).unwrap();
    let lake = Lake::create(dir.path().join("lake")).unwrap();
    trawl_testkit::ingest(&lake, &[trail]);
    let rules = dir.path().join("rules");
    std::fs::create_dir_all(&rules).unwrap();
    rule(&rules, "stop.yml", "Trail stopped", "high", "StopLogging");
    rule(
        &rules,
        "share.yml",
        "Snapshot shared",
        "medium",
        "ModifySnapshotAttribute",
    );
    rule(&rules, "reads.yml", "Objects read", "low", "GetObject");
    let set = trawl_detections::load(&[rules]).unwrap();
    let addr = common::serve_with_rules(
        lake.clone(),
        None,
        trawl_web::Limits::default(),
        trawl_web::ServerLimits::default(),
        Some(set),
    );
    let (status, body) = get(addr, "/detections");
    assert_eq!(status, 200, "{body}");
    let reads = get(
        addr,
        "/sql.csv?q=SELECT%20count(*)%20FROM%20cloudtrail_logs%20WHERE%20eventname%20%3D%20'GetObject'",
    )
    .1
    .lines()
    .nth(1)
    .unwrap()
    .to_string();
    assert!(
        body.contains(&format!(
            "{} hits from 3 of 3 Sigma rules",
            reads.parse::<u64>().unwrap() + 2
        )),
        "{body}"
    );
    // The highest level first; each hit links to its event, which opens.
    let (stop, share, read) = (
        body.find("Trail stopped").unwrap(),
        body.find("Snapshot shared").unwrap(),
        body.find("Objects read").unwrap(),
    );
    assert!(stop < share && share < read);
    let stopped = trawl_gen::story::event_id(7);
    assert!(
        body.contains(&format!("href=\"/events/{stopped}\"")),
        "{body}"
    );
    let (status, event) = get(addr, &format!("/events/{stopped}"));
    assert_eq!(status, 200);
    assert!(event.contains("StopLogging"));
    // At most 50 hits of a rule are listed, all counted.
    let read_rows = body[read..].matches("<td>GetObject</td>").count();
    assert_eq!(read_rows, 50.min(reads.parse::<usize>().unwrap()));

    // A range after the story: the story's rules are gone.
    let after = (start + chrono::Duration::hours(2)).format("%Y-%m-%dT%H:%M:%SZ");
    let (status, body) = get(addr, &format!("/detections?since={after}"));
    assert_eq!(status, 200);
    assert!(
        !body.contains("Trail stopped") && body.contains("Objects read"),
        "{body}"
    );
    // A range that does not parse: 400, said.
    let (status, body) = get(addr, "/detections?since=yesterday");
    assert_eq!(status, 400, "{body}");

    // Without rules: the page says how to give some.
    let plain = common::serve(
        lake,
        None,
        trawl_web::Limits::default(),
        trawl_web::ServerLimits::default(),
    );
    let (status, body) = get(plain, "/detections");
    assert_eq!(status, 200);
    assert!(body.contains("trawl serve --rules"), "{body}");
}
