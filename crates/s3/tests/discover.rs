//! Discovery against a real S3 endpoint on loopback: what is listed, and what is not.

#![allow(clippy::unwrap_used, reason = "a test's unwrap is its failure message")]

use std::collections::BTreeSet;

use trawl_ingest::Location;
use trawl_s3::{S3Options, S3Source, S3Url, Selection};
use trawl_s3_fake::{FakeS3, Faults};
use trawl_schema::TimeWindow;

const DAYS: u32 = 10;

/// Keys of a bucket with two plain accounts, one under an organization, digests, insights
/// and other services' logs beside the trail: (key, account, region, day of March 2024).
fn keys() -> Vec<(String, String, String, u32)> {
    let mut out = Vec::new();
    for (base, account) in [
        ("AWSLogs/111122223333", "111122223333"),
        ("AWSLogs/444455556666", "444455556666"),
        ("AWSLogs/o-abc123def4/777788889999", "777788889999"),
    ] {
        for kind in ["CloudTrail", "CloudTrail-Digest", "CloudTrail-Insight"] {
            for region in ["us-east-1", "eu-west-1", "ap-southeast-2"] {
                for day in 1..=DAYS {
                    for hour in [0, 12, 23] {
                        let key = format!(
                            "{base}/{kind}/{region}/2024/03/{day:02}/{account}_{kind}_{region}_202403{day:02}T{hour:02}05Z_X.json.gz"
                        );
                        out.push((key, account.into(), region.into(), day));
                    }
                }
            }
        }
    }
    out
}

fn serve(dir: &std::path::Path) -> FakeS3 {
    let s3 = trawl_testkit::s3(dir, Faults::default());
    for (key, ..) in keys() {
        s3.put("trail", &format!("custom/prefix/{key}"), b"x")
            .unwrap();
    }
    s3.put(
        "trail",
        "custom/prefix/AWSLogs/111122223333/vpcflowlogs/us-east-1/2024/03/05/flow.log.gz",
        b"x",
    )
    .unwrap();
    s3.put(
        "trail",
        "custom/prefix/AWSLogs/111122223333/CloudTrail/us-east-1/2024/03/05/README.md",
        b"x",
    )
    .unwrap();
    s3
}

fn source(s3: &FakeS3, opts: S3Options) -> S3Source {
    S3Source::new(S3Options {
        endpoint_url: Some(s3.endpoint()),
        static_credentials: Some((
            trawl_s3_fake::ACCESS_KEY.into(),
            trawl_s3_fake::SECRET_KEY.into(),
        )),
        ..opts
    })
    .unwrap()
}

fn key_of(o: &trawl_ingest::SourceObject) -> String {
    match &o.location {
        Location::S3 { key, .. } => key.clone(),
        Location::Local(p) => panic!("{p:?}"),
    }
}

fn discovered_keys(s3: &FakeS3, url: &str, sel: &Selection) -> BTreeSet<String> {
    let url = S3Url::parse(url).unwrap().unwrap();
    let src = source(s3, S3Options::default());
    s3.counters().reset();
    let found = src.discover(&url, sel).unwrap();
    assert_eq!(
        src.counts().snapshot().list_requests,
        s3.counters().lists(),
        "every LIST is counted"
    );
    found
        .objects
        .into_iter()
        .map(|o| match o.location {
            Location::S3 { key, .. } => key,
            Location::Local(p) => panic!("{p:?}"),
        })
        .collect()
}

fn us(day: u32) -> i64 {
    let date = chrono::NaiveDate::from_ymd_opt(2024, 3, day).unwrap();
    date.and_time(chrono::NaiveTime::MIN)
        .and_utc()
        .timestamp_micros()
}

#[test]
fn the_whole_trail_from_the_bucket_root() {
    let dir = tempfile::tempdir().unwrap();
    let s3 = serve(dir.path());
    let got = discovered_keys(&s3, "s3://trail", &Selection::default());
    let want: BTreeSet<String> = keys()
        .into_iter()
        .map(|(k, ..)| format!("custom/prefix/{k}"))
        .collect();
    assert_eq!(got, want);
    // Other services' folders are not listed into.
    assert!(
        !s3.counters()
            .list_prefixes()
            .iter()
            .any(|p| p.contains("vpcflowlogs")),
        "{:?}",
        s3.counters().list_prefixes()
    );
    // A whole-trail walk lists the 17 folders above the regions, then each of the 27 region
    // folders in one go (30 keys each), not day by day (270 day folders).
    assert!(
        s3.counters().lists() <= 17 + 27,
        "{}",
        s3.counters().lists()
    );
}

