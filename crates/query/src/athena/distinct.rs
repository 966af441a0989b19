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
    /// The (group, view) pairs of the batch being added already offered: see [`Seen`].
    seen: Seen,
}

/// The (group, view) pairs of one `Utf8View` batch already added to their group's set, in a
/// direct-mapped cache. Within one array, equal views are equal texts (a view holds the length
/// and either the text itself or its prefix, buffer and offset), and the lake's text is read
/// from dictionary pages, so a text repeated in a batch repeats its view: a pair found here
/// skips hashing the text and comparing it with the set's copy. Only a hit skips, so a
/// collision costs a lookup, never a wrong count. Emptied for each batch (its buffers differ).
#[derive(Debug, Default)]
struct Seen {
    views: Vec<u128>,
    groups: Vec<u32>,
}

impl Seen {
    const BITS: u32 = 12;
    /// No group: `u32::MAX` is never one (groups this many fall back to the sets).
    const EMPTY: u32 = u32::MAX;

    fn reset(&mut self) {
        let slots = 1 << Self::BITS;
        self.views.clear();
        self.views.resize(slots, 0);
        self.groups.clear();
        self.groups.resize(slots, Self::EMPTY);
    }

    fn slot(g: u32, view: u128) -> usize {
        let mixed = (view as u64) ^ ((view >> 64) as u64).rotate_left(29) ^ u64::from(g);
        (mixed.wrapping_mul(0x9E37_79B9_7F4A_7C15) >> (64 - Self::BITS)) as usize
    }

    /// Whether (`g`, `view`) was offered already in this batch; records it when not.
    fn first(&mut self, g: usize, view: u128) -> bool {
        let Ok(g) = u32::try_from(g) else {
            return true;
        };
        if g == Self::EMPTY {
            return true;
        }
        let slot = Self::slot(g, view);
        if self.groups[slot] == g && self.views[slot] == view {
            return false;
        }
        self.groups[slot] = g;
        self.views[slot] = view;
        true
    }
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
        if let Some(texts) = values[0].as_string_view_opt() {
            self.seen.reset();
            let views = texts.views();
            for (row, s) in texts.iter().enumerate() {
                if let Some(s) = s
                    && super::agg::kept(filter, row)
                    && self.seen.first(groups[row], views[row])
                {
                    self.offer(groups[row], s);
                }
            }
            return Ok(());
        }
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

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, reason = "a test's unwrap is its failure message")]

    use std::collections::BTreeSet;

    use datafusion::arrow::array::StringViewArray;

    use super::*;

    fn counts(acc: &mut Groups) -> Vec<i64> {
        let out = GroupsAccumulator::evaluate(acc, EmitTo::All).unwrap();
        out.as_primitive::<datafusion::arrow::datatypes::Int64Type>()
            .values()
            .to_vec()
    }

    /// Texts short (inline in the view) and long, repeated, over more (group, text) pairs
    /// than the cache has slots, some rows filtered out: every group's count is that of a set.
    #[test]
    fn view_batches_count_what_sets_count() {
        let groups_n = 37;
        let mut acc = Groups::default();
        let mut truth = vec![BTreeSet::new(); groups_n];
        for batch in 0..3u64 {
            let rows = 20_000;
            let mut texts = Vec::new();
            let mut groups = Vec::new();
            let mut keep = Vec::new();
            for i in 0..rows {
                let x = (i as u64 * 2_654_435_761 + batch * 7) % 9_973;
                let text = match x % 3 {
                    0 => None,
                    1 => Some(format!("u{}", x % 500)),
                    _ => Some(format!(
                        "arn:aws:sts::111122223333:assumed-role/r/{}",
                        x % 3000
                    )),
                };
                let g = (x % groups_n as u64) as usize;
                let kept = i % 11 != 0;
                if let (Some(t), true) = (&text, kept) {
                    truth[g].insert(t.clone());
                }
                texts.push(text);
                groups.push(g);
                keep.push(kept);
            }
            let values: ArrayRef = Arc::new(StringViewArray::from_iter(texts));
            let filter = BooleanArray::from(keep);
            GroupsAccumulator::update_batch(&mut acc, &[values], &groups, Some(&filter), groups_n)
                .unwrap();
        }
        let want: Vec<i64> = truth.iter().map(|s| s.len() as i64).collect();
        assert_eq!(counts(&mut acc), want);
    }

    /// One text in two groups whose pairs take the same slot: each group counts it.
    #[test]
    fn one_slot_two_groups() {
        let values: ArrayRef = Arc::new(StringViewArray::from_iter_values(["alice"; 2]));
        let view = values.as_string_view().views()[0];
        let other = (1..u32::MAX)
            .find(|&g| Seen::slot(g, view) == Seen::slot(0, view))
            .unwrap();
        let total = other as usize + 1;
        let mut acc = Groups::default();
        GroupsAccumulator::update_batch(&mut acc, &[values], &[0, total - 1], None, total).unwrap();
        let counts = counts(&mut acc);
        assert_eq!((counts[0], counts[total - 1]), (1, 1));
    }

    /// Two batches whose long texts have the same view (length, prefix, buffer 0, offset 0)
    /// but differ after the prefix: the second is a new text, not one seen in the first.
    #[test]
    fn equal_views_of_another_batch_are_other_texts() {
        let mut acc = Groups::default();
        for text in [
            "arn:aws:iam::111122223333:user/alice",
            "arn:aws:iam::111122223333:user/bobby",
        ] {
            let values: ArrayRef = Arc::new(StringViewArray::from_iter_values([text, text]));
            GroupsAccumulator::update_batch(&mut acc, &[values], &[0, 0], None, 1).unwrap();
        }
        assert_eq!(counts(&mut acc), vec![2]);
    }
}
