//! Parquet files of the lake: zstd, rows sorted by event time, statistics, bloom filters
//! on the lookup columns.

use std::fs::File;
use std::path::Path;
use std::sync::Arc;

use arrow::array::{Array, ArrayRef, AsArray, RecordBatch, TimestampMicrosecondArray};
use arrow::datatypes::{Int64Type, TimestampMicrosecondType};
use parquet::arrow::ArrowWriter;
use parquet::arrow::arrow_writer::{ArrowColumnWriter, compute_leaves};
use parquet::basic::{Compression, Encoding, ZstdLevel};
use parquet::errors::ParquetError;
use parquet::file::metadata::{KeyValue, SortingColumn};
use parquet::file::properties::{EnabledStatistics, WriterProperties};
use parquet::schema::types::ColumnPath;
use trawl_schema::{
    BLOOM_COLUMNS, COL_EVENTID, COL_EVENTTIME, COL_EVENTTIME_TS, COL_HASH, COL_REQUESTID,
    COL_SHAREDEVENTID, FIELDS, Kind, arrow_schema, format_canonical,
};

use crate::error::{IoContext, LakeError};
use crate::layout_options::LayoutOptions;

/// Rows per row group: small enough for row-group pruning to matter within a day.
pub const ROW_GROUP_ROWS: usize = 128 * 1024;

/// Columns whose values are (nearly) all distinct: dictionary encoding only costs there.
const UNIQUE_COLUMNS: &[&str] = &[
    COL_EVENTID,
    COL_REQUESTID,
    COL_SHAREDEVENTID,
    COL_EVENTTIME,
    COL_EVENTTIME_TS,
];

/// False-positive rate of the bloom filters: a lookup reads about one row group in 20 it
/// does not need, for filters half the size of 1% ones (they are folded to the values seen).
const BLOOM_FPP: f64 = 0.05;

/// The key of the metadata entry in which a data file written in a layout other than the
/// default records it (JSON of [`LayoutOptions`]): `trawl verify --rebuild-ledger` reads it.
pub const LAYOUT_KEY: &str = "trawl.layout";

fn properties(rows: usize, layout: &LayoutOptions, extra: Vec<KeyValue>) -> WriterProperties {
    let schema = arrow_schema();
    let row_group_rows = layout.row_group_rows;
    let sorting = layout
        .sort_columns()
        .iter()
        .map(|c| SortingColumn {
            column_idx: schema.index_of(c).expect("a sort column of the lake") as i32,
            descending: false,
            nulls_first: false,
        })
        .collect();
    let recorded = layout.recorded().map(|l| {
        KeyValue::new(
            LAYOUT_KEY.to_string(),
            serde_json::to_string(&l).expect("a layout serialises"),
        )
    });
    let mut b = WriterProperties::builder()
        .set_compression(Compression::ZSTD(
            ZstdLevel::try_new(3).expect("valid level"),
        ))
        .set_statistics_enabled(EnabledStatistics::Page)
        .set_max_row_group_row_count(Some(row_group_rows.max(1)))
        .set_sorting_columns(Some(sorting))
        .set_key_value_metadata(Some(
            std::iter::once(KeyValue::new(
                "trawl.version".to_string(),
                env!("CARGO_PKG_VERSION").to_string(),
            ))
            .chain(recorded)
            .chain(extra)
            .collect(),
        ));
    // Free-form JSON text compresses well: level 6 makes it ~10% smaller than level 3 for
    // little time (benchmarks.md); the other columns are short or random and stay at 3.
    for f in FIELDS.iter().filter(|f| matches!(f.kind, Kind::Json)) {
        b = b.set_column_compression(
            ColumnPath::from(f.key.to_ascii_lowercase()),
            Compression::ZSTD(ZstdLevel::try_new(6).expect("valid level")),
        );
    }
    for col in UNIQUE_COLUMNS {
        b = b.set_column_dictionary_enabled(ColumnPath::from(*col), false);
    }
    // Sorted timestamps: deltas are small and pack to a few bits each.
    b = b.set_column_encoding(
        ColumnPath::from(COL_EVENTTIME_TS),
        Encoding::DELTA_BINARY_PACKED,
    );
    // Sorted ISO-8601 strings share all but their last characters with the previous value.
    b = b.set_column_encoding(ColumnPath::from(COL_EVENTTIME), Encoding::DELTA_BYTE_ARRAY);
    // Random IDs (UUIDs): with the lengths stored apart, zstd sees only the hex digits.
    for col in [COL_EVENTID, COL_REQUESTID, COL_SHAREDEVENTID] {
        b = b.set_column_encoding(ColumnPath::from(col), Encoding::DELTA_LENGTH_BYTE_ARRAY);
    }
    for col in BLOOM_COLUMNS {
        let path = ColumnPath::from(*col);
        b = b
            .set_column_bloom_filter_enabled(path.clone(), true)
            .set_column_bloom_filter_fpp(path.clone(), BLOOM_FPP)
            .set_column_bloom_filter_max_ndv(path, rows.clamp(1, row_group_rows.max(1)) as u64);
    }
    b.build()
}

