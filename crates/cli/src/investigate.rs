//! `trawl timeline`: a subject's events in time order, streamed as they are read.

use std::io::Write;
use std::process::ExitCode;

use anyhow::Context;
use clap::Args;
use futures::StreamExt;
use trawl_investigate::{Entry, Subject, Timeline, entries};

use crate::args::{self, GeoArg, LakeArg, S3Arg};
use crate::lakes;

#[derive(Debug, Args)]
#[group(id = "subject", required = true, multiple = false)]
pub(crate) struct TimelineArgs {
    /// A principal: an ARN (a user; a role, with its sessions; an assumed-role session) or a
    /// name (an IAM user, a role, a role session).
    #[arg(long, group = "subject", value_name = "ARN|NAME")]
    pub principal: Option<String>,
    /// An access key id (AKIA… or ASIA…).
    #[arg(long, group = "subject", value_name = "AKID")]
    pub access_key: Option<String>,
    /// A source IP address.
    #[arg(long, group = "subject", value_name = "ADDR")]
    pub ip: Option<String>,
    /// A role session: its assumed-role ARN, its ASIA… key, or its session name.
    #[arg(long, group = "subject", value_name = "ID")]
    pub session: Option<String>,
    /// A resource ARN: in the event's resources, or named in its request parameters.
    #[arg(long, group = "subject", value_name = "ARN")]
    pub resource: Option<String>,
    /// With --session or --access-key: first, who is behind it: the chain of STS calls that
    /// issued its keys, hop by hop, back to a long-term key's creation or a federation (with
    /// --format table, or as `{"lineage": ...}` lines with jsonl).
    #[arg(long)]
    pub lineage: bool,
    /// With --lineage: also list the events made with every key upstream (the callers'),
    /// in the same time order.
    #[arg(long, requires = "lineage")]
    pub follow: bool,
    #[command(flatten)]
    pub common: CommonArgs,
}

/// How `trawl timeline` and `trawl summary` print.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub(crate) enum Format {
    /// Aligned text for a terminal.
    Table,
    Csv,
    /// One JSON array.
    Json,
    /// A JSON object a line.
    Jsonl,
    /// One self-contained HTML page: the rows in a table (the fields of csv).
    Html,
}

/// What `trawl timeline` and `trawl summary` share: the window, the format, the lake.
#[derive(Debug, Args)]
pub(crate) struct CommonArgs {
    #[command(flatten)]
    pub window: args::WindowArgs,
    /// Output format.
    #[arg(long, value_enum, default_value = "table")]
    pub format: Format,
    #[command(flatten)]
    pub lake: LakeArg,
    #[command(flatten)]
    pub s3: S3Arg,
    #[command(flatten)]
    pub geo: GeoArg,
}

impl CommonArgs {
    /// The lake, its GeoIP database if given, and the window.
    fn open(
        &self,
    ) -> anyhow::Result<(
        trawl_lake::Lake,
        Option<std::sync::Arc<trawl_geo::GeoDb>>,
        trawl_schema::TimeWindow,
    )> {
        Ok((
            lakes::open_with(&self.lake, &self.s3)?,
            crate::geo(&self.geo.geoip)?,
            self.window.window()?,
        ))
    }
}

impl TimelineArgs {
    fn subject(&self) -> Subject {
        let given = |v: &Option<String>| v.clone();
        given(&self.principal)
            .map(Subject::Principal)
            .or_else(|| given(&self.access_key).map(Subject::AccessKey))
            .or_else(|| given(&self.ip).map(Subject::Ip))
            .or_else(|| given(&self.session).map(Subject::Session))
            .or_else(|| given(&self.resource).map(Subject::Resource))
            .expect("clap requires one subject")
    }
}

