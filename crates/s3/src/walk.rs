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

use std::cmp::Reverse;
use std::collections::{BinaryHeap, VecDeque};
use std::sync::Arc;
use std::sync::atomic::Ordering;

use chrono::{Datelike, NaiveDate};
use futures::stream::{FuturesUnordered, StreamExt};
use trawl_ingest::{Listed, Location, SourceObject, delivery_stamp, looks_like_log};

use crate::retry::{backoff, classify};
use crate::{Clients, S3Error, S3Url, Shared};

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
            // Down to a log kind, split into its regions: streams merged by delivery time.
            l if above_region(l) => true,
            Level::Region | Level::Year(_) => days.is_some(),
            Level::Month(y, m) => days.is_some_and(|(a, b)| {
                let first = NaiveDate::from_ymd_opt(y, m, 1).expect("valid month");
                let next = first
                    .checked_add_months(chrono::Months::new(1))
                    .unwrap_or(NaiveDate::MAX);
                !(a <= first && next.pred_opt().is_some_and(|last| last <= b))
            }),
            // A day, a folder off the layout.
            _ => false,
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

/// Levels listed folder by folder before the streams start: a few folders an account.
fn above_region(level: Level) -> bool {
    matches!(
        level,
        Level::Search(_) | Level::AwsLogs | Level::Org | Level::Account | Level::Kind
    )
}

/// Pages of a stream are the listing budget shared among the streams, within these bounds
/// (S3 answers at most 1,000 keys a request).
const MIN_PAGE: usize = 10;
const MAX_PAGE: usize = 1000;

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

/// Whether a root lists everything below its prefix (a stream at a level above the regions,
/// always delimited, lists only the objects right in its folder).
fn covers_below(task: &Task) -> bool {
    !above_region(task.level)
}

impl Plan {
    /// Drops the roots and objects that another root lists already (URLs that overlap).
    fn dedup(&mut self) {
        self.roots.sort_by(|(a, x), (b, y)| {
            (a, &x.prefix, !covers_below(x)).cmp(&(b, &y.prefix, !covers_below(y)))
        });
        // Keys under one prefix sort together: the last root kept that covers what is
        // below it is the only one that can cover the next.
        let mut cover: Option<(String, String)> = None;
        let mut kept: Vec<(String, Task)> = Vec::with_capacity(self.roots.len());
        for (bucket, task) in std::mem::take(&mut self.roots) {
            let covered = cover
                .as_ref()
                .is_some_and(|(b, p)| *b == bucket && task.prefix.starts_with(p.as_str()));
            let repeated = kept
                .last()
                .is_some_and(|(b, t)| *b == bucket && t.prefix == task.prefix);
            if covered || repeated {
                continue;
            }
            if covers_below(&task) {
                cover = Some((bucket.clone(), task.prefix.clone()));
            }
            kept.push((bucket, task));
        }
        self.roots = kept;
        let roots = &self.roots;
        self.exact.sort_by(|a, b| a.uri.cmp(&b.uri));
        self.exact.dedup_by(|a, b| a.uri == b.uri);
        self.exact.retain(|o| {
            let Location::S3 { bucket, key } = &o.location else {
                return true;
            };
            !roots.iter().any(|(b, t)| {
                b == bucket
                    && key
                        .strip_prefix(t.prefix.as_str())
                        .is_some_and(|rest| covers_below(t) || !rest.contains('/'))
            })
        });
        self.skipped.sort();
        self.skipped.dedup();
    }
}

/// Whether an object listed is picked: a log-like name, delivered within the window.
fn keep(key: &str, days: Option<(NaiveDate, NaiveDate)>) -> bool {
    let name = key.rsplit('/').next().unwrap_or(key);
    looks_like_log(name) && days.is_none_or(|(a, b)| key_date(key).is_none_or(|d| a <= d && d <= b))
}

