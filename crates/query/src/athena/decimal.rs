//! Trino's decimal arithmetic. A literal such as `100.0` is a DECIMAL(4,1), not a double
//! (the session parses it so, `datafusion.sql_parser.parse_float_as_decimal`), and:
//!
//! - `x / y` with a decimal operand (an integer operand counts as DECIMAL(19,0) for bigint,
//!   (10,0) integer ...) has the scale `max(xs, ys)` and is rounded half away from zero
//!   (Trino's `decimal.md`); Arrow's kernel gives scale `xs + 4`, truncated. The planner hook
//!   [`DecimalPlanner`] sends such divisions to [`DecimalDivide`].
//! - `round(x, d)` of a decimal keeps the type's scale (`round(2.45, 1)` is `2.50`, a
//!   DECIMAL(4,2)), where DataFusion's lowers the scale to `d`.
//!
//! `+`, `-`, `*` and `%` already follow Trino's scale rules in Arrow (`max(xs, ys)`, `xs + ys`).

use std::sync::Arc;

use datafusion::arrow::array::{Array, ArrayRef, AsArray, Decimal128Array};
use datafusion::arrow::compute::cast;
use datafusion::arrow::datatypes::{DataType, Decimal128Type, DecimalType, Field, FieldRef, i256};
use datafusion::common::{DFSchema, exec_err};
use datafusion::error::Result;
use datafusion::logical_expr::planner::{ExprPlanner, PlannerResult, RawBinaryExpr};
use datafusion::logical_expr::{
    ColumnarValue, Expr, ExprSchemable, ReturnFieldArgs, ScalarFunctionArgs, ScalarUDF,
    ScalarUDFImpl, Signature, Volatility,
};
use datafusion::sql::sqlparser::ast::BinaryOperator;

/// The Trino decimal type an operand of a decimal operation has: decimals as they are,
/// integers as DECIMAL(3|5|10|19, 0); `None` for anything else.
fn as_decimal(t: &DataType) -> Option<(u8, i8)> {
    match t {
        DataType::Decimal128(p, s) => Some((*p, *s)),
        DataType::Int8 | DataType::UInt8 => Some((3, 0)),
        DataType::Int16 | DataType::UInt16 => Some((5, 0)),
        DataType::Int32 | DataType::UInt32 => Some((10, 0)),
        DataType::Int64 | DataType::UInt64 => Some((19, 0)),
        _ => None,
    }
}

/// Trino's result type of `x / y` for decimals.
fn divide_type((xp, xs): (u8, i8), (_, ys): (u8, i8)) -> DataType {
    let scale = xs.max(ys).max(0);
    let extra = (i16::from(ys) - i16::from(xs)).max(0);
    // Trino's DecimalOperators: xp + ys + max(0, ys - xs) (DECIMAL '1.0' / DECIMAL '0.1' is
    // the DECIMAL(3,1) 10.0).
    let precision = (i16::from(xp) + i16::from(ys) + extra)
        .max(i16::from(scale) + 1)
        .min(38) as u8;
    DataType::Decimal128(precision, scale)
}

/// Sends `/` with a decimal operand (and no floating-point one) to [`DecimalDivide`].
#[derive(Debug)]
pub(super) struct DecimalPlanner {
    divide: Arc<ScalarUDF>,
    add: Arc<ScalarUDF>,
    sub: Arc<ScalarUDF>,
    mul: Arc<ScalarUDF>,
}

impl DecimalPlanner {
    pub(super) fn new() -> Self {
        let checked = |op| Arc::new(ScalarUDF::new_from_impl(CheckedArithmetic::new(op)));
        Self {
            divide: Arc::new(ScalarUDF::new_from_impl(DecimalDivide::new())),
            add: checked(Checked::Add),
            sub: checked(Checked::Sub),
            mul: checked(Checked::Mul),
        }
    }
}

impl DecimalPlanner {
    /// The functions the planner's expressions call: registered in the session too, so that
    /// a plan that crosses the wire (a cluster) finds them by name.
    pub(super) fn functions(&self) -> [Arc<ScalarUDF>; 4] {
        [
            self.divide.clone(),
            self.add.clone(),
            self.sub.clone(),
            self.mul.clone(),
        ]
    }

