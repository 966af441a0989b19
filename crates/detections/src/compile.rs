//! A Sigma rule's detection lowered to one SQL predicate over the lake's flat table.
//!
//! Plain values on text columns become plain SQL: case-insensitive equality is
//! `lower(c) = 'v'`, a list of values one `lower(c) IN (...)`; patterns are `LIKE`, regular
//! expressions `regexp_like`. What SQL cannot say (paths inside JSON text, where Sigma matches a list
//! member by member; `resources`; CIDR) goes through `sigma_match` ([`crate::matcher`]).
//! Every leaf is false, never NULL, on a missing field, so `not filter` keeps the events
//! that lack the filter's field, as Sigma means.

use std::collections::{BTreeSet, HashMap};

use rsigma_parser::{
    ConditionExpr, Detection, DetectionItem, Modifier, Quantifier, SelectorPattern, SigmaString,
    SigmaValue, SpecialChar, StringPart,
};

use crate::field::{Target, resolve};
use crate::matcher::{Cmp, FUNCTION, Part, Spec, Test, parse_network};

/// A SQL string literal.
pub fn lit(s: &str) -> String {
    format!("'{}'", s.replace('\'', "''"))
}

/// What lowering a detection found besides the predicate.
#[derive(Debug, Default)]
pub struct Lowering {
    /// Fields of the selections the condition requires (not those under `not`), in the
    /// order met: what a hit shows as "matched".
    pub shown: Vec<(String, Target)>,
    /// Fields that are not CloudTrail members the schema knows.
    pub unknown: BTreeSet<String>,
}

/// The predicate of `conditions` (any of them) over `named` detections.
pub fn lower_conditions(
    conditions: &[ConditionExpr],
    named: &HashMap<String, Detection>,
    out: &mut Lowering,
) -> Result<String, String> {
    if conditions.is_empty() {
        return Err("the detection has no condition".into());
    }
    let parts = conditions
        .iter()
        .map(|c| condition(c, named, false, out))
        .collect::<Result<Vec<_>, _>>()?;
    Ok(or(parts))
}

fn and(parts: Vec<String>) -> String {
    match parts.len() {
        0 => "TRUE".into(),
        1 => parts.into_iter().next().unwrap_or_default(),
        _ => format!("({})", parts.join(" AND ")),
    }
}

fn or(parts: Vec<String>) -> String {
    match parts.len() {
        0 => "FALSE".into(),
        1 => parts.into_iter().next().unwrap_or_default(),
        _ => format!("({})", parts.join(" OR ")),
    }
}

/// Names a selector pattern (`selection_*`, `them`) stands for, sorted.
fn selected(pattern: &SelectorPattern, named: &HashMap<String, Detection>) -> Vec<String> {
    let mut names: Vec<String> = named
        .keys()
        .filter(|n| pattern.matches_detection_name(n))
        .cloned()
        .collect();
    names.sort();
    names
}

fn condition(
    expr: &ConditionExpr,
    named: &HashMap<String, Detection>,
    negated: bool,
    out: &mut Lowering,
) -> Result<String, String> {
    Ok(match expr {
        ConditionExpr::And(xs) => and(xs
            .iter()
            .map(|x| condition(x, named, negated, out))
            .collect::<Result<_, _>>()?),
        ConditionExpr::Or(xs) => or(xs
            .iter()
            .map(|x| condition(x, named, negated, out))
            .collect::<Result<_, _>>()?),
        ConditionExpr::Not(x) => format!("(NOT {})", condition(x, named, !negated, out)?),
        ConditionExpr::Identifier(name) => {
            let d = named.get(name).ok_or_else(|| {
                format!("the condition names `{name}`, which the detection does not define")
            })?;
            detection(d, negated, out)?
        }
        ConditionExpr::Selector {
            quantifier,
            pattern,
        } => {
            let names = selected(pattern, named);
            if names.is_empty() {
                return Err(format!(
                    "the condition's `{quantifier} of {pattern}` matches no detection name"
                ));
            }
            let parts = names
                .iter()
                .map(|n| detection(&named[n], negated, out))
                .collect::<Result<Vec<_>, _>>()?;
            match quantifier {
                Quantifier::Any => or(parts),
                Quantifier::All => and(parts),
                Quantifier::Count(n) => format!(
                    "(({}) >= {n})",
                    parts
                        .iter()
                        .map(|p| format!("CASE WHEN {p} THEN 1 ELSE 0 END"))
                        .collect::<Vec<_>>()
                        .join(" + ")
                ),
            }
        }
    })
}

