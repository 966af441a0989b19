//! What a validation finds: a row per account, region and hour, every problem named, and
//! a summary. Serialised as the evidence file (`trawl validate --format json`) and kept in
//! the lake for the report's "Log integrity" section.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// What to validate.
#[derive(Debug, Clone, Default)]
pub struct ValidateOptions {
    /// Hours ending after this.
    pub since: Option<DateTime<Utc>>,
    /// Hours starting before this.
    pub until: Option<DateTime<Utc>>,
    /// Only these accounts (all when empty).
    pub accounts: Vec<String>,
    /// Only these regions (all when empty).
    pub regions: Vec<String>,
}

impl ValidateOptions {
    /// Whether the account and region are asked for.
    pub fn wants(&self, account: &str, region: &str) -> bool {
        (self.accounts.is_empty() || self.accounts.iter().any(|a| a == account))
            && (self.regions.is_empty() || self.regions.iter().any(|r| r == region))
    }

    /// Whether `[start, end)` meets the window asked for.
    pub fn spans(&self, start: DateTime<Utc>, end: DateTime<Utc>) -> bool {
        self.since.is_none_or(|s| end > s) && self.until.is_none_or(|u| start < u)
    }
}

/// An hour's verdict, from best to worst.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Status {
    /// The digest is signed, chained, and every log file it lists is in the lake unchanged.
    Valid,
    /// Log files in the lake that no digest lists.
    NotCovered,
    /// A log file the digest lists, or a digest the chain names, is not in the lake.
    Missing,
    /// A signature, a chain link or a log file's hash does not match.
    Invalid,
}

impl Status {
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Valid => "valid",
            Status::NotCovered => "not covered",
            Status::Missing => "missing",
            Status::Invalid => "invalid",
        }
    }
}

/// What is wrong.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Kind {
    /// The digest's signature does not verify with the key it names.
    BadSignature,
    /// No public key given has the digest's fingerprint.
    UnknownKey,
    /// No signature recorded (read from a local copy: S3 keeps it in object metadata).
    Unsigned,
    /// Not a digest validation can read, or recorded without its hash.
    BadDigest,
    /// The digest names another location than where it was read from.
    Moved,
    /// The previous-digest hash or signature does not match the digest before it.
    ChainMismatch,
    /// A digest the chain names is not in the lake.
    MissingDigest,
    /// Two digests name the same previous digest.
    Fork,
    /// A region's digests stop while the trail's other regions go on.
    DigestsStop,
    /// A log file's content differs from the hash its digest lists.
    LogChanged,
    /// A log file a digest lists is not in the lake.
    LogMissing,
    /// A log file in the lake with no hash recorded (ingested by an older trawl).
    LogUnhashed,
    /// The file at its source no longer matches the digest (re-read).
    SourceChanged,
    /// An object in the lake that no digest lists.
    NotCovered,
}

/// One finding, naming the object at fault.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Problem {
    pub kind: Kind,
    /// `s3://bucket/key` or a local path.
    pub object: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub account: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub region: Option<String>,
    /// The time window to check (the digest's hour, or the events' span).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub from: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub to: Option<String>,
    pub message: String,
}

impl Problem {
    /// A problem of `object`, with no account, region or window yet.
    pub fn new(kind: Kind, object: &str, message: String) -> Problem {
        Problem {
            kind,
            object: object.to_string(),
            account: None,
            region: None,
            from: None,
            to: None,
            message,
        }
    }

    /// In this account and region (left out when empty: not in CloudTrail's layout).
    pub fn at(self, account: &str, region: &str) -> Problem {
        Problem {
            account: (!account.is_empty()).then(|| account.to_string()),
            region: (!region.is_empty()).then(|| region.to_string()),
            ..self
        }
    }

    /// The time window to check.
    pub fn between(self, from: Option<String>, to: Option<String>) -> Problem {
        Problem { from, to, ..self }
    }
}

/// One account, region and hour.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Hour {
    pub account: String,
    pub region: String,
    pub start: String,
    pub end: String,
    pub status: Status,
    /// The digest of the hour (none for log files no digest covers).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub digest: Option<String>,
    /// Log files the digest lists (or, not covered, the lake holds for the hour).
    pub log_files: usize,
    /// Of those, in the lake with the same SHA-256.
    pub log_files_valid: usize,
    /// Why the hour is not valid, one line per problem.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub why: Vec<String>,
}

/// A span of consecutive valid hours of one account and region.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Range {
    pub account: String,
    pub region: String,
    pub from: String,
    pub to: String,
}

/// Counts, and the verdict.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Summary {
    pub digests: usize,
    pub digests_valid: usize,
    /// Log files the digests list.
    pub log_files: usize,
    pub log_files_valid: usize,
    /// Objects in the lake that no digest lists.
    pub not_covered: usize,
    /// Event rows in the lake (in the accounts, regions and window validated).
    pub rows: u64,
    /// Of those, rows whose `"$path"` is a log file of a valid hour with the same SHA-256.
    pub rows_validated: u64,
    pub hours: usize,
    pub hours_valid: usize,
    pub problems: usize,
    /// Log files re-read at their source and found equal.
    #[serde(default)]
    pub sources_reread: usize,
    /// True when anything failed validation (exit 1).
    pub failed: bool,
}

impl Summary {
    /// One line: the verdict and the counts.
    pub fn line(&self) -> String {
        format!(
            "{}: {}/{} digest files valid, {}/{} log files valid, {} objects not covered by a digest, {}/{} event rows traced to valid log files, {} problems",
            if self.failed { "FAILED" } else { "VALID" },
            self.digests_valid,
            self.digests,
            self.log_files_valid,
            self.log_files,
            self.not_covered,
            self.rows_validated,
            self.rows,
            self.problems,
        )
    }
}

/// The result of one validation of a lake: the evidence file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Validation {
    pub lake: String,
    /// The lake's commit version validated: later commits are not covered by this result.
    pub lake_version: u64,
    pub validated_at: String,
    pub trawl_version: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub since: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub until: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub accounts: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub regions: Vec<String>,
    /// Fingerprints of the public keys the signatures were checked with.
    pub public_keys: Vec<String>,
    /// Whether log files were also re-read at their source.
    pub reread: bool,
    pub summary: Summary,
    /// The time ranges that passed, per account and region.
    pub valid_ranges: Vec<Range>,
    pub hours: Vec<Hour>,
    pub problems: Vec<Problem>,
    /// What is worth knowing and is not a failure (where a chain starts or restarts).
    pub notes: Vec<String>,
}