/// The rows of `batches` in the order of `layout`, as `(batch, row)`: NULLs (unparseable
/// times) last, ties in arrival order.
pub(crate) fn sort_order(
    batches: &[RecordBatch],
    layout: &LayoutOptions,
) -> Result<Vec<(usize, usize)>, arrow::error::ArrowError> {
    if layout.by_time() {
        return Ok(time_order(&event_times(batches)));
    }
    let keys = layout.sort_keys(batches)?;
    let mut order: Vec<(usize, usize)> =
        Vec::with_capacity(keys.iter().map(|k| k.num_rows()).sum());
    for (b, k) in keys.iter().enumerate() {
        order.extend((0..k.num_rows()).map(|r| (b, r)));
    }
    order.sort_by(|&(a, i), &(b, j)| keys[a].row(i).cmp(&keys[b].row(j)));
    Ok(order)
}

/// The rows of `batches` in event-time order, as `(batch, row)`: unparseable times last,
/// ties in arrival order. `ts` is each batch's event time column.
fn time_order(ts: &[&TimestampMicrosecondArray]) -> Vec<(usize, usize)> {
    let mut order: Vec<(usize, usize)> = Vec::with_capacity(ts.iter().map(|t| t.len()).sum());
    for (b, t) in ts.iter().enumerate() {
        order.extend((0..t.len()).map(|r| (b, r)));
    }
    // A stable sort: rows come nearly in order, which it handles in about one pass.
    order.sort_by_key(|&(b, r)| {
        let ts = ts[b];
        if ts.is_valid(r) {
            (false, ts.value(r))
        } else {
            (true, 0)
        }
    });
    order
}

/// What a written file holds, for the log.
#[derive(Debug)]
pub struct Written {
    pub rows: u64,
    pub bytes: u64,
    pub min_time: Option<String>,
    pub max_time: Option<String>,
    pub xxh3: String,
    /// `(xxh3 of eventID, content hash)` of every row that has an eventID: the dedup index.
    pub index: Vec<(u64, u64)>,
    /// Its needle filter, encoded ([`crate::needles`]); `None` when it has no lookup values.
    pub needles: Option<Vec<u8>>,
    /// The layout it was written in, when not the default.
    pub layout: Option<LayoutOptions>,
}

/// A batch's eventIDs and content hashes (a batch in [`trawl_schema::ingest_schema`]).
pub(crate) fn ids_and_hashes(
    batch: &RecordBatch,
) -> (&arrow::array::StringArray, &arrow::array::Int64Array) {
    let ids = batch
        .column_by_name(COL_EVENTID)
        .expect("the ingest schema has eventid")
        .as_string::<i32>();
    let hashes = batch
        .column_by_name(COL_HASH)
        .expect("the ingest schema has the content hash")
        .as_primitive::<Int64Type>();
    (ids, hashes)
}

/// The dedup key of an eventID.
pub fn id_hash(event_id: &str) -> u64 {
    xxhash_rust::xxh3::xxh3_64(event_id.as_bytes())
}

