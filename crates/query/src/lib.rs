//! SQL over the trawl lake with DataFusion: the Athena-shaped `cloudtrail_logs` view over
//! the flat `cloudtrail_events` table of one committed snapshot.
//!
//! ```no_run
//! # async fn example() -> Result<(), Box<dyn std::error::Error>> {
//! let lake = trawl_lake::Lake::open("./trawl-lake")?;
//! let engine = trawl_query::QueryEngine::open(&lake).await?;
//! let results = engine.run("SELECT eventname, count(*) FROM cloudtrail_logs GROUP BY 1").await?;
//! # Ok(()) }
//! ```
//!
//! Identifiers are case-insensitive as in Athena (unquoted ones are folded to lowercase and
//! every lake column is lowercase), so `userIdentity.sessionContext.sessionIssuer.userName`
//! works. Tables resolve as `cloudtrail_logs` and `default.cloudtrail_logs`.

mod athena;
mod store;
mod table;

use std::sync::Arc;

use datafusion::arrow::datatypes::{DataType, SchemaRef};
use datafusion::arrow::record_batch::RecordBatch;
use datafusion::datasource::file_format::parquet::ParquetFormat;
use datafusion::datasource::listing::{
    ListingOptions, ListingTable, ListingTableConfig, ListingTableUrl,
};
use datafusion::error::DataFusionError;
use datafusion::prelude::{SessionConfig, SessionContext};
use datafusion::sql::parser::{DFParser, Statement as DFStatement};
use datafusion::sql::sqlparser::dialect::GenericDialect;
use trawl_lake::{Lake, LakeError};
use trawl_schema::{PARTITION_COL, PHYSICAL_TABLE, arrow_schema, athena_view_select};

pub use athena::{ADDED as ATHENA_FUNCTIONS, fold_quoted_identifiers};
pub use store::SnapshotStore;
pub use table::{CloudTrailTable, partition_predicates};

/// The Athena-compatible view name.
pub const TABLE: &str = "cloudtrail_logs";

#[derive(Debug, thiserror::Error)]
pub enum QueryError {
    #[error(transparent)]
    Lake(#[from] LakeError),
    /// The query is wrong: bad SQL, unknown column or table, wrong types.
    #[error("query error: {0}")]
    Plan(String),
    /// The query is fine but running it failed (bad data, I/O).
    #[error("execution error: {0}")]
    Execution(String),
    /// A bug in trawl or DataFusion.
    #[error("internal error (please report it): {0}")]
    Internal(String),
}

impl From<DataFusionError> for QueryError {
    fn from(e: DataFusionError) -> Self {
        match e.find_root() {
            DataFusionError::SQL(..)
            | DataFusionError::Plan(_)
            | DataFusionError::SchemaError(..)
            | DataFusionError::NotImplemented(_) => QueryError::Plan(e.strip_backtrace()),
            DataFusionError::Internal(_) => QueryError::Internal(e.strip_backtrace()),
            _ => QueryError::Execution(e.strip_backtrace()),
        }
    }
}

/// Athena rewrites at the AST level (see [`athena::rewrite_statement`]).
fn rewrite_statement(stmt: &mut DFStatement) -> Result<(), QueryError> {
    match stmt {
        DFStatement::Statement(s) => athena::rewrite_statement(s).map_err(QueryError::Plan),
        DFStatement::Explain(e) => rewrite_statement(&mut e.statement),
        _ => Ok(()),
    }
}

/// The result of one statement.
#[derive(Debug)]
pub struct StatementResult {
    pub sql: String,
    pub schema: SchemaRef,
    pub batches: Vec<RecordBatch>,
}

/// A DataFusion session over one committed snapshot of a lake.
pub struct QueryEngine {
    ctx: SessionContext,
    version: u64,
}

impl QueryEngine {
    /// Opens the latest committed snapshot of `lake`.
    pub async fn open(lake: &Lake) -> Result<Self, QueryError> {
        let snap = lake.snapshot()?;
        let mut config = SessionConfig::new()
            .with_default_catalog_and_schema("awsdatacatalog", "default")
            .with_information_schema(true);
        let opts = config.options_mut();
        // Trino sorts NULLs last whatever the direction.
        opts.sql_parser.default_null_ordering = "nulls_last".to_string();
        opts.execution.parquet.pushdown_filters = true;
        opts.execution.parquet.reorder_filters = true;
        opts.execution.parquet.bloom_filter_on_read = true;
        // File-level min/max from Parquet footers prune whole files before row groups.
        opts.execution.collect_statistics = true;
        let ctx = SessionContext::new_with_config(config);
        let store = SnapshotStore::new(lake.root(), &snap)
            .map_err(|e| QueryError::Execution(e.to_string()))?;
        let url = url::Url::parse("trawl://lake/").expect("static url");
        ctx.register_object_store(&url, Arc::new(store));
        let listing = ListingOptions::new(Arc::new(ParquetFormat::default()))
            .with_file_extension(".parquet")
            .with_table_partition_cols(vec![(PARTITION_COL.to_string(), DataType::Utf8)]);
        let table_url = ListingTableUrl::parse("trawl://lake/events/")?;
        let config = ListingTableConfig::new(table_url)
            .with_listing_options(listing)
            .with_schema(arrow_schema());
        let table = ListingTable::try_new(config)?;
        ctx.register_table(PHYSICAL_TABLE, Arc::new(CloudTrailTable::new(table)))?;
        athena::register(&ctx);
        ctx.sql(&format!(
            "CREATE VIEW {TABLE} AS {}",
            athena_view_select(PHYSICAL_TABLE)
        ))
        .await?;
        Ok(Self {
            ctx,
            version: snap.version,
        })
    }

    /// The lake version this engine reads.
    pub fn version(&self) -> u64 {
        self.version
    }

    pub fn context(&self) -> &SessionContext {
        &self.ctx
    }

    /// Every function name the session knows: (scalar, aggregate, window), each sorted.
    pub fn function_names(&self) -> (Vec<String>, Vec<String>, Vec<String>) {
        let state = self.ctx.state();
        let sorted = |mut v: Vec<String>| {
            v.sort();
            v.dedup();
            v
        };
        (
            sorted(state.scalar_functions().keys().cloned().collect()),
            sorted(state.aggregate_functions().keys().cloned().collect()),
            sorted(state.window_functions().keys().cloned().collect()),
        )
    }

    /// Runs every statement of `sql` (separated by `;`, comments allowed) in order.
    pub async fn run(&self, sql: &str) -> Result<Vec<StatementResult>, QueryError> {
        let sql = athena::fold_quoted_identifiers(sql);
        let statements = DFParser::parse_sql_with_dialect(&sql, &GenericDialect {})?;
        if statements.is_empty() {
            return Err(QueryError::Plan("no SQL statement given".into()));
        }
        let mut out = Vec::new();
        for mut stmt in statements {
            let text = stmt.to_string();
            rewrite_statement(&mut stmt)?;
            let plan = self.ctx.state().statement_to_plan(stmt).await?;
            let df = self.ctx.execute_logical_plan(plan).await?;
            let schema = Arc::new(df.schema().as_arrow().clone());
            let batches = df.collect().await?;
            out.push(StatementResult {
                sql: text,
                schema,
                batches,
            });
        }
        Ok(out)
    }
}
