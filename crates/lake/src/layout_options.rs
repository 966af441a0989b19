//! How a lake's data files are laid out: the directories below each day, the rows of a row
//! group, and the order of rows in a file. `trawl ingest` and `trawl compact` take them as
//! options; every data file of the log records the options it was written with when they
//! are not the defaults, so the lake's layout is that of its latest files, and compaction
//! knows which files to rewrite into another one.
//!
//! Queries give the same answers on every layout: the table's columns do not change (the
//! directory below the day is not a column; a filter on its column prunes it), only what a
//! query reads does.

use std::fmt;
use std::sync::Arc;

use arrow::array::{Array, ArrayRef, AsArray, RecordBatch};
use arrow::compute::SortOptions;
use arrow::datatypes::DataType;
use arrow::row::{RowConverter, Rows, SortField};
use serde::{Deserialize, Serialize};
use trawl_schema::{COL_EVENTTIME, COL_EVENTTIME_TS, UNKNOWN_PARTITION, arrow_schema};

use crate::writer::ROW_GROUP_ROWS;

/// The directory level below the day (`events/dt=D/<key>=<value>/`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SubPartition {
    /// `account=<recipientAccountId>`.
    Account,
    /// `region=<awsRegion>`.
    Region,
}

impl SubPartition {
    /// The directory key.
    pub fn key(self) -> &'static str {
        match self {
            SubPartition::Account => "account",
            SubPartition::Region => "region",
        }
    }
    /// The table column whose value names the directory.
    pub fn column(self) -> &'static str {
        match self {
            SubPartition::Account => "recipientaccountid",
            SubPartition::Region => "awsregion",
        }
    }
    /// The sub-partition whose directory key is `key`.
    pub fn from_key(key: &str) -> Option<SubPartition> {
        [SubPartition::Account, SubPartition::Region]
            .into_iter()
            .find(|s| s.key() == key)
    }
}

/// The directory value of a column value: the value itself when it is a plain name (letters,
/// digits, `-`, `_`, at most 64), else (NULL, empty, or anything a path or a Hive engine could
/// misread) Hive's NULL partition. A function of the value, so an equality on the column
/// selects exactly one directory.
pub fn partition_value(value: Option<&str>) -> &str {
    match value {
        Some(v)
            if !v.is_empty()
                && v.len() <= 64
                && v.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_') =>
        {
            v
        }
        _ => UNKNOWN_PARTITION,
    }
}

/// The sub-partition directory a data file's path names (`events/dt=D/account=A/...`):
/// its kind and value.
pub fn sub_partition_of(path: &str) -> Option<(SubPartition, &str)> {
    let mut dirs = path.strip_prefix("events/")?.split('/');
    dirs.next()?.strip_prefix("dt=")?;
    let dir = dirs.next()?;
    // A file directly in the day's directory has no sub-partition.
    dirs.next()?;
    let (key, value) = dir.split_once('=')?;
    Some((SubPartition::from_key(key)?, value))
}

/// A layout: see the module docs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LayoutOptions {
    /// The directory level below the day, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sub_partition: Option<SubPartition>,
    /// Rows of a row group, at most.
    pub row_group_rows: usize,
    /// The columns rows are sorted by, ascending, NULLs last; `eventtime` is always last
    /// (appended when not named), so rows of equal keys stay in time order.
    pub sort_by: Vec<String>,
}

impl Default for LayoutOptions {
    fn default() -> Self {
        LayoutOptions {
            sub_partition: None,
            row_group_rows: ROW_GROUP_ROWS,
            sort_by: vec![COL_EVENTTIME.to_string()],
        }
    }
}

impl fmt::Display for LayoutOptions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "partitioned by {}; sorted by {}; row groups of {} rows",
            self.partition_by(),
            self.sort_by.join(", "),
            self.row_group_rows
        )
    }
}

impl LayoutOptions {
    /// A layout from the options' text (`dt`, `dt,account`, `dt,region`; column names), with
    /// what is not given as in `base`. An error says which value is wrong and what is allowed.
    pub fn parse(
        base: &LayoutOptions,
        partition_by: Option<&str>,
        row_group_rows: Option<usize>,
        sort_by: Option<&str>,
    ) -> Result<LayoutOptions, String> {
        let mut out = base.clone();
        if let Some(p) = partition_by {
            let parts: Vec<String> = p
                .split(',')
                .map(|s| s.trim().to_ascii_lowercase())
                .collect();
            out.sub_partition = match parts.iter().map(String::as_str).collect::<Vec<_>>()[..] {
                ["dt"] => None,
                ["dt", "account"] | ["dt", "recipientaccountid"] => Some(SubPartition::Account),
                ["dt", "region"] | ["dt", "awsregion"] => Some(SubPartition::Region),
                _ => {
                    return Err(format!(
                        "--partition-by {p}: the lake is partitioned by `dt`, `dt,account` or `dt,region`"
                    ));
                }
            };
        }
        if let Some(n) = row_group_rows {
            if !(100..=16 * 1024 * 1024).contains(&n) {
                return Err(format!(
                    "--row-group-rows {n}: give between 100 and 16777216 rows (default {ROW_GROUP_ROWS})"
                ));
            }
            out.row_group_rows = n;
        }
        if let Some(s) = sort_by {
            let schema = arrow_schema();
            let mut cols = Vec::new();
            for c in s.split(',').map(|c| c.trim().to_ascii_lowercase()) {
                let sortable = schema.field_with_name(&c).ok().is_some_and(|f| {
                    matches!(
                        f.data_type(),
                        DataType::Utf8
                            | DataType::Boolean
                            | DataType::Int64
                            | DataType::Timestamp(..)
                    )
                });
                if !sortable || c == COL_EVENTTIME_TS || c.starts_with("trawl_") {
                    return Err(format!(
                        "--sort-by {s}: `{c}` is not a column rows can be sorted by; name top-level text columns of cloudtrail_logs, e.g. `eventsource,eventtime`"
                    ));
                }
                if !cols.contains(&c) {
                    cols.push(c);
                }
            }
            cols.retain(|c| c != COL_EVENTTIME);
            cols.push(COL_EVENTTIME.to_string());
            out.sort_by = cols;
        }
        Ok(out)
    }

