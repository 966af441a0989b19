//! `count(DISTINCT s)` of text, per group, in one pass.
//!
//! DataFusion 55 counts distinct strings per group through its generic adapter: each batch is
//! sorted by group and copied out group by group, then each group's set is fed (a third of
//! the time of the "Top Events (Full Detail)" tile, which counts two such sets per event
//! name). [`DistinctText`] keeps one set per group and adds each row's text to its group's
//! set where it lies in the batch. The optimizer rule [`CountDistinctText`] puts it in place
//! of `count(DISTINCT x)` for a text `x` under GROUP BY, keeping the column's name; when a
//! query has a single distinct aggregate, DataFusion's own rewrite (group by the value, then
//! count) has already taken it.

use std::collections::HashSet;
use std::sync::Arc;

use datafusion::arrow::array::{
    Array, ArrayRef, AsArray, BooleanArray, Int64Array, ListArray, StringBuilder,
};
use datafusion::arrow::buffer::OffsetBuffer;
use datafusion::arrow::datatypes::{DataType, Field, FieldRef};
use datafusion::common::tree_node::Transformed;
use datafusion::common::{ScalarValue, exec_err};
use datafusion::error::Result;
use datafusion::logical_expr::expr::AggregateFunction;
use datafusion::logical_expr::function::{AccumulatorArgs, StateFieldsArgs};
use datafusion::logical_expr::{
    Accumulator, AggregateUDF, AggregateUDFImpl, EmitTo, Expr, ExprSchemable, GroupsAccumulator,
    LogicalPlan, Signature, Volatility,
};
use datafusion::optimizer::{OptimizerConfig, OptimizerRule};

const NAME: &str = "__trawl_count_distinct";

type Set = HashSet<Box<str>, foldhash::fast::FixedState>;

/// The UDAF: the number of distinct non-NULL texts.
#[derive(Debug, PartialEq, Eq, Hash)]
pub(super) struct DistinctText {
    signature: Signature,
}

pub(super) fn udaf() -> AggregateUDF {
    AggregateUDF::new_from_impl(DistinctText {
        signature: Signature::any(1, Volatility::Immutable),
    })
}

fn is_text(t: &DataType) -> bool {
    matches!(t, DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View)
}

/// Calls `each(row, text)` for every non-NULL text of `a`.
fn for_each_text(a: &ArrayRef, mut each: impl FnMut(usize, &str)) -> Result<()> {
    match a.data_type() {
        DataType::Utf8 => a
            .as_string::<i32>()
            .iter()
            .enumerate()
            .for_each(|(i, s)| s.into_iter().for_each(|s| each(i, s))),
        DataType::LargeUtf8 => a
            .as_string::<i64>()
            .iter()
            .enumerate()
            .for_each(|(i, s)| s.into_iter().for_each(|s| each(i, s))),
        DataType::Utf8View => a
            .as_string_view()
            .iter()
            .enumerate()
            .for_each(|(i, s)| s.into_iter().for_each(|s| each(i, s))),
        other => return exec_err!("{NAME}: expected text, got {other}"),
    }
    Ok(())
}

/// What one text held in a set costs: its bytes and its slot.
fn held(s: &str) -> usize {
    s.len() + std::mem::size_of::<Box<str>>()
}

/// The state: a list of texts per group, from the texts and the list lengths.
fn lists(mut texts: StringBuilder, lengths: impl IntoIterator<Item = usize>) -> ArrayRef {
    Arc::new(ListArray::new(
        Arc::new(Field::new_list_field(DataType::Utf8, true)),
        OffsetBuffer::from_lengths(lengths),
        Arc::new(texts.finish()),
        None,
    ))
}

/// The sets as a list of texts per set: the state merged across partitions.
fn as_lists(sets: &[Set]) -> ArrayRef {
    let mut texts = StringBuilder::new();
    for s in sets.iter().flatten() {
        texts.append_value(s);
    }
    lists(texts, sets.iter().map(Set::len))
}

impl AggregateUDFImpl for DistinctText {
    fn name(&self) -> &str {
        NAME
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, _: &[DataType]) -> Result<DataType> {
        Ok(DataType::Int64)
    }

