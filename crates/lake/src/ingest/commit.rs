//! A commit: its partitions' files written (on the commit pool) and the log entry that makes
//! them visible.

use super::*;

/// A partition of a commit: the day, and the directory below it if the layout has one.
pub(crate) type Part = (String, Option<Arc<str>>);

/// Writes data file `n` of a commit and its dedup index, and moves the file into place.
pub(super) fn write_partition(
    layout: &Layout,
    staging: &std::path::Path,
    version: u64,
    n: usize,
    (dt, sub): Part,
    batches: Vec<RecordBatch>,
    shape: &LayoutOptions,
) -> Result<DataFile, LakeError> {
    let tmp = staging.join(format!("{n:04}.parquet"));
    let w = writer::write_file(&tmp, batches, shape)?;
    let sub = sub.and_then(|v| shape.sub_dir(&v));
    let (path, index) = layout.data_and_index(&dt, sub.as_deref(), version, n);
    let file = writer::place(layout, &tmp, dt.clone(), path, index, w)?;
    crate::crash_point("lake::data-file-placed");
    Ok(file)
}

/// The fewest rows a data file gets when a partition is split to keep every core writing.
const MIN_SPLIT_ROWS: usize = 32 * 1024;

/// The rows of each day in the directories below it that `shape` puts them in (each day as
/// it is when the layout has none).
pub(crate) fn sub_partitions(
    layout: &Layout,
    pending: BTreeMap<String, Vec<RecordBatch>>,
    shape: &LayoutOptions,
) -> Result<BTreeMap<Part, Vec<RecordBatch>>, LakeError> {
    let mut out: BTreeMap<Part, Vec<RecordBatch>> = BTreeMap::new();
    for (dt, batches) in pending {
        for batch in batches {
            let Some(values) = shape.split(&batch) else {
                out.entry((dt.clone(), None)).or_default().push(batch);
                continue;
            };
            let mut rows: BTreeMap<&Arc<str>, Vec<u32>> = BTreeMap::new();
            for (r, v) in values.iter().enumerate() {
                rows.entry(v).or_default().push(r as u32);
            }
            for (v, rows) in rows {
                let part = if rows.len() == batch.num_rows() {
                    batch.clone()
                } else {
                    take_record_batch(&batch, &UInt32Array::from(rows)).map_err(|source| {
                        LakeError::Arrow {
                            path: layout.partition(&dt),
                            source,
                        }
                    })?
                };
                out.entry((dt.clone(), Some(Arc::clone(v))))
                    .or_default()
                    .push(part);
            }
        }
    }
    Ok(out)
}

/// The partitions of a commit as the files to write: objects are read in delivery order, so
/// a commit often holds one or two days; the biggest partition is halved (in arrival order,
/// which follows event time closely) until there is a file per core, while halves keep at
/// least `min_rows` rows.
pub(super) fn split_for_cores<K: Clone>(
    pending: BTreeMap<K, Vec<RecordBatch>>,
    cores: usize,
    min_rows: usize,
) -> Vec<(K, Vec<RecordBatch>)> {
    let rows = |b: &[RecordBatch]| b.iter().map(RecordBatch::num_rows).sum::<usize>();
    let mut parts: Vec<(K, Vec<RecordBatch>)> = pending.into_iter().collect();
    while parts.len() < cores {
        let Some((i, n)) = parts
            .iter()
            .enumerate()
            .map(|(i, (_, b))| (i, rows(b)))
            .max_by_key(|(_, n)| *n)
        else {
            break;
        };
        if n < 2 * min_rows {
            break;
        }
        let (dt, batches) = parts.remove(i);
        let (mut first, mut second) = (Vec::new(), Vec::new());
        let mut taken = 0;
        for b in batches {
            let want = (n / 2).saturating_sub(taken);
            if want >= b.num_rows() {
                taken += b.num_rows();
                first.push(b);
            } else if want == 0 {
                second.push(b);
            } else {
                taken += want;
                first.push(b.slice(0, want));
                second.push(b.slice(want, b.num_rows() - want));
            }
        }
        parts.insert(i, (dt.clone(), second));
        parts.insert(i, (dt, first));
    }
    parts
}

/// A commit whose data files are written (in the mirror, or in place), not yet committed.
pub(super) struct Encoded {
    /// The version the files were named for (the dedup epoch).
    epoch: u64,
    checked_upto: u64,
    staging: std::path::PathBuf,
    add: Vec<DataFile>,
    sources: Vec<SourceEntry>,
    quarantined: Vec<QuarantineEntry>,
    bad_lines: Vec<String>,
    digest_lines: Vec<String>,
}

/// Writes a commit: [`encode_commit`], then [`finish_commit`].
pub(super) fn write_commit(
    lake: &Lake,
    shape: &LayoutOptions,
    job: CommitJob,
    last_publish: &mut Option<std::time::Instant>,
) -> Result<Committed, LakeError> {
    let encoded = encode_commit(lake, shape, job)?;
    finish_commit(lake, encoded, last_publish)
}

