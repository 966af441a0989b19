//! Discovery: walk the CloudTrail key layout with delimiter listings, descending only into
//! the organizations, accounts, log kinds, regions and delivery days selected.
//!
//! `[prefix/]AWSLogs/[o-ORG/]ACCOUNT/CloudTrail[-Digest|-Insight]/REGION/YYYY/MM/DD/file`
//!
//! The key's date is the delivery date (UTC), which trails the events' by minutes (rarely
//! more), so a window `[since, until)` lists the days `since - 1` to `until + 1`. A window
//! fully covering a month lists the month in one go; edge months are listed day by day.
//! Below the last level that filters, a prefix is listed whole (1,000 keys a request).

use std::sync::atomic::Ordering;

use chrono::{Datelike, NaiveDate};
use futures::stream::{FuturesUnordered, StreamExt};
use trawl_ingest::{Location, SourceObject, looks_like_log};

use crate::retry::{backoff, classify};
use crate::{S3Error, S3Source, S3Url};

/// Which objects to list.
#[derive(Debug, Clone, Default)]
pub struct Selection {
    /// Event time window in microseconds since the epoch, `[since, until)`.
    pub since_us: Option<i64>,
    pub until_us: Option<i64>,
    /// Accounts (12 digits) to list; empty: all.
    pub accounts: Vec<String>,
    /// Regions to list; empty: all.
    pub regions: Vec<String>,
}

/// What discovery found.
#[derive(Debug, Default)]
pub struct Discovered {
    pub objects: Vec<SourceObject>,
    /// Folders passed over because they hold no CloudTrail (other services' logs beside
    /// the trail, say), for the summary.
    pub skipped_prefixes: Vec<String>,
}

/// Where a prefix sits in the layout.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Level {
    /// Above `AWSLogs/` (a custom prefix, or the bucket root), `n` folders down from where
    /// the walk started.
    Search(u8),
    AwsLogs,
    Org,
    Account,
    /// `CloudTrail/`, `CloudTrail-Digest/` or `CloudTrail-Insight/`.
    Kind,
    Region,
    Year(i32),
    Month(i32, u32),
    Day(NaiveDate),
    /// Off the layout: everything under it is listed.
    Unknown,
}

/// Folders above `AWSLogs/` searched for it before listing everything.
const SEARCH_DEPTH: u8 = 3;

/// Delivery days to list, inclusive, if a window was given.
fn day_range(sel: &Selection) -> Option<(NaiveDate, NaiveDate)> {
    if sel.since_us.is_none() && sel.until_us.is_none() {
        return None;
    }
    let day = |us: i64| {
        chrono::DateTime::from_timestamp_micros(us)
            .map(|t| t.date_naive())
            .unwrap_or(NaiveDate::MIN)
    };
    let first = sel.since_us.map_or(NaiveDate::MIN, |s| {
        day(s).pred_opt().unwrap_or(NaiveDate::MIN)
    });
    // `until` is exclusive: its last event is a microsecond before.
    let last = sel.until_us.map_or(NaiveDate::MAX, |u| {
        day(u.saturating_sub(1))
            .succ_opt()
            .unwrap_or(NaiveDate::MAX)
    });
    Some((first, last))
}

fn is_account(s: &str) -> bool {
    s.len() == 12 && s.bytes().all(|b| b.is_ascii_digit())
}

fn is_org(s: &str) -> bool {
    s.len() > 2 && s.starts_with("o-") && s[2..].bytes().all(|b| b.is_ascii_alphanumeric())
}

fn is_kind(s: &str) -> bool {
    matches!(s, "CloudTrail" | "CloudTrail-Digest" | "CloudTrail-Insight")
}

/// `us-east-1`, `ap-southeast-2`, `us-gov-west-1`, `cn-north-1`, `eu-central-2`...
fn is_region(s: &str) -> bool {
    let parts: Vec<&str> = s.split('-').collect();
    parts.len() >= 3
        && parts[0].len() == 2
        && parts[..parts.len() - 1]
            .iter()
            .all(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_lowercase()))
        && parts[parts.len() - 1].bytes().all(|b| b.is_ascii_digit())
}

fn number(s: &str, len: usize) -> Option<u32> {
    (s.len() == len && s.bytes().all(|b| b.is_ascii_digit()))
        .then(|| s.parse().ok())
        .flatten()
}

