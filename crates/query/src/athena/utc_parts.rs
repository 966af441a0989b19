//! `hour(t)`, `day_of_week(t)`, `year(t)`... of a timestamp in UTC (what
//! `from_iso8601_timestamp` gives) by arithmetic on the instant: DataFusion's `date_part`
//! converts each row through the zone (a zone lookup and a calendar conversion per row, most
//! of the time of a dashboard's hour-by-weekday tile). Other zones keep DataFusion's path.

use std::sync::Arc;

use datafusion::arrow::array::{Array, AsArray, Int64Array};
use datafusion::arrow::datatypes::{DataType, TimeUnit, TimestampMicrosecondType};
use datafusion::common::{ScalarValue, exec_err};
use datafusion::error::Result;
use datafusion::logical_expr::{
    ColumnarValue, ScalarFunctionArgs, ScalarUDF, ScalarUDFImpl, Signature, Volatility,
};

/// The parts this module computes, read once per call (not per row).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Part {
    Year,
    Quarter,
    Month,
    Day,
    DayOfYear,
    Hour,
    Minute,
    /// Monday = 1 .. Sunday = 7.
    IsoDayOfWeek,
}

impl Part {
    const ALL: [Part; 8] = [
        Part::Year,
        Part::Quarter,
        Part::Month,
        Part::Day,
        Part::DayOfYear,
        Part::Hour,
        Part::Minute,
        Part::IsoDayOfWeek,
    ];

    /// Its `date_part` name.
    pub(super) fn name(self) -> &'static str {
        match self {
            Part::Year => "year",
            Part::Quarter => "quarter",
            Part::Month => "month",
            Part::Day => "day",
            Part::DayOfYear => "doy",
            Part::Hour => "hour",
            Part::Minute => "minute",
            Part::IsoDayOfWeek => "isodow",
        }
    }

    /// The part named `name`, if this module computes it.
    pub(super) fn parse(name: &str) -> Option<Part> {
        Part::ALL.into_iter().find(|p| p.name() == name)
    }
}

#[derive(Debug, PartialEq, Eq, Hash)]
struct UtcPart {
    signature: Signature,
}

/// `__trawl_utc_part(part, t)`: `part` of the UTC wall clock of `t`, as BIGINT.
pub(super) fn utc_part() -> ScalarUDF {
    ScalarUDF::new_from_impl(UtcPart {
        signature: Signature::any(2, Volatility::Immutable),
    })
}

/// Proleptic Gregorian (year, month, day) of a count of days since 1970-01-01 (Howard
/// Hinnant's civil_from_days).
fn civil_from_days(days: i64) -> (i64, i64, i64) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1_460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    (yoe + era * 400 + i64::from(month <= 2), month, day)
}

/// Whether `year` has a February 29th.
fn is_leap(year: i64) -> bool {
    year % 4 == 0 && (year % 100 != 0 || year % 400 == 0)
}

/// Day of the year (1-based) of `month`/`day` in `year`.
fn day_of_year(year: i64, month: i64, day: i64) -> i64 {
    const BEFORE: [i64; 12] = [0, 31, 59, 90, 120, 151, 181, 212, 243, 273, 304, 334];
    BEFORE[(month - 1) as usize] + day + i64::from(month > 2 && is_leap(year))
}

/// `part` of the instant `micros` (microseconds since the epoch, UTC).
fn part_of(part: Part, micros: i64) -> i64 {
    let secs = micros.div_euclid(1_000_000);
    let days = secs.div_euclid(86_400);
    let of_day = secs.rem_euclid(86_400);
    match part {
        Part::Hour => of_day / 3_600,
        Part::Minute => of_day % 3_600 / 60,
        // 1970-01-01 was a Thursday (4).
        Part::IsoDayOfWeek => (days + 3).rem_euclid(7) + 1,
        Part::Year | Part::Quarter | Part::Month | Part::Day | Part::DayOfYear => {
            let (y, m, d) = civil_from_days(days);
            match part {
                Part::Year => y,
                Part::Quarter => (m - 1) / 3 + 1,
                Part::Month => m,
                Part::Day => d,
                _ => day_of_year(y, m, d),
            }
        }
    }
}

impl ScalarUDFImpl for UtcPart {
    fn name(&self) -> &str {
        "__trawl_utc_part"
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, _: &[DataType]) -> Result<DataType> {
        Ok(DataType::Int64)
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let part = match &args.args[0] {
            ColumnarValue::Scalar(v) => match v.try_as_str().flatten().and_then(Part::parse) {
                Some(p) => p,
                None => return exec_err!("__trawl_utc_part: unknown part {v}"),
            },
            ColumnarValue::Array(_) => return exec_err!("__trawl_utc_part: part must be constant"),
        };
        let scalar = matches!(args.args[1], ColumnarValue::Scalar(_));
        let t = args.args[1].to_array(args.number_rows)?;
        // Microseconds, whatever the unit (a cast to no zone keeps the instant's value).
        let micros = match t.data_type() {
            DataType::Timestamp(TimeUnit::Microsecond, _) => t,
            _ => datafusion::arrow::compute::cast(
                &t,
                &DataType::Timestamp(TimeUnit::Microsecond, None),
            )?,
        };
        let micros = micros.as_primitive::<TimestampMicrosecondType>();
        let out: Int64Array = micros.iter().map(|v| v.map(|v| part_of(part, v))).collect();
        Ok(if scalar {
            ColumnarValue::Scalar(ScalarValue::try_from_array(&out, 0)?)
        } else {
            ColumnarValue::Array(Arc::new(out))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{Datelike, Timelike};

    #[test]
    fn parts_match_the_calendar_on_every_hour_of_edge_years() {
        // Leap and common years, century rules, before the epoch and year 0.
        for year in [
            0, 1, 100, 1600, 1899, 1900, 1969, 1970, 2000, 2023, 2024, 2100, 9999,
        ] {
            let start = chrono::NaiveDate::from_ymd_opt(year, 1, 1)
                .unwrap()
                .and_hms_opt(0, 0, 0)
                .unwrap()
                .and_utc();
            let hours = if is_leap(i64::from(year)) { 366 } else { 365 } * 24;
            for h in 0..hours {
                // Minutes and seconds off the hour, and a fraction.
                let t = start
                    + chrono::Duration::hours(h)
                    + chrono::Duration::seconds(h % 3_600)
                    + chrono::Duration::microseconds(h % 999_999);
                let us = t.timestamp_micros();
                let want = [
                    ("year", i64::from(t.year())),
                    ("quarter", i64::from(t.month0() / 3 + 1)),
                    ("month", i64::from(t.month())),
                    ("day", i64::from(t.day())),
                    ("doy", i64::from(t.ordinal())),
                    ("hour", i64::from(t.hour())),
                    ("minute", i64::from(t.minute())),
                    ("isodow", i64::from(t.weekday().number_from_monday())),
                ];
                for (name, v) in want {
                    let part = Part::parse(name).unwrap();
                    assert_eq!(part_of(part, us), v, "{name} of {t}");
                }
            }
        }
        assert_eq!(Part::parse("week"), None);
    }
}
