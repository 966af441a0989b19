//! CloudTrail straight from S3.
//!
//! [`S3Source::walk`] walks the CloudTrail key layout
//! (`[prefix/]AWSLogs/[o-…/]ACCOUNT/CloudTrail[-Digest|-Insight]/REGION/YYYY/MM/DD/`) with
//! delimiter listings, listing only the accounts, regions and delivery days asked for, and
//! hands the objects out as the run consumes them, in delivery order, never holding the
//! listing whole;
//! [`S3Source`] is also the ingest job's [`Fetch`]: many GETs in flight, each retried with
//! backoff and jitter on throttling, server errors, timeouts and bodies that break halfway
//! (resumed with a ranged GET pinned to the ETag).
//!
//! Its own crate so the parsing core builds and tests without the AWS SDK.

mod fetch;
mod lake_store;
mod public_keys;
mod retry;
mod sources;
mod walk;

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use aws_sdk_s3::Client;
use trawl_ingest::{
    Body, Claim, Deliver, Fetch, IngestError, LocalFetch, Location, SourceObject, read_local,
};

pub use lake_store::lake_store;
pub use public_keys::{FetchedKey, list_public_keys};
pub use sources::{Listing, SourceFetch, SourceSpec, Sources};
pub use walk::{Discovered, S3Walk, Selection};

/// `s3://bucket[/prefix]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct S3Url {
    pub bucket: String,
    pub prefix: String,
}

impl S3Url {
    /// Parses `s3://bucket[/prefix]`; `None` if `text` is not an S3 URL.
    pub fn parse(text: &str) -> Option<Result<S3Url, S3Error>> {
        let rest = text.strip_prefix("s3://")?;
        let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
        if bucket.is_empty() {
            return Some(Err(S3Error::BadUrl {
                url: text.to_string(),
                why: "no bucket name; write s3://bucket/prefix".into(),
            }));
        }
        Some(Ok(S3Url {
            bucket: bucket.to_string(),
            prefix: prefix.to_string(),
        }))
    }
}

impl std::fmt::Display for S3Url {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "s3://{}/{}", self.bucket, self.prefix)
    }
}

#[derive(Debug, thiserror::Error)]
pub enum S3Error {
    #[error("{url}: not an S3 URL: {why}")]
    BadUrl { url: String, why: String },
    /// A request given up (at once for a permanent failure, else after its retries).
    #[error("{url}: {message}")]
    Request {
        url: String,
        /// What failed and what to do, with the SDK's error chain on one line.
        message: String,
        /// The SDK's error, when there is one.
        #[source]
        source: Option<BoxError>,
    },
    /// A listing that failed part way.
    #[error("{source}")]
    Listing {
        #[source]
        source: trawl_ingest::Unlisted,
    },
    #[error("starting the S3 client's runtime: {source}")]
    Runtime {
        #[source]
        source: std::io::Error,
    },
    /// A local source beside the S3 ones.
    #[error("{source}")]
    Local {
        #[from]
        source: IngestError,
    },
}

/// An error from below (the AWS SDK), kept as the source of ours.
pub type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// How to reach S3.
#[derive(Debug, Clone)]
pub struct S3Options {
    /// Named profile from the shared config files (else the standard chain: env vars,
    /// `AWS_PROFILE`, SSO, web identity, ECS and instance roles).
    pub profile: Option<String>,
    /// An S3-compatible endpoint (MinIO, Ceph, LocalStack...); addressed path-style.
    pub endpoint_url: Option<String>,
    /// Unsigned requests, for public buckets.
    pub no_sign_request: bool,
    /// Explicit keys (tests and benchmarks); users rely on the credential chain.
    pub static_credentials: Option<(String, String)>,
    /// GETs in flight at once.
    pub concurrency: usize,
    /// Attempts per request before an object is given up (and quarantined).
    pub max_attempts: u32,
    /// First retry waits up to this long; each further one up to twice as long (full jitter).
    pub base_backoff: Duration,
    pub max_backoff: Duration,
    /// Limit for one attempt to get response headers; and for a body to make no progress.
    pub attempt_timeout: Duration,
    /// Objects the listing may hold ahead of the run (listed, not handed out yet), shared
    /// among the streams (region folders): each holds at most a page and a half, of 10 to
    /// 1,000 keys; the queue handing them over holds a quarter of this more, 1,024 at most.
    pub listing_budget: usize,
}

