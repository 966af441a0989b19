//! Trino's string functions where DataFusion's differ (each cites the difference):
//! `concat` is NULL when an argument is; `split_part` past the last field is NULL; `substr`
//! with a start of 0 or before the beginning is empty; `strpos` takes an instance; `lpad`/`rpad`
//! refuse an empty pad or a negative size; `trim`/`ltrim`/`rtrim` remove Unicode whitespace
//! (not only spaces) or the given characters; `split` keeps empty strings and takes a limit.
//! Positions and lengths count Unicode code points, as in Trino.

use std::sync::Arc;

use datafusion::arrow::array::{
    Array, ArrayRef, AsArray, Int64Array, ListBuilder, StringArray, StringBuilder,
};
use datafusion::arrow::compute::cast;
use datafusion::arrow::datatypes::{DataType, Field};
use datafusion::common::{ScalarValue, exec_err, plan_err};
use datafusion::error::Result;
use datafusion::logical_expr::simplify::{ExprSimplifyResult, SimplifyContext};
use datafusion::logical_expr::{
    ColumnarValue, Expr, ScalarFunctionArgs, ScalarUDFImpl, Signature, TypeSignature, Volatility,
    lit, when,
};

/// One of the string functions of this module.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Kind {
    Concat,
    SplitPart,
    Substr,
    Strpos,
    Lpad,
    Rpad,
    Trim,
    Ltrim,
    Rtrim,
    Split,
    HammingDistance,
    Codepoint,
    /// `replace(s, search[, replacement])`: every occurrence; an empty search matches between
    /// characters (DataFusion's returns `s` unchanged then).
    Replace,
    /// `__trawl_like_pattern(pattern, escape)`: a Trino LIKE pattern in DataFusion's form.
    LikePattern,
}

#[derive(Debug, PartialEq, Eq, Hash)]
struct StringFn {
    name: &'static str,
    aliases: Vec<String>,
    kind: Kind,
    signature: Signature,
}

pub(super) fn functions() -> Vec<Arc<dyn ScalarUDFImpl>> {
    let s = || DataType::Utf8;
    let i = || DataType::Int64;
    let exact = |sigs: Vec<Vec<DataType>>| {
        Signature::one_of(
            sigs.into_iter().map(TypeSignature::Exact).collect(),
            Volatility::Immutable,
        )
    };
    let f = |name, aliases: &[&str], kind, signature| {
        Arc::new(StringFn {
            name,
            aliases: aliases.iter().map(|a| a.to_string()).collect(),
            kind,
            signature,
        }) as Arc<dyn ScalarUDFImpl>
    };
    vec![
        f(
            "concat",
            &[],
            Kind::Concat,
            Signature::user_defined(Volatility::Immutable),
        ),
        f(
            "split_part",
            &[],
            Kind::SplitPart,
            exact(vec![vec![s(), s(), i()]]),
        ),
        f(
            "substr",
            &["substring", "__trawl_substr"],
            Kind::Substr,
            exact(vec![vec![s(), i()], vec![s(), i(), i()]]),
        ),
        f(
            "strpos",
            &[],
            Kind::Strpos,
            exact(vec![vec![s(), s()], vec![s(), s(), i()]]),
        ),
        f("lpad", &[], Kind::Lpad, exact(vec![vec![s(), i(), s()]])),
        f("rpad", &[], Kind::Rpad, exact(vec![vec![s(), i(), s()]])),
        f(
            "trim",
            &[],
            Kind::Trim,
            exact(vec![vec![s()], vec![s(), s()]]),
        ),
        f(
            "ltrim",
            &[],
            Kind::Ltrim,
            exact(vec![vec![s()], vec![s(), s()]]),
        ),
        f(
            "rtrim",
            &[],
            Kind::Rtrim,
            exact(vec![vec![s()], vec![s(), s()]]),
        ),
        f(
            "split",
            &[],
            Kind::Split,
            exact(vec![vec![s(), s()], vec![s(), s(), i()]]),
        ),
        f(
            "hamming_distance",
            &[],
            Kind::HammingDistance,
            exact(vec![vec![s(), s()]]),
        ),
        f("codepoint", &[], Kind::Codepoint, exact(vec![vec![s()]])),
        f(
            "replace",
            &[],
            Kind::Replace,
            exact(vec![vec![s(), s()], vec![s(), s(), s()]]),
        ),
        f(
            "__trawl_like_pattern",
            &[],
            Kind::LikePattern,
            exact(vec![vec![s(), s()]]),
        ),
    ]
}

