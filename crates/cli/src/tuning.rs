//! `trawl bench` and `trawl info`: the query-tuning workbench's subcommands.

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::Context;
use arrow::array::{ArrayRef, Float64Array, StringArray, UInt64Array};
use arrow::datatypes::{DataType, Field, Schema};
use arrow::record_batch::RecordBatch;
use clap::Args;
use trawl_tuning::{BenchOptions, BenchReport, Workbench};

use crate::args::{Format, GeoArg, LakeArg, MemoryArg, S3Arg};
use crate::{lakes, render};

#[derive(Debug, Args)]
pub(crate) struct BenchArgs {
    /// The query set: statements separated by `;` (`-` for stdin).
    #[arg(short, long)]
    pub file: PathBuf,
    /// Timed runs of each statement.
    #[arg(long, default_value_t = 5)]
    pub repeat: usize,
    /// Untimed runs of each statement first.
    #[arg(long, default_value_t = 1)]
    pub warmup: usize,
    /// A lake to run the set on; repeat to compare lakes (ratios are to the first).
    #[arg(
        long = "lake",
        env = "TRAWL_LAKE",
        value_delimiter = ',',
        default_value = "./trawl-lake"
    )]
    pub lakes: Vec<PathBuf>,
    #[command(flatten)]
    pub s3: S3Arg,
    #[command(flatten)]
    pub geo: GeoArg,
    #[command(flatten)]
    pub memory: MemoryArg,
    /// Output format (default: table on a terminal, csv otherwise). `json` is what
    /// `--baseline` reads.
    #[arg(long, value_enum)]
    pub format: Option<Format>,
    /// An earlier run's `--format json` output: exit 1 naming each statement whose median
    /// got slower than there by more than `--fail-above`.
    #[arg(long, value_name = "JSON")]
    pub baseline: Option<PathBuf>,
    /// The slow-down factor `--baseline` fails above.
    #[arg(long, default_value_t = 1.25, value_name = "FACTOR")]
    pub fail_above: f64,
    /// Slow-downs smaller than this many seconds are timer noise, never a failure.
    #[arg(long, default_value_t = 0.005, value_name = "SECONDS")]
    pub min_delta: f64,
    /// Athena's price per TB scanned, in US dollars, for the estimates.
    #[arg(long, default_value_t = trawl_tuning::DEFAULT_PRICE_PER_TB, value_name = "USD")]
    pub price_per_tb: f64,
}

pub(crate) fn bench(a: &BenchArgs) -> anyhow::Result<ExitCode> {
    let text = if a.file.as_os_str() == "-" {
        std::io::read_to_string(std::io::stdin()).context("reading the query set from stdin")?
    } else {
        std::fs::read_to_string(&a.file)
            .with_context(|| format!("reading the query set {}", a.file.display()))?
    };
    let statements = trawl_query::split_statements(&text);
    if statements.is_empty() {
        anyhow::bail!(
            "{}: no SQL statement (statements are separated by `;`)",
            a.file.display()
        );
    }
    let baseline = a
        .baseline
        .as_ref()
        .map(|p| -> anyhow::Result<BenchReport> {
            let text = std::fs::read_to_string(p)
                .with_context(|| format!("reading the baseline {}", p.display()))?;
            serde_json::from_str(&text).with_context(|| {
                format!(
                    "{}: not the output of `trawl bench --format json`",
                    p.display()
                )
            })
        })
        .transpose()?;
    let opts = BenchOptions {
        repeat: a.repeat.max(1),
        warmup: a.warmup,
    };
    let rt = trawl_query::query_runtime().context("starting the query runtime")?;
    let geo = crate::geo(&a.geo.geoip)?;
    let mut runs = Vec::new();
    for path in &a.lakes {
        let arg = LakeArg {
            lake: path.clone(),
            mirror: None,
        };
        let lake = lakes::open_with(&arg, &a.s3)?;
        let label = lake.location();
        let bench = Workbench::new(&lake, a.price_per_tb)?;
        let engine = a.memory.engine();
        let geo = geo.clone();
        let done = rt.block_on(async {
            let engine = trawl_query::QueryEngine::open_with_options(&lake, geo, &engine).await?;
            trawl_tuning::run_statements(&engine, &bench, &label, &statements, opts).await
        });
        runs.extend(done.with_context(|| format!("running {} on {label}", a.file.display()))?);
    }
    let report = BenchReport::new(runs, opts);
    let format = a.format.unwrap_or_else(render::default_format);
    let mut out = std::io::stdout().lock();
    if format == Format::Json {
        serde_json::to_writer_pretty(&mut out, &report)?;
        writeln!(out)?;
    } else {
        let batch = report_batch(&report)?;
        render::write_result(
            &mut out,
            format,
            std::slice::from_ref(&batch),
            &batch.schema(),
        )?;
    }
    out.flush()?;
    let Some(baseline) = baseline else {
        return Ok(ExitCode::SUCCESS);
    };
    let slower = report.regressions(&baseline, a.fail_above, a.min_delta);
    if slower.is_empty() {
        return Ok(ExitCode::SUCCESS);
    }
    for r in &slower {
        eprintln!("slower than the baseline: {r}");
    }
    eprintln!(
        "{} statement(s) slower than {} by more than {}x; if that is expected, write a new baseline with --format json",
        slower.len(),
        a.baseline
            .as_ref()
            .map(|p| p.display().to_string())
            .unwrap_or_default(),
        a.fail_above
    );
    Ok(ExitCode::from(1))
}