pub(crate) fn timeline(a: &TimelineArgs) -> anyhow::Result<ExitCode> {
    let (lake, geo, window) = a.common.open()?;
    let mut t = Timeline {
        subject: a.subject(),
        window,
        geo: geo.is_some(),
        also_keys: Vec::new(),
    };
    let rt = trawl_query::query_runtime().context("starting the query runtime")?;
    let mut out = std::io::BufWriter::new(std::io::stdout().lock());
    let mut w = Writer {
        format: a.common.format,
        lines: 0,
    };
    let start = match (&a.session, &a.access_key) {
        _ if !a.lineage => None,
        (Some(s), _) | (None, Some(s)) => Some(s.clone()),
        (None, None) => anyhow::bail!(
            "--lineage follows a session's or an access key's credentials: give --session or --access-key"
        ),
    };
    if start.is_some() && matches!(a.common.format, Format::Json | Format::Csv | Format::Html) {
        anyhow::bail!("--lineage prints with --format table or jsonl");
    }
    let written = rt.block_on(async {
        let engine = trawl_query::QueryEngine::open_with_geo(&lake, geo).await?;
        if let Some(start) = &start {
            let keys = trawl_investigate::session_keys(&engine, start).await?;
            if keys.is_empty() {
                writeln!(
                    out,
                    "lineage of {start}: no key of it in {}",
                    lake.location()
                )?;
            }
            for key in keys {
                let chain = trawl_investigate::chain(&engine, &key).await?;
                if a.follow {
                    t.also_keys
                        .extend(chain.links.iter().filter_map(|l| l.caller_key.clone()));
                }
                if matches!(a.common.format, Format::Jsonl) {
                    serde_json::to_writer(&mut out, &serde_json::json!({ "lineage": chain }))?;
                    writeln!(out)?;
                } else {
                    write!(out, "{}", chain.text())?;
                }
            }
            out.flush()?;
        }
        let mut stream = t.stream(&engine).await?;
        w.start(&mut out)?;
        while let Some(batch) = stream.next().await {
            for e in entries(&batch?) {
                w.line(&mut out, &e)?;
            }
            // Each batch is on the terminal (or the pipe) before the next is read.
            out.flush()?;
        }
        w.end(&mut out)?;
        anyhow::Ok(w.lines)
    });
    match written {
        Ok(0) => {
            eprintln!(
                "no events in {} for {:?}{}",
                lake.location(),
                t.subject,
                if t.window.is_open() {
                    String::new()
                } else {
                    " in that window".to_string()
                }
            );
            Ok(ExitCode::SUCCESS)
        }
        Ok(_) => Ok(ExitCode::SUCCESS),
        // The reader went away (`| head`): not an error.
        Err(e)
            if e.downcast_ref::<std::io::Error>()
                .is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe) =>
        {
            Ok(ExitCode::SUCCESS)
        }
        Err(e) => Err(e),
    }
}

/// Writes entries one at a time in a format.
struct Writer {
    format: Format,
    lines: u64,
}

const CSV_HEADER: &str =
    "time,account,region,source,event,outcome,ip,country,user_agent,principal,summary,event_id";

fn csv_field(s: &str) -> String {
    if s.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s.to_string()
    }
}

/// The head of an HTML page whose table has the columns of `header` (comma-separated).
fn html_start(out: &mut dyn Write, title: &str, header: &str) -> std::io::Result<()> {
    let esc = trawl_report::html::escape;
    write!(
        out,
        "<!doctype html><html><head><meta charset=\"utf-8\"><title>{}</title><style>{}</style></head><body><h1>{}</h1><table><thead><tr>",
        esc(title),
        trawl_report::html::STYLE,
        esc(title)
    )?;
    for h in header.split(',') {
        write!(out, "<th>{}</th>", esc(h))?;
    }
    writeln!(out, "</tr></thead><tbody>")
}

/// One row of fields, as CSV or as an HTML table row.
fn row(out: &mut dyn Write, format: Format, fields: &[String]) -> std::io::Result<()> {
    if format == Format::Html {
        write!(out, "<tr>")?;
        for f in fields {
            write!(out, "<td>{}</td>", trawl_report::html::escape(f))?;
        }
        writeln!(out, "</tr>")
    } else {
        let line: Vec<String> = fields.iter().map(|f| csv_field(f)).collect();
        writeln!(out, "{}", line.join(","))
    }
}

impl Writer {
    fn start(&mut self, out: &mut dyn Write) -> std::io::Result<()> {
        match self.format {
            Format::Csv => writeln!(out, "{CSV_HEADER}"),
            Format::Html => html_start(out, "trawl timeline", CSV_HEADER),
            Format::Json => write!(out, "["),
            Format::Table | Format::Jsonl => Ok(()),
        }
    }