    fn is_nullable(&self) -> bool {
        false
    }

    fn state_fields(&self, args: StateFieldsArgs) -> Result<Vec<FieldRef>> {
        Ok(vec![Arc::new(Field::new(
            format!("{}_texts", args.name),
            DataType::List(Arc::new(Field::new_list_field(DataType::Utf8, true))),
            true,
        ))])
    }

    fn accumulator(&self, _: AccumulatorArgs) -> Result<Box<dyn Accumulator>> {
        Ok(Box::new(Groups::default()))
    }

    fn groups_accumulator_supported(&self, _: AccumulatorArgs) -> bool {
        true
    }

    fn create_groups_accumulator(&self, _: AccumulatorArgs) -> Result<Box<dyn GroupsAccumulator>> {
        Ok(Box::new(Groups::default()))
    }

    fn default_value(&self, _: &DataType) -> Result<ScalarValue> {
        Ok(ScalarValue::Int64(Some(0)))
    }
}

/// One set of texts per group.
#[derive(Debug, Default)]
struct Groups {
    sets: Vec<Set>,
    /// What the sets' texts hold ([`held`]), kept as they grow: `size` is asked every batch.
    bytes: usize,
}

impl Groups {
    fn grow(&mut self, total: usize) {
        if self.sets.len() < total {
            self.sets.resize_with(total, Set::default);
        }
    }

    /// Adds `s` to group `g`'s set (allocating only for a text not seen before).
    fn offer(&mut self, g: usize, s: &str) {
        let set = &mut self.sets[g];
        if !set.contains(s) {
            self.bytes += held(s);
            set.insert(s.into());
        }
    }

    /// Adds every text of each list to its group's set.
    fn merge_lists(&mut self, lists: &ArrayRef, groups: &[usize]) -> Result<()> {
        let lists = lists.as_list::<i32>();
        for (row, &g) in groups.iter().enumerate() {
            if !lists.is_null(row) {
                for_each_text(&lists.value(row), |_, s| self.offer(g, s))?;
            }
        }
        Ok(())
    }

    /// The sets of the groups `emit_to` names, taken out.
    fn take(&mut self, emit_to: EmitTo) -> Vec<Set> {
        let taken = emit_to.take_needed(&mut self.sets);
        self.bytes -= taken.iter().flatten().map(|s| held(s)).sum::<usize>();
        taken
    }
}

impl GroupsAccumulator for Groups {
    fn update_batch(
        &mut self,
        values: &[ArrayRef],
        groups: &[usize],
        filter: Option<&BooleanArray>,
        total: usize,
    ) -> Result<()> {
        self.grow(total);
        for_each_text(&values[0], |row, s| {
            if super::agg::kept(filter, row) {
                self.offer(groups[row], s);
            }
        })
    }

    fn merge_batch(&mut self, values: &[ArrayRef], groups: &[usize], total: usize) -> Result<()> {
        self.grow(total);
        self.merge_lists(&values[0], groups)
    }

    fn evaluate(&mut self, emit_to: EmitTo) -> Result<ArrayRef> {
        Ok(Arc::new(Int64Array::from_iter_values(
            self.take(emit_to).iter().map(|s| s.len() as i64),
        )))
    }

    fn state(&mut self, emit_to: EmitTo) -> Result<Vec<ArrayRef>> {
        Ok(vec![as_lists(&self.take(emit_to))])
    }

    /// Each row as its own group: a list of its text (empty when NULL or filtered out).
    fn convert_to_state(
        &self,
        values: &[ArrayRef],
        filter: Option<&BooleanArray>,
    ) -> Result<Vec<ArrayRef>> {
        let mut texts = StringBuilder::new();
        let mut lengths = vec![0; values[0].len()];
        for_each_text(&values[0], |row, s| {
            if super::agg::kept(filter, row) {
                texts.append_value(s);
                lengths[row] = 1;
            }
        })?;
        Ok(vec![lists(texts, lengths)])
    }

