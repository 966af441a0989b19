//! The ingest job: read objects on every core, dedup, buffer per partition, commit.

use std::collections::BTreeMap;
use std::fs;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, Sender};
use rustc_hash::FxHashMap;

use arrow::array::{Array, AsArray, RecordBatch, UInt32Array};
use arrow::compute::{concat_batches, take_record_batch};
use arrow::datatypes::{Int64Type, TimestampMicrosecondType};
use serde::Serialize;
use trawl_ingest::{
    Fetch, IngestError, Listed, LocalFetch, Location, ObjectOutput, ReadOptions, SourceObject,
    read_bytes_with, read_file_with,
};
use trawl_schema::{COL_EVENTTIME_TS, COL_HASH, UNKNOWN_PARTITION};

use crate::dedup::{Dedup, Verdict};
use crate::error::{IoContext, LakeError};
use crate::layout::Layout;
use crate::log::{self, DataFile, LogEntry, QuarantineEntry, Snapshot, SourceEntry};
use crate::{Lake, writer};

/// How an ingest runs.
#[derive(Debug, Clone)]
pub struct IngestOptions {
    pub read: ReadOptions,
    /// Reader threads (default: available cores).
    pub threads: usize,
    /// Commit when this many bytes of Arrow data are buffered.
    pub flush_bytes: usize,
    /// Abort on the first bad object or record instead of quarantining it.
    pub strict: bool,
    /// Rows per Parquet row group.
    pub row_group_rows: usize,
    /// Compressed bytes fetched but not yet parsed, at most (one object larger than this is
    /// still read, alone). Bounds memory when a network source fetches many objects at once.
    pub fetch_budget_bytes: u64,
    /// Also commit when this long has passed since the last commit and something is
    /// pending: a slow (network) run keeps what it read if it is interrupted.
    pub commit_interval: Duration,
    /// EventIDs the dedup index keeps in hash tables, at most (about 17-34 bytes each):
    /// beyond, committed partitions are evicted and the others spilled to sorted files
    /// (docs/lake-layout.md, "Dedup").
    pub dedup_events: usize,
}

impl Default for IngestOptions {
    fn default() -> Self {
        Self {
            read: ReadOptions::default(),
            threads: std::thread::available_parallelism().map_or(2, |n| n.get()),
            flush_bytes: 64 << 20,
            strict: false,
            row_group_rows: writer::ROW_GROUP_ROWS,
            fetch_budget_bytes: 128 << 20,
            commit_interval: Duration::from_secs(30),
            dedup_events: 1 << 20,
        }
    }
}

/// Receives progress: objects to read as the listing finds them (called from the reader
/// threads), objects as they finish (from the committing thread).
pub trait Progress: Sync {
    fn found(&self, _objects: u64, _bytes: u64) {}
    fn object_done(&self, _raw_bytes: u64, _events: u64) {}
}

/// No progress reporting.
#[derive(Debug, Default)]
pub struct NoProgress;
impl Progress for NoProgress {}

/// An object that went to the quarantine, and why.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct Quarantined {
    pub path: String,
    pub reason: String,
}

/// What an ingest did. Serialised as the `--json` summary.
#[derive(Debug, Clone, Default, Serialize)]
pub struct IngestSummary {
    pub lake: String,
    /// Objects named by the sources.
    pub objects_found: u64,
    /// Objects skipped because the ledger has them already.
    pub objects_skipped: u64,
    /// Objects read in this run.
    pub objects_read: u64,
    /// Bytes of those objects as stored (compressed) and as JSON.
    pub bytes_read: u64,
    pub json_bytes: u64,
    pub events_stored: u64,
    pub duplicates_dropped: u64,
    pub conflicts: u64,
    /// EventIDs the dedup index moved to disk to stay within
    /// [`IngestOptions::dedup_events`] (0 unless the days being written are very big).
    pub dedup_spilled: u64,
    pub outside_window: u64,
    pub digests: u64,
    pub insights: u64,
    pub bad_records: u64,
    pub commits: u64,
    pub files_written: u64,
    pub lake_version: u64,
    pub seconds: f64,
    pub events_per_second: f64,
    pub json_mb_per_second: f64,
    pub quarantined: Vec<Quarantined>,
    pub warnings: Vec<String>,
}

