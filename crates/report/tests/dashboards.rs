//! Every tile of the five dashboards against a small hand-written trail whose answers are
//! counted by hand in the comments.

#![allow(clippy::unwrap_used, reason = "a test's unwrap is its failure message")]

use std::sync::Arc;

use serde_json::{Value, json};
use trawl_report::{DashboardResult, Range};

/// One CloudTrail record.
#[allow(clippy::too_many_arguments)]
fn ev(
    id: &str,
    time: &str,
    source: &str,
    name: &str,
    identity: Value,
    ip: &str,
    error: Option<(&str, &str)>,
    extra: Value,
) -> Value {
    let mut r = json!({
        "eventVersion": "1.09", "eventID": id, "eventTime": time, "eventSource": source,
        "eventName": name, "awsRegion": "us-east-1", "sourceIPAddress": ip,
        "userIdentity": identity, "eventType": "AwsApiCall", "recipientAccountId": "111122223333",
    });
    if let Some((code, msg)) = error {
        r["errorCode"] = json!(code);
        r["errorMessage"] = json!(msg);
    }
    for (k, v) in extra.as_object().unwrap() {
        r[k] = v.clone();
    }
    r
}

fn iam(user: &str) -> Value {
    json!({"type": "IAMUser", "principalId": format!("AIDA{user}"), "userName": user,
           "arn": format!("arn:aws:iam::111122223333:user/{user}"), "accountId": "111122223333"})
}

fn role(name: &str) -> Value {
    json!({"type": "AssumedRole", "principalId": format!("AROA:{name}"),
           "arn": format!("arn:aws:sts::111122223333:assumed-role/{name}/session"),
           "sessionContext": {"sessionIssuer": {"type": "Role", "userName": name,
               "arn": format!("arn:aws:iam::111122223333:role/{name}")}}})
}

fn root() -> Value {
    json!({"type": "Root", "principalId": "111122223333", "arn": "arn:aws:iam::111122223333:root"})
}

fn login(id: &str, time: &str, who: Value, ip: &str, ok: bool, mfa: &str) -> Value {
    ev(
        id,
        time,
        "signin.amazonaws.com",
        "ConsoleLogin",
        who,
        ip,
        // A failed login: ConsoleLogin = Failure, errorMessage set, errorCode null.
        None,
        json!({
            "eventType": "AwsConsoleSignIn",
            "responseElements": {"ConsoleLogin": if ok { "Success" } else { "Failure" }},
            "additionalEventData": {"MFAUsed": mfa},
            "errorMessage": if ok { Value::Null } else { json!("Failed authentication") },
        }),
    )
}

fn sg(id: &str, time: &str, name: &str, group: &str, cidr: &str) -> Value {
    ev(
        id,
        time,
        "ec2.amazonaws.com",
        name,
        iam("alice"),
        "81.2.69.142",
        None,
        json!({"requestParameters": {"groupId": group, "ipPermissions": {"items": [
            {"ipProtocol": "tcp", "fromPort": 22, "toPort": 22,
             "ipRanges": {"items": [{"cidrIp": cidr}]}}]}}}),
    )
}

