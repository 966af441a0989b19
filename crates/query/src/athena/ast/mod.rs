//! Rewrites of a parsed statement before planning.
//!
//! Output names: `SELECT useridentity.arn` yields a column named `arn`, as in Athena.
//!
//! The rewrites live by job: `exprs` (Trino's functions, casts, literals and LIKE written for
//! DataFusion), `subqueries` (correlated subqueries over struct fields), `unnest` (UNNEST in
//! FROM), `chains` (long operator chains rebalanced or refused, before the others).

mod chains;
mod exprs;
mod subqueries;
mod unnest;

use std::ops::ControlFlow;

use datafusion::sql::sqlparser::ast::{
    Expr, Ident, Query, SelectItem, SetExpr, Statement, Value, VisitMut, VisitorMut,
    visit_expressions_mut,
};
use datafusion::sql::sqlparser::dialect::GenericDialect;
use datafusion::sql::sqlparser::parser::Parser;

use exprs::{
    rewrite_cast, rewrite_ipaddress, rewrite_lambda, rewrite_like, rewrite_string_forms,
    rewrite_trino_calls, rewrite_try,
};
use subqueries::{OuterFieldAccess, materialize_inner_fields, rewrite_correlated_not_in};
use unnest::rewrite_set_expr;

/// Why a statement is not rewritten.
#[derive(Debug, thiserror::Error)]
pub(crate) enum Refused {
    /// Athena SQL that trawl does not run as Athena would: the message names the construct
    /// and the form to write instead. The query's fault.
    #[error("{0}")]
    Unsupported(String),
    /// A rewrite produced SQL that does not parse: trawl's fault.
    #[error("internal error rewriting {what} ({sql}): {source}")]
    Internal {
        what: &'static str,
        sql: String,
        #[source]
        source: datafusion::sql::sqlparser::parser::ParserError,
    },
}

/// Rewrites every query of `stmt` (UNNEST relations, output names); an `UNNEST` it cannot
/// express gives an error that names the construct and the supported form.
pub(crate) fn rewrite_statement(stmt: &mut Statement) -> Result<(), Refused> {
    // First: the passes below recurse once per level of a chain.
    chains::bound_chains(stmt)?;
    struct V(Option<Refused>);
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
        return Err(Refused::Unsupported(e));
    }
    let mut v = V(None);
    let _ = stmt.visit(&mut v);
    v.0.map_or(Ok(()), Err)
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

fn rewrite_query(q: &mut Query) -> Result<(), Refused> {
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

/// The name of placeholder `i` in a rewrite's SQL template (see [`fill_placeholders`]).
fn placeholder(i: usize) -> String {
    format!("__trawl_arg{i}")
}

/// Replaces the placeholders of `tree`, parsed from a template, by `args`: expressions go
/// into a rewrite as they are, never printed and parsed again (a lambda would not survive
/// that).
fn fill_placeholders<T: VisitMut>(tree: &mut T, args: &[Expr]) {
    let _ = visit_expressions_mut(tree, |x| {
        if let Expr::Identifier(id) = x
            && let Some(i) = id
                .value
                .strip_prefix("__trawl_arg")
                .and_then(|n| n.parse::<usize>().ok())
            && let Some(arg) = args.get(i)
        {
            *x = arg.clone();
        }
        ControlFlow::<()>::Continue(())
    });
}

/// The expression `template` with its placeholders filled by `args`.
fn filled(template: &str, args: &[Expr]) -> Expr {
    let mut e = Parser::new(&GenericDialect {})
        .try_with_sql(template)
        .and_then(|mut p| p.parse_expr())
        .expect("a fixed expression parses");
    fill_placeholders(&mut e, args);
    e
}
