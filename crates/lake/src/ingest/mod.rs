//! The ingest job: read objects on every core, dedup, buffer per partition, commit.
//!
//! By job: `options` (what a run is asked and what it reports), `collector` (rows routed to
//! partitions, deduplicated, held until a commit), `commit` (a commit's files written and
//! logged), `pipeline` (the entry points, the threads, and the listing they share).

mod collector;
mod commit;
mod options;
mod pipeline;

use std::collections::BTreeMap;
use std::fs;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, Sender};
use rustc_hash::FxHashMap;

use arrow::array::{Array, AsArray, RecordBatch, UInt32Array};
use arrow::compute::{concat_batches, take_record_batch};
use arrow::datatypes::TimestampMicrosecondType;
use serde::Serialize;
use trawl_ingest::{
    Body, Claim, Fetch, IngestError, Listed, LocalFetch, ObjectOutput, ReadOptions, SourceObject,
    read_body_with,
};
use trawl_schema::{COL_EVENTTIME_TS, UNKNOWN_PARTITION};

use crate::dedup::{Dedup, Verdict};
use crate::error::{IoContext, LakeError};
use crate::layout::Layout;
use crate::layout_options::LayoutOptions;
use crate::log::{self, DataFile, LogEntry, QuarantineEntry, Snapshot, SourceEntry};
use crate::{Lake, writer};

#[cfg(test)]
use commit::split_for_cores;
pub(crate) use commit::sub_partitions;
use commit::{encode_commit, finish_commit, write_commit};

/// Commits in flight at once into a lake in object storage ([`Collector::max_in_flight`]).
const IN_FLIGHT_REMOTE: usize = 2;
pub use options::{IngestOptions, IngestSummary, NoProgress, Progress, Quarantined};
pub use pipeline::Ingest;

struct Collector<'a> {
    lake: &'a Lake,
    opts: &'a IngestOptions,
    version: u64,
    dedup: Dedup,
    pending: BTreeMap<String, Vec<RecordBatch>>,
    /// Batches of small objects waiting to be copied together, per partition (see
    /// [`Collector::keep`]).
    small: BTreeMap<String, Small>,
    pending_bytes: usize,
    sources: Vec<SourceEntry>,
    quarantined: Vec<QuarantineEntry>,
    bad_lines: Vec<String>,
    digest_lines: Vec<String>,
    summary: IngestSummary,
    in_flight: usize,
    /// Commits handed over and not yet acknowledged, at most: 1 in a local lake, where the
    /// commit is writing files; [`IN_FLIGHT_REMOTE`] in object storage, where one is written
    /// while the one before is uploaded.
    max_in_flight: usize,
    /// (stored, duplicates, conflicts) so far of objects being streamed, by object index:
    /// their rows arrive a chunk at a time, and may be committed before the object ends.
    open: FxHashMap<usize, (u64, u64, u64)>,
    /// Time spent waiting for the commit in flight (the readers stall meanwhile).
    waited: Duration,
    /// The lake version up to which the dedup knows every commit (other writers' too).
    known: u64,
    /// What `known` was when the rows pending now began to be checked.
    pending_known: u64,
}

/// What a parser thread hands the collector.
enum Parsed {
    /// Rows of a streamed object, ahead of its end.
    Part(usize, RecordBatch),
    /// An object read to its end (or its failure).
    Done(usize, Arc<SourceObject>, Result<ObjectOutput, IngestError>),
}

/// The listing, consumed by the readers as they go (never held whole): objects the ledger
/// has are counted and passed over, the others numbered in the order they come.
struct Feed<I> {
    state: std::sync::Mutex<FeedState<I>>,
}

struct FeedState<I> {
    listing: std::iter::Fuse<I>,
    next: usize,
    found: u64,
    skipped: u64,
    unreadable: Vec<Quarantined>,
}

