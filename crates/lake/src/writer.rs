//! Parquet files of the lake: zstd, rows sorted by event time, statistics, bloom filters
//! on the lookup columns.

use std::fs::File;
use std::path::Path;
use std::sync::Arc;

use arrow::array::{Array, AsArray, RecordBatch};
use arrow::compute::{
    SortColumn, SortOptions, concat_batches, lexsort_to_indices, take_record_batch,
};
use arrow::datatypes::{Int64Type, TimestampMicrosecondType};
use parquet::arrow::ArrowWriter;
use parquet::arrow::arrow_writer::{
    ArrowColumnChunk, ArrowColumnWriter, ArrowLeafColumn, compute_leaves,
};
use parquet::basic::{Compression, Encoding, ZstdLevel};
use parquet::errors::ParquetError;
use parquet::file::metadata::{KeyValue, SortingColumn};
use parquet::file::properties::{EnabledStatistics, WriterProperties};
use parquet::schema::types::ColumnPath;
use trawl_schema::{
    BLOOM_COLUMNS, COL_EVENTTIME_TS, COL_HASH, FIELDS, Kind, arrow_schema, format_canonical,
    ingest_schema,
};

use crate::error::{IoContext, LakeError};

/// Rows per row group: small enough for row-group pruning to matter within a day.
pub const ROW_GROUP_ROWS: usize = 128 * 1024;

/// Columns whose values are (nearly) all distinct: dictionary encoding only costs there.
const UNIQUE_COLUMNS: &[&str] = &[
    "eventid",
    "requestid",
    "sharedeventid",
    "eventtime",
    COL_EVENTTIME_TS,
];

/// False-positive rate of the bloom filters: a lookup reads about one row group in 20 it
/// does not need, for filters half the size of 1% ones (they are folded to the values seen).
const BLOOM_FPP: f64 = 0.05;

