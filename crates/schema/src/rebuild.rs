//! Rebuilds the JSON of a record from its row: the inverse of ingest's mapping.

use arrow::array::{Array, ArrayRef, AsArray, ListArray, MapArray, RecordBatch, StructArray};
use arrow::compute::cast;
use arrow::datatypes::DataType;
use serde_json::{Map, Value};

use crate::{COL_FIXUPS, COL_UNMAPPED, Kind, LEAVES, RESOURCE_KEYS};

/// A row could not be turned back into JSON: the batch does not have the lake's shape.
#[derive(Debug, thiserror::Error)]
pub enum RebuildError {
    #[error("column `{0}` is missing from the batch; rebuild needs every lake column")]
    MissingColumn(String),
    #[error("column `{column}` row {row}: {message}")]
    BadValue {
        column: String,
        row: usize,
        message: String,
    },
}

fn utf8(col: &ArrayRef) -> ArrayRef {
    match col.data_type() {
        DataType::Utf8 => col.clone(),
        _ => cast(col, &DataType::Utf8).expect("string-like column casts to Utf8"),
    }
}

fn str_at(col: &ArrayRef, row: usize) -> Option<&str> {
    let a = col.as_string::<i32>();
    a.is_valid(row).then(|| a.value(row))
}

/// Parses JSON text without serde_json's 128-level recursion limit: the lake holds what
/// simd-json accepted at ingest, up to 1024 levels.
fn parse_json(text: &str) -> serde_json::Result<Value> {
    use serde::Deserialize;
    let mut de = serde_json::Deserializer::from_str(text);
    de.disable_recursion_limit();
    let v = Value::deserialize(&mut de)?;
    de.end()?;
    Ok(v)
}

fn column(batch: &RecordBatch, name: &str) -> Result<ArrayRef, RebuildError> {
    batch
        .column_by_name(name)
        .cloned()
        .ok_or_else(|| RebuildError::MissingColumn(name.to_string()))
}

/// Rebuilds every row of `batch` (which must carry the lake's columns; extra columns
/// are ignored) into the JSON object the record was ingested from.
pub fn rebuild_batch(batch: &RecordBatch) -> Result<Vec<Value>, RebuildError> {
    let leaves: Vec<(ArrayRef, &crate::Leaf)> = LEAVES
        .iter()
        .map(|leaf| {
            let col = column(batch, &leaf.column)?;
            let col = match leaf.kind {
                Kind::StrMap | Kind::Resources => col,
                _ => utf8(&col),
            };
            Ok((col, leaf))
        })
        .collect::<Result<_, RebuildError>>()?;
    let unmapped = utf8(&column(batch, COL_UNMAPPED)?);
    let fixups = utf8(&column(batch, COL_FIXUPS)?);
    (0..batch.num_rows())
        .map(|row| {
            let mut obj = Map::new();
            for (col, leaf) in &leaves {
                if let Some(v) = leaf_value(col, leaf.kind, row) {
                    set_path(&mut obj, &leaf.path, v);
                }
            }
            let parse =
                |col: &ArrayRef, name: &str| -> Result<Option<Map<String, Value>>, RebuildError> {
                    match str_at(col, row) {
                        None => Ok(None),
                        Some(text) => match parse_json(text) {
                            Ok(Value::Object(m)) => Ok(Some(m)),
                            other => Err(RebuildError::BadValue {
                                column: name.to_string(),
                                row,
                                message: format!("expected a JSON object, got {other:?}"),
                            }),
                        },
                    }
                };
            if let Some(extra) = parse(&unmapped, COL_UNMAPPED)? {
                merge(&mut obj, extra);
            }
            if let Some(fix) = parse(&fixups, COL_FIXUPS)? {
                apply_fixups(&mut obj, fix);
            }
            Ok(Value::Object(obj))
        })
        .collect()
}

