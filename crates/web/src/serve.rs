//! The accept loop: hyper's HTTP/1 connections with bounds on what one client can hold, so
//! slow, oversize or flooding clients get a timeout, a 4xx or a wait, and the others keep
//! being served. (`axum::serve` sets none of these bounds.)

use std::sync::Arc;
use std::time::Duration;

use axum::extract::Request;
use axum::http::{StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::service::TowerToHyperService;
use tokio::net::TcpListener;

use crate::App;

/// Bounds on connections and requests. `trawl serve` sets them from its flags; the defaults
/// are what it uses when none is given.
#[derive(Debug, Clone)]
pub struct ServerLimits {
    /// A request's head (request line, query string and headers) must arrive whole within
    /// this, counted from the first byte awaited: a client that trickles its head
    /// (slowloris), or keeps an idle connection open, is disconnected after it.
    pub header_timeout: Duration,
    /// Bytes a request head may take (the console's SQL travels in the query string); a
    /// longer head is answered 431 and the connection closed.
    pub max_head_bytes: usize,
    /// Bytes a request body may declare; every route is a GET, so a larger body (or one of
    /// unknown length) is answered 413 without being read.
    pub max_body_bytes: u64,
    /// A request not answered within this is answered 503 and its queries are cancelled.
    /// It must exceed the console's `sql_timeout`, which answers first with its own error.
    pub request_timeout: Duration,
    /// Connections open at once; more wait in the listen backlog until one closes.
    pub max_connections: usize,
}

impl Default for ServerLimits {
    fn default() -> Self {
        ServerLimits {
            header_timeout: Duration::from_secs(10),
            max_head_bytes: 64 << 10,
            max_body_bytes: 64 << 10,
            request_timeout: Duration::from_secs(120),
            max_connections: 512,
        }
    }
}

/// Serves [`crate::router`] on `listener` within `limits`, until the listener fails.
pub async fn serve(
    listener: TcpListener,
    app: Arc<App>,
    limits: ServerLimits,
) -> std::io::Result<()> {
    let guard_limits = limits.clone();
    // Stops when the server does (the task is aborted on drop).
    let _warm = AbortOnDrop(tokio::spawn(app.clone().keep_warm()));
    let router = crate::router(app).layer(axum::middleware::from_fn(
        move |req: Request, next: Next| {
            let limits = guard_limits.clone();
            async move { guard(req, next, &limits).await }
        },
    ));
    let slots = Arc::new(tokio::sync::Semaphore::new(limits.max_connections.max(1)));
    loop {
        let slot = slots
            .clone()
            .acquire_owned()
            .await
            .expect("the connection semaphore is never closed");
        let stream = match listener.accept().await {
            Ok((stream, _)) => stream,
            // Out of file descriptors or a connection reset before accept: wait, go on.
            Err(e) if is_transient(&e) => {
                tracing::warn!("accepting a connection: {e}");
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
            Err(e) => return Err(e),
        };
        let _ = stream.set_nodelay(true);
        let service = TowerToHyperService::new(router.clone());
        let mut http = hyper::server::conn::http1::Builder::new();
        http.timer(TokioTimer::new())
            .header_read_timeout(limits.header_timeout)
            .max_buf_size(limits.max_head_bytes.max(8192))
            .max_header_size(limits.max_head_bytes);
        tokio::spawn(async move {
            let _slot = slot;
            if let Err(e) = http.serve_connection(TokioIo::new(stream), service).await {
                tracing::debug!("connection ended: {e}");
            }
        });
    }
}

fn is_transient(e: &std::io::Error) -> bool {
    use std::io::ErrorKind::*;
    matches!(
        e.kind(),
        ConnectionAborted | ConnectionReset | ConnectionRefused | Interrupted | WouldBlock
    ) || e.raw_os_error().is_some_and(|c| c == 23 || c == 24) // ENFILE, EMFILE
}

/// 413 for a body over the limit (or of unknown length), 503 past the request timeout.
async fn guard(req: Request, next: Next, limits: &ServerLimits) -> Response {
    let declared = req
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok()?.parse::<u64>().ok());
    let chunked = req.headers().contains_key(header::TRANSFER_ENCODING);
    if chunked || declared.is_some_and(|n| n > limits.max_body_bytes) {
        return (
            StatusCode::PAYLOAD_TOO_LARGE,
            format!(
                "request bodies over {} bytes (or of unknown length) are refused: every page is a GET",
                limits.max_body_bytes
            ),
        )
            .into_response();
    }
    match tokio::time::timeout(limits.request_timeout, next.run(req)).await {
        Ok(response) => response,
        Err(_) => (
            StatusCode::SERVICE_UNAVAILABLE,
            format!(
                "the page was not ready within {} s (trawl serve --request-timeout) and was \
                 cancelled; narrow its time range, or try again when the server is less busy",
                limits.request_timeout.as_secs()
            ),
        )
            .into_response(),
    }
}

/// A task that ends with its owner.
struct AbortOnDrop(tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}
