//! The entry points and the pipeline: the listing fed to fetchers and parsers, the byte
//! budget between them, and the collector loop.

use super::*;

impl<I: Iterator<Item = Listed>> Feed<I> {
    /// The next object to read, with its number in the run.
    pub(super) fn pull(
        &self,
        snap: &Snapshot,
        window: &trawl_schema::TimeWindow,
        progress: &dyn Progress,
    ) -> Option<(usize, Arc<SourceObject>)> {
        let mut st = self.state.lock().expect("listing lock");
        while let Some(listed) = st.listing.next() {
            match listed {
                Err(unlisted) => {
                    let reason = unlisted.to_string();
                    tracing::warn!("{reason}");
                    st.unreadable.push(Quarantined {
                        path: unlisted.path(),
                        reason,
                    });
                }
                Ok(obj) => {
                    st.found += 1;
                    if snap.has_source(&obj, window) {
                        st.skipped += 1;
                        continue;
                    }
                    let i = st.next;
                    st.next += 1;
                    progress.found(1, obj.size);
                    return Some((i, Arc::new(obj)));
                }
            }
        }
        None
    }
}

/// Compressed bytes in flight between fetchers and parsers, bounded.
struct ByteBudget {
    cap: u64,
    used: std::sync::Mutex<u64>,
    freed: std::sync::Condvar,
}

impl ByteBudget {
    /// Waits until `n` more bytes fit (or nothing else is in flight), then takes them.
    /// Gives up (false) once `stop` is set: parsers may have left with bytes unreturned.
    fn take(&self, n: u64, stop: &AtomicBool) -> bool {
        if n == 0 {
            return true;
        }
        let mut used = self.used.lock().expect("budget lock");
        while *used > 0 && *used + n > self.cap {
            if stop.load(Ordering::Relaxed) {
                return false;
            }
            used = self
                .freed
                .wait_timeout(used, Duration::from_millis(50))
                .expect("budget lock")
                .0;
        }
        *used += n;
        true
    }
    /// Takes `n` bytes if they fit now (or nothing else is in flight).
    fn try_take(&self, n: u64) -> bool {
        if n == 0 {
            return true;
        }
        let mut used = self.used.lock().expect("budget lock");
        if *used > 0 && *used + n > self.cap {
            return false;
        }
        *used += n;
        true
    }
    fn give(&self, n: u64) {
        if n == 0 {
            return;
        }
        *self.used.lock().expect("budget lock") -= n;
        self.freed.notify_all();
    }
}

impl Lake {
    /// An ingest of the objects of `listing` into the lake, in its order, consuming it as
    /// the run goes (a listing of millions of objects is never held whole): objects the
    /// ledger already has are skipped, the others are fetched (by the [`Fetch`] given to
    /// [`Ingest::fetch`]; local files by default), parsed on every core, deduplicated and
    /// committed atomically in batches. Set it up, then [`run`](Ingest::run) it:
    ///
    /// ```no_run
    /// # fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let lake = trawl_lake::Lake::create("./trawl-lake")?;
    /// let listing = trawl_ingest::walk_local(&["./AWSLogs".into()], None)?;
    /// let summary = lake.ingest(listing).run()?;
    /// println!("{} events stored", summary.events_stored);
    /// # Ok(()) }
    /// ```
    pub fn ingest<L>(&self, listing: L) -> Ingest<'_, L::IntoIter>
    where
        L: IntoIterator<Item = Listed>,
        L::IntoIter: Send,
    {
        Ingest {
            lake: self,
            listing: listing.into_iter(),
            fetch: None,
            options: IngestOptions::default(),
            progress: &NoProgress,
            stop: None,
        }
    }
}

/// An ingest being set up ([`Lake::ingest`]); nothing happens until [`run`](Ingest::run).
#[must_use = "an ingest does nothing until it is run"]
pub struct Ingest<'a, I> {
    lake: &'a Lake,
    listing: I,
    fetch: Option<&'a dyn Fetch>,
    options: IngestOptions,
    progress: &'a dyn Progress,
    stop: Option<&'a AtomicBool>,
}

impl<I> std::fmt::Debug for Ingest<'_, I> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Ingest")
            .field("lake", &self.lake.root())
            .field("options", &self.options)
            .field("fetch", &self.fetch.map_or("local files", |_| "given"))
            .finish_non_exhaustive()
    }
}

impl<'a, I: Iterator<Item = Listed> + Send> Ingest<'a, I> {
    /// What fetches the objects' content (default: [`LocalFetch`], which refuses S3 objects).
    pub fn fetch(mut self, fetch: &'a dyn Fetch) -> Self {
        self.fetch = Some(fetch);
        self
    }

    /// How the run goes (default: [`IngestOptions::default`]).
    pub fn options(mut self, options: IngestOptions) -> Self {
        self.options = options;
        self
    }