    /// `dt`, `dt, account` or `dt, region`.
    pub fn partition_by(&self) -> String {
        match self.sub_partition {
            None => "dt".into(),
            Some(s) => format!("dt, {}", s.key()),
        }
    }

    /// Whether rows are sorted by event time alone (the default order).
    pub fn by_time(&self) -> bool {
        self.sort_by.len() == 1 && self.sort_by[0] == COL_EVENTTIME
    }

    /// The layout as a data file records it: nothing for the default one.
    pub fn recorded(&self) -> Option<LayoutOptions> {
        (*self != LayoutOptions::default()).then(|| self.clone())
    }

    /// The lake columns rows are sorted by, in order (`eventtime` sorts by its typed twin).
    pub fn sort_columns(&self) -> Vec<&str> {
        self.sort_by
            .iter()
            .map(|c| {
                if c == COL_EVENTTIME {
                    COL_EVENTTIME_TS
                } else {
                    c.as_str()
                }
            })
            .collect()
    }

    /// The sort keys of `batches` (in the ingest schema or the lake's), comparable across
    /// batches as bytes.
    pub fn sort_keys(
        &self,
        batches: &[RecordBatch],
    ) -> Result<Vec<Rows>, arrow::error::ArrowError> {
        let columns = self.sort_columns();
        let schema = arrow_schema();
        let fields = columns
            .iter()
            .map(|c| {
                let dt = schema.field_with_name(c)?.data_type().clone();
                Ok(SortField::new_with_options(
                    dt,
                    SortOptions {
                        descending: false,
                        nulls_first: false,
                    },
                ))
            })
            .collect::<Result<Vec<_>, arrow::error::ArrowError>>()?;
        let converter = RowConverter::new(fields)?;
        batches
            .iter()
            .map(|b| {
                let arrays = columns
                    .iter()
                    .map(|c| {
                        b.column_by_name(c).cloned().ok_or_else(|| {
                            arrow::error::ArrowError::SchemaError(format!("no column {c}"))
                        })
                    })
                    .collect::<Result<Vec<ArrayRef>, _>>()?;
                converter.convert_columns(&arrays)
            })
            .collect()
    }

    /// Each row's sub-partition directory value (`None` when there is no sub-partition).
    pub fn split(&self, batch: &RecordBatch) -> Option<Vec<Arc<str>>> {
        let sub = self.sub_partition?;
        let col = batch.column_by_name(sub.column())?.as_string::<i32>();
        let mut last: Option<Arc<str>> = None;
        Some(
            (0..batch.num_rows())
                .map(|r| {
                    let v = partition_value(col.is_valid(r).then(|| col.value(r)));
                    match &last {
                        Some(l) if &**l == v => Arc::clone(l),
                        _ => {
                            let a: Arc<str> = v.into();
                            last = Some(Arc::clone(&a));
                            a
                        }
                    }
                })
                .collect(),
        )
    }

    /// The directory below the day for `value`: `account=<value>`.
    pub fn sub_dir(&self, value: &str) -> Option<String> {
        self.sub_partition.map(|s| format!("{}={value}", s.key()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn options_parse_and_say_what_is_wrong() {
        let d = LayoutOptions::default();
        let l =
            LayoutOptions::parse(&d, Some("dt,account"), Some(5000), Some("eventsource")).unwrap();
        assert_eq!(l.sub_partition, Some(SubPartition::Account));
        assert_eq!(l.sort_by, ["eventsource", "eventtime"]);
        assert_eq!(l.row_group_rows, 5000);
        assert_eq!(
            l.to_string(),
            "partitioned by dt, account; sorted by eventsource, eventtime; row groups of 5000 rows"
        );
        assert_eq!(
            LayoutOptions::parse(&l, Some("dt"), None, Some("eventtime")).unwrap(),
            LayoutOptions {
                row_group_rows: 5000,
                ..d.clone()
            }
        );
        assert!(d.recorded().is_none() && l.recorded().is_some());
        for (p, r, s, want) in [
            (Some("account"), None, None, "--partition-by account"),
            (None, Some(10), None, "--row-group-rows 10"),
            (None, None, Some("useridentity"), "`useridentity`"),
            (None, None, Some("trawl_source"), "`trawl_source`"),
        ] {
            let e = LayoutOptions::parse(&d, p, r, s).unwrap_err();
            assert!(e.contains(want), "{e}");
        }
    }

    #[test]
    fn directory_values_are_plain_names_or_the_null_partition() {
        assert_eq!(partition_value(Some("123456789012")), "123456789012");
        assert_eq!(partition_value(Some("us-east-1")), "us-east-1");
        for odd in [
            None,
            Some(""),
            Some("../x"),
            Some("a b"),
            Some("a=b"),
            Some("ü"),
        ] {
            assert_eq!(partition_value(odd), UNKNOWN_PARTITION, "{odd:?}");
        }
        assert_eq!(
            sub_partition_of("events/dt=2024-01-01/region=eu-west-1/part-1.parquet"),
            Some((SubPartition::Region, "eu-west-1"))
        );
        assert_eq!(
            sub_partition_of("events/dt=2024-01-01/part-1.parquet"),
            None
        );
    }
}