    fn line(&mut self, out: &mut dyn Write, e: &Entry) -> std::io::Result<()> {
        let o = |v: &Option<String>| v.clone().unwrap_or_default();
        match self.format {
            Format::Jsonl => {
                serde_json::to_writer(&mut *out, e)?;
                writeln!(out)?;
            }
            Format::Json => {
                if self.lines > 0 {
                    write!(out, ",")?;
                }
                writeln!(out)?;
                serde_json::to_writer(&mut *out, e)?;
            }
            Format::Csv | Format::Html => {
                let fields = [
                    o(&e.time),
                    o(&e.account),
                    o(&e.region),
                    o(&e.source),
                    o(&e.event),
                    e.outcome.clone(),
                    o(&e.ip),
                    o(&e.country),
                    o(&e.user_agent),
                    o(&e.principal),
                    e.summary.clone(),
                    o(&e.event_id),
                ];
                row(out, self.format, &fields)?;
            }
            Format::Table => {
                let source = o(&e.source);
                let source = source.strip_suffix(".amazonaws.com").unwrap_or(&source);
                let outcome = if e.outcome.is_empty() {
                    "-"
                } else {
                    &e.outcome
                };
                let ip = match &e.country {
                    Some(c) => format!("{} ({c})", o(&e.ip)),
                    None => o(&e.ip),
                };
                writeln!(
                    out,
                    "{:<20}  {:<12}  {:<14}  {:<10}  {:<28}  {:<14}  {:<15}  {}  {}  [{}]  {}",
                    o(&e.time),
                    o(&e.account),
                    o(&e.region),
                    source,
                    o(&e.event),
                    outcome,
                    ip,
                    o(&e.principal),
                    e.summary,
                    o(&e.user_agent),
                    o(&e.event_id)
                )?;
            }
        }
        self.lines += 1;
        Ok(())
    }

    fn end(&mut self, out: &mut dyn Write) -> std::io::Result<()> {
        match self.format {
            Format::Json => writeln!(out, "\n]"),
            Format::Html => writeln!(out, "</tbody></table></body></html>"),
            _ => Ok(()),
        }
    }
}

/// What a `trawl summary` row is about.
#[derive(Debug, Clone, Copy, clap::ValueEnum)]
pub(crate) enum SummaryBy {
    Principal,
    AccessKey,
    Ip,
    Account,
}

/// The order of `trawl summary`'s rows.
#[derive(Debug, Clone, Copy, clap::ValueEnum)]
pub(crate) enum SummarySort {
    /// Fewest events first (the rare ones).
    Events,
    /// Newest first appearance first (the new ones).
    FirstSeen,
    LastSeen,
    Errors,
    Denied,
}

#[derive(Debug, Args)]
pub(crate) struct SummaryArgs {
    /// One row per principal (ARN), access key, source IP or account.
    #[arg(long, value_enum, default_value = "principal")]
    pub by: SummaryBy,
    /// Row order.
    #[arg(long, value_enum, default_value = "events")]
    pub sort: SummarySort,
    /// Only rows with at least this many events.
    #[arg(long, value_name = "N")]
    pub min_events: Option<u64>,
    /// Only rows with at most this many events (the rare ones).
    #[arg(long, value_name = "N")]
    pub max_events: Option<u64>,
    /// Distinct values (and top event names) listed per column; the counts are exact.
    #[arg(long, value_name = "N", default_value_t = 3)]
    pub values: usize,
    #[command(flatten)]
    pub common: CommonArgs,
}

