//! A CloudTrail digest file as the lake recorded it at ingest, the string CloudTrail signs,
//! and the signature check (RSA PKCS#1 v1.5 with SHA-256, by `ring`).

use std::path::Path;

use trawl_lake::Layout;

use chrono::{DateTime, Utc};
use ring::signature::{RSA_PKCS1_2048_8192_SHA256, UnparsedPublicKey};
use serde::Deserialize;

use crate::CustodyError;

/// The members of a digest file that validation reads (AWS: "CloudTrail digest file
/// structure"). Members CloudTrail may leave null are optional.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Digest {
    #[serde(default)]
    pub aws_account_id: Option<String>,
    pub digest_start_time: String,
    pub digest_end_time: String,
    pub digest_s3_bucket: String,
    pub digest_s3_object: String,
    pub digest_public_key_fingerprint: String,
    #[serde(default)]
    pub digest_signature_algorithm: Option<String>,
    #[serde(default)]
    pub previous_digest_s3_bucket: Option<String>,
    #[serde(default)]
    pub previous_digest_s3_object: Option<String>,
    #[serde(default)]
    pub previous_digest_hash_value: Option<String>,
    #[serde(default)]
    pub previous_digest_signature: Option<String>,
    #[serde(default)]
    pub log_files: Vec<ListedLog>,
}

/// A log file a digest lists.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ListedLog {
    pub s3_bucket: String,
    pub s3_object: String,
    pub hash_value: String,
    #[serde(default)]
    pub hash_algorithm: Option<String>,
    #[serde(default)]
    pub oldest_event_time: Option<String>,
    #[serde(default)]
    pub newest_event_time: Option<String>,
}

/// One line of `_trawl/digests/<version>.jsonl`: a digest file read at ingest.
#[derive(Debug, Clone, Deserialize)]
struct Line {
    uri: String,
    #[serde(default)]
    sha256: Option<String>,
    #[serde(default)]
    signature: Option<String>,
    #[serde(default)]
    signature_algorithm: Option<String>,
    #[serde(default)]
    backfill_generated: Option<String>,
    digest: serde_json::Value,
}

/// A digest file recorded by the lake.
#[derive(Debug, Clone)]
pub struct Recorded {
    /// Where it was read from (`s3://bucket/key` or a local path).
    pub uri: String,
    /// SHA-256 of its decompressed bytes, hashed at ingest (none from trawl before 0.1 of
    /// the custody format).
    pub sha256: Option<String>,
    /// From the S3 object's metadata; none when it was read from a local copy.
    pub signature: Option<String>,
    pub signature_algorithm: Option<String>,
    /// For a backfill digest, when CloudTrail generated it (S3 metadata).
    pub backfill_generated: Option<String>,
    /// Parsed; `Err` says why it is not a digest validation can read.
    pub digest: Result<Digest, String>,
}

impl Recorded {
    /// The digest's end time, if it parses.
    pub fn end(&self) -> Option<DateTime<Utc>> {
        self.digest
            .as_ref()
            .ok()
            .and_then(|d| parse_time(&d.digest_end_time))
    }
}

/// Every digest the lake's commits up to `version` recorded that `keep` keeps (digests that
/// do not parse are always kept, to be reported), in commit order (a digest read twice is
/// kept once, the latest). A commit in progress, or cut short, is not read. Memory grows
/// with the digests kept, not with all of them.
pub fn load(
    layout: &Layout,
    version: u64,
    keep: impl Fn(&Digest) -> bool,
) -> Result<Vec<Recorded>, CustodyError> {
    let dir = layout.digests_dir();
    let committed = |p: &Path| {
        p.extension().is_some_and(|x| x == "jsonl")
            // `<version>.jsonl`, or `<version>-<writer>.jsonl` in a lake in object storage.
            && p.file_stem()
                .and_then(|s| s.to_str())
                .and_then(|s| s.split('-').next())
                .and_then(|s| s.parse::<u64>().ok())
                .is_some_and(|v| v <= version)
    };
    let mut files: Vec<_> = match std::fs::read_dir(&dir) {
        Ok(entries) => entries
            .filter_map(Result::ok)
            .map(|e| e.path())
            .filter(|p| committed(p))
            .collect(),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(source) => {
            return Err(CustodyError::Io { path: dir, source });
        }
    };
    files.sort();
    let mut by_uri = std::collections::BTreeMap::new();
    for path in files {
        let text = std::fs::read_to_string(&path).map_err(|source| CustodyError::Io {
            path: path.clone(),
            source,
        })?;
        for (n, line) in text
            .lines()
            .enumerate()
            .filter(|(_, l)| !l.trim().is_empty())
        {
            let line: Line = serde_json::from_str(line).map_err(|e| CustodyError::BadRecord {
                path: path.clone(),
                line: n + 1,
                message: e.to_string(),
            })?;
            let digest = Digest::deserialize(&line.digest).map_err(|e| e.to_string());
            if digest.as_ref().is_ok_and(|d| !keep(d)) {
                continue;
            }
            let rec = Recorded {
                uri: line.uri.clone(),
                sha256: line.sha256,
                signature: line.signature,
                signature_algorithm: line.signature_algorithm,
                backfill_generated: line.backfill_generated,
                digest,
            };
            by_uri.insert(line.uri, rec);
        }
    }
    Ok(by_uri.into_values().collect())
}

/// The string CloudTrail signs for a digest (what `aws cloudtrail validate-logs` checks):
/// `digestEndTime \n digestS3Bucket/digestS3Object \n hex SHA-256 of the decompressed digest
/// file \n previousDigestSignature` (the text `null` for a chain's first digest).
pub fn string_to_sign(d: &Digest, sha256_hex: &str) -> String {
    format!(
        "{}\n{}/{}\n{}\n{}",
        d.digest_end_time,
        d.digest_s3_bucket,
        d.digest_s3_object,
        sha256_hex,
        d.previous_digest_signature.as_deref().unwrap_or("null")
    )
}

/// Whether `signature_hex` is a valid SHA256withRSA (PKCS#1 v1.5) signature of `message` by
/// the RSA public key `public_key_der` (PKCS#1 `RSAPublicKey` DER, as `ListPublicKeys`
/// gives it). A signature that is not hex is not valid.
pub fn verify(public_key_der: &[u8], message: &[u8], signature_hex: &str) -> bool {
    let Ok(signature) = hex::decode(signature_hex.trim()) else {
        return false;
    };
    UnparsedPublicKey::new(&RSA_PKCS1_2048_8192_SHA256, public_key_der)
        .verify(message, &signature)
        .is_ok()
}

/// CloudTrail's times (`2015-08-17T15:01:31Z`, also with fractions or an offset).
pub fn parse_time(s: &str) -> Option<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(s)
        .ok()
        .map(|t| t.with_timezone(&Utc))
}

/// The part of an S3 key or local path from `AWSLogs/` on: how a log file a digest names is
/// matched with a local copy of the bucket (any prefix before it is the copy's business).
pub fn from_awslogs(s: &str) -> Option<&str> {
    if s.starts_with("AWSLogs/") {
        return Some(s);
    }
    s.find("/AWSLogs/").map(|i| &s[i + 1..])
}
