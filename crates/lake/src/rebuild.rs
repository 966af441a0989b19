//! `trawl verify --rebuild-ledger`: a new commit log written from the data files themselves,
//! for a lake whose log is lost or damaged, on disk or in object storage.

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::path::Path;

use arrow::array::AsArray;
use serde::Serialize;

use crate::error::{IoContext, LakeError};
use crate::layout::Layout;
use crate::log::{DataFile, LogEntry, Snapshot};
use crate::remote::Remote;
use crate::verify::{
    FileProblem, Problem, id_hashes, index_matches, open_data_builder, text_column, walk,
};
use crate::{Lake, writer};
use trawl_schema::COL_EVENTTIME_TS;

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
    /// Data files left out because a compacted file holds their rows (it lists them in its
    /// metadata): the next ingest or compaction deletes them.
    pub replaced: Vec<String>,
}

/// Writes a new commit log from the data files themselves, for a lake whose log is lost or
/// damaged: one entry listing every readable data file (rows, bytes, times, checksum) and
/// the source objects its rows came from, marked `rebuilt` (a snapshot starts again from
/// it). The old log is moved aside, not deleted. Dedup indexes that still match their file
/// are kept; others are rebuilt from the rows (their content hashes then come from the
/// rebuilt records, so a re-delivery whose key order differs may later be kept as a conflict
/// rather than dropped). Local sources that still exist get their current size and time, so
/// the next ingest skips them; others (S3) are read again by the next ingest, and dedup drops
/// what is already in.
///
/// In object storage no lock keeps writers out: every `trawl ingest` and `trawl compact` of
/// the lake must be stopped. The new entry is created only if its version is free (a writer
/// that committed meanwhile makes the rebuild fail, and it can be run again), and only then is
/// the old log moved aside; a reader in between replays the old entries and then the rebuilt
/// one, which starts the snapshot again. Other machines' mirrors follow on their next run.
pub fn rebuild_ledger(lake: &Lake) -> Result<RebuildReport, LakeError> {
    let _lock = lake.lock()?;
    let layout = lake.layout();
    let remote = layout.remote().cloned();
    let root = layout.root().to_path_buf();
    let mut report = RebuildReport {
        lake: lake.location(),
        ..RebuildReport::default()
    };
    // The data files, and every other name a version may be read from.
    let (mut data, mut names) = match &remote {
        None => local_names(&layout)?,
        Some(r) => remote_names(r)?,
    };
    names.extend(data.iter().cloned());
    // The new entry's version is above every version any name carries (and any the mirror
    // knows), so the next commit's file names cannot collide with an existing file.
    let version = names
        .iter()
        .filter_map(|n| name_version(n))
        .max()
        .unwrap_or(0)
        .max(Snapshot::latest_version(&layout)?)
        + 1;

    // Compacted files first, the latest first, then the others: a compaction's files carry a
    // version above those of the files it replaced, so a replaced file is known as such
    // before it would be read.
    let compacted = |rel: &str| {
        rel.rsplit('/')
            .next()
            .is_some_and(|n| n.starts_with("compact-"))
    };
    let file_name = |rel: &str| rel.rsplit('/').next().unwrap_or(rel).to_string();
    data.sort_by(|a, b| match (compacted(a), compacted(b)) {
        (true, true) => file_name(b).cmp(&file_name(a)),
        (x, y) => y.cmp(&x).then_with(|| a.cmp(b)),
    });
    let mut replaced = BTreeSet::new();
    let mut uploads = Vec::new();
    let mut add = Vec::new();
    let mut sources: BTreeMap<String, u64> = BTreeMap::new();
    for (n, rel) in data.iter().enumerate() {
        // Files a compaction replaced stay a while: the compacted file holds their rows.
        if replaced.contains(rel.as_str()) {
            continue;
        }
        let index = Layout::index_of(&file_name(rel))
            .unwrap_or_else(|| format!("_trawl/index/rebuilt-{n:06}.idx"));
        let bytes = match &remote {
            None => fs::read(root.join(rel)).map_err(FileProblem::Unreadable),
            // A request that fails stops the rebuild: a log that left the file out would
            // lose its rows.
            Some(r) => {
                r.fetch(&layout, &index)?;
                Ok(r.get(rel)?
                    .ok_or_else(|| LakeError::Remote {
                        uri: r.uri(rel),
                        message: "listed, then not found: is a compaction or an ingest running? stop it and run this again".into(),
                    })?
                    .to_vec())
            }
        };
        match bytes.and_then(|b| describe(&root, b, rel, &index)) {
            Ok(d) => {
                replaced.extend(d.replaces);
                if d.index_rebuilt && remote.is_some() {
                    uploads.push((root.join(&index), index));
                }
                report.rows += d.file.rows;
                report.indexes_rebuilt += u64::from(d.index_rebuilt);
                for (uri, count) in d.by_source {
                    *sources.entry(uri).or_default() += count;
                }
                add.push(d.file);
            }
            Err(problem) => report.skipped.push(Problem {
                path: rel.clone(),
                problem: problem.to_string(),
            }),
        }
    }
    add.sort_by(|a, b| a.path.cmp(&b.path));
    report.skipped.sort_by(|a, b| a.path.cmp(&b.path));
    report.replaced = replaced.into_iter().collect();
    report.files = add.len() as u64;
    report.sources = sources.len() as u64;
    let sources = sources
        .into_iter()
        .map(|(uri, events)| {
            let (size, mtime_ns) = fs::metadata(&uri)
                .ok()
                .filter(|_| uri.starts_with('/'))
                .map_or((0, 0), |m| (m.len(), trawl_ingest::mtime_ns(&m)));
            crate::log::SourceEntry {
                events,
                ..crate::log::SourceEntry::new(uri, size, mtime_ns)
            }
        })
        .collect();
    let entry = LogEntry {
        version,
        committed_at: chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
        trawl_version: env!("CARGO_PKG_VERSION").to_string(),
        add,
        sources,
        quarantined: Vec::new(),
        remove: Vec::new(),
        side: Vec::new(),
        rebuilt: true,
    };
    let stamp = chrono::Utc::now().format("%Y%m%dT%H%M%SZ").to_string();
    let aside = layout.meta_dir().join(format!("log.replaced-{stamp}"));
    let log = layout.log_dir();
    match &remote {
        None => {
            if log.exists() {
                fs::rename(&log, &aside).at(&aside)?;
                report.old_log = Some(aside.display().to_string());
            }
            crate::log::commit(&layout, &entry)?;
        }
        Some(r) => {
            r.upload_all(uploads)?;
            let json = serde_json::to_vec_pretty(&entry).expect("log entries serialise");
            let rel = Layout::log_rel(version);
            if !r.put_new(&rel, json.clone())? {
                return Err(LakeError::Remote {
                    uri: r.uri(&rel),
                    message: "another writer committed this version while the log was being rebuilt: stop every `trawl ingest` and `trawl compact` of this lake, then run this again".into(),
                });
            }
            // Committed: the old entries go aside, in the store and in the mirror.
            let old: Vec<(String, String)> = r
                .list("_trawl/log/", None)?
                .into_iter()
                .filter(|l| {
                    let name = l.path.rsplit('/').next().unwrap_or_default();
                    Layout::log_version(name).is_some_and(|v| v < version)
                })
                .map(|l| {
                    let name = l.path.rsplit('/').next().unwrap_or_default().to_string();
                    (l.path, format!("_trawl/log.replaced-{stamp}/{name}"))
                })
                .collect();
            if !old.is_empty() {
                r.move_all(old)?;
                report.old_log = Some(r.uri(&format!("_trawl/log.replaced-{stamp}/")));
            }
            if log.exists() {
                fs::rename(&log, &aside).at(&aside)?;
            }
            crate::log::write_atomic(&layout.log_entry(version), &json)?;
        }
    }
    crate::manifest::sync_and_publish(&layout, &Snapshot::load(&layout)?, None, true)?;
    report.version = version;
    Ok(report)
}