/// Batches under this many rows holding more than twice the bytes their rows take are
/// copied together ([`Collector::keep`]).
const SMALL_ROWS: usize = 1024;
/// How many such batches of a partition are copied into one, at most...
const COALESCE_BATCHES: usize = 64;
/// ...or as soon as they hold this many bytes.
const COALESCE_HELD_BYTES: usize = 4 << 20;

/// Small batches of a partition waiting to be copied together.
#[derive(Default)]
struct Small {
    batches: Vec<RecordBatch>,
    /// Bytes their rows take (what they count for in the buffered bytes).
    used: usize,
    /// Bytes they hold.
    held: usize,
}

/// One commit's worth of data, handed to the writer thread.
struct CommitJob {
    version: u64,
    /// The lake version up to which the run's dedup knew other writers' commits when the
    /// job's rows were checked.
    checked_upto: u64,
    pending: BTreeMap<String, Vec<RecordBatch>>,
    sources: Vec<SourceEntry>,
    quarantined: Vec<QuarantineEntry>,
    bad_lines: Vec<String>,
    digest_lines: Vec<String>,
}

struct Committed {
    /// The version the commit's files were named for (the dedup epoch).
    epoch: u64,
    /// The log version it was committed as.
    version: u64,
    /// Times it lost the race for a version to another writer and went on top.
    retries: u32,
    files: u64,
    /// The data files it added.
    added: Vec<DataFile>,
    /// The data files other writers committed since `CommitJob::checked_upto`, which it was
    /// checked against (in object storage): the run's dedup learns them.
    others: Vec<DataFile>,
    /// Its rows found already committed by those writers, and dropped.
    dropped: u64,
    /// Time spent rewriting the manifests of the days the commit touched.
    manifest_time: std::time::Duration,
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use arrow::array::{Array, Int32Array};
    use arrow::datatypes::{DataType, Field, Schema};

    use super::*;

    fn batch(from: i32, n: i32) -> RecordBatch {
        let schema = Arc::new(Schema::new(vec![Field::new("x", DataType::Int32, false)]));
        RecordBatch::try_new(
            schema,
            vec![Arc::new(Int32Array::from_iter_values(from..from + n))],
        )
        .unwrap()
    }

    fn values(batches: &[RecordBatch]) -> Vec<i32> {
        batches
            .iter()
            .flat_map(|b| {
                let a = b.column(0).as_any().downcast_ref::<Int32Array>().unwrap();
                (0..a.len()).map(|i| a.value(i)).collect::<Vec<_>>()
            })
            .collect()
    }

    #[test]
    fn a_lone_big_partition_is_halved_in_order_and_small_ones_are_not() {
        let pending =
            BTreeMap::from([("2024-03-01".to_string(), vec![batch(0, 70), batch(70, 30)])]);
        let parts = split_for_cores(pending, 2, 10);
        assert_eq!(parts.len(), 2);
        assert!(parts.iter().all(|(dt, _)| dt == "2024-03-01"));
        assert_eq!(values(&parts[0].1), (0..50).collect::<Vec<_>>());
        assert_eq!(values(&parts[1].1), (50..100).collect::<Vec<_>>());

        // Four cores: halved twice, every row once, in order.
        let pending = BTreeMap::from([("d".to_string(), vec![batch(0, 100)])]);
        let parts = split_for_cores(pending, 4, 10);
        assert_eq!(parts.len(), 4);
        let all: Vec<i32> = parts.iter().flat_map(|(_, b)| values(b)).collect();
        assert_eq!(all, (0..100).collect::<Vec<_>>());

        // Too small to split, or already one partition per core.
        let pending = BTreeMap::from([("d".to_string(), vec![batch(0, 15)])]);
        assert_eq!(split_for_cores(pending, 2, 10).len(), 1);
        let pending = BTreeMap::from([
            ("a".to_string(), vec![batch(0, 100)]),
            ("b".to_string(), vec![batch(0, 100)]),
        ]);
        assert_eq!(split_for_cores(pending, 2, 10).len(), 2);
    }
}
