//! The `trawl` binary: parses flags, calls the library crates, renders results.

mod args;
mod cluster;
mod ddl;
mod demo;
mod detect;
mod investigate;
mod lakes;
mod render;
mod settings;
mod shell;
mod tuning;
mod validate;

use std::io::{IsTerminal, Write};
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, Ordering};

use anyhow::Context;
use clap::Parser;
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use trawl_lake::{Lake, LakeError, Progress};

use args::{Cli, Command, Format, IngestArgs, ReportArgs, ReportFormat, ServeArgs, SqlArgs, When};
use settings::{IngestSettings, ReportSettings};

#[cfg(feature = "mimalloc")]
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    // No transparent huge pages: the kernel zeroes all 2 MiB of one on the first touch of any
    // byte, and a query process that lives a fraction of a second spent a third of its CPU
    // time there (mimalloc asks for huge pages where the system leaves it to programs).
    #[cfg(target_os = "linux")]
    let _ = nix::sys::prctl::set_thp_disable(true);
    // Crash tests only: FAILPOINTS names where the process dies (see docs/lake-layout.md).
    let _crash_points = std::env::var_os("FAILPOINTS").map(|_| fail::FailScenario::setup());
    let cli = Cli::parse();
    init_tracing(&cli);
    // Queries plan on this thread (the runtimes' block_on): give it the stack query
    // threads get, as the runtimes' workers have.
    let outcome = std::thread::Builder::new()
        .name("trawl".into())
        .stack_size(trawl_query::QUERY_STACK_BYTES)
        .spawn(move || run(cli))
        .map_err(anyhow::Error::from)
        .and_then(|t| t.join().unwrap_or_else(|p| std::panic::resume_unwind(p)));
    match outcome {
        Ok(code) => code,
        Err(e) => {
            if e.chain().any(|c| {
                c.downcast_ref::<std::io::Error>()
                    .is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe)
            }) {
                return ExitCode::SUCCESS;
            }
            eprintln!("error: {}", chain(&e));
            ExitCode::from(2)
        }
    }
}

