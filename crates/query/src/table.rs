//! The physical events table: a ListingTable over the snapshot store, wrapped so that
//! predicates on the `eventtime` string also prune `dt` partitions, and equalities on the
//! column of a directory below the day (`account=`, `region=`: a layout option of the lake)
//! skip the files of the other directories. That directory is not a column: the table has
//! the same columns, and gives the same answers, on every layout.
//!
//! The table knows the snapshot's files, so that a cluster's codec can send it to a
//! scheduler, which builds the same table over the same files (`trawl-cluster`).

use std::sync::Arc;

use async_trait::async_trait;
use datafusion::arrow::datatypes::DataType;
use datafusion::arrow::datatypes::SchemaRef;
use datafusion::catalog::Session;
use datafusion::common::DFSchema;
use datafusion::common::ScalarValue;
use datafusion::common::Statistics;
use datafusion::datasource::TableProvider;
use datafusion::datasource::file_format::parquet::ParquetFormat;
use datafusion::datasource::listing::PartitionedFile;
use datafusion::datasource::listing::{
    ListingOptions, ListingTable, ListingTableConfig, ListingTableUrl,
};
use datafusion::datasource::physical_plan::{FileGroup, FileScanConfig, FileScanConfigBuilder};
use datafusion::datasource::source::DataSourceExec;
use datafusion::error::Result;
use datafusion::execution::SessionState;
use datafusion::execution::runtime_env::RuntimeEnv;
use datafusion::logical_expr::utils::conjunction;
use datafusion::logical_expr::{
    BinaryExpr, Expr, Operator, TableProviderFilterPushDown, TableType, col, lit,
};
use datafusion::physical_expr::PhysicalExpr;
use datafusion::physical_expr::expressions::Column as PhysicalColumn;
use datafusion::physical_plan::ExecutionPlan;
use datafusion::physical_plan::empty::EmptyExec;
use datafusion::physical_plan::filter::FilterExec;
use datafusion::physical_plan::projection::ProjectionExec;
use object_store::ObjectStore;
use std::collections::BTreeSet;
use trawl_lake::DataFile;
use trawl_lake::SubPartition;
use trawl_lake::layout_options::{partition_value, sub_partition_of};
use trawl_schema::{PARTITION_COL, UNKNOWN_PARTITION};

use crate::store::SnapshotStore;

#[derive(Debug)]
pub struct CloudTrailTable {
    inner: Arc<ListingTable>,
    files: Arc<Vec<DataFile>>,
    /// The files' needle filters, read from the lake when a query first looks a value up.
    needles: crate::needles::Filters,
}

impl CloudTrailTable {
    /// The table over `files` (a snapshot's, or some of them), read from `lake` (a store
    /// rooted at the lake). The store that lists them is registered at `url` (scheme and
    /// host only) in `runtime`, which the sessions that scan the table must use. With
    /// `cached`, the files' statistics are kept in `runtime`'s cache, which is keyed by path
    /// within the store: only for a runtime that serves one lake. `needles` is the local
    /// directory of the files' needle filters (the lake's, or its mirror's), if any.
    pub fn over(
        url: &url::Url,
        lake: Arc<dyn ObjectStore>,
        files: Arc<Vec<DataFile>>,
        runtime: &RuntimeEnv,
        cached: bool,
        needles: Option<std::path::PathBuf>,
    ) -> Result<Self> {
        let needles = crate::needles::Filters::new(needles);
        runtime.register_object_store(url, Arc::new(SnapshotStore::over(lake, &files)));
        let format = ParquetFormat::default().with_metadata_size_hint(Some(FOOTER_READ));
        let listing = ListingOptions::new(Arc::new(format))
            .with_file_extension(".parquet")
            .with_table_partition_cols(vec![(PARTITION_COL.to_string(), DataType::Utf8)]);
        let table_url = ListingTableUrl::parse(format!("{url}events/"))?;
        let config = ListingTableConfig::new(table_url)
            .with_listing_options(listing)
            .with_schema(crate::text_views::read_schema());
        // File statistics kept in the runtime: files never change, so sessions that share a
        // runtime (later snapshots, `reopen`) read each file's footer once.
        let mut table = ListingTable::try_new(config)?;
        if cached {
            table = table.with_cache(runtime.cache_manager.get_file_statistic_cache());
        }
        Ok(Self {
            inner: Arc::new(table),
            files,
            needles,
        })
    }

