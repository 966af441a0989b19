//! The dashboards' default pages: the range a page shows, and their partial answers kept
//! current in the background as commits land.

use std::sync::Arc;
use std::time::Duration;

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
    /// after each commit, every tile of the page each dashboard shows without parameters
    /// (its default range counted back from the newest event, no filter) is computed in the
    /// background: the partials over all time, and the day the range starts in, which moves
    /// with the newest event. The first page after a commit does not wait for the lake to be
    /// read. [`serve`] runs it; it loops until aborted.
    pub async fn keep_warm(self: Arc<Self>) {
        let Some(cache) = &self.tiles else { return };
        let mut warmed = None;
        loop {
            if let Ok(engine) = self.engine().await
                && warmed != Some(engine.version())
            {
                for d in dashboards::all() {
                    let range = match self
                        .shown_range(&engine, &d, &Range::default(), false)
                        .await
                    {
                        Ok(range) => range,
                        Err(e) => {
                            tracing::warn!("the {} dashboard's default range: {e}", d.id);
                            Range::default()
                        }
                    };
                    if let Err(e) = trawl_report::run_cached(
                        &engine,
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
                warmed = Some(engine.version());
            }
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
    }
}
