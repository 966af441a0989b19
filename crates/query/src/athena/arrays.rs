//! Trino's array and date functions whose DataFusion namesakes answer differently:
//! - `array_max`/`array_min` are NULL when an element is NULL (DataFusion skips NULLs);
//! - `arrays_overlap` is NULL when no element is shared but either array holds a NULL;
//! - `reverse` of an array reverses the array (DataFusion's reverses its text);
//! - `date_trunc` of a DATE is a DATE (DataFusion's gives a timestamp); of a timestamp in UTC
//!   (`from_iso8601_timestamp`'s), it truncates the UTC wall clock by arithmetic, where
//!   DataFusion's would convert each row through a time zone (`__trawl_date_trunc_utc`);
//! - `__trawl_has_null(a)`, which `contains(a, x)` uses for Trino's NULL rule.
//!
//! The AST rewrites of `athena::ast` do the rest: `greatest`/`least` are NULL when an
//! argument is, `repeat(x, n)` is an array, `array_position` is 0 when absent,
//! `array_remove` removes every occurrence and `array_sort` puts NULLs last.

use std::sync::Arc;

use datafusion::arrow::array::{Array, ArrayRef, AsArray, BooleanArray};
use datafusion::arrow::datatypes::{DataType, TimeUnit};
use datafusion::common::{ScalarValue, exec_err};
use datafusion::error::Result;
use datafusion::logical_expr::simplify::{ExprSimplifyResult, SimplifyContext};
use datafusion::logical_expr::{
    ColumnarValue, Expr, ScalarFunctionArgs, ScalarUDFImpl, Signature, Volatility, cast, lit, when,
};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Kind {
    Max,
    Min,
    Overlap,
    Reverse,
    DateTrunc,
    /// `date_trunc` of a timestamp whose zone is UTC: DataFusion's `date_trunc` of the same
    /// instants without a zone (the same wall clock, no zone lookups per row), zone put back.
    DateTruncUtc,
    HasNull,
    /// `sequence(start, stop[, step])`: without a step, 1 (a day for dates) or -1 when
    /// start > stop (DataFusion's generate_series gives an empty array then).
    Sequence,
}

#[derive(Debug, PartialEq, Eq, Hash)]
struct ArrayFn {
    kind: Kind,
    signature: Signature,
}

pub(super) fn functions() -> Vec<Arc<dyn ScalarUDFImpl>> {
    [
        (Kind::Max, 1),
        (Kind::Min, 1),
        (Kind::Overlap, 2),
        (Kind::Reverse, 1),
        (Kind::DateTrunc, 2),
        (Kind::DateTruncUtc, 2),
        (Kind::HasNull, 1),
        (Kind::Sequence, 0),
    ]
    .into_iter()
    .map(|(kind, n)| {
        let signature = if kind == Kind::Sequence {
            Signature::one_of(
                vec![
                    datafusion::logical_expr::TypeSignature::Any(2),
                    datafusion::logical_expr::TypeSignature::Any(3),
                ],
                Volatility::Immutable,
            )
        } else {
            Signature::any(n, Volatility::Immutable)
        };
        Arc::new(ArrayFn { kind, signature }) as Arc<dyn ScalarUDFImpl>
    })
    .collect()
}

/// `__trawl_has_null(a)`: whether the array holds a NULL element (NULL for a NULL array).
pub(super) fn has_null() -> Arc<dyn ScalarUDFImpl> {
    Arc::new(ArrayFn {
        kind: Kind::HasNull,
        signature: Signature::any(1, Volatility::Immutable),
    })
}

/// Zone names whose wall clock is UTC's at every instant.
pub(super) fn is_utc(tz: &str) -> bool {
    [
        "UTC", "Etc/UTC", "GMT", "Etc/GMT", "Z", "+00:00", "+0000", "+00", "-00:00",
    ]
    .iter()
    .any(|z| tz.eq_ignore_ascii_case(z))
}

/// `a` (timestamps) as the same values typed `t`: no copy, no per-row conversion.
fn retyped(a: &ArrayRef, t: &DataType) -> Result<ArrayRef> {
    let data = a.to_data().into_builder().data_type(t.clone()).build()?;
    Ok(datafusion::arrow::array::make_array(data))
}

