//! A read-only object store over one committed snapshot of the lake: it lists exactly the
//! files the commit log names, so queries never see a half-written commit or an orphan.

use std::collections::BTreeSet;
use std::fmt;
use std::sync::Arc;

use async_trait::async_trait;
use futures::stream::{self, BoxStream, StreamExt};
use object_store::local::LocalFileSystem;
use object_store::path::Path;
use object_store::{
    CopyOptions, GetOptions, GetResult, ListResult, MultipartUpload, ObjectMeta, ObjectStore,
    PutMultipartOptions, PutOptions, PutPayload, PutResult, Result,
};
use trawl_lake::{DataFile, Layout};

#[derive(Debug)]
pub struct SnapshotStore {
    /// The lake's directory, or its object store.
    inner: Arc<dyn ObjectStore>,
    files: Vec<ObjectMeta>,
}

impl SnapshotStore {
    /// The store of the lake `layout` describes, rooted at the lake: its directory, or its
    /// object store.
    pub fn of_lake(layout: &Layout) -> Result<Arc<dyn ObjectStore>> {
        Ok(match layout.remote() {
            Some(remote) => remote.store(),
            None => Arc::new(LocalFileSystem::new_with_prefix(layout.root())?),
        })
    }

    /// A store that lists `files` only (a snapshot's, or some of them: the commits a
    /// dashboard's cached partial answers do not cover yet) and reads them from `inner`
    /// (rooted at the lake).
    pub fn over(inner: Arc<dyn ObjectStore>, files: &[DataFile]) -> Self {
        let when = chrono::DateTime::<chrono::Utc>::UNIX_EPOCH;
        let mut files: Vec<ObjectMeta> = files
            .iter()
            .map(|f| ObjectMeta {
                location: Path::from(f.path.as_str()),
                last_modified: when,
                size: f.bytes,
                e_tag: None,
                version: None,
            })
            .collect();
        files.sort_by(|a, b| a.location.cmp(&b.location));
        Self { inner, files }
    }

    fn under<'a>(&'a self, prefix: Option<&'a Path>) -> impl Iterator<Item = &'a ObjectMeta> + 'a {
        self.files
            .iter()
            .filter(move |m| prefix.is_none_or(|p| m.location.prefix_matches(p)))
    }
}

impl fmt::Display for SnapshotStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "SnapshotStore({} files over {})",
            self.files.len(),
            self.inner
        )
    }
}

fn read_only(op: &str) -> object_store::Error {
    object_store::Error::NotSupported {
        source: format!(
            "the lake snapshot is read-only ({op}); write to the lake with `trawl ingest`"
        )
        .into(),
    }
}

#[async_trait]
impl ObjectStore for SnapshotStore {
    async fn put_opts(&self, _: &Path, _: PutPayload, _: PutOptions) -> Result<PutResult> {
        Err(read_only("put"))
    }

    async fn put_multipart_opts(
        &self,
        _: &Path,
        _: PutMultipartOptions,
    ) -> Result<Box<dyn MultipartUpload>> {
        Err(read_only("multipart put"))
    }

    async fn get_opts(&self, location: &Path, options: GetOptions) -> Result<GetResult> {
        self.inner.get_opts(location, options).await
    }

    async fn get_ranges(
        &self,
        location: &Path,
        ranges: &[std::ops::Range<u64>],
    ) -> Result<Vec<bytes::Bytes>> {
        self.inner.get_ranges(location, ranges).await
    }

    fn delete_stream(
        &self,
        locations: BoxStream<'static, Result<Path>>,
    ) -> BoxStream<'static, Result<Path>> {
        locations.map(|_| Err(read_only("delete"))).boxed()
    }

    fn list(&self, prefix: Option<&Path>) -> BoxStream<'static, Result<ObjectMeta>> {
        let items: Vec<Result<ObjectMeta>> = self.under(prefix).cloned().map(Ok).collect();
        stream::iter(items).boxed()
    }

    async fn list_with_delimiter(&self, prefix: Option<&Path>) -> Result<ListResult> {
        let depth = prefix.map_or(0, |p| p.parts().count());
        let mut common = BTreeSet::new();
        let mut objects = Vec::new();
        for m in self.under(prefix) {
            let parts: Vec<_> = m.location.parts().collect();
            if parts.len() == depth + 1 {
                objects.push(m.clone());
            } else if parts.len() > depth + 1 {
                common.insert(Path::from_iter(parts[..=depth].iter().cloned()));
            }
        }
        Ok(ListResult {
            common_prefixes: common.into_iter().collect(),
            objects,
        })
    }

    async fn copy_opts(&self, _: &Path, _: &Path, _: CopyOptions) -> Result<()> {
        Err(read_only("copy"))
    }
}
