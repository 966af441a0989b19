//! `trawl info`: what a lake holds and how it is laid out.

use std::collections::BTreeMap;
use std::fmt::Write;

use serde::Serialize;
use trawl_lake::{Lake, LakeError};

use crate::{RawTrail, human_bytes};

/// A lake's layout, size and contents.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct LakeInfo {
    pub lake: String,
    /// The committed version described.
    pub version: u64,
    /// Hive partition columns of the data files.
    pub partitioned_by: Vec<String>,
    /// The order of rows within each file.
    pub sorted_by: Vec<String>,
    pub events: u64,
    pub files: u64,
    /// Bytes of the committed Parquet files.
    pub bytes: u64,
    pub partitions: u64,
    /// Files per partition: fewest, most.
    pub files_per_partition: (u64, u64),
    pub first_partition: Option<String>,
    pub last_partition: Option<String>,
    /// The earliest and latest event time stored.
    pub first_event: Option<String>,
    pub last_event: Option<String>,
    /// Log objects ingested (digest and Insights files apart) and their bytes as delivered.
    pub raw_objects: u64,
    pub raw_bytes: u64,
    /// Digest files ingested.
    pub digest_objects: u64,
    /// Objects whose latest attempt was quarantined.
    pub quarantined: u64,
    /// Bytes of the raw trail per byte of Parquet.
    pub raw_per_parquet_byte: Option<f64>,
}

impl LakeInfo {
    /// Describes the latest committed snapshot of `lake`.
    pub fn of(lake: &Lake) -> Result<LakeInfo, LakeError> {
        let (snap, sources) = lake.snapshot_with_sources()?;
        let mut per_day: BTreeMap<&str, u64> = BTreeMap::new();
        for f in &snap.files {
            *per_day.entry(f.dt.as_str()).or_default() += 1;
        }
        let raw = RawTrail::of(sources.values());
        let digest_objects = sources.values().filter(|s| s.digests > 0).count() as u64;
        let bytes: u64 = snap.files.iter().map(|f| f.bytes).sum();
        let raw_bytes = raw.bytes();
        Ok(LakeInfo {
            lake: lake.location(),
            version: snap.version,
            partitioned_by: vec!["dt".to_string()],
            sorted_by: vec!["eventtime".to_string()],
            events: snap.rows(),
            files: snap.files.len() as u64,
            bytes,
            partitions: per_day.len() as u64,
            files_per_partition: (
                per_day.values().copied().min().unwrap_or(0),
                per_day.values().copied().max().unwrap_or(0),
            ),
            first_partition: per_day.keys().next().map(|s| s.to_string()),
            last_partition: per_day.keys().next_back().map(|s| s.to_string()),
            first_event: snap.files.iter().filter_map(|f| f.min_time.clone()).min(),
            last_event: snap.files.iter().filter_map(|f| f.max_time.clone()).max(),
            raw_objects: raw.objects(),
            raw_bytes,
            digest_objects,
            quarantined: snap.quarantined.len() as u64,
            raw_per_parquet_byte: (bytes > 0).then(|| raw_bytes as f64 / bytes as f64),
        })
    }

    /// The description as lines for a terminal.
    pub fn text(&self) -> String {
        let mut out = String::new();
        let none = || "-".to_string();
        let _ = writeln!(
            out,
            "lake          {} (version {})",
            self.lake, self.version
        );
        let _ = writeln!(
            out,
            "layout        partitioned by {}, sorted by {}",
            self.partitioned_by.join(", "),
            self.sorted_by.join(", ")
        );
        let _ = writeln!(out, "events        {}", self.events);
        let _ = writeln!(
            out,
            "files         {} ({}), {} to {} per partition",
            self.files,
            human_bytes(self.bytes),
            self.files_per_partition.0,
            self.files_per_partition.1
        );
        let _ = writeln!(
            out,
            "partitions    {} (dt {} .. {})",
            self.partitions,
            self.first_partition.clone().unwrap_or_else(none),
            self.last_partition.clone().unwrap_or_else(none)
        );
        let _ = writeln!(
            out,
            "event times   {} .. {}",
            self.first_event.clone().unwrap_or_else(none),
            self.last_event.clone().unwrap_or_else(none)
        );
        let _ = writeln!(
            out,
            "raw trail     {} log objects, {}{}",
            self.raw_objects,
            human_bytes(self.raw_bytes),
            self.raw_per_parquet_byte
                .map(|r| format!(" ({r:.1}x the Parquet)"))
                .unwrap_or_default()
        );
        let _ = writeln!(out, "digests       {} files", self.digest_objects);
        let _ = writeln!(out, "quarantined   {} objects", self.quarantined);
        out
    }
}
