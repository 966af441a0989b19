//! The commit log. Each commit is one JSON file `_trawl/log/<version>.json`, written to a
//! temporary name and renamed into place: the rename is the commit point. The log is the
//! ledger (which input objects are in the lake) and the list of visible data files.

use std::collections::BTreeMap;
use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

use rustc_hash::FxHashMap;
use serde::{Deserialize, Serialize};
use trawl_schema::TimeWindow;
use xxhash_rust::xxh3::{xxh3_64, xxh3_64_with_seed};

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
    /// The layout it was written in, when not the default ([`crate::LayoutOptions`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub layout: Option<crate::LayoutOptions>,
    /// The log version of the commit that added the file (set when the log is read; a file's
    /// name carries the version its writer meant, which a lost race can move on).
    #[serde(skip)]
    pub committed: u64,
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
    /// SHA-256 (lowercase hex) of the object's decompressed content, hashed as it was read:
    /// what `trawl validate` compares with the hash CloudTrail's digest file lists.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sha256: Option<String>,
}

impl SourceEntry {
    /// An entry with no window, no ETag and every count 0.
    pub fn new(uri: String, size: u64, mtime_ns: i64) -> Self {
        SourceEntry {
            uri,
            size,
            mtime_ns,
            events: 0,
            duplicates: 0,
            conflicts: 0,
            outside_window: 0,
            digests: 0,
            bad_records: 0,
            since_us: None,
            until_us: None,
            etag: None,
            sha256: None,
        }
    }

    /// The window the object was read with (stored as its two ends).
    pub fn window(&self) -> TimeWindow {
        TimeWindow {
            since: self.since_us,
            until: self.until_us,
        }
    }

    /// The entry, recorded as read with `window`.
    pub fn read_with(self, window: &TimeWindow) -> Self {
        SourceEntry {
            since_us: window.since,
            until_us: window.until,
            ..self
        }
    }
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
    /// Data files this commit takes out of the lake (paths relative to the root): compaction
    /// rewrote their rows into the files it adds. They stay on disk for a while for readers
    /// of older snapshots ([`Tombstone`]).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub remove: Vec<String>,
    /// In a lake in object storage, the commit's side files (quarantined records, digest
    /// files), relative to the root: their names carry the writer's tag.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub side: Vec<String>,
    /// Written by `trawl verify --rebuild-ledger`: it lists the whole lake, and a snapshot
    /// starts again from it (entries before it are a log that was moved aside).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub rebuilt: bool,
}

/// A data file a commit removed: no snapshot from that version on reads it, and it is
/// deleted once its removal is older than the retention `trawl compact` is given.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tombstone {
    pub file: DataFile,
    /// The version that removed it.
    pub version: u64,
    /// When that commit was made (RFC 3339, as the log records it).
    pub removed_at: String,
}

/// Which input objects the lake holds, in about 20 bytes an object whatever the length of
/// its URI, so that a lake of millions of objects loads in little memory: per URI (its
/// xxh3-64) a hash of the identity it was read with (size, and ETag or modification time).
/// A URI hash that collides only makes an object look new: it is read again and dedup drops
/// its events. The full entries stay in the log ([`load_sources`]).
#[derive(Debug, Clone, Default)]
pub struct Ledger {
    identities: FxHashMap<u64, u64>,
    /// The `--since`/`--until` window of the objects read with one (few).
    windows: FxHashMap<u64, TimeWindow>,
}

/// The identity of an object as the ledger compares it: S3 objects by size and ETag, files
/// by size and modification time.
fn identity(size: u64, etag: Option<&str>, mtime_ns: i64) -> u64 {
    match etag {
        Some(e) => xxh3_64_with_seed(e.as_bytes(), size),
        None => xxh3_64_with_seed(&mtime_ns.to_le_bytes(), size ^ 0x6d74_696d_6500_0000),
    }
}

impl Ledger {
    /// Records an ingested object (the latest record of a URI wins).
    pub fn insert(&mut self, s: &SourceEntry) {
        let key = xxh3_64(s.uri.as_bytes());
        self.identities
            .insert(key, identity(s.size, s.etag.as_deref(), s.mtime_ns));
        if !s.window().is_open() {
            self.windows.insert(key, s.window());
        } else {
            self.windows.remove(&key);
        }
    }

