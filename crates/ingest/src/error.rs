use std::path::PathBuf;

/// Why an object could not be read. Each variant names the object; the object is
/// quarantined with this message and the rest of the ingest goes on.
#[derive(Debug, thiserror::Error)]
pub enum IngestError {
    #[error("{uri}: cannot read: {source}")]
    Io { uri: String, source: std::io::Error },
    #[error(
        "{uri}: gzip stream is corrupt or truncated after {inflated} bytes of output ({source}); re-download the object"
    )]
    Inflate {
        uri: String,
        inflated: u64,
        source: std::io::Error,
    },
    #[error(
        "{uri}: decompresses to more than {limit} bytes (gzip bomb or oversized object); raise --max-object-bytes if it is genuine"
    )]
    TooLarge { uri: String, limit: u64 },
    /// A remote store gave up on the object (its error says why, after its retries).
    #[error("{source}")]
    Fetch {
        uri: String,
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    #[error("{uri}: {detail}; it is read again on the next run")]
    Changed { uri: String, detail: String },
    #[error("{uri}: the object is empty")]
    Empty { uri: String },
    #[error(
        "{uri}: not JSON (neither a CloudTrail object, a JSON array, nor JSON Lines): {detail}"
    )]
    NotJson { uri: String, detail: String },
    #[error(
        "{uri}: JSON nested deeper than {limit} levels (the parser's limit, a guard against stack exhaustion); the object is not a genuine CloudTrail log"
    )]
    TooDeep { uri: String, limit: usize },
    #[error("{uri}: value {value_index}: {detail}")]
    BadShape {
        uri: String,
        value_index: usize,
        detail: String,
    },
    #[error(
        "{uri}: no CloudTrail event in the object ({count} values rejected, the first: {first})"
    )]
    NoEvents {
        uri: String,
        count: usize,
        first: String,
    },
    /// A streamed object failed part way: its first `stored` events were read and kept.
    #[error(
        "{source} (the {stored} events read before the fault are stored; the object is retried on the next run)"
    )]
    Partial {
        stored: usize,
        source: Box<IngestError>,
    },
    #[error("{path}: not found or unreadable: {source}")]
    Source {
        path: PathBuf,
        source: std::io::Error,
    },
}
