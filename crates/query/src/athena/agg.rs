//! Aggregates: `count_if`, and Trino names for DataFusion's own (`arbitrary` is
//! `first_value`, `approx_percentile` is `approx_percentile_cont`).

use std::sync::Arc;

use datafusion::arrow::array::{Array, ArrayRef, AsArray};
use datafusion::arrow::datatypes::{DataType, Int64Type};
use datafusion::common::ScalarValue;
use datafusion::error::Result;
use datafusion::logical_expr::function::AccumulatorArgs;
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

pub(super) fn register(ctx: &SessionContext) {
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
