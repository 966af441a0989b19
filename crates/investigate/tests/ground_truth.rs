//! `trawl timeline` and `trawl summary` against the trail itself: the events each subject's
//! timeline lists, in order, and each principal's counts, are those a reading of the raw JSON
//! objects gives (an oracle that shares no code with the lake or the query engine).

#![allow(clippy::unwrap_used, reason = "a test's unwrap is its failure message")]

use std::collections::{BTreeMap, BTreeSet};
use std::io::{Read, Write};
use std::path::Path;

use futures::StreamExt;
use serde_json::{Value, json};
use trawl_investigate::{By, Entry, SortBy, Subject, Summary, Timeline, entries};
use trawl_lake::Lake;
use trawl_query::QueryEngine;
use trawl_schema::TimeWindow;

fn gz(path: &Path, records: Value) {
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    e.write_all(&serde_json::to_vec(&json!({ "Records": records })).unwrap())
        .unwrap();
    std::fs::write(path, e.finish().unwrap()).unwrap();
}

/// An intrusion written by hand: a user with a `_` in its name (a LIKE wildcard) reads an
/// object, opens SSH to the world and assumes a role; the role session then lists a bucket.
fn story(dir: &Path) {
    let user = json!({"type": "IAMUser", "principalId": "AIDAEXAMPLE", "accountId": "999900001111",
        "arn": "arn:aws:iam::999900001111:user/dev_ops", "userName": "dev_ops",
        "accessKeyId": "AKIAEXAMPLEKEY000001"});
    let session = json!({"type": "AssumedRole", "principalId": "AROAEXAMPLE:night-shift",
        "arn": "arn:aws:sts::999900001111:assumed-role/Admin/night-shift", "accountId": "999900001111",
        "accessKeyId": "ASIAEXAMPLEKEY000002",
        "sessionContext": {"sessionIssuer": {"type": "Role", "principalId": "AROAEXAMPLE",
            "arn": "arn:aws:iam::999900001111:role/Admin", "accountId": "999900001111", "userName": "Admin"}}});
    let ev = |id: &str, t: &str, who: &Value, src: &str, name: &str, params: Value| {
        json!({"eventVersion": "1.09", "eventID": id, "eventTime": t, "eventSource": src,
            "eventName": name, "awsRegion": "eu-west-1", "sourceIPAddress": "198.51.100.77",
            "userAgent": "aws-cli/2.15", "userIdentity": who, "requestParameters": params,
            "recipientAccountId": "999900001111"})
    };
    let mut denied = ev(
        "story-5",
        "2024-03-02T09:00:00Z",
        &session,
        "iam.amazonaws.com",
        "CreateUser",
        json!({"userName": "backdoor"}),
    );
    denied["errorCode"] = "AccessDenied".into();
    let mut listed = ev(
        "story-4",
        "2024-03-02T08:30:00Z",
        &session,
        "s3.amazonaws.com",
        "ListObjects",
        json!({"bucketName": "payroll"}),
    );
    listed["resources"] = json!([{"ARN": "arn:aws:s3:::payroll", "accountId": "999900001111", "type": "AWS::S3::Bucket"}]);
    gz(
        &dir.join("story/AWSLogs/999900001111/CloudTrail/eu-west-1/2024/03/02/a.json.gz"),
        json!([
            ev(
                "story-1",
                "2024-03-02T08:00:00Z",
                &user,
                "s3.amazonaws.com",
                "GetObject",
                json!({"bucketName": "payroll", "key": "2024/march.csv"})
            ),
            ev(
                "story-2",
                "2024-03-02T08:10:00Z",
                &user,
                "ec2.amazonaws.com",
                "AuthorizeSecurityGroupIngress",
                json!({"groupId": "sg-0abc", "ipPermissions": {"items": [{"ipProtocol": "tcp", "fromPort": 22,
                 "toPort": 22, "ipRanges": {"items": [{"cidrIp": "0.0.0.0/0"}]}}]}})
            ),
            ev(
                "story-3",
                "2024-03-02T08:20:00Z",
                &user,
                "sts.amazonaws.com",
                "AssumeRole",
                json!({"roleArn": "arn:aws:iam::999900001111:role/Admin", "roleSessionName": "night-shift"})
            ),
            listed,
            denied,
        ]),
    );
}