    fn size(&self) -> usize {
        self.sets.capacity() * std::mem::size_of::<Set>() + self.bytes
    }
}

/// Without GROUP BY (`__trawl_count_distinct` called by name): the same, one group.
impl Accumulator for Groups {
    fn update_batch(&mut self, values: &[ArrayRef]) -> Result<()> {
        let groups = vec![0; values[0].len()];
        GroupsAccumulator::update_batch(self, values, &groups, None, 1)
    }

    fn merge_batch(&mut self, states: &[ArrayRef]) -> Result<()> {
        let groups = vec![0; states[0].len()];
        GroupsAccumulator::merge_batch(self, states, &groups, 1)
    }

    fn evaluate(&mut self) -> Result<ScalarValue> {
        Ok(ScalarValue::Int64(Some(
            self.sets.first().map_or(0, |s| s.len() as i64),
        )))
    }

    fn state(&mut self) -> Result<Vec<ScalarValue>> {
        self.grow(1);
        let lists = as_lists(&self.sets[..1]);
        Ok(vec![ScalarValue::try_from_array(&lists, 0)?])
    }

    fn size(&self) -> usize {
        GroupsAccumulator::size(self)
    }
}

/// [`DistinctText`] of `x` for `count(DISTINCT x)` of a text `x` with no FILTER or ORDER BY.
fn distinct_text_count(e: &Expr, schema: &datafusion::common::DFSchema) -> Option<Expr> {
    let Expr::AggregateFunction(AggregateFunction { func, params }) = e else {
        return None;
    };
    let [arg] = params.args.as_slice() else {
        return None;
    };
    let text = arg.get_type(schema).is_ok_and(|t| is_text(&t));
    if func.name() != "count"
        || !params.distinct
        || params.filter.is_some()
        || !params.order_by.is_empty()
        || !text
    {
        return None;
    }
    Some(Expr::AggregateFunction(AggregateFunction::new_udf(
        Arc::new(udaf()),
        vec![arg.clone()],
        false,
        None,
        vec![],
        params.null_treatment,
    )))
}

/// The logical rule: `count(DISTINCT x)` of a text `x`, in an aggregate with GROUP BY, with no
/// FILTER or ORDER BY, becomes [`DistinctText`] under the same name.
#[derive(Debug, Default)]
pub(crate) struct CountDistinctText;

impl OptimizerRule for CountDistinctText {
    fn name(&self) -> &str {
        "trawl_count_distinct_text"
    }

    fn apply_order(&self) -> Option<datafusion::optimizer::ApplyOrder> {
        Some(datafusion::optimizer::ApplyOrder::BottomUp)
    }

    fn rewrite(
        &self,
        plan: LogicalPlan,
        _: &dyn OptimizerConfig,
    ) -> Result<Transformed<LogicalPlan>> {
        let LogicalPlan::Aggregate(agg) = plan else {
            return Ok(Transformed::no(plan));
        };
        if agg.group_expr.is_empty() {
            return Ok(Transformed::no(LogicalPlan::Aggregate(agg)));
        }
        let schema = agg.input.schema().clone();
        let mut changed = false;
        let aggr_expr = agg
            .aggr_expr
            .iter()
            .map(|e| {
                // DataFusion's rules may have aliased the call already: keep the alias.
                let (call, alias) = match e {
                    Expr::Alias(a) => (a.expr.as_ref(), Some(a)),
                    e => (e, None),
                };
                let Some(counted) = distinct_text_count(call, &schema) else {
                    return e.clone();
                };
                changed = true;
                match alias {
                    Some(a) => counted.alias_qualified(a.relation.clone(), a.name.clone()),
                    None => counted.alias(e.schema_name().to_string()),
                }
            })
            .collect::<Vec<_>>();
        if !changed {
            return Ok(Transformed::no(LogicalPlan::Aggregate(agg)));
        }
        let new = datafusion::logical_expr::Aggregate::try_new(
            agg.input.clone(),
            agg.group_expr.clone(),
            aggr_expr,
        )?;
        Ok(Transformed::yes(LogicalPlan::Aggregate(new)))
    }
}