fn properties(rows: usize, row_group_rows: usize) -> WriterProperties {
    let schema = arrow_schema();
    let ts_idx = schema
        .index_of(COL_EVENTTIME_TS)
        .expect("eventtime_ts column") as i32;
    let mut b = WriterProperties::builder()
        .set_compression(Compression::ZSTD(
            ZstdLevel::try_new(3).expect("valid level"),
        ))
        .set_statistics_enabled(EnabledStatistics::Page)
        .set_max_row_group_row_count(Some(row_group_rows.max(1)))
        .set_sorting_columns(Some(vec![SortingColumn {
            column_idx: ts_idx,
            descending: false,
            nulls_first: false,
        }]))
        .set_key_value_metadata(Some(vec![KeyValue::new(
            "trawl.version".to_string(),
            env!("CARGO_PKG_VERSION").to_string(),
        )]));
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
    b = b.set_column_encoding(ColumnPath::from("eventtime"), Encoding::DELTA_BYTE_ARRAY);
    // Random IDs (UUIDs): with the lengths stored apart, zstd sees only the hex digits.
    for col in ["eventid", "requestid", "sharedeventid"] {
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

/// Sorts rows by event time (unparseable times last, ties in arrival order).
pub fn sort_by_time(batch: &RecordBatch) -> Result<RecordBatch, arrow::error::ArrowError> {
    let ts = batch
        .column_by_name(COL_EVENTTIME_TS)
        .expect("eventtime_ts column");
    let indices = lexsort_to_indices(
        &[SortColumn {
            values: ts.clone(),
            options: Some(SortOptions {
                descending: false,
                nulls_first: false,
            }),
        }],
        None,
    )?;
    take_record_batch(batch, &indices)
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
}

/// The dedup key of an eventID.
pub fn id_hash(event_id: &str) -> u64 {
    xxhash_rust::xxh3::xxh3_64(event_id.as_bytes())
}

/// Writes `batches` (one partition's rows, in [`trawl_schema::ingest_schema`]) sorted by time,
/// consuming them,
/// to `path` as a lake file, fsynced; the content hashes go to [`Written::index`].
pub fn write_file(
    path: &Path,
    batches: Vec<RecordBatch>,
    row_group_rows: usize,
) -> Result<Written, LakeError> {
    let arrow_err = |source| LakeError::Arrow {
        path: path.into(),
        source,
    };
    // Each copy is dropped as soon as the next exists: memory holds at most two.
    let all = concat_batches(&ingest_schema(), &batches).map_err(arrow_err)?;
    drop(batches);
    let sorted = sort_by_time(&all).map_err(arrow_err)?;
    drop(all);
    let ts = sorted
        .column_by_name(COL_EVENTTIME_TS)
        .expect("eventtime_ts")
        .as_primitive::<TimestampMicrosecondType>();
    let valid: Vec<i64> = ts.iter().flatten().collect();
    let (min_time, max_time) = (
        valid.first().map(|t| format_canonical(*t)),
        valid.last().map(|t| format_canonical(*t)),
    );
    let ids = sorted
        .column_by_name("eventid")
        .expect("eventid")
        .as_string::<i32>();
    let hashes = sorted
        .column_by_name(COL_HASH)
        .expect("trawl_hash")
        .as_primitive::<Int64Type>();
    let index = (0..sorted.num_rows())
        .filter(|&i| ids.is_valid(i))
        .map(|i| (id_hash(ids.value(i)), hashes.value(i) as u64))
        .collect();
    let lake_schema = arrow_schema();
    let lake_batch = sorted
        .project(&(0..lake_schema.fields().len()).collect::<Vec<_>>())
        .map_err(arrow_err)?;
    let failed = IoFailure::default();
    let file = HashingWriter::new(File::create(path).at(path)?, failed.clone());
    // A write that failed for an I/O reason (a full disk) is reported as that I/O error.
    let parquet_err = |source| match failed.lock().expect("io failure lock").take() {
        Some(io) => LakeError::Io {
            path: path.into(),
            source: io,
        },
        None => LakeError::Parquet {
            path: path.into(),
            source,
        },
    };
    let w = ArrowWriter::try_new(
        file,
        Arc::clone(&lake_schema),
        Some(properties(sorted.num_rows(), row_group_rows)),
    )
    .map_err(parquet_err)?;
    // The Arrow writer has put the Arrow schema in the file's metadata; its row groups are
    // written here, their columns encoded on every core.
    let (mut w, factory) = w.into_serialized_writer().map_err(parquet_err)?;
    let step = row_group_rows.max(1);
    for (n, start) in (0..lake_batch.num_rows()).step_by(step).enumerate() {
        let rows = lake_batch.slice(start, step.min(lake_batch.num_rows() - start));
        let writers = factory.create_column_writers(n).map_err(parquet_err)?;
        let chunks = encode_columns(&rows, writers).map_err(parquet_err)?;
        let mut group = w.next_row_group().map_err(parquet_err)?;
        for chunk in chunks {
            chunk.append_to_row_group(&mut group).map_err(parquet_err)?;
        }
        group.close().map_err(parquet_err)?;
    }
    crate::crash_point("lake::parquet-footer");
    let written = w.into_inner().map_err(parquet_err)?;
    written.file.sync_all().at(path)?;
    Ok(Written {
        rows: sorted.num_rows() as u64,
        bytes: written.bytes,
        min_time,
        max_time,
        xxh3: format!("{:016x}", written.hasher.digest()),
        index,
    })
}

/// Encodes the columns of one row group on every core, biggest first; the chunks come back
/// in column order.
fn encode_columns(
    rows: &RecordBatch,
    writers: Vec<ArrowColumnWriter>,
) -> Result<Vec<ArrowColumnChunk>, ParquetError> {
    // Leaves in column order (a nested column has several), each with its column's size:
    // the order to encode them in.
    let mut leaves = Vec::with_capacity(writers.len());
    let mut sizes = Vec::with_capacity(writers.len());
    for (field, column) in rows.schema().fields().iter().zip(rows.columns()) {
        let of_column = compute_leaves(field, column)?;
        sizes.extend(std::iter::repeat_n(
            column.get_array_memory_size(),
            of_column.len(),
        ));
        leaves.extend(of_column);
    }
    if leaves.len() != writers.len() {
        return Err(ParquetError::General(format!(
            "{} leaf columns for {} column writers",
            leaves.len(),
            writers.len()
        )));
    }
    let mut tasks: Vec<(usize, ArrowColumnWriter, ArrowLeafColumn)> = writers
        .into_iter()
        .zip(leaves)
        .enumerate()
        .map(|(i, (w, leaf))| (i, w, leaf))
        .collect();
    tasks.sort_by_key(|(i, _, _)| std::cmp::Reverse(sizes[*i]));
    let mut done = on_cores(tasks, |(i, mut w, leaf)| {
        w.write(&leaf)?;
        Ok::<_, ParquetError>((i, w.close()?))
    })?;
    done.sort_by_key(|(i, _)| *i);
    Ok(done.into_iter().map(|(_, chunk)| chunk).collect())
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
    for (id, content) in pairs {
        out.extend_from_slice(&id.to_le_bytes());
        out.extend_from_slice(&content.to_le_bytes());
    }
    out
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
    Ok(bytes
        .chunks_exact(16)
        .map(|c| {
            let (a, b) = c.split_at(8);
            (
                u64::from_le_bytes(a.try_into().expect("8 bytes")),
                u64::from_le_bytes(b.try_into().expect("8 bytes")),
            )
        })
        .collect())
}
