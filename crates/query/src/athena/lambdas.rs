//! Trino's lambda functions DataFusion lacks (functions/lambda.md, map.md, array.md):
//! `zip_with(a, b, (x, y) -> ...)` (the shorter array padded with NULLs),
//! `transform_values(m, (k, v) -> ...)`, `transform_keys(m, (k, v) -> ...)` and
//! `map_filter(m, (k, v) -> ...)`, and `reduce(a, initial, (s, x) -> ..., s -> ...)`. The
//! lambda is evaluated over all elements of the batch at once (`reduce`: once per position);
//! a NULL array or map gives NULL.

use std::sync::Arc;

use datafusion::arrow::array::{
    Array, ArrayRef, AsArray, BooleanArray, ListArray, MapArray, StructArray, UInt32Array,
};
use datafusion::arrow::buffer::{NullBuffer, OffsetBuffer};
use datafusion::arrow::compute::{filter, take, take_arrays};
use datafusion::arrow::datatypes::{DataType, Field, FieldRef, Fields};
use datafusion::common::{exec_err, plan_err};
use datafusion::error::Result;
use datafusion::logical_expr::{
    ColumnarValue, HigherOrderFunctionArgs, HigherOrderReturnFieldArgs, HigherOrderSignature,
    HigherOrderUDF, HigherOrderUDFImpl, LambdaParametersProgress, ValueOrLambda, Volatility,
};
use datafusion::prelude::SessionContext;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Kind {
    ZipWith,
    TransformValues,
    TransformKeys,
    MapFilter,
    Reduce,
}

#[derive(Debug, PartialEq, Eq, Hash)]
struct LambdaFn {
    kind: Kind,
    signature: HigherOrderSignature,
}

pub(super) fn register(ctx: &SessionContext) {
    for kind in [
        Kind::ZipWith,
        Kind::TransformValues,
        Kind::TransformKeys,
        Kind::MapFilter,
        Kind::Reduce,
    ] {
        let args = match kind {
            Kind::Reduce => vec![
                ValueOrLambda::Value(()),
                ValueOrLambda::Value(()),
                ValueOrLambda::Lambda(()),
                ValueOrLambda::Lambda(()),
            ],
            Kind::ZipWith => vec![
                ValueOrLambda::Value(()),
                ValueOrLambda::Value(()),
                ValueOrLambda::Lambda(()),
            ],
            _ => vec![ValueOrLambda::Value(()), ValueOrLambda::Lambda(())],
        };
        let f = LambdaFn {
            kind,
            signature: HigherOrderSignature::exact(args, Volatility::Immutable),
        };
        ctx.register_higher_order_function(Arc::new(HigherOrderUDF::new_from_impl(f)));
    }
}

/// The key and value fields of a map type.
fn map_fields(t: &DataType) -> Result<(FieldRef, FieldRef, FieldRef)> {
    if let DataType::Map(entries, _) = t
        && let DataType::Struct(kv) = entries.data_type()
        && kv.len() == 2
    {
        return Ok((entries.clone(), kv[0].clone(), kv[1].clone()));
    }
    plan_err!("expected a map, got {t}")
}

fn list_field(t: &DataType) -> Result<FieldRef> {
    match t {
        DataType::List(f) => Ok(f.clone()),
        DataType::Null => Ok(Arc::new(Field::new_list_field(DataType::Null, true))),
        other => plan_err!("expected an array, got {other}"),
    }
}

/// For each value of a list or map with `offsets`, the row it belongs to.
fn row_of_each_value(offsets: &[i32]) -> UInt32Array {
    let mut out = Vec::with_capacity((offsets[offsets.len() - 1] - offsets[0]) as usize);
    for (row, w) in offsets.windows(2).enumerate() {
        out.extend(std::iter::repeat_n(row as u32, (w[1] - w[0]) as usize));
    }
    UInt32Array::from(out)
}

impl HigherOrderUDFImpl for LambdaFn {
    fn name(&self) -> &str {
        match self.kind {
            Kind::ZipWith => "zip_with",
            Kind::TransformValues => "transform_values",
            Kind::TransformKeys => "transform_keys",
            Kind::MapFilter => "map_filter",
            Kind::Reduce => "reduce",
        }
    }

    fn signature(&self) -> &HigherOrderSignature {
        &self.signature
    }

    fn coerce_value_types(&self, arg_types: &[DataType]) -> Result<Vec<DataType>> {
        Ok(arg_types.to_vec())
    }

    fn lambda_parameters(
        &self,
        _step: usize,
        fields: &[ValueOrLambda<FieldRef, Option<FieldRef>>],
    ) -> Result<LambdaParametersProgress> {
        let value = |i: usize| match fields.get(i) {
            Some(ValueOrLambda::Value(f)) => Ok(f.clone()),
            _ => plan_err!("{}: argument {} must be a value", self.name(), i + 1),
        };
        if self.kind == Kind::Reduce {
            // The state has the initial value's type (the merge lambda's result is cast to it).
            let state = Arc::new(Field::new("s", value(1)?.data_type().clone(), true));
            let element = list_field(value(0)?.data_type())?;
            return Ok(LambdaParametersProgress::Complete(vec![
                vec![state.clone(), element],
                vec![state],
            ]));
        }
        let params = match self.kind {
            Kind::Reduce => unreachable!("handled above"),
            Kind::ZipWith => vec![
                list_field(value(0)?.data_type())?,
                list_field(value(1)?.data_type())?,
            ],
            _ => {
                let (_, k, v) = map_fields(value(0)?.data_type())?;
                vec![k, v]
            }
        };
        Ok(LambdaParametersProgress::Complete(vec![params]))
    }