/// The level of folder `name` found under a folder of level `parent`; `None` if it is not
/// part of the layout there (and is skipped).
fn child_level(parent: Level, name: &str) -> Option<Level> {
    Some(match parent {
        Level::Search(_) if name == "AWSLogs" => Level::AwsLogs,
        Level::Search(n) if n < SEARCH_DEPTH => Level::Search(n + 1),
        Level::Search(_) => Level::Unknown,
        Level::AwsLogs if is_org(name) => Level::Org,
        Level::AwsLogs | Level::Org if is_account(name) => Level::Account,
        Level::Account if is_kind(name) => Level::Kind,
        Level::Kind if is_region(name) => Level::Region,
        Level::Region => Level::Year(number(name, 4)? as i32),
        Level::Year(y) => match number(name, 2)? {
            m @ 1..=12 => Level::Month(y, m),
            _ => return None,
        },
        Level::Month(y, m) => Level::Day(NaiveDate::from_ymd_opt(y, m, number(name, 2)?)?),
        _ => return None,
    })
}

/// How to list a prefix: folder by folder, or all keys under it.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Task {
    prefix: String,
    level: Level,
    whole: bool,
}

impl Task {
    fn new(prefix: String, level: Level, sel: &Selection) -> Task {
        let days = day_range(sel);
        // Listed folder by folder while a level below still filters.
        let delimited = match level {
            Level::Search(_) | Level::AwsLogs | Level::Org | Level::Account => true,
            Level::Kind => days.is_some() || !sel.regions.is_empty(),
            Level::Region | Level::Year(_) => days.is_some(),
            Level::Month(y, m) => days.is_some_and(|(a, b)| {
                let first = NaiveDate::from_ymd_opt(y, m, 1).expect("valid month");
                let next = first
                    .checked_add_months(chrono::Months::new(1))
                    .unwrap_or(NaiveDate::MAX);
                !(a <= first && next.pred_opt().is_some_and(|last| last <= b))
            }),
            Level::Day(_) | Level::Unknown => false,
        };
        Task {
            prefix,
            level,
            whole: !delimited,
        }
    }
}

/// Whether a folder of `level` can hold selected objects.
fn selected(level: Level, name: &str, sel: &Selection) -> bool {
    let days = day_range(sel);
    match level {
        Level::Account => sel.accounts.is_empty() || sel.accounts.iter().any(|a| a == name),
        Level::Region => sel.regions.is_empty() || sel.regions.iter().any(|r| r == name),
        Level::Year(y) => days.is_none_or(|(a, b)| a.year() <= y && y <= b.year()),
        Level::Month(y, m) => days.is_none_or(|(a, b)| {
            let first = NaiveDate::from_ymd_opt(y, m, 1).expect("valid month");
            let last = first
                .checked_add_months(chrono::Months::new(1))
                .and_then(|d| d.pred_opt())
                .unwrap_or(NaiveDate::MAX);
            first <= b && a <= last
        }),
        Level::Day(d) => days.is_none_or(|(a, b)| a <= d && d <= b),
        _ => true,
    }
}

/// The delivery date in a key, when it has `/YYYY/MM/DD/` in it.
fn key_date(key: &str) -> Option<NaiveDate> {
    let parts: Vec<&str> = key.split('/').collect();
    parts.windows(4).rev().find_map(|w| {
        NaiveDate::from_ymd_opt(number(w[0], 4)? as i32, number(w[1], 2)?, number(w[2], 2)?)
    })
}

/// The level of the prefix the user gave, read from its folders.
fn start_level(prefix: &str, sel: &Selection) -> Option<Level> {
    let mut level = Level::Search(0);
    for name in prefix.split('/').filter(|s| !s.is_empty()) {
        level = match child_level(level, name) {
            // Folders above AWSLogs do not count towards the search depth.
            Some(Level::Search(_)) if matches!(level, Level::Search(_)) => Level::Search(0),
            Some(l) => l,
            None => Level::Unknown,
        };
        if !selected(level, name, sel) {
            return None;
        }
    }
    Some(level)
}

