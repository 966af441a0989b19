//! Dashboard tiles answered from cached partial answers ([`trawl_report::TileCache`]) give
//! exactly the answers of the tiles' own queries: every tile, over ranges that fall on day
//! boundaries and across them, open-ended, empty and outside the data, with and without a
//! drill-down filter, while commits land (generated trails, and records whose `eventTime` is
//! written oddly or cannot be parsed). And a commit costs one partial query per tile, not
//! the lake.

#![allow(clippy::unwrap_used, reason = "a test's unwrap is its failure message")]

use std::sync::Arc;

use serde_json::{Value, json};
use trawl_report::{Range, TileCache};
use trawl_schema::TimeWindow;

fn ranges() -> Vec<Range> {
    let w = |since: Option<&str>, until: Option<&str>| Range {
        window: TimeWindow::parse(since, until).unwrap(),
        filters: Vec::new(),
        zone: None,
    };
    vec![
        w(None, None),
        w(Some("2024-03-02"), Some("2024-03-03")),
        w(Some("2024-03-02"), Some("2024-03-04T23:59:59Z")),
        w(Some("2024-03-01T13:30:00Z"), Some("2024-03-03T08:15:00Z")),
        w(Some("2024-03-03"), None),
        w(None, Some("2024-03-02T12:00:00Z")),
        w(Some("2024-03-03T10:00:00Z"), Some("2024-03-03T10:00:01Z")),
        w(Some("2030-01-01"), None),
    ]
}

/// Filter sets, one of two filters at once (both must hold).
fn filters() -> Vec<Vec<(&'static str, &'static str)>> {
    vec![
        vec![],
        vec![("eventname", "ConsoleLogin")],
        vec![("awsregion", "us-east-1")],
        vec![("user_type", "AssumedRole")],
        vec![("errorcode", "AccessDenied")],
        vec![("account", "111122223333"), ("region", "us-east-1")],
    ]
}

/// Records the generator does not write: times in other forms, unparseable or missing, a
/// login and a security group change at a day's last second.
fn odd_records() -> Value {
    let rec = |id: &str, time: Value, name: &str, extra: Value| {
        let mut r = json!({
            "eventVersion": "1.09", "eventID": id, "eventSource": "signin.amazonaws.com",
            "eventName": name, "awsRegion": "us-east-1", "sourceIPAddress": "81.2.69.142",
            "eventType": "AwsConsoleSignIn", "recipientAccountId": "111122223333",
            "userIdentity": {"type": "IAMUser", "principalId": "AIDAODD", "userName": "odd",
                             "arn": "arn:aws:iam::111122223333:user/odd"},
            "responseElements": {"ConsoleLogin": "Failure"},
            "additionalEventData": {"MFAUsed": "No"},
            "errorMessage": "Failed authentication",
        });
        if !time.is_null() {
            r["eventTime"] = time;
        }
        for (k, v) in extra.as_object().unwrap() {
            r[k] = v.clone();
        }
        r
    };
    json!({"Records": [
        rec("odd-1", json!("2024-03-02 10:00:00"), "ConsoleLogin", json!({})),
        rec("odd-2", json!("2024-03-03T10:00:00.5Z"), "ConsoleLogin", json!({})),
        rec("odd-3", json!("not a time"), "ConsoleLogin", json!({})),
        rec("odd-4", Value::Null, "ConsoleLogin", json!({})),
        rec("odd-5", json!("2024-03-04T23:59:59Z"), "ConsoleLogin", json!({})),
        rec("odd-6", json!("2024-03-02T00:00:00+01:00"), "AuthorizeSecurityGroupIngress", json!({
            "eventSource": "ec2.amazonaws.com", "errorCode": "AccessDenied",
            "requestParameters": {"groupId": "sg-0dd", "ipPermissions": {"items": [
                {"ipProtocol": "tcp", "fromPort": 22, "toPort": 22,
                 "ipRanges": {"items": [{"cidrIp": "0.0.0.0/0"}]}}]}}})),
    ]})
}

/// Runs dashboard `d` over `range` directly and from `cache`, asserts every tile's answer
/// the same both ways, and returns how many tiles had rows.
async fn same_both_ways(
    engine: &trawl_query::QueryEngine,
    cache: &TileCache,
    d: &trawl_report::Dashboard,
    range: &Range,
    geo: bool,
    context: &str,
) -> usize {
    let direct = trawl_report::run(engine, d, range, geo).await.unwrap();
    let cached = trawl_report::run_cached(engine, Some(cache), d, range, geo, None)
        .await
        .unwrap();
    for (a, b) in direct.tiles.iter().zip(&cached.tiles) {
        assert_eq!(
            (&a.columns, &a.rows),
            (&b.columns, &b.rows),
            "{context}: tile {} over {:?} {:?}: direct (left) and from partials (right) differ",
            a.id,
            range.window,
            range.filters
        );
    }
    direct.tiles.iter().filter(|t| !t.rows.is_empty()).count()
}

