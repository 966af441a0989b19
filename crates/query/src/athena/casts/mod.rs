//! Trino's casts where DataFusion's differ, and Trino's JSON type.
//!
//! JSON values (what `json_extract`, `json_parse` and `CAST(x AS JSON)` return) are JSON text
//! whose Arrow field carries [`JSON_KEY`] = `json`, so a later cast knows it has JSON:
//! `CAST(json_extract(x, '$.a') AS VARCHAR)` of a JSON string is the string without quotes,
//! as in Trino, not the JSON text.
//!
//! `CAST(x AS <type>)` for VARCHAR, JSON, the integers, DOUBLE, REAL, BOOLEAN, ARRAY, MAP and ROW is
//! rewritten to `__trawl_cast(x, '<type>', try)`. It simplifies back to DataFusion's cast
//! whenever that agrees with Trino; it computes the result itself for:
//! - JSON input: JSON string, number, boolean, array, object to the type asked (JSON null is
//!   NULL; a value that does not fit is an error, or NULL with TRY_CAST);
//! - JSON output: a string becomes a JSON string (`CAST('abc' AS JSON)` is `"abc"`);
//! - VARCHAR output of a double (`1.0E10`, Java's text, as Trino prints), of a timestamp
//!   (`2024-03-01 13:04:05.000`, then the zone for a timestamp with time zone), or of an array,
//!   map or row (an error, as in Trino: use `array_join` or `CAST(... AS JSON)`).

use std::collections::HashMap;
use std::sync::Arc;

use datafusion::arrow::array::{Array, ArrayRef, AsArray, StringArray};
use datafusion::arrow::datatypes::{DataType, Field, FieldRef, Fields, TimeUnit};
use datafusion::common::{ScalarValue, plan_err};
use datafusion::error::Result;
use datafusion::logical_expr::simplify::{ExprSimplifyResult, SimplifyContext};
use datafusion::logical_expr::{
    ColumnarValue, Expr, ExprSchemable, ReturnFieldArgs, ScalarFunctionArgs, ScalarUDFImpl,
    Signature, TypeSignature, Volatility,
};

use super::rewrite::IntType;

mod json;

use json::{from_json, to_json_text};

/// The field metadata key that marks JSON text as Trino's JSON type.
pub(crate) const JSON_KEY: &str = "trawl.sql_type";

/// A field of JSON values.
pub(crate) fn json_field(name: &str) -> FieldRef {
    Arc::new(
        Field::new(name, DataType::Utf8, true)
            .with_metadata(HashMap::from([(JSON_KEY.to_string(), "json".to_string())])),
    )
}

/// `field`, marked as JSON values when `json` (an `array(json)`'s elements, a row's JSON field).
fn marked(field: Field, json: bool) -> Field {
    if json {
        field.with_metadata(HashMap::from([(JSON_KEY.to_string(), "json".to_string())]))
    } else {
        field
    }
}

pub(crate) fn is_json(field: &Field) -> bool {
    field.metadata().get(JSON_KEY).is_some_and(|v| v == "json")
}

/// A Trino type name (`varchar`, `array(varchar)`, `map(varchar, bigint)`,
/// `row(a bigint, b varchar)`, `json` ...) as an Arrow type; `json` is Utf8 (see [`is_json`]).
#[cfg(test)]
fn parse_type(text: &str) -> std::result::Result<(DataType, bool), String> {
    let (dt, json) = parse_shape(text)?;
    Ok((unmarked(&dt), json))
}

/// `dt` without the JSON marks [`parse_shape`] puts on nested fields: the type a plan
/// declares (a field's metadata is part of a nested type's equality).
fn unmarked(dt: &DataType) -> DataType {
    let plain = |f: &Field| Field::new(f.name(), unmarked(f.data_type()), f.is_nullable());
    match dt {
        DataType::List(f) => DataType::List(Arc::new(plain(f))),
        DataType::Map(f, sorted) => DataType::Map(Arc::new(plain(f)), *sorted),
        DataType::Struct(fields) => DataType::Struct(fields.iter().map(|f| plain(f)).collect()),
        other => other.clone(),
    }
}