/// [`Kind::DateTruncUtc`]: the instants without their zone (UTC's wall clock is the instant's
/// own), truncated by DataFusion's `date_trunc` (arithmetic for hours and days), zone put back.
fn date_trunc_utc(args: ScalarFunctionArgs) -> Result<ColumnarValue> {
    let rows = args.number_rows;
    let zoned = args.return_field.data_type().clone();
    let DataType::Timestamp(unit, _) = &zoned else {
        return exec_err!("__trawl_date_trunc_utc: expected a timestamp, got {zoned}");
    };
    let naive = DataType::Timestamp(*unit, None);
    let scalar = matches!(args.args[1], ColumnarValue::Scalar(_));
    let input = retyped(&args.args[1].to_array(rows)?, &naive)?;
    let field = |name: &str| {
        Arc::new(datafusion::arrow::datatypes::Field::new(
            name,
            naive.clone(),
            true,
        ))
    };
    let truncated = datafusion::functions::datetime::date_trunc()
        .invoke_with_args(ScalarFunctionArgs {
            args: vec![args.args[0].clone(), ColumnarValue::Array(input)],
            arg_fields: vec![args.arg_fields[0].clone(), field("t")],
            number_rows: rows,
            return_field: field("date_trunc"),
            config_options: args.config_options.clone(),
        })?
        .to_array(rows)?;
    let out = retyped(&truncated, &zoned)?;
    Ok(if scalar {
        ColumnarValue::Scalar(ScalarValue::try_from_array(&out, 0)?)
    } else {
        ColumnarValue::Array(out)
    })
}

/// The elements of row `row` of a list array (`None` for a NULL list).
fn elements(list: &ArrayRef, row: usize) -> Result<Option<Vec<ScalarValue>>> {
    let list = list.as_list::<i32>();
    if list.is_null(row) {
        return Ok(None);
    }
    let values = list.value(row);
    (0..values.len())
        .map(|i| ScalarValue::try_from_array(&values, i))
        .collect::<Result<Vec<_>>>()
        .map(Some)
}

impl ScalarUDFImpl for ArrayFn {
    fn name(&self) -> &str {
        match self.kind {
            Kind::Max => "array_max",
            Kind::Min => "array_min",
            Kind::Overlap => "arrays_overlap",
            Kind::Reverse => "reverse",
            Kind::DateTrunc => "date_trunc",
            Kind::DateTruncUtc => "__trawl_date_trunc_utc",
            Kind::HasNull => "__trawl_has_null",
            Kind::Sequence => "sequence",
        }
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, args: &[DataType]) -> Result<DataType> {
        Ok(match self.kind {
            Kind::Max | Kind::Min => match &args[0] {
                DataType::List(f) => f.data_type().clone(),
                other => return exec_err!("{}: expected an array, got {other}", self.name()),
            },
            Kind::Overlap | Kind::HasNull => DataType::Boolean,
            Kind::Sequence => {
                let element = match &args[0] {
                    t if t.is_integer() => DataType::Int64,
                    DataType::Date32 | DataType::Date64 => DataType::Date32,
                    DataType::Timestamp(unit, tz) => DataType::Timestamp(*unit, tz.clone()),
                    other => {
                        return exec_err!(
                            "sequence: expected integers, dates or timestamps, got {other}"
                        );
                    }
                };
                DataType::List(Arc::new(
                    datafusion::arrow::datatypes::Field::new_list_field(element, true),
                ))
            }
            Kind::Reverse => args[0].clone(),
            Kind::DateTruncUtc => args[1].clone(),
            Kind::DateTrunc => match &args[1] {
                DataType::Date32 | DataType::Date64 => DataType::Date32,
                DataType::Timestamp(unit, tz) => DataType::Timestamp(*unit, tz.clone()),
                _ => DataType::Timestamp(TimeUnit::Microsecond, None),
            },
        })
    }