    /// The files the table reads.
    pub fn files(&self) -> &Arc<Vec<DataFile>> {
        &self.files
    }
}

/// The bytes read from the end of a data file to find its footer and page index in one read.
/// DataFusion reads 512 KiB, and a lake as ingested has a file per partition per commit: at
/// 100M events, 2,344 files of about 4 MB whose footer and page index take about 30 KB, so
/// planning copied 1.2 GB to read 70 MB. A compacted file's tail (110 KB for a day of 10M
/// events) takes a second read of the rest. docs/benchmarks.md, "Footers read whole".
const FOOTER_READ: usize = 64 << 10;

fn string_literal(e: &Expr) -> Option<&str> {
    match e {
        Expr::Cast(c) => string_literal(&c.expr),
        e => crate::exact_time::text(e),
    }
}

fn is_eventtime(e: &Expr) -> bool {
    match e {
        Expr::Column(c) => c.name == "eventtime",
        Expr::Cast(c) => is_eventtime(&c.expr),
        _ => false,
    }
}

/// The first 10 characters (the date) of a bound, or all of it when shorter.
fn date_prefix(s: &str) -> &str {
    s.char_indices().nth(10).map_or(s, |(i, _)| &s[..i])
}

/// For `eventtime <op> 'literal'`, a predicate on `dt` that every matching row satisfies.
/// Parseable event times are stored canonically (`YYYY-MM-DDTHH:MM:SSZ`) in the partition of
/// their date, so a string bound on eventtime bounds the date prefix; rows whose time could
/// not be parsed live in the unknown partition, which is always kept.
///
/// An upper bound of at most 10 characters (`eventtime < '2024-03-03'`) excludes its own day:
/// a stored time is longer than the bound and starts with its date, so it is below the bound
/// only if its date already is.
fn derive(op: Operator, bound: &str) -> Option<Expr> {
    let d = date_prefix(bound);
    let dt = col(PARTITION_COL);
    let on_dt = match op {
        Operator::Gt | Operator::GtEq => dt.clone().gt_eq(lit(d)),
        Operator::Lt | Operator::LtEq if d.len() == bound.len() => dt.clone().lt(lit(d)),
        Operator::Lt | Operator::LtEq => dt.clone().lt_eq(lit(d)),
        Operator::Eq if bound.chars().count() >= 10 => dt.clone().eq(lit(d)),
        _ => return None,
    };
    Some(on_dt.or(dt.eq(lit(UNKNOWN_PARTITION))))
}

/// `op` with its operands swapped (`a < b` is `b > a`).
pub(crate) fn flip(op: Operator) -> Operator {
    match op {
        Operator::Gt => Operator::Lt,
        Operator::GtEq => Operator::LtEq,
        Operator::Lt => Operator::Gt,
        Operator::LtEq => Operator::GtEq,
        other => other,
    }
}

/// `from_iso8601_timestamp(eventtime)` (how the Looker block and many saved queries wrap
/// every time filter).
fn is_parsed_eventtime(e: &Expr) -> bool {
    match e {
        Expr::ScalarFunction(f) => {
            f.name() == "from_iso8601_timestamp" && f.args.len() == 1 && is_eventtime(&f.args[0])
        }
        Expr::Cast(c) => is_parsed_eventtime(&c.expr),
        _ => false,
    }
}

fn timestamp_literal(e: &Expr) -> Option<i64> {
    match e {
        Expr::Literal(ScalarValue::TimestampMicrosecond(Some(v), _), _) => Some(*v),
        Expr::Literal(ScalarValue::TimestampMillisecond(Some(v), _), _) => v.checked_mul(1_000),
        Expr::Literal(ScalarValue::TimestampSecond(Some(v), _), _) => v.checked_mul(1_000_000),
        Expr::Literal(ScalarValue::TimestampNanosecond(Some(v), _), _) => Some(v.div_euclid(1_000)),
        Expr::Cast(c) => timestamp_literal(&c.expr),
        _ => None,
    }
}

