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
mod error;
mod exact_time;
pub mod fuzz;
mod geo;
mod needles;
mod run;
mod store;
mod table;
mod text_views;
mod time_order;

use std::num::NonZeroUsize;
use std::path::PathBuf;
use std::sync::Arc;

use athena::ddl::Ddl;
use datafusion::arrow::array::StringArray;
use datafusion::arrow::datatypes::{DataType, SchemaRef};
use datafusion::arrow::datatypes::{Field, Schema};
use datafusion::arrow::record_batch::RecordBatch;
use datafusion::common::TableReference;
use datafusion::execution::disk_manager::{DiskManagerBuilder, DiskManagerMode};
use datafusion::execution::memory_pool::{FairSpillPool, MemoryPool, TrackConsumersPool};
use datafusion::execution::runtime_env::{RuntimeEnv, RuntimeEnvBuilder};
use datafusion::execution::session_state::{SessionState, SessionStateBuilder};
use datafusion::physical_optimizer::PhysicalOptimizerRule;
use datafusion::physical_optimizer::filter_pushdown::FilterPushdown;
use datafusion::physical_optimizer::optimizer::PhysicalOptimizer;
use datafusion::physical_plan::ExecutionPlan;
use datafusion::prelude::{SessionConfig, SessionContext};
use datafusion::sql::parser::{DFParser, Statement as DFStatement};
use datafusion::sql::sqlparser::dialect::GenericDialect;
pub use trawl_lake::DataFile;
use trawl_lake::{Catalog, Lake, Layout, TableDef};
use trawl_schema::{PHYSICAL_TABLE, athena_view_select};

pub use athena::ddl::split_statements;
pub use athena::{ADDED as ATHENA_FUNCTIONS, TRINO_FUNCTIONS, fold_quoted_identifiers};
pub use error::{QueryError, check_nesting};
pub use geo::GEO_FUNCTIONS;
pub use store::SnapshotStore;
pub use table::{CloudTrailTable, partition_predicates};

/// The Athena-compatible view name.
pub const TABLE: &str = "cloudtrail_logs";
/// The Athena-shaped view over the lake that `cloudtrail_logs` and tables declared with DDL
/// read (a DDL table may itself be named `cloudtrail_logs`).
pub const BASE_VIEW: &str = "trawl_cloudtrail_logs";

/// A session that plans here and runs elsewhere (a cluster): trawl-query builds the session
/// and its tables, the implementation makes it distributed. Functions are registered after
/// [`Distributed::upgrade`], which may replace the session's.
pub trait Distributed: std::fmt::Debug + Send + Sync {
    /// The session's configuration, before the session is built (extensions, codecs).
    fn configure(&self, config: SessionConfig) -> SessionConfig;
    /// The session, made to run its plans on the cluster.
    fn upgrade(&self, state: SessionState) -> datafusion::error::Result<SessionState>;
    /// The cluster's error `message` as a person reads it (the cluster's errors come back
    /// as text, debug-formatted).
    fn error_text(&self, message: &str) -> String {
        message.to_string()
    }
}

/// Registers every function trawl adds (Athena's and Trino's, the `geoip_*` ones answering
/// from `geo`) in `ctx`: what a cluster's scheduler and executors do for their sessions too.
pub fn register_functions(ctx: &mut SessionContext, geo: Option<Arc<trawl_geo::GeoDb>>) {
    let before = ctx.state();
    athena::register(ctx);
    geo::register(ctx, geo);
    // Trawl's own functions (added, or replacing DataFusion's) are given `Utf8` where the
    // engine reads views (text_views).
    let after = ctx.state();
    let mut ours = text_views::added(before.scalar_functions(), after.scalar_functions(), |f| {
        f.name().to_string()
    });
    ours.extend(text_views::added(
        before.aggregate_functions(),
        after.aggregate_functions(),
        |f| f.name().to_string(),
    ));
    datafusion::execution::FunctionRegistry::register_function_rewrite(
        ctx,
        Arc::new(text_views::ViewArgs { ours }),
    )
    .expect("a session accepts function rewrites");
}

