//! A commit: its partitions' files written (on the commit pool) and the log entry that makes
//! them visible.

use super::*;

/// Writes data file `n` of a commit and its dedup index, and moves the file into place.
pub(super) fn write_partition(
    layout: &Layout,
    staging: &std::path::Path,
    version: u64,
    n: usize,
    dt: String,
    batches: Vec<RecordBatch>,
    row_group_rows: usize,
) -> Result<DataFile, LakeError> {
    let tmp = staging.join(format!("{n:04}.parquet"));
    let w = writer::write_file(&tmp, batches, row_group_rows)?;
    let rel = Layout::data_file(&dt, version, n);
    let index = Layout::index_file(version, n);
    log::write_atomic(&layout.root().join(&index), &writer::encode_index(&w.index))?;
    let dest = layout.root().join(&rel);
    let dir = dest.parent().expect("data files live in a partition dir");
    fs::create_dir_all(dir).at(dir)?;
    fs::rename(&tmp, &dest).at(&dest)?;
    log::sync_dir(dir)?;
    crate::crash_point("lake::data-file-placed");
    Ok(DataFile {
        path: rel,
        dt,
        rows: w.rows,
        bytes: w.bytes,
        min_time: w.min_time,
        max_time: w.max_time,
        xxh3: w.xxh3,
        index,
    })
}

/// The fewest rows a data file gets when a partition is split to keep every core writing.
const MIN_SPLIT_ROWS: usize = 32 * 1024;

/// The partitions of a commit as the files to write: objects are read in delivery order, so
/// a commit often holds one or two days; the biggest partition is halved (in arrival order,
/// which follows event time closely) until there is a file per core, while halves keep at
/// least `min_rows` rows.
pub(super) fn split_for_cores(
    pending: BTreeMap<String, Vec<RecordBatch>>,
    cores: usize,
    min_rows: usize,
) -> Vec<(String, Vec<RecordBatch>)> {
    let rows = |b: &[RecordBatch]| b.iter().map(RecordBatch::num_rows).sum::<usize>();
    let mut parts: Vec<(String, Vec<RecordBatch>)> = pending.into_iter().collect();
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

/// Writes a commit: data files and their dedup indexes through staging, side files, then
/// the log entry (the commit point).
pub(super) fn write_commit(
    lake: &Lake,
    row_group_rows: usize,
    job: CommitJob,
) -> Result<Committed, LakeError> {
    let layout = lake.layout();
    let version = job.version;
    let staging = layout.staging(version);
    fs::create_dir_all(&staging).at(&staging)?;
    // Partitions are independent files: write them on every core (the readers may be done,
    // and this is the tail of the run).
    let threads = std::thread::available_parallelism().map_or(2, |n| n.get());
    let parts = split_for_cores(job.pending, threads, MIN_SPLIT_ROWS);
    let add: Vec<DataFile> = writer::on_cores(
        parts.into_iter().enumerate().collect(),
        |(n, (dt, batches))| {
            write_partition(&layout, &staging, version, n, dt, batches, row_group_rows)
        },
    )?;
    for (lines, path) in [
        (job.bad_lines, layout.quarantine(version)),
        (job.digest_lines, layout.digests(version)),
    ] {
        if !lines.is_empty() {
            let mut text = lines.join("\n");
            text.push('\n');
            log::write_atomic(&path, text.as_bytes())?;
        }
    }
    let files = add.len() as u64;
    let entry = LogEntry {
        version,
        committed_at: chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
        trawl_version: env!("CARGO_PKG_VERSION").to_string(),
        add,
        sources: job.sources,
        quarantined: job.quarantined,
    };
    crate::crash_point("lake::before-commit");
    log::commit(&layout, &entry)?;
    crate::crash_point("lake::after-commit");
    let manifests = std::time::Instant::now();
    crate::manifest::after_commit(&layout, version, &entry.add)?;
    let manifest_time = manifests.elapsed();
    let _ = fs::remove_dir_all(&staging);
    Ok(Committed {
        version,
        files,
        manifest_time,
    })
}