/// Trino's whitespace for `trim` (Java's `Character.isWhitespace`): the ASCII controls 9-13
/// and 28-31, the space, and the Unicode space, line and paragraph separators except the
/// no-break ones (U+00A0, U+2007, U+202F).
pub(crate) fn is_trino_whitespace(c: char) -> bool {
    matches!(c,
        '\u{9}'..='\u{d}' | '\u{1c}'..='\u{20}' | '\u{1680}' | '\u{2000}'..='\u{2006}'
        | '\u{2008}'..='\u{200a}' | '\u{2028}' | '\u{2029}' | '\u{205f}' | '\u{3000}')
}

/// A Trino LIKE pattern (no escape, or `escape`) in the form DataFusion reads, where `\\`
/// escapes: a backslash that is not the escape character stands for itself.
pub(crate) fn like_pattern(p: &str, escape: Option<char>) -> Result<String, String> {
    let mut out = String::with_capacity(p.len() + 4);
    let mut chars = p.chars();
    while let Some(c) = chars.next() {
        if Some(c) == escape {
            match chars.next() {
                Some(n @ ('%' | '_')) => {
                    out.push('\\');
                    out.push(n);
                }
                Some(n) if Some(n) == escape => {
                    if n == '\\' {
                        out.push('\\');
                    }
                    out.push(n);
                }
                _ => {
                    return Err(format!(
                        "LIKE pattern {p:?}: Escape character must be followed by '%', '_' or the escape character"
                    ));
                }
            }
        } else if c == '\\' {
            out.push_str("\\\\");
        } else {
            out.push(c);
        }
    }
    Ok(out)
}

/// The arguments as arrays of `rows` rows: strings as Utf8, numbers as Int64.
fn arrays(args: &[ColumnarValue], rows: usize) -> Result<Vec<ArrayRef>> {
    args.iter()
        .map(|a| {
            let a = a.to_array(rows)?;
            Ok(match a.data_type() {
                DataType::Utf8 | DataType::Int64 => a,
                t if t.is_integer() => cast(&a, &DataType::Int64)?,
                _ => cast(&a, &DataType::Utf8)?,
            })
        })
        .collect()
}

/// The value of row `row` of argument `i` (`None` for NULL).
fn str_at(a: &[ArrayRef], i: usize, row: usize) -> Option<&str> {
    let s = a[i].as_string::<i32>();
    (!s.is_null(row)).then(|| s.value(row))
}

fn int_at(a: &[ArrayRef], i: usize, row: usize) -> Option<i64> {
    let n = a[i].as_primitive::<datafusion::arrow::datatypes::Int64Type>();
    (!n.is_null(row)).then(|| n.value(row))
}

/// The byte offset of code point `n` (0-based) in `s`, or `s.len()` past the end.
fn byte_at(s: &str, n: usize) -> usize {
    s.char_indices().nth(n).map_or(s.len(), |(b, _)| b)
}