    /// Whether `e` is one of the checked integer operations this planner made.
    fn is_checked(&self, e: &Expr) -> bool {
        matches!(e, Expr::ScalarFunction(f)
            if [&self.add, &self.sub, &self.mul].iter().any(|c| c.name() == f.func.name()))
    }
}

impl ExprPlanner for DecimalPlanner {
    fn plan_binary_op(
        &self,
        expr: RawBinaryExpr,
        schema: &DFSchema,
    ) -> Result<PlannerResult<RawBinaryExpr>> {
        let checked = match expr.op {
            BinaryOperator::Plus => Some(&self.add),
            BinaryOperator::Minus => Some(&self.sub),
            BinaryOperator::Multiply => Some(&self.mul),
            _ => None,
        };
        if checked.is_none() && expr.op != BinaryOperator::Divide {
            return Ok(PlannerResult::Original(expr));
        }
        if let Some(f) = checked {
            // Integer arithmetic fails on overflow, as in Trino (DataFusion wraps around).
            // The right operand first, and a checked operation's result known to be an
            // integer without resolving it: in a chain `a + b + c ...` the left operand is
            // the whole chain so far, and resolving its type at every step would make the
            // chain quadratic (and as deep as it is long).
            let integer =
                |e: &Expr| self.is_checked(e) || e.get_type(schema).is_ok_and(|t| t.is_integer());
            if integer(&expr.right) && integer(&expr.left) {
                // `(a + b) + c` is one call `add(a, b, c)`, folded left to right as the
                // nested calls would be: a chain of N terms is one node, not N deep.
                return Ok(PlannerResult::Planned(match expr.left {
                    Expr::ScalarFunction(mut call) if call.func.name() == f.name() => {
                        call.args.push(expr.right);
                        Expr::ScalarFunction(call)
                    }
                    left => f.call(vec![left, expr.right]),
                }));
            }
            return Ok(PlannerResult::Original(expr));
        }
        let Ok(r) = expr.right.get_type(schema) else {
            return Ok(PlannerResult::Original(expr));
        };
        if as_decimal(&r).is_none() {
            return Ok(PlannerResult::Original(expr));
        }
        let Ok(l) = expr.left.get_type(schema) else {
            return Ok(PlannerResult::Original(expr));
        };
        let decimal =
            matches!(l, DataType::Decimal128(..)) || matches!(r, DataType::Decimal128(..));
        if !decimal || as_decimal(&l).is_none() || as_decimal(&r).is_none() {
            return Ok(PlannerResult::Original(expr));
        }
        Ok(PlannerResult::Planned(
            self.divide.call(vec![expr.left, expr.right]),
        ))
    }
}

/// `x / y` as Trino divides decimals: scale `max(xs, ys)`, rounded half away from zero, an
/// error on division by zero.
#[derive(Debug, PartialEq, Eq, Hash)]
struct DecimalDivide {
    signature: Signature,
}

impl DecimalDivide {
    fn new() -> Self {
        Self {
            signature: Signature::any(2, Volatility::Immutable),
        }
    }
}

/// `n / d` rounded half away from zero (`d` is not zero).
fn div_round(n: i256, d: i256) -> Option<i256> {
    let q = n.checked_div(d)?;
    let r = n.checked_rem(d)?;
    let twice = r.checked_mul(i256::from_i128(2))?.wrapping_abs();
    if twice >= d.wrapping_abs() {
        let away = if (n < i256::ZERO) == (d < i256::ZERO) {
            i256::ONE
        } else {
            i256::MINUS_ONE
        };
        q.checked_add(away)
    } else {
        Some(q)
    }
}

/// The column name DataFusion gives `a <op> b`, for the functions operators are planned to.
fn operator_name(args: &[datafusion::logical_expr::Expr], op: &str) -> Result<String> {
    Ok(format!(
        "{} {op} {}",
        args[0].schema_name(),
        args[1].schema_name()
    ))
}

impl ScalarUDFImpl for DecimalDivide {
    fn name(&self) -> &str {
        "__trawl_decimal_divide"
    }

