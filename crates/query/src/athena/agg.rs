//! Aggregates: `count_if`, and Trino names for DataFusion's own (`arbitrary` is
//! `first_value`, `approx_percentile` is `approx_percentile_cont`).

use std::sync::Arc;

use datafusion::arrow::array::{Array, ArrayRef, AsArray};
use datafusion::arrow::datatypes::{DataType, Field, FieldRef, Int64Type};
use datafusion::common::ScalarValue;
use datafusion::error::Result;
use datafusion::logical_expr::function::{AccumulatorArgs, StateFieldsArgs};
use datafusion::logical_expr::{
    Accumulator, AggregateUDF, AggregateUDFImpl, Signature, Volatility,
};
use datafusion::prelude::SessionContext;

#[derive(Debug, PartialEq, Eq, Hash)]
struct CountIf {
    signature: Signature,
}

#[derive(Debug, Default)]
struct CountIfAcc {
    count: i64,
}

impl AggregateUDFImpl for CountIf {
    fn name(&self) -> &str {
        "count_if"
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, _: &[DataType]) -> Result<DataType> {
        Ok(DataType::Int64)
    }

    fn accumulator(&self, _: AccumulatorArgs) -> Result<Box<dyn Accumulator>> {
        Ok(Box::<CountIfAcc>::default())
    }

    fn groups_accumulator_supported(&self, _: AccumulatorArgs) -> bool {
        true
    }

    /// One count per group, added to row by row: no per-group slicing of each batch.
    fn create_groups_accumulator(
        &self,
        _: AccumulatorArgs,
    ) -> Result<Box<dyn datafusion::logical_expr::GroupsAccumulator>> {
        Ok(Box::<CountIfGroups>::default())
    }

    fn default_value(&self, _: &DataType) -> Result<ScalarValue> {
        Ok(ScalarValue::Int64(Some(0)))
    }
}

/// Whether row `row` passes an aggregate's FILTER (all rows do without one).
pub(super) fn kept(filter: Option<&datafusion::arrow::array::BooleanArray>, row: usize) -> bool {
    filter.is_none_or(|f| f.is_valid(row) && f.value(row))
}

/// [`CountIf`] for every group at once.
#[derive(Debug, Default)]
struct CountIfGroups {
    counts: Vec<i64>,
}

impl CountIfGroups {
    /// Adds `add(row)` to the group of each row the filter keeps.
    fn add(
        &mut self,
        groups: &[usize],
        filter: Option<&datafusion::arrow::array::BooleanArray>,
        total: usize,
        add: impl Fn(usize) -> i64,
    ) {
        self.counts.resize(total, 0);
        for (row, &g) in groups.iter().enumerate() {
            if kept(filter, row) {
                self.counts[g] += add(row);
            }
        }
    }
}

impl datafusion::logical_expr::GroupsAccumulator for CountIfGroups {
    fn update_batch(
        &mut self,
        values: &[ArrayRef],
        groups: &[usize],
        filter: Option<&datafusion::arrow::array::BooleanArray>,
        total: usize,
    ) -> Result<()> {
        let b = values[0].as_boolean();
        self.add(groups, filter, total, |row| {
            i64::from(b.is_valid(row) && b.value(row))
        });
        Ok(())
    }

    fn merge_batch(&mut self, values: &[ArrayRef], groups: &[usize], total: usize) -> Result<()> {
        let n = values[0].as_primitive::<Int64Type>();
        self.add(groups, None, total, |row| {
            if n.is_valid(row) { n.value(row) } else { 0 }
        });
        Ok(())
    }

    /// Each row as its own group: 1 where it counts.
    fn convert_to_state(
        &self,
        values: &[ArrayRef],
        filter: Option<&datafusion::arrow::array::BooleanArray>,
    ) -> Result<Vec<ArrayRef>> {
        let b = values[0].as_boolean();
        let ones =
            (0..b.len()).map(|row| i64::from(kept(filter, row) && b.is_valid(row) && b.value(row)));
        Ok(vec![Arc::new(
            datafusion::arrow::array::Int64Array::from_iter_values(ones),
        )])
    }

    fn evaluate(&mut self, emit_to: datafusion::logical_expr::EmitTo) -> Result<ArrayRef> {
        let counts = emit_to.take_needed(&mut self.counts);
        Ok(Arc::new(datafusion::arrow::array::Int64Array::from(counts)))
    }

    fn state(&mut self, emit_to: datafusion::logical_expr::EmitTo) -> Result<Vec<ArrayRef>> {
        Ok(vec![self.evaluate(emit_to)?])
    }

    fn size(&self) -> usize {
        self.counts.capacity() * std::mem::size_of::<i64>()
    }
}

