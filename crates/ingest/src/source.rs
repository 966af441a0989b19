//! Sources: local files and directory trees (the CloudTrail S3 key layout or any other), and
//! the [`Fetch`] seam through which other stores (S3) hand over their objects' bytes.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::UNIX_EPOCH;

use crate::IngestError;
use crate::layout::delivery_stamp;

/// One input object: a local file or an S3 object.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SourceObject {
    /// What the ledger and error messages call it: the absolute path, or `s3://bucket/key`.
    pub uri: String,
    pub location: Location,
    pub size: u64,
    /// Modification time in nanoseconds since the epoch (S3: LastModified).
    pub mtime_ns: i64,
    /// S3's ETag. With `uri` and `size`, an S3 object's identity in the ledger; local files
    /// use `mtime_ns` instead.
    pub etag: Option<String>,
}

/// Where an object's bytes are.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Location {
    Local(PathBuf),
    S3 { bucket: String, key: String },
}

/// What [`Fetch::drive`] may fetch next.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Claim {
    /// Fetch this object, the `n`th of the run.
    Next(usize, Arc<SourceObject>),
    /// Nothing fits the memory budget now: finish a fetch first.
    Later,
    /// No more objects (or the run is stopping).
    Done,
}

/// Passes a fetched object on, with its number in the run: false when the run is stopping.
pub type Deliver<'a> = dyn FnMut(usize, Arc<SourceObject>, Result<Body, IngestError>) -> bool + 'a;

/// An object's content as a fetcher hands it to a parser.
#[derive(Debug)]
pub enum Body {
    /// The object's (still compressed) bytes, held in memory.
    Bytes(Vec<u8>),
    /// The bytes of an object whose S3 metadata carries a CloudTrail signature (a digest
    /// file), with that signature.
    Signed(Vec<u8>, DigestSignature),
    /// A local file too big to hold: the parser streams it from disk
    /// ([`read_body_with`](crate::read_body_with)).
    File(PathBuf),
}

/// What CloudTrail keeps in a digest file's S3 user metadata: `x-amz-meta-signature` (the
/// RSA signature, hex) and `x-amz-meta-signature-algorithm` (`SHA256withRSA`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DigestSignature {
    pub signature: String,
    pub algorithm: Option<String>,
    /// `x-amz-meta-backfill-generation-timestamp`: when CloudTrail generated a backfill
    /// digest (`..._backfill.json.gz`), the time its signing key is valid at.
    pub backfill_generated: Option<String>,
}

/// Hands over the content of objects: their bytes, or a file to stream. The ingest job
/// starts [`drivers`](Fetch::drivers) threads that each call [`drive`](Fetch::drive); the
/// default drive fetches one object at a time, which suits a disk read by every reader
/// thread, and a network source overrides it to keep many requests in flight from one
/// thread. Where the objects are (a disk, S3) is the fetcher's business alone.
pub trait Fetch: Sync {
    /// The content of `obj`.
    fn fetch(&self, obj: &SourceObject) -> Result<Body, IngestError>;
    /// Bytes the content of `obj` holds in memory until it is parsed: what the ingest
    /// job's fetch budget counts (0 for a file streamed from disk).
    fn holds(&self, obj: &SourceObject) -> u64 {
        obj.size
    }
    /// How many threads call [`drive`](Fetch::drive) when the job has `readers` reader
    /// threads.
    fn drivers(&self, readers: usize) -> usize {
        readers
    }
    /// Fetches objects until `claim` has none left: `claim(wait)` gives the next object to
    /// fetch (blocking until memory allows when `wait`), `deliver` passes each result on
    /// with the object and its number (false: stop).
    fn drive(&self, claim: &mut dyn FnMut(bool) -> Claim, deliver: &mut Deliver<'_>) {
        while let Claim::Next(i, obj) = claim(true) {
            let body = self.fetch(&obj);
            if !deliver(i, obj, body) {
                return;
            }
        }
    }
}

/// Reads local files: a big one is handed over as a file to stream, the others as bytes.
/// Refuses S3 objects.
#[derive(Debug, Clone, Copy)]
pub struct LocalFetch {
    /// Files of at least this many bytes are streamed ([`ReadOptions::stream_min_bytes`]).
    stream_min_bytes: u64,
}

