//! A commit checked against what other writers committed since its rows were read.
//!
//! In a local lake the writer lock keeps other ingests out, so the only winner is a
//! compaction, which adds no event. In object storage several ingests write at once: the
//! winners' data files of the days this commit writes are read through their dedup indexes,
//! and this commit's rows that another writer already holds (same eventID, same content) are
//! dropped, its files rewritten without them. Same eventID with other content is a
//! conflict, kept, as dedup keeps it.

use std::collections::{BTreeMap, HashSet};

use arrow::array::{Array, BooleanArray, RecordBatch};
use arrow::compute::filter_record_batch;

use crate::error::{IoContext, LakeError};
use crate::layout::Layout;
use crate::log::{self, DataFile, LogEntry, Snapshot};
use crate::writer;

/// What a recheck found.
#[derive(Debug, Default)]
pub(crate) struct Rechecked {
    /// The files the winners added (the run's dedup learns them).
    pub winners: Vec<DataFile>,
    /// Rows of this commit dropped as already committed by a winner.
    pub dropped: u64,
    /// The latest version checked against.
    pub upto: u64,
}

/// Checks `entry` against every entry another writer committed after version `after` (the
/// mirror has pulled them): its files are rewritten without the rows those hold. The rows of
/// a commit were deduplicated against what the run knew when they were read; this covers
/// what was committed since.
pub(crate) fn against_others(
    layout: &Layout,
    entry: &mut LogEntry,
    after: u64,
) -> Result<Rechecked, LakeError> {
    let latest = Snapshot::latest_version(layout)?;
    let mut found = Rechecked {
        upto: latest.max(after),
        ..Rechecked::default()
    };
    for v in Snapshot::versions(layout)?
        .into_iter()
        .filter(|v| *v > after)
    {
        let other = log::read_entry(layout, v)?;
        if !other.add.iter().any(|f| layout.is_own(&f.path)) {
            found.winners.extend(other.add);
        }
    }
    let ours: HashSet<&str> = entry.add.iter().map(|f| f.dt.as_str()).collect();
    let mut by_day: BTreeMap<String, HashSet<(u64, u64)>> = BTreeMap::new();
    for f in found
        .winners
        .iter()
        .filter(|f| ours.contains(f.dt.as_str()))
    {
        if let Some(remote) = layout.remote() {
            remote.fetch(layout, &f.index)?;
        }
        by_day
            .entry(f.dt.clone())
            .or_default()
            .extend(writer::read_index(&layout.root().join(&f.index))?);
    }
    if by_day.is_empty() {
        return Ok(found);
    }
    let mut kept = Vec::with_capacity(entry.add.len());
    for f in std::mem::take(&mut entry.add) {
        let Some(held) = by_day.get(&f.dt) else {
            kept.push(f);
            continue;
        };
        let index = writer::read_index(&layout.root().join(&f.index))?;
        if !index.iter().any(|pair| held.contains(pair)) {
            kept.push(f);
            continue;
        }
        let (file, dropped) = rewrite_without(layout, f, held)?;
        found.dropped += dropped;
        kept.extend(file);
    }
    entry.add = kept;
    if found.dropped > 0 {
        tracing::info!(
            "{} rows of the commit were committed by another writer first; dropped",
            found.dropped
        );
    }
    Ok(found)
}

/// Data file `f` without the rows whose `(eventID hash, content hash)` is in `held`, written
/// again under its own name (and uploaded again in object storage), or gone if no row is left.
fn rewrite_without(
    layout: &Layout,
    f: DataFile,
    held: &HashSet<(u64, u64)>,
) -> Result<(Option<DataFile>, u64), LakeError> {
    let path = layout.root().join(&f.path);
    let mut dropped = 0;
    let mut batches = Vec::new();
    for batch in crate::compact::read_all(layout, &f)? {
        let (ids, hashes) = writer::ids_and_hashes(&batch);
        let keep: BooleanArray = (0..batch.num_rows())
            .map(|r| {
                Some(
                    !ids.is_valid(r)
                        || !held.contains(&(writer::id_hash(ids.value(r)), hashes.value(r) as u64)),
                )
            })
            .collect();
        let kept = filter_record_batch(&batch, &keep).map_err(|source| LakeError::Arrow {
            path: path.clone(),
            source,
        })?;
        dropped += (batch.num_rows() - kept.num_rows()) as u64;
        if kept.num_rows() > 0 {
            batches.push(kept);
        }
    }
    let remote = layout.remote();
    if batches.iter().map(RecordBatch::num_rows).sum::<usize>() == 0 {
        for rel in [&f.path, &f.index] {
            let p = layout.root().join(rel);
            std::fs::remove_file(&p).at(&p)?;
        }
        if let Some(remote) = remote {
            remote.delete_all(vec![f.path.clone(), f.index.clone()])?;
        }
        return Ok((None, dropped));
    }
    let tmp = path.with_extension("recheck");
    // Written again in the layout it was written in.
    let w = writer::write_file(&tmp, batches, &f.layout.clone().unwrap_or_default())?;
    let file = writer::place(layout, &tmp, f.dt, f.path, f.index, w)?;
    if let Some(remote) = remote {
        remote.push(layout, std::slice::from_ref(&file))?;
    }
    Ok((Some(file), dropped))
}
