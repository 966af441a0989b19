//! The `trawl` binary: parses flags, calls the library crates, renders results.

mod args;
mod demo;
mod render;

use std::io::{IsTerminal, Write};
use std::process::ExitCode;
use std::sync::atomic::AtomicBool;

use anyhow::Context;
use clap::Parser;
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use trawl_lake::{IngestOptions, Lake, Progress};

use args::{Cli, Command, Format, IngestArgs, SqlArgs, When};

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    let cli = Cli::parse();
    init_tracing(&cli);
    match run(cli) {
        Ok(code) => code,
        Err(e) => {
            if e.chain().any(|c| {
                c.downcast_ref::<std::io::Error>()
                    .is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe)
            }) {
                return ExitCode::SUCCESS;
            }
            eprintln!("error: {e:#}");
            ExitCode::from(2)
        }
    }
}

fn init_tracing(cli: &Cli) {
    let level = match (cli.quiet, cli.verbose) {
        (true, _) => "error",
        (false, 0) => "warn",
        (false, 1) => "info",
        _ => "debug",
    };
    let filter = tracing_subscriber::EnvFilter::try_from_env("TRAWL_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(level));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal() && std::env::var_os("NO_COLOR").is_none())
        .without_time()
        .with_target(false)
        .init();
}

fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    match &cli.command {
        Command::Ingest(a) => ingest(&cli, a),
        Command::Sql(a) => sql(&cli, a),
        Command::Demo(a) => demo::run(a),
        Command::Generate(a) => generate(a),
    }
}

/// The ingest progress bar: bytes as its position, the events stored so far as its message.
pub(crate) struct Bar(pub(crate) ProgressBar, std::sync::atomic::AtomicU64);

impl Bar {
    pub(crate) fn new(when: When) -> Self {
        Self(progress_bar(when), std::sync::atomic::AtomicU64::new(0))
    }
}

impl Progress for Bar {
    fn start(&self, _objects: u64, bytes: u64) {
        self.0.set_length(bytes);
    }
    fn object_done(&self, raw_bytes: u64, events: u64) {
        self.0.inc(raw_bytes);
        let total = self
            .1
            .fetch_add(events, std::sync::atomic::Ordering::Relaxed)
            + events;
        self.0.set_message(total.to_string());
    }
}

pub(crate) fn progress_bar(when: When) -> ProgressBar {
    let show = match when {
        When::Always => true,
        When::Never => false,
        When::Auto => std::io::stderr().is_terminal(),
    };
    let bar = ProgressBar::with_draw_target(
        Some(0),
        if show {
            ProgressDrawTarget::stderr()
        } else {
            ProgressDrawTarget::hidden()
        },
    );
    bar.set_style(
        ProgressStyle::with_template("{spinner} [{elapsed_precise}] {wide_bar} {binary_bytes}/{binary_total_bytes} ({binary_bytes_per_sec}, ETA {eta}) {msg} events")
            .expect("valid template"),
    );
    bar.set_message("0");
    bar
}

fn ingest(cli: &Cli, a: &IngestArgs) -> anyhow::Result<ExitCode> {
    let window = args::window(a.since.as_deref(), a.until.as_deref())?;
    let found = trawl_ingest::discover_local(&a.sources, Some(&cli.lake))?;
    for (_, reason) in &found.unreadable {
        tracing::warn!("{reason}");
    }
    let lake = Lake::create(&cli.lake)?;
    let mut opts = IngestOptions {
        strict: a.strict,
        ..IngestOptions::default()
    };
    opts.read.window = window;
    opts.read.max_object_bytes = a.max_object_bytes;
    if let Some(t) = a.threads {
        opts.threads = t.max(1);
    }
    let bar = Bar::new(a.progress);
    let mut summary =
        trawl_lake::ingest(&lake, found.objects, &opts, &bar, &AtomicBool::new(false))?;
    bar.0.finish_and_clear();
    summary.quarantined.extend(
        found
            .unreadable
            .into_iter()
            .map(|(path, reason)| trawl_lake::Quarantined { path, reason }),
    );
    let mut out = std::io::stdout().lock();
    if a.json {
        serde_json::to_writer(&mut out, &summary)?;
        writeln!(out)?;
    } else {
        render::write_summary(&mut out, &summary)?;
    }
    Ok(if summary.is_clean() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

fn generate(a: &args::GenerateArgs) -> anyhow::Result<ExitCode> {
    let spec = trawl_gen::TrailSpec {
        seed: a.seed,
        events: a.events,
        days: a.days,
        events_per_file: a.events_per_file,
        duplicate_rate: a.duplicate_rate,
        ..trawl_gen::TrailSpec::default()
    };
    let stats = trawl_gen::write_trail(&a.out, &spec)
        .with_context(|| format!("writing the trail to {}", a.out.display()))?;
    let mut out = std::io::stdout().lock();
    serde_json::to_writer(
        &mut out,
        &serde_json::json!({"out": a.out, "files": stats.files, "events": stats.events,
            "duplicates": stats.duplicates, "json_bytes": stats.json_bytes, "gz_bytes": stats.gz_bytes}),
    )?;
    writeln!(out)?;
    Ok(ExitCode::SUCCESS)
}

fn sql(cli: &Cli, a: &SqlArgs) -> anyhow::Result<ExitCode> {
    let text = args::sql_text(a)?;
    let lake = Lake::open(&cli.lake)?;
    let format = a.format.unwrap_or(if std::io::stdout().is_terminal() {
        Format::Table
    } else {
        Format::Csv
    });
    let rt = tokio::runtime::Runtime::new().context("starting the query runtime")?;
    let results = rt.block_on(async {
        let engine = trawl_query::QueryEngine::open(&lake).await?;
        engine.run(&text).await
    })?;
    let mut out = std::io::stdout().lock();
    for r in &results {
        render::write_result(&mut out, format, &r.batches, &r.schema)?;
    }
    out.flush()?;
    Ok(ExitCode::SUCCESS)
}
