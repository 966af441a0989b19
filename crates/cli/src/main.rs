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

use args::{Cli, Command, Format, IngestArgs, ReportArgs, ReportFormat, ServeArgs, SqlArgs, When};

#[cfg(feature = "mimalloc")]
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    // Crash tests only: FAILPOINTS names where the process dies (see docs/lake-layout.md).
    let _crash_points = std::env::var_os("FAILPOINTS").map(|_| fail::FailScenario::setup());
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
    use tracing_subscriber::prelude::*;
    let filter = tracing_subscriber::EnvFilter::try_from_env("TRAWL_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(level));
    // The AWS SDK's debug and trace events show the resolved credentials' access key id and
    // signed request headers: they are never shown, whatever TRAWL_LOG asks for.
    let no_credentials = tracing_subscriber::filter::filter_fn(|meta| {
        !(meta.target().starts_with("aws_") && *meta.level() > tracing::Level::INFO)
    });
    let fmt = tracing_subscriber::fmt::layer()
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal() && std::env::var_os("NO_COLOR").is_none())
        .without_time()
        .with_target(false)
        .with_filter(no_credentials);
    tracing_subscriber::registry().with(filter).with(fmt).init();
}

fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    match &cli.command {
        Command::Ingest(a) => ingest(&cli, a),
        Command::Sql(a) => sql(&cli, a),
        Command::Demo(a) => demo::run(a),
        Command::Generate(a) => generate(a),
        Command::Report(a) => report(&cli, a),
        Command::Verify(a) => verify(&cli, a),
        Command::Serve(a) => serve(&cli, a),
    }
}

/// The ingest progress bar: bytes as its position; objects and events so far in its message.
pub(crate) struct Bar {
    pub(crate) bar: ProgressBar,
    objects: std::sync::atomic::AtomicU64,
    done: std::sync::atomic::AtomicU64,
    events: std::sync::atomic::AtomicU64,
}

impl Bar {
    pub(crate) fn new(when: When) -> Self {
        Self {
            bar: progress_bar(when),
            objects: Default::default(),
            done: Default::default(),
            events: Default::default(),
        }
    }
}

impl Progress for Bar {
    fn found(&self, objects: u64, bytes: u64) {
        self.objects
            .fetch_add(objects, std::sync::atomic::Ordering::Relaxed);
        self.bar.inc_length(bytes);
    }
    fn object_done(&self, raw_bytes: u64, events: u64) {
        use std::sync::atomic::Ordering::Relaxed;
        self.bar.inc(raw_bytes);
        let done = self.done.fetch_add(1, Relaxed) + 1;
        let events = self.events.fetch_add(events, Relaxed) + events;
        self.bar.set_message(format!(
            "{done}/{} objects, {events} events",
            self.objects.load(Relaxed)
        ));
    }
}

/// A spinner for work of unknown length (S3 listing).
fn progress_spinner(when: When) -> ProgressBar {
    let bar = progress_bar(when);
    bar.set_style(
        ProgressStyle::with_template("{spinner} [{elapsed_precise}] {msg}")
            .expect("valid template"),
    );
    bar.enable_steady_tick(std::time::Duration::from_millis(100));
    bar
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
        ProgressStyle::with_template("{spinner} [{elapsed_precise}] {wide_bar} {binary_bytes}/{binary_total_bytes} ({binary_bytes_per_sec}, ETA {eta}) {msg}")
            .expect("valid template"),
    );
    bar
}