impl LocalFetch {
    /// A fetcher streaming the files `opts` streams.
    pub fn new(opts: &crate::ReadOptions) -> Self {
        LocalFetch {
            stream_min_bytes: opts.stream_min_bytes.max(1),
        }
    }
}

impl Default for LocalFetch {
    fn default() -> Self {
        LocalFetch::new(&crate::ReadOptions::default())
    }
}

impl Fetch for LocalFetch {
    fn fetch(&self, obj: &SourceObject) -> Result<Body, IngestError> {
        match &obj.location {
            Location::Local(path) if obj.size >= self.stream_min_bytes => {
                Ok(Body::File(path.clone()))
            }
            Location::Local(_) => read_local(obj).map(Body::Bytes),
            Location::S3 { .. } => Err(IngestError::Io {
                uri: obj.uri.clone(),
                source: std::io::Error::other(
                    "this reader has no S3 client; give S3 URLs to `trawl ingest`",
                ),
            }),
        }
    }

    fn holds(&self, obj: &SourceObject) -> u64 {
        if obj.size >= self.stream_min_bytes {
            0
        } else {
            obj.size
        }
    }
}

/// The bytes of a local object, read whole (see [`read_unchanged`]).
pub fn read_local(obj: &SourceObject) -> Result<Vec<u8>, IngestError> {
    match &obj.location {
        Location::Local(path) => read_unchanged(obj, path),
        Location::S3 { .. } => Err(IngestError::Io {
            uri: obj.uri.clone(),
            source: std::io::Error::other("not a local file"),
        }),
    }
}

/// What a directory walk (or an S3 listing) picks up: names CloudTrail and common shippers use.
pub fn looks_like_log(name: &str) -> bool {
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

/// Orders objects by delivery time (objects without one last), then by name: an organization
/// trail lists account by account and region by region, and ingesting it day by day instead
/// keeps each commit to a few day partitions, so the lake gets fewer, larger files.
pub fn sort_by_delivery(objects: &mut [SourceObject]) {
    objects.sort_by_cached_key(|o| (delivery_stamp(&o.uri).unwrap_or(u64::MAX), o.uri.clone()));
}

/// A file's modification time in nanoseconds since the epoch (0 if unknown): with the size,
/// what the ledger records of a local object.
pub fn mtime_ns(meta: &std::fs::Metadata) -> i64 {
    meta.modified()
        .ok()
        .and_then(|t| t.duration_since(UNIX_EPOCH).ok())
        .map_or(0, |d| d.as_nanos() as i64)
}

/// Reads a local file whole, provided it is still the file that was listed: one that
/// vanished, or whose size or modification time changed since the listing or during the
/// read, is an error (the object is quarantined, hence read again by the next run), so the
/// ledger never records contents it did not see.
fn read_unchanged(obj: &SourceObject, path: &Path) -> Result<Vec<u8>, IngestError> {
    use std::io::Read;
    let mut file = open_unchanged(obj, path)?;
    let mut bytes = Vec::with_capacity(obj.size as usize);
    file.read_to_end(&mut bytes)
        .map_err(|source| IngestError::Io {
            uri: obj.uri.clone(),
            source,
        })?;
    check_unchanged(obj, &file, "while it was read")?;
    Ok(bytes)
}

/// Opens the file of `obj`, checking it is still the one listed.
pub(crate) fn open_unchanged(
    obj: &SourceObject,
    path: &Path,
) -> Result<std::fs::File, IngestError> {
    let file = match std::fs::File::open(path) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Err(IngestError::Changed {
                uri: obj.uri.clone(),
                detail: "it vanished".into(),
            });
        }
        r => r.map_err(|source| IngestError::Io {
            uri: obj.uri.clone(),
            source,
        })?,
    };
    check_unchanged(obj, &file, "since it was listed")?;
    Ok(file)
}

