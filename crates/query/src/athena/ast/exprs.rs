//! Expressions written for DataFusion with Trino's semantics: functions whose DataFusion
//! namesakes answer differently, casts, literals, `try`, LIKE escapes, IP addresses and
//! lambdas.

use std::ops::ControlFlow;

use datafusion::sql::sqlparser::ast::{Expr, Ident, Value, visit_expressions_mut};

use super::{Refused, call, call_n, call2, filled, get_fields, or};

/// `CAST(x AS IPADDRESS)` / `TRY_CAST` / `IPADDRESS '...'` to the `ipaddress` functions, and
/// a cast of an address to a string to `ipaddress_text` (see `athena::ip`).
pub(super) fn rewrite_ipaddress(e: &mut Expr) {
    use datafusion::sql::sqlparser::ast::{CastKind, DataType};
    let is_ip = |t: &DataType| matches!(t, DataType::Custom(name, _) if name.to_string().eq_ignore_ascii_case("ipaddress"));
    // An address: an `ipaddress` call, or min/max/arbitrary of one.
    fn is_ip_call(e: &Expr) -> bool {
        use datafusion::sql::sqlparser::ast::{FunctionArg, FunctionArgExpr, FunctionArguments};
        let Expr::Function(f) = e else { return false };
        let name = f.name.to_string().to_ascii_lowercase();
        if name == "ipaddress" || name == "try_ipaddress" {
            return true;
        }
        let FunctionArguments::List(list) = &f.args else {
            return false;
        };
        ["min", "max", "arbitrary", "any_value"].contains(&name.as_str())
            && matches!(list.args.as_slice(),
                [FunctionArg::Unnamed(FunctionArgExpr::Expr(inner))] if is_ip_call(inner))
    }
    let replacement = match e {
        Expr::Cast {
            kind,
            expr,
            data_type,
            ..
        } if is_ip(data_type) => {
            let name = if matches!(kind, CastKind::TryCast | CastKind::SafeCast) {
                "try_ipaddress"
            } else {
                "ipaddress"
            };
            call(name, (**expr).clone())
        }
        Expr::TypedString(ts) if is_ip(&ts.data_type) => {
            call("ipaddress", Expr::Value(ts.value.clone()))
        }
        Expr::Cast {
            expr, data_type, ..
        } if is_ip_call(expr)
            && matches!(
                data_type,
                DataType::Varchar(_)
                    | DataType::String(_)
                    | DataType::Text
                    | DataType::Char(_)
                    | DataType::CharVarying(_)
                    | DataType::CharacterVarying(_)
            ) =>
        {
            call("ipaddress_text", (**expr).clone())
        }
        _ => return,
    };
    *e = replacement;
}

/// `__trawl_lambda('x', body)` (see `athena::idents::mark_lambdas`) back to the lambda
/// `x -> body`; Trino's `all_match(a, x -> p)` to `NOT any_match(a, x -> NOT p)` and
/// `none_match(a, x -> p)` to `NOT any_match(a, x -> p)` (same NULL rules).
pub(super) fn rewrite_lambda(e: &mut Expr) {
    use datafusion::sql::sqlparser::ast::{
        FunctionArg, FunctionArgExpr, FunctionArguments, LambdaFunction, LambdaFunctionParameter,
        LambdaSyntax, ObjectName, ObjectNamePart, OneOrManyWithParens, UnaryOperator,
    };
    let Expr::Function(f) = e else { return };
    let name = f.name.to_string().to_ascii_lowercase();
    let FunctionArguments::List(list) = &mut f.args else {
        return;
    };
    if name == "__trawl_lambda" {
        let mut args: Vec<Expr> = list
            .args
            .iter()
            .filter_map(|a| match a {
                FunctionArg::Unnamed(FunctionArgExpr::Expr(x)) => Some(x.clone()),
                _ => None,
            })
            .collect();
        let Some(body) = args.pop() else { return };
        let params: Option<Vec<LambdaFunctionParameter>> = args
            .iter()
            .map(|a| match a {
                Expr::Value(v) => match &v.value {
                    Value::SingleQuotedString(s) => Some(LambdaFunctionParameter {
                        name: Ident::new(s.clone()),
                        data_type: None,
                    }),
                    _ => None,
                },
                _ => None,
            })
            .collect();
        let Some(mut params) = params else { return };
        // `r.arn` on a struct parameter: DataFusion reads a dotted name as table.column, so
        // the field accesses become get_field calls.
        let mut body = body;
        let _ = visit_expressions_mut(&mut body, |x| {
            if let Expr::CompoundIdentifier(parts) = x
                && params
                    .iter()
                    .any(|p| p.name.value.eq_ignore_ascii_case(&parts[0].value))
            {
                *x = get_fields(Expr::Identifier(parts[0].clone()), &parts[1..]);
            }
            ControlFlow::<()>::Continue(())
        });
        *e = Expr::Lambda(LambdaFunction {
            params: if params.len() == 1 {
                OneOrManyWithParens::One(params.remove(0))
            } else {
                OneOrManyWithParens::Many(params)
            },
            body: Box::new(body),
            syntax: LambdaSyntax::Arrow,
        });
        return;
    }
    if (name == "all_match" || name == "none_match")
        && let [
            _,
            FunctionArg::Unnamed(FunctionArgExpr::Expr(Expr::Lambda(lambda))),
        ] = list.args.as_mut_slice()
    {
        if name == "all_match" {
            let body = std::mem::replace(&mut *lambda.body, Expr::Value(Value::Null.into()));
            *lambda.body = Expr::UnaryOp {
                op: UnaryOperator::Not,
                expr: Box::new(Expr::Nested(Box::new(body))),
            };
        }
        f.name = ObjectName(vec![ObjectNamePart::Identifier(Ident::new("any_match"))]);
        let any = std::mem::replace(e, Expr::Value(Value::Null.into()));
        *e = Expr::UnaryOp {
            op: UnaryOperator::Not,
            expr: Box::new(Expr::Nested(Box::new(any))),
        };
    }
}

