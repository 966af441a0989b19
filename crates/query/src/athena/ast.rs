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
//! and references `t.c1` become `b.c1`. Several arrays are zipped, the shorter padded with
//! NULLs, and empty or NULL arrays produce no row, as in Trino. `LEFT JOIN UNNEST(...) ON TRUE`
//! adds back, with NULL element columns, the rows whose arrays are all empty or NULL (a
//! `UNION ALL` branch over the same base).

use std::ops::ControlFlow;

use datafusion::sql::sqlparser::ast::{
    Expr, Ident, JoinConstraint, JoinOperator, Query, Select, SelectItem, SetExpr, Statement,
    TableAlias, TableFactor, TableWithJoins, Value, VisitMut, VisitorMut, visit_expressions_mut,
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
            rewrite_ipaddress(e);
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
    let mut v = V(None);
    let _ = stmt.visit(&mut v);
    v.0.map_or(Ok(()), Err)
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

fn rewrite_query(q: &mut Query) -> Result<(), String> {
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

fn rewrite_select(select: &mut Select, renames: &mut Vec<(String, String)>) -> Result<(), String> {
    // Find UNNESTs joined to the first FROM item, or listed after it.
    let mut unnests = Vec::new();
    let Some(first) = select.from.first_mut() else {
        return Ok(());
    };
    let mut kept_joins = Vec::new();
    for join in std::mem::take(&mut first.joins) {
        match (as_unnest(&join.relation), &join.join_operator) {
            (Some(u), JoinOperator::CrossJoin(JoinConstraint::None)) => unnests.push(u),
            (Some(u), JoinOperator::Join(c) | JoinOperator::Inner(c)) if is_true(c) => {
                unnests.push(u)
            }
            (Some(u), JoinOperator::Left(c) | JoinOperator::LeftOuter(c)) if is_true(c) => {
                unnests.push(Unnest { left: true, ..u })
            }
            (Some(_), _) => {
                return Err("UNNEST(...) is supported as CROSS JOIN UNNEST(...) AS t(x)".into());
            }
            (None, _) => kept_joins.push(join),
        }
    }
    first.joins = kept_joins;
    let mut rest = Vec::new();
    for item in select.from.drain(1..) {
        match as_unnest(&item.relation) {
            Some(u) if item.joins.is_empty() => unnests.push(u),
            _ => rest.push(item),
        }
    }
    select.from.extend(rest);
    if unnests.is_empty() {
        return Ok(());
    }
    let base = &mut select.from[0];
    if !base.joins.is_empty() {
        return Err("UNNEST(...) with other joins in the same FROM is not supported yet; unnest in a subquery first".into());
    }
    let (outer_alias, plain) = match &base.relation {
        TableFactor::Table { name, alias, .. } => {
            let alias_name = alias.as_ref().map_or_else(
                || {
                    name.0
                        .last()
                        .and_then(|p| p.as_ident())
                        .map_or_else(|| Ident::new("__b"), Clone::clone)
                },
                |a| a.name.clone(),
            );
            let mut plain = base.relation.clone();
            if let TableFactor::Table { alias, .. } = &mut plain {
                *alias = None;
            }
            (alias_name, plain.to_string())
        }
        TableFactor::Derived {
            alias, subquery, ..
        } => (
            alias
                .as_ref()
                .map_or_else(|| Ident::new("__b"), |a| a.name.clone()),
            format!("({subquery})"),
        ),
        _ => return Err("UNNEST(...) must follow a table or a subquery in FROM".into()),
    };
    let left = unnests.iter().any(|u| u.left);
    if left && unnests.len() > 1 {
        return Err("LEFT JOIN UNNEST(...) together with another UNNEST in one FROM is not supported yet; unnest in a subquery first".into());
    }
    let mut columns = vec![format!("{outer_alias}.*")];
    let mut null_columns = vec![format!("{outer_alias}.*")];
    let mut all_empty = Vec::new();
    for u in &unnests {
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
        for (e, name) in u.exprs.iter().zip(&names) {
            columns.push(format!("unnest({e}) AS \"{name}\""));
            null_columns.push(format!("NULL AS \"{name}\""));
            all_empty.push(format!("coalesce(cardinality({e}), 0) = 0"));
        }
        if u.ordinality {
            columns.push(format!(
                "unnest(range(1, CAST(cardinality({}) AS BIGINT) + 1)) AS \"{}\"",
                u.exprs[0],
                names[wanted - 1]
            ));
            null_columns.push(format!("CAST(NULL AS BIGINT) AS \"{}\"", names[wanted - 1]));
        }
        if let Some(a) = &u.alias {
            renames.push((a.name.value.clone(), outer_alias.value.clone()));
        }
    }
    let mut sql = format!(
        "SELECT {} FROM {plain} AS {outer_alias}",
        columns.join(", ")
    );
    if left {
        sql.push_str(&format!(
            " UNION ALL SELECT {} FROM {plain} AS {outer_alias} WHERE {}",
            null_columns.join(", "),
            all_empty.join(" AND ")
        ));
    }
    let subquery = Parser::new(&GenericDialect {})
        .try_with_sql(&sql)
        .and_then(|mut p| p.parse_query())
        .map_err(|e| format!("internal error rewriting UNNEST ({sql}): {e}"))?;
    *base = TableWithJoins {
        relation: TableFactor::Derived {
            lateral: false,
            subquery,
            alias: Some(TableAlias {
                explicit: true,
                name: outer_alias,
                columns: vec![],
                at: None,
            }),
            sample: None,
        },
        joins: vec![],
    };
    Ok(())
}
