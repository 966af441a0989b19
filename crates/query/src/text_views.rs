//! Short text columns read as Arrow's `Utf8View`, inside the engine only.
//!
//! The lake's Parquet stores every text column dictionary-encoded where it pays. Read as
//! `Utf8`, each value is copied out of the dictionary into a new buffer; read as `Utf8View`,
//! a row is a 16-byte view into the dictionary page, and grouping, comparing and hashing
//! short texts (event names, sources, regions, error codes, identities) work on the views.
//!
//! The change stays inside the engine:
//! - [`read_schema`]: the table's schema, with the short text columns (CloudTrail's string
//!   and boolean members) as `Utf8View`. Event times and the JSON members stay `Utf8`: they
//!   go to trawl's own time and JSON functions.
//! - [`ViewArgs`]: trawl's own functions receive `Utf8` (a cast is planned before type
//!   coercion); DataFusion's read views natively.
//! - [`TextOutput`]: every query's result comes back as `Utf8`, whatever the plan held, so
//!   callers, writers and renderers see the types they always saw (the plan's logical schema
//!   still says views: read a result's types from its batches or its physical plan).

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, LazyLock};

use datafusion::arrow::compute::can_cast_types;
use datafusion::arrow::datatypes::{DataType, Field, Fields, Schema, SchemaRef};
use datafusion::common::config::ConfigOptions;
use datafusion::common::tree_node::Transformed;
use datafusion::common::{DFSchema, Result};
use datafusion::logical_expr::expr::{AggregateFunction, ScalarFunction};
use datafusion::logical_expr::expr_rewriter::FunctionRewrite;
use datafusion::logical_expr::{Expr, ExprSchemable, cast};
use datafusion::physical_expr::PhysicalExpr;
use datafusion::physical_expr::expressions::{CastExpr, Column as PhysicalColumn};
use datafusion::physical_optimizer::PhysicalOptimizerRule;
use datafusion::physical_plan::ExecutionPlan;
use datafusion::physical_plan::projection::ProjectionExec;
use trawl_schema::{COL_SOURCE, Kind, LEAVES, arrow_schema};

/// The physical table's schema as the engine reads it: the columns of CloudTrail's string
/// and boolean members, and `trawl_source`, as `Utf8View`; everything else as stored.
pub(crate) fn read_schema() -> SchemaRef {
    static SCHEMA: LazyLock<SchemaRef> = LazyLock::new(|| {
        let short: HashSet<&str> = LEAVES
            .iter()
            .filter(|l| matches!(l.kind, Kind::Str | Kind::Bool))
            .map(|l| l.column.as_str())
            .chain([COL_SOURCE])
            .collect();
        let fields: Vec<Field> = arrow_schema()
            .fields()
            .iter()
            .map(|f| {
                if short.contains(f.name().as_str()) && f.data_type() == &DataType::Utf8 {
                    f.as_ref().clone().with_data_type(DataType::Utf8View)
                } else {
                    f.as_ref().clone()
                }
            })
            .collect();
        Arc::new(Schema::new(fields))
    });
    SCHEMA.clone()
}

/// `t` with every `Utf8View` in it (inside lists, structs and maps too) made `Utf8`.
pub(crate) fn without_views(t: &DataType) -> DataType {
    let fields = |fs: &Fields| -> Fields {
        fs.iter()
            .map(|f| {
                f.as_ref()
                    .clone()
                    .with_data_type(without_views(f.data_type()))
            })
            .collect()
    };
    let field = |f: &Arc<Field>| {
        Arc::new(
            f.as_ref()
                .clone()
                .with_data_type(without_views(f.data_type())),
        )
    };
    match t {
        DataType::Utf8View => DataType::Utf8,
        DataType::BinaryView => DataType::Binary,
        DataType::List(f) => DataType::List(field(f)),
        DataType::LargeList(f) => DataType::LargeList(field(f)),
        DataType::FixedSizeList(f, n) => DataType::FixedSizeList(field(f), *n),
        DataType::Struct(fs) => DataType::Struct(fields(fs)),
        DataType::Map(f, sorted) => DataType::Map(field(f), *sorted),
        other => other.clone(),
    }
}

/// [`without_views`] of `t`, when that differs from `t` and Arrow can cast `t` to it.
fn plain_type(t: &DataType) -> Option<DataType> {
    let to = without_views(t);
    (&to != t && can_cast_types(t, &to)).then_some(to)
}

/// A cast of `e` (of type `t`) to its [`plain_type`], if it has one.
fn devoid(e: Expr, t: &DataType) -> Transformed<Expr> {
    match plain_type(t) {
        Some(to) => Transformed::yes(cast(e, to)),
        None => Transformed::no(e),
    }
}

/// The names (by `name`) of the functions of `after` that `before` did not have under the
/// same name: what a registration added or replaced.
pub(crate) fn added<T>(
    before: &HashMap<String, Arc<T>>,
    after: &HashMap<String, Arc<T>>,
    name: impl Fn(&T) -> String,
) -> HashSet<String> {
    after
        .iter()
        .filter(|(key, f)| before.get(*key).is_none_or(|old| !Arc::ptr_eq(old, f)))
        .map(|(_, f)| name(f))
        .collect()
}

/// Casts the `Utf8View` arguments of trawl's own functions to `Utf8` (they were written for
/// `Utf8`); DataFusion's functions keep their views. Runs before type coercion, as the
/// analyzer's function rewrites do, so coercion sees the casts.
#[derive(Debug)]
pub(crate) struct ViewArgs {
    /// The names of the scalar and aggregate functions trawl registered or replaced.
    pub(crate) ours: HashSet<String>,
}