/// Writes `batches` (one partition's rows, in [`trawl_schema::ingest_schema`]) sorted as
/// `layout` says, consuming them, to `path` as a lake file, fsynced; the content hashes go to
/// [`Written::index`].
///
/// The rows are never gathered into one sorted copy: each column of a row group is taken in
/// time order from the batches on its own, encoded, and dropped, so memory holds the batches
/// plus about one column per core (a commit is tens of MB; two copies of it would double
/// the writer's share of the peak).
pub fn write_file(
    path: &Path,
    batches: Vec<RecordBatch>,
    layout: &LayoutOptions,
) -> Result<Written, LakeError> {
    let order = sort_order(&batches, layout).map_err(|source| LakeError::Arrow {
        path: path.into(),
        source,
    })?;
    let row_group_rows = layout.row_group_rows;
    let mut file = FileWriter::create(path, order.len(), layout, Vec::new())?;
    file.record(&batches, &order);
    // The lake's columns (a prefix of the ingest schema), each as its arrays in the batches.
    let mut columns: Vec<Vec<ArrayRef>> = (0..file.schema.fields().len())
        .map(|j| batches.iter().map(|b| Arc::clone(b.column(j))).collect())
        .collect();
    drop(batches);
    let groups: Vec<&[(usize, usize)]> = order.chunks(row_group_rows.max(1)).collect();
    for (n, group) in groups.iter().enumerate() {
        // The last row group is the last use of the batches: each column is freed as soon
        // as it is encoded.
        let last = n + 1 == groups.len();
        let inputs = columns
            .iter_mut()
            .map(|arrays| {
                if last {
                    std::mem::take(arrays)
                } else {
                    arrays.clone()
                }
            })
            .collect();
        file.encode(inputs, group)?;
    }
    file.finish()
}

/// A lake file written one row group at a time, each given as rows `(batch, row)` of
/// batches in [`trawl_schema::ingest_schema`], in the order they are stored: what
/// [`write_file`] does with one commit's rows, and what compaction does with the merged
/// rows of many files, one row group in memory at a time.
pub(crate) struct FileWriter {
    path: std::path::PathBuf,
    schema: arrow::datatypes::SchemaRef,
    w: parquet::file::writer::SerializedFileWriter<HashingWriter>,
    factory: parquet::arrow::arrow_writer::ArrowRowGroupWriterFactory,
    failed: IoFailure,
    groups: usize,
    /// The column writers of the row group being written, if one is open.
    open: Option<Vec<Vec<ArrowColumnWriter>>>,
    rows: u64,
    index: Vec<(u64, u64)>,
    needles: crate::needles::Keys,
    min_time: Option<i64>,
    max_time: Option<i64>,
    layout: Option<LayoutOptions>,
}

impl FileWriter {
    /// A file at `path` for about `rows` rows (which sizes its bloom filters).
    pub(crate) fn create(
        path: &Path,
        rows: usize,
        layout: &LayoutOptions,
        extra: Vec<KeyValue>,
    ) -> Result<Self, LakeError> {
        let schema = arrow_schema();
        let failed = IoFailure::default();
        let file = HashingWriter::new(File::create(path).at(path)?, failed.clone());
        let parquet_err = |source| LakeError::Parquet {
            path: path.into(),
            source,
        };
        let w = ArrowWriter::try_new(
            file,
            Arc::clone(&schema),
            Some(properties(rows, layout, extra)),
        )
        .map_err(parquet_err)?;
        // The Arrow writer has put the Arrow schema in the file's metadata; its row groups
        // are written here, their columns encoded on every core.
        let (w, factory) = w.into_serialized_writer().map_err(parquet_err)?;
        Ok(FileWriter {
            path: path.into(),
            schema,
            w,
            factory,
            failed,
            groups: 0,
            open: None,
            rows: 0,
            index: Vec::new(),
            needles: Default::default(),
            min_time: None,
            max_time: None,
            layout: layout.recorded(),
        })
    }

    /// Notes the rows `order` of `batches` as the next rows of the file: their content hashes
    /// for the dedup index, their event times for the file's range, their lookup values for
    /// its needle filter.
    pub(crate) fn record(&mut self, batches: &[RecordBatch], order: &[(usize, usize)]) {
        self.needles.record(batches, order);
        let ts = event_times(batches);
        let (ids, hashes): (Vec<_>, Vec<_>) = batches.iter().map(ids_and_hashes).unzip();
        for &(b, r) in order {
            if ts[b].is_valid(r) {
                let t = ts[b].value(r);
                self.min_time = Some(self.min_time.map_or(t, |m| m.min(t)));
                self.max_time = Some(self.max_time.map_or(t, |m| m.max(t)));
            }
            if ids[b].is_valid(r) {
                self.index
                    .push((id_hash(ids[b].value(r)), hashes[b].value(r) as u64));
            }
        }
        self.rows += order.len() as u64;
    }