/// Rebuilds one row; see [`rebuild_batch`].
pub fn rebuild(batch: &RecordBatch, row: usize) -> Result<Value, RebuildError> {
    let one = batch.slice(row, 1);
    Ok(rebuild_batch(&one)?.pop().expect("one row"))
}

fn leaf_value(col: &ArrayRef, kind: Kind, row: usize) -> Option<Value> {
    if col.is_null(row) {
        return None;
    }
    Some(match kind {
        Kind::Str | Kind::Time => Value::String(str_at(col, row)?.to_string()),
        Kind::Bool => match str_at(col, row)? {
            "true" => Value::Bool(true),
            "false" => Value::Bool(false),
            other => Value::String(other.to_string()),
        },
        Kind::Json => {
            let text = str_at(col, row)?;
            parse_json(text).unwrap_or_else(|_| Value::String(text.to_string()))
        }
        Kind::StrMap => {
            let map: &MapArray = col.as_map();
            let entries = map.value(row);
            let keys = utf8(entries.column(0));
            let values = utf8(entries.column(1));
            let mut m = Map::new();
            for i in 0..entries.len() {
                let k = str_at(&keys, i).unwrap_or_default().to_string();
                let v = str_at(&values, i).map_or(Value::Null, |s| Value::String(s.to_string()));
                m.insert(k, v);
            }
            Value::Object(m)
        }
        Kind::Resources => {
            let list: &ListArray = col.as_list();
            let items = list.value(row);
            let items: &StructArray = items.as_struct();
            let cols: Vec<ArrayRef> = items.columns().iter().map(utf8).collect();
            let mut out = Vec::with_capacity(items.len());
            for i in 0..items.len() {
                let mut m = Map::new();
                for (key, c) in RESOURCE_KEYS.iter().zip(&cols) {
                    if let Some(s) = str_at(c, i) {
                        m.insert((*key).to_string(), Value::String(s.to_string()));
                    }
                }
                out.push(Value::Object(m));
            }
            Value::Array(out)
        }
        Kind::Object(_) => unreachable!("objects are not leaves"),
    })
}

fn set_path(obj: &mut Map<String, Value>, path: &[&str], v: Value) {
    let (last, parents) = path.split_last().expect("non-empty path");
    let mut cur = obj;
    for p in parents {
        let entry = cur
            .entry((*p).to_string())
            .or_insert_with(|| Value::Object(Map::new()));
        if !entry.is_object() {
            *entry = Value::Object(Map::new());
        }
        cur = entry.as_object_mut().expect("just made an object");
    }
    cur.insert((*last).to_string(), v);
}

fn merge(into: &mut Map<String, Value>, from: Map<String, Value>) {
    for (k, v) in from {
        match (into.get_mut(&k), v) {
            (Some(Value::Object(dst)), Value::Object(src)) => merge(dst, src),
            (_, v) => {
                into.insert(k, v);
            }
        }
    }
}

fn apply_fixups(obj: &mut Map<String, Value>, fixups: Map<String, Value>) {
    let mut fixes: Vec<(Vec<String>, Value)> = fixups
        .into_iter()
        .map(|(path, fix)| (path.split('.').map(str::to_string).collect(), fix))
        .collect();
    // Children first: renaming a parent key would hide the canonical path of its children.
    fixes.sort_by_key(|(path, _)| std::cmp::Reverse(path.len()));
    for (path, fix) in fixes {
        let (last, parents) = path.split_last().expect("non-empty path");
        let mut cur = &mut *obj;
        for p in parents {
            let entry = cur
                .entry(p.clone())
                .or_insert_with(|| Value::Object(Map::new()));
            if !entry.is_object() {
                *entry = Value::Object(Map::new());
            }
            cur = entry.as_object_mut().expect("just made an object");
        }
        if let Some(v) = fix.get("v") {
            cur.insert(last.clone(), v.clone());
        }
        if let Some(Value::String(original_key)) = fix.get("k")
            && let Some(v) = cur.remove(last)
        {
            cur.insert(original_key.clone(), v);
        }
    }
}
