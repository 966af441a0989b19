//! Hive symlink manifests: for each day, the committed data files of that partition, one URI a
//! line, in `_trawl/manifest/dt=<day>/manifest`.
//!
//! They are what other engines read instead of listing `events/` (which can hold a crashed
//! commit's files until the next ingest removes them): Athena and Trino read a table stored as
//! `SymlinkTextInputFormat` through them, and the Spark and DuckDB views `trawl ddl` prints keep
//! only the rows of the files they name. A manifest is replaced whole (a rename here, one PUT on
//! object storage), after the commit that changed its day, so it never names an uncommitted file.
//!
//! `_trawl/manifest.json` records the version the manifests describe and the root their URIs
//! start with. After a crash between a commit and its manifests, the next writer sees the older
//! version there and rewrites every manifest from the log ([`sync`]).

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::error::{IoContext, LakeError};
use crate::layout::Layout;
use crate::log::{DataFile, LogEntry, Snapshot, write_atomic};

/// What `_trawl/manifest.json` holds.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ManifestState {
    /// The lake version the manifests list the files of.
    pub version: u64,
    /// What every URI in the manifests starts with: the lake as the engines see it.
    pub root: String,
    /// The root was chosen with `trawl ddl --location` (kept when the lake moves); otherwise
    /// it follows the lake's own directory.
    #[serde(default)]
    pub root_set: bool,
}

/// What [`sync`] did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ManifestSync {
    /// Days whose manifest was written.
    pub written: usize,
    /// Manifests of days that no longer hold a committed file, removed.
    pub removed: usize,
}

/// The lake directory as a `file://` URI (what Spark, Hive and DuckDB accept).
pub fn local_uri(root: &Path) -> String {
    url::Url::from_directory_path(root)
        .map(|u| u.as_str().trim_end_matches('/').to_string())
        .unwrap_or_else(|()| format!("file://{}", root.display()))
}

/// The state recorded in `_trawl/manifest.json`, if any. A damaged record counts as none: the
/// manifests are derived from the log, so the next [`sync`] rewrites them and the record.
pub fn load_state(layout: &Layout) -> Result<Option<ManifestState>, LakeError> {
    let path = layout.manifest_state();
    match fs::read(&path) {
        Ok(bytes) => Ok(serde_json::from_slice(&bytes)
            .inspect_err(|e| {
                tracing::warn!(
                    "{}: damaged ({e}); the manifests will be rewritten",
                    path.display()
                )
            })
            .ok()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(source) => Err(LakeError::Io { path, source }),
    }
}

/// The root manifests use: the one set with `trawl ddl --location`, else the lake's directory
/// (or its URL, for a lake in object storage).
pub fn root(layout: &Layout) -> Result<String, LakeError> {
    Ok(match load_state(layout)? {
        Some(s) if s.root_set => s.root,
        _ => default_root(layout),
    })
}

fn default_root(layout: &Layout) -> String {
    match layout.remote() {
        Some(r) => r.url().to_string(),
        None => local_uri(layout.root()),
    }
}

/// A data file's line in a manifest: its URI under `root`.
fn line(root: &str, f: &DataFile) -> String {
    format!("{root}/{}", f.path)
}

/// The lines each day's manifest should hold for `snap`, in commit order.
fn lines_by_day<'a>(root: &str, snap: &'a Snapshot) -> BTreeMap<&'a str, Vec<String>> {
    let mut days: BTreeMap<&str, Vec<String>> = BTreeMap::new();
    for f in &snap.files {
        days.entry(f.dt.as_str()).or_default().push(line(root, f));
    }
    days
}

/// A manifest's text: its lines, each ended by a newline.
fn text_of(lines: impl IntoIterator<Item = String>) -> String {
    lines.into_iter().map(|l| l + "\n").collect()
}

fn write_state(layout: &Layout, state: &ManifestState) -> Result<(), LakeError> {
    let json = serde_json::to_vec_pretty(state).expect("manifest state serializes");
    write_atomic(&layout.manifest_state(), &json)
}