/// [`parse_type`], the nested fields that hold JSON values (`array(json)`'s elements)
/// marked as such, so that a cast from JSON keeps those values as JSON text.
fn parse_shape(text: &str) -> std::result::Result<(DataType, bool), String> {
    // The parser's spelling (`ARRAY<VARCHAR>`, `STRUCT<a BIGINT>`) as Trino's.
    let normalized = text.trim().replace('<', "(").replace('>', ")");
    let t = match normalized.get(..6) {
        Some(head) if head.eq_ignore_ascii_case("struct") => format!("row{}", &normalized[6..]),
        _ => normalized,
    };
    let t = t.as_str();
    let lower = t.to_ascii_lowercase();
    let (head, inner) = match lower.find('(') {
        Some(i) if lower.ends_with(')') => (lower[..i].trim(), Some(&t[i + 1..t.len() - 1])),
        _ => (lower.as_str(), None),
    };
    let args = || -> Vec<&str> { inner.map(split_top).unwrap_or_default() };
    let dt = match head {
        "json" => return Ok((DataType::Utf8, true)),
        "varchar" | "char" | "string" | "text" | "character varying" => DataType::Utf8,
        "varbinary" => DataType::Binary,
        "bigint" => DataType::Int64,
        "integer" | "int" => DataType::Int32,
        "smallint" => DataType::Int16,
        "tinyint" => DataType::Int8,
        "double" | "double precision" => DataType::Float64,
        "real" | "float" => DataType::Float32,
        "boolean" => DataType::Boolean,
        "date" => DataType::Date32,
        "timestamp" => DataType::Timestamp(TimeUnit::Microsecond, None),
        "timestamp with time zone" => {
            DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into()))
        }
        "decimal" => {
            let a = args();
            let p: u8 = a.first().and_then(|p| p.trim().parse().ok()).unwrap_or(38);
            let s: i8 = a.get(1).and_then(|s| s.trim().parse().ok()).unwrap_or(0);
            DataType::Decimal128(p, s)
        }
        "array" => {
            let [elem] = args()[..] else {
                return Err(format!(
                    "{text}: array needs one element type, e.g. array(varchar)"
                ));
            };
            let (elem, json) = parse_shape(elem)?;
            DataType::List(Arc::new(marked(Field::new_list_field(elem, true), json)))
        }
        "map" => {
            let [k, v] = args()[..] else {
                return Err(format!(
                    "{text}: map needs a key and a value type, e.g. map(varchar, bigint)"
                ));
            };
            let (k, _) = parse_shape(k)?;
            let (v, v_json) = parse_shape(v)?;
            DataType::Map(
                Arc::new(Field::new(
                    "entries",
                    DataType::Struct(Fields::from(vec![
                        Field::new("key", k, false),
                        marked(Field::new("value", v, true), v_json),
                    ])),
                    false,
                )),
                false,
            )
        }
        "row" => {
            let mut fields = Vec::new();
            for (i, f) in args().into_iter().enumerate() {
                let f = f.trim();
                // `name type` or just `type`.
                let (name, ty) = match f.split_once(char::is_whitespace) {
                    Some((n, ty)) if parse_shape(ty).is_ok() && !n.contains('(') => {
                        (n.trim_matches('"').to_ascii_lowercase(), ty)
                    }
                    _ => (format!("field{i}"), f),
                };
                let (ty, json) = parse_shape(ty)?;
                fields.push(marked(Field::new(name, ty, true), json));
            }
            DataType::Struct(Fields::from(fields))
        }
        _ => return Err(format!("type {text} is not supported in CAST")),
    };
    Ok((dt, false))
}

/// `a, b(c, d), e` split at the commas outside parentheses.
fn split_top(s: &str) -> Vec<&str> {
    let mut out = Vec::new();
    let (mut depth, mut start) = (0, 0);
    for (i, c) in s.char_indices() {
        match c {
            '(' => depth += 1,
            ')' => depth -= 1,
            ',' if depth == 0 => {
                out.push(s[start..i].trim());
                start = i + 1;
            }
            _ => {}
        }
    }
    if !s[start..].trim().is_empty() {
        out.push(s[start..].trim());
    }
    out
}

/// Java's `Double.toString`, which Trino uses for `CAST(double AS VARCHAR)`: plain between
/// 10^-3 and 10^7 (`100.0`, `0.001`), else scientific (`1.0E10`, `1.234E-5`).
pub(crate) fn java_double(d: f64) -> String {
    java_text(d, format!("{d}"), format!("{d:e}"))
}

/// Java's `Float.toString` (for REAL), the same rules on the float's shortest digits.
fn java_float(f: f32) -> String {
    java_text(f64::from(f), format!("{f}"), format!("{f:e}"))
}

