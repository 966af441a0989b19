//! Discovery: walk the CloudTrail key layout with delimiter listings, descending only into
//! the organizations, accounts, log kinds, regions and delivery days selected, and hand the
//! objects out as they are listed.
//!
//! `[prefix/]AWSLogs/[o-ORG/]ACCOUNT/CloudTrail[-Digest|-Insight]/REGION/YYYY/MM/DD/file`
//!
//! Two phases. First the folders above the regions are listed (a few requests an account):
//! that gives the streams, one per region folder of each log kind (or per folder off the
//! layout, or per prefix a URL names below a region). Then the streams are listed a page at a
//! time, each in key order, which in this layout is delivery order, and merged by delivery
//! time, so an organization trail is read a day at a time across accounts and regions. A
//! stream holds a page or so: the listing takes the same memory for ten years of logs as for
//! a day, [`S3Options::listing_budget`](crate::S3Options) objects at most.
//!
//! The key's date is the delivery date (UTC), which trails the events' by minutes (rarely
//! more), so a window `[since, until)` lists the days `since - 1` to `until + 1`. A window
//! fully covering a month lists the month in one go; edge months are listed day by day.
//! Below the last level that filters, a prefix is listed whole.
//!
//! By job: `grammar` (the CloudTrail key layout, pure), `plan` (phase one), `merge` (phase
//! two: the streams and their merge), `listing` (the ListObjectsV2 call).

mod grammar;
mod listing;
mod merge;
mod plan;

use std::cmp::Reverse;
use std::collections::{BinaryHeap, VecDeque};
use std::sync::Arc;
use std::sync::atomic::Ordering;

use chrono::{Datelike, NaiveDate};
use futures::stream::{FuturesUnordered, StreamExt};
use trawl_ingest::{Listed, Location, SourceObject, Unlisted, delivery_stamp, looks_like_log};
use trawl_schema::TimeWindow;

use crate::retry::{backoff, classify};
use crate::{Clients, S3Error, S3Url, Shared};

use grammar::*;
use listing::*;
use plan::*;

/// Which objects to list.
#[derive(Debug, Clone, Default)]
pub struct Selection {
    /// The event time window: only the delivery days that may hold its events are listed.
    pub window: TimeWindow,
    /// Accounts (12 digits) to list; empty: all.
    pub accounts: Vec<String>,
    /// Regions to list; empty: all.
    pub regions: Vec<String>,
    /// The share of the streams (account and region folders) to list (`--shard K/N`).
    pub shard: trawl_ingest::layout::Shard,
}

/// What discovery found.
#[derive(Debug, Default)]
pub struct Discovered {
    pub objects: Vec<SourceObject>,
    /// Folders passed over because they hold no CloudTrail (other services' logs beside
    /// the trail, say), for the summary.
    pub skipped_prefixes: Vec<String>,
}

/// How to list a prefix: folder by folder, or all keys under it.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Task {
    prefix: String,
    level: Level,
    whole: bool,
}

/// Where the streams start, from the folders above the regions.
#[derive(Debug, Default)]
struct Plan {
    /// Objects a URL names exactly.
    exact: Vec<SourceObject>,
    /// Each stream's bucket and first listing. A stream at a level above the regions lists
    /// only the objects right in its folder (its folders are streams of their own).
    roots: Vec<(String, Task)>,
    skipped: Vec<String>,
}

pub(crate) fn walk(
    shared: &Arc<Shared>,
    urls: &[S3Url],
    sel: &Selection,
) -> Result<S3Walk, S3Error> {
    // The listing's own runtime and connections: the GETs' runtime is driven only while the
    // run fetches, from the thread that also pulls from this listing.
    let rt = crate::runtime("trawl-s3-list")?;
    let clients = Clients::new();
    let plan = rt.block_on(plan(shared, &clients, urls, sel))?;
    let streams = plan.roots.len();
    // A stream is topped up when below half a page, so holds at most a page and a half.
    let page = (shared.opts.listing_budget * 2 / (3 * streams.max(1))).clamp(MIN_PAGE, MAX_PAGE);
    let (tx, rx) = crossbeam_channel::bounded((shared.opts.listing_budget / 4).clamp(1, 1024));
    let mut merge = Merge {
        shared: shared.clone(),
        clients,
        sel: sel.clone(),
        page,
        streams: Vec::with_capacity(streams),
    };
    for (bucket, task) in plan.roots {
        merge.streams.push(Stream {
            bucket,
            pending: vec![(task, None)],
            buf: VecDeque::new(),
        });
    }
    let exact = plan.exact;
    std::thread::Builder::new()
        .name("trawl-s3-list".into())
        .spawn(move || {
            for obj in exact {
                if tx.send(Some(Ok(obj))).is_err() {
                    return;
                }
            }
            if merge.run(&rt, &tx) {
                let _ = tx.send(None);
            }
        })
        .map_err(|source| S3Error::Runtime { source })?;
    Ok(S3Walk {
        rx,
        ended: false,
        skipped_prefixes: plan.skipped,
        streams,
        page,
    })
}