/// The predicate of one named detection.
pub fn detection(d: &Detection, negated: bool, out: &mut Lowering) -> Result<String, String> {
    match d {
        Detection::AllOf(items) => Ok(and(items
            .iter()
            .map(|i| item(i, negated, out))
            .collect::<Result<_, _>>()?)),
        Detection::AnyOf(ds) => Ok(or(ds
            .iter()
            .map(|x| detection(x, negated, out))
            .collect::<Result<_, _>>()?)),
        Detection::And(ds) => Ok(and(ds
            .iter()
            .map(|x| detection(x, negated, out))
            .collect::<Result<_, _>>()?)),
        Detection::Keywords(_) => Err(
            "keyword values (without a field) are not supported: a CloudTrail record has no \
             message text to search; name the field (for example `requestParameters|contains`)"
                .into(),
        ),
        Detection::ArrayMatch { .. } | Detection::Conditional { .. } => {
            let field = match d {
                Detection::ArrayMatch { field, .. } => field.as_str(),
                _ => "field",
            };
            Err(format!(
                "array blocks (`{field}[any]:`, `[all]`) are not supported: a plain field on the \
                 list's member path matches when any member does"
            ))
        }
    }
}

/// The modifiers trawl reads, gathered.
#[derive(Default)]
struct Mods {
    contains: bool,
    starts: bool,
    ends: bool,
    all: bool,
    re: bool,
    cidr: bool,
    cased: bool,
    exists: bool,
    fieldref: bool,
    cmp: Option<Cmp>,
    neq: bool,
    flags: String,
}

fn mods(list: &[Modifier]) -> Result<Mods, String> {
    let mut m = Mods::default();
    for x in list {
        match x {
            Modifier::Contains => m.contains = true,
            Modifier::StartsWith => m.starts = true,
            Modifier::EndsWith => m.ends = true,
            Modifier::All => m.all = true,
            Modifier::Re => m.re = true,
            Modifier::Cidr => m.cidr = true,
            Modifier::Cased => m.cased = true,
            Modifier::Exists => m.exists = true,
            Modifier::FieldRef => m.fieldref = true,
            Modifier::Gt => m.cmp = Some(Cmp::Gt),
            Modifier::Gte => m.cmp = Some(Cmp::Gte),
            Modifier::Lt => m.cmp = Some(Cmp::Lt),
            Modifier::Lte => m.cmp = Some(Cmp::Lte),
            Modifier::Neq => m.neq = true,
            Modifier::IgnoreCase => m.flags.push('i'),
            Modifier::Multiline => m.flags.push('m'),
            Modifier::DotAll => m.flags.push('s'),
            other => {
                let name = serde_json::to_value(other)
                    .ok()
                    .and_then(|v| v.as_str().map(str::to_string))
                    .unwrap_or_else(|| format!("{other:?}"));
                return Err(format!(
                    "modifier `{name}` is not supported on CloudTrail (it encodes Windows \
                     command lines or event times)"
                ));
            }
        }
    }
    Ok(m)
}