/// An error if `file` no longer has the size and time `obj` was listed with.
pub(crate) fn check_unchanged(
    obj: &SourceObject,
    file: &std::fs::File,
    when: &str,
) -> Result<(), IngestError> {
    let meta = file.metadata().map_err(|source| IngestError::Io {
        uri: obj.uri.clone(),
        source,
    })?;
    if (meta.len(), mtime_ns(&meta)) != (obj.size, obj.mtime_ns) {
        return Err(IngestError::Changed {
            uri: obj.uri.clone(),
            detail: format!(
                "it changed {when} ({} bytes then, {} now)",
                obj.size,
                meta.len()
            ),
        });
    }
    Ok(())
}

fn object(path: &Path) -> Result<SourceObject, IngestError> {
    let meta = std::fs::metadata(path).map_err(|source| IngestError::Source {
        path: path.to_path_buf(),
        source,
    })?;
    let abs = std::path::absolute(path).unwrap_or_else(|_| path.to_path_buf());
    let mtime_ns = mtime_ns(&meta);
    Ok(SourceObject {
        uri: abs.display().to_string(),
        location: Location::Local(abs),
        size: meta.len(),
        mtime_ns,
        etag: None,
    })
}

/// What discovery found: the objects to read, and entries it could not read (a dangling
/// symlink, a directory without permission, a loop) with the reason. Those are reported,
/// never fatal.
#[derive(Debug, Default)]
pub struct Discovery {
    pub objects: Vec<SourceObject>,
    pub unreadable: Vec<Unlisted>,
}

/// Expands files and directories into the objects to read, sorted by path and deduplicated
/// (the whole listing in memory: [`walk_local`] hands it out as it goes instead).
pub fn discover_local(paths: &[PathBuf], exclude: Option<&Path>) -> Result<Discovery, IngestError> {
    let mut found = Discovery::default();
    for listed in walk_local(paths, exclude)? {
        match listed {
            Ok(o) => found.objects.push(o),
            Err(bad) => found.unreadable.push(bad),
        }
    }
    found.objects.sort_by(|a, b| a.uri.cmp(&b.uri));
    found.objects.dedup_by(|a, b| a.uri == b.uri);
    Ok(found)
}

/// Lists files and directory trees in delivery order, a delivery day at a time, so that a
/// trail of millions of files is never held whole: at the start only the folders that hold
/// log files are found (a few hundred times fewer than the files in the CloudTrail layout);
/// then each day's folders (`…/YYYY/MM/DD/`, in every account and region) are read when
/// reached and their files handed out by [`delivery_stamp`], then name (a day of more than
/// 65,536 files in batches of that many, each in that order). Folders off the layout come
/// after, one at a time, in path order, in batches too; files named explicitly come first.
///
/// A file named explicitly is always read (its form is detected by content); inside
/// directories only log-like names are picked (`.json.gz`, `.json`, `.jsonl`, `.gz`, `.log`...),
/// hidden files and directories are skipped, and so is `exclude` (the lake itself, when it
/// sits inside a source tree). A source that does not exist is an error; an entry that
/// cannot be read (a dangling symlink, a folder without permission, a loop) is listed as
/// [`Unlisted`].
pub fn walk_local(paths: &[PathBuf], exclude: Option<&Path>) -> Result<LocalWalk, IngestError> {
    let exclude = exclude.and_then(|p| std::path::absolute(p).ok());
    let absolute = |p: &Path| std::path::absolute(p).unwrap_or_else(|_| p.to_path_buf());
    let mut explicit = Vec::new();
    let mut seen = std::collections::HashSet::new();
    let mut unreadable = Vec::new();
    let mut dirs = std::collections::BTreeSet::new();
    for p in paths {
        let meta = std::fs::metadata(p).map_err(|source| IngestError::Source {
            path: p.clone(),
            source,
        })?;
        if !meta.is_dir() {
            let o = object(p)?;
            seen.insert(PathBuf::from(&o.uri));
            explicit.push(o);
            continue;
        }
        let walker = walkdir::WalkDir::new(p)
            .follow_links(true)
            .into_iter()
            .filter_entry(|e| {
                let hidden = e.depth() > 0 && e.file_name().to_string_lossy().starts_with('.');
                let excluded = exclude
                    .as_ref()
                    .is_some_and(|x| std::path::absolute(e.path()).is_ok_and(|a| &a == x));
                !hidden && !excluded
            });
        let mut last: Option<PathBuf> = None;
        for entry in walker {
            match entry {
                Ok(e)
                    if e.file_type().is_file()
                        && looks_like_log(&e.file_name().to_string_lossy()) =>
                {
                    let Some(parent) = e.path().parent() else {
                        continue;
                    };
                    if last.as_deref() != Some(parent) {
                        dirs.insert(absolute(parent));
                        last = Some(parent.to_path_buf());
                    }
                }
                Ok(_) => {}
                Err(err) => {
                    let path = err.path().unwrap_or(p);
                    seen.insert(absolute(path));
                    unreadable.push(Err(Unlisted::Local {
                        path: path.to_path_buf(),
                        source: err.into(),
                    }));
                }
            }
        }
    }
    sort_by_delivery(&mut explicit);
    explicit.dedup_by(|a, b| a.uri == b.uri);
    let mut dated: std::collections::BTreeMap<u64, Vec<PathBuf>> = Default::default();
    let mut undated = Vec::new();
    for dir in dirs {
        match delivery_stamp(&format!("{}/", dir.display())) {
            Some(day) => dated.entry(day).or_default().push(dir),
            None => undated.push(vec![dir]),
        }
    }
    let mut groups: Vec<Vec<PathBuf>> = dated.into_values().chain(undated).collect();
    groups.reverse();
    let mut ready: Vec<Listed> = unreadable;
    ready.extend(explicit.into_iter().map(Ok));
    ready.reverse();
    Ok(LocalWalk {
        ready,
        groups,
        current: Vec::new(),
        open: None,
        batch: LOCAL_BATCH,
        seen,
    })
}

