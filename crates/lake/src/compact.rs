//! `trawl compact`: a day's small files rewritten into few large ones, in one commit.
//!
//! Incremental ingests (hourly, daily) add a file per day per commit. Compaction takes a
//! day's small files in event-time order, in groups of at most
//! [`CompactOptions::target_rows`] rows, and merges each group into one file sorted by event
//! time (each input is sorted already: a k-way merge that holds one row group of rows at a
//! time), with the statistics, page index, bloom filters and dedup index ingest writes. One log
//! entry adds the new files and removes the old ones: readers see the old files or the new
//! ones, never both and never neither.
//!
//! Compaction runs beside an ingest: it takes `_trawl/compact.lock` (one compaction at a
//! time), not the writer lock. Both commit with a conditional create of the next log version
//! ([`crate::log`]); the loser goes on top of the winner. A compaction only removes files of
//! its own snapshot, and an ingest only adds, so nothing conflicts. The removed files stay on
//! disk (tombstones in the log) until a later compaction finds their removal older than
//! [`CompactOptions::retain`], so that a query that planned over an older snapshot can still
//! read them.

use std::collections::{BTreeMap, HashSet};
use std::fs::{self, File};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use arrow::array::{Array, AsArray, Int64Array, RecordBatch};
use arrow::datatypes::Schema;
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use parquet::file::metadata::KeyValue;
use serde::Serialize;
use trawl_schema::{COL_EVENTID, TimeWindow, ingest_schema};

use crate::error::{IoContext, LakeError};
use crate::layout::Layout;
use crate::layout_options::LayoutOptions;
use crate::log::{self, DataFile, LogEntry, Snapshot};
use crate::{Lake, writer};

mod rows;
pub(crate) use rows::read_all;
use rows::{Input, Pending};

/// The key of the metadata entry in which a compacted file lists the files it replaced (a
/// JSON array of lake-relative paths): `trawl verify --rebuild-ledger` reads it when the log
/// is lost, so that the replaced files, still on disk, are not counted twice.
pub const REPLACES_KEY: &str = "trawl.replaces";

/// What to compact and how.
#[derive(Debug, Clone)]
pub struct CompactOptions {
    /// Days to compact: those overlapping the window (every day, and the partition of events
    /// whose time did not parse, when open).
    pub window: TimeWindow,
    /// Rows a compacted file holds at most. Files with fewer than half as many are small.
    pub target_rows: usize,
    /// Files removed longer ago than this are deleted from disk.
    pub retain: Duration,
    /// The layout to write (`None`: the lake's, [`Snapshot::layout`]). The days whose files
    /// are in another layout are rewritten whole into it.
    pub layout: Option<LayoutOptions>,
    /// Files merged at once, at most: each open input holds a decoded page of every column
    /// (a few MB), so more are merged in rounds through files in staging.
    pub fan_in: usize,
}

impl Default for CompactOptions {
    fn default() -> Self {
        CompactOptions {
            window: TimeWindow::ALL,
            target_rows: DEFAULT_TARGET_ROWS,
            retain: Duration::from_secs(3600),
            layout: None,
            fan_in: 16,
        }
    }
}

/// Rows of a compacted file, at most: eight row groups, about 90 MB of Parquet for
/// CloudTrail records of usual size. Memory does not grow with it: files are merged one row
/// group at a time.
pub const DEFAULT_TARGET_ROWS: usize = 1024 * 1024;

/// What a compaction did. Serialised as `trawl compact --format json`.
#[derive(Debug, Clone, Default, Serialize)]
pub struct CompactSummary {
    pub lake: String,
    /// The version committed, if anything was compacted.
    pub version: Option<u64>,
    /// Days rewritten.
    pub days: u64,
    /// Of those, days rewritten whole into another layout.
    pub relaid_days: u64,
    /// The layout of the files written.
    pub layout: String,
    pub files_before: u64,
    pub files_after: u64,
    pub bytes_before: u64,
    pub bytes_after: u64,
    pub rows: u64,
    /// Times the commit lost the race for a version to another writer and went on top.
    pub retries: u32,
    /// Files of earlier compactions deleted from disk (their removal older than the retention).
    pub purged: u64,
    /// Files a crashed compaction left, removed.
    pub recovered: u64,
    /// Data files in the lake after the commit.
    pub lake_files: u64,
    pub seconds: f64,
}

