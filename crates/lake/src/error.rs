use std::path::PathBuf;

/// Errors of the lake itself (not of one input object: those are quarantined).
#[derive(Debug, thiserror::Error)]
pub enum LakeError {
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("no trawl lake at {0}\n\nhint: create one with `trawl ingest SOURCE --lake {0}`")]
    NotALake(PathBuf),
    #[error(
        "another trawl process is writing to the lake at {0}; wait for it to finish (a crashed process releases the lock by itself)"
    )]
    Locked(PathBuf),
    #[error("{path}: corrupt commit log entry: {message}; run `trawl verify` to inspect the lake")]
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
    #[error("{0}")]
    Strict(String),
    #[error("ingest interrupted: {0}")]
    Interrupted(String),
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
