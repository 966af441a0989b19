//! Trino's binary functions (functions/binary.md) that DataFusion lacks: `sha1`, `crc32`,
//! `xxhash64`, `to_base64`, `from_base64`, `to_base64url`, `from_base64url`. Varbinary in,
//! as in Trino (`sha1(to_utf8(x))`); a varchar argument is read as its UTF-8 bytes.

use std::sync::Arc;

use base64::Engine as _;
use datafusion::arrow::array::{Array, ArrayRef, AsArray, BinaryArray, Int64Array, StringArray};
use datafusion::arrow::compute::cast;
use datafusion::arrow::datatypes::DataType;
use datafusion::common::exec_err;
use datafusion::error::Result;
use datafusion::logical_expr::{
    ColumnarValue, ScalarFunctionArgs, ScalarUDFImpl, Signature, Volatility,
};
use sha1::Digest as _;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Kind {
    Sha1,
    Crc32,
    XxHash64,
    ToBase64 {
        url: bool,
    },
    FromBase64 {
        url: bool,
    },
    /// `from_utf8(b[, replace])`: invalid sequences become U+FFFD, or `replace` (a one-character
    /// string, a code point, or '' to drop them), as in Trino.
    FromUtf8,
}

#[derive(Debug, PartialEq, Eq, Hash)]
struct BinaryFn {
    kind: Kind,
    signature: Signature,
}

pub(super) fn functions() -> Vec<Arc<dyn ScalarUDFImpl>> {
    [
        Kind::Sha1,
        Kind::Crc32,
        Kind::XxHash64,
        Kind::ToBase64 { url: false },
        Kind::ToBase64 { url: true },
        Kind::FromBase64 { url: false },
        Kind::FromBase64 { url: true },
        Kind::FromUtf8,
    ]
    .into_iter()
    .map(|kind| {
        let signature = if kind == Kind::FromUtf8 {
            Signature::one_of(
                vec![
                    datafusion::logical_expr::TypeSignature::Any(1),
                    datafusion::logical_expr::TypeSignature::Any(2),
                ],
                Volatility::Immutable,
            )
        } else {
            Signature::any(1, Volatility::Immutable)
        };
        Arc::new(BinaryFn { kind, signature }) as Arc<dyn ScalarUDFImpl>
    })
    .collect()
}

/// Padded output; input with or without padding.
fn base64_engine(url: bool) -> base64::engine::GeneralPurpose {
    let config = base64::engine::GeneralPurposeConfig::new()
        .with_decode_padding_mode(base64::engine::DecodePaddingMode::Indifferent);
    let alphabet = if url {
        &base64::alphabet::URL_SAFE
    } else {
        &base64::alphabet::STANDARD
    };
    base64::engine::GeneralPurpose::new(alphabet, config)
}

impl ScalarUDFImpl for BinaryFn {
    fn name(&self) -> &str {
        match self.kind {
            Kind::Sha1 => "sha1",
            Kind::Crc32 => "crc32",
            Kind::XxHash64 => "xxhash64",
            Kind::ToBase64 { url: false } => "to_base64",
            Kind::ToBase64 { url: true } => "to_base64url",
            Kind::FromBase64 { url: false } => "from_base64",
            Kind::FromBase64 { url: true } => "from_base64url",
            Kind::FromUtf8 => "from_utf8",
        }
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, _: &[DataType]) -> Result<DataType> {
        Ok(match self.kind {
            Kind::Sha1 | Kind::XxHash64 | Kind::FromBase64 { .. } => DataType::Binary,
            Kind::Crc32 => DataType::Int64,
            Kind::ToBase64 { .. } | Kind::FromUtf8 => DataType::Utf8,
        })
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let input = args.args[0].to_array(args.number_rows)?;
        if self.kind == Kind::FromUtf8 {
            let replacement = match args.args.get(1) {
                None => Some("\u{FFFD}".to_string()),
                Some(r) => match super::scalar_args(std::slice::from_ref(r)).remove(0) {
                    Some(v) if v.is_null() => None,
                    Some(v) if v.data_type().is_integer() => {
                        let n = match v.cast_to(&DataType::Int64)? {
                            datafusion::common::ScalarValue::Int64(Some(n)) => n,
                            _ => -1,
                        };
                        match u32::try_from(n).ok().and_then(char::from_u32) {
                            Some(c) => Some(c.to_string()),
                            None => return exec_err!("from_utf8: {n} is not a Unicode code point"),
                        }
                    }
                    Some(v) => {
                        let s = v.to_string();
                        if s.chars().count() > 1 {
                            return exec_err!(
                                "from_utf8: the replacement must be one character or empty, got {s:?}"
                            );
                        }
                        Some(s)
                    }
                    None => return exec_err!("from_utf8: the replacement must be a constant"),
                },
            };
            let bytes = cast(&input, &DataType::Binary)?;
            let out: StringArray = bytes
                .as_binary::<i32>()
                .iter()
                .map(|b| {
                    let replacement = replacement.as_deref()?;
                    let b = b?;
                    let mut text = String::with_capacity(b.len());
                    for chunk in b.utf8_chunks() {
                        text.push_str(chunk.valid());
                        if !chunk.invalid().is_empty() {
                            text.push_str(replacement);
                        }
                    }
                    Some(text)
                })
                .collect();
            return Ok(ColumnarValue::Array(Arc::new(out)));
        }
        let out: ArrayRef = if let Kind::FromBase64 { url } = self.kind {
            let text = cast(&input, &DataType::Utf8)?;
            let engine = base64_engine(url);
            let decoded: BinaryArray = text
                .as_string::<i32>()
                .iter()
                .map(|s| match s {
                    None => Ok(None),
                    Some(s) => match engine.decode(s) {
                        Ok(b) => Ok(Some(b)),
                        Err(e) => exec_err!("{}: {s:?} is not base64: {e}", self.name()),
                    },
                })
                .collect::<Result<Vec<_>>>()?
                .into_iter()
                .collect();
            Arc::new(decoded)
        } else {
            let bytes = cast(&input, &DataType::Binary)?;
            let bytes = bytes.as_binary::<i32>();
            match self.kind {
                Kind::Sha1 => Arc::new(
                    bytes
                        .iter()
                        .map(|b| b.map(|b| sha1::Sha1::digest(b).to_vec()))
                        .collect::<BinaryArray>(),
                ),
                Kind::XxHash64 => Arc::new(
                    bytes
                        .iter()
                        .map(|b| b.map(|b| xxhash_rust::xxh64::xxh64(b, 0).to_be_bytes().to_vec()))
                        .collect::<BinaryArray>(),
                ),
                Kind::Crc32 => Arc::new(
                    bytes
                        .iter()
                        .map(|b| b.map(|b| i64::from(crc32fast::hash(b))))
                        .collect::<Int64Array>(),
                ),
                Kind::ToBase64 { url } => {
                    let engine = base64_engine(url);
                    Arc::new(
                        bytes
                            .iter()
                            .map(|b| b.map(|b| engine.encode(b)))
                            .collect::<StringArray>(),
                    )
                }
                Kind::FromBase64 { .. } | Kind::FromUtf8 => unreachable!("handled above"),
            }
        };
        debug_assert_eq!(out.len(), args.number_rows);
        Ok(ColumnarValue::Array(out))
    }
}
