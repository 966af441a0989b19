//! Chain of custody: proves that the lake's events came from log files CloudTrail signed.
//!
//! CloudTrail writes a digest file per account, region and hour. It lists the SHA-256 of
//! each log file delivered in that hour, names the digest before it (its key, hash and
//! signature), and is signed with RSA (SHA256withRSA); the signature is in the digest
//! object's S3 metadata. At ingest the lake records each digest file (with its SHA-256 and,
//! from S3, its signature) and the SHA-256 of every object it reads, hashed while inflating.
//! [`validate`] then checks, without the network:
//! - every digest's signature, with CloudTrail's public keys ([`PublicKeys`]);
//! - the chain: each digest's previous-digest hash and signature match the digest before
//!   it; a digest missing from the middle, a fork, a region whose digests stop;
//! - every log file a digest lists: in the ledger with the same SHA-256 (and, with a
//!   [`Reread`], still equal at its source);
//! - every object in the lake that no digest covers;
//! - every event row traced, through its `"$path"` (`trawl_source`), to a validated file.
//!
//! ```no_run
//! use trawl_custody::{PublicKeys, ValidateOptions, validate};
//! let lake = trawl_lake::Lake::open("./trawl-lake")?;
//! let mut keys = PublicKeys::default();
//! keys.add_file("public-keys.json".as_ref())?;
//! let result = validate(&lake, &keys, &ValidateOptions::default(), Default::default())?;
//! println!("{}", result.summary.line());
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

mod chain;
mod check;
pub mod digest;
pub mod keys;
mod model;
mod reread;
mod rows;
mod table;

use std::path::PathBuf;

pub use check::validate;
pub use keys::{PublicKey, PublicKeys};
pub use model::{Hour, Kind, Problem, Range, Status, Summary, ValidateOptions, Validation};
pub use reread::{LocalReread, Reread, Signatures, Sources};
pub use table::table;

/// What can stop a validation (as opposed to what it finds).
#[derive(Debug, thiserror::Error)]
pub enum CustodyError {
    #[error("{}: {source}", path.display())]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{}: line {line}: not a digest record trawl wrote ({message}); the lake's digest records are damaged: ingest the digest files into a new lake", path.display())]
    BadRecord {
        path: PathBuf,
        line: usize,
        message: String,
    },
    #[error("{}: not the output of `aws cloudtrail list-public-keys` ({message}); save it with `aws cloudtrail list-public-keys --start-time ... > FILE`", path.display())]
    BadKeys { path: PathBuf, message: String },
    #[error("{}: {message}", path.display())]
    Parquet { path: PathBuf, message: String },
    #[error("{}: not a validation trawl saved ({message}); run `trawl validate` again to replace it", path.display())]
    BadValidation { path: PathBuf, message: String },
    #[error(transparent)]
    Lake(#[from] trawl_lake::LakeError),
}

/// Keeps `v` as the lake's latest validation (`_trawl/custody/validation.json`, written
/// atomically): what the report and the web app show as "Log integrity".
pub fn save(lake: &trawl_lake::Lake, v: &Validation) -> Result<PathBuf, CustodyError> {
    let path = lake.layout().custody_record();
    // write_atomic creates the directory.
    trawl_lake::write_atomic(&path, &serde_json::to_vec_pretty(v).expect("serialisable"))?;
    Ok(path)
}

/// The lake's latest validation, if one was saved.
pub fn load_latest(lake: &trawl_lake::Lake) -> Result<Option<Validation>, CustodyError> {
    let path = lake.layout().custody_record();
    match std::fs::read(&path) {
        Ok(bytes) => {
            serde_json::from_slice(&bytes)
                .map(Some)
                .map_err(|e| CustodyError::BadValidation {
                    path,
                    message: e.to_string(),
                })
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(source) => Err(CustodyError::Io { path, source }),
    }
}
