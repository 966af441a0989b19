//! `from_iso8601_timestamp` and `from_iso8601_date`. Text that is not ISO 8601 gives NULL
//! (Trino raises an error; NULL keeps a query over messy logs running).

use std::sync::Arc;

use datafusion::arrow::array::{AsArray, Date32Array, TimestampMicrosecondArray};
use datafusion::arrow::datatypes::{DataType, TimeUnit};
use datafusion::error::{DataFusionError, Result};
use datafusion::logical_expr::{
    ColumnarValue, ScalarFunctionArgs, ScalarUDFImpl, Signature, Volatility,
};

use super::utf8_arg;

/// The offset an ISO 8601 timestamp gives (`+02:00`), when it is not UTC.
fn offset_of(s: &str) -> Option<String> {
    let t = chrono::DateTime::parse_from_rfc3339(s.trim()).ok()?;
    let seconds = t.offset().local_minus_utc();
    (seconds != 0).then(|| t.format("%:z").to_string())
}

/// Microseconds since the epoch of an ISO 8601 timestamp or date (midnight UTC).
pub(super) fn parse_iso8601(s: &str) -> Option<i64> {
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

    fn return_field_from_args(
        &self,
        args: datafusion::logical_expr::ReturnFieldArgs,
    ) -> Result<datafusion::arrow::datatypes::FieldRef> {
        // Trino keeps the zone the text gives: a constant with an offset other than Z is a
        // timestamp in that offset (a column, one zone for all its rows, stays in UTC).
        let zone = match args.scalar_arguments.first() {
            Some(Some(v)) => v.try_as_str().flatten().and_then(offset_of),
            _ => None,
        };
        let t = if self.date {
            DataType::Date32
        } else {
            DataType::Timestamp(
                TimeUnit::Microsecond,
                Some(zone.unwrap_or_else(|| "UTC".to_string()).into()),
            )
        };
        Ok(Arc::new(datafusion::arrow::datatypes::Field::new(
            self.name(),
            t,
            true,
        )))
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let zone = match args.return_field.data_type() {
            DataType::Timestamp(_, Some(tz)) => tz.clone(),
            _ => "UTC".into(),
        };
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
            Arc::new(micros.with_timezone(zone))
        }))
    }
}

/// Translates a MySQL-style format (Trino's `date_parse`/`date_format`) to chrono's.
pub(super) fn mysql_format(fmt: &str) -> std::result::Result<String, String> {
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

/// Translates a Joda-style pattern (Trino's `parse_datetime`/`format_datetime`) to chrono's.
pub(super) fn joda_format(fmt: &str) -> std::result::Result<String, String> {
    let mut out = String::with_capacity(fmt.len() + 8);
    let chars: Vec<char> = fmt.chars().collect();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        if c == '\'' {
            // 'literal' text; '' is a quote.
            let mut j = i + 1;
            if chars.get(j) == Some(&'\'') {
                out.push('\'');
                i += 2;
                continue;
            }
            while j < chars.len() && chars[j] != '\'' {
                if chars[j] == '%' {
                    out.push('%');
                }
                out.push(chars[j]);
                j += 1;
            }
            i = j + 1;
            continue;
        }
        let mut n = 1;
        while chars.get(i + n) == Some(&c) {
            n += 1;
        }
        i += n;
        if !c.is_ascii_alphabetic() {
            for _ in 0..n {
                if c == '%' {
                    out.push('%');
                }
                out.push(c);
            }
            continue;
        }
        out.push_str(match (c, n) {
            ('y' | 'Y' | 'x', 2) => "%y",
            ('y' | 'Y' | 'x', _) => "%Y",
            ('M', 1) => "%-m",
            ('M', 2) => "%m",
            ('M', 3) => "%b",
            ('M', _) => "%B",
            ('d', 1) => "%-d",
            ('d', _) => "%d",
            ('D', _) => "%j",
            ('H' | 'k', 1) => "%-H",
            ('H' | 'k', _) => "%H",
            ('h' | 'K', 1) => "%-I",
            ('h' | 'K', _) => "%I",
            ('m', 1) => "%-M",
            ('m', _) => "%M",
            ('s', 1) => "%-S",
            ('s', _) => "%S",
            ('S', 1..=3) => "%3f",
            ('S', 4..=6) => "%6f",
            ('S', _) => "%9f",
            ('a', _) => "%p",
            ('E', 1..=3) => "%a",
            ('E', _) => "%A",
            ('Z', 1) => "%z",
            ('Z', _) => "%:z",
            ('z', _) => "%Z",
            _ => {
                return Err(format!("pattern letter {c} of {fmt:?} is not supported"));
            }
        });
    }
    Ok(out)
}

/// `date_parse`/`date_format` (MySQL formats) or, `joda`, `parse_datetime`/`format_datetime`.
#[derive(Debug, PartialEq, Eq, Hash)]
struct DateFn {
    parse: bool,
    joda: bool,
    signature: Signature,
}

