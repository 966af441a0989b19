//! The entry points and the pipeline: the listing fed to fetchers and parsers, the byte
//! budget between them, and the collector loop.

use super::*;

impl<I: Iterator<Item = Listed>> Feed<I> {
    /// The next object to read, with its number in the run.
    pub(super) fn pull(
        &self,
        snap: &Snapshot,
        window: &trawl_ingest::TimeWindow,
        progress: &dyn Progress,
    ) -> Option<(usize, Arc<SourceObject>)> {
        let mut st = self.state.lock().expect("listing lock");
        while let Some(listed) = st.listing.next() {
            match listed {
                Err((path, reason)) => {
                    tracing::warn!("{reason}");
                    st.unreadable.push(Quarantined { path, reason });
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

/// Ingests local `objects` into the lake; see [`ingest_listing`].
pub fn ingest(
    lake: &Lake,
    objects: Vec<SourceObject>,
    opts: &IngestOptions,
    progress: &dyn Progress,
    stop: &AtomicBool,
) -> Result<IngestSummary, LakeError> {
    ingest_from(lake, objects, &LocalFetch, opts, progress, stop)
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
        let mut used = self.used.lock().expect("budget lock");
        if *used > 0 && *used + n > self.cap {
            return false;
        }
        *used += n;
        true
    }
    fn give(&self, n: u64) {
        *self.used.lock().expect("budget lock") -= n;
        self.freed.notify_all();
    }
}

/// Ingests `objects` in delivery order ([`trawl_ingest::sort_by_delivery`]); see
/// [`ingest_listing`].
pub fn ingest_from(
    lake: &Lake,
    mut objects: Vec<SourceObject>,
    fetch: &dyn Fetch,
    opts: &IngestOptions,
    progress: &dyn Progress,
    stop: &AtomicBool,
) -> Result<IngestSummary, LakeError> {
    trawl_ingest::sort_by_delivery(&mut objects);
    ingest_listing(
        lake,
        objects.into_iter().map(Ok),
        fetch,
        opts,
        progress,
        stop,
    )
}

/// Ingests the objects of `listing` into the lake, in its order, consuming it as the run
/// goes (a listing of millions of objects is never held whole): objects the ledger already
/// has are skipped, the others are fetched by `fetch` (as many at once as it asks for,
/// within [`IngestOptions::fetch_budget_bytes`]), parsed on `opts.threads` threads,
/// deduplicated and committed atomically in batches. `stop` ends the run early at an object
/// boundary (what is committed stays committed).
pub fn ingest_listing(
    lake: &Lake,
    listing: impl Iterator<Item = Listed> + Send,
    fetch: &dyn Fetch,
    opts: &IngestOptions,
    progress: &dyn Progress,
    stop: &AtomicBool,
) -> Result<IngestSummary, LakeError> {
    let started = Instant::now();
    let _lock = lake.lock()?;
    let snap = Snapshot::load(&lake.layout())?;
    crate::recover(&lake.layout(), &snap)?;
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
            lake: lake.root().display().to_string(),
            lake_version: snap.version,
            ..Default::default()
        },
        in_flight: false,
        open: FxHashMap::default(),
        waited: Duration::ZERO,
    };
    let budget = ByteBudget {
        cap: opts.fetch_budget_bytes.max(1),
        used: std::sync::Mutex::new(0),
        freed: std::sync::Condvar::new(),
    };
    let threads = opts.threads.max(1);
    // Microseconds the parsers spent waiting for the collector to take their output.
    let parsers_blocked = std::sync::atomic::AtomicU64::new(0);
    let result: Result<(), LakeError> = std::thread::scope(|s| {
        let (jobs, job_rx) = crossbeam_channel::bounded::<CommitJob>(0);
        let (done_tx, done) = crossbeam_channel::bounded::<Result<Committed, LakeError>>(1);
        s.spawn(move || {
            for job in job_rx {
                let started = Instant::now();
                let r = write_commit(lake, opts.row_group_rows, job);
                tracing::debug!("commit written in {:.3} s", started.elapsed().as_secs_f64());
                if done_tx.send(r).is_err() {
                    break;
                }
            }
        });
        // Fetchers hand raw bytes to parsers; parsers hand Arrow batches to this thread.
        let (raw_tx, raw_rx) =
            crossbeam_channel::bounded::<(usize, Arc<SourceObject>, Result<Body, IngestError>)>(
                threads * 2,
            );
        // A network source drives its many requests from one thread; a disk is read by
        // `threads` fetchers.
        let driven = fetch.concurrency() > 0;
        if driven {
            let raw_tx = raw_tx.clone();
            let (pull, budget) = (&pull, &budget);
            s.spawn(move || {
                // An object pulled from the listing that did not fit the budget yet.
                let mut held: Option<(usize, Arc<SourceObject>)> = None;
                let mut claim = |wait: bool| -> trawl_ingest::Claim {
                    if stop.load(Ordering::Relaxed) {
                        return trawl_ingest::Claim::Done;
                    }
                    let Some((i, obj)) = held.take().or_else(pull) else {
                        return trawl_ingest::Claim::Done;
                    };
                    let taken = if wait {
                        budget.take(obj.size, stop)
                    } else if budget.try_take(obj.size) {
                        true
                    } else {
                        held = Some((i, obj));
                        return trawl_ingest::Claim::Later;
                    };
                    if !taken {
                        return trawl_ingest::Claim::Done;
                    }
                    trawl_ingest::Claim::Next(i, obj)
                };
                let mut deliver =
                    |i: usize, obj: Arc<SourceObject>, raw: Result<Vec<u8>, IngestError>| -> bool {
                        let size = obj.size;
                        let ok = raw_tx.send((i, obj, raw.map(Body::Bytes))).is_ok();
                        if !ok {
                            budget.give(size);
                        }
                        ok
                    };
                fetch.drive(&mut claim, &mut deliver);
            });
        }
        let fetchers = if driven { 0 } else { threads };
        for _ in 0..fetchers {
            let raw_tx = raw_tx.clone();
            let (pull, budget) = (&pull, &budget);
            s.spawn(move || {
                loop {
                    if stop.load(Ordering::Relaxed) {
                        break;
                    }
                    let Some((i, obj)) = pull() else { break };
                    // A big local file is streamed from disk by its parser: no bytes held.
                    if let Location::Local(path) = &obj.location
                        && obj.size >= opts.read.stream_min_bytes
                    {
                        let body = Ok(Body::File(path.clone()));
                        if raw_tx.send((i, obj, body)).is_err() {
                            break;
                        }
                        continue;
                    }
                    let size = obj.size;
                    if !budget.take(size, stop) {
                        break;
                    }
                    let raw = fetch.fetch(&obj).map(Body::Bytes);
                    if raw_tx.send((i, obj, raw)).is_err() {
                        budget.give(size);
                        break;
                    }
                }
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
                for (i, obj, raw) in raw_rx {
                    // A big object's rows come a chunk at a time, ahead of its end.
                    let mut part = |batch| {
                        send(Parsed::Part(i, batch));
                    };
                    let (out, held) = match raw {
                        Ok(Body::Bytes(raw)) => (
                            read_bytes_with(&obj.uri, raw, &opts.read, &mut part),
                            obj.size,
                        ),
                        Ok(Body::File(path)) => {
                            (read_file_with(&obj, &path, &opts.read, &mut part), 0)
                        }
                        Err(e) => (Err(e), obj.size),
                    };
                    budget.give(held);
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
        c.wait(&done)
    });
    result?;
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
    s.dedup_spilled = c.dedup.spilled_events;
    s.seconds = secs;
    s.events_per_second = s.events_stored as f64 / secs;
    s.json_mb_per_second = s.json_bytes as f64 / 1e6 / secs;
    if stop.load(Ordering::Relaxed) {
        return Err(LakeError::Interrupted(format!(
            "{} objects committed up to lake version {}; run the same command again to resume",
            s.objects_read, s.lake_version
        )));
    }
    Ok(c.summary)
}