    /// Writes the next row group: rows `group` of the batches whose lake columns are
    /// `columns` (each column as its arrays in the batches), encoded on every core.
    pub(crate) fn encode(
        &mut self,
        columns: Vec<Vec<ArrayRef>>,
        group: &[(usize, usize)],
    ) -> Result<(), LakeError> {
        self.append(columns, group)?;
        self.close_group()
    }

    /// Adds rows `rows` of the batches whose lake columns are `columns` to the row group being
    /// written (opening one if none is): they are encoded into pages now, so the batches can
    /// go.
    pub(crate) fn append(
        &mut self,
        columns: Vec<Vec<ArrayRef>>,
        rows: &[(usize, usize)],
    ) -> Result<(), LakeError> {
        let (path, failed) = (&self.path, &self.failed);
        let err = |e| parquet_error(path, failed, e);
        let writers = match self.open.take() {
            Some(w) => w,
            None => by_column(
                &self.schema,
                self.factory
                    .create_column_writers(self.groups)
                    .map_err(err)?,
            )
            .map_err(err)?,
        };
        let writers = feed_columns(&self.schema, columns, rows, writers).map_err(|e| match e {
            Encode::Arrow(source) => LakeError::Arrow {
                path: path.clone(),
                source,
            },
            Encode::Parquet(e) => err(e),
        })?;
        self.open = Some(writers);
        Ok(())
    }

    /// Closes the row group being written (nothing if none is open).
    pub(crate) fn close_group(&mut self) -> Result<(), LakeError> {
        let Some(writers) = self.open.take() else {
            return Ok(());
        };
        let (path, failed) = (&self.path, &self.failed);
        let err = |e| parquet_error(path, failed, e);
        let chunks = on_cores(writers, |w| {
            w.into_iter()
                .map(ArrowColumnWriter::close)
                .collect::<Result<Vec<_>, _>>()
        })
        .map_err(err)?;
        let mut rg = self.w.next_row_group().map_err(err)?;
        for chunk in chunks.into_iter().flatten() {
            chunk.append_to_row_group(&mut rg).map_err(err)?;
        }
        rg.close().map_err(err)?;
        self.groups += 1;
        Ok(())
    }

    /// Writes the footer and fsyncs the file.
    pub(crate) fn finish(mut self) -> Result<Written, LakeError> {
        self.close_group()?;
        crate::crash_point("lake::parquet-footer");
        let FileWriter {
            path,
            w,
            failed,
            rows,
            index,
            needles,
            min_time,
            max_time,
            layout,
            ..
        } = self;
        let written = w
            .into_inner()
            .map_err(|e| parquet_error(&path, &failed, e))?;
        written.file.sync_all().at(&path)?;
        let xxh3 = format!("{:016x}", written.hasher.digest());
        Ok(Written {
            rows,
            bytes: written.bytes,
            min_time: min_time.map(format_canonical),
            max_time: max_time.map(format_canonical),
            needles: needles.encode(&xxh3, &index),
            xxh3,
            index,
            layout,
        })
    }
}

/// A Parquet error writing `path`, or the I/O error (a full disk) behind it.
fn parquet_error(path: &Path, failed: &IoFailure, source: ParquetError) -> LakeError {
    match failed.lock().expect("io failure lock").take() {
        Some(io) => LakeError::Io {
            path: path.into(),
            source: io,
        },
        None => LakeError::Parquet {
            path: path.into(),
            source,
        },
    }
}

/// Moves the data file written at `tmp` to `rel` (relative to the lake root) in its day,
/// with its dedup index at `index`, both fsynced, and describes it for the log.
pub(crate) fn place(
    layout: &crate::Layout,
    tmp: &Path,
    dt: String,
    rel: String,
    index: String,
    w: Written,
) -> Result<crate::DataFile, LakeError> {
    crate::log::write_atomic(&layout.root().join(&index), &encode_index(&w.index))?;
    w.write_needles(layout, &index)?;
    let dest = layout.root().join(&rel);
    let dir = dest.parent().expect("data files live in a partition dir");
    std::fs::create_dir_all(dir).at(dir)?;
    std::fs::rename(tmp, &dest).at(&dest)?;
    crate::log::sync_dir(dir)?;
    Ok(w.describe(rel, dt, index))
}

