//! Trino's JSON functions over JSON text: `json_extract_scalar`, `json_extract`,
//! `json_array_length`, `json_format`, `json_parse`, `json_size`. Paths are JSONPath
//! (`$.a.b`, `$.a[0]`, `$["key-with-dash"]`, `$['k']`), evaluated with `serde_json_path`.
//! Text that is not JSON, a path that selects nothing, or (for `json_extract_scalar`) a
//! selected object or array give NULL, as in Trino.
//!
//! Paths made only of member names and array indices (`$.a.b[0]["c-d"]`, nearly every path
//! in CloudTrail queries) take a fast road: a lazy `jiter` walk that skips unselected
//! members without building them and stops at the selected value, as Trino's streaming
//! extractor does (so the first of duplicate keys wins, and text after the value is not
//! read). Other paths (wildcards, filters, slices) are evaluated with `serde_json_path`.

use std::sync::Arc;

use datafusion::arrow::array::{Array, ArrayRef, AsArray, Int64Array};
use datafusion::arrow::datatypes::DataType;
use datafusion::common::{exec_err, plan_err};
use datafusion::error::Result;
use datafusion::logical_expr::{
    ColumnarValue, ScalarFunctionArgs, ScalarUDFImpl, Signature, Volatility,
};
use jiter::{Jiter, JiterResult, Peek};
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
    /// `json_parse` inside `try(...)`: NULL for text that is not JSON.
    TryParse,
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
        (Kind::TryParse, "__trawl_try_json_parse", 1),
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

/// A parsed JSONPath: a chain of member names and indices, or anything else.
enum Path {
    Steps(Vec<Step>),
    General(JsonPath),
}

#[derive(Debug, PartialEq)]
enum Step {
    Member(String),
    Index(usize),
}

fn parse_path(name: &str, path: &str) -> Result<Path> {
    if let Some(steps) = simple_steps(path) {
        return Ok(Path::Steps(steps));
    }
    match JsonPath::parse(path) {
        Ok(p) => Ok(Path::General(p)),
        Err(e) => plan_err!(
            "{name}: invalid JSONPath {path:?}: {e}; paths look like $.a.b, $.a[0] or $[\"key-with-dash\"]"
        ),
    }
}

/// `$` followed by `.name`, `["name"]`, `['name']` or `[N]` steps; `None` for any other
/// form (which then goes to the general evaluator, or fails there with its message).
fn simple_steps(path: &str) -> Option<Vec<Step>> {
    let mut rest = path.trim().strip_prefix('$')?;
    let mut steps = Vec::new();
    while !rest.is_empty() {
        if let Some(r) = rest.strip_prefix('.') {
            let end = r
                .find(|c: char| !(c.is_alphanumeric() || c == '_'))
                .unwrap_or(r.len());
            if end == 0 {
                return None;
            }
            steps.push(Step::Member(r[..end].to_string()));
            rest = &r[end..];
        } else if let Some(r) = rest.strip_prefix('[') {
            let close = r.find(']')?;
            let inner = &r[..close];
            let quoted = [('"', '"'), ('\'', '\'')]
                .iter()
                .find_map(|&(open, shut)| inner.strip_prefix(open)?.strip_suffix(shut));
            match quoted {
                Some(key) if !key.contains(['\\', '"', '\'']) => {
                    steps.push(Step::Member(key.to_string()))
                }
                Some(_) => return None,
                None if !inner.is_empty() && inner.bytes().all(|b| b.is_ascii_digit()) => {
                    steps.push(Step::Index(inner.parse().ok()?))
                }
                None => return None,
            }
            rest = &r[close + 1..];
        } else {
            return None;
        }
    }
    Some(steps)
}

/// Walks `steps` into `doc`, leaving the iterator at the selected value; `Ok(None)` when
/// the path selects nothing.
fn locate(doc: &mut Jiter<'_>, steps: &[Step]) -> JiterResult<Option<Peek>> {
    let mut peek = doc.peek()?;
    for step in steps {
        match step {
            Step::Member(wanted) => {
                if peek != Peek::Object {
                    return Ok(None);
                }
                let mut found = doc.known_object()?.map(|k| k == wanted);
                loop {
                    match found {
                        None => return Ok(None),
                        Some(true) => break,
                        Some(false) => {
                            doc.next_skip()?;
                            found = doc.next_key()?.map(|k| k == wanted);
                        }
                    }
                }
                peek = doc.peek()?;
            }
            Step::Index(wanted) => {
                if peek != Peek::Array {
                    return Ok(None);
                }
                let mut next = doc.known_array()?;
                let mut i = 0;
                loop {
                    match next {
                        None => return Ok(None),
                        Some(p) if i == *wanted => {
                            peek = p;
                            break;
                        }
                        Some(p) => {
                            doc.known_skip(p)?;
                            next = doc.array_step()?;
                            i += 1;
                        }
                    }
                }
            }
        }
    }
    Ok(Some(peek))
}