/// An error and its causes on one line (`a: b: c`), a cause left out when the text before
/// already says it (many errors repeat their source's message in their own).
fn chain(e: &anyhow::Error) -> String {
    let mut text = e.to_string();
    for cause in e.chain().skip(1) {
        let more = cause.to_string();
        if !text.contains(&more) {
            text.push_str(": ");
            text.push_str(&more);
        }
    }
    text
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
        Command::Ingest(a) => ingest(a),
        Command::Sql(a) => sql(a),
        Command::Bench(a) => tuning::bench(a),
        Command::Info(a) => tuning::info(a),
        Command::Timeline(a) => investigate::timeline(a),
        Command::Summary(a) => investigate::summary(a),
        Command::Detect(a) => detect::detect(a),
        Command::Demo(a) => demo::run(a),
        Command::Generate(a) => generate(a),
        Command::Report(a) => report(a),
        Command::Verify(a) => verify(a),
        Command::Serve(a) => serve(a),
        Command::Validate(a) => validate::run(a),
        Command::Ddl(a) => ddl::run(a),
        Command::Compact(a) => compact(a),
        Command::Cluster(a) => cluster::run(a),
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

fn ingest(a: &IngestArgs) -> anyhow::Result<ExitCode> {
    let mut settings = IngestSettings::resolve(a)?;
    // Rules are read first: a wrong path stops before anything is ingested.
    let rules = if a.detect.is_empty() {
        None
    } else {
        Some(detect::load_rules(&a.detect)?)
    };
    // S3 sources: a spinner while the folders above the regions are listed.
    let spinner = std::sync::OnceLock::new();
    let sources = settings.sources.open(&|requests| {
        spinner
            .get_or_init(|| progress_spinner(settings.progress))
            .set_message(format!(
                "listing the folders above the regions: {} LIST requests",
                requests.list_requests
            ));
    })?;
    if let Some(s) = spinner.get() {
        s.finish_and_clear();
    }
    let lake = lakes::open(&settings.lake, &settings.sources.s3, true)?;
    settings.options.layout = a.layout.resolve(&lake)?;
    let started_at = lake.latest_version()?;
    let bar = Bar::new(settings.progress);
    let stop = ctrl_c();
    let run = lake
        .ingest(sources.listing)
        .fetch(&sources.fetch)
        .options(settings.options)
        .progress(&bar)
        .stop(stop)
        .run();
    bar.bar.finish_and_clear();
    let summary = match run {
        Err(e @ LakeError::Interrupted { .. }) if stop.load(Ordering::Relaxed) => {
            eprintln!("trawl: stopped by Ctrl-C: {e}");
            return Ok(ExitCode::from(130));
        }
        r => r?,
    };
    let detections = match &rules {
        Some(set) => Some(detect::after_ingest(&lake, set, started_at)?),
        None => None,
    };
    let compacted = if a.compact {
        Some(compact_touched(&lake, started_at)?)
    } else {
        None
    };
    let requests = sources.fetch.requests();
    let mut out = std::io::stdout().lock();
    if settings.json {
        let mut v = serde_json::to_value(&summary)?;
        if let Some(map) = v.as_object_mut() {
            if let Some(r) = requests {
                map.insert("s3".into(), serde_json::to_value(r)?);
            }
            if let Some(c) = &compacted {
                map.insert("compact".into(), serde_json::to_value(c)?);
            }
            if let Some((hits, runs)) = &detections {
                map.insert(
                    "detections".into(),
                    serde_json::json!({ "hits": hits, "rules": runs }),
                );
            }
        }
        serde_json::to_writer(&mut out, &v)?;
        writeln!(out)?;
    } else {
        render::write_summary(&mut out, &summary)?;
        if let Some(r) = requests {
            render::write_requests(&mut out, &r)?;
        }
        if let Some(c) = &compacted {
            render::write_compact(&mut out, c)?;
        }
        if let Some((hits, runs)) = &detections {
            detect::write_hits(&mut out, hits, runs)?;
        }
    }
    Ok(exit(summary.is_clean()))
}

/// `trawl ingest --compact`: compacts the days the commits after version `since` wrote to.
fn compact_touched(lake: &Lake, since: u64) -> anyhow::Result<trawl_lake::CompactSummary> {
    let snap = lake.snapshot()?;
    let days: Vec<chrono::NaiveDate> = snap
        .files
        .iter()
        .filter(|f| f.committed > since)
        .filter_map(|f| chrono::NaiveDate::parse_from_str(&f.dt, "%Y-%m-%d").ok())
        .collect();
    let (Some(first), Some(last)) = (days.iter().min(), days.iter().max()) else {
        return Ok(trawl_lake::CompactSummary {
            lake: lake.location(),
            lake_files: snap.files.len() as u64,
            ..Default::default()
        });
    };
    let micros = |d: &chrono::NaiveDate| {
        d.and_hms_opt(0, 0, 0)
            .expect("midnight")
            .and_utc()
            .timestamp_micros()
    };
    let window =
        trawl_schema::TimeWindow::new(Some(micros(first)), Some(micros(last) + 86_400_000_000))?;
    Ok(trawl_lake::compact(
        lake,
        &trawl_lake::CompactOptions {
            window,
            ..Default::default()
        },
    )?)
}

/// Ctrl-C stops an ingest at an object boundary and commits what was read; a second one
/// exits at once.
fn ctrl_c() -> &'static AtomicBool {
    static STOP: AtomicBool = AtomicBool::new(false);
    let _ = ctrlc::set_handler(|| {
        if STOP.swap(true, Ordering::Relaxed) {
            std::process::exit(130);
        }
        eprintln!("interrupted: committing what was read (Ctrl-C again to quit now)");
    });
    &STOP
}

/// 0 when every input was read, 1 when some were skipped (quarantined).
fn exit(clean: bool) -> ExitCode {
    if clean {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    }
}

fn verify(a: &args::VerifyArgs) -> anyhow::Result<ExitCode> {
    if a.rebuild_ledger {
        let lake = lakes::open_to_repair(&a.lake, &a.s3)?;
        let r = trawl_lake::rebuild_ledger(&lake)?;
        let mut out = std::io::stdout().lock();
        if a.json {
            serde_json::to_writer(&mut out, &r)?;
            writeln!(out)?;
        } else {
            render::write_rebuild(&mut out, &r)?;
        }
        return Ok(exit(r.skipped.is_empty()));
    }
    let lake = lakes::open_with(&a.lake, &a.s3)?;
    let report = trawl_lake::verify(&lake)?;
    let mut out = std::io::stdout().lock();
    if a.json {
        serde_json::to_writer(&mut out, &report)?;
        writeln!(out)?;
    } else {
        render::write_verify(&mut out, &report)?;
    }
    Ok(exit(report.is_clean()))
}