impl Accumulator for CountIfAcc {
    fn update_batch(&mut self, values: &[ArrayRef]) -> Result<()> {
        let b = values[0].as_boolean();
        self.count += (0..b.len())
            .filter(|&i| b.is_valid(i) && b.value(i))
            .count() as i64;
        Ok(())
    }

    fn evaluate(&mut self) -> Result<ScalarValue> {
        Ok(ScalarValue::Int64(Some(self.count)))
    }

    fn size(&self) -> usize {
        std::mem::size_of_val(self)
    }

    fn state(&mut self) -> Result<Vec<ScalarValue>> {
        Ok(vec![ScalarValue::Int64(Some(self.count))])
    }

    fn merge_batch(&mut self, states: &[ArrayRef]) -> Result<()> {
        self.count += states[0]
            .as_primitive::<Int64Type>()
            .iter()
            .flatten()
            .sum::<i64>();
        Ok(())
    }
}

/// `max_by(x, y)` / `min_by(x, y)`: the `x` of the row with the largest (smallest) `y`;
/// rows whose `y` is NULL are skipped.
#[derive(Debug, PartialEq, Eq, Hash)]
struct ByExtreme {
    max: bool,
    signature: Signature,
}

#[derive(Debug)]
struct ByExtremeAcc {
    max: bool,
    x: ScalarValue,
    y: ScalarValue,
}

impl AggregateUDFImpl for ByExtreme {
    fn name(&self) -> &str {
        if self.max { "max_by" } else { "min_by" }
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, arg_types: &[DataType]) -> Result<DataType> {
        Ok(arg_types[0].clone())
    }

    fn state_fields(&self, args: StateFieldsArgs) -> Result<Vec<FieldRef>> {
        Ok(args
            .input_fields
            .iter()
            .enumerate()
            .map(|(i, f)| {
                Arc::new(Field::new(
                    format!("{}_{i}", args.name),
                    f.data_type().clone(),
                    true,
                )) as FieldRef
            })
            .collect())
    }

    fn accumulator(&self, args: AccumulatorArgs) -> Result<Box<dyn Accumulator>> {
        Ok(Box::new(ByExtremeAcc {
            max: self.max,
            x: ScalarValue::try_from(args.expr_fields[0].data_type())?,
            y: ScalarValue::try_from(args.expr_fields[1].data_type())?,
        }))
    }
}

impl ByExtremeAcc {
    fn offer(&mut self, xs: &ArrayRef, ys: &ArrayRef) -> Result<()> {
        for i in 0..ys.len() {
            if ys.is_null(i) {
                continue;
            }
            let y = ScalarValue::try_from_array(ys, i)?;
            let better = self.y.is_null()
                || match y.partial_cmp(&self.y) {
                    Some(std::cmp::Ordering::Greater) => self.max,
                    Some(std::cmp::Ordering::Less) => !self.max,
                    _ => false,
                };
            if better {
                self.x = ScalarValue::try_from_array(xs, i)?;
                self.y = y;
            }
        }
        Ok(())
    }
}

impl Accumulator for ByExtremeAcc {
    fn update_batch(&mut self, values: &[ArrayRef]) -> Result<()> {
        self.offer(&values[0], &values[1])
    }

    fn evaluate(&mut self) -> Result<ScalarValue> {
        Ok(self.x.clone())
    }

    fn size(&self) -> usize {
        std::mem::size_of_val(self) + self.x.size() + self.y.size()
    }

    fn state(&mut self) -> Result<Vec<ScalarValue>> {
        Ok(vec![self.x.clone(), self.y.clone()])
    }

    fn merge_batch(&mut self, states: &[ArrayRef]) -> Result<()> {
        self.offer(&states[0], &states[1])
    }
}

pub(super) fn register(ctx: &SessionContext) {
    for max in [true, false] {
        ctx.register_udaf(AggregateUDF::new_from_impl(ByExtreme {
            max,
            signature: Signature::any(2, Volatility::Immutable),
        }));
    }
    ctx.register_udaf(AggregateUDF::new_from_impl(TrinoAvg {
        inner: datafusion::functions_aggregate::average::avg_udaf(),
    }));
    ctx.register_udaf(AggregateUDF::new_from_impl(Checksum {
        signature: Signature::any(1, Volatility::Immutable),
    }));
    ctx.register_udaf(AggregateUDF::new_from_impl(CountIf {
        signature: Signature::exact(vec![DataType::Boolean], Volatility::Immutable),
    }));
    let aliases = [
        (
            datafusion::functions_aggregate::first_last::first_value_udaf(),
            "arbitrary",
        ),
        (
            datafusion::functions_aggregate::approx_percentile_cont::approx_percentile_cont_udaf(),
            "approx_percentile",
        ),
    ];
    for (udaf, alias) in aliases {
        ctx.register_udaf(Arc::unwrap_or_clone(udaf).with_aliases([alias]));
    }
}

