//! A real S3 HTTP endpoint on loopback for tests and benchmarks: `s3s-fs` (buckets are
//! directories, objects files) behind a layer that injects the faults S3 clients meet —
//! `503 SlowDown`, connections dropped halfway through a body, slow responses, latency on
//! every request — and counts the requests it served, so tests can prove what was listed
//! and fetched. Nothing here mocks the SDK: clients speak the S3 protocol over TCP.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use bytes::Bytes;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto::Builder as ConnBuilder;
use s3s::dto::{
    ETagCondition, GetObjectInput, GetObjectOutput, HeadBucketInput, HeadBucketOutput,
    HeadObjectInput, HeadObjectOutput, ListObjectsV2Input, ListObjectsV2Output, StreamingBlob,
};
use s3s::service::S3ServiceBuilder;
use s3s::{S3, S3Request, S3Response, S3Result, s3_error};

/// The access key and secret the server accepts (requests are signature-checked).
pub const ACCESS_KEY: &str = "trawl-test";
pub const SECRET_KEY: &str = "trawl-test-secret";

/// Which faults to inject. Counters are global over all requests, so "every Nth" is
/// deterministic for a given request order.
#[derive(Debug, Clone, Default)]
pub struct Faults {
    /// Added to every request before it is served.
    pub latency: Duration,
    /// Every Nth request (LIST or GET) answers `503 SlowDown` (0: never).
    pub slowdown_every: u64,
    /// Every Nth GET sends half its body, then drops the connection (0: never).
    pub break_body_every: u64,
    /// Every Nth GET waits `stall` before answering (0: never).
    pub stall_every: u64,
    pub stall: Duration,
    /// Keys whose GET always fails with `500 InternalError` (a permanently bad object).
    pub always_fail: Vec<String>,
    /// Prefixes whose LIST always fails with `500 InternalError` (a listing that breaks).
    pub always_fail_lists: Vec<String>,
}

/// What the server saw.
#[derive(Debug, Default)]
pub struct Counters {
    /// TCP connections accepted.
    connections: AtomicU64,
    requests: AtomicU64,
    gets: AtomicU64,
    lists: AtomicU64,
    slowdowns: AtomicU64,
    broken_bodies: AtomicU64,
    /// Every LIST's prefix, in arrival order.
    list_prefixes: Mutex<Vec<String>>,
    /// Every GET's key, in arrival order.
    get_keys: Mutex<Vec<String>>,
    /// Every key a LIST answered with.
    listed_keys: Mutex<Vec<String>>,
}

impl Counters {
    pub fn connections(&self) -> u64 {
        self.connections.load(Ordering::Relaxed)
    }
    pub fn gets(&self) -> u64 {
        self.gets.load(Ordering::Relaxed)
    }
    pub fn lists(&self) -> u64 {
        self.lists.load(Ordering::Relaxed)
    }
    pub fn slowdowns(&self) -> u64 {
        self.slowdowns.load(Ordering::Relaxed)
    }
    pub fn broken_bodies(&self) -> u64 {
        self.broken_bodies.load(Ordering::Relaxed)
    }
    pub fn list_prefixes(&self) -> Vec<String> {
        self.list_prefixes.lock().expect("counter lock").clone()
    }
    pub fn get_keys(&self) -> Vec<String> {
        self.get_keys.lock().expect("counter lock").clone()
    }
    pub fn listed_keys(&self) -> Vec<String> {
        self.listed_keys.lock().expect("counter lock").clone()
    }
    /// Forgets everything counted so far.
    pub fn reset(&self) {
        for c in [
            &self.requests,
            &self.gets,
            &self.lists,
            &self.slowdowns,
            &self.broken_bodies,
        ] {
            c.store(0, Ordering::Relaxed);
        }
        self.list_prefixes.lock().expect("counter lock").clear();
        self.get_keys.lock().expect("counter lock").clear();
        self.listed_keys.lock().expect("counter lock").clear();
    }
}

