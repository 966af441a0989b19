//! The commit log. Each commit is one JSON file `_trawl/log/<version>.json`, written to a
//! temporary name and renamed into place: the rename is the commit point. The log is the
//! ledger (which input objects are in the lake) and the list of visible data files.

use std::collections::BTreeMap;
use std::fs;
use std::io::Write;
use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::error::{IoContext, LakeError};
use crate::layout::Layout;

/// A Parquet file added by a commit.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DataFile {
    /// Relative to the lake root, `/`-separated.
    pub path: String,
    pub dt: String,
    pub rows: u64,
    pub bytes: u64,
    /// Smallest and largest `eventtime` (canonical text) in the file, if any parsed.
    pub min_time: Option<String>,
    pub max_time: Option<String>,
    /// xxh3-64 of the file's bytes, hex.
    pub xxh3: String,
    /// The file's dedup index (`(eventID hash, content hash)` pairs), relative to the lake root.
    pub index: String,
}

/// An input object fully ingested by a commit.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SourceEntry {
    pub uri: String,
    pub size: u64,
    pub mtime_ns: i64,
    pub events: u64,
    pub duplicates: u64,
    pub conflicts: u64,
    #[serde(default)]
    pub outside_window: u64,
    #[serde(default)]
    pub digests: u64,
    #[serde(default)]
    pub bad_records: u64,
    /// The `--since`/`--until` window (microseconds) the object was read with, if any:
    /// a later run with a wider window reads it again (dedup drops what is already in).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub since_us: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub until_us: Option<i64>,
    /// S3 ETag: with `uri` and `size`, an S3 object's identity.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub etag: Option<String>,
}

/// An input object that could not be read, with the reason.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct QuarantineEntry {
    pub uri: String,
    pub size: u64,
    pub mtime_ns: i64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub etag: Option<String>,
    pub reason: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LogEntry {
    pub version: u64,
    pub committed_at: String,
    pub trawl_version: String,
    #[serde(default)]
    pub add: Vec<DataFile>,
    #[serde(default)]
    pub sources: Vec<SourceEntry>,
    #[serde(default)]
    pub quarantined: Vec<QuarantineEntry>,
}

/// The lake as of one committed version.
#[derive(Debug, Clone, Default)]
pub struct Snapshot {
    pub version: u64,
    pub files: Vec<DataFile>,
    /// Ingested objects by URI (the latest entry wins).
    pub sources: BTreeMap<String, SourceEntry>,
    /// Objects whose latest attempt was quarantined and not since ingested.
    pub quarantined: BTreeMap<String, QuarantineEntry>,
}

impl Snapshot {
    /// The committed versions, ascending.
    fn versions(layout: &Layout) -> Result<Vec<u64>, LakeError> {
        let mut versions = Vec::new();
        let dir = layout.log_dir();
        if dir.exists() {
            for e in fs::read_dir(&dir).at(&dir)? {
                let e = e.at(&dir)?;
                if let Some(v) = Layout::log_version(&e.file_name().to_string_lossy()) {
                    versions.push(v);
                }
            }
        }
        versions.sort_unstable();
        Ok(versions)
    }

    /// The latest committed version, 0 when nothing is committed.
    pub fn latest_version(layout: &Layout) -> Result<u64, LakeError> {
        Ok(Self::versions(layout)?.last().copied().unwrap_or(0))
    }

    /// Reads every committed log entry of the lake.
    pub fn load(layout: &Layout) -> Result<Snapshot, LakeError> {
        let versions = Self::versions(layout)?;
        let mut snap = Snapshot::default();
        for v in versions {
            let path = layout.log_entry(v);
            let text = fs::read_to_string(&path).at(&path)?;
            let entry: LogEntry = serde_json::from_str(&text).map_err(|e| LakeError::BadLog {
                path: path.clone(),
                message: e.to_string(),
            })?;
            if entry.version != v {
                return Err(LakeError::BadLog {
                    path,
                    message: format!("names version {} inside", entry.version),
                });
            }
            snap.apply(entry);
        }
        Ok(snap)
    }

    fn apply(&mut self, entry: LogEntry) {
        self.version = entry.version;
        self.files.extend(entry.add);
        for q in entry.quarantined {
            self.quarantined.insert(q.uri.clone(), q);
        }
        for s in entry.sources {
            self.quarantined.remove(&s.uri);
            self.sources.insert(s.uri.clone(), s);
        }
    }

    /// Whether the object with this identity is already in the lake, read with a window
    /// that covers `window`.
    pub fn has_source(
        &self,
        obj: &trawl_ingest::SourceObject,
        window: &trawl_ingest::TimeWindow,
    ) -> bool {
        self.sources.get(&obj.uri).is_some_and(|s| {
            let since_ok = match (s.since_us, window.since) {
                (None, _) => true,
                (Some(a), Some(b)) => a <= b,
                (Some(_), None) => false,
            };
            let until_ok = match (s.until_us, window.until) {
                (None, _) => true,
                (Some(a), Some(b)) => a >= b,
                (Some(_), None) => false,
            };
            // S3 objects are the same object when the ETag is; files when the mtime is.
            let same = match (&s.etag, &obj.etag) {
                (Some(a), Some(b)) => a == b,
                _ => s.mtime_ns == obj.mtime_ns,
            };
            s.size == obj.size && same && since_ok && until_ok
        })
    }

    pub fn rows(&self) -> u64 {
        self.files.iter().map(|f| f.rows).sum()
    }
}

/// Writes `bytes` to `path` atomically: temporary file, fsync, rename, fsync of the directory.
pub(crate) fn write_atomic(path: &Path, bytes: &[u8]) -> Result<(), LakeError> {
    let dir = path.parent().expect("log paths have a parent");
    fs::create_dir_all(dir).at(dir)?;
    let tmp = dir.join(format!(
        ".tmp-{}-{}",
        std::process::id(),
        path.file_name().unwrap().to_string_lossy()
    ));
    {
        let mut f = fs::File::create(&tmp).at(&tmp)?;
        f.write_all(bytes).at(&tmp)?;
        f.sync_all().at(&tmp)?;
    }
    crate::crash_point("lake::before-rename");
    fs::rename(&tmp, path).at(path)?;
    sync_dir(dir)
}

pub(crate) fn sync_dir(dir: &Path) -> Result<(), LakeError> {
    fs::File::open(dir).and_then(|d| d.sync_all()).at(dir)
}

/// Appends a commit. Fails if that version exists (another writer got there first).
pub(crate) fn commit(layout: &Layout, entry: &LogEntry) -> Result<(), LakeError> {
    let path = layout.log_entry(entry.version);
    if path.exists() {
        return Err(LakeError::BadLog {
            path,
            message: "version already committed by another writer".into(),
        });
    }
    let json = serde_json::to_vec_pretty(entry).expect("log entries serialise");
    write_atomic(&path, &json)
}
