//! The five CloudTrail dashboards over the lake: their tiles as SQL ([`dashboards`]), run for
//! a time range into results that render as terminal tables, JSON (and HTML).

pub mod chart;
pub mod dashboards;
pub mod html;
pub mod integrity;
pub mod rollup;
pub mod security_groups;

use arrow::array::RecordBatch;
use serde::Serialize;
use trawl_query::QueryEngine;
use trawl_schema::TimeWindow;

pub use dashboards::{Chart, Dashboard, Rollup, Tile};
pub use integrity::Integrity;
pub use rollup::TileCache;

/// What the tiles count: a window on `eventTime` (open ends allowed) and filters.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Range {
    pub window: TimeWindow,
    /// Filters applied to every tile, all of which must hold: (column, value), the columns
    /// [`dashboards::FILTER_COLUMNS`] names (`account`, `region`, `user`, `eventname`,
    /// `group_id`...). Build with [`Range::filtered`], which refuses an unknown column.
    pub filters: Vec<(String, String)>,
    /// The zone days, hours and weekdays are counted in (`None`: UTC). Set with
    /// [`Range::in_zone`], which checks the name.
    pub zone: Option<String>,
}

/// In JSON, the range a dashboard shows: `since`, `until` and `zone` (each absent when open
/// or UTC); the filters are in the tiles' SQL.
impl Serialize for Range {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        let mut map = s.serialize_map(None)?;
        if let Some(since) = self.window.since_text() {
            map.serialize_entry("since", &since)?;
        }
        if let Some(until) = self.window.until_text() {
            map.serialize_entry("until", &until)?;
        }
        if let Some(zone) = &self.zone {
            map.serialize_entry("zone", zone)?;
        }
        map.end()
    }
}

impl Range {
    /// This range, also keeping only events where `column` is `value`; an unknown column is
    /// an error that lists the known ones (never silently ignored).
    pub fn filtered(mut self, column: &str, value: &str) -> Result<Range, ReportError> {
        if dashboards::drill_filter(column, value).is_none() {
            return Err(ReportError::UnknownFilter(column.to_string()));
        }
        self.filters.push((column.to_string(), value.to_string()));
        Ok(self)
    }

    /// This range with its buckets in `zone`: an IANA name (`America/Los_Angeles`) or an
    /// offset (`+05:30`); `UTC` is the default. An unknown zone is an error.
    pub fn in_zone(mut self, zone: &str) -> Result<Range, ReportError> {
        let z = zone.trim();
        if z.is_empty() || z.eq_ignore_ascii_case("utc") || z == "Z" {
            self.zone = None;
            return Ok(self);
        }
        z.parse::<arrow::array::timezone::Tz>()
            .map_err(|e| ReportError::BadZone(z.to_string(), e.to_string()))?;
        self.zone = Some(z.to_string());
        Ok(self)
    }

    /// The filters' predicate alone (`TRUE` without any). A column no filter knows matches
    /// nothing (`FALSE`): a filter is never dropped, even when [`Range::filtered`] was bypassed.
    pub fn filter_predicate(&self) -> String {
        if self.filters.is_empty() {
            return "TRUE".to_string();
        }
        self.filters
            .iter()
            .map(|(c, v)| dashboards::drill_filter(c, v).unwrap_or_else(|| "FALSE".to_string()))
            .collect::<Vec<_>>()
            .join(" AND ")
    }

    /// The SQL predicate: string comparisons on `eventtime`, which prune partitions, and the
    /// filters.
    pub fn predicate(&self) -> String {
        let mut parts = Vec::new();
        // RFC 3339 UTC text compares as `eventtime` is written; no quote can occur in it.
        if let Some(s) = self.window.since_text() {
            parts.push(format!("eventtime >= '{s}'"));
        }
        if let Some(u) = self.window.until_text() {
            parts.push(format!("eventtime < '{u}'"));
        }
        if !self.filters.is_empty() {
            parts.push(self.filter_predicate());
        }
        if parts.is_empty() {
            "TRUE".to_string()
        } else {
            parts.join(" AND ")
        }
    }

    /// Whether the range has neither a start nor an end (a dashboard's default applies).
    pub fn is_open(&self) -> bool {
        self.window.since.is_none() && self.window.until.is_none()
    }

