//! `regexp_extract(s, pattern[, group])`: the first match (or its group), NULL without one,
//! as in Trino; `regexp_extract_all` every match.

use std::sync::Arc;

use datafusion::arrow::array::{Array, AsArray};
use datafusion::arrow::datatypes::DataType;
use datafusion::common::{ScalarValue, plan_err};
use datafusion::error::Result;
use datafusion::logical_expr::{
    ColumnarValue, ScalarFunctionArgs, ScalarUDFImpl, Signature, TypeSignature, Volatility,
};
use regex::Regex;

use super::{constant_str, map_strings, utf8_arg};

/// `all`: `regexp_extract_all`, every match (or its group) as an array; NULL input, NULL.
#[derive(Debug, PartialEq, Eq, Hash)]
struct RegexpExtract {
    signature: Signature,
    all: bool,
}

/// `regexp_replace(text, pattern[, replacement])` as in Trino: every match is replaced
/// (DataFusion's follows Postgres and replaces the first); without a replacement, matches are
/// removed. `$1` refers to a group; `\$` is a literal dollar.
#[derive(Debug, PartialEq, Eq, Hash)]
struct RegexpReplace {
    signature: Signature,
}

impl ScalarUDFImpl for RegexpReplace {
    fn name(&self) -> &str {
        "regexp_replace"
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
        let (Some(Some(pattern)), replacement) = (
            constant_str(&args.args[1]),
            args.args.get(2).map(constant_str),
        ) else {
            return plan_err!("regexp_replace: the pattern must be a constant string");
        };
        let replacement = match replacement {
            None => String::new(),
            Some(Some(Some(r))) => r.replace("\\$", "$$"),
            Some(Some(None)) => {
                return Ok(ColumnarValue::Array(map_strings(&input, |_| Ok(None))?));
            }
            Some(None) => {
                return plan_err!("regexp_replace: the replacement must be a constant string");
            }
        };
        let re = compile(&pattern)?;
        Ok(ColumnarValue::Array(map_strings(&input, |s| {
            Ok(Some(re.replace_all(s, replacement.as_str()).into_owned()))
        })?))
    }
}

pub(super) fn functions() -> Vec<Arc<dyn ScalarUDFImpl>> {
    let utf8 = || DataType::Utf8;
    vec![
        Arc::new(RegexpReplace {
            signature: Signature::one_of(
                vec![
                    TypeSignature::Exact(vec![utf8(), utf8()]),
                    TypeSignature::Exact(vec![utf8(), utf8(), utf8()]),
                ],
                Volatility::Immutable,
            ),
        }),
        Arc::new(RegexpExtract {
            signature: extract_signature(),
            all: false,
        }),
        Arc::new(RegexpExtract {
            signature: extract_signature(),
            all: true,
        }),
    ]
}

fn extract_signature() -> Signature {
    Signature::one_of(
        vec![
            TypeSignature::Exact(vec![DataType::Utf8, DataType::Utf8]),
            TypeSignature::Exact(vec![DataType::Utf8, DataType::Utf8, DataType::Int64]),
        ],
        Volatility::Immutable,
    )
}

fn compile(pattern: &str) -> Result<Regex> {
    match Regex::new(pattern) {
        Ok(r) => Ok(r),
        Err(e) => plan_err!("invalid regular expression {pattern:?}: {e}"),
    }
}

