//! `trawl verify`: every file the log names is re-read and checked against what the log
//! recorded (size, xxh3 of the bytes, row count, a readable Parquet body, a dedup index
//! that matches the file's eventIDs), and every file the log does not name is reported.

use std::collections::HashSet;
use std::fs;
use std::path::{Path, PathBuf};

use arrow::array::{Array, AsArray};
use arrow::record_batch::RecordBatch;
use parquet::arrow::arrow_reader::{ParquetRecordBatchReader, ParquetRecordBatchReaderBuilder};
use serde::Serialize;

use crate::error::{IoContext, LakeError};
use crate::layout::Layout;
use crate::log::{DataFile, Snapshot};
use crate::{Lake, writer};
use trawl_schema::{COL_EVENTID, COL_EVENTTIME_TS};

/// What `verify` found.
#[derive(Debug, Default, Serialize)]
pub struct VerifyReport {
    pub lake: String,
    /// The committed version checked.
    pub version: u64,
    pub files_checked: u64,
    pub rows: u64,
    pub bytes: u64,
    /// Committed files that are missing, changed or unreadable: the lake is damaged.
    pub problems: Vec<Problem>,
    /// Files no commit names (an interrupted commit's, or not trawl's). Queries never read
    /// them; engines that list `events/` would.
    pub orphans: Vec<Orphan>,
    /// Days whose symlink manifest differs from the log (docs/lake-layout.md, "Reading the
    /// lake with other engines"). Behind the log: engines see an older state until the next
    /// ingest or `trawl ddl` rewrites it. Naming a file the log does not: a problem.
    pub manifests: Vec<crate::manifest::ManifestProblem>,
}

#[derive(Debug, Serialize)]
pub struct Problem {
    pub path: String,
    pub problem: String,
}

#[derive(Debug, Serialize)]
pub struct Orphan {
    pub path: String,
    pub why: String,
}

impl VerifyReport {
    pub fn is_clean(&self) -> bool {
        self.problems.is_empty()
    }
}

/// Checks every committed file of `lake` and lists the files no commit names.
pub fn verify(lake: &Lake) -> Result<VerifyReport, LakeError> {
    let layout = lake.layout();
    let snap = lake.snapshot()?;
    let mut report = VerifyReport {
        lake: lake.location(),
        version: snap.version,
        ..VerifyReport::default()
    };
    for f in &snap.files {
        report.files_checked += 1;
        report.rows += f.rows;
        report.bytes += f.bytes;
        if let Err(problem) = check_file(&layout, f) {
            report.problems.push(Problem {
                path: f.path.clone(),
                problem: problem.to_string(),
            });
        }
    }
    report.orphans = orphans(&layout, &snap)?;
    report.manifests = crate::manifest::check(&layout, &snap)?;
    for m in report.manifests.iter().filter(|m| m.extra > 0) {
        report.problems.push(Problem {
            path: m.path.clone(),
            problem: format!(
                "the manifest names {} file(s) no commit holds: engines reading through it would see rows the lake does not; run `trawl ddl` to rewrite it",
                m.extra
            ),
        });
    }
    Ok(report)
}

