//! Rewrites of a parsed statement before planning.
//!
//! Output names: `SELECT useridentity.arn` yields a column named `arn`, as in Athena.
//!
//! Trino's `UNNEST` in `FROM`:
//!
//! ```sql
//! SELECT ... FROM base [AS b] CROSS JOIN UNNEST(e1[, e2 ...]) [WITH ORDINALITY] AS t(c1[, c2 ...][, ord])
//! SELECT ... FROM base [AS b], UNNEST(...) AS t(...)
//! ```
//!
//! DataFusion plans these but cannot run them; its own form is `unnest()` in a projection.
//! They are rewritten to
//! `FROM (SELECT b.*, unnest(e1) AS c1, ... [, unnest(range(1, cardinality(e1) + 1)) AS ord] FROM base AS b) AS b`
//! and references `t.c1` become `b.c1`. The arrays of one `UNNEST(e1, e2)` are zipped, the
//! shorter padded with NULLs; each further `UNNEST` join wraps the result again, so two of them
//! give every combination, as in Trino; empty or NULL arrays produce no row.
//! `LEFT JOIN UNNEST(...) ON TRUE` adds back, with NULL element columns, the rows whose arrays
//! are all empty or NULL (a `UNION ALL` branch over the same base). The relation an `UNNEST`
//! wraps is the one its arrays name (`l.resources` → `l`; unqualified → the first), which may
//! sit next to other joins as long as no RIGHT or FULL join could add rows without it.

use std::ops::ControlFlow;

use datafusion::sql::sqlparser::ast::{
    Expr, Ident, JoinConstraint, JoinOperator, Query, Select, SelectItem, SetExpr, Statement,
    TableAlias, TableFactor, Value, VisitMut, VisitorMut, visit_expressions_mut,
};
use datafusion::sql::sqlparser::dialect::GenericDialect;
use datafusion::sql::sqlparser::parser::Parser;

/// Rewrites every query of `stmt` (UNNEST relations, output names); an `UNNEST` it cannot
/// express gives an error that names the construct and the supported form.
pub fn rewrite_statement(stmt: &mut Statement) -> Result<(), String> {
    struct V(Option<String>);
    impl VisitorMut for V {
        type Break = ();
        fn post_visit_expr(&mut self, e: &mut Expr) -> ControlFlow<()> {
            if let Expr::Subquery(q) = e {
                materialize_inner_fields(q);
            }
            rewrite_lambda(e);
            rewrite_trino_calls(e);
            rewrite_try(e);
            rewrite_ipaddress(e);
            rewrite_cast(e);
            rewrite_string_forms(e);
            if let Err(msg) = rewrite_like(e) {
                self.0 = Some(msg);
                return ControlFlow::Break(());
            }
            ControlFlow::Continue(())
        }
        fn post_visit_query(&mut self, q: &mut Query) -> ControlFlow<()> {
            match rewrite_query(q) {
                Ok(()) => ControlFlow::Continue(()),
                Err(e) => {
                    self.0 = Some(e);
                    ControlFlow::Break(())
                }
            }
        }
    }
    let mut outer = OuterFieldAccess::default();
    let _ = stmt.visit(&mut outer);
    if let Some(e) = outer.error {
        return Err(e);
    }
    let mut v = V(None);
    let _ = stmt.visit(&mut v);
    v.0.map_or(Ok(()), Err)
}

/// The struct columns of `cloudtrail_logs` (`useridentity`, `tlsdetails`, `addendum` ...).
fn is_struct_column(name: &str) -> bool {
    trawl_schema::FIELDS.iter().any(|f| {
        matches!(f.kind, trawl_schema::Kind::Object(_)) && f.key.eq_ignore_ascii_case(name)
    })
}

