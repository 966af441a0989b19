//! Correlated subqueries over struct fields (`t.useridentity.arn`), and correlated `NOT IN`,
//! written so that DataFusion's decorrelation plans them.

use std::ops::ControlFlow;

use datafusion::sql::sqlparser::ast::{
    Expr, Ident, Query, SelectItem, SetExpr, TableAlias, TableFactor, Value, VisitorMut,
    visit_expressions_mut,
};
use datafusion::sql::sqlparser::dialect::GenericDialect;
use datafusion::sql::sqlparser::parser::Parser;

use super::unnest::relation_name;
use super::{and, field_access, or, split_and};

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
pub(super) fn materialize_inner_fields(q: &mut Query) {
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
pub(super) struct OuterFieldAccess {
    /// The relation names of each query being visited, outermost first.
    scopes: Vec<Vec<String>>,
    pub(super) error: Option<String>,
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

/// `x NOT IN (SELECT y FROM ... WHERE <correlated>)` as a conjunct of WHERE: DataFusion plans
/// it as a null-aware anti join, which takes a single key ("only supports single column join
/// key"). In WHERE only TRUE keeps a row, so it is the same as
/// `NOT EXISTS (SELECT 1 FROM ... WHERE <correlated> AND (y = x OR y IS NULL OR x IS NULL))`:
/// no row when x is NULL or the values hold a NULL (NOT IN gives NULL), every row when there
/// are no values.
pub(super) fn rewrite_correlated_not_in(q: &mut Query) {
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
