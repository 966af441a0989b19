//! What an ingest is asked (options) and what it reports (summary, progress).

use super::*;

/// How an ingest runs.
#[derive(Debug, Clone)]
pub struct IngestOptions {
    pub read: ReadOptions,
    /// Reader threads (default: available cores).
    pub threads: usize,
    /// Commit when this many bytes of Arrow data are buffered.
    pub flush_bytes: usize,
    /// Abort on the first bad object or record instead of quarantining it.
    pub strict: bool,
    /// The layout of the files written (partitions, row groups, order); `None`: the lake's
    /// ([`Snapshot::layout`]).
    pub layout: Option<crate::LayoutOptions>,
    /// Compressed bytes fetched but not yet parsed, at most (one object larger than this is
    /// still read, alone). Bounds memory when a network source fetches many objects at once.
    pub fetch_budget_bytes: u64,
    /// Also commit when this long has passed since the last commit and something is
    /// pending: a slow (network) run keeps what it read if it is interrupted.
    pub commit_interval: Duration,
    /// EventIDs the dedup index keeps in hash tables, at most (about 17-34 bytes each):
    /// beyond, committed partitions are evicted and the others spilled to sorted files
    /// (docs/lake-layout.md, "Dedup").
    pub dedup_events: usize,
}

impl Default for IngestOptions {
    fn default() -> Self {
        Self {
            read: ReadOptions::default(),
            threads: std::thread::available_parallelism().map_or(2, |n| n.get()),
            flush_bytes: 64 << 20,
            strict: false,
            layout: None,
            fetch_budget_bytes: 128 << 20,
            commit_interval: Duration::from_secs(30),
            dedup_events: 1 << 20,
        }
    }
}

/// Receives progress: objects to read as the listing finds them (called from the reader
/// threads), objects as they finish (from the committing thread).
pub trait Progress: Sync {
    fn found(&self, _objects: u64, _bytes: u64) {}
    fn object_done(&self, _raw_bytes: u64, _events: u64) {}
}

/// No progress reporting.
#[derive(Debug, Default)]
pub struct NoProgress;
impl Progress for NoProgress {}

/// An object that went to the quarantine, and why.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct Quarantined {
    pub path: String,
    pub reason: String,
}

/// What an ingest did. Serialised as the `--json` summary.
#[derive(Debug, Clone, Default, Serialize)]
pub struct IngestSummary {
    pub lake: String,
    /// Objects named by the sources.
    pub objects_found: u64,
    /// Objects skipped because the ledger has them already.
    pub objects_skipped: u64,
    /// Objects read in this run.
    pub objects_read: u64,
    /// Bytes of those objects as stored (compressed) and as JSON.
    pub bytes_read: u64,
    pub json_bytes: u64,
    pub events_stored: u64,
    pub duplicates_dropped: u64,
    pub conflicts: u64,
    /// EventIDs the dedup index moved to disk to stay within
    /// [`IngestOptions::dedup_events`] (0 unless the days being written are very big).
    pub dedup_spilled: u64,
    pub outside_window: u64,
    pub digests: u64,
    pub insights: u64,
    pub bad_records: u64,
    pub commits: u64,
    /// Commits that lost the race for a lake version to another writer (a compaction) and
    /// were made on top of it.
    pub commit_retries: u64,
    pub files_written: u64,
    /// Time spent bringing the symlink manifests up to date after commits.
    pub manifest_seconds: f64,
    pub lake_version: u64,
    pub seconds: f64,
    pub events_per_second: f64,
    pub json_mb_per_second: f64,
    pub quarantined: Vec<Quarantined>,
    pub warnings: Vec<String>,
}

impl IngestSummary {
    /// Exit code contract: 0 all good, 1 done but some inputs were quarantined.
    pub fn is_clean(&self) -> bool {
        self.quarantined.is_empty() && self.bad_records == 0
    }
}