/// How a session may use the machine.
#[derive(Debug, Clone, Default)]
pub struct EngineOptions {
    /// Bytes the session's operators may hold at once: sorts, aggregates and joins spill to
    /// disk beyond it, other operators fail with [`QueryError::Memory`]. `None`: half of the
    /// machine's memory ([`default_memory_limit`]).
    pub memory_limit: Option<usize>,
    /// Where spill files go (default: the system's temporary directory).
    pub spill_dir: Option<PathBuf>,
    /// Run the session's queries on a cluster (`trawl sql --cluster`).
    pub distributed: Option<Arc<dyn Distributed>>,
}

/// The default session memory limit: half of the machine's memory (4 GiB where it cannot be
/// read).
pub fn default_memory_limit() -> usize {
    let mut sys = sysinfo::System::new();
    sys.refresh_memory();
    match sys.total_memory() {
        0 => 4 << 30,
        total => usize::try_from(total / 2).unwrap_or(usize::MAX),
    }
}

/// DataFusion's physical optimisations with trawl's [`time_order::TimeOrderedFiles`] before
/// the late filter pushdown (which links a top-k's dynamic filter to the scan it reorders).
fn physical_rules() -> Vec<Arc<dyn PhysicalOptimizerRule + Send + Sync>> {
    let mut rules = PhysicalOptimizer::new().rules;
    let late = FilterPushdown::new_post_optimization();
    let late = rules
        .iter()
        .position(|r| r.name() == late.name())
        .unwrap_or(rules.len());
    rules.insert(late, Arc::new(time_order::TimeOrderedFiles));
    rules
}

/// Athena rewrites at the AST level (see [`athena::rewrite_statement`]).
fn rewrite_statement(stmt: &mut DFStatement) -> Result<(), QueryError> {
    match stmt {
        DFStatement::Statement(s) => athena::rewrite_statement(s).map_err(|e| match e {
            athena::Refused::Unsupported(why) => QueryError::Plan(why),
            internal @ athena::Refused::Internal { .. } => {
                QueryError::Internal(internal.to_string())
            }
        }),
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
    /// The physical plan that ran, with its metrics (what each scan read and pruned); `None`
    /// for DDL, which trawl runs itself.
    pub plan: Option<Arc<dyn ExecutionPlan>>,
    /// Wall time from planning to the last batch.
    pub elapsed: std::time::Duration,
}

/// One statement through the front end: Athena DDL (run by trawl), or plans for DataFusion.
enum Prepared {
    Ddl(athena::ddl::Ddl),
    Plans(Vec<datafusion::logical_expr::LogicalPlan>),
}

/// Stack of each thread that plans or runs queries. Planning recurses once per level of an
/// expression (DataFusion's planner and its expression printing, sqlparser's visitors): the
/// parser stops nesting at 50 levels and `athena` bounds operator chains at 1,000, and this
/// much stack holds the deepest of those in a debug build. It is address space: only the
/// pages a deep statement touches are ever committed.
pub const QUERY_STACK_BYTES: usize = 256 << 20;

/// A tokio runtime for queries: multi-threaded, I/O and timers on, [`QUERY_STACK_BYTES`] of
/// stack per thread. `trawl sql`, `report`, `serve` and `demo` run on one.
pub fn query_runtime() -> std::io::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .thread_stack_size(QUERY_STACK_BYTES)
        .build()
}

/// The first `n` rows of `batches` (zero-copy slices).
pub fn first_rows(batches: &[RecordBatch], n: usize) -> Vec<RecordBatch> {
    let mut left = n;
    let mut out = Vec::new();
    for b in batches {
        if left == 0 {
            break;
        }
        let take = b.num_rows().min(left);
        out.push(b.slice(0, take));
        left -= take;
    }
    out
}

