//! Sigma files read (by `rsigma-parser`) and compiled to predicates over the lake: detection
//! rules, filters (applied to the rules they name) and correlation rules. A rule that cannot
//! be evaluated is a [`Problem`] naming its file and the reason; the others still run.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use rsigma_parser::{
    ConditionOperator, CorrelationCondition, CorrelationRule, CorrelationType, FilterRule,
    FilterRuleTarget, LogSource, SigmaRule, WindowMode,
};
use serde::Serialize;

use crate::compile::{Lowering, lower_conditions};
use crate::field::{Target, resolve};

/// Who wrote a rule and what it is: printed with each of its hits (the DRL asks that a
/// rule's matches carry its title, id and author).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RuleInfo {
    pub title: String,
    pub id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    pub level: Option<String>,
    pub tags: Vec<String>,
    pub author: Option<String>,
    pub file: PathBuf,
}

/// A detection rule, ready to run.
#[derive(Debug, Clone)]
pub struct Rule {
    pub info: Arc<RuleInfo>,
    /// SQL over the flat table: true for the events the rule matches.
    pub predicate: String,
    /// The fields a hit shows: those of the selections the condition requires.
    pub shown: Vec<(String, Target)>,
    /// Said of the rule without stopping it (a field CloudTrail does not have...).
    pub notes: Vec<String>,
    /// Whether its own hits are printed: not when it only feeds correlations that do not
    /// `generate` them.
    pub emit: bool,
}

/// `event_count`, `value_count`, `temporal` or `temporal_ordered` over the hits of
/// detection rules, in a sliding window.
#[derive(Debug, Clone)]
pub struct Correlation {
    pub info: Arc<RuleInfo>,
    pub kind: CorrelationType,
    /// Indexes in [`RuleSet::rules`], in the order the correlation lists them.
    pub bases: Vec<usize>,
    /// Names and, per base rule, the SQL text expression of each group-by field.
    pub group_by: Vec<(String, Vec<String>)>,
    /// `value_count`'s field: its SQL text expression per base rule.
    pub value: Option<(String, Vec<String>)>,
    pub span_seconds: u64,
    pub threshold: Vec<(ConditionOperator, u64)>,
    pub timespan: String,
}

impl Correlation {
    /// Whether `n` passes every bound of the condition.
    pub fn holds(&self, n: u64) -> bool {
        self.threshold.iter().all(|(op, v)| match op {
            ConditionOperator::Lt => n < *v,
            ConditionOperator::Lte => n <= *v,
            ConditionOperator::Gt => n > *v,
            ConditionOperator::Gte => n >= *v,
            ConditionOperator::Eq => n == *v,
            ConditionOperator::Neq => n != *v,
        })
    }
}

/// A rule (or a file) that cannot be evaluated, and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Problem {
    pub file: PathBuf,
    /// The rule's title, when the file got that far.
    pub rule: Option<String>,
    pub reason: String,
}

impl std::fmt::Display for Problem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.rule {
            Some(r) => write!(f, "{}: rule \"{r}\": {}", self.file.display(), self.reason),
            None => write!(f, "{}: {}", self.file.display(), self.reason),
        }
    }
}

/// The rules of some files.
#[derive(Debug, Default)]
pub struct RuleSet {
    pub rules: Vec<Rule>,
    pub correlations: Vec<Correlation>,
    pub problems: Vec<Problem>,
    /// Sigma files read.
    pub files: usize,
    /// Filters applied to at least one rule.
    pub filters: usize,
}

/// The rank of a Sigma level, `informational` lowest; `None` for a level Sigma does not name.
pub fn level_rank(level: &str) -> Option<u8> {
    ["informational", "low", "medium", "high", "critical"]
        .iter()
        .position(|l| l.eq_ignore_ascii_case(level))
        .map(|p| p as u8)
}

impl RuleSet {
    /// Keeps the hits of rules at `min` or above (a rule without a level is kept); a rule
    /// below still feeds the correlations that use it.
    pub fn keep_min_level(&mut self, min: &str) {
        let Some(min) = level_rank(min) else { return };
        let below = |info: &RuleInfo| {
            info.level
                .as_deref()
                .and_then(level_rank)
                .is_some_and(|r| r < min)
        };
        for r in &mut self.rules {
            if below(&r.info) {
                r.emit = false;
            }
        }
        self.correlations.retain(|c| !below(&c.info));
    }
}

/// Why rules could not be read at all.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    #[error("{path}: no such file or directory: give Sigma YAML files or directories of them")]
    Missing { path: PathBuf },
    #[error("{path}: {source}")]
    Walk {
        path: PathBuf,
        source: walkdir::Error,
    },
}

