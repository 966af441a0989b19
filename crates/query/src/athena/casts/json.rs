//! The conversions of Trino's JSON type: a value to JSON text (`CAST(x AS JSON)`) and JSON text
//! to a value of any type (`CAST(json AS t)`).

use std::sync::Arc;

use datafusion::arrow::array::{
    Array, ArrayRef, AsArray, ListArray, MapArray, StringArray, StructArray,
};
use datafusion::arrow::buffer::{NullBuffer, OffsetBuffer};
use datafusion::arrow::datatypes::{DataType, Field};
use datafusion::common::{ScalarValue, exec_err};
use datafusion::error::{DataFusionError, Result};
use serde_json::Value;

use super::{is_string, java_double};

/// JSON text of each value (CAST(x AS JSON)); NULL stays NULL.
pub(super) fn to_json_text(input: &ArrayRef) -> Result<ArrayRef> {
    let out: StringArray = match input.data_type() {
        DataType::Null => StringArray::new_null(input.len()),
        t if is_string(t) => {
            let s = datafusion::arrow::compute::cast(input, &DataType::Utf8)?;
            s.as_string::<i32>()
                .iter()
                .map(|v| v.map(|v| Value::String(v.to_string()).to_string()))
                .collect()
        }
        DataType::Float64 | DataType::Float32 => {
            let f = datafusion::arrow::compute::cast(input, &DataType::Float64)?;
            f.as_primitive::<datafusion::arrow::datatypes::Float64Type>()
                .iter()
                .map(|v| {
                    v.map(|v| {
                        serde_json::Number::from_f64(v)
                            .map_or("null".to_string(), |n| n.to_string())
                    })
                })
                .collect()
        }
        t if t.is_integer() || matches!(t, DataType::Boolean | DataType::Decimal128(..)) => {
            let s = datafusion::arrow::compute::cast(input, &DataType::Utf8)?;
            s.as_string::<i32>()
                .iter()
                .map(|v| v.map(str::to_string))
                .collect()
        }
        _ => {
            // Arrays, maps, rows: Arrow's JSON writer, one object {"v": value} a row.
            let batch = datafusion::arrow::record_batch::RecordBatch::try_from_iter([(
                "v",
                input.clone(),
            )])?;
            let mut buf = Vec::new();
            {
                let mut w = datafusion::arrow::json::LineDelimitedWriter::new(&mut buf);
                w.write(&batch)?;
                w.finish()?;
            }
            let text =
                String::from_utf8(buf).map_err(|e| DataFusionError::Execution(e.to_string()))?;
            let mut out = Vec::with_capacity(input.len());
            for (i, line) in text.lines().enumerate() {
                if input.is_null(i) {
                    out.push(None);
                    continue;
                }
                let v: Value = serde_json::from_str(line)
                    .map_err(|e| DataFusionError::Execution(e.to_string()))?;
                out.push(v.get("v").map(Value::to_string));
            }
            StringArray::from(out)
        }
    };
    Ok(Arc::new(out))
}

/// The JSON text of each row parsed (SQL NULL and JSON null are `None`).
fn parse_rows(input: &ArrayRef) -> Result<Vec<Option<Value>>> {
    let s = datafusion::arrow::compute::cast(input, &DataType::Utf8)?;
    s.as_string::<i32>()
        .iter()
        .map(|v| match v {
            None => Ok(None),
            Some(t) => match serde_json::from_str::<Value>(t) {
                Ok(Value::Null) => Ok(None),
                Ok(v) => Ok(Some(v)),
                Err(e) => exec_err!(
                    "invalid JSON {:?}: {e}",
                    t.chars().take(60).collect::<String>()
                ),
            },
        })
        .collect()
}

/// CAST(json AS type).
pub(super) fn from_json(input: &ArrayRef, to: &DataType, try_cast: bool) -> Result<ArrayRef> {
    let rows = parse_rows(input)?;
    let refs: Vec<Option<&Value>> = rows.iter().map(Option::as_ref).collect();
    build(&refs, to, try_cast)
}

fn kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

