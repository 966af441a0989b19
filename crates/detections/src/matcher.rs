//! What one Sigma value asks of a field ([`Test`]), evaluated in Rust where SQL cannot say it:
//! paths inside the JSON text columns (arrays matched member by member, as Sigma does), the
//! `resources` list, map keys, and CIDR ranges. [`register`] adds the `sigma_match` function.

use std::net::IpAddr;
use std::sync::Arc;

use arrow::array::{Array, ArrayRef, AsArray, BooleanArray, StructArray};
use arrow::datatypes::DataType;
use datafusion::common::{DataFusionError, Result, ScalarValue};
use datafusion::logical_expr::{
    ColumnarValue, ScalarFunctionArgs, ScalarUDF, ScalarUDFImpl, Signature, Volatility,
};
use datafusion::prelude::SessionContext;
use regex::Regex;
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// The name of the function [`register`] adds.
pub const FUNCTION: &str = "sigma_match";

/// A numeric comparison (`gt`, `gte`, `lt`, `lte`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Cmp {
    Gt,
    Gte,
    Lt,
    Lte,
}

impl Cmp {
    pub fn sql(self) -> &'static str {
        match self {
            Cmp::Gt => ">",
            Cmp::Gte => ">=",
            Cmp::Lt => "<",
            Cmp::Lte => "<=",
        }
    }

    fn holds(self, a: f64, b: f64) -> bool {
        match self {
            Cmp::Gt => a > b,
            Cmp::Gte => a >= b,
            Cmp::Lt => a < b,
            Cmp::Lte => a <= b,
        }
    }
}

/// One value of a detection item, with its modifiers applied.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum Test {
    /// The whole value equals this text (case-insensitively unless `cased`); a number also
    /// equals a JSON number of the same value.
    Eq { text: String, number: Option<f64> },
    /// A Sigma pattern (`*` any run, `?` one character), whole-value: `contains`,
    /// `startswith` and `endswith` add the `*`s. Parts alternate literal text and wildcards.
    Glob { parts: Vec<Part> },
    /// A regular expression found anywhere in the value (Rust `regex` syntax, which reads
    /// the PCRE subset Sigma rules use); flags already inline.
    Re { pattern: String },
    /// An IP address inside this network.
    Cidr { network: String },
    /// The field is there (`exists: true`) or not (`exists: false`).
    Exists(bool),
    /// The field is absent or null (a `null` value).
    Null,
    /// A number compared with the value read as a number.
    Cmp { op: Cmp, number: f64 },
}

/// A piece of a [`Test::Glob`] pattern.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Part {
    Text(String),
    /// `*`
    Any,
    /// `?`
    One,
}

/// A [`Test`] as `sigma_match` receives it, and whether it negates (`neq`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Spec {
    pub test: Test,
    pub cased: bool,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub negate: bool,
}

/// A [`Spec`] ready to run: regular expressions compiled once per batch.
#[derive(Debug)]
pub struct Compiled {
    spec: Spec,
    regex: Option<Regex>,
    network: Option<ipnet::IpNet>,
}

impl Compiled {
    pub fn new(spec: Spec) -> std::result::Result<Self, String> {
        let regex = match &spec.test {
            Test::Glob { parts } => Some(glob_regex(parts, spec.cased)?),
            Test::Re { pattern } => {
                Some(Regex::new(pattern).map_err(|e| format!("regular expression: {e}"))?)
            }
            _ => None,
        };
        let network = match &spec.test {
            Test::Cidr { network } => Some(parse_network(network)?),
            _ => None,
        };
        Ok(Self {
            spec,
            regex,
            network,
        })
    }