/// The `.yml`/`.yaml` files under `paths` (a file is taken whatever its name), sorted per
/// directory.
fn sigma_files(paths: &[PathBuf]) -> Result<Vec<PathBuf>, LoadError> {
    let mut files = Vec::new();
    for p in paths {
        if p.is_file() {
            files.push(p.clone());
        } else if p.is_dir() {
            let mut found = Vec::new();
            for e in walkdir::WalkDir::new(p).follow_links(true) {
                let e = e.map_err(|source| LoadError::Walk {
                    path: p.clone(),
                    source,
                })?;
                let yaml = e.path().extension().is_some_and(|x| {
                    x.eq_ignore_ascii_case("yml") || x.eq_ignore_ascii_case("yaml")
                });
                if e.file_type().is_file() && yaml {
                    found.push(e.into_path());
                }
            }
            found.sort();
            files.extend(found);
        } else {
            return Err(LoadError::Missing { path: p.clone() });
        }
    }
    Ok(files)
}

fn level_str(l: Option<rsigma_parser::Level>) -> Option<String> {
    l.map(|l| l.as_str().to_string())
}

/// Whether a log source is CloudTrail's (or says nothing of its product and service).
fn cloudtrail(ls: &LogSource) -> Result<(), String> {
    let product_ok = ls
        .product
        .as_deref()
        .is_none_or(|p| p.eq_ignore_ascii_case("aws"));
    let service_ok = ls
        .service
        .as_deref()
        .is_none_or(|s| s.eq_ignore_ascii_case("cloudtrail"));
    if product_ok && service_ok && ls.category.is_none() {
        Ok(())
    } else {
        Err(format!(
            "its logsource ({}) is not CloudTrail's (product: aws, service: cloudtrail): skipped",
            [
                ls.category.as_deref().map(|c| format!("category: {c}")),
                ls.product.as_deref().map(|c| format!("product: {c}")),
                ls.service.as_deref().map(|c| format!("service: {c}")),
            ]
            .into_iter()
            .flatten()
            .collect::<Vec<_>>()
            .join(", ")
        ))
    }
}

fn compile_rule(r: &SigmaRule, file: &Path) -> Result<Rule, String> {
    cloudtrail(&r.logsource)?;
    if r.detection.timeframe.is_some() {
        return Err(
            "`timeframe` (Sigma 1 aggregation) is not supported: write a correlation rule".into(),
        );
    }
    let mut low = Lowering::default();
    let predicate = lower_conditions(&r.detection.conditions, &r.detection.named, &mut low)?;
    let notes = low
        .unknown
        .iter()
        .map(|f| {
            format!(
                "field `{f}` is not a CloudTrail member: it is looked up among the members \
                 ingest kept aside, and a trail rarely has it"
            )
        })
        .collect();
    Ok(Rule {
        info: Arc::new(RuleInfo {
            title: r.title.clone(),
            id: r.id.clone(),
            name: r.name.clone(),
            level: level_str(r.level),
            tags: r.tags.clone(),
            author: r.author.clone(),
            file: file.to_path_buf(),
        }),
        predicate,
        shown: low.shown,
        notes,
        emit: true,
    })
}

/// A filter's predicate: its condition, which the events of the rules it names must also
/// meet (Sigma filters say `condition: not selection` to drop what the selection matches).
fn compile_filter(f: &FilterRule) -> Result<String, String> {
    if let Some(ls) = &f.logsource {
        cloudtrail(ls)?;
    }
    let mut low = Lowering::default();
    lower_conditions(&f.detection.conditions, &f.detection.named, &mut low)
}

/// Reads and compiles the Sigma files under `paths`.
pub fn load(paths: &[PathBuf]) -> Result<RuleSet, LoadError> {
    let mut set = RuleSet::default();
    let mut filters: Vec<(PathBuf, FilterRule)> = Vec::new();
    let mut correlations: Vec<(PathBuf, CorrelationRule)> = Vec::new();
    for file in sigma_files(paths)? {
        set.files += 1;
        let text = match std::fs::read_to_string(&file) {
            Ok(t) => t,
            Err(e) => {
                set.problems.push(Problem {
                    file,
                    rule: None,
                    reason: format!("cannot read it: {e}"),
                });
                continue;
            }
        };
        let collection = match rsigma_parser::parse_sigma_yaml(&text) {
            Ok(c) => c,
            Err(e) => {
                set.problems.push(Problem {
                    file,
                    rule: None,
                    reason: format!("not Sigma YAML: {e}"),
                });
                continue;
            }
        };
        for e in &collection.errors {
            set.problems.push(Problem {
                file: file.clone(),
                rule: None,
                reason: e.clone(),
            });
        }
        for r in &collection.rules {
            match compile_rule(r, &file) {
                Ok(rule) => set.rules.push(rule),
                Err(reason) => set.problems.push(Problem {
                    file: file.clone(),
                    rule: Some(r.title.clone()),
                    reason,
                }),
            }
        }
        filters.extend(collection.filters.into_iter().map(|f| (file.clone(), f)));
        correlations.extend(
            collection
                .correlations
                .into_iter()
                .map(|c| (file.clone(), c)),
        );
    }
    apply_filters(&mut set, filters);
    for (file, c) in correlations {
        match compile_correlation(&c, &file, &mut set.rules) {
            Ok(corr) => set.correlations.push(corr),
            Err(reason) => set.problems.push(Problem {
                file,
                rule: Some(c.title.clone()),
                reason,
            }),
        }
    }
    Ok(set)
}