/// Trino's `substr(s, start[, length])`: 1-based; a negative start counts from the end; a
/// start of 0, before the beginning or past the end, or a length of 0 or less, gives ''.
/// ASCII text (most of a trail) is cut by bytes, without counting code points.
fn substr(s: &str, start: i64, length: Option<i64>) -> &str {
    let ascii = s.is_ascii();
    let len = if ascii { s.len() } else { s.chars().count() } as i64;
    let start = if start < 0 { len + start + 1 } else { start };
    if start <= 0 || start > len || length.is_some_and(|l| l <= 0) {
        return "";
    }
    let from = (start - 1) as usize;
    let to = match length {
        Some(l) => (start - 1).saturating_add(l).min(len) as usize,
        None => len as usize,
    };
    if ascii {
        return &s[from..to];
    }
    let b = byte_at(s, from);
    let e = b + byte_at(&s[b..], to - from);
    &s[b..e]
}

/// Trino's `split_part`: NULL past the last field; an empty delimiter splits into code points.
fn split_part(s: &str, delimiter: &str, index: i64) -> Result<Option<String>> {
    if index <= 0 {
        return exec_err!("split_part: Index must be greater than zero (got {index})");
    }
    let n = (index - 1) as usize;
    if delimiter.is_empty() {
        return Ok(s.chars().nth(n).map(String::from));
    }
    Ok(s.split(delimiter).nth(n).map(str::to_string))
}

/// Trino's `strpos(s, sub[, instance])`: the 1-based code point position of the
/// `instance`-th match (negative: counted from the end; matches may overlap), 0 if none.
fn strpos(s: &str, sub: &str, instance: i64) -> Result<i64> {
    if instance == 0 {
        return exec_err!("strpos: 'instance' must be a positive or negative number.");
    }
    let mut starts = Vec::new();
    let mut from = 0;
    while from <= s.len() {
        match s[from..].find(sub) {
            Some(at) => {
                starts.push(from + at);
                // The next match may start one code point later (overlapping).
                let next = from + at;
                from = next + s[next..].chars().next().map_or(1, char::len_utf8);
            }
            None => break,
        }
        if instance > 0 && starts.len() as i64 >= instance {
            break;
        }
    }
    let pick = if instance > 0 {
        starts.get((instance - 1) as usize)
    } else {
        starts
            .len()
            .checked_sub(instance.unsigned_abs() as usize)
            .and_then(|i| starts.get(i))
    };
    Ok(pick.map_or(0, |&b| s[..b].chars().count() as i64 + 1))
}

/// Trino's `lpad`/`rpad`: truncated to `size` code points when longer; `pad` repeated.
fn pad(s: &str, size: i64, pad: &str, left: bool) -> Result<String> {
    if !(0..=i64::from(i32::MAX)).contains(&size) {
        return exec_err!("Target length must be in the range [0..2147483647], got {size}");
    }
    if pad.is_empty() {
        return exec_err!("Padding string must not be empty");
    }
    let size = size as usize;
    let len = s.chars().count();
    if size <= len {
        return Ok(s[..byte_at(s, size)].to_string());
    }
    let fill: String = pad.chars().cycle().take(size - len).collect();
    Ok(if left { fill + s } else { format!("{s}{fill}") })
}

fn trim(s: &str, chars: Option<&str>, left: bool, right: bool) -> String {
    let strip = |c: char| match chars {
        Some(set) => set.contains(c),
        None => is_trino_whitespace(c),
    };
    let mut out = s;
    if left {
        out = out.trim_start_matches(strip);
    }
    if right {
        out = out.trim_end_matches(strip);
    }
    out.to_string()
}

impl ScalarUDFImpl for StringFn {
    fn name(&self) -> &str {
        self.name
    }

