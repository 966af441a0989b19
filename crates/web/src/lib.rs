//! `trawl serve`: the five dashboards as a local web app. Pages are rendered on the server
//! (charts are inline SVG), so the app needs no JavaScript and no network: a time-range
//! form, drill-down links (a user, address, event name, error code or group id opens the
//! events behind it; an event opens its full JSON), and a read-only SQL console with CSV
//! download.
//!
//! Each request answers from the latest committed snapshot of the lake (an ingest running
//! beside the server shows up commit by commit, never half a commit). The console runs
//! only reading statements, for at most [`Limits::sql_timeout`], and keeps at most
//! [`Limits::max_rows`] rows.

use std::fmt::Write as _;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::{Path, Query, State};
use axum::http::{StatusCode, header};
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::get;
use serde::Deserialize;
use serde_json::Value;
use tokio::sync::Mutex;
use trawl_geo::GeoDb;
use trawl_lake::Lake;
use trawl_query::{QueryEngine, QueryError, StatementResult};
use trawl_report::html::{escape, page, table, url_encode};
use trawl_report::{Range, dashboards};
use trawl_schema::TimeWindow;

mod background;
mod detections;
mod events;
mod integrity;
mod serve;
mod warm;
pub use serve::{ServerLimits, serve};

/// What a request can fail with.
#[derive(Debug, thiserror::Error)]
pub enum WebError {
    /// The lake cannot be read: the server's side.
    #[error(transparent)]
    Lake(#[from] trawl_lake::LakeError),
    /// The statement is wrong, or running it failed ([`QueryError`] says which).
    #[error(transparent)]
    Query(#[from] QueryError),
    #[error(
        "the statement was cancelled after {secs} s (trawl serve --sql-timeout); narrow it with a time range or LIMIT, or run it with `trawl sql`"
    )]
    Timeout { secs: f64 },
    /// A console statement that writes, or does not parse.
    #[error(
        "the console is read-only: only SELECT, WITH, EXPLAIN, SHOW and DESCRIBE statements run here{}",
        parse.as_ref().map(|e| format!(" (the statement did not parse: {e})")).unwrap_or_default()
    )]
    NotReadOnly {
        #[source]
        parse: Option<datafusion::sql::sqlparser::parser::ParserError>,
    },
    #[error("no statement")]
    Empty,
    #[error("the statement returned nothing")]
    NoResult,
    /// Every console slot stayed taken for as long as a statement may wait.
    #[error(
        "{running} console statements are running already and none ended in time (trawl serve --sql-concurrency); try again when one has ended"
    )]
    Busy { running: usize },
    /// `?since=`/`?until=` that is not a time.
    #[error(
        "since/until: {0}. Leave a field empty for an open end, or write e.g. 2024-03-01 or 2024-03-01T12:00:00Z"
    )]
    BadRange(#[source] trawl_schema::WindowError),
    /// A result that does not render as a table.
    #[error("{0}")]
    Render(String),
    /// A query-string parameter no page knows, or a filter on an unknown column.
    #[error(
        "{0}; the other parameters: since=, until= (times), tz= (a time zone), all=1 (the whole lake)"
    )]
    BadParameter(#[source] trawl_report::ReportError),
}

/// What the handlers share.
#[derive(Debug)]
pub struct App {
    lake: Lake,
    has_geo: bool,
    limits: Limits,
    /// The dashboards' (and pages') session.
    dashboards: Session,
    /// The console's session, bounded apart from the dashboards'.
    console: Session,
    console_slots: tokio::sync::Semaphore,
    /// The dashboards' partial answers, by commit.
    tiles: Option<trawl_report::TileCache>,
    /// Where console statements, drill-down and event pages run: at a lower priority.
    background: background::Background,
    /// The lake's newest event at a snapshot version: where default ranges count back from.
    newest: Mutex<Option<(u64, Option<i64>)>>,
    /// Set once the dashboards' default pages are first computed ([`App::keep_warm`]): the
    /// snapshot version and how long it took. `GET /ready` answers 503 until then.
    warm: tokio::sync::watch::Sender<Option<(u64, Duration)>>,
    /// The lake's latest validation, with what it was read from.
    integrity: std::sync::Mutex<Option<(integrity::Key, Arc<trawl_report::Integrity>)>>,
    /// The Sigma rules of the "Detections" page, and its latest digest.
    rules: Option<Arc<trawl_detections::RuleSet>>,
    detections: std::sync::Mutex<Option<(detections::Key, Arc<trawl_detections::Digest>)>>,
}