/// One entry of a listing: an object, or an entry that could not be listed (reported with
/// the quarantined objects, never fatal).
pub type Listed = Result<SourceObject, Unlisted>;

/// An entry a listing could not read.
#[derive(Debug, thiserror::Error)]
pub enum Unlisted {
    /// A local file or folder.
    #[error("{}: cannot read: {source}", path.display())]
    Local {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// A remote prefix (`s3://bucket/prefix`) whose listing failed part way.
    #[error(
        "{source}; the objects under it not listed yet were not read: run the same command again to list them"
    )]
    Prefix {
        url: String,
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
}

impl Unlisted {
    /// The path or URL of the entry.
    pub fn path(&self) -> String {
        match self {
            Unlisted::Local { path, .. } => path.display().to_string(),
            Unlisted::Prefix { url, .. } => url.clone(),
        }
    }
}

/// Objects a local walk reads ahead at most: a delivery day (or a folder off the layout) of
/// more files is handed out in batches of this many, each in delivery order, so memory does
/// not follow the size of a day or a folder either.
const LOCAL_BATCH: usize = 65_536;

/// The listing [`walk_local`] hands out as it goes.
#[derive(Debug)]
pub struct LocalWalk {
    /// What is ready to hand out, last first.
    ready: Vec<Listed>,
    /// Folders holding log files, a delivery day (or an undated folder) each, last first.
    groups: Vec<Vec<PathBuf>>,
    /// The folders of the group being read still to open, last first, and the one open.
    current: Vec<PathBuf>,
    open: Option<(PathBuf, std::fs::ReadDir)>,
    /// Objects read ahead at most ([`LOCAL_BATCH`]).
    batch: usize,
    /// Files named explicitly and entries reported already: not listed twice.
    seen: std::collections::HashSet<PathBuf>,
}

