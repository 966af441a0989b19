//! What `trawl ingest` is given to read: files, directory trees and S3 URLs, mixed. Opened,
//! they are one listing, consumed as the run goes, and one fetcher for all their objects.

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use trawl_ingest::{
    Body, Claim, Deliver, Fetch, IngestError, Listed, LocalFetch, LocalWalk, SourceObject,
};

use crate::{RequestSnapshot, S3Error, S3Options, S3Source, S3Url, S3Walk, Selection};

/// The sources of an ingest, as given.
#[derive(Debug, Clone, Default)]
pub struct SourceSpec {
    /// Files, directories and `s3://bucket[/prefix]` URLs.
    pub sources: Vec<String>,
    /// Which objects to list (in S3: delivery days, accounts, regions).
    pub selection: Selection,
    /// How to reach S3, if a source is there.
    pub s3: S3Options,
    /// A directory never read (the lake, when it sits inside a source tree).
    pub exclude: Option<PathBuf>,
}

/// The sources opened: one listing over all of them, and the fetcher of their objects.
#[derive(Debug)]
pub struct Sources {
    pub listing: Listing,
    pub fetch: SourceFetch,
}

impl SourceSpec {
    /// Opens the sources: local trees are listed a delivery day at a time as the run goes,
    /// S3 a page of each region at a time once the folders above the regions are listed
    /// (here, before this returns: `listing` hears of the requests every 100 ms meanwhile).
    pub fn open(&self, listing: &(dyn Fn(&RequestSnapshot) + Sync)) -> Result<Sources, S3Error> {
        let mut local = Vec::new();
        let mut urls = Vec::new();
        for src in &self.sources {
            match S3Url::parse(src) {
                Some(url) => urls.push(url?),
                None => local.push(PathBuf::from(src)),
            }
        }
        let walk = if local.is_empty() {
            None
        } else {
            Some(trawl_ingest::walk_local(&local, self.exclude.as_deref())?)
        };
        if urls.is_empty() {
            return Ok(Sources {
                listing: Listing {
                    local: walk,
                    s3: None,
                    shard: self.selection.shard,
                },
                fetch: SourceFetch::Local(LocalFetch::default()),
            });
        }
        let src = S3Source::new(self.s3.clone())?;
        let done = AtomicBool::new(false);
        let s3_walk = std::thread::scope(|scope| {
            scope.spawn(|| {
                while !done.load(Ordering::Relaxed) {
                    listing(&src.counts().snapshot());
                    std::thread::sleep(Duration::from_millis(100));
                }
            });
            let walk = src.walk(&urls, &self.selection);
            done.store(true, Ordering::Relaxed);
            walk
        })?;
        let skipped = s3_walk.skipped_prefixes();
        if !skipped.is_empty() {
            tracing::info!(
                "skipped {} folders that hold no CloudTrail: {}",
                skipped.len(),
                skipped.join(", ")
            );
        }
        tracing::debug!(
            "S3: {} streams merged by delivery time, {} keys a page",
            s3_walk.streams(),
            s3_walk.page_keys()
        );
        Ok(Sources {
            listing: Listing {
                local: walk,
                s3: Some(s3_walk),
                shard: self.selection.shard,
            },
            fetch: SourceFetch::S3(Box::new(src)),
        })
    }
}

/// The objects of every source: the local ones first, then S3's (which lists only its
/// shard's streams).
#[derive(Debug)]
pub struct Listing {
    local: Option<LocalWalk>,
    s3: Option<S3Walk>,
    shard: trawl_ingest::layout::Shard,
}

impl Iterator for Listing {
    type Item = Listed;

    fn next(&mut self) -> Option<Listed> {
        while let Some(walk) = &mut self.local {
            match walk.next() {
                Some(Ok(obj)) if !self.shard.holds(&obj.uri) => continue,
                Some(listed) => return Some(listed),
                None => self.local = None,
            }
        }
        self.s3.as_mut()?.next()
    }
}

/// Fetches the objects of the sources: local files alone, or S3 (which reads local
/// files too).
#[derive(Debug)]
pub enum SourceFetch {
    Local(LocalFetch),
    S3(Box<S3Source>),
}

impl SourceFetch {
    /// The S3 requests made so far, if a source is in S3.
    pub fn requests(&self) -> Option<RequestSnapshot> {
        match self {
            SourceFetch::Local(_) => None,
            SourceFetch::S3(src) => Some(src.counts().snapshot()),
        }
    }

    fn inner(&self) -> &dyn Fetch {
        match self {
            SourceFetch::Local(f) => f,
            SourceFetch::S3(src) => src.as_ref(),
        }
    }
}

impl Fetch for SourceFetch {
    fn fetch(&self, obj: &SourceObject) -> Result<Body, IngestError> {
        self.inner().fetch(obj)
    }

    fn holds(&self, obj: &SourceObject) -> u64 {
        self.inner().holds(obj)
    }

    fn drivers(&self, readers: usize) -> usize {
        self.inner().drivers(readers)
    }

    fn drive(&self, claim: &mut dyn FnMut(bool) -> Claim, deliver: &mut Deliver<'_>) {
        self.inner().drive(claim, deliver)
    }
}
