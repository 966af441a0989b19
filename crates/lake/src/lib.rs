//! The trawl lake: a directory of Hive-partitioned Parquet files plus a commit log.
//!
//! It owns the on-disk [`layout`], the Parquet [`writer`], the commit [`log`] (which is
//! also the ledger of ingested objects), dedup, crash recovery and the [`ingest`] job
//! that drives `trawl-ingest` on every core.
//!
//! ```no_run
//! use trawl_lake::{IngestOptions, Lake};
//! let lake = Lake::create("./trawl-lake")?;
//! let listing = trawl_ingest::walk_local(&["./AWSLogs".into()], None)?;
//! let summary = lake
//!     .ingest(listing)
//!     .options(IngestOptions { strict: true, ..IngestOptions::default() })
//!     .run()?;
//! println!("{} events stored", summary.events_stored);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! # Commit protocol
//! Data files are written under `_trawl/staging/<v>/`, fsynced, renamed to their partition
//! directory, then the log entry `_trawl/log/<v>.json` is written to a temporary name and
//! renamed: that rename is the commit. A crash before it leaves files no log entry names;
//! the next writer deletes them ([`recover`]) before doing anything else. Readers take the
//! file list from the log, so they never see uncommitted files.

pub mod catalog;
pub mod checkpoint;
pub mod compact;
mod dedup;
pub mod error;
mod ingest;
pub mod layout;
pub mod layout_options;
pub mod log;
pub mod manifest;
pub mod needles;
mod rebuild;
mod recheck;
pub mod remote;
mod verify;
pub mod writer;

use std::fs::{self, File};
use std::path::{Path, PathBuf};
use std::sync::Arc;

pub use catalog::{Catalog, TableDef};
pub use compact::{CompactOptions, CompactSummary, compact};
pub use error::LakeError;
pub use ingest::{Ingest, IngestOptions, IngestSummary, NoProgress, Progress, Quarantined};
pub use layout::{FORMAT_VERSION, Layout};
pub use layout_options::{LayoutOptions, SubPartition};
pub use log::{DataFile, Ledger, QuarantineEntry, Snapshot, SourceEntry, write_atomic};
pub use rebuild::{RebuildReport, rebuild_ledger};
pub use remote::Remote;
pub use verify::{FileProblem, Orphan, Problem, VerifyReport, verify};

use error::IoContext;

/// Crash-test hook: with `FAILPOINTS=<name>=return` in the environment (the `fail` crate;
/// a binary calls `fail::FailScenario::setup()` first) the process dies here at once, as
/// with `kill -9` or a power cut: no destructor, no unwinding. `<n>*off->return` dies at
/// the n+1-th pass. The names are listed in docs/lake-layout.md.
pub(crate) fn crash_point(name: &str) {
    fail::fail_point!(name, |_| {
        std::process::abort();
    });
}

/// Commits a writer retries before it gives up (each lost race means another writer
/// committed, so the lake moved on).
pub(crate) const MAX_RETRIES: u32 = 100;

/// A lake directory, or a lake in object storage worked on through a local mirror.
#[derive(Debug, Clone)]
pub struct Lake {
    /// The lake's directory, or the mirror's.
    root: PathBuf,
    remote: Option<Arc<Remote>>,
}

/// The writer lock; released when dropped or when the process dies.
#[derive(Debug)]
pub struct WriterLock {
    _file: File,
}

impl Lake {
    /// Opens the lake at `root`, creating it if needed.
    pub fn create(root: impl AsRef<Path>) -> Result<Lake, LakeError> {
        let root = std::path::absolute(root.as_ref()).at(root.as_ref())?;
        let layout = Layout::new(&root);
        if !layout.marker().exists() {
            fs::create_dir_all(layout.log_dir()).at(layout.log_dir())?;
            fs::create_dir_all(layout.events_dir()).at(layout.events_dir())?;
            log::write_atomic(&layout.marker(), &new_marker())?;
        }
        Self::open(root)
    }

    /// Opens an existing lake.
    pub fn open(root: impl AsRef<Path>) -> Result<Lake, LakeError> {
        let root = std::path::absolute(root.as_ref()).at(root.as_ref())?;
        let marker = Layout::new(&root).marker();
        let text =
            fs::read(&marker).map_err(|_| LakeError::NotALake(root.display().to_string()))?;
        check_marker(&text, marker)?;
        Ok(Lake { root, remote: None })
    }

