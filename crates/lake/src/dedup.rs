//! The dedup index of an ingest run: for every partition, the eventIDs it holds with the
//! content hash of each.
//!
//! Memory is bounded whatever the trail: partitions load lazily from the committed index
//! files; past [`IngestOptions::dedup_events`](crate::IngestOptions::dedup_events) resident
//! eventIDs, partitions whose rows are all committed are evicted (least recently used), and
//! if the partitions being written still hold too many, the biggest one's eventIDs are
//! *spilled*: written sorted to a file of the run's own under `_trawl/staging/`, with a binary
//! fuse filter (about 9 bits an eventID) and the first eventID of every block kept in memory.
//! A lookup reads a 4 KB block of a spilled run only when its filter says the eventID may be
//! there: for new events, about one lookup in 256 per run.

use std::collections::HashMap;
use std::collections::hash_map::Entry;
use std::fs::{self, File};
use std::io::{BufWriter, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use rustc_hash::FxHashMap;
use xorf::{BinaryFuse8, Filter};

use crate::error::{IoContext, LakeError};
use crate::layout::Layout;
use crate::log::Snapshot;
use crate::writer;

/// What an event is to the partition it goes to.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Verdict {
    New,
    /// Same eventID, same content: dropped.
    Duplicate,
    /// Same eventID, other content: kept, and counted.
    Conflict,
}

/// Partitions kept loaded between commits, at most.
const LOADED_PARTITIONS: usize = 32;

/// Pairs in a block of a spilled run: the unit read from disk (4 KB).
const SPILL_BLOCK: usize = 256;

pub(crate) struct Dedup {
    layout: Layout,
    files_by_dt: HashMap<String, Vec<PathBuf>>,
    /// The index files this run's own commits add, by partition.
    own: HashMap<String, Vec<PathBuf>>,
    /// Loaded partitions with the commit epoch that last touched them.
    loaded: HashMap<String, (PartIndex, u64)>,
    /// Epoch of the commit being assembled (= its version).
    pub(crate) epoch: u64,
    /// Last epoch the writer has committed: partitions touched after it are not on disk yet.
    pub(crate) acked: u64,
    /// EventIDs kept in hash tables, at most (about 17-34 bytes each).
    budget: usize,
    /// Where spilled runs go (created on the first spill).
    spill_dir: PathBuf,
    spills: usize,
    /// EventIDs written to spilled runs so far.
    pub(crate) spilled_events: u64,
}

/// One partition's index: the first content hash of each eventID (16 bytes an event in
/// memory, or in a spilled run), and the further ones of the rare eventIDs seen with other
/// content (conflicts).
#[derive(Default)]
struct PartIndex {
    first: FxHashMap<u64, u64>,
    spilled: Vec<Spilled>,
    more: FxHashMap<u64, Vec<u64>>,
}

impl Dedup {
    pub(crate) fn new(layout: &Layout, snap: &Snapshot, budget: usize) -> Self {
        let mut files_by_dt: HashMap<String, Vec<PathBuf>> = HashMap::new();
        for f in &snap.files {
            files_by_dt
                .entry(f.dt.clone())
                .or_default()
                .push(layout.root().join(&f.index));
        }
        Self {
            layout: layout.clone(),
            files_by_dt,
            own: HashMap::new(),
            loaded: HashMap::new(),
            epoch: snap.version + 1,
            acked: snap.version,
            budget: budget.max(1),
            spill_dir: layout
                .meta_dir()
                .join("staging")
                .join(format!("dedup-{}", std::process::id())),
            spills: 0,
            spilled_events: 0,
        }
    }

    /// Notes that partition `dt` gets the index file `path` with the next commit.
    pub(crate) fn add_file(&mut self, dt: &str, path: PathBuf) {
        self.own
            .entry(dt.to_string())
            .or_default()
            .push(path.clone());
        self.files_by_dt
            .entry(dt.to_string())
            .or_default()
            .push(path);
    }

    /// Learns index file `path` of partition `dt`, committed by another writer while this run
    /// was going: the partition, if loaded, gets its events now (the file fetched into the
    /// mirror first), or when it loads.
    pub(crate) fn learn(&mut self, dt: &str, path: PathBuf) -> Result<(), LakeError> {
        let files = self.files_by_dt.entry(dt.to_string()).or_default();
        if files.contains(&path) {
            return Ok(());
        }
        files.push(path.clone());
        if self.loaded.contains_key(dt) {
            self.all_present(std::slice::from_ref(&path))?;
        }
        if let Some((index, _)) = self.loaded.get_mut(dt) {
            for (id, content) in writer::read_index(&path)? {
                index.record(id, content)?;
            }
        }
        Ok(())
    }