/// A runtime for sessions: `pool` bounds their operators' memory, spills go to `spill_dir`
/// (the system's temporary directory if `None`).
fn runtime_env(
    pool: Arc<dyn MemoryPool>,
    spill_dir: Option<PathBuf>,
) -> Result<Arc<RuntimeEnv>, QueryError> {
    let disk = DiskManagerBuilder::default().with_mode(match spill_dir {
        Some(dir) => DiskManagerMode::Directories(vec![dir]),
        None => DiskManagerMode::OsTmpDirectory,
    });
    Ok(RuntimeEnvBuilder::new()
        .with_memory_pool(pool)
        .with_disk_manager_builder(disk)
        // The snapshot store lists from memory, and DataFusion's listing cache is keyed by
        // the table's path alone, which every session's table has.
        .with_object_list_cache_limit(0)
        .build_arc()?)
}

/// A DataFusion session over one committed snapshot of a lake.
pub struct QueryEngine {
    ctx: SessionContext,
    version: u64,
    layout: Layout,
    memory_limit: usize,
    /// The files the session reads.
    files: Arc<Vec<DataFile>>,
    /// The latest version of the snapshot that removed files (compaction): commits up to
    /// it may since have lost files, so partial answers of commit spans are of one such era.
    rewritten_at: u64,
    geo: Option<Arc<trawl_geo::GeoDb>>,
    runtime: Arc<RuntimeEnv>,
    /// Where the session's files are registered in `runtime` (taken out on drop).
    store_url: url::Url,
    spill_dir: Option<PathBuf>,
    distributed: Option<Arc<dyn Distributed>>,
    /// For a cluster's session: a session of this process, where [`Self::run_on`] merges
    /// batches held here.
    local: Option<SessionContext>,
}

impl Drop for QueryEngine {
    fn drop(&mut self) {
        let _ = self.runtime.deregister_object_store(&self.store_url);
    }
}

impl std::fmt::Debug for QueryEngine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("QueryEngine")
            .field("lake", &self.layout.root())
            .field("version", &self.version)
            .field("memory_limit", &self.memory_limit)
            .finish_non_exhaustive()
    }
}

impl QueryEngine {
    /// Opens the latest committed snapshot of `lake`, without geolocation.
    pub async fn open(lake: &Lake) -> Result<Self, QueryError> {
        Self::open_with_geo(lake, None).await
    }

    /// Opens the latest committed snapshot of `lake`; the `geoip_*` functions answer from
    /// `geo` (without it they say how to get a database).
    pub async fn open_with_geo(
        lake: &Lake,
        geo: Option<Arc<trawl_geo::GeoDb>>,
    ) -> Result<Self, QueryError> {
        Self::open_with_options(lake, geo, &EngineOptions::default()).await
    }

    /// [`Self::open_with_geo`], the session bounded by `options` (memory, spill directory).
    pub async fn open_with_options(
        lake: &Lake,
        geo: Option<Arc<trawl_geo::GeoDb>>,
        options: &EngineOptions,
    ) -> Result<Self, QueryError> {
        let snap = lake.table_snapshot()?;
        let memory_limit = options.memory_limit.unwrap_or_else(default_memory_limit);
        // Fair shares among the spilling operators; an error names the five biggest users.
        let pool = TrackConsumersPool::new(
            FairSpillPool::new(memory_limit),
            NonZeroUsize::new(5).expect("non-zero"),
        );
        let runtime = runtime_env(Arc::new(pool), options.spill_dir.clone())?;
        let mut engine = Self::open_files(
            lake.layout(),
            snap.version,
            Arc::new(snap.files),
            geo,
            runtime,
            EngineOptions {
                memory_limit: Some(memory_limit),
                ..options.clone()
            },
        )
        .await?;
        engine.rewritten_at = snap.rewritten_at;
        Ok(engine)
    }

