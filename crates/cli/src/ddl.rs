//! `trawl ddl`: what Athena, Trino, Spark or DuckDB need to read the lake, with the lake's
//! symlink manifests brought up to date first.

use std::io::Write;
use std::process::ExitCode;

use anyhow::{Context, bail};
use trawl_lake::{LakeError, manifest};
use trawl_schema::UNKNOWN_PARTITION;
use trawl_schema::ddl::{DdlTarget, Engine, ddl};

use crate::args::{DdlArgs, DdlEngine};

/// `--location` as a URI: kept when it has a scheme, else taken as a local directory.
fn location_uri(location: &str) -> anyhow::Result<String> {
    if location.contains("://") {
        return Ok(location.trim_end_matches('/').to_string());
    }
    let path = std::path::absolute(location)
        .with_context(|| format!("--location {location}: not a URI or a usable path"))?;
    Ok(manifest::local_uri(&path))
}

pub(crate) fn run(a: &DdlArgs) -> anyhow::Result<ExitCode> {
    let lake = crate::lakes::open_with(&a.lake, &a.s3)?;
    let layout = lake.layout();
    let wanted = a.location.as_deref().map(location_uri).transpose()?;
    // A lake in object storage: its manifests name its own objects, which every writer
    // publishes; another root would be undone by the next commit.
    if let (Some(remote), Some(w)) = (lake.remote(), &wanted)
        && w != remote.url()
    {
        bail!(
            "--location {w}: the lake is in object storage at {}, and its manifests name its own objects there; --location is for a local lake copied to object storage (run `trawl ddl` without it)",
            remote.url()
        );
    }
    let lock = lake.lock();
    // Read with the lock held when it could be taken: what the manifests are brought to.
    let snap = lake.snapshot()?;
    match lock {
        Ok(_lock) => {
            // A manifest lost or edited by hand is rewritten too (the check is one read a day).
            let damaged = !manifest::check(&layout, &snap)?.is_empty();
            let done = manifest::sync_and_publish(&layout, &snap, wanted.as_deref(), damaged)?;
            if done.written + done.removed > 0 {
                eprintln!(
                    "manifests: {} days written, {} removed, under {}",
                    done.written,
                    done.removed,
                    manifest::root(&layout)?
                );
            }
        }
        Err(LakeError::Locked(_)) => {
            if let Some(w) = &wanted
                && *w != manifest::root(&layout)?
            {
                bail!(
                    "{}: another trawl process is writing the lake, so its manifests cannot be rewritten under --location {w} now; run `trawl ddl` again when it is done",
                    lake.root().display()
                );
            }
            eprintln!(
                "note: an ingest is writing {}; it brings the manifests up to date at each commit",
                lake.root().display()
            );
        }
        Err(e) => return Err(e.into()),
    }
    let target = DdlTarget {
        location: manifest::root(&layout)?,
        first_day: snap
            .files
            .iter()
            .map(|f| f.dt.as_str())
            .filter(|d| *d != UNKNOWN_PARTITION)
            .min()
            .map(str::to_string),
        unknown_partition_rows: snap
            .files
            .iter()
            .filter(|f| f.dt == UNKNOWN_PARTITION)
            .map(|f| f.rows)
            .sum(),
        version: snap.version,
        sub_partition: sub_partition(&lake, &snap.files, a.engine)?,
    };
    let engine = match a.engine {
        DdlEngine::Athena => Engine::Athena,
        DdlEngine::Trino => Engine::Trino,
        DdlEngine::Spark => Engine::Spark,
        DdlEngine::Duckdb => Engine::DuckDb,
    };
    let mut out = std::io::stdout().lock();
    out.write_all(ddl(engine, &target).as_bytes())?;
    Ok(ExitCode::SUCCESS)
}

/// The directory level below the days that every data file is in (`account`, `region`), if
/// any. Spark and DuckDB take partitions from the paths and read one depth of directories: a
/// lake whose files mix layouts is refused for them, naming what to run.
fn sub_partition(
    lake: &trawl_lake::Lake,
    files: &[trawl_lake::DataFile],
    engine: DdlEngine,
) -> anyhow::Result<Option<String>> {
    let kinds: std::collections::BTreeMap<Option<&str>, usize> =
        files.iter().fold(Default::default(), |mut m, f| {
            let kind = trawl_lake::layout_options::sub_partition_of(&f.path).map(|(k, _)| k.key());
            *m.entry(kind).or_default() += 1;
            m
        });
    let by_paths = matches!(engine, DdlEngine::Spark | DdlEngine::Duckdb);
    if kinds.len() > 1 && by_paths {
        let counts: Vec<String> = kinds
            .iter()
            .map(|(k, n)| match k {
                Some(k) => format!("{n} in {k}= directories below the day"),
                None => format!("{n} directly in the day's directory"),
            })
            .collect();
        anyhow::bail!(
            "{}: its data files are in more than one layout ({}); Spark and DuckDB find partitions from the paths and read one: run `trawl compact --lake {}` (it rewrites every day into the lake's layout), then `trawl ddl` again",
            lake.location(),
            counts.join(", "),
            lake.location()
        );
    }
    Ok(kinds.into_keys().next().flatten().map(str::to_string))
}
