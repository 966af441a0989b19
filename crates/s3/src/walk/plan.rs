//! Phase one: the folders above the regions listed, and the streams they start.

use super::*;

impl Task {
    pub(super) fn new(prefix: String, level: Level, sel: &Selection) -> Task {
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

/// Pages of a stream are the listing budget shared among the streams, within these bounds
/// (S3 answers at most 1,000 keys a request).
pub(super) const MIN_PAGE: usize = 10;

pub(super) const MAX_PAGE: usize = 1000;

/// Whether a root lists everything below its prefix (a stream at a level above the regions,
/// always delimited, lists only the objects right in its folder).
pub(super) fn covers_below(task: &Task) -> bool {
    !above_region(task.level)
}

impl Plan {
    /// Drops the roots and objects that another root lists already (URLs that overlap).
    pub(super) fn dedup(&mut self) {
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
pub(super) fn keep(key: &str, days: Option<(NaiveDate, NaiveDate)>) -> bool {
    let name = key.rsplit('/').next().unwrap_or(key);
    looks_like_log(name) && days.is_none_or(|(a, b)| key_date(key).is_none_or(|d| a <= d && d <= b))
}

/// Phase one: the folders above the regions of every URL, listed concurrently.
pub(super) async fn plan(
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
            plan.exact.extend(page.objects.into_iter().filter(|o| {
                matches!(&o.location, Location::S3 { key, .. } if *key == url.prefix)
                    && sel.shard.holds(&o.uri)
            }));
            continue;
        }
        let prefix = if url.prefix.is_empty() || url.prefix.ends_with('/') {
            url.prefix.clone()
        } else {
            format!("{}/", url.prefix)
        };
        if let Some(level) = start_level(&prefix, sel)
            && sel.shard.may_hold_below(&prefix)
        {
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
                // A region folder of another shard's stream is not listed at all.
                Some(level) if selected(level, name, sel) && sel.shard.may_hold_below(&folder) => {
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
pub(super) async fn list_all(
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