/// `CAST(x AS t)` / `TRY_CAST` for the types whose Trino casts differ from DataFusion's
/// (VARCHAR, JSON, the integers, DOUBLE, REAL, BOOLEAN, ARRAY, MAP, ROW) to `__trawl_cast(x, 't', try)`
/// (`athena::casts`), and the literal `JSON '...'` to `json_parse('...')`.
pub(super) fn rewrite_cast(e: &mut Expr) {
    use datafusion::sql::sqlparser::ast::{CastKind, DataType};
    let trino_name = |t: &DataType| -> Option<String> {
        Some(match t {
            DataType::Varchar(_)
            | DataType::String(_)
            | DataType::Text
            | DataType::Char(_)
            | DataType::Character(_)
            | DataType::CharVarying(_)
            | DataType::CharacterVarying(_) => "varchar".into(),
            DataType::JSON => "json".into(),
            DataType::Double(_) | DataType::DoublePrecision => "double".into(),
            DataType::Real => "real".into(),
            DataType::Boolean | DataType::Bool => "boolean".into(),
            // Trino rounds doubles and decimals half away from zero (athena::rewrite).
            DataType::BigInt(_) => "bigint".into(),
            DataType::Int(_) | DataType::Integer(_) => "integer".into(),
            DataType::SmallInt(_) => "smallint".into(),
            DataType::TinyInt(_) => "tinyint".into(),
            DataType::Array(_) | DataType::Map(..) | DataType::Struct(..) => t.to_string(),
            DataType::Custom(name, args)
                if name.to_string().eq_ignore_ascii_case("row")
                    || name.to_string().eq_ignore_ascii_case("map")
                    || name.to_string().eq_ignore_ascii_case("array") =>
            {
                format!("{name}({})", args.join(", "))
            }
            _ => return None,
        })
    };
    match e {
        Expr::Cast {
            kind,
            expr,
            data_type,
            format: None,
            ..
        } => {
            let Some(name) = trino_name(data_type) else {
                return;
            };
            let try_cast = matches!(kind, CastKind::TryCast | CastKind::SafeCast);
            *e = call_n(
                "__trawl_cast",
                vec![
                    (**expr).clone(),
                    Expr::value(Value::SingleQuotedString(name)),
                    Expr::value(Value::Boolean(try_cast)),
                ],
            );
        }
        Expr::TypedString(ts) if matches!(ts.data_type, DataType::JSON) => {
            *e = call("json_parse", Expr::Value(ts.value.clone()));
        }
        // DECIMAL '0012.50' is a DECIMAL(6,2): as many digits as written (Trino's decimal.md).
        Expr::TypedString(ts) if matches!(ts.data_type, DataType::Decimal(_)) => {
            let Value::SingleQuotedString(text) = &ts.value.value else {
                return;
            };
            let digits = text.trim().trim_start_matches(['-', '+']);
            let (int, frac) = digits.split_once('.').unwrap_or((digits, ""));
            let scale = frac.len() as u64;
            let precision = ((int.len() + frac.len()) as u64).clamp(1, 38).max(scale);
            *e = Expr::Cast {
                kind: CastKind::Cast,
                expr: Box::new(Expr::Value(ts.value.clone())),
                data_type: DataType::Decimal(
                    datafusion::sql::sqlparser::ast::ExactNumberInfo::PrecisionAndScale(
                        precision,
                        scale as i64,
                    ),
                ),
                array: false,
                format: None,
            };
        }
        _ => {}
    }
}

