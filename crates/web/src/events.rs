//! The drill-down: the events behind a tile's cell (or any set of filters), page by page in
//! time order, and the whole list as CSV or JSON Lines.

use std::fmt::Write as _;
use std::sync::Arc;

use axum::extract::{Query, State};
use axum::http::{StatusCode, header as http_header};
use axum::response::{Html, IntoResponse, Response};
use serde_json::Value;
use trawl_query::QueryEngine;
use trawl_report::Range;
use trawl_report::html::{escape, page, table, url_encode};

use crate::{App, EVENTS_LIMIT, Params, WebError, error_page, header, range_of, range_params};

/// The columns a drill-down lists, newest first. `resource` is what the event acted on, as
/// the `resource` filter finds it: its first ARN in `resources`, else the bucket or instance
/// the request names.
fn list_sql(range: &Range) -> String {
    format!(
        "SELECT eventtime, eventname, eventsource, coalesce(useridentity.arn, useridentity.principalid) AS user_arn, \
         sourceipaddress, errorcode, awsregion, recipientaccountid AS account, \
         coalesce(element_at(transform(resources, r -> r.arn), 1), \
                  json_extract_scalar(requestparameters, '$.bucketName'), \
                  json_extract_scalar(requestparameters, '$.instanceId'), \
                  json_extract_scalar(requestparameters, '$.instancesSet.items[0].instanceId')) AS resource, \
         eventid FROM cloudtrail_logs WHERE {} ORDER BY eventtime DESC, eventid",
        range.predicate()
    )
}

/// The range of a drill-down request, which needs at least one filter (else it would list
/// the whole lake); `also` are the other parameters the page takes.
fn drill_range(q: &Params, also: &[&str]) -> Result<Range, (StatusCode, String)> {
    let range = range_of(q, also).map_err(|e| (StatusCode::BAD_REQUEST, e.to_string()))?;
    if range.filters.is_empty() {
        return Err((
            StatusCode::BAD_REQUEST,
            format!(
                "a drill-down needs a filter, e.g. ?eventname=ConsoleLogin; the filter columns: {}",
                trawl_report::dashboards::FILTER_COLUMNS.join(", ")
            ),
        ));
    }
    Ok(range)
}

/// Columns and rows of a query's (last) statement, as JSON values.
async fn rows(engine: &QueryEngine, sql: &str) -> Result<(Vec<String>, Vec<Vec<Value>>), WebError> {
    let mut results = engine.run(sql).await?;
    match results.pop() {
        Some(result) => trawl_report::table_of(&result).map_err(WebError::Render),
        None => Ok((Vec::new(), Vec::new())),
    }
}