fn compact(a: &args::CompactArgs) -> anyhow::Result<ExitCode> {
    let lake = lakes::open_with(&a.lake, &a.s3)?;
    let retain = args::parse_period("--retain", &a.retain)?
        .to_std()
        .map_err(|_| anyhow::anyhow!("--retain {}: must not be negative", a.retain))?;
    let opts = trawl_lake::CompactOptions {
        window: args::window(a.since.as_deref(), a.until.as_deref())?,
        target_rows: a.target_rows,
        retain,
        layout: a.layout.resolve(&lake)?,
        ..Default::default()
    };
    let s = trawl_lake::compact(&lake, &opts)?;
    let mut out = std::io::stdout().lock();
    if a.json {
        serde_json::to_writer(&mut out, &s)?;
        writeln!(out)?;
    } else {
        render::write_compact(&mut out, &s)?;
    }
    Ok(ExitCode::SUCCESS)
}

/// Hits per rule the report's "Detections" section lists (all are counted).
const REPORT_HITS_PER_RULE: usize = 20;

fn report(a: &ReportArgs) -> anyhow::Result<ExitCode> {
    let settings = ReportSettings::resolve(a)?;
    let lake = lakes::open_with(&a.query.lake, &a.query.s3)?;
    let geo = geo(&settings.geoip)?;
    let mut engine = a.query.memory.engine();
    engine.distributed = a.cluster.distributed(&lake, &a.query.s3)?;
    let has_geo = geo.as_ref().is_some_and(|g| g.has_location());
    let rules = if a.rules.is_empty() {
        None
    } else {
        Some(detect::load_rules(&a.rules)?)
    };
    let rt = trawl_query::query_runtime().context("starting the query runtime")?;
    let (results, detections) = rt.block_on(async {
        let engine = trawl_query::QueryEngine::open_with_options(&lake, geo, &engine).await?;
        let range = match settings.last_us {
            // Relative to the newest event at or before --until.
            Some(period) => settings.range.last(&engine, period).await?,
            None => settings.range.clone(),
        };
        // Without a range, each dashboard's default, counted back from the newest event.
        let newest = if range.is_open() && !settings.all_time {
            trawl_report::newest_event(&engine, None).await?
        } else {
            None
        };
        // The dashboards run together, as each one's tiles do: one's small queries and
        // single-threaded steps leave a core that another's scans use.
        let out = futures::future::try_join_all(settings.dashboards.iter().map(|d| {
            let range = trawl_report::default_range(d, &range, newest);
            let engine = &engine;
            async move { trawl_report::run(engine, d, &range, has_geo).await }
        }))
        .await?;
        let detections = match &rules {
            Some(set) => Some(
                trawl_detections::digest(&engine, set, &range.window, REPORT_HITS_PER_RULE).await?,
            ),
            None => None,
        };
        anyhow::Ok((out, detections))
    })?;
    let mut out: Box<dyn Write> = match &settings.out {
        Some(path) => Box::new(std::io::BufWriter::new(
            std::fs::File::create(path).with_context(|| format!("creating {}", path.display()))?,
        )),
        None => Box::new(std::io::stdout().lock()),
    };
    let integrity = trawl_report::Integrity::load(&lake, lake.latest_version()?);
    match settings.format {
        ReportFormat::Json => {
            let validated: Vec<bool> = results
                .iter()
                .map(|d| integrity.covers(&d.range.window))
                .collect();
            let mut v = serde_json::json!({ "dashboards": results, "log_integrity": integrity, "validated": validated });
            if let (Some(d), Some(map)) = (&detections, v.as_object_mut()) {
                map.insert("detections".into(), serde_json::to_value(d)?);
            }
            serde_json::to_writer(&mut out, &v)?;
            writeln!(out)?;
        }
        ReportFormat::Html => {
            let sections: Vec<(&str, &str, String)> = detections
                .iter()
                .map(|d| ("detections", "Detections", d.html(&|_| None)))
                .collect();
            let page = trawl_report::html::report_with(&results, Some(&integrity), &sections);
            out.write_all(page.as_bytes())?;
        }
        ReportFormat::Table => {
            for d in &results {
                writeln!(
                    out,
                    "# {}\n\n{}\n{}\n",
                    d.title,
                    trawl_report::html::range_text(&d.range),
                    integrity.mark(&d.range.window)
                )?;
                for t in &d.tiles {
                    writeln!(out, "## {}", t.title)?;
                    let text = t.note.as_ref().or(t.text.as_ref());
                    match (text, trawl_report::pivot(t)) {
                        (Some(note), _) => writeln!(out, "{note}")?,
                        (None, _) if t.rows.is_empty() => writeln!(out, "(no rows)")?,
                        (None, Some((days, grid))) => {
                            writeln!(out, "hour  {}", days.map(|d| format!("{d:>8}")).join(""))?;
                            for (hour, row) in grid.iter().enumerate() {
                                let cells: String = row.iter().map(|v| format!("{v:>8}")).collect();
                                writeln!(out, "{hour:02}:00 {cells}")?;
                            }
                        }
                        (None, None) => {
                            let schema = t.batches[0].schema();
                            render::write_result(&mut out, Format::Table, &t.batches, &schema)?;
                        }
                    }
                    writeln!(out)?;
                }
            }
            out.write_all(integrity.text().as_bytes())?;
            if let Some(d) = &detections {
                detect::write_digest(&mut out, d)?;
            }
        }
    }
    out.flush()?;
    Ok(ExitCode::SUCCESS)
}

