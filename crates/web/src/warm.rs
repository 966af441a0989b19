//! The dashboards' default pages: the range a page shows, and their partial answers kept
//! current in the background as commits land. `GET /ready` says whether they were computed
//! once since the server started.

use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use trawl_query::QueryEngine;
use trawl_report::{Range, dashboards};

use crate::{App, TILE_ROWS, WebError};

impl App {
    /// The range a dashboard page shows: the one asked for, or (unless `all`) the
    /// dashboard's default counted back from the lake's newest event.
    pub(crate) async fn shown_range(
        &self,
        engine: &QueryEngine,
        d: &trawl_report::Dashboard,
        range: &Range,
        all: bool,
    ) -> Result<Range, WebError> {
        if all || !range.is_open() {
            return Ok(range.clone());
        }
        let mut newest = self.newest.lock().await;
        let known = match *newest {
            Some((version, at)) if version == engine.version() => at,
            _ => {
                let at = trawl_report::newest_event(engine, None)
                    .await
                    .map_err(|e| WebError::Render(e.to_string()))?;
                *newest = Some((engine.version(), at));
                at
            }
        };
        Ok(trawl_report::default_range(d, range, known))
    }

    /// Keeps the dashboards' cached partial answers current: when the server starts and
    /// after each commit, [`App::warm_once`]. The first pass makes the server ready
    /// ([`App::ready`]). [`serve`](crate::serve) runs it; it loops until aborted.
    pub async fn keep_warm(self: Arc<Self>) {
        let mut warmed = None;
        loop {
            if let Ok(engine) = self.engine().await
                && warmed != Some(engine.version())
            {
                let started = Instant::now();
                self.warm_once(&engine).await;
                let took = started.elapsed();
                tracing::debug!(
                    "dashboards warmed at version {} in {} ms",
                    engine.version(),
                    took.as_millis()
                );
                self.warm.send_if_modified(|w| {
                    let first = w.is_none();
                    if first {
                        *w = Some((engine.version(), took));
                    }
                    first
                });
                warmed = Some(engine.version());
            }
            if self.tiles.is_none() && warmed.is_some() {
                // Nothing is kept between pages: nothing to keep current.
                return;
            }
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
    }

    /// Computes every tile of the page each dashboard shows without parameters (its default
    /// range counted back from the newest event, no filter) at `engine`'s snapshot, keeping
    /// the partials: those over all time, and the day the range starts in, which moves with
    /// the newest event. The first page after a commit then does not wait for the lake to be
    /// read. Without a cache of partials ([`crate::Limits::dashboard_cache`] 0) it does
    /// nothing.
    pub async fn warm_once(&self, engine: &QueryEngine) {
        let Some(cache) = &self.tiles else { return };
        for d in dashboards::all() {
            let range = match self.shown_range(engine, &d, &Range::default(), false).await {
                Ok(range) => range,
                Err(e) => {
                    tracing::warn!("the {} dashboard's default range: {e}", d.id);
                    Range::default()
                }
            };
            if let Err(e) = trawl_report::run_cached(
                engine,
                Some(cache),
                &d,
                &range,
                self.has_geo,
                Some(TILE_ROWS),
            )
            .await
            {
                tracing::warn!("warming the {} dashboard: {e}", d.id);
            }
        }
    }

    /// Waits until the dashboards' default pages were computed once (at once without a cache
    /// of partials, as soon as the server runs); returns the snapshot version they were
    /// computed at and how long it took.
    pub async fn ready(&self) -> (u64, Duration) {
        let mut rx = self.warm.subscribe();
        let warm = rx
            .wait_for(Option::is_some)
            .await
            .expect("the sender lives as long as the app");
        warm.expect("waited for Some")
    }
}

/// `GET /ready`: 200 once the dashboards' default pages were computed since the server
/// started, 503 (with `Retry-After`) until then. Pages are served meanwhile; they wait for
/// the partial answers being computed. A load test or a health check waits for 200.
pub(crate) async fn ready(State(app): State<Arc<App>>) -> Response {
    let warm = *app.warm.borrow();
    match warm {
        Some((version, took)) => (
            StatusCode::OK,
            format!(
                "ready: the dashboards' default pages were computed at snapshot version \
                 {version} in {:.1} s\n",
                took.as_secs_f64()
            ),
        )
            .into_response(),
        None => (
            StatusCode::SERVICE_UNAVAILABLE,
            [(header::RETRY_AFTER, "1")],
            "warming: the dashboards' default pages are being computed; pages are served \
             meanwhile, but wait for that work. Ask again in a second.\n",
        )
            .into_response(),
    }
}

#[cfg(test)]
mod tests {
    use axum::extract::{Path, Query};

