//! Trino's URL functions (functions/url.md): `url_extract_host`, `url_extract_parameter`,
//! `url_extract_protocol`, `url_extract_path`, `url_extract_query`, `url_extract_fragment`,
//! `url_extract_port`, parsed with the `url` crate (text that is not a URL gives NULL, as in
//! Trino), and `url_encode`/`url_decode` (query-parameter escaping: letters, digits and
//! `. - * _` kept, space as `+`, every other UTF-8 byte as `%XX`).

use std::sync::Arc;

use datafusion::arrow::array::AsArray;
use datafusion::arrow::datatypes::DataType;
use datafusion::error::Result;
use datafusion::logical_expr::{
    ColumnarValue, ScalarFunctionArgs, ScalarUDFImpl, Signature, Volatility,
};

use super::{constant_str, map_strings, utf8_arg};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Part {
    Host,
    Parameter,
    Protocol,
    Path,
    Query,
    Fragment,
    Port,
    Encode,
    Decode,
}

#[derive(Debug, PartialEq, Eq, Hash)]
struct UrlFn {
    part: Part,
    signature: Signature,
}

pub(super) fn functions() -> Vec<Arc<dyn ScalarUDFImpl>> {
    [
        Part::Host,
        Part::Parameter,
        Part::Protocol,
        Part::Path,
        Part::Query,
        Part::Fragment,
        Part::Port,
        Part::Encode,
        Part::Decode,
    ]
    .into_iter()
    .map(|part| {
        let arity = if part == Part::Parameter { 2 } else { 1 };
        Arc::new(UrlFn {
            part,
            signature: Signature::string(arity, Volatility::Immutable),
        }) as Arc<dyn ScalarUDFImpl>
    })
    .collect()
}

/// Query-parameter escaping as Java's `URLEncoder` (Trino's `url_encode`).
fn encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        match b {
            b'a'..=b'z' | b'A'..=b'Z' | b'0'..=b'9' | b'.' | b'-' | b'*' | b'_' => {
                out.push(b as char)
            }
            b' ' => out.push('+'),
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

/// The inverse of [`encode`]; `None` for a malformed escape.
fn decode(s: &str) -> Option<String> {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' => {
                let hex = s.get(i + 1..i + 3)?;
                out.push(u8::from_str_radix(hex, 16).ok()?);
                i += 2;
            }
            b => out.push(b),
        }
        i += 1;
    }
    Some(String::from_utf8_lossy(&out).into_owned())
}

/// The path as `java.net.URI` gives it: empty when the URL has none (`url` says `/`).
fn path(raw: &str, u: &url::Url) -> String {
    let after_scheme = raw.split_once("://").map_or(raw, |(_, rest)| rest);
    let authority_end = after_scheme
        .find(['/', '?', '#'])
        .unwrap_or(after_scheme.len());
    if after_scheme[authority_end..].starts_with('/') {
        u.path().to_string()
    } else {
        String::new()
    }
}

impl ScalarUDFImpl for UrlFn {
    fn name(&self) -> &str {
        match self.part {
            Part::Host => "url_extract_host",
            Part::Parameter => "url_extract_parameter",
            Part::Protocol => "url_extract_protocol",
            Part::Path => "url_extract_path",
            Part::Query => "url_extract_query",
            Part::Fragment => "url_extract_fragment",
            Part::Port => "url_extract_port",
            Part::Encode => "url_encode",
            Part::Decode => "url_decode",
        }
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, _: &[DataType]) -> Result<DataType> {
        Ok(if self.part == Part::Port {
            DataType::Int64
        } else {
            DataType::Utf8
        })
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let urls = utf8_arg(&args.args[0], args.number_rows)?;
        let parsed = |u: &str| url::Url::parse(u).ok();
        let out = match self.part {
            Part::Parameter => {
                let Some(Some(name)) = constant_str(&args.args[1]) else {
                    return datafusion::common::plan_err!(
                        "url_extract_parameter: the parameter name must be a constant string"
                    );
                };
                map_strings(&urls, |u| {
                    Ok(parsed(u).and_then(|u| {
                        u.query_pairs()
                            .find(|(k, _)| k == &name)
                            .map(|(_, v)| v.into_owned())
                    }))
                })?
            }
            Part::Port => {
                let ports: datafusion::arrow::array::Int64Array = urls
                    .as_string::<i32>()
                    .iter()
                    .map(|u| parsed(u?)?.port().map(i64::from))
                    .collect();
                std::sync::Arc::new(ports)
            }
            Part::Host => map_strings(&urls, |u| {
                Ok(parsed(u).and_then(|u| u.host_str().map(str::to_string)))
            })?,
            Part::Protocol => {
                map_strings(&urls, |u| Ok(parsed(u).map(|u| u.scheme().to_string())))?
            }
            Part::Path => map_strings(&urls, |raw| Ok(parsed(raw).map(|u| path(raw, &u))))?,
            Part::Query => map_strings(&urls, |u| {
                Ok(parsed(u).and_then(|u| u.query().map(str::to_string)))
            })?,
            Part::Fragment => map_strings(&urls, |u| {
                Ok(parsed(u).and_then(|u| u.fragment().map(str::to_string)))
            })?,
            Part::Encode => map_strings(&urls, |s| Ok(Some(encode(s))))?,
            Part::Decode => map_strings(&urls, |s| match decode(s) {
                Some(d) => Ok(Some(d)),
                None => {
                    datafusion::common::exec_err!("url_decode: {s:?} has a malformed %XX escape")
                }
            })?,
        };
        Ok(ColumnarValue::Array(out))
    }
}