/// Brings the manifests to `snap`: when the recorded state is older than the snapshot, names
/// another root, `new_root` asks for one, or `force` is set (a manifest was found damaged),
/// every day's manifest is rewritten from the log and manifests of days without files are
/// removed. Call with the writer lock held.
pub fn sync(
    layout: &Layout,
    snap: &Snapshot,
    new_root: Option<&str>,
    force: bool,
) -> Result<ManifestSync, LakeError> {
    let _guard = lock(layout)?;
    sync_locked(layout, snap, new_root, force)
}

fn sync_locked(
    layout: &Layout,
    snap: &Snapshot,
    new_root: Option<&str>,
    force: bool,
) -> Result<ManifestSync, LakeError> {
    let state = load_state(layout)?;
    let (root, root_set) = match (new_root, &state) {
        (Some(r), _) => (r.trim_end_matches('/').to_string(), true),
        (None, Some(s)) if s.root_set => (s.root.clone(), true),
        (None, _) => (default_root(layout), false),
    };
    let wanted = ManifestState {
        version: snap.version,
        root: root.clone(),
        root_set,
    };
    if !force && state.as_ref() == Some(&wanted) {
        return Ok(ManifestSync::default());
    }
    // Another writer committed after `snap` was read and brought the manifests further.
    if !force
        && new_root.is_none()
        && state
            .as_ref()
            .is_some_and(|s| s.version > snap.version && s.root == root)
    {
        return Ok(ManifestSync::default());
    }
    let days = lines_by_day(&root, snap);
    let mut done = ManifestSync::default();
    for (day, lines) in &days {
        write_atomic(
            &layout.manifest(day),
            text_of(lines.iter().cloned()).as_bytes(),
        )?;
        done.written += 1;
    }
    let dir = layout.manifest_dir();
    if dir.exists() {
        for e in fs::read_dir(&dir).at(&dir)? {
            let e = e.at(&dir)?;
            let name = e.file_name().to_string_lossy().into_owned();
            let Some(day) = name.strip_prefix("dt=") else {
                continue;
            };
            if !days.contains_key(day) {
                fs::remove_dir_all(e.path()).at(e.path())?;
                done.removed += 1;
            }
        }
    }
    write_state(layout, &wanted)?;
    Ok(done)
}

/// After commit `entry`: rewrites the manifests of the days it touched (each the previous
/// list without the files it removed, plus the files it added) and records the version. If
/// the manifests were not at the previous version (a crash came between an earlier commit and
/// its manifests, or another writer committed meanwhile), they are rebuilt from the log.
pub(crate) fn after_commit(layout: &Layout, entry: &LogEntry) -> Result<(), LakeError> {
    let _guard = lock(layout)?;
    let Some(remote) = layout.remote() else {
        return after_commit_locked(layout, entry);
    };
    let state = load_state(layout)?;
    let from = state
        .as_ref()
        .map_or(0, |s| s.version.min(entry.version - 1));
    // The mirror's manifests one commit behind: brought up by this entry alone. Further
    // behind (an ingest defers them), `publish` rebuilds them from the log anyway.
    if state.is_some_and(|s| s.version + 1 == entry.version) {
        after_commit_locked(layout, entry)?;
    }
    publish(layout, remote, from)
}

/// For a lake in object storage: publishes the manifests if this mirror's are behind its log
/// (an ingest defers them between commits: [`crate::IngestOptions`]).
pub(crate) fn catch_up(layout: &Layout) -> Result<(), LakeError> {
    let Some(remote) = layout.remote() else {
        return Ok(());
    };
    let _guard = lock(layout)?;
    let from = load_state(layout)?.map_or(0, |s| s.version);
    if from < Snapshot::latest_version(layout)? {
        publish(layout, remote, from)?;
    }
    Ok(())
}