/// What is wrong with one data file (the report names the file).
#[derive(Debug, thiserror::Error)]
pub enum FileProblem {
    #[error("missing: the log names it but it is gone")]
    Missing,
    #[error("cannot read: {0}")]
    Unreadable(#[source] std::io::Error),
    #[error("size {found} bytes, the log recorded {recorded}")]
    Size { found: u64, recorded: u64 },
    #[error("content changed: xxh3 {found}, the log recorded {recorded}")]
    Changed { found: String, recorded: String },
    #[error("not readable as Parquet: {0}")]
    NotParquet(#[source] parquet::errors::ParquetError),
    #[error("a page does not decode: {0}")]
    Decode(#[source] arrow::error::ArrowError),
    #[error("{0}: not a trawl data file")]
    NotTrawl(String),
    #[error("{found} rows, the log recorded {recorded}")]
    Rows { found: u64, recorded: u64 },
    #[error("dedup index: {0}")]
    IndexUnreadable(#[source] LakeError),
    #[error("dedup index {0} does not match the file's eventIDs")]
    IndexMismatch(String),
    #[error("its rows do not read back as events: {0}")]
    Rebuild(String),
}

/// One committed data file and its index against the log.
fn check_file(layout: &Layout, f: &DataFile) -> Result<(), FileProblem> {
    let path = layout.root().join(&f.path);
    let bytes = match layout.remote() {
        Some(remote) => match remote.get(&f.path) {
            Ok(Some(b)) => b.to_vec(),
            Ok(None) => return Err(FileProblem::Missing),
            Err(e) => {
                return Err(FileProblem::Unreadable(std::io::Error::other(
                    e.to_string(),
                )));
            }
        },
        None => match fs::read(&path) {
            Ok(b) => b,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Err(FileProblem::Missing);
            }
            Err(e) => return Err(FileProblem::Unreadable(e)),
        },
    };
    if bytes.len() as u64 != f.bytes {
        return Err(FileProblem::Size {
            found: bytes.len() as u64,
            recorded: f.bytes,
        });
    }
    let (xxh3, reader) = open_data(bytes)?;
    if xxh3 != f.xxh3 {
        return Err(FileProblem::Changed {
            found: xxh3,
            recorded: f.xxh3.clone(),
        });
    }
    let (mut rows, mut ids) = (0u64, Vec::new());
    for batch in reader {
        let batch = batch.map_err(FileProblem::Decode)?;
        ids.extend(id_hashes(&batch, rows as usize)?);
        rows += batch.num_rows() as u64;
    }
    if rows != f.rows {
        return Err(FileProblem::Rows {
            found: rows,
            recorded: f.rows,
        });
    }
    if let Some(remote) = layout.remote() {
        remote
            .fetch(layout, &f.index)
            .map_err(FileProblem::IndexUnreadable)?;
    }
    let index_path = layout.root().join(&f.index);
    let index = writer::read_index(&index_path).map_err(FileProblem::IndexUnreadable)?;
    if !index_matches(&index, &ids) {
        return Err(FileProblem::IndexMismatch(f.index.clone()));
    }
    Ok(())
}

/// The xxh3 of a data file's bytes (as the log writes it) and a reader over its rows.
fn open_data(bytes: Vec<u8>) -> Result<(String, ParquetRecordBatchReader), FileProblem> {
    let xxh3 = format!("{:016x}", xxhash_rust::xxh3::xxh3_64(&bytes));
    let reader = ParquetRecordBatchReaderBuilder::try_new(bytes::Bytes::from(bytes))
        .and_then(|b| b.build())
        .map_err(FileProblem::NotParquet)?;
    Ok((xxh3, reader))
}

/// The column `name` of `batch` as text: a file without it, or with another type there, is
/// not a trawl data file.
fn text_column<'a>(
    batch: &'a RecordBatch,
    name: &str,
) -> Result<&'a arrow::array::StringArray, FileProblem> {
    let col = batch
        .column_by_name(name)
        .ok_or_else(|| FileProblem::NotTrawl(format!("no {name} column")))?;
    col.as_string_opt::<i32>().ok_or_else(|| {
        FileProblem::NotTrawl(format!("column {name} is {}, not text", col.data_type()))
    })
}

/// `(row, eventID hash)` of the rows of `batch` that have an eventID; rows count from `base`.
fn id_hashes(batch: &RecordBatch, base: usize) -> Result<Vec<(usize, u64)>, FileProblem> {
    let col = text_column(batch, COL_EVENTID)?;
    Ok((0..col.len())
        .filter(|&i| col.is_valid(i))
        .map(|i| (base + i, writer::id_hash(col.value(i))))
        .collect())
}

/// Whether a dedup index lists exactly these eventIDs, in file order.
fn index_matches(index: &[(u64, u64)], ids: &[(usize, u64)]) -> bool {
    index.len() == ids.len() && index.iter().zip(ids).all(|((a, _), (_, b))| a == b)
}

/// Files under `events/`, the index directory, staging and the log that no commit names (in
/// object storage: the lake's objects under `events/` and `_trawl/index/`).
fn orphans(layout: &Layout, snap: &Snapshot) -> Result<Vec<Orphan>, LakeError> {
    if let Some(remote) = layout.remote() {
        let named: HashSet<&str> = snap
            .files
            .iter()
            .chain(snap.removed.iter().map(|t| &t.file))
            .flat_map(|f| [f.path.as_str(), f.index.as_str()])
            .collect();
        let mut out = Vec::new();
        for prefix in ["events/", "_trawl/index/"] {
            for item in remote.list(prefix, None)? {
                if !named.contains(item.path.as_str()) {
                    out.push(Orphan {
                        why: format!(
                            "no commit names it: a writer's upload for a commit that has not happened (yet), removed by the next `trawl ingest` once older than {} minutes",
                            crate::remote::ORPHAN_AGE.as_secs() / 60
                        ),
                        path: item.path,
                    });
                }
            }
        }
        return Ok(out);
    }
    let root = layout.root();
    let named: HashSet<PathBuf> = snap
        .files
        .iter()
        .chain(snap.removed.iter().map(|t| &t.file))
        .flat_map(|f| [root.join(&f.path), root.join(&f.index)])
        .collect();
    let mut out = Vec::new();
    let mut visit = |dir: &Path, why: &str| -> Result<(), LakeError> {
        if !dir.exists() {
            return Ok(());
        }
        for e in walk(dir)? {
            if !named.contains(&e) {
                out.push(Orphan {
                    path: e
                        .strip_prefix(root)
                        .unwrap_or(&e)
                        .to_string_lossy()
                        .into_owned(),
                    why: why.to_string(),
                });
            }
        }
        Ok(())
    };
    visit(
        &layout.events_dir(),
        "no commit names it: left by an interrupted commit (the next `trawl ingest` removes it) \
         or put there by hand; other engines listing events/ would read it",
    )?;
    visit(
        &layout.meta_dir().join("index"),
        "dedup index of an uncommitted file (harmless; overwritten or removed later)",
    )?;
    visit(
        &layout.meta_dir().join("staging"),
        "staging of an unfinished commit (the next `trawl ingest` removes it)",
    )?;
    let log = layout.log_dir();
    if log.exists() {
        for e in fs::read_dir(&log).at(&log)? {
            let p = e.at(&log)?.path();
            let name = p.file_name().unwrap_or_default().to_string_lossy();
            if Layout::log_version(&name).is_none() {
                out.push(Orphan {
                    path: p
                        .strip_prefix(root)
                        .unwrap_or(&p)
                        .to_string_lossy()
                        .into_owned(),
                    why: "not a commit (a log entry that was never renamed into place)".into(),
                });
            }
        }
    }
    out.sort_by(|a, b| a.path.cmp(&b.path));
    Ok(out)
}

fn walk(dir: &Path) -> Result<Vec<PathBuf>, LakeError> {
    let mut out = Vec::new();
    for e in fs::read_dir(dir).at(dir)? {
        let p = e.at(dir)?.path();
        if p.is_dir() {
            out.extend(walk(&p)?);
        } else {
            out.push(p);
        }
    }
    Ok(out)
}

/// What [`rebuild_ledger`] did.
#[derive(Debug, Default, Serialize)]
pub struct RebuildReport {
    pub lake: String,
    /// Where the previous log was moved (kept, never deleted).
    pub old_log: Option<String>,
    /// The version of the one entry that now lists the lake.
    pub version: u64,
    pub files: u64,
    pub rows: u64,
    /// Source objects named by the rows (`"$path"`).
    pub sources: u64,
    /// Dedup indexes written again because theirs was missing or did not match.
    pub indexes_rebuilt: u64,
    /// Data files left out (not readable as lake Parquet), with the reason.
    pub skipped: Vec<Problem>,
    /// Data files left out because a compacted file on disk holds their rows (it lists them in
    /// its metadata): the next ingest or compaction deletes them.
    pub replaced: Vec<String>,
}

/// The lake-relative paths the compacted files among `data` list as replaced.
fn replaced_files(data: &[PathBuf]) -> std::collections::BTreeSet<String> {
    let mut replaced = std::collections::BTreeSet::new();
    for p in data {
        if !p
            .file_name()
            .is_some_and(|n| n.to_string_lossy().starts_with("compact-"))
        {
            continue;
        }
        let Ok(reader) = fs::File::open(p)
            .map_err(|e| e.to_string())
            .and_then(|f| ParquetRecordBatchReaderBuilder::try_new(f).map_err(|e| e.to_string()))
        else {
            continue;
        };
        let listed = reader
            .metadata()
            .file_metadata()
            .key_value_metadata()
            .and_then(|kv| kv.iter().find(|kv| kv.key == crate::compact::REPLACES_KEY))
            .and_then(|kv| kv.value.as_deref())
            .and_then(|v| serde_json::from_str::<Vec<String>>(v).ok());
        replaced.extend(listed.into_iter().flatten());
    }
    replaced
}

/// Writes a new commit log from the data files themselves, for a lake whose log is lost or
/// damaged: one entry listing every readable data file (rows, bytes, times, checksum) and
/// the source objects its rows came from. The old log is moved aside, not deleted. Dedup
/// indexes that still match their file are kept; others are rebuilt from the rows (their
/// content hashes then come from the rebuilt records, so a re-delivery whose key order
/// differs may later be kept as a conflict rather than dropped). Local sources that still
/// exist get their current size and time, so the next ingest skips them; others (S3) are
/// read again by the next ingest, and dedup drops what is already in.
pub fn rebuild_ledger(lake: &Lake) -> Result<RebuildReport, LakeError> {
    if let Some(remote) = lake.remote() {
        return Err(LakeError::Remote {
            uri: remote.uri("_trawl/log/"),
            message: "--rebuild-ledger works on a local lake only: copy the lake down (`aws s3 sync`), rebuild its log there, and copy `_trawl/log/` back with no writer running".into(),
        });
    }
    let _lock = lake.lock()?;
    let layout = lake.layout();
    let root = layout.root().to_path_buf();
    let mut report = RebuildReport {
        lake: root.display().to_string(),
        ..RebuildReport::default()
    };
    let events = layout.events_dir();
    let mut data: Vec<PathBuf> = if events.exists() {
        walk(&events)?
            .into_iter()
            .filter(|p| p.extension().is_some_and(|x| x == "parquet"))
            .collect()
    } else {
        Vec::new()
    };
    data.sort();
    // Files a compaction replaced stay on disk a while: the compacted file holds their rows.
    let replaced = replaced_files(&data);
    data.retain(|p| {
        let rel = p
            .strip_prefix(&root)
            .unwrap_or(p)
            .to_string_lossy()
            .replace('\\', "/");
        !replaced.contains(&rel)
    });
    report.replaced = replaced.into_iter().collect();
    // The new entry's version is above every version any file name carries, so the next
    // commit's file names cannot collide with an existing file.
    let mut version = 0u64;
    let mut note_version = |name: &str| {
        if let Some(v) = name
            .strip_prefix("part-")
            .or_else(|| name.strip_prefix("compact-"))
            .or(Some(name))
            .and_then(|n| n.get(..20))
            .and_then(|n| n.parse::<u64>().ok())
        {
            version = version.max(v);
        }
    };
    for p in data
        .iter()
        .chain(walk_if(&layout.meta_dir().join("index"))?.iter())
    {
        note_version(&p.file_name().unwrap_or_default().to_string_lossy());
    }
    for p in walk_if(&layout.log_dir())? {
        note_version(&p.file_name().unwrap_or_default().to_string_lossy());
    }
    let version = version + 1;

    let mut add = Vec::new();
    let mut sources: std::collections::BTreeMap<String, u64> = Default::default();
    for (n, path) in data.iter().enumerate() {
        let rel = path
            .strip_prefix(&root)
            .unwrap_or(path)
            .to_string_lossy()
            .replace('\\', "/");
        match describe(&root, path, &rel, n) {
            Ok((file, rows_by_source, rebuilt)) => {
                report.rows += file.rows;
                report.indexes_rebuilt += u64::from(rebuilt);
                for (uri, count) in rows_by_source {
                    *sources.entry(uri).or_default() += count;
                }
                add.push(file);
            }
            Err(problem) => report.skipped.push(Problem {
                path: rel,
                problem: problem.to_string(),
            }),
        }
    }
    report.files = add.len() as u64;
    report.sources = sources.len() as u64;
    let sources = sources
        .into_iter()
        .map(|(uri, events)| {
            let (size, mtime_ns) = std::fs::metadata(&uri)
                .ok()
                .filter(|_| uri.starts_with('/'))
                .map_or((0, 0), |m| (m.len(), trawl_ingest::mtime_ns(&m)));
            crate::log::SourceEntry {
                events,
                ..crate::log::SourceEntry::new(uri, size, mtime_ns)
            }
        })
        .collect();

    let log = layout.log_dir();
    if log.exists() {
        let aside = layout.meta_dir().join(format!(
            "log.replaced-{}",
            chrono::Utc::now().format("%Y%m%dT%H%M%SZ")
        ));
        fs::rename(&log, &aside).at(&aside)?;
        report.old_log = Some(aside.display().to_string());
    }
    let entry = crate::log::LogEntry {
        version,
        committed_at: chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
        trawl_version: env!("CARGO_PKG_VERSION").to_string(),
        add,
        sources,
        quarantined: Vec::new(),
        remove: Vec::new(),
        side: Vec::new(),
    };
    crate::log::commit(&layout, &entry)?;
    crate::manifest::sync(&layout, &Snapshot::load(&layout)?, None, true)?;
    report.version = version;
    Ok(report)
}

fn walk_if(dir: &Path) -> Result<Vec<PathBuf>, LakeError> {
    if dir.exists() {
        walk(dir)
    } else {
        Ok(Vec::new())
    }
}

/// A data file's log record, its rows per source object, and whether its index was rebuilt.
type Described = (DataFile, Vec<(String, u64)>, bool);

fn describe(root: &Path, path: &Path, rel: &str, n: usize) -> Result<Described, FileProblem> {
    use arrow::array::TimestampMicrosecondArray;
    let bytes = fs::read(path).map_err(FileProblem::Unreadable)?;
    let size = bytes.len() as u64;
    let (xxh3, reader) = open_data(bytes)?;
    let (mut rows, mut ids, mut times) = (0u64, Vec::new(), Vec::new());
    let mut by_source: std::collections::BTreeMap<String, u64> = Default::default();
    let mut records = Vec::new();
    for batch in reader {
        let batch = batch.map_err(FileProblem::Decode)?;
        ids.extend(id_hashes(&batch, rows as usize)?);
        rows += batch.num_rows() as u64;
        for s in text_column(&batch, trawl_schema::COL_SOURCE)?
            .iter()
            .flatten()
        {
            *by_source.entry(s.to_string()).or_default() += 1;
        }
        let ts = batch
            .column_by_name(trawl_schema::COL_EVENTTIME_TS)
            .ok_or_else(|| FileProblem::NotTrawl(format!("no {COL_EVENTTIME_TS} column")))?;
        if let Some(ts) = ts.as_any().downcast_ref::<TimestampMicrosecondArray>() {
            times.extend(ts.iter().flatten());
        }
        records.extend(
            trawl_schema::rebuild_batch(&batch)
                .map_err(|e| FileProblem::NotTrawl(format!("its rows do not rebuild: {e}")))?,
        );
    }
    let dt = Path::new(rel)
        .parent()
        .and_then(|p| p.file_name())
        .and_then(|d| d.to_str())
        .and_then(|d| d.strip_prefix("dt="))
        .ok_or_else(|| FileProblem::NotTrawl("not under events/dt=.../".into()))?
        .to_string();
    let file_name = path.file_name().unwrap_or_default().to_string_lossy();
    let index_rel =
        Layout::index_of(&file_name).unwrap_or_else(|| format!("_trawl/index/rebuilt-{n:06}.idx"));
    let index_path = root.join(&index_rel);
    let kept = writer::read_index(&index_path).is_ok_and(|index| index_matches(&index, &ids));
    if !kept {
        // Content hashes from the rebuilt records, as ingest computes them.
        let text = serde_json::to_vec(&serde_json::json!({ "Records": records }))
            .map_err(|e| FileProblem::Rebuild(e.to_string()))?;
        let out = trawl_ingest::read_bytes(rel, text, &trawl_ingest::ReadOptions::default())
            .map_err(|e| FileProblem::Rebuild(e.to_string()))?;
        let mut hashes = Vec::new();
        for b in &out.batches {
            let h = b
                .column_by_name(trawl_schema::COL_HASH)
                .and_then(|c| c.as_primitive_opt::<arrow::datatypes::Int64Type>())
                .ok_or_else(|| FileProblem::Rebuild("no content hash".into()))?;
            hashes.extend(h.values().iter().map(|v| *v as u64));
        }
        if hashes.len() != records.len() {
            return Err(FileProblem::Rebuild(format!(
                "{} of {} rows read back as events",
                hashes.len(),
                records.len()
            )));
        }
        let pairs: Vec<(u64, u64)> = ids.iter().map(|(pos, id)| (*id, hashes[*pos])).collect();
        crate::log::write_atomic(&index_path, &writer::encode_index(&pairs))
            .map_err(FileProblem::IndexUnreadable)?;
    }
    times.sort_unstable();
    let file = DataFile {
        path: rel.to_string(),
        dt,
        rows,
        bytes: size,
        min_time: times.first().map(|t| trawl_schema::format_canonical(*t)),
        max_time: times.last().map(|t| trawl_schema::format_canonical(*t)),
        xxh3,
        index: index_rel,
        committed: 0,
    };
    Ok((file, by_source.into_iter().collect(), !kept))
}