impl IngestSummary {
    /// Exit code contract: 0 all good, 1 done but some inputs were quarantined.
    pub fn is_clean(&self) -> bool {
        self.quarantined.is_empty() && self.bad_records == 0
    }
}

fn day_string(micros: i64) -> String {
    let days = micros.div_euclid(86_400_000_000);
    let date = chrono::DateTime::from_timestamp(days * 86_400, 0)
        .expect("day in range")
        .date_naive();
    date.format("%Y-%m-%d").to_string()
}

struct Collector<'a> {
    lake: &'a Lake,
    opts: &'a IngestOptions,
    version: u64,
    dedup: Dedup,
    pending: BTreeMap<String, Vec<RecordBatch>>,
    /// Batches of small objects waiting to be copied together, per partition (see
    /// [`Collector::keep`]).
    small: BTreeMap<String, Small>,
    pending_bytes: usize,
    sources: Vec<SourceEntry>,
    quarantined: Vec<QuarantineEntry>,
    bad_lines: Vec<String>,
    digest_lines: Vec<String>,
    summary: IngestSummary,
    in_flight: bool,
    /// (stored, duplicates, conflicts) so far of objects being streamed, by object index:
    /// their rows arrive a chunk at a time, and may be committed before the object ends.
    open: FxHashMap<usize, (u64, u64, u64)>,
    /// Time spent waiting for the commit in flight (the readers stall meanwhile).
    waited: Duration,
}

/// What a fetcher hands a parser.
enum Body {
    /// The object's bytes, counted in the fetch budget.
    Bytes(Vec<u8>),
    /// A big local file: the parser streams it from disk.
    File(PathBuf),
}

/// What a parser thread hands the collector.
enum Parsed {
    /// Rows of a streamed object, ahead of its end.
    Part(usize, RecordBatch),
    /// An object read to its end (or its failure).
    Done(usize, Arc<SourceObject>, Result<ObjectOutput, IngestError>),
}

/// The listing, consumed by the readers as they go (never held whole): objects the ledger
/// has are counted and passed over, the others numbered in the order they come.
struct Feed<I> {
    state: std::sync::Mutex<FeedState<I>>,
}

struct FeedState<I> {
    listing: std::iter::Fuse<I>,
    next: usize,
    found: u64,
    skipped: u64,
    unreadable: Vec<Quarantined>,
}