/// Bounds on what one SQL console request may cost.
#[derive(Debug, Clone)]
pub struct Limits {
    /// A console statement running longer is cancelled.
    pub sql_timeout: Duration,
    /// Rows a console result (and its CSV download) keeps at most.
    pub max_rows: usize,
    /// The dashboards' query session: memory limit and spill directory.
    pub engine: trawl_query::EngineOptions,
    /// The console's own session memory limit (default: a quarter of the dashboards'), so a
    /// heavy console query cannot starve the dashboards.
    pub console_memory: Option<usize>,
    /// Console statements running at once, at most; more wait for a slot.
    pub console_concurrency: usize,
    /// How long a console statement waits for a slot (within `sql_timeout`) before it is
    /// refused with 503.
    pub console_wait: Duration,
    /// Bytes of dashboard tiles' partial answers kept ([`trawl_report::TileCache`]); 0:
    /// none, every page queries the lake.
    pub dashboard_cache: u64,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            sql_timeout: Duration::from_secs(60),
            max_rows: 100_000,
            engine: trawl_query::EngineOptions::default(),
            console_memory: None,
            console_concurrency: 2,
            console_wait: Duration::from_secs(60),
            dashboard_cache: 256 << 20,
        }
    }
}

/// A query session over the lake's latest commit, reopened in the same runtime (memory pool,
/// footers read) when a commit lands. A request keeps the engine it started with to its end.
#[derive(Debug)]
struct Session {
    engine: Mutex<Arc<QueryEngine>>,
    /// The session's memory limit, resolved once (a default is a share of the machine).
    memory_limit: usize,
}

impl Session {
    async fn open(
        lake: &Lake,
        geo: Option<Arc<GeoDb>>,
        options: trawl_query::EngineOptions,
    ) -> Result<Session, QueryError> {
        let engine = QueryEngine::open_with_options(lake, geo, &options).await?;
        Ok(Session {
            memory_limit: engine.memory_limit(),
            engine: Mutex::new(Arc::new(engine)),
        })
    }

    async fn latest(&self, lake: &Lake) -> Result<Arc<QueryEngine>, WebError> {
        let mut engine = self.engine.lock().await;
        if lake.latest_version()? != engine.version() {
            // The same runtime: memory pool, and footers already read.
            *engine = Arc::new(engine.reopen(lake).await?);
        }
        Ok(engine.clone())
    }
}

impl App {
    /// Opens the lake's latest snapshot; `geo` answers the `geoip_*` functions and the
    /// geolocation tile.
    pub async fn open(
        lake: Lake,
        geo: Option<Arc<GeoDb>>,
        limits: Limits,
    ) -> Result<Self, QueryError> {
        let has_geo = geo.as_ref().is_some_and(|g| g.has_location());
        let dashboards = Session::open(&lake, geo.clone(), limits.engine.clone()).await?;
        // The console's own limit: a quarter of the dashboards' unless set.
        let console_limit = limits
            .console_memory
            .unwrap_or(dashboards.memory_limit / 4)
            .max(1);
        let console = Session::open(
            &lake,
            geo,
            trawl_query::EngineOptions {
                memory_limit: Some(console_limit),
                spill_dir: limits.engine.spill_dir.clone(),
                distributed: None,
            },
        )
        .await?;
        Ok(App {
            has_geo,
            lake,
            console_slots: tokio::sync::Semaphore::new(limits.console_concurrency.max(1)),
            background: background::Background::new().map_err(|e| {
                QueryError::Execution(format!("starting the background threads: {e}"))
            })?,
            tiles: (limits.dashboard_cache > 0)
                .then(|| trawl_report::TileCache::new(limits.dashboard_cache)),
            limits,
            dashboards,
            console,
            newest: Mutex::new(None),
            warm: tokio::sync::watch::Sender::new(None),
            integrity: std::sync::Mutex::new(None),
            rules: None,
            detections: std::sync::Mutex::new(None),
        })
    }

