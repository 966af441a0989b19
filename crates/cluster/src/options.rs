//! Where the lake is, as the query's settings carry it to every node, and the client side
//! of a cluster session.

use std::any::Any;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use ballista_core::config::BALLISTA_SCHEDULER_SHARE_FILE_STATISTICS_CACHE;
use ballista_core::extension::{SessionConfigExt, SessionStateExt};
use datafusion::config::{ConfigEntry, ConfigExtension, ExtensionOptions};
use datafusion::error::{DataFusionError, Result};
use datafusion::execution::SessionState;
use datafusion::execution::session_state::SessionStateBuilder;
use datafusion::prelude::SessionConfig;
use object_store::ObjectStore;
use object_store::local::LocalFileSystem;

use crate::ClusterError;
use crate::codec::LakeCodec;

/// The lake a query reads: set by the client, read by the scheduler and the executors
/// (settings `trawl.location`, `trawl.endpoint_url`, `trawl.profile`).
#[derive(Debug, Clone, Default)]
pub struct LakeOptions {
    /// The lake's directory (the same absolute path on every node), or `s3://bucket/prefix`.
    pub location: String,
    /// For a lake in S3: an S3-compatible endpoint (MinIO, LocalStack...).
    pub endpoint_url: String,
    /// For a lake in S3: the named AWS profile each node uses (default: its standard
    /// credential chain).
    pub profile: String,
}

impl ExtensionOptions for LakeOptions {
    fn as_any(&self) -> &dyn Any {
        self
    }

    fn as_any_mut(&mut self) -> &mut dyn Any {
        self
    }

    fn cloned(&self) -> Box<dyn ExtensionOptions> {
        Box::new(self.clone())
    }

    fn set(&mut self, key: &str, value: &str) -> Result<()> {
        let field = match key {
            "location" => &mut self.location,
            "endpoint_url" => &mut self.endpoint_url,
            "profile" => &mut self.profile,
            other => {
                return Err(DataFusionError::Configuration(format!(
                    "no setting trawl.{other}: the settings are trawl.location, trawl.endpoint_url and trawl.profile"
                )));
            }
        };
        *field = value.to_string();
        Ok(())
    }

    /// With their prefix: Ballista sends a session's settings to the scheduler as these
    /// keys, and the scheduler sets them back by key.
    fn entries(&self) -> Vec<ConfigEntry> {
        [
            (
                "location",
                &self.location,
                "the lake's directory or s3:// URL",
            ),
            (
                "endpoint_url",
                &self.endpoint_url,
                "an S3-compatible endpoint",
            ),
            ("profile", &self.profile, "the AWS profile"),
        ]
        .into_iter()
        .map(|(key, value, description)| ConfigEntry {
            key: format!("{}.{key}", Self::PREFIX),
            value: Some(value.clone()),
            description,
        })
        .collect()
    }
}

impl ConfigExtension for LakeOptions {
    const PREFIX: &'static str = "trawl";
}

/// A lake's location, endpoint and profile.
type LakeKey = (String, String, String);

/// The stores of the lakes a process's queries read, made once per lake.
#[derive(Debug, Default)]
pub(crate) struct Stores {
    made: Mutex<HashMap<LakeKey, Arc<dyn ObjectStore>>>,
}

impl Stores {
    /// The store of the lake `options` name, rooted at the lake.
    pub(crate) fn of(&self, options: &LakeOptions) -> Result<Arc<dyn ObjectStore>> {
        let key = (
            options.location.clone(),
            options.endpoint_url.clone(),
            options.profile.clone(),
        );
        if let Some(store) = self.made.lock().expect("stores").get(&key) {
            return Ok(store.clone());
        }
        let store = make_store(options)?;
        self.made.lock().expect("stores").insert(key, store.clone());
        Ok(store)
    }
}

fn make_store(options: &LakeOptions) -> Result<Arc<dyn ObjectStore>> {
    let location = options.location.as_str();
    if location.is_empty() {
        return Err(DataFusionError::Configuration(
            "the query names no lake (trawl.location is not set): run it with `trawl sql --cluster`"
                .into(),
        ));
    }
    match trawl_s3::S3Url::parse(location) {
        None => {
            let dir = std::path::Path::new(location);
            if !dir.is_dir() {
                return Err(DataFusionError::Configuration(format!(
                    "the lake {location} is not a directory on this node: every node of a cluster reads a local lake at the same path (a shared filesystem), or put the lake in S3 (--lake s3://bucket/prefix)"
                )));
            }
            Ok(Arc::new(LocalFileSystem::new_with_prefix(dir)?))
        }
        Some(url) => {
            let url = url.map_err(|e| DataFusionError::Configuration(e.to_string()))?;
            let s3 = trawl_s3::S3Options {
                endpoint_url: Some(options.endpoint_url.clone()).filter(|e| !e.is_empty()),
                profile: Some(options.profile.clone()).filter(|p| !p.is_empty()),
                ..trawl_s3::S3Options::default()
            };
            // The S3 set-up runs a runtime of its own: not on one of this process's workers.
            std::thread::scope(|s| {
                s.spawn(|| trawl_s3::lake_store(&url, &s3))
                    .join()
                    .expect("the S3 set-up does not panic")
            })
            .map_err(|e| DataFusionError::External(Box::new(e)))
        }
    }
}

