//! `url_extract_host(url)` and `url_extract_parameter(url, name)`, parsed with the `url`
//! crate; text that is not a URL gives NULL, as in Trino.

use std::sync::Arc;

use datafusion::arrow::datatypes::DataType;
use datafusion::error::Result;
use datafusion::logical_expr::{
    ColumnarValue, ScalarFunctionArgs, ScalarUDFImpl, Signature, Volatility,
};

use super::{constant_str, map_strings, utf8_arg};

#[derive(Debug, PartialEq, Eq, Hash)]
struct UrlFn {
    parameter: bool,
    signature: Signature,
}

pub(super) fn functions() -> Vec<Arc<dyn ScalarUDFImpl>> {
    vec![
        Arc::new(UrlFn {
            parameter: false,
            signature: Signature::string(1, Volatility::Immutable),
        }),
        Arc::new(UrlFn {
            parameter: true,
            signature: Signature::string(2, Volatility::Immutable),
        }),
    ]
}

impl ScalarUDFImpl for UrlFn {
    fn name(&self) -> &str {
        if self.parameter {
            "url_extract_parameter"
        } else {
            "url_extract_host"
        }
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, _: &[DataType]) -> Result<DataType> {
        Ok(DataType::Utf8)
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let urls = utf8_arg(&args.args[0], args.number_rows)?;
        let out = if self.parameter {
            let Some(Some(name)) = constant_str(&args.args[1]) else {
                return datafusion::common::plan_err!(
                    "url_extract_parameter: the parameter name must be a constant string"
                );
            };
            map_strings(&urls, |u| {
                Ok(url::Url::parse(u).ok().and_then(|u| {
                    u.query_pairs()
                        .find(|(k, _)| k == &name)
                        .map(|(_, v)| v.into_owned())
                }))
            })?
        } else {
            map_strings(&urls, |u| {
                Ok(url::Url::parse(u)
                    .ok()
                    .and_then(|u| u.host_str().map(str::to_string)))
            })?
        };
        Ok(ColumnarValue::Array(out))
    }
}
