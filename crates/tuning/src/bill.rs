//! What Amazon Athena would bill for a statement: bytes scanned, rounded up to the megabyte
//! with a 10 MB minimum per query, at a price per terabyte, for three ways of holding the
//! same trail (see docs/tuning.md).

use std::collections::BTreeSet;

use chrono::NaiveDate;
use serde::{Deserialize, Serialize};
use trawl_lake::SourceEntry;

use crate::scan::ScanStats;

/// Athena's price per TB scanned in most regions (US East, Europe), in US dollars.
pub const DEFAULT_PRICE_PER_TB: f64 = 5.0;
const MB: u64 = 1 << 20;
const TB: f64 = (1u64 << 40) as f64;
/// Athena bills at least 10 MB per query.
const MINIMUM: u64 = 10 * MB;

/// One estimate: bytes Athena would scan and what it would bill.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Estimate {
    pub bytes: u64,
    /// `bytes` rounded up to the megabyte, at least 10 MB.
    pub billed_bytes: u64,
    pub dollars: f64,
}

impl Estimate {
    fn of(bytes: u64, price_per_tb: f64) -> Estimate {
        let billed_bytes = bytes.div_ceil(MB).saturating_mul(MB).max(MINIMUM);
        Estimate {
            bytes,
            billed_bytes,
            dollars: billed_bytes as f64 / TB * price_per_tb,
        }
    }
}

/// Athena's bill for one statement, three ways.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AthenaBill {
    pub price_per_tb: f64,
    /// The raw gzipped JSON trail with the table of CloudTrail's console (no partitions):
    /// every byte of every log object, once per scan.
    pub raw_json: Estimate,
    /// The raw trail with partition projection by delivery date: the objects delivered on
    /// the days the statement's partitions cover (and those whose key has no date), per scan.
    pub raw_json_projected: Estimate,
    /// This lake, read by Athena: the Parquet bytes the scans actually read.
    pub lake: Estimate,
}

/// The log objects a lake was ingested from: size and delivery date of each.
#[derive(Debug, Clone, Default)]
pub struct RawTrail {
    objects: Vec<(Option<NaiveDate>, u64)>,
}

impl RawTrail {
    /// The log objects of a lake's ledger, without digest and Insights files (which
    /// live under other prefixes than the table's location).
    pub fn of<'a>(sources: impl IntoIterator<Item = &'a SourceEntry>) -> RawTrail {
        let objects = sources
            .into_iter()
            .filter(|s| {
                s.digests == 0
                    && !s.uri.contains("/CloudTrail-Digest/")
                    && !s.uri.contains("/CloudTrail-Insight/")
            })
            .map(|s| (trawl_ingest::layout::key_date(&s.uri), s.size))
            .collect();
        RawTrail { objects }
    }

    /// The number of objects.
    pub fn objects(&self) -> u64 {
        self.objects.len() as u64
    }

    /// Bytes of every object.
    pub fn bytes(&self) -> u64 {
        self.objects.iter().map(|(_, b)| b).sum()
    }

    /// Bytes of the objects delivered on one of `days` (`YYYY-MM-DD`), and of those whose key
    /// has no date (no projection can leave them out).
    pub fn bytes_on(&self, days: &BTreeSet<String>) -> u64 {
        let days: BTreeSet<NaiveDate> = days
            .iter()
            .filter_map(|d| NaiveDate::parse_from_str(d, "%Y-%m-%d").ok())
            .collect();
        self.objects
            .iter()
            .filter(|(d, _)| d.is_none_or(|d| days.contains(&d)))
            .map(|(_, b)| b)
            .sum()
    }

    /// Athena's bill for a statement whose lake scans are `scan`.
    pub fn bill(&self, scan: &ScanStats, price_per_tb: f64) -> AthenaBill {
        let raw = self.bytes() * scan.scans;
        let projected = scan
            .partitions_per_scan
            .iter()
            .map(|days| self.bytes_on(days))
            .sum();
        AthenaBill {
            price_per_tb,
            raw_json: Estimate::of(raw, price_per_tb),
            raw_json_projected: Estimate::of(projected, price_per_tb),
            lake: Estimate::of(scan.bytes_scanned, price_per_tb),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bytes_round_up_to_the_megabyte_with_a_ten_megabyte_minimum() {
        let e = Estimate::of(1, 5.0);
        assert_eq!(e.billed_bytes, 10 * MB);
        let e = Estimate::of(10 * MB + 1, 5.0);
        assert_eq!(e.billed_bytes, 11 * MB);
        let e = Estimate::of(1 << 40, 5.0);
        assert_eq!(e.billed_bytes, 1 << 40);
        assert!((e.dollars - 5.0).abs() < 1e-9, "{e:?}");
        let e = Estimate::of(3 << 40, 2.5);
        assert!((e.dollars - 7.5).abs() < 1e-9, "{e:?}");
    }

    #[test]
    fn projection_keeps_the_objects_of_the_days_and_those_without_a_date() {
        let entry = |uri: &str, size: u64| {
            let mut e = SourceEntry::new(uri.to_string(), size, 0);
            e.events = 1;
            e
        };
        let mut digest = entry(
            "s3://b/AWSLogs/111122223333/CloudTrail-Digest/us-east-1/2024/03/01/d.json.gz",
            7,
        );
        digest.digests = 1;
        let sources = [
            entry(
                "s3://b/AWSLogs/111122223333/CloudTrail/us-east-1/2024/03/01/a.json.gz",
                100,
            ),
            entry(
                "s3://b/AWSLogs/111122223333/CloudTrail/us-east-1/2024/03/02/b.json.gz",
                20,
            ),
            entry("/tmp/loose.json.gz", 3),
            digest,
        ];
        let raw = RawTrail::of(&sources);
        assert_eq!(raw.bytes(), 123);
        let days = |d: &[&str]| d.iter().map(|s| s.to_string()).collect::<BTreeSet<_>>();
        assert_eq!(raw.bytes_on(&days(&["2024-03-02"])), 23);
        assert_eq!(raw.bytes_on(&days(&[])), 3);
        assert_eq!(raw.bytes_on(&days(&["2024-03-01", "2024-03-02"])), 123);
    }
}