pub(crate) fn summary(a: &SummaryArgs) -> anyhow::Result<ExitCode> {
    use trawl_investigate::{By, SortBy, Summary};
    let (lake, geo, window) = a.common.open()?;
    let s = Summary {
        by: match a.by {
            SummaryBy::Principal => By::Principal,
            SummaryBy::AccessKey => By::AccessKey,
            SummaryBy::Ip => By::Ip,
            SummaryBy::Account => By::Account,
        },
        window,
        sort: match a.sort {
            SummarySort::Events => SortBy::Events,
            SummarySort::FirstSeen => SortBy::FirstSeen,
            SummarySort::LastSeen => SortBy::LastSeen,
            SummarySort::Errors => SortBy::Errors,
            SummarySort::Denied => SortBy::Denied,
        },
        min_events: a.min_events,
        max_events: a.max_events,
        values: a.values,
        geo: geo.is_some(),
    };
    let rt = trawl_query::query_runtime().context("starting the query runtime")?;
    let rows = rt.block_on(async {
        let engine = trawl_query::QueryEngine::open_with_geo(&lake, geo).await?;
        anyhow::Ok(s.run(&engine).await?)
    })?;
    let mut out = std::io::BufWriter::new(std::io::stdout().lock());
    let list = |d: &trawl_investigate::Distinct| {
        let more = d.count.saturating_sub(d.values.len() as u64);
        let mut text = d.values.join(" ");
        if more > 0 {
            text.push_str(&format!(" +{more}"));
        }
        text
    };
    let top = |r: &trawl_investigate::Row| {
        r.top_events
            .iter()
            .map(|(n, c)| format!("{n}:{c}"))
            .collect::<Vec<_>>()
            .join(" ")
    };
    match a.common.format {
        Format::Json => {
            serde_json::to_writer_pretty(&mut out, &rows)?;
            writeln!(out)?;
        }
        Format::Jsonl => {
            for r in &rows {
                serde_json::to_writer(&mut out, r)?;
                writeln!(out)?;
            }
        }
        Format::Csv | Format::Html => {
            const HEADER: &str = "key,first_seen,last_seen,events,services,regions,source_ips,countries,user_agents,errors,access_denied,console_logins,console_login_failures,console_logins_with_mfa,top_events";
            if a.common.format == Format::Html {
                html_start(&mut out, "trawl summary", HEADER)?;
            } else {
                writeln!(out, "{HEADER}")?;
            }
            for r in &rows {
                let o = |v: &Option<String>| v.clone().unwrap_or_default();
                let fields = [
                    o(&r.key),
                    o(&r.first_seen),
                    o(&r.last_seen),
                    r.events.to_string(),
                    list(&r.services),
                    list(&r.regions),
                    list(&r.source_ips),
                    r.countries.as_ref().map(list).unwrap_or_default(),
                    list(&r.user_agents),
                    r.errors.to_string(),
                    r.access_denied.to_string(),
                    r.console_logins.to_string(),
                    r.console_login_failures.to_string(),
                    r.console_logins_with_mfa.to_string(),
                    top(r),
                ];
                row(&mut out, a.common.format, &fields)?;
            }
            if a.common.format == Format::Html {
                writeln!(out, "</tbody></table></body></html>")?;
            }
        }
        Format::Table => {
            for r in &rows {
                let o = |v: &Option<String>| v.clone().unwrap_or_else(|| "-".into());
                writeln!(out, "{}", o(&r.key))?;
                writeln!(
                    out,
                    "  {} events, {} .. {}; errors {}, access denied {}; console logins {} ({} failed, {} with MFA)",
                    r.events,
                    o(&r.first_seen),
                    o(&r.last_seen),
                    r.errors,
                    r.access_denied,
                    r.console_logins,
                    r.console_login_failures,
                    r.console_logins_with_mfa
                )?;
                writeln!(
                    out,
                    "  services {}: {}; regions {}: {}",
                    r.services.count,
                    list(&r.services),
                    r.regions.count,
                    list(&r.regions)
                )?;
                let countries = r
                    .countries
                    .as_ref()
                    .map(|c| format!(" (countries {}: {})", c.count, list(c)))
                    .unwrap_or_default();
                writeln!(
                    out,
                    "  source IPs {}: {}{countries}; user agents {}",
                    r.source_ips.count,
                    list(&r.source_ips),
                    r.user_agents.count
                )?;
                writeln!(out, "  top events {}", top(r))?;
            }
        }
    }
    out.flush()?;
    if rows.is_empty() {
        eprintln!("no events in {} for that selection", lake.location());
    }
    Ok(ExitCode::SUCCESS)
}