/// In object storage other writers commit too, and their manifest PUTs may land after this
/// one's: each round publishes the days of every commit after version `from`, from the latest
/// snapshot, until no commit came in meanwhile. The last writer to look has then published
/// every day from a snapshot that holds every commit. Call with the manifest lock held.
fn publish(layout: &Layout, remote: &crate::Remote, mut from: u64) -> Result<(), LakeError> {
    for _ in 0..crate::MAX_RETRIES {
        let snap = Snapshot::load(layout)?;
        sync_locked(layout, &snap, None, false)?;
        let mut days = BTreeSet::new();
        // (Versions below a rebuilt entry may be missing: that log was moved aside.)
        for v in Snapshot::versions(layout)?
            .into_iter()
            .filter(|v| *v > from)
        {
            let e = crate::log::read_entry(layout, v)?;
            if e.rebuilt {
                days.extend(snap.files.iter().map(|f| f.dt.clone()));
            }
            days.extend(e.add.into_iter().map(|f| f.dt));
            days.extend(
                e.remove
                    .iter()
                    .filter_map(|p| Layout::data_file_day(p))
                    .map(str::to_string),
            );
        }
        let (mut uploads, mut gone) = (Vec::new(), Vec::new());
        for day in days {
            let path = layout.manifest(&day);
            let rel = layout.rel(&path);
            if path.exists() {
                uploads.push((path, rel));
            } else {
                gone.push(rel);
            }
        }
        remote.upload_all(uploads)?;
        remote.delete_all(gone)?;
        if remote.pull(layout)? == 0 {
            break;
        }
        from = snap.version;
    }
    Ok(())
}

/// [`sync`], and for a lake in object storage, when it rewrote anything (or `force`), every
/// day's manifest published to the store (those of days without files deleted there).
pub fn sync_and_publish(
    layout: &Layout,
    snap: &Snapshot,
    new_root: Option<&str>,
    force: bool,
) -> Result<ManifestSync, LakeError> {
    let done = sync(layout, snap, new_root, force)?;
    if let Some(remote) = layout.remote()
        && (force || done.written + done.removed > 0)
    {
        push_all(layout, remote, snap)?;
    }
    Ok(done)
}

/// Uploads every day's manifest of `snap` from the mirror, and deletes from the store the
/// manifests of days without files.
fn push_all(layout: &Layout, remote: &crate::Remote, snap: &Snapshot) -> Result<(), LakeError> {
    let days: BTreeSet<&str> = snap.files.iter().map(|f| f.dt.as_str()).collect();
    let uploads = days
        .iter()
        .map(|day| {
            let path = layout.manifest(day);
            let rel = layout.rel(&path);
            (path, rel)
        })
        .collect();
    remote.upload_all(uploads)?;
    let gone = remote
        .list("_trawl/manifest/", None)?
        .into_iter()
        .map(|l| l.path)
        .filter(|p| Layout::manifest_day(p).is_some_and(|day| !days.contains(day)))
        .collect();
    remote.delete_all(gone)
}

fn after_commit_locked(layout: &Layout, entry: &LogEntry) -> Result<(), LakeError> {
    let version = entry.version;
    let state = load_state(layout)?;
    let Some(state) = state.filter(|s| s.version + 1 == version) else {
        let snap = Snapshot::load(layout)?;
        if load_state(layout)?.is_none_or(|s| s.version < snap.version) {
            sync_locked(layout, &snap, None, false)?;
        }
        return Ok(());
    };
    let removed: BTreeSet<String> = entry
        .remove
        .iter()
        .map(|p| format!("{}/{p}", state.root))
        .collect();
    let days: BTreeSet<&str> = entry
        .add
        .iter()
        .map(|f| f.dt.as_str())
        .chain(entry.remove.iter().filter_map(|p| Layout::data_file_day(p)))
        .collect();
    for day in days {
        let path = layout.manifest(day);
        let text = match fs::read_to_string(&path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => String::new(),
            Err(source) => return Err(LakeError::Io { path, source }),
        };
        let lines: Vec<String> = text
            .lines()
            .filter(|l| !removed.contains(*l))
            .map(str::to_string)
            .chain(
                entry
                    .add
                    .iter()
                    .filter(|f| f.dt == day)
                    .map(|f| line(&state.root, f)),
            )
            .collect();
        if lines.is_empty() {
            let dir = path.parent().expect("manifests live in a day directory");
            fs::remove_dir_all(dir).at(dir)?;
        } else {
            write_atomic(&path, text_of(lines).as_bytes())?;
        }
    }
    crate::crash_point("lake::manifests-written");
    write_state(layout, &ManifestState { version, ..state })
}