/// A scalar subquery whose WHERE reads a field of its own rows' struct
/// (`(SELECT count(*) FROM cloudtrail_logs s WHERE s.useridentity.arn = t.eventname)`):
/// DataFusion's decorrelation of scalar subqueries loses such a field once it is folded onto
/// the lake's flat column ("No field named ...useridentity_arn"), so the field is computed in
/// a derived table first, `(SELECT *, s.useridentity.arn AS __trawl_f0 FROM cloudtrail_logs
/// AS s) AS s`, and the WHERE reads `s.__trawl_f0`.
fn materialize_inner_fields(q: &mut Query) {
    let SetExpr::Select(select) = &mut *q.body else {
        return;
    };
    let Some(selection) = &mut select.selection else {
        return;
    };
    // The relations of FROM that are plain tables, by the name they are referred to.
    let tables: Vec<String> = select
        .from
        .iter()
        .flat_map(|item| {
            std::iter::once(&item.relation).chain(item.joins.iter().map(|j| &j.relation))
        })
        .filter(|r| matches!(r, TableFactor::Table { .. }))
        .filter_map(relation_name)
        .collect();
    let single = (select.from.len() == 1 && select.from[0].joins.is_empty())
        .then(|| tables.first().cloned())
        .flatten();
    // (relation, access text inside the derived table, new column name)
    let mut fields: Vec<(String, String, String)> = Vec::new();
    let _ = visit_expressions_mut(selection, |x| {
        let Expr::CompoundIdentifier(parts) = x else {
            return ControlFlow::<()>::Continue(());
        };
        let first = parts[0].value.to_ascii_lowercase();
        let (relation, path) = if parts.len() >= 3 && tables.contains(&first) {
            (first, &parts[1..])
        } else if parts.len() >= 2
            && is_struct_column(&first)
            && let Some(only) = &single
        {
            (only.clone(), &parts[..])
        } else {
            return ControlFlow::Continue(());
        };
        if !is_struct_column(&path[0].value) {
            return ControlFlow::Continue(());
        }
        let access = path
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>()
            .join(".");
        let name = match fields
            .iter()
            .find(|(r, a, _)| *r == relation && *a == access)
        {
            Some((_, _, n)) => n.clone(),
            None => {
                let n = format!("__trawl_f{}", fields.len());
                fields.push((relation.clone(), access, n.clone()));
                n
            }
        };
        *x = Expr::CompoundIdentifier(vec![Ident::new(relation), Ident::new(name)]);
        ControlFlow::Continue(())
    });
    if fields.is_empty() {
        return;
    }
    for item in &mut select.from {
        for relation in std::iter::once(&mut item.relation)
            .chain(item.joins.iter_mut().map(|j| &mut j.relation))
        {
            let Some(name) = relation_name(relation) else {
                continue;
            };
            let extra: Vec<String> = fields
                .iter()
                .filter(|(r, _, _)| *r == name)
                .map(|(_, access, n)| format!("{name}.{access} AS {n}"))
                .collect();
            if extra.is_empty() {
                continue;
            }
            let mut plain = relation.clone();
            if let TableFactor::Table { alias, .. } = &mut plain {
                *alias = None;
            }
            let sql = format!("SELECT *, {} FROM {plain} AS {name}", extra.join(", "));
            let Ok(subquery) = Parser::new(&GenericDialect {})
                .try_with_sql(&sql)
                .and_then(|mut p| p.parse_query())
            else {
                continue;
            };
            *relation = TableFactor::Derived {
                lateral: false,
                subquery,
                alias: Some(TableAlias {
                    explicit: true,
                    name: Ident::new(name),
                    columns: vec![],
                    at: None,
                }),
                sample: None,
            };
        }
    }
}

/// A correlated subquery that reads a field of an outer row's struct (`t.useridentity.arn`
/// inside `EXISTS (...)`, `IN (...)` or a scalar subquery): DataFusion plans outer
/// references of two parts only, so the access becomes `get_field(t.useridentity, 'arn')`,
/// the same expression DataFusion makes of a field access on its own rows.
///
/// It also refuses what DataFusion cannot run and would report obscurely: a correlated scalar
/// subquery whose correlation is not an equality (`s.eventtime < t.eventtime`).
#[derive(Default)]
struct OuterFieldAccess {
    /// The relation names of each query being visited, outermost first.
    scopes: Vec<Vec<String>>,
    error: Option<String>,
}

impl OuterFieldAccess {
    /// Whether `e` reads a column of an enclosing query (not of `own`).
    fn reads_outer(&self, e: &Expr, own: &[String]) -> bool {
        let mut found = false;
        let _ = datafusion::sql::sqlparser::ast::visit_expressions(e, |x| {
            if let Expr::CompoundIdentifier(parts) = x {
                let first = parts[0].value.to_ascii_lowercase();
                found |= !own.contains(&first) && self.scopes.iter().any(|s| s.contains(&first));
            }
            ControlFlow::<()>::Continue(())
        });
        found
    }

    /// The first conjunct of a scalar subquery's WHERE that correlates by other than `=`.
    fn non_equality_correlation(&self, q: &Query) -> Option<String> {
        let SetExpr::Select(select) = &*q.body else {
            return None;
        };
        let own = from_names(q);
        let mut conjuncts = Vec::new();
        split_and(select.selection.clone()?, &mut conjuncts);
        conjuncts
            .into_iter()
            .find(|c| {
                let equality = matches!(
                    c,
                    Expr::BinaryOp {
                        op: datafusion::sql::sqlparser::ast::BinaryOperator::Eq,
                        ..
                    }
                );
                !equality && self.reads_outer(c, &own)
            })
            .map(|c| c.to_string())
    }
}

