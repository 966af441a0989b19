//! Maps: Trino's scalar functions that build one, `map_from_entries` and `split_to_map`
//! (functions/map.md, string.md), and its aggregates that do (functions/aggregate.md):
//! `histogram(x)` (value to count), `map_agg(k, v)` (the first value of each key),
//! `multimap_agg(k, v)` (every value of each key, in input order) and
//! `approx_most_frequent(buckets, x, capacity)` (the `buckets` most frequent values with their
//! counts; trawl counts exactly). NULL keys are skipped, as in Trino; an empty group gives
//! NULL.

use std::collections::HashMap;
use std::sync::Arc;

use datafusion::arrow::array::{Array, ArrayRef, AsArray, MapArray, StructArray};
use datafusion::arrow::buffer::OffsetBuffer;
use datafusion::arrow::datatypes::{DataType, Field, FieldRef, Fields};
use datafusion::common::{ScalarValue, exec_err};
use datafusion::error::Result;
use datafusion::logical_expr::function::{AccumulatorArgs, StateFieldsArgs};
use datafusion::logical_expr::{
    Accumulator, AggregateUDF, AggregateUDFImpl, Signature, Volatility,
};
use datafusion::prelude::SessionContext;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Kind {
    Histogram,
    MapAgg,
    MultimapAgg,
    MostFrequent,
}

impl Kind {
    /// The argument holding the keys.
    fn key_arg(self) -> usize {
        match self {
            Kind::MostFrequent => 1,
            _ => 0,
        }
    }
}

#[derive(Debug, PartialEq, Eq, Hash)]
struct MapAggregate {
    kind: Kind,
    signature: Signature,
}

fn map_type(key: &DataType, value: DataType) -> DataType {
    DataType::Map(
        Arc::new(Field::new(
            "entries",
            DataType::Struct(Fields::from(vec![
                Field::new("key", key.clone(), false),
                Field::new("value", value, true),
            ])),
            false,
        )),
        false,
    )
}

impl MapAggregate {
    fn value_type(&self, args: &[DataType]) -> DataType {
        match self.kind {
            Kind::Histogram | Kind::MostFrequent => DataType::Int64,
            Kind::MapAgg => args[1].clone(),
            Kind::MultimapAgg => {
                DataType::List(Arc::new(Field::new_list_field(args[1].clone(), true)))
            }
        }
    }

    /// The type of the values kept per pair in the state (counts, or the input values).
    fn pair_type(&self, args: &[DataType]) -> DataType {
        match self.kind {
            Kind::Histogram | Kind::MostFrequent => DataType::Int64,
            Kind::MapAgg | Kind::MultimapAgg => args[1].clone(),
        }
    }
}

impl AggregateUDFImpl for MapAggregate {
    fn name(&self) -> &str {
        match self.kind {
            Kind::Histogram => "histogram",
            Kind::MapAgg => "map_agg",
            Kind::MultimapAgg => "multimap_agg",
            Kind::MostFrequent => "approx_most_frequent",
        }
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, args: &[DataType]) -> Result<DataType> {
        Ok(map_type(&args[self.kind.key_arg()], self.value_type(args)))
    }

    fn state_fields(&self, args: StateFieldsArgs) -> Result<Vec<FieldRef>> {
        let types: Vec<DataType> = args
            .input_fields
            .iter()
            .map(|f| f.data_type().clone())
            .collect();
        let list = |name: &str, t: DataType| {
            Arc::new(Field::new(
                format!("{}_{name}", args.name),
                DataType::List(Arc::new(Field::new_list_field(t, true))),
                true,
            ))
        };
        Ok(vec![
            list("keys", types[self.kind.key_arg()].clone()),
            list("values", self.pair_type(&types)),
        ])
    }