    fn aliases(&self) -> &[String] {
        &self.aliases
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn coerce_types(&self, arg_types: &[DataType]) -> Result<Vec<DataType>> {
        // Only `concat` has a user-defined signature: strings stay strings, arrays stay.
        if arg_types.len() < 2 {
            return plan_err!("concat: There must be two or more concatenation arguments");
        }
        if arg_types.iter().any(|t| matches!(t, DataType::List(_))) {
            // array_concat's own coercion to one element type.
            return datafusion::functions_nested::concat::array_concat_udf()
                .coerce_types(arg_types);
        }
        Ok(vec![DataType::Utf8; arg_types.len()])
    }

    fn return_type(&self, arg_types: &[DataType]) -> Result<DataType> {
        Ok(match self.kind {
            Kind::Concat => match arg_types.iter().find(|t| matches!(t, DataType::List(_))) {
                Some(list) => list.clone(),
                None => DataType::Utf8,
            },
            Kind::Strpos | Kind::HammingDistance => DataType::Int64,
            Kind::Codepoint => DataType::Int32,
            Kind::Split => DataType::List(Arc::new(Field::new_list_field(DataType::Utf8, true))),
            _ => DataType::Utf8,
        })
    }

    fn simplify(&self, args: Vec<Expr>, info: &SimplifyContext) -> Result<ExprSimplifyResult> {
        // `concat` of arrays is `array_concat`, NULL when an argument is (as in Trino).
        if self.kind != Kind::Concat {
            return Ok(ExprSimplifyResult::Original(args));
        }
        let mut lists = false;
        for a in &args {
            lists |= matches!(info.get_data_type(a)?, DataType::List(_));
        }
        if !lists {
            return Ok(ExprSimplifyResult::Original(args));
        }
        let any_null = args
            .iter()
            .map(|a| a.clone().is_null())
            .reduce(Expr::or)
            .expect("two or more arguments");
        let ret = info.get_data_type(&args[0])?;
        let concat = datafusion::functions_nested::expr_fn::array_concat(args);
        Ok(ExprSimplifyResult::Simplified(
            when(any_null, lit(ScalarValue::try_from(&ret)?)).otherwise(concat)?,
        ))
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let rows = args.number_rows;
        let a = arrays(&args.args, rows)?;
        let strings = |f: &mut dyn FnMut(usize) -> Result<Option<String>>| -> Result<ArrayRef> {
            let out: StringArray = (0..rows).map(f).collect::<Result<_>>()?;
            Ok(Arc::new(out))
        };
        let out: ArrayRef = match self.kind {
            Kind::Concat => strings(&mut |r| {
                let mut out = String::new();
                for i in 0..a.len() {
                    match str_at(&a, i, r) {
                        Some(s) => out.push_str(s),
                        None => return Ok(None),
                    }
                }
                Ok(Some(out))
            })?,
            Kind::SplitPart => {
                strings(
                    &mut |r| match (str_at(&a, 0, r), str_at(&a, 1, r), int_at(&a, 2, r)) {
                        (Some(s), Some(d), Some(n)) => split_part(s, d, n),
                        _ => Ok(None),
                    },
                )?
            }
            Kind::Substr => {
                // Slices of the input appended as they are: no string per row.
                let text = a[0].as_string::<i32>();
                let mut out = datafusion::arrow::array::StringBuilder::with_capacity(
                    rows,
                    text.value_data().len(),
                );
                for r in 0..rows {
                    let length = match a.get(2) {
                        Some(_) => match int_at(&a, 2, r) {
                            Some(l) => Some(l),
                            None => {
                                out.append_null();
                                continue;
                            }
                        },
                        None => None,
                    };
                    match (str_at(&a, 0, r), int_at(&a, 1, r)) {
                        (Some(s), Some(start)) => out.append_value(substr(s, start, length)),
                        _ => out.append_null(),
                    }
                }
                Arc::new(out.finish())
            }
            Kind::Strpos => {
                let out: Int64Array = (0..rows)
                    .map(|r| {
                        let instance = match a.get(2) {
                            Some(_) => match int_at(&a, 2, r) {
                                Some(n) => n,
                                None => return Ok(None),
                            },
                            None => 1,
                        };
                        match (str_at(&a, 0, r), str_at(&a, 1, r)) {
                            (Some(s), Some(sub)) => strpos(s, sub, instance).map(Some),
                            _ => Ok(None),
                        }
                    })
                    .collect::<Result<_>>()?;
                Arc::new(out)
            }
            Kind::Lpad | Kind::Rpad => strings(&mut |r| match (
                str_at(&a, 0, r),
                int_at(&a, 1, r),
                str_at(&a, 2, r),
            ) {
                (Some(s), Some(n), Some(p)) => pad(s, n, p, self.kind == Kind::Lpad).map(Some),
                _ => Ok(None),
            })?,
            Kind::Trim | Kind::Ltrim | Kind::Rtrim => strings(&mut |r| {
                let chars = match a.get(1) {
                    Some(_) => match str_at(&a, 1, r) {
                        Some(c) => Some(c),
                        None => return Ok(None),
                    },
                    None => None,
                };
                let left = self.kind != Kind::Rtrim;
                let right = self.kind != Kind::Ltrim;
                Ok(str_at(&a, 0, r).map(|s| trim(s, chars, left, right)))
            })?,
            Kind::Split => {
                let mut out = ListBuilder::new(StringBuilder::new());
                for r in 0..rows {
                    let limit = match a.get(2) {
                        Some(_) => match int_at(&a, 2, r) {
                            Some(l) if l <= 0 => return exec_err!("split: Limit must be positive"),
                            Some(l) if l > i64::from(i32::MAX) => {
                                return exec_err!("split: Limit is too large");
                            }
                            Some(l) => Some(l as usize),
                            None => {
                                out.append_null();
                                continue;
                            }
                        },
                        None => None,
                    };
                    match (str_at(&a, 0, r), str_at(&a, 1, r)) {
                        (Some(_), Some("")) => {
                            return exec_err!("split: The delimiter may not be the empty string");
                        }
                        (Some(s), Some(d)) => {
                            match limit {
                                Some(l) => {
                                    s.splitn(l, d).for_each(|p| out.values().append_value(p))
                                }
                                None => s.split(d).for_each(|p| out.values().append_value(p)),
                            }
                            out.append(true);
                        }
                        _ => out.append_null(),
                    }
                }
                Arc::new(out.finish())
            }
            Kind::HammingDistance => {
                let out: Int64Array = (0..rows)
                    .map(|r| match (str_at(&a, 0, r), str_at(&a, 1, r)) {
                        (Some(x), Some(y)) => {
                            if x.chars().count() != y.chars().count() {
                                return exec_err!(
                                    "The input strings to hamming_distance function must have the same length"
                                );
                            }
                            Ok(Some(x.chars().zip(y.chars()).filter(|(p, q)| p != q).count() as i64))
                        }
                        _ => Ok(None),
                    })
                    .collect::<Result<_>>()?;
                Arc::new(out)
            }
            Kind::Replace => strings(&mut |r| {
                let to = match a.get(2) {
                    Some(_) => match str_at(&a, 2, r) {
                        Some(t) => t,
                        None => return Ok(None),
                    },
                    None => "",
                };
                Ok(match (str_at(&a, 0, r), str_at(&a, 1, r)) {
                    (Some(s), Some(from)) => Some(s.replace(from, to)),
                    _ => None,
                })
            })?,
            Kind::LikePattern => strings(&mut |r| match str_at(&a, 0, r) {
                Some(p) => {
                    let escape = str_at(&a, 1, r).and_then(|e| e.chars().next());
                    like_pattern(p, escape)
                        .map(Some)
                        .map_err(datafusion::error::DataFusionError::Execution)
                }
                None => Ok(None),
            })?,
            Kind::Codepoint => {
                let out: datafusion::arrow::array::Int32Array = (0..rows)
                    .map(|r| match str_at(&a, 0, r) {
                        Some(s) => {
                            let mut cs = s.chars();
                            match (cs.next(), cs.next()) {
                                (Some(c), None) => Ok(Some(c as i32)),
                                _ => exec_err!(
                                    "codepoint: the argument must be a single character, got {s:?}"
                                ),
                            }
                        }
                        None => Ok(None),
                    })
                    .collect::<Result<_>>()?;
                Arc::new(out)
            }
        };
        Ok(ColumnarValue::Array(out))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // Expected values from Trino's TestStringFunctions (core/trino-main, operator/scalar).
    #[test]
    fn substr_follows_trino() {
        let q = "Quadratically";
        assert_eq!(substr(q, 5, None), "ratically");
        assert_eq!(substr(q, 50, None), "");
        assert_eq!(substr(q, -5, None), "cally");
        assert_eq!(substr(q, -50, None), "");
        assert_eq!(substr(q, 0, None), "");
        assert_eq!(substr(q, 5, Some(6)), "ratica");
        assert_eq!(substr(q, 5, Some(50)), "ratically");
        assert_eq!(substr(q, -5, Some(4)), "call");
        assert_eq!(substr(q, -5, Some(40)), "cally");
        assert_eq!(substr(q, 0, Some(4)), "");
        assert_eq!(substr(q, 5, Some(0)), "");
        assert_eq!(substr("信念,爱,希望", 3, Some(5)), ",爱,希望");
    }

    #[test]
    fn strpos_counts_instances_from_either_end() {
        assert_eq!(strpos("abc/xyz/foo/bar", "/", 2).unwrap(), 8);
        assert_eq!(strpos("abc/xyz/foo/bar", "/", 4).unwrap(), 0);
        assert_eq!(strpos("abc/xyz/foo/bar", "/", -3).unwrap(), 4);
        assert_eq!(strpos("highhigh", "ig", -1).unwrap(), 6);
        assert_eq!(strpos("foobarfoo", "oo", -1).unwrap(), 8);
        assert_eq!(strpos("x", "", 1).unwrap(), 1);
        assert_eq!(strpos("", "", 1).unwrap(), 1);
        assert_eq!(strpos("信念,爱,希望", "希望", 1).unwrap(), 6);
        assert!(strpos("a", "a", 0).is_err());
    }

    #[test]
    fn split_part_and_pad_follow_trino() {
        assert_eq!(split_part("abc-@-def-@-ghi", "-@-", 4).unwrap(), None);
        assert_eq!(split_part("abc", "abc", 2).unwrap().as_deref(), Some(""));
        assert_eq!(split_part("abc", "", 3).unwrap().as_deref(), Some("c"));
        assert_eq!(split_part("", "", 1).unwrap(), None);
        assert_eq!(
            split_part("abcdddddef", "dd", 2).unwrap().as_deref(),
            Some("")
        );
        assert!(split_part("abc", "-", 0).is_err());
        assert_eq!(pad("text", 7, "xy", true).unwrap(), "xyxtext");
        assert_eq!(pad("text", 3, "xy", true).unwrap(), "tex");
        assert_eq!(pad("text", 9, "xyz", false).unwrap(), "textxyzxy");
        assert!(pad("abc", 3, "", true).is_err());
        assert!(pad("abc", -1, "x", false).is_err());
    }

    #[test]
    fn like_patterns_escape_as_trino_does() {
        assert_eq!(like_pattern(r"C:\Users%", None).unwrap(), r"C:\\Users%");
        assert_eq!(like_pattern("a#%b", Some('#')).unwrap(), r"a\%b");
        assert_eq!(like_pattern("a##b", Some('#')).unwrap(), "a#b");
        assert_eq!(like_pattern(r"a\_", Some('\\')).unwrap(), r"a\_");
        assert_eq!(like_pattern(r"a\\", Some('\\')).unwrap(), r"a\\");
        assert!(like_pattern("a#b", Some('#')).is_err());
    }

    #[test]
    fn trim_removes_unicode_whitespace_or_the_given_characters() {
        assert_eq!(trim(" \u{2028} 信念 ", None, true, false), "信念 ");
        assert_eq!(trim("\t x \n", None, true, true), "x");
        assert_eq!(trim("\u{a0}x", None, true, true), "\u{a0}x");
        assert_eq!(
            trim(" hello world ", Some(" eh"), true, false),
            "llo world "
        );
        assert_eq!(trim("   ", Some(""), true, true), "   ");
    }
}
