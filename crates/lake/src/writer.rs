//! Parquet files of the lake: zstd, rows sorted by event time, statistics, bloom filters
//! on the lookup columns.

use std::fs::File;
use std::path::Path;
use std::sync::Arc;

use arrow::array::{Array, AsArray, RecordBatch};
use arrow::compute::{
    SortColumn, SortOptions, concat_batches, lexsort_to_indices, take_record_batch,
};
use arrow::datatypes::TimestampMicrosecondType;
use parquet::arrow::ArrowWriter;
use parquet::basic::{Compression, ZstdLevel};
use parquet::file::metadata::{KeyValue, SortingColumn};
use parquet::file::properties::{EnabledStatistics, WriterProperties};
use parquet::schema::types::ColumnPath;
use trawl_schema::{BLOOM_COLUMNS, COL_EVENTTIME_TS, arrow_schema, format_canonical};

use crate::error::{IoContext, LakeError};

/// Rows per row group: small enough for row-group pruning to matter within a day.
pub const ROW_GROUP_ROWS: usize = 128 * 1024;

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
    for col in BLOOM_COLUMNS {
        let path = ColumnPath::from(*col);
        b = b
            .set_column_bloom_filter_enabled(path.clone(), true)
            .set_column_bloom_filter_fpp(path.clone(), 0.01)
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
}

/// Writes `batches` (one partition's rows) sorted by time to `path`, fsynced.
pub fn write_file(
    path: &Path,
    batches: &[RecordBatch],
    row_group_rows: usize,
) -> Result<Written, LakeError> {
    let schema = arrow_schema();
    let all = concat_batches(&schema, batches).map_err(|source| LakeError::Arrow {
        path: path.into(),
        source,
    })?;
    let sorted = sort_by_time(&all).map_err(|source| LakeError::Arrow {
        path: path.into(),
        source,
    })?;
    let ts = sorted
        .column_by_name(COL_EVENTTIME_TS)
        .expect("eventtime_ts")
        .as_primitive::<TimestampMicrosecondType>();
    let valid: Vec<i64> = ts.iter().flatten().collect();
    let (min_time, max_time) = (
        valid.first().map(|t| format_canonical(*t)),
        valid.last().map(|t| format_canonical(*t)),
    );
    let file = File::create(path).at(path)?;
    let mut w = ArrowWriter::try_new(
        file,
        Arc::clone(&schema),
        Some(properties(sorted.num_rows(), row_group_rows)),
    )
    .map_err(|source| LakeError::Parquet {
        path: path.into(),
        source,
    })?;
    w.write(&sorted).map_err(|source| LakeError::Parquet {
        path: path.into(),
        source,
    })?;
    let file = w.into_inner().map_err(|source| LakeError::Parquet {
        path: path.into(),
        source,
    })?;
    file.sync_all().at(path)?;
    drop(file);
    let bytes = std::fs::read(path).at(path)?;
    Ok(Written {
        rows: sorted.num_rows() as u64,
        bytes: bytes.len() as u64,
        min_time,
        max_time,
        xxh3: format!("{:016x}", xxhash_rust::xxh3::xxh3_64(&bytes)),
    })
}

/// Reads the `eventid` and `trawl_hash` columns of a lake file (for dedup).
pub fn read_ids(path: &Path) -> Result<Vec<(Option<String>, i64)>, LakeError> {
    use parquet::arrow::ProjectionMask;
    use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
    let file = File::open(path).at(path)?;
    let builder =
        ParquetRecordBatchReaderBuilder::try_new(file).map_err(|source| LakeError::Parquet {
            path: path.into(),
            source,
        })?;
    let schema = builder.parquet_schema();
    let idx: Vec<usize> = ["eventid", trawl_schema::COL_HASH]
        .iter()
        .map(|name| {
            schema
                .columns()
                .iter()
                .position(|c| c.name() == *name)
                .expect("lake file has the column")
        })
        .collect();
    let mask = ProjectionMask::leaves(schema, idx);
    let reader = builder
        .with_projection(mask)
        .build()
        .map_err(|source| LakeError::Parquet {
            path: path.into(),
            source,
        })?;
    let mut out = Vec::new();
    for batch in reader {
        let batch = batch.map_err(|source| LakeError::Arrow {
            path: path.into(),
            source,
        })?;
        let ids = arrow::compute::cast(batch.column(0), &arrow::datatypes::DataType::Utf8)
            .map_err(|source| LakeError::Arrow {
                path: path.into(),
                source,
            })?;
        let ids = ids.as_string::<i32>();
        let hashes = batch
            .column(1)
            .as_primitive::<arrow::datatypes::Int64Type>();
        for i in 0..batch.num_rows() {
            out.push((
                ids.is_valid(i).then(|| ids.value(i).to_string()),
                hashes.value(i),
            ));
        }
    }
    Ok(out)
}