    /// The index files of partition `dt`: those of the snapshot the run started from, or,
    /// when one of them is gone (a compaction replaced its file since and the retention
    /// passed), those of the lake's latest snapshot, plus this run's own.
    fn index_files(&mut self, dt: &str) -> Result<Vec<PathBuf>, LakeError> {
        let files = self.files_by_dt.get(dt).cloned().unwrap_or_default();
        if self.all_present(&files)? {
            return Ok(files);
        }
        if let Some(remote) = self.layout.remote() {
            remote.pull(&self.layout)?;
        }
        let latest = Snapshot::load(&self.layout)?;
        let mut fresh: Vec<PathBuf> = latest
            .files
            .iter()
            .filter(|f| f.dt == dt)
            .map(|f| self.layout.root().join(&f.index))
            .collect();
        for own in self.own.get(dt).into_iter().flatten() {
            if !fresh.contains(own) {
                fresh.push(own.clone());
            }
        }
        self.all_present(&fresh)?;
        self.files_by_dt.insert(dt.to_string(), fresh.clone());
        Ok(fresh)
    }

    /// Whether every index file of `files` is on disk, fetched into the mirror first when the
    /// lake is in object storage.
    fn all_present(&self, files: &[PathBuf]) -> Result<bool, LakeError> {
        let mut all = true;
        for p in files {
            all &= match self.layout.remote() {
                Some(remote) => remote.fetch(&self.layout, &self.layout.rel(p))?,
                None => p.exists(),
            };
        }
        Ok(all)
    }

    /// Makes partition `dt` loaded (from its committed index files on first use) and
    /// touched by the current epoch.
    fn load(&mut self, dt: &str) -> Result<(), LakeError> {
        if !self.loaded.contains_key(dt) {
            let mut index = PartIndex::default();
            for path in &self.index_files(dt)? {
                for (id, content) in writer::read_index(path)? {
                    index.record(id, content)?;
                }
                if index.first.len() > self.budget {
                    self.spills += 1;
                    self.spilled_events += index.spill(&self.spill_dir, self.spills)?;
                }
            }
            self.loaded.insert(dt.to_string(), (index, 0));
        }
        self.loaded.get_mut(dt).expect("just loaded").1 = self.epoch;
        Ok(())
    }

    /// Records the events `(eventID, content hash)` of partition `dt`, in order, and says
    /// what each was.
    pub(crate) fn check<'a>(
        &mut self,
        dt: &str,
        events: impl Iterator<Item = (&'a str, i64)>,
    ) -> Result<Vec<Verdict>, LakeError> {
        self.load(dt)?;
        let (index, _) = self.loaded.get_mut(dt).expect("loaded");
        let verdicts = events
            .map(|(id, hash)| index.record(writer::id_hash(id), hash as u64))
            .collect::<Result<Vec<_>, _>>()?;
        self.bound()?;
        Ok(verdicts)
    }

    fn resident(&self) -> usize {
        self.loaded.values().map(|(i, _)| i.first.len()).sum()
    }

    /// Keeps the resident eventIDs within the budget: once over it, evicts partitions all on
    /// disk, then spills the biggest partitions being written, down to half the budget.
    fn bound(&mut self) -> Result<(), LakeError> {
        if self.resident() <= self.budget {
            return Ok(());
        }
        self.evict_to(self.budget / 2);
        while self.resident() > self.budget / 2 {
            let Some((_, (index, _))) = self
                .loaded
                .iter_mut()
                .max_by_key(|(_, (i, _))| i.first.len())
            else {
                break;
            };
            self.spills += 1;
            self.spilled_events += index.spill(&self.spill_dir, self.spills)?;
        }
        Ok(())
    }

    /// Drops the least recently used partitions beyond [`LOADED_PARTITIONS`] or the budget;
    /// never one touched since the last acknowledged commit (what it holds is not all in
    /// committed index files yet).
    pub(crate) fn evict(&mut self) {
        self.evict_to(self.budget);
    }

