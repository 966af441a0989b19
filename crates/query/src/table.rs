//! The physical events table: a ListingTable over the snapshot store, wrapped so that
//! predicates on the `eventtime` string also prune `dt` partitions.

use std::sync::Arc;

use async_trait::async_trait;
use datafusion::arrow::datatypes::SchemaRef;
use datafusion::catalog::Session;
use datafusion::common::ScalarValue;
use datafusion::datasource::TableProvider;
use datafusion::datasource::listing::ListingTable;
use datafusion::error::Result;
use datafusion::logical_expr::{
    BinaryExpr, Expr, Operator, TableProviderFilterPushDown, TableType, col, lit,
};
use datafusion::physical_plan::ExecutionPlan;
use trawl_schema::{PARTITION_COL, UNKNOWN_PARTITION};

#[derive(Debug)]
pub struct CloudTrailTable {
    inner: Arc<ListingTable>,
}

impl CloudTrailTable {
    pub fn new(inner: ListingTable) -> Self {
        Self {
            inner: Arc::new(inner),
        }
    }
}

fn string_literal(e: &Expr) -> Option<&str> {
    match e {
        Expr::Literal(
            ScalarValue::Utf8(Some(s))
            | ScalarValue::Utf8View(Some(s))
            | ScalarValue::LargeUtf8(Some(s)),
            _,
        ) => Some(s),
        Expr::Cast(c) => string_literal(&c.expr),
        _ => None,
    }
}

fn is_eventtime(e: &Expr) -> bool {
    match e {
        Expr::Column(c) => c.name == "eventtime",
        Expr::Cast(c) => is_eventtime(&c.expr),
        _ => false,
    }
}

/// The first 10 characters (the date) of a bound, or all of it when shorter.
fn date_prefix(s: &str) -> &str {
    s.char_indices().nth(10).map_or(s, |(i, _)| &s[..i])
}

/// For `eventtime <op> 'literal'`, a predicate on `dt` that every matching row satisfies.
/// Parseable event times are stored canonically (`YYYY-MM-DDTHH:MM:SSZ`) in the partition of
/// their date, so a string bound on eventtime bounds the date prefix; rows whose time could
/// not be parsed live in the unknown partition, which is always kept.
fn derive(op: Operator, bound: &str) -> Option<Expr> {
    let d = date_prefix(bound);
    let dt = col(PARTITION_COL);
    let on_dt = match op {
        Operator::Gt | Operator::GtEq => dt.clone().gt_eq(lit(d)),
        Operator::Lt | Operator::LtEq => dt.clone().lt_eq(lit(d)),
        Operator::Eq if bound.chars().count() >= 10 => dt.clone().eq(lit(d)),
        _ => return None,
    };
    Some(on_dt.or(dt.eq(lit(UNKNOWN_PARTITION))))
}

fn flip(op: Operator) -> Operator {
    match op {
        Operator::Gt => Operator::Lt,
        Operator::GtEq => Operator::LtEq,
        Operator::Lt => Operator::Gt,
        Operator::LtEq => Operator::GtEq,
        other => other,
    }
}

/// Partition predicates implied by `filter` (conjunctions are searched).
pub fn partition_predicates(filter: &Expr, out: &mut Vec<Expr>) {
    match filter {
        Expr::BinaryExpr(BinaryExpr {
            left,
            op: Operator::And,
            right,
        }) => {
            partition_predicates(left, out);
            partition_predicates(right, out);
        }
        Expr::BinaryExpr(BinaryExpr { left, op, right }) => {
            if let (true, Some(s)) = (is_eventtime(left), string_literal(right)) {
                out.extend(derive(*op, s));
            } else if let (Some(s), true) = (string_literal(left), is_eventtime(right)) {
                out.extend(derive(flip(*op), s));
            }
        }
        Expr::Between(b) if !b.negated && is_eventtime(&b.expr) => {
            if let (Some(lo), Some(hi)) = (string_literal(&b.low), string_literal(&b.high)) {
                out.extend(derive(Operator::GtEq, lo));
                out.extend(derive(Operator::LtEq, hi));
            }
        }
        _ => {}
    }
}

#[async_trait]
impl TableProvider for CloudTrailTable {
    fn schema(&self) -> SchemaRef {
        self.inner.schema()
    }

    fn table_type(&self) -> TableType {
        TableType::Base
    }

    fn supports_filters_pushdown(
        &self,
        filters: &[&Expr],
    ) -> Result<Vec<TableProviderFilterPushDown>> {
        self.inner.supports_filters_pushdown(filters)
    }

    async fn scan(
        &self,
        state: &dyn Session,
        projection: Option<&Vec<usize>>,
        filters: &[Expr],
        limit: Option<usize>,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        let mut all = filters.to_vec();
        for f in filters {
            partition_predicates(f, &mut all);
        }
        self.inner.scan(state, projection, &all, limit).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn eventtime_bounds_become_partition_bounds() {
        let cases = [
            (
                col("eventtime").gt_eq(lit("2024-03-01T00:00:00Z")),
                vec!["dt >= Utf8(\"2024-03-01\")"],
            ),
            (
                lit("2024-03-02T10:00:00Z").gt(col("eventtime")),
                vec!["dt <= Utf8(\"2024-03-02\")"],
            ),
            (col("eventtime").eq(lit("2024")), vec![]),
            (
                col("eventtime").lt(lit("2024-03")),
                vec!["dt <= Utf8(\"2024-03\")"],
            ),
            (
                col("eventtime").between(lit("2024-03-01"), lit("2024-03-05T23:59:59Z")),
                vec!["dt >= Utf8(\"2024-03-01\")", "dt <= Utf8(\"2024-03-05\")"],
            ),
            (col("eventname").eq(lit("x")), vec![]),
        ];
        for (filter, want) in cases {
            let mut got = Vec::new();
            partition_predicates(&filter, &mut got);
            assert_eq!(got.len(), want.len(), "{filter}: {got:?}");
            for (g, w) in got.iter().zip(want) {
                let text = g.to_string();
                assert!(
                    text.starts_with(w) && text.contains(UNKNOWN_PARTITION),
                    "{filter}: {text} vs {w}"
                );
            }
        }
    }
}