struct Faulty {
    inner: s3s_fs::FileSystem,
    faults: Faults,
    counters: Arc<Counters>,
    root: PathBuf,
}

impl Faulty {
    /// Latency, then maybe a `SlowDown`. Returns the request's number (1-based).
    async fn admit(&self) -> S3Result<u64> {
        let n = self.counters.requests.fetch_add(1, Ordering::Relaxed) + 1;
        if !self.faults.latency.is_zero() {
            tokio::time::sleep(self.faults.latency).await;
        }
        if every(self.faults.slowdown_every, n) {
            self.counters.slowdowns.fetch_add(1, Ordering::Relaxed);
            return Err(s3_error!(SlowDown, "Please reduce your request rate."));
        }
        Ok(n)
    }

    /// The file behind `bucket/key`; keys that would leave the bucket are refused.
    fn object_path(&self, bucket: &str, key: &str) -> S3Result<PathBuf> {
        let bad = |p: &str| {
            p.is_empty()
                || p.split('/')
                    .any(|c| c == ".." || c == "." || c.contains('\\'))
        };
        if bad(bucket) || bucket.contains('/') || bad(key) {
            return Err(s3_error!(InvalidArgument, "invalid bucket or key"));
        }
        Ok(self.root.join(bucket).join(key))
    }

    /// The ETag of a stored object (see [`md5_hex`]).
    fn etag(&self, bucket: &str, key: &str) -> Option<String> {
        std::fs::read(self.root.join(bucket).join(key))
            .ok()
            .map(|bytes| md5_hex(&bytes))
    }
}

/// Where an object's user metadata (`x-amz-meta-*`) is kept, inside its bucket's directory:
/// `<bucket>/.s3meta/<key>.json`, a JSON object of names (without the prefix) to values.
/// `trawl generate --digests` writes the signatures of its digest files there, so this server
/// serves them as S3 does. Hidden from listings; a local directory walk skips it too.
pub const METADATA_DIR: &str = ".s3meta/";

/// The user metadata stored for an object, if any.
fn user_metadata(bucket_dir: &Path, key: &str) -> Option<s3s::dto::Metadata> {
    let text = std::fs::read(bucket_dir.join(METADATA_DIR).join(format!("{key}.json"))).ok()?;
    serde_json::from_slice(&text).ok()
}

/// The ETag S3 gives a single-part upload: the hex MD5 of the content (unquoted here).
fn md5_hex(bytes: &[u8]) -> String {
    use md5::Digest;
    format!("{:x}", md5::Md5::digest(bytes))
}

fn every(n: u64, count: u64) -> bool {
    n > 0 && count.is_multiple_of(n)
}

#[async_trait::async_trait]
impl S3 for Faulty {
    async fn list_objects_v2(
        &self,
        req: S3Request<ListObjectsV2Input>,
    ) -> S3Result<S3Response<ListObjectsV2Output>> {
        self.counters.lists.fetch_add(1, Ordering::Relaxed);
        self.counters
            .list_prefixes
            .lock()
            .expect("counter lock")
            .push(req.input.prefix.clone().unwrap_or_default());
        self.admit().await?;
        if let Some(prefix) = &req.input.prefix
            && self.faults.always_fail_lists.contains(prefix)
        {
            return Err(s3_error!(
                InternalError,
                "injected permanent listing failure"
            ));
        }
        let bucket = req.input.bucket.clone();
        let mut resp = self.inner.list_objects_v2(req).await?;
        // The metadata sidecars are not objects.
        if let Some(contents) = resp.output.contents.as_mut() {
            contents.retain(|o| {
                !o.key
                    .as_deref()
                    .is_some_and(|k| k.starts_with(METADATA_DIR))
            });
            resp.output.key_count = Some(contents.len() as i32);
        }
        // s3s-fs lists no ETags; real S3 does, and clients key their ledgers by them.
        let mut listed = self.counters.listed_keys.lock().expect("counter lock");
        for obj in resp.output.contents.iter_mut().flatten() {
            if let Some(key) = &obj.key {
                listed.push(key.clone());
                obj.e_tag = self.etag(&bucket, key).map(s3s::dto::ETag::Strong);
            }
        }
        drop(listed);
        Ok(resp)
    }