/// The names relations are referred to by in the `FROM` of `q`'s own SELECTs.
fn from_names(q: &Query) -> Vec<String> {
    fn collect(body: &SetExpr, out: &mut Vec<String>) {
        match body {
            SetExpr::Select(select) => {
                for item in &select.from {
                    out.extend(relation_name(&item.relation));
                    for join in &item.joins {
                        out.extend(relation_name(&join.relation));
                    }
                }
            }
            SetExpr::SetOperation { left, right, .. } => {
                collect(left, out);
                collect(right, out);
            }
            _ => {}
        }
    }
    let mut out = Vec::new();
    collect(&q.body, &mut out);
    out
}

impl VisitorMut for OuterFieldAccess {
    type Break = ();

    fn pre_visit_query(&mut self, q: &mut Query) -> ControlFlow<()> {
        self.scopes.push(from_names(q));
        ControlFlow::Continue(())
    }

    fn post_visit_query(&mut self, _: &mut Query) -> ControlFlow<()> {
        self.scopes.pop();
        ControlFlow::Continue(())
    }

    fn post_visit_expr(&mut self, e: &mut Expr) -> ControlFlow<()> {
        if let Expr::Subquery(q) = e
            && let Some(condition) = self.non_equality_correlation(q)
        {
            self.error = Some(format!(
                "a scalar subquery correlated by a condition other than `=` ({condition}) is not supported (DataFusion cannot run it); \
                 write it as a JOIN with GROUP BY, or use EXISTS / IN, which take any condition"
            ));
            return ControlFlow::Break(());
        }
        let Expr::CompoundIdentifier(parts) = e else {
            return ControlFlow::Continue(());
        };
        let Some((own, outer)) = self.scopes.split_last() else {
            return ControlFlow::Continue(());
        };
        let first = parts[0].value.to_ascii_lowercase();
        let is_outer = parts.len() >= 3
            && !own.contains(&first)
            && outer.iter().any(|scope| scope.contains(&first));
        if !is_outer {
            return ControlFlow::Continue(());
        }
        *e = field_access(parts);
        ControlFlow::Continue(())
    }
}

/// `t.s.a.b` as `get_field(get_field(t.s, 'a'), 'b')`: an outer reference of two parts.
fn field_access(parts: &[Ident]) -> Expr {
    get_fields(Expr::CompoundIdentifier(parts[..2].to_vec()), &parts[2..])
}

/// `base` followed by the field accesses `fields` as `get_field` calls (unquoted names folded
/// to lower case, as Athena's are).
fn get_fields(base: Expr, fields: &[Ident]) -> Expr {
    fields.iter().fold(base, |access, field| {
        let name = if field.quote_style.is_some() {
            field.value.clone()
        } else {
            field.value.to_ascii_lowercase()
        };
        call2(
            "get_field",
            access,
            Expr::value(Value::SingleQuotedString(name)),
        )
    })
}

