//! `trawl timeline`: a subject's events in time order, streamed as they are read.

use std::io::Write;
use std::process::ExitCode;

use anyhow::Context;
use clap::Args;
use futures::StreamExt;
use trawl_investigate::{Entry, Subject, Timeline, entries};

use crate::args::{self, Format, GeoArg, LakeArg, S3Arg};
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
    /// Events at or after this time (RFC 3339, or a date meaning midnight UTC).
    #[arg(long)]
    pub since: Option<String>,
    /// Events before this time.
    #[arg(long)]
    pub until: Option<String>,
    /// Output format.
    #[arg(long, value_enum, default_value_t = Format::Table)]
    pub format: Format,
    #[command(flatten)]
    pub lake: LakeArg,
    #[command(flatten)]
    pub s3: S3Arg,
    #[command(flatten)]
    pub geo: GeoArg,
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
    let lake = lakes::open_with(&a.lake, &a.s3)?;
    let geo = crate::geo(&a.geo.geoip)?;
    let t = Timeline {
        subject: a.subject(),
        window: args::window(a.since.as_deref(), a.until.as_deref())?,
        geo: geo.is_some(),
    };
    let rt = trawl_query::query_runtime().context("starting the query runtime")?;
    let mut out = std::io::BufWriter::new(std::io::stdout().lock());
    let mut w = Writer {
        format: a.format,
        lines: 0,
    };
    let written = rt.block_on(async {
        let engine = trawl_query::QueryEngine::open_with_geo(&lake, geo).await?;
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

impl Writer {
    fn start(&mut self, out: &mut dyn Write) -> std::io::Result<()> {
        match self.format {
            Format::Csv => writeln!(out, "{CSV_HEADER}"),
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
            Format::Csv => {
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
                let line: Vec<String> = fields.iter().map(|f| csv_field(f)).collect();
                writeln!(out, "{}", line.join(","))?;
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
            _ => Ok(()),
        }
    }
}