fn item(it: &DetectionItem, negated: bool, out: &mut Lowering) -> Result<String, String> {
    let name =
        it.field.name.as_deref().ok_or_else(|| {
            "a value without a field is not supported: name the field".to_string()
        })?;
    let resolved = resolve(name)?;
    if resolved.unknown {
        out.unknown.insert(name.to_string());
    }
    let target = resolved.target;
    if !negated && !out.shown.iter().any(|(n, _)| n == name) {
        out.shown.push((name.to_string(), target.clone()));
    }
    let m = mods(&it.field.modifiers)?;
    if it.values.is_empty() {
        return Err(format!("field `{name}` has no value"));
    }
    if let (Target::Column(c), false) = (&target, m.all || m.fieldref) {
        // Several case-insensitive values of one column: one `lower()` and one IN list, not
        // a `lower()` per value.
        let specs = it
            .values
            .iter()
            .map(|v| spec(name, v, &m))
            .collect::<Result<Vec<_>, _>>()?;
        let texts: Vec<String> = specs
            .iter()
            .filter_map(|s| match &s.test {
                Test::Eq { text, .. } if !s.cased && !s.negate => Some(lit(&text.to_lowercase())),
                _ => None,
            })
            .collect();
        if texts.len() > 1 && texts.len() == specs.len() {
            return Ok(format!(
                "({c} IS NOT NULL AND lower({c}) IN ({}))",
                texts.join(", ")
            ));
        }
        return Ok(or(specs.iter().map(|s| leaf(&target, s)).collect()));
    }
    let parts = it
        .values
        .iter()
        .map(|v| value(name, &target, v, &m))
        .collect::<Result<Vec<_>, _>>()?;
    Ok(if m.all { and(parts) } else { or(parts) })
}

fn plain_text(s: &SigmaString) -> String {
    s.original.clone()
}

fn parts_of(s: &SigmaString) -> Vec<Part> {
    s.parts
        .iter()
        .map(|p| match p {
            StringPart::Plain(t) => Part::Text(t.clone()),
            StringPart::Special(SpecialChar::WildcardMulti) => Part::Any,
            StringPart::Special(SpecialChar::WildcardSingle) => Part::One,
        })
        .collect()
}

fn value(name: &str, target: &Target, v: &SigmaValue, m: &Mods) -> Result<String, String> {
    if m.fieldref {
        let SigmaValue::String(other) = v else {
            return Err(format!("`{name}|fieldref` needs a field name"));
        };
        let other_name = plain_text(other);
        let other = resolve(&other_name)?.target;
        let (Some(a), Some(b)) = (target.scalar_sql(), other.scalar_sql()) else {
            return Err(format!(
                "`{name}|fieldref: {other_name}` compares a list or map field, which is not supported"
            ));
        };
        return Ok(format!(
            "({a} IS NOT NULL AND {b} IS NOT NULL AND {a} = {b})"
        ));
    }
    Ok(leaf(target, &spec(name, v, m)?))
}

/// The test of one value under the item's modifiers (all but `fieldref`).
fn spec(name: &str, v: &SigmaValue, m: &Mods) -> Result<Spec, String> {
    let test = if m.exists {
        match v {
            SigmaValue::Bool(b) => Test::Exists(*b),
            _ => return Err(format!("`{name}|exists` takes true or false")),
        }
    } else if matches!(v, SigmaValue::Null) {
        Test::Null
    } else if let Some(op) = m.cmp {
        let number = match v {
            SigmaValue::Integer(i) => *i as f64,
            SigmaValue::Float(f) => *f,
            SigmaValue::String(s) => plain_text(s)
                .trim()
                .parse::<f64>()
                .map_err(|_| format!("`{name}` compares with `{s}`, which is not a number"))?,
            _ => {
                return Err(format!(
                    "`{name}` compares with a value that is not a number"
                ));
            }
        };
        Test::Cmp { op, number }
    } else if m.re {
        let SigmaValue::String(s) = v else {
            return Err(format!("`{name}|re` needs a regular expression"));
        };
        let flags = if m.flags.is_empty() {
            String::new()
        } else {
            format!("(?{})", m.flags)
        };
        let pattern = format!("{flags}{}", plain_text(s));
        regex::Regex::new(&pattern)
            .map_err(|e| format!("`{name}|re`: the regular expression does not compile: {e}"))?;
        Test::Re { pattern }
    } else if m.cidr {
        let network = match v {
            SigmaValue::String(s) => plain_text(s),
            other => other.to_string(),
        };
        parse_network(&network).map_err(|e| format!("`{name}|cidr`: {e}"))?;
        Test::Cidr { network }
    } else {
        match v {
            SigmaValue::Bool(b) => Test::Eq {
                text: b.to_string(),
                number: None,
            },
            SigmaValue::Integer(i) => Test::Eq {
                text: i.to_string(),
                number: Some(*i as f64),
            },
            SigmaValue::Float(f) => Test::Eq {
                text: f.to_string(),
                number: Some(*f),
            },
            SigmaValue::String(s) => {
                let mut parts = parts_of(s);
                if m.contains || m.ends {
                    parts.insert(0, Part::Any);
                }
                if m.contains || m.starts {
                    parts.push(Part::Any);
                }
                match parts.as_slice() {
                    [] => Test::Eq {
                        text: String::new(),
                        number: None,
                    },
                    [Part::Text(t)] => Test::Eq {
                        text: t.clone(),
                        number: None,
                    },
                    _ => Test::Glob { parts },
                }
            }
            SigmaValue::Null => Test::Null,
        }
    };
    Ok(Spec {
        test,
        cased: m.cased,
        negate: m.neq,
    })
}

