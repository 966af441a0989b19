//! Warnings on a statement that map to Athena's published tuning practice, each raised only
//! when it is true of this statement and this run (docs/tuning.md gives the reason for each).

use std::collections::BTreeSet;
use std::ops::ControlFlow;

use datafusion::sql::sqlparser::ast::{
    DuplicateTreatment, Expr, FunctionArguments, Query, SelectItem, SetExpr, Statement,
    TableFactor, Visit, Visitor,
};
use datafusion::sql::sqlparser::dialect::GenericDialect;
use datafusion::sql::sqlparser::parser::Parser;
use serde::Serialize;

use crate::QueryStats;

/// The columns that hold free-form JSON as text.
const JSON_COLUMNS: [&str; 4] = [
    "requestparameters",
    "responseelements",
    "additionaleventdata",
    "serviceeventdetails",
];

/// When the advice speaks.
#[derive(Debug, Clone, Copy)]
pub struct AdviceOptions {
    /// A statement that reads every day of a lake of more days than this lacks a time filter.
    pub max_days: u64,
    /// Results of more rows than this are large.
    pub large_result: u64,
}

impl Default for AdviceOptions {
    fn default() -> Self {
        AdviceOptions {
            max_days: 7,
            large_result: 10_000,
        }
    }
}

/// One warning.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Advice {
    /// The rule's name, as docs/tuning.md lists it.
    pub rule: &'static str,
    pub message: String,
    /// Bytes the change would save, where trawl measured it.
    pub saves_bytes: Option<u64>,
}

/// What the statement's syntax shows.
#[derive(Default)]
struct Shape {
    select_star: bool,
    count_distinct: BTreeSet<String>,
    like_on_json: BTreeSet<String>,
}

impl Visitor for Shape {
    type Break = ();

    fn pre_visit_query(&mut self, query: &Query) -> ControlFlow<()> {
        if let SetExpr::Select(select) = query.body.as_ref()
            && select.projection.iter().any(|item| {
                matches!(
                    item,
                    SelectItem::Wildcard(_) | SelectItem::QualifiedWildcard(..)
                )
            })
            && select.from.iter().any(|t| {
                std::iter::once(&t.relation)
                    .chain(t.joins.iter().map(|j| &j.relation))
                    .any(|r| matches!(r, TableFactor::Table { .. }))
            })
        {
            self.select_star = true;
        }
        ControlFlow::Continue(())
    }

    fn pre_visit_expr(&mut self, expr: &Expr) -> ControlFlow<()> {
        match expr {
            Expr::Function(f) => {
                let name = f.name.to_string().to_lowercase();
                if name == "count"
                    && let FunctionArguments::List(list) = &f.args
                    && list.duplicate_treatment == Some(DuplicateTreatment::Distinct)
                {
                    let args: Vec<String> = list.args.iter().map(|a| a.to_string()).collect();
                    self.count_distinct.insert(args.join(", "));
                }
            }
            Expr::Like { expr, pattern, .. } | Expr::ILike { expr, pattern, .. } => {
                let column = match expr.as_ref() {
                    Expr::Identifier(i) => Some(i.value.to_lowercase()),
                    Expr::CompoundIdentifier(parts) => parts.last().map(|i| i.value.to_lowercase()),
                    _ => None,
                };
                let leading_wildcard = match pattern.as_ref() {
                    Expr::Value(v) => v
                        .value
                        .clone()
                        .into_string()
                        .is_some_and(|s| s.starts_with('%')),
                    _ => false,
                };
                if let Some(c) = column
                    && leading_wildcard
                    && JSON_COLUMNS.contains(&c.as_str())
                {
                    self.like_on_json.insert(c);
                }
            }
            _ => {}
        }
        ControlFlow::Continue(())
    }
}