    /// The range starting `period_us` before `newest` (microseconds), or unchanged without
    /// a newest event.
    pub fn counted_back(&self, newest: Option<i64>, period_us: i64) -> Range {
        let mut range = self.clone();
        if let Some(newest) = newest {
            range.window.since = Some(newest.saturating_sub(period_us));
        }
        range
    }

    /// The range starting `period` (microseconds) before the lake's newest event before the
    /// range's end (offline data has no "now": `--last 48h` means the lake's last 48 hours up
    /// to `until`). Unchanged when there is no such event.
    pub async fn last(&self, engine: &QueryEngine, period_us: i64) -> Result<Range, ReportError> {
        let newest = newest_event(engine, self.window.until_text().as_deref()).await?;
        Ok(self.counted_back(newest, period_us))
    }
}

/// The lake's newest `eventTime` (before `until`, RFC 3339), in microseconds: where a
/// dashboard's default range (`1 year`, `48 hours`) counts back from.
pub async fn newest_event(
    engine: &QueryEngine,
    until: Option<&str>,
) -> Result<Option<i64>, ReportError> {
    let sql = format!(
        "SELECT max(eventtime) FROM cloudtrail_logs{}",
        until
            .map(|u| format!(" WHERE eventtime < '{}'", u.replace('\'', "''")))
            .unwrap_or_default()
    );
    let query = |source| ReportError::Query {
        dashboard: "the time range".into(),
        tile: "the newest event".into(),
        source,
    };
    let results = engine.run(&sql).await.map_err(query)?;
    Ok(results
        .first()
        .and_then(|r| r.batches.first())
        .and_then(|b| {
            use arrow::array::{Array, AsArray};
            b.column(0)
                .as_string_opt::<i32>()
                .filter(|c| !c.is_empty() && c.is_valid(0))
                .map(|c| c.value(0).to_string())
        })
        .and_then(|t| trawl_schema::parse_event_time(&t))
        .map(|t| t.micros))
}

/// The range a dashboard shows: `range`, or when it is open, the dashboard's default period
/// counted back from `newest` (the lake's newest event, [`newest_event`]).
pub fn default_range(dashboard: &Dashboard, range: &Range, newest: Option<i64>) -> Range {
    if range.is_open() {
        range.counted_back(newest, dashboard.default_period_us)
    } else {
        range.clone()
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ReportError {
    #[error("no dashboard {0:?}; the dashboards: {1}")]
    Unknown(String, String),
    #[error("tile {tile} of {dashboard}: {source}")]
    Query {
        dashboard: String,
        tile: String,
        #[source]
        source: trawl_query::QueryError,
    },
    #[error("tile {tile}: {message}")]
    Render { tile: String, message: String },
    #[error(
        "unknown time zone {0:?} ({1}): use an IANA name such as America/Los_Angeles, or an offset such as +05:30"
    )]
    BadZone(String, String),
    #[error("{0:?} is not a filter column; use one of: {cols}", cols = dashboards::FILTER_COLUMNS.join(", "))]
    UnknownFilter(String),
}

/// One tile's answer.
#[derive(Debug, Clone, Serialize)]
pub struct TileResult {
    pub id: String,
    pub title: String,
    pub chart: Chart,
    pub columns: Vec<String>,
    pub rows: Vec<Vec<serde_json::Value>>,
    /// Rows the query returned: more than `rows` holds when a table's rows were capped.
    #[serde(skip)]
    pub total_rows: usize,
    /// Why the tile has no rows when it cannot have any (no geolocation database...).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
    /// A guidance tile's text ([`Chart::Text`]).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub text: Option<String>,
    pub sql: String,
    #[serde(skip)]
    pub batches: Vec<RecordBatch>,
}

#[derive(Debug, Clone, Serialize)]
pub struct DashboardResult {
    pub id: String,
    pub title: String,
    /// The range the tiles count (in JSON: `since`, `until`, `zone`).
    #[serde(flatten)]
    pub range: Range,
    pub tiles: Vec<TileResult>,
}

/// The dashboards `id` names: one, or `all`.
pub fn select(id: &str) -> Result<Vec<Dashboard>, ReportError> {
    if id == "all" {
        return Ok(dashboards::all());
    }
    dashboards::find(id).map(|d| vec![d]).ok_or_else(|| {
        ReportError::Unknown(
            id.to_string(),
            dashboards::all()
                .iter()
                .map(|d| d.id)
                .collect::<Vec<_>>()
                .join(", "),
        )
    })
}

