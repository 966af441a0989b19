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
use trawl_schema::COL_EVENTID;

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
pub(crate) fn open_data(bytes: Vec<u8>) -> Result<(String, ParquetRecordBatchReader), FileProblem> {
    let (xxh3, builder) = open_data_builder(bytes)?;
    Ok((xxh3, builder.build().map_err(FileProblem::NotParquet)?))
}

/// [`open_data`], before the reader is built (its metadata can be read).
pub(crate) fn open_data_builder(
    bytes: Vec<u8>,
) -> Result<(String, ParquetRecordBatchReaderBuilder<bytes::Bytes>), FileProblem> {
    let xxh3 = format!("{:016x}", xxhash_rust::xxh3::xxh3_64(&bytes));
    let builder = ParquetRecordBatchReaderBuilder::try_new(bytes::Bytes::from(bytes))
        .map_err(FileProblem::NotParquet)?;
    Ok((xxh3, builder))
}

/// The column `name` of `batch` as text: a file without it, or with another type there, is
/// not a trawl data file.
pub(crate) fn text_column<'a>(
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
pub(crate) fn id_hashes(
    batch: &RecordBatch,
    base: usize,
) -> Result<Vec<(usize, u64)>, FileProblem> {
    let col = text_column(batch, COL_EVENTID)?;
    Ok((0..col.len())
        .filter(|&i| col.is_valid(i))
        .map(|i| (base + i, writer::id_hash(col.value(i))))
        .collect())
}

/// Whether a dedup index lists exactly these eventIDs, in file order.
pub(crate) fn index_matches(index: &[(u64, u64)], ids: &[(usize, u64)]) -> bool {
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

pub(crate) fn walk(dir: &Path) -> Result<Vec<PathBuf>, LakeError> {
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
