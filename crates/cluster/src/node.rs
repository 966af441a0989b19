//! The scheduler and executor processes: Ballista's, with every trawl function, the lake's
//! table codec, and the lake's object store.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use ballista_core::registry::BallistaFunctionRegistry;
use ballista_core::utils::default_config_producer;
use ballista_core::{ConfigProducer, RuntimeProducer};
use ballista_executor::executor_process::{ExecutorProcessConfig, start_executor_process};
use ballista_scheduler::SessionBuilder;
use ballista_scheduler::cluster::BallistaCluster;
use ballista_scheduler::config::SchedulerConfig;
use ballista_scheduler::scheduler_process::start_server;
use datafusion::execution::runtime_env::RuntimeEnvBuilder;
use datafusion::execution::session_state::SessionStateBuilder;
use datafusion::prelude::{SessionConfig, SessionContext};

use crate::ClusterError;
use crate::codec::{LAKE_URL, LakeCodec, PlanCodec};
use crate::options::{LakeOptions, Stores};

/// How a scheduler runs.
#[derive(Debug, Clone)]
pub struct SchedulerOptions {
    /// Where it listens for clients and executors.
    pub bind: SocketAddr,
    /// The name executors and clients reach it by (default: the bind address).
    pub external_host: Option<String>,
    /// Seconds without a heartbeat after which an executor is taken for dead and its tasks
    /// run elsewhere.
    pub executor_timeout_seconds: u64,
    /// For constant `geoip_*` calls folded while planning.
    pub geo: Option<Arc<trawl_geo::GeoDb>>,
}

/// How an executor runs.
#[derive(Debug, Clone)]
pub struct ExecutorOptions {
    /// The scheduler, `HOST:PORT`.
    pub scheduler: (String, u16),
    /// The address it listens on: the Arrow Flight port (results and shuffles) is `port`,
    /// the port the scheduler sends tasks to is `grpc_port`.
    pub bind_host: String,
    pub port: u16,
    pub grpc_port: u16,
    /// The name the scheduler and the other executors reach it by (default: the bind host).
    pub external_host: Option<String>,
    /// Tasks it runs at once (default: the machine's cores).
    pub slots: usize,
    /// Where shuffle files and spills go (default: a temporary directory).
    pub work_dir: Option<PathBuf>,
    /// Memory its tasks may hold together, in bytes (default: Ballista's share of the
    /// machine's memory); each task gets an equal share, and spills beyond it.
    pub memory: Option<u64>,
    /// Seconds between heartbeats to the scheduler.
    pub heartbeat_seconds: u64,
    /// For the `geoip_*` functions.
    pub geo: Option<Arc<trawl_geo::GeoDb>>,
}

/// Configurations of every node: Ballista's, plus where the query's lake is.
fn config_producer() -> ConfigProducer {
    Arc::new(|| default_config_producer().with_option_extension(LakeOptions::default()))
}

fn ballista(role: &'static str) -> impl Fn(ballista_core::error::BallistaError) -> ClusterError {
    move |e| ClusterError::Ballista {
        role,
        message: e.to_string(),
    }
}

