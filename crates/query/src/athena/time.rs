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