    /// The dashboards' engine over the latest committed snapshot.
    async fn engine(&self) -> Result<Arc<QueryEngine>, WebError> {
        self.dashboards.latest(&self.lake).await
    }

    /// Runs a console statement within the limits: a slot of `console_concurrency`, the
    /// console's memory, the timeout and the row cap.
    async fn read_only_query(&self, sql: &str) -> Result<(StatementResult, bool), WebError> {
        // One deadline for the wait and the run: a statement answers within sql_timeout.
        let start = tokio::time::Instant::now();
        let deadline = start + self.limits.sql_timeout;
        let wait = (start + self.limits.console_wait).min(deadline);
        let _slot = tokio::time::timeout_at(wait, self.console_slots.acquire())
            .await
            .map_err(|_| WebError::Busy {
                running: self.limits.console_concurrency.max(1),
            })?
            .expect("the console semaphore is never closed");
        let engine = self.console.latest(&self.lake).await?;
        let (sql, max_rows) = (sql.to_string(), self.limits.max_rows);
        let run = self
            .background
            .run(async move { engine.run_read_only(&sql, max_rows).await });
        match tokio::time::timeout_at(deadline, run).await {
            Err(_) => Err(WebError::Timeout {
                secs: self.limits.sql_timeout.as_secs_f64(),
            }),
            Ok(Err(e)) => Err(e.into()),
            Ok(Ok(mut results)) => results.pop().ok_or(WebError::NoResult),
        }
    }
}

/// A console error's status: 503 when every slot is taken (try again), 400 otherwise (the
/// statement, its cost or its length is at fault).
fn error_status(e: &WebError) -> StatusCode {
    match e {
        WebError::Busy { .. } => StatusCode::SERVICE_UNAVAILABLE,
        _ => StatusCode::BAD_REQUEST,
    }
}

/// Rows a dashboard tile's table shows at most (its JSON at /api/dashboards has all).
const TILE_ROWS: usize = 1000;
/// Rows an events page shows at most.
pub(crate) const EVENTS_LIMIT: usize = 500;
/// Rows the SQL console shows at most (the CSV download has them all).
const CONSOLE_LIMIT: usize = 1000;

pub fn router(app: Arc<App>) -> Router {
    Router::new()
        .route(
            "/",
            get(|| async { Redirect::to("/dashboards/general-operations") }),
        )
        .route("/dashboards/{id}", get(dashboard))
        .route("/api/dashboards/{id}", get(dashboard_json))
        .route("/events", get(events::events))
        .route("/events.csv", get(events::export_csv))
        .route("/events.jsonl", get(events::export_jsonl))
        .route("/events/{id}", get(event))
        .route("/sql", get(console))
        .route("/sql.csv", get(console_csv))
        .route("/integrity", get(integrity::integrity_page))
        .route("/detections", get(detections::detections_page))
        .route("/ready", get(warm::ready))
        .with_state(app)
}

/// A page's query string: `since`, `until`, filters by column name (`account=...`,
/// `eventname=...`: [`dashboards::FILTER_COLUMNS`]), the drill-down's `col`/`value` pair, and
/// the names in `also` (e.g. `page`). Any other name is the client's error.
pub(crate) type Params = std::collections::BTreeMap<String, String>;