impl LocalWalk {
    /// The next objects of the group being read, up to `batch`, in delivery order
    /// (reversed, to pop).
    fn fill(&mut self) -> Vec<Listed> {
        let cannot = |path: &Path, err: std::io::Error| {
            Err(Unlisted::Local {
                path: path.to_path_buf(),
                source: err,
            })
        };
        let mut objects = Vec::new();
        let mut bad = Vec::new();
        while objects.len() < self.batch {
            let Some((dir, entries)) = &mut self.open else {
                let Some(dir) = self.current.pop() else {
                    break;
                };
                match std::fs::read_dir(&dir) {
                    Ok(entries) => self.open = Some((dir, entries)),
                    Err(err) => bad.push(cannot(&dir, err)),
                }
                continue;
            };
            let entry = match entries.next() {
                None => {
                    self.open = None;
                    continue;
                }
                Some(Ok(entry)) => entry,
                // Reported, and the folder closed: the next run lists it again.
                Some(Err(err)) => {
                    bad.push(cannot(dir, err));
                    self.open = None;
                    continue;
                }
            };
            let name = entry.file_name();
            let name = name.to_string_lossy();
            let path = entry.path();
            // `looks_like_log` also passes over hidden names.
            if !looks_like_log(&name) || self.seen.contains(&path) {
                continue;
            }
            // Symlinks followed, as the first walk did.
            match std::fs::metadata(&path) {
                Ok(meta) if meta.is_file() => objects.push(SourceObject {
                    uri: path.display().to_string(),
                    size: meta.len(),
                    mtime_ns: mtime_ns(&meta),
                    location: Location::Local(path),
                    etag: None,
                }),
                Ok(_) => {}
                Err(err) => bad.push(cannot(&path, err)),
            }
        }
        sort_by_delivery(&mut objects);
        objects.dedup_by(|a, b| a.uri == b.uri);
        let mut ready = bad;
        ready.extend(objects.into_iter().map(Ok));
        ready.reverse();
        ready
    }
}

impl Iterator for LocalWalk {
    type Item = Listed;

    fn next(&mut self) -> Option<Listed> {
        loop {
            if let Some(listed) = self.ready.pop() {
                return Some(listed);
            }
            if self.open.is_none() && self.current.is_empty() {
                let mut group = self.groups.pop()?;
                group.reverse();
                self.current = group;
            }
            self.ready = self.fill();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_lake_and_broken_links_do_not_stop_discovery() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        std::fs::create_dir_all(root.join("AWSLogs/1/CloudTrail/us-east-1/2024/03/01")).unwrap();
        std::fs::write(
            root.join("AWSLogs/1/CloudTrail/us-east-1/2024/03/01/a.json.gz"),
            b"x",
        )
        .unwrap();
        std::fs::create_dir_all(root.join("lake/_trawl/log")).unwrap();
        std::fs::write(
            root.join("lake/_trawl/log/00000000000000000001.json"),
            b"{}",
        )
        .unwrap();
        std::os::unix::fs::symlink(root.join("missing"), root.join("dangling.json")).unwrap();
        let found = discover_local(&[root.to_path_buf()], Some(&root.join("lake"))).unwrap();
        let names: Vec<&str> = found
            .objects
            .iter()
            .map(|o| o.uri.rsplit('/').next().unwrap())
            .collect();
        assert_eq!(names, ["a.json.gz"]);
        assert_eq!(found.unreadable.len(), 1, "{:?}", found.unreadable);
        assert!(
            found.unreadable[0].to_string().contains("dangling.json"),
            "{:?}",
            found.unreadable
        );
        assert!(discover_local(&[root.join("nope")], None).is_err());
    }

    #[test]
    fn the_walk_hands_out_a_delivery_day_at_a_time_and_reads_folders_when_reached() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        let put = |rel: &str| {
            let path = root.join(rel);
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(&path, b"x").unwrap();
            path
        };
        let ct = |acct: &str, region: &str, day: u32, hhmm: &str| {
            format!(
                "AWSLogs/{acct}/CloudTrail/{region}/2024/03/{day:02}/{acct}_CloudTrail_{region}_202403{day:02}T{hhmm}Z_x.json.gz"
            )
        };
        put(&ct("111111111111", "us-east-1", 2, "0005"));
        put(&ct("111111111111", "us-east-1", 1, "2300"));
        put(&ct("222222222222", "eu-west-1", 1, "0100"));
        put(&ct("222222222222", "eu-west-1", 2, "0000"));
        put(&ct("222222222222", "eu-west-1", 3, "1200"));
        put("loose/b.json");
        put("loose/.hidden.json");
        let named = put("named/one.json");
        // Named explicitly and inside a walked tree: listed once, first.
        let mut walk = walk_local(&[root.to_path_buf(), named.clone()], None).unwrap();
        let name = |l: Option<Listed>| {
            let uri = l.unwrap().unwrap().uri;
            uri.strip_prefix(&format!("{}/", root.display()))
                .unwrap()
                .to_string()
        };
        let mut take = |n: usize| (0..n).map(|_| name(walk.next())).collect::<Vec<_>>();
        // Then day 1 of both accounts, in delivery time.
        assert_eq!(
            take(3),
            [
                "named/one.json".to_string(),
                ct("222222222222", "eu-west-1", 1, "0100"),
                ct("111111111111", "us-east-1", 1, "2300"),
            ]
        );
        // Later days' folders are read only when reached: a file added now is listed, a
        // folder removed now is reported.
        put(&ct("111111111111", "us-east-1", 2, "2359"));
        std::fs::remove_dir_all(root.join("AWSLogs/222222222222/CloudTrail/eu-west-1/2024/03/03"))
            .unwrap();
        assert_eq!(
            take(3),
            [
                ct("222222222222", "eu-west-1", 2, "0000"),
                ct("111111111111", "us-east-1", 2, "0005"),
                ct("111111111111", "us-east-1", 2, "2359"),
            ]
        );
        let gone = walk.next().unwrap().unwrap_err();
        assert!(gone.path().ends_with("2024/03/03"), "{gone:?}");
        // Folders off the layout last; the named file not twice.
        assert_eq!(name(walk.next()), "loose/b.json");
        assert!(walk.next().is_none());
    }