    /// Opens the lake in object storage that `remote` reaches, working through the local
    /// `mirror` directory (created if needed; it is a cache of the log and the dedup indexes,
    /// and must serve one lake only). With `create`, a lake is made if there is none.
    pub fn open_remote(
        mirror: impl AsRef<Path>,
        remote: Remote,
        create: bool,
    ) -> Result<Lake, LakeError> {
        let lake = Self::open_remote_unread(mirror, remote, create)?;
        let layout = lake.layout();
        let remote = layout.remote().expect("remote");
        remote.check_mirror(&layout)?;
        remote.pull(&layout)?;
        Ok(lake)
    }

    /// [`Lake::open_remote`] without reading the lake's log into the mirror: for
    /// [`rebuild_ledger`], which works when that log is damaged.
    pub fn open_remote_to_repair(
        mirror: impl AsRef<Path>,
        remote: Remote,
    ) -> Result<Lake, LakeError> {
        Self::open_remote_unread(mirror, remote, false)
    }

    fn open_remote_unread(
        mirror: impl AsRef<Path>,
        remote: Remote,
        create: bool,
    ) -> Result<Lake, LakeError> {
        let root = std::path::absolute(mirror.as_ref()).at(mirror.as_ref())?;
        let marker_rel = "_trawl/lake.json";
        let marker = match remote.get(marker_rel)? {
            Some(bytes) => bytes.to_vec(),
            None if create => {
                let marker = new_marker();
                // Two writers may make the lake at once: either marker will do.
                remote.put_new(marker_rel, marker.clone())?;
                marker
            }
            None => return Err(LakeError::NotALake(remote.url().to_string())),
        };
        check_marker(&marker, PathBuf::from(remote.uri(marker_rel)))?;
        let layout = Layout::new(&root);
        fs::create_dir_all(layout.log_dir()).at(layout.log_dir())?;
        let owner = layout.meta_dir().join("mirror-of");
        match fs::read_to_string(&owner) {
            Ok(url) if url.trim() != remote.url() => {
                return Err(LakeError::ForeignMirror {
                    mirror: root,
                    lake: remote.url().to_string(),
                    version: Snapshot::latest_version(&layout)?,
                });
            }
            Ok(_) => {}
            Err(_) => log::write_atomic(&owner, remote.url().as_bytes())?,
        }
        log::write_atomic(&layout.marker(), &marker)?;
        Ok(Lake {
            root,
            remote: Some(Arc::new(remote)),
        })
    }

    /// The lake's directory, or, for a lake in object storage, its local mirror.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// The lake's object store, when it is in one.
    pub fn remote(&self) -> Option<&Arc<Remote>> {
        self.remote.as_ref()
    }

    /// Where the lake is, as messages and other engines name it: its directory or its URL.
    pub fn location(&self) -> String {
        match &self.remote {
            Some(r) => r.url().to_string(),
            None => self.root.display().to_string(),
        }
    }

    pub fn layout(&self) -> Layout {
        Layout::new(&self.root).with_remote(self.remote.clone())
    }

    /// For a lake in object storage: brings the mirror's log up to the lake's.
    pub fn refresh(&self) -> Result<(), LakeError> {
        if let Some(r) = &self.remote {
            r.pull(&self.layout())?;
        }
        Ok(())
    }

    /// The latest committed state.
    pub fn snapshot(&self) -> Result<Snapshot, LakeError> {
        self.refresh()?;
        Snapshot::load(&self.layout())
    }

    /// The latest committed state of the tables (the data files), for readers: from the
    /// newest checkpoint and the log entries after it, without the ledger
    /// ([`checkpoint::load_tables`]).
    pub fn table_snapshot(&self) -> Result<Snapshot, LakeError> {
        self.refresh()?;
        checkpoint::load_tables(&self.layout())
    }

    /// Every ingested object's latest ledger entry, by URI (read from the whole log).
    pub fn sources(&self) -> Result<std::collections::BTreeMap<String, SourceEntry>, LakeError> {
        self.refresh()?;
        log::load_sources(&self.layout())
    }