/// Holds `_trawl/manifest.lock` while manifests are rewritten, so that two writers of the lake
/// (an ingest and a compaction) do not interleave their rewrites of one day.
fn lock(layout: &Layout) -> Result<fs::File, LakeError> {
    let path = layout.meta_dir().join("manifest.lock");
    let file = fs::File::options()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&path)
        .at(&path)?;
    file.lock().at(&path)?;
    Ok(file)
}

/// A day whose manifest differs from the log, as `trawl verify` reports it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ManifestProblem {
    pub path: String,
    /// Committed files the manifest does not list (it is behind: engines see less).
    pub missing: usize,
    /// Lines naming files a later commit replaced (a compaction), still on disk: engines see
    /// the older state until the manifest is rewritten.
    #[serde(default)]
    pub replaced: usize,
    /// Lines naming no committed file (engines would read rows the lake does not hold).
    pub extra: usize,
}

/// The days whose manifest is missing, behind the log, or lists a file the log does not.
pub fn check(layout: &Layout, snap: &Snapshot) -> Result<Vec<ManifestProblem>, LakeError> {
    let root = root(layout)?;
    let mut days: BTreeMap<String, BTreeSet<String>> = lines_by_day(&root, snap)
        .into_iter()
        .map(|(day, lines)| (day.to_string(), lines.into_iter().collect()))
        .collect();
    // What the engines read: the manifests in the lake's store (a mirror's own are a cache).
    let remote = layout.remote();
    let listed: Vec<String> = match remote {
        Some(r) => r
            .list("_trawl/manifest/", None)?
            .into_iter()
            .filter_map(|m| {
                Some(
                    m.path
                        .strip_prefix("_trawl/manifest/dt=")?
                        .split('/')
                        .next()?
                        .to_string(),
                )
            })
            .collect(),
        None => {
            let dir = layout.manifest_dir();
            let mut found = Vec::new();
            if dir.exists() {
                for e in fs::read_dir(&dir).at(&dir)? {
                    let name = e.at(&dir)?.file_name().to_string_lossy().into_owned();
                    found.extend(name.strip_prefix("dt=").map(str::to_string));
                }
            }
            found
        }
    };
    for day in listed {
        days.entry(day).or_default();
    }
    // Files a compaction replaced that are still stored: a manifest naming one is behind.
    let stored: Option<std::collections::HashSet<String>> = match remote {
        Some(r) => Some(
            r.list("events/", None)?
                .into_iter()
                .map(|m| m.path)
                .collect(),
        ),
        None => None,
    };
    let replaced_lines: BTreeSet<String> = snap
        .removed
        .iter()
        .filter(|t| match &stored {
            Some(stored) => stored.contains(&t.file.path),
            None => layout.root().join(&t.file.path).exists(),
        })
        .map(|t| line(&root, &t.file))
        .collect();
    let mut problems = Vec::new();
    for (day, want) in &days {
        let path = layout.manifest(day);
        let (name, text) = match remote {
            Some(r) => {
                let rel = layout.rel(&path);
                let text = r
                    .get(&rel)?
                    .map(|b| String::from_utf8_lossy(&b).into_owned());
                (r.uri(&rel), text)
            }
            None => match fs::read_to_string(&path) {
                Ok(text) => (path.display().to_string(), Some(text)),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                    (path.display().to_string(), None)
                }
                Err(source) => return Err(LakeError::Io { path, source }),
            },
        };
        let have: BTreeSet<String> = text
            .iter()
            .flat_map(|t| t.lines().map(str::to_string))
            .collect();
        let missing = want.difference(&have).count();
        // A file of a commit newer than `snap` is an ingest that committed while this ran.
        let (replaced, extra) = have
            .difference(want)
            .filter(|line| Layout::data_file_version(line).is_none_or(|v| v <= snap.version))
            .fold((0, 0), |(r, e), line| {
                if replaced_lines.contains(line.as_str()) {
                    (r + 1, e)
                } else {
                    (r, e + 1)
                }
            });
        if missing + replaced + extra > 0 {
            problems.push(ManifestProblem {
                path: name,
                missing,
                replaced,
                extra,
            });
        }
    }
    Ok(problems)
}