pub(super) fn date_functions() -> Vec<Arc<dyn ScalarUDFImpl>> {
    [false, true]
        .into_iter()
        .flat_map(|joda| {
            [
                Arc::new(DateFn {
                    parse: true,
                    joda,
                    signature: Signature::string(2, Volatility::Immutable),
                }) as Arc<dyn ScalarUDFImpl>,
                Arc::new(DateFn {
                    parse: false,
                    joda,
                    signature: Signature::any(2, Volatility::Immutable),
                }),
            ]
        })
        .collect()
}

impl ScalarUDFImpl for DateFn {
    fn name(&self) -> &str {
        match (self.parse, self.joda) {
            (true, false) => "date_parse",
            (false, false) => "date_format",
            (true, true) => "parse_datetime",
            (false, true) => "format_datetime",
        }
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, _: &[DataType]) -> Result<DataType> {
        Ok(if self.parse && self.joda {
            // Trino: timestamp with time zone.
            DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into()))
        } else if self.parse {
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
        let translated = if self.joda {
            joda_format(&fmt)
        } else {
            mysql_format(&fmt)
        };
        let chrono_fmt = match translated {
            Ok(f) => f,
            Err(e) => return datafusion::common::plan_err!("{}: {e}", self.name()),
        };
        let items: Vec<chrono::format::Item> =
            chrono::format::StrftimeItems::new(&chrono_fmt).collect();
        if self.parse {
            let input = utf8_arg(&args.args[0], rows)?;
            let has_time = ["%H", "%I", "%-H", "%-I", "%M", "%S", "%-M", "%-S"]
                .iter()
                .any(|t| chrono_fmt.contains(t));
            let has_offset = chrono_fmt.contains("%z") || chrono_fmt.contains("%:z");
            // The format's items are parsed once, not once per row.
            let parsed: TimestampMicrosecondArray = input
                .as_string::<i32>()
                .iter()
                .map(|s| {
                    let mut p = chrono::format::Parsed::new();
                    chrono::format::parse(&mut p, s?, items.iter()).ok()?;
                    if has_offset {
                        p.to_datetime().ok().map(|t| t.timestamp_micros())
                    } else if has_time {
                        p.to_naive_datetime_with_offset(0)
                            .ok()
                            .map(|t| t.and_utc().timestamp_micros())
                    } else {
                        let d = p.to_naive_date().ok()?;
                        Some(d.and_hms_opt(0, 0, 0)?.and_utc().timestamp_micros())
                    }
                })
                .collect();
            let parsed = if self.joda {
                parsed.with_timezone("UTC")
            } else {
                parsed
            };
            Ok(ColumnarValue::Array(Arc::new(parsed)))
        } else {
            let input = args.args[0].to_array(rows)?;
            // The wall clock of the value's zone (UTC without one), as hour() reads it.
            let zone = match input.data_type() {
                DataType::Timestamp(_, Some(tz)) => Some(super::zones::parse_zone(tz)?),
                _ => None,
            };
            let micros = super::zones::instants(&input)?;
            let mut out = datafusion::arrow::array::StringBuilder::with_capacity(
                micros.len(),
                micros.len() * chrono_fmt.len(),
            );
            for t in micros.iter() {
                match t.and_then(|t| super::zones::local(t, zone.as_ref())) {
                    Some(t) => {
                        use std::fmt::Write;
                        write!(out, "{}", t.format_with_items(items.iter())).map_err(|e| {
                            DataFusionError::Execution(format!("{}: {e}", self.name()))
                        })?;
                        out.append_value("");
                    }
                    None => out.append_null(),
                }
            }
            let out = out.finish();
            Ok(ColumnarValue::Array(Arc::new(out)))
        }
    }
}

/// A `date_add`/`date_diff` unit: fixed length in microseconds, or whole months.
#[derive(Debug, Clone, Copy)]
enum Unit {
    Micros(i64),
    Months(i32),
}

fn unit(name: &str) -> Option<Unit> {
    Some(match name.to_ascii_lowercase().as_str() {
        "millisecond" => Unit::Micros(1_000),
        "second" => Unit::Micros(1_000_000),
        "minute" => Unit::Micros(60_000_000),
        "hour" => Unit::Micros(3_600_000_000),
        "day" => Unit::Micros(86_400_000_000),
        "week" => Unit::Micros(7 * 86_400_000_000),
        "month" => Unit::Months(1),
        "quarter" => Unit::Months(3),
        "year" => Unit::Months(12),
        _ => return None,
    })
}