    /// Evicts like [`Dedup::evict`] down to `limit` resident eventIDs.
    fn evict_to(&mut self, limit: usize) {
        while self.loaded.len() > LOADED_PARTITIONS || self.resident() > limit {
            let Some(oldest) = self
                .loaded
                .iter()
                .filter(|(_, (_, used))| *used <= self.acked)
                .min_by_key(|(_, (_, used))| *used)
                .map(|(dt, _)| dt.clone())
            else {
                return;
            };
            self.loaded.remove(&oldest);
        }
    }
}

impl Drop for Dedup {
    fn drop(&mut self) {
        self.loaded.clear();
        // Best effort: the next run's recovery removes staging anyway.
        let _ = fs::remove_dir(&self.spill_dir);
    }
}

impl PartIndex {
    /// Records `(id hash, content hash)` and says what it was.
    fn record(&mut self, id: u64, content: u64) -> Result<Verdict, LakeError> {
        let seen = match self.first.entry(id) {
            Entry::Occupied(o) => *o.get(),
            Entry::Vacant(v) => match spilled_content(&mut self.spilled, id)? {
                Some(c) => c,
                None => {
                    v.insert(content);
                    return Ok(Verdict::New);
                }
            },
        };
        if seen == content {
            return Ok(Verdict::Duplicate);
        }
        let others = self.more.entry(id).or_default();
        Ok(if others.contains(&content) {
            Verdict::Duplicate
        } else {
            others.push(content);
            Verdict::Conflict
        })
    }

    /// Moves the resident eventIDs to a new spilled run, file `n` of `dir`; returns how many.
    fn spill(&mut self, dir: &Path, n: usize) -> Result<u64, LakeError> {
        if self.first.is_empty() {
            return Ok(0);
        }
        let mut pairs: Vec<(u64, u64)> = std::mem::take(&mut self.first).into_iter().collect();
        pairs.sort_unstable();
        fs::create_dir_all(dir).at(dir)?;
        let spilled = pairs.len() as u64;
        tracing::debug!("dedup: {spilled} eventIDs spilled to disk");
        self.spilled
            .push(Spilled::write(&dir.join(format!("{n:06}.idx")), pairs)?);
        Ok(spilled)
    }
}

/// The content hash the spilled runs hold for `id`, if any (an id is in at most one).
fn spilled_content(runs: &mut [Spilled], id: u64) -> Result<Option<u64>, LakeError> {
    for run in runs {
        if let Some(c) = run.get(id)? {
            return Ok(Some(c));
        }
    }
    Ok(None)
}

/// EventIDs moved out of memory: `(id hash, content hash)` pairs sorted by id in a file,
/// a filter of the ids and the first id of every block of [`SPILL_BLOCK`] pairs.
struct Spilled {
    path: PathBuf,
    file: File,
    filter: BinaryFuse8,
    firsts: Vec<u64>,
    len: usize,
    block: Vec<u8>,
}

impl Spilled {
    /// Writes `pairs` (sorted, ids distinct) to `path`.
    fn write(path: &Path, pairs: Vec<(u64, u64)>) -> Result<Self, LakeError> {
        let filter = BinaryFuse8::try_from_iterator(pairs.iter().map(|p| p.0))
            .map_err(|e| {
                std::io::Error::other(format!("building the dedup filter of a spilled run: {e}"))
            })
            .at(path)?;
        let mut out = BufWriter::new(File::create(path).at(path)?);
        for pair in &pairs {
            out.write_all(&writer::encode_pair(*pair)).at(path)?;
        }
        out.flush().at(path)?;
        drop(out);
        Ok(Spilled {
            path: path.to_path_buf(),
            file: File::open(path).at(path)?,
            filter,
            firsts: pairs.iter().step_by(SPILL_BLOCK).map(|p| p.0).collect(),
            len: pairs.len(),
            block: vec![0; SPILL_BLOCK * 16],
        })
    }