/// Java's text of a floating-point value from Rust's shortest plain and scientific texts.
fn java_text(d: f64, plain: String, scientific: String) -> String {
    if d.is_nan() {
        return "NaN".into();
    }
    if d.is_infinite() {
        return if d > 0.0 { "Infinity" } else { "-Infinity" }.into();
    }
    if d == 0.0 {
        return if d.is_sign_negative() { "-0.0" } else { "0.0" }.into();
    }
    if (1e-3..1e7).contains(&d.abs()) {
        return if plain.contains('.') {
            plain
        } else {
            plain + ".0"
        };
    }
    let (m, e) = scientific.split_once('e').expect("{:e} has an exponent");
    let m = if m.contains('.') {
        m.to_string()
    } else {
        format!("{m}.0")
    };
    format!("{m}E{e}")
}

#[derive(Debug, PartialEq, Eq, Hash)]
struct Cast {
    signature: Signature,
}

impl Cast {
    fn new() -> Self {
        Self {
            signature: Signature::one_of(
                vec![TypeSignature::Any(3), TypeSignature::Any(4)],
                Volatility::Immutable,
            ),
        }
    }
}

pub(super) fn functions() -> Vec<Arc<dyn ScalarUDFImpl>> {
    vec![
        Arc::new(Cast::new()),
        Arc::new(Try {
            signature: Signature::any(1, Volatility::Immutable),
        }),
    ]
}

/// The constant type text and TRY flag of a `__trawl_cast` call.
fn target(scalars: &[Option<&ScalarValue>]) -> Result<(DataType, bool, bool)> {
    let (shape, json, try_cast) = target_shape(scalars)?;
    Ok((unmarked(&shape), json, try_cast))
}

/// [`target`] with JSON fields marked ([`parse_shape`]).
fn target_shape(scalars: &[Option<&ScalarValue>]) -> Result<(DataType, bool, bool)> {
    let text = match scalars.get(1) {
        Some(Some(s)) => s.try_as_str().flatten().map(str::to_string),
        _ => None,
    };
    let Some(text) = text else {
        return plan_err!("CAST: the target type must be a constant");
    };
    let try_cast = matches!(scalars.get(2), Some(Some(ScalarValue::Boolean(Some(true)))));
    match parse_shape(&text) {
        Ok((dt, json)) => Ok((dt, json, try_cast)),
        Err(e) => plan_err!("{e}"),
    }
}

fn is_string(t: &DataType) -> bool {
    matches!(t, DataType::Utf8 | DataType::Utf8View | DataType::LargeUtf8)
}

/// Whether DataFusion's cast from `from` to `to` gives Trino's answer.
fn datafusion_agrees(from: &Field, to: &DataType, to_json: bool) -> bool {
    if is_json(from) || to_json {
        return false;
    }
    let f = from.data_type();
    if is_string(to) {
        return !matches!(
            f,
            DataType::Float64
                | DataType::Float32
                | DataType::Float16
                | DataType::Timestamp(..)
                | DataType::List(_)
                | DataType::LargeList(_)
                | DataType::FixedSizeList(..)
                | DataType::Struct(_)
                | DataType::Map(..)
        );
    }
    true
}

impl ScalarUDFImpl for Cast {
    fn name(&self) -> &str {
        "__trawl_cast"
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, _: &[DataType]) -> Result<DataType> {
        datafusion::common::internal_err!("__trawl_cast: use return_field_from_args")
    }

    fn return_field_from_args(&self, args: ReturnFieldArgs) -> Result<FieldRef> {
        let (dt, json, _) = target(args.scalar_arguments)?;
        if json {
            return Ok(json_field("cast"));
        }
        Ok(Arc::new(Field::new("cast", dt, true)))
    }