    fn accumulator(&self, args: AccumulatorArgs) -> Result<Box<dyn Accumulator>> {
        let types: Vec<DataType> = args
            .exprs
            .iter()
            .map(|e| e.data_type(args.schema))
            .collect::<Result<_>>()?;
        let buckets = match self.kind {
            Kind::MostFrequent => match args
                .exprs
                .first()
                .and_then(|e| e.downcast_ref::<datafusion::physical_expr::expressions::Literal>())
                .map(|l| l.value().clone())
            {
                Some(ScalarValue::Int64(Some(n))) if n > 0 => n as usize,
                Some(ScalarValue::Int32(Some(n))) if n > 0 => n as usize,
                _ => {
                    return exec_err!(
                        "approx_most_frequent: buckets must be a positive integer constant"
                    );
                }
            },
            _ => 0,
        };
        Ok(Box::new(MapAcc {
            kind: self.kind,
            key_type: types[self.kind.key_arg()].clone(),
            pair_type: self.pair_type(&types),
            value_type: self.value_type(&types),
            buckets,
            index: HashMap::new(),
            keys: Vec::new(),
            values: Vec::new(),
        }))
    }
}

#[derive(Debug)]
struct MapAcc {
    kind: Kind,
    key_type: DataType,
    pair_type: DataType,
    value_type: DataType,
    buckets: usize,
    index: HashMap<ScalarValue, usize>,
    keys: Vec<ScalarValue>,
    /// Per key: its count (histogram), its first value, or all its values.
    values: Vec<Vec<ScalarValue>>,
}

impl MapAcc {
    fn add(&mut self, key: ScalarValue, value: ScalarValue) {
        if key.is_null() {
            return;
        }
        let i = *self.index.entry(key.clone()).or_insert_with(|| {
            self.keys.push(key);
            self.values.push(Vec::new());
            self.keys.len() - 1
        });
        let slot = &mut self.values[i];
        match self.kind {
            Kind::Histogram | Kind::MostFrequent => {
                let add = match value {
                    ScalarValue::Int64(Some(n)) => n,
                    _ => 1,
                };
                match slot.first_mut() {
                    Some(ScalarValue::Int64(Some(n))) => *n += add,
                    _ => slot.push(ScalarValue::Int64(Some(add))),
                }
            }
            Kind::MapAgg => {
                if slot.is_empty() {
                    slot.push(value);
                }
            }
            Kind::MultimapAgg => slot.push(value),
        }
    }
}

impl Accumulator for MapAcc {
    fn update_batch(&mut self, values: &[ArrayRef]) -> Result<()> {
        let keys = &values[self.kind.key_arg()];
        for row in 0..keys.len() {
            let key = ScalarValue::try_from_array(keys, row)?;
            let value = match self.kind {
                Kind::MapAgg | Kind::MultimapAgg => ScalarValue::try_from_array(&values[1], row)?,
                _ => ScalarValue::Int64(Some(1)),
            };
            self.add(key, value);
        }
        Ok(())
    }

    fn state(&mut self) -> Result<Vec<ScalarValue>> {
        let mut keys = Vec::new();
        let mut values = Vec::new();
        for (k, vs) in self.keys.iter().zip(&self.values) {
            for v in vs {
                keys.push(k.clone());
                values.push(v.clone());
            }
        }
        Ok(vec![
            ScalarValue::List(ScalarValue::new_list(&keys, &self.key_type, true)),
            ScalarValue::List(ScalarValue::new_list(&values, &self.pair_type, true)),
        ])
    }

    fn merge_batch(&mut self, states: &[ArrayRef]) -> Result<()> {
        let (keys, values) = (states[0].as_list::<i32>(), states[1].as_list::<i32>());
        for row in 0..keys.len() {
            if keys.is_null(row) {
                continue;
            }
            let (k, v) = (keys.value(row), values.value(row));
            for i in 0..k.len() {
                self.add(
                    ScalarValue::try_from_array(&k, i)?,
                    ScalarValue::try_from_array(&v, i)?,
                );
            }
        }
        Ok(())
    }

