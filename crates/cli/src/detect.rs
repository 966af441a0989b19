//! `trawl detect`: Sigma rules over the lake, hits streamed as they are read.

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Instant;

use anyhow::Context;
use clap::Args;
use trawl_detections::{Hit, RuleRun, RuleSet};

use crate::args::{self, LakeArg, S3Arg};
use crate::lakes;

#[derive(Debug, Args)]
pub(crate) struct DetectArgs {
    /// Sigma rule files, or directories searched for `*.yml`/`*.yaml` (detection rules,
    /// filters and correlation rules).
    #[arg(long, required = true, num_args = 1.., value_name = "PATH")]
    pub rules: Vec<PathBuf>,
    #[command(flatten)]
    pub window: args::WindowArgs,
    /// Output format: a hit a line (table, jsonl) or one JSON object with the hits, what each
    /// rule did and the rules that could not run (json).
    #[arg(long, value_enum, default_value = "table")]
    pub format: Format,
    /// Only the hits of rules at this level or above (Sigma's informational, low, medium,
    /// high, critical; a rule without a level is kept).
    #[arg(long, value_enum)]
    pub min_level: Option<Level>,
    /// Exit with status 1 when a rule hits (for scripts and CI).
    #[arg(long)]
    pub fail_on_hit: bool,
    #[command(flatten)]
    pub lake: LakeArg,
    #[command(flatten)]
    pub s3: S3Arg,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub(crate) enum Level {
    Informational,
    Low,
    Medium,
    High,
    Critical,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub(crate) enum Format {
    Table,
    Json,
    Jsonl,
}

/// Reads the rules of `paths`, and says on stderr what could not be read. Fails when no rule
/// can run.
pub(crate) fn load_rules(paths: &[PathBuf]) -> anyhow::Result<RuleSet> {
    let set = trawl_detections::load(paths)?;
    for p in &set.problems {
        eprintln!("not evaluated: {p}");
    }
    for r in &set.rules {
        for n in &r.notes {
            eprintln!(
                "note: {}: rule \"{}\": {n}",
                r.info.file.display(),
                r.info.title
            );
        }
    }
    if set.rules.is_empty() {
        anyhow::bail!(
            "no rule to run in {}: {} Sigma files read, {} rules not evaluated (above); give \
             Sigma detection rules for CloudTrail (logsource product: aws, service: cloudtrail)",
            paths
                .iter()
                .map(|p| p.display().to_string())
                .collect::<Vec<_>>()
                .join(", "),
            set.files,
            set.problems.len()
        );
    }
    eprintln!(
        "{} rules, {} correlations, {} filters from {} files; {} not evaluated",
        set.rules.len(),
        set.correlations.len(),
        set.filters,
        set.files,
        set.problems.len()
    );
    Ok(set)
}

/// One hit as a table line.
pub(crate) fn hit_line(h: &Hit) -> String {
    let o = |v: &Option<String>| v.clone().unwrap_or_default();
    let event = match (&h.event_source, &h.event_name) {
        (Some(s), Some(n)) => format!("{}:{n}", s.strip_suffix(".amazonaws.com").unwrap_or(s)),
        _ => "-".to_string(),
    };
    let fields: Vec<String> = h.fields.iter().map(|(k, v)| format!("{k}={v}")).collect();
    format!(
        "{:<20}  {:<8}  {}  {}  {}  {}  [{}]  {}",
        o(&h.time),
        o(&h.rule.level),
        h.rule.title,
        o(&h.principal),
        o(&h.source_ip),
        event,
        o(&h.event_id),
        fields.join(" ")
    )
}

pub(crate) fn detect(a: &DetectArgs) -> anyhow::Result<ExitCode> {
    let lake = lakes::open_with(&a.lake, &a.s3)?;
    let window = a.window.window()?;
    let mut set = load_rules(&a.rules)?;
    if let Some(l) = a.min_level {
        let name = clap::ValueEnum::to_possible_value(&l).expect("levels are all shown");
        set.keep_min_level(name.get_name());
    }
    let rt = trawl_query::query_runtime().context("starting the query runtime")?;
    let start = Instant::now();
    let mut out = std::io::BufWriter::new(std::io::stdout().lock());
    let format = a.format;
    let mut first = true;
    if format == Format::Json {
        write!(out, "{{\"hits\":[")?;
    }
    let result = rt.block_on(async {
        let engine = trawl_query::QueryEngine::open(&lake).await?;
        let runs = trawl_detections::run(&engine, &set, &window, |hit| {
            match format {
                Format::Table => writeln!(out, "{}", hit_line(&hit))?,
                Format::Jsonl => {
                    serde_json::to_writer(&mut out, &hit)?;
                    writeln!(out)?;
                }
                Format::Json => {
                    if !first {
                        write!(out, ",")?;
                    }
                    first = false;
                    writeln!(out)?;
                    serde_json::to_writer(&mut out, &hit)?;
                }
            }
            Ok(())
        })
        .await?;
        anyhow::Ok(runs)
    });
    // A reader that went away (`| head`) ends the run as success, in main.
    let runs = result?;
    if format == Format::Json {
        writeln!(
            out,
            "\n],\"rules\":{},\"problems\":{}}}",
            serde_json::to_string(&runs)?,
            serde_json::to_string(&set.problems)?
        )?;
    }
    out.flush()?;
    let hits: u64 = runs.iter().map(|r| r.hits).sum();
    summary(&runs, hits, start.elapsed().as_secs_f64(), &lake.location());
    Ok(if a.fail_on_hit && hits > 0 {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    })
}

/// `trawl ingest --detect`: the rules over the events of the commits after `since_version`
/// (no rule runs when the run committed nothing).
pub(crate) fn after_ingest(
    lake: &trawl_lake::Lake,
    set: &RuleSet,
    since_version: u64,
) -> anyhow::Result<(Vec<Hit>, Vec<RuleRun>)> {
    let rt = trawl_query::query_runtime().context("starting the query runtime")?;
    rt.block_on(async {
        let engine = trawl_query::QueryEngine::open(lake).await?;
        let last = engine.version();
        if last <= since_version {
            return Ok((Vec::new(), Vec::new()));
        }
        let new = engine.commits(since_version + 1, last).await?;
        let mut hits = Vec::new();
        let runs = trawl_detections::run(&new, set, &trawl_schema::TimeWindow::ALL, |h| {
            hits.push(h);
            Ok(())
        })
        .await?;
        Ok((hits, runs))
    })
}

/// `trawl ingest --detect`'s hits, after the ingest summary.
pub(crate) fn write_hits(
    out: &mut dyn Write,
    hits: &[Hit],
    runs: &[RuleRun],
) -> std::io::Result<()> {
    if runs.is_empty() {
        return writeln!(out, "detections      none: this run committed no event");
    }
    let hit_rules = runs.iter().filter(|r| r.hits > 0).count();
    writeln!(
        out,
        "detections      {} hits from {hit_rules} of {} rules on the events this run committed",
        hits.len(),
        runs.len()
    )?;
    for h in hits {
        writeln!(out, "  {}", hit_line(h))?;
    }
    Ok(())
}

/// The "Detections" section of `trawl report` as text.
pub(crate) fn write_digest(
    out: &mut dyn Write,
    d: &trawl_detections::Digest,
) -> std::io::Result<()> {
    writeln!(
        out,
        "\n# Detections\n\n{} hits from {} of {} rules",
        d.hits,
        d.rules.len(),
        d.ran
    )?;
    for r in &d.rules {
        writeln!(
            out,
            "\n## {} ({}, {} hits, {} .. {})",
            r.rule.title,
            r.rule.level.as_deref().unwrap_or("no level"),
            r.hits,
            r.first.as_deref().unwrap_or("?"),
            r.last.as_deref().unwrap_or("?")
        )?;
        for h in &r.latest {
            writeln!(out, "{}", hit_line(h))?;
        }
    }
    for p in &d.problems {
        writeln!(out, "not evaluated: {p}")?;
    }
    Ok(())
}

/// Per rule that hit, its count, on stderr.
fn summary(runs: &[RuleRun], hits: u64, seconds: f64, location: &str) {
    let hit: Vec<&RuleRun> = runs.iter().filter(|r| r.hits > 0).collect();
    eprintln!(
        "{hits} hits from {} of {} rules over {location} in {seconds:.2} s",
        hit.len(),
        runs.len()
    );
    for r in hit {
        eprintln!(
            "  {:>8}  {:<8}  {}  ({})",
            r.hits,
            r.rule.level.clone().unwrap_or_default(),
            r.rule.title,
            r.rule
                .file
                .file_name()
                .map(|f| f.to_string_lossy().to_string())
                .unwrap_or_default()
        );
    }
}
