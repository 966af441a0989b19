//! What the Parquet scans of an executed plan read and pruned, from DataFusion's scan
//! metrics and the files each scan listed.

use std::collections::{BTreeMap, BTreeSet};

use datafusion::datasource::physical_plan::FileScanConfig;
use datafusion::datasource::source::DataSourceExec;
use datafusion::physical_plan::ExecutionPlan;
use datafusion::physical_plan::metrics::MetricValue;
use serde::Serialize;
use trawl_query::DataFile;

/// Counts pruned and read (matched) at one level of a scan.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Pruned {
    pub pruned: u64,
    pub read: u64,
}

impl Pruned {
    fn add(&mut self, pruned: usize, read: usize) {
        self.pruned += pruned as u64;
        self.read += read as u64;
    }
}

/// What the lake scans of one statement read and pruned, summed over its scans (a self-join
/// scans the lake twice).
#[derive(Debug, Default, Clone, PartialEq, Serialize)]
pub struct ScanStats {
    /// Scans of lake files in the plan.
    pub scans: u64,
    /// Files in the snapshot the statement read, once per scan.
    pub files_in_lake: u64,
    /// Files left after partition pruning (the `dt` bounds trawl derives from `eventtime`
    /// filters, and filters on `dt`): the files each scan listed.
    pub files_listed: u64,
    /// File ranges (a file, or a slice of a large file) pruned by the min/max statistics
    /// of their footers before any row group was read, and those opened. Ranges a query
    /// with a LIMIT never opened count in neither.
    pub file_ranges: Pruned,
    /// Row groups of the opened ranges pruned by min/max statistics, and kept.
    pub row_groups_by_statistics: Pruned,
    /// Of the row groups statistics kept, those pruned by bloom filters (`eventid`,
    /// `requestid`, ...: equality on a high-cardinality column).
    pub row_groups_by_bloom_filter: Pruned,
    /// Row groups a LIMIT proved unnecessary.
    pub row_groups_by_limit: u64,
    /// Row groups a runtime filter (a TopK's threshold, a join's build side) pruned mid-scan.
    pub row_groups_by_dynamic_filter: u64,
    /// Pages of the kept row groups pruned by the page index, and kept.
    pub pages_by_page_index: Pruned,
    /// Rows of the kept row groups skipped by the page index.
    pub rows_by_page_index: Pruned,
    /// Rows a filter evaluated inside the scan dropped, and passed.
    pub rows_by_filter_in_scan: Pruned,
    /// Bytes read from storage (column chunks, pages, footers not yet cached).
    pub bytes_scanned: u64,
    /// Bytes of the files the scans listed.
    pub bytes_listed: u64,
    /// Bytes of the snapshot's files, once per scan.
    pub bytes_in_lake: u64,
    /// Partitions (`dt`) in the lake.
    pub partitions_in_lake: u64,
    /// Partitions (`dt`) the scans listed files of, in order.
    pub partitions: Vec<String>,
    /// The partitions of each scan, for estimates per scan.
    #[serde(skip)]
    pub partitions_per_scan: Vec<BTreeSet<String>>,
    /// Bytes of the files the scans listed, per day.
    #[serde(skip)]
    pub bytes_listed_per_day: BTreeMap<String, u64>,
}

impl ScanStats {
    /// Reads the metrics of every lake scan of `plan` (after it ran) over `files`, the
    /// snapshot it read.
    pub fn of(plan: &dyn ExecutionPlan, files: &[DataFile]) -> ScanStats {
        let mut stats = ScanStats::default();
        let by_path: BTreeMap<&str, &DataFile> =
            files.iter().map(|f| (f.path.as_str(), f)).collect();
        stats.partitions_in_lake = files
            .iter()
            .map(|f| f.dt.as_str())
            .collect::<BTreeSet<_>>()
            .len() as u64;
        let lake_bytes: u64 = files.iter().map(|f| f.bytes).sum();
        let mut all = BTreeSet::new();
        walk(plan, &mut |node| {
            let Some(exec) = node.downcast_ref::<DataSourceExec>() else {
                return;
            };
            let Some(config) = exec.data_source().downcast_ref::<FileScanConfig>() else {
                return;
            };
            stats.scans += 1;
            stats.files_in_lake += files.len() as u64;
            stats.bytes_in_lake += lake_bytes;
            let listed: BTreeSet<&str> = config
                .file_groups
                .iter()
                .flat_map(|g| g.iter())
                .map(|f| f.object_meta.location.as_ref())
                .collect();
            stats.files_listed += listed.len() as u64;
            let mut dts = BTreeSet::new();
            // A scan lists the snapshot's files by their paths in the lake.
            for f in listed.into_iter().filter_map(|path| by_path.get(path)) {
                stats.bytes_listed += f.bytes;
                *stats.bytes_listed_per_day.entry(f.dt.clone()).or_default() += f.bytes;
                dts.insert(f.dt.clone());
            }
            all.extend(dts.iter().cloned());
            stats.partitions_per_scan.push(dts);
            if let Some(metrics) = exec.metrics() {
                for m in metrics.iter() {
                    stats.add(m.value());
                }
            }
        });
        stats.partitions = all.into_iter().collect();
        stats
    }

    fn add(&mut self, value: &MetricValue) {
        match value {
            MetricValue::PruningMetrics {
                name,
                pruning_metrics: p,
            } => {
                let target = match name.as_ref() {
                    "files_ranges_pruned_statistics" => &mut self.file_ranges,
                    "row_groups_pruned_statistics" => &mut self.row_groups_by_statistics,
                    "row_groups_pruned_bloom_filter" => &mut self.row_groups_by_bloom_filter,
                    "page_index_pages_pruned" => &mut self.pages_by_page_index,
                    "page_index_rows_pruned" => &mut self.rows_by_page_index,
                    "limit_pruned_row_groups" => {
                        self.row_groups_by_limit += p.pruned() as u64;
                        return;
                    }
                    _ => return,
                };
                target.add(p.pruned(), p.matched());
            }
            MetricValue::Count { name, count } => {
                let n = count.value() as u64;
                match name.as_ref() {
                    "bytes_scanned" => self.bytes_scanned += n,
                    "pushdown_rows_pruned" => self.rows_by_filter_in_scan.pruned += n,
                    "pushdown_rows_matched" => self.rows_by_filter_in_scan.read += n,
                    "row_groups_pruned_dynamic_filter" => self.row_groups_by_dynamic_filter += n,
                    _ => {}
                }
            }
            _ => {}
        }
    }

    /// Row groups of the opened ranges: all, and those read after every pruning.
    pub fn row_groups(&self) -> (u64, u64) {
        let s = self.row_groups_by_statistics;
        let total = s.pruned + s.read;
        let pruned = s.pruned
            + self.row_groups_by_bloom_filter.pruned
            + self.row_groups_by_limit
            + self.row_groups_by_dynamic_filter;
        (total, total.saturating_sub(pruned))
    }
}

/// Calls `f` on `plan` and every node below it.
fn walk(plan: &dyn ExecutionPlan, f: &mut dyn FnMut(&dyn ExecutionPlan)) {
    f(plan);
    for child in plan.children() {
        walk(child.as_ref(), f);
    }
}
