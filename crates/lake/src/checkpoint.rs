//! Checkpoints of the log for readers that need the data files and nothing else (a query's
//! snapshot), so that opening a lake costs about the same after ten thousand commits as
//! after ten.
//!
//! A checkpoint `_trawl/checkpoints/<version>.json` holds the lake's data files as of one
//! committed version (with the version that added each) and the latest version that
//! removed files. A reader starts from the newest checkpoint the log still vouches for and
//! reads only the entries after it; the ledger, which a query never needs, is not parsed.
//! Checkpoints are derived data: written by readers (after [`EVERY`] entries past the newest
//! one, best effort: a lake that cannot be written to is read whole), under a temporary name
//! then renamed, the older ones then removed; never required. A checkpoint counts only when
//! the log entry of its version is still there with the bytes it was made from (xxh3
//! recorded): a log rebuilt by `trawl verify --rebuild-ledger` or a lake copied over another
//! makes it stale, and it is ignored.

use std::fs;

use serde::{Deserialize, Serialize};
use xxhash_rust::xxh3::xxh3_64;

use crate::error::LakeError;
use crate::layout::Layout;
use crate::log::{DataFile, LogEntry, Snapshot};

/// Log entries past the newest checkpoint after which a reader writes a new one.
pub const EVERY: usize = 64;

/// The checkpoint format this trawl writes and reads.
const FORMAT: u32 = 1;

#[derive(Serialize, Deserialize)]
struct Checkpoint {
    format: u32,
    version: u64,
    /// xxh3-64 of the bytes of log entry `version`, hex.
    entry_xxh3: String,
    rewritten_at: u64,
    files: Vec<CheckpointFile>,
}

#[derive(Serialize, Deserialize)]
struct CheckpointFile {
    #[serde(flatten)]
    file: DataFile,
    committed: u64,
}

/// A log entry as a table reader needs it: what it adds and removes (the ledger's sources
/// and quarantined objects are skipped, not built).
#[derive(Deserialize)]
struct TableEntry {
    version: u64,
    committed_at: String,
    #[serde(default)]
    add: Vec<DataFile>,
    #[serde(default)]
    remove: Vec<String>,
    #[serde(default)]
    side: Vec<String>,
    #[serde(default)]
    rebuilt: bool,
}

fn dir(layout: &Layout) -> std::path::PathBuf {
    layout.meta_dir().join("checkpoints")
}

/// The lake's data files as of its latest version, from the newest valid checkpoint and the
/// log entries after it. The snapshot's ledger and quarantine list are empty
/// ([`Snapshot::tables_only`]): for readers of the tables only.
pub fn load_tables(layout: &Layout) -> Result<Snapshot, LakeError> {
    let versions = Snapshot::versions(layout)?;
    let mut snap = Snapshot {
        tables_only: true,
        ..Snapshot::default()
    };
    let mut start = 0;
    if let Some(cp) = newest_valid(layout, &versions) {
        start = versions.partition_point(|v| *v <= cp.version);
        snap.version = cp.version;
        snap.rewritten_at = cp.rewritten_at;
        snap.files = cp
            .files
            .into_iter()
            .map(|f| DataFile {
                committed: f.committed,
                ..f.file
            })
            .collect();
    }
    let mut last_bytes = None;
    for &v in &versions[start..] {
        let (e, bytes) = crate::log::read_entry_as(layout, v, |e: &TableEntry| e.version)?;
        snap.apply(LogEntry {
            version: e.version,
            committed_at: e.committed_at,
            trawl_version: String::new(),
            add: e.add,
            sources: Vec::new(),
            quarantined: Vec::new(),
            remove: e.remove,
            side: e.side,
            rebuilt: e.rebuilt,
        });
        last_bytes = Some(bytes);
    }
    if versions.len() - start >= EVERY
        && let Some(bytes) = last_bytes
        && let Err(e) = write(layout, &snap, &bytes)
    {
        tracing::debug!("no checkpoint written at version {}: {e}", snap.version);
    }
    Ok(snap)
}