    fn simplify(&self, mut args: Vec<Expr>, info: &SimplifyContext) -> Result<ExprSimplifyResult> {
        match self.kind {
            Kind::Reverse => {
                let t = info.get_data_type(&args[0])?;
                let f = if matches!(t, DataType::List(_) | DataType::LargeList(_)) {
                    datafusion::functions_nested::reverse::array_reverse_udf()
                } else {
                    datafusion::functions::unicode::reverse()
                };
                Ok(ExprSimplifyResult::Simplified(f.call(args)))
            }
            Kind::DateTrunc => {
                let input = info.get_data_type(&args[1])?;
                let ret = self.return_type(&[DataType::Utf8, input])?;
                let unit = args.remove(0);
                let t = args.remove(0);
                let as_timestamp = match &ret {
                    DataType::Date32 => DataType::Timestamp(TimeUnit::Microsecond, None),
                    other => other.clone(),
                };
                if matches!(&ret, DataType::Timestamp(_, Some(tz)) if is_utc(tz)) {
                    return Ok(ExprSimplifyResult::Simplified(
                        Arc::new(datafusion::logical_expr::ScalarUDF::new_from_impl(
                            ArrayFn {
                                kind: Kind::DateTruncUtc,
                                signature: Signature::any(2, Volatility::Immutable),
                            },
                        ))
                        .call(vec![unit, cast(t, as_timestamp)]),
                    ));
                }
                let truncated = datafusion::functions::datetime::date_trunc()
                    .call(vec![unit, cast(t, as_timestamp.clone())]);
                Ok(ExprSimplifyResult::Simplified(if ret == as_timestamp {
                    truncated
                } else {
                    cast(truncated, ret)
                }))
            }
            Kind::Sequence => {
                let start = info.get_data_type(&args[0])?;
                if args.len() == 2 {
                    let (up, down) = if matches!(start, DataType::Date32 | DataType::Date64) {
                        (
                            lit(ScalarValue::new_interval_mdn(0, 1, 0)),
                            lit(ScalarValue::new_interval_mdn(0, -1, 0)),
                        )
                    } else {
                        (lit(1i64), lit(-1i64))
                    };
                    let step = when(args[0].clone().lt_eq(args[1].clone()), up).otherwise(down)?;
                    args.push(step);
                }
                Ok(ExprSimplifyResult::Simplified(
                    datafusion::functions_nested::range::gen_series_udf().call(args),
                ))
            }
            _ => Ok(ExprSimplifyResult::Original(args)),
        }
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let rows = args.number_rows;
        if self.kind == Kind::DateTruncUtc {
            return date_trunc_utc(args);
        }
        let a = args.args[0].to_array(rows)?;
        match self.kind {
            Kind::Max | Kind::Min => {
                let t = args.return_field.data_type().clone();
                let mut out = Vec::with_capacity(rows);
                for row in 0..rows {
                    let v = match elements(&a, row)? {
                        Some(items)
                            if !items.is_empty() && !items.iter().any(ScalarValue::is_null) =>
                        {
                            let pick = items.into_iter().reduce(|best, x| {
                                let better = match x.partial_cmp(&best) {
                                    Some(std::cmp::Ordering::Greater) => self.kind == Kind::Max,
                                    Some(std::cmp::Ordering::Less) => self.kind == Kind::Min,
                                    _ => false,
                                };
                                if better { x } else { best }
                            });
                            pick.expect("not empty")
                        }
                        _ => ScalarValue::try_from(&t)?,
                    };
                    out.push(v);
                }
                Ok(ColumnarValue::Array(ScalarValue::iter_to_array(out)?))
            }
            Kind::HasNull => {
                let out: BooleanArray = (0..rows)
                    .map(|row| {
                        Ok(elements(&a, row)?.map(|items| items.iter().any(ScalarValue::is_null)))
                    })
                    .collect::<Result<_>>()?;
                Ok(ColumnarValue::Array(Arc::new(out)))
            }
            Kind::Overlap => {
                let b = args.args[1].to_array(rows)?;
                let out: BooleanArray = (0..rows)
                    .map(|row| {
                        let (Some(x), Some(y)) = (elements(&a, row)?, elements(&b, row)?) else {
                            return Ok(None);
                        };
                        let shared = x.iter().any(|v| !v.is_null() && y.contains(v));
                        let nulls = x.iter().chain(&y).any(ScalarValue::is_null);
                        Ok(if shared {
                            Some(true)
                        } else if nulls {
                            None
                        } else {
                            Some(false)
                        })
                    })
                    .collect::<Result<_>>()?;
                Ok(ColumnarValue::Array(Arc::new(out)))
            }
            Kind::Reverse | Kind::DateTrunc | Kind::DateTruncUtc | Kind::Sequence => {
                exec_err!("{} is rewritten before it runs", self.name())
            }
        }
    }
}
