//! `trawl verify`: every file the log names is re-read and checked against what the log
//! recorded (size, xxh3 of the bytes, row count, a readable Parquet body, a dedup index
//! that matches the file's eventIDs), and every file the log does not name is reported.

use std::collections::HashSet;
use std::fs;
use std::path::{Path, PathBuf};

use arrow::array::{Array, AsArray};
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use serde::Serialize;

use crate::error::{IoContext, LakeError};
use crate::layout::Layout;
use crate::log::{DataFile, Snapshot};
use crate::{Lake, writer};

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
        lake: lake.root().display().to_string(),
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
                problem,
            });
        }
    }
    report.orphans = orphans(&layout, &snap)?;
    Ok(report)
}

/// One committed data file and its index against the log.
fn check_file(layout: &Layout, f: &DataFile) -> Result<(), String> {
    let path = layout.root().join(&f.path);
    let bytes = match fs::read(&path) {
        Ok(b) => b,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Err("missing: the log names it but it is gone".into());
        }
        Err(e) => return Err(format!("cannot read: {e}")),
    };
    if bytes.len() as u64 != f.bytes {
        return Err(format!(
            "size {} bytes, the log recorded {}",
            bytes.len(),
            f.bytes
        ));
    }
    let xxh3 = format!("{:016x}", xxhash_rust::xxh3::xxh3_64(&bytes));
    if xxh3 != f.xxh3 {
        return Err(format!(
            "content changed: xxh3 {xxh3}, the log recorded {}",
            f.xxh3
        ));
    }
    let reader = ParquetRecordBatchReaderBuilder::try_new(bytes::Bytes::from(bytes))
        .and_then(|b| b.build())
        .map_err(|e| format!("not readable as Parquet: {e}"))?;
    let (mut rows, mut ids) = (0u64, Vec::new());
    for batch in reader {
        let batch = batch.map_err(|e| format!("a page does not decode: {e}"))?;
        rows += batch.num_rows() as u64;
        let col = batch
            .column_by_name("eventid")
            .ok_or("no eventid column")?
            .as_string::<i32>();
        ids.extend(
            (0..col.len())
                .filter(|&i| col.is_valid(i))
                .map(|i| writer::id_hash(col.value(i))),
        );
    }
    if rows != f.rows {
        return Err(format!("{rows} rows, the log recorded {}", f.rows));
    }
    let index_path = layout.root().join(&f.index);
    let index = writer::read_index(&index_path).map_err(|e| format!("dedup index: {e}"))?;
    if index.len() != ids.len() || index.iter().zip(&ids).any(|((id, _), want)| id != want) {
        return Err(format!(
            "dedup index {} does not match the file's eventIDs",
            f.index
        ));
    }
    Ok(())
}

/// Files under `events/`, the index directory, staging and the log that no commit names.
fn orphans(layout: &Layout, snap: &Snapshot) -> Result<Vec<Orphan>, LakeError> {
    let root = layout.root();
    let named: HashSet<PathBuf> = snap
        .files
        .iter()
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