/// Compacts the small files of the days `opts` selects, in one commit.
pub fn compact(lake: &Lake, opts: &CompactOptions) -> Result<CompactSummary, LakeError> {
    let started = Instant::now();
    let layout = lake.layout();
    let _lock = lock(&layout)?;
    let snap = lake.snapshot()?;
    let mut summary = CompactSummary {
        lake: lake.location(),
        recovered: recover(&layout, &snap)?,
        ..CompactSummary::default()
    };
    // A crash between an earlier commit and its manifests: bring them up first, so that no
    // manifest names a file the purge below deletes.
    crate::manifest::sync(&layout, &snap, None, false)?;
    let shape = opts.layout.clone().unwrap_or_else(|| snap.layout());
    summary.layout = shape.to_string();
    let groups = plan(&snap, opts, &shape);
    if groups.is_empty() {
        summary.purged = purge(&layout, &snap, opts.retain)?;
        if let Some(remote) = layout.remote() {
            summary.purged += remote.sweep(&snap, opts.retain)?;
        }
        summary.lake_files = snap.files.len() as u64;
        summary.seconds = started.elapsed().as_secs_f64();
        return Ok(summary);
    }
    let version = snap.version + 1;
    let staging = staging_dir(&layout);
    fs::create_dir_all(&staging).at(&staging)?;
    let mut add = Vec::new();
    let mut remove = Vec::new();
    let mut days = HashSet::new();
    let mut names = 0..;
    for group in &groups {
        days.insert(group.files[0].dt.clone());
        summary.relaid_days += u64::from(group.relayout);
        summary.files_before += group.files.len() as u64;
        summary.bytes_before += group.files.iter().map(|f| f.bytes).sum::<u64>();
        if let Some(remote) = layout.remote() {
            for f in &group.files {
                remote.fetch(&layout, &f.path)?;
                remote.fetch(&layout, &f.index)?;
            }
        }
        let target = Target {
            layout: &layout,
            staging: &staging,
            version,
            shape: &shape,
            opts,
        };
        for file in target.rewrite(group, &mut names)? {
            summary.rows += file.rows;
            summary.bytes_after += file.bytes;
            add.push(file);
        }
        remove.extend(group.files.iter().map(|f| f.path.clone()));
    }
    summary.files_after = add.len() as u64;
    summary.days = days.len() as u64;
    let mut entry = LogEntry {
        version,
        committed_at: chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
        trawl_version: env!("CARGO_PKG_VERSION").to_string(),
        add,
        sources: Vec::new(),
        quarantined: Vec::new(),
        remove,
        side: Vec::new(),
        rebuilt: false,
    };
    if let Some(remote) = layout.remote() {
        remote.push(&layout, &entry.add)?;
    }
    crate::crash_point("lake::compact-before-commit");
    // Another writer committed first: go on top of it if every file this removes is still in
    // the lake (an ingest only adds; only a compaction removes, and the compaction lock keeps
    // out another on one machine; in object storage one on another machine may have won).
    summary.retries = log::commit_on_top(&layout, &mut entry, |entry, _| {
        let latest = Snapshot::load(&layout)?;
        let live: HashSet<&str> = latest.files.iter().map(|f| f.path.as_str()).collect();
        match entry.remove.iter().find(|p| !live.contains(p.as_str())) {
            Some(gone) => Err(LakeError::CompactedMeanwhile {
                path: match layout.remote() {
                    Some(r) => r.uri(gone),
                    None => layout.root().join(gone).display().to_string(),
                },
                version: latest.version,
            }),
            None => Ok(()),
        }
    })?;
    crate::crash_point("lake::compact-after-commit");
    crate::manifest::after_commit(&layout, &entry)?;
    let _ = fs::remove_dir_all(&staging);
    summary.version = Some(entry.version);
    // Purged after the commit, so that `--retain 0s` deletes this compaction's replaced
    // files too.
    let latest = Snapshot::load(&layout)?;
    summary.purged = purge(&layout, &latest, opts.retain)?;
    if let Some(remote) = layout.remote() {
        // The mirror keeps indexes, not data.
        for rel in entry.add.iter().map(|f| &f.path).chain(&entry.remove) {
            let _ = fs::remove_file(layout.root().join(rel));
        }
        summary.purged += remote.sweep(&latest, opts.retain)?;
    }
    summary.lake_files = latest.files.len() as u64;
    summary.seconds = started.elapsed().as_secs_f64();
    Ok(summary)
}

