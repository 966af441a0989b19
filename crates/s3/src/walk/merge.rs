//! Phase two: each stream listed a page at a time, merged by delivery time.

use super::*;

impl Stream {
    pub(super) fn exhausted(&self) -> bool {
        self.pending.is_empty()
    }
}

impl Merge {
    /// Hands out every stream's objects, smallest delivery stamp first, until all are
    /// listed (true) or the receiver is gone (false). Requests are in flight only inside
    /// `fill`, so none waits on a runtime that is not driven while `tx` blocks.
    pub(super) fn run(
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
    /// listings that failed.
    pub(super) async fn fill(&mut self) -> Vec<Unlisted> {
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
                        failed.push(Unlisted::Prefix {
                            url: format!("s3://{}/{}", s.bucket, task.prefix),
                            source: Box::new(e),
                        });
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
    pub(super) fn take(
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
            if matches!(&obj.location, Location::S3 { key, .. } if keep(key, days))
                && sel.shard.holds(&obj.uri)
            {
                let stamp = delivery_stamp(&obj.uri).unwrap_or(u64::MAX);
                self.buf.push_back((stamp, obj));
            }
        }
    }
}