    fn return_field_from_args(&self, args: HigherOrderReturnFieldArgs) -> Result<FieldRef> {
        let (ValueOrLambda::Value(input), Some(ValueOrLambda::Lambda(lambda))) =
            (&args.arg_fields[0], args.arg_fields.last())
        else {
            return plan_err!("{} takes values, then a lambda", self.name());
        };
        let t = match self.kind {
            Kind::Reduce => lambda.data_type().clone(),
            Kind::ZipWith => DataType::List(Arc::new(Field::new_list_field(
                lambda.data_type().clone(),
                true,
            ))),
            Kind::MapFilter => {
                if lambda.data_type() != &DataType::Boolean {
                    return plan_err!("map_filter: the lambda must return a boolean");
                }
                input.data_type().clone()
            }
            Kind::TransformValues | Kind::TransformKeys => {
                let (entries, k, v) = map_fields(input.data_type())?;
                let (k, v) = if self.kind == Kind::TransformValues {
                    (
                        k,
                        Arc::new(Field::new(v.name(), lambda.data_type().clone(), true)),
                    )
                } else {
                    (
                        Arc::new(Field::new(k.name(), lambda.data_type().clone(), false)),
                        v,
                    )
                };
                DataType::Map(
                    Arc::new(Field::new(
                        entries.name(),
                        DataType::Struct(Fields::from(vec![k, v])),
                        false,
                    )),
                    false,
                )
            }
        };
        Ok(Arc::new(Field::new("", t, true)))
    }

    fn invoke_with_args(&self, args: HigherOrderFunctionArgs) -> Result<ColumnarValue> {
        let rows = args.number_rows;
        let values: Vec<ArrayRef> = args
            .args
            .iter()
            .filter_map(|a| match a {
                ValueOrLambda::Value(v) => Some(v.to_array(rows)),
                ValueOrLambda::Lambda(_) => None,
            })
            .collect::<Result<_>>()?;
        let Some(ValueOrLambda::Lambda(lambda)) = args.args.last() else {
            return exec_err!("{}: no lambda", self.name());
        };
        if self.kind == Kind::ZipWith {
            return zip_with(&values[0], &values[1], lambda, &args.return_field);
        }
        if self.kind == Kind::Reduce {
            let lambdas: Vec<&datafusion::logical_expr::LambdaArgument> = args
                .args
                .iter()
                .filter_map(|a| match a {
                    ValueOrLambda::Lambda(l) => Some(l),
                    ValueOrLambda::Value(_) => None,
                })
                .collect();
            return reduce(&values[0], &values[1], lambdas[0], lambdas[1]);
        }
        let map = values[0].as_map();
        let offsets = map.offsets();
        let (start, end) = (offsets[0] as usize, offsets[offsets.len() - 1] as usize);
        let keys = map.keys().slice(start, end - start);
        let vals = map.values().slice(start, end - start);
        let relative: Vec<i32> = offsets.iter().map(|o| o - offsets[0]).collect();
        let rows_of = row_of_each_value(&relative);
        let (k, v) = (|| Ok(keys.clone()), || Ok(vals.clone()));
        let out = lambda
            .evaluate(&[&k, &v], |captured| {
                Ok(take_arrays(captured, &rows_of, None)?)
            })?
            .into_array(keys.len())?;
        let (entries, kf, vf) = map_fields(args.return_field.data_type())?;
        let fields = Fields::from(vec![kf, vf]);
        let (new_keys, new_values, new_offsets) = match self.kind {
            Kind::TransformValues => (keys, out, relative),
            Kind::TransformKeys => {
                if out.null_count() > 0 {
                    return exec_err!("transform_keys: map key cannot be null");
                }
                for w in relative.windows(2) {
                    let mut seen = std::collections::HashSet::new();
                    for i in w[0] as usize..w[1] as usize {
                        let key = datafusion::common::ScalarValue::try_from_array(&out, i)?;
                        if !seen.insert(key.clone()) {
                            return exec_err!("transform_keys: duplicate map key {key}");
                        }
                    }
                }
                (out, vals, relative)
            }
            Kind::MapFilter => {
                let keep = out.as_boolean();
                let keep: BooleanArray = keep.iter().map(|b| Some(b == Some(true))).collect();
                let mut new_offsets = vec![0i32];
                for w in relative.windows(2) {
                    let kept = (w[0] as usize..w[1] as usize)
                        .filter(|&i| keep.value(i))
                        .count();
                    new_offsets.push(new_offsets[new_offsets.len() - 1] + kept as i32);
                }
                (filter(&keys, &keep)?, filter(&vals, &keep)?, new_offsets)
            }
            Kind::ZipWith | Kind::Reduce => unreachable!("handled above"),
        };
        let entries_array = StructArray::try_new(fields, vec![new_keys, new_values], None)?;
        Ok(ColumnarValue::Array(Arc::new(MapArray::try_new(
            entries,
            OffsetBuffer::new(new_offsets.into()),
            entries_array,
            map.nulls().cloned(),
            false,
        )?)))
    }
}