/// The newest checkpoint whose version's log entry still has the bytes it was made from.
fn newest_valid(layout: &Layout, versions: &[u64]) -> Option<Checkpoint> {
    let latest = *versions.last()?;
    let mut found: Vec<u64> = fs::read_dir(dir(layout))
        .ok()?
        .filter_map(|e| {
            let name = e.ok()?.file_name();
            Layout::log_version(&name.to_string_lossy())
        })
        .filter(|v| *v <= latest)
        .collect();
    found.sort_unstable();
    let v = *found.last()?;
    let cp: Checkpoint = serde_json::from_slice(&fs::read(path(layout, v)).ok()?).ok()?;
    let entry = fs::read(layout.log_entry(v)).ok()?;
    (cp.format == FORMAT && cp.version == v && cp.entry_xxh3 == hash(&entry)).then_some(cp)
}

fn path(layout: &Layout, version: u64) -> std::path::PathBuf {
    dir(layout).join(format!("{version:020}.json"))
}

fn hash(bytes: &[u8]) -> String {
    format!("{:016x}", xxh3_64(bytes))
}

/// Writes the checkpoint of `snap`, whose latest log entry's bytes are `entry`.
fn write(layout: &Layout, snap: &Snapshot, entry: &[u8]) -> Result<(), LakeError> {
    let cp = Checkpoint {
        format: FORMAT,
        version: snap.version,
        entry_xxh3: hash(entry),
        rewritten_at: snap.rewritten_at,
        files: snap
            .files
            .iter()
            .map(|f| CheckpointFile {
                file: f.clone(),
                committed: f.committed,
            })
            .collect(),
    };
    let json = serde_json::to_vec(&cp).expect("checkpoints serialise");
    crate::log::write_atomic(&path(layout, snap.version), &json)?;
    // Older checkpoints are never read again (a reader that listed one just before it goes
    // finds it gone and reads the whole log): only the newest is kept.
    if let Ok(entries) = fs::read_dir(dir(layout)) {
        for e in entries.flatten() {
            let older = Layout::log_version(&e.file_name().to_string_lossy())
                .is_some_and(|v| v < snap.version);
            if older {
                let _ = fs::remove_file(e.path());
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::log::SourceEntry;

    fn file(version: u64) -> DataFile {
        DataFile {
            path: format!("events/dt=2024-03-01/part-{version:020}-0000.parquet"),
            dt: "2024-03-01".into(),
            rows: version,
            bytes: 100 * version,
            min_time: Some("2024-03-01T00:00:00Z".into()),
            max_time: Some("2024-03-01T23:59:59Z".into()),
            xxh3: format!("{version:016x}"),
            index: format!("_trawl/index/{version:020}-0000.idx"),
            layout: None,
            committed: 0,
        }
    }

    /// Commits version `v`: a file of its own and an object read, or with `compact`, one
    /// file that replaces those of versions `compact`.
    fn commit(layout: &Layout, v: u64, compact: Option<std::ops::RangeInclusive<u64>>) {
        let entry = LogEntry {
            version: v,
            committed_at: format!("2026-12-04T00:00:{:02}.000Z", v % 60),
            trawl_version: "test".into(),
            add: vec![file(v)],
            sources: vec![SourceEntry::new(format!("/trail/{v}.json.gz"), v, 1)],
            quarantined: Vec::new(),
            remove: compact
                .map(|r| r.map(|x| file(x).path).collect())
                .unwrap_or_default(),
            side: Vec::new(),
            rebuilt: false,
        };
        crate::log::commit(layout, &entry).unwrap();
    }

    /// What a table reader sees: the files with the version that added each, the version,
    /// the latest rewrite.
    fn tables(s: &Snapshot) -> (u64, u64, Vec<(String, u64, u64)>) {
        let mut files: Vec<_> = s
            .files
            .iter()
            .map(|f| (f.path.clone(), f.committed, f.rows))
            .collect();
        files.sort();
        (s.version, s.rewritten_at, files)
    }

    fn checkpoints(layout: &Layout) -> Vec<String> {
        let mut names: Vec<String> = fs::read_dir(dir(layout))
            .map(|d| {
                d.map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
                    .collect()
            })
            .unwrap_or_default();
        names.sort();
        names
    }

    #[test]
    fn a_long_log_is_read_from_its_checkpoint() {
        let tmp = tempfile::tempdir().unwrap();
        let layout = Layout::new(tmp.path());
        for v in 1..=150 {
            commit(&layout, v, (v == 100).then_some(1..=50));
        }
        let full = Snapshot::load(&layout).unwrap();
        assert_eq!(full.files.len(), 100, "150 files, 50 compacted away");
        assert_eq!(full.rewritten_at, 100);

        // The first read finds no checkpoint, reads the whole log and leaves one.
        assert!(checkpoints(&layout).is_empty());
        let first = load_tables(&layout).unwrap();
        assert!(first.tables_only && first.ledger.is_empty());
        assert_eq!(tables(&first), tables(&full));
        assert_eq!(checkpoints(&layout), [format!("{:020}.json", 150)]);

        // Later commits are read after the checkpoint; entries before it are not read at
        // all: one made unreadable changes nothing for a table reader.
        for v in 151..=160 {
            commit(&layout, v, (v == 155).then_some(120..=130));
        }
        let full = Snapshot::load(&layout).unwrap();
        fs::write(layout.log_entry(3), b"not json").unwrap();
        assert!(Snapshot::load(&layout).is_err());
        let later = load_tables(&layout).unwrap();
        assert_eq!(tables(&later), tables(&full));
        assert_eq!(later.rewritten_at, 155);
        assert_eq!(
            checkpoints(&layout).len(),
            1,
            "10 entries past it: no new one"
        );

        // 64 entries past it: a new one, which replaces it.
        for v in 161..=214 {
            commit(&layout, v, None);
        }
        let newer = load_tables(&layout).unwrap();
        assert_eq!(newer.files.len(), later.files.len() + 54);
        assert_eq!(checkpoints(&layout), [format!("{:020}.json", 214)]);
    }

    #[test]
    fn a_checkpoint_the_log_no_longer_vouches_for_is_ignored() {
        let tmp = tempfile::tempdir().unwrap();
        let layout = Layout::new(tmp.path());
        for v in 1..=70 {
            commit(&layout, v, None);
        }
        load_tables(&layout).unwrap();
        assert_eq!(checkpoints(&layout), [format!("{:020}.json", 70)]);

        // A damaged checkpoint: read as if there were none.
        let cp = path(&layout, 70);
        let good = fs::read(&cp).unwrap();
        fs::write(&cp, &good[..good.len() / 2]).unwrap();
        assert_eq!(
            tables(&load_tables(&layout).unwrap()),
            tables(&Snapshot::load(&layout).unwrap())
        );

        // Entry 70 rewritten (other bytes, one file fewer): the checkpoint made from the old
        // bytes no longer counts.
        fs::write(&cp, &good).unwrap();
        let mut entry = crate::log::read_entry(&layout, 70).unwrap();
        entry.add.clear();
        fs::write(layout.log_entry(70), serde_json::to_vec(&entry).unwrap()).unwrap();
        let read = load_tables(&layout).unwrap();
        assert_eq!(read.files.len(), 69);
        assert_eq!(tables(&read), tables(&Snapshot::load(&layout).unwrap()));

        // A log rebuilt from the data files (`trawl verify --rebuild-ledger`): the old entries
        // are moved aside, and the checkpoint's version is no longer in the log.
        fs::rename(layout.log_dir(), tmp.path().join("_trawl/log.replaced")).unwrap();
        let rebuilt = LogEntry {
            rebuilt: true,
            add: vec![file(3), file(7)],
            ..serde_json::from_slice::<LogEntry>(
                &fs::read(
                    tmp.path()
                        .join("_trawl/log.replaced")
                        .join(format!("{:020}.json", 70)),
                )
                .unwrap(),
            )
            .unwrap()
        };
        crate::log::commit(
            &layout,
            &LogEntry {
                version: 71,
                ..rebuilt
            },
        )
        .unwrap();
        let after = load_tables(&layout).unwrap();
        assert_eq!(after.version, 71);
        assert_eq!(
            after.files.iter().map(|f| f.rows).collect::<Vec<_>>(),
            [3, 7]
        );
    }
}
