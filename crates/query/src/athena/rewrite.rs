//! Trino functions that are DataFusion expressions under another name: rewritten during
//! simplification, so DataFusion's own implementations (and optimisations) apply.
//! `hour(t)` is `CAST(date_part('hour', t) AS BIGINT)`, `day_of_week` is ISO (Monday = 1),
//! `if(c, a[, b])` is `CASE WHEN c THEN a ELSE b END`.

use std::sync::Arc;

use datafusion::arrow::datatypes::DataType;
use datafusion::common::{ScalarValue, internal_err, plan_err};
use datafusion::error::Result;
use datafusion::functions_nested::array_has::array_has_udf;
use datafusion::functions_nested::extract::array_element_udf;
use datafusion::functions_nested::map_extract::map_extract_udf;
use datafusion::functions_nested::string::{array_to_string_udf, string_to_array_udf};
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
    /// `split(s, d)`: `string_to_array(s, d, NULL)`.
    Split,
    /// `array_join(a, sep)`: `array_to_string(a, sep)`.
    ArrayJoin,
    /// `element_at(array, i)` (1-based, negative from the end) or `element_at(map, key)`.
    ElementAt,
    /// `replace(s, x)` removes `x`; with three arguments, DataFusion's `replace`.
    Replace,
    /// `contains(array, x)`: `array_has`; on strings, DataFusion's substring `contains`.
    Contains,
}

#[derive(Debug, PartialEq, Eq, Hash)]
struct RewriteFn {
    name: &'static str,
    rewrite: Rewrite,
    signature: Signature,
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
        ("split", Rewrite::Split, vec![2]),
        ("array_join", Rewrite::ArrayJoin, vec![2]),
        ("element_at", Rewrite::ElementAt, vec![2]),
        ("replace", Rewrite::Replace, vec![2, 3]),
        ("contains", Rewrite::Contains, vec![2]),
    ] {
        let sigs = arity.into_iter().map(TypeSignature::Any).collect();
        out.push(Arc::new(RewriteFn {
            name,
            rewrite,
            signature: Signature::one_of(sigs, Volatility::Immutable),
        }));
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
            Rewrite::Split => string_to_array_udf().return_type(&[
                DataType::Utf8,
                DataType::Utf8,
                DataType::Utf8,
            ])?,
            Rewrite::ArrayJoin | Rewrite::Replace => DataType::Utf8,
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
        Ok(ExprSimplifyResult::Simplified(match self.rewrite {
            Rewrite::Part(part) => cast(date_part(part, args.remove(0)), DataType::Int64),
            Rewrite::IsoDayOfWeek => {
                // date_part('dow') counts Sunday = 0.
                let dow = cast(date_part("dow", args.remove(0)), DataType::Int64);
                (dow + lit(6i64)) % lit(7i64) + lit(1i64)
            }
            Rewrite::Split => {
                let (s, d) = (args.remove(0), args.remove(0));
                string_to_array_udf().call(vec![
                    cast(s, DataType::Utf8),
                    cast(d, DataType::Utf8),
                    lit(ScalarValue::Utf8(None)),
                ])
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
            Rewrite::Replace => {
                let s = cast(args.remove(0), DataType::Utf8);
                let from = cast(args.remove(0), DataType::Utf8);
                let to = args
                    .pop()
                    .map_or_else(|| lit(""), |t| cast(t, DataType::Utf8));
                datafusion::functions::string::replace().call(vec![s, from, to])
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
                    DataType::List(_) | DataType::LargeList(_) | DataType::FixedSizeList(..) => {
                        array_has_udf().call(vec![haystack, needle])
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