impl ScalarUDFImpl for RegexpExtract {
    fn name(&self) -> &str {
        if self.all {
            "regexp_extract_all"
        } else {
            "regexp_extract"
        }
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, _: &[DataType]) -> Result<DataType> {
        Ok(if self.all {
            DataType::new_list(DataType::Utf8, true)
        } else {
            DataType::Utf8
        })
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let rows = args.number_rows;
        let input = utf8_arg(&args.args[0], rows)?;
        let group = match args.args.get(2) {
            None => 0,
            Some(ColumnarValue::Scalar(ScalarValue::Int64(Some(g)))) if *g >= 0 => *g as usize,
            Some(_) => {
                return plan_err!(
                    "{}: the group must be a non-negative integer constant",
                    self.name()
                );
            }
        };
        if self.all {
            return self.extract_all(&input, &args.args[1], rows, group);
        }
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
                    return plan_err!("{}: pattern {p:?} has no group {group}", self.name());
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

impl RegexpExtract {
    fn extract_all(
        &self,
        input: &datafusion::arrow::array::ArrayRef,
        pattern: &ColumnarValue,
        rows: usize,
        group: usize,
    ) -> Result<ColumnarValue> {
        use datafusion::arrow::array::{Array, ListBuilder, StringBuilder};
        let constant = match constant_str(pattern) {
            Some(Some(p)) => {
                let re = compile(&p)?;
                if group >= re.captures_len() {
                    return plan_err!("{}: pattern {p:?} has no group {group}", self.name());
                }
                Some(Some(re))
            }
            Some(None) => Some(None),
            None => None,
        };
        let patterns = match constant {
            Some(_) => None,
            None => Some(utf8_arg(pattern, rows)?),
        };
        let input = input.as_string::<i32>();
        let mut out = ListBuilder::new(StringBuilder::new());
        for i in 0..input.len() {
            let row_re;
            let re = match (&constant, &patterns) {
                (Some(Some(re)), _) => Some(re),
                (Some(None), _) => None,
                (None, Some(p)) if p.is_valid(i) => {
                    row_re = compile(p.as_string::<i32>().value(i))?;
                    Some(&row_re)
                }
                _ => None,
            };
            let (Some(re), true) = (re, input.is_valid(i)) else {
                out.append(false);
                continue;
            };
            for c in re.captures_iter(input.value(i)) {
                out.values().append_option(c.get(group).map(|m| m.as_str()));
            }
            out.append(true);
        }
        Ok(ColumnarValue::Array(Arc::new(out.finish())))
    }
}

/// `regexp_split(s, pattern)` (an array; trailing empty parts kept) and
/// `regexp_position(s, pattern[, start[, occurrence]])` (1-based, -1 without a match), as in
/// Trino's regexp.md.
#[derive(Debug, PartialEq, Eq, Hash)]
struct RegexpMore {
    split: bool,
    signature: Signature,
}

pub(super) fn more_functions() -> Vec<Arc<dyn ScalarUDFImpl>> {
    let s = || DataType::Utf8;
    let i = || DataType::Int64;
    vec![
        Arc::new(RegexpMore {
            split: true,
            signature: Signature::exact(vec![s(), s()], Volatility::Immutable),
        }),
        Arc::new(RegexpMore {
            split: false,
            signature: Signature::one_of(
                vec![
                    TypeSignature::Exact(vec![s(), s()]),
                    TypeSignature::Exact(vec![s(), s(), i()]),
                    TypeSignature::Exact(vec![s(), s(), i(), i()]),
                ],
                Volatility::Immutable,
            ),
        }),
    ]
}

impl ScalarUDFImpl for RegexpMore {
    fn name(&self) -> &str {
        if self.split {
            "regexp_split"
        } else {
            "regexp_position"
        }
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, _: &[DataType]) -> Result<DataType> {
        Ok(if self.split {
            DataType::List(Arc::new(
                datafusion::arrow::datatypes::Field::new_list_field(DataType::Utf8, true),
            ))
        } else {
            DataType::Int64
        })
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let rows = args.number_rows;
        let input = utf8_arg(&args.args[0], rows)?;
        let input = input.as_string::<i32>();
        let Some(Some(pattern)) = constant_str(&args.args[1]) else {
            return plan_err!("{}: the pattern must be a constant string", self.name());
        };
        let re = compile(&pattern)?;
        if self.split {
            let mut out = datafusion::arrow::array::ListBuilder::new(
                datafusion::arrow::array::StringBuilder::new(),
            );
            for s in input.iter() {
                match s {
                    Some(s) => {
                        re.split(s).for_each(|p| out.values().append_value(p));
                        out.append(true);
                    }
                    None => out.append_null(),
                }
            }
            return Ok(ColumnarValue::Array(Arc::new(out.finish())));
        }
        let int = |i: usize| -> Result<Option<datafusion::arrow::array::ArrayRef>> {
            args.args.get(i).map(|a| a.to_array(rows)).transpose()
        };
        let (starts, occurrences) = (int(2)?, int(3)?);
        let value = |a: &Option<datafusion::arrow::array::ArrayRef>, row: usize, default: i64| {
            a.as_ref().map_or(Some(default), |a| {
                let a = a.as_primitive::<datafusion::arrow::datatypes::Int64Type>();
                (!a.is_null(row)).then(|| a.value(row))
            })
        };
        let mut out = Vec::with_capacity(rows);
        for (row, s) in input.iter().enumerate() {
            let (Some(s), Some(start), Some(nth)) =
                (s, value(&starts, row, 1), value(&occurrences, row, 1))
            else {
                out.push(None);
                continue;
            };
            if start < 1 {
                return datafusion::common::exec_err!(
                    "regexp_position: start must be 1 or more, got {start}"
                );
            }
            if nth < 1 {
                return datafusion::common::exec_err!(
                    "regexp_position: occurrence must be 1 or more, got {nth}"
                );
            }
            let from = s
                .char_indices()
                .nth((start - 1) as usize)
                .map_or(s.len(), |(b, _)| b);
            let found = re.find_iter(&s[from..]).nth((nth - 1) as usize);
            out.push(Some(found.map_or(-1, |m| {
                s[..from + m.start()].chars().count() as i64 + 1
            })));
        }
        Ok(ColumnarValue::Array(Arc::new(
            datafusion::arrow::array::Int64Array::from(out),
        )))
    }
}