    /// Whether the object with this identity is in the lake, read with a window that covers
    /// `window`.
    pub fn has(&self, obj: &trawl_ingest::SourceObject, window: &TimeWindow) -> bool {
        let key = xxh3_64(obj.uri.as_bytes());
        if self.identities.get(&key).copied()
            != Some(identity(obj.size, obj.etag.as_deref(), obj.mtime_ns))
        {
            return false;
        }
        self.windows
            .get(&key)
            .is_none_or(|read| read.covers(window))
    }

    /// Objects recorded.
    pub fn len(&self) -> usize {
        self.identities.len()
    }

    pub fn is_empty(&self) -> bool {
        self.identities.is_empty()
    }
}

/// The lake as of one committed version.
#[derive(Debug, Clone, Default)]
pub struct Snapshot {
    pub version: u64,
    pub files: Vec<DataFile>,
    /// Which objects are in the lake.
    pub ledger: Ledger,
    /// Objects whose latest attempt was quarantined and not since ingested.
    pub quarantined: BTreeMap<String, QuarantineEntry>,
    /// Files removed by a commit (compaction), latest last: still on disk until purged.
    pub removed: Vec<Tombstone>,
    /// The latest version that removed files (0 if none did): the lake only grew since.
    pub rewritten_at: u64,
    /// The side files the log names (a lake in object storage: [`LogEntry::side`]).
    pub side: std::collections::BTreeSet<String>,
    /// Loaded for its data files only ([`crate::checkpoint::load_tables`]): the ledger and
    /// the quarantine list are empty, not read, and `removed` holds only the removals after
    /// the checkpoint it started from.
    pub tables_only: bool,
}