#[test]
fn a_window_and_filters_list_only_the_selected_days_accounts_and_regions() {
    let dir = tempfile::tempdir().unwrap();
    let s3 = serve(dir.path());
    // Events of 2024-03-04 and 2024-03-05: delivery days 03-03 ..= 03-06.
    let sel = Selection {
        window: TimeWindow::new(Some(us(4)), Some(us(6))).unwrap(),
        accounts: vec!["111122223333".into(), "777788889999".into()],
        regions: vec!["us-east-1".into(), "eu-west-1".into()],
        ..Selection::default()
    };
    let wanted = |account: &str, region: &str, day: u32| {
        sel.accounts.iter().any(|a| a == account)
            && sel.regions.iter().any(|r| r == region)
            && (3..=6).contains(&day)
    };
    let got = discovered_keys(&s3, "s3://trail/custom/prefix/", &sel);
    let all = keys();
    let want: BTreeSet<String> = all
        .iter()
        .filter(|(_, a, r, d)| wanted(a, r, *d))
        .map(|(k, ..)| format!("custom/prefix/{k}"))
        .collect();
    assert_eq!(got, want);
    // Nothing outside the selection was ever listed (LIST answers name only selected keys).
    let listed = s3.counters().listed_keys();
    assert!(!listed.is_empty());
    // (The README sits in a selected day folder: listed, not picked.)
    for key in listed.iter().filter(|k| !k.ends_with("README.md")) {
        let (_, a, r, d) = all
            .iter()
            .find(|(k, ..)| key.ends_with(k.as_str()))
            .unwrap_or_else(|| panic!("unexpected listed key {key}"));
        assert!(wanted(a, r, *d), "listed outside the selection: {key}");
    }
    // Not a single object was fetched by discovery.
    assert_eq!(s3.counters().gets(), 0);
}

#[test]
fn a_prefix_below_awslogs_and_a_single_object() {
    let dir = tempfile::tempdir().unwrap();
    let s3 = serve(dir.path());
    let base = "custom/prefix/AWSLogs/o-abc123def4/777788889999/CloudTrail/eu-west-1/2024/03/";
    let got = discovered_keys(
        &s3,
        &format!("s3://trail/{base}"),
        &Selection {
            window: TimeWindow::new(Some(us(9)), None).unwrap(),
            ..Selection::default()
        },
    );
    // Delivery days from 03-08 on, in this account, region and kind only.
    let want: BTreeSet<String> = keys()
        .into_iter()
        .filter(|(k, _, _, d)| format!("custom/prefix/{k}").starts_with(base) && *d >= 8)
        .map(|(k, ..)| format!("custom/prefix/{k}"))
        .collect();
    assert_eq!(got.len(), 9, "{got:?}");
    assert_eq!(got, want);

    let one = want.iter().next().unwrap().clone();
    let got = discovered_keys(&s3, &format!("s3://trail/{one}"), &Selection::default());
    assert_eq!(got, BTreeSet::from([one]));
}

/// A bucket of one account, `regions` regions with `per_day` objects a day for `days` days;
/// returns the keys.
fn busy_bucket(s3: &FakeS3, regions: &[&str], days: u32, per_day: u32) -> BTreeSet<String> {
    let mut keys = BTreeSet::new();
    for region in regions {
        for day in 1..=days {
            for n in 0..per_day {
                let (h, m) = (n * 1440 / per_day / 60, n * 1440 / per_day % 60);
                let key = format!(
                    "AWSLogs/111122223333/CloudTrail/{region}/2024/03/{day:02}/111122223333_CloudTrail_{region}_202403{day:02}T{h:02}{m:02}Z_{n}.json.gz"
                );
                s3.put("busy", &key, b"x").unwrap();
                keys.insert(key);
            }
        }
    }
    keys
}