/// Phase one: the folders above the regions of every URL, listed concurrently.
async fn plan(
    shared: &Shared,
    clients: &Clients,
    urls: &[S3Url],
    sel: &Selection,
) -> Result<Plan, S3Error> {
    let mut plan = Plan::default();
    let days = day_range(sel);
    let mut queue: Vec<(String, Task)> = Vec::new();
    for url in urls {
        let last = url.prefix.rsplit('/').next().unwrap_or("");
        if !last.is_empty() && looks_like_log(last) {
            // One object named exactly.
            let client = clients.get(shared, &url.bucket).await;
            let page = list_page(
                shared,
                &client,
                &url.bucket,
                &url.prefix,
                false,
                None,
                MAX_PAGE,
            )
            .await?;
            plan.exact.extend(
                page.objects.into_iter().filter(
                    |o| matches!(&o.location, Location::S3 { key, .. } if *key == url.prefix),
                ),
            );
            continue;
        }
        let prefix = if url.prefix.is_empty() || url.prefix.ends_with('/') {
            url.prefix.clone()
        } else {
            format!("{}/", url.prefix)
        };
        if let Some(level) = start_level(&prefix, sel) {
            queue.push((url.bucket.clone(), Task::new(prefix, level, sel)));
        }
    }
    let limit = shared.list_concurrency();
    let mut running = FuturesUnordered::new();
    while !queue.is_empty() || !running.is_empty() {
        while running.len() < limit
            && let Some((bucket, task)) = queue.pop()
        {
            if covers_below(&task) {
                plan.roots.push((bucket, task));
                continue;
            }
            running.push(async move {
                let client = clients.get(shared, &bucket).await;
                let listing = list_all(shared, &client, &bucket, &task.prefix).await;
                (bucket, task, listing)
            });
        }
        let Some((bucket, task, listing)) = running.next().await else {
            break;
        };
        let listing = listing?;
        if listing
            .objects
            .iter()
            .any(|o| matches!(&o.location, Location::S3 { key, .. } if keep(key, days)))
        {
            // Objects right in a folder above the regions: listed again by a stream, so
            // that no folder's objects are held here.
            plan.roots.push((bucket.clone(), task.clone()));
        }
        for folder in listing.folders {
            let name = folder[task.prefix.len()..].trim_end_matches('/');
            match child_level(task.level, name) {
                Some(level) if selected(level, name, sel) => {
                    queue.push((bucket.clone(), Task::new(folder, level, sel)));
                }
                Some(_) => {}
                None => plan.skipped.push(format!("s3://{bucket}/{folder}")),
            }
        }
    }
    plan.dedup();
    Ok(plan)
}

