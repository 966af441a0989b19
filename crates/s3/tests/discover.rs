//! Discovery against a real S3 endpoint on loopback: what is listed, and what is not.

use std::collections::BTreeSet;

use trawl_ingest::Location;
use trawl_s3::{S3Options, S3Source, S3Url, Selection};
use trawl_s3_fake::{FakeS3, Faults};

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
    let s3 = FakeS3::start(dir, 0, Faults::default()).unwrap();
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

fn discovered_keys(s3: &FakeS3, url: &str, sel: &Selection) -> BTreeSet<String> {
    let url = S3Url::parse(url).unwrap().unwrap();
    let src = S3Source::new(S3Options {
        endpoint_url: Some(s3.endpoint()),
        static_credentials: Some((
            trawl_s3_fake::ACCESS_KEY.into(),
            trawl_s3_fake::SECRET_KEY.into(),
        )),
        ..S3Options::default()
    })
    .unwrap();
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
    // A whole-trail walk lists each log kind in one go, not day by day.
    assert!(s3.counters().lists() < 40, "{}", s3.counters().lists());
}

#[test]
fn a_window_and_filters_list_only_the_selected_days_accounts_and_regions() {
    let dir = tempfile::tempdir().unwrap();
    let s3 = serve(dir.path());
    // Events of 2024-03-04 and 2024-03-05: delivery days 03-03 ..= 03-06.
    let sel = Selection {
        since_us: Some(us(4)),
        until_us: Some(us(6)),
        accounts: vec!["111122223333".into(), "777788889999".into()],
        regions: vec!["us-east-1".into(), "eu-west-1".into()],
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
            since_us: Some(us(9)),
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