/// `/events?<filters>[&page=N]`: [`EVENTS_LIMIT`] events a page, newest first, with links to
/// the next and previous pages and to the whole list as CSV and JSON Lines.
pub(crate) async fn events(State(app): State<Arc<App>>, Query(q): Query<Params>) -> Response {
    let range = match drill_range(&q, &["page"]) {
        Ok(r) => r,
        Err((status, message)) => return error_page(status, "Bad request", &message),
    };
    let page_no = match q.get("page").map(|p| p.trim()).filter(|p| !p.is_empty()) {
        None => 0,
        Some(p) => match p.parse::<usize>() {
            Ok(n) if n <= 1_000_000 => n,
            _ => {
                return error_page(
                    StatusCode::BAD_REQUEST,
                    "Bad request",
                    &format!("page={p}: a page number from 0"),
                );
            }
        },
    };
    let filters: Vec<String> = range
        .filters
        .iter()
        .map(|(c, v)| format!("{c} = {v}"))
        .collect();
    let title = format!("Events where {}", filters.join(" and "));
    // One row more than a page says whether there is a next page.
    let sql = format!(
        "{} LIMIT {} OFFSET {}",
        list_sql(&range),
        EVENTS_LIMIT + 1,
        page_no * EVENTS_LIMIT
    );
    let count_sql = format!(
        "SELECT count(*) FROM cloudtrail_logs WHERE {}",
        range.predicate()
    );
    let engine = match app.engine().await {
        Ok(e) => e,
        Err(e) => return error_page(StatusCode::INTERNAL_SERVER_ERROR, &title, &e.to_string()),
    };
    let answer = app
        .background
        .run(async move {
            let (columns, rows) = rows(&engine, &sql).await?;
            let (_, total) = self::rows(&engine, &count_sql).await?;
            let total = total.first().and_then(|r| r[0].as_u64()).unwrap_or(0);
            Ok::<_, WebError>((columns, rows, total))
        })
        .await;
    match answer {
        Ok((columns, mut rows, total)) => {
            let more = rows.len() > EVENTS_LIMIT;
            rows.truncate(EVENTS_LIMIT);
            // An event id opens the event; a user, address, resource... narrows the drill.
            let link = |column: &str, value: &Value| -> Option<String> {
                let v = value.as_str()?;
                if column == trawl_schema::COL_EVENTID {
                    return Some(format!("/events/{}", url_encode(v)));
                }
                let narrower = range.clone().filtered(column, v).ok()?;
                Some(format!(
                    "/events?{}",
                    range_params(&narrower).trim_start_matches('&')
                ))
            };
            let params = range_params(&range);
            let first = page_no * EVENTS_LIMIT;
            let mut nav = format!(
                "<p class=\"pages\" id=\"pages\">{total} events; {} to {} shown",
                if rows.is_empty() { 0 } else { first + 1 },
                first + rows.len()
            );
            if page_no > 0 {
                let _ = write!(
                    nav,
                    " · <a id=\"previous\" href=\"/events?page={}{}\">previous {EVENTS_LIMIT}</a>",
                    page_no - 1,
                    escape(&params)
                );
            }
            if more {
                let _ = write!(
                    nav,
                    " · <a id=\"next\" href=\"/events?page={}{}\">next {EVENTS_LIMIT}</a>",
                    page_no + 1,
                    escape(&params)
                );
            }
            let q = escape(params.trim_start_matches('&'));
            let _ = write!(
                nav,
                " · all as <a id=\"csv\" href=\"/events.csv?{q}\">CSV</a>, \
                 <a id=\"jsonl\" href=\"/events.jsonl?{q}\">JSON Lines</a></p>"
            );
            let body = format!(
                "<h1>{}</h1><div class=\"range\">{}</div>{nav}{}",
                escape(&title),
                escape(&trawl_report::html::range_text(&range)),
                table(&columns, &rows, Some(&link))
            );
            Html(page(&title, &header("", &range, ""), &body)).into_response()
        }
        Err(e) => error_page(StatusCode::INTERNAL_SERVER_ERROR, &title, &e.to_string()),
    }
}

pub(crate) async fn export_csv(State(app): State<Arc<App>>, Query(q): Query<Params>) -> Response {
    export(app, q, Export::Csv).await
}

pub(crate) async fn export_jsonl(State(app): State<Arc<App>>, Query(q): Query<Params>) -> Response {
    export(app, q, Export::Jsonl).await
}

#[derive(Clone, Copy)]
enum Export {
    Csv,
    Jsonl,
}

/// Every event of a drill-down, in the page's order.
async fn export(app: Arc<App>, q: Params, kind: Export) -> Response {
    let range = match drill_range(&q, &[]) {
        Ok(r) => r,
        Err((status, message)) => return (status, message).into_response(),
    };
    let engine = match app.engine().await {
        Ok(e) => e,
        Err(e) => return (StatusCode::INTERNAL_SERVER_ERROR, e.to_string()).into_response(),
    };
    let sql = list_sql(&range);
    let out = app
        .background
        .run(async move {
            let batches = engine
                .run(&sql)
                .await?
                .pop()
                .map(|r| r.batches)
                .unwrap_or_default();
            let mut out = Vec::new();
            let render = |e: arrow::error::ArrowError| WebError::Render(e.to_string());
            match kind {
                Export::Csv => {
                    let mut w = arrow::csv::Writer::new(&mut out);
                    for b in &batches {
                        w.write(b).map_err(render)?;
                    }
                }
                Export::Jsonl => {
                    let mut w = arrow::json::LineDelimitedWriter::new(&mut out);
                    for b in &batches {
                        w.write(b).map_err(render)?;
                    }
                    w.finish().map_err(render)?;
                }
            }
            Ok::<_, WebError>(out)
        })
        .await;
    let (mime, name) = match kind {
        Export::Csv => ("text/csv; charset=utf-8", "trawl-events.csv"),
        Export::Jsonl => ("application/x-ndjson", "trawl-events.jsonl"),
    };
    match out {
        Ok(out) => (
            [
                (http_header::CONTENT_TYPE, mime.to_string()),
                (
                    http_header::CONTENT_DISPOSITION,
                    format!("attachment; filename=\"{name}\""),
                ),
            ],
            out,
        )
            .into_response(),
        Err(e) => (StatusCode::INTERNAL_SERVER_ERROR, e.to_string()).into_response(),
    }
}