/// Trino functions whose DataFusion namesakes answer differently, written with DataFusion's
/// own functions (`athena::arrays` has the ones that need code):
/// - `greatest`/`least`: NULL when any argument is NULL (Trino's comparison.md; DataFusion
///   skips NULLs, as PostgreSQL does);
/// - `repeat(x, n)`: an array of `n` copies (DataFusion repeats text);
/// - `array_position(a, x)`: 0 when `x` is absent (DataFusion gives NULL);
/// - `array_remove(a, x)`: every occurrence (DataFusion removes the first);
/// - `array_sort(a)`: NULLs last (DataFusion puts them first);
/// - `mod(n, m)`, `date(x)`, `e()`, `infinity()`, `nan()`, `is_finite(x)`, `is_infinite(x)`.
pub(super) fn rewrite_trino_calls(e: &mut Expr) {
    use datafusion::sql::sqlparser::ast::{
        BinaryOperator, FunctionArg, FunctionArgExpr, FunctionArguments,
    };
    let Expr::Function(f) = e else { return };
    let name = f.name.to_string().to_ascii_lowercase();
    let args: Vec<Expr> = match &f.args {
        FunctionArguments::List(list) => list
            .args
            .iter()
            .filter_map(|a| match a {
                FunctionArg::Unnamed(FunctionArgExpr::Expr(x)) => Some(x.clone()),
                _ => None,
            })
            .collect(),
        FunctionArguments::None => vec![],
        FunctionArguments::Subquery(_) => return,
    };
    let is_null = |x: &Expr| Expr::IsNull(Box::new(Expr::Nested(Box::new(x.clone()))));
    let any_null = |xs: &[Expr]| xs.iter().map(is_null).reduce(or);
    let null_if = |cond: Option<Expr>, then: Expr| match cond {
        Some(cond) => Expr::Case {
            case_token:
                datafusion::sql::sqlparser::ast::helpers::attached_token::AttachedToken::empty(),
            end_token:
                datafusion::sql::sqlparser::ast::helpers::attached_token::AttachedToken::empty(),
            operand: None,
            conditions: vec![datafusion::sql::sqlparser::ast::CaseWhen {
                condition: cond,
                result: Expr::value(Value::Null),
            }],
            else_result: Some(Box::new(then)),
        },
        None => then,
    };
    let replacement = match (name.as_str(), args.as_slice()) {
        ("greatest" | "least", xs) if xs.len() > 1 => {
            let inner = std::mem::replace(e, Expr::value(Value::Null));
            null_if(any_null(xs), inner)
        }
        ("repeat", [x, n]) => call_n("array_repeat", vec![x.clone(), n.clone()]),
        ("array_remove", [a, x]) => call_n("array_remove_all", vec![a.clone(), x.clone()]),
        ("array_sort", [a]) => call_n(
            "array_sort",
            vec![
                a.clone(),
                Expr::value(Value::SingleQuotedString("ASC".into())),
                Expr::value(Value::SingleQuotedString("NULLS LAST".into())),
            ],
        ),
        ("array_position", [a, x]) => {
            let found = call_n(
                "coalesce",
                vec![
                    call_n("array_position", vec![a.clone(), x.clone()]),
                    Expr::value(Value::Number("0".into(), false)),
                ],
            );
            null_if(any_null(&[a.clone(), x.clone()]), found)
        }
        ("mod", [n, m]) => Expr::Nested(Box::new(Expr::BinaryOp {
            left: Box::new(Expr::Nested(Box::new(n.clone()))),
            op: BinaryOperator::Modulo,
            right: Box::new(Expr::Nested(Box::new(m.clone()))),
        })),
        ("date", [x]) => Expr::Cast {
            kind: datafusion::sql::sqlparser::ast::CastKind::Cast,
            expr: Box::new(x.clone()),
            data_type: datafusion::sql::sqlparser::ast::DataType::Date,
            array: false,
            format: None,
        },
        // Trino: NaN below the domain, -Infinity at 0 (DataFusion gives NULL, or an error).
        ("ln" | "log2" | "log10" | "sqrt", [x]) => {
            let inner = std::mem::replace(e, Expr::value(Value::Null));
            let zero = if name == "sqrt" {
                "CAST(0 AS DOUBLE)"
            } else {
                "CAST('-Infinity' AS DOUBLE)"
            };
            filled(
                &format!(
                    "CASE WHEN __trawl_arg0 < 0 THEN CAST('NaN' AS DOUBLE) WHEN __trawl_arg0 = 0 THEN {zero} ELSE __trawl_arg1 END"
                ),
                &[x.clone(), inner],
            )
        }
        ("e", []) => filled("exp(CAST(1 AS DOUBLE))", &[]),
        ("infinity", []) => filled("CAST('Infinity' AS DOUBLE)", &[]),
        ("nan", []) => filled("CAST('NaN' AS DOUBLE)", &[]),
        ("is_infinite", [x]) => filled(
            "abs(__trawl_arg0) = CAST('Infinity' AS DOUBLE)",
            std::slice::from_ref(x),
        ),
        ("is_finite", [x]) => filled(
            "(abs(__trawl_arg0) < CAST('Infinity' AS DOUBLE))",
            std::slice::from_ref(x),
        ),
        _ => return,
    };
    *e = replacement;
}