/// The report as a table: one row per statement and lake.
fn report_batch(report: &BenchReport) -> anyhow::Result<RecordBatch> {
    let runs = &report.runs;
    let dollars = |f: fn(&trawl_tuning::AthenaBill) -> f64| -> ArrayRef {
        Arc::new(Float64Array::from(
            runs.iter()
                .map(|r| r.athena.as_ref().map(f))
                .collect::<Vec<_>>(),
        ))
    };
    let fields = [
        ("statement", DataType::UInt64),
        ("lake", DataType::Utf8),
        ("min_s", DataType::Float64),
        ("median_s", DataType::Float64),
        ("max_s", DataType::Float64),
        ("vs_first_lake", DataType::Float64),
        ("rows", DataType::UInt64),
        ("bytes_scanned", DataType::Utf8),
        ("athena_lake_usd", DataType::Float64),
        ("athena_raw_json_usd", DataType::Float64),
        ("athena_raw_by_day_usd", DataType::Float64),
        ("sql", DataType::Utf8),
    ];
    let round = |v: f64| (v * 1e4).round() / 1e4;
    let columns: Vec<ArrayRef> = vec![
        Arc::new(UInt64Array::from_iter_values(
            runs.iter().map(|r| r.statement as u64),
        )),
        Arc::new(StringArray::from_iter_values(runs.iter().map(|r| &r.lake))),
        Arc::new(Float64Array::from_iter_values(
            runs.iter().map(|r| round(r.seconds.min)),
        )),
        Arc::new(Float64Array::from_iter_values(
            runs.iter().map(|r| round(r.seconds.median)),
        )),
        Arc::new(Float64Array::from_iter_values(
            runs.iter().map(|r| round(r.seconds.max)),
        )),
        Arc::new(Float64Array::from(
            runs.iter()
                .map(|r| r.ratio.map(|v| (v * 100.0).round() / 100.0))
                .collect::<Vec<_>>(),
        )),
        Arc::new(UInt64Array::from_iter_values(runs.iter().map(|r| r.rows))),
        Arc::new(StringArray::from_iter_values(
            runs.iter()
                .map(|r| trawl_tuning::human_bytes(r.bytes_scanned)),
        )),
        dollars(|b| b.lake.dollars),
        dollars(|b| b.raw_json.dollars),
        dollars(|b| b.raw_json_projected.dollars),
        Arc::new(StringArray::from_iter_values(
            runs.iter().map(|r| trawl_tuning::one_line(&r.sql, 60)),
        )),
    ];
    let schema = Schema::new(
        fields
            .iter()
            .map(|(n, t)| Field::new(*n, t.clone(), true))
            .collect::<Vec<_>>(),
    );
    Ok(RecordBatch::try_new(Arc::new(schema), columns)?)
}

#[derive(Debug, Args)]
pub(crate) struct InfoArgs {
    #[command(flatten)]
    pub lake: LakeArg,
    #[command(flatten)]
    pub s3: S3Arg,
    /// Print the description as JSON.
    #[arg(long)]
    pub json: bool,
}

pub(crate) fn info(a: &InfoArgs) -> anyhow::Result<ExitCode> {
    let lake = lakes::open_with(&a.lake, &a.s3)?;
    let info = trawl_tuning::LakeInfo::of(&lake)?;
    let mut out = std::io::stdout().lock();
    if a.json {
        serde_json::to_writer_pretty(&mut out, &info)?;
        writeln!(out)?;
    } else {
        write!(out, "{}", info.text())?;
    }
    out.flush()?;
    Ok(ExitCode::SUCCESS)
}