/// For `from_iso8601_timestamp(eventtime) <op> T`: bounds on `eventtime_ts` and `dt` that
/// every matching row satisfies. The function of the canonical text is `eventtime_ts`
/// truncated to the second, so `< T` and `<= T` bound `eventtime_ts` by `T + 1s`. Rows whose
/// time did not parse give NULL and never match, so the unknown partition is not kept.
fn derive_parsed(op: Operator, t: i64, out: &mut Vec<Expr>) {
    let ts = |v: i64| {
        lit(ScalarValue::TimestampMicrosecond(
            Some(v),
            Some("UTC".into()),
        ))
    };
    let day = |v: i64| {
        chrono::DateTime::from_timestamp_micros(v).map(|d| d.format("%Y-%m-%d").to_string())
    };
    let (lower, upper) = match op {
        Operator::Gt | Operator::GtEq => (Some(t), None),
        Operator::Lt | Operator::LtEq => (None, t.checked_add(1_000_000)),
        Operator::Eq => (Some(t), t.checked_add(1_000_000)),
        _ => (None, None),
    };
    if let Some(lo) = lower {
        out.push(col(trawl_schema::COL_EVENTTIME_TS).gt_eq(ts(lo)));
        out.extend(day(lo).map(|d| col(PARTITION_COL).gt_eq(lit(d))));
    }
    if let Some(hi) = upper {
        out.push(col(trawl_schema::COL_EVENTTIME_TS).lt(ts(hi)));
        out.extend(day(hi).map(|d| col(PARTITION_COL).lt_eq(lit(d))));
    }
}

/// The values an equality (`=`, `IN`, `OR` of those) in `filter` allows for a column of a
/// directory below the day, as directory values, per kind (conjunctions are searched; two on
/// one column intersect).
fn sub_partition_values(
    filter: &Expr,
    out: &mut std::collections::BTreeMap<SubPartition, BTreeSet<String>>,
) {
    if let Expr::BinaryExpr(BinaryExpr {
        left,
        op: Operator::And,
        right,
    }) = filter
    {
        sub_partition_values(left, out);
        sub_partition_values(right, out);
        return;
    }
    if let Some((kind, values)) = allowed(filter) {
        match out.get_mut(&kind) {
            Some(have) => have.retain(|v| values.contains(v)),
            None => {
                out.insert(kind, values);
            }
        }
    }
}

/// The sub-partition kind whose column `e` is.
fn sub_column(e: &Expr) -> Option<SubPartition> {
    match e {
        Expr::Column(c) => [SubPartition::Account, SubPartition::Region]
            .into_iter()
            .find(|s| s.column() == c.name),
        Expr::Cast(c) => sub_column(&c.expr),
        _ => None,
    }
}

/// The directory values one disjunct-free predicate allows.
fn allowed(e: &Expr) -> Option<(SubPartition, BTreeSet<String>)> {
    let (kind, values) = equal_to(e, &sub_column)?;
    let values = values
        .into_iter()
        .map(|v| partition_value(Some(v)).to_string())
        .collect();
    Some((kind, values))
}

/// The text constants `e` allows for the column `column` recognises (and what it says of
/// it): `column = 'v'`, `column IN ('v', ...)`, or an `OR` of those on that one column.
pub(crate) fn equal_to<'e, K: PartialEq>(
    e: &'e Expr,
    column: &impl Fn(&Expr) -> Option<K>,
) -> Option<(K, Vec<&'e str>)> {
    match e {
        Expr::BinaryExpr(BinaryExpr {
            left,
            op: Operator::Eq,
            right,
        }) => match (column(left), string_literal(right)) {
            (Some(k), Some(v)) => Some((k, vec![v])),
            _ => Some((column(right)?, vec![string_literal(left)?])),
        },
        Expr::BinaryExpr(BinaryExpr {
            left,
            op: Operator::Or,
            right,
        }) => {
            let (a, mut x) = equal_to(left, column)?;
            let (b, y) = equal_to(right, column)?;
            (a == b).then(|| {
                x.extend(y);
                (a, x)
            })
        }
        Expr::InList(l) if !l.negated => {
            let values: Option<Vec<&str>> = l.list.iter().map(string_literal).collect();
            Some((column(&l.expr)?, values?))
        }
        _ => None,
    }
}