impl Default for S3Options {
    fn default() -> Self {
        Self {
            profile: None,
            endpoint_url: None,
            no_sign_request: false,
            static_credentials: None,
            concurrency: default_concurrency(),
            max_attempts: 10,
            base_backoff: Duration::from_millis(100),
            max_backoff: Duration::from_secs(20),
            attempt_timeout: Duration::from_secs(30),
            listing_budget: 65_536,
        }
    }
}

/// CloudTrail objects are small (KBs to a few MBs) and S3's latency per request is tens of
/// milliseconds: throughput comes from many requests in flight, far more than cores.
pub fn default_concurrency() -> usize {
    let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
    (cores * 64).clamp(64, 512)
}

/// Requests made (every attempt counts, retries included).
#[derive(Debug, Default)]
pub struct RequestCounts {
    /// Objects the listings named (before selection by name and date).
    pub listed: AtomicU64,
    pub list: AtomicU64,
    pub get: AtomicU64,
    pub head: AtomicU64,
    pub retries: AtomicU64,
    pub bytes: AtomicU64,
}

/// A plain copy of [`RequestCounts`], for summaries.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct RequestSnapshot {
    pub listed: u64,
    pub list_requests: u64,
    pub get_requests: u64,
    pub head_requests: u64,
    pub retries: u64,
    pub bytes: u64,
}

impl RequestCounts {
    pub fn snapshot(&self) -> RequestSnapshot {
        RequestSnapshot {
            listed: self.listed.load(Ordering::Relaxed),
            list_requests: self.list.load(Ordering::Relaxed),
            get_requests: self.get.load(Ordering::Relaxed),
            head_requests: self.head.load(Ordering::Relaxed),
            retries: self.retries.load(Ordering::Relaxed),
            bytes: self.bytes.load(Ordering::Relaxed),
        }
    }
}

/// An S3 client on a runtime of its own, usable from plain threads.
pub struct S3Source {
    rt: tokio::runtime::Runtime,
    shared: Arc<Shared>,
    /// The GETs' clients, on `rt`.
    clients: Clients,
}

/// What the fetching and the listing (on its own thread and runtime) share.
pub(crate) struct Shared {
    pub(crate) opts: S3Options,
    base: aws_config::SdkConfig,
    /// Each bucket's region, as S3 told it (`None`: it did not).
    regions: Mutex<HashMap<String, Option<String>>>,
    pub(crate) counts: RequestCounts,
}

/// One client per bucket, in the bucket's region, on one runtime: each runtime has its own
/// HTTP connection pool, since a pooled connection is driven by the runtime that opened it.
pub(crate) struct Clients {
    http: aws_smithy_runtime_api::client::http::SharedHttpClient,
    map: Mutex<HashMap<String, Client>>,
}

impl Clients {
    pub(crate) fn new() -> Clients {
        Clients {
            http: http_client(),
            map: Mutex::default(),
        }
    }

    /// The client for `bucket`, made on first use.
    pub(crate) async fn get(&self, shared: &Shared, bucket: &str) -> Client {
        if let Some(c) = self.map.lock().expect("client map").get(bucket) {
            return c.clone();
        }
        let mut conf =
            aws_sdk_s3::config::Builder::from(&shared.base).http_client(self.http.clone());
        if shared.opts.endpoint_url.is_some() || shared.base.endpoint_url().is_some() {
            conf = conf.force_path_style(true);
        } else if let Some(region) = shared.region(bucket, &conf).await {
            conf = conf.region(aws_sdk_s3::config::Region::new(region));
        }
        let client = Client::from_conf(conf.build());
        self.map
            .lock()
            .expect("client map")
            .insert(bucket.to_string(), client.clone());
        client
    }
}

impl Shared {
    /// LISTs in flight at once, below the GETs' concurrency.
    pub(crate) fn list_concurrency(&self) -> usize {
        self.opts.concurrency.clamp(1, 64)
    }

    /// The region of `bucket`: asked of S3 once (HeadBucket answers with the bucket's
    /// region even when it refuses).
    async fn region(&self, bucket: &str, conf: &aws_sdk_s3::config::Builder) -> Option<String> {
        if let Some(known) = self.regions.lock().expect("region map").get(bucket) {
            return known.clone();
        }
        let probe = Client::from_conf(conf.clone().build());
        self.counts.head.fetch_add(1, Ordering::Relaxed);
        let region = match probe.head_bucket().bucket(bucket).send().await {
            Ok(out) => out.bucket_region().map(str::to_string),
            Err(e) => e
                .raw_response()
                .and_then(|r| r.headers().get("x-amz-bucket-region"))
                .map(str::to_string),
        };
        self.regions
            .lock()
            .expect("region map")
            .insert(bucket.to_string(), region.clone());
        region
    }
}

