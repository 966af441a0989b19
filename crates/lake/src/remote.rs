//! A lake in object storage (`s3://bucket/prefix`).
//!
//! The lake's objects keep the local layout's paths under the prefix. A process works on a
//! *mirror*: a local directory holding the log, the dedup indexes it needed and the files of
//! the commit it is writing. Before a commit it uploads that commit's data, index and side
//! files (their names carry this writer's tag, so two writers never write one object); the
//! commit is the conditional create of `_trawl/log/<v>.json` (S3's If-None-Match), which exactly
//! one of racing writers wins; then the entry is written into the mirror. Readers pull the log
//! into their mirror and read data files from the store.

use std::fmt;
use std::future::Future;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use bytes::Bytes;
use futures::{StreamExt, TryStreamExt};
use object_store::path::Path as Key;
use object_store::{ObjectStore, ObjectStoreExt, PutMode, PutOptions, PutPayload};
use tokio::io::AsyncWriteExt;

use crate::error::{IoContext, LakeError};
use crate::layout::Layout;
use crate::log::{DataFile, LogEntry, Snapshot, write_atomic};

/// Uploads and downloads in flight at once.
const CONCURRENCY: usize = 8;

/// A lake's object store, and who this writer is.
pub struct Remote {
    url: String,
    store: Arc<dyn ObjectStore>,
    writer: String,
    rt: tokio::runtime::Runtime,
}

impl fmt::Debug for Remote {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Remote")
            .field("url", &self.url)
            .field("writer", &self.writer)
            .finish()
    }
}

/// An object listed under a prefix.
#[derive(Debug, Clone)]
pub struct Listed {
    /// Relative to the lake.
    pub path: String,
    pub modified: chrono::DateTime<chrono::Utc>,
}

impl Remote {
    /// The lake at `url` (for messages: `s3://bucket/prefix`), whose objects `store` holds at
    /// the lake's relative paths.
    pub fn new(url: impl Into<String>, store: Arc<dyn ObjectStore>) -> Result<Self, LakeError> {
        let url = url.into().trim_end_matches('/').to_string();
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name("trawl-lake-io")
            .enable_all()
            .build()
            .at(&url)?;
        Ok(Self {
            url,
            store,
            writer: format!("{:08x}", rand::random::<u32>()),
            rt,
        })
    }

    pub fn url(&self) -> &str {
        &self.url
    }

    /// The store, rooted at the lake.
    pub fn store(&self) -> Arc<dyn ObjectStore> {
        self.store.clone()
    }

    /// This process's tag in the names of the files it writes.
    pub fn writer(&self) -> &str {
        &self.writer
    }

    /// The URI of a path relative to the lake, as messages name it.
    pub fn uri(&self, rel: &str) -> String {
        format!("{}/{rel}", self.url)
    }

    fn fault(&self, rel: &str, e: impl fmt::Display) -> LakeError {
        LakeError::Remote {
            uri: self.uri(rel),
            message: e.to_string(),
        }
    }

    /// Runs `f` on the lake's runtime, from any thread (also one of another runtime).
    fn run<F>(&self, f: F) -> F::Output
    where
        F: Future + Send,
        F::Output: Send,
    {
        if tokio::runtime::Handle::try_current().is_ok() {
            std::thread::scope(|s| {
                s.spawn(|| self.rt.block_on(f))
                    .join()
                    .expect("lake I/O thread")
            })
        } else {
            self.rt.block_on(f)
        }
    }

    /// The object at `rel`, or `None` when there is none.
    pub fn get(&self, rel: &str) -> Result<Option<Bytes>, LakeError> {
        self.run(async {
            match self.store.get(&Key::from(rel)).await {
                Ok(r) => r.bytes().await.map(Some),
                Err(object_store::Error::NotFound { .. }) => Ok(None),
                Err(e) => Err(e),
            }
        })
        .map_err(|e| self.fault(rel, e))
    }

    /// Creates `rel` with `bytes` if nothing is there: `false` when an object already was (the
    /// conditional write a commit is).
    pub fn put_new(&self, rel: &str, bytes: Vec<u8>) -> Result<bool, LakeError> {
        let opts = PutOptions {
            mode: PutMode::Create,
            ..PutOptions::default()
        };
        match self.run(
            self.store
                .put_opts(&Key::from(rel), PutPayload::from(bytes), opts),
        ) {
            Ok(_) => Ok(true),
            Err(object_store::Error::AlreadyExists { .. }) => Ok(false),
            Err(e) => Err(self.fault(rel, e)),
        }
    }

    /// Uploads local files to their relative paths, several at once, each streamed (a multipart
    /// upload past a few MB), so memory stays bounded whatever the file's size.
    pub fn upload_all(&self, files: Vec<(PathBuf, String)>) -> Result<(), LakeError> {
        self.run(
            futures::stream::iter(
                files
                    .into_iter()
                    .map(|(local, rel)| async move { self.upload_one(&local, &rel).await }),
            )
            .buffer_unordered(CONCURRENCY)
            .try_collect::<Vec<()>>(),
        )?;
        Ok(())
    }