fn ingest(cli: &Cli, a: &IngestArgs) -> anyhow::Result<ExitCode> {
    let window = args::window(a.since.as_deref(), a.until.as_deref())?;
    let mut local = Vec::new();
    let mut urls = Vec::new();
    for src in &a.sources {
        match trawl_s3::S3Url::parse(src) {
            Some(url) => urls.push(url?),
            None => local.push(std::path::PathBuf::from(src)),
        }
    }
    // Local trees are listed as the run goes, a delivery day at a time; S3 too, a page of
    // each region at a time, once the folders above the regions are listed.
    let walk = if local.is_empty() {
        None
    } else {
        Some(trawl_ingest::walk_local(&local, Some(&cli.lake))?)
    };
    let (s3, s3_walk) = if urls.is_empty() {
        (None, None)
    } else {
        let opts = trawl_s3::S3Options {
            profile: a.profile.clone(),
            endpoint_url: a.endpoint_url.clone(),
            no_sign_request: a.no_sign_request,
            concurrency: a
                .concurrency
                .unwrap_or_else(trawl_s3::default_concurrency)
                .max(1),
            max_attempts: a.max_attempts.max(1),
            ..trawl_s3::S3Options::default()
        };
        let src = trawl_s3::S3Source::new(opts)?;
        let sel = trawl_s3::Selection {
            since_us: window.since,
            until_us: window.until,
            accounts: a.accounts.clone(),
            regions: a.regions.clone(),
        };
        let spinner = progress_spinner(a.progress);
        let done = AtomicBool::new(false);
        let s3_walk = std::thread::scope(|scope| {
            let ticker = scope.spawn(|| {
                while !done.load(std::sync::atomic::Ordering::Relaxed) {
                    let c = src.counts().snapshot();
                    spinner.set_message(format!(
                        "listing the folders above the regions: {} LIST requests",
                        c.list_requests
                    ));
                    std::thread::sleep(std::time::Duration::from_millis(100));
                }
            });
            let walk = src.walk(&urls, &sel);
            done.store(true, std::sync::atomic::Ordering::Relaxed);
            let _ = ticker.join();
            walk
        })?;
        spinner.finish_and_clear();
        let skipped = s3_walk.skipped_prefixes();
        if !skipped.is_empty() {
            tracing::info!(
                "skipped {} folders that hold no CloudTrail: {}",
                skipped.len(),
                skipped.join(", ")
            );
        }
        tracing::debug!(
            "S3: {} streams merged by delivery time, {} keys a page",
            s3_walk.streams(),
            s3_walk.page_keys()
        );
        (Some(src), Some(s3_walk))
    };
    let lake = Lake::create(&cli.lake)?;
    let mut opts = IngestOptions {
        strict: a.strict,
        commit_interval: std::time::Duration::from_secs_f64(a.commit_interval.max(0.0)),
        flush_bytes: a.buffer_mb.max(1) << 20,
        dedup_events: a.dedup_events,
        ..IngestOptions::default()
    };
    opts.read.window = window;
    opts.read.max_object_bytes = a.max_object_bytes;
    if let Some(t) = a.threads {
        opts.threads = t.max(1);
    }
    let bar = Bar::new(a.progress);
    let fetch: &dyn trawl_ingest::Fetch = match &s3 {
        Some(src) => src,
        None => &trawl_ingest::LocalFetch,
    };
    // Ctrl-C stops at an object boundary and commits what was read; a second one exits.
    static STOP: AtomicBool = AtomicBool::new(false);
    let _ = ctrlc::set_handler(|| {
        if STOP.swap(true, std::sync::atomic::Ordering::Relaxed) {
            std::process::exit(130);
        }
        eprintln!("interrupted: committing what was read (Ctrl-C again to quit now)");
    });
    let stop = &STOP;
    let listing = walk
        .into_iter()
        .flatten()
        .chain(s3_walk.into_iter().flatten());
    let summary = match trawl_lake::ingest_listing(&lake, listing, fetch, &opts, &bar, stop) {
        Err(trawl_lake::LakeError::Interrupted(what))
            if stop.load(std::sync::atomic::Ordering::Relaxed) =>
        {
            bar.bar.finish_and_clear();
            eprintln!("trawl: stopped by Ctrl-C: {what}");
            return Ok(ExitCode::from(130));
        }
        r => r?,
    };
    bar.bar.finish_and_clear();
    let requests = s3.as_ref().map(|src| src.counts().snapshot());
    let mut out = std::io::stdout().lock();
    if a.json {
        let mut v = serde_json::to_value(&summary)?;
        if let (Some(r), Some(map)) = (requests, v.as_object_mut()) {
            map.insert("s3".into(), serde_json::to_value(r)?);
        }
        serde_json::to_writer(&mut out, &v)?;
        writeln!(out)?;
    } else {
        render::write_summary(&mut out, &summary)?;
        if let Some(r) = requests {
            render::write_requests(&mut out, &r)?;
        }
    }
    Ok(if summary.is_clean() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

fn verify(cli: &Cli, a: &args::VerifyArgs) -> anyhow::Result<ExitCode> {
    let lake = Lake::open(&cli.lake)?;
    if a.rebuild_ledger {
        let r = trawl_lake::rebuild_ledger(&lake)?;
        let mut out = std::io::stdout().lock();
        if a.json {
            serde_json::to_writer(&mut out, &r)?;
            writeln!(out)?;
        } else {
            render::write_rebuild(&mut out, &r)?;
        }
        return Ok(if r.skipped.is_empty() {
            ExitCode::SUCCESS
        } else {
            ExitCode::from(1)
        });
    }
    let report = trawl_lake::verify(&lake)?;
    let mut out = std::io::stdout().lock();
    if a.json {
        serde_json::to_writer(&mut out, &report)?;
        writeln!(out)?;
    } else {
        render::write_verify(&mut out, &report)?;
    }
    Ok(if report.is_clean() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

fn report(cli: &Cli, a: &ReportArgs) -> anyhow::Result<ExitCode> {
    let dashboards = trawl_report::select(&a.dashboard)?;
    if let Some((col, value)) = &a.filter
        && trawl_report::dashboards::drill_filter(col, value).is_none()
    {
        anyhow::bail!(
            "--filter {col}={value}: {col} is not a filter column; use one of: {}",
            trawl_report::dashboards::FILTER_COLUMNS.join(", ")
        );
    }
    let window = args::window(a.since.as_deref(), a.until.as_deref())?;
    let iso = |us: i64| {
        chrono::DateTime::from_timestamp_micros(us)
            .expect("a parsed time is in range")
            .to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
    };
    let lake = Lake::open(&cli.lake)?;
    let geo = geo(cli)?;
    let has_geo = geo.as_ref().is_some_and(|g| g.has_location());
    let rt = tokio::runtime::Runtime::new().context("starting the query runtime")?;
    let (results, range) = rt.block_on(async {
        let engine = trawl_query::QueryEngine::open_with_geo(&lake, geo).await?;
        let mut range = trawl_report::Range {
            since: window.since.map(iso),
            until: window.until.map(iso),
            filter: a.filter.clone(),
        };
        if let Some(last) = &a.last {
            // Relative to the newest event at or before --until.
            let period = args::parse_period(last)?;
            let newest = engine
                .run(&format!(
                    "SELECT max(eventtime) FROM cloudtrail_logs WHERE {}",
                    range.predicate()
                ))
                .await?;
            let newest = newest[0].batches.first().and_then(|b| {
                use arrow::array::{Array, AsArray};
                b.column(0)
                    .as_string_opt::<i32>()
                    .filter(|c| !c.is_empty() && c.is_valid(0))
                    .map(|c| c.value(0).to_string())
            });
            if let Some(newest) = newest.and_then(|t| trawl_schema::parse_event_time(&t)) {
                range.since = Some(iso(newest
                    .micros
                    .saturating_sub(period.num_microseconds().unwrap_or(i64::MAX))));
            }
        }
        let mut out = Vec::new();
        for d in &dashboards {
            out.push(trawl_report::run(&engine, d, &range, has_geo).await?);
        }
        anyhow::Ok((out, range))
    })?;
    let mut out: Box<dyn Write> = match &a.out {
        Some(path) => Box::new(std::io::BufWriter::new(
            std::fs::File::create(path).with_context(|| format!("creating {}", path.display()))?,
        )),
        None => Box::new(std::io::stdout().lock()),
    };
    match a.format {
        ReportFormat::Json => {
            serde_json::to_writer(&mut out, &serde_json::json!({ "dashboards": results }))?;
            writeln!(out)?;
        }
        ReportFormat::Html => {
            out.write_all(trawl_report::html::report(&results, &range).as_bytes())?
        }
        ReportFormat::Table => {
            for d in &results {
                writeln!(out, "# {}\n", d.title)?;
                for t in &d.tiles {
                    writeln!(out, "## {}", t.title)?;
                    match &t.note {
                        Some(note) => writeln!(out, "{note}")?,
                        None if t.rows.is_empty() => writeln!(out, "(no rows)")?,
                        None => {
                            let schema = t.batches[0].schema();
                            render::write_result(&mut out, Format::Table, &t.batches, &schema)?;
                        }
                    }
                    writeln!(out)?;
                }
            }
        }
    }
    out.flush()?;
    Ok(ExitCode::SUCCESS)
}

fn serve(cli: &Cli, a: &ServeArgs) -> anyhow::Result<ExitCode> {
    if !a.addr.ip().is_loopback() && !a.allow_remote {
        anyhow::bail!(
            "refusing to listen on {}: other machines could reach it, and the app has no login \
             (anyone who connects reads the whole lake). Use --addr 127.0.0.1:PORT, or pass \
             --allow-remote if that is what you want",
            a.addr
        );
    }
    let lake = Lake::open(&cli.lake)?;
    let geo = geo(cli)?;
    for (path, kind) in geo.iter().flat_map(|g| g.files()) {
        eprintln!("trawl: geolocation from {} ({kind})", path.display());
    }
    let limits = trawl_web::Limits {
        sql_timeout: std::time::Duration::from_secs(a.sql_timeout.max(1)),
        max_rows: a.max_rows.max(1),
    };
    let rt = tokio::runtime::Runtime::new().context("starting the server runtime")?;
    rt.block_on(async {
        let app = std::sync::Arc::new(trawl_web::App::open(lake, geo, limits).await?);
        let listener = tokio::net::TcpListener::bind(a.addr)
            .await
            .with_context(|| format!("listening on {}: pick another --addr", a.addr))?;
        let addr = listener.local_addr()?;
        eprintln!(
            "trawl: serving {} on http://{addr}/ (Ctrl-C to stop)",
            cli.lake.display()
        );
        if !addr.ip().is_loopback() {
            eprintln!(
                "trawl: WARNING: {addr} is reachable from other machines and the app has no \
                 login: anyone who connects reads the whole lake"
            );
        }
        axum::serve(listener, trawl_web::router(app)).await?;
        anyhow::Ok(())
    })?;
    Ok(ExitCode::SUCCESS)
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

/// The geolocation databases named by `--geoip` / `TRAWL_GEOIP`, if any.
pub(crate) fn geo(cli: &Cli) -> anyhow::Result<Option<std::sync::Arc<trawl_geo::GeoDb>>> {
    if cli.geoip.is_empty() {
        return Ok(None);
    }
    Ok(Some(std::sync::Arc::new(trawl_geo::GeoDb::open(
        &cli.geoip,
    )?)))
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
    let geo = geo(cli)?;
    let results = rt.block_on(async {
        let engine = trawl_query::QueryEngine::open_with_geo(&lake, geo).await?;
        engine.run(&text).await
    })?;
    let mut out = std::io::stdout().lock();
    for r in &results {
        render::write_result(&mut out, format, &r.batches, &r.schema)?;
    }
    out.flush()?;
    Ok(ExitCode::SUCCESS)
}