    /// A session over `files` (a snapshot's, or some of them) at `version`, running in
    /// `runtime` (its memory pool and spill directory).
    async fn open_files(
        layout: Layout,
        version: u64,
        files: Arc<Vec<DataFile>>,
        geo: Option<Arc<trawl_geo::GeoDb>>,
        runtime: Arc<RuntimeEnv>,
        options: EngineOptions,
    ) -> Result<Self, QueryError> {
        let EngineOptions {
            memory_limit,
            spill_dir,
            distributed,
        } = options;
        let memory_limit = memory_limit.unwrap_or_else(default_memory_limit);
        let mut config = SessionConfig::new()
            .with_default_catalog_and_schema("awsdatacatalog", "default")
            .with_information_schema(true)
            // EXPLAIN ANALYZE shows rows, time, bytes and what each scan pruned, not every
            // developer counter (`SET datafusion.explain.analyze_level = 'dev'` for those).
            .set_str("datafusion.explain.analyze_level", "summary");
        let opts = config.options_mut();
        // Trino sorts NULLs last whatever the direction.
        opts.sql_parser.default_null_ordering = "nulls_last".to_string();
        // Trino reads `100.0` as DECIMAL(4,1), not a double (athena::decimal).
        opts.sql_parser.parse_float_as_decimal = true;
        opts.execution.parquet.pushdown_filters = true;
        opts.execution.parquet.reorder_filters = true;
        opts.execution.parquet.bloom_filter_on_read = true;
        // File-level min/max from Parquet footers prune whole files before row groups.
        opts.execution.collect_statistics = true;
        // Each sort keeps this much back to merge what it spilled (DataFusion: 10 MB): a
        // quarter of a partition's share of the limit, so a small limit still sorts.
        let share = memory_limit / (4 * opts.execution.target_partitions.max(1));
        opts.execution.sort_spill_reservation_bytes = share.clamp(64 << 10, 10 << 20);
        // Every session's results leave as plain text (text_views::TextOutput): built in,
        // as the session is made (a session rebuilt later re-registers its functions).
        let builder = |config: SessionConfig| {
            SessionStateBuilder::new()
                .with_config(config)
                .with_runtime_env(runtime.clone())
                .with_default_features()
                .with_physical_optimizer_rules(physical_rules())
                .with_physical_optimizer_rule(Arc::new(text_views::TextOutput))
        };
        // For a cluster's session: a session of this process, where [`Self::run_on`] merges
        // batches held here.
        let mut local = distributed
            .as_ref()
            .map(|_| SessionContext::new_with_state(builder(config.clone()).build()));
        let mut ctx = match &distributed {
            None => SessionContext::new_with_state(builder(config).build()),
            Some(d) => {
                let state = builder(d.configure(config)).build();
                SessionContext::new_with_state(d.upgrade(state)?)
            }
        };
        let lake =
            SnapshotStore::of_lake(&layout).map_err(|e| QueryError::Execution(e.to_string()))?;
        // Sessions over some of a snapshot's files share its runtime, whose registry maps
        // URLs to stores: each session lists its files under a host of its own.
        static NEXT_STORE: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
        let host = format!(
            "lake-{}",
            NEXT_STORE.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
        );
        let url = url::Url::parse(&format!("trawl://{host}/")).expect("a valid url");
        let table = CloudTrailTable::over(
            &url,
            lake,
            files.clone(),
            &runtime,
            true,
            Some(layout.root().to_path_buf()),
        )?;
        ctx.register_table(PHYSICAL_TABLE, Arc::new(table))?;
        // After the session is made: a cluster's session starts from the cluster's defaults.
        register_functions(&mut ctx, geo.clone());
        if let Some(local) = &mut local {
            register_functions(local, geo.clone());
        }
        ctx.sql(&format!(
            "CREATE VIEW {BASE_VIEW} AS {}",
            athena_view_select(PHYSICAL_TABLE)
        ))
        .await?;
        ctx.sql(&format!("CREATE VIEW {TABLE} AS SELECT * FROM {BASE_VIEW}"))
            .await?;
        let engine = Self {
            ctx,
            version,
            layout,
            memory_limit,
            files,
            rewritten_at: 0,
            geo,
            runtime,
            store_url: url,
            spill_dir,
            distributed,
            local,
        };
        for def in Catalog::load(&engine.layout)?.tables {
            engine.register(&def).await?;
        }
        Ok(engine)
    }