fn serve(a: &ServeArgs) -> anyhow::Result<ExitCode> {
    if !a.addr.ip().is_loopback() && !a.allow_remote {
        anyhow::bail!(
            "refusing to listen on {}: other machines could reach it, and the app has no login \
             (anyone who connects reads the whole lake). Use --addr 127.0.0.1:PORT, or pass \
             --allow-remote if that is what you want",
            a.addr
        );
    }
    let lake = lakes::open_with(&a.query.lake, &a.query.s3)?;
    let lake_name = lake.location();
    let geo = geo(&a.query.geo.geoip)?;
    for (path, kind) in geo.iter().flat_map(|g| g.files()) {
        eprintln!("trawl: geolocation from {} ({kind})", path.display());
    }
    let limits = trawl_web::Limits {
        sql_timeout: std::time::Duration::from_secs(a.sql_timeout.max(1)),
        max_rows: a.max_rows.max(1),
        engine: a.query.memory.engine(),
        console_memory: a.sql_memory_limit.map(args::bytes),
        dashboard_cache: a.dashboard_cache.as_u64(),
        console_concurrency: a.sql_concurrency.max(1),
        console_wait: std::time::Duration::from_secs(a.sql_timeout.max(1)),
    };
    let rules = if a.rules.is_empty() {
        None
    } else {
        Some(detect::load_rules(&a.rules)?)
    };
    let rt = trawl_query::query_runtime().context("starting the server runtime")?;
    rt.block_on(async {
        let mut app = trawl_web::App::open(lake, geo, limits).await?;
        if let Some(set) = rules {
            app = app.with_rules(set);
        }
        let app = std::sync::Arc::new(app);
        let listener = tokio::net::TcpListener::bind(a.addr)
            .await
            .with_context(|| format!("listening on {}: pick another --addr", a.addr))?;
        let addr = listener.local_addr()?;
        eprintln!(
            "trawl: serving {} on http://{addr}/ (Ctrl-C to stop)",
            lake_name
        );
        if !addr.ip().is_loopback() {
            eprintln!(
                "trawl: WARNING: {addr} is reachable from other machines and the app has no \
                 login: anyone who connects reads the whole lake"
            );
        }
        let warming = app.clone();
        tokio::spawn(async move {
            let (_, took) = warming.ready().await;
            eprintln!(
                "trawl: the dashboards are ready (their default pages computed in {:.1} s)",
                took.as_secs_f64()
            );
        });
        let server = trawl_web::ServerLimits {
            header_timeout: std::time::Duration::from_secs(a.header_timeout.max(1)),
            request_timeout: std::time::Duration::from_secs(
                a.request_timeout.max(a.sql_timeout.max(1) + 1),
            ),
            max_connections: a.max_connections.max(1),
            ..trawl_web::ServerLimits::default()
        };
        trawl_web::serve(listener, app, server).await?;
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
        hash_files: a.digests,
        ..trawl_gen::TrailSpec::default()
    };
    let stats = trawl_gen::write_trail(&a.out, &spec)
        .with_context(|| format!("writing the trail to {}", a.out.display()))?;
    let mut summary = serde_json::json!({"out": a.out, "files": stats.files, "events": stats.events,
        "duplicates": stats.duplicates, "json_bytes": stats.json_bytes, "gz_bytes": stats.gz_bytes});
    if a.digests {
        let signer = trawl_gen::Signer::test_key();
        let digest_spec = trawl_gen::DigestSpec {
            bucket: a.bucket.clone(),
            ..trawl_gen::DigestSpec::default()
        };
        let d = trawl_gen::write_digests(&a.out, &stats.logs, &digest_spec, &signer)
            .with_context(|| format!("writing digest files under {}", a.out.display()))?;
        summary["digests"] = d.digests.into();
        if let Some(path) = &a.public_keys_out {
            let (from, to) = (
                d.first_start.unwrap_or(spec.start),
                d.last_end.unwrap_or(spec.start) + chrono::Duration::days(1),
            );
            std::fs::write(path, signer.public_keys_json(from, to).to_string())
                .with_context(|| format!("writing {}", path.display()))?;
        }
    }
    let mut out = std::io::stdout().lock();
    serde_json::to_writer(&mut out, &summary)?;
    writeln!(out)?;
    Ok(ExitCode::SUCCESS)
}

/// The geolocation databases named by `--geoip` / `TRAWL_GEOIP`, if any.
pub(crate) fn geo(
    paths: &[std::path::PathBuf],
) -> anyhow::Result<Option<std::sync::Arc<trawl_geo::GeoDb>>> {
    if paths.is_empty() {
        return Ok(None);
    }
    Ok(Some(std::sync::Arc::new(trawl_geo::GeoDb::open(paths)?)))
}

/// What `trawl sql` and its shell open: the lake, the query runtime, and a session over the
/// lake's latest snapshot (on the cluster with `--cluster`).
fn open_session(
    a: &SqlArgs,
) -> anyhow::Result<(Lake, tokio::runtime::Runtime, trawl_query::QueryEngine)> {
    let lake = lakes::open_with(&a.query.lake, &a.query.s3)?;
    let rt = trawl_query::query_runtime().context("starting the query runtime")?;
    let geo = geo(&a.query.geo.geoip)?;
    let mut options = a.query.memory.engine();
    options.distributed = a.cluster.distributed(&lake, &a.query.s3)?;
    let engine = rt.block_on(trawl_query::QueryEngine::open_with_options(
        &lake, geo, &options,
    ))?;
    Ok((lake, rt, engine))
}

fn sql(a: &SqlArgs) -> anyhow::Result<ExitCode> {
    if a.sql.is_none() && a.file.is_none() && std::io::stdin().is_terminal() {
        let (lake, rt, engine) = open_session(a)?;
        let bench = trawl_tuning::Workbench::new(&lake, a.price_per_tb)?;
        return shell::run(&rt, engine, bench, &lake.location());
    }
    let text = args::sql_text(a)?;
    let format = a.format.unwrap_or_else(render::default_format);
    let (lake, rt, engine) = open_session(a)?;
    let bench = a
        .stats
        .then(|| trawl_tuning::Workbench::new(&lake, a.price_per_tb))
        .transpose()?;
    let (results, stats) = rt.block_on(async {
        let results = engine.run(&text).await?;
        let stats: Vec<_> = match &bench {
            None => Vec::new(),
            Some(b) => results.iter().map(|r| b.stats(r, engine.files())).collect(),
        };
        Ok::<_, trawl_query::QueryError>((results, stats))
    })?;
    let mut out = std::io::stdout().lock();
    for (i, r) in results.iter().enumerate() {
        let Some(stats) = stats.get(i) else {
            render::write_result(&mut out, format, &r.batches, &r.schema)?;
            continue;
        };
        if format == Format::Json {
            render::write_with_stats(&mut out, &r.batches, &r.schema, stats)?;
        } else {
            render::write_result(&mut out, format, &r.batches, &r.schema)?;
            out.flush()?;
            eprint!("{}", stats.text());
        }
    }
    out.flush()?;
    Ok(ExitCode::SUCCESS)
}