/// Takes the compaction lock without waiting.
fn lock(layout: &Layout) -> Result<File, LakeError> {
    crate::try_lock_file(&layout.meta_dir().join("compact.lock"))?
        .ok_or_else(|| LakeError::CompactLocked(layout.root().to_path_buf()))
}

/// Where a compaction's files are written before they are placed (relative to the root).
const STAGING: &str = "_trawl/compaction";

fn staging_dir(layout: &Layout) -> PathBuf {
    layout.root().join(STAGING)
}

/// Removes what a crashed compaction left: its staging directory, and compacted files,
/// indexes and needle filters no commit names. Call with the compaction lock held.
fn recover(layout: &Layout, snap: &Snapshot) -> Result<u64, LakeError> {
    let mut removed = 0;
    let staging = staging_dir(layout);
    if staging.exists() {
        fs::remove_dir_all(&staging).at(&staging)?;
    }
    let known: HashSet<PathBuf> = snap
        .files
        .iter()
        .chain(snap.removed.iter().map(|t| &t.file))
        .flat_map(|f| {
            [&f.path, &f.index, &crate::needles::path_of(&f.index)].map(|p| layout.root().join(p))
        })
        .collect();
    for dir in [
        layout.meta_dir().join("index"),
        layout.meta_dir().join("needles"),
        layout.events_dir(),
    ] {
        if !dir.exists() {
            continue;
        }
        // The days' directories, and those below them.
        for f in crate::verify::walk(&dir)? {
            let name = f.file_name().unwrap_or_default().to_string_lossy();
            if name.starts_with("compact-") && !known.contains(&f) {
                fs::remove_file(&f).at(&f)?;
                tracing::info!("removed {} (an unfinished compaction's)", f.display());
                removed += 1;
            }
        }
    }
    Ok(removed)
}

/// Deletes the files (and their indexes and needle filters) removed longer than `retain`
/// ago; returns how many data files it deleted. One already gone is skipped.
fn purge(layout: &Layout, snap: &Snapshot, retain: Duration) -> Result<u64, LakeError> {
    let now = chrono::Utc::now();
    let mut purged = 0;
    for t in &snap.removed {
        let removed = chrono::DateTime::parse_from_rfc3339(&t.removed_at)
            .map(|d| d.with_timezone(&chrono::Utc))
            .unwrap_or(now);
        if (now - removed).to_std().unwrap_or_default() < retain {
            continue;
        }
        for rel in [
            &t.file.path,
            &t.file.index,
            &crate::needles::path_of(&t.file.index),
        ] {
            let path = layout.root().join(rel);
            match fs::remove_file(&path) {
                Ok(()) => purged += u64::from(rel == &t.file.path),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(source) => return Err(LakeError::Io { path, source }),
            }
        }
    }
    Ok(purged)
}

/// Whether day `dt` overlaps `window` (days are UTC).
fn day_in(dt: &str, window: &TimeWindow) -> bool {
    if window.is_open() {
        return true;
    }
    // The partition of events whose time did not parse is in no window.
    let Ok(day) = chrono::NaiveDate::parse_from_str(dt, "%Y-%m-%d") else {
        return false;
    };
    let start = day
        .and_hms_opt(0, 0, 0)
        .expect("midnight")
        .and_utc()
        .timestamp_micros();
    let end = start + 86_400_000_000;
    window.since.is_none_or(|s| s < end) && window.until.is_none_or(|u| u > start)
}

/// Files rewritten together into one file, or (`relayout`) a day's files rewritten whole
/// into another layout, a file per directory below the day and per `target_rows` rows.
#[derive(Debug)]
struct Group {
    files: Vec<DataFile>,
    relayout: bool,
}

/// The layout a file was written in.
fn layout_of(f: &DataFile) -> LayoutOptions {
    f.layout.clone().unwrap_or_default()
}

/// The directory a data file is in (relative to the root).
fn dir_of(path: &str) -> &str {
    path.rsplit_once('/').map_or("", |(d, _)| d)
}