/// LIKE's pattern for Sigma parts (escape `\`).
fn like(parts: &[Part], lower: bool) -> String {
    let mut s = String::new();
    for p in parts {
        match p {
            Part::Text(t) => {
                let t = if lower { t.to_lowercase() } else { t.clone() };
                for c in t.chars() {
                    if matches!(c, '%' | '_' | '\\') {
                        s.push('\\');
                    }
                    s.push(c);
                }
            }
            Part::Any => s.push('%'),
            Part::One => s.push('_'),
        }
    }
    s
}

fn leaf(target: &Target, spec: &Spec) -> String {
    let Target::Column(c) = target else {
        let (column, path) = match target {
            Target::Json { column, path } => (column.as_str(), path.as_str()),
            Target::MapKey { column, key } => (column.as_str(), key.as_str()),
            Target::Resource(member) => ("resources", member.as_str()),
            Target::Column(_) => unreachable!(),
        };
        return udf(column, path, spec);
    };
    let positive = match &spec.test {
        Test::Null => return format!("({c} IS NULL)"),
        Test::Exists(true) => return format!("({c} IS NOT NULL)"),
        Test::Exists(false) => return format!("({c} IS NULL)"),
        Test::Cidr { .. } => return udf(c, "", spec),
        Test::Eq { text, .. } if spec.cased => format!("{c} = {}", lit(text)),
        Test::Eq { text, .. } => format!("lower({c}) = {}", lit(&text.to_lowercase())),
        Test::Glob { parts } if spec.cased => {
            format!("{c} LIKE {} ESCAPE '\\'", lit(&like(parts, false)))
        }
        Test::Glob { parts } => {
            format!("lower({c}) LIKE {} ESCAPE '\\'", lit(&like(parts, true)))
        }
        Test::Re { pattern } => format!("regexp_like({c}, {})", lit(pattern)),
        Test::Cmp { op, number } => format!(
            "coalesce(TRY_CAST({c} AS DOUBLE) {} {number:?}, false)",
            op.sql()
        ),
    };
    if spec.negate {
        format!("({c} IS NOT NULL AND NOT ({positive}))")
    } else {
        format!("({c} IS NOT NULL AND {positive})")
    }
}

fn udf(column: &str, path: &str, spec: &Spec) -> String {
    let json = serde_json::to_string(spec).unwrap_or_default();
    format!("{FUNCTION}({column}, {}, {})", lit(path), lit(&json))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn like_escapes_its_wildcards() {
        assert_eq!(
            like(&[Part::Any, Part::Text("50%_A\\".into()), Part::One], true),
            "%50\\%\\_a\\\\_"
        );
    }
}