    use super::*;
    use crate::Limits;

    /// Every dashboard's default page, through its handler; each must answer 200.
    async fn default_pages(app: &Arc<App>) {
        for d in dashboards::all() {
            let page = crate::dashboard(
                State(app.clone()),
                Path(d.id.to_string()),
                Query(crate::Params::new()),
            )
            .await;
            assert_eq!(page.status(), StatusCode::OK, "{}", d.id);
        }
    }

    #[test]
    fn the_server_is_ready_once_the_default_pages_are_computed_and_they_stay_computed() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("lake");
        // Trails that start and end at noon: a 48-hour default range starts inside a day
        // with events on both sides of its start, whose partial is computed for that range.
        let trail = |name: &str, seed: u64, events: usize, start: &str, days: u32| {
            let trail = dir.path().join(name);
            let spec = trawl_gen::TrailSpec {
                seed,
                events,
                days,
                start: start.parse().unwrap(),
                ..trawl_gen::TrailSpec::default()
            };
            trawl_gen::write_trail(&trail, &spec).unwrap();
            trail
        };
        let lake = trawl_lake::Lake::create(&path).unwrap();
        trawl_testkit::ingest(&lake, &[trail("first", 3, 3000, "2024-03-01T12:00:00Z", 4)]);
        let rt = trawl_query::query_runtime().unwrap();
        let app = rt
            .block_on(async { Arc::new(App::open(lake, None, Limits::default()).await.unwrap()) });
        // Partials computed: of commit spans, and of the days across a range's ends.
        let cache = || app.tiles.as_ref().unwrap();
        let computed = || (cache().computed(), cache().edges());
        rt.block_on(async {
            let before = ready(State(app.clone())).await;
            assert_eq!(before.status(), StatusCode::SERVICE_UNAVAILABLE);
            assert!(before.headers().contains_key(header::RETRY_AFTER));
            let warming = tokio::spawn(app.clone().keep_warm());
            let (version, _) = tokio::time::timeout(Duration::from_secs(120), app.ready())
                .await
                .expect("ready within two minutes");
            assert_eq!(version, 1);
            assert_eq!(ready(State(app.clone())).await.status(), StatusCode::OK);
            warming.abort();
            // Every partial the default pages need was computed before the server was ready,
            // the days their ranges start in among them.
            let warm = computed();
            assert!(warm.1 > 0, "{warm:?}");
            default_pages(&app).await;
            assert_eq!(computed(), warm, "a default page computed a partial");
        });
        // A commit of later days moves every default range; one pass computes the new
        // partials, and the pages then compute none.
        let later = trail("later", 4, 1500, "2024-03-17T12:00:00Z", 3);
        trawl_testkit::ingest(&trawl_lake::Lake::open(&path).unwrap(), &[later]);
        rt.block_on(async {
            let engine = app.engine().await.unwrap();
            assert_eq!(engine.version(), 2);
            let before = computed();
            app.warm_once(&engine).await;
            let warm = computed();
            assert!(
                warm.0 > before.0 && warm.1 > before.1,
                "{before:?} {warm:?}"
            );
            default_pages(&app).await;
            assert_eq!(computed(), warm, "a default page computed a partial");
        });
    }
}