/// The groups of files to rewrite: a selected day with a file in a layout other than
/// `shape`, whole; in the other selected days, per directory, the small files in event-time
/// order, cut into runs of at most `target_rows` rows (a run of one file is left as it is).
fn plan(snap: &Snapshot, opts: &CompactOptions, shape: &LayoutOptions) -> Vec<Group> {
    let target = opts.target_rows.max(1);
    let mut by_day: BTreeMap<&str, Vec<&DataFile>> = BTreeMap::new();
    for f in snap.files.iter().filter(|f| day_in(&f.dt, &opts.window)) {
        by_day.entry(f.dt.as_str()).or_default().push(f);
    }
    let mut groups = Vec::new();
    for (_, files) in by_day {
        if files.iter().any(|f| layout_of(f) != *shape) {
            let mut files: Vec<DataFile> = files.into_iter().cloned().collect();
            files.sort_by(|a, b| (&a.min_time, &a.path).cmp(&(&b.min_time, &b.path)));
            groups.push(Group {
                files,
                relayout: true,
            });
            continue;
        }
        let mut by_dir: BTreeMap<&str, Vec<&DataFile>> = BTreeMap::new();
        for f in files.into_iter().filter(|f| (f.rows as usize) < target / 2) {
            by_dir.entry(dir_of(&f.path)).or_default().push(f);
        }
        for (_, mut files) in by_dir {
            files.sort_by(|a, b| (&a.min_time, &a.path).cmp(&(&b.min_time, &b.path)));
            let mut group: Vec<DataFile> = Vec::new();
            let mut rows = 0;
            for f in files {
                if !group.is_empty() && rows + f.rows as usize > target {
                    if group.len() > 1 {
                        groups.push(Group {
                            files: std::mem::take(&mut group),
                            relayout: false,
                        });
                    }
                    group.clear();
                    rows = 0;
                }
                rows += f.rows as usize;
                group.push(f.clone());
            }
            if group.len() > 1 {
                groups.push(Group {
                    files: group,
                    relayout: false,
                });
            }
        }
    }
    groups
}

/// Merged rows encoded at a time: what the merge holds besides each input's current batch.
const MERGE_ROWS: usize = 8192;

/// Rows sorted in memory at a time when a day is rewritten into another layout: each such
/// run is written to staging, then the runs are merged.
const RUN_ROWS: usize = 64 * 1024;

/// Where and how a compaction writes.
struct Target<'a> {
    layout: &'a Layout,
    staging: &'a std::path::Path,
    version: u64,
    shape: &'a LayoutOptions,
    opts: &'a CompactOptions,
}

