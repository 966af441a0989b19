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
    serve_with_rules(lake, geo, limits, server, None)
}

/// [`serve`], with Sigma rules for the "Detections" page.
pub(crate) fn serve_with_rules(
    lake: Lake,
    geo: Option<Arc<trawl_geo::GeoDb>>,
    limits: trawl_web::Limits,
    server: trawl_web::ServerLimits,
    rules: Option<trawl_detections::RuleSet>,
) -> SocketAddr {
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let rt = trawl_query::query_runtime().unwrap();
        rt.block_on(async move {
            let mut app = trawl_web::App::open(lake, geo, limits).await.unwrap();
            if let Some(set) = rules {
                app = app.with_rules(set);
            }
            let app = Arc::new(app);
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
            tx.send(listener.local_addr().unwrap()).unwrap();
            trawl_web::serve(listener, app, server).await.unwrap();
        });
    });
    rx.recv().unwrap()
}
