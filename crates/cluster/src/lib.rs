//! trawl's queries on Apache DataFusion Ballista 55 (the release on DataFusion 55).
//!
//! Ballista cannot load functions at run time: its documented way to add them is custom
//! scheduler and executor processes. So trawl is those processes itself:
//! `trawl cluster scheduler` and `trawl cluster executor` run Ballista's with every trawl
//! function registered, the lake's table codec, and the lake's object store.
//!
//! A query goes like this:
//! - the client (`trawl sql --cluster df://HOST:PORT`) parses and rewrites the Athena SQL and
//!   plans it against one committed snapshot of the lake, as locally;
//! - [`LakeCodec`] sends the events table to the scheduler as the list of the snapshot's
//!   files, and [`LakeOptions`] (in the query's settings) says where the lake is;
//! - the scheduler rebuilds the same table over the same files (partition pruning and file
//!   statistics as locally), plans the stages and hands them to the executors;
//! - the executors read the files from the lake's store: the same directory on every node,
//!   or the lake's bucket through the node's AWS credential chain.
//!
//! A reader on the cluster therefore sees exactly the files of the commit the client read,
//! never a file of a commit in progress.

mod builtins;
mod codec;
mod errors;
mod node;
mod options;

pub use codec::{LakeCodec, PlanCodec};
pub use node::{ExecutorOptions, SchedulerOptions, run_executor, run_scheduler};
pub use options::{Cluster, LakeOptions};

/// Errors of the cluster's processes.
#[derive(Debug, thiserror::Error)]
pub enum ClusterError {
    /// `--cluster` or `--scheduler` is not `df://HOST:PORT` (or `HOST:PORT`).
    #[error("{text:?} is not a scheduler address: write df://HOST:PORT (or HOST:PORT)")]
    BadAddress { text: String },
    /// Ballista stopped the process.
    #[error("{role}: {message}")]
    Ballista { role: &'static str, message: String },
}