/// Trino's `try(x)`: NULL where evaluating `x` fails. The failures `x` can have are made NULL
/// where they arise: casts become TRY_CASTs, a division or remainder by zero divides by NULL,
/// `json_parse` of text that is not JSON is NULL. Other errors inside `try` (a bad argument
/// to a function) still fail the query, with their message.
pub(super) fn rewrite_try(e: &mut Expr) {
    use datafusion::sql::sqlparser::ast::{
        BinaryOperator, FunctionArg, FunctionArgExpr, FunctionArguments,
    };
    let Expr::Function(f) = e else { return };
    if !f.name.to_string().eq_ignore_ascii_case("try") {
        return;
    }
    let FunctionArguments::List(list) = &f.args else {
        return;
    };
    let [FunctionArg::Unnamed(FunctionArgExpr::Expr(inner))] = list.args.as_slice() else {
        return;
    };
    let mut inner = inner.clone();
    let _ = visit_expressions_mut(&mut inner, |x| {
        match x {
            Expr::Function(g) => {
                let name = g.name.to_string().to_ascii_lowercase();
                if name == "json_parse" {
                    g.name = datafusion::sql::sqlparser::ast::ObjectName(vec![
                        datafusion::sql::sqlparser::ast::ObjectNamePart::Identifier(Ident::new(
                            "__trawl_try_json_parse",
                        )),
                    ]);
                }
                if name == "__trawl_cast"
                    && let FunctionArguments::List(args) = &mut g.args
                    && let Some(FunctionArg::Unnamed(FunctionArgExpr::Expr(flag))) =
                        args.args.get_mut(2)
                {
                    *flag = Expr::value(Value::Boolean(true));
                }
            }
            Expr::BinaryOp {
                op: BinaryOperator::Divide | BinaryOperator::Modulo,
                right,
                ..
            } => {
                let divisor = std::mem::replace(&mut **right, Expr::value(Value::Null));
                **right = call2(
                    "nullif",
                    divisor,
                    Expr::value(Value::Number("0".into(), false)),
                );
            }
            _ => {}
        }
        ControlFlow::<()>::Continue(())
    });
    *e = Expr::Nested(Box::new(inner));
}