/// The range a query string asks for; a time that does not parse, an unknown parameter or
/// filter column is the client's error (400), said with what was expected.
pub(crate) fn range_of(params: &Params, also: &[&str]) -> Result<Range, WebError> {
    let clean = |k: &str| {
        params
            .get(k)
            .map(|s| s.trim().to_string())
            .filter(|s| !s.is_empty())
    };
    let window = TimeWindow::parse(clean("since").as_deref(), clean("until").as_deref())
        .map_err(WebError::BadRange)?;
    let mut range = Range {
        window,
        filters: Vec::new(),
        zone: None,
    };
    for (k, v) in params {
        let v = v.trim();
        match k.as_str() {
            "since" | "until" | "value" => {}
            "tz" => range = range.in_zone(v).map_err(WebError::BadParameter)?,
            "col" => {
                if let (Some(c), Some(v)) = (clean("col"), clean("value")) {
                    range = range.filtered(&c, &v).map_err(WebError::BadParameter)?;
                }
            }
            k if also.contains(&k) => {}
            k if dashboards::FILTER_COLUMNS.contains(&k) => {
                if !v.is_empty() {
                    range = range.filtered(k, v).map_err(WebError::BadParameter)?;
                }
            }
            other => {
                return Err(WebError::BadParameter(
                    trawl_report::ReportError::UnknownFilter(other.to_string()),
                ));
            }
        }
    }
    Ok(range)
}

/// The query string that asks for `r` (since, until, each filter), each part after `&`.
pub(crate) fn range_params(r: &Range) -> String {
    let mut q = String::new();
    if let Some(s) = r.window.since_text() {
        let _ = write!(q, "&since={}", url_encode(&s));
    }
    if let Some(u) = r.window.until_text() {
        let _ = write!(q, "&until={}", url_encode(&u));
    }
    for (c, v) in &r.filters {
        let _ = write!(q, "&{}={}", url_encode(c), url_encode(v));
    }
    if let Some(z) = &r.zone {
        let _ = write!(q, "&tz={}", url_encode(z));
    }
    q
}

/// The filters the form has a field for, as in the block: account, region, user, event name.
const FORM_FILTERS: [(&str, &str, &str); 4] = [
    ("account", "account", "111122223333"),
    ("region", "region", "us-east-1"),
    ("user", "user", "alice"),
    ("eventname", "event", "ConsoleLogin"),
];

/// The header bar: dashboards, the SQL console, and the time-range form.
pub(crate) fn header(current: &str, range: &Range, form_action: &str) -> String {
    let mut h = String::from("<strong>trawl</strong><nav>");
    for d in dashboards::all() {
        let _ = write!(
            h,
            "<a href=\"/dashboards/{}?{}\"{}>{}</a>",
            d.id,
            escape(range_params(range).trim_start_matches('&')),
            if d.id == current {
                " class=\"current\""
            } else {
                ""
            },
            escape(d.title)
        );
    }
    let current_if = |page: &str| {
        if current == page {
            " class=\"current\""
        } else {
            ""
        }
    };
    let _ = write!(
        h,
        "<a href=\"/detections?{}\"{}>Detections</a><a href=\"/sql\"{}>SQL console</a>\
         <a href=\"/integrity\"{}>Log integrity</a></nav>",
        escape(range_params(range).trim_start_matches('&')),
        current_if("detections"),
        current_if("sql"),
        current_if("integrity")
    );
    if !form_action.is_empty() {
        let _ = write!(
            h,
            "<form method=\"get\" action=\"{}\" id=\"range\"><label>from <input name=\"since\" \
             placeholder=\"2024-03-01T00:00:00Z\" value=\"{}\"></label><label>to <input name=\"until\" \
             placeholder=\"2024-03-08T00:00:00Z\" value=\"{}\"></label>",
            escape(form_action),
            escape(&range.window.since_text().unwrap_or_default()),
            escape(&range.window.until_text().unwrap_or_default()),
        );
        let value_of = |col: &str| {
            range
                .filters
                .iter()
                .find(|(c, _)| c == col)
                .map_or("", |(_, v)| v.as_str())
        };
        for (col, label, example) in FORM_FILTERS {
            let _ = write!(
                h,
                "<label>{label} <input name=\"{col}\" size=\"12\" placeholder=\"{example}\" value=\"{}\"></label>",
                escape(value_of(col))
            );
        }
        let _ = write!(
            h,
            "<label>zone <input name=\"tz\" size=\"10\" placeholder=\"UTC\" value=\"{}\"></label>",
            escape(range.zone.as_deref().unwrap_or(""))
        );
        // Any other filter: the first the named fields do not show.
        let other = range
            .filters
            .iter()
            .find(|(c, _)| !FORM_FILTERS.iter().any(|f| f.0 == c));
        let _ = write!(
            h,
            "<label>where <select name=\"col\">{}</select></label>\
             <input name=\"value\" placeholder=\"sg-0123abcd\" value=\"{}\"><button type=\"submit\">Apply</button></form>",
            filter_options(other.map(|f| f.0.as_str())),
            escape(other.map_or("", |f| f.1.as_str()))
        );
    }
    h
}