impl ViewArgs {
    fn args(&self, args: Vec<Expr>, schema: &DFSchema) -> Transformed<Vec<Expr>> {
        let mut changed = false;
        let args = args
            .into_iter()
            .map(|a| match a.get_type(schema) {
                Ok(t) => {
                    let t = devoid(a, &t);
                    changed |= t.transformed;
                    t.data
                }
                Err(_) => a,
            })
            .collect();
        if changed {
            Transformed::yes(args)
        } else {
            Transformed::no(args)
        }
    }
}

impl FunctionRewrite for ViewArgs {
    fn name(&self) -> &str {
        "trawl_view_args"
    }

    fn rewrite(
        &self,
        expr: Expr,
        schema: &DFSchema,
        _: &ConfigOptions,
    ) -> Result<Transformed<Expr>> {
        Ok(match expr {
            Expr::ScalarFunction(ScalarFunction { func, args })
                if self.ours.contains(func.name()) =>
            {
                self.args(args, schema)
                    .update_data(|args| Expr::ScalarFunction(ScalarFunction { func, args }))
            }
            Expr::AggregateFunction(AggregateFunction { func, mut params })
                if self.ours.contains(func.name()) =>
            {
                let args = std::mem::take(&mut params.args);
                self.args(args, schema).update_data(|args| {
                    params.args = args;
                    Expr::AggregateFunction(AggregateFunction { func, params })
                })
            }
            other => Transformed::no(other),
        })
    }
}

/// Casts a plan's view-typed output columns to their plain types, as the last physical
/// optimisation: what a query returns never depends on how the engine read the lake. Last,
/// so nothing is planned above it (a projection planned above a sort could be spread over
/// both cores, which loses the order), and on the rows the query returns only.
#[derive(Debug, Default)]
pub(crate) struct TextOutput;

impl PhysicalOptimizerRule for TextOutput {
    fn optimize(
        &self,
        plan: Arc<dyn ExecutionPlan>,
        _: &ConfigOptions,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        let schema = plan.schema();
        if schema
            .fields()
            .iter()
            .all(|f| plain_type(f.data_type()).is_none())
        {
            return Ok(plan);
        }
        let exprs: Vec<(Arc<dyn PhysicalExpr>, String)> = schema
            .fields()
            .iter()
            .enumerate()
            .map(|(i, f)| {
                let column: Arc<dyn PhysicalExpr> = Arc::new(PhysicalColumn::new(f.name(), i));
                let expr: Arc<dyn PhysicalExpr> = match plain_type(f.data_type()) {
                    Some(to) => Arc::new(CastExpr::new(column, to, None)),
                    None => column,
                };
                (expr, f.name().clone())
            })
            .collect();
        Ok(Arc::new(ProjectionExec::try_new(exprs, plan)?))
    }

    fn name(&self) -> &str {
        "trawl_text_output"
    }

    /// The rule changes the output's types, on purpose.
    fn schema_check(&self) -> bool {
        false
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_text_is_read_as_views_and_the_rest_as_stored() {
        let s = read_schema();
        let t = |c: &str| s.field_with_name(c).unwrap().data_type().clone();
        assert_eq!(t("eventname"), DataType::Utf8View);
        assert_eq!(
            t("useridentity_sessioncontext_sessionissuer_arn"),
            DataType::Utf8View
        );
        assert_eq!(t("readonly"), DataType::Utf8View);
        assert_eq!(t("trawl_source"), DataType::Utf8View);
        assert_eq!(t("eventtime"), DataType::Utf8);
        assert_eq!(t("requestparameters"), DataType::Utf8);
        assert_eq!(t("trawl_unmapped"), DataType::Utf8);
        assert_eq!(
            t("resources"),
            arrow_schema()
                .field_with_name("resources")
                .unwrap()
                .data_type()
                .clone()
        );
        assert_eq!(s.fields().len(), arrow_schema().fields().len());
    }

    #[test]
    fn added_names_what_a_registration_added_or_replaced() {
        let kept = Arc::new("kept".to_string());
        let before: HashMap<String, Arc<String>> = [
            ("kept".to_string(), kept.clone()),
            ("replaced".to_string(), Arc::new("old".to_string())),
        ]
        .into();
        let after: HashMap<String, Arc<String>> = [
            ("kept".to_string(), kept),
            ("replaced".to_string(), Arc::new("new".to_string())),
            ("new".to_string(), Arc::new("added".to_string())),
        ]
        .into();
        let names = added(&before, &after, |f| f.clone());
        assert_eq!(
            names,
            HashSet::from(["new".to_string(), "added".to_string()])
        );
    }

    #[test]
    fn views_are_removed_at_every_depth() {
        let inner = DataType::Struct(
            vec![
                Field::new("a", DataType::Utf8View, true),
                Field::new("b", DataType::Int64, true),
            ]
            .into(),
        );
        let t = DataType::new_list(inner, true);
        let plain = DataType::new_list(
            DataType::Struct(
                vec![
                    Field::new("a", DataType::Utf8, true),
                    Field::new("b", DataType::Int64, true),
                ]
                .into(),
            ),
            true,
        );
        assert_eq!(without_views(&t), plain);
        assert_eq!(without_views(&DataType::Int32), DataType::Int32);
    }
}