    fn simplify(&self, args: Vec<Expr>, info: &SimplifyContext) -> Result<ExprSimplifyResult> {
        let scalars: Vec<Option<ScalarValue>> = args
            .iter()
            .map(|a| match a {
                Expr::Literal(v, _) => Some(v.clone()),
                _ => None,
            })
            .collect();
        let refs: Vec<Option<&ScalarValue>> = scalars.iter().map(Option::as_ref).collect();
        let (to, to_json, try_cast) = target(&refs)?;
        let Ok((_, from)) = args[0].to_field(info.schema()) else {
            return Ok(ExprSimplifyResult::Original(args));
        };
        if args.len() == 4 {
            return Ok(ExprSimplifyResult::Original(args));
        }
        if !datafusion_agrees(&from, &to, to_json) {
            // Whether the input is JSON is known here, from the plan's schema; it is carried
            // as a fourth argument, so running it does not depend on field metadata.
            let mut args = args;
            args.push(Expr::Literal(
                ScalarValue::Boolean(Some(is_json(&from))),
                None,
            ));
            return Ok(ExprSimplifyResult::Simplified(Expr::ScalarFunction(
                datafusion::logical_expr::expr::ScalarFunction::new_udf(
                    Arc::new(datafusion::logical_expr::ScalarUDF::new_from_impl(
                        Cast::new(),
                    )),
                    args,
                ),
            )));
        }
        let input = args.into_iter().next().expect("three arguments");
        if let Some(rows) = positional_struct_cast(&input, from.data_type(), &to, try_cast) {
            return Ok(ExprSimplifyResult::Simplified(rows));
        }
        // Integers: Trino rounds doubles and decimals half away from zero (athena::rewrite).
        let int = match to {
            DataType::Int8 => Some(IntType::TinyInt),
            DataType::Int16 => Some(IntType::SmallInt),
            DataType::Int32 => Some(IntType::Integer),
            DataType::Int64 => Some(IntType::BigInt),
            _ => None,
        };
        if let Some(int) = int {
            let f = super::rewrite::integer_cast(int, try_cast);
            return Ok(match f.simplify(vec![input], info)? {
                ExprSimplifyResult::Original(args) => ExprSimplifyResult::Simplified(f.call(args)),
                done => done,
            });
        }
        let cast = if try_cast {
            Expr::TryCast(datafusion::logical_expr::TryCast::new(Box::new(input), to))
        } else {
            Expr::Cast(datafusion::logical_expr::Cast::new(Box::new(input), to))
        };
        Ok(ExprSimplifyResult::Simplified(cast))
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let rows = args.number_rows;
        let scalars = super::scalar_args(&args.args);
        let refs: Vec<Option<&ScalarValue>> = scalars.iter().map(Option::as_ref).collect();
        let (to, to_json, try_cast) = target(&refs)?;
        let input_is_json = match scalars.get(3) {
            Some(Some(ScalarValue::Boolean(Some(b)))) => *b,
            _ => is_json(&args.arg_fields[0]),
        };
        let input = args.args[0].to_array(rows)?;
        let out = if input_is_json {
            if to_json {
                input
            } else {
                // Built with JSON fields marked, then declared as the plan has it.
                let (shape, _, _) = target_shape(&refs)?;
                let out = from_json(&input, &shape, try_cast)?;
                if shape == to {
                    out
                } else {
                    datafusion::arrow::compute::cast(&out, &to)?
                }
            }
        } else if to_json {
            to_json_text(&input)?
        } else if is_string(&to) {
            to_varchar(&input, try_cast)?
        } else if to.is_integer() {
            to_integer(&input, &to, try_cast)?
        } else {
            if try_cast {
                datafusion::arrow::compute::cast_with_options(
                    &input,
                    &to,
                    &datafusion::arrow::compute::CastOptions {
                        safe: true,
                        ..Default::default()
                    },
                )?
            } else {
                datafusion::arrow::compute::cast(&input, &to)?
            }
        };
        Ok(ColumnarValue::Array(out))
    }
}

/// A cast between row types as Trino does it, by position: `CAST(ROW(a, b) AS ROW(x
/// varchar, y bigint))` names the fields `x` and `y` (Arrow casts structs by name only). Each
/// field is cast to its type (nested rows by position too); a NULL row stays NULL. `None` when
/// the two are not rows of the same arity or already have the same names.
fn positional_struct_cast(
    input: &Expr,
    from: &DataType,
    to: &DataType,
    try_cast: bool,
) -> Option<Expr> {
    use datafusion::functions::core::expr_fn::{get_field, named_struct};
    use datafusion::logical_expr::{case, lit};
    let (DataType::Struct(from_fields), DataType::Struct(to_fields)) = (from, to) else {
        return None;
    };
    if from_fields.len() != to_fields.len() || same_names(from, to) {
        return None;
    }
    let mut members = Vec::with_capacity(2 * to_fields.len());
    for (f, t) in from_fields.iter().zip(to_fields.iter()) {
        let value = get_field(input.clone(), f.name().as_str());
        let value = positional_struct_cast(&value, f.data_type(), t.data_type(), try_cast)
            .unwrap_or_else(|| {
                if f.data_type() == t.data_type() {
                    value
                } else if try_cast {
                    Expr::TryCast(datafusion::logical_expr::TryCast::new(
                        Box::new(value),
                        t.data_type().clone(),
                    ))
                } else {
                    Expr::Cast(datafusion::logical_expr::Cast::new(
                        Box::new(value),
                        t.data_type().clone(),
                    ))
                }
            });
        members.push(lit(t.name().as_str()));
        members.push(value);
    }
    case(input.clone().is_null())
        .when(lit(true), lit(ScalarValue::try_from(to).ok()?))
        .otherwise(named_struct(members))
        .ok()
}