    async fn get_object(
        &self,
        req: S3Request<GetObjectInput>,
    ) -> S3Result<S3Response<GetObjectOutput>> {
        let g = self.counters.gets.fetch_add(1, Ordering::Relaxed) + 1;
        self.counters
            .get_keys
            .lock()
            .expect("counter lock")
            .push(req.input.key.clone());
        self.admit().await?;
        if self.faults.always_fail.contains(&req.input.key) {
            return Err(s3_error!(InternalError, "injected permanent failure"));
        }
        if every(self.faults.stall_every, g) {
            tokio::time::sleep(self.faults.stall).await;
        }
        // Served here rather than by s3s-fs, which reads a file 4 KiB at a time through
        // tokio's blocking pool and reads it twice (for the MD5): on a shared machine that
        // CPU is taken from the client being measured. Range and If-Match as S3 has them.
        let input = req.input;
        let path = self.object_path(&input.bucket, &input.key)?;
        let (bytes, modified) = match std::fs::read(&path).and_then(|b| {
            let modified = std::fs::metadata(&path)?.modified()?;
            Ok((b, modified))
        }) {
            Ok(found) => found,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Err(s3_error!(NoSuchKey));
            }
            Err(e) => return Err(s3_error!(e, InternalError)),
        };
        let etag = md5_hex(&bytes);
        if let Some(ETagCondition::ETag(want)) = &input.if_match
            && want.value() != etag
        {
            return Err(s3_error!(PreconditionFailed));
        }
        let total = bytes.len() as u64;
        let (range, content_range) = match &input.range {
            None => (0..total, None),
            Some(r) => {
                let range = r.check(total)?;
                let header = format!("bytes {}-{}/{total}", range.start, range.end - 1);
                (range, Some(header))
            }
        };
        let body = Bytes::from(bytes).slice(range.start as usize..range.end as usize);
        let len = body.len();
        let body = if every(self.faults.break_body_every, g) {
            self.counters.broken_bodies.fetch_add(1, Ordering::Relaxed);
            StreamingBlob::wrap(half_then_fail(body, len / 2))
        } else {
            // One chunk: the body leaves in large writes, as S3's do.
            StreamingBlob::wrap(futures::stream::once(async move {
                Ok::<_, std::io::Error>(body)
            }))
        };
        let output = GetObjectOutput {
            body: Some(body),
            content_length: Some(len as i64),
            content_range,
            e_tag: Some(s3s::dto::ETag::Strong(etag)),
            last_modified: Some(s3s::dto::Timestamp::from(modified)),
            metadata: user_metadata(&self.root.join(&input.bucket), &input.key),
            ..Default::default()
        };
        Ok(S3Response::new(output))
    }

    async fn head_object(
        &self,
        req: S3Request<HeadObjectInput>,
    ) -> S3Result<S3Response<HeadObjectOutput>> {
        self.admit().await?;
        let (bucket, key) = (req.input.bucket.clone(), req.input.key.clone());
        let mut resp = self.inner.head_object(req).await?;
        resp.output.metadata = user_metadata(&self.root.join(bucket), &key);
        Ok(resp)
    }

    async fn head_bucket(
        &self,
        req: S3Request<HeadBucketInput>,
    ) -> S3Result<S3Response<HeadBucketOutput>> {
        self.admit().await?;
        self.inner.head_bucket(req).await
    }
}

