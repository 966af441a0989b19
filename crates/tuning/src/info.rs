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
    /// Hive partition directories of the data files (`dt`, and `account` or `region` below).
    pub partitioned_by: Vec<String>,
    /// The order of rows within each file.
    pub sorted_by: Vec<String>,
    /// Rows of a row group, at most.
    pub row_group_rows: usize,
    /// Files written in another layout (before the last change of layout; `trawl compact`
    /// rewrites their days).
    pub files_in_other_layouts: u64,
    pub events: u64,
    pub files: u64,
    /// Bytes of the committed Parquet files.
    pub bytes: u64,
    /// Directories holding data files (days, or the directories below them).
    pub partitions: u64,
    /// Days holding data files.
    pub days: u64,
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
        let layout = snap.layout();
        let (mut per_dir, mut days): (BTreeMap<&str, u64>, BTreeMap<&str, u64>) =
            Default::default();
        for f in &snap.files {
            let dir = f.path.rsplit_once('/').map_or("", |(d, _)| d);
            *per_dir.entry(dir).or_default() += 1;
            *days.entry(f.dt.as_str()).or_default() += 1;
        }
        let raw = RawTrail::of(sources.values());
        let digest_objects = sources.values().filter(|s| s.digests > 0).count() as u64;
        let bytes: u64 = snap.files.iter().map(|f| f.bytes).sum();
        let raw_bytes = raw.bytes();
        Ok(LakeInfo {
            lake: lake.location(),
            version: snap.version,
            partitioned_by: std::iter::once("dt".to_string())
                .chain(layout.sub_partition.map(|s| s.key().to_string()))
                .collect(),
            sorted_by: layout.sort_by.clone(),
            row_group_rows: layout.row_group_rows,
            files_in_other_layouts: snap
                .files
                .iter()
                .filter(|f| f.layout.clone().unwrap_or_default() != layout)
                .count() as u64,
            events: snap.rows(),
            files: snap.files.len() as u64,
            bytes,
            partitions: per_dir.len() as u64,
            days: days.len() as u64,
            files_per_partition: (
                per_dir.values().copied().min().unwrap_or(0),
                per_dir.values().copied().max().unwrap_or(0),
            ),
            first_partition: days.keys().next().map(|s| s.to_string()),
            last_partition: days.keys().next_back().map(|s| s.to_string()),
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
            "layout        partitioned by {}, sorted by {}, row groups of {} rows",
            self.partitioned_by.join(", "),
            self.sorted_by.join(", "),
            self.row_group_rows
        );
        if self.files_in_other_layouts > 0 {
            let _ = writeln!(
                out,
                "              {} files in another layout (`trawl compact` rewrites their days)",
                self.files_in_other_layouts
            );
        }
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
            "partitions    {} in {} days (dt {} .. {})",
            self.partitions,
            self.days,
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
