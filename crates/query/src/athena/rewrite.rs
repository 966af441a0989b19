//! Trino functions that are DataFusion expressions under another name: rewritten during
//! simplification, so DataFusion's own implementations (and optimisations) apply.
//! `hour(t)` is `CAST(date_part('hour', t) AS BIGINT)`, `day_of_week` is ISO (Monday = 1),
//! `if(c, a[, b])` is `CASE WHEN c THEN a ELSE b END`.

use std::sync::Arc;

use datafusion::arrow::datatypes::{DataType, TimeUnit};
use datafusion::common::{ScalarValue, internal_err, plan_err};
use datafusion::error::Result;
use datafusion::functions_nested::array_has::array_has_udf;
use datafusion::functions_nested::extract::array_element_udf;
use datafusion::functions_nested::map_extract::map_extract_udf;
use datafusion::functions_nested::string::array_to_string_udf;
use datafusion::logical_expr::simplify::{ExprSimplifyResult, SimplifyContext};
use datafusion::logical_expr::{
    ColumnarValue, Expr, ScalarFunctionArgs, ScalarUDFImpl, Signature, TypeSignature, Volatility,
    cast, lit, when,
};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Rewrite {
    /// `date_part(part, x)` as BIGINT.
    Part(&'static str),
    /// ISO day of week, Monday = 1 .. Sunday = 7.
    IsoDayOfWeek,
    If,
    /// `array_join(a, sep)`: `array_to_string(a, sep)`.
    ArrayJoin,
    /// `element_at(array, i)` (1-based, negative from the end) or `element_at(map, key)`.
    ElementAt,
    /// `contains(array, x)`: `array_has`; on strings, DataFusion's substring `contains`.
    Contains,
    /// `slice(a, start, length)`: `array_slice` with an end index (negative start from the end).
    Slice,
    /// `md5(x)`: the digest as varbinary (`digest(x, 'md5')`), as in Trino.
    Md5,
    /// `to_hex(varbinary)`: upper-case hex, as in Trino.
    ToHex,
    /// `to_utf8(s)`: the string's bytes.
    ToUtf8,
    /// `from_hex(s)`: the bytes the hex digits spell.
    FromHex,
    /// `from_unixtime(seconds[, zone])`: seconds may have a fraction (kept to the millisecond).
    FromUnixtime,
    /// `to_unixtime(t)`: seconds as a double, with the fraction.
    ToUnixtime,
    /// `CAST(x AS BIGINT ...)` (`try` for TRY_CAST): a double or decimal is rounded half away
    /// from zero, as in Trino, not truncated.
    IntegerCast {
        to: IntType,
        try_cast: bool,
    },
}

/// The integer types of `CAST(... AS <type>)`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(super) enum IntType {
    TinyInt,
    SmallInt,
    Integer,
    BigInt,
}

impl IntType {
    pub(super) const ALL: [IntType; 4] = [
        IntType::TinyInt,
        IntType::SmallInt,
        IntType::Integer,
        IntType::BigInt,
    ];

    /// The name of the function a cast to this type is rewritten to.
    pub(super) fn function(self, try_cast: bool) -> &'static str {
        match (self, try_cast) {
            (IntType::TinyInt, false) => "__trawl_cast_tinyint",
            (IntType::SmallInt, false) => "__trawl_cast_smallint",
            (IntType::Integer, false) => "__trawl_cast_integer",
            (IntType::BigInt, false) => "__trawl_cast_bigint",
            (IntType::TinyInt, true) => "__trawl_try_cast_tinyint",
            (IntType::SmallInt, true) => "__trawl_try_cast_smallint",
            (IntType::Integer, true) => "__trawl_try_cast_integer",
            (IntType::BigInt, true) => "__trawl_try_cast_bigint",
        }
    }

    fn data_type(self) -> DataType {
        match self {
            IntType::TinyInt => DataType::Int8,
            IntType::SmallInt => DataType::Int16,
            IntType::Integer => DataType::Int32,
            IntType::BigInt => DataType::Int64,
        }
    }
}