/// Writes a commit's data files and their dedup indexes through staging: the part that
/// takes the cores. In object storage it runs while the commit before is uploaded.
pub(super) fn encode_commit(
    lake: &Lake,
    shape: &LayoutOptions,
    job: CommitJob,
) -> Result<Encoded, LakeError> {
    let layout = lake.layout();
    let version = job.version;
    let staging = layout.staging(version);
    fs::create_dir_all(&staging).at(&staging)?;
    // Partitions are independent files: write them on every core (the readers may be done,
    // and this is the tail of the run).
    let threads = std::thread::available_parallelism().map_or(2, |n| n.get());
    let pending = sub_partitions(&layout, job.pending, shape)?;
    let parts = split_for_cores(pending, threads, MIN_SPLIT_ROWS);
    let add: Vec<DataFile> = writer::on_cores(
        parts.into_iter().enumerate().collect(),
        |(n, (part, batches))| write_partition(&layout, &staging, version, n, part, batches, shape),
    )?;
    Ok(Encoded {
        epoch: version,
        checked_upto: job.checked_upto,
        staging,
        add,
        sources: job.sources,
        quarantined: job.quarantined,
        bad_lines: job.bad_lines,
        digest_lines: job.digest_lines,
    })
}

/// Commits what [`encode_commit`] wrote: side files, (in object storage) the check against
/// other writers and the upload, then the log entry (the commit point) and the manifests.
/// Commits of one run finish one at a time, in order.
pub(super) fn finish_commit(
    lake: &Lake,
    enc: Encoded,
    last_publish: &mut Option<std::time::Instant>,
) -> Result<Committed, LakeError> {
    let layout = lake.layout();
    let version = enc.epoch;
    let staging = enc.staging;
    // The version: the one the files were named for, or the first free one if another
    // writer (a compaction, another ingest, or this run's commit before) took it meanwhile.
    // Side files are named for it: a commit that loses a race later renames its own upward,
    // and the next one of this run starts above it.
    let mut entry = LogEntry {
        version: version.max(Snapshot::latest_version(&layout)? + 1),
        committed_at: chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
        trawl_version: env!("CARGO_PKG_VERSION").to_string(),
        add: enc.add,
        sources: enc.sources,
        quarantined: enc.quarantined,
        remove: Vec::new(),
        side: Vec::new(),
        rebuilt: false,
    };
    for (lines, path) in [
        (enc.bad_lines, layout.quarantine(entry.version)),
        (enc.digest_lines, layout.digests(entry.version)),
    ] {
        if !lines.is_empty() {
            let mut text = lines.join("\n");
            text.push('\n');
            log::write_atomic(&path, text.as_bytes())?;
        }
    }
    crate::crash_point("lake::before-commit");
    let first = entry.version;
    move_side_files(&layout, &mut entry, first)?;
    // In object storage other ingests commit too: the rows are checked against what they
    // committed since the run's dedup last learned the lake, as far as the mirror knows;
    // a commit the mirror has not seen holds the version this one tries, so the race is lost
    // and the check made again after the pull (below).
    let (mut others, mut dropped, mut checked) = (Vec::new(), 0, enc.checked_upto);
    if let Some(remote) = layout.remote() {
        let found = crate::recheck::against_others(&layout, &mut entry, checked)?;
        (others, dropped, checked) = (found.winners, found.dropped, found.upto);
        // The data and index files go first: a commit never names an object that is not
        // there.
        remote.push(&layout, &entry.add)?;
        crate::crash_point("lake::uploaded");
    }
    // An ingest only adds files and ledger entries, so it goes on top of whatever won: the
    // writer lock keeps other ingests out of a local lake, and a compaction removes only
    // files of its own snapshot, whose rows it keeps. In object storage the winner may be
    // another ingest: its rows are checked against this commit's before it goes on top.
    let retries = log::commit_on_top(&layout, &mut entry, |entry, next| {
        if layout.remote().is_some() {
            let found = crate::recheck::against_others(&layout, entry, checked)?;
            others.extend(found.winners);
            dropped += found.dropped;
            checked = found.upto;
        }
        let from = entry.version;
        entry.version = next;
        move_side_files(&layout, entry, from)
    })?;
    crate::crash_point("lake::after-commit");
    let manifests = std::time::Instant::now();
    // In object storage the manifests cost round trips: they follow the commits every
    // MANIFEST_EVERY, and are caught up when the run ends.
    if layout.remote().is_none() || last_publish.is_none_or(|t| t.elapsed() >= MANIFEST_EVERY) {
        crate::manifest::after_commit(&layout, &entry)?;
        *last_publish = Some(manifests);
    }
    let manifest_time = manifests.elapsed();
    let _ = fs::remove_dir_all(&staging);
    if layout.remote().is_some() {
        // The mirror keeps the indexes (dedup reads them), not the data.
        for f in &entry.add {
            let _ = fs::remove_file(layout.root().join(&f.path));
        }
    }
    Ok(Committed {
        epoch: version,
        version: entry.version,
        files: entry.add.len() as u64,
        added: entry.add,
        others,
        dropped,
        manifest_time,
        retries,
    })
}

/// How often an ingest into a lake in object storage publishes the manifests while it runs.
const MANIFEST_EVERY: std::time::Duration = std::time::Duration::from_secs(2);

/// Renames the side files written for version `from` (quarantined records, digest files) to
/// the names of the entry's version, and lists them in the entry when the lake is in object
/// storage (where their names carry the writer's tag).
fn move_side_files(layout: &Layout, entry: &mut LogEntry, from: u64) -> Result<(), LakeError> {
    let to = entry.version;
    entry.side.clear();
    for (a, b) in [
        (layout.quarantine(from), layout.quarantine(to)),
        (layout.digests(from), layout.digests(to)),
    ] {
        if from != to && a.exists() {
            fs::rename(&a, &b).at(&b)?;
        }
        if layout.remote().is_some() && b.exists() {
            entry.side.push(layout.rel(&b));
        }
    }
    Ok(())
}