/// The filter columns as `<option>`s, `current` selected.
fn filter_options(current: Option<&str>) -> String {
    let mut out = String::from("<option value=\"\">(no filter)</option>");
    for c in dashboards::FILTER_COLUMNS
        .iter()
        .filter(|c| !FORM_FILTERS.iter().any(|f| f.0 == **c))
    {
        let _ = write!(
            out,
            "<option{}>{c}</option>",
            if Some(*c) == current { " selected" } else { "" }
        );
    }
    out
}

pub(crate) fn error_page(status: StatusCode, title: &str, message: &str) -> Response {
    let body = format!(
        "<h1>{}</h1><p class=\"error\">{}</p>",
        escape(title),
        escape(message)
    );
    (
        status,
        Html(page(title, &header("", &Range::default(), ""), &body)),
    )
        .into_response()
}

async fn dashboard(
    State(app): State<Arc<App>>,
    Path(id): Path<String>,
    Query(q): Query<Params>,
) -> Response {
    let Some(d) = dashboards::find(&id) else {
        return error_page(StatusCode::NOT_FOUND, "No such dashboard", &id);
    };
    let asked = std::time::Instant::now();
    let range = match range_of(&q, &["all"]) {
        Ok(r) => r,
        Err(bad) => {
            return error_page(StatusCode::BAD_REQUEST, "Bad request", &bad.to_string());
        }
    };
    let engine = match app.engine().await {
        Ok(e) => e,
        Err(e) => return error_page(StatusCode::INTERNAL_SERVER_ERROR, d.title, &e.to_string()),
    };
    let all = q.get("all").is_some_and(|v| !v.trim().is_empty());
    let range = match app.shown_range(&engine, &d, &range, all).await {
        Ok(r) => r,
        Err(e) => return error_page(StatusCode::INTERNAL_SERVER_ERROR, d.title, &e.to_string()),
    };
    let shown = asked.elapsed();
    let tiles = trawl_report::run_cached(
        &engine,
        app.tiles.as_ref(),
        &d,
        &range,
        app.has_geo,
        Some(TILE_ROWS),
    )
    .await;
    tracing::debug!(
        "dashboard {} {:?}: snapshot and range {} ms, tiles {} ms",
        d.id,
        q,
        shown.as_millis(),
        (asked.elapsed() - shown).as_millis()
    );
    match tiles {
        Ok(result) => {
            // Drill-downs keep the time range and the page's filters, and add the cell's.
            let page_range = range.clone();
            let link = move |column: &str, value: &Value| -> Option<String> {
                let v = value.as_str()?;
                let drill = page_range.clone().filtered(column, v).ok()?;
                Some(format!(
                    "/events?{}",
                    range_params(&drill).trim_start_matches('&')
                ))
            };
            let body = format!(
                "{}{}",
                integrity::mark(&app, engine.version(), &range),
                trawl_report::html::dashboard_body(&result, Some(&link), Some(TILE_ROWS))
            );
            Html(page(
                d.title,
                &header(d.id, &range, &format!("/dashboards/{}", d.id)),
                &body,
            ))
            .into_response()
        }
        Err(e) => error_page(StatusCode::INTERNAL_SERVER_ERROR, d.title, &e.to_string()),
    }
}

