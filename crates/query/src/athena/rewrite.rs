//! Trino functions that are DataFusion expressions under another name: rewritten during
//! simplification, so DataFusion's own implementations (and optimisations) apply.
//! `hour(t)` is `CAST(date_part('hour', t) AS BIGINT)`, `day_of_week` is ISO (Monday = 1),
//! `if(c, a[, b])` is `CASE WHEN c THEN a ELSE b END`.

use std::sync::Arc;

use datafusion::arrow::datatypes::DataType;
use datafusion::common::internal_err;
use datafusion::error::Result;
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
        })
    }

    fn simplify(&self, mut args: Vec<Expr>, _: &SimplifyContext) -> Result<ExprSimplifyResult> {
        Ok(ExprSimplifyResult::Simplified(match self.rewrite {
            Rewrite::Part(part) => cast(date_part(part, args.remove(0)), DataType::Int64),
            Rewrite::IsoDayOfWeek => {
                // date_part('dow') counts Sunday = 0.
                let dow = cast(date_part("dow", args.remove(0)), DataType::Int64);
                (dow + lit(6i64)) % lit(7i64) + lit(1i64)
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