impl Snapshot {
    /// The committed versions, ascending.
    pub(crate) fn versions(layout: &Layout) -> Result<Vec<u64>, LakeError> {
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

    /// Reads every committed log entry of the lake, one at a time.
    pub fn load(layout: &Layout) -> Result<Snapshot, LakeError> {
        let mut snap = Snapshot::default();
        for_each_entry(layout, |entry| snap.apply(entry))?;
        Ok(snap)
    }

    pub(crate) fn apply(&mut self, entry: LogEntry) {
        if entry.rebuilt {
            *self = Snapshot {
                tables_only: self.tables_only,
                ..Snapshot::default()
            };
        }
        self.version = entry.version;
        if !entry.remove.is_empty() {
            let gone: std::collections::HashSet<&str> =
                entry.remove.iter().map(String::as_str).collect();
            let (removed, kept): (Vec<DataFile>, Vec<DataFile>) = std::mem::take(&mut self.files)
                .into_iter()
                .partition(|f| gone.contains(f.path.as_str()));
            self.files = kept;
            self.removed
                .extend(removed.into_iter().map(|file| Tombstone {
                    file,
                    version: entry.version,
                    removed_at: entry.committed_at.clone(),
                }));
            self.rewritten_at = entry.version;
        }
        let version = entry.version;
        self.side.extend(entry.side);
        self.files.extend(entry.add.into_iter().map(|f| DataFile {
            committed: version,
            ..f
        }));
        for q in entry.quarantined {
            self.quarantined.insert(q.uri.clone(), q);
        }
        for s in &entry.sources {
            if !self.quarantined.is_empty() {
                self.quarantined.remove(&s.uri);
            }
            self.ledger.insert(s);
        }
    }

    /// Whether the object with this identity is already in the lake, read with a window
    /// that covers `window`.
    pub fn has_source(&self, obj: &trawl_ingest::SourceObject, window: &TimeWindow) -> bool {
        assert!(
            !self.tables_only,
            "a snapshot of the tables only has no ledger to ask"
        );
        self.ledger.has(obj, window)
    }

    pub fn rows(&self) -> u64 {
        self.files.iter().map(|f| f.rows).sum()
    }

    /// The lake's layout: that of its latest committed file (the default for an empty lake).
    /// An ingest without layout options writes in it.
    pub fn layout(&self) -> crate::LayoutOptions {
        self.files
            .iter()
            .max_by_key(|f| f.committed)
            .and_then(|f| f.layout.clone())
            .unwrap_or_default()
    }
}

/// Calls `f` with each committed log entry, in version order.
fn for_each_entry(layout: &Layout, mut f: impl FnMut(LogEntry)) -> Result<(), LakeError> {
    for v in Snapshot::versions(layout)? {
        f(read_entry(layout, v)?);
    }
    Ok(())
}

/// The committed log entry of version `v`.
pub(crate) fn read_entry(layout: &Layout, v: u64) -> Result<LogEntry, LakeError> {
    read_entry_as(layout, v, |e: &LogEntry| e.version).map(|(entry, _)| entry)
}

/// The log entry of version `v` read as `T` (whose version `version_of` gives), with its
/// bytes: an error names the file when it does not parse or names another version.
pub(crate) fn read_entry_as<T: serde::de::DeserializeOwned>(
    layout: &Layout,
    v: u64,
    version_of: impl Fn(&T) -> u64,
) -> Result<(T, Vec<u8>), LakeError> {
    let path = layout.log_entry(v);
    let bytes = fs::read(&path).at(&path)?;
    let entry: T = serde_json::from_slice(&bytes).map_err(|e| LakeError::BadLog {
        path: path.clone(),
        message: e.to_string(),
    })?;
    if version_of(&entry) != v {
        return Err(LakeError::BadLog {
            path,
            message: format!("names version {} inside", version_of(&entry)),
        });
    }
    Ok((entry, bytes))
}

/// Every ingested object's latest ledger entry, by URI, read from the log: what the
/// [`Ledger`] summarises, with the counts (memory grows with the number of objects).
pub fn load_sources(layout: &Layout) -> Result<BTreeMap<String, SourceEntry>, LakeError> {
    let mut sources = BTreeMap::new();
    for_each_entry(layout, |entry| {
        if entry.rebuilt {
            sources.clear();
        }
        for s in entry.sources {
            sources.insert(s.uri.clone(), s);
        }
    })?;
    Ok(sources)
}

/// [`Snapshot::load`] and [`load_sources`] in one pass over the log.
pub fn load_with_sources(
    layout: &Layout,
) -> Result<(Snapshot, BTreeMap<String, SourceEntry>), LakeError> {
    let mut snap = Snapshot::default();
    let mut sources = BTreeMap::new();
    for_each_entry(layout, |entry| {
        if entry.rebuilt {
            sources.clear();
        }
        for s in &entry.sources {
            sources.insert(s.uri.clone(), s.clone());
        }
        snap.apply(entry);
    })?;
    Ok((snap, sources))
}

/// A temporary file's path in `dir` (hidden, named after `what`) that no other process or
/// thread uses: threads of one run write the same file at once (a log entry pulled by the
/// commit being finished and by the dedup), and each must rename a whole file of its own.
pub(crate) fn temp_path(dir: &Path, what: &str) -> PathBuf {
    static N: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let n = N.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    dir.join(format!(".tmp-{}-{n}-{what}", std::process::id()))
}

/// Writes `bytes` to `path` atomically: temporary file, fsync, rename, fsync of the directory.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<(), LakeError> {
    let dir = path.parent().expect("log paths have a parent");
    fs::create_dir_all(dir).at(dir)?;
    let tmp = temp_path(
        dir,
        &path
            .file_name()
            .expect("log paths name a file")
            .to_string_lossy(),
    );
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

/// Appends a commit, if its version is free: [`LakeError::LostRace`] when another writer
/// committed that version first. The entry is written whole under a temporary name, then
/// linked to its version's name, which fails if the name exists: of two writers racing
/// for a version exactly one wins, as with S3's conditional put (If-None-Match).
pub(crate) fn commit(layout: &Layout, entry: &LogEntry) -> Result<(), LakeError> {
    if let Some(remote) = layout.remote() {
        return commit_remote(remote, layout, entry);
    }
    let path = layout.log_entry(entry.version);
    let dir = layout.log_dir();
    fs::create_dir_all(&dir).at(&dir)?;
    let json = serde_json::to_vec_pretty(entry).expect("log entries serialise");
    let tmp = dir.join(format!(".tmp-{}-{:020}", std::process::id(), entry.version));
    {
        let mut f = fs::File::create(&tmp).at(&tmp)?;
        f.write_all(&json).at(&tmp)?;
        f.sync_all().at(&tmp)?;
    }
    crate::crash_point("lake::before-rename");
    let placed = match fs::hard_link(&tmp, &path) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Err(LakeError::LostRace {
            version: entry.version,
        }),
        // A file system without hard links: the writer lock is then the only guard.
        Err(_) if !path.exists() => fs::rename(&tmp, &path).at(&path),
        Err(_) => Err(LakeError::LostRace {
            version: entry.version,
        }),
    };
    let _ = fs::remove_file(&tmp);
    placed?;
    sync_dir(&dir)
}