/// A session of `trawl sql --cluster`: planned here, run by the scheduler at `url`.
#[derive(Debug)]
pub struct Cluster {
    scheduler: String,
    lake: LakeOptions,
}

impl Cluster {
    /// The cluster whose scheduler is at `address` (`df://HOST:PORT` or `HOST:PORT`), reading
    /// the lake `lake` names.
    pub fn new(address: &str, lake: LakeOptions) -> Result<Self, ClusterError> {
        Ok(Self {
            scheduler: scheduler_url(address)?,
            lake,
        })
    }
}

/// `df://HOST:PORT` (or `HOST:PORT`) as the `http://HOST:PORT` Ballista's client connects to.
pub(crate) fn scheduler_url(address: &str) -> Result<String, ClusterError> {
    let bad = || ClusterError::BadAddress {
        text: address.to_string(),
    };
    let rest = address.strip_prefix("df://").unwrap_or(address);
    let rest = rest.trim_end_matches('/');
    let (host, port) = rest.rsplit_once(':').ok_or_else(bad)?;
    if host.is_empty() || host.contains('/') || port.parse::<u16>().is_err() {
        return Err(bad());
    }
    Ok(format!("http://{host}:{port}"))
}

/// Optimiser rules a client does not run (see [`Cluster::upgrade`]): the scheduler runs
/// them. The first two pull nested-field reads into internal columns, and some plans they
/// make do not survive the trip (a `count(DISTINCT ..)` failed to decode); the others turn
/// a part that can have no rows into an empty relation, which travels without its columns.
const LEFT_TO_THE_SCHEDULER: [&str; 5] = [
    "extract_leaf_expressions",
    "push_down_leaf_projections",
    "eliminate_filter",
    "eliminate_limit",
    "propagate_empty_relation",
];

impl trawl_query::Distributed for Cluster {
    fn configure(&self, config: SessionConfig) -> SessionConfig {
        // A scheduler that shares statistics between sessions rebuilds each session after its
        // builder made it (`SessionStateBuilder::new_from_existing`), which registers the
        // functions again in no fixed order: a DataFusion function that trawl's replaces
        // under one of its names (DataFusion's `strpos` under `strpos`, `array_to_string`
        // under `array_join`) could take the name back.
        let config = config
            .upgrade_for_ballista()
            .set_bool(BALLISTA_SCHEDULER_SHARE_FILE_STATISTICS_CACHE, false);
        config
            .with_option_extension(self.lake.clone())
            .with_ballista_logical_extension_codec(Arc::new(LakeCodec::default()))
            .with_ballista_physical_extension_codec(Arc::new(crate::PlanCodec::default()))
    }

    fn error_text(&self, message: &str) -> String {
        if message.contains("tonic::transport::Error") {
            return format!(
                "cannot reach the cluster's scheduler at {} ({}): start it with `trawl cluster scheduler`, or correct --cluster",
                self.scheduler,
                crate::errors::transport_cause(message)
            );
        }
        crate::errors::readable(message)
    }

    fn upgrade(&self, state: SessionState) -> Result<SessionState> {
        let state = state.upgrade_for_ballista(self.scheduler.clone())?;
        // The scheduler optimises the plan it receives again: some rules are left to it.
        // Decorrelating subqueries must stay: a plan with a subquery cannot be sent at all.
        let rules = state
            .optimizers()
            .iter()
            .filter(|r| !LEFT_TO_THE_SCHEDULER.contains(&r.name()))
            .cloned()
            .collect();
        Ok(SessionStateBuilder::new_from_existing(state)
            .with_optimizer_rules(rules)
            .build())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scheduler_addresses() {
        assert_eq!(
            scheduler_url("df://127.0.0.1:50050").unwrap(),
            "http://127.0.0.1:50050"
        );
        assert_eq!(scheduler_url("node-1:7000/").unwrap(), "http://node-1:7000");
        for bad in ["df://host", "df://:50", "http://a/b:1", "df://h:port", ""] {
            let e = scheduler_url(bad).unwrap_err().to_string();
            assert!(e.contains("df://HOST:PORT") && e.contains(bad), "{e}");
        }
    }
}
