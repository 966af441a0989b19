//! The lake's on-disk layout. It is an API: Athena, Trino, Spark and DuckDB read it, so
//! every path is built here and pinned by tests.
//!
//! ```text
//! <lake>/
//!   events/dt=YYYY-MM-DD/part-<version:020>-<n:04>.parquet   Hive-partitioned event data
//!   events/dt=YYYY-MM-DD/compact-<version:020>-<n:04>.parquet a day's files rewritten by `trawl compact`
//!   events/dt=YYYY-MM-DD/account=<id>/part-...parquet         in a lake partitioned by dt,account (or region=)
//!   _trawl/lake.json                                         format marker and version
//!   _trawl/log/<version:020>.json                            commit log: the ledger
//!   _trawl/quarantine/<version:020>.jsonl                    bad records, with reasons
//!   _trawl/digests/<version:020>.jsonl                       CloudTrail digest files seen
//!   _trawl/custody/validation.json                           the latest `trawl validate`
//!   _trawl/index/<version:020>-<n:04>.idx                    dedup index of each data file
//!   _trawl/staging/<version:020>/                            files of a commit in progress
//!   _trawl/catalog.json                                      tables declared with Athena DDL
//!   _trawl/manifest/dt=YYYY-MM-DD/manifest                   committed data files of a day (symlink manifest)
//!   _trawl/manifest.json                                     the version and root the manifests describe
//!   _trawl/lock                                              writer lock of ingests (flock)
//!   _trawl/compact.lock                                      compaction lock (flock)
//!   _trawl/manifest.lock                                     held while manifests are rewritten
//!   _trawl/compaction/                                       files of a compaction in progress
//! ```
//! Engines skip paths starting with `_`, so only `events/` is visible to them.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::remote::Remote;

/// Format version written in `_trawl/lake.json`.
pub const FORMAT_VERSION: u32 = 1;

#[derive(Debug, Clone)]
pub struct Layout {
    root: PathBuf,
    /// For a lake in object storage: the store (`root` is then the local mirror).
    remote: Option<Arc<Remote>>,
}