/// Runs a scheduler until the process ends.
pub async fn run_scheduler(options: SchedulerOptions) -> Result<(), ClusterError> {
    let geo = options.geo.clone();
    // A session per job, with a runtime of its own: the job's table registers the store
    // that lists the files of the client's snapshot in it.
    let session_builder: SessionBuilder = Arc::new(move |config: SessionConfig| {
        let runtime = RuntimeEnvBuilder::new().build_arc()?;
        let state = SessionStateBuilder::new()
            .with_config(config)
            .with_runtime_env(runtime)
            .with_default_features()
            .build();
        // Ballista's rules, which a client's session has: clients send plans unoptimised.
        let rules = ballista_core::optimizer::with_ballista_optimizer_rules(state.optimizers());
        let state = SessionStateBuilder::new_from_existing(state)
            .with_optimizer_rules(rules)
            .build();
        let mut ctx = SessionContext::new_with_state(state);
        trawl_query::register_functions(&mut ctx, geo.clone());
        Ok(ctx.state())
    });
    let mut config = SchedulerConfig {
        bind_host: options.bind.ip().to_string(),
        bind_port: options.bind.port(),
        external_host: options
            .external_host
            .clone()
            .unwrap_or_else(|| options.bind.ip().to_string()),
        executor_timeout_seconds: options.executor_timeout_seconds,
        ..SchedulerConfig::default()
    };
    config.no_executors_grace_period_seconds = config
        .no_executors_grace_period_seconds
        .min(options.executor_timeout_seconds);
    // Checked a few times per timeout, so that a dead executor is noticed within it.
    config.expire_dead_executor_interval_seconds = config
        .expire_dead_executor_interval_seconds
        .min((options.executor_timeout_seconds / 3).max(1));
    config.override_session_builder = Some(session_builder);
    config.override_config_producer = Some(config_producer());
    config.override_logical_codec = Some(Arc::new(LakeCodec::with_stores(Arc::default())));
    config.override_physical_codec = Some(Arc::new(PlanCodec::default()));
    let cluster = BallistaCluster::new_from_config(&config)
        .await
        .map_err(ballista("scheduler"))?;
    start_server(cluster, options.bind, Arc::new(config))
        .await
        .map_err(ballista("scheduler"))
}

/// Runs an executor until the process ends.
pub async fn run_executor(options: ExecutorOptions) -> Result<(), ClusterError> {
    let mut ctx = SessionContext::new();
    trawl_query::register_functions(&mut ctx, options.geo.clone());
    let registry = BallistaFunctionRegistry::from(&ctx.state());
    let (work_dir, _temporary) = match &options.work_dir {
        Some(dir) => {
            std::fs::create_dir_all(dir).map_err(|e| ClusterError::Ballista {
                role: "executor",
                message: format!("creating the work directory {}: {e}", dir.display()),
            })?;
            (dir.clone(), None)
        }
        None => {
            let dir = tempfile::Builder::new()
                .prefix("trawl-executor-")
                .tempdir()
                .map_err(|e| ClusterError::Ballista {
                    role: "executor",
                    message: format!("creating a work directory: {e}"),
                })?;
            (dir.path().to_path_buf(), Some(dir))
        }
    };
    let stores = Arc::new(Stores::default());
    let spill = work_dir.clone();
    // Every task's runtime reads the lake its query names through one store per lake.
    let runtime_producer: RuntimeProducer = Arc::new(move |config: &SessionConfig| {
        let runtime = RuntimeEnvBuilder::new()
            .with_temp_file_path(spill.clone())
            .build()?;
        if let Some(lake) = config.options().extensions.get::<LakeOptions>()
            && !lake.location.is_empty()
        {
            let url = url::Url::parse(LAKE_URL).expect("a valid url");
            runtime.register_object_store(&url, stores.of(lake)?);
        }
        Ok(Arc::new(runtime))
    });
    let config = ExecutorProcessConfig {
        bind_host: options.bind_host.clone(),
        external_host: Some(
            options
                .external_host
                .clone()
                .unwrap_or_else(|| options.bind_host.clone()),
        ),
        port: options.port,
        grpc_port: options.grpc_port,
        scheduler_host: options.scheduler.0.clone(),
        scheduler_port: options.scheduler.1,
        scheduler_connect_timeout_seconds: 30,
        vcores: options.slots,
        work_dir: Some(work_dir.to_string_lossy().into_owned()),
        memory_pool_size: options.memory,
        executor_heartbeat_interval_seconds: options.heartbeat_seconds,
        override_function_registry: Some(Arc::new(registry)),
        override_runtime_producer: Some(runtime_producer),
        override_config_producer: Some(config_producer()),
        override_logical_codec: Some(Arc::new(LakeCodec::with_stores(Arc::default()))),
        override_physical_codec: Some(Arc::new(PlanCodec::default())),
        ..ExecutorProcessConfig::default()
    };
    start_executor_process(Arc::new(config))
        .await
        .map_err(ballista("executor"))
}