    /// Whether the values found at the field (none: the field is absent) pass. Sigma reads a
    /// field holding a list as matching when one member does.
    pub fn matches(&self, values: &[Found<'_>]) -> bool {
        match &self.spec.test {
            Test::Exists(want) => values.iter().any(|v| !v.is_null()) == *want,
            Test::Null => values.iter().all(Found::is_null),
            _ => {
                let hit = values.iter().any(|v| self.one(v));
                if self.spec.negate {
                    !hit && values.iter().any(|v| !v.is_null())
                } else {
                    hit
                }
            }
        }
    }

    fn one(&self, value: &Found<'_>) -> bool {
        let text: std::borrow::Cow<'_, str> = match value {
            _ if value.is_null() => return false,
            Found::Null => return false,
            Found::Text(s) => std::borrow::Cow::Borrowed(s),
            Found::Json(v) => match v {
                Value::String(s) => std::borrow::Cow::Borrowed(s.as_str()),
                Value::Number(n) => {
                    if let (
                        Test::Eq {
                            number: Some(want), ..
                        },
                        Some(n),
                    ) = (&self.spec.test, n.as_f64())
                    {
                        return n == *want;
                    }
                    std::borrow::Cow::Owned(n.to_string())
                }
                other => std::borrow::Cow::Owned(other.to_string()),
            },
        };
        match &self.spec.test {
            Test::Eq { text: want, .. } => {
                if self.spec.cased {
                    text == want.as_str()
                } else {
                    text.to_lowercase() == want.to_lowercase()
                }
            }
            Test::Glob { .. } | Test::Re { .. } => {
                self.regex.as_ref().is_some_and(|r| r.is_match(&text))
            }
            Test::Cidr { .. } => text
                .trim()
                .parse::<IpAddr>()
                .is_ok_and(|ip| self.network.is_some_and(|n| n.contains(&ip))),
            Test::Cmp { op, number } => text
                .trim()
                .parse::<f64>()
                .is_ok_and(|v| op.holds(v, *number)),
            Test::Exists(_) | Test::Null => false,
        }
    }
}

/// A CIDR network, or a single address as its /32 or /128.
pub fn parse_network(s: &str) -> std::result::Result<ipnet::IpNet, String> {
    s.parse::<ipnet::IpNet>()
        .or_else(|_| s.parse::<IpAddr>().map(ipnet::IpNet::from))
        .map_err(|_| format!("`{s}` is not a CIDR network"))
}

/// The whole-value regular expression of a Sigma pattern.
pub fn glob_regex(parts: &[Part], cased: bool) -> std::result::Result<Regex, String> {
    let mut re = String::from(if cased { "(?s)^" } else { "(?si)^" });
    for p in parts {
        match p {
            Part::Text(t) => re.push_str(&regex::escape(t)),
            Part::Any => re.push_str(".*"),
            Part::One => re.push('.'),
        }
    }
    re.push('$');
    Regex::new(&re).map_err(|e| format!("pattern: {e}"))
}

/// A value found at a field.
#[derive(Debug, Clone)]
pub enum Found<'a> {
    Text(&'a str),
    Json(&'a Value),
    Null,
}

impl Found<'_> {
    fn is_null(&self) -> bool {
        matches!(self, Found::Null | Found::Json(Value::Null))
    }
}

/// The values at `path` inside `root`: a list on the way is crossed member by member (so
/// `containerDefinitions.command` reaches every container's command), and a list at the end
/// gives its members. A key is looked up as written, then ignoring case.
pub fn json_values<'a>(root: &'a Value, path: &[&str], out: &mut Vec<&'a Value>) {
    match root {
        Value::Array(items) => {
            for item in items {
                json_values(item, path, out);
            }
        }
        _ if path.is_empty() => out.push(root),
        Value::Object(map) => {
            let next = map.get(path[0]).or_else(|| {
                map.iter()
                    .find(|(k, _)| k.eq_ignore_ascii_case(path[0]))
                    .map(|(_, v)| v)
            });
            if let Some(v) = next {
                json_values(v, &path[1..], out);
            }
        }
        _ => {}
    }
}

/// The values at a dotted `path` of a JSON text, as text for display (members joined by
/// `, `); `None` when there are none.
pub fn json_display(text: &str, path: &str) -> Option<String> {
    let root: Value = serde_json::from_str(text).ok()?;
    let parts: Vec<&str> = path.split('.').collect();
    let mut found = Vec::new();
    json_values(&root, &parts, &mut found);
    let shown: Vec<String> = found
        .iter()
        .filter(|v| !v.is_null())
        .map(|v| match v {
            Value::String(s) => s.clone(),
            other => other.to_string(),
        })
        .collect();
    (!shown.is_empty()).then(|| shown.join(", "))
}

