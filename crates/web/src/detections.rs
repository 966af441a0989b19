//! The "Detections" page: the Sigma rules `trawl serve --rules` was given, over the range
//! asked for, computed once per lake version and range (in the background pool), each hit
//! linking to its event.

use std::sync::Arc;

use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Response};
use trawl_detections::Digest;
use trawl_report::html::{page, url_encode};
use trawl_schema::TimeWindow;

use crate::{App, Params, error_page, header, range_of};

/// Hits per rule the page lists (all are counted).
const HITS_PER_RULE: usize = 50;

/// What a digest was computed for: the lake's version and the window.
pub(crate) type Key = (u64, TimeWindow);

impl App {
    /// Runs these rules on the `/detections` page.
    pub fn with_rules(mut self, rules: trawl_detections::RuleSet) -> Self {
        self.rules = Some(Arc::new(rules));
        self
    }
}

/// `/detections?since=&until=`.
pub(crate) async fn detections_page(
    State(app): State<Arc<App>>,
    Query(params): Query<Params>,
) -> Response {
    let title = "Detections";
    let range = match range_of(&params, &[]) {
        Ok(r) => r,
        Err(e) => return error_page(StatusCode::BAD_REQUEST, title, &e.to_string()),
    };
    let head = header("detections", &range, "/detections");
    let Some(rules) = app.rules.clone() else {
        let body = "<h1>Detections</h1><p>No Sigma rules were given: start the app with \
                    <code>trawl serve --rules PATH</code> (files or directories of Sigma YAML, \
                    such as SigmaHQ's <code>rules/cloud/aws/cloudtrail</code>).</p>";
        return Html(page(title, &head, body)).into_response();
    };
    let engine = match app.engine().await {
        Ok(e) => e,
        Err(e) => return error_page(StatusCode::INTERNAL_SERVER_ERROR, title, &e.to_string()),
    };
    let key: Key = (engine.version(), range.window);
    let cached = {
        let c = app.detections.lock().expect("detections cache lock");
        c.as_ref()
            .filter(|(k, _)| *k == key)
            .map(|(_, d)| d.clone())
    };
    let digest: Arc<Digest> = match cached {
        Some(d) => d,
        None => {
            let window = range.window;
            let run = app.background.run(async move {
                trawl_detections::digest(&engine, &rules, &window, HITS_PER_RULE).await
            });
            match run.await {
                Ok(d) => {
                    let d = Arc::new(d);
                    *app.detections.lock().expect("detections cache lock") = Some((key, d.clone()));
                    d
                }
                Err(e) => {
                    return error_page(StatusCode::INTERNAL_SERVER_ERROR, title, &e.to_string());
                }
            }
        }
    };
    let body = digest.html(&|id| Some(format!("/events/{}", url_encode(id))));
    Html(page(title, &head, &body)).into_response()
}