/// Whether `reference` (an id or a name) names `info`'s rule.
fn names(info: &RuleInfo, reference: &str) -> bool {
    info.id.as_deref() == Some(reference) || info.name.as_deref() == Some(reference)
}

fn apply_filters(set: &mut RuleSet, filters: Vec<(PathBuf, FilterRule)>) {
    for (file, f) in filters {
        let predicate = match compile_filter(&f) {
            Ok(p) => p,
            Err(reason) => {
                set.problems.push(Problem {
                    file,
                    rule: Some(f.title.clone()),
                    reason: format!("filter: {reason}"),
                });
                continue;
            }
        };
        let mut applied = 0;
        for rule in &mut set.rules {
            let targeted = match &f.rules {
                FilterRuleTarget::Any => true,
                FilterRuleTarget::Specific(refs) => refs
                    .iter()
                    .any(|r| names(&rule.info, r) || rule.info.title == *r),
            };
            if targeted {
                // The filter's condition says what to keep (`not selection`, usually).
                rule.predicate = format!("({} AND {predicate})", rule.predicate);
                applied += 1;
            }
        }
        if applied == 0 {
            set.problems.push(Problem {
                file,
                rule: Some(f.title.clone()),
                reason: "filter: it names no rule that was loaded".into(),
            });
        } else {
            set.filters += 1;
        }
    }
}

/// The SQL text expression of `field` in the events of `rule`, through the correlation's
/// aliases.
fn field_sql(c: &CorrelationRule, field: &str, rule: &RuleInfo) -> Result<String, String> {
    let actual = c
        .aliases
        .iter()
        .find(|a| a.alias == field)
        .and_then(|a| {
            a.mapping
                .iter()
                .find(|(r, _)| names(rule, r))
                .map(|(_, f)| f.clone())
        })
        .unwrap_or_else(|| field.to_string());
    resolve(&actual)?.target.scalar_sql().ok_or_else(|| {
        format!("field `{actual}` is a list or a map: a correlation groups by one value")
    })
}

fn compile_correlation(
    c: &CorrelationRule,
    file: &Path,
    rules: &mut [Rule],
) -> Result<Correlation, String> {
    if c.window != WindowMode::Sliding {
        return Err(format!(
            "window: {} is not supported: trawl evaluates sliding windows",
            c.window.as_str()
        ));
    }
    let mut bases = Vec::new();
    for r in &c.rules {
        let i = rules
            .iter()
            .position(|rule| names(&rule.info, r))
            .ok_or_else(|| {
                format!("it correlates `{r}`, which names no detection rule that was loaded")
            })?;
        bases.push(i);
    }
    let (threshold, value_field) = match (&c.condition, c.correlation_type) {
        (CorrelationCondition::Threshold { .. }, CorrelationType::Temporal)
        | (CorrelationCondition::Threshold { .. }, CorrelationType::TemporalOrdered) => {
            (Vec::new(), None)
        }
        (
            CorrelationCondition::Threshold {
                predicates, field, ..
            },
            CorrelationType::EventCount | CorrelationType::ValueCount,
        ) => (
            predicates.clone(),
            field.as_ref().and_then(|f| f.first().cloned()),
        ),
        (CorrelationCondition::Extended(_), _) => {
            return Err("an expression as a correlation condition is not supported".into());
        }
        (_, other) => {
            return Err(format!(
                "correlation type `{}` is not supported (event_count, value_count, temporal, \
                 temporal_ordered are)",
                other.as_str()
            ));
        }
    };
    let per_base = |field: &str| -> Result<Vec<String>, String> {
        bases
            .iter()
            .map(|&i| field_sql(c, field, &rules[i].info))
            .collect()
    };
    let group_by = c
        .group_by
        .iter()
        .map(|g| Ok((g.clone(), per_base(g)?)))
        .collect::<Result<Vec<_>, String>>()?;
    let value = match (c.correlation_type, value_field) {
        (CorrelationType::ValueCount, Some(f)) => Some((f.clone(), per_base(&f)?)),
        (CorrelationType::ValueCount, None) => {
            return Err("value_count needs `condition.field`".into());
        }
        _ => None,
    };
    if !c.generate {
        for &i in &bases {
            rules[i].emit = false;
        }
    }
    Ok(Correlation {
        info: Arc::new(RuleInfo {
            title: c.title.clone(),
            id: c.id.clone(),
            name: c.name.clone(),
            level: level_str(c.level),
            tags: c.tags.clone(),
            author: c.author.clone(),
            file: file.to_path_buf(),
        }),
        kind: c.correlation_type,
        bases,
        group_by,
        value,
        span_seconds: c.timespan.seconds,
        threshold,
        timespan: c.timespan.original.clone(),
    })
}