    /// The latest committed state and every ingested object's latest ledger entry, in one
    /// read of the log.
    pub fn snapshot_with_sources(
        &self,
    ) -> Result<(Snapshot, std::collections::BTreeMap<String, SourceEntry>), LakeError> {
        self.refresh()?;
        log::load_with_sources(&self.layout())
    }

    /// The latest committed version (0 for an empty lake), from the log's file names
    /// alone: a cheap way to see whether a snapshot is stale (one listing for a lake in
    /// object storage).
    pub fn latest_version(&self) -> Result<u64, LakeError> {
        self.refresh()?;
        Snapshot::latest_version(&self.layout())
    }

    /// Takes the writer lock without waiting.
    pub fn lock(&self) -> Result<WriterLock, LakeError> {
        match try_lock_file(&self.layout().lock())? {
            Some(file) => Ok(WriterLock { _file: file }),
            None => Err(LakeError::Locked(self.root.clone())),
        }
    }
}

/// What `_trawl/lake.json` holds in a new lake.
fn new_marker() -> Vec<u8> {
    serde_json::json!({"format": "trawl-lake", "version": FORMAT_VERSION})
        .to_string()
        .into_bytes()
}

/// Checks a lake marker (read from `path`) names the format version this trawl reads.
fn check_marker(bytes: &[u8], path: PathBuf) -> Result<(), LakeError> {
    let found = serde_json::from_slice::<serde_json::Value>(bytes)
        .ok()
        .and_then(|v| v.get("version").and_then(serde_json::Value::as_u64))
        .ok_or_else(|| LakeError::BadLog {
            path: path.clone(),
            message: "no `version` in lake marker".into(),
        })?;
    if found as u32 != FORMAT_VERSION {
        return Err(LakeError::Version {
            path,
            found: found as u32,
            supported: FORMAT_VERSION,
        });
    }
    Ok(())
}

/// The lock file at `path`, locked, or `None` when another process holds it.
pub(crate) fn try_lock_file(path: &Path) -> Result<Option<File>, LakeError> {
    let file = File::options()
        .create(true)
        .truncate(false)
        .write(true)
        .open(path)
        .at(path)?;
    match file.try_lock() {
        Ok(()) => Ok(Some(file)),
        Err(fs::TryLockError::WouldBlock) => Ok(None),
        Err(fs::TryLockError::Error(e)) => Err(LakeError::Io {
            path: path.into(),
            source: e,
        }),
    }
}

/// Removes what an interrupted commit left behind: staging files, data files and side
/// files that no committed log entry names. Call with the writer lock held.
pub fn recover(layout: &Layout, snap: &Snapshot) -> Result<Vec<PathBuf>, LakeError> {
    let mut removed = Vec::new();
    let staging = layout.meta_dir().join("staging");
    if staging.exists() {
        fs::remove_dir_all(&staging).at(&staging)?;
        removed.push(staging);
    }
    // Files a compaction removed stay for readers of older snapshots until it purges them.
    let committed: std::collections::HashSet<PathBuf> = snap
        .files
        .iter()
        .chain(snap.removed.iter().map(|t| &t.file))
        .map(|f| layout.root().join(&f.path))
        .collect();
    let events = layout.events_dir();
    if events.exists() {
        // The days' directories, and the directories below them of layouts that have some.
        for f in verify::walk(&events)? {
            let name = f
                .file_name()
                .unwrap_or_default()
                .to_string_lossy()
                .into_owned();
            if name.starts_with("part-") && name.ends_with(".parquet") && !committed.contains(&f) {
                fs::remove_file(&f).at(&f)?;
                tracing::info!("removed uncommitted file {}", f.display());
                removed.push(f);
            }
        }
    }
    for dir in [layout.meta_dir().join("quarantine"), layout.digests_dir()] {
        if !dir.exists() {
            continue;
        }
        for f in fs::read_dir(&dir).at(&dir)? {
            let f = f.at(&dir)?.path();
            // `<version>.jsonl`, or `<version>-<writer>.jsonl` in a mirror.
            let version = f
                .file_stem()
                .and_then(|s| s.to_str())
                .and_then(|s| s.split('-').next())
                .and_then(|s| s.parse::<u64>().ok());
            if version.is_none_or(|v| v > snap.version) {
                fs::remove_file(&f).at(&f)?;
                removed.push(f);
            }
        }
    }
    Ok(removed)
}