/// The objects of an S3 walk, in delivery order across streams, listed as the run consumes
/// them: the listing holds at most about [`S3Options::listing_budget`](crate::S3Options)
/// objects ahead of the run, whatever the trail's size. A stream whose listing fails after
/// its retries yields [`Unlisted::Prefix`] and ends; the others go on.
#[derive(Debug)]
pub struct S3Walk {
    /// `None` once every stream is listed to its end.
    rx: crossbeam_channel::Receiver<Option<Listed>>,
    ended: bool,
    skipped_prefixes: Vec<String>,
    streams: usize,
    page: usize,
}

impl S3Walk {
    /// Folders passed over because they hold no CloudTrail (other services' logs beside the
    /// trail, say), as `s3://bucket/prefix/`.
    pub fn skipped_prefixes(&self) -> &[String] {
        &self.skipped_prefixes
    }

    /// How many streams (region folders, folders off the layout) are merged.
    pub fn streams(&self) -> usize {
        self.streams
    }

    /// Keys asked for in each of the streams' listings.
    pub fn page_keys(&self) -> usize {
        self.page
    }
}

impl Iterator for S3Walk {
    type Item = Listed;

    fn next(&mut self) -> Option<Listed> {
        if self.ended {
            return None;
        }
        match self.rx.recv() {
            Ok(Some(listed)) => Some(listed),
            Ok(None) => {
                self.ended = true;
                None
            }
            // The listing thread is gone without saying it is done: never end as if it were.
            Err(_) => {
                self.ended = true;
                Some(Err(Unlisted::Prefix {
                    url: "s3://".into(),
                    source:
                        "the S3 listing stopped before its end (a bug in trawl: please report it)"
                            .into(),
                }))
            }
        }
    }
}

/// One stream: a region folder (or a folder off the layout), listed in key order, which in
/// the CloudTrail layout is delivery order.
struct Stream {
    bucket: String,
    /// Listings still to make, the next last: (what, continuation token). A delimited
    /// listing pushes its continuation, then its folders, so they are listed first.
    pending: Vec<(Task, Option<String>)>,
    /// Listed, not handed out yet: (delivery stamp, object), in key order.
    buf: VecDeque<(u64, SourceObject)>,
}

/// Phase two: the streams listed a page at a time and merged by delivery time.
struct Merge {
    shared: Arc<Shared>,
    clients: Clients,
    sel: Selection,
    /// Keys a page.
    page: usize,
    streams: Vec<Stream>,
}

/// Objects and folders under one prefix.
#[derive(Debug, Default)]
struct Listing {
    objects: Vec<SourceObject>,
    folders: Vec<String>,
    next: Option<String>,
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
    fn overlapping_urls_list_each_object_once() {
        let all = Selection::default();
        let task = |prefix: &str, level| Task::new(prefix.into(), level, &all);
        let region = "AWSLogs/111122223333/CloudTrail/us-east-1/";
        let object = |bucket: &str, key: &str| SourceObject {
            uri: format!("s3://{bucket}/{key}"),
            location: Location::S3 {
                bucket: bucket.into(),
                key: key.into(),
            },
            size: 1,
            mtime_ns: 0,
            etag: None,
        };
        let mut plan = Plan {
            roots: vec![
                (
                    "b".into(),
                    task(&format!("{region}2024/"), Level::Year(2024)),
                ),
                ("b".into(), task(region, Level::Region)),
                // Objects right in AWSLogs/: a stream of that folder alone.
                ("b".into(), task("AWSLogs/", Level::AwsLogs)),
                ("b".into(), task(region, Level::Region)),
                ("b".into(), task("AWSLogs/", Level::AwsLogs)),
                ("c".into(), task(region, Level::Region)),
            ],
            exact: vec![
                object("b", &format!("{region}2024/03/01/x.json.gz")),
                object("b", "AWSLogs/top.json.gz"),
                object("b", "AWSLogs/elsewhere/y.json.gz"),
                object("b", "AWSLogs/elsewhere/y.json.gz"),
            ],
            skipped: Vec::new(),
        };
        plan.dedup();
        let roots: Vec<(&str, &str)> = plan
            .roots
            .iter()
            .map(|(b, t)| (b.as_str(), t.prefix.as_str()))
            .collect();
        assert_eq!(roots, [("b", "AWSLogs/"), ("b", region), ("c", region)]);
        // Only the object no stream lists stays, once.
        let exact: Vec<&str> = plan.exact.iter().map(|o| o.uri.as_str()).collect();
        assert_eq!(exact, ["s3://b/AWSLogs/elsewhere/y.json.gz"]);
    }

    #[test]
    fn windows_list_whole_months_and_edge_days() {
        let sel = Selection {
            window: TimeWindow::new(Some(us("2024-03-10")), Some(us("2024-05-01"))).unwrap(),
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
        // Without a window a region is listed whole; a log kind is always split into its
        // regions (streams merged by delivery time).
        assert!(!Task::new("p/".into(), Level::Kind, &Selection::default()).whole);
        assert!(Task::new("p/".into(), Level::Region, &Selection::default()).whole);
    }
}