fn trail() -> Vec<Value> {
    let mut out = vec![
        // 2024-03-01
        login(
            "l1",
            "2024-03-01T08:00:00Z",
            iam("alice"),
            "89.160.20.112",
            true,
            "Yes",
        ),
        login(
            "l2",
            "2024-03-01T08:05:00Z",
            iam("alice"),
            "81.2.69.142",
            false,
            "No",
        ),
        login(
            "l3",
            "2024-03-01T09:00:00Z",
            root(),
            "89.160.20.112",
            true,
            "No",
        ),
        ev(
            "e1",
            "2024-03-01T10:00:00Z",
            "ec2.amazonaws.com",
            "RunInstances",
            iam("bob"),
            "81.2.69.142",
            None,
            json!({}),
        ),
        ev(
            "e2",
            "2024-03-01T10:10:00Z",
            "ec2.amazonaws.com",
            "RunInstances",
            role("deployer"),
            "ec2.amazonaws.com",
            Some(("Client.UnauthorizedOperation", "You are not authorized")),
            json!({}),
        ),
        ev(
            "e3",
            "2024-03-01T10:20:00Z",
            "s3.amazonaws.com",
            "GetObject",
            role("deployer"),
            "10.0.0.5",
            Some(("AccessDenied", "Access Denied")),
            json!({}),
        ),
        ev(
            "e4",
            "2024-03-01T10:40:00Z",
            "s3.amazonaws.com",
            "GetObject",
            role("reader"),
            "10.0.0.6",
            Some(("AccessDenied", "Access Denied")),
            json!({}),
        ),
        sg(
            "s1",
            "2024-03-01T11:00:00Z",
            "AuthorizeSecurityGroupIngress",
            "sg-0aaa",
            "0.0.0.0/0",
        ),
        // 2024-03-02
        login(
            "l4",
            "2024-03-02T08:00:00Z",
            iam("bob"),
            "175.16.199.7",
            false,
            "No",
        ),
        login(
            "l5",
            "2024-03-02T08:01:00Z",
            iam("bob"),
            "175.16.199.7",
            false,
            "No",
        ),
        ev(
            "e5",
            "2024-03-02T12:00:00Z",
            "ec2.amazonaws.com",
            "StopInstances",
            iam("bob"),
            "81.2.69.142",
            None,
            json!({}),
        ),
        ev(
            "e6",
            "2024-03-02T12:00:00Z",
            "iam.amazonaws.com",
            "CreateUser",
            root(),
            "89.160.20.112",
            None,
            json!({}),
        ),
        sg(
            "s2",
            "2024-03-02T13:00:00Z",
            "RevokeSecurityGroupIngress",
            "sg-0bbb",
            "10.0.0.0/8",
        ),
    ];
    // An event outside the range used below (2024-03-05): counted only without a range.
    out.push(ev(
        "x1",
        "2024-03-05T00:00:00Z",
        "s3.amazonaws.com",
        "GetObject",
        iam("carol"),
        "8.8.8.8",
        None,
        json!({}),
    ));
    out
}

async fn report(range: Range, geo: bool) -> Vec<DashboardResult> {
    report_and_engine(range, geo).await.0
}

async fn report_and_engine(
    range: Range,
    geo: bool,
) -> (
    Vec<DashboardResult>,
    trawl_query::QueryEngine,
    tempfile::TempDir,
) {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("trail.json");
    std::fs::write(&file, json!({"Records": trail()}).to_string()).unwrap();
    let lake = trawl_lake::Lake::create(dir.path().join("lake")).unwrap();
    let summary = trawl_testkit::ingest(&lake, &[file]);
    assert_eq!(summary.events_stored, 14);
    let db = geo.then(|| {
        let path = dir.path().join("city.mmdb");
        trawl_geo::testing::write_city_db(&path, &trawl_geo::testing::sample_places()).unwrap();
        Arc::new(trawl_geo::GeoDb::open(&[path]).unwrap())
    });
    let engine = trawl_query::QueryEngine::open_with_geo(&lake, db)
        .await
        .unwrap();
    let mut out = Vec::new();
    for d in trawl_report::select("all").unwrap() {
        out.push(trawl_report::run(&engine, &d, &range, geo).await.unwrap());
    }
    (out, engine, dir)
}

/// The rows of tile `id` as compact JSON text, one string per row.
fn tile(results: &[DashboardResult], id: &str) -> Vec<String> {
    let t = results
        .iter()
        .flat_map(|d| &d.tiles)
        .find(|t| t.id == id)
        .unwrap_or_else(|| panic!("no tile {id}"));
    t.rows
        .iter()
        .map(|r| serde_json::to_string(r).unwrap())
        .collect()
}