    fn schema_name(&self, args: &[datafusion::logical_expr::Expr]) -> Result<String> {
        operator_name(args, "/")
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, arg_types: &[DataType]) -> Result<DataType> {
        match (as_decimal(&arg_types[0]), as_decimal(&arg_types[1])) {
            (Some(x), Some(y)) => Ok(divide_type(x, y)),
            _ => exec_err!("decimal division of {} by {}", arg_types[0], arg_types[1]),
        }
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let rows = args.number_rows;
        let DataType::Decimal128(p, s) = *args.return_field.data_type() else {
            return exec_err!("decimal division returns a decimal");
        };
        let operand = |i: usize| -> Result<(ArrayRef, i8)> {
            let a = args.args[i].to_array(rows)?;
            let (ap, as_) = as_decimal(a.data_type()).expect("checked by return_type");
            let a = cast(&a, &DataType::Decimal128(ap.max(1), as_))?;
            Ok((a, as_))
        };
        let (x, xs) = operand(0)?;
        let (y, ys) = operand(1)?;
        let (x, y) = (
            x.as_primitive::<Decimal128Type>(),
            y.as_primitive::<Decimal128Type>(),
        );
        // x/10^xs / (y/10^ys) * 10^s = x * 10^(s - xs + ys) / y
        let shift = u32::try_from(i32::from(s) - i32::from(xs) + i32::from(ys)).unwrap_or(0);
        let ten = i256::from_i128(10);
        let factor = ten.checked_pow(shift);
        let mut out = Vec::with_capacity(rows);
        for i in 0..rows {
            if x.is_null(i) || y.is_null(i) {
                out.push(None);
                continue;
            }
            let d = i256::from_i128(y.value(i));
            if d == i256::ZERO {
                return exec_err!("Division by zero");
            }
            let q = factor
                .and_then(|f| i256::from_i128(x.value(i)).checked_mul(f))
                .and_then(|n| div_round(n, d))
                .and_then(|q| q.to_i128());
            match q {
                Some(q) if Decimal128Type::is_valid_decimal_precision(q, p) => out.push(Some(q)),
                _ => return exec_err!("Value is out of range: decimal division overflows"),
            }
        }
        let array = Decimal128Array::from(out).with_precision_and_scale(p, s)?;
        Ok(ColumnarValue::Array(Arc::new(array)))
    }
}

/// `round(x[, d])`: DataFusion's, except that a decimal rounded to `d` places keeps its scale
/// (Trino: "same as input"), one more digit of precision for the carry.
#[derive(Debug, PartialEq, Eq, Hash)]
struct Round {
    inner: Arc<ScalarUDF>,
}

impl ScalarUDFImpl for Round {
    fn name(&self) -> &str {
        "round"
    }

    fn signature(&self) -> &Signature {
        self.inner.signature()
    }

    fn coerce_types(&self, arg_types: &[DataType]) -> Result<Vec<DataType>> {
        self.inner.coerce_types(arg_types)
    }

    fn return_type(&self, _: &[DataType]) -> Result<DataType> {
        datafusion::common::internal_err!("round: use return_field_from_args")
    }

    fn return_field_from_args(&self, args: ReturnFieldArgs) -> Result<FieldRef> {
        let inner = self.inner.return_field_from_args(ReturnFieldArgs {
            arg_fields: args.arg_fields,
            scalar_arguments: args.scalar_arguments,
        })?;
        match (args.arg_fields[0].data_type(), args.arg_fields.len()) {
            (DataType::Decimal128(p, s), 2) => Ok(Arc::new(Field::new(
                self.name(),
                DataType::Decimal128((*p + 1).min(38), *s),
                inner.is_nullable(),
            ))),
            _ => Ok(inner),
        }
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let want = args.return_field.data_type().clone();
        let mut inner_args = args;
        let fields: Vec<FieldRef> = inner_args.arg_fields.clone();
        let scalars = super::scalar_args(&inner_args.args);
        let scalar_refs: Vec<Option<&datafusion::common::ScalarValue>> =
            scalars.iter().map(Option::as_ref).collect();
        inner_args.return_field = self.inner.return_field_from_args(ReturnFieldArgs {
            arg_fields: &fields,
            scalar_arguments: &scalar_refs,
        })?;
        let out = self.inner.invoke_with_args(inner_args)?;
        if out.data_type() == want {
            return Ok(out);
        }
        out.cast_to(&want, None)
    }
}

