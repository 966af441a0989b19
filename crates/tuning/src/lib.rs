//! The query-tuning workbench: after each statement, what it cost — wall time, rows, what
//! its scans read and pruned (partitions, files, row groups, pages, bytes) — and what Amazon
//! Athena would bill for it on the raw trail and on this lake.
//!
//! ```no_run
//! # async fn example() -> Result<(), Box<dyn std::error::Error>> {
//! let lake = trawl_lake::Lake::open("./trawl-lake")?;
//! let engine = trawl_query::QueryEngine::open(&lake).await?;
//! let bench = trawl_tuning::Workbench::new(&lake, trawl_tuning::DEFAULT_PRICE_PER_TB)?;
//! for result in engine.run("SELECT count(*) FROM cloudtrail_logs").await? {
//!     let stats = bench.stats(&result, engine.files());
//!     println!("{}", stats.text());
//! }
//! # Ok(()) }
//! ```

mod advice;
mod bench;
mod bill;
mod info;
mod scan;

use std::fmt::Write;

use serde::Serialize;
use trawl_lake::{Lake, LakeError};
use trawl_query::{DataFile, StatementResult};

pub use advice::{Advice, AdviceOptions, advise};
pub use bench::{
    BenchOptions, BenchReport, BenchRun, Regression, Timing, one_line, run_statements,
};
pub use bill::{AthenaBill, DEFAULT_PRICE_PER_TB, Estimate, RawTrail};
pub use info::LakeInfo;
pub use scan::{Pruned, ScanStats};

/// What one statement cost.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct QueryStats {
    /// Wall time from planning to the last batch.
    pub seconds: f64,
    pub rows: u64,
    /// `None` for statements trawl runs itself (DDL); on a cluster the scans run on the
    /// executors and their counts stay there (`scans` is 0).
    pub scan: Option<ScanStats>,
    /// `None` where Athena would bill nothing (DDL).
    pub athena: Option<AthenaBill>,
    /// Warnings from Athena's tuning practice that are true of this statement and run.
    pub advice: Vec<Advice>,
}

/// Computes [`QueryStats`] for the statements run over one lake.
#[derive(Debug, Clone)]
pub struct Workbench {
    raw: RawTrail,
    price_per_tb: f64,
}

impl Workbench {
    /// The workbench of `lake`: its ledger gives the raw objects (size and delivery day)
    /// that the Athena estimates of the raw trail are made from.
    pub fn new(lake: &Lake, price_per_tb: f64) -> Result<Workbench, LakeError> {
        let sources = lake.sources()?;
        Ok(Workbench {
            raw: RawTrail::of(sources.values()),
            price_per_tb,
        })
    }

    /// A workbench over the raw objects `raw`.
    pub fn with_raw(raw: RawTrail, price_per_tb: f64) -> Workbench {
        Workbench { raw, price_per_tb }
    }

    /// What `result` (run over the snapshot `files`) cost.
    pub fn stats(&self, result: &StatementResult, files: &[DataFile]) -> QueryStats {
        let rows = result.batches.iter().map(|b| b.num_rows() as u64).sum();
        let scan = result
            .plan
            .as_ref()
            .map(|plan| ScanStats::of(plan.as_ref(), files));
        let athena = scan
            .as_ref()
            .map(|scan| self.raw.bill(scan, self.price_per_tb));
        let mut stats = QueryStats {
            seconds: result.elapsed.as_secs_f64(),
            rows,
            scan,
            athena,
            advice: Vec::new(),
        };
        stats.advice = advise(&result.sql, &stats, AdviceOptions::default());
        stats
    }
}

/// `n` bytes in binary units (`3.2 MiB`).
pub fn human_bytes(n: u64) -> String {
    let units = ["B", "KiB", "MiB", "GiB", "TiB", "PiB"];
    let mut v = n as f64;
    let mut u = 0;
    while v >= 1024.0 && u + 1 < units.len() {
        v /= 1024.0;
        u += 1;
    }
    if u == 0 {
        format!("{n} B")
    } else {
        format!("{v:.1} {}", units[u])
    }
}

fn dollars(d: f64) -> String {
    if d >= 0.01 {
        format!("${d:.2}")
    } else {
        format!("${d:.6}")
    }
}

impl QueryStats {
    /// The stats as a few lines for a terminal.
    pub fn text(&self) -> String {
        let mut out = String::new();
        let rows = if self.rows == 1 { "row" } else { "rows" };
        let _ = writeln!(out, "-- {} {rows} in {:.3} s", self.rows, self.seconds);
        let Some(s) = &self.scan else {
            return out;
        };
        if s.scans == 0 {
            let _ = writeln!(
                out,
                "-- no lake scan counted (a statement without the lake, or run on a cluster)"
            );
        } else {
            let (groups, groups_read) = s.row_groups();
            let scans = if s.scans > 1 {
                format!(" over {} scans", s.scans)
            } else {
                String::new()
            };
            let _ = writeln!(
                out,
                "-- read {} of {} listed, {} in the lake{scans}",
                human_bytes(s.bytes_scanned),
                human_bytes(s.bytes_listed),
                human_bytes(s.bytes_in_lake)
            );
            let _ = writeln!(
                out,
                "-- partitions {} of {}{}",
                s.partitions.len(),
                s.partitions_in_lake,
                match s.partitions.as_slice() {
                    [] => String::new(),
                    [one] => format!(" ({one})"),
                    [first, .., last] => format!(" ({first} .. {last})"),
                }
            );
            let _ = writeln!(
                out,
                "-- files {} in the lake -> {} after partition pruning -> {} ranges opened, {} pruned by min/max",
                s.files_in_lake, s.files_listed, s.file_ranges.read, s.file_ranges.pruned
            );
            let _ = writeln!(
                out,
                "-- row groups {groups} -> {groups_read} read: {} pruned by min/max, {} by bloom filter, {} by limit, {} by dynamic filter",
                s.row_groups_by_statistics.pruned,
                s.row_groups_by_bloom_filter.pruned,
                s.row_groups_by_limit,
                s.row_groups_by_dynamic_filter
            );
            let _ = writeln!(
                out,
                "-- pages pruned by page index {} of {} ({} rows); rows dropped inside the scan {} of {}",
                s.pages_by_page_index.pruned,
                s.pages_by_page_index.pruned + s.pages_by_page_index.read,
                s.rows_by_page_index.pruned,
                s.rows_by_filter_in_scan.pruned,
                s.rows_by_filter_in_scan.pruned + s.rows_by_filter_in_scan.read
            );
        }
        for a in &self.advice {
            let saves = a
                .saves_bytes
                .map(|b| format!(" (saves {})", human_bytes(b)))
                .unwrap_or_default();
            let _ = writeln!(out, "-- advice [{}]{saves}: {}", a.rule, a.message);
        }
        if let Some(b) = &self.athena {
            let _ = writeln!(
                out,
                "-- Athena estimate at ${}/TB, 10 MB minimum (docs/tuning.md):",
                b.price_per_tb
            );
            for (what, e) in [
                ("raw JSON, no partitions", b.raw_json),
                ("raw JSON, partitions by day", b.raw_json_projected),
                ("this lake as Parquet", b.lake),
            ] {
                let _ = writeln!(
                    out,
                    "--   {what:<28} {:>10} scanned, {:>10} billed, {}",
                    human_bytes(e.bytes),
                    human_bytes(e.billed_bytes),
                    dollars(e.dollars)
                );
            }
        }
        out
    }
}