/// `plan` (a scan of the lake) without the files whose lake-relative path `keep` refuses.
fn keep_files(plan: Arc<dyn ExecutionPlan>, keep: impl Fn(&str) -> bool) -> Arc<dyn ExecutionPlan> {
    let Some(exec) = plan.downcast_ref::<DataSourceExec>() else {
        return plan;
    };
    let Some(config) = exec.data_source().downcast_ref::<FileScanConfig>() else {
        return plan;
    };
    let keep = |f: &PartitionedFile| {
        let path = f.object_meta.location.as_ref();
        keep(path.find("events/").map_or(path, |i| &path[i..]))
    };
    let groups: Vec<FileGroup> = config
        .file_groups
        .iter()
        .map(|g| g.iter().filter(|f| keep(f)).cloned().collect::<FileGroup>())
        .filter(|g| !g.is_empty())
        .collect();
    if groups.iter().map(FileGroup::len).sum::<usize>()
        == config.file_groups.iter().map(FileGroup::len).sum::<usize>()
    {
        return plan;
    }
    if groups.is_empty() {
        return Arc::new(EmptyExec::new(plan.schema()));
    }
    // The table's statistics were the listed files': now those of the files kept (with no
    // filter left on the scan, a count is answered from them).
    let schema = config.file_source().table_schema().table_schema().clone();
    let per_file: Option<Vec<Arc<Statistics>>> = groups
        .iter()
        .flat_map(|g| g.iter())
        .map(|f| f.statistics.clone())
        .collect();
    let statistics = per_file
        .and_then(|s| Statistics::try_merge_iter(s.iter().map(|s| s.as_ref()), &schema).ok())
        .unwrap_or_else(|| Statistics::new_unknown(&schema));
    let config = FileScanConfigBuilder::from(config.clone())
        .with_file_groups(groups)
        .with_statistics(statistics)
        .build();
    DataSourceExec::from_data_source(config)
}

/// Partition (and row-group) predicates implied by `filter` (conjunctions are searched).
pub fn partition_predicates(filter: &Expr, out: &mut Vec<Expr>) {
    match filter {
        Expr::BinaryExpr(BinaryExpr {
            left,
            op: Operator::And,
            right,
        }) => {
            partition_predicates(left, out);
            partition_predicates(right, out);
        }
        Expr::BinaryExpr(BinaryExpr { left, op, right }) => {
            if let (true, Some(s)) = (is_eventtime(left), string_literal(right)) {
                out.extend(derive(*op, s));
            } else if let (Some(s), true) = (string_literal(left), is_eventtime(right)) {
                out.extend(derive(flip(*op), s));
            } else if let (true, Some(t)) = (is_parsed_eventtime(left), timestamp_literal(right)) {
                derive_parsed(*op, t, out);
            } else if let (Some(t), true) = (timestamp_literal(left), is_parsed_eventtime(right)) {
                derive_parsed(flip(*op), t, out);
            }
        }
        Expr::Between(b) if !b.negated && is_eventtime(&b.expr) => {
            if let (Some(lo), Some(hi)) = (string_literal(&b.low), string_literal(&b.high)) {
                out.extend(derive(Operator::GtEq, lo));
                out.extend(derive(Operator::LtEq, hi));
            }
        }
        _ => {}
    }
}

#[async_trait]
impl TableProvider for CloudTrailTable {
    fn schema(&self) -> SchemaRef {
        self.inner.schema()
    }

    fn table_type(&self) -> TableType {
        TableType::Base
    }