/// Sends `keep` bytes of `body`, then fails: the server drops the connection with the body
/// short of its `Content-Length`, as a reset connection does.
fn half_then_fail(
    body: Bytes,
    keep: usize,
) -> impl futures::Stream<Item = Result<Bytes, std::io::Error>> + Send + Sync + 'static {
    futures::stream::iter([
        Ok(body.slice(..keep.min(body.len()))),
        Err(std::io::Error::new(
            std::io::ErrorKind::ConnectionReset,
            "injected: connection dropped halfway through the body",
        )),
    ])
}

/// A running server. Dropping it stops the server.
pub struct FakeS3 {
    addr: SocketAddr,
    root: PathBuf,
    counters: Arc<Counters>,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl std::fmt::Debug for FakeS3 {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FakeS3").field("addr", &self.addr).finish()
    }
}

impl FakeS3 {
    /// Serves the buckets under `root` (each directory a bucket) on `127.0.0.1:port`
    /// (0: any free port), on a runtime of its own.
    pub fn start(root: &Path, port: u16, faults: Faults) -> anyhow::Result<FakeS3> {
        let root = std::path::absolute(root)?;
        std::fs::create_dir_all(&root)?;
        let counters = Arc::new(Counters::default());
        let faulty = Faulty {
            inner: s3s_fs::FileSystem::new(&root)
                .map_err(|e| anyhow::anyhow!("s3s-fs on {}: {e:?}", root.display()))?,
            faults,
            counters: counters.clone(),
            root: root.clone(),
        };
        let service = {
            let mut b = S3ServiceBuilder::new(faulty);
            b.set_auth(s3s::auth::SimpleAuth::from_single(ACCESS_KEY, SECRET_KEY));
            b.build()
        };
        let listener = std::net::TcpListener::bind(("127.0.0.1", port))?;
        listener.set_nonblocking(true)?;
        let addr = listener.local_addr()?;
        let (stop_tx, mut stop_rx) = tokio::sync::oneshot::channel::<()>();
        let accepted_count = counters.clone();
        let thread = std::thread::Builder::new()
            .name("fake-s3".into())
            .spawn(move || {
                let rt = tokio::runtime::Builder::new_multi_thread()
                    .worker_threads(2)
                    .enable_all()
                    .build()
                    .expect("fake S3 runtime");
                rt.block_on(async move {
                    let listener =
                        tokio::net::TcpListener::from_std(listener).expect("fake S3 listener");
                    let http = ConnBuilder::new(TokioExecutor::new());
                    loop {
                        tokio::select! {
                            accepted = listener.accept() => {
                                let Ok((socket, _)) = accepted else { continue };
                                // As S3 does: no Nagle delay between a response's writes.
                                let _ = socket.set_nodelay(true);
                                accepted_count.connections.fetch_add(1, Ordering::Relaxed);
                                let conn = http
                                    .serve_connection(TokioIo::new(socket), service.clone())
                                    .into_owned();
                                tokio::spawn(async move {
                                    let _ = conn.await;
                                });
                            }
                            _ = &mut stop_rx => break,
                        }
                    }
                });
                rt.shutdown_timeout(Duration::from_millis(100));
            })?;
        Ok(FakeS3 {
            addr,
            root,
            counters,
            stop: Some(stop_tx),
            thread: Some(thread),
        })
    }

    /// `http://127.0.0.1:PORT`, for `--endpoint-url`.
    pub fn endpoint(&self) -> String {
        format!("http://{}", self.addr)
    }

    pub fn counters(&self) -> &Counters {
        &self.counters
    }

    /// Stores an object (written straight into the served directory).
    pub fn put(&self, bucket: &str, key: &str, bytes: &[u8]) -> std::io::Result<()> {
        let path = self.root.join(bucket).join(key);
        std::fs::create_dir_all(path.parent().expect("object paths have a parent"))?;
        std::fs::write(path, bytes)
    }

    /// Creates a bucket (an empty directory).
    pub fn create_bucket(&self, bucket: &str) -> std::io::Result<()> {
        std::fs::create_dir_all(self.root.join(bucket))
    }
}

impl Drop for FakeS3 {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}
