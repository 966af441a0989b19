//! Files read in the order a top-k on the event time asks for.
//!
//! `ORDER BY eventtime DESC LIMIT n` (a drill-down, a timeline, "the newest 500 security-group
//! changes") keeps a heap of `n` rows, and DataFusion pushes the heap's current bound into the
//! scan as a dynamic filter: a file whose times all lie below the bound is skipped unopened
//! and rows below it are not decoded. How early the bound rises depends on which files are
//! read first. DataFusion orders a scan's files by their statistics for such a sort, but not
//! when the scan also computes an expression (the table's `dt` is one: the unknown-time
//! partition reads as NULL), and then the lake's files are read in listing order, oldest day
//! first: the heap fills with old events and nearly every file is read.
//!
//! [`TimeOrderedFiles`] lists a scan's files by their day partition, newest first for a
//! descending sort on `eventtime` or `eventtime_ts` (oldest first for an ascending one), in
//! every file group and in the queue the groups share. A scan promises no order, so the
//! answer is the same whatever the file order; only the work changes.

use std::sync::Arc;

use datafusion::common::Result;
use datafusion::common::ScalarValue;
use datafusion::common::config::ConfigOptions;
use datafusion::common::tree_node::{Transformed, TransformedResult, TreeNode};
use datafusion::datasource::listing::PartitionedFile;
use datafusion::datasource::physical_plan::{FileGroup, FileScanConfig, FileScanConfigBuilder};
use datafusion::datasource::source::DataSourceExec;
use datafusion::physical_expr::expressions::Column;
use datafusion::physical_optimizer::PhysicalOptimizerRule;
use datafusion::physical_plan::ExecutionPlan;
use datafusion::physical_plan::execution_plan::replace_children_if_necessary;
use datafusion::physical_plan::filter::FilterExec;
use datafusion::physical_plan::projection::ProjectionExec;
use datafusion::physical_plan::repartition::RepartitionExec;
use datafusion::physical_plan::sorts::sort::SortExec;
use trawl_schema::{COL_EVENTTIME_TS, UNKNOWN_PARTITION};

/// See the module documentation. Runs before DataFusion's late filter pushdown, which links
/// the sort's dynamic filter to the scan.
#[derive(Debug, Default)]
pub(crate) struct TimeOrderedFiles;

impl PhysicalOptimizerRule for TimeOrderedFiles {
    fn optimize(
        &self,
        plan: Arc<dyn ExecutionPlan>,
        _: &ConfigOptions,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        plan.transform_down(|node| {
            let Some(sort) = node.downcast_ref::<SortExec>() else {
                return Ok(Transformed::no(node));
            };
            let first = sort.expr().first();
            let (Some(_), Some(column)) = (
                sort.fetch(),
                first.expr.downcast_ref::<Column>().map(Column::name),
            ) else {
                return Ok(Transformed::no(node));
            };
            match ordered(sort.input(), column, first.options.descending)? {
                Some(input) => Ok(Transformed::yes(replace_children_if_necessary(
                    node.clone(),
                    vec![input],
                )?)),
                None => Ok(Transformed::no(node)),
            }
        })
        .data()
    }

    fn name(&self) -> &str {
        "trawl_time_ordered_files"
    }

    fn schema_check(&self) -> bool {
        true
    }
}

/// `plan` with the files of the lake scan under it in time order, when `column` (a column of
/// `plan`'s output) is the scan's event time and nothing between them reorders or combines
/// rows; `None` when there is nothing to reorder.
fn ordered(
    plan: &Arc<dyn ExecutionPlan>,
    column: &str,
    descending: bool,
) -> Result<Option<Arc<dyn ExecutionPlan>>> {
    let below = |input: &Arc<dyn ExecutionPlan>, column: &str| -> Result<_> {
        Ok(match ordered(input, column, descending)? {
            Some(input) => Some(replace_children_if_necessary(plan.clone(), vec![input])?),
            None => None,
        })
    };
    if let Some(p) = plan.downcast_ref::<ProjectionExec>() {
        // Followed through a projection that passes the column on, renamed or not.
        let Some(source) = p
            .expr()
            .iter()
            .find(|e| e.alias == column)
            .and_then(|e| e.expr.downcast_ref::<Column>())
        else {
            return Ok(None);
        };
        return below(p.input(), source.name());
    }
    if let Some(f) = plan.downcast_ref::<FilterExec>() {
        return below(f.input(), column);
    }
    if let Some(r) = plan.downcast_ref::<RepartitionExec>() {
        if r.preserve_order() {
            return Ok(None);
        }
        return below(r.input(), column);
    }
    let Some(exec) = plan.downcast_ref::<DataSourceExec>() else {
        return Ok(None);
    };
    let Some(config) = exec.data_source().downcast_ref::<FileScanConfig>() else {
        return Ok(None);
    };
    // The files' declared order (each file is sorted by time) holds whatever the order of
    // the files; DataFusion validates the scan's order from the files as they are listed.
    // The sort above reorders every row, so the file order is free even when the scan was
    // asked to keep it (`preserve_order`: then each group is read by its own partition).
    if !(column == "eventtime" || column == COL_EVENTTIME_TS)
        || plan.schema().field_with_name(column).is_err()
    {
        return Ok(None);
    }
    let groups = in_time_order(&config.file_groups, descending, config.preserve_order);
    if listed(&groups).eq(listed(&config.file_groups)) {
        return Ok(None);
    }
    let config = FileScanConfigBuilder::from(config.clone())
        .with_file_groups(groups)
        .build();
    Ok(Some(DataSourceExec::from_data_source(config)))
}