impl Target<'_> {
    /// Writes `group`'s rows as compacted files (numbered from `names`), with their dedup
    /// indexes, and moves them into their directories. Files are merged in the layout's
    /// order and encoded a few thousand rows at a time: memory does not grow with the file,
    /// its row groups or the number of files merged. A day rewritten into another layout is
    /// first cut into sorted runs of at most [`RUN_ROWS`] rows per directory.
    fn rewrite(
        &self,
        group: &Group,
        names: &mut std::ops::RangeFrom<usize>,
    ) -> Result<Vec<DataFile>, LakeError> {
        let dt = group.files[0].dt.clone();
        let replaces: Vec<&str> = group.files.iter().map(|f| f.path.as_str()).collect();
        let meta = KeyValue::new(
            REPLACES_KEY.to_string(),
            serde_json::to_string(&replaces).expect("paths serialise"),
        );
        // The inputs of each directory below the day, each sorted in the layout's order.
        let mut by_dir: BTreeMap<Option<String>, Vec<DataFile>> = BTreeMap::new();
        if group.relayout {
            self.runs(group, &mut by_dir)?;
        } else {
            let sub = crate::layout_options::sub_partition_of(&group.files[0].path)
                .and_then(|(_, v)| self.shape.sub_dir(v));
            by_dir.insert(sub, group.files.clone());
        }
        let mut out = Vec::new();
        for (sub, inputs) in by_dir {
            let max_rows = group.relayout.then_some(self.opts.target_rows.max(1));
            let n = names.next().expect("unbounded");
            for (k, (tmp, w)) in self
                .merge_all(n, &dt, inputs, max_rows, &meta)?
                .into_iter()
                .enumerate()
            {
                let n = if k == 0 {
                    n
                } else {
                    names.next().expect("unbounded")
                };
                let (path, index) =
                    self.layout
                        .compacted_and_index(&dt, sub.as_deref(), self.version, n);
                out.push(writer::place(
                    self.layout,
                    &tmp,
                    dt.clone(),
                    path,
                    index,
                    w,
                )?);
            }
        }
        Ok(out)
    }

    /// Cuts a day's files into runs sorted in the layout's order, per directory below the
    /// day: a file already in that order and directory is a run as it is.
    fn runs(
        &self,
        group: &Group,
        by_dir: &mut BTreeMap<Option<String>, Vec<DataFile>>,
    ) -> Result<(), LakeError> {
        let shape = self.shape;
        let dt = &group.files[0].dt;
        let mut held: Vec<RecordBatch> = Vec::new();
        let mut count = 0;
        for f in &group.files {
            let own = layout_of(f);
            let sub = crate::layout_options::sub_partition_of(&f.path);
            if own.sort_by == shape.sort_by && sub.map(|(s, _)| s) == shape.sub_partition {
                let dir = sub.and_then(|(_, v)| shape.sub_dir(v));
                by_dir.entry(dir).or_default().push(f.clone());
                continue;
            }
            let mut input = Input::open(self.layout, f, 8192, None)?;
            while input.advance()? {
                held.push(input.batch.take().expect("advanced"));
                if held.iter().map(RecordBatch::num_rows).sum::<usize>() >= RUN_ROWS {
                    self.write_runs(dt, std::mem::take(&mut held), &mut count, by_dir)?;
                }
            }
            input.check_index_used()?;
        }
        if !held.is_empty() {
            self.write_runs(dt, held, &mut count, by_dir)?;
        }
        Ok(())
    }

    /// Writes `batches` to staging as runs sorted in the layout's order, one per directory
    /// below the day.
    fn write_runs(
        &self,
        dt: &str,
        batches: Vec<RecordBatch>,
        count: &mut usize,
        by_dir: &mut BTreeMap<Option<String>, Vec<DataFile>>,
    ) -> Result<(), LakeError> {
        let parts = crate::ingest::sub_partitions(
            self.layout,
            BTreeMap::from([(dt.to_string(), batches)]),
            self.shape,
        )?;
        for ((_, sub), batches) in parts {
            let rel = format!("{STAGING}/run-{:06}.parquet", *count);
            *count += 1;
            let w = writer::write_file(&self.layout.root().join(&rel), batches, self.shape)?;
            let index = format!("{rel}.idx");
            log::write_atomic(
                &self.layout.root().join(&index),
                &writer::encode_index(&w.index),
            )?;
            let dir = sub.and_then(|v| self.shape.sub_dir(&v));
            by_dir
                .entry(dir)
                .or_default()
                .push(w.describe(rel, dt.to_string(), index));
        }
        Ok(())
    }

    /// Merges `inputs` (each sorted in the layout's order) into staged files numbered `n`,
    /// of at most `max_rows` rows each (one file if `None`), with the metadata `meta`.
    fn merge_all(
        &self,
        n: usize,
        dt: &str,
        mut inputs: Vec<DataFile>,
        max_rows: Option<usize>,
        meta: &KeyValue,
    ) -> Result<Vec<(PathBuf, writer::Written)>, LakeError> {
        let fan_in = self.opts.fan_in.max(2);
        // Each open input costs a few MB (a decoded page of each column): more than `fan_in`
        // files are merged in rounds, through files in staging. The fewest rows merged twice:
        // the smallest files first, just enough of them that the rest fit one final merge
        // (as an optimal merge pattern does).
        let mut round = 0;
        while inputs.len() > fan_in {
            inputs.sort_by_key(|f| f.rows);
            let take = fan_in.min(inputs.len() - fan_in + 1);
            let chunk: Vec<DataFile> = inputs.drain(..take).collect();
            let rel = format!("{STAGING}/{n:04}-round{round:04}.parquet");
            let tmp = self.layout.root().join(&rel);
            let mut w = merge(self.layout, &[tmp], &chunk, self.shape, None, Vec::new())?;
            let w = w.pop().expect("one file").1;
            let index = format!("{rel}.idx");
            log::write_atomic(
                &self.layout.root().join(&index),
                &writer::encode_index(&w.index),
            )?;
            inputs.push(w.describe(rel, dt.to_string(), index));
            remove_staged(self.layout, &chunk);
            round += 1;
        }
        let tmp = |k: usize| self.staging.join(format!("{n:04}-{k:04}.parquet"));
        let tmps: Vec<PathBuf> = (0..inputs
            .iter()
            .map(|f| f.rows)
            .sum::<u64>()
            .max(1)
            .div_ceil(max_rows.unwrap_or(usize::MAX) as u64)
            as usize)
            .map(tmp)
            .collect();
        let out = merge(
            self.layout,
            &tmps,
            &inputs,
            self.shape,
            max_rows,
            vec![meta.clone()],
        )?;
        remove_staged(self.layout, &inputs);
        Ok(out)
    }
}