    /// Uploads data files of the mirror (and their indexes) to the lake.
    pub(crate) fn push(&self, layout: &Layout, files: &[DataFile]) -> Result<(), LakeError> {
        self.upload_all(
            files
                .iter()
                .flat_map(|f| [f.path.clone(), f.index.clone()])
                .map(|rel| (layout.root().join(&rel), rel))
                .collect(),
        )
    }

    async fn upload_one(&self, local: &Path, rel: &str) -> Result<(), LakeError> {
        let mut file = tokio::fs::File::open(local).await.at(local)?;
        let mut out = object_store::buffered::BufWriter::new(self.store.clone(), Key::from(rel));
        let copied = tokio::io::copy(&mut file, &mut out).await;
        match copied {
            Ok(_) => out.shutdown().await.map_err(|e| self.fault(rel, e)),
            Err(e) => {
                let _ = out.abort().await;
                Err(self.fault(rel, e))
            }
        }
    }

    /// Downloads `rel` to `local` (through a temporary file): `false` when there is no such
    /// object.
    pub fn download(&self, rel: &str, local: &Path) -> Result<bool, LakeError> {
        let dir = local.parent().expect("mirror paths have a parent");
        std::fs::create_dir_all(dir).at(dir)?;
        // A name of its own: several threads of a run download at once (the commit being
        // finished, the dedup of the rows being read).
        let tmp = crate::log::temp_path(dir, "download");
        let got = self.run(async {
            let r = match self.store.get(&Key::from(rel)).await {
                Ok(r) => r,
                Err(object_store::Error::NotFound { .. }) => return Ok(false),
                Err(e) => return Err(self.fault(rel, e)),
            };
            let mut file = tokio::fs::File::create(&tmp).await.at(&tmp)?;
            let mut chunks = r.into_stream();
            while let Some(chunk) = chunks.next().await {
                let chunk = chunk.map_err(|e| self.fault(rel, e))?;
                file.write_all(&chunk).await.at(&tmp)?;
            }
            file.sync_all().await.at(&tmp)?;
            Ok(true)
        })?;
        if got {
            std::fs::rename(&tmp, local).at(local)?;
        }
        Ok(got)
    }

    /// The objects under `prefix` (relative, ending with `/`), after `offset` if given, in
    /// key order.
    pub fn list(&self, prefix: &str, offset: Option<&str>) -> Result<Vec<Listed>, LakeError> {
        let key = Key::from(prefix);
        let stream = match offset {
            Some(o) => self.store.list_with_offset(Some(&key), &Key::from(o)),
            None => self.store.list(Some(&key)),
        };
        let mut found: Vec<Listed> = self
            .run(stream.try_collect::<Vec<_>>())
            .map_err(|e| self.fault(prefix, e))?
            .into_iter()
            .map(|m| Listed {
                path: m.location.to_string(),
                modified: m.last_modified,
            })
            .collect();
        found.sort_by(|a, b| a.path.cmp(&b.path));
        Ok(found)
    }

    /// Deletes the objects at `paths` (absent ones are fine).
    pub fn delete_all(&self, paths: Vec<String>) -> Result<(), LakeError> {
        self.run(
            futures::stream::iter(
                paths
                    .into_iter()
                    .map(|rel| async move { self.delete_one(&rel).await }),
            )
            .buffer_unordered(CONCURRENCY)
            .try_collect::<Vec<()>>(),
        )?;
        Ok(())
    }

    async fn delete_one(&self, rel: &str) -> Result<(), LakeError> {
        match self.store.delete(&Key::from(rel)).await {
            Ok(()) | Err(object_store::Error::NotFound { .. }) => Ok(()),
            Err(e) => Err(self.fault(rel, e)),
        }
    }

    /// Moves objects (`from`, `to`, relative): each copied, then deleted.
    pub fn move_all(&self, moves: Vec<(String, String)>) -> Result<(), LakeError> {
        self.run(
            futures::stream::iter(moves.into_iter().map(|(from, to)| async move {
                self.store
                    .copy(&Key::from(from.as_str()), &Key::from(to.as_str()))
                    .await
                    .map_err(|e| self.fault(&from, e))?;
                self.delete_one(&from).await
            }))
            .buffer_unordered(CONCURRENCY)
            .try_collect::<Vec<()>>(),
        )?;
        Ok(())
    }

    /// Brings the mirror's log up to the lake's: every entry committed since the mirror's
    /// latest, with the side files they name. Returns how many entries came.
    pub fn pull(&self, layout: &Layout) -> Result<usize, LakeError> {
        let local = Snapshot::latest_version(layout)?;
        let offset = (local > 0).then(|| Layout::log_rel(local));
        let mut pulled = 0;
        for item in self.list("_trawl/log/", offset.as_deref())? {
            let name = item.path.rsplit('/').next().unwrap_or_default();
            let Some(v) = Layout::log_version(name) else {
                continue;
            };
            if v <= local {
                continue;
            }
            let bytes = self
                .get(&item.path)?
                .ok_or_else(|| self.fault(&item.path, "listed, then not found"))?;
            let entry: LogEntry =
                serde_json::from_slice(&bytes).map_err(|e| LakeError::BadLog {
                    path: PathBuf::from(self.uri(&item.path)),
                    message: e.to_string(),
                })?;
            for side in &entry.side {
                let path = layout.root().join(side);
                if !path.exists() && !self.download(side, &path)? {
                    return Err(self.fault(side, "named by the log but missing"));
                }
            }
            write_atomic(&layout.log_entry(v), &bytes)?;
            pulled += 1;
        }
        Ok(pulled)
    }