/// Every record of the gzipped objects under `dir` (digests apart), each once.
fn raw_records(dir: &Path) -> Vec<Value> {
    let mut seen = BTreeSet::new();
    let mut out = Vec::new();
    for e in walkdir::WalkDir::new(dir) {
        let p = e.unwrap().into_path();
        let name = p.to_string_lossy().to_string();
        if !name.ends_with(".json.gz") || name.contains("Digest") {
            continue;
        }
        let mut text = String::new();
        flate2::read::GzDecoder::new(std::fs::File::open(&p).unwrap())
            .read_to_string(&mut text)
            .unwrap();
        let v: Value = serde_json::from_str(&text).unwrap();
        for r in v["Records"].as_array().unwrap() {
            if seen.insert(r.to_string()) {
                out.push(r.clone());
            }
        }
    }
    out
}

/// The event ids of the records `keep` selects, by time then id.
fn oracle(records: &[Value], keep: impl Fn(&Value) -> bool) -> Vec<String> {
    let mut hits: Vec<(String, String)> = records
        .iter()
        .filter(|r| keep(r))
        .map(|r| {
            (
                r["eventTime"].as_str().unwrap().to_string(),
                r["eventID"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    hits.sort();
    hits.into_iter().map(|(_, id)| id).collect()
}

fn run(engine: &QueryEngine, subject: Subject, window: TimeWindow) -> Vec<Entry> {
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let t = Timeline {
            subject,
            window,
            geo: false,
            also_keys: Vec::new(),
        };
        let mut stream = t.stream(engine).await.unwrap();
        let mut out = Vec::new();
        while let Some(b) = stream.next().await {
            out.extend(entries(&b.unwrap()));
        }
        out
    })
}

fn ids(entries: &[Entry]) -> Vec<String> {
    entries
        .iter()
        .map(|e| e.event_id.clone().unwrap())
        .collect()
}

fn most_common(records: &[Value], pointer: &str) -> String {
    let mut counts: BTreeMap<String, usize> = BTreeMap::new();
    for r in records {
        if let Some(v) = r.pointer(pointer).and_then(Value::as_str) {
            *counts.entry(v.to_string()).or_default() += 1;
        }
    }
    counts.into_iter().max_by_key(|(_, n)| *n).unwrap().0
}

struct Fixture {
    _dir: tempfile::TempDir,
    /// The raw records, each once.
    records: Vec<Value>,
    rt: tokio::runtime::Runtime,
    engine: QueryEngine,
}

/// A generated trail of `events` events over 3 days plus the hand-written story, ingested.
fn fixture(seed: u64, events: usize) -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    let trail = trawl_testkit::trail(&dir.path().join("trail"), seed, events, 3);
    story(dir.path());
    let lake = Lake::create(dir.path().join("lake")).unwrap();
    trawl_testkit::ingest(&lake, &[trail, dir.path().join("story")]);
    let records = raw_records(dir.path());
    let rt = tokio::runtime::Runtime::new().unwrap();
    let engine = rt.block_on(QueryEngine::open(&lake)).unwrap();
    Fixture {
        _dir: dir,
        records,
        rt,
        engine,
    }
}

#[test]
fn each_subject_lists_the_events_the_raw_trail_holds_in_time_order() {
    let Fixture {
        _dir,
        records,
        rt: _rt,
        engine,
    } = fixture(21, 3000);
    let all = TimeWindow::ALL;
    let s = |r: &Value, p: &str| r.pointer(p).and_then(Value::as_str).map(str::to_string);

    // A principal by ARN: its own events, and a role's sessions.
    let arn = most_common(&records, "/userIdentity/arn");
    let got = run(&engine, Subject::Principal(arn.clone()), all);
    let want = oracle(&records, |r| {
        s(r, "/userIdentity/arn").as_deref() == Some(&arn)
            || s(r, "/userIdentity/sessionContext/sessionIssuer/arn").as_deref() == Some(&arn)
    });
    assert!(want.len() > 10, "{arn}: {}", want.len());
    assert_eq!(ids(&got), want, "{arn}");
    let role = "arn:aws:iam::999900001111:role/Admin".to_string();
    assert_eq!(
        ids(&run(&engine, Subject::Principal(role), all)),
        ["story-4", "story-5"]
    );
    // By name: `dev_ops`'s `_` is a character, not a wildcard.
    assert_eq!(
        ids(&run(&engine, Subject::Principal("dev_ops".into()), all)),
        ["story-1", "story-2", "story-3"]
    );
    assert!(run(&engine, Subject::Principal("dev%ops".into()), all).is_empty());

    // An access key, an IP.
    let key = most_common(&records, "/userIdentity/accessKeyId");
    let want = oracle(&records, |r| {
        s(r, "/userIdentity/accessKeyId").as_deref() == Some(&key)
    });
    assert_eq!(
        ids(&run(&engine, Subject::AccessKey(key.clone()), all)),
        want
    );
    let ip = most_common(&records, "/sourceIPAddress");
    let want = oracle(&records, |r| {
        s(r, "/sourceIPAddress").as_deref() == Some(&ip)
    });
    assert!(want.len() > 10);
    assert_eq!(ids(&run(&engine, Subject::Ip(ip.clone()), all)), want);

    // A role session by its name, its ARN and its key.
    for session in [
        "night-shift",
        "arn:aws:sts::999900001111:assumed-role/Admin/night-shift",
        "ASIAEXAMPLEKEY000002",
    ] {
        assert_eq!(
            ids(&run(&engine, Subject::Session(session.into()), all)),
            ["story-4", "story-5"],
            "{session}"
        );
    }
    // A resource: in `resources`, or named in the request (the AssumeRole of the role).
    assert_eq!(
        ids(&run(
            &engine,
            Subject::Resource("arn:aws:s3:::payroll".into()),
            all
        )),
        ["story-4"]
    );
    assert_eq!(
        ids(&run(
            &engine,
            Subject::Resource("arn:aws:iam::999900001111:role/Admin".into()),
            all
        )),
        ["story-3"]
    );

    // A window: from, and before, to the second.
    let window = TimeWindow::new(
        Some(trawl_schema::parse_instant("2024-03-02T08:10:00Z").unwrap()),
        Some(trawl_schema::parse_instant("2024-03-02T08:30:00Z").unwrap()),
    )
    .unwrap();
    assert_eq!(
        ids(&run(&engine, Subject::Ip("198.51.100.77".into()), window)),
        ["story-2", "story-3"]
    );

    // Each line's fields, and the outcome and summary per family.
    let story = run(&engine, Subject::Ip("198.51.100.77".into()), all);
    let by_id: BTreeMap<String, &Entry> = story
        .iter()
        .map(|e| (e.event_id.clone().unwrap(), e))
        .collect();
    let first = by_id["story-1"];
    assert_eq!(first.time.as_deref(), Some("2024-03-02T08:00:00Z"));
    assert_eq!(first.account.as_deref(), Some("999900001111"));
    assert_eq!(first.region.as_deref(), Some("eu-west-1"));
    assert_eq!(first.event.as_deref(), Some("GetObject"));
    assert_eq!(first.outcome, "");
    assert_eq!(first.user_agent.as_deref(), Some("aws-cli/2.15"));
    assert_eq!(
        first.principal.as_deref(),
        Some("arn:aws:iam::999900001111:user/dev_ops")
    );
    assert_eq!(first.summary, "s3://payroll/2024/march.csv");
    assert_eq!(by_id["story-2"].summary, "sg-0abc tcp 22 0.0.0.0/0");
    assert_eq!(by_id["story-5"].outcome, "AccessDenied");
}

#[test]
fn each_principal_s_summary_counts_what_the_raw_trail_holds() {
    let Fixture {
        _dir,
        records,
        rt,
        engine,
    } = fixture(22, 4000);
    let summary = Summary {
        by: By::Principal,
        window: TimeWindow::ALL,
        sort: SortBy::Events,
        min_events: None,
        max_events: None,
        values: 3,
        geo: false,
    };
    let rows = rt.block_on(summary.run(&engine)).unwrap();

    // The oracle: per principal (ARN, else principal id, else invoking service, else type).
    let s = |r: &Value, p: &str| r.pointer(p).and_then(Value::as_str).map(str::to_string);
    let key = |r: &Value| {
        s(r, "/userIdentity/arn")
            .or_else(|| s(r, "/userIdentity/principalId"))
            .or_else(|| s(r, "/userIdentity/invokedBy"))
            .or_else(|| s(r, "/userIdentity/type"))
    };
    let mut by: BTreeMap<Option<String>, Vec<&Value>> = BTreeMap::new();
    for r in &records {
        by.entry(key(r)).or_default().push(r);
    }
    assert_eq!(rows.len(), by.len());
    let events: Vec<u64> = rows.iter().map(|r| r.events).collect();
    assert!(events.is_sorted(), "rarest first: {events:?}");
    let mut logins_seen = 0;
    for row in &rows {
        let mine = &by[&row.key];
        let distinct = |p: &str| mine.iter().filter_map(|r| s(r, p)).collect::<BTreeSet<_>>();
        let what = format!("{:?}", row.key);
        assert_eq!(row.events, mine.len() as u64, "{what}");
        let times: BTreeSet<String> = distinct("/eventTime");
        assert_eq!(row.first_seen.as_ref(), times.first(), "{what}");
        assert_eq!(row.last_seen.as_ref(), times.last(), "{what}");
        assert_eq!(
            row.services.count,
            distinct("/eventSource").len() as u64,
            "{what}"
        );
        assert_eq!(
            row.regions.count,
            distinct("/awsRegion").len() as u64,
            "{what}"
        );
        assert_eq!(
            row.source_ips.count,
            distinct("/sourceIPAddress").len() as u64,
            "{what}"
        );
        assert_eq!(
            row.user_agents.count,
            distinct("/userAgent").len() as u64,
            "{what}"
        );
        let first_services: Vec<String> = distinct("/eventSource").into_iter().take(3).collect();
        assert_eq!(row.services.values, first_services, "{what}");
        let errors: Vec<String> = mine.iter().filter_map(|r| s(r, "/errorCode")).collect();
        assert_eq!(row.errors, errors.len() as u64, "{what}");
        let denied = errors
            .iter()
            .filter(|e| {
                [
                    "AccessDenied",
                    "AccessDeniedException",
                    "Client.UnauthorizedOperation",
                    "UnauthorizedOperation",
                    "Forbidden",
                ]
                .contains(&e.as_str())
            })
            .count();
        assert_eq!(row.access_denied, denied as u64, "{what}");
        let logins: Vec<&&Value> = mine
            .iter()
            .filter(|r| {
                s(r, "/eventName").as_deref() == Some("ConsoleLogin")
                    && s(r, "/responseElements/ConsoleLogin").is_some()
            })
            .collect();
        logins_seen += logins.len();
        assert_eq!(row.console_logins, logins.len() as u64, "{what}");
        let failed = logins
            .iter()
            .filter(|r| s(r, "/responseElements/ConsoleLogin").as_deref() == Some("Failure"))
            .count();
        assert_eq!(row.console_login_failures, failed as u64, "{what}");
        let mfa = logins
            .iter()
            .filter(|r| {
                s(r, "/responseElements/ConsoleLogin").as_deref() == Some("Success")
                    && s(r, "/additionalEventData/MFAUsed").as_deref() == Some("Yes")
            })
            .count();
        assert_eq!(row.console_logins_with_mfa, mfa as u64, "{what}");
        let mut names: BTreeMap<String, u64> = BTreeMap::new();
        for r in mine {
            *names.entry(s(r, "/eventName").unwrap()).or_default() += 1;
        }
        let mut names: Vec<(String, u64)> = names.into_iter().collect();
        names.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
        names.truncate(3);
        assert_eq!(row.top_events, names, "{what}");
    }
    assert!(logins_seen > 0, "the trail has console logins");
    // The hand-written user: its row, and filters on the event count.
    let dev = rows
        .iter()
        .find(|r| r.key.as_deref() == Some("arn:aws:iam::999900001111:user/dev_ops"))
        .unwrap();
    assert_eq!(dev.events, 3);
    assert_eq!(
        dev.services.values,
        ["ec2.amazonaws.com", "s3.amazonaws.com", "sts.amazonaws.com"]
    );
    let few = Summary {
        max_events: Some(3),
        sort: SortBy::FirstSeen,
        ..summary.clone()
    };
    let few = rt.block_on(few.run(&engine)).unwrap();
    assert!(few.iter().all(|r| r.events <= 3) && few.iter().any(|r| r == dev));
    let firsts: Vec<&Option<String>> = few.iter().map(|r| &r.first_seen).collect();
    assert!(
        firsts.windows(2).all(|w| w[0] >= w[1]),
        "newest first: {firsts:?}"
    );
}

/// Chains written by hand: a user whose key an admin created assumes a role, whose session
/// assumes another; a SAML and a web-identity federation; a session whose issuing call the
/// trail does not hold.
fn chains(dir: &Path) {
    let acct = "999900002222";
    let user = |name: &str, key: &str| {
        json!({"type": "IAMUser", "principalId": format!("AIDA{name}"), "accountId": acct,
            "arn": format!("arn:aws:iam::{acct}:user/{name}"), "userName": name, "accessKeyId": key})
    };
    let session = |role: &str, name: &str, key: &str| {
        json!({"type": "AssumedRole", "principalId": format!("AROA{role}:{name}"), "accountId": acct,
            "arn": format!("arn:aws:sts::{acct}:assumed-role/{role}/{name}"), "accessKeyId": key,
            "sessionContext": {"sessionIssuer": {"type": "Role", "principalId": format!("AROA{role}"),
                "arn": format!("arn:aws:iam::{acct}:role/{role}"), "accountId": acct, "userName": role}}})
    };
    let ev = |id: &str, t: &str, who: Value, src: &str, name: &str, req: Value, resp: Value| {
        json!({"eventVersion": "1.09", "eventID": id, "eventTime": t, "eventSource": src,
            "eventName": name, "awsRegion": "us-east-1", "sourceIPAddress": format!("203.0.113.{}", id.len()),
            "userAgent": "aws-cli/2", "userIdentity": who, "requestParameters": req,
            "responseElements": resp, "recipientAccountId": acct})
    };
    let assumed = |role: &str, name: &str, key: &str| {
        json!({"credentials": {"accessKeyId": key, "sessionToken": "x", "expiration": "later"},
            "assumedRoleUser": {"assumedRoleId": format!("AROA{role}:{name}"),
                "arn": format!("arn:aws:sts::{acct}:assumed-role/{role}/{name}")}})
    };
    gz(
        &dir.join("chains/AWSLogs/999900002222/CloudTrail/us-east-1/2024/03/02/c.json.gz"),
        json!([
            ev(
                "c-1",
                "2024-03-02T01:00:00Z",
                user("admin", "AKIAADMIN0000000000"),
                "iam.amazonaws.com",
                "CreateAccessKey",
                json!({"userName": "alice"}),
                json!({"accessKey": {"accessKeyId": "AKIAALICE0000000000", "userName": "alice", "status": "Active"}})
            ),
            ev(
                "c-2",
                "2024-03-02T02:00:00Z",
                user("alice", "AKIAALICE0000000000"),
                "sts.amazonaws.com",
                "AssumeRole",
                json!({"roleArn": format!("arn:aws:iam::{acct}:role/Ops"), "roleSessionName": "alice-s", "sourceIdentity": "alice"}),
                assumed("Ops", "alice-s", "ASIAOPS000000000001")
            ),
            ev(
                "c-3",
                "2024-03-02T02:05:00Z",
                session("Ops", "alice-s", "ASIAOPS000000000001"),
                "sts.amazonaws.com",
                "AssumeRole",
                json!({"roleArn": format!("arn:aws:iam::{acct}:role/Admin"), "roleSessionName": "chained"}),
                assumed("Admin", "chained", "ASIAADM000000000001")
            ),
            ev(
                "c-4",
                "2024-03-02T02:10:00Z",
                session("Admin", "chained", "ASIAADM000000000001"),
                "cloudtrail.amazonaws.com",
                "StopLogging",
                json!({"name": "main"}),
                Value::Null
            ),
            ev(
                "c-5",
                "2024-03-02T03:00:00Z",
                json!({"type": "SAMLUser", "principalId": "SAMLbob", "userName": "bob@example.com",
                      "identityProvider": "Okta"}),
                "sts.amazonaws.com",
                "AssumeRoleWithSAML",
                json!({"roleArn": format!("arn:aws:iam::{acct}:role/Sso"), "principalArn": format!("arn:aws:iam::{acct}:saml-provider/Okta")}),
                json!({"credentials": {"accessKeyId": "ASIASAML00000000001"}, "subject": "bob@example.com",
                      "assumedRoleUser": {"arn": format!("arn:aws:sts::{acct}:assumed-role/Sso/bob@example.com")}})
            ),
            ev(
                "c-6",
                "2024-03-02T03:05:00Z",
                session("Sso", "bob@example.com", "ASIASAML00000000001"),
                "s3.amazonaws.com",
                "ListBuckets",
                json!({}),
                Value::Null
            ),
            ev(
                "c-7",
                "2024-03-02T04:00:00Z",
                json!({"type": "WebIdentityUser", "principalId": "accounts.google.com:app:1234", "userName": "1234",
                      "identityProvider": "accounts.google.com"}),
                "sts.amazonaws.com",
                "AssumeRoleWithWebIdentity",
                json!({"roleArn": format!("arn:aws:iam::{acct}:role/App"), "roleSessionName": "web"}),
                json!({"credentials": {"accessKeyId": "ASIAWEB000000000001"}, "provider": "accounts.google.com",
                      "subjectFromWebIdentityToken": "1234",
                      "assumedRoleUser": {"arn": format!("arn:aws:sts::{acct}:assumed-role/App/web")}})
            ),
            ev(
                "c-8",
                "2024-03-02T05:00:00Z",
                session("Lost", "ghost", "ASIALOST00000000001"),
                "s3.amazonaws.com",
                "GetObject",
                json!({"bucketName": "b", "key": "k"}),
                Value::Null
            ),
        ]),
    );
}

#[test]
fn lineage_follows_each_chain_back_and_says_where_it_breaks() {
    use trawl_investigate::{chain, session_keys};
    let dir = tempfile::tempdir().unwrap();
    let trail = trawl_testkit::trail(&dir.path().join("trail"), 23, 1000, 2);
    chains(dir.path());
    let lake = Lake::create(dir.path().join("lake")).unwrap();
    trawl_testkit::ingest(&lake, &[trail, dir.path().join("chains")]);
    let rt = tokio::runtime::Runtime::new().unwrap();
    let engine = rt.block_on(QueryEngine::open(&lake)).unwrap();
    let follow = |session: &str| {
        rt.block_on(async {
            let keys = session_keys(&engine, session).await.unwrap();
            assert_eq!(keys.len(), 1, "{session}: {keys:?}");
            chain(&engine, &keys[0]).await.unwrap()
        })
    };
    // user -> role -> role, back to the key's creation by an admin whose own key predates the lake.
    let c = follow("arn:aws:sts::999900002222:assumed-role/Admin/chained");
    let hops: Vec<(&str, &str, Option<&str>)> = c
        .links
        .iter()
        .map(|l| (l.key.as_str(), l.event.as_str(), l.caller.as_deref()))
        .collect();
    assert_eq!(
        hops,
        [
            (
                "ASIAADM000000000001",
                "AssumeRole",
                Some("arn:aws:sts::999900002222:assumed-role/Ops/alice-s")
            ),
            (
                "ASIAOPS000000000001",
                "AssumeRole",
                Some("arn:aws:iam::999900002222:user/alice")
            ),
            (
                "AKIAALICE0000000000",
                "CreateAccessKey",
                Some("arn:aws:iam::999900002222:user/admin")
            ),
        ]
    );
    assert_eq!(c.links[1].source_identity.as_deref(), Some("alice"));
    assert_eq!(c.links[1].event_id.as_deref(), Some("c-2"));
    assert_eq!(c.links[2].issued_to.as_deref(), Some("alice"));
    assert!(
        c.end
            .starts_with("no CreateAccessKey of AKIAADMIN0000000000 in the lake"),
        "{}",
        c.end
    );
    let text = c.text();
    assert!(text.contains("AssumeRole issued ASIAOPS000000000001 as arn:aws:sts::999900002222:assumed-role/Ops/alice-s by arn:aws:iam::999900002222:user/alice (IAMUser, key AKIAALICE0000000000)"), "{text}");
    // Followed: the session's events and those of every key upstream, in order.
    let upstream: Vec<String> = c
        .links
        .iter()
        .filter_map(|l| l.caller_key.clone())
        .collect();
    let t = Timeline {
        subject: Subject::Session("chained".into()),
        window: TimeWindow::ALL,
        geo: false,
        also_keys: upstream,
    };
    let events = rt.block_on(async {
        let mut stream = t.stream(&engine).await.unwrap();
        let mut out = Vec::new();
        while let Some(b) = stream.next().await {
            out.extend(entries(&b.unwrap()));
        }
        out
    });
    assert_eq!(ids(&events), ["c-1", "c-2", "c-3", "c-4"]);
    // The same chain from the session's name or its key.
    assert_eq!(follow("chained"), c);
    assert_eq!(follow("ASIAADM000000000001"), c);

    // Federation: the identity provider and the subject it vouched for end the chain.
    let saml = follow("ASIASAML00000000001");
    assert_eq!(saml.links.len(), 1);
    assert_eq!(
        saml.links[0].provider.as_deref(),
        Some("arn:aws:iam::999900002222:saml-provider/Okta")
    );
    assert_eq!(saml.links[0].subject.as_deref(), Some("bob@example.com"));
    assert!(
        saml.end.starts_with(
            "federated: arn:aws:iam::999900002222:saml-provider/Okta vouched for bob@example.com"
        ),
        "{}",
        saml.end
    );
    // A session that made no call: its key from the call that issued it.
    let web = follow("arn:aws:sts::999900002222:assumed-role/App/web");
    assert_eq!(web.key, "ASIAWEB000000000001");
    assert_eq!(
        web.links[0].provider.as_deref(),
        Some("accounts.google.com")
    );
    assert_eq!(web.links[0].subject.as_deref(), Some("1234"));

    // A session whose issuing call is not in the lake.
    let lost = follow("ghost");
    assert!(lost.links.is_empty());
    assert!(
        lost.end.starts_with(
            "no event in the lake issued ASIALOST00000000001 (its first event is 2024-03-01"
        ),
        "{}",
        lost.end
    );
}
