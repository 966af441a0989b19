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
    Expr, Ident, JoinConstraint, JoinOperator, Select, SetExpr, TableAlias, TableFactor, Value,
};
use datafusion::sql::sqlparser::dialect::GenericDialect;
use datafusion::sql::sqlparser::parser::Parser;

use super::{Refused, call2, fill_placeholders, placeholder};

pub(super) fn rewrite_set_expr(
    body: &mut SetExpr,
    renames: &mut Vec<(String, String)>,
) -> Result<(), Refused> {
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
pub(super) fn relation_name(f: &TableFactor) -> Option<String> {
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

fn rewrite_select(select: &mut Select, renames: &mut Vec<(String, String)>) -> Result<(), Refused> {
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
                    return Err(Refused::Unsupported(
                        "UNNEST(...) is supported as CROSS JOIN UNNEST(...) AS t(x) or LEFT JOIN UNNEST(...) AS t(x) ON TRUE"
                            .into(),
                    ));
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
                return Err(Refused::Unsupported(format!(
                    "UNNEST({}) uses columns of more than one table; unnest each table's arrays separately",
                    u.exprs
                        .iter()
                        .map(ToString::to_string)
                        .collect::<Vec<_>>()
                        .join(", ")
                )));
            }
        };
        let joins = &select.from[slot.0].joins;
        let later = match slot.1 {
            None => &joins[..],
            Some(j) => {
                if !is_inner(&joins[j].join_operator) {
                    return Err(Refused::Unsupported("UNNEST(...) of a table on the right of an outer join is not supported; unnest in a subquery first".into()));
                }
                &joins[j + 1..]
            }
        };
        if !later.iter().all(|j| keeps_left_rows(&j.join_operator)) {
            return Err(Refused::Unsupported("UNNEST(...) before a RIGHT or FULL JOIN is not supported; unnest in a subquery first".into()));
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
    // `WITH ORDINALITY AS t` names no column at all: nothing to expand.
    let columns = u
        .alias
        .as_ref()
        .map_or(0, |a| a.columns.len())
        .saturating_sub(usize::from(u.ordinality));
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

/// The table name standing for the relation in [`wrap_in_unnest`]'s template.
const RELATION_PLACEHOLDER: &str = "__trawl_relation";

/// Puts `original` where the template names [`RELATION_PLACEHOLDER`], under the template's
/// alias.
fn put_back(body: &mut SetExpr, original: &TableFactor) {
    match body {
        SetExpr::Select(select) => {
            for t in &mut select.from {
                if let TableFactor::Table {
                    name,
                    alias: template_alias,
                    ..
                } = &t.relation
                    && name.to_string() == RELATION_PLACEHOLDER
                {
                    let mut r = original.clone();
                    let template_alias = template_alias.clone();
                    match &mut r {
                        TableFactor::Table { alias, .. } | TableFactor::Derived { alias, .. } => {
                            *alias = template_alias;
                        }
                        _ => {}
                    }
                    t.relation = r;
                }
            }
        }
        SetExpr::SetOperation { left, right, .. } => {
            put_back(left, original);
            put_back(right, original);
        }
        SetExpr::Query(q) => put_back(&mut q.body, original),
        _ => {}
    }
}

/// Replaces `relation` by `(SELECT b.*, unnest(e1) AS c1 ... FROM relation AS b) AS b`;
/// returns `b`.
fn wrap_in_unnest(relation: &mut TableFactor, u: &Unnest) -> Result<String, Refused> {
    let outer_alias = relation_ident(relation).unwrap_or_else(|| Ident::new("__b"));
    // `FROM (VALUES ...) AS t(doc)`: the relation's own column names stay.
    let renamed = match &*relation {
        TableFactor::Table { alias, .. } | TableFactor::Derived { alias, .. } => alias
            .as_ref()
            .filter(|a| !a.columns.is_empty())
            .map(|a| {
                let cols: Vec<String> = a.columns.iter().map(|c| c.name.to_string()).collect();
                format!("({})", cols.join(", "))
            })
            .unwrap_or_default(),
        _ => String::new(),
    };
    // The relation goes in as a placeholder too, put back after parsing: a subquery printed
    // and parsed again would lose its lambdas.
    if !matches!(
        &*relation,
        TableFactor::Table { .. } | TableFactor::Derived { .. }
    ) {
        return Err(Refused::Unsupported(
            "UNNEST(...) must follow a table or a subquery in FROM".into(),
        ));
    }
    let original = relation.clone();
    let plain = RELATION_PLACEHOLDER;
    let names: Vec<String> = u
        .alias
        .as_ref()
        .map(|a| a.columns.iter().map(|c| c.name.value.clone()).collect())
        .unwrap_or_default();
    let wanted = u.exprs.len() + usize::from(u.ordinality);
    if names.len() != wanted {
        return Err(Refused::Unsupported(format!(
            "UNNEST of {} array(s){} needs {wanted} column name(s) in AS t(...), got {}; write e.g. CROSS JOIN UNNEST(resources) AS t(r) and use r.arn",
            u.exprs.len(),
            if u.ordinality { " WITH ORDINALITY" } else { "" },
            names.len()
        )));
    }
    let mut columns = vec![format!("{outer_alias}.*")];
    let mut null_columns = vec![format!("{outer_alias}.*")];
    let mut lengths = Vec::new();
    // The arrays go in as placeholders, replaced by their expressions after parsing: printed
    // and parsed again, a lambda (`transform(resources, r -> r.type)`) would not survive.
    let placeholders: Vec<String> = (0..u.exprs.len()).map(placeholder).collect();
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
        "SELECT {} FROM {plain} AS {outer_alias}{renamed}",
        columns.join(", ")
    );
    if u.left {
        let all_empty: Vec<String> = lengths.iter().map(|l| format!("{l} = 0")).collect();
        sql.push_str(&format!(
            " UNION ALL SELECT {} FROM {plain} AS {outer_alias}{renamed} WHERE {}",
            null_columns.join(", "),
            all_empty.join(" AND ")
        ));
    }
    let mut subquery = Parser::new(&GenericDialect {})
        .try_with_sql(&sql)
        .and_then(|mut p| p.parse_query())
        .map_err(|source| Refused::Internal {
            what: "UNNEST",
            sql: sql.clone(),
            source,
        })?;
    fill_placeholders(&mut subquery, &u.exprs);
    put_back(&mut subquery.body, &original);
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
