//! The rows a compaction merges: each input file read a batch at a time with its content
//! hashes, and the merged rows pending their encoding.

use super::*;

/// The merged rows not yet encoded, as (batch, row) of the batches they come from, where each
/// input's current batch is among those, and the rows already in the open row group.
pub(super) struct Pending {
    pub(super) batches: Vec<RecordBatch>,
    pub(super) slot: Vec<Option<usize>>,
    pub(super) order: Vec<(usize, usize)>,
    pub(super) in_group: usize,
}

impl Pending {
    /// Encodes the pending rows into the open row group, closing it when full.
    pub(super) fn flush(
        &mut self,
        file: &mut writer::FileWriter,
        row_group_rows: usize,
    ) -> Result<(), LakeError> {
        file.record(&self.batches, &self.order);
        let columns = (0..trawl_schema::arrow_schema().fields().len())
            .map(|j| {
                self.batches
                    .iter()
                    .map(|b| Arc::clone(b.column(j)))
                    .collect()
            })
            .collect();
        file.append(columns, &self.order)?;
        self.batches.clear();
        self.slot.iter_mut().for_each(|s| *s = None);
        self.in_group += self.order.len();
        self.order.clear();
        if self.in_group >= row_group_rows {
            file.close_group()?;
            self.in_group = 0;
        }
        Ok(())
    }
}

/// One file being merged: its rows in file order (sorted by event time, unparseable times
/// last), each with its content hash from the file's dedup index (which lists the rows that
/// have an eventID, in file order).
pub(super) struct Input {
    path: PathBuf,
    index_path: PathBuf,
    reader: parquet::arrow::arrow_reader::ParquetRecordBatchReader,
    hashes: std::vec::IntoIter<(u64, u64)>,
    /// The current batch, in the ingest schema, and the next row of it to merge.
    pub(super) batch: Option<RecordBatch>,
    ts: Option<arrow::array::TimestampMicrosecondArray>,
    pub(super) row: usize,
    /// The order the file is sorted in, when not event time alone, and the current batch's
    /// keys in it.
    sort: Option<LayoutOptions>,
    keys: Option<arrow::row::Rows>,
}

/// A row's place in the merge: its event time (unparseable last), or its sort key's bytes.
#[derive(Debug, PartialEq, Eq, PartialOrd, Ord)]
pub(super) enum MergeKey {
    Time(bool, i64),
    Row(arrow::row::OwnedRow),
}

impl Input {
    pub(super) fn open(
        layout: &Layout,
        f: &DataFile,
        batch_rows: usize,
        sort: Option<LayoutOptions>,
    ) -> Result<Input, LakeError> {
        let path = layout.root().join(&f.path);
        let index_path = layout.root().join(&f.index);
        let hashes = writer::read_index(&index_path)?.into_iter();
        let reader = ParquetRecordBatchReaderBuilder::try_new(File::open(&path).at(&path)?)
            .and_then(|b| b.with_batch_size(batch_rows).build())
            .map_err(|source| LakeError::Parquet {
                path: path.clone(),
                source,
            })?;
        Ok(Input {
            path,
            index_path,
            reader,
            hashes,
            batch: None,
            ts: None,
            row: 0,
            sort,
            keys: None,
        })
    }

    pub(super) fn len(&self) -> usize {
        self.batch.as_ref().map_or(0, RecordBatch::num_rows)
    }

    /// The merge key of the current row: unparseable times last.
    pub(super) fn key(&self) -> MergeKey {
        if let Some(keys) = &self.keys {
            return MergeKey::Row(keys.row(self.row).owned());
        }
        let ts = self.ts.as_ref().expect("a current batch");
        if ts.is_valid(self.row) {
            MergeKey::Time(false, ts.value(self.row))
        } else {
            MergeKey::Time(true, 0)
        }
    }

    /// Reads the next non-empty batch; false at the end of the file.
    pub(super) fn advance(&mut self) -> Result<bool, LakeError> {
        self.batch = None;
        self.ts = None;
        self.row = 0;
        for batch in self.reader.by_ref() {
            let batch = batch.map_err(|source| LakeError::Arrow {
                path: self.path.clone(),
                source,
            })?;
            if batch.num_rows() == 0 {
                continue;
            }
            let batch = with_hashes(batch, &mut self.hashes, &self.path, &self.index_path)?;
            self.ts = Some(
                batch
                    .column_by_name(trawl_schema::COL_EVENTTIME_TS)
                    .and_then(|c| {
                        c.as_primitive_opt::<arrow::datatypes::TimestampMicrosecondType>()
                    })
                    .ok_or_else(|| not_trawl(&self.path, trawl_schema::COL_EVENTTIME_TS))?
                    .clone(),
            );
            if let Some(sort) = &self.sort {
                self.keys = Some(
                    sort.sort_keys(std::slice::from_ref(&batch))
                        .map_err(|source| LakeError::Arrow {
                            path: self.path.clone(),
                            source,
                        })?
                        .remove(0),
                );
            }
            self.batch = Some(batch);
            return Ok(true);
        }
        Ok(false)
    }

    /// At the end of the file: its index must have no pair left.
    pub(super) fn check_index_used(&mut self) -> Result<(), LakeError> {
        if self.hashes.next().is_some() {
            return Err(LakeError::BadLog {
                path: self.index_path.clone(),
                message:
                    "the dedup index lists more events than the file holds; run `trawl verify`"
                        .into(),
            });
        }
        Ok(())
    }
}

/// Every row of data file `f`, in the ingest schema (with its content hashes), in stored order.
pub(crate) fn read_all(layout: &Layout, f: &DataFile) -> Result<Vec<RecordBatch>, LakeError> {
    let mut input = Input::open(layout, f, 8192, None)?;
    let mut batches = Vec::new();
    while input.advance()? {
        batches.push(input.batch.take().expect("advanced"));
    }
    input.check_index_used()?;
    Ok(batches)
}

fn not_trawl(path: &std::path::Path, column: &str) -> LakeError {
    LakeError::BadLog {
        path: path.into(),
        message: format!("no {column} column: not a trawl data file"),
    }
}

/// `batch` (the lake's columns) in the ingest schema: with each row's content hash from
/// `hashes`, the file's index pairs, taken in order by the rows that have an eventID.
fn with_hashes(
    batch: RecordBatch,
    hashes: &mut impl Iterator<Item = (u64, u64)>,
    path: &std::path::Path,
    index_path: &std::path::Path,
) -> Result<RecordBatch, LakeError> {
    let ids = batch
        .column_by_name(COL_EVENTID)
        .ok_or_else(|| not_trawl(path, COL_EVENTID))?
        .as_string::<i32>();
    let mut column = Vec::with_capacity(batch.num_rows());
    for r in 0..batch.num_rows() {
        column.push(if ids.is_valid(r) {
            hashes
                .next()
                .ok_or_else(|| LakeError::BadLog {
                    path: index_path.into(),
                    message:
                        "the dedup index lists fewer events than the file holds; run `trawl verify`"
                            .into(),
                })?
                .1 as i64
        } else {
            0
        });
    }
    let mut columns = batch.columns().to_vec();
    columns.push(Arc::new(Int64Array::from(column)));
    let schema: Arc<Schema> = ingest_schema();
    RecordBatch::try_new(schema, columns).map_err(|source| LakeError::Arrow {
        path: path.into(),
        source,
    })
}
