//! Long operator chains, before any other pass walks the statement. The parser builds
//! `a OR b OR c ...` as a left-deep tree, one level per operator: 100,000 ORed comparisons
//! are 100,000 levels, which the recursive passes (sqlparser's visitors, DataFusion's type
//! coercion, which also re-derives each level's type from the whole subtree below it) turn
//! into a stack overflow or quadratic time.
//!
//! - Chains of an associative operator (`AND`, `OR`, `||`) are rebalanced into a tree of
//!   logarithmic depth. The answer is the same: SQL fixes no evaluation order for them.
//! - Any other chain (`-`, `/`, comparisons, or a mix) deeper than [`MAX_CHAIN`] is refused
//!   with an error that says how to write it, and is taken apart level by level so that
//!   not even dropping it recurses. (Integer `+`, `-` and `*` chains become one call when
//!   planned, see `athena::decimal`; within the limit they answer.)

use std::ops::ControlFlow;

use datafusion::sql::sqlparser::ast::{BinaryOperator, Expr, Value, VisitMut, VisitorMut};

use super::Refused;

/// Operators one inside another on a chain's left spine, at most (after rebalancing).
pub(crate) const MAX_CHAIN: usize = 1_000;

/// A chain of one associative operator this long or longer is rebalanced (a balanced
/// tree's spine stays far below it, so no subtree is rebalanced twice).
const REBALANCE_AT: usize = 64;

/// Rebalances and bounds every chain of `stmt`; see the module's doc.
pub(crate) fn bound_chains<T: VisitMut>(stmt: &mut T) -> Result<(), Refused> {
    let mut v = Chains {
        covered: 0,
        error: None,
    };
    let _ = stmt.visit(&mut v);
    v.error.map_or(Ok(()), Err)
}

struct Chains {
    /// Spine nodes below the last top already measured: pre-order visits them next.
    covered: usize,
    error: Option<Refused>,
}

impl VisitorMut for Chains {
    type Break = ();

    fn pre_visit_expr(&mut self, e: &mut Expr) -> ControlFlow<()> {
        if !matches!(e, Expr::BinaryOp { .. }) {
            return ControlFlow::Continue(());
        }
        if self.covered > 0 {
            self.covered -= 1;
            return ControlFlow::Continue(());
        }
        if let Expr::BinaryOp { op, .. } = e
            && matches!(
                op,
                BinaryOperator::And | BinaryOperator::Or | BinaryOperator::StringConcat
            )
        {
            let op = op.clone();
            if same_op_spine(e, &op) >= REBALANCE_AT {
                let chain = std::mem::replace(e, null());
                *e = balanced(operands(chain, &op), &op);
            }
        }
        let depth = spine(e);
        if depth > MAX_CHAIN {
            let op = match e {
                Expr::BinaryOp { op, .. } => op.to_string(),
                _ => String::new(),
            };
            dismantle(std::mem::replace(e, null()));
            self.error = Some(Refused::Unsupported(format!(
                "an expression chains {depth} operators one inside another (`{op}` ...); \
                 trawl plans at most {MAX_CHAIN}: group the terms in parentheses \
                 (e.g. (a + b + ...) + (c + d + ...)), or compute the values in a subquery \
                 or with UNNEST and aggregate them"
            )));
            return ControlFlow::Break(());
        }
        self.covered = depth.saturating_sub(1);
        ControlFlow::Continue(())
    }
}

fn null() -> Expr {
    Expr::value(Value::Null)
}

/// Binary operators on `e`'s left spine, one inside another.
fn spine(mut e: &Expr) -> usize {
    let mut n = 0;
    while let Expr::BinaryOp { left, .. } = e {
        n += 1;
        e = left;
    }
    n
}

/// Operands of the chain of `op` that `e` starts: the length of its left spine of `op`, plus 1.
fn same_op_spine(mut e: &Expr, op: &BinaryOperator) -> usize {
    let mut n = 1;
    while let Expr::BinaryOp { left, op: o, .. } = e
        && o == op
    {
        n += 1;
        e = left;
    }
    n
}

/// The operands of the left-deep chain of `op` that `e` starts, in order, taken apart
/// without recursion.
fn operands(mut e: Expr, op: &BinaryOperator) -> Vec<Expr> {
    let mut rights = Vec::new();
    loop {
        match e {
            Expr::BinaryOp { left, op: o, right } if &o == op => {
                rights.push(*right);
                e = *left;
            }
            first => {
                rights.push(first);
                rights.reverse();
                return rights;
            }
        }
    }
}

/// `operands` joined by `op` as a balanced tree (depth log2 of their number), in order.
fn balanced(mut operands: Vec<Expr>, op: &BinaryOperator) -> Expr {
    if operands.len() == 1 {
        return operands.pop().expect("one operand");
    }
    let right = operands.split_off(operands.len() / 2);
    Expr::BinaryOp {
        left: Box::new(balanced(operands, op)),
        op: op.clone(),
        right: Box::new(balanced(right, op)),
    }
}

/// Drops a deep left spine one level at a time (a plain drop recurses once per level).
fn dismantle(mut e: Expr) {
    while let Expr::BinaryOp { left, .. } = e {
        e = *left;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use datafusion::sql::sqlparser::dialect::GenericDialect;
    use datafusion::sql::sqlparser::parser::Parser;

    fn parse(sql: &str) -> Expr {
        Parser::new(&GenericDialect {})
            .try_with_sql(sql)
            .and_then(|mut p| p.parse_expr())
            .expect("an expression")
    }

    #[test]
    fn an_or_chain_is_rebalanced_in_order_and_others_are_kept() {
        let terms: Vec<String> = (0..100).map(|i| format!("x = {i}")).collect();
        let mut e = parse(&terms.join(" OR "));
        assert_eq!(spine(&e), 100, "99 ORs and the first term's =");
        bound_chains(&mut e).expect("rebalanced");
        assert!(spine(&e) <= 9, "depth {}", spine(&e));
        // Same operands, same order: printed without the parentheses it is the same text.
        let mut flat = Vec::new();
        let mut stack = vec![&e];
        while let Some(n) = stack.pop() {
            match n {
                Expr::BinaryOp {
                    left,
                    op: BinaryOperator::Or,
                    right,
                } => {
                    stack.push(right);
                    stack.push(left);
                }
                other => flat.push(other.to_string()),
            }
        }
        assert_eq!(flat, terms);
        // A short chain, and a long one of `-`, are left as written.
        let mut e = parse("a OR b OR c");
        bound_chains(&mut e).expect("kept");
        assert_eq!(e.to_string(), "a OR b OR c");
        let minus = vec!["1"; 100].join(" - ");
        let mut e = parse(&minus);
        bound_chains(&mut e).expect("kept");
        assert_eq!(e.to_string(), minus);
    }

    #[test]
    fn a_chain_past_the_limit_is_refused_without_recursing() {
        let mut e = parse(&vec!["1"; MAX_CHAIN + 2].join(" - "));
        let err = bound_chains(&mut e).expect_err("too deep").to_string();
        assert!(
            err.contains(&format!("chains {} operators", MAX_CHAIN + 1)),
            "{err}"
        );
        assert!(err.contains("parentheses"), "{err}");
        // A chain at the limit is kept.
        let mut e = parse(&vec!["1"; MAX_CHAIN + 1].join(" - "));
        bound_chains(&mut e).expect("at the limit");
        dismantle(e);
    }
}
