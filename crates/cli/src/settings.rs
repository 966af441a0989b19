//! Flags resolved into settings: what the libraries take (paths, a time window, options
//! values, the dashboards), checked once, before anything runs.

use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context;
use trawl_lake::IngestOptions;
use trawl_report::{Dashboard, Range};
use trawl_s3::{S3Options, Selection, SourceSpec};

use crate::args::{self, IngestArgs, ReportArgs, ReportFormat, When};

/// `trawl ingest`, resolved.
#[derive(Debug)]
pub(crate) struct IngestSettings {
    pub lake: args::LakeArg,
    pub sources: SourceSpec,
    pub options: IngestOptions,
    pub progress: When,
    pub json: bool,
}

impl IngestSettings {
    pub(crate) fn resolve(a: &IngestArgs) -> anyhow::Result<Self> {
        let window = args::window(a.since.as_deref(), a.until.as_deref())?;
        let mut options = IngestOptions {
            strict: a.strict,
            commit_interval: Duration::from_secs_f64(a.commit_interval.max(0.0)),
            flush_bytes: a.buffer_mb.max(1) << 20,
            dedup_events: a.dedup_events,
            ..IngestOptions::default()
        };
        options.read.window = window;
        options.read.max_object_bytes = a.max_object_bytes.as_u64();
        options.read.max_record_bytes = a.max_record_bytes.as_u64();
        options.read.sha256 = !a.no_hash;
        if let Some(t) = a.threads {
            options.threads = t.max(1);
        }
        let sources = SourceSpec {
            sources: a.sources.clone(),
            selection: Selection {
                window,
                accounts: a.accounts.clone(),
                regions: a.regions.clone(),
                shard: a.shard.unwrap_or_default(),
            },
            s3: S3Options {
                profile: a.profile.clone(),
                endpoint_url: a.endpoint_url.clone(),
                no_sign_request: a.no_sign_request,
                concurrency: a
                    .concurrency
                    .unwrap_or_else(trawl_s3::default_concurrency)
                    .max(1),
                max_attempts: a.max_attempts.max(1),
                ..S3Options::default()
            },
            // The lake is never read as a source, should it sit inside a source tree.
            exclude: Some(a.lake.lake.clone()),
        };
        Ok(IngestSettings {
            lake: a.lake.clone(),
            sources,
            options,
            progress: a.progress,
            json: a.json,
        })
    }
}

/// `trawl report`, resolved.
#[derive(Debug)]
pub(crate) struct ReportSettings {
    pub geoip: Vec<PathBuf>,
    pub dashboards: Vec<Dashboard>,
    pub range: Range,
    /// `--last`, in microseconds.
    pub last_us: Option<i64>,
    /// `--all-time`: no default range.
    pub all_time: bool,
    pub format: ReportFormat,
    pub out: Option<PathBuf>,
}

impl ReportSettings {
    pub(crate) fn resolve(a: &ReportArgs) -> anyhow::Result<Self> {
        let dashboards = trawl_report::select(&a.dashboard)?;
        let mut range = Range {
            window: args::window(a.since.as_deref(), a.until.as_deref())?,
            filters: Vec::new(),
            zone: None,
        };
        range = range.in_zone(&a.tz).context("--tz")?;
        for (col, value) in &a.filter {
            range = range
                .filtered(col, value)
                .with_context(|| format!("--filter {col}={value}"))?;
        }
        let last_us = a
            .last
            .as_deref()
            .map(|p| {
                args::parse_period("--last", p).map(|d| d.num_microseconds().unwrap_or(i64::MAX))
            })
            .transpose()?;
        Ok(ReportSettings {
            geoip: a.query.geo.geoip.clone(),
            dashboards,
            range,
            last_us,
            all_time: a.all_time,
            format: a.format,
            out: a.out.clone(),
        })
    }
}