#[derive(Debug, PartialEq, Eq, Hash)]
struct RewriteFn {
    name: &'static str,
    rewrite: Rewrite,
    signature: Signature,
}

/// The function `CAST(x AS <to>)` (or TRY_CAST) of a non-JSON value becomes.
pub(super) fn integer_cast(to: IntType, try_cast: bool) -> datafusion::logical_expr::ScalarUDF {
    datafusion::logical_expr::ScalarUDF::new_from_impl(RewriteFn {
        name: to.function(try_cast),
        rewrite: Rewrite::IntegerCast { to, try_cast },
        signature: Signature::any(1, Volatility::Immutable),
    })
}

/// The part [`super::utc_parts`] computes for `rewrite`, if it does.
fn utc_part_name(rewrite: Rewrite) -> Option<super::utc_parts::Part> {
    match rewrite {
        Rewrite::Part(part) => super::utc_parts::Part::parse(part),
        Rewrite::IsoDayOfWeek => Some(super::utc_parts::Part::IsoDayOfWeek),
        _ => None,
    }
}

/// A timestamp whose zone's wall clock is UTC's.
fn is_utc_timestamp(t: &DataType) -> bool {
    matches!(t, DataType::Timestamp(_, Some(tz)) if super::arrays::is_utc(tz))
}

pub(super) fn functions() -> Vec<Arc<dyn ScalarUDFImpl>> {
    let parts: &[(&'static str, &'static str)] = &[
        ("year", "year"),
        ("quarter", "quarter"),
        ("month", "month"),
        ("week", "week"),
        ("week_of_year", "week"),
        ("day", "day"),
        ("day_of_month", "day"),
        ("day_of_year", "doy"),
        ("doy", "doy"),
        ("hour", "hour"),
        ("minute", "minute"),
        ("second", "second"),
        ("millisecond", "millisecond"),
    ];
    let mut out: Vec<Arc<dyn ScalarUDFImpl>> = parts
        .iter()
        .map(|(name, part)| {
            Arc::new(RewriteFn {
                name,
                rewrite: Rewrite::Part(part),
                signature: Signature::any(1, Volatility::Immutable),
            }) as Arc<dyn ScalarUDFImpl>
        })
        .collect();
    for name in ["day_of_week", "dow"] {
        out.push(Arc::new(RewriteFn {
            name,
            rewrite: Rewrite::IsoDayOfWeek,
            signature: Signature::any(1, Volatility::Immutable),
        }));
    }
    for (name, rewrite, arity) in [
        ("array_join", Rewrite::ArrayJoin, vec![2]),
        ("element_at", Rewrite::ElementAt, vec![2]),
        ("contains", Rewrite::Contains, vec![2]),
        ("slice", Rewrite::Slice, vec![3]),
        ("md5", Rewrite::Md5, vec![1]),
        ("to_hex", Rewrite::ToHex, vec![1]),
        ("to_utf8", Rewrite::ToUtf8, vec![1]),
        ("from_hex", Rewrite::FromHex, vec![1]),
        ("from_unixtime", Rewrite::FromUnixtime, vec![1, 2]),
        ("to_unixtime", Rewrite::ToUnixtime, vec![1]),
    ] {
        let sigs = arity.into_iter().map(TypeSignature::Any).collect();
        out.push(Arc::new(RewriteFn {
            name,
            rewrite,
            signature: Signature::one_of(sigs, Volatility::Immutable),
        }));
    }
    for to in IntType::ALL {
        for try_cast in [false, true] {
            out.push(Arc::new(RewriteFn {
                name: to.function(try_cast),
                rewrite: Rewrite::IntegerCast { to, try_cast },
                signature: Signature::any(1, Volatility::Immutable),
            }));
        }
    }
    out.push(Arc::new(RewriteFn {
        name: "if",
        rewrite: Rewrite::If,
        signature: Signature::one_of(
            vec![TypeSignature::Any(2), TypeSignature::Any(3)],
            Volatility::Immutable,
        ),
    }));
    out
}

