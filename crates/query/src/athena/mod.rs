//! Athena (Trino) compatibility: functions DataFusion lacks or names differently, and the
//! identifier rules of Athena.

mod agg;
mod idents;
mod json;
mod regex;
mod rewrite;
mod time;
mod unnest;

use std::sync::Arc;

use datafusion::arrow::array::{Array, ArrayRef, AsArray, StringArray};
use datafusion::arrow::compute::cast;
use datafusion::arrow::datatypes::DataType;
use datafusion::error::Result;
use datafusion::logical_expr::{ColumnarValue, ScalarUDF};
use datafusion::prelude::SessionContext;

pub use idents::fold_quoted_identifiers;
pub use unnest::rewrite_unnest;

/// Registers every Athena function with `ctx`.
pub fn register(ctx: &SessionContext) {
    let scalars = json::functions()
        .into_iter()
        .chain(time::functions())
        .chain(time::date_functions())
        .chain(regex::functions())
        .chain(rewrite::functions());
    for f in scalars {
        ctx.register_udf(ScalarUDF::new_from_shared_impl(f));
    }
    agg::register(ctx);
}

/// The argument as a Utf8 array of `rows` rows (scalars are broadcast).
pub(crate) fn utf8_arg(arg: &ColumnarValue, rows: usize) -> Result<ArrayRef> {
    let array = arg.to_array(rows)?;
    Ok(match array.data_type() {
        DataType::Utf8 => array,
        _ => cast(&array, &DataType::Utf8)?,
    })
}

/// Maps each string of `input` (NULL stays NULL) through `f`.
pub(crate) fn map_strings(
    input: &ArrayRef,
    mut f: impl FnMut(&str) -> Result<Option<String>>,
) -> Result<ArrayRef> {
    let strings = input.as_string::<i32>();
    let out: StringArray = (0..strings.len())
        .map(|i| {
            if strings.is_null(i) {
                Ok(None)
            } else {
                f(strings.value(i))
            }
        })
        .collect::<Result<_>>()?;
    Ok(Arc::new(out))
}

/// The value of a constant string argument (a JSONPath, a format), if it is one.
pub(crate) fn constant_str(arg: &ColumnarValue) -> Option<Option<String>> {
    match arg {
        ColumnarValue::Scalar(s) => Some(
            s.try_as_str()
                .map(|o| o.map(str::to_string))
                .unwrap_or(None),
        ),
        ColumnarValue::Array(_) => None,
    }
}