/// `avg(x)` of a DECIMAL(p,s) is a DECIMAL(p,s), rounded half away from zero, as in Trino
/// (DataFusion's adds four digits of scale: `avg(1.5, 2.0)` is 1.8 here, not 1.75000). Other
/// inputs are DataFusion's `avg` unchanged (its grouped accumulator included).
#[derive(Debug, PartialEq, Eq, Hash)]
struct TrinoAvg {
    inner: Arc<AggregateUDF>,
}

impl TrinoAvg {
    /// DataFusion's return field for the input of `args`.
    fn inner_field(&self, fields: &[FieldRef]) -> Result<FieldRef> {
        self.inner.return_field(fields)
    }
}

/// The accumulator of [`TrinoAvg`] for decimals: DataFusion's, its answer cast to `want`.
#[derive(Debug)]
struct CastAcc {
    inner: Box<dyn Accumulator>,
    want: DataType,
}

impl Accumulator for CastAcc {
    fn update_batch(&mut self, values: &[ArrayRef]) -> Result<()> {
        self.inner.update_batch(values)
    }

    fn evaluate(&mut self) -> Result<ScalarValue> {
        self.inner.evaluate()?.cast_to(&self.want)
    }

    fn size(&self) -> usize {
        self.inner.size()
    }

    fn state(&mut self) -> Result<Vec<ScalarValue>> {
        self.inner.state()
    }

    fn merge_batch(&mut self, states: &[ArrayRef]) -> Result<()> {
        self.inner.merge_batch(states)
    }
}

impl AggregateUDFImpl for TrinoAvg {
    fn name(&self) -> &str {
        "avg"
    }

    fn aliases(&self) -> &[String] {
        self.inner.aliases()
    }

    fn signature(&self) -> &Signature {
        self.inner.signature()
    }

    fn coerce_types(&self, arg_types: &[DataType]) -> Result<Vec<DataType>> {
        self.inner.inner().coerce_types(arg_types)
    }

    fn return_type(&self, arg_types: &[DataType]) -> Result<DataType> {
        match arg_types.first() {
            Some(DataType::Decimal128(p, s)) => Ok(DataType::Decimal128(*p, *s)),
            _ => self.inner.return_type(arg_types),
        }
    }

    fn state_fields(&self, args: StateFieldsArgs) -> Result<Vec<FieldRef>> {
        let return_field = self.inner_field(args.input_fields)?;
        self.inner.state_fields(StateFieldsArgs {
            return_field,
            ..args
        })
    }

    fn accumulator(&self, args: AccumulatorArgs) -> Result<Box<dyn Accumulator>> {
        let want = args.return_field.data_type().clone();
        let return_field = self.inner_field(args.expr_fields)?;
        let decimal = matches!(want, DataType::Decimal128(..));
        let inner = self.inner.accumulator(AccumulatorArgs {
            return_field,
            ..args
        })?;
        Ok(if decimal {
            Box::new(CastAcc { inner, want })
        } else {
            inner
        })
    }

    fn groups_accumulator_supported(&self, args: AccumulatorArgs) -> bool {
        // Decimals take the row accumulator (which casts its answer); the rest DataFusion's.
        !matches!(args.return_field.data_type(), DataType::Decimal128(..))
            && self.inner.groups_accumulator_supported(args)
    }

    fn create_groups_accumulator(
        &self,
        args: AccumulatorArgs,
    ) -> Result<Box<dyn datafusion::logical_expr::GroupsAccumulator>> {
        self.inner.create_groups_accumulator(args)
    }
}

/// Trino's `checksum(x)`: the wrapping sum over the rows of `xxhash64(x) * PRIME64` (a NULL adds
/// PRIME64), as 8 little-endian bytes; order-insensitive. The per-value hash is Trino's:
/// xxHash64 (seed 0) of a string's UTF-8 bytes, or of the 8 little-endian bytes of an
/// integer, a short decimal's unscaled value, a date's day number, a timestamp's microseconds
/// or a double's bits (0.0 for -0.0). Other types are refused.
#[derive(Debug, PartialEq, Eq, Hash)]
struct Checksum {
    signature: Signature,
}

const PRIME64: u64 = 0x9E37_79B1_85EB_CA87;

#[derive(Debug, Default)]
struct ChecksumAcc {
    sum: u64,
    seen: bool,
}