/// Every tile's answer through the cache and directly, compared row by row.
async fn compare_all(engine: &trawl_query::QueryEngine, cache: &TileCache, stage: &str) {
    let mut checked = 0;
    for d in trawl_report::select("all").unwrap() {
        for base in ranges() {
            for set in filters() {
                let mut range = base.clone();
                for (c, v) in set {
                    range = range.filtered(c, v).unwrap();
                }
                checked += same_both_ways(engine, cache, &d, &range, true, stage).await;
            }
        }
    }
    // The comparisons are not all of empty answers.
    assert!(checked > 200, "{stage}: only {checked} tiles had rows");
}

/// Three dashboards through the cache and directly, over all time and over a window.
async fn three_dashboards(engine: &trawl_query::QueryEngine, cache: &TileCache, context: &str) {
    let window = TimeWindow::parse(Some("2024-03-02"), Some("2024-03-04T23:59:59Z")).unwrap();
    for id in [
        "general-operations",
        "security-group-modifications",
        "console-login-overview",
    ] {
        let d = trawl_report::select(id).unwrap().remove(0);
        for range in [
            Range::default(),
            Range {
                window,
                filters: Vec::new(),
                zone: None,
            },
        ] {
            same_both_ways(engine, cache, &d, &range, true, context).await;
        }
    }
}