    #[test]
    fn a_big_day_or_folder_is_read_a_batch_at_a_time() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        let mut want = Vec::new();
        for region in ["us-east-1", "eu-west-1"] {
            let day = root.join(format!("AWSLogs/1/CloudTrail/{region}/2024/03/01"));
            std::fs::create_dir_all(&day).unwrap();
            for minute in 0..13 {
                let name = format!("1_CloudTrail_{region}_20240301T00{minute:02}Z_x.json.gz");
                std::fs::write(day.join(&name), b"x").unwrap();
                want.push(day.join(name).display().to_string());
            }
        }
        std::fs::create_dir_all(root.join("flat")).unwrap();
        for n in 0..7 {
            std::fs::write(root.join(format!("flat/{n}.json")), b"x").unwrap();
            want.push(root.join(format!("flat/{n}.json")).display().to_string());
        }
        let mut walk = walk_local(&[root.to_path_buf()], None).unwrap();
        walk.batch = 5;
        let mut got = Vec::new();
        let mut most_ahead = 0;
        while let Some(listed) = walk.next() {
            got.push(listed.unwrap().uri);
            most_ahead = most_ahead.max(walk.ready.len());
        }
        // Never more than a batch read ahead, every file once.
        assert!(most_ahead < 5, "{most_ahead}");
        assert_eq!(got.len(), want.len());
        got.sort();
        want.sort();
        assert_eq!(got, want);
    }

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

    #[test]
    fn delivery_order_is_by_the_time_in_the_name_then_the_key_date() {
        let obj = |uri: &str| SourceObject {
            uri: uri.to_string(),
            location: Location::Local(PathBuf::from(uri)),
            size: 1,
            mtime_ns: 0,
            etag: None,
        };
        let a = "/t/AWSLogs/1/CloudTrail/us-east-1/2024/03/02/1_CloudTrail_us-east-1_20240302T0005Z_a.json.gz";
        let b = "/t/AWSLogs/2/CloudTrail/eu-west-1/2024/03/01/2_CloudTrail_eu-west-1_20240301T2355Z_b.json.gz";
        let c = "/t/AWSLogs/2/CloudTrail/eu-west-1/2024/03/02/other.json.gz";
        let d = "/t/loose/file.json";
        assert_eq!(delivery_stamp(a), Some(202403020005));
        assert_eq!(delivery_stamp(c), Some(202403020000));
        assert_eq!(delivery_stamp(d), None);
        let mut objects = vec![obj(d), obj(a), obj(c), obj(b)];
        sort_by_delivery(&mut objects);
        let order: Vec<&str> = objects.iter().map(|o| o.uri.as_str()).collect();
        assert_eq!(order, [b, c, a, d]);
    }
}
