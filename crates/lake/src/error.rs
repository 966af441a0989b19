use std::path::PathBuf;

use trawl_ingest::IngestError;

/// Errors of the lake itself (not of one input object: those are quarantined).
#[derive(Debug, thiserror::Error)]
pub enum LakeError {
    #[error("{path}: {source}{}", io_hint(source))]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("no trawl lake at {0}\n\nhint: create one with `trawl ingest SOURCE --lake {0}`")]
    NotALake(String),
    #[error(
        "another trawl process is writing to the lake at {0}; wait for it to finish (a crashed process releases the lock by itself)"
    )]
    Locked(PathBuf),
    #[error(
        "another `trawl compact` is running on the lake at {0}; wait for it to finish (a crashed process releases the lock by itself)"
    )]
    CompactLocked(PathBuf),
    #[error(
        "{path}: corrupt commit log entry: {message}\n\nhint: `trawl verify --rebuild-ledger` writes a new log from the data files (the old one is moved aside)"
    )]
    BadLog { path: PathBuf, message: String },
    #[error("{path}: writing Parquet failed: {source}")]
    Parquet {
        path: PathBuf,
        source: parquet::errors::ParquetError,
    },
    #[error("{path}: bad Arrow data (a bug in trawl, please report it): {source}")]
    Arrow {
        path: PathBuf,
        source: arrow::error::ArrowError,
    },
    #[error(
        "{path}: unsupported lake format version {found} (this trawl reads version {supported}); upgrade trawl"
    )]
    Version {
        path: PathBuf,
        found: u32,
        supported: u32,
    },
    /// `--strict`: an object that would have been quarantined ends the run.
    #[error(
        "{source}\n\nhint: --strict stops at the first bad object; without it, it is quarantined and the run goes on"
    )]
    Strict {
        #[source]
        source: IngestError,
    },
    /// `--strict`: a bad record ends the run.
    #[error(
        "{record}\n\nhint: --strict stops at the first bad record; without it, it is quarantined and the run goes on"
    )]
    StrictRecord {
        /// The record's object, index and fault.
        record: String,
    },
    /// The run was stopped ([`crate::Ingest::stop`]); what it read is committed.
    #[error(
        "ingest interrupted: {objects_read} objects committed up to lake version {lake_version}; run the same command again to resume"
    )]
    Interrupted {
        objects_read: u64,
        lake_version: u64,
    },
    /// Another writer committed this log version first (the committer retries on top of it).
    #[error(
        "lake version {version} was committed by another writer first; run the same command again"
    )]
    LostRace { version: u64 },
    /// A compaction found a file it merged removed by another commit (another compaction, on
    /// another machine) before its own commit: it commits nothing.
    #[error(
        "{path}: removed by another commit (lake version {version}) while this compaction ran, so this one commits nothing; run `trawl compact` again (on a lake in S3, run one compaction at a time)"
    )]
    CompactedMeanwhile { path: String, version: u64 },
    /// A request to the lake's object store failed.
    #[error(
        "{uri}: {message}\n\nhint: check the credentials (--profile, the AWS_* variables), --endpoint-url, and that this identity may read, write and list the lake's bucket; what is committed is kept, so run the same command again"
    )]
    Remote { uri: String, message: String },
    /// The local mirror of a lake in object storage holds commits the lake does not.
    #[error(
        "{mirror}: this mirror holds lake version {version}, which {lake} does not have: it was made for another lake (or the lake was deleted and made anew)\n\nhint: remove {mirror} (it is only a cache) or give another with --mirror"
    )]
    ForeignMirror {
        mirror: PathBuf,
        lake: String,
        version: u64,
    },
    /// The thread writing commits ended without a word (it panicked: a bug).
    #[error(
        "the commit writer stopped (a bug in trawl, please report it); run the same command again to resume"
    )]
    WriterGone,
}

/// What to do about the lake's own I/O errors. What was committed before one stays whole.
fn io_hint(e: &std::io::Error) -> &'static str {
    use std::io::ErrorKind::*;
    match e.kind() {
        StorageFull | QuotaExceeded | FileTooLarge => {
            "\n\nhint: free some space and run the same command again: what is committed is kept, \
             the unfinished commit is cleaned up"
        }
        ReadOnlyFilesystem | PermissionDenied => {
            "\n\nhint: the lake must be writable by this user; fix that and run the same command \
             again (what is committed is kept)"
        }
        _ => "",
    }
}

pub(crate) trait IoContext<T> {
    fn at(self, path: impl Into<PathBuf>) -> Result<T, LakeError>;
}

impl<T> IoContext<T> for std::io::Result<T> {
    fn at(self, path: impl Into<PathBuf>) -> Result<T, LakeError> {
        self.map_err(|source| LakeError::Io {
            path: path.into(),
            source,
        })
    }
}