    /// The content hash recorded for `id`, if the run has it.
    fn get(&mut self, id: u64) -> Result<Option<u64>, LakeError> {
        if !self.filter.contains(&id) {
            return Ok(None);
        }
        let Some(b) = self.firsts.partition_point(|&f| f <= id).checked_sub(1) else {
            return Ok(None);
        };
        let start = b * SPILL_BLOCK;
        let n = SPILL_BLOCK.min(self.len - start);
        let bytes = &mut self.block[..n * 16];
        self.file
            .seek(SeekFrom::Start(start as u64 * 16))
            .at(&self.path)?;
        self.file.read_exact(bytes).at(&self.path)?;
        let pair = |i: usize| writer::decode_pair(&bytes[i * 16..i * 16 + 16]);
        let (mut lo, mut hi) = (0, n);
        while lo < hi {
            let mid = (lo + hi) / 2;
            let (k, v) = pair(mid);
            match k.cmp(&id) {
                std::cmp::Ordering::Less => lo = mid + 1,
                std::cmp::Ordering::Greater => hi = mid,
                std::cmp::Ordering::Equal => return Ok(Some(v)),
            }
        }
        Ok(None)
    }
}

impl Drop for Spilled {
    fn drop(&mut self) {
        let _ = fs::remove_file(&self.path);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn index_with(n: u64) -> PartIndex {
        let mut index = PartIndex::default();
        for id in 0..n {
            assert_eq!(index.record(id * 7919, id).unwrap(), Verdict::New);
        }
        index
    }

    fn ids(range: std::ops::Range<usize>) -> Vec<String> {
        range.map(|i| format!("id-{i}")).collect()
    }

    #[test]
    fn over_budget_committed_days_are_evicted_before_any_day_is_spilled() {
        let dir = tempfile::tempdir().unwrap();
        let mut d = Dedup {
            layout: Layout::new(dir.path()),
            files_by_dt: HashMap::new(),
            own: HashMap::new(),
            loaded: HashMap::new(),
            epoch: 1,
            acked: 0,
            budget: 100,
            spill_dir: dir.path().join("spill"),
            spills: 0,
            spilled_events: 0,
        };
        let (a, c) = (ids(0..40), ids(1000..1040));
        d.check("a", a.iter().map(|id| (id.as_str(), 1))).unwrap();
        d.check("c", c.iter().map(|id| (id.as_str(), 1))).unwrap();
        // Days a and c are committed; day b is written by the next commit.
        d.acked = 1;
        d.epoch = 2;
        let b = ids(80..110);
        d.check("b", b.iter().map(|id| (id.as_str(), 1))).unwrap();
        assert!(
            d.loaded.keys().all(|dt| dt == "b"),
            "committed days evicted"
        );
        assert_eq!(d.spilled_events, 0);
        // Day b alone past the budget: it cannot be evicted, so it spills, down to half.
        let more = ids(110..200);
        let v = d
            .check("b", more.iter().map(|id| (id.as_str(), 1)))
            .unwrap();
        assert!(v.iter().all(|v| *v == Verdict::New));
        assert_eq!(d.spilled_events, 120);
        assert!(d.resident() <= 50);
        let again = d.check("b", b.iter().map(|id| (id.as_str(), 1))).unwrap();
        assert!(again.iter().all(|v| *v == Verdict::Duplicate));
        drop(d);
        assert!(
            !dir.path().join("spill").exists(),
            "spill directory removed"
        );
    }

    #[test]
    fn spilled_runs_answer_like_the_hash_table() {
        let dir = tempfile::tempdir().unwrap();
        let mut index = index_with(10_000);
        index.spill(dir.path(), 1).unwrap();
        assert!(index.first.is_empty());
        for id in 10_000..12_000 {
            index.record(id * 7919, id).unwrap();
        }
        index.spill(dir.path(), 2).unwrap();
        assert_eq!(index.spilled.len(), 2);
        for id in (0..12_000).step_by(7) {
            assert_eq!(
                index.record(id * 7919, id).unwrap(),
                Verdict::Duplicate,
                "{id}"
            );
        }
        // Same eventID, other content: a conflict once, then a duplicate of it.
        assert_eq!(index.record(5 * 7919, 99).unwrap(), Verdict::Conflict);
        assert_eq!(index.record(5 * 7919, 99).unwrap(), Verdict::Duplicate);
        assert_eq!(index.record(5 * 7919, 5).unwrap(), Verdict::Duplicate);
        // Ids between, before and after the spilled ones are new.
        for id in [1, 7918, 7920, 12_000 * 7919, u64::MAX] {
            assert_eq!(index.record(id, 0).unwrap(), Verdict::New, "{id}");
        }
        let files: Vec<_> = fs::read_dir(dir.path()).unwrap().collect();
        assert_eq!(files.len(), 2);
        drop(index);
        assert_eq!(fs::read_dir(dir.path()).unwrap().count(), 0, "runs removed");
    }
}
