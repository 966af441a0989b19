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