/// The advice for `sql`, run with `stats`. SQL the generic parser does not read gets only
/// the advice the stats alone support.
pub fn advise(sql: &str, stats: &QueryStats, opts: AdviceOptions) -> Vec<Advice> {
    let mut out = Vec::new();
    let statements = Parser::parse_sql(&GenericDialect {}, sql).unwrap_or_default();
    let mut shape = Shape::default();
    for s in &statements {
        let _ = s.visit(&mut shape);
    }
    let Some(scan) = stats.scan.as_ref().filter(|s| s.scans > 0) else {
        return out;
    };
    let every_day = scan
        .partitions_per_scan
        .iter()
        .any(|days| days.len() as u64 == scan.partitions_in_lake);
    if every_day && scan.partitions_in_lake > opts.max_days {
        // The lake's last week, as an example of a bound.
        let days: Vec<&String> = scan
            .partitions
            .iter()
            .filter(|d| d.len() == 10 && d.starts_with(|c: char| c.is_ascii_digit()))
            .collect();
        let example = days
            .len()
            .checked_sub(7)
            .and_then(|i| days.get(i))
            .map_or_else(|| "2024-03-01".to_string(), |d| d.to_string());
        // The files of the days before that bound, which it would not list. Rows whose time
        // did not parse (`__HIVE_DEFAULT_PARTITION__`) are listed on any bound.
        let saves: u64 = scan
            .bytes_listed_per_day
            .iter()
            .filter(|(d, _)| {
                d.starts_with(|c: char| c.is_ascii_digit()) && d.as_str() < example.as_str()
            })
            .map(|(_, b)| b)
            .sum();
        out.push(Advice {
            rule: "no-time-filter",
            message: format!(
                "a scan reads all {} days of the lake: a filter on eventtime (eventtime >= '{example}' \
                 for its last week) reads only the days it selects, as partition projection does in Athena; \
                 saved: the bytes of the files of the days before it, which this scan listed",
                scan.partitions_in_lake
            ),
            saves_bytes: (saves > 0).then_some(saves),
        });
    }
    if shape.select_star {
        out.push(Advice {
            rule: "select-star",
            message: "SELECT * reads every column of every row group kept: name the columns the \
                      query needs (Parquet reads only those)"
                .to_string(),
            saves_bytes: None,
        });
    }
    let ordered_without_limit = statements.iter().any(|s| {
        matches!(s, Statement::Query(q)
            if q.order_by.is_some() && q.limit_clause.is_none() && q.fetch.is_none())
    });
    if ordered_without_limit && stats.rows > opts.large_result {
        out.push(Advice {
            rule: "order-without-limit",
            message: format!(
                "ORDER BY without LIMIT sorts all {} rows on one worker in Athena: add a LIMIT \
                 (a top-N keeps only N rows)",
                stats.rows
            ),
            saves_bytes: None,
        });
    }
    for arg in &shape.count_distinct {
        out.push(Advice {
            rule: "count-distinct",
            message: format!(
                "count(DISTINCT {arg}) holds every distinct value: approx_distinct({arg}) answers \
                 within 2.3% (standard error) in a few KB, if an estimate will do"
            ),
            saves_bytes: None,
        });
    }
    for column in &shape.like_on_json {
        out.push(Advice {
            rule: "like-on-json",
            message: format!(
                "LIKE '%...%' on {column} matches the text anywhere in the JSON (other members, \
                 keys, escaped text) and cannot use statistics: \
                 json_extract_scalar({column}, '$.member') = '...' tests the one member"
            ),
            saves_bytes: None,
        });
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ScanStats;

    fn stats(rows: u64, days_read: usize, days: u64) -> QueryStats {
        let scan = ScanStats {
            scans: 1,
            partitions_in_lake: days,
            partitions_per_scan: vec![(0..days_read).map(|d| format!("2024-03-{d:02}")).collect()],
            ..ScanStats::default()
        };
        QueryStats {
            seconds: 0.1,
            rows,
            scan: Some(scan),
            athena: None,
            advice: Vec::new(),
        }
    }

    fn rules(sql: &str, s: &QueryStats) -> Vec<&'static str> {
        advise(sql, s, AdviceOptions::default())
            .into_iter()
            .map(|a| a.rule)
            .collect()
    }

    #[test]
    fn each_rule_fires_only_when_true() {
        let all_days = stats(20_000, 30, 30);
        let some_days = stats(20_000, 3, 30);
        let small = stats(20_000, 5, 5);
        let q = "SELECT * FROM cloudtrail_logs ORDER BY eventtime";
        assert_eq!(
            rules(q, &all_days),
            ["no-time-filter", "select-star", "order-without-limit"]
        );
        let mut last_days = all_days.clone();
        let scan = last_days.scan.as_mut().unwrap();
        scan.partitions = (1..=30).map(|d| format!("2024-04-{d:02}")).collect();
        // 100 bytes listed a day, and 7 in the partition of unparsed times (always listed).
        scan.bytes_listed_per_day = scan.partitions.iter().map(|d| (d.clone(), 100)).collect();
        scan.bytes_listed_per_day
            .insert("__HIVE_DEFAULT_PARTITION__".into(), 7);
        let a = advise(q, &last_days, AdviceOptions::default());
        assert!(a[0].message.contains("eventtime >= '2024-04-24'"), "{a:?}");
        assert_eq!(
            a[0].saves_bytes,
            Some(23 * 100),
            "the 23 days before the bound"
        );
        assert_eq!(
            advise(q, &all_days, AdviceOptions::default())[0].saves_bytes,
            None
        );
        assert_eq!(rules(q, &some_days), ["select-star", "order-without-limit"]);
        assert_eq!(rules(q, &small), ["select-star", "order-without-limit"]);
        let few_rows = stats(10, 3, 30);
        assert_eq!(rules(q, &few_rows), ["select-star"]);
        let q = "SELECT eventname FROM cloudtrail_logs ORDER BY eventtime LIMIT 10";
        assert!(rules(q, &some_days).is_empty());
        let q = "SELECT count(DISTINCT sourceipaddress), count(eventname) FROM cloudtrail_logs";
        assert_eq!(rules(q, &some_days), ["count-distinct"]);
        let q = "SELECT eventname FROM cloudtrail_logs WHERE requestParameters LIKE '%bucketName%' \
                 AND eventname LIKE '%Bucket%' AND t.responseelements LIKE 'x%'";
        assert_eq!(rules(q, &some_days), ["like-on-json"]);
        // A star over a subquery of named columns reads what the subquery names.
        let q = "SELECT * FROM (SELECT eventname FROM cloudtrail_logs) WHERE 1 = 1";
        assert!(rules(q, &some_days).is_empty());
        let q = "SELECT a.* FROM cloudtrail_logs a JOIN (SELECT 1 AS x) b ON true";
        assert_eq!(rules(q, &some_days), ["select-star"]);
        // Nothing scanned, nothing to say.
        let none = QueryStats {
            scan: None,
            ..stats(1, 0, 0)
        };
        assert!(rules("SELECT * FROM cloudtrail_logs", &none).is_empty());
    }
}