async fn dashboard_json(
    State(app): State<Arc<App>>,
    Path(id): Path<String>,
    Query(q): Query<Params>,
) -> Response {
    let Some(d) = dashboards::find(&id) else {
        return (StatusCode::NOT_FOUND, format!("no dashboard {id}")).into_response();
    };
    let engine = match app.engine().await {
        Ok(e) => e,
        Err(e) => return (StatusCode::INTERNAL_SERVER_ERROR, e.to_string()).into_response(),
    };
    let range = match range_of(&q, &["all"]) {
        Ok(r) => r,
        Err(bad) => return (StatusCode::BAD_REQUEST, bad.to_string()).into_response(),
    };
    let all = q.get("all").is_some_and(|v| !v.trim().is_empty());
    let range = match app.shown_range(&engine, &d, &range, all).await {
        Ok(r) => r,
        Err(e) => return (StatusCode::INTERNAL_SERVER_ERROR, e.to_string()).into_response(),
    };
    match trawl_report::run_cached(&engine, app.tiles.as_ref(), &d, &range, app.has_geo, None).await
    {
        Ok(result) => axum::Json(serde_json::json!({ "dashboards": [result] })).into_response(),
        Err(e) => (StatusCode::INTERNAL_SERVER_ERROR, e.to_string()).into_response(),
    }
}

async fn event(State(app): State<Arc<App>>, Path(id): Path<String>) -> Response {
    let sql = format!(
        "SELECT * FROM {} WHERE eventid = '{}'",
        trawl_schema::PHYSICAL_TABLE,
        id.replace('\'', "''")
    );
    let engine = match app.engine().await {
        Ok(e) => e,
        Err(e) => return error_page(StatusCode::INTERNAL_SERVER_ERROR, "Event", &e.to_string()),
    };
    let batches = match app
        .background
        .run(async move { engine.run(&sql).await })
        .await
    {
        Ok(mut r) => r.pop().map(|r| r.batches).unwrap_or_default(),
        Err(e) => return error_page(StatusCode::INTERNAL_SERVER_ERROR, "Event", &e.to_string()),
    };
    let mut records = Vec::new();
    for b in &batches {
        match trawl_schema::rebuild_batch(b) {
            Ok(r) => records.extend(r),
            Err(e) => {
                return error_page(StatusCode::INTERNAL_SERVER_ERROR, "Event", &e.to_string());
            }
        }
    }
    if records.is_empty() {
        return error_page(StatusCode::NOT_FOUND, "No such event", &id);
    }
    let mut body = format!("<h1>Event {}</h1>", escape(&id));
    if records.len() > 1 {
        let _ = write!(
            body,
            "<p class=\"note\">{} records share this eventID (conflicting deliveries).</p>",
            records.len()
        );
    }
    for r in &records {
        let text = serde_json::to_string_pretty(r).unwrap_or_default();
        let _ = write!(body, "<pre class=\"event-json\">{}</pre>", escape(&text));
    }
    Html(page(
        &format!("Event {id}"),
        &header("", &Range::default(), ""),
        &body,
    ))
    .into_response()
}

#[derive(Debug, Default, Deserialize)]
struct SqlQuery {
    q: Option<String>,
}

