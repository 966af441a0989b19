//! `trawl cluster scheduler|executor`: Ballista's processes with trawl's functions, table
//! codec and lake stores (crates/cluster), and `--cluster` for the commands that query.

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::Context;
use clap::{Args, Subcommand};
use trawl_lake::Lake;

use crate::args::{GeoArg, S3Arg};

#[derive(Debug, Args)]
pub(crate) struct ClusterArgs {
    #[command(subcommand)]
    pub role: Role,
}

#[derive(Debug, Subcommand)]
pub(crate) enum Role {
    /// Run a scheduler: clients (`trawl sql --cluster df://HOST:PORT`) send it queries, it
    /// plans their stages and hands them to the executors.
    Scheduler(SchedulerArgs),
    /// Run an executor: it registers with the scheduler, runs the tasks it is given and
    /// reads the lake's files (the same directory on every node, or the lake's bucket).
    Executor(ExecutorArgs),
}

#[derive(Debug, Args)]
pub(crate) struct SchedulerArgs {
    /// Where to listen for clients and executors.
    #[arg(long, value_name = "HOST:PORT", default_value = "127.0.0.1:50050")]
    pub bind: std::net::SocketAddr,
    /// The name executors and clients reach this scheduler by (default: the bind address).
    #[arg(long, value_name = "HOST")]
    pub external_host: Option<String>,
    /// Seconds without a heartbeat after which an executor is taken for dead and its tasks
    /// are run again elsewhere.
    #[arg(long, value_name = "SECONDS", default_value_t = 180)]
    pub executor_timeout: u64,
    #[command(flatten)]
    pub geo: GeoArg,
}

#[derive(Debug, Args)]
pub(crate) struct ExecutorArgs {
    /// The scheduler, as `trawl cluster scheduler --bind` gave it.
    #[arg(long, value_name = "HOST:PORT")]
    pub scheduler: String,
    /// The address to listen on.
    #[arg(long, value_name = "HOST", default_value = "127.0.0.1")]
    pub bind: String,
    /// The Arrow Flight port (results and shuffles are fetched from it).
    #[arg(long, default_value_t = 50051)]
    pub port: u16,
    /// The port the scheduler sends tasks to.
    #[arg(long, default_value_t = 50052)]
    pub grpc_port: u16,
    /// The name the scheduler and other executors reach this one by (default: --bind).
    #[arg(long, value_name = "HOST")]
    pub external_host: Option<String>,
    /// Tasks run at once (default: the machine's cores).
    #[arg(long, value_name = "N", default_value_t = 0)]
    pub slots: usize,
    /// Where shuffle files and spills go (default: a temporary directory, removed at exit).
    #[arg(long, value_name = "DIR")]
    pub work_dir: Option<PathBuf>,
    /// Memory the executor's tasks may hold together (e.g. 8GiB); each task gets an equal
    /// share and spills beyond it. Default: Ballista's share of the machine's memory.
    #[arg(long, value_name = "SIZE")]
    pub memory_limit: Option<bytesize::ByteSize>,
    /// Seconds between heartbeats to the scheduler.
    #[arg(long, value_name = "SECONDS", default_value_t = 5)]
    pub heartbeat: u64,
    #[command(flatten)]
    pub geo: GeoArg,
}

/// `--cluster`, on the subcommands that may run their queries on a cluster.
#[derive(Debug, Args)]
pub(crate) struct ClusterArg {
    /// Run the queries on a Ballista cluster of `trawl cluster` processes: the scheduler's
    /// address (df://HOST:PORT). Every node reads the lake itself: a directory at the same
    /// path on every node, or the lake's bucket.
    #[arg(long, value_name = "df://HOST:PORT", env = "TRAWL_CLUSTER")]
    pub cluster: Option<String>,
}

impl ClusterArg {
    /// What a session needs to run on the cluster, if one is named: where `lake` is.
    pub(crate) fn distributed(
        &self,
        lake: &Lake,
        s3: &S3Arg,
    ) -> anyhow::Result<Option<Arc<dyn trawl_query::Distributed>>> {
        let Some(address) = &self.cluster else {
            return Ok(None);
        };
        let location = match lake.remote() {
            Some(remote) => remote.url().to_string(),
            None => std::path::absolute(lake.root())
                .with_context(|| format!("the lake {}", lake.root().display()))?
                .to_string_lossy()
                .into_owned(),
        };
        let options = trawl_cluster::LakeOptions {
            location,
            endpoint_url: s3.endpoint_url.clone().unwrap_or_default(),
            profile: s3.profile.clone().unwrap_or_default(),
        };
        Ok(Some(Arc::new(trawl_cluster::Cluster::new(
            address, options,
        )?)))
    }
}

pub(crate) fn run(a: &ClusterArgs) -> anyhow::Result<ExitCode> {
    let rt = trawl_query::query_runtime().context("starting the runtime")?;
    match &a.role {
        Role::Scheduler(s) => {
            let geo = crate::geo(&s.geo.geoip)?;
            let options = trawl_cluster::SchedulerOptions {
                bind: s.bind,
                external_host: s.external_host.clone(),
                executor_timeout_seconds: s.executor_timeout,
                geo,
            };
            tracing::info!(bind = %s.bind, "scheduler starting");
            rt.block_on(trawl_cluster::run_scheduler(options))?;
        }
        Role::Executor(e) => {
            let geo = crate::geo(&e.geo.geoip)?;
            let scheduler = e.scheduler.strip_prefix("df://").unwrap_or(&e.scheduler);
            let (host, port) = scheduler
                .rsplit_once(':')
                .and_then(|(h, p)| Some((h.to_string(), p.parse::<u16>().ok()?)))
                .with_context(|| format!("--scheduler {}: write HOST:PORT", e.scheduler))?;
            let options = trawl_cluster::ExecutorOptions {
                scheduler: (host, port),
                bind_host: e.bind.clone(),
                port: e.port,
                grpc_port: e.grpc_port,
                external_host: e.external_host.clone(),
                slots: e.slots,
                work_dir: e.work_dir.clone(),
                memory: e.memory_limit.map(|m| m.as_u64()),
                heartbeat_seconds: e.heartbeat.max(1),
                geo,
            };
            rt.block_on(trawl_cluster::run_executor(options))?;
        }
    }
    Ok(ExitCode::SUCCESS)
}