impl std::fmt::Debug for S3Source {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("S3Source")
            .field("opts", &self.shared.opts)
            .finish_non_exhaustive()
    }
}

impl S3Source {
    /// Loads the AWS configuration (credential chain, region) and starts the runtime.
    pub fn new(opts: S3Options) -> Result<S3Source, S3Error> {
        // One thread drives every request (`drive`): connections, timers and the requests'
        // futures all poll there, with no wake-ups across threads. Parsing runs elsewhere.
        let rt = runtime("trawl-s3")?;
        let base = rt.block_on(load_config(&opts));
        Ok(S3Source {
            rt,
            shared: Arc::new(Shared {
                opts,
                base,
                regions: Mutex::default(),
                counts: RequestCounts::default(),
            }),
            clients: Clients::new(),
        })
    }

    pub fn counts(&self) -> &RequestCounts {
        &self.shared.counts
    }

    /// The GET client for `bucket`.
    async fn client(&self, bucket: &str) -> Client {
        self.clients.get(&self.shared, bucket).await
    }

    /// The CloudTrail signature in the metadata of each `(bucket, key)` (a HEAD each, many in
    /// flight): `Ok(None)` for an object without one. For digest files read from a local
    /// copy, which has no metadata.
    pub fn signatures(
        &self,
        objects: &[(String, String)],
    ) -> Vec<Result<Option<trawl_ingest::DigestSignature>, S3Error>> {
        use futures::stream::{self, StreamExt};
        self.rt.block_on(
            stream::iter(objects)
                .map(|(bucket, key)| async move {
                    let client = self.client(bucket).await;
                    self.shared.counts.head.fetch_add(1, Ordering::Relaxed);
                    match client.head_object().bucket(bucket).key(key).send().await {
                        Ok(resp) => Ok(fetch::digest_signature(resp.metadata())),
                        Err(e) => {
                            let f = retry::classify(e);
                            Err(S3Error::Request {
                                url: format!("s3://{bucket}/{key}"),
                                message: f.message,
                                source: f.source,
                            })
                        }
                    }
                })
                .buffered(self.shared.opts.concurrency.max(1))
                .collect(),
        )
    }

    /// Lists the CloudTrail objects under `urls` that `sel` selects, as the run consumes
    /// them; see [`S3Walk`]. The folders above the regions are listed before this returns
    /// (an error there, such as a bucket that cannot be listed, is returned); the rest is
    /// listed on a thread of its own, a page at a time.
    pub fn walk(&self, urls: &[S3Url], sel: &Selection) -> Result<S3Walk, S3Error> {
        walk::walk(&self.shared, urls, sel)
    }

    /// Lists the CloudTrail objects under `url` that `sel` selects, whole, sorted by URI
    /// (tests and tools; `trawl ingest` consumes [`S3Source::walk`] as it goes).
    pub fn discover(&self, url: &S3Url, sel: &Selection) -> Result<Discovered, S3Error> {
        let walk = self.walk(std::slice::from_ref(url), sel)?;
        let skipped_prefixes = walk.skipped_prefixes().to_vec();
        let mut objects = Vec::new();
        for listed in walk {
            match listed {
                Ok(obj) => objects.push(obj),
                Err(source) => return Err(S3Error::Listing { source }),
            }
        }
        // The walk lists each object once (overlapping URLs are merged before it starts).
        objects.sort_by(|a, b| a.uri.cmp(&b.uri));
        Ok(Discovered {
            objects,
            skipped_prefixes,
        })
    }
}

/// A runtime on the calling thread (see [`S3Source::new`]).
pub(crate) fn runtime(name: &str) -> Result<tokio::runtime::Runtime, S3Error> {
    tokio::runtime::Builder::new_current_thread()
        .thread_name(name)
        .enable_all()
        .build()
        .map_err(|source| S3Error::Runtime { source })
}

/// An HTTPS client with its own connection pool: rustls on ring (no aws-lc C build).
fn http_client() -> aws_smithy_runtime_api::client::http::SharedHttpClient {
    aws_smithy_http_client::Builder::new()
        .tls_provider(aws_smithy_http_client::tls::Provider::Rustls(
            aws_smithy_http_client::tls::rustls_provider::CryptoMode::Ring,
        ))
        .build_https()
}