impl Layout {
    pub fn new(root: impl Into<PathBuf>) -> Self {
        Self {
            root: root.into(),
            remote: None,
        }
    }
    /// The layout of a lake in object storage whose mirror is at `root`.
    pub fn with_remote(mut self, remote: Option<Arc<Remote>>) -> Self {
        self.remote = remote;
        self
    }
    /// The lake's object store, when it is in one.
    pub fn remote(&self) -> Option<&Arc<Remote>> {
        self.remote.as_ref()
    }
    /// What the names of the files this writer makes end with: nothing for a local lake (one
    /// writer at a time), `-<writer>` for a lake in object storage, so that writers racing for a
    /// version never write the same object.
    fn tag(&self) -> String {
        self.remote
            .as_ref()
            .map(|r| format!("-{}", r.writer()))
            .unwrap_or_default()
    }
    /// Whether this writer named the data file at `path` (in a lake in object storage; in a
    /// local lake every file is the one writer's).
    pub fn is_own(&self, path: &str) -> bool {
        let tag = self.tag();
        tag.is_empty() || path.ends_with(&format!("{tag}.parquet"))
    }
    /// The path of a file of the lake relative to its root (`/`-separated).
    pub fn rel(&self, path: &Path) -> String {
        path.strip_prefix(&self.root)
            .unwrap_or(path)
            .components()
            .map(|c| c.as_os_str().to_string_lossy())
            .collect::<Vec<_>>()
            .join("/")
    }
    pub fn root(&self) -> &Path {
        &self.root
    }
    pub fn meta_dir(&self) -> PathBuf {
        self.root.join("_trawl")
    }
    pub fn marker(&self) -> PathBuf {
        self.meta_dir().join("lake.json")
    }
    /// Tables declared with Athena DDL.
    pub fn catalog(&self) -> PathBuf {
        self.meta_dir().join("catalog.json")
    }
    pub fn lock(&self) -> PathBuf {
        self.meta_dir().join("lock")
    }
    pub fn log_dir(&self) -> PathBuf {
        self.meta_dir().join("log")
    }
    pub fn log_entry(&self, version: u64) -> PathBuf {
        self.log_dir().join(format!("{version:020}.json"))
    }
    /// A log entry's path relative to the lake root.
    pub fn log_rel(version: u64) -> String {
        format!("_trawl/log/{version:020}.json")
    }
    pub fn quarantine(&self, version: u64) -> PathBuf {
        self.meta_dir()
            .join("quarantine")
            .join(format!("{version:020}{}.jsonl", self.tag()))
    }
    /// The dedup index of data file `n` of a commit (relative to the lake root).
    pub fn index_file(version: u64, n: usize) -> String {
        format!("_trawl/index/{version:020}-{n:04}.idx")
    }
    /// A data file `<kind>-<version>-<n>` of day `dt` (in the directory `sub` below it if
    /// given) and its dedup index, as this writer names them; the index of a compacted file
    /// keeps the `compact-` prefix.
    fn named(
        &self,
        kind: &str,
        dt: &str,
        sub: Option<&str>,
        version: u64,
        n: usize,
    ) -> (String, String) {
        let tag = self.tag();
        let name = format!("{version:020}-{n:04}{tag}");
        let dir = match sub {
            Some(sub) => format!("events/dt={dt}/{sub}"),
            None => format!("events/dt={dt}"),
        };
        let index = match kind {
            "part" => format!("_trawl/index/{name}.idx"),
            _ => format!("_trawl/index/{kind}-{name}.idx"),
        };
        (format!("{dir}/{kind}-{name}.parquet"), index)
    }
    /// [`Layout::data_file`] and [`Layout::index_file`] as this writer names them, in the
    /// directory `sub` below the day if given.
    pub fn data_and_index(
        &self,
        dt: &str,
        sub: Option<&str>,
        version: u64,
        n: usize,
    ) -> (String, String) {
        self.named("part", dt, sub, version, n)
    }
    /// [`Layout::compacted_file`] and [`Layout::compacted_index`] as this writer names them.
    pub fn compacted_and_index(
        &self,
        dt: &str,
        sub: Option<&str>,
        version: u64,
        n: usize,
    ) -> (String, String) {
        self.named("compact", dt, sub, version, n)
    }
    /// The CloudTrail digest files each commit recorded, one `<version>.jsonl` each.
    pub fn digests_dir(&self) -> PathBuf {
        self.meta_dir().join("digests")
    }
    pub fn digests(&self, version: u64) -> PathBuf {
        self.digests_dir()
            .join(format!("{version:020}{}.jsonl", self.tag()))
    }
    /// The latest `trawl validate` of the lake.
    pub fn custody_record(&self) -> PathBuf {
        self.meta_dir().join("custody").join("validation.json")
    }
    /// The symlink manifests' directory: the table location of `SymlinkTextInputFormat` tables.
    pub fn manifest_dir(&self) -> PathBuf {
        self.meta_dir().join("manifest")
    }
    /// The manifest of day `dt`: the URIs of its committed data files, one a line.
    pub fn manifest(&self, dt: &str) -> PathBuf {
        self.manifest_dir()
            .join(format!("dt={dt}"))
            .join("manifest")
    }
    /// The version and root the manifests describe.
    pub fn manifest_state(&self) -> PathBuf {
        self.meta_dir().join("manifest.json")
    }
    pub fn staging(&self, version: u64) -> PathBuf {
        self.meta_dir()
            .join("staging")
            .join(format!("{version:020}"))
    }
    pub fn events_dir(&self) -> PathBuf {
        self.root.join("events")
    }
    /// The directory of partition `dt` (`events/dt=2024-03-01`).
    pub fn partition(&self, dt: &str) -> PathBuf {
        self.events_dir().join(format!("dt={dt}"))
    }
    /// Path of a data file relative to the lake root (as the log records it).
    pub fn data_file(dt: &str, version: u64, n: usize) -> String {
        format!("events/dt={dt}/part-{version:020}-{n:04}.parquet")
    }
    /// Path of data file `n` written by the compaction meant as commit `version`.
    pub fn compacted_file(dt: &str, version: u64, n: usize) -> String {
        format!("events/dt={dt}/compact-{version:020}-{n:04}.parquet")
    }
    /// The dedup index of compacted file `n` of a commit (relative to the lake root).
    pub fn compacted_index(version: u64, n: usize) -> String {
        format!("_trawl/index/compact-{version:020}-{n:04}.idx")
    }
    /// The commit version and file number a data file's name carries
    /// (`part-<version>-<n>.parquet` as [`Layout::data_file`] writes it, or
    /// `compact-<version>-<n>.parquet` as [`Layout::compacted_file`] does), from its name or path.
    /// A writer's tag may follow (`part-<version>-<n>-<writer>.parquet`, in a lake in object
    /// storage).
    pub fn parse_data_file(path: &str) -> Option<(u64, usize)> {
        let name = path.rsplit('/').next()?;
        let mut parts = name
            .strip_prefix("part-")
            .or_else(|| name.strip_prefix("compact-"))?
            .strip_suffix(".parquet")?
            .splitn(3, '-');
        let (v, n) = (parts.next()?, parts.next()?);
        Some((v.parse().ok()?, n.parse().ok()?))
    }
    /// The dedup index that goes with a data file, from its name or path.
    pub fn index_of(path: &str) -> Option<String> {
        Self::parse_data_file(path)?;
        let name = path.rsplit('/').next()?.strip_suffix(".parquet")?;
        Some(match name.strip_prefix("part-") {
            Some(rest) => format!("_trawl/index/{rest}.idx"),
            None => format!("_trawl/index/{name}.idx"),
        })
    }
    /// The day of a manifest's path (`_trawl/manifest/dt=<day>/manifest`).
    pub fn manifest_day(path: &str) -> Option<&str> {
        path.strip_prefix("_trawl/manifest/dt=")?
            .strip_suffix("/manifest")
    }
    /// The day a data file path (`events/dt=<day>/...`) is in.
    pub fn data_file_day(path: &str) -> Option<&str> {
        path.strip_prefix("events/dt=")?.split('/').next()
    }
    /// The version of the commit that wrote a data file, from its path.
    pub fn data_file_version(path: &str) -> Option<u64> {
        Self::parse_data_file(path).map(|(v, _)| v)
    }
    /// Parses a log entry's file name back into its version.
    pub fn log_version(name: &str) -> Option<u64> {
        let stem = name.strip_suffix(".json")?;
        (stem.len() == 20 && stem.bytes().all(|b| b.is_ascii_digit())).then(|| stem.parse().ok())?
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_are_pinned() {
        let l = Layout::new("/lake");
        assert_eq!(
            Layout::data_file("2024-03-01", 7, 2),
            "events/dt=2024-03-01/part-00000000000000000007-0002.parquet"
        );
        assert_eq!(
            Layout::data_file_version(&Layout::data_file("2024-03-01", 7, 2)),
            Some(7)
        );
        assert_eq!(Layout::data_file_version("events/dt=x/other.parquet"), None);
        assert_eq!(
            l.log_entry(12).to_str().unwrap(),
            "/lake/_trawl/log/00000000000000000012.json"
        );
        assert_eq!(
            l.quarantine(3).to_str().unwrap(),
            "/lake/_trawl/quarantine/00000000000000000003.jsonl"
        );
        assert_eq!(
            l.staging(3).to_str().unwrap(),
            "/lake/_trawl/staging/00000000000000000003"
        );
        assert_eq!(
            l.manifest("2024-03-01").to_str().unwrap(),
            "/lake/_trawl/manifest/dt=2024-03-01/manifest"
        );
        assert_eq!(Layout::log_version("00000000000000000012.json"), Some(12));
        assert_eq!(Layout::log_version(".tmp-00000000000000000012.json"), None);
        assert_eq!(Layout::log_version("12.json"), None);
    }

    #[test]
    fn a_writer_to_object_storage_tags_its_file_names() {
        let store = Arc::new(object_store::memory::InMemory::new());
        let remote = Arc::new(Remote::new("s3://b/lake", store).unwrap());
        let tag = remote.writer().to_string();
        let l = Layout::new("/mirror").with_remote(Some(remote));
        let (data, index) = l.data_and_index("2024-03-01", None, 7, 2);
        assert_eq!(
            data,
            format!("events/dt=2024-03-01/part-00000000000000000007-0002-{tag}.parquet")
        );
        assert_eq!(Layout::parse_data_file(&data), Some((7, 2)));
        assert_eq!(Layout::index_of(&data), Some(index));
        let (compacted, index) = l.compacted_and_index("2024-03-01", None, 9, 0);
        assert_eq!(Layout::parse_data_file(&compacted), Some((9, 0)));
        assert_eq!(Layout::index_of(&compacted), Some(index));
        assert!(
            l.quarantine(3)
                .ends_with(format!("00000000000000000003-{tag}.jsonl"))
        );
        assert_eq!(
            l.rel(&l.quarantine(3)),
            format!("_trawl/quarantine/00000000000000000003-{tag}.jsonl")
        );
        // A local lake's names carry no tag.
        assert_eq!(
            Layout::index_of(&Layout::data_file("d", 7, 2)),
            Some(Layout::index_file(7, 2))
        );
        assert_eq!(
            Layout::index_of(&Layout::compacted_file("d", 7, 2)),
            Some(Layout::compacted_index(7, 2))
        );
    }
}
