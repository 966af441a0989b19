//! Trino's JSON functions over JSON text: `json_extract_scalar`, `json_extract`,
//! `json_array_length`, `json_format`, `json_parse`, `json_size`. Paths are JSONPath
//! (`$.a.b`, `$.a[0]`, `$["key-with-dash"]`, `$['k']`), evaluated with `serde_json_path`.
//! Text that is not JSON, a path that selects nothing, or (for `json_extract_scalar`) a
//! selected object or array give NULL, as in Trino.

use std::sync::Arc;

use datafusion::arrow::array::{ArrayRef, AsArray, Int64Array};
use datafusion::arrow::datatypes::DataType;
use datafusion::common::{exec_err, plan_err};
use datafusion::error::Result;
use datafusion::logical_expr::{
    ColumnarValue, ScalarFunctionArgs, ScalarUDFImpl, Signature, Volatility,
};
use serde_json::Value;
use serde_json_path::JsonPath;

use super::{constant_str, map_strings, utf8_arg};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Kind {
    ExtractScalar,
    Extract,
    ArrayLength,
    Size,
    Format,
    Parse,
}

#[derive(Debug, PartialEq, Eq, Hash)]
struct JsonFn {
    kind: Kind,
    name: &'static str,
    signature: Signature,
}

pub(super) fn functions() -> Vec<Arc<dyn ScalarUDFImpl>> {
    [
        (Kind::ExtractScalar, "json_extract_scalar", 2),
        (Kind::Extract, "json_extract", 2),
        (Kind::ArrayLength, "json_array_length", 1),
        (Kind::Size, "json_size", 2),
        (Kind::Format, "json_format", 1),
        (Kind::Parse, "json_parse", 1),
    ]
    .into_iter()
    .map(|(kind, name, arity)| {
        Arc::new(JsonFn {
            kind,
            name,
            signature: Signature::string(arity, Volatility::Immutable),
        }) as Arc<dyn ScalarUDFImpl>
    })
    .collect()
}

fn parse_path(name: &str, path: &str) -> Result<JsonPath> {
    match JsonPath::parse(path) {
        Ok(p) => Ok(p),
        Err(e) => plan_err!(
            "{name}: invalid JSONPath {path:?}: {e}; paths look like $.a.b, $.a[0] or $[\"key-with-dash\"]"
        ),
    }
}

fn select<'v>(path: &JsonPath, doc: &'v Value) -> Option<&'v Value> {
    path.query(doc).exactly_one().ok()
}

fn scalar_text(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        Value::Null | Value::Array(_) | Value::Object(_) => None,
    }
}

impl JsonFn {
    fn eval_path(&self, doc: &str, path: &JsonPath) -> Option<String> {
        let doc: Value = serde_json::from_str(doc).ok()?;
        let v = select(path, &doc)?;
        match self.kind {
            Kind::ExtractScalar => scalar_text(v),
            Kind::Extract => Some(v.to_string()),
            _ => unreachable!("path functions only"),
        }
    }
}

impl ScalarUDFImpl for JsonFn {
    fn name(&self) -> &str {
        self.name
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, _: &[DataType]) -> Result<DataType> {
        Ok(match self.kind {
            Kind::ArrayLength | Kind::Size => DataType::Int64,
            _ => DataType::Utf8,
        })
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let rows = args.number_rows;
        let docs = utf8_arg(&args.args[0], rows)?;
        let out: ArrayRef = match self.kind {
            Kind::ExtractScalar | Kind::Extract | Kind::Size => {
                let compute = |doc: &str, path: &JsonPath| -> Option<String> {
                    if self.kind == Kind::Size {
                        let doc: Value = serde_json::from_str(doc).ok()?;
                        return Some(
                            match select(path, &doc)? {
                                Value::Array(a) => a.len(),
                                Value::Object(o) => o.len(),
                                _ => 0,
                            }
                            .to_string(),
                        );
                    }
                    self.eval_path(doc, path)
                };
                let texts = match constant_str(&args.args[1]) {
                    Some(None) => map_strings(&docs, |_| Ok(None))?,
                    Some(Some(p)) => {
                        let path = parse_path(self.name, &p)?;
                        map_strings(&docs, |d| Ok(compute(d, &path)))?
                    }
                    None => {
                        let paths = utf8_arg(&args.args[1], rows)?;
                        let paths = paths.as_string::<i32>();
                        let mut i = 0;
                        map_strings(&docs, |d| {
                            let p = paths.value(i);
                            i += 1;
                            Ok(compute(d, &parse_path(self.name, p)?))
                        })?
                    }
                };
                if self.kind == Kind::Size {
                    let sizes: Int64Array = texts
                        .as_string::<i32>()
                        .iter()
                        .map(|s| s.and_then(|s| s.parse().ok()))
                        .collect();
                    Arc::new(sizes)
                } else {
                    texts
                }
            }
            Kind::ArrayLength => {
                let docs = docs.as_string::<i32>();
                let lengths: Int64Array = docs
                    .iter()
                    .map(|d| match serde_json::from_str::<Value>(d?).ok()? {
                        Value::Array(a) => Some(a.len() as i64),
                        _ => None,
                    })
                    .collect();
                Arc::new(lengths)
            }
            Kind::Format => map_strings(&docs, |d| {
                Ok(serde_json::from_str::<Value>(d).ok().map(|v| v.to_string()))
            })?,
            Kind::Parse => map_strings(&docs, |d| match serde_json::from_str::<Value>(d) {
                Ok(v) => Ok(Some(v.to_string())),
                Err(e) => exec_err!(
                    "json_parse: cannot convert {:?} to JSON: {e}",
                    d.chars().take(60).collect::<String>()
                ),
            })?,
        };
        Ok(ColumnarValue::Array(out))
    }
}