/// Deletes the files of an earlier merge round among `files` (they are merged now).
fn remove_staged(layout: &Layout, files: &[DataFile]) {
    for f in files.iter().filter(|f| f.path.starts_with(STAGING)) {
        let _ = fs::remove_file(layout.root().join(&f.path));
        let _ = fs::remove_file(layout.root().join(&f.index));
    }
}

/// Merges `group` (files each sorted in `shape`'s order) into files at `tmps`, sorted the
/// same: a new file after each `max_rows` rows.
fn merge(
    layout: &Layout,
    tmps: &[PathBuf],
    group: &[DataFile],
    shape: &LayoutOptions,
    max_rows: Option<usize>,
    extra: Vec<KeyValue>,
) -> Result<Vec<(PathBuf, writer::Written)>, LakeError> {
    let rows: u64 = group.iter().map(|f| f.rows).sum();
    let max_rows = max_rows.unwrap_or(usize::MAX).max(1);
    let row_group_rows = shape.row_group_rows.max(1);
    let sort = (!shape.by_time()).then(|| shape.clone());
    let mut files = tmps.iter();
    let mut done = Vec::new();
    let mut next_file = |left: u64| -> Result<(PathBuf, writer::FileWriter), LakeError> {
        let tmp = files.next().expect("a staged name per file").clone();
        let rows = (left as usize).min(max_rows);
        let w = writer::FileWriter::create(&tmp, rows, shape, extra.clone())?;
        Ok((tmp, w))
    };
    let (mut tmp, mut file) = next_file(rows)?;
    let mut in_file = 0usize;
    let mut left = rows;
    // Small reads from each file, so that the open batches of many inputs stay few rows.
    let batch_rows = (MERGE_ROWS / group.len().max(1)).clamp(64, 8192);
    let mut inputs = group
        .iter()
        .map(|f| Input::open(layout, f, batch_rows, sort.clone()))
        .collect::<Result<Vec<_>, _>>()?;
    let mut heap = std::collections::BinaryHeap::new();
    for (i, input) in inputs.iter_mut().enumerate() {
        if input.advance()? {
            heap.push(std::cmp::Reverse((input.key(), i)));
        }
    }
    let mut pending = Pending {
        batches: Vec::new(),
        slot: vec![None; inputs.len()],
        order: Vec::with_capacity(MERGE_ROWS),
        in_group: 0,
    };
    while let Some(std::cmp::Reverse((_, i))) = heap.pop() {
        let input = &mut inputs[i];
        let b = *pending.slot[i].get_or_insert_with(|| {
            pending.batches.push(
                input
                    .batch
                    .clone()
                    .expect("an input in the heap has a batch"),
            );
            pending.batches.len() - 1
        });
        pending.order.push((b, input.row));
        input.row += 1;
        if input.row == input.len() {
            pending.slot[i] = None;
            if !input.advance()? {
                input.check_index_used()?;
            }
        }
        if input.batch.is_some() {
            heap.push(std::cmp::Reverse((input.key(), i)));
        }
        // Encoded in pieces that end a row group, and a file, exactly at its size.
        let room = MERGE_ROWS
            .min(row_group_rows - pending.in_group)
            .min(max_rows - in_file);
        if pending.order.len() == room {
            in_file += pending.order.len();
            left -= pending.order.len() as u64;
            pending.flush(&mut file, row_group_rows)?;
            if in_file == max_rows && left > 0 {
                file.close_group()?;
                pending.in_group = 0;
                let (t, f) = next_file(left)?;
                done.push((
                    std::mem::replace(&mut tmp, t),
                    std::mem::replace(&mut file, f).finish()?,
                ));
                in_file = 0;
            }
        }
    }
    if !pending.order.is_empty() {
        pending.flush(&mut file, row_group_rows)?;
    }
    drop(inputs);
    done.push((tmp, file.finish()?));
    Ok(done)
}