/// One scalar JSON value as a value of `to`.
fn scalar(v: &Value, to: &DataType) -> std::result::Result<ScalarValue, String> {
    let bad = || format!("Cannot cast JSON {} {} to {to}", kind(v), v);
    let int = |v: &Value| -> std::result::Result<i64, String> {
        match v {
            Value::Number(n) => match n.as_i64() {
                Some(i) => Ok(i),
                None => n
                    .as_f64()
                    .filter(|f| f.is_finite() && f.abs() < 9.2e18)
                    .map(|f| f.round() as i64)
                    .ok_or_else(bad),
            },
            Value::String(s) => s.trim().parse::<i64>().map_err(|_| bad()),
            Value::Bool(b) => Ok(i64::from(*b)),
            _ => Err(bad()),
        }
    };
    Ok(match to {
        DataType::Utf8 => match v {
            Value::String(s) => ScalarValue::Utf8(Some(s.clone())),
            Value::Bool(b) => ScalarValue::Utf8(Some(b.to_string())),
            Value::Number(n) => ScalarValue::Utf8(Some(match n.as_i64().or(None) {
                Some(i) => i.to_string(),
                None if n.is_u64() => n.to_string(),
                None => java_double(n.as_f64().unwrap_or(f64::NAN)),
            })),
            _ => return Err(bad()),
        },
        DataType::Boolean => ScalarValue::Boolean(Some(match v {
            Value::Bool(b) => *b,
            Value::Number(n) => n.as_f64().is_some_and(|f| f != 0.0),
            Value::String(s) => match s.trim().to_ascii_lowercase().as_str() {
                "true" | "t" | "1" => true,
                "false" | "f" | "0" => false,
                _ => return Err(bad()),
            },
            _ => return Err(bad()),
        })),
        DataType::Float64 | DataType::Float32 => {
            let f = match v {
                Value::Number(n) => n.as_f64().ok_or_else(bad)?,
                Value::String(s) => s.trim().parse::<f64>().map_err(|_| bad())?,
                Value::Bool(b) => f64::from(u8::from(*b)),
                _ => return Err(bad()),
            };
            if *to == DataType::Float32 {
                ScalarValue::Float32(Some(f as f32))
            } else {
                ScalarValue::Float64(Some(f))
            }
        }
        DataType::Int64 => ScalarValue::Int64(Some(int(v)?)),
        DataType::Int32 => ScalarValue::Int32(Some(i32::try_from(int(v)?).map_err(|_| bad())?)),
        DataType::Int16 => ScalarValue::Int16(Some(i16::try_from(int(v)?).map_err(|_| bad())?)),
        DataType::Int8 => ScalarValue::Int8(Some(i8::try_from(int(v)?).map_err(|_| bad())?)),
        other => {
            let text = match v {
                Value::String(s) => s.clone(),
                Value::Number(n) => n.to_string(),
                Value::Bool(b) => b.to_string(),
                _ => return Err(bad()),
            };
            ScalarValue::Utf8(Some(text))
                .cast_to(other)
                .map_err(|_| bad())?
        }
    })
}

/// [`build`] for the values of `field`: JSON text when the field holds JSON values (the
/// elements of `array(json)`, a `map(varchar, json)`'s values), as in Trino, where any JSON
/// value fits.
fn build_field(values: &[Option<&Value>], field: &Field, try_cast: bool) -> Result<ArrayRef> {
    if super::is_json(field) {
        let text: StringArray = values.iter().map(|v| v.map(Value::to_string)).collect();
        return Ok(Arc::new(text));
    }
    build(values, field.data_type(), try_cast)
}

