//! Local sources: files and directory trees (the CloudTrail S3 key layout or any other).

use std::path::{Path, PathBuf};
use std::time::UNIX_EPOCH;

use crate::IngestError;

/// One input object: a local file (S3 objects come later with the same shape).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SourceObject {
    /// What the ledger and error messages call it: the absolute path (or `s3://bucket/key`).
    pub uri: String,
    pub path: PathBuf,
    pub size: u64,
    /// Modification time in nanoseconds since the epoch; with `size`, the object's identity.
    pub mtime_ns: i64,
}

/// What a directory walk picks up: names CloudTrail (and common shippers) use.
fn looks_like_log(name: &str) -> bool {
    let lower = name.to_ascii_lowercase();
    !lower.starts_with('.')
        && [
            ".json.gz",
            ".json",
            ".jsonl",
            ".ndjson",
            ".gz",
            ".jsonl.gz",
            ".ndjson.gz",
            ".log",
        ]
        .iter()
        .any(|ext| lower.ends_with(ext))
}

fn object(path: &Path) -> Result<SourceObject, IngestError> {
    let meta = std::fs::metadata(path).map_err(|source| IngestError::Source {
        path: path.to_path_buf(),
        source,
    })?;
    let abs = std::path::absolute(path).unwrap_or_else(|_| path.to_path_buf());
    let mtime_ns = meta
        .modified()
        .ok()
        .and_then(|t| t.duration_since(UNIX_EPOCH).ok())
        .map_or(0, |d| d.as_nanos() as i64);
    Ok(SourceObject {
        uri: abs.display().to_string(),
        path: abs,
        size: meta.len(),
        mtime_ns,
    })
}

/// Expands files and directories into the objects to read, sorted by path and deduplicated.
/// A file named explicitly is always read (its form is detected by content); inside
/// directories only log-like names are picked (`.json.gz`, `.json`, `.jsonl`, `.gz`, `.log`...),
/// hidden files and directories are skipped.
pub fn discover_local(paths: &[PathBuf]) -> Result<Vec<SourceObject>, IngestError> {
    let mut out = Vec::new();
    for p in paths {
        let meta = std::fs::metadata(p).map_err(|source| IngestError::Source {
            path: p.clone(),
            source,
        })?;
        if meta.is_dir() {
            let walker = walkdir::WalkDir::new(p)
                .follow_links(true)
                .sort_by_file_name()
                .into_iter()
                .filter_entry(|e| {
                    e.depth() == 0 || !e.file_name().to_string_lossy().starts_with('.')
                });
            for entry in walker {
                let entry = entry.map_err(|e| IngestError::Source {
                    path: e.path().map_or_else(|| p.clone(), Path::to_path_buf),
                    source: e
                        .into_io_error()
                        .unwrap_or_else(|| std::io::Error::other("directory loop")),
                })?;
                if entry.file_type().is_file()
                    && looks_like_log(&entry.file_name().to_string_lossy())
                {
                    out.push(object(entry.path())?);
                }
            }
        } else {
            out.push(object(p)?);
        }
    }
    out.sort_by(|a, b| a.uri.cmp(&b.uri));
    out.dedup_by(|a, b| a.uri == b.uri);
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn directory_walk_picks_log_names() {
        let cases = [
            (
                "123456789012_CloudTrail_us-east-1_20240301T0000Z_abc.json.gz",
                true,
            ),
            ("events.jsonl", true),
            ("x.ndjson.gz", true),
            ("test-cloudtrail.log", true),
            (".hidden.json.gz", false),
            ("README.md", false),
            ("data.parquet", false),
        ];
        for (name, want) in cases {
            assert_eq!(looks_like_log(name), want, "{name}");
        }
    }
}