    fn evaluate(&mut self) -> Result<ScalarValue> {
        let map_type = map_type(&self.key_type, self.value_type.clone());
        if self.keys.is_empty() {
            return ScalarValue::try_from(&map_type);
        }
        let mut order: Vec<usize> = (0..self.keys.len()).collect();
        if self.kind == Kind::MostFrequent {
            let count = |i: usize| match self.values[i].first() {
                Some(ScalarValue::Int64(Some(n))) => *n,
                _ => 0,
            };
            order.sort_by(|&a, &b| count(b).cmp(&count(a)).then(a.cmp(&b)));
            order.truncate(self.buckets);
        }
        let keys = ScalarValue::iter_to_array(order.iter().map(|&i| self.keys[i].clone()))?;
        let values: Vec<ScalarValue> = order
            .iter()
            .map(|&i| match self.kind {
                Kind::MultimapAgg => ScalarValue::List(ScalarValue::new_list(
                    &self.values[i],
                    &self.pair_type,
                    true,
                )),
                _ => self.values[i][0].clone(),
            })
            .collect();
        let values = ScalarValue::iter_to_array(values)?;
        let DataType::Map(entries, _) = &map_type else {
            unreachable!("map_type builds a map")
        };
        let DataType::Struct(kv) = entries.data_type() else {
            unreachable!("map entries are a struct")
        };
        let values = datafusion::arrow::compute::cast(&values, kv[1].data_type())?;
        let n = keys.len();
        let entries_array = StructArray::try_new(kv.clone(), vec![keys, values], None)?;
        let map = MapArray::try_new(
            entries.clone(),
            OffsetBuffer::new(vec![0i32, n as i32].into()),
            entries_array,
            None,
            false,
        )?;
        Ok(ScalarValue::Map(Arc::new(map)))
    }

    fn size(&self) -> usize {
        std::mem::size_of_val(self)
            + self.keys.iter().map(ScalarValue::size).sum::<usize>() * 2
            + self
                .values
                .iter()
                .flatten()
                .map(ScalarValue::size)
                .sum::<usize>()
    }
}

pub(super) fn register(ctx: &SessionContext) {
    for (kind, arity) in [
        (Kind::Histogram, 1),
        (Kind::MapAgg, 2),
        (Kind::MultimapAgg, 2),
        (Kind::MostFrequent, 3),
    ] {
        ctx.register_udaf(AggregateUDF::new_from_impl(MapAggregate {
            kind,
            signature: Signature::any(arity, Volatility::Immutable),
        }));
    }
}

/// `map_from_entries(array(row(k, v)))`: the map of the rows' first field to their second
/// (functions/map.md); a NULL key is an error, as in Trino.
#[derive(Debug, PartialEq, Eq, Hash)]
struct MapFromEntries {
    signature: Signature,
}

impl datafusion::logical_expr::ScalarUDFImpl for MapFromEntries {
    fn name(&self) -> &str {
        "map_from_entries"
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, args: &[DataType]) -> Result<DataType> {
        match &args[0] {
            DataType::List(f) => match f.data_type() {
                DataType::Struct(fields) if fields.len() == 2 => Ok(map_type(
                    fields[0].data_type(),
                    fields[1].data_type().clone(),
                )),
                other => exec_err!(
                    "map_from_entries: expected an array of (key, value) rows, got array({other})"
                ),
            },
            other => {
                exec_err!("map_from_entries: expected an array of (key, value) rows, got {other}")
            }
        }
    }

    fn invoke_with_args(
        &self,
        args: datafusion::logical_expr::ScalarFunctionArgs,
    ) -> Result<datafusion::logical_expr::ColumnarValue> {
        let input = args.args[0].to_array(args.number_rows)?;
        let list = input.as_list::<i32>();
        let rows = list.values().as_struct();
        let DataType::Map(entries, _) = args.return_field.data_type() else {
            return exec_err!("map_from_entries returns a map");
        };
        let DataType::Struct(kv) = entries.data_type() else {
            return exec_err!("map entries are a struct");
        };
        if rows.column(0).null_count() > 0 {
            return exec_err!("map_from_entries: map key cannot be null");
        }
        let entries_array = StructArray::try_new(
            kv.clone(),
            vec![rows.column(0).clone(), rows.column(1).clone()],
            None,
        )?;
        let map = MapArray::try_new(
            entries.clone(),
            list.offsets().clone(),
            entries_array,
            list.nulls().cloned(),
            false,
        )?;
        Ok(datafusion::logical_expr::ColumnarValue::Array(Arc::new(
            map,
        )))
    }
}