/// The day a lake file holds (its `dt` partition value, which the listing read from its
/// path); `None` for the unknown-time partition.
fn day(file: &PartitionedFile) -> Option<&str> {
    match file.partition_values.first() {
        Some(ScalarValue::Utf8(Some(d))) if d != UNKNOWN_PARTITION => Some(d),
        _ => None,
    }
}

/// Where a file (or a byte range of one) stands in a listing: its path and first byte.
fn place(file: &PartitionedFile) -> (&str, Option<i64>) {
    (
        file.object_meta.location.as_ref(),
        file.range.as_ref().map(|r| r.start),
    )
}

/// Every file of `groups` where it stands, group after group.
fn listed(groups: &[FileGroup]) -> impl Iterator<Item = (&str, Option<i64>)> {
    groups.iter().flat_map(FileGroup::iter).map(place)
}

/// `groups`' files in day order (newest first when `descending`; ties by path, the unknown
/// day last), dealt into as many groups of the same sizes. Partitions that share one queue
/// of the groups in turn (DataFusion's work stealing) read the first group's files first, so
/// it holds the first files; partitions that each read their own group (`own_groups`) get
/// the files dealt in turn, so that every group starts at the first.
fn in_time_order(groups: &[FileGroup], descending: bool, own_groups: bool) -> Vec<FileGroup> {
    let mut files: Vec<&PartitionedFile> = groups.iter().flat_map(FileGroup::iter).collect();
    files.sort_by(|a, b| {
        let (da, db) = (day(a), day(b));
        let by_day = match (da, db) {
            (Some(x), Some(y)) if descending => y.cmp(x),
            (Some(x), Some(y)) => x.cmp(y),
            // The unknown day's times did not parse: NULL, last either way.
            (Some(_), None) => std::cmp::Ordering::Less,
            (None, Some(_)) => std::cmp::Ordering::Greater,
            (None, None) => std::cmp::Ordering::Equal,
        };
        by_day.then_with(|| {
            let ((pa, sa), (pb, sb)) = (place(a), place(b));
            let by_path = if descending { pb.cmp(pa) } else { pa.cmp(pb) };
            by_path.then(sa.cmp(&sb))
        })
    });
    if own_groups {
        let mut dealt: Vec<Vec<PartitionedFile>> = vec![Vec::new(); groups.len()];
        let mut turn = 0;
        for file in files {
            // The next group in turn that still has room for a file.
            while dealt[turn].len() == groups[turn].len() {
                turn = (turn + 1) % groups.len();
            }
            dealt[turn].push(file.clone());
            turn = (turn + 1) % groups.len();
        }
        return dealt.into_iter().map(FileGroup::new).collect();
    }
    let mut files = files.into_iter();
    groups
        .iter()
        .map(|g| files.by_ref().take(g.len()).cloned().collect::<FileGroup>())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A file as the listing gives it: its day partition's value read from its path.
    fn file(path: &str) -> PartitionedFile {
        let day = path.split("dt=").nth(1).and_then(|d| d.split('/').next());
        let mut f = PartitionedFile::new(path, 10);
        f.partition_values = day
            .map(|d| ScalarValue::Utf8(Some(d.to_string())))
            .into_iter()
            .collect();
        f
    }

    fn paths(groups: &[FileGroup]) -> Vec<Vec<String>> {
        groups
            .iter()
            .map(|g| {
                g.iter()
                    .map(|f| f.object_meta.location.as_ref().to_string())
                    .collect()
            })
            .collect()
    }

    #[test]
    fn files_are_dealt_newest_day_first_with_the_unknown_day_last() {
        let groups = vec![
            FileGroup::new(vec![
                file("events/dt=2024-01-01/a.parquet"),
                file(&format!("events/dt={UNKNOWN_PARTITION}/u.parquet")),
                file("events/dt=2024-01-02/a.parquet"),
            ]),
            FileGroup::new(vec![
                file("events/dt=2024-01-03/a.parquet"),
                file("events/dt=2024-01-03/b.parquet"),
            ]),
        ];
        assert_eq!(
            paths(&in_time_order(&groups, true, false)),
            vec![
                vec![
                    "events/dt=2024-01-03/b.parquet",
                    "events/dt=2024-01-03/a.parquet",
                    "events/dt=2024-01-02/a.parquet",
                ],
                vec![
                    "events/dt=2024-01-01/a.parquet",
                    &format!("events/dt={UNKNOWN_PARTITION}/u.parquet"),
                ],
            ]
        );
        assert_eq!(
            paths(&in_time_order(&groups, false, false)),
            vec![
                vec![
                    "events/dt=2024-01-01/a.parquet",
                    "events/dt=2024-01-02/a.parquet",
                    "events/dt=2024-01-03/a.parquet",
                ],
                vec![
                    "events/dt=2024-01-03/b.parquet",
                    &format!("events/dt={UNKNOWN_PARTITION}/u.parquet"),
                ],
            ]
        );
        // Each partition reading its own group: both groups start at the newest files, and
        // keep their sizes.
        assert_eq!(
            paths(&in_time_order(&groups, true, true)),
            vec![
                vec![
                    "events/dt=2024-01-03/b.parquet",
                    "events/dt=2024-01-02/a.parquet",
                    &format!("events/dt={UNKNOWN_PARTITION}/u.parquet"),
                ],
                vec![
                    "events/dt=2024-01-03/a.parquet",
                    "events/dt=2024-01-01/a.parquet",
                ],
            ]
        );
    }
}