/// The values (`None` for NULL) as an array of `to`; a value that does not fit is an error,
/// or with `try_cast` NULL.
fn build(values: &[Option<&Value>], to: &DataType, try_cast: bool) -> Result<ArrayRef> {
    let fail = |msg: String| -> Result<()> {
        if try_cast {
            Ok(())
        } else {
            Err(DataFusionError::Execution(format!(
                "{msg}; TRY_CAST gives NULL instead"
            )))
        }
    };
    let nulls_of = |present: &[bool]| NullBuffer::from(present.to_vec());
    match to {
        DataType::List(field) => {
            let mut offsets = vec![0i32];
            let mut present = Vec::with_capacity(values.len());
            let mut children: Vec<Option<&Value>> = Vec::new();
            for v in values {
                match v {
                    Some(Value::Array(items)) => {
                        children.extend(items.iter().map(|i| (!i.is_null()).then_some(i)));
                        present.push(true);
                    }
                    None => present.push(false),
                    Some(other) => {
                        fail(format!("Cannot cast JSON {} to {to}", kind(other)))?;
                        present.push(false);
                    }
                }
                offsets.push(children.len() as i32);
            }
            let child = build_field(&children, field, try_cast)?;
            Ok(Arc::new(ListArray::try_new(
                field.clone(),
                OffsetBuffer::new(offsets.into()),
                child,
                Some(nulls_of(&present)),
            )?))
        }
        DataType::Map(entries, sorted) => {
            let DataType::Struct(kv) = entries.data_type() else {
                return exec_err!("map entries are a struct");
            };
            let mut offsets = vec![0i32];
            let mut present = Vec::with_capacity(values.len());
            let mut keys: Vec<Option<Value>> = Vec::new();
            let mut vals: Vec<Option<&Value>> = Vec::new();
            for v in values {
                match v {
                    Some(Value::Object(o)) => {
                        for (k, val) in o {
                            keys.push(Some(Value::String(k.clone())));
                            vals.push((!val.is_null()).then_some(val));
                        }
                        present.push(true);
                    }
                    None => present.push(false),
                    Some(other) => {
                        fail(format!("Cannot cast JSON {} to {to}", kind(other)))?;
                        present.push(false);
                    }
                }
                offsets.push(keys.len() as i32);
            }
            let key_refs: Vec<Option<&Value>> = keys.iter().map(Option::as_ref).collect();
            let k = build(&key_refs, kv[0].data_type(), false)?;
            let val = build_field(&vals, &kv[1], try_cast)?;
            let entries_array = StructArray::try_new(kv.clone(), vec![k, val], None)?;
            Ok(Arc::new(MapArray::try_new(
                entries.clone(),
                OffsetBuffer::new(offsets.into()),
                entries_array,
                Some(nulls_of(&present)),
                *sorted,
            )?))
        }
        DataType::Struct(fields) => {
            let mut present = Vec::with_capacity(values.len());
            let mut columns: Vec<Vec<Option<&Value>>> = vec![Vec::new(); fields.len()];
            for v in values {
                let row: Option<Vec<Option<&Value>>> = match v {
                    Some(Value::Object(o)) => Some(
                        fields
                            .iter()
                            .map(|f| {
                                o.iter()
                                    .find(|(k, _)| k.eq_ignore_ascii_case(f.name()))
                                    .map(|(_, v)| v)
                                    .filter(|v| !v.is_null())
                            })
                            .collect(),
                    ),
                    Some(Value::Array(a)) if a.len() == fields.len() => {
                        Some(a.iter().map(|v| (!v.is_null()).then_some(v)).collect())
                    }
                    None => None,
                    Some(other) => {
                        fail(format!("Cannot cast JSON {} to {to}", kind(other)))?;
                        None
                    }
                };
                present.push(row.is_some());
                match row {
                    Some(r) => r.into_iter().zip(&mut columns).for_each(|(v, c)| c.push(v)),
                    None => columns.iter_mut().for_each(|c| c.push(None)),
                }
            }
            let children = fields
                .iter()
                .zip(&columns)
                .map(|(f, c)| build_field(c, f, try_cast))
                .collect::<Result<Vec<_>>>()?;
            Ok(Arc::new(StructArray::try_new(
                fields.clone(),
                children,
                Some(nulls_of(&present)),
            )?))
        }
        _ => {
            let mut out = Vec::with_capacity(values.len());
            for v in values {
                out.push(match v {
                    None => ScalarValue::try_from(to)?,
                    Some(v) => match scalar(v, to) {
                        Ok(s) => s,
                        Err(msg) => {
                            fail(msg)?;
                            ScalarValue::try_from(to)?
                        }
                    },
                });
            }
            if out.is_empty() {
                return Ok(datafusion::arrow::array::new_empty_array(to));
            }
            ScalarValue::iter_to_array(out)
        }
    }
}