    /// Fetches a file of the lake into the mirror if the mirror lacks it: `false` when the
    /// lake has no such object either.
    pub fn fetch(&self, layout: &Layout, rel: &str) -> Result<bool, LakeError> {
        let path = layout.root().join(rel);
        Ok(path.exists() || self.download(rel, &path)?)
    }

    /// Checks that the mirror follows this lake: the latest entry it holds is in the lake too.
    pub fn check_mirror(&self, layout: &Layout) -> Result<(), LakeError> {
        let local = Snapshot::latest_version(layout)?;
        if local == 0 {
            return Ok(());
        }
        let rel = Layout::log_rel(local);
        let ok = self
            .run(self.store.head(&Key::from(rel.as_str())))
            .map(|_| true)
            .or_else(|e| match e {
                object_store::Error::NotFound { .. } => Ok(false),
                e => Err(self.fault(&rel, e)),
            })?;
        if ok {
            return Ok(());
        }
        // The log was rebuilt (`trawl verify --rebuild-ledger`) since this mirror last
        // looked: its first entry now is the rebuilt one, above anything the mirror holds. The
        // mirror starts again (its cached indexes too: some may have been rebuilt).
        let first = self
            .list("_trawl/log/", None)?
            .into_iter()
            .find_map(|l| Layout::log_version(l.path.rsplit('/').next()?).map(|v| (v, l.path)));
        let rebuilt = match first {
            Some((v, rel)) if v > local => self
                .get(&rel)?
                .and_then(|b| serde_json::from_slice::<LogEntry>(&b).ok())
                .is_some_and(|e| e.rebuilt),
            _ => false,
        };
        if rebuilt {
            tracing::info!(
                "{}: the lake's log was rebuilt; the mirror {} reads it again",
                self.url,
                layout.root().display()
            );
            for dir in [layout.log_dir(), layout.meta_dir().join("index")] {
                if dir.exists() {
                    std::fs::remove_dir_all(&dir).at(&dir)?;
                }
            }
            let state = layout.manifest_state();
            if state.exists() {
                std::fs::remove_file(&state).at(&state)?;
            }
            std::fs::create_dir_all(layout.log_dir()).at(layout.log_dir())?;
            Ok(())
        } else {
            Err(LakeError::ForeignMirror {
                mirror: layout.root().to_path_buf(),
                lake: self.url.clone(),
                version: local,
            })
        }
    }
}

/// How old an object no commit names must be before it counts as a crashed writer's: a live
/// writer uploads its files moments before its commit.
pub const ORPHAN_AGE: std::time::Duration = std::time::Duration::from_secs(3600);

impl Remote {
    /// Deletes from the lake the data files (and indexes) a compaction removed longer ago than
    /// `retain`, and the objects of commits that never happened (no entry names them, older
    /// than [`ORPHAN_AGE`]). `snap` must be the latest snapshot. Returns how many data files it
    /// purged.
    pub fn sweep(&self, snap: &Snapshot, retain: std::time::Duration) -> Result<u64, LakeError> {
        let now = chrono::Utc::now();
        let older = |t: chrono::DateTime<chrono::Utc>, age: std::time::Duration| {
            (now - t).to_std().unwrap_or_default() >= age
        };
        let live: std::collections::HashSet<&str> = snap
            .files
            .iter()
            .flat_map(|f| [f.path.as_str(), f.index.as_str()])
            .chain(snap.side.iter().map(String::as_str))
            .collect();
        let mut removed: std::collections::HashMap<&str, (bool, bool)> = Default::default();
        for t in &snap.removed {
            let at = chrono::DateTime::parse_from_rfc3339(&t.removed_at)
                .map(|d| d.with_timezone(&chrono::Utc))
                .unwrap_or(now);
            let due = older(at, retain);
            removed.insert(t.file.path.as_str(), (due, true));
            removed.insert(t.file.index.as_str(), (due, false));
        }
        let mut purged = 0;
        let mut doomed = Vec::new();
        for prefix in [
            "events/",
            "_trawl/index/",
            "_trawl/quarantine/",
            "_trawl/digests/",
        ] {
            for item in self.list(prefix, None)? {
                let path = item.path.as_str();
                if live.contains(path) {
                    continue;
                }
                match removed.get(path) {
                    Some(&(true, data)) => {
                        purged += u64::from(data);
                        doomed.push(item.path);
                    }
                    Some(_) => {}
                    None if older(item.modified, ORPHAN_AGE) => {
                        tracing::info!(
                            "removing {} (a commit that never happened)",
                            self.uri(path)
                        );
                        doomed.push(item.path);
                    }
                    None => {}
                }
            }
        }
        self.delete_all(doomed)?;
        Ok(purged)
    }
}