/// The commit version a file name starts with (`part-<v>-...`, `compact-<v>-...`, `<v>.json`).
fn name_version(path: &str) -> Option<u64> {
    let name = path.rsplit('/').next()?;
    name.strip_prefix("part-")
        .or_else(|| name.strip_prefix("compact-"))
        .unwrap_or(name)
        .get(..20)?
        .parse()
        .ok()
}

/// The data files of a local lake (relative paths), and its index and log file names.
fn local_names(layout: &Layout) -> Result<(Vec<String>, Vec<String>), LakeError> {
    let rel = |p: &Path| layout.rel(p);
    let data = walk_if(&layout.events_dir())?
        .into_iter()
        .filter(|p| p.extension().is_some_and(|x| x == "parquet"))
        .map(|p| rel(&p))
        .collect();
    let mut names = Vec::new();
    for dir in [layout.meta_dir().join("index"), layout.log_dir()] {
        names.extend(walk_if(&dir)?.iter().map(|p| rel(p)));
    }
    Ok((data, names))
}

/// The data files of a lake in object storage, and its index and log object names.
fn remote_names(r: &Remote) -> Result<(Vec<String>, Vec<String>), LakeError> {
    let data = r
        .list("events/", None)?
        .into_iter()
        .map(|l| l.path)
        .filter(|p| p.ends_with(".parquet"))
        .collect();
    let mut names = Vec::new();
    for prefix in ["_trawl/index/", "_trawl/log/"] {
        names.extend(r.list(prefix, None)?.into_iter().map(|l| l.path));
    }
    Ok((data, names))
}