pub(super) fn functions() -> Vec<Arc<dyn ScalarUDFImpl>> {
    vec![
        Arc::new(DecimalDivide::new()),
        Arc::new(Round {
            inner: datafusion::functions::math::round(),
        }),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn division_rounds_half_away_from_zero() {
        let r = |n: i128, d: i128| div_round(i256::from_i128(n), i256::from_i128(d)).unwrap();
        assert_eq!(r(5, 2), i256::from_i128(3));
        assert_eq!(r(-5, 2), i256::from_i128(-3));
        assert_eq!(r(5, -2), i256::from_i128(-3));
        assert_eq!(r(4, 3), i256::from_i128(1));
        assert_eq!(r(-7, 3), i256::from_i128(-2));
    }

    #[test]
    fn divide_type_follows_trino() {
        // DECIMAL(23,1) / DECIMAL(19,0): scale 1 (100.0 * count(*) / count(*)).
        assert_eq!(divide_type((23, 1), (19, 0)), DataType::Decimal128(23, 1));
        assert_eq!(divide_type((4, 1), (4, 3)), DataType::Decimal128(9, 3));
        assert_eq!(divide_type((2, 1), (2, 1)), DataType::Decimal128(3, 1));
    }
}

/// `floor`, `ceil`/`ceiling`, `truncate` and `sign` keep an integer's type, and give a
/// decimal of scale 0 for a decimal (Trino's math.md: "same as input"), where DataFusion's
/// return a double (`floor(7 / 2)` is `3`, not `3.0`).
#[derive(Debug, PartialEq, Eq, Hash)]
struct Integral {
    inner: Arc<ScalarUDF>,
    name: &'static str,
    aliases: Vec<String>,
    signature: Signature,
}

impl Integral {
    fn result_type(&self, input: &DataType, args: usize) -> Option<DataType> {
        if args != 1 {
            return None;
        }
        match input {
            t if t.is_integer() => Some(t.clone()),
            DataType::Decimal128(p, s) if self.name != "sign" => Some(DataType::Decimal128(
                (i16::from(*p) - i16::from(*s) + 1).clamp(1, 38) as u8,
                0,
            )),
            DataType::Decimal128(p, s) => Some(DataType::Decimal128(*p, *s)),
            _ => None,
        }
    }
}

impl ScalarUDFImpl for Integral {
    fn name(&self) -> &str {
        self.name
    }

    fn aliases(&self) -> &[String] {
        &self.aliases
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn coerce_types(&self, arg_types: &[DataType]) -> Result<Vec<DataType>> {
        if self.result_type(&arg_types[0], arg_types.len()).is_some() {
            return Ok(arg_types.to_vec());
        }
        // DataFusion's own: a double, and an integer number of digits for trunc(x, n).
        Ok(arg_types
            .iter()
            .enumerate()
            .map(|(i, _)| {
                if i == 0 {
                    DataType::Float64
                } else {
                    DataType::Int64
                }
            })
            .collect())
    }

    fn return_type(&self, arg_types: &[DataType]) -> Result<DataType> {
        match self.result_type(&arg_types[0], arg_types.len()) {
            Some(t) => Ok(t),
            None => self.inner.return_type(arg_types),
        }
    }

    fn simplify(
        &self,
        mut args: Vec<datafusion::logical_expr::Expr>,
        info: &datafusion::logical_expr::simplify::SimplifyContext,
    ) -> Result<datafusion::logical_expr::simplify::ExprSimplifyResult> {
        use datafusion::logical_expr::simplify::ExprSimplifyResult;
        let input = info.get_data_type(&args[0])?;
        let Some(t) = self.result_type(&input, args.len()) else {
            return Ok(ExprSimplifyResult::Simplified(self.inner.call(args)));
        };
        let x = args.remove(0);
        let out = if input.is_integer() && self.name != "sign" {
            x
        } else {
            datafusion::logical_expr::cast(
                self.inner
                    .call(vec![datafusion::logical_expr::cast(x, DataType::Float64)]),
                t,
            )
        };
        Ok(ExprSimplifyResult::Simplified(out))
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        self.inner.invoke_with_args(args)
    }
}

pub(super) fn integral_functions() -> Vec<Arc<dyn ScalarUDFImpl>> {
    use datafusion::functions::math;
    [
        (math::floor(), "floor", vec![]),
        (math::ceil(), "ceil", vec!["ceiling".to_string()]),
        (math::trunc(), "truncate", vec!["trunc".to_string()]),
        (math::signum(), "sign", vec!["signum".to_string()]),
    ]
    .into_iter()
    .map(|(inner, name, aliases)| {
        Arc::new(Integral {
            inner,
            name,
            aliases,
            signature: Signature::user_defined(Volatility::Immutable),
        }) as Arc<dyn ScalarUDFImpl>
    })
    .collect()
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Checked {
    Add,
    Sub,
    Mul,
}

/// `a + b`, `a - b`, `a * b` of integers with Arrow's checked kernels: an overflow is an error
/// ("bigint addition overflow" in Trino), where DataFusion's operators wrap around silently.
/// With more operands, `a + b + c ...` folded left to right, each step in the integer type
/// of its two operands, exactly as the nested operations.
#[derive(Debug, PartialEq, Eq, Hash)]
struct CheckedArithmetic {
    op: Checked,
    signature: Signature,
}

impl CheckedArithmetic {
    fn new(op: Checked) -> Self {
        Self {
            op,
            signature: Signature::variadic_any(Volatility::Immutable),
        }
    }

    fn symbol(&self) -> &'static str {
        match self.op {
            Checked::Add => "+",
            Checked::Sub => "-",
            Checked::Mul => "*",
        }
    }
}

/// The integer type both operands are computed in.
fn common_integer(l: &DataType, r: &DataType) -> DataType {
    use DataType::*;
    let width = |t: &DataType| match t {
        Int8 | UInt8 => 1,
        Int16 | UInt16 => 2,
        Int32 | UInt32 => 3,
        _ => 4,
    };
    match width(l).max(width(r)) {
        1 => Int8,
        2 => Int16,
        3 => Int32,
        _ => Int64,
    }
}

impl ScalarUDFImpl for CheckedArithmetic {
    fn name(&self) -> &str {
        match self.op {
            Checked::Add => "__trawl_checked_add",
            Checked::Sub => "__trawl_checked_sub",
            Checked::Mul => "__trawl_checked_mul",
        }
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, arg_types: &[DataType]) -> Result<DataType> {
        match arg_types {
            [first, rest @ ..] if !rest.is_empty() => Ok(rest
                .iter()
                .fold(first.clone(), |t, a| common_integer(&t, a))),
            _ => exec_err!("{} takes two operands or more", self.name()),
        }
    }

    fn schema_name(&self, args: &[datafusion::logical_expr::Expr]) -> Result<String> {
        let names: Vec<String> = args.iter().map(|a| a.schema_name().to_string()).collect();
        Ok(names.join(&format!(" {} ", self.symbol())))
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        use datafusion::arrow::compute::kernels::numeric;
        let rows = args.number_rows;
        let as_type = |a: &ColumnarValue, t: &DataType| -> Result<ArrayRef> {
            let a = if a.data_type() == *t {
                a.clone()
            } else {
                a.cast_to(t, None)?
            };
            a.to_array(rows)
        };
        let mut acc = args.args[0].clone();
        for r in &args.args[1..] {
            let t = common_integer(&acc.data_type(), &r.data_type());
            let (l, r) = (as_type(&acc, &t)?, as_type(r, &t)?);
            let out = match self.op {
                Checked::Add => numeric::add(&l, &r),
                Checked::Sub => numeric::sub(&l, &r),
                Checked::Mul => numeric::mul(&l, &r),
            };
            acc = match out {
                Ok(a) => ColumnarValue::Array(a),
                Err(e) => {
                    return exec_err!(
                        "{t} {} overflow: {e}; CAST to DECIMAL(38, 0) or DOUBLE for larger values",
                        match self.op {
                            Checked::Add => "addition",
                            Checked::Sub => "subtraction",
                            Checked::Mul => "multiplication",
                        }
                    );
                }
            };
        }
        Ok(acc)
    }
}