    /// Who hears of the objects found and read (default: nobody).
    pub fn progress(mut self, progress: &'a dyn Progress) -> Self {
        self.progress = progress;
        self
    }

    /// A flag that ends the run early, at an object boundary, when set (Ctrl-C): what is
    /// read is committed, and the run ends with [`LakeError::Interrupted`].
    pub fn stop(mut self, stop: &'a AtomicBool) -> Self {
        self.stop = Some(stop);
        self
    }

    /// Runs the ingest.
    pub fn run(self) -> Result<IngestSummary, LakeError> {
        let local = LocalFetch::new(&self.options.read);
        let unset = AtomicBool::new(false);
        run(
            self.lake,
            self.listing,
            self.fetch.unwrap_or(&local),
            &self.options,
            self.progress,
            self.stop.unwrap_or(&unset),
        )
    }
}

fn run(
    lake: &Lake,
    listing: impl Iterator<Item = Listed> + Send,
    fetch: &dyn Fetch,
    opts: &IngestOptions,
    progress: &dyn Progress,
    stop: &AtomicBool,
) -> Result<IngestSummary, LakeError> {
    let started = Instant::now();
    let _lock = lake.lock()?;
    let snap = lake.snapshot()?;
    crate::recover(&lake.layout(), &snap)?;
    if let Some(remote) = lake.remote() {
        // Objects of commits that never happened (a crashed writer's), once old enough that
        // no live writer can still be about to commit them.
        remote.sweep(&snap, Duration::MAX)?;
    }
    crate::manifest::sync(&lake.layout(), &snap, None, false)?;
    let feed = Feed {
        state: std::sync::Mutex::new(FeedState {
            listing: listing.fuse(),
            next: 0,
            found: 0,
            skipped: 0,
            unreadable: Vec::new(),
        }),
    };
    let window = &opts.read.window;
    let pull = || feed.pull(&snap, window, progress);
    let mut c = Collector {
        lake,
        opts,
        version: snap.version,
        dedup: Dedup::new(&lake.layout(), &snap, opts.dedup_events),
        pending: BTreeMap::new(),
        small: BTreeMap::new(),
        pending_bytes: 0,
        sources: Vec::new(),
        quarantined: Vec::new(),
        bad_lines: Vec::new(),
        digest_lines: Vec::new(),
        summary: IngestSummary {
            lake: lake.location(),
            lake_version: snap.version,
            ..Default::default()
        },
        in_flight: 0,
        max_in_flight: if lake.remote().is_some() {
            IN_FLIGHT_REMOTE
        } else {
            1
        },
        open: FxHashMap::default(),
        waited: Duration::ZERO,
        known: snap.version,
        pending_known: snap.version,
    };
    let budget = ByteBudget {
        cap: opts.fetch_budget_bytes.max(1),
        used: std::sync::Mutex::new(0),
        freed: std::sync::Condvar::new(),
    };
    let threads = opts.threads.max(1);
    // Written in the layout asked for, or the lake's.
    let shape = opts.layout.clone().unwrap_or_else(|| snap.layout());
    let shape = &shape;
    // Microseconds the parsers spent waiting for the collector to take their output.
    let parsers_blocked = std::sync::atomic::AtomicU64::new(0);
    let result: Result<(), LakeError> = std::thread::scope(|s| {
        let (jobs, job_rx) = crossbeam_channel::bounded::<CommitJob>(0);
        let (done_tx, done) =
            crossbeam_channel::bounded::<Result<Committed, LakeError>>(IN_FLIGHT_REMOTE);
        if lake.remote().is_some() {
            // In object storage a commit's upload and log write are round trips: the next
            // commit's files are written meanwhile, by a second thread (commits still finish
            // one at a time, in order).
            let (encoded_tx, encoded) =
                crossbeam_channel::bounded::<Result<super::commit::Encoded, LakeError>>(0);
            s.spawn(move || {
                for job in job_rx {
                    let started = Instant::now();
                    let r = encode_commit(lake, shape, job);
                    tracing::debug!("commit encoded in {:.3} s", started.elapsed().as_secs_f64());
                    if encoded_tx.send(r).is_err() {
                        break;
                    }
                }
            });
            s.spawn(move || {
                let mut last_publish = None;
                for r in encoded {
                    let started = Instant::now();
                    let r = r.and_then(|e| finish_commit(lake, e, &mut last_publish));
                    tracing::debug!(
                        "commit finished in {:.3} s",
                        started.elapsed().as_secs_f64()
                    );
                    // After a failed commit the next is not made: the run stops.
                    let failed = r.is_err();
                    if done_tx.send(r).is_err() || failed {
                        break;
                    }
                }
            });
        } else {
            s.spawn(move || {
                let mut last_publish = None;
                for job in job_rx {
                    let started = Instant::now();
                    let r = write_commit(lake, shape, job, &mut last_publish);
                    tracing::debug!("commit written in {:.3} s", started.elapsed().as_secs_f64());
                    if done_tx.send(r).is_err() {
                        break;
                    }
                }
            });
        }
        // Fetchers hand objects' content to parsers; parsers hand Arrow batches to this
        // thread. How many threads fetch, and how, is the fetcher's choice.
        let (raw_tx, raw_rx) =
            crossbeam_channel::bounded::<(usize, Arc<SourceObject>, Result<Body, IngestError>)>(
                threads * 2,
            );
        for _ in 0..fetch.drivers(threads).max(1) {
            let raw_tx = raw_tx.clone();
            let (pull, budget) = (&pull, &budget);
            s.spawn(move || {
                // An object pulled from the listing that did not fit the budget yet.
                let mut held: Option<(usize, Arc<SourceObject>)> = None;
                let mut claim = |wait: bool| -> Claim {
                    if stop.load(Ordering::Relaxed) {
                        return Claim::Done;
                    }
                    let Some((i, obj)) = held.take().or_else(pull) else {
                        return Claim::Done;
                    };
                    let holds = fetch.holds(&obj);
                    let taken = if wait {
                        budget.take(holds, stop)
                    } else if budget.try_take(holds) {
                        true
                    } else {
                        held = Some((i, obj));
                        return Claim::Later;
                    };
                    if !taken {
                        return Claim::Done;
                    }
                    Claim::Next(i, obj)
                };
                let mut deliver =
                    |i: usize, obj: Arc<SourceObject>, body: Result<Body, IngestError>| -> bool {
                        let holds = fetch.holds(&obj);
                        let ok = raw_tx.send((i, obj, body)).is_ok();
                        if !ok {
                            budget.give(holds);
                        }
                        ok
                    };
                fetch.drive(&mut claim, &mut deliver);
            });
        }
        drop(raw_tx);
        let (tx, rx) = crossbeam_channel::bounded::<Parsed>(threads * 2);
        for _ in 0..threads {
            let (tx, raw_rx) = (tx.clone(), raw_rx.clone());
            let (budget, blocked) = (&budget, &parsers_blocked);
            s.spawn(move || {
                let send = |parsed| {
                    let started = Instant::now();
                    let sent = tx.send(parsed).is_ok();
                    blocked.fetch_add(started.elapsed().as_micros() as u64, Ordering::Relaxed);
                    sent
                };
                for (i, obj, body) in raw_rx {
                    // A big object's rows come a chunk at a time, ahead of its end.
                    let mut part = |batch| {
                        send(Parsed::Part(i, batch));
                    };
                    let out =
                        body.and_then(|body| read_body_with(&obj, body, &opts.read, &mut part));
                    budget.give(fetch.holds(&obj));
                    if !send(Parsed::Done(i, obj, out)) {
                        break;
                    }
                }
            });
        }
        drop(raw_rx);
        drop(tx);
        let mut outcome = Ok(());
        let mut last_commit = Instant::now();
        for parsed in rx.iter() {
            let step = match parsed {
                Parsed::Part(i, batch) => c.accept_part(i, batch),
                Parsed::Done(i, obj, res) => c.accept(i, &obj, res).map(|events| {
                    progress.object_done(obj.size, events);
                }),
            }
            .and_then(|()| {
                if c.pending_bytes >= opts.flush_bytes
                    || last_commit.elapsed() >= opts.commit_interval
                {
                    last_commit = Instant::now();
                    c.flush(&jobs, &done)
                } else {
                    Ok(())
                }
            });
            if let Err(e) = step {
                stop.store(true, Ordering::Relaxed);
                outcome = Err(e);
                break;
            }
        }
        drop(rx);
        // Commit what the readers produced, even when stopped early; not after an error.
        outcome?;
        c.flush(&jobs, &done)?;
        c.wait_all(&done)
    });
    result?;
    crate::manifest::catch_up(&lake.layout())?;
    tracing::debug!(
        "the collector waited {:.3} s for commits in flight; the parsers {:.3} s for the collector",
        c.waited.as_secs_f64(),
        parsers_blocked.load(Ordering::Relaxed) as f64 / 1e6
    );
    let secs = started
        .elapsed()
        .max(Duration::from_micros(1))
        .as_secs_f64();
    let listed = feed.state.into_inner().expect("listing lock");
    let s = &mut c.summary;
    s.objects_found = listed.found;
    s.objects_skipped = listed.skipped;
    s.quarantined.extend(listed.unreadable);
    // In path order, whatever order the threads finished in.
    s.quarantined.sort_by(|a, b| a.path.cmp(&b.path));
    s.dedup_spilled = c.dedup.spilled_events;
    s.seconds = secs;
    s.events_per_second = s.events_stored as f64 / secs;
    s.json_mb_per_second = s.json_bytes as f64 / 1e6 / secs;
    if stop.load(Ordering::Relaxed) {
        return Err(LakeError::Interrupted {
            objects_read: s.objects_read,
            lake_version: s.lake_version,
        });
    }
    Ok(c.summary)
}