fn march(since: u32, until: u32) -> Range {
    Range {
        window: trawl_schema::TimeWindow::parse(
            Some(&format!("2024-03-{since:02}")),
            Some(&format!("2024-03-{until:02}")),
        )
        .unwrap(),
        filters: Vec::new(),
        zone: None,
    }
}

#[tokio::test]
async fn every_tile_answers_as_counted_by_hand() {
    let r = report(march(1, 3), true).await;
    // Ids: kebab-case of the titles, five dashboards.
    let ids: Vec<&str> = r.iter().map(|d| d.id.as_str()).collect();
    assert_eq!(
        ids,
        [
            "general-operations",
            "error-overview",
            "console-login-overview",
            "security-group-modifications",
            "operational-account-activity"
        ]
    );

    // General Operations. 13 events in range: ConsoleLogin 5, GetObject 2, RunInstances 2,
    // CreateUser 1, StopInstances 1, Authorize... 1, Revoke... 1.
    assert_eq!(
        tile(&r, "top-10-events"),
        [
            r#"["ConsoleLogin",5]"#,
            r#"["GetObject",2]"#,
            r#"["RunInstances",2]"#,
            r#"["AuthorizeSecurityGroupIngress",1]"#,
            r#"["CreateUser",1]"#,
            r#"["RevokeSecurityGroupIngress",1]"#,
            r#"["StopInstances",1]"#,
        ]
    );
    // Columns: events, assumed users (the block's distinct users: role names), principals,
    // AccessDenied, error %. ConsoleLogin: alice, root and bob, no role; the 3 failed logins
    // carry an error message (no code): 60 % errors.
    // GetObject: 2 events by 2 roles, both AccessDenied: 100 % errors.
    // RunInstances: bob and the deployer role, one UnauthorizedOperation (not AccessDenied): 50 %.
    assert_eq!(
        tile(&r, "top-events-full-detail")[..3],
        [
            r#"["ConsoleLogin",5,0,3,0,60.0]"#,
            r#"["GetObject",2,2,2,2,100.0]"#,
            r#"["RunInstances",2,1,2,0,50.0]"#,
        ]
    );
    assert_eq!(
        tile(&r, "events-by-source"),
        [
            r#"["ec2.amazonaws.com",5]"#,
            r#"["signin.amazonaws.com",5]"#,
            r#"["s3.amazonaws.com",2]"#,
            r#"["iam.amazonaws.com",1]"#,
        ]
    );
    assert_eq!(
        tile(&r, "events-by-region"),
        [
            r#"["2024-03-01","us-east-1",8]"#,
            r#"["2024-03-02","us-east-1",5]"#
        ]
    );
    // Hour by weekday: 2024-03-01 is a Friday (ISO day 5), 2024-03-02 a Saturday.
    assert_eq!(
        tile(&r, "events-by-hour-and-day-of-week"),
        [
            r#"[8,5,"Fri",2]"#,
            r#"[8,6,"Sat",2]"#,
            r#"[9,5,"Fri",1]"#,
            r#"[10,5,"Fri",4]"#,
            r#"[11,5,"Fri",1]"#,
            r#"[12,6,"Sat",2]"#,
            r#"[13,6,"Sat",1]"#,
        ]
    );
    assert_eq!(
        tile(&r, "ec2-instance-changes"),
        [
            r#"["2024-03-01","RunInstances",2]"#,
            r#"["2024-03-02","StopInstances",1]"#
        ]
    );

    // Error Overview: errors are e2 (deployer), e3 (deployer), e4 (reader), and the failed
    // console logins l2 (alice), l4 and l5 (bob), which have an error message and no code.
    assert_eq!(
        tile(&r, "top-assumed-user-types"),
        [r#"["deployer",2]"#, r#"["reader",1]"#]
    );
    assert_eq!(
        tile(&r, "errors-by-user-type"),
        [r#"["AssumedRole",3]"#, r#"["IAMUser",3]"#]
    );
    assert_eq!(
        tile(&r, "errors-by-source"),
        [
            r#"["signin.amazonaws.com",3]"#,
            r#"["s3.amazonaws.com",2]"#,
            r#"["ec2.amazonaws.com",1]"#
        ]
    );
    // Eight 30-minute buckets; 03-01 10:00 has e1, e2, e3 (2 errors of 3), 10:30 has e4.
    let over_time = tile(&r, "errors-and-events-over-time");
    assert!(
        over_time.contains(&r#"["2024-03-01T10:00:00Z",3,2,66.67]"#.to_string()),
        "{over_time:?}"
    );
    assert!(
        over_time.contains(&r#"["2024-03-01T10:30:00Z",1,1,100.0]"#.to_string()),
        "{over_time:?}"
    );
    // 03-01 08:00: l1 (ok) and l2 (failed).
    assert!(
        over_time.contains(&r#"["2024-03-01T08:00:00Z",2,1,50.0]"#.to_string()),
        "{over_time:?}"
    );
    assert_eq!(over_time.len(), 8, "{over_time:?}");
    assert_eq!(
        tile(&r, "top-events-with-errors"),
        [
            r#"["ConsoleLogin",3]"#,
            r#"["GetObject",2]"#,
            r#"["RunInstances",1]"#
        ]
    );
    assert_eq!(
        tile(&r, "top-error-codes"),
        [
            r#"["AccessDenied",2]"#,
            r#"["Client.UnauthorizedOperation",1]"#
        ]
    );
    assert_eq!(
        tile(&r, "assumed-iam-user-errors-full-detail"),
        [
            r#"["deployer","GetObject","AccessDenied","Access Denied","s3.amazonaws.com",1]"#,
            r#"["deployer","RunInstances","Client.UnauthorizedOperation","You are not authorized","ec2.amazonaws.com",1]"#,
            r#"["reader","GetObject","AccessDenied","Access Denied","s3.amazonaws.com",1]"#,
        ]
    );

    // Console Login Overview: alice 1 ok + 1 failed, bob 2 failed, root 1 ok.
    assert_eq!(
        tile(&r, "top-user-logins"),
        [
            r#"["alice",1,1,2]"#,
            r#"["bob",0,2,2]"#,
            r#"["root",1,0,1]"#
        ]
    );
    assert_eq!(
        tile(&r, "console-logins-over-time"),
        [r#"["2024-03-01",2,1]"#, r#"["2024-03-02",0,2]"#]
    );
    assert_eq!(
        tile(&r, "logins-from-multiple-ip-addresses"),
        [r#"["alice",2,2]"#]
    );
    assert_eq!(
        tile(&r, "most-common-ip-addresses"),
        [
            r#"["175.16.199.7",2,2]"#,
            r#"["89.160.20.112",2,0]"#,
            r#"["81.2.69.142",1,1]"#
        ]
    );
    assert_eq!(
        tile(&r, "user-login-geolocation"),
        [
            r#"["China","Changchun",43.88,125.3228,2,2]"#,
            r#"["Sweden","Linköping",58.4167,15.6167,2,0]"#,
            r#"["United Kingdom","London",51.5142,-0.0931,1,1]"#
        ]
    );
    assert_eq!(
        tile(&r, "most-common-login-errors"),
        [r#"["Failed authentication",3,2]"#]
    );
    assert_eq!(
        tile(&r, "login-user-count-over-time"),
        [r#"["2024-03-01",2]"#, r#"["2024-03-02",1]"#]
    );
    assert_eq!(
        tile(&r, "logins-without-multi-factor-auth"),
        [
            r#"["bob","Failure",2]"#,
            r#"["alice","Failure",1]"#,
            r#"["root","Success",1]"#
        ]
    );

    // Security groups: newest first; the rule read from requestParameters; 0.0.0.0/0 flagged.
    let sgs = tile(&r, "security-group-modifications");
    assert_eq!(sgs.len(), 2, "{sgs:?}");
    assert!(
        sgs[0].contains(r#""RevokeSecurityGroupIngress""#)
            && sgs[0].contains(r#""sg-0bbb""#)
            && sgs[0].ends_with(r#""10.0.0.0/8",false]"#),
        "{}",
        sgs[0]
    );
    assert!(
        sgs[1].contains(r#""sg-0aaa","#)
            && sgs[1].contains(r#""ingress",null,"tcp",22,22,"0.0.0.0/0",true]"#),
        "{}",
        sgs[1]
    );

    // Operational Account Activity.
    assert_eq!(
        tile(&r, "top-aws-event-errors"),
        [
            r#"["ConsoleLogin",null,"Failed authentication",3]"#,
            r#"["GetObject","AccessDenied","Access Denied",2]"#,
            r#"["RunInstances","Client.UnauthorizedOperation","You are not authorized",1]"#
        ]
    );
    assert_eq!(
        tile(&r, "top-iam-users"),
        [
            r#"["alice","ConsoleLogin",2]"#,
            r#"["bob","ConsoleLogin",2]"#,
            r#"["alice","AuthorizeSecurityGroupIngress",1]"#,
            r#"["alice","RevokeSecurityGroupIngress",1]"#,
            r#"["bob","RunInstances",1]"#,
            r#"["bob","StopInstances",1]"#,
        ]
    );
    assert_eq!(
        tile(&r, "root-activity"),
        [
            r#"["ConsoleLogin",null,"89.160.20.112",1]"#,
            r#"["CreateUser",null,"89.160.20.112",1]"#
        ]
    );
}

#[tokio::test]
async fn the_range_filters_and_geolocation_explains_itself_without_a_database() {
    // No range: carol's GetObject of 03-05 is counted too.
    let r = report(Range::default(), false).await;
    assert_eq!(tile(&r, "top-10-events")[1], r#"["GetObject",3]"#);
    let geo = r
        .iter()
        .flat_map(|d| &d.tiles)
        .find(|t| t.id == "user-login-geolocation")
        .unwrap();
    assert!(geo.rows.is_empty());
    assert!(geo.note.as_deref().unwrap().contains("--geoip"));
    // Only 03-02.
    let r = report(march(2, 3), false).await;
    assert_eq!(tile(&r, "top-user-logins"), [r#"["bob",0,2,2]"#]);
    // Filtered by a security group: its modification only, and every tile filtered.
    let r = report(
        Range::default().filtered("group_id", "sg-0aaa").unwrap(),
        false,
    )
    .await;
    let sgs = tile(&r, "security-group-modifications");
    assert_eq!(sgs.len(), 1);
    assert!(sgs[0].contains("sg-0aaa"), "{sgs:?}");
    assert_eq!(
        tile(&r, "top-10-events"),
        [r#"["AuthorizeSecurityGroupIngress",1]"#]
    );
}

#[tokio::test]
async fn the_html_report_is_self_contained_with_a_chart_per_charted_tile() {
    let r = report(march(1, 3), true).await;
    let html = trawl_report::html::report(&r, None);
    assert!(html.starts_with("<!DOCTYPE html>"));
    // Nothing fetched from elsewhere: no scripts, no external stylesheets, images or fonts.
    for banned in ["<script", "<link", "src=\"http", "url(http", "@import"] {
        assert!(!html.contains(banned), "{banned}");
    }
    let charted = r
        .iter()
        .flat_map(|d| &d.tiles)
        .filter(|t| {
            !matches!(
                t.chart,
                trawl_report::Chart::Table | trawl_report::Chart::Heatmap
            ) && !t.rows.is_empty()
        })
        .count();
    assert_eq!(html.matches("<div class=\"chart\"><svg").count(), charted);
    // The hour-by-weekday heat map: 24 hours down, Monday to Sunday across; Friday 10:00
    // holds the most events (4), shaded darkest, its value on hover.
    assert_eq!(html.matches("<table class=\"heatmap\">").count(), 1);
    assert!(html.contains(
        "<th>Mon</th><th>Tue</th><th>Wed</th><th>Thu</th><th>Fri</th><th>Sat</th><th>Sun</th>"
    ));
    assert!(
        html.contains(
            "style=\"background: rgba(31, 119, 180, 0.85)\" title=\"Fri 10:00: 4 events\">4</td>"
        ),
        "{html}"
    );
    // Every tile is there, with its rows in a table.
    for d in &r {
        for t in &d.tiles {
            assert!(html.contains(&format!("id=\"tile-{}\"", t.id)), "{}", t.id);
        }
    }
    assert!(html.contains("Events from 2024-03-01T00:00:00Z to 2024-03-03T00:00:00Z"));
    assert!(html.contains("<td>Linköping</td>"));
    // Every chart element carries its value on hover: bars, pie wedges, line points, map
    // circles; the map draws land under its points.
    for title in [
        "<title>ConsoleLogin: 5 events</title>",
        "<title>AssumedRole: 3 errors (50.0%)</title>",
        "<title>successful, 2024-03-01: 2</title>",
        "<title>Linköping: 2 logins</title>",
    ] {
        assert!(html.contains(title), "{title}");
    }
    let map = r
        .iter()
        .flat_map(|d| &d.tiles)
        .find(|t| t.id == "user-login-geolocation")
        .and_then(trawl_report::chart::svg)
        .unwrap();
    assert!(map.matches("<polygon").count() > 200, "land outlines");
    assert!(html.contains("@media print"));
    // Cell text is escaped.
    assert_eq!(
        trawl_report::html::escape("<script>alert('x')</script>&"),
        "&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;&amp;"
    );
}

#[tokio::test]
async fn a_capped_table_keeps_its_first_rows_and_says_how_many_there_are() {
    let (full, engine, _dir) = report_and_engine(march(1, 3), true).await;
    let d = trawl_report::dashboards::find("security-group-modifications").unwrap();
    let capped = trawl_report::run_capped(&engine, &d, &march(1, 3), true, Some(1))
        .await
        .unwrap();
    let sg = |r: &trawl_report::DashboardResult| {
        r.tiles
            .iter()
            .find(|t| t.id == "security-group-modifications")
            .cloned()
            .unwrap()
    };
    let whole = full.iter().find(|r| r.id == d.id).map(sg).unwrap();
    let t = &sg(&capped);
    assert!(whole.rows.len() > 1, "the fixture has several SG changes");
    assert_eq!(t.rows, whole.rows[..1].to_vec());
    assert_eq!(t.total_rows, whole.rows.len());
    let html = trawl_report::html::dashboard_body(&capped, None, Some(1000));
    assert!(
        html.contains(&format!("The first 1 of {} rows", whole.rows.len())),
        "{html}"
    );
}

#[tokio::test]
async fn every_drillable_cell_leads_to_its_events() {
    // What a click on a cell shows (the web app's drill-down) must contain that cell's events.
    let (r, engine, _dir) = report_and_engine(march(1, 3), true).await;
    let mut checked = 0;
    for t in r.iter().flat_map(|d| &d.tiles) {
        for (c, column) in t.columns.iter().enumerate() {
            let Some(value) = t.rows.first().and_then(|row| row[c].as_str()) else {
                continue;
            };
            let Some(filter) = trawl_report::dashboards::drill_filter(column, value) else {
                continue;
            };
            let sql = format!(
                "SELECT count(*) FROM cloudtrail_logs WHERE {} AND {filter}",
                march(1, 3).predicate()
            );
            let out = engine.run(&sql).await.unwrap();
            let n = arrow::array::AsArray::as_primitive::<arrow::datatypes::Int64Type>(
                out[0].batches[0].column(0),
            )
            .value(0);
            assert!(n > 0, "{}: {column} = {value} finds no events", t.id);
            checked += 1;
        }
    }
    assert!(checked >= 20, "{checked}");
}