    /// A session over the files of this snapshot that commits `first..=last` added, in the
    /// same memory pool: what a cached partial answer of those commits is computed from.
    pub async fn commits(&self, first: u64, last: u64) -> Result<QueryEngine, QueryError> {
        let files: Vec<DataFile> = self
            .files
            .iter()
            .filter(|f| (first..=last).contains(&f.committed))
            .cloned()
            .collect();
        self.sibling(self.layout.clone(), last.min(self.version), files)
            .await
    }

    /// A session over the lake's latest snapshot in this one's runtime: the same memory
    /// pool, and the footers and statistics already read (a file never changes), so a
    /// server that follows commits reads only the new files'.
    pub async fn reopen(&self, lake: &Lake) -> Result<QueryEngine, QueryError> {
        let snap = lake.table_snapshot()?;
        let mut engine = self
            .sibling(lake.layout(), snap.version, snap.files)
            .await?;
        engine.rewritten_at = snap.rewritten_at;
        Ok(engine)
    }

    /// A session over `files` in this one's runtime, with its geolocation and limits.
    async fn sibling(
        &self,
        layout: Layout,
        version: u64,
        files: Vec<DataFile>,
    ) -> Result<QueryEngine, QueryError> {
        Self::open_files(
            layout,
            version,
            Arc::new(files),
            self.geo.clone(),
            self.runtime.clone(),
            EngineOptions {
                memory_limit: Some(self.memory_limit),
                spill_dir: self.spill_dir.clone(),
                distributed: self.distributed.clone(),
            },
        )
        .await
    }

    /// Runs one query of `sql` over `batches`, which it reads as the table `{partial}`:
    /// merging partial answers with the session's functions and semantics.
    pub async fn run_on(
        &self,
        sql: &str,
        schema: SchemaRef,
        batches: Vec<RecordBatch>,
    ) -> Result<StatementResult, QueryError> {
        static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
        let name = format!(
            "trawl_partial_{}",
            NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
        );
        let table = datafusion::datasource::MemTable::try_new(schema, vec![batches])?;
        // Batches in memory are this process's: a cluster's session merges them here.
        let ctx = self.local.as_ref().unwrap_or(&self.ctx);
        ctx.register_table(name.as_str(), Arc::new(table))?;
        let result = self
            .run_statements(ctx, &sql.replace("{partial}", &name), None)
            .await
            .map_err(|e| self.with_limit(e));
        ctx.deregister_table(name.as_str())?;
        result?
            .pop()
            .map(|(r, _)| r)
            .ok_or_else(|| QueryError::Plan("no statement".into()))
    }

    /// Registers a table declared with DDL as a view over the lake: its declared columns
    /// (NULL where the lake has no such column) and its partition columns mapped onto the
    /// lake's (see [`athena::ddl::partition_expr`]), so predicates on them prune.
    async fn register(&self, def: &TableDef) -> Result<(), QueryError> {
        let base = self.ctx.table(BASE_VIEW).await?;
        let have: Vec<String> = base
            .schema()
            .fields()
            .iter()
            .map(|f| f.name().clone())
            .collect();
        let mut select: Vec<String> = def
            .columns
            .iter()
            .map(|c| {
                if have.contains(c) {
                    format!("\"{c}\"")
                } else {
                    format!("CAST(NULL AS VARCHAR) AS \"{c}\"")
                }
            })
            .collect();
        if select.is_empty() {
            select.push("*".to_string());
        }
        for p in &def.partitions {
            select.push(format!(
                "{} AS \"{p}\"",
                athena::ddl::partition_expr(p, &def.properties)
            ));
        }
        self.ctx
            .sql(&format!("CREATE SCHEMA IF NOT EXISTS \"{}\"", def.schema))
            .await?;
        let view = format!(
            "CREATE OR REPLACE VIEW \"{}\".\"{}\" AS SELECT {} FROM {BASE_VIEW}",
            def.schema,
            def.name,
            select.join(", ")
        );
        self.ctx.sql(&view).await?;
        Ok(())
    }

