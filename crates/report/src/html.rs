//! Dashboards as one self-contained HTML page: inline CSS, inline SVG charts, every tile's
//! rows in a table under its chart; printable. The web app serves the same pages with
//! drill-down links and a time-range form.

use std::fmt::Write;

use serde_json::Value;

use crate::{DashboardResult, Range, TileResult, chart};

/// Escapes text for HTML element content and attribute values.
pub fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// Percent-encodes a query-string value.
pub fn url_encode(s: &str) -> String {
    let mut out = String::new();
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
            out.push(b as char);
        } else {
            let _ = write!(out, "%{b:02X}");
        }
    }
    out
}

pub const STYLE: &str = r#"
body { font-family: system-ui, -apple-system, "Segoe UI", sans-serif; margin: 0; color: #1d2733; background: #f5f7fa; }
header { background: #232f3e; color: #fff; padding: 10px 20px; display: flex; flex-wrap: wrap; gap: 16px; align-items: center; }
header a { color: #ffb84d; text-decoration: none; margin-right: 12px; }
header a.current { color: #fff; font-weight: 600; }
header form { margin-left: auto; display: flex; flex-wrap: wrap; gap: 6px; align-items: center; }
header input { padding: 3px 6px; }
main { padding: 16px 20px; }
h1 { font-size: 22px; margin: 4px 0 12px; }
.range { color: #566; margin-bottom: 12px; }
.tiles { display: grid; grid-template-columns: repeat(auto-fit, minmax(min(660px, 100%), 1fr)); gap: 16px; }
.chart svg { max-width: 100%; height: auto; }
p.guide { max-width: 75ch; line-height: 1.45; margin: 0 0 8px; }
table.heatmap td { min-width: 44px; }
.table-wrap.heatmap-wrap { max-height: none; }
table.heatmap th { text-align: right; }
section.tile { background: #fff; border: 1px solid #d8dee6; border-radius: 6px; padding: 12px; overflow: auto; page-break-inside: avoid; }
section.tile h2 { font-size: 16px; margin: 0 0 8px; }
.note { color: #8a5a00; background: #fff7e6; padding: 8px; border-radius: 4px; }
table { border-collapse: collapse; font-size: 13px; width: 100%; }
th, td { border-bottom: 1px solid #e5e9ef; padding: 3px 8px; text-align: left; vertical-align: top; }
td.num { text-align: right; font-variant-numeric: tabular-nums; }
.table-wrap { max-height: 360px; overflow: auto; }
.flag { color: #b00020; font-weight: 600; }
textarea { width: 100%; font-family: ui-monospace, monospace; font-size: 13px; }
pre { background: #fff; border: 1px solid #d8dee6; padding: 12px; overflow: auto; }
.error { color: #b00020; background: #fdecee; padding: 8px; border-radius: 4px; }
@media print { header form, nav { display: none; } body { background: #fff; } .table-wrap { max-height: none; } }
"#;

/// How the web app links cells to drill-downs: `(column, value) -> href`.
pub type Linker<'a> = &'a dyn Fn(&str, &Value) -> Option<String>;

/// A whole page: `head_extra` goes in the header bar (navigation, forms), `body` in main.
pub fn page(title: &str, header: &str, body: &str) -> String {
    format!(
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
         <title>{}</title><style>{STYLE}</style></head><body><header>{header}</header>\
         <main>{body}</main></body></html>\n",
        escape(title)
    )
}

pub fn range_text(range: &Range) -> String {
    let text = match (range.window.since_text(), range.window.until_text()) {
        (None, None) => "All events in the lake".to_string(),
        (Some(s), None) => format!("Events from {s}"),
        (None, Some(u)) => format!("Events before {u}"),
        (Some(s), Some(u)) => format!("Events from {s} to {u}"),
    };
    let text = match &range.zone {
        Some(z) => format!("{text} (days and hours in {z})"),
        None => text,
    };
    if range.filters.is_empty() {
        return text;
    }
    let filters: Vec<String> = range
        .filters
        .iter()
        .map(|(c, v)| format!("{c} = {v}"))
        .collect();
    format!("{text}, where {}", filters.join(" and "))
}

/// The tiles of one dashboard (charts and tables). `max_rows` caps each table (the web
/// app's; the JSON has every row), `None` shows all (the printable report).
pub fn dashboard_body(
    d: &DashboardResult,
    link: Option<Linker<'_>>,
    max_rows: Option<usize>,
) -> String {
    let mut out = String::new();
    let _ = write!(
        out,
        "<h1 id=\"{}\">{}</h1><div class=\"range\">{}</div><div class=\"tiles\">",
        escape(&d.id),
        escape(&d.title),
        escape(&range_text(&d.range))
    );
    for t in &d.tiles {
        out.push_str(&tile(t, link, max_rows));
    }
    out.push_str("</div>");
    out
}

fn tile(t: &TileResult, link: Option<Linker<'_>>, max_rows: Option<usize>) -> String {
    let mut out = String::new();
    let _ = write!(
        out,
        "<section class=\"tile\" id=\"tile-{}\" data-chart=\"{}\"><h2>{}</h2>",
        escape(&t.id),
        t.chart.name(),
        escape(&t.title)
    );
    if let Some(text) = &t.text {
        for para in text.split("\n\n") {
            let _ = write!(out, "<p class=\"guide\">{}</p>", escape(para));
        }
        out.push_str("</section>");
        return out;
    }
    if let Some(note) = &t.note {
        let _ = write!(out, "<p class=\"note\">{}</p></section>", escape(note));
        return out;
    }
    if let Some(svg) = chart::svg(t) {
        // The SVG document without its XML prolog, inline.
        let start = svg.find("<svg").unwrap_or(0);
        let _ = write!(out, "<div class=\"chart\">{}</div>", &svg[start..]);
    }
    if let Some((days, grid)) = crate::pivot(t) {
        out.push_str(&heatmap(&t.columns[3], &days, &grid));
        out.push_str("</section>");
        return out;
    }
    let shown = max_rows.map_or(t.rows.len(), |m| m.min(t.rows.len()));
    let total = t.total_rows.max(t.rows.len());
    if shown < total {
        let _ = write!(
            out,
            "<p class=\"note\">The first {shown} of {total} rows; the dashboard's JSON has them all.</p>"
        );
    }
    out.push_str(&table(&t.columns, &t.rows[..shown], link));
    out.push_str("</section>");
    out
}

/// A cross-tab of hours by weekdays, each cell shaded by its share of the largest, its value
/// in the cell and on hover.
fn heatmap(measure: &str, days: &[&str; 7], grid: &[[u64; 7]]) -> String {
    let max = grid.iter().flatten().copied().max().unwrap_or(0).max(1) as f64;
    let mut out = String::from(
        "<div class=\"table-wrap heatmap-wrap\"><table class=\"heatmap\"><thead><tr><th>hour</th>",
    );
    for d in days {
        let _ = write!(out, "<th>{d}</th>");
    }
    out.push_str("</tr></thead><tbody>");
    for (hour, row) in grid.iter().enumerate() {
        let _ = write!(out, "<tr><th>{hour:02}:00</th>");
        for (day, v) in days.iter().zip(row) {
            let alpha = (*v as f64 / max * 0.85 * 100.0).round() / 100.0;
            let _ = write!(
                out,
                "<td class=\"num\" style=\"background: rgba(31, 119, 180, {alpha})\" title=\"{day} {hour:02}:00: {v} {}\">{v}</td>",
                escape(measure)
            );
        }
        out.push_str("</tr>");
    }
    out.push_str("</tbody></table></div>");
    out
}

/// Rows as an HTML table; `link` turns cells into drill-down links.
pub fn table(columns: &[String], rows: &[Vec<Value>], link: Option<Linker<'_>>) -> String {
    let mut out = String::from("<div class=\"table-wrap\"><table><thead><tr>");
    for c in columns {
        let _ = write!(out, "<th>{}</th>", escape(c));
    }
    out.push_str("</tr></thead><tbody>");
    if rows.is_empty() {
        let _ = write!(
            out,
            "<tr><td colspan=\"{}\">(no rows)</td></tr>",
            columns.len().max(1)
        );
    }
    for r in rows {
        out.push_str("<tr>");
        for (c, v) in columns.iter().zip(r) {
            let (class, shown) = match v {
                Value::Number(n) => (" class=\"num\"", n.to_string()),
                Value::Null => ("", String::new()),
                Value::String(s) => ("", s.clone()),
                Value::Bool(true) if c == "open_to_world" => (" class=\"flag\"", "yes".into()),
                Value::Bool(b) => ("", if *b { "yes" } else { "no" }.into()),
                other => ("", other.to_string()),
            };
            let cell = match link.and_then(|l| l(c, v)) {
                Some(href) => format!("<a href=\"{}\">{}</a>", escape(&href), escape(&shown)),
                None => escape(&shown),
            };
            let _ = write!(out, "<td{class}>{cell}</td>");
        }
        out.push_str("</tr>");
    }
    out.push_str("</tbody></table></div>");
    out
}

/// The HTML report: every dashboard on one printable, self-contained page, then the lake's
/// log integrity when given.
pub fn report(results: &[DashboardResult], integrity: Option<&crate::Integrity>) -> String {
    report_with(results, integrity, &[])
}

/// [`report`], then more sections: `(anchor, title in the navigation, HTML)` (the
/// "Detections" view of `trawl report --rules`).
pub fn report_with(
    results: &[DashboardResult],
    integrity: Option<&crate::Integrity>,
    sections: &[(&str, &str, String)],
) -> String {
    let mut nav = String::from("<strong>trawl</strong> <nav>");
    for d in results {
        let _ = write!(
            nav,
            "<a href=\"#{}\">{}</a>",
            escape(&d.id),
            escape(&d.title)
        );
    }
    nav.push_str("</nav>");
    let mut body = String::new();
    for d in results {
        if let Some(i) = integrity {
            let _ = write!(
                body,
                "<p class=\"integrity\">{}</p>",
                escape(&i.mark(&d.range.window))
            );
        }
        body.push_str(&dashboard_body(d, None, None));
    }
    if let Some(i) = integrity {
        nav.push_str("<nav><a href=\"#integrity\">Log integrity</a></nav>");
        body.push_str(&i.html());
    }
    for (anchor, title, html) in sections {
        let _ = write!(
            nav,
            "<nav><a href=\"#{}\">{}</a></nav>",
            escape(anchor),
            escape(title)
        );
        body.push_str(html);
    }
    let title = if results.len() == 1 {
        results[0].title.as_str()
    } else {
        "CloudTrail dashboards"
    };
    page(title, &nav, &body)
}
