//! `trawl compact`: a day's small files rewritten into few large ones, in one commit.
//!
//! Incremental ingests (hourly, daily) add a file per day per commit. Compaction reads a
//! day's small files in event-time order, in groups of at most
//! [`CompactOptions::target_rows`] rows, and writes each group as one file, sorted by event
//! time, with the statistics, page index, bloom filters and dedup index ingest writes. One log
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
use crate::log::{self, DataFile, LogEntry, Snapshot};
use crate::{Lake, writer};

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
    pub row_group_rows: usize,
}

impl Default for CompactOptions {
    fn default() -> Self {
        CompactOptions {
            window: TimeWindow::ALL,
            target_rows: DEFAULT_TARGET_ROWS,
            retain: Duration::from_secs(3600),
            row_group_rows: writer::ROW_GROUP_ROWS,
        }
    }
}

/// Rows of a compacted file, at most: four row groups, about 50 MB of Parquet and, while it
/// is written, about 400 MB of memory for CloudTrail records of usual size.
pub const DEFAULT_TARGET_ROWS: usize = 512 * 1024;

/// What a compaction did. Serialised as `trawl compact --format json`.
#[derive(Debug, Clone, Default, Serialize)]
pub struct CompactSummary {
    pub lake: String,
    /// The version committed, if anything was compacted.
    pub version: Option<u64>,
    /// Days rewritten.
    pub days: u64,
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
    let snap = Snapshot::load(&layout)?;
    let mut summary = CompactSummary {
        lake: lake.root().display().to_string(),
        recovered: recover(&layout, &snap)?,
        ..CompactSummary::default()
    };
    // A crash between an earlier commit and its manifests: bring them up first, so that no
    // manifest names a file the purge below deletes.
    crate::manifest::sync(&layout, &snap, None, false)?;
    let groups = plan(&snap, opts);
    if groups.is_empty() {
        summary.purged = purge(&layout, &snap, opts.retain)?;
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
    for (n, group) in groups.iter().enumerate() {
        days.insert(group[0].dt.clone());
        summary.files_before += group.len() as u64;
        summary.bytes_before += group.iter().map(|f| f.bytes).sum::<u64>();
        let file = rewrite(&layout, &staging, version, n, group, opts.row_group_rows)?;
        summary.rows += file.rows;
        summary.bytes_after += file.bytes;
        add.push(file);
        remove.extend(group.iter().map(|f| f.path.clone()));
    }
    summary.files_after = add.len() as u64;
    summary.days = days.len() as u64;
    let mut entry = LogEntry {
        version,
        committed_at: String::new(),
        trawl_version: env!("CARGO_PKG_VERSION").to_string(),
        add,
        sources: Vec::new(),
        quarantined: Vec::new(),
        remove,
    };
    crate::crash_point("lake::compact-before-commit");
    loop {
        entry.committed_at =
            chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
        match log::commit(&layout, &entry) {
            Ok(()) => break,
            Err(LakeError::LostRace { .. }) if summary.retries < crate::MAX_RETRIES => {
                summary.retries += 1;
                // Another writer committed: go on top of it if every file this removes is
                // still in the lake (an ingest only adds; only a compaction removes, and
                // the compaction lock keeps out another).
                let latest = Snapshot::load(&layout)?;
                let live: HashSet<&str> = latest.files.iter().map(|f| f.path.as_str()).collect();
                if let Some(gone) = entry.remove.iter().find(|p| !live.contains(p.as_str())) {
                    return Err(LakeError::BadLog {
                        path: layout.root().join(gone),
                        message: format!(
                            "removed by another commit (version {}) while this compaction ran; run `trawl compact` again",
                            latest.version
                        ),
                    });
                }
                entry.version = latest.version + 1;
            }
            Err(e) => return Err(e),
        }
    }
    crate::crash_point("lake::compact-after-commit");
    crate::manifest::after_commit(&layout, &entry)?;
    let _ = fs::remove_dir_all(&staging);
    summary.version = Some(entry.version);
    // Purged after the commit, so that `--retain 0s` deletes this compaction's replaced
    // files too.
    let latest = Snapshot::load(&layout)?;
    summary.purged = purge(&layout, &latest, opts.retain)?;
    summary.lake_files = latest.files.len() as u64;
    summary.seconds = started.elapsed().as_secs_f64();
    Ok(summary)
}

/// Takes the compaction lock without waiting.
fn lock(layout: &Layout) -> Result<File, LakeError> {
    crate::try_lock_file(&layout.meta_dir().join("compact.lock"))?
        .ok_or_else(|| LakeError::CompactLocked(layout.root().to_path_buf()))
}

fn staging_dir(layout: &Layout) -> PathBuf {
    layout.meta_dir().join("compaction")
}

/// Removes what a crashed compaction left: its staging directory, and compacted files and
/// indexes no commit names. Call with the compaction lock held.
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
        .flat_map(|f| [layout.root().join(&f.path), layout.root().join(&f.index)])
        .collect();
    let mut dirs = vec![layout.meta_dir().join("index")];
    if let Ok(days) = fs::read_dir(layout.events_dir()) {
        dirs.extend(days.flatten().map(|d| d.path()).filter(|p| p.is_dir()));
    }
    for dir in dirs {
        let Ok(entries) = fs::read_dir(&dir) else {
            continue;
        };
        for f in entries.flatten().map(|e| e.path()) {
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

/// Deletes the files (and their indexes) removed longer than `retain` ago; returns how many
/// data files it deleted. One already gone is skipped.
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
        for rel in [&t.file.path, &t.file.index] {
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

/// The groups of files to rewrite: per selected day, its small files in event-time order,
/// cut into runs of at most `target_rows` rows; a run of one file is left as it is.
fn plan(snap: &Snapshot, opts: &CompactOptions) -> Vec<Vec<DataFile>> {
    let target = opts.target_rows.max(1);
    let mut by_day: BTreeMap<&str, Vec<&DataFile>> = BTreeMap::new();
    for f in &snap.files {
        if (f.rows as usize) < target / 2 && day_in(&f.dt, &opts.window) {
            by_day.entry(f.dt.as_str()).or_default().push(f);
        }
    }
    let mut groups = Vec::new();
    for (_, mut files) in by_day {
        files.sort_by(|a, b| (&a.min_time, &a.path).cmp(&(&b.min_time, &b.path)));
        let mut group: Vec<DataFile> = Vec::new();
        let mut rows = 0;
        for f in files {
            if !group.is_empty() && rows + f.rows as usize > target {
                if group.len() > 1 {
                    groups.push(std::mem::take(&mut group));
                }
                group.clear();
                rows = 0;
            }
            rows += f.rows as usize;
            group.push(f.clone());
        }
        if group.len() > 1 {
            groups.push(group);
        }
    }
    groups
}

/// Writes `group`'s rows as compacted file `n` of the compaction meant as `version`, with its
/// dedup index, and moves it into its day.
fn rewrite(
    layout: &Layout,
    staging: &std::path::Path,
    version: u64,
    n: usize,
    group: &[DataFile],
    row_group_rows: usize,
) -> Result<DataFile, LakeError> {
    let dt = group[0].dt.clone();
    let mut batches = Vec::new();
    for f in group {
        batches.extend(read_with_hashes(layout, f)?);
    }
    let tmp = staging.join(format!("{n:04}.parquet"));
    let replaces: Vec<&str> = group.iter().map(|f| f.path.as_str()).collect();
    let meta = KeyValue::new(
        REPLACES_KEY.to_string(),
        serde_json::to_string(&replaces).expect("paths serialise"),
    );
    let w = writer::write_file_with(&tmp, batches, row_group_rows, vec![meta])?;
    writer::place(
        layout,
        &tmp,
        dt.clone(),
        Layout::compacted_file(&dt, version, n),
        Layout::compacted_index(version, n),
        w,
    )
}

/// The rows of data file `f` in the ingest schema: its columns plus each row's content hash,
/// taken from its dedup index (which lists the rows that have an eventID in file order).
fn read_with_hashes(layout: &Layout, f: &DataFile) -> Result<Vec<RecordBatch>, LakeError> {
    let path = layout.root().join(&f.path);
    let parquet = |source| LakeError::Parquet {
        path: path.clone(),
        source,
    };
    let index = writer::read_index(&layout.root().join(&f.index))?;
    let reader = ParquetRecordBatchReaderBuilder::try_new(File::open(&path).at(&path)?)
        .and_then(|b| b.with_batch_size(8192).build())
        .map_err(parquet)?;
    let schema: Arc<Schema> = ingest_schema();
    let mut hashes = index.into_iter().map(|(_, content)| content as i64);
    let mut out = Vec::new();
    for batch in reader {
        let batch = batch.map_err(|source| LakeError::Arrow {
            path: path.clone(),
            source,
        })?;
        let ids = batch
            .column_by_name(COL_EVENTID)
            .ok_or_else(|| LakeError::BadLog {
                path: path.clone(),
                message: format!("no {COL_EVENTID} column: not a trawl data file"),
            })?
            .as_string::<i32>();
        let mut column = Vec::with_capacity(batch.num_rows());
        for r in 0..batch.num_rows() {
            column.push(if ids.is_valid(r) {
                hashes.next().ok_or_else(|| LakeError::BadLog {
                    path: layout.root().join(&f.index),
                    message:
                        "the dedup index lists fewer events than the file holds; run `trawl verify`"
                            .into(),
                })?
            } else {
                0
            });
        }
        let mut columns = batch.columns().to_vec();
        columns.push(Arc::new(Int64Array::from(column)));
        out.push(
            RecordBatch::try_new(Arc::clone(&schema), columns).map_err(|source| {
                LakeError::Arrow {
                    path: path.clone(),
                    source,
                }
            })?,
        );
    }
    if hashes.next().is_some() {
        return Err(LakeError::BadLog {
            path: layout.root().join(&f.index),
            message: "the dedup index lists more events than the file holds; run `trawl verify`"
                .into(),
        });
    }
    Ok(out)
}