    fn supports_filters_pushdown(
        &self,
        filters: &[&Expr],
    ) -> Result<Vec<TableProviderFilterPushDown>> {
        let mut answers = self.inner.supports_filters_pushdown(filters)?;
        for (answer, filter) in answers.iter_mut().zip(filters) {
            if crate::exact_time::is_exact(filter, &self.files) {
                *answer = TableProviderFilterPushDown::Exact;
            }
        }
        Ok(answers)
    }

    async fn scan(
        &self,
        state: &dyn Session,
        projection: Option<&Vec<usize>>,
        filters: &[Expr],
        limit: Option<usize>,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        let mut derived = Vec::new();
        let mut subs = std::collections::BTreeMap::new();
        for f in filters {
            partition_predicates(f, &mut derived);
            sub_partition_values(f, &mut subs);
        }
        // Partition bounds prune files in the listing; the others (bounds on eventtime_ts) go
        // in a filter over the scan, which the physical optimizer pushes into the Parquet
        // source for row-group pruning. All are implied by `filters`, so rows do not change.
        let (on_partitions, on_rows): (Vec<Expr>, Vec<Expr>) = derived
            .into_iter()
            .partition(|e| e.column_refs().iter().all(|c| c.name == PARTITION_COL));
        // Time filters every kept file holds wholly (crate::exact_time): the files wholly
        // outside are dropped and no row tests them.
        let crate::exact_time::Split {
            tested,
            files_outside,
        } = crate::exact_time::split(filters, &self.files);
        // Files whose needle filters say they hold none of the values a lookup asks for.
        let without = self.needles.without(&self.files, filters).await;
        // One pass over the scan's files for the reasons a file is not read: wholly outside
        // an exact time filter, in a directory below the day whose value an equality
        // excludes (files directly in a day's directory are kept), or without the value
        // looked up.
        let prune = |scan: Arc<dyn ExecutionPlan>| {
            if subs.is_empty() && files_outside.is_empty() && without.is_empty() {
                return scan;
            }
            keep_files(scan, |rel| {
                !files_outside.contains(rel)
                    && !without.contains(rel)
                    && sub_partition_of(rel).is_none_or(|(kind, value)| {
                        subs.get(&kind).is_none_or(|v| v.contains(value))
                    })
            })
        };
        // A lookup that skips files: the listing reads no file's footer for statistics (it
        // would read every listed file's, the skipped ones included: most of a lookup's time
        // on a lake of many files); the files kept are opened, and pruned, as they are read.
        let no_stats = (!without.is_empty())
            .then(|| state.as_any().downcast_ref::<SessionState>())
            .flatten()
            .map(|s| {
                let mut s = s.clone();
                s.config_mut().options_mut().execution.collect_statistics = false;
                s
            });
        let state: &dyn Session = match &no_stats {
            Some(s) => s,
            None => state,
        };
        let mut all = tested;
        all.extend(on_partitions);
        let Some(predicate) = conjunction(on_rows) else {
            return Ok(prune(
                self.inner.scan(state, projection, &all, limit).await?,
            ));
        };
        let schema = self.schema();
        let mut columns: Vec<usize> = projection
            .cloned()
            .unwrap_or_else(|| (0..schema.fields().len()).collect());
        let wanted = columns.len();
        for c in predicate.column_refs() {
            let i = schema.index_of(&c.name)?;
            if !columns.contains(&i) {
                columns.push(i);
            }
        }
        let scan = prune(self.inner.scan(state, Some(&columns), &all, None).await?);
        let df_schema = DFSchema::try_from(scan.schema())?;
        let filter = FilterExec::try_new(state.create_physical_expr(predicate, &df_schema)?, scan)?;
        let exprs: Vec<(Arc<dyn PhysicalExpr>, String)> = (0..wanted)
            .map(|i| {
                let field = filter.schema().field(i).clone();
                (
                    Arc::new(PhysicalColumn::new(field.name(), i)) as Arc<dyn PhysicalExpr>,
                    field.name().clone(),
                )
            })
            .collect();
        Ok(Arc::new(ProjectionExec::try_new(exprs, Arc::new(filter))?))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn eventtime_bounds_become_partition_bounds() {
        let cases = [
            (
                col("eventtime").gt_eq(lit("2024-03-01T00:00:00Z")),
                vec!["dt >= Utf8(\"2024-03-01\")"],
            ),
            (
                lit("2024-03-02T10:00:00Z").gt(col("eventtime")),
                vec!["dt <= Utf8(\"2024-03-02\")"],
            ),
            (col("eventtime").eq(lit("2024")), vec![]),
            (
                col("eventtime").lt(lit("2024-03")),
                vec!["dt < Utf8(\"2024-03\")"],
            ),
            (
                col("eventtime").lt_eq(lit("2024-03-03")),
                vec!["dt < Utf8(\"2024-03-03\")"],
            ),
            (
                col("eventtime").lt(lit("2024-03-03T00:00:00Z")),
                vec!["dt <= Utf8(\"2024-03-03\")"],
            ),
            (
                col("eventtime").between(lit("2024-03-01"), lit("2024-03-05T23:59:59Z")),
                vec!["dt >= Utf8(\"2024-03-01\")", "dt <= Utf8(\"2024-03-05\")"],
            ),
            (col("eventname").eq(lit("x")), vec![]),
        ];
        for (filter, want) in cases {
            let mut got = Vec::new();
            partition_predicates(&filter, &mut got);
            assert_eq!(got.len(), want.len(), "{filter}: {got:?}");
            for (g, w) in got.iter().zip(want) {
                let text = g.to_string();
                assert!(
                    text.starts_with(w) && text.contains(UNKNOWN_PARTITION),
                    "{filter}: {text} vs {w}"
                );
            }
        }
    }

    /// A data file as one ingest writes it (a day of 40,000 events): its footer and page
    /// index lie within the last FOOTER_READ bytes, and the lake's table reads that many.
    #[tokio::test]
    async fn one_read_finds_the_footer_and_page_index_of_a_file_as_ingested() {
        use datafusion::parquet::file::metadata::{PageIndexPolicy, ParquetMetaDataReader};
        let tmp = tempfile::tempdir().expect("a temporary directory");
        let lake = trawl_lake::Lake::create(tmp.path().join("lake")).expect("a lake");
        let trail = trawl_testkit::trail(&tmp.path().join("trail"), 5, 40_000, 1);
        trawl_testkit::ingest_with(&lake, &[trail], trawl_lake::IngestOptions::default());
        let files = lake.table_snapshot().expect("a snapshot").files;
        assert!(!files.is_empty(), "no data file written");
        for data in &files {
            let entry = lake.root().join(&data.path);
            let file = std::fs::File::open(&entry).expect("a data file");
            let size = file.metadata().expect("its size").len();
            let meta = ParquetMetaDataReader::new()
                .with_page_index_policy(PageIndexPolicy::Required)
                .parse_and_finish(&file)
                .expect("its footer and page index");
            let index_start = meta
                .row_groups()
                .iter()
                .flat_map(|g| g.columns())
                .flat_map(|c| [c.column_index_offset(), c.offset_index_offset()])
                .map(|o| o.expect("a page index"))
                .min()
                .expect("columns");
            let tail = size - u64::try_from(index_start).expect("an offset");
            assert!(
                tail <= FOOTER_READ as u64,
                "{}: footer and page index take the last {tail} bytes",
                entry.display()
            );
        }
        let engine = crate::QueryEngine::open(&lake).await.expect("the engine");
        let table = engine
            .ctx
            .table_provider(crate::PHYSICAL_TABLE)
            .await
            .expect("the lake's table");
        let table = table
            .downcast_ref::<CloudTrailTable>()
            .expect("trawl's table");
        let listing = table.inner.options();
        let format = listing
            .format
            .downcast_ref::<ParquetFormat>()
            .expect("Parquet");
        assert_eq!(format.metadata_size_hint(), Some(FOOTER_READ));
    }
}