    /// Runs an Athena DDL statement against the lake's catalog.
    async fn run_ddl(&self, sql: &str, ddl: Ddl) -> Result<StatementResult, QueryError> {
        let empty = || StatementResult {
            sql: sql.to_string(),
            schema: Arc::new(Schema::empty()),
            batches: vec![],
            plan: None,
            elapsed: std::time::Duration::ZERO,
        };
        let mut catalog = Catalog::load(&self.layout)?;
        match ddl {
            Ddl::NoOp { .. } => Ok(empty()),
            Ddl::Create { def, if_not_exists } => {
                if if_not_exists && catalog.get(&def.schema, &def.name).is_some() {
                    return Ok(empty());
                }
                self.register(&def).await?;
                catalog.put(def);
                catalog.save(&self.layout)?;
                Ok(empty())
            }
            Ddl::Drop {
                schema,
                name,
                if_exists,
            } => {
                if !catalog.remove(&schema, &name) {
                    if if_exists {
                        return Ok(empty());
                    }
                    let known: Vec<String> = catalog
                        .tables
                        .iter()
                        .map(|t| format!("{}.{}", t.schema, t.name))
                        .collect();
                    return Err(QueryError::Plan(format!(
                        "table {schema}.{name} was not created with DDL, so it cannot be dropped; DDL tables: [{}]",
                        known.join(", ")
                    )));
                }
                catalog.save(&self.layout)?;
                self.ctx
                    .deregister_table(TableReference::partial(schema.as_str(), name.as_str()))?;
                if schema == "default" && name == TABLE {
                    self.ctx
                        .sql(&format!("CREATE VIEW {TABLE} AS SELECT * FROM {BASE_VIEW}"))
                        .await?;
                }
                Ok(empty())
            }
            Ddl::ShowCreate { schema, name } => {
                let ddl = match catalog.get(&schema, &name) {
                    Some(def) => def.ddl.clone(),
                    None if name == TABLE => format!(
                        "CREATE VIEW {TABLE} AS {}",
                        athena_view_select(PHYSICAL_TABLE)
                    ),
                    None => {
                        return Err(QueryError::Plan(format!(
                            "no table {schema}.{name} in the lake's catalog"
                        )));
                    }
                };
                let schema = Arc::new(Schema::new(vec![Field::new(
                    "createtab_stmt",
                    DataType::Utf8,
                    false,
                )]));
                let batch = RecordBatch::try_new(
                    schema.clone(),
                    vec![Arc::new(StringArray::from(vec![ddl]))],
                )
                .map_err(|e| QueryError::Internal(e.to_string()))?;
                Ok(StatementResult {
                    sql: sql.to_string(),
                    schema,
                    batches: vec![batch],
                    plan: None,
                    elapsed: std::time::Duration::ZERO,
                })
            }
        }
    }

    /// The files this session reads (its snapshot's, or the commits' it was opened over).
    pub fn files(&self) -> &[DataFile] {
        &self.files
    }

    /// The lake version this engine reads.
    pub fn version(&self) -> u64 {
        self.version
    }