fn walk_if(dir: &Path) -> Result<Vec<std::path::PathBuf>, LakeError> {
    if dir.exists() {
        walk(dir)
    } else {
        Ok(Vec::new())
    }
}

/// A data file as the rebuilt log records it.
struct Described {
    file: DataFile,
    /// Its rows per source object.
    by_source: Vec<(String, u64)>,
    /// Whether its dedup index (at `file.index`, under `root`) was written again.
    index_rebuilt: bool,
    /// The files a compacted file says it replaced.
    replaces: Vec<String>,
}

/// Reads a data file (`bytes`, at lake path `rel`), checks its dedup index at `index` under
/// `root` and writes it again there if it is missing or does not match.
fn describe(root: &Path, bytes: Vec<u8>, rel: &str, index: &str) -> Result<Described, FileProblem> {
    use arrow::array::TimestampMicrosecondArray;
    let size = bytes.len() as u64;
    let (xxh3, builder) = open_data_builder(bytes)?;
    let meta = |key: &str| {
        builder
            .metadata()
            .file_metadata()
            .key_value_metadata()
            .and_then(|kv| kv.iter().find(|kv| kv.key == key))
            .and_then(|kv| kv.value.clone())
    };
    // A compacted file lists in its metadata the files whose rows it holds.
    let replaces = meta(crate::compact::REPLACES_KEY)
        .and_then(|v| serde_json::from_str::<Vec<String>>(&v).ok())
        .unwrap_or_default();
    let layout = meta(writer::LAYOUT_KEY)
        .and_then(|v| serde_json::from_str::<crate::LayoutOptions>(&v).ok());
    let reader = builder.build().map_err(FileProblem::NotParquet)?;
    let (mut rows, mut ids, mut times) = (0u64, Vec::new(), Vec::new());
    let mut by_source: BTreeMap<String, u64> = BTreeMap::new();
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
            .column_by_name(COL_EVENTTIME_TS)
            .ok_or_else(|| FileProblem::NotTrawl(format!("no {COL_EVENTTIME_TS} column")))?;
        if let Some(ts) = ts.as_any().downcast_ref::<TimestampMicrosecondArray>() {
            times.extend(ts.iter().flatten());
        }
        records.extend(
            trawl_schema::rebuild_batch(&batch)
                .map_err(|e| FileProblem::NotTrawl(format!("its rows do not rebuild: {e}")))?,
        );
    }
    let in_dir = match rel.matches('/').count() {
        2 => true,
        3 => crate::layout_options::sub_partition_of(rel).is_some(),
        _ => false,
    };
    let dt = Layout::data_file_day(rel)
        .filter(|_| in_dir)
        .ok_or_else(|| {
            FileProblem::NotTrawl("not under events/dt=.../ or events/dt=.../account=.../".into())
        })?
        .to_string();
    let index_path = root.join(index);
    let kept = writer::read_index(&index_path).is_ok_and(|found| index_matches(&found, &ids));
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
        index: index.to_string(),
        layout,
        committed: 0,
    };
    Ok(Described {
        file,
        by_source: by_source.into_iter().collect(),
        index_rebuilt: !kept,
        replaces,
    })
}