impl<I: Iterator<Item = Listed>> Feed<I> {
    /// The next object to read, with its number in the run.
    fn pull(
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

impl Collector<'_> {
    /// Routes rows of object `i` and counts them for it and for the run.
    fn accept_part(&mut self, i: usize, batch: RecordBatch) -> Result<(), LakeError> {
        let (s, d, c) = self.route(batch)?;
        let open = self.open.entry(i).or_default();
        open.0 += s;
        open.1 += d;
        open.2 += c;
        self.summary.events_stored += s;
        self.summary.duplicates_dropped += d;
        self.summary.conflicts += c;
        Ok(())
    }

    fn accept(
        &mut self,
        i: usize,
        obj: &SourceObject,
        res: Result<ObjectOutput, IngestError>,
    ) -> Result<u64, LakeError> {
        self.summary.objects_read += 1;
        self.summary.bytes_read += obj.size;
        let out = match res {
            Ok(out) => out,
            Err(e) => {
                let reason = e.to_string();
                if self.opts.strict {
                    return Err(LakeError::Strict(reason));
                }
                tracing::warn!("{reason}");
                self.summary.quarantined.push(Quarantined {
                    path: obj.uri.clone(),
                    reason: reason.clone(),
                });
                self.quarantined.push(QuarantineEntry {
                    uri: obj.uri.clone(),
                    size: obj.size,
                    mtime_ns: obj.mtime_ns,
                    etag: obj.etag.clone(),
                    reason,
                });
                // Rows it streamed before the fault are stored.
                return Ok(self.open.remove(&i).map_or(0, |(stored, _, _)| stored));
            }
        };
        if self.opts.strict
            && let Some(bad) = out.bad_records.first()
        {
            return Err(LakeError::Strict(bad.reason.clone()));
        }
        self.summary.json_bytes += out.json_bytes;
        self.summary.outside_window += out.outside_window as u64;
        self.summary.insights += out.insights as u64;
        self.summary.digests += out.digests.len() as u64;
        self.summary.bad_records += out.bad_records.len() as u64;
        for w in &out.warnings {
            tracing::warn!("{w}");
        }
        self.summary.warnings.extend(out.warnings);
        if let Some(first) = out.bad_records.first() {
            tracing::warn!(
                "{} bad records quarantined, the first: {}",
                out.bad_records.len(),
                first.reason
            );
        }
        for bad in &out.bad_records {
            self.bad_lines.push(
                serde_json::json!({"uri": obj.uri, "index": bad.index, "reason": bad.reason, "raw": bad.raw}).to_string(),
            );
        }
        for d in &out.digests {
            self.digest_lines.push(format!(
                "{{\"uri\":{},\"digest\":{d}}}",
                serde_json::Value::String(obj.uri.clone())
            ));
        }
        for batch in out.batches {
            self.accept_part(i, batch)?;
        }
        // With the rows it streamed before this, routed and counted as they came.
        let (stored, duplicates, conflicts) = self.open.remove(&i).unwrap_or_default();
        self.sources.push(SourceEntry {
            uri: obj.uri.clone(),
            size: obj.size,
            mtime_ns: obj.mtime_ns,
            events: stored,
            duplicates,
            conflicts,
            outside_window: out.outside_window as u64,
            digests: out.digests.len() as u64,
            bad_records: out.bad_records.len() as u64,
            since_us: self.opts.read.window.since,
            until_us: self.opts.read.window.until,
            etag: obj.etag.clone(),
        });
        Ok(stored)
    }

    /// Dedups a batch and splits it by partition. Returns (stored, duplicates, conflicts).
    fn route(&mut self, batch: RecordBatch) -> Result<(u64, u64, u64), LakeError> {
        let ts = batch
            .column_by_name(COL_EVENTTIME_TS)
            .expect("eventtime_ts")
            .as_primitive::<TimestampMicrosecondType>();
        let ids = batch
            .column_by_name("eventid")
            .expect("eventid")
            .as_string::<i32>();
        let hashes = batch
            .column_by_name(COL_HASH)
            .expect("trawl_hash")
            .as_primitive::<Int64Type>();
        // Group rows by event day first (None: time did not parse), then dedup each group
        // against its partition's index, looked up once per group.
        let mut by_day: BTreeMap<Option<i64>, Vec<u32>> = BTreeMap::new();
        for row in 0..batch.num_rows() {
            let day = ts
                .is_valid(row)
                .then(|| ts.value(row).div_euclid(86_400_000_000));
            by_day.entry(day).or_default().push(row as u32);
        }
        let (mut dups, mut conflicts) = (0u64, 0u64);
        let mut groups: Vec<(String, Vec<u32>)> = Vec::with_capacity(by_day.len());
        for (day, rows) in by_day {
            let dt = day.map_or_else(
                || UNKNOWN_PARTITION.to_string(),
                |d| day_string(d * 86_400_000_000),
            );
            // Rows without an eventID are kept as they are.
            let with_id = rows.iter().filter(|&&r| ids.is_valid(r as usize));
            let verdicts = self.dedup.check(
                &dt,
                with_id.map(|&r| (ids.value(r as usize), hashes.value(r as usize))),
            )?;
            let mut verdicts = verdicts.into_iter();
            let kept: Vec<u32> = rows
                .into_iter()
                .filter(|&row| {
                    if !ids.is_valid(row as usize) {
                        return true;
                    }
                    match verdicts.next().expect("a verdict per row with an eventID") {
                        Verdict::Duplicate => {
                            dups += 1;
                            false
                        }
                        Verdict::Conflict => {
                            conflicts += 1;
                            true
                        }
                        Verdict::New => true,
                    }
                })
                .collect();
            if !kept.is_empty() {
                groups.push((dt, kept));
            }
        }
        let mut stored = 0;
        for (dt, rows) in groups {
            stored += rows.len() as u64;
            let part = if rows.len() == batch.num_rows() {
                batch.clone()
            } else {
                take_record_batch(&batch, &UInt32Array::from(rows)).map_err(|source| {
                    LakeError::Arrow {
                        path: self.lake.root().into(),
                        source,
                    }
                })?
            };
            self.keep(dt, part)?;
        }
        Ok((stored, dups, conflicts))
    }

    /// Buffers the rows of a partition for the next commit. A batch of a few rows from a
    /// small object holds Arrow buffers sized for a thousand (a 2-event object, ~300 KB) and
    /// a few hundred bytes of bookkeeping per column: such batches are copied together, up
    /// to [`COALESCE_BATCHES`] or [`COALESCE_HELD_BYTES`] at a time, so that memory, and the
    /// commits it triggers, follow the data, not the number of objects. Until then they
    /// count for the bytes their rows take.
    fn keep(&mut self, dt: String, part: RecordBatch) -> Result<(), LakeError> {
        let held = part.get_array_memory_size();
        if part.num_rows() < SMALL_ROWS {
            let used = part
                .columns()
                .iter()
                .map(|c| c.to_data().get_slice_memory_size())
                .sum::<Result<usize, _>>()
                .map_err(|source| LakeError::Arrow {
                    path: self.lake.root().into(),
                    source,
                })?;
            if held > 2 * used {
                self.pending_bytes += used;
                let small = self.small.entry(dt.clone()).or_default();
                small.batches.push(part);
                small.used += used;
                small.held += held;
                if small.batches.len() >= COALESCE_BATCHES || small.held >= COALESCE_HELD_BYTES {
                    let small = self.small.remove(&dt).expect("just added");
                    self.coalesce(dt, small)?;
                }
                return Ok(());
            }
        }
        self.pending_bytes += held;
        self.pending.entry(dt).or_default().push(part);
        Ok(())
    }

    /// Copies small batches of a partition into one.
    fn coalesce(&mut self, dt: String, small: Small) -> Result<(), LakeError> {
        let Small { batches, used, .. } = small;
        let one =
            concat_batches(&batches[0].schema(), &batches).map_err(|source| LakeError::Arrow {
                path: self.lake.root().into(),
                source,
            })?;
        drop(batches);
        self.pending_bytes = self.pending_bytes - used + one.get_array_memory_size();
        self.pending.entry(dt).or_default().push(one);
        Ok(())
    }

    /// Hands what is pending to the writer thread as the next commit. At most one commit is
    /// in flight: this first waits for the previous one.
    fn flush(
        &mut self,
        jobs: &Sender<CommitJob>,
        done: &Receiver<Result<Committed, LakeError>>,
    ) -> Result<(), LakeError> {
        self.wait(done)?;
        for (dt, small) in std::mem::take(&mut self.small) {
            self.coalesce(dt, small)?;
        }
        if self.pending.is_empty() && self.sources.is_empty() && self.quarantined.is_empty() {
            return Ok(());
        }
        let version = self.version + 1;
        let pending = std::mem::take(&mut self.pending);
        for (n, dt) in pending.keys().enumerate() {
            let index = self.lake.root().join(Layout::index_file(version, n));
            self.dedup.add_file(dt, index);
        }
        let job = CommitJob {
            version,
            pending,
            sources: std::mem::take(&mut self.sources),
            quarantined: std::mem::take(&mut self.quarantined),
            bad_lines: std::mem::take(&mut self.bad_lines),
            digest_lines: std::mem::take(&mut self.digest_lines),
        };
        self.version = version;
        self.pending_bytes = 0;
        self.dedup.epoch += 1;
        jobs.send(job)
            .map_err(|_| LakeError::Interrupted("the commit writer stopped".into()))?;
        self.in_flight = true;
        Ok(())
    }

    /// Waits for the commit in flight, if any.
    fn wait(&mut self, done: &Receiver<Result<Committed, LakeError>>) -> Result<(), LakeError> {
        if !self.in_flight {
            return Ok(());
        }
        self.in_flight = false;
        let started = Instant::now();
        let committed = done
            .recv()
            .map_err(|_| LakeError::Interrupted("the commit writer stopped".into()))??;
        self.waited += started.elapsed();
        self.summary.files_written += committed.files;
        self.summary.commits += 1;
        self.summary.lake_version = committed.version;
        self.dedup.acked = committed.version;
        self.dedup.evict();
        Ok(())
    }
}

/// Batches under this many rows holding more than twice the bytes their rows take are
/// copied together ([`Collector::keep`]).
const SMALL_ROWS: usize = 1024;
/// How many such batches of a partition are copied into one, at most...
const COALESCE_BATCHES: usize = 64;
/// ...or as soon as they hold this many bytes.
const COALESCE_HELD_BYTES: usize = 4 << 20;

/// Small batches of a partition waiting to be copied together.
#[derive(Default)]
struct Small {
    batches: Vec<RecordBatch>,
    /// Bytes their rows take (what they count for in the buffered bytes).
    used: usize,
    /// Bytes they hold.
    held: usize,
}

/// One commit's worth of data, handed to the writer thread.
struct CommitJob {
    version: u64,
    pending: BTreeMap<String, Vec<RecordBatch>>,
    sources: Vec<SourceEntry>,
    quarantined: Vec<QuarantineEntry>,
    bad_lines: Vec<String>,
    digest_lines: Vec<String>,
}

struct Committed {
    version: u64,
    files: u64,
}

/// Writes data file `n` of a commit and its dedup index, and moves the file into place.
fn write_partition(
    layout: &Layout,
    staging: &std::path::Path,
    version: u64,
    n: usize,
    dt: String,
    batches: Vec<RecordBatch>,
    row_group_rows: usize,
) -> Result<DataFile, LakeError> {
    let tmp = staging.join(format!("{n:04}.parquet"));
    let w = writer::write_file(&tmp, batches, row_group_rows)?;
    let rel = Layout::data_file(&dt, version, n);
    let index = Layout::index_file(version, n);
    log::write_atomic(&layout.root().join(&index), &writer::encode_index(&w.index))?;
    let dest = layout.root().join(&rel);
    let dir = dest.parent().expect("data files live in a partition dir");
    fs::create_dir_all(dir).at(dir)?;
    fs::rename(&tmp, &dest).at(&dest)?;
    log::sync_dir(dir)?;
    crate::crash_point("lake::data-file-placed");
    Ok(DataFile {
        path: rel,
        dt,
        rows: w.rows,
        bytes: w.bytes,
        min_time: w.min_time,
        max_time: w.max_time,
        xxh3: w.xxh3,
        index,
    })
}

/// The fewest rows a data file gets when a partition is split to keep every core writing.
const MIN_SPLIT_ROWS: usize = 32 * 1024;

/// The partitions of a commit as the files to write: objects are read in delivery order, so
/// a commit often holds one or two days; the biggest partition is halved (in arrival order,
/// which follows event time closely) until there is a file per core, while halves keep at
/// least `min_rows` rows.
fn split_for_cores(
    pending: BTreeMap<String, Vec<RecordBatch>>,
    cores: usize,
    min_rows: usize,
) -> Vec<(String, Vec<RecordBatch>)> {
    let rows = |b: &[RecordBatch]| b.iter().map(RecordBatch::num_rows).sum::<usize>();
    let mut parts: Vec<(String, Vec<RecordBatch>)> = pending.into_iter().collect();
    while parts.len() < cores {
        let Some((i, n)) = parts
            .iter()
            .enumerate()
            .map(|(i, (_, b))| (i, rows(b)))
            .max_by_key(|(_, n)| *n)
        else {
            break;
        };
        if n < 2 * min_rows {
            break;
        }
        let (dt, batches) = parts.remove(i);
        let (mut first, mut second) = (Vec::new(), Vec::new());
        let mut taken = 0;
        for b in batches {
            let want = (n / 2).saturating_sub(taken);
            if want >= b.num_rows() {
                taken += b.num_rows();
                first.push(b);
            } else if want == 0 {
                second.push(b);
            } else {
                taken += want;
                first.push(b.slice(0, want));
                second.push(b.slice(want, b.num_rows() - want));
            }
        }
        parts.insert(i, (dt.clone(), second));
        parts.insert(i, (dt, first));
    }
    parts
}

/// Writes a commit: data files and their dedup indexes through staging, side files, then
/// the log entry (the commit point).
fn write_commit(
    lake: &Lake,
    row_group_rows: usize,
    job: CommitJob,
) -> Result<Committed, LakeError> {
    let layout = lake.layout();
    let version = job.version;
    let staging = layout.staging(version);
    fs::create_dir_all(&staging).at(&staging)?;
    // Partitions are independent files: write them on every core (the readers may be done,
    // and this is the tail of the run).
    let threads = std::thread::available_parallelism().map_or(2, |n| n.get());
    let parts = split_for_cores(job.pending, threads, MIN_SPLIT_ROWS);
    let add: Vec<DataFile> = writer::on_cores(
        parts.into_iter().enumerate().collect(),
        |(n, (dt, batches))| {
            write_partition(&layout, &staging, version, n, dt, batches, row_group_rows)
        },
    )?;
    for (lines, path) in [
        (job.bad_lines, layout.quarantine(version)),
        (job.digest_lines, layout.digests(version)),
    ] {
        if !lines.is_empty() {
            let mut text = lines.join("\n");
            text.push('\n');
            log::write_atomic(&path, text.as_bytes())?;
        }
    }
    let files = add.len() as u64;
    let entry = LogEntry {
        version,
        committed_at: chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
        trawl_version: env!("CARGO_PKG_VERSION").to_string(),
        add,
        sources: job.sources,
        quarantined: job.quarantined,
    };
    crate::crash_point("lake::before-commit");
    log::commit(&layout, &entry)?;
    crate::crash_point("lake::after-commit");
    let _ = fs::remove_dir_all(&staging);
    Ok(Committed { version, files })
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

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use arrow::array::{Array, Int32Array};
    use arrow::datatypes::{DataType, Field, Schema};

    use super::*;

    fn batch(from: i32, n: i32) -> RecordBatch {
        let schema = Arc::new(Schema::new(vec![Field::new("x", DataType::Int32, false)]));
        RecordBatch::try_new(
            schema,
            vec![Arc::new(Int32Array::from_iter_values(from..from + n))],
        )
        .unwrap()
    }

    fn values(batches: &[RecordBatch]) -> Vec<i32> {
        batches
            .iter()
            .flat_map(|b| {
                let a = b.column(0).as_any().downcast_ref::<Int32Array>().unwrap();
                (0..a.len()).map(|i| a.value(i)).collect::<Vec<_>>()
            })
            .collect()
    }

    #[test]
    fn a_lone_big_partition_is_halved_in_order_and_small_ones_are_not() {
        let pending =
            BTreeMap::from([("2024-03-01".to_string(), vec![batch(0, 70), batch(70, 30)])]);
        let parts = split_for_cores(pending, 2, 10);
        assert_eq!(parts.len(), 2);
        assert!(parts.iter().all(|(dt, _)| dt == "2024-03-01"));
        assert_eq!(values(&parts[0].1), (0..50).collect::<Vec<_>>());
        assert_eq!(values(&parts[1].1), (50..100).collect::<Vec<_>>());

        // Four cores: halved twice, every row once, in order.
        let pending = BTreeMap::from([("d".to_string(), vec![batch(0, 100)])]);
        let parts = split_for_cores(pending, 4, 10);
        assert_eq!(parts.len(), 4);
        let all: Vec<i32> = parts.iter().flat_map(|(_, b)| values(b)).collect();
        assert_eq!(all, (0..100).collect::<Vec<_>>());

        // Too small to split, or already one partition per core.
        let pending = BTreeMap::from([("d".to_string(), vec![batch(0, 15)])]);
        assert_eq!(split_for_cores(pending, 2, 10).len(), 1);
        let pending = BTreeMap::from([
            ("a".to_string(), vec![batch(0, 100)]),
            ("b".to_string(), vec![batch(0, 100)]),
        ]);
        assert_eq!(split_for_cores(pending, 2, 10).len(), 2);
    }
}