pub(super) fn scalar_functions() -> Vec<Arc<dyn datafusion::logical_expr::ScalarUDFImpl>> {
    vec![
        Arc::new(MapFromEntries {
            signature: Signature::any(1, Volatility::Immutable),
        }),
        Arc::new(SplitToMap {
            signature: Signature::any(3, Volatility::Immutable),
        }),
    ]
}

/// `split_to_map(s, entry_delimiter, key_value_delimiter)` (string.md): the entries of `s` as
/// a map; an entry without exactly one key-value delimiter, or a repeated key, is an error,
/// as in Trino.
#[derive(Debug, PartialEq, Eq, Hash)]
struct SplitToMap {
    signature: Signature,
}

impl datafusion::logical_expr::ScalarUDFImpl for SplitToMap {
    fn name(&self) -> &str {
        "split_to_map"
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, _: &[DataType]) -> Result<DataType> {
        Ok(map_type(&DataType::Utf8, DataType::Utf8))
    }

    fn invoke_with_args(
        &self,
        args: datafusion::logical_expr::ScalarFunctionArgs,
    ) -> Result<datafusion::logical_expr::ColumnarValue> {
        let rows = args.number_rows;
        let text = |i: usize| -> Result<ArrayRef> {
            Ok(datafusion::arrow::compute::cast(
                &args.args[i].to_array(rows)?,
                &DataType::Utf8,
            )?)
        };
        let (s, entry, kv) = (text(0)?, text(1)?, text(2)?);
        let (s, entry, kv) = (
            s.as_string::<i32>(),
            entry.as_string::<i32>(),
            kv.as_string::<i32>(),
        );
        let mut keys = datafusion::arrow::array::StringBuilder::new();
        let mut values = datafusion::arrow::array::StringBuilder::new();
        let mut offsets = vec![0i32];
        let mut present = Vec::with_capacity(rows);
        for r in 0..rows {
            if s.is_null(r) || entry.is_null(r) || kv.is_null(r) {
                present.push(false);
                offsets.push(offsets[offsets.len() - 1]);
                continue;
            }
            let (text, e, d) = (s.value(r), entry.value(r), kv.value(r));
            if e == d {
                return exec_err!(
                    "split_to_map: entryDelimiter and keyValueDelimiter must not be the same"
                );
            }
            if e.is_empty() || d.is_empty() {
                return exec_err!("split_to_map: the delimiters must not be empty");
            }
            let mut parts: Vec<&str> = if text.is_empty() {
                vec![]
            } else {
                text.split(e).collect()
            };
            if parts.last() == Some(&"") {
                parts.pop();
            }
            let mut seen = std::collections::HashSet::new();
            for p in parts {
                let mut pieces = p.split(d);
                let (Some(k), Some(v), None) = (pieces.next(), pieces.next(), pieces.next()) else {
                    return exec_err!(
                        "split_to_map: Key-value delimiter must appear exactly once in each entry. Bad input: '{p}'"
                    );
                };
                if !seen.insert(k) {
                    return exec_err!("split_to_map: Duplicate keys ({k}) are not allowed");
                }
                keys.append_value(k);
                values.append_value(v);
            }
            present.push(true);
            offsets.push(offsets[offsets.len() - 1] + seen.len() as i32);
        }
        let DataType::Map(entries, _) = map_type(&DataType::Utf8, DataType::Utf8) else {
            unreachable!("map_type builds a map")
        };
        let DataType::Struct(fields) = entries.data_type() else {
            unreachable!("map entries are a struct")
        };
        let entries_array = StructArray::try_new(
            fields.clone(),
            vec![
                Arc::new(keys.finish()) as ArrayRef,
                Arc::new(values.finish()),
            ],
            None,
        )?;
        Ok(datafusion::logical_expr::ColumnarValue::Array(Arc::new(
            MapArray::try_new(
                entries,
                OffsetBuffer::new(offsets.into()),
                entries_array,
                Some(datafusion::arrow::buffer::NullBuffer::from(present)),
                false,
            )?,
        )))
    }
}