/// Whether two types name their row fields alike at every depth (so Arrow's cast by name is
/// Trino's by position).
fn same_names(from: &DataType, to: &DataType) -> bool {
    match (from, to) {
        (DataType::Struct(a), DataType::Struct(b)) => {
            a.len() == b.len()
                && a.iter()
                    .zip(b.iter())
                    .all(|(a, b)| a.name() == b.name() && same_names(a.data_type(), b.data_type()))
        }
        _ => true,
    }
}

/// CAST(x AS <integer>) as Trino: doubles and decimals rounded half away from zero first
/// (Arrow's cast truncates); out of range is an error, or NULL with TRY_CAST.
fn to_integer(input: &ArrayRef, to: &DataType, try_cast: bool) -> Result<ArrayRef> {
    use datafusion::arrow::compute::{CastOptions, cast_with_options};
    let rounded = match input.data_type() {
        DataType::Float64 | DataType::Float32 | DataType::Float16 => {
            let f = datafusion::arrow::compute::cast(input, &DataType::Float64)?;
            let f = f.as_primitive::<datafusion::arrow::datatypes::Float64Type>();
            Arc::new(f.unary::<_, datafusion::arrow::datatypes::Float64Type>(f64::round))
                as ArrayRef
        }
        // Arrow rescales decimals half away from zero.
        DataType::Decimal128(..) | DataType::Decimal256(..) => {
            datafusion::arrow::compute::cast(input, &DataType::Decimal128(38, 0))?
        }
        _ => input.clone(),
    };
    let options = CastOptions {
        safe: try_cast,
        ..Default::default()
    };
    Ok(cast_with_options(&rounded, to, &options)?)
}

/// CAST(x AS VARCHAR) where DataFusion's text differs from Trino's.
fn to_varchar(input: &ArrayRef, try_cast: bool) -> Result<ArrayRef> {
    let out: StringArray = match input.data_type() {
        DataType::Float64 => {
            let a = input.as_primitive::<datafusion::arrow::datatypes::Float64Type>();
            a.iter().map(|v| v.map(java_double)).collect()
        }
        DataType::Float32 => {
            let a = input.as_primitive::<datafusion::arrow::datatypes::Float32Type>();
            a.iter().map(|v| v.map(java_float)).collect()
        }
        DataType::Timestamp(_, zone) => {
            let tz = zone.as_deref().map(super::zones::parse_zone).transpose()?;
            let micros = super::zones::instants(input)?;
            micros
                .iter()
                .map(|t| super::zones::trino_timestamp_text(t?, tz.as_ref().zip(zone.as_deref())))
                .collect()
        }
        _ if try_cast => StringArray::new_null(input.len()),
        other => {
            return plan_err!(
                "Cannot cast {other} to varchar (Trino has no such cast); use array_join(x, ',') for an array, or CAST(x AS JSON)"
            );
        }
    };
    Ok(Arc::new(out))
}

/// `try(x)` after [`super::ast`] made the failures of `x` NULL where they arise: `x` itself.
#[derive(Debug, PartialEq, Eq, Hash)]
struct Try {
    signature: Signature,
}

impl ScalarUDFImpl for Try {
    fn name(&self) -> &str {
        "try"
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, args: &[DataType]) -> Result<DataType> {
        Ok(args[0].clone())
    }

    fn simplify(&self, mut args: Vec<Expr>, _: &SimplifyContext) -> Result<ExprSimplifyResult> {
        Ok(ExprSimplifyResult::Simplified(args.remove(0)))
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        Ok(args.args[0].clone())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn doubles_print_as_java_does() {
        assert_eq!(java_double(1e10), "1.0E10");
        assert_eq!(java_double(100.0), "100.0");
        assert_eq!(java_double(0.001), "0.001");
        assert_eq!(java_double(1.234e-5), "1.234E-5");
        assert_eq!(java_double(1234567.5), "1234567.5");
        assert_eq!(java_double(12345678.0), "1.2345678E7");
        assert_eq!(java_double(-0.5), "-0.5");
    }

    #[test]
    fn trino_type_names_parse() {
        assert_eq!(
            parse_type("ARRAY(VARCHAR)").unwrap().0,
            DataType::List(Arc::new(Field::new_list_field(DataType::Utf8, true)))
        );
        assert!(matches!(
            parse_type("map(varchar, bigint)").unwrap().0,
            DataType::Map(..)
        ));
        let DataType::Struct(f) = parse_type("row(a bigint, b array(varchar))").unwrap().0 else {
            panic!("a row is a struct")
        };
        assert_eq!(f[0].name(), "a");
        assert!(parse_type("json").unwrap().1);
    }
}