fn add(t: i64, unit: Unit, n: i64) -> Option<i64> {
    match unit {
        Unit::Micros(u) => t.checked_add(u.checked_mul(n)?),
        Unit::Months(m) => {
            let dt = chrono::DateTime::from_timestamp_micros(t)?.naive_utc();
            let months = n.checked_mul(i64::from(m))?;
            let shifted = if months >= 0 {
                dt.checked_add_months(chrono::Months::new(u32::try_from(months).ok()?))?
            } else {
                dt.checked_sub_months(chrono::Months::new(u32::try_from(-months).ok()?))?
            };
            Some(shifted.and_utc().timestamp_micros())
        }
    }
}

fn diff(a: i64, b: i64, unit: Unit) -> Option<i64> {
    match unit {
        Unit::Micros(u) => Some((b - a) / u),
        Unit::Months(m) => {
            use chrono::{Datelike, Timelike};
            let (x, y) = (
                chrono::DateTime::from_timestamp_micros(a)?,
                chrono::DateTime::from_timestamp_micros(b)?,
            );
            let mut months = (i64::from(y.year()) * 12 + i64::from(y.month()))
                - (i64::from(x.year()) * 12 + i64::from(x.month()));
            // Only whole months count: compare the position inside the month.
            let within = |d: &chrono::DateTime<chrono::Utc>| {
                (d.day(), d.num_seconds_from_midnight(), d.nanosecond())
            };
            if months > 0 && within(&y) < within(&x) {
                months -= 1;
            } else if months < 0 && within(&y) > within(&x) {
                months += 1;
            }
            Some(months / i64::from(m))
        }
    }
}

#[derive(Debug, PartialEq, Eq, Hash)]
struct DateArith {
    diff: bool,
    signature: Signature,
}

pub(super) fn arith_functions() -> Vec<Arc<dyn ScalarUDFImpl>> {
    [false, true]
        .into_iter()
        .map(|diff| {
            Arc::new(DateArith {
                diff,
                signature: Signature::any(3, Volatility::Immutable),
            }) as Arc<dyn ScalarUDFImpl>
        })
        .collect()
}

/// A timestamp or date argument as microseconds since the epoch.
fn micros(arg: &ColumnarValue, rows: usize) -> Result<datafusion::arrow::array::ArrayRef> {
    let array = arg.to_array(rows)?;
    let array = match array.data_type() {
        DataType::Timestamp(_, tz) => datafusion::arrow::compute::cast(
            &array,
            &DataType::Timestamp(TimeUnit::Microsecond, tz.clone()),
        )?,
        _ => datafusion::arrow::compute::cast(
            &array,
            &DataType::Timestamp(TimeUnit::Microsecond, None),
        )?,
    };
    Ok(array)
}

impl ScalarUDFImpl for DateArith {
    fn name(&self) -> &str {
        if self.diff { "date_diff" } else { "date_add" }
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, arg_types: &[DataType]) -> Result<DataType> {
        Ok(match (self.diff, &arg_types[2]) {
            (true, _) => DataType::Int64,
            (false, DataType::Timestamp(_, tz)) => {
                DataType::Timestamp(TimeUnit::Microsecond, tz.clone())
            }
            (false, DataType::Date32 | DataType::Date64) => DataType::Date32,
            (false, other) => {
                return datafusion::common::plan_err!(
                    "date_add takes a timestamp or a date, not {other}"
                );
            }
        })
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let rows = args.number_rows;
        let Some(Some(name)) = super::constant_str(&args.args[0]) else {
            return datafusion::common::plan_err!(
                "{}: the unit must be a constant string such as 'day'",
                self.name()
            );
        };
        let Some(unit) = unit(&name) else {
            return datafusion::common::plan_err!(
                "{}: unknown unit {name:?}; use millisecond, second, minute, hour, day, week, month, quarter or year",
                self.name()
            );
        };
        let last = micros(&args.args[2], rows)?;
        let last_ts = last.as_primitive::<datafusion::arrow::datatypes::TimestampMicrosecondType>();
        if self.diff {
            let first = micros(&args.args[1], rows)?;
            let first =
                first.as_primitive::<datafusion::arrow::datatypes::TimestampMicrosecondType>();
            let out: datafusion::arrow::array::Int64Array = first
                .iter()
                .zip(last_ts.iter())
                .map(|(a, b)| diff(a?, b?, unit))
                .collect();
            return Ok(ColumnarValue::Array(Arc::new(out)));
        }
        let n = datafusion::arrow::compute::cast(&args.args[1].to_array(rows)?, &DataType::Int64)?;
        let n = n.as_primitive::<datafusion::arrow::datatypes::Int64Type>();
        let shifted: TimestampMicrosecondArray = last_ts
            .iter()
            .zip(n.iter())
            .map(|(t, n)| add(t?, unit, n?))
            .collect();
        let out: datafusion::arrow::array::ArrayRef = match args.args[2].data_type() {
            DataType::Timestamp(_, tz) => Arc::new(shifted.with_timezone_opt(tz)),
            _ => datafusion::arrow::compute::cast(&shifted, &DataType::Date32)?,
        };
        Ok(ColumnarValue::Array(out))
    }
}
