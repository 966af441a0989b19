//! Time zones as Trino has them. A `timestamp with time zone` is an Arrow timestamp with a
//! zone (`UTC`, `Asia/Tokyo`, `+09:00`); a `timestamp` without one is read in the session zone,
//! UTC (Athena's). Every function here and the formatting ones (`date_format`,
//! `format_datetime`, `to_iso8601`, `CAST(... AS VARCHAR)`) print the wall clock of the
//! value's zone, as `hour()` and `day_of_week()` already do.
//!
//! - `ts AT TIME ZONE zone` and `at_timezone(ts, zone)`: the same instant in `zone` (a
//!   timestamp without zone is taken as UTC first; DataFusion would take its wall clock as
//!   `zone`'s).
//! - `with_timezone(ts, zone)`: the wall clock of `ts` read in `zone`.
//! - `to_iso8601(x)`, `current_timezone()`.

use std::sync::Arc;

use chrono::{DateTime, NaiveDateTime, Offset, TimeZone};
use datafusion::arrow::array::timezone::Tz;
use datafusion::arrow::array::{Array, ArrayRef, AsArray, StringArray, TimestampMicrosecondArray};
use datafusion::arrow::compute::cast;
use datafusion::arrow::datatypes::{DataType, Field, FieldRef, TimeUnit, TimestampMicrosecondType};
use datafusion::common::{ScalarValue, exec_err, plan_err};
use datafusion::error::Result;
use datafusion::logical_expr::{
    ColumnarValue, ReturnFieldArgs, ScalarFunctionArgs, ScalarUDFImpl, Signature, Volatility,
};

/// The zone a type carries (`None`: no zone, read as UTC).
fn zone_of(t: &DataType) -> Option<&str> {
    match t {
        DataType::Timestamp(_, Some(tz)) => Some(tz),
        _ => None,
    }
}

pub(crate) fn parse_zone(name: &str) -> Result<Tz> {
    match name.parse::<Tz>() {
        Ok(tz) => Ok(tz),
        Err(_) => plan_err!(
            "unknown time zone {name:?}: use an IANA name (America/New_York) or an offset (+09:00)"
        ),
    }
}

/// Microseconds since the epoch (UTC instant) of each value of a date or timestamp array;
/// a timestamp without zone is read as UTC.
pub(crate) fn instants(array: &ArrayRef) -> Result<TimestampMicrosecondArray> {
    let target = DataType::Timestamp(
        TimeUnit::Microsecond,
        zone_of(array.data_type()).map(Into::into),
    );
    let a = match array.data_type() {
        DataType::Utf8 | DataType::Utf8View | DataType::LargeUtf8 => {
            return exec_err!(
                "expected a timestamp, got text; parse it with from_iso8601_timestamp(...)"
            );
        }
        _ => cast(array, &target)?,
    };
    Ok(a.as_primitive::<TimestampMicrosecondType>().clone())
}

/// A value as the wall clock of its zone (`zone` None: UTC).
pub(crate) fn local(micros: i64, zone: Option<&Tz>) -> Option<DateTime<Tz>> {
    // Parsed once: this runs for every row a formatter prints.
    static UTC: std::sync::OnceLock<Tz> = std::sync::OnceLock::new();
    let utc = DateTime::from_timestamp_micros(micros)?;
    let tz = zone.unwrap_or_else(|| UTC.get_or_init(|| "UTC".parse().expect("UTC is a zone")));
    Some(utc.with_timezone(tz))
}