/// `json_extract_scalar`, `json_extract` or `json_size` along a simple path.
fn eval_steps(kind: Kind, doc: &str, steps: &[Step]) -> JiterResult<Option<String>> {
    let mut j = Jiter::new(doc.as_bytes());
    let Some(peek) = locate(&mut j, steps)? else {
        return Ok(None);
    };
    Ok(match kind {
        Kind::ExtractScalar => match peek {
            Peek::String => Some(j.known_str()?.to_string()),
            Peek::True => Some("true".to_string()),
            Peek::False => Some("false".to_string()),
            Peek::Null | Peek::Array | Peek::Object => None,
            // Numbers as written, as Trino's extractor gives them.
            _ => Some(String::from_utf8_lossy(j.known_number_bytes(peek)?).into_owned()),
        },
        Kind::Extract => {
            let start = j.current_index();
            j.known_skip(peek)?;
            let raw = j.slice_to_current(start);
            // Compact form, as Trino prints JSON.
            serde_json::from_slice::<Value>(raw)
                .ok()
                .map(|v| v.to_string())
        }
        Kind::Size => Some(
            match peek {
                Peek::Array => {
                    let (mut n, mut next) = (0, j.known_array()?);
                    while let Some(p) = next {
                        j.known_skip(p)?;
                        n += 1;
                        next = j.array_step()?;
                    }
                    n
                }
                Peek::Object => {
                    let mut n = 0;
                    let mut key = j.known_object()?.is_some();
                    while key {
                        j.next_skip()?;
                        n += 1;
                        key = j.next_key()?.is_some();
                    }
                    n
                }
                _ => 0,
            }
            .to_string(),
        ),
        _ => unreachable!("path functions only"),
    })
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
    /// `json_extract_scalar`, `json_extract` or `json_size` (as text) of one document.
    fn eval_path(&self, doc: &str, path: &Path) -> Option<String> {
        let path = match path {
            Path::Steps(steps) => return eval_steps(self.kind, doc, steps).ok().flatten(),
            Path::General(path) => path,
        };
        let doc: Value = serde_json::from_str(doc).ok()?;
        let v = select(path, &doc)?;
        match self.kind {
            Kind::ExtractScalar => scalar_text(v),
            Kind::Extract => Some(v.to_string()),
            Kind::Size => Some(
                match v {
                    Value::Array(a) => a.len(),
                    Value::Object(o) => o.len(),
                    _ => 0,
                }
                .to_string(),
            ),
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

    fn return_field_from_args(
        &self,
        _: datafusion::logical_expr::ReturnFieldArgs,
    ) -> Result<datafusion::arrow::datatypes::FieldRef> {
        // json_extract and json_parse return Trino's JSON type (see athena::casts).
        Ok(match self.kind {
            Kind::Extract | Kind::Parse | Kind::TryParse => super::casts::json_field(self.name),
            kind => std::sync::Arc::new(datafusion::arrow::datatypes::Field::new(
                self.name,
                if matches!(kind, Kind::ArrayLength | Kind::Size) {
                    DataType::Int64
                } else {
                    DataType::Utf8
                },
                true,
            )),
        })
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let rows = args.number_rows;
        let docs = utf8_arg(&args.args[0], rows)?;
        let out: ArrayRef = match self.kind {
            Kind::ExtractScalar | Kind::Extract | Kind::Size => {
                let compute = |doc: &str, path: &Path| self.eval_path(doc, path);
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
            Kind::TryParse => map_strings(&docs, |d| {
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

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn general(path: &str) -> Path {
        Path::General(JsonPath::parse(path).unwrap())
    }

    fn eval(kind: Kind, doc: &str, path: &Path) -> Option<String> {
        let f = JsonFn {
            kind,
            name: "test",
            signature: Signature::string(2, Volatility::Immutable),
        };
        f.eval_path(doc, path)
    }

    #[test]
    fn simple_paths_are_recognised() {
        use Step::*;
        let m = |s: &str| Member(s.to_string());
        assert_eq!(simple_steps("$"), Some(vec![]));
        assert_eq!(
            simple_steps(r#"$.a.b_2[3]["key-with-dash"]['k']"#),
            Some(vec![m("a"), m("b_2"), Index(3), m("key-with-dash"), m("k")])
        );
        for general in [
            "$.a[*]",
            "$..a",
            "$.a[0:2]",
            "$[?@.a]",
            "a.b",
            "$.",
            r#"$["a\"b"]"#,
        ] {
            assert_eq!(simple_steps(general), None, "{general}");
        }
    }

    #[test]
    fn fast_path_reads_like_trino() {
        let doc = r#" {"a": {"b": [10, 1.50, "x\u0041", true, null, {"c": 1e3}]}, "a-b": "dash", "dup": 1, "dup": 2} "#;
        let scalar = |p: &str| eval(Kind::ExtractScalar, doc, &parse_path("t", p).unwrap());
        assert_eq!(scalar("$.a.b[0]").as_deref(), Some("10"));
        assert_eq!(scalar("$.a.b[1]").as_deref(), Some("1.50"));
        assert_eq!(scalar("$.a.b[2]").as_deref(), Some("xA"));
        assert_eq!(scalar("$.a.b[3]").as_deref(), Some("true"));
        assert_eq!(scalar("$.a.b[4]"), None);
        assert_eq!(scalar("$.a.b[5]"), None);
        assert_eq!(scalar("$.a.b[5].c").as_deref(), Some("1e3"));
        assert_eq!(scalar("$.a.b[6]"), None);
        assert_eq!(scalar(r#"$["a-b"]"#).as_deref(), Some("dash"));
        assert_eq!(
            scalar("$.dup").as_deref(),
            Some("1"),
            "first duplicate wins"
        );
        assert_eq!(scalar("$.missing"), None);
        assert_eq!(scalar("$.a.b.c"), None, "member of an array");
        let extract = |p: &str| eval(Kind::Extract, doc, &parse_path("t", p).unwrap());
        assert_eq!(
            extract("$.a.b[5]").as_deref(),
            Some(r#"{"c":1e3}"#.replace("1e3", "1000.0").as_str())
        );
        assert_eq!(extract("$.a.b[2]").as_deref(), Some(r#""xA""#));
        let size = |p: &str| eval(Kind::Size, doc, &parse_path("t", p).unwrap());
        assert_eq!(size("$.a.b").as_deref(), Some("6"));
        assert_eq!(size("$.a").as_deref(), Some("1"));
        assert_eq!(size("$.a.b[0]").as_deref(), Some("0"));
        // Not JSON, or broken before the selected value: NULL.
        assert_eq!(
            eval(
                Kind::ExtractScalar,
                "not json",
                &parse_path("t", "$.a").unwrap()
            ),
            None
        );
        assert_eq!(
            eval(
                Kind::ExtractScalar,
                r#"{"x": tru, "a": 1}"#,
                &parse_path("t", "$.a").unwrap()
            ),
            None
        );
    }

    fn json_value() -> impl Strategy<Value = Value> {
        let leaf = prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::Bool),
            any::<i64>().prop_map(Value::from),
            (-1e6f64..1e6).prop_map(Value::from),
            "[a-c\\-\"\\\\é ]{0,4}".prop_map(Value::String),
        ];
        leaf.prop_recursive(4, 40, 5, |inner| {
            prop_oneof![
                prop::collection::vec(inner.clone(), 0..5).prop_map(Value::Array),
                prop::collection::btree_map("[a-c\\-]{1,2}", inner, 0..5)
                    .prop_map(|m| Value::Object(m.into_iter().collect())),
            ]
        })
    }

    fn json_path() -> impl Strategy<Value = String> {
        let step = prop_oneof![
            "[a-c]{1,2}".prop_map(|k| format!(".{k}")),
            "[a-c\\-]{1,2}".prop_map(|k| format!("[\"{k}\"]")),
            "[a-c\\-]{1,2}".prop_map(|k| format!("['{k}']")),
            (0usize..4).prop_map(|i| format!("[{i}]")),
        ];
        prop::collection::vec(step, 0..4).prop_map(|s| format!("${}", s.concat()))
    }

    proptest! {
        /// The fast road gives what the general JSONPath evaluator gives, on documents
        /// without duplicate keys, printed compact or pretty.
        #[test]
        fn fast_path_matches_general(doc in json_value(), path in json_path(), pretty in any::<bool>()) {
            let text = if pretty { serde_json::to_string_pretty(&doc).unwrap() } else { doc.to_string() };
            let fast = parse_path("t", &path).unwrap();
            prop_assert!(matches!(fast, Path::Steps(_)));
            for kind in [Kind::ExtractScalar, Kind::Extract, Kind::Size] {
                prop_assert_eq!(eval(kind, &text, &fast), eval(kind, &text, &general(&path)), "{:?} {}", kind, path);
            }
        }
    }
}

/// `json_array_get(json_array, index)` (the element, 0-based, negative from the end, NULL
/// when absent; JSON) and `json_array_contains(json_array, value)` (whether a scalar element
/// equals value, NULL for text that is not a JSON array), as in Trino's json.md.
#[derive(Debug, PartialEq, Eq, Hash)]
struct JsonArrayFn {
    get: bool,
    signature: Signature,
}

pub(super) fn array_functions() -> Vec<Arc<dyn ScalarUDFImpl>> {
    [true, false]
        .into_iter()
        .map(|get| {
            Arc::new(JsonArrayFn {
                get,
                signature: Signature::any(2, Volatility::Immutable),
            }) as Arc<dyn ScalarUDFImpl>
        })
        .collect()
}

impl ScalarUDFImpl for JsonArrayFn {
    fn name(&self) -> &str {
        if self.get {
            "json_array_get"
        } else {
            "json_array_contains"
        }
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, _: &[DataType]) -> Result<DataType> {
        Ok(if self.get {
            DataType::Utf8
        } else {
            DataType::Boolean
        })
    }

    fn return_field_from_args(
        &self,
        _: datafusion::logical_expr::ReturnFieldArgs,
    ) -> Result<datafusion::arrow::datatypes::FieldRef> {
        Ok(if self.get {
            super::casts::json_field(self.name())
        } else {
            Arc::new(datafusion::arrow::datatypes::Field::new(
                self.name(),
                DataType::Boolean,
                true,
            ))
        })
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let rows = args.number_rows;
        let docs = utf8_arg(&args.args[0], rows)?;
        let docs = docs.as_string::<i32>();
        let second = args.args[1].to_array(rows)?;
        let array_of = |d: Option<&str>| match serde_json::from_str::<Value>(d?) {
            Ok(Value::Array(items)) => Some(items),
            _ => None,
        };
        if self.get {
            let index = datafusion::arrow::compute::cast(&second, &DataType::Int64)?;
            let index = index.as_primitive::<datafusion::arrow::datatypes::Int64Type>();
            let out: datafusion::arrow::array::StringArray = (0..rows)
                .map(|r| {
                    let items = array_of(docs.is_valid(r).then(|| docs.value(r)))?;
                    if index.is_null(r) {
                        return None;
                    }
                    let i = index.value(r);
                    let at = if i < 0 {
                        items.len().checked_sub(i.unsigned_abs() as usize)?
                    } else {
                        i as usize
                    };
                    items.get(at).map(Value::to_string)
                })
                .collect();
            return Ok(ColumnarValue::Array(Arc::new(out)));
        }
        let out: datafusion::arrow::array::BooleanArray = (0..rows)
            .map(|r| {
                let items = array_of(docs.is_valid(r).then(|| docs.value(r)))?;
                let wanted = datafusion::common::ScalarValue::try_from_array(&second, r).ok()?;
                if wanted.is_null() {
                    return None;
                }
                Some(items.iter().any(|item| match (item, &wanted) {
                    (Value::Bool(b), datafusion::common::ScalarValue::Boolean(Some(w))) => b == w,
                    (Value::String(s), w) => w.try_as_str().flatten() == Some(s.as_str()),
                    (Value::Number(n), w) => match w.cast_to(&DataType::Float64) {
                        Ok(datafusion::common::ScalarValue::Float64(Some(f))) => {
                            n.as_f64() == Some(f)
                        }
                        _ => false,
                    },
                    _ => false,
                }))
            })
            .collect();
        Ok(ColumnarValue::Array(Arc::new(out)))
    }
}
