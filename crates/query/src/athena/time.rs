//! `from_iso8601_timestamp` and `from_iso8601_date`. Text that is not ISO 8601 gives NULL
//! (Trino raises an error; NULL keeps a query over messy logs running).

use std::sync::Arc;

use datafusion::arrow::array::{AsArray, Date32Array, TimestampMicrosecondArray};
use datafusion::arrow::datatypes::{DataType, TimeUnit};
use datafusion::error::Result;
use datafusion::logical_expr::{
    ColumnarValue, ScalarFunctionArgs, ScalarUDFImpl, Signature, Volatility,
};

use super::utf8_arg;

/// Microseconds since the epoch of an ISO 8601 timestamp or date (midnight UTC).
pub fn parse_iso8601(s: &str) -> Option<i64> {
    let s = s.trim();
    if let Some(t) = trawl_schema::parse_event_time(s) {
        return Some(t.micros);
    }
    let d = chrono::NaiveDate::parse_from_str(s, "%Y-%m-%d").ok()?;
    Some(d.and_hms_opt(0, 0, 0)?.and_utc().timestamp_micros())
}

#[derive(Debug, PartialEq, Eq, Hash)]
struct FromIso8601 {
    date: bool,
    signature: Signature,
}

pub(super) fn functions() -> Vec<Arc<dyn ScalarUDFImpl>> {
    [false, true]
        .into_iter()
        .map(|date| {
            Arc::new(FromIso8601 {
                date,
                signature: Signature::string(1, Volatility::Immutable),
            }) as Arc<dyn ScalarUDFImpl>
        })
        .collect()
}

impl ScalarUDFImpl for FromIso8601 {
    fn name(&self) -> &str {
        if self.date {
            "from_iso8601_date"
        } else {
            "from_iso8601_timestamp"
        }
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, _: &[DataType]) -> Result<DataType> {
        Ok(if self.date {
            DataType::Date32
        } else {
            DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into()))
        })
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let input = utf8_arg(&args.args[0], args.number_rows)?;
        let strings = input.as_string::<i32>();
        Ok(ColumnarValue::Array(if self.date {
            let days: Date32Array = strings
                .iter()
                .map(|s| {
                    let s = s?.trim();
                    let date = s
                        .get(..10)
                        .filter(|_| s.len() == 10 || s.as_bytes()[10] == b'T')?;
                    let d = chrono::NaiveDate::parse_from_str(date, "%Y-%m-%d").ok()?;
                    Some((d - chrono::NaiveDate::from_ymd_opt(1970, 1, 1)?).num_days() as i32)
                })
                .collect();
            Arc::new(days)
        } else {
            let micros: TimestampMicrosecondArray =
                strings.iter().map(|s| parse_iso8601(s?)).collect();
            Arc::new(micros.with_timezone("UTC"))
        }))
    }
}

/// Translates a MySQL-style format (Trino's `date_parse`/`date_format`) to chrono's.
pub fn mysql_format(fmt: &str) -> std::result::Result<String, String> {
    let mut out = String::with_capacity(fmt.len() + 8);
    let mut chars = fmt.chars();
    while let Some(c) = chars.next() {
        if c != '%' {
            out.push(c);
            continue;
        }
        let spec = chars
            .next()
            .ok_or_else(|| format!("format {fmt:?} ends with a lone %"))?;
        out.push_str(match spec {
            'Y' => "%Y",
            'y' => "%y",
            'm' => "%m",
            'c' => "%-m",
            'd' => "%d",
            'e' => "%-d",
            'H' => "%H",
            'k' => "%-H",
            'h' | 'I' => "%I",
            'l' => "%-I",
            'i' => "%M",
            's' | 'S' => "%S",
            'f' => "%6f",
            'p' => "%p",
            'T' => "%H:%M:%S",
            'r' => "%I:%M:%S %p",
            'M' => "%B",
            'b' => "%b",
            'W' => "%A",
            'a' => "%a",
            'j' => "%j",
            'v' => "%V",
            'x' => "%G",
            '%' => "%%",
            other => {
                return Err(format!(
                    "format specifier %{other} of {fmt:?} is not supported"
                ));
            }
        });
    }
    Ok(out)
}

#[derive(Debug, PartialEq, Eq, Hash)]
struct DateFn {
    parse: bool,
    signature: Signature,
}

pub(super) fn date_functions() -> Vec<Arc<dyn ScalarUDFImpl>> {
    vec![
        Arc::new(DateFn {
            parse: true,
            signature: Signature::string(2, Volatility::Immutable),
        }),
        Arc::new(DateFn {
            parse: false,
            signature: Signature::any(2, Volatility::Immutable),
        }),
    ]
}

impl ScalarUDFImpl for DateFn {
    fn name(&self) -> &str {
        if self.parse {
            "date_parse"
        } else {
            "date_format"
        }
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, _: &[DataType]) -> Result<DataType> {
        Ok(if self.parse {
            DataType::Timestamp(TimeUnit::Microsecond, None)
        } else {
            DataType::Utf8
        })
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let rows = args.number_rows;
        let Some(Some(fmt)) = super::constant_str(&args.args[1]) else {
            return datafusion::common::plan_err!(
                "{}: the format must be a constant string",
                self.name()
            );
        };
        let chrono_fmt = match mysql_format(&fmt) {
            Ok(f) => f,
            Err(e) => return datafusion::common::plan_err!("{}: {e}", self.name()),
        };
        let items: Vec<chrono::format::Item> =
            chrono::format::StrftimeItems::new(&chrono_fmt).collect();
        if self.parse {
            let input = utf8_arg(&args.args[0], rows)?;
            let has_time = ["%H", "%I", "%-H", "%-I", "%M", "%S"]
                .iter()
                .any(|t| chrono_fmt.contains(t));
            let parsed: TimestampMicrosecondArray = input
                .as_string::<i32>()
                .iter()
                .map(|s| {
                    let s = s?;
                    if has_time {
                        chrono::NaiveDateTime::parse_from_str(s, &chrono_fmt)
                            .ok()
                            .map(|t| t.and_utc().timestamp_micros())
                    } else {
                        let d = chrono::NaiveDate::parse_from_str(s, &chrono_fmt).ok()?;
                        Some(d.and_hms_opt(0, 0, 0)?.and_utc().timestamp_micros())
                    }
                })
                .collect();
            Ok(ColumnarValue::Array(Arc::new(parsed)))
        } else {
            let input = args.args[0].to_array(rows)?;
            let micros = datafusion::arrow::compute::cast(
                &input,
                &DataType::Timestamp(TimeUnit::Microsecond, None),
            )?;
            let micros =
                micros.as_primitive::<datafusion::arrow::datatypes::TimestampMicrosecondType>();
            let out: datafusion::arrow::array::StringArray = micros
                .iter()
                .map(|t| {
                    let t = chrono::DateTime::from_timestamp_micros(t?)?.naive_utc();
                    Some(t.format_with_items(items.iter()).to_string())
                })
                .collect();
            Ok(ColumnarValue::Array(Arc::new(out)))
        }
    }
}