/// A filtered dashboard's tiles are computed from its events, read from the lake once; a
/// filter that keeps more events than the cache reads into memory has each tile query the
/// lake instead; both answer as the tiles' own queries do.
async fn filtered_dashboards_read_the_lake_once(engine: &trawl_query::QueryEngine) {
    let d = trawl_report::select("general-operations")
        .unwrap()
        .remove(0);
    let range = Range::default().filtered("awsregion", "us-east-1").unwrap();
    let count = async |sql: String| {
        let counted = engine.run(&sql).await.unwrap().remove(0);
        arrow::array::AsArray::as_primitive::<arrow::datatypes::Int64Type>(
            counted.batches[0].column(0),
        )
        .value(0) as usize
    };
    let kept =
        count("SELECT count(*) FROM cloudtrail_logs WHERE awsregion = 'us-east-1'".into()).await;
    assert!(kept > 100, "{kept} events in us-east-1");
    let rolled = d.tiles.iter().filter(|t| t.rollup.is_some()).count() as u64;
    // The tiles name members of `useridentity` only: the read takes those members, not the
    // dozen columns of the struct (the answers below are the tiles' own over the lake).
    let scoped = trawl_report::rollup::Scoped::of(engine, &d).await.unwrap();
    let identity: Vec<&String> = scoped
        .columns()
        .iter()
        .filter(|c| c.ends_with("AS \"useridentity\""))
        .collect();
    assert!(
        identity.len() == 1
            && identity[0].starts_with("named_struct(")
            && identity[0].contains("'arn', ")
            && !identity[0].contains("accountid"),
        "{:?}",
        scoped.columns()
    );
    // (events allowed in memory, bytes, reads of them, partials from them): the events the
    // filter keeps, one fewer, none, and all of them but a byte.
    let all = usize::MAX;
    for (rows, bytes, reads, from_events) in [
        (kept, all, 1, rolled),
        (kept - 1, all, 1, 0),
        (0, all, 0, 0),
        (kept, 1, 1, 0),
    ] {
        let cache = TileCache::new(64 << 20)
            .with_scoped_rows(rows)
            .with_scoped_bytes(bytes);
        let context = format!(
            "{kept} events kept by the filter, {rows} events and {bytes} bytes allowed in memory"
        );
        same_both_ways(engine, &cache, &d, &range, true, &context).await;
        assert_eq!(cache.computed(), rolled, "one partial per tile");
        assert_eq!(
            cache.scoped_reads(),
            reads,
            "reads of the events, {context}"
        );
        assert_eq!(
            cache.from_events(),
            from_events,
            "partials from them, {context}"
        );
    }

    // A dashboard whose tiles all read some events only (Console Login Overview: logins)
    // reads only those: as many as the filter keeps of them fit.
    let d = trawl_report::select("console-login-overview")
        .unwrap()
        .remove(0);
    let scope = d.scope.expect("the logins dashboard reads logins only");
    let logins = count(format!(
        "SELECT count(*) FROM cloudtrail_logs WHERE awsregion = 'us-east-1' AND {}",
        scope.predicate
    ))
    .await;
    assert!(
        logins > 0 && logins < kept,
        "{logins} logins of {kept} events"
    );
    let rolled = d.tiles.iter().filter(|t| t.rollup.is_some()).count() as u64;
    let cache = TileCache::new(64 << 20).with_scoped_rows(logins);
    same_both_ways(engine, &cache, &d, &range, true, "logins in memory").await;
    assert_eq!(
        (cache.scoped_reads(), cache.from_events()),
        (1, rolled),
        "{logins} logins allowed in memory"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tiles_from_partials_equal_their_queries_as_commits_land() {
    let dir = tempfile::tempdir().unwrap();
    let geo_path = dir.path().join("city.mmdb");
    trawl_geo::testing::write_city_db(&geo_path, &trawl_geo::testing::sample_places()).unwrap();
    let geo = Some(Arc::new(trawl_geo::GeoDb::open(&[geo_path]).unwrap()));
    let lake = trawl_lake::Lake::create(dir.path().join("lake")).unwrap();
    let trail = |seed: u64, events: usize| {
        let spec = trawl_gen::TrailSpec {
            seed,
            events,
            days: 5,
            ..trawl_gen::TrailSpec::default()
        };
        let out = dir.path().join(format!("trail-{seed}"));
        trawl_gen::write_trail(&out, &spec).unwrap();
        out
    };
    let cache = TileCache::new(64 << 20);

    trawl_testkit::ingest(&lake, &[trail(1, 3000)]);
    let engine = trawl_query::QueryEngine::open_with_geo(&lake, geo.clone())
        .await
        .unwrap();
    compare_all(&engine, &cache, "one trail").await;
    filtered_dashboards_read_the_lake_once(&engine).await;

    let odd = dir.path().join("odd.json");
    std::fs::write(&odd, odd_records().to_string()).unwrap();
    trawl_testkit::ingest(&lake, &[odd]);
    trawl_testkit::ingest(&lake, &[trail(2, 800)]);
    let engine = trawl_query::QueryEngine::open_with_geo(&lake, geo.clone())
        .await
        .unwrap();
    assert!(engine.version() >= 3, "three commits at least");
    compare_all(&engine, &cache, "after two more commits").await;

    // A commit costs each (tile, filter) one partial query over its own files: one
    // dashboard asked again after one more commit computes one span per tile.
    let d = trawl_report::select("general-operations")
        .unwrap()
        .remove(0);
    let range = Range::default();
    trawl_report::run_cached(&engine, Some(&cache), &d, &range, true, None)
        .await
        .unwrap();
    let before = cache.computed();
    trawl_report::run_cached(&engine, Some(&cache), &d, &range, true, None)
        .await
        .unwrap();
    assert_eq!(
        cache.computed(),
        before,
        "the same snapshot again: all cached"
    );
    trawl_testkit::ingest(&lake, &[trail(3, 300)]);
    let engine = trawl_query::QueryEngine::open_with_geo(&lake, geo.clone())
        .await
        .unwrap();
    same_both_ways(&engine, &cache, &d, &range, true, "one more commit").await;
    assert_eq!(
        cache.computed() - before,
        d.tiles.len() as u64,
        "one new partial per tile for one new commit"
    );
    assert!(cache.bytes().await > 0);

    // Past 8 spans a chain is merged into one, from the partials alone: still exact, for
    // grouped tiles and for event rows.
    for seed in 10..20 {
        trawl_testkit::ingest(&lake, &[trail(seed, 60)]);
        let engine = trawl_query::QueryEngine::open_with_geo(&lake, geo.clone())
            .await
            .unwrap();
        three_dashboards(&engine, &cache, &format!("commit {seed}")).await;
    }

    // A compaction takes out files of earlier commits and adds their rows again: the
    // partials cached before it must not be merged with the lake after it.
    let s = trawl_lake::compact(&lake, &trawl_lake::CompactOptions::default()).unwrap();
    assert!(s.version.is_some(), "{s:?}");
    for stage in ["after a compaction", "a commit after a compaction"] {
        if stage != "after a compaction" {
            trawl_testkit::ingest(&lake, &[trail(30, 200)]);
        }
        let engine = trawl_query::QueryEngine::open_with_geo(&lake, geo.clone())
            .await
            .unwrap();
        assert!(engine.rewritten_at() > 0);
        three_dashboards(&engine, &cache, stage).await;
    }
}