#[test]
fn the_listing_is_handed_out_as_it_goes_in_delivery_order_within_its_budget() {
    let dir = tempfile::tempdir().unwrap();
    let s3 = FakeS3::start(dir.path(), 0, Faults::default()).unwrap();
    let regions = ["us-east-1", "eu-west-1", "ap-southeast-2"];
    let want = busy_bucket(&s3, &regions, 4, 100);
    let budget = 60;
    let src = source(
        &s3,
        S3Options {
            listing_budget: budget,
            ..S3Options::default()
        },
    );
    s3.counters().reset();
    let url = S3Url::parse("s3://busy/").unwrap().unwrap();
    let walk = src.walk(&[url], &Selection::default()).unwrap();
    assert_eq!(walk.streams(), 3);
    // The budget shared by three region streams, a page and a half each: 13 keys a page.
    assert_eq!(walk.page_keys(), 13);
    let mut got = Vec::new();
    let mut most_ahead = 0;
    for listed in walk {
        let obj = listed.unwrap();
        got.push(key_of(&obj));
        // Keys the server has named so far, against those the run has taken.
        let ahead = s3.counters().listed_keys().len() - got.len();
        most_ahead = most_ahead.max(ahead);
    }
    // Every object once.
    assert_eq!(got.len(), want.len());
    assert_eq!(got.iter().cloned().collect::<BTreeSet<_>>(), want);
    // Never more than the budget and the hand-over queue (15) ahead of the run, where a
    // listing held whole would be 1,200.
    assert!(
        most_ahead <= budget + budget / 4,
        "{most_ahead} listed ahead"
    );
    // Delivery order across the regions, not region by region.
    let stamps: Vec<u64> = got
        .iter()
        .map(|k| trawl_ingest::delivery_stamp(k).unwrap())
        .collect();
    assert!(
        stamps.windows(2).all(|w| w[0] <= w[1]),
        "not in delivery order"
    );
    let region = |k: &String| k.split('/').nth(3).unwrap().to_string();
    let first_three: BTreeSet<String> = got[..3].iter().map(region).collect();
    assert_eq!(first_three.len(), 3, "{:?}", &got[..3]);
    // Pages of 13 keys: 1,200 objects took at least 93 listings.
    assert!(s3.counters().lists() >= 93, "{}", s3.counters().lists());
    assert_eq!(s3.counters().gets(), 0);
}

#[test]
fn a_listing_that_fails_is_reported_by_prefix_and_the_other_streams_go_on() {
    let dir = tempfile::tempdir().unwrap();
    let broken = "AWSLogs/111122223333/CloudTrail/eu-west-1/";
    let s3 = FakeS3::start(
        dir.path(),
        0,
        Faults {
            always_fail_lists: vec![broken.into()],
            ..Faults::default()
        },
    )
    .unwrap();
    let want = busy_bucket(&s3, &["us-east-1", "eu-west-1"], 2, 30);
    let src = source(
        &s3,
        S3Options {
            max_attempts: 2,
            base_backoff: std::time::Duration::from_millis(1),
            ..S3Options::default()
        },
    );
    let url = S3Url::parse("s3://busy/").unwrap().unwrap();
    let (mut ok, mut failed) = (BTreeSet::new(), Vec::new());
    for listed in src
        .walk(std::slice::from_ref(&url), &Selection::default())
        .unwrap()
    {
        match listed {
            Ok(obj) => {
                ok.insert(key_of(&obj));
            }
            Err(e) => failed.push(e),
        }
    }
    let healthy: BTreeSet<String> = want
        .into_iter()
        .filter(|k| !k.starts_with(broken))
        .collect();
    assert_eq!(ok, healthy);
    assert_eq!(failed.len(), 1, "{failed:?}");
    let (path, reason) = (failed[0].path(), failed[0].to_string());
    assert_eq!(path, format!("s3://busy/{broken}"));
    assert!(reason.starts_with(path.as_str()), "{reason}");
    assert!(
        reason.contains("listing failed") && reason.contains("run the same command again"),
        "{reason}"
    );
    // Listed whole, the same failure is an error naming the prefix.
    let err = src
        .discover(&url, &Selection::default())
        .unwrap_err()
        .to_string();
    assert!(err.contains(broken), "{err}");
}

#[test]
fn shards_list_disjoint_shares_of_the_streams_and_only_their_own_folders() {
    let dir = tempfile::tempdir().unwrap();
    let s3 = serve(dir.path());
    let all = discovered_keys(&s3, "s3://trail/custom/prefix/", &Selection::default());
    let mut union = BTreeSet::new();
    for k in 1..=3 {
        let shard = trawl_ingest::layout::Shard::new(k, 3).unwrap();
        let sel = Selection {
            shard,
            ..Selection::default()
        };
        let got = discovered_keys(&s3, "s3://trail/custom/prefix/", &sel);
        assert!(!got.is_empty(), "shard {shard} gets some of 27 streams");
        for key in &got {
            assert!(shard.holds(key), "{key} listed by shard {shard}");
            assert!(union.insert(key.clone()), "{key} in two shards");
        }
        // The region folders of other shards' streams were never listed into.
        for key in s3.counters().listed_keys() {
            if key.contains("/2024/") {
                assert!(shard.holds(&key), "shard {shard} listed {key}");
            }
        }
    }
    assert_eq!(union, all, "the three shares make the whole");
}