/// Every page of a delimited listing of `prefix` (folders above the regions: a few each).
async fn list_all(
    shared: &Shared,
    client: &aws_sdk_s3::Client,
    bucket: &str,
    prefix: &str,
) -> Result<Listing, S3Error> {
    let mut all = Listing::default();
    let mut token = None;
    loop {
        let page = list_page(shared, client, bucket, prefix, true, token, MAX_PAGE).await?;
        all.objects.extend(page.objects);
        all.folders.extend(page.folders);
        token = page.next;
        if token.is_none() {
            return Ok(all);
        }
    }
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
        .map_err(|e| S3Error::Runtime(format!("starting the listing thread: {e}")))?;
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
/// its retries yields `Err((prefix URL, reason))` and ends; the others go on.
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
                Some(Err((
                    "s3://".into(),
                    "the S3 listing stopped before its end (a bug in trawl: please report it); run the same command again to read the rest".into(),
                )))
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

impl Stream {
    fn exhausted(&self) -> bool {
        self.pending.is_empty()
    }
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

impl Merge {
    /// Hands out every stream's objects, smallest delivery stamp first, until all are
    /// listed (true) or the receiver is gone (false). Requests are in flight only inside
    /// `fill`, so none waits on a runtime that is not driven while `tx` blocks.
    fn run(
        mut self,
        rt: &tokio::runtime::Runtime,
        tx: &crossbeam_channel::Sender<Option<Listed>>,
    ) -> bool {
        let mut heap: BinaryHeap<Reverse<(u64, usize)>> = BinaryHeap::new();
        let mut queued = vec![false; self.streams.len()];
        loop {
            let failed = rt.block_on(self.fill());
            for f in failed {
                if tx.send(Some(Err(f))).is_err() {
                    return false;
                }
            }
            for (i, s) in self.streams.iter().enumerate() {
                if let (false, Some((stamp, _))) = (queued[i], s.buf.front()) {
                    heap.push(Reverse((*stamp, i)));
                    queued[i] = true;
                }
            }
            if heap.is_empty() {
                return true;
            }
            // Until a stream that has more to list runs dry: its next object may come first.
            while let Some(Reverse((_, i))) = heap.pop() {
                let s = &mut self.streams[i];
                let (_, obj) = s.buf.pop_front().expect("a queued stream has a head");
                if tx.send(Some(Ok(obj))).is_err() {
                    return false;
                }
                match s.buf.front() {
                    Some((stamp, _)) => heap.push(Reverse((*stamp, i))),
                    None => {
                        queued[i] = false;
                        if !s.exhausted() {
                            break;
                        }
                    }
                }
            }
        }
    }

    /// Lists a page of every stream that is below half a page, then again for those still
    /// empty, until every stream has an object or is listed to its end. Returns the
    /// listings that failed, as `(prefix URL, reason)`.
    async fn fill(&mut self) -> Vec<(String, String)> {
        let low = (self.page / 2).max(1);
        let limit = self.shared.list_concurrency();
        let days = day_range(&self.sel);
        let mut failed = Vec::new();
        let mut want: Vec<usize> = (0..self.streams.len())
            .filter(|&i| self.streams[i].buf.len() < low && !self.streams[i].exhausted())
            .collect();
        while !want.is_empty() {
            let mut running = FuturesUnordered::new();
            let mut next = want.into_iter();
            loop {
                while running.len() < limit
                    && let Some(i) = next.next()
                {
                    let s = &mut self.streams[i];
                    let (task, token) = s.pending.pop().expect("a stream with more to list");
                    let bucket = s.bucket.clone();
                    let (shared, clients, page) = (&*self.shared, &self.clients, self.page);
                    running.push(async move {
                        let client = clients.get(shared, &bucket).await;
                        let delimited = !task.whole;
                        let r = list_page(
                            shared,
                            &client,
                            &bucket,
                            &task.prefix,
                            delimited,
                            token,
                            page,
                        )
                        .await;
                        (i, task, r)
                    });
                }
                let Some((i, task, r)) = running.next().await else {
                    break;
                };
                let s = &mut self.streams[i];
                match r {
                    Ok(listing) => s.take(listing, task, &self.sel, days),
                    Err(e) => {
                        s.pending.clear();
                        failed.push((
                            format!("s3://{}/{}", s.bucket, task.prefix),
                            format!(
                                "{e}; the objects under it not listed yet were not read: run the same command again to list them"
                            ),
                        ));
                    }
                }
            }
            want = (0..self.streams.len())
                .filter(|&i| self.streams[i].buf.is_empty() && !self.streams[i].exhausted())
                .collect();
        }
        failed
    }
}

impl Stream {
    /// Takes in one page of `task`'s listing.
    fn take(
        &mut self,
        listing: Listing,
        task: Task,
        sel: &Selection,
        days: Option<(NaiveDate, NaiveDate)>,
    ) {
        if let Some(token) = listing.next {
            self.pending.push((task.clone(), Some(token)));
        }
        // Below the regions a delimited listing's folders are listed in turn; above them
        // they are streams of their own.
        if covers_below(&task) && !task.whole {
            for folder in listing.folders.iter().rev() {
                let name = folder[task.prefix.len()..].trim_end_matches('/');
                match child_level(task.level, name) {
                    Some(level) if selected(level, name, sel) => {
                        self.pending
                            .push((Task::new(folder.clone(), level, sel), None));
                    }
                    Some(_) => {}
                    None => tracing::info!(
                        "s3://{}/{folder}: skipped, not a folder of the CloudTrail layout here",
                        self.bucket
                    ),
                }
            }
        }
        for obj in listing.objects {
            if matches!(&obj.location, Location::S3 { key, .. } if keep(key, days)) {
                let stamp = delivery_stamp(&obj.uri).unwrap_or(u64::MAX);
                self.buf.push_back((stamp, obj));
            }
        }
    }
}

/// Objects and folders under one prefix.
#[derive(Debug, Default)]
struct Listing {
    objects: Vec<SourceObject>,
    folders: Vec<String>,
    next: Option<String>,
}

/// One ListObjectsV2 page of at most `max_keys` keys, retried like GETs are.
async fn list_page(
    shared: &Shared,
    client: &aws_sdk_s3::Client,
    bucket: &str,
    prefix: &str,
    delimited: bool,
    token: Option<String>,
    max_keys: usize,
) -> Result<Listing, S3Error> {
    let mut attempt = 0u32;
    loop {
        let mut req = client
            .list_objects_v2()
            .bucket(bucket)
            .prefix(prefix)
            .max_keys(max_keys.min(MAX_PAGE) as i32)
            .set_continuation_token(token.clone());
        if delimited {
            req = req.delimiter("/");
        }
        shared.counts.list.fetch_add(1, Ordering::Relaxed);
        let f = match req.send().await {
            Ok(out) => {
                let objects = out
                    .contents()
                    .iter()
                    .filter_map(|o| {
                        let key = o.key()?;
                        (!key.ends_with('/')).then(|| SourceObject {
                            uri: format!("s3://{bucket}/{key}"),
                            location: Location::S3 {
                                bucket: bucket.to_string(),
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
                shared
                    .counts
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
        if !f.retry || attempt >= shared.opts.max_attempts {
            return Err(S3Error::Request {
                url: format!("s3://{bucket}/{prefix}"),
                message: format!("listing failed: {}", f.message),
            });
        }
        shared.counts.retries.fetch_add(1, Ordering::Relaxed);
        tokio::time::sleep(backoff(&shared.opts, attempt - 1)).await;
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
        // Without a window a region is listed whole; a log kind is always split into its
        // regions (streams merged by delivery time).
        assert!(!Task::new("p/".into(), Level::Kind, &Selection::default()).whole);
        assert!(Task::new("p/".into(), Level::Region, &Selection::default()).whole);
    }
}