fn long_hash(v: i64) -> u64 {
    xxhash_rust::xxh64::xxh64(&v.to_le_bytes(), 0)
}

/// Trino's xxHash64 of each value of `a` (`None` for NULL).
fn value_hashes(a: &ArrayRef) -> Result<Vec<Option<u64>>> {
    use datafusion::arrow::datatypes::{
        Date32Type, Decimal128Type, Float64Type, TimestampMicrosecondType,
    };
    Ok(match a.data_type() {
        DataType::Utf8 | DataType::Utf8View | DataType::LargeUtf8 => {
            let s = datafusion::arrow::compute::cast(a, &DataType::Utf8)?;
            s.as_string::<i32>()
                .iter()
                .map(|v| v.map(|v| xxhash_rust::xxh64::xxh64(v.as_bytes(), 0)))
                .collect()
        }
        t if t.is_integer() => {
            let n = datafusion::arrow::compute::cast(a, &DataType::Int64)?;
            n.as_primitive::<Int64Type>()
                .iter()
                .map(|v| v.map(long_hash))
                .collect()
        }
        DataType::Float64 | DataType::Float32 => {
            let f = datafusion::arrow::compute::cast(a, &DataType::Float64)?;
            f.as_primitive::<Float64Type>()
                .iter()
                .map(|v| {
                    v.map(|v| {
                        let v = if v == 0.0 { 0.0 } else { v };
                        let bits = if v.is_nan() {
                            f64::NAN.to_bits()
                        } else {
                            v.to_bits()
                        };
                        long_hash(bits as i64)
                    })
                })
                .collect()
        }
        DataType::Decimal128(p, _) if *p <= 18 => a
            .as_primitive::<Decimal128Type>()
            .iter()
            .map(|v| v.map(|v| long_hash(v as i64)))
            .collect(),
        DataType::Date32 => a
            .as_primitive::<Date32Type>()
            .iter()
            .map(|v| v.map(|v| long_hash(i64::from(v))))
            .collect(),
        DataType::Timestamp(_, None) => {
            let t = datafusion::arrow::compute::cast(
                a,
                &DataType::Timestamp(datafusion::arrow::datatypes::TimeUnit::Microsecond, None),
            )?;
            t.as_primitive::<TimestampMicrosecondType>()
                .iter()
                .map(|v| v.map(long_hash))
                .collect()
        }
        other => {
            return datafusion::common::plan_err!(
                "checksum of {other} is not supported (varchar, integers, double, short decimals, date and timestamp are); checksum a CAST(x AS VARCHAR) instead"
            );
        }
    })
}

impl AggregateUDFImpl for Checksum {
    fn name(&self) -> &str {
        "checksum"
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, _: &[DataType]) -> Result<DataType> {
        Ok(DataType::Binary)
    }

    fn state_fields(&self, args: StateFieldsArgs) -> Result<Vec<FieldRef>> {
        Ok(vec![
            Arc::new(Field::new(
                format!("{}_sum", args.name),
                DataType::Int64,
                true,
            )),
            Arc::new(Field::new(
                format!("{}_seen", args.name),
                DataType::Boolean,
                true,
            )),
        ])
    }

    fn accumulator(&self, _: AccumulatorArgs) -> Result<Box<dyn Accumulator>> {
        Ok(Box::<ChecksumAcc>::default())
    }
}

impl Accumulator for ChecksumAcc {
    fn update_batch(&mut self, values: &[ArrayRef]) -> Result<()> {
        for h in value_hashes(&values[0])? {
            self.seen = true;
            self.sum = self
                .sum
                .wrapping_add(h.map_or(PRIME64, |h| h.wrapping_mul(PRIME64)));
        }
        Ok(())
    }

    fn evaluate(&mut self) -> Result<ScalarValue> {
        Ok(ScalarValue::Binary(
            self.seen.then(|| self.sum.to_le_bytes().to_vec()),
        ))
    }

    fn size(&self) -> usize {
        std::mem::size_of_val(self)
    }

    fn state(&mut self) -> Result<Vec<ScalarValue>> {
        Ok(vec![
            ScalarValue::Int64(Some(self.sum as i64)),
            ScalarValue::Boolean(Some(self.seen)),
        ])
    }

    fn merge_batch(&mut self, states: &[ArrayRef]) -> Result<()> {
        let (sums, seen) = (
            states[0].as_primitive::<Int64Type>(),
            states[1].as_boolean(),
        );
        for i in 0..sums.len() {
            if seen.is_valid(i) && seen.value(i) {
                self.seen = true;
                self.sum = self.sum.wrapping_add(sums.value(i) as u64);
            }
        }
        Ok(())
    }
}