/// Only statements that read: SELECT/WITH (queries), EXPLAIN, SHOW and DESCRIBE.
pub fn read_only(sql: &str) -> Result<(), WebError> {
    use datafusion::sql::sqlparser::ast::Statement;
    use datafusion::sql::sqlparser::dialect::GenericDialect;
    use datafusion::sql::sqlparser::parser::Parser;
    trawl_query::check_nesting(sql)?;
    let statements = Parser::parse_sql(&GenericDialect {}, sql)
        .map_err(|e| WebError::NotReadOnly { parse: Some(e) })?;
    if statements.is_empty() {
        return Err(WebError::Empty);
    }
    for s in &statements {
        let ok = match s {
            Statement::Query(_) | Statement::ExplainTable { .. } => true,
            Statement::Explain {
                statement, analyze, ..
            } => !analyze || matches!(statement.as_ref(), Statement::Query(_)),
            Statement::ShowTables { .. }
            | Statement::ShowColumns { .. }
            | Statement::ShowFunctions { .. }
            | Statement::ShowVariable { .. }
            | Statement::ShowCreate { .. }
            | Statement::ShowSchemas { .. }
            | Statement::ShowDatabases { .. }
            | Statement::ShowViews { .. } => true,
            _ => false,
        };
        if !ok {
            return Err(WebError::NotReadOnly { parse: None });
        }
    }
    Ok(())
}

async fn console(State(app): State<Arc<App>>, Query(q): Query<SqlQuery>) -> Response {
    let sql = q.q.unwrap_or_default();
    let mut body = format!(
        "<h1>SQL console</h1><form method=\"get\" action=\"/sql\" id=\"console\">\
         <textarea name=\"q\" rows=\"8\">{}</textarea><p><button type=\"submit\">Run</button> \
         Athena (Trino) SQL over <code>cloudtrail_logs</code>; read-only.</p></form>",
        escape(if sql.is_empty() {
            "SELECT eventname, count(*) AS events FROM cloudtrail_logs GROUP BY 1 ORDER BY 2 DESC LIMIT 20"
        } else {
            &sql
        })
    );
    let mut status = StatusCode::OK;
    if !sql.trim().is_empty() {
        match read_only(&sql) {
            Err(e) => {
                status = StatusCode::FORBIDDEN;
                let _ = write!(
                    body,
                    "<p class=\"error\" id=\"refused\">{}</p>",
                    escape(&e.to_string())
                );
            }
            Ok(()) => match app.read_only_query(&sql).await.and_then(|(r, cut)| {
                Ok((trawl_report::table_of(&r).map_err(WebError::Render)?, cut))
            }) {
                Ok(((columns, mut rows), cut)) => {
                    let total = rows.len();
                    rows.truncate(CONSOLE_LIMIT);
                    let shown = if total > CONSOLE_LIMIT {
                        format!(" (the first {CONSOLE_LIMIT} shown)")
                    } else {
                        String::new()
                    };
                    let _ = write!(
                        body,
                        "<p id=\"result-count\">{}{total} rows{shown} · <a id=\"csv\" href=\"/sql.csv?q={}\">download CSV</a></p>{}",
                        if cut { "more than " } else { "" },
                        url_encode(&sql),
                        table(&columns, &rows, None)
                    );
                }
                Err(e) => {
                    status = error_status(&e);
                    let _ = write!(body, "<p class=\"error\">{}</p>", escape(&e.to_string()));
                }
            },
        }
    }
    (
        status,
        Html(page(
            "SQL console",
            &header("sql", &Range::default(), ""),
            &body,
        )),
    )
        .into_response()
}

async fn console_csv(State(app): State<Arc<App>>, Query(q): Query<SqlQuery>) -> Response {
    let sql = q.q.unwrap_or_default();
    if let Err(e) = read_only(&sql) {
        return (StatusCode::FORBIDDEN, e.to_string()).into_response();
    }
    let batches = match app.read_only_query(&sql).await {
        Ok((r, _)) => r.batches,
        Err(e) => return (error_status(&e), e.to_string()).into_response(),
    };
    let mut out = Vec::new();
    {
        let mut w = arrow::csv::Writer::new(&mut out);
        for b in &batches {
            if let Err(e) = w.write(b) {
                return (StatusCode::INTERNAL_SERVER_ERROR, e.to_string()).into_response();
            }
        }
    }
    (
        [
            (header::CONTENT_TYPE, "text/csv; charset=utf-8"),
            (
                header::CONTENT_DISPOSITION,
                "attachment; filename=\"trawl-query.csv\"",
            ),
        ],
        out,
    )
        .into_response()
}