/// Each batch's event time column.
fn event_times(batches: &[RecordBatch]) -> Vec<&TimestampMicrosecondArray> {
    batches
        .iter()
        .map(|b| {
            b.column_by_name(COL_EVENTTIME_TS)
                .expect("eventtime_ts")
                .as_primitive::<TimestampMicrosecondType>()
        })
        .collect()
}

impl Written {
    /// Writes the file's needle filter, named as its dedup index `index` (lake-relative), if
    /// it has one.
    pub(crate) fn write_needles(
        &self,
        layout: &crate::Layout,
        index: &str,
    ) -> Result<(), LakeError> {
        match &self.needles {
            Some(bytes) => {
                crate::needles::write(&layout.root().join(crate::needles::path_of(index)), bytes)
            }
            None => Ok(()),
        }
    }

    /// The log's description of the written file at `path` (lake-relative) in day `dt`, with
    /// its dedup index at `index`.
    pub(crate) fn describe(self, path: String, dt: String, index: String) -> crate::DataFile {
        crate::DataFile {
            path,
            dt,
            rows: self.rows,
            bytes: self.bytes,
            min_time: self.min_time,
            max_time: self.max_time,
            xxh3: self.xxh3,
            index,
            layout: self.layout,
            committed: 0,
        }
    }
}

/// Why a column could not be encoded.
enum Encode {
    Arrow(arrow::error::ArrowError),
    Parquet(ParquetError),
}

impl From<ParquetError> for Encode {
    fn from(e: ParquetError) -> Self {
        Encode::Parquet(e)
    }
}

/// Runs of consecutive rows of one batch at least this long (on average) are encoded from
/// the batch as they are; shorter ones are gathered into a new array first.
const MIN_RUN_ROWS: usize = 64;

/// The column writers of a row group, split by column (a nested column has several leaves,
/// each with its writer).
fn by_column(
    schema: &arrow::datatypes::Schema,
    writers: Vec<ArrowColumnWriter>,
) -> Result<Vec<Vec<ArrowColumnWriter>>, ParquetError> {
    let mut writers = writers.into_iter();
    let mut out = Vec::with_capacity(schema.fields().len());
    for field in schema.fields() {
        let leaves = compute_leaves(field, &arrow::array::new_empty_array(field.data_type()))?;
        let of_column: Vec<ArrowColumnWriter> = writers.by_ref().take(leaves.len()).collect();
        if of_column.len() != leaves.len() {
            return Err(ParquetError::General(format!(
                "too few column writers for column {}",
                field.name()
            )));
        }
        out.push(of_column);
    }
    Ok(out)
}

/// Writes the rows `group` of the batches whose columns are `columns` to the row group's
/// column `writers` (by column), on every core, biggest column first; the writers come back
/// in column order, open for more rows.
fn feed_columns(
    schema: &arrow::datatypes::Schema,
    columns: Vec<Vec<ArrayRef>>,
    group: &[(usize, usize)],
    writers: Vec<Vec<ArrowColumnWriter>>,
) -> Result<Vec<Vec<ArrowColumnWriter>>, Encode> {
    // The rows as runs (batch, first row, rows): slices of the batches when they are long.
    let mut runs: Vec<(usize, usize, usize)> = Vec::new();
    for &(b, r) in group {
        match runs.last_mut() {
            Some((lb, lr, len)) if *lb == b && *lr + *len == r => *len += 1,
            _ => runs.push((b, r, 1)),
        }
    }
    let gather = runs.len() * MIN_RUN_ROWS > group.len();
    let mut tasks = Vec::with_capacity(columns.len());
    for (((i, field), arrays), of_column) in
        schema.fields().iter().enumerate().zip(columns).zip(writers)
    {
        let size: usize = arrays.iter().map(|a| a.get_array_memory_size()).sum();
        tasks.push((i, field, of_column, arrays, size));
    }
    tasks.sort_by_key(|t| std::cmp::Reverse(t.4));
    let mut done = on_cores(tasks, |(i, field, mut writers, arrays, _)| {
        let mut write = |array: &ArrayRef| -> Result<(), Encode> {
            for (w, leaf) in writers.iter_mut().zip(compute_leaves(field, array)?) {
                w.write(&leaf)?;
            }
            Ok(())
        };
        if gather {
            let refs: Vec<&dyn Array> = arrays.iter().map(AsRef::as_ref).collect();
            let taken = arrow::compute::interleave(&refs, group).map_err(Encode::Arrow)?;
            drop(refs);
            drop(arrays);
            write(&taken)?;
        } else {
            for &(b, r, len) in &runs {
                write(&arrays[b].slice(r, len))?;
            }
            drop(arrays);
        }
        Ok::<_, Encode>((i, writers))
    })?;
    done.sort_by_key(|(i, _)| *i);
    Ok(done.into_iter().map(|(_, w)| w).collect())
}