async fn load_config(opts: &S3Options) -> aws_config::SdkConfig {
    use aws_config::BehaviorVersion;
    let timeouts = aws_config::timeout::TimeoutConfig::builder()
        .connect_timeout(Duration::from_secs(10))
        .operation_attempt_timeout(opts.attempt_timeout)
        .build();
    let mut loader = aws_config::defaults(BehaviorVersion::latest())
        .http_client(http_client())
        .timeout_config(timeouts)
        // trawl retries itself: one policy for requests and for bodies that break halfway.
        .retry_config(aws_config::retry::RetryConfig::disabled());
    // The region from the environment or the profile, never from instance metadata (slow,
    // noisy off EC2): it only picks the endpoint of the first request, and S3 tells each
    // bucket's own region (see `S3Source::client`).
    let mut profile_region = aws_config::profile::ProfileFileRegionProvider::builder();
    if let Some(p) = &opts.profile {
        loader = loader.profile_name(p);
        profile_region = profile_region.profile_name(p);
    }
    loader = loader.region(
        aws_config::meta::region::RegionProviderChain::first_try(
            aws_config::environment::EnvironmentVariableRegionProvider::new(),
        )
        .or_else(profile_region.build())
        .or_else(aws_sdk_s3::config::Region::from_static("us-east-1")),
    );
    if let Some(url) = &opts.endpoint_url {
        loader = loader.endpoint_url(url);
    }
    if opts.no_sign_request {
        loader = loader.no_credentials();
    }
    if let Some((key, secret)) = &opts.static_credentials {
        loader = loader.credentials_provider(aws_sdk_s3::config::Credentials::new(
            key, secret, None, None, "trawl",
        ));
    }
    loader.load().await
}

impl Fetch for S3Source {
    fn fetch(&self, obj: &SourceObject) -> Result<Body, IngestError> {
        match &obj.location {
            Location::Local(_) => LocalFetch::default().fetch(obj),
            Location::S3 { .. } => self.rt.block_on(self.fetch_async(obj)),
        }
    }

    /// An S3 object is fetched whole (a big one is then streamed from memory as it
    /// inflates): its compressed bytes count against the budget, whatever their size.
    fn holds(&self, obj: &SourceObject) -> u64 {
        match obj.location {
            Location::Local(_) => LocalFetch::default().holds(obj),
            Location::S3 { .. } => obj.size,
        }
    }

    /// One thread drives every request (`concurrency` of them in flight).
    fn drivers(&self, _readers: usize) -> usize {
        1
    }

    /// All GETs from one thread: up to `concurrency` futures in flight on the runtime.
    fn drive(&self, claim: &mut dyn FnMut(bool) -> Claim, deliver: &mut Deliver<'_>) {
        use futures::stream::{FuturesUnordered, StreamExt};
        self.rt.block_on(async {
            let mut running = FuturesUnordered::new();
            let mut done = false;
            loop {
                while !done && running.len() < self.shared.opts.concurrency.max(1) {
                    // Block for memory only when nothing is in flight to free some.
                    match claim(running.is_empty()) {
                        // A local file (beside S3 sources) is read or streamed from here.
                        Claim::Next(i, obj) if matches!(obj.location, Location::Local(_)) => {
                            let body = LocalFetch::default().fetch(&obj);
                            if !deliver(i, obj, body) {
                                return;
                            }
                        }
                        Claim::Next(i, obj) => running.push(async move {
                            let raw = self.fetch_async(&obj).await;
                            (i, obj, raw)
                        }),
                        Claim::Later => break,
                        Claim::Done => done = true,
                    }
                }
                let delivered = match running.next().await {
                    Some((i, obj, raw)) => deliver(i, obj, raw),
                    None => !done,
                };
                if !delivered {
                    return;
                }
            }
        });
    }
}

impl S3Source {
    async fn fetch_async(&self, obj: &SourceObject) -> Result<Body, IngestError> {
        match &obj.location {
            Location::Local(_) => read_local(obj).map(Body::Bytes),
            Location::S3 { bucket, key } => {
                let (raw, signature) = fetch::get(self, bucket, key, obj.etag.as_deref(), obj.size)
                    .await
                    .map_err(|e| IngestError::Fetch {
                        uri: obj.uri.clone(),
                        source: Box::new(e),
                    })?;
                Ok(match signature {
                    Some(signature) => Body::Signed(raw, signature),
                    None => Body::Bytes(raw),
                })
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls() {
        let u = S3Url::parse("s3://b/AWSLogs/1/").unwrap().unwrap();
        assert_eq!((u.bucket.as_str(), u.prefix.as_str()), ("b", "AWSLogs/1/"));
        let u = S3Url::parse("s3://b").unwrap().unwrap();
        assert_eq!((u.bucket.as_str(), u.prefix.as_str()), ("b", ""));
        assert!(S3Url::parse("s3:///x").unwrap().is_err());
        assert!(S3Url::parse("/tmp/x").is_none());
    }
}