/// `sigma_match(value, path, spec)`: whether the field passes the test `spec` (a [`Spec`] as
/// JSON). `value` is a text column (`path` empty: the text itself; else JSON text and the
/// dotted path in it), a `map<string,string>` (`path`: the key) or the `resources` list
/// (`path`: the member, any element).
#[derive(Debug, PartialEq, Eq, Hash)]
struct SigmaMatch {
    signature: Signature,
}

impl ScalarUDFImpl for SigmaMatch {
    fn name(&self) -> &str {
        FUNCTION
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, _: &[DataType]) -> Result<DataType> {
        Ok(DataType::Boolean)
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let scalar = |i: usize| -> Result<String> {
            match &args.args[i] {
                ColumnarValue::Scalar(
                    ScalarValue::Utf8(Some(s))
                    | ScalarValue::Utf8View(Some(s))
                    | ScalarValue::LargeUtf8(Some(s)),
                ) => Ok(s.clone()),
                _ => Err(DataFusionError::Execution(format!(
                    "{FUNCTION}: argument {} must be a text literal",
                    i + 1
                ))),
            }
        };
        let path = scalar(1)?;
        let spec: Spec = serde_json::from_str(&scalar(2)?)
            .map_err(|e| DataFusionError::Execution(format!("{FUNCTION}: bad spec: {e}")))?;
        let test = Compiled::new(spec)
            .map_err(|e| DataFusionError::Execution(format!("{FUNCTION}: {e}")))?;
        let values = args.args[0].to_array(args.number_rows)?;
        let out = evaluate(&values, &path, &test)?;
        Ok(ColumnarValue::Array(Arc::new(out)))
    }
}

fn evaluate(values: &ArrayRef, path: &str, test: &Compiled) -> Result<BooleanArray> {
    let parts: Vec<&str> = if path.is_empty() {
        Vec::new()
    } else {
        path.split('.').collect()
    };
    let rows = values.len();
    let mut out = Vec::with_capacity(rows);
    match values.data_type() {
        DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View => {
            let text = arrow::compute::cast(values, &DataType::Utf8)?;
            let text = text.as_string::<i32>();
            for r in 0..rows {
                let mut found = Vec::new();
                if text.is_null(r) {
                    out.push(test.matches(&[]));
                } else if parts.is_empty() {
                    out.push(test.matches(&[Found::Text(text.value(r))]));
                } else {
                    let root: Value = serde_json::from_str(text.value(r)).unwrap_or(Value::Null);
                    json_values(&root, &parts, &mut found);
                    let values: Vec<Found<'_>> = found
                        .iter()
                        .map(|v| {
                            if v.is_null() {
                                Found::Null
                            } else {
                                Found::Json(v)
                            }
                        })
                        .collect();
                    out.push(test.matches(&values));
                }
            }
        }
        DataType::Map(_, _) => {
            let map = values.as_map();
            for r in 0..rows {
                let mut owned: Vec<Option<String>> = Vec::new();
                if map.is_valid(r) {
                    let entries = map.value(r);
                    let keys = arrow::compute::cast(entries.column(0), &DataType::Utf8)?;
                    let vals = arrow::compute::cast(entries.column(1), &DataType::Utf8)?;
                    let (keys, vals) = (keys.as_string::<i32>(), vals.as_string::<i32>());
                    for i in 0..keys.len() {
                        if keys.value(i).eq_ignore_ascii_case(path) {
                            owned.push(vals.is_valid(i).then(|| vals.value(i).to_string()));
                        }
                    }
                }
                let found: Vec<Found<'_>> = owned
                    .iter()
                    .map(|v| v.as_deref().map_or(Found::Null, Found::Text))
                    .collect();
                out.push(test.matches(&found));
            }
        }
        DataType::List(_) => {
            let list = values.as_list::<i32>();
            for r in 0..rows {
                if list.is_null(r) {
                    out.push(test.matches(&[]));
                    continue;
                }
                let element = list.value(r);
                let Some(members) = element.as_any().downcast_ref::<StructArray>() else {
                    out.push(false);
                    continue;
                };
                let column = members
                    .column_names()
                    .iter()
                    .position(|n| n.eq_ignore_ascii_case(path))
                    .map(|i| members.column(i).clone());
                let mut found = Vec::new();
                let texts = match column {
                    Some(c) => Some(arrow::compute::cast(&c, &DataType::Utf8)?),
                    None => None,
                };
                if let Some(t) = &texts {
                    let t = t.as_string::<i32>();
                    for i in 0..t.len() {
                        found.push(if t.is_null(i) {
                            Found::Null
                        } else {
                            Found::Text(t.value(i))
                        });
                    }
                }
                out.push(test.matches(&found));
            }
        }
        other => {
            return Err(DataFusionError::Execution(format!(
                "{FUNCTION}: cannot read a field of type {other}"
            )));
        }
    }
    Ok(BooleanArray::from(out))
}