/// `zip_with(a, b, f)`: `f(a[i], b[i])` for each position of the longer array.
fn zip_with(
    a: &ArrayRef,
    b: &ArrayRef,
    lambda: &datafusion::logical_expr::LambdaArgument,
    return_field: &FieldRef,
) -> Result<ColumnarValue> {
    let (a, b) = (a.as_list::<i32>(), b.as_list::<i32>());
    let mut offsets = vec![0i32];
    let (mut ia, mut ib, mut rows_of) = (Vec::new(), Vec::new(), Vec::new());
    let mut present = Vec::with_capacity(a.len());
    for row in 0..a.len() {
        let both = a.is_valid(row) && b.is_valid(row);
        present.push(both);
        let (sa, la) = (a.value_offsets()[row] as u32, a.value_length(row) as u32);
        let (sb, lb) = (b.value_offsets()[row] as u32, b.value_length(row) as u32);
        let n = if both { la.max(lb) } else { 0 };
        for j in 0..n {
            ia.push((j < la).then_some(sa + j));
            ib.push((j < lb).then_some(sb + j));
            rows_of.push(row as u32);
        }
        offsets.push(offsets[offsets.len() - 1] + n as i32);
    }
    let xs = take(a.values(), &UInt32Array::from(ia), None)?;
    let ys = take(b.values(), &UInt32Array::from(ib), None)?;
    let rows_of = UInt32Array::from(rows_of);
    let n = xs.len();
    let (x, y) = (|| Ok(xs.clone()), || Ok(ys.clone()));
    let out = lambda
        .evaluate(&[&x, &y], |captured| {
            Ok(take_arrays(captured, &rows_of, None)?)
        })?
        .into_array(n)?;
    let DataType::List(field) = return_field.data_type() else {
        return exec_err!("zip_with returns an array");
    };
    let out = datafusion::arrow::compute::cast(&out, field.data_type())?;
    Ok(ColumnarValue::Array(Arc::new(ListArray::try_new(
        field.clone(),
        OffsetBuffer::new(offsets.into()),
        out,
        Some(NullBuffer::from(present)),
    )?)))
}

/// `reduce(a, initial, (s, x) -> merge, s -> finish)`: the merge lambda runs once per
/// position, over the rows whose arrays reach it; the finish lambda once at the end.
fn reduce(
    list: &ArrayRef,
    initial: &ArrayRef,
    merge: &datafusion::logical_expr::LambdaArgument,
    finish: &datafusion::logical_expr::LambdaArgument,
) -> Result<ColumnarValue> {
    let list = list.as_list::<i32>();
    let state_type = initial.data_type().clone();
    let mut state = initial.clone();
    let longest = (0..list.len())
        .filter(|&r| list.is_valid(r))
        .map(|r| list.value_length(r))
        .max()
        .unwrap_or(0);
    for j in 0..longest {
        let active: Vec<u32> = (0..list.len())
            .filter(|&r| list.is_valid(r) && list.value_length(r) > j)
            .map(|r| r as u32)
            .collect();
        let rows = UInt32Array::from(active.clone());
        let elements = UInt32Array::from(
            active
                .iter()
                .map(|&r| (list.value_offsets()[r as usize] + j) as u32)
                .collect::<Vec<_>>(),
        );
        let s = take(&state, &rows, None)?;
        let x = take(list.values(), &elements, None)?;
        let (sf, xf) = (|| Ok(s.clone()), || Ok(x.clone()));
        let merged = merge
            .evaluate(&[&sf, &xf], |captured| {
                Ok(take_arrays(captured, &rows, None)?)
            })?
            .into_array(active.len())?;
        let merged = datafusion::arrow::compute::cast(&merged, &state_type)?;
        // The new state: the merged value for the active rows, the old one elsewhere.
        let mut next = vec![(0usize, 0usize); state.len()];
        for (r, slot) in next.iter_mut().enumerate() {
            *slot = (0, r);
        }
        for (i, &r) in active.iter().enumerate() {
            next[r as usize] = (1, i);
        }
        state = datafusion::arrow::compute::interleave(&[&state, &merged], &next)?;
    }
    let sf = || Ok(state.clone());
    let out = finish
        .evaluate(&[&sf], |captured| Ok(captured.to_vec()))?
        .into_array(list.len())?;
    let is_null: BooleanArray = (0..list.len()).map(|r| Some(list.is_null(r))).collect();
    Ok(ColumnarValue::Array(datafusion::arrow::compute::nullif(
        &out, &is_null,
    )?))
}