/// Runs every tile of `dashboard` over `range`. `has_geo`: whether the engine has a
/// geolocation database (without one, geolocation tiles carry a note instead of rows).
pub async fn run(
    engine: &QueryEngine,
    dashboard: &Dashboard,
    range: &Range,
    has_geo: bool,
) -> Result<DashboardResult, ReportError> {
    run_capped(engine, dashboard, range, has_geo, None).await
}

/// [`run`], keeping at most `table_rows` rows of each table tile (charts keep every row):
/// a page that shows the first rows need not convert the rest.
pub async fn run_capped(
    engine: &QueryEngine,
    dashboard: &Dashboard,
    range: &Range,
    has_geo: bool,
    table_rows: Option<usize>,
) -> Result<DashboardResult, ReportError> {
    run_cached(engine, None, dashboard, range, has_geo, table_rows).await
}

/// [`run_capped`], answering the tiles that have a [`Rollup`] from `cache`'s partial
/// answers (the same answers, from less work once the cache holds the lake's commits).
pub async fn run_cached(
    engine: &QueryEngine,
    cache: Option<&TileCache>,
    dashboard: &Dashboard,
    range: &Range,
    has_geo: bool,
    table_rows: Option<usize>,
) -> Result<DashboardResult, ReportError> {
    // A dashboard whose tiles all read a few events reads them from the lake once.
    let scoped = match (cache, dashboard.scope) {
        (None, Some(scope)) => Some(scoped_events(engine, dashboard, scope, range).await?),
        _ => None,
    };
    // A filtered dashboard's partials are computed from its events, read once.
    let filtered = match cache {
        Some(_) if !range.filters.is_empty() => Some(
            rollup::Scoped::of(engine, dashboard)
                .await
                .map_err(|source| ReportError::Query {
                    dashboard: dashboard.id.to_string(),
                    tile: "its events".into(),
                    source,
                })?,
        ),
        _ => None,
    };
    // Tiles run concurrently: small queries leave cores idle between their stages.
    let tiles = futures::future::try_join_all(dashboard.tiles.iter().map(|t| {
        run_tile(
            engine,
            cache,
            scoped.as_ref(),
            filtered.as_ref(),
            dashboard,
            t,
            range,
            has_geo,
            table_rows,
        )
    }))
    .await?;
    Ok(DashboardResult {
        id: dashboard.id.to_string(),
        title: dashboard.title.to_string(),
        range: range.clone(),
        tiles,
    })
}

/// The events of a [`dashboards::Scope`] in `range` (filters applied), with the columns its
/// tiles read.
async fn scoped_events(
    engine: &QueryEngine,
    dashboard: &Dashboard,
    scope: dashboards::Scope,
    range: &Range,
) -> Result<(arrow::datatypes::SchemaRef, Vec<RecordBatch>), ReportError> {
    let computed: String = scope
        .computed
        .iter()
        .map(|(expr, column)| format!(", {expr} AS \"{column}\""))
        .collect();
    let sql = format!(
        "SELECT {}{computed} FROM cloudtrail_logs WHERE {} AND {}",
        scope.columns,
        range.predicate(),
        scope.predicate
    );
    let result = engine
        .run(&sql)
        .await
        .map_err(|source| ReportError::Query {
            dashboard: dashboard.id.to_string(),
            tile: "its events".into(),
            source,
        })?
        .pop()
        .expect("one statement, one result");
    Ok((result.schema, result.batches))
}