/// Runs `work` on every item on the process's worker pool (rayon: a thread per core, kept for
/// the whole run, so nested calls, partitions then columns, never oversubscribe the cores);
/// the results come back in the items' order. The first error is returned.
pub(crate) fn on_cores<T: Send, R: Send, E: Send>(
    items: Vec<T>,
    work: impl Fn(T) -> Result<R, E> + Sync + Send,
) -> Result<Vec<R>, E> {
    use rayon::prelude::*;
    items.into_par_iter().with_max_len(1).map(work).collect()
}

/// Hashes (xxh3) and counts what goes to the file, so the file is not read back.
struct HashingWriter {
    file: File,
    hasher: xxhash_rust::xxh3::Xxh3,
    bytes: u64,
    /// The first I/O error, kept whole: the Parquet writer may pass it on only as text.
    failed: IoFailure,
}

type IoFailure = Arc<std::sync::Mutex<Option<std::io::Error>>>;

impl HashingWriter {
    fn new(file: File, failed: IoFailure) -> Self {
        Self {
            file,
            hasher: xxhash_rust::xxh3::Xxh3::new(),
            bytes: 0,
            failed,
        }
    }

    fn note<T>(&self, r: std::io::Result<T>) -> std::io::Result<T> {
        if let Err(e) = &r {
            let mut failed = self.failed.lock().expect("io failure lock");
            if failed.is_none() {
                *failed = Some(match e.raw_os_error() {
                    Some(code) => std::io::Error::from_raw_os_error(code),
                    None => std::io::Error::new(e.kind(), e.to_string()),
                });
            }
        }
        r
    }
}

impl std::io::Write for HashingWriter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let r = self.file.write(buf);
        let n = self.note(r)?;
        self.hasher.update(&buf[..n]);
        self.bytes += n as u64;
        Ok(n)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        let r = self.file.flush();
        self.note(r)
    }
}

/// Serialises a dedup index: little-endian `(id hash, content hash)` pairs.
pub fn encode_index(pairs: &[(u64, u64)]) -> Vec<u8> {
    let mut out = Vec::with_capacity(pairs.len() * 16);
    for pair in pairs {
        out.extend_from_slice(&encode_pair(*pair));
    }
    out
}

/// One `(id hash, content hash)` pair of a dedup index, as stored.
pub(crate) fn encode_pair((id, content): (u64, u64)) -> [u8; 16] {
    let mut out = [0; 16];
    out[..8].copy_from_slice(&id.to_le_bytes());
    out[8..].copy_from_slice(&content.to_le_bytes());
    out
}

/// The pair [`encode_pair`] stored in `bytes` (16 bytes).
pub(crate) fn decode_pair(bytes: &[u8]) -> (u64, u64) {
    let (a, b) = bytes.split_at(8);
    (
        u64::from_le_bytes(a.try_into().expect("8 bytes")),
        u64::from_le_bytes(b[..8].try_into().expect("8 bytes")),
    )
}

/// Reads a dedup index written by [`encode_index`].
pub fn read_index(path: &Path) -> Result<Vec<(u64, u64)>, LakeError> {
    let bytes = std::fs::read(path).at(path)?;
    if bytes.len() % 16 != 0 {
        return Err(LakeError::BadLog {
            path: path.into(),
            message: "dedup index length is not a multiple of 16".into(),
        });
    }
    Ok(bytes.chunks_exact(16).map(decode_pair).collect())
}

#[cfg(test)]
mod tests {
    use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
    use serde_json::json;

    use super::*;

