//! `--lake`: a directory, or `s3://bucket/prefix`, worked on through a local mirror.

use std::path::PathBuf;

use anyhow::Context;
use trawl_lake::{Lake, Remote};
use trawl_s3::{S3Options, S3Url};

use crate::args::{LakeArg, S3Arg};

/// Opens the lake `--lake` names (creating it with `create`), reaching S3 with `s3`.
pub(crate) fn open(arg: &LakeArg, s3: &S3Options, create: bool) -> anyhow::Result<Lake> {
    let text = arg.lake.to_string_lossy();
    let Some(url) = S3Url::parse(&text) else {
        return Ok(if create {
            Lake::create(&arg.lake)?
        } else {
            Lake::open(&arg.lake)?
        });
    };
    let url = url?;
    let remote = remote(&url, s3)?;
    Ok(Lake::open_remote(mirror(arg, &url)?, remote, create)?)
}

/// The lake at `url`, through the S3 client `s3` describes.
fn remote(url: &S3Url, s3: &S3Options) -> anyhow::Result<Remote> {
    let store = trawl_s3::lake_store(url, s3)?;
    Ok(Remote::new(url.to_string(), store)?)
}

/// [`open`] for the subcommands that only read or maintain a lake (`--profile`,
/// `--endpoint-url` of their own).
pub(crate) fn open_with(arg: &LakeArg, s3: &S3Arg) -> anyhow::Result<Lake> {
    open(arg, &s3.options(), false)
}

/// [`open_with`] for `trawl verify --rebuild-ledger`: a lake in object storage is opened
/// without reading its log into the mirror (the log may be damaged).
pub(crate) fn open_to_repair(arg: &LakeArg, s3: &S3Arg) -> anyhow::Result<Lake> {
    let text = arg.lake.to_string_lossy();
    let Some(url) = S3Url::parse(&text) else {
        return Ok(Lake::open(&arg.lake)?);
    };
    let url = url?;
    let remote = remote(&url, &s3.options())?;
    Ok(Lake::open_remote_to_repair(mirror(arg, &url)?, remote)?)
}

/// The mirror `--mirror` names, or the default one for the lake at `url`.
fn mirror(arg: &LakeArg, url: &S3Url) -> anyhow::Result<PathBuf> {
    match &arg.mirror {
        Some(m) => Ok(m.clone()),
        None => default_mirror(url),
    }
}

/// `$XDG_CACHE_HOME/trawl/mirrors/<bucket>/<prefix>` (or under `~/.cache`).
fn default_mirror(url: &S3Url) -> anyhow::Result<PathBuf> {
    let cache = std::env::var_os("XDG_CACHE_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache")))
        .context("no cache directory for the lake's mirror (neither XDG_CACHE_HOME nor HOME is set): give one with --mirror")?;
    let mut dir = cache.join("trawl").join("mirrors").join(&url.bucket);
    for part in url.prefix.split('/').filter(|p| !p.is_empty()) {
        dir.push(part);
    }
    Ok(dir)
}