/// `CAST(x AS IPADDRESS)` / `TRY_CAST` / `IPADDRESS '...'` to the `ipaddress` functions, and
/// a cast of an address to a string to `ipaddress_text` (see `athena::ip`).
fn rewrite_ipaddress(e: &mut Expr) {
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
fn rewrite_lambda(e: &mut Expr) {
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
fn rewrite_cast(e: &mut Expr) {
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
fn rewrite_trino_calls(e: &mut Expr) {
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
    let parse = |sql: &str| {
        Parser::new(&GenericDialect {})
            .try_with_sql(sql)
            .and_then(|mut p| p.parse_expr())
            .expect("a fixed expression parses")
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
            let x = Expr::Nested(Box::new(x.clone()));
            let inner = std::mem::replace(e, Expr::value(Value::Null));
            let zero = if name == "sqrt" {
                "CAST(0 AS DOUBLE)"
            } else {
                "CAST('-Infinity' AS DOUBLE)"
            };
            let mut case = parse(&format!(
                "CASE WHEN {x} < 0 THEN CAST('NaN' AS DOUBLE) WHEN {x} = 0 THEN {zero} ELSE NULL END"
            ));
            if let Expr::Case { else_result, .. } = &mut case {
                *else_result = Some(Box::new(inner));
            }
            case
        }
        ("e", []) => parse("exp(CAST(1 AS DOUBLE))"),
        ("infinity", []) => parse("CAST('Infinity' AS DOUBLE)"),
        ("nan", []) => parse("CAST('NaN' AS DOUBLE)"),
        ("is_infinite", [x]) => {
            let x = Expr::Nested(Box::new(x.clone()));
            parse(&format!("abs({x}) = CAST('Infinity' AS DOUBLE)"))
        }
        ("is_finite", [x]) => {
            let x = Expr::Nested(Box::new(x.clone()));
            parse(&format!("(abs({x}) < CAST('Infinity' AS DOUBLE))"))
        }
        _ => return,
    };
    *e = replacement;
}

/// Trino's `try(x)`: NULL where evaluating `x` fails. The failures `x` can have are made NULL
/// where they arise: casts become TRY_CASTs, a division or remainder by zero divides by NULL,
/// `json_parse` of text that is not JSON is NULL. Other errors inside `try` (a bad argument
/// to a function) still fail the query, with their message.
fn rewrite_try(e: &mut Expr) {
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
fn rewrite_string_forms(e: &mut Expr) {
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
fn rewrite_like(e: &mut Expr) -> Result<(), String> {
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
            return Err(format!(
                "LIKE ... ESCAPE {other}: the escape must be a single character in quotes, e.g. ESCAPE '#'"
            ));
        }
    };
    match &**pattern {
        Expr::Value(v) if matches!(v.value, Value::SingleQuotedString(_)) => {
            let Value::SingleQuotedString(p) = &v.value else {
                unreachable!("matched above")
            };
            let p = super::strings::like_pattern(p, escape)?;
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

/// `name(args...)` as an expression (`name` must not be one the parser treats specially).
fn call_n(name: &str, args: Vec<Expr>) -> Expr {
    use datafusion::sql::sqlparser::ast::{FunctionArg, FunctionArgExpr, FunctionArguments};
    let mut args = args.into_iter();
    let mut e = call(name, args.next().unwrap_or(Expr::value(Value::Null)));
    if let Expr::Function(f) = &mut e
        && let FunctionArguments::List(list) = &mut f.args
    {
        list.args
            .extend(args.map(|a| FunctionArg::Unnamed(FunctionArgExpr::Expr(a))));
    }
    e
}

/// `name(a, b)` as an expression.
fn call2(name: &str, a: Expr, b: Expr) -> Expr {
    use datafusion::sql::sqlparser::ast::{FunctionArg, FunctionArgExpr, FunctionArguments};
    let mut e = call(name, a);
    if let Expr::Function(f) = &mut e
        && let FunctionArguments::List(list) = &mut f.args
    {
        list.args
            .push(FunctionArg::Unnamed(FunctionArgExpr::Expr(b)));
    }
    e
}

/// `name(arg)` as an expression.
fn call(name: &str, arg: Expr) -> Expr {
    use datafusion::sql::sqlparser::ast::{FunctionArg, FunctionArgExpr, FunctionArguments};
    let mut e = Parser::new(&GenericDialect {})
        .try_with_sql(&format!("{name}(NULL)"))
        .and_then(|mut p| p.parse_expr())
        .expect("a one-argument call parses");
    if let Expr::Function(f) = &mut e
        && let FunctionArguments::List(list) = &mut f.args
    {
        list.args[0] = FunctionArg::Unnamed(FunctionArgExpr::Expr(arg));
    }
    e
}

/// `x NOT IN (SELECT y FROM ... WHERE <correlated>)` as a conjunct of WHERE: DataFusion plans
/// it as a null-aware anti join, which takes a single key ("only supports single column join
/// key"). In WHERE only TRUE keeps a row, so it is the same as
/// `NOT EXISTS (SELECT 1 FROM ... WHERE <correlated> AND (y = x OR y IS NULL OR x IS NULL))`:
/// no row when x is NULL or the values hold a NULL (NOT IN gives NULL), every row when there
/// are no values.
fn rewrite_correlated_not_in(q: &mut Query) {
    let outer = from_names(q);
    let SetExpr::Select(select) = &mut *q.body else {
        return;
    };
    let Some(selection) = select.selection.take() else {
        return;
    };
    let mut conjuncts = Vec::new();
    split_and(selection, &mut conjuncts);
    for c in &mut conjuncts {
        let Expr::InSubquery {
            expr,
            subquery,
            negated: true,
        } = c
        else {
            continue;
        };
        let inner = from_names(subquery);
        let SetExpr::Select(sub) = &mut *subquery.body else {
            continue;
        };
        let simple = sub.projection.len() == 1
            && sub.group_by
                == datafusion::sql::sqlparser::ast::GroupByExpr::Expressions(vec![], vec![])
            && sub.having.is_none()
            && sub.distinct.is_none()
            && subquery.limit_clause.is_none();
        let Some(SelectItem::UnnamedExpr(item) | SelectItem::ExprWithAlias { expr: item, .. }) =
            sub.projection.first().cloned().filter(|_| simple)
        else {
            continue;
        };
        let mut correlated = false;
        let _ = datafusion::sql::sqlparser::ast::visit_expressions(&**subquery, |x| {
            if let Expr::CompoundIdentifier(parts) = x {
                let first = parts[0].value.to_ascii_lowercase();
                correlated |= outer.contains(&first) && !inner.contains(&first);
            }
            ControlFlow::<()>::Continue(())
        });
        if !correlated {
            continue;
        }
        // x moves into the subquery, where it is an outer reference (two parts at most).
        let x = match &**expr {
            Expr::CompoundIdentifier(parts) if parts.len() >= 3 => field_access(parts),
            other => Expr::Nested(Box::new(other.clone())),
        };
        let y = Expr::Nested(Box::new(item));
        let matches = Expr::Nested(Box::new(or(
            or(
                Expr::BinaryOp {
                    left: Box::new(y.clone()),
                    op: datafusion::sql::sqlparser::ast::BinaryOperator::Eq,
                    right: Box::new(x.clone()),
                },
                Expr::IsNull(Box::new(y)),
            ),
            Expr::IsNull(Box::new(x)),
        )));
        let SetExpr::Select(sub) = &mut *subquery.body else {
            continue;
        };
        sub.selection = Some(match sub.selection.take() {
            Some(w) => and(Expr::Nested(Box::new(w)), matches),
            None => matches,
        });
        sub.projection = vec![SelectItem::UnnamedExpr(Expr::value(Value::Number(
            "1".into(),
            false,
        )))];
        *c = Expr::Exists {
            subquery: subquery.clone(),
            negated: true,
        };
    }
    select.selection = conjuncts.into_iter().reduce(and);
}

fn split_and(e: Expr, out: &mut Vec<Expr>) {
    match e {
        Expr::BinaryOp {
            left,
            op: datafusion::sql::sqlparser::ast::BinaryOperator::And,
            right,
        } => {
            split_and(*left, out);
            split_and(*right, out);
        }
        Expr::Nested(inner)
            if matches!(
                &*inner,
                Expr::BinaryOp {
                    op: datafusion::sql::sqlparser::ast::BinaryOperator::And,
                    ..
                }
            ) =>
        {
            split_and(*inner, out)
        }
        other => out.push(other),
    }
}

fn and(a: Expr, b: Expr) -> Expr {
    Expr::BinaryOp {
        left: Box::new(a),
        op: datafusion::sql::sqlparser::ast::BinaryOperator::And,
        right: Box::new(b),
    }
}

fn or(a: Expr, b: Expr) -> Expr {
    Expr::BinaryOp {
        left: Box::new(a),
        op: datafusion::sql::sqlparser::ast::BinaryOperator::Or,
        right: Box::new(b),
    }
}

fn rewrite_query(q: &mut Query) -> Result<(), String> {
    rewrite_correlated_not_in(q);
    let mut renames = Vec::new();
    rewrite_set_expr(&mut q.body, &mut renames)?;
    name_field_accesses(&mut q.body);
    if !renames.is_empty() {
        let _ = visit_expressions_mut(q, |e| {
            if let Expr::CompoundIdentifier(parts) = e
                && let Some((_, to)) = renames
                    .iter()
                    .find(|(from, _): &&(String, String)| parts[0].value.eq_ignore_ascii_case(from))
            {
                parts[0] = Ident::new(to.clone());
            }
            ControlFlow::<()>::Continue(())
        });
    }
    Ok(())
}

/// As in Athena, `SELECT useridentity.arn` yields a column named `arn` (DataFusion would call
/// it `cloudtrail_logs.useridentity[arn]`): unaliased dotted references get their last name.
fn name_field_accesses(body: &mut SetExpr) {
    match body {
        SetExpr::Select(select) => {
            // Trino allows the same unaliased expression twice (`SELECT count(*), count(*)`);
            // DataFusion needs distinct names, so a repeat gets Athena's name, `_col<N>`.
            let mut seen = std::collections::HashSet::new();
            // Scalar subqueries all get the same name from DataFusion, so they are named too.
            for (n, item) in select.projection.iter_mut().enumerate() {
                if let SelectItem::UnnamedExpr(expr) = item
                    && !matches!(expr, Expr::Identifier(_) | Expr::CompoundIdentifier(_))
                    && (!seen.insert(expr.to_string()) || matches!(expr, Expr::Subquery(_)))
                {
                    *item = SelectItem::ExprWithAlias {
                        expr: expr.clone(),
                        alias: Ident::new(format!("_col{n}")),
                    };
                }
            }
            for item in &mut select.projection {
                if let SelectItem::UnnamedExpr(Expr::CompoundIdentifier(parts)) = item
                    && parts.len() > 1
                {
                    let alias = parts.last().expect("len > 1").clone();
                    *item = SelectItem::ExprWithAlias {
                        expr: Expr::CompoundIdentifier(parts.clone()),
                        alias,
                    };
                }
            }
        }
        SetExpr::SetOperation { left, right, .. } => {
            name_field_accesses(left);
            name_field_accesses(right);
        }
        _ => {}
    }
}

fn rewrite_set_expr(body: &mut SetExpr, renames: &mut Vec<(String, String)>) -> Result<(), String> {
    match body {
        SetExpr::Select(select) => rewrite_select(select, renames),
        SetExpr::SetOperation { left, right, .. } => {
            rewrite_set_expr(left, renames)?;
            rewrite_set_expr(right, renames)
        }
        _ => Ok(()),
    }
}

fn is_true(c: &JoinConstraint) -> bool {
    matches!(c, JoinConstraint::On(Expr::Value(v)) if matches!(v.value, Value::Boolean(true)))
}

struct Unnest {
    alias: Option<TableAlias>,
    exprs: Vec<Expr>,
    ordinality: bool,
    /// `LEFT JOIN UNNEST(...) ON TRUE`: rows whose arrays are all empty or NULL stay, with NULLs.
    left: bool,
}

fn as_unnest(f: &TableFactor) -> Option<Unnest> {
    match f {
        TableFactor::UNNEST {
            alias,
            array_exprs,
            with_offset,
            with_ordinality,
            ..
        } => Some(Unnest {
            alias: alias.clone(),
            exprs: array_exprs.clone(),
            ordinality: *with_ordinality || *with_offset,
            left: false,
        }),
        _ => None,
    }
}

/// Where a relation sits in `FROM`: the item, and the join within it (`None`: the item's own
/// relation).
type Slot = (usize, Option<usize>);

/// The name a relation is referred to by: its alias, else the table's own name.
fn relation_ident(f: &TableFactor) -> Option<Ident> {
    match f {
        TableFactor::Table { name, alias, .. } => alias.as_ref().map_or_else(
            || name.0.last().and_then(|p| p.as_ident()).cloned(),
            |a| Some(a.name.clone()),
        ),
        TableFactor::Derived { alias, .. } => alias.as_ref().map(|a| a.name.clone()),
        _ => None,
    }
}

/// [`relation_ident`] folded to lower case, for matching references.
fn relation_name(f: &TableFactor) -> Option<String> {
    relation_ident(f).map(|i| i.value.to_ascii_lowercase())
}

fn relation_mut(select: &mut Select, (item, join): Slot) -> &mut TableFactor {
    let item = &mut select.from[item];
    match join {
        None => &mut item.relation,
        Some(j) => &mut item.joins[j].relation,
    }
}

/// A join that keeps every row of its left side as it is (so an UNNEST of a left-side column
/// may be applied before it).
fn keeps_left_rows(op: &JoinOperator) -> bool {
    matches!(
        op,
        JoinOperator::Join(_)
            | JoinOperator::Inner(_)
            | JoinOperator::CrossJoin(_)
            | JoinOperator::Left(_)
            | JoinOperator::LeftOuter(_)
            | JoinOperator::LeftSemi(_)
            | JoinOperator::LeftAnti(_)
            | JoinOperator::Semi(_)
            | JoinOperator::Anti(_)
    )
}

fn is_inner(op: &JoinOperator) -> bool {
    matches!(
        op,
        JoinOperator::Join(_) | JoinOperator::Inner(_) | JoinOperator::CrossJoin(_)
    )
}

fn rewrite_select(select: &mut Select, renames: &mut Vec<(String, String)>) -> Result<(), String> {
    // Take the UNNESTs out of FROM, in the order written.
    let mut unnests = Vec::new();
    let mut items = Vec::new();
    for (idx, mut item) in std::mem::take(&mut select.from).into_iter().enumerate() {
        if idx > 0
            && item.joins.is_empty()
            && let Some(u) = as_unnest(&item.relation)
        {
            unnests.push(u);
            continue;
        }
        let mut kept = Vec::new();
        for join in std::mem::take(&mut item.joins) {
            match (as_unnest(&join.relation), &join.join_operator) {
                (Some(u), JoinOperator::CrossJoin(JoinConstraint::None)) => unnests.push(u),
                (Some(u), JoinOperator::Join(c) | JoinOperator::Inner(c)) if is_true(c) => {
                    unnests.push(u)
                }
                (Some(u), JoinOperator::Left(c) | JoinOperator::LeftOuter(c)) if is_true(c) => {
                    unnests.push(Unnest { left: true, ..u })
                }
                (Some(_), _) => {
                    return Err(
                        "UNNEST(...) is supported as CROSS JOIN UNNEST(...) AS t(x) or LEFT JOIN UNNEST(...) AS t(x) ON TRUE"
                            .into(),
                    );
                }
                (None, _) => kept.push(join),
            }
        }
        item.joins = kept;
        items.push(item);
    }
    select.from = items;
    if unnests.is_empty() {
        return Ok(());
    }
    // Names that lead to a relation: its own name, then UNNEST aliases and the columns
    // earlier UNNESTs added to it.
    let mut names: Vec<(String, Slot)> = Vec::new();
    for (i, item) in select.from.iter().enumerate() {
        names.extend(relation_name(&item.relation).map(|n| (n, (i, None))));
        for (j, join) in item.joins.iter().enumerate() {
            names.extend(relation_name(&join.relation).map(|n| (n, (i, Some(j)))));
        }
    }
    for u in unnests {
        // The relation whose columns the arrays are made of (the first one by default).
        let mut slots: Vec<Slot> = Vec::new();
        for e in &u.exprs {
            let _ = datafusion::sql::sqlparser::ast::visit_expressions(e, |x| {
                let first = match x {
                    Expr::Identifier(id) => Some(&id.value),
                    Expr::CompoundIdentifier(parts) => parts.first().map(|p| &p.value),
                    _ => None,
                };
                if let Some(first) = first
                    && let Some((_, slot)) =
                        names.iter().find(|(n, _)| n.eq_ignore_ascii_case(first))
                    && !slots.contains(slot)
                {
                    slots.push(*slot);
                }
                ControlFlow::<()>::Continue(())
            });
        }
        let slot = match slots.as_slice() {
            [] => (0, None),
            [one] => *one,
            _ => {
                return Err(format!(
                    "UNNEST({}) uses columns of more than one table; unnest each table's arrays separately",
                    u.exprs
                        .iter()
                        .map(ToString::to_string)
                        .collect::<Vec<_>>()
                        .join(", ")
                ));
            }
        };
        let joins = &select.from[slot.0].joins;
        let later = match slot.1 {
            None => &joins[..],
            Some(j) => {
                if !is_inner(&joins[j].join_operator) {
                    return Err("UNNEST(...) of a table on the right of an outer join is not supported; unnest in a subquery first".into());
                }
                &joins[j + 1..]
            }
        };
        if !later.iter().all(|j| keeps_left_rows(&j.join_operator)) {
            return Err("UNNEST(...) before a RIGHT or FULL JOIN is not supported; unnest in a subquery first".into());
        }
        let u = expand_rows(u);
        let outer_alias = wrap_in_unnest(relation_mut(select, slot), &u)?;
        if let Some(a) = &u.alias {
            renames.push((a.name.value.clone(), outer_alias.clone()));
            names.push((a.name.value.to_ascii_lowercase(), slot));
            names.extend(
                a.columns
                    .iter()
                    .map(|c| (c.name.value.to_ascii_lowercase(), slot)),
            );
        }
    }
    Ok(())
}

/// Trino expands an array of rows into one column per field:
/// `CROSS JOIN UNNEST(resources) AS t(arn, accountid, type)`. For `resources` (the array of
/// rows of `cloudtrail_logs`) that is the arrays of each field, unnested side by side:
/// `UNNEST(transform(resources, r -> r.arn), transform(resources, r -> r.accountid), ...)`.
fn expand_rows(mut u: Unnest) -> Unnest {
    use datafusion::sql::sqlparser::ast::{
        LambdaFunction, LambdaFunctionParameter, LambdaSyntax, OneOrManyWithParens,
    };
    let columns = u.alias.as_ref().map_or(0, |a| a.columns.len()) - usize::from(u.ordinality);
    let is_resources = match u.exprs.as_slice() {
        [Expr::Identifier(id)] => id.value.eq_ignore_ascii_case("resources"),
        [Expr::CompoundIdentifier(parts)] => parts
            .last()
            .is_some_and(|p| p.value.eq_ignore_ascii_case("resources")),
        _ => false,
    };
    if !is_resources || columns != trawl_schema::RESOURCE_KEYS.len() {
        return u;
    }
    let array = u.exprs.remove(0);
    let param = Ident::new("__trawl_row");
    u.exprs = trawl_schema::RESOURCE_KEYS
        .iter()
        .map(|key| {
            let body = call2(
                "get_field",
                Expr::Identifier(param.clone()),
                Expr::value(Value::SingleQuotedString(key.to_ascii_lowercase())),
            );
            let lambda = Expr::Lambda(LambdaFunction {
                params: OneOrManyWithParens::One(LambdaFunctionParameter {
                    name: param.clone(),
                    data_type: None,
                }),
                body: Box::new(body),
                syntax: LambdaSyntax::Arrow,
            });
            call2("transform", array.clone(), lambda)
        })
        .collect();
    u
}

/// Replaces `relation` by `(SELECT b.*, unnest(e1) AS c1 ... FROM relation AS b) AS b`;
/// returns `b`.
fn wrap_in_unnest(relation: &mut TableFactor, u: &Unnest) -> Result<String, String> {
    let outer_alias = relation_ident(relation).unwrap_or_else(|| Ident::new("__b"));
    let plain = match &*relation {
        TableFactor::Table { .. } => {
            let mut plain = relation.clone();
            if let TableFactor::Table { alias, .. } = &mut plain {
                *alias = None;
            }
            plain.to_string()
        }
        TableFactor::Derived { subquery, .. } => format!("({subquery})"),
        _ => return Err("UNNEST(...) must follow a table or a subquery in FROM".into()),
    };
    let names: Vec<String> = u
        .alias
        .as_ref()
        .map(|a| a.columns.iter().map(|c| c.name.value.clone()).collect())
        .unwrap_or_default();
    let wanted = u.exprs.len() + usize::from(u.ordinality);
    if names.len() != wanted {
        return Err(format!(
            "UNNEST of {} array(s){} needs {wanted} column name(s) in AS t(...), got {}; write e.g. CROSS JOIN UNNEST(resources) AS t(r) and use r.arn",
            u.exprs.len(),
            if u.ordinality { " WITH ORDINALITY" } else { "" },
            names.len()
        ));
    }
    let mut columns = vec![format!("{outer_alias}.*")];
    let mut null_columns = vec![format!("{outer_alias}.*")];
    let mut lengths = Vec::new();
    // The arrays go in as placeholders, replaced by their expressions after parsing: printed
    // and parsed again, a lambda (`transform(resources, r -> r.type)`) would not survive.
    let placeholders: Vec<String> = (0..u.exprs.len())
        .map(|i| format!("__trawl_unnest_arg{i}"))
        .collect();
    for (e, name) in placeholders.iter().zip(&names) {
        columns.push(format!("unnest({e}) AS \"{name}\""));
        null_columns.push(format!("NULL AS \"{name}\""));
        lengths.push(format!("coalesce(cardinality({e}), 0)"));
    }
    if u.ordinality {
        // As long as the longest array (the others are padded with NULLs).
        let longest = if lengths.len() == 1 {
            lengths[0].clone()
        } else {
            format!("greatest({})", lengths.join(", "))
        };
        columns.push(format!(
            "unnest(range(1, CAST({longest} AS BIGINT) + 1)) AS \"{}\"",
            names[wanted - 1]
        ));
        null_columns.push(format!("CAST(NULL AS BIGINT) AS \"{}\"", names[wanted - 1]));
    }
    let mut sql = format!(
        "SELECT {} FROM {plain} AS {outer_alias}",
        columns.join(", ")
    );
    if u.left {
        let all_empty: Vec<String> = lengths.iter().map(|l| format!("{l} = 0")).collect();
        sql.push_str(&format!(
            " UNION ALL SELECT {} FROM {plain} AS {outer_alias} WHERE {}",
            null_columns.join(", "),
            all_empty.join(" AND ")
        ));
    }
    let mut subquery = Parser::new(&GenericDialect {})
        .try_with_sql(&sql)
        .and_then(|mut p| p.parse_query())
        .map_err(|e| format!("internal error rewriting UNNEST ({sql}): {e}"))?;
    let _ = visit_expressions_mut(&mut subquery, |x| {
        if let Expr::Identifier(id) = x
            && let Some(i) = placeholders.iter().position(|p| *p == id.value)
        {
            *x = u.exprs[i].clone();
        }
        ControlFlow::<()>::Continue(())
    });
    *relation = TableFactor::Derived {
        lateral: false,
        subquery,
        alias: Some(TableAlias {
            explicit: true,
            name: outer_alias.clone(),
            columns: vec![],
            at: None,
        }),
        sample: None,
    };
    Ok(outer_alias.value)
}