/// Trino forms DataFusion would plan with its own semantics:
/// - a number with an exponent (`1e3`) is a DOUBLE in Trino; other fractional literals are
///   decimals (the session parses them so);
/// - `SUBSTRING(s FROM a FOR b)` / `substr(s, a, b)` go to Trino's `substr` (DataFusion's
///   planner would call its own, which counts a start of 0 or less differently);
/// - `TRIM(BOTH FROM s)` is `trim(s)` (Unicode whitespace, not only spaces);
/// - `ts AT TIME ZONE z` is `at_timezone(ts, z)` (a timestamp without zone is UTC first).
pub(super) fn rewrite_string_forms(e: &mut Expr) {
    use datafusion::sql::sqlparser::ast::{DataType, TrimWhereField};
    match e {
        Expr::Value(v) => {
            if let Value::Number(n, _) = &v.value
                && n.contains(['e', 'E'])
            {
                *e = Expr::Cast {
                    kind: datafusion::sql::sqlparser::ast::CastKind::Cast,
                    expr: Box::new(e.clone()),
                    data_type: DataType::Double(
                        datafusion::sql::sqlparser::ast::ExactNumberInfo::None,
                    ),
                    array: false,
                    format: None,
                };
            }
        }
        Expr::Substring {
            expr,
            substring_from,
            substring_for,
            ..
        } => {
            let mut args = vec![(**expr).clone()];
            args.push(
                substring_from
                    .as_deref()
                    .cloned()
                    .unwrap_or_else(|| Expr::value(Value::Number("1".into(), false))),
            );
            if let Some(len) = substring_for {
                args.push((**len).clone());
            }
            *e = call_n("__trawl_substr", args);
        }
        Expr::Trim { trim_where, .. } if *trim_where == Some(TrimWhereField::Both) => {
            *trim_where = None;
        }
        // `(expr).field`: Trino's field access on any row value.
        Expr::CompoundFieldAccess { root, access_chain }
            if !matches!(**root, Expr::Identifier(_) | Expr::CompoundIdentifier(_))
                && access_chain.iter().all(|a| {
                    matches!(
                        a,
                        datafusion::sql::sqlparser::ast::AccessExpr::Dot(Expr::Identifier(_))
                    )
                }) =>
        {
            let fields: Vec<Ident> = access_chain
                .iter()
                .filter_map(|a| match a {
                    datafusion::sql::sqlparser::ast::AccessExpr::Dot(Expr::Identifier(id)) => {
                        Some(id.clone())
                    }
                    _ => None,
                })
                .collect();
            *e = get_fields((**root).clone(), &fields);
        }
        // TIMESTAMP '2024-03-01 12:00:00 America/New_York': a timestamp with time zone.
        Expr::TypedString(ts) if matches!(ts.data_type, DataType::Timestamp(..)) => {
            let Value::SingleQuotedString(text) = &ts.value.value else {
                return;
            };
            let Some((local, zone)) = text.trim().rsplit_once(' ') else {
                return;
            };
            if !zone.contains(|c: char| c.is_ascii_alphabetic() || c == '+')
                || zone.starts_with(|c: char| c.is_ascii_digit())
            {
                return;
            }
            let literal = Expr::TypedString(datafusion::sql::sqlparser::ast::TypedString {
                data_type: DataType::Timestamp(
                    None,
                    datafusion::sql::sqlparser::ast::TimezoneInfo::None,
                ),
                value: datafusion::sql::sqlparser::ast::ValueWithSpan {
                    value: Value::SingleQuotedString(local.to_string()),
                    span: ts.value.span,
                },
                uses_odbc_syntax: false,
            });
            *e = call_n(
                "with_timezone",
                vec![
                    literal,
                    Expr::value(Value::SingleQuotedString(zone.to_string())),
                ],
            );
        }
        Expr::Position { expr, r#in } => {
            *e = call_n("strpos", vec![(**r#in).clone(), (**expr).clone()]);
        }
        Expr::AtTimeZone {
            timestamp,
            time_zone,
        } => {
            *e = call_n(
                "at_timezone",
                vec![(**timestamp).clone(), (**time_zone).clone()],
            );
        }
        _ => {}
    }
}

/// Trino's LIKE: `\` is an ordinary character unless it is the `ESCAPE` character, and the
/// escape character may be any one character (followed by `%`, `_` or itself). DataFusion's
/// LIKE always escapes with `\`, so a constant pattern is rewritten into that form and any
/// other pattern goes through `__trawl_like_pattern(pattern, escape)`.
pub(super) fn rewrite_like(e: &mut Expr) -> Result<(), Refused> {
    let Expr::Like {
        pattern,
        escape_char,
        ..
    } = e
    else {
        return Ok(());
    };
    let escape = match escape_char.take().map(|v| v.value) {
        None => None,
        Some(Value::SingleQuotedString(c)) if c.chars().count() == 1 => c.chars().next(),
        Some(other) => {
            return Err(Refused::Unsupported(format!(
                "LIKE ... ESCAPE {other}: the escape must be a single character in quotes, e.g. ESCAPE '#'"
            )));
        }
    };
    match &**pattern {
        Expr::Value(v) if matches!(v.value, Value::SingleQuotedString(_)) => {
            let Value::SingleQuotedString(p) = &v.value else {
                unreachable!("matched above")
            };
            let p = super::super::strings::like_pattern(p, escape).map_err(Refused::Unsupported)?;
            **pattern = Expr::value(Value::SingleQuotedString(p));
        }
        other => {
            let esc = match escape {
                Some(c) => Expr::value(Value::SingleQuotedString(c.to_string())),
                None => Expr::value(Value::Null),
            };
            **pattern = call_n("__trawl_like_pattern", vec![other.clone(), esc]);
        }
    }
    Ok(())
}