/// Adds `sigma_match` to `ctx`.
pub fn register(ctx: &SessionContext) {
    ctx.register_udf(ScalarUDF::new_from_impl(SigmaMatch {
        signature: Signature::any(3, Volatility::Immutable),
    }));
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(test: Test) -> Compiled {
        Compiled::new(Spec {
            test,
            cased: false,
            negate: false,
        })
        .unwrap()
    }

    fn at(json: &str, path: &str, test: &Compiled) -> bool {
        let root: Value = serde_json::from_str(json).unwrap();
        let parts: Vec<&str> = path.split('.').collect();
        let mut found = Vec::new();
        json_values(&root, &parts, &mut found);
        let found: Vec<Found<'_>> = found.iter().map(|v| Found::Json(v)).collect();
        test.matches(&found)
    }

    #[test]
    fn lists_on_the_way_match_member_by_member() {
        let json = r#"{"containerDefinitions":[{"command":["sh","-c","curl $AWS_CONTAINER_CREDENTIALS_RELATIVE_URI"]},{"command":["true"]}]}"#;
        let contains = spec(Test::Glob {
            parts: vec![
                Part::Any,
                Part::Text("$aws_container_credentials_relative_uri".into()),
                Part::Any,
            ],
        });
        assert!(at(json, "containerDefinitions.command", &contains));
        let no = spec(Test::Glob {
            parts: vec![Part::Any, Part::Text("wget".into()), Part::Any],
        });
        assert!(!at(json, "containerDefinitions.command", &no));
    }

    #[test]
    fn values_compare_case_insensitively_and_numbers_by_value() {
        let eq = spec(Test::Eq {
            text: "false".into(),
            number: None,
        });
        assert!(at(r#"{"enable":false}"#, "enable", &eq));
        assert!(at(r#"{"Enable":"FALSE"}"#, "enable", &eq));
        assert!(!at(r#"{"enable":true}"#, "enable", &eq));
        let five = spec(Test::Eq {
            text: "5".into(),
            number: Some(5.0),
        });
        assert!(at(r#"{"n":5.0}"#, "n", &five));
        assert!(!at(r#"{"n":6}"#, "n", &five));
    }

    #[test]
    fn null_exists_and_cidr() {
        let null = spec(Test::Null);
        assert!(at(r#"{"a":null}"#, "a", &null));
        assert!(at(r#"{}"#, "a", &null));
        assert!(!at(r#"{"a":1}"#, "a", &null));
        let exists = spec(Test::Exists(true));
        assert!(at(r#"{"a":{"b":1}}"#, "a", &exists));
        assert!(!at(r#"{"a":null}"#, "a", &exists));
        let cidr = spec(Test::Cidr {
            network: "10.0.0.0/8".into(),
        });
        assert!(cidr.matches(&[Found::Text("10.2.3.4")]));
        assert!(!cidr.matches(&[Found::Text("11.2.3.4")]));
        assert!(!cidr.matches(&[Found::Text("AWS Internal")]));
        assert!(
            Compiled::new(Spec {
                test: Test::Cidr {
                    network: "not a net".into()
                },
                cased: false,
                negate: false
            })
            .is_err()
        );
    }

    #[test]
    fn glob_wildcards_are_whole_value() {
        let r = glob_regex(
            &[Part::Text("a".into()), Part::One, Part::Text("c".into())],
            false,
        )
        .unwrap();
        assert!(r.is_match("ABC"));
        assert!(!r.is_match("xabc"));
        assert!(
            glob_regex(&[Part::Text("a.b".into())], true)
                .unwrap()
                .is_match("a.b")
        );
        assert!(
            !glob_regex(&[Part::Text("a.b".into())], true)
                .unwrap()
                .is_match("axb")
        );
    }
}
