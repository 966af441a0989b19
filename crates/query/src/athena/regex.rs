//! `regexp_extract(s, pattern[, group])`: the first match (or its group), NULL without one,
//! as in Trino.

use std::sync::Arc;

use datafusion::arrow::array::AsArray;
use datafusion::arrow::datatypes::DataType;
use datafusion::common::{ScalarValue, plan_err};
use datafusion::error::Result;
use datafusion::logical_expr::{
    ColumnarValue, ScalarFunctionArgs, ScalarUDFImpl, Signature, TypeSignature, Volatility,
};
use regex::Regex;

use super::{constant_str, map_strings, utf8_arg};

#[derive(Debug, PartialEq, Eq, Hash)]
struct RegexpExtract {
    signature: Signature,
}

pub(super) fn functions() -> Vec<Arc<dyn ScalarUDFImpl>> {
    vec![Arc::new(RegexpExtract {
        signature: Signature::one_of(
            vec![
                TypeSignature::Exact(vec![DataType::Utf8, DataType::Utf8]),
                TypeSignature::Exact(vec![DataType::Utf8, DataType::Utf8, DataType::Int64]),
            ],
            Volatility::Immutable,
        ),
    })]
}

fn compile(pattern: &str) -> Result<Regex> {
    match Regex::new(pattern) {
        Ok(r) => Ok(r),
        Err(e) => plan_err!("regexp_extract: invalid pattern {pattern:?}: {e}"),
    }
}

impl ScalarUDFImpl for RegexpExtract {
    fn name(&self) -> &str {
        "regexp_extract"
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, _: &[DataType]) -> Result<DataType> {
        Ok(DataType::Utf8)
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let rows = args.number_rows;
        let input = utf8_arg(&args.args[0], rows)?;
        let group = match args.args.get(2) {
            None => 0,
            Some(ColumnarValue::Scalar(ScalarValue::Int64(Some(g)))) if *g >= 0 => *g as usize,
            Some(_) => {
                return plan_err!(
                    "regexp_extract: the group must be a non-negative integer constant"
                );
            }
        };
        let extract = |re: &Regex, s: &str| {
            re.captures(s)
                .and_then(|c| c.get(group))
                .map(|m| m.as_str().to_string())
        };
        let out = match constant_str(&args.args[1]) {
            Some(None) => map_strings(&input, |_| Ok(None))?,
            Some(Some(p)) => {
                let re = compile(&p)?;
                if group >= re.captures_len() {
                    return plan_err!("regexp_extract: pattern {p:?} has no group {group}");
                }
                map_strings(&input, |s| Ok(extract(&re, s)))?
            }
            None => {
                let patterns = utf8_arg(&args.args[1], rows)?;
                let patterns = patterns.as_string::<i32>();
                let mut i = 0;
                map_strings(&input, |s| {
                    let re = compile(patterns.value(i))?;
                    i += 1;
                    Ok(extract(&re, s))
                })?
            }
        };
        Ok(ColumnarValue::Array(out))
    }
}
