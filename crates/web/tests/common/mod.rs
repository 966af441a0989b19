//! What the web app's test files share.

use std::net::SocketAddr;
use std::sync::Arc;

use trawl_lake::Lake;

/// Serves `lake` (with `geo` for the geolocation tiles) on a loopback port from a thread of its own; returns the address.
pub(crate) fn serve(
    lake: Lake,
    geo: Option<Arc<trawl_geo::GeoDb>>,
    limits: trawl_web::Limits,
    server: trawl_web::ServerLimits,
) -> SocketAddr {
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let rt = trawl_query::query_runtime().unwrap();
        rt.block_on(async move {
            let app = Arc::new(trawl_web::App::open(lake, geo, limits).await.unwrap());
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
            tx.send(listener.local_addr().unwrap()).unwrap();
            trawl_web::serve(listener, app, server).await.unwrap();
        });
    });
    rx.recv().unwrap()
}