/// [`commit`] in object storage: the entry's side files uploaded, then the entry created if its
/// version is free (S3's If-None-Match), then copied into the mirror. When the version is
/// taken, the mirror pulls what was committed, and the race is lost unless the entry there is
/// this one (a retried request whose first attempt had succeeded).
fn commit_remote(
    remote: &crate::remote::Remote,
    layout: &Layout,
    entry: &LogEntry,
) -> Result<(), LakeError> {
    let side = entry
        .side
        .iter()
        .map(|rel| (layout.root().join(rel), rel.clone()))
        .collect();
    remote.upload_all(side)?;
    let json = serde_json::to_vec_pretty(entry).expect("log entries serialise");
    crate::crash_point("lake::before-rename");
    let rel = Layout::log_rel(entry.version);
    if !remote.put_new(&rel, json.clone())? && remote.get(&rel)?.as_deref() != Some(&json[..]) {
        remote.pull(layout)?;
        return Err(LakeError::LostRace {
            version: entry.version,
        });
    }
    write_atomic(&layout.log_entry(entry.version), &json)
}

/// [`commit`], going on top of whatever another writer committed first: after each lost race
/// `rebase` is given the entry and the next free version (to move what is named after the
/// version, or to refuse with an error), then the entry is committed as that version. Returns
/// the races lost.
pub(crate) fn commit_on_top(
    layout: &Layout,
    entry: &mut LogEntry,
    mut rebase: impl FnMut(&mut LogEntry, u64) -> Result<(), LakeError>,
) -> Result<u32, LakeError> {
    let mut retries = 0;
    loop {
        match commit(layout, entry) {
            Ok(()) => return Ok(retries),
            Err(LakeError::LostRace { .. }) if retries < crate::MAX_RETRIES => {
                retries += 1;
                let next = Snapshot::latest_version(layout)? + 1;
                rebase(entry, next)?;
                tracing::info!("lost the race for a lake version; committing as {next}");
                entry.version = next;
                entry.committed_at =
                    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
            }
            Err(e) => return Err(e),
        }
    }
}

#[cfg(test)]
mod tests {
    use trawl_ingest::{Location, SourceObject};

    use super::*;

    fn entry(uri: &str, size: u64, mtime_ns: i64, etag: Option<&str>) -> SourceEntry {
        SourceEntry {
            etag: etag.map(str::to_string),
            ..SourceEntry::new(uri.into(), size, mtime_ns)
        }
    }

    fn object(uri: &str, size: u64, mtime_ns: i64, etag: Option<&str>) -> SourceObject {
        SourceObject {
            uri: uri.into(),
            location: Location::Local(uri.into()),
            size,
            mtime_ns,
            etag: etag.map(str::to_string),
        }
    }

    /// Four writers race for versions 1 to 20, each through its own layout.
    fn race(layouts: &[Layout]) {
        for round in 1..=20u64 {
            let wins: Vec<Result<(), LakeError>> = std::thread::scope(|s| {
                let racers: Vec<_> = layouts
                    .iter()
                    .enumerate()
                    .map(|(n, layout)| {
                        s.spawn(move || {
                            let entry = LogEntry {
                                version: round,
                                committed_at: format!("writer {n}"),
                                trawl_version: String::new(),
                                add: Vec::new(),
                                sources: Vec::new(),
                                quarantined: Vec::new(),
                                remove: Vec::new(),
                                side: Vec::new(),
                                rebuilt: false,
                            };
                            commit(layout, &entry)
                        })
                    })
                    .collect();
                racers.into_iter().map(|r| r.join().unwrap()).collect()
            });
            assert_eq!(wins.iter().filter(|w| w.is_ok()).count(), 1, "{wins:?}");
            assert!(
                wins.iter()
                    .filter_map(|w| w.as_ref().err())
                    .all(|e| matches!(e, LakeError::LostRace { version } if *version == round))
            );
        }
    }