fn date_part(part: &str, arg: Expr) -> Expr {
    datafusion::functions::datetime::expr_fn::date_part(lit(part), arg)
}

impl ScalarUDFImpl for RewriteFn {
    fn name(&self) -> &str {
        self.name
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, arg_types: &[DataType]) -> Result<DataType> {
        Ok(match self.rewrite {
            Rewrite::Part(_) | Rewrite::IsoDayOfWeek => DataType::Int64,
            Rewrite::If => arg_types[1].clone(),
            Rewrite::ArrayJoin | Rewrite::ToHex => DataType::Utf8,
            Rewrite::Md5 | Rewrite::ToUtf8 | Rewrite::FromHex => DataType::Binary,
            Rewrite::Slice => arg_types[0].clone(),
            Rewrite::FromUnixtime => DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into())),
            Rewrite::ToUnixtime => DataType::Float64,
            Rewrite::IntegerCast { to, .. } => to.data_type(),
            Rewrite::Contains => DataType::Boolean,
            Rewrite::ElementAt => match &arg_types[0] {
                DataType::List(f) | DataType::LargeList(f) | DataType::FixedSizeList(f, _) => {
                    f.data_type().clone()
                }
                DataType::Map(entries, _) => match entries.data_type() {
                    DataType::Struct(fields) if fields.len() == 2 => fields[1].data_type().clone(),
                    other => return plan_err!("element_at: unexpected map entries {other}"),
                },
                other => return plan_err!("element_at takes an array or a map, not {other}"),
            },
        })
    }

    fn simplify(&self, mut args: Vec<Expr>, info: &SimplifyContext) -> Result<ExprSimplifyResult> {
        use datafusion::functions::{crypto, encoding, math, string};
        // A part of a UTC timestamp: by arithmetic, without DataFusion's per-row zone lookup.
        if let Some(part) = utc_part_name(self.rewrite)
            && info
                .get_data_type(&args[0])
                .is_ok_and(|t| is_utc_timestamp(&t))
        {
            return Ok(ExprSimplifyResult::Simplified(
                super::utc_parts::utc_part().call(vec![lit(part.name()), args.remove(0)]),
            ));
        }
        Ok(ExprSimplifyResult::Simplified(match self.rewrite {
            Rewrite::Md5 => crypto::digest().call(vec![args.remove(0), lit("md5")]),
            Rewrite::Slice => {
                let array = args.remove(0);
                let start = cast(args.remove(0), DataType::Int64);
                let length = cast(args.remove(0), DataType::Int64);
                let end = start.clone() + length - lit(1i64);
                // From the end: stop at the last element.
                let end = when(
                    start
                        .clone()
                        .lt(lit(0i64))
                        .and(end.clone().gt_eq(lit(0i64))),
                    lit(-1i64),
                )
                .otherwise(end)?;
                datafusion::functions_nested::extract::array_slice_udf()
                    .call(vec![array, start, end])
            }
            Rewrite::ToHex => {
                let x = args.remove(0);
                let hex = match info.get_data_type(&x)? {
                    t if t.is_integer() => string::to_hex().call(vec![x]),
                    _ => encoding::encode().call(vec![x, lit("hex")]),
                };
                string::upper().call(vec![hex])
            }
            Rewrite::ToUtf8 => cast(cast(args.remove(0), DataType::Utf8), DataType::Binary),
            Rewrite::FromHex => {
                encoding::decode().call(vec![cast(args.remove(0), DataType::Binary), lit("hex")])
            }
            Rewrite::FromUnixtime => {
                let seconds = cast(args.remove(0), DataType::Float64);
                let zone = match args.pop() {
                    None => "UTC".to_string(),
                    Some(Expr::Literal(ScalarValue::Utf8(Some(z)), _))
                    | Some(Expr::Literal(ScalarValue::Utf8View(Some(z)), _))
                    | Some(Expr::Literal(ScalarValue::LargeUtf8(Some(z)), _)) => z,
                    Some(other) => {
                        return plan_err!(
                            "from_unixtime: the time zone must be a constant string, not {other}"
                        );
                    }
                };
                // Milliseconds, as Trino keeps them, then microseconds since the epoch.
                let millis = cast(
                    math::round().call(vec![seconds * lit(1000.0)]),
                    DataType::Int64,
                );
                cast(
                    millis * lit(1000i64),
                    DataType::Timestamp(TimeUnit::Microsecond, Some(zone.into())),
                )
            }
            Rewrite::ToUnixtime => {
                let micros = cast(
                    cast(
                        args.remove(0),
                        DataType::Timestamp(TimeUnit::Microsecond, None),
                    ),
                    DataType::Int64,
                );
                cast(micros, DataType::Float64) / lit(1_000_000.0)
            }
            Rewrite::IntegerCast { to, try_cast } => {
                let x = args.remove(0);
                let x = match info.get_data_type(&x)? {
                    DataType::Float16
                    | DataType::Float32
                    | DataType::Float64
                    | DataType::Decimal32(..)
                    | DataType::Decimal64(..)
                    | DataType::Decimal128(..)
                    | DataType::Decimal256(..) => math::round().call(vec![x]),
                    _ => x,
                };
                if try_cast {
                    datafusion::logical_expr::try_cast(x, to.data_type())
                } else {
                    cast(x, to.data_type())
                }
            }
            Rewrite::Part(part) => cast(date_part(part, args.remove(0)), DataType::Int64),
            Rewrite::IsoDayOfWeek => {
                // date_part('dow') counts Sunday = 0.
                let dow = cast(date_part("dow", args.remove(0)), DataType::Int64);
                (dow + lit(6i64)) % lit(7i64) + lit(1i64)
            }
            Rewrite::ArrayJoin => {
                let (a, sep) = (args.remove(0), args.remove(0));
                cast(array_to_string_udf().call(vec![a, sep]), DataType::Utf8)
            }
            Rewrite::ElementAt => {
                let (container, key) = (args.remove(0), args.remove(0));
                match info.get_data_type(&container)? {
                    DataType::Map(..) => array_element_udf().call(vec![
                        map_extract_udf().call(vec![container, key]),
                        lit(1i64),
                    ]),
                    _ => array_element_udf().call(vec![container, cast(key, DataType::Int64)]),
                }
            }
            Rewrite::Contains => {
                let (haystack, needle) = (args.remove(0), args.remove(0));
                if info.get_data_type(&needle)? == super::ip::IP_TYPE {
                    // contains('10.0.0.0/8', CAST(ip AS IPADDRESS)): a CIDR test.
                    return Ok(ExprSimplifyResult::Simplified(
                        super::ip::cidr_contains().call(vec![haystack, needle]),
                    ));
                }
                match info.get_data_type(&haystack)? {
                    // Trino: NULL when the element is NULL, or absent from an array that
                    // holds a NULL (array_has says false then).
                    DataType::List(_) | DataType::LargeList(_) | DataType::FixedSizeList(..) => {
                        let has_null = datafusion::logical_expr::ScalarUDF::new_from_shared_impl(
                            super::arrays::has_null(),
                        );
                        when(
                            array_has_udf().call(vec![haystack.clone(), needle.clone()]),
                            lit(true),
                        )
                        .when(
                            needle.is_null().or(has_null.call(vec![haystack])),
                            lit(ScalarValue::Boolean(None)),
                        )
                        .otherwise(lit(false))?
                    }
                    _ => datafusion::functions::string::contains().call(vec![
                        cast(haystack, DataType::Utf8),
                        cast(needle, DataType::Utf8),
                    ]),
                }
            }
            Rewrite::If => {
                let cond = args.remove(0);
                let then = args.remove(0);
                let otherwise = args
                    .pop()
                    .unwrap_or_else(|| lit(datafusion::common::ScalarValue::Null));
                when(cond, then).otherwise(otherwise)?
            }
        }))
    }

    fn invoke_with_args(&self, _: ScalarFunctionArgs) -> Result<ColumnarValue> {
        internal_err!("{} is rewritten before execution", self.name)
    }
}