    /// The latest version up to this engine's that removed files (0 if none did): the lake
    /// only grew by commits since.
    pub fn rewritten_at(&self) -> u64 {
        self.rewritten_at
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
            // Lambda functions (filter, transform ...) are called like scalars.
            sorted(
                state
                    .scalar_functions()
                    .keys()
                    .chain(state.higher_order_functions().keys())
                    .cloned()
                    .collect(),
            ),
            sorted(state.aggregate_functions().keys().cloned().collect()),
            sorted(state.window_functions().keys().cloned().collect()),
        )
    }

    /// Runs the statements of `sql` for a reader who may not change anything (the web
    /// console): queries, EXPLAIN, SHOW and DESCRIBE only. DDL (Athena's included), DML,
    /// `COPY` and `SET` fail before they run. Each result keeps at most `max_rows` rows; the
    /// flag says whether rows were cut.
    pub async fn run_read_only(
        &self,
        sql: &str,
        max_rows: usize,
    ) -> Result<Vec<(StatementResult, bool)>, QueryError> {
        self.run_statements(&self.ctx, sql, Some(max_rows))
            .await
            .map_err(|e| self.with_limit(e))
    }

    /// The session's memory limit, in bytes.
    pub fn memory_limit(&self) -> usize {
        self.memory_limit
    }

    /// A memory error, told the session's limit; a cluster's error, readable.
    fn with_limit(&self, e: QueryError) -> QueryError {
        let e = match (&self.distributed, e) {
            (Some(d), QueryError::Execution(m)) => QueryError::Execution(d.error_text(&m)),
            (Some(d), QueryError::Plan(m)) => QueryError::Plan(d.error_text(&m)),
            (_, e) => e,
        };
        match e {
            QueryError::Memory { message, .. } => QueryError::Memory {
                message,
                limit: Some(self.memory_limit),
            },
            other => other,
        }
    }

    /// Runs every statement of `sql` (separated by `;`, comments allowed) in order.
    pub async fn run(&self, sql: &str) -> Result<Vec<StatementResult>, QueryError> {
        let results = self
            .run_statements(&self.ctx, sql, None)
            .await
            .map_err(|e| self.with_limit(e))?;
        Ok(results.into_iter().map(|(r, _)| r).collect())
    }

    /// The SQL front end for one statement's text: an Athena DDL statement is parsed;
    /// anything else goes through the Athena text passes, the parser, the AST rewrites
    /// (lambdas, UNNEST, types, functions) and DataFusion's planner. Nothing runs.
    async fn prepare(&self, ctx: &SessionContext, text: &str) -> Result<Prepared, QueryError> {
        if let Some(ddl) = athena::ddl::parse_ddl(text).map_err(QueryError::Plan)? {
            return Ok(Prepared::Ddl(ddl));
        }
        let folded = athena::mark_lambdas(&athena::angle_bracket_types(
            &athena::trim_without_characters(&athena::parenthesize_values(
                &athena::fold_quoted_identifiers(text),
            )),
        ));
        check_nesting(&folded)?;
        let mut plans = Vec::new();
        for mut stmt in DFParser::parse_sql_with_dialect(&folded, &GenericDialect {})? {
            rewrite_statement(&mut stmt)?;
            plans.push(ctx.state().statement_to_plan(stmt).await?);
        }
        Ok(Prepared::Plans(plans))
    }

    /// Plans and optimises every statement of `sql` without running any (the target of the
    /// SQL front end's fuzzer, `fuzz/fuzz_targets/sql.rs`); DDL is parsed only. Any input
    /// ends in plans or an error.
    pub async fn plan_only(&self, sql: &str) -> Result<usize, QueryError> {
        let mut planned = 0;
        for text in athena::ddl::split_statements(sql) {
            if let Prepared::Plans(plans) = self.prepare(&self.ctx, &text).await? {
                for plan in plans {
                    self.ctx.state().optimize(&plan)?;
                    planned += 1;
                }
            }
        }
        Ok(planned)
    }
}
