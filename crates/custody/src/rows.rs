//! Which source object each event row came from: the lake's `trawl_source` column (Athena's
//! `"$path"`), read with the event time from every committed data file.

use std::collections::HashMap;

use arrow::array::{Array, AsArray};
use arrow::datatypes::TimestampMicrosecondType;
use parquet::arrow::ProjectionMask;
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;

use crate::CustodyError;

/// The rows of one source object.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct SourceRows {
    pub rows: u64,
    /// Event time span, microseconds since the epoch.
    pub min_us: Option<i64>,
    pub max_us: Option<i64>,
}

/// Rows per source object, over the data files of the lake's latest commit.
pub(crate) fn by_source(
    root: &std::path::Path,
    files: &[trawl_lake::DataFile],
) -> Result<HashMap<String, SourceRows>, CustodyError> {
    let mut out: HashMap<String, SourceRows> = HashMap::new();
    for f in files {
        let path = root.join(&f.path);
        let bad = |message: String| CustodyError::Parquet {
            path: path.clone(),
            message: format!("{message}; run `trawl verify` on the lake"),
        };
        let file = std::fs::File::open(&path).map_err(|source| CustodyError::Io {
            path: path.clone(),
            source,
        })?;
        let builder =
            ParquetRecordBatchReaderBuilder::try_new(file).map_err(|e| bad(e.to_string()))?;
        let schema = builder.parquet_schema();
        let wanted: Vec<usize> = (0..schema.num_columns())
            .filter(|&i| {
                let column = schema.column(i);
                let name = column.name();
                name == trawl_schema::COL_SOURCE || name == trawl_schema::COL_EVENTTIME_TS
            })
            .collect();
        let mask = ProjectionMask::leaves(schema, wanted);
        let reader = builder
            .with_projection(mask)
            .build()
            .map_err(|e| bad(e.to_string()))?;
        for batch in reader {
            let batch = batch.map_err(|e| bad(e.to_string()))?;
            let sources = batch
                .column_by_name(trawl_schema::COL_SOURCE)
                .and_then(|c| c.as_string_opt::<i32>())
                .ok_or_else(|| bad(format!("no text column {}", trawl_schema::COL_SOURCE)))?;
            let times = batch
                .column_by_name(trawl_schema::COL_EVENTTIME_TS)
                .and_then(|c| c.as_primitive_opt::<TimestampMicrosecondType>());
            for i in 0..batch.num_rows() {
                if sources.is_null(i) {
                    continue;
                }
                let e = out.entry(sources.value(i).to_string()).or_default();
                e.rows += 1;
                if let Some(t) = times.filter(|t| t.is_valid(i)).map(|t| t.value(i)) {
                    e.min_us = Some(e.min_us.map_or(t, |m| m.min(t)));
                    e.max_us = Some(e.max_us.map_or(t, |m| m.max(t)));
                }
            }
        }
    }
    Ok(out)
}