    #[test]
    fn of_writers_racing_for_one_version_exactly_one_wins() {
        let dir = tempfile::tempdir().unwrap();
        let layout = Layout::new(dir.path());
        race(&vec![layout.clone(); 4]);
        assert_eq!(Snapshot::latest_version(&layout).unwrap(), 20);
        // No temporary file is left in the log.
        assert_eq!(std::fs::read_dir(layout.log_dir()).unwrap().count(), 20);
    }

    #[test]
    fn of_writers_racing_for_one_version_in_object_storage_exactly_one_wins() {
        let dir = tempfile::tempdir().unwrap();
        let store = std::sync::Arc::new(object_store::memory::InMemory::new());
        let layouts: Vec<Layout> = (0..4)
            .map(|n| {
                let remote = crate::Remote::new("s3://b/lake", store.clone()).unwrap();
                Layout::new(dir.path().join(format!("mirror-{n}")))
                    .with_remote(Some(std::sync::Arc::new(remote)))
            })
            .collect();
        race(&layouts);
        // Every mirror holds every version, the winner's entry each time.
        for layout in &layouts {
            assert_eq!(Snapshot::latest_version(layout).unwrap(), 20);
            for v in 1..=20 {
                let theirs = std::fs::read(layout.log_entry(v)).unwrap();
                let stored = layout.remote().unwrap().get(&Layout::log_rel(v)).unwrap();
                assert_eq!(stored.as_deref(), Some(&theirs[..]));
            }
        }
    }

    #[test]
    fn the_ledger_knows_an_object_by_uri_size_and_etag_or_mtime_and_window() {
        let open = TimeWindow::default();
        let mut ledger = Ledger::default();
        ledger.insert(&entry("/t/a.json.gz", 10, 5, None));
        ledger.insert(&entry("s3://b/k.json.gz", 20, 1, Some("\"e1\"")));
        assert_eq!(ledger.len(), 2);
        assert!(ledger.has(&object("/t/a.json.gz", 10, 5, None), &open));
        assert!(
            !ledger.has(&object("/t/a.json.gz", 10, 6, None), &open),
            "mtime"
        );
        assert!(
            !ledger.has(&object("/t/a.json.gz", 11, 5, None), &open),
            "size"
        );
        assert!(
            !ledger.has(&object("/t/b.json.gz", 10, 5, None), &open),
            "uri"
        );
        // S3: the ETag decides, whatever LastModified says.
        assert!(ledger.has(&object("s3://b/k.json.gz", 20, 9, Some("\"e1\"")), &open));
        assert!(!ledger.has(&object("s3://b/k.json.gz", 20, 1, Some("\"e2\"")), &open));

        // Read with a window: a narrower or equal one is covered, a wider one is not.
        let w = |since, until| TimeWindow { since, until };
        let windowed = entry("/t/w.json.gz", 1, 1, None).read_with(&w(Some(100), Some(200)));
        ledger.insert(&windowed);
        let obj = object("/t/w.json.gz", 1, 1, None);
        assert!(ledger.has(&obj, &w(Some(100), Some(200))));
        assert!(ledger.has(&obj, &w(Some(150), Some(160))));
        assert!(!ledger.has(&obj, &w(Some(50), Some(200))));
        assert!(!ledger.has(&obj, &w(None, Some(200))));
        assert!(!ledger.has(&obj, &open));
        // Read again without one: the latest entry wins.
        ledger.insert(&entry("/t/w.json.gz", 1, 1, None));
        assert!(ledger.has(&obj, &open));
        assert_eq!(ledger.len(), 3);
    }
}