#[allow(
    clippy::too_many_arguments,
    reason = "one call site, each argument named there"
)]
async fn run_tile(
    engine: &QueryEngine,
    cache: Option<&TileCache>,
    scoped: Option<&(arrow::datatypes::SchemaRef, Vec<RecordBatch>)>,
    filtered: Option<&rollup::Scoped>,
    dashboard: &Dashboard,
    t: &Tile,
    range: &Range,
    has_geo: bool,
    table_rows: Option<usize>,
) -> Result<TileResult, ReportError> {
    // A tile without rows: guidance text, or why it cannot have any.
    let without_rows = |note: Option<&str>, text: Option<&str>, sql: String| TileResult {
        id: t.id.to_string(),
        title: t.title.to_string(),
        chart: t.chart,
        columns: Vec::new(),
        rows: Vec::new(),
        total_rows: 0,
        note: note.map(str::to_string),
        text: text.map(str::to_string),
        sql,
        batches: Vec::new(),
    };
    if let Some(text) = t.text {
        return Ok(without_rows(None, Some(text), String::new()));
    }
    let zoned = dashboards::zoned(&t.sql, range.zone.as_deref());
    let sql = zoned.replace("{range}", &range.predicate());
    if t.geo && !has_geo {
        return Ok(without_rows(Some(trawl_geo::HOW_TO_GET), None, sql));
    }
    let query = |source| ReportError::Query {
        dashboard: dashboard.id.to_string(),
        tile: t.id.to_string(),
        source,
    };
    let result = match (cache, &t.rollup, scoped) {
        (Some(cache), Some(rollup), _) => cache
            .answer(engine, t.id, rollup, range, filtered)
            .await
            .map_err(query)?,
        // The range and filters were applied when the events were read.
        (_, _, Some((schema, batches))) => {
            let mut in_memory = zoned
                .replace("{range}", "TRUE")
                .replace("FROM cloudtrail_logs", "FROM {partial}");
            for (expr, column) in dashboard.scope.iter().flat_map(|s| s.computed) {
                in_memory = in_memory.replace(expr, &format!("\"{column}\""));
            }
            engine
                .run_on(&in_memory, schema.clone(), batches.clone())
                .await
                .map_err(query)?
        }
        _ => engine
            .run(&sql)
            .await
            .map_err(query)?
            .pop()
            .expect("one statement, one result"),
    };
    let total_rows = result.batches.iter().map(RecordBatch::num_rows).sum();
    let cap = match t.chart {
        Chart::Table => table_rows,
        _ => None,
    };
    let (columns, rows) = table_head(&result, cap).map_err(|message| ReportError::Render {
        tile: t.id.to_string(),
        message,
    })?;
    Ok(TileResult {
        id: t.id.to_string(),
        title: t.title.to_string(),
        chart: t.chart,
        columns,
        rows,
        total_rows,
        note: None,
        text: None,
        sql,
        batches: result.batches,
    })
}

/// A [`Chart::Heatmap`] tile as its cross-tab: the weekday names across (Monday first) and,
/// for each hour 0-23, the measure per weekday (0 where no event fell). `None` for other tiles
/// or rows of another shape.
pub fn pivot(t: &TileResult) -> Option<([&'static str; 7], Vec<[u64; 7]>)> {
    const DAYS: [&str; 7] = ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"];
    if t.chart != Chart::Heatmap || t.columns.len() < 4 {
        return None;
    }
    let mut grid = vec![[0u64; 7]; 24];
    for r in &t.rows {
        let hour = r[0].as_u64().filter(|h| *h < 24)?;
        let day = r[1].as_u64().filter(|d| (1..=7).contains(d))?;
        grid[hour as usize][day as usize - 1] += r[3].as_u64()?;
    }
    Some((DAYS, grid))
}

/// A statement's column names and its rows as JSON values.
pub fn table_of(
    result: &trawl_query::StatementResult,
) -> Result<(Vec<String>, Vec<Vec<serde_json::Value>>), String> {
    table_head(result, None)
}

/// [`table_of`] with at most `limit` rows converted.
fn table_head(
    result: &trawl_query::StatementResult,
    limit: Option<usize>,
) -> Result<(Vec<String>, Vec<Vec<serde_json::Value>>), String> {
    let columns: Vec<String> = result
        .schema
        .fields()
        .iter()
        .map(|f| f.name().clone())
        .collect();
    let rows = match limit {
        Some(n) => json_rows(&trawl_query::first_rows(&result.batches, n), &columns)?,
        None => json_rows(&result.batches, &columns)?,
    };
    Ok((columns, rows))
}

/// Rows as JSON values in column order (numbers stay numbers).
fn json_rows(
    batches: &[RecordBatch],
    columns: &[String],
) -> Result<Vec<Vec<serde_json::Value>>, String> {
    let mut writer = arrow::json::ArrayWriter::new(Vec::new());
    for b in batches {
        writer.write(b).map_err(|e| e.to_string())?;
    }
    writer.finish().map_err(|e| e.to_string())?;
    let bytes = writer.into_inner();
    if bytes.is_empty() {
        return Ok(Vec::new());
    }
    let objects: Vec<serde_json::Map<String, serde_json::Value>> =
        serde_json::from_slice(&bytes).map_err(|e| e.to_string())?;
    Ok(objects
        .into_iter()
        .map(|mut o| {
            columns
                .iter()
                .map(|c| o.remove(c).unwrap_or(serde_json::Value::Null))
                .collect()
        })
        .collect())
}
