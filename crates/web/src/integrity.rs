//! The "Log integrity" page and the line each dashboard shows: the lake's latest
//! `trawl validate` (docs/custody.md), read again only when it or the lake changes.

use std::sync::Arc;
use std::time::SystemTime;

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Response};
use trawl_report::html::{escape, page};
use trawl_report::{Integrity, Range};

use crate::{App, error_page, header};

/// What the cached record was read from: the record's modification time and the lake's
/// version.
pub(crate) type Key = (Option<SystemTime>, u64);

impl App {
    /// The lake's latest validation against the lake at `version` (a query engine's),
    /// cached until the record or the version changes.
    pub(crate) fn integrity(&self, version: u64) -> Arc<Integrity> {
        let modified = std::fs::metadata(self.lake.layout().custody_record())
            .and_then(|m| m.modified())
            .ok();
        let key = (modified, version);
        let mut cached = self.integrity.lock().expect("integrity cache lock");
        if let Some((k, i)) = cached.as_ref()
            && *k == key
        {
            return i.clone();
        }
        let fresh = Arc::new(Integrity::load(&self.lake, version));
        *cached = Some((key, fresh.clone()));
        fresh
    }
}

/// The line under a dashboard's title, linking to the page.
pub(crate) fn mark(app: &App, version: u64, range: &Range) -> String {
    format!(
        "<p class=\"integrity\"><a href=\"/integrity\">{}</a></p>",
        escape(&app.integrity(version).mark(&range.window))
    )
}

/// `/integrity`.
pub(crate) async fn integrity_page(State(app): State<Arc<App>>) -> Response {
    let version = match app.engine().await {
        Ok(engine) => engine.version(),
        Err(e) => {
            return error_page(
                StatusCode::INTERNAL_SERVER_ERROR,
                "Log integrity",
                &e.to_string(),
            );
        }
    };
    let integrity = app.integrity(version);
    Html(page(
        "Log integrity",
        &header("integrity", &Range::default(), ""),
        &integrity.html(),
    ))
    .into_response()
}