    /// A batch of events `ids` with event times `secs` (None: a time that does not parse).
    fn batch(ids: &[usize], secs: &[Option<i64>]) -> RecordBatch {
        let records: Vec<_> = ids
            .iter()
            .zip(secs)
            .map(|(id, s)| {
                let time = match s {
                    Some(s) => chrono::DateTime::from_timestamp(1_700_000_000 + s, 0)
                        .unwrap()
                        .format("%Y-%m-%dT%H:%M:%SZ")
                        .to_string(),
                    None => "yesterday".to_string(),
                };
                json!({"eventVersion": "1.08", "eventID": format!("id-{id}"), "eventTime": time,
                       "eventName": "Get", "requestParameters": {"n": id}})
            })
            .collect();
        let raw = serde_json::to_vec(&json!({ "Records": records })).unwrap();
        let out = trawl_ingest::read_bytes("mem://t.json", raw, &Default::default()).unwrap();
        assert_eq!(out.batches.len(), 1);
        out.batches.into_iter().next().unwrap()
    }

    /// Writes `batches` with `row_group_rows` and returns the eventIDs read back, in file
    /// order, checking the times are sorted and the index and time range match.
    fn write_and_read(batches: Vec<RecordBatch>, row_group_rows: usize) -> Vec<String> {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f.parquet");
        let rows: usize = batches.iter().map(RecordBatch::num_rows).sum();
        let layout = LayoutOptions {
            row_group_rows,
            ..LayoutOptions::default()
        };
        let w = write_file(&path, batches, &layout).unwrap();
        assert_eq!(w.rows as usize, rows);
        let reader = ParquetRecordBatchReaderBuilder::try_new(File::open(&path).unwrap()).unwrap();
        assert_eq!(
            reader.metadata().num_row_groups(),
            rows.div_ceil(row_group_rows)
        );
        let (mut ids, mut times) = (Vec::new(), Vec::new());
        for b in reader.build().unwrap() {
            let b = b.unwrap();
            let id = b.column_by_name(COL_EVENTID).unwrap().as_string::<i32>();
            ids.extend(id.iter().map(|v| v.unwrap().to_string()));
            let ts = b
                .column_by_name(COL_EVENTTIME_TS)
                .unwrap()
                .as_primitive::<TimestampMicrosecondType>();
            times.extend(ts.iter());
        }
        let valid: Vec<i64> = times.iter().flatten().copied().collect();
        assert!(valid.is_sorted(), "times in order: {times:?}");
        assert!(
            times
                .iter()
                .skip_while(|t| t.is_some())
                .all(Option::is_none),
            "unparsed times last"
        );
        assert_eq!(w.min_time, valid.first().map(|t| format_canonical(*t)));
        assert_eq!(w.max_time, valid.last().map(|t| format_canonical(*t)));
        let index: Vec<u64> = w.index.iter().map(|(id, _)| *id).collect();
        assert_eq!(index, ids.iter().map(|id| id_hash(id)).collect::<Vec<_>>());
        ids
    }

    fn names(ids: &[usize]) -> Vec<String> {
        ids.iter().map(|i| format!("id-{i}")).collect()
    }

    #[test]
    fn shuffled_rows_across_batches_come_out_in_time_order_ties_in_arrival_order() {
        // Times 0..9 in a scramble over three batches; 4 twice (ids 2 and 8), two unparsed.
        let a = batch(&[0, 1, 2, 3], &[Some(7), Some(1), Some(4), None]);
        let b = batch(&[4, 5, 6], &[Some(9), Some(0), Some(3)]);
        let c = batch(&[7, 8, 9, 10], &[Some(2), Some(4), None, Some(8)]);
        let ids = write_and_read(vec![a, b, c], 4);
        assert_eq!(ids, names(&[5, 1, 7, 6, 2, 8, 0, 10, 4, 3, 9]));
    }

    #[test]
    fn rows_already_in_order_are_written_from_the_batches_as_they_are() {
        // Long sorted runs: encoded from slices of the batches, not gathered.
        let n = 3 * MIN_RUN_ROWS;
        let first: Vec<usize> = (0..n).collect();
        let second: Vec<usize> = (n..2 * n).collect();
        let secs = |ids: &[usize]| ids.iter().map(|&i| Some(i as i64)).collect::<Vec<_>>();
        let batches = vec![batch(&second, &secs(&second)), batch(&first, &secs(&first))];
        for group in [n / 2, 2 * n, 100] {
            let ids = write_and_read(batches.clone(), group);
            assert_eq!(
                ids,
                names(&(0..2 * n).collect::<Vec<_>>()),
                "row groups of {group}"
            );
        }
    }
}