/// Trino's text of a timestamp: `2024-03-01 13:04:05.000`, then ` UTC` / ` Asia/Tokyo` for a
/// timestamp with time zone. Milliseconds, the precision of Trino's `timestamp(3)` (what
/// `from_iso8601_timestamp` and `date_parse` return); microseconds when the value has them
/// (`timestamp(6)`), so nothing is cut.
pub(crate) fn trino_timestamp_text(micros: i64, zone: Option<(&Tz, &str)>) -> Option<String> {
    let t = local(micros, zone.map(|(tz, _)| tz))?;
    let fraction = if micros.rem_euclid(1000) == 0 {
        "%.3f"
    } else {
        "%.6f"
    };
    let mut s = t
        .format(&format!("%Y-%m-%d %H:%M:%S{fraction}"))
        .to_string();
    if let Some((_, name)) = zone {
        s.push(' ');
        s.push_str(name);
    }
    Some(s)
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Kind {
    AtTimezone,
    WithTimezone,
    ToIso8601,
    CurrentTimezone,
}

#[derive(Debug, PartialEq, Eq, Hash)]
struct ZoneFn {
    kind: Kind,
    signature: Signature,
}

pub(super) fn functions() -> Vec<Arc<dyn ScalarUDFImpl>> {
    [
        (Kind::AtTimezone, Signature::any(2, Volatility::Immutable)),
        (Kind::WithTimezone, Signature::any(2, Volatility::Immutable)),
        (Kind::ToIso8601, Signature::any(1, Volatility::Immutable)),
        (
            Kind::CurrentTimezone,
            Signature::nullary(Volatility::Stable),
        ),
    ]
    .into_iter()
    .map(|(kind, signature)| Arc::new(ZoneFn { kind, signature }) as Arc<dyn ScalarUDFImpl>)
    .collect()
}

impl ScalarUDFImpl for ZoneFn {
    fn name(&self) -> &str {
        match self.kind {
            Kind::AtTimezone => "at_timezone",
            Kind::WithTimezone => "with_timezone",
            Kind::ToIso8601 => "to_iso8601",
            Kind::CurrentTimezone => "current_timezone",
        }
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, _: &[DataType]) -> Result<DataType> {
        datafusion::common::internal_err!("{}: use return_field_from_args", self.name())
    }

    fn return_field_from_args(&self, args: ReturnFieldArgs) -> Result<FieldRef> {
        let t = match self.kind {
            Kind::AtTimezone | Kind::WithTimezone => {
                let zone = match args.scalar_arguments.get(1) {
                    Some(Some(s)) => s.try_as_str().flatten().map(str::to_string),
                    _ => None,
                };
                let Some(zone) = zone else {
                    return plan_err!(
                        "{}: the time zone must be a constant string, e.g. 'America/New_York'",
                        self.name()
                    );
                };
                parse_zone(&zone)?;
                match args.arg_fields[0].data_type() {
                    DataType::Timestamp(..)
                    | DataType::Date32
                    | DataType::Date64
                    | DataType::Null => {}
                    other => {
                        return plan_err!(
                            "{}: expected a timestamp, got {other}; parse text with from_iso8601_timestamp(...) first",
                            self.name()
                        );
                    }
                }
                DataType::Timestamp(TimeUnit::Microsecond, Some(zone.into()))
            }
            Kind::ToIso8601 | Kind::CurrentTimezone => DataType::Utf8,
        };
        Ok(Arc::new(Field::new(self.name(), t, true)))
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let rows = args.number_rows;
        match self.kind {
            Kind::CurrentTimezone => Ok(ColumnarValue::Scalar(ScalarValue::Utf8(Some(
                "UTC".to_string(),
            )))),
            Kind::AtTimezone => {
                let DataType::Timestamp(_, Some(zone)) = args.return_field.data_type() else {
                    return exec_err!("at_timezone returns a timestamp with time zone");
                };
                let input = args.args[0].to_array(rows)?;
                let out = instants(&input)?.with_timezone(zone.clone());
                Ok(ColumnarValue::Array(Arc::new(out)))
            }
            Kind::WithTimezone => {
                let DataType::Timestamp(_, Some(zone)) = args.return_field.data_type() else {
                    return exec_err!("with_timezone returns a timestamp with time zone");
                };
                let tz = parse_zone(zone)?;
                let input = args.args[0].to_array(rows)?;
                let from = zone_of(input.data_type()).map(parse_zone).transpose()?;
                let micros = instants(&input)?;
                let mut out = Vec::with_capacity(rows);
                for t in micros.iter() {
                    out.push(match t {
                        None => None,
                        Some(t) => {
                            let wall: NaiveDateTime = local(t, from.as_ref())
                                .map(|d| d.naive_local())
                                .ok_or_else(|| {
                                    datafusion::error::DataFusionError::Execution(format!(
                                        "with_timezone: timestamp {t} out of range"
                                    ))
                                })?;
                            // A wall clock skipped by a DST change moves forward, as in Java.
                            tz.from_local_datetime(&wall)
                                .earliest()
                                .or_else(|| {
                                    tz.from_local_datetime(&(wall + chrono::Duration::hours(1)))
                                        .earliest()
                                })
                                .map(|d| d.timestamp_micros())
                        }
                    });
                }
                let out = TimestampMicrosecondArray::from(out).with_timezone(zone.clone());
                Ok(ColumnarValue::Array(Arc::new(out)))
            }
            Kind::ToIso8601 => {
                let input = args.args[0].to_array(rows)?;
                let out: StringArray = match input.data_type() {
                    DataType::Date32 | DataType::Date64 => {
                        let d = cast(&input, &DataType::Date32)?;
                        let d = d.as_primitive::<datafusion::arrow::datatypes::Date32Type>();
                        d.iter()
                            .map(|v| {
                                let day = chrono::NaiveDate::from_ymd_opt(1970, 1, 1)?
                                    .checked_add_signed(chrono::Duration::days(i64::from(v?)))?;
                                Some(day.format("%Y-%m-%d").to_string())
                            })
                            .collect()
                    }
                    DataType::Timestamp(_, zone) => {
                        let tz = zone.as_deref().map(parse_zone).transpose()?;
                        let micros = instants(&input)?;
                        micros
                            .iter()
                            .map(|t| {
                                let d = local(t?, tz.as_ref())?;
                                let mut s = d.format("%Y-%m-%dT%H:%M:%S%.3f").to_string();
                                if tz.is_some() {
                                    let off = d.offset().fix().local_minus_utc();
                                    if off == 0 {
                                        s.push('Z');
                                    } else {
                                        s.push_str(&d.format("%:z").to_string());
                                    }
                                }
                                Some(s)
                            })
                            .collect()
                    }
                    other => {
                        return plan_err!("to_iso8601: expected a date or timestamp, got {other}");
                    }
                };
                Ok(ColumnarValue::Array(Arc::new(out)))
            }
        }
    }
}

/// A Teradata format (`yyyy-mm-dd hh24:mi:ss`, Trino's `to_char`/`to_date`/`to_timestamp`)
/// as chrono's; the elements are `yyyy yy mm dd hh hh24 mi ss` and punctuation.
pub(crate) fn teradata_format(fmt: &str) -> std::result::Result<String, String> {
    let lower = fmt.to_ascii_lowercase();
    let mut out = String::new();
    let mut rest = lower.as_str();
    while !rest.is_empty() {
        let (element, len) = [
            ("yyyy", "%Y"),
            ("yy", "%y"),
            ("mm", "%m"),
            ("dd", "%d"),
            ("hh24", "%H"),
            ("hh", "%I"),
            ("mi", "%M"),
            ("ss", "%S"),
        ]
        .iter()
        .find(|(e, _)| rest.starts_with(e))
        .map_or((None, 1), |(e, c)| (Some(*c), e.len()));
        match element {
            Some(c) => out.push_str(c),
            None => {
                let c = rest.chars().next().expect("not empty");
                if !matches!(c, '-' | '/' | ',' | '.' | ';' | ':' | ' ') {
                    return Err(format!(
                        "format {fmt:?}: {c:?} is not a Teradata format element (yyyy yy mm dd hh hh24 mi ss and - / , . ; : space)"
                    ));
                }
                out.push(c);
            }
        }
        rest = &rest[len..];
    }
    Ok(out)
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Teradata {
    Char,
    Date,
    Timestamp,
}

/// Trino's Teradata functions, `to_char(t, fmt)`, `to_date(s, fmt)`, `to_timestamp(s, fmt)`
/// (DataFusion's namesakes take chrono formats and would print `yyyy-mm-dd` as written).
#[derive(Debug, PartialEq, Eq, Hash)]
struct TeradataFn {
    kind: Teradata,
    signature: Signature,
}

pub(super) fn teradata_functions() -> Vec<Arc<dyn ScalarUDFImpl>> {
    [Teradata::Char, Teradata::Date, Teradata::Timestamp]
        .into_iter()
        .map(|kind| {
            Arc::new(TeradataFn {
                kind,
                signature: Signature::any(2, Volatility::Immutable),
            }) as Arc<dyn ScalarUDFImpl>
        })
        .collect()
}

impl ScalarUDFImpl for TeradataFn {
    fn name(&self) -> &str {
        match self.kind {
            Teradata::Char => "to_char",
            Teradata::Date => "to_date",
            Teradata::Timestamp => "to_timestamp",
        }
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, _: &[DataType]) -> Result<DataType> {
        Ok(match self.kind {
            Teradata::Char => DataType::Utf8,
            Teradata::Date => DataType::Date32,
            Teradata::Timestamp => DataType::Timestamp(TimeUnit::Microsecond, None),
        })
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let rows = args.number_rows;
        let Some(Some(fmt)) = super::constant_str(&args.args[1]) else {
            return plan_err!("{}: the format must be a constant string", self.name());
        };
        let chrono_fmt = match teradata_format(&fmt) {
            Ok(f) => f,
            Err(e) => return plan_err!("{}: {e}", self.name()),
        };
        let input = args.args[0].to_array(rows)?;
        let out: ArrayRef = match self.kind {
            Teradata::Char => {
                let zone = zone_of(input.data_type()).map(parse_zone).transpose()?;
                let micros = instants(&input)?;
                let text: StringArray = micros
                    .iter()
                    .map(|t| Some(local(t?, zone.as_ref())?.format(&chrono_fmt).to_string()))
                    .collect();
                Arc::new(text)
            }
            Teradata::Date | Teradata::Timestamp => {
                // Without AM/PM (which Teradata formats lack), hh reads 01-12 as the morning.
                let chrono_fmt = chrono_fmt.replace("%I", "%H");
                let has_time = ["%H", "%M", "%S"].iter().any(|t| chrono_fmt.contains(t));
                let text = cast(&input, &DataType::Utf8)?;
                let mut out = Vec::with_capacity(rows);
                for s in text.as_string::<i32>().iter() {
                    out.push(match s {
                        None => None,
                        Some(s) => {
                            let parsed = if has_time {
                                NaiveDateTime::parse_from_str(s, &chrono_fmt)
                            } else {
                                chrono::NaiveDate::parse_from_str(s, &chrono_fmt)
                                    .map(|d| d.and_hms_opt(0, 0, 0).expect("midnight"))
                            };
                            match parsed {
                                Ok(t) => Some(t.and_utc().timestamp_micros()),
                                Err(e) => {
                                    return exec_err!(
                                        "{}: {s:?} does not match the format {fmt:?}: {e}",
                                        self.name()
                                    );
                                }
                            }
                        }
                    });
                }
                let micros = TimestampMicrosecondArray::from(out);
                if self.kind == Teradata::Date {
                    cast(&micros, &DataType::Date32)?
                } else {
                    Arc::new(micros)
                }
            }
        };
        Ok(ColumnarValue::Array(out))
    }
}