pub(crate) async fn discover(
    src: &S3Source,
    url: &S3Url,
    sel: &Selection,
) -> Result<Discovered, S3Error> {
    let client = src.client(&url.bucket).await;
    let mut found = Discovered::default();
    let days = day_range(sel);
    let keep = |key: &str| -> bool {
        let name = key.rsplit('/').next().unwrap_or(key);
        looks_like_log(name)
            && days.is_none_or(|(a, b)| key_date(key).is_none_or(|d| a <= d && d <= b))
    };
    // One object named exactly.
    let last = url.prefix.rsplit('/').next().unwrap_or("");
    let mut queue: Vec<Task> = Vec::new();
    if !last.is_empty() && looks_like_log(last) {
        let page = list_page(src, &client, url, &url.prefix, false, None).await?;
        found.objects.extend(
            page.objects
                .into_iter()
                .filter(|o| matches!(&o.location, Location::S3 { key, .. } if *key == url.prefix)),
        );
        return Ok(found);
    }
    let prefix = if url.prefix.is_empty() || url.prefix.ends_with('/') {
        url.prefix.clone()
    } else {
        format!("{}/", url.prefix)
    };
    match start_level(&prefix, sel) {
        Some(level) => queue.push(Task::new(prefix, level, sel)),
        None => return Ok(found),
    }
    let limit = src.opts.concurrency.clamp(1, 64);
    let mut running = FuturesUnordered::new();
    while !queue.is_empty() || !running.is_empty() {
        while running.len() < limit
            && let Some(task) = queue.pop()
        {
            running.push(list_task(src, &client, url, task));
        }
        let Some(done) = running.next().await else {
            break;
        };
        let (task, listing) = done?;
        found
            .objects
            .extend(listing.objects.into_iter().filter(|o| match &o.location {
                Location::S3 { key, .. } => keep(key),
                Location::Local(_) => false,
            }));
        for folder in listing.folders {
            let name = folder[task.prefix.len()..].trim_end_matches('/');
            match child_level(task.level, name) {
                Some(level) if selected(level, name, sel) => {
                    queue.push(Task::new(folder, level, sel));
                }
                Some(_) => {}
                None => found.skipped_prefixes.push(folder),
            }
        }
    }
    found.objects.sort_by(|a, b| a.uri.cmp(&b.uri));
    found.objects.dedup_by(|a, b| a.uri == b.uri);
    found.skipped_prefixes.sort();
    Ok(found)
}

/// Objects and folders under one prefix.
#[derive(Debug, Default)]
struct Listing {
    objects: Vec<SourceObject>,
    folders: Vec<String>,
    next: Option<String>,
}

async fn list_task(
    src: &S3Source,
    client: &aws_sdk_s3::Client,
    url: &S3Url,
    task: Task,
) -> Result<(Task, Listing), S3Error> {
    let mut all = Listing::default();
    let mut token = None;
    loop {
        let page = list_page(src, client, url, &task.prefix, !task.whole, token).await?;
        all.objects.extend(page.objects);
        all.folders.extend(page.folders);
        token = page.next;
        if token.is_none() {
            return Ok((task, all));
        }
    }
}

/// One ListObjectsV2 page, retried like GETs are.
async fn list_page(
    src: &S3Source,
    client: &aws_sdk_s3::Client,
    url: &S3Url,
    prefix: &str,
    delimited: bool,
    token: Option<String>,
) -> Result<Listing, S3Error> {
    let mut attempt = 0u32;
    loop {
        let mut req = client
            .list_objects_v2()
            .bucket(&url.bucket)
            .prefix(prefix)
            .set_continuation_token(token.clone());
        if delimited {
            req = req.delimiter("/");
        }
        src.counts.list.fetch_add(1, Ordering::Relaxed);
        let f = match req.send().await {
            Ok(out) => {
                let objects = out
                    .contents()
                    .iter()
                    .filter_map(|o| {
                        let key = o.key()?;
                        (!key.ends_with('/')).then(|| SourceObject {
                            uri: format!("s3://{}/{key}", url.bucket),
                            location: Location::S3 {
                                bucket: url.bucket.clone(),
                                key: key.to_string(),
                            },
                            size: o.size().unwrap_or(0).max(0) as u64,
                            mtime_ns: o.last_modified().map_or(0, |t| {
                                t.secs()
                                    .saturating_mul(1_000_000_000)
                                    .saturating_add(i64::from(t.subsec_nanos()))
                            }),
                            etag: o.e_tag().map(str::to_string),
                        })
                    })
                    .collect();
                src.counts
                    .listed
                    .fetch_add(out.contents().len() as u64, Ordering::Relaxed);
                let folders = out
                    .common_prefixes()
                    .iter()
                    .filter_map(|p| p.prefix().map(str::to_string))
                    .collect();
                let next = out
                    .is_truncated()
                    .unwrap_or(false)
                    .then(|| out.next_continuation_token().map(str::to_string))
                    .flatten();
                return Ok(Listing {
                    objects,
                    folders,
                    next,
                });
            }
            Err(e) => classify(&e),
        };
        attempt += 1;
        if !f.retry || attempt >= src.opts.max_attempts {
            return Err(S3Error::Request {
                url: format!("s3://{}/{prefix}", url.bucket),
                message: format!("listing failed: {}", f.message),
            });
        }
        src.counts.retries.fetch_add(1, Ordering::Relaxed);
        tokio::time::sleep(backoff(&src.opts, attempt - 1)).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn us(date: &str) -> i64 {
        NaiveDate::parse_from_str(date, "%Y-%m-%d")
            .unwrap()
            .and_hms_opt(0, 0, 0)
            .unwrap()
            .and_utc()
            .timestamp_micros()
    }

    #[test]
    fn layout_names() {
        assert!(
            is_region("us-east-1") && is_region("us-gov-west-1") && is_region("ap-southeast-2")
        );
        assert!(!is_region("CloudTrail") && !is_region("2024") && !is_region("us-east"));
        assert!(is_org("o-abc123def4") && !is_org("o-") && !is_org("other"));
        assert!(is_account("123456789012") && !is_account("12345678901"));
        assert_eq!(
            key_date("AWSLogs/1/CloudTrail/us-east-1/2024/03/01/x.json.gz"),
            NaiveDate::from_ymd_opt(2024, 3, 1)
        );
        assert_eq!(key_date("logs/x.json.gz"), None);
    }

    #[test]
    fn the_user_prefix_places_the_walk() {
        let all = Selection::default();
        assert_eq!(start_level("", &all), Some(Level::Search(0)));
        assert_eq!(start_level("trails/org/", &all), Some(Level::Search(0)));
        assert_eq!(start_level("trails/AWSLogs/", &all), Some(Level::AwsLogs));
        assert_eq!(
            start_level(
                "AWSLogs/o-aa11bb22cc/111122223333/CloudTrail/eu-west-1/2024/03/",
                &all
            ),
            Some(Level::Month(2024, 3))
        );
        assert_eq!(
            start_level("AWSLogs/111122223333/Config/", &all),
            Some(Level::Unknown)
        );
        let only = Selection {
            accounts: vec!["444455556666".into()],
            ..Selection::default()
        };
        assert_eq!(start_level("AWSLogs/111122223333/", &only), None);
    }

    #[test]
    fn windows_list_whole_months_and_edge_days() {
        let sel = Selection {
            since_us: Some(us("2024-03-10")),
            until_us: Some(us("2024-05-01")),
            ..Selection::default()
        };
        // Delivery days 2024-03-09 ..= 2024-05-01.
        assert_eq!(
            day_range(&sel),
            Some((
                NaiveDate::from_ymd_opt(2024, 3, 9).unwrap(),
                NaiveDate::from_ymd_opt(2024, 5, 1).unwrap()
            ))
        );
        assert!(Task::new("p/".into(), Level::Month(2024, 4), &sel).whole);
        assert!(!Task::new("p/".into(), Level::Month(2024, 3), &sel).whole);
        assert!(!Task::new("p/".into(), Level::Month(2024, 5), &sel).whole);
        assert!(!Task::new("p/".into(), Level::Region, &sel).whole);
        assert!(selected(Level::Month(2024, 5), "05", &sel));
        assert!(!selected(Level::Month(2024, 6), "06", &sel));
        assert!(!selected(
            Level::Day(NaiveDate::from_ymd_opt(2024, 3, 8).unwrap()),
            "08",
            &sel
        ));
        assert!(selected(
            Level::Day(NaiveDate::from_ymd_opt(2024, 3, 9).unwrap()),
            "09",
            &sel
        ));
        // Without a window or region filter a log kind is listed whole.
        assert!(Task::new("p/".into(), Level::Kind, &Selection::default()).whole);
        assert!(Task::new("p/".into(), Level::Region, &Selection::default()).whole);
    }
}
