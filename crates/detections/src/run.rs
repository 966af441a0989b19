//! Rules run over the lake: a query a rule (its predicate next to the time window, so the
//! scan prunes days and filters rows as it decodes them), hits streamed out in
//! time order; correlations over their base rules' events, a group at a time.

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;
use std::time::{Duration, Instant};

use arrow::array::{Array, ArrayRef, AsArray, RecordBatch};
use arrow::datatypes::{DataType, TimeUnit};
use arrow::util::display::array_value_to_string;
use futures::StreamExt;
use rsigma_parser::CorrelationType;
use serde::Serialize;
use trawl_query::{QueryEngine, QueryError};
use trawl_schema::{PHYSICAL_TABLE, TimeWindow};

use crate::field::Target;
use crate::matcher::json_display;
use crate::rules::{Correlation, Rule, RuleInfo, RuleSet};

/// Most event ids a correlation hit lists.
pub const MAX_CORRELATED_IDS: usize = 50;

/// One event a rule matched, or one window a correlation fired on.
#[derive(Debug, Clone, Serialize)]
pub struct Hit {
    #[serde(flatten)]
    pub rule: Arc<RuleInfo>,
    /// The event's time (a correlation: its window's last event).
    pub time: Option<String>,
    pub account: Option<String>,
    pub region: Option<String>,
    pub principal: Option<String>,
    pub source_ip: Option<String>,
    pub event_source: Option<String>,
    pub event_name: Option<String>,
    /// The event's id (a correlation: its window's last event's).
    pub event_id: Option<String>,
    /// The fields the rule's selections test, with the event's values (a correlation: its
    /// group-by fields, and `count`).
    #[serde(serialize_with = "as_object")]
    pub fields: Vec<(String, String)>,
    /// A correlation's events in its window (at most [`MAX_CORRELATED_IDS`]).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub events: Vec<String>,
    /// A correlation's window start.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub since: Option<String>,
}

fn as_object<S: serde::Serializer>(fields: &[(String, String)], s: S) -> Result<S::Ok, S::Error> {
    use serde::ser::SerializeMap;
    let mut m = s.serialize_map(Some(fields.len()))?;
    for (k, v) in fields {
        m.serialize_entry(k, v)?;
    }
    m.end()
}

/// What a rule did in a run.
#[derive(Debug, Clone, Serialize)]
pub struct RuleRun {
    #[serde(flatten)]
    pub rule: Arc<RuleInfo>,
    pub hits: u64,
    pub seconds: f64,
}

/// Why a run stopped.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    #[error("rule \"{title}\" ({file}): {source}")]
    Query {
        title: String,
        file: std::path::PathBuf,
        source: QueryError,
    },
    #[error("writing a hit: {0}")]
    Sink(#[from] std::io::Error),
}

const PRINCIPAL: &str = "coalesce(useridentity_arn, useridentity_principalid, useridentity_invokedby, useridentity_type)";

/// The query of one rule.
pub fn rule_sql(rule: &Rule, window: &TimeWindow) -> String {
    let mut columns: Vec<&str> = Vec::new();
    for (_, t) in &rule.shown {
        if !columns.contains(&t.column()) {
            columns.push(t.column());
        }
    }
    let shown: String = columns
        .iter()
        .map(|c| format!(", {c} AS \"f_{c}\""))
        .collect();
    let mut filters = vec![rule.predicate.clone()];
    filters.extend(window.eventtime_filters());
    format!(
        "SELECT eventtime, recipientaccountid, awsregion, {PRINCIPAL} AS principal, \
         sourceipaddress, eventsource, eventname, eventid{shown} FROM {PHYSICAL_TABLE} \
         WHERE {} ORDER BY eventtime_ts NULLS LAST, eventid",
        filters.join(" AND ")
    )
}

fn text_column(batch: &RecordBatch, name: &str) -> Option<ArrayRef> {
    batch.column_by_name(name).cloned()
}

/// A cell as text: string arrays read in place (no cast of the batch), anything else as
/// Arrow displays it.
fn text_at(col: &Option<ArrayRef>, row: usize) -> Option<String> {
    let c = col.as_ref()?;
    if c.is_null(row) {
        return None;
    }
    Some(match c.data_type() {
        DataType::Utf8 => c.as_string::<i32>().value(row).to_string(),
        DataType::LargeUtf8 => c.as_string::<i64>().value(row).to_string(),
        DataType::Utf8View => c.as_string_view().value(row).to_string(),
        _ => array_value_to_string(c, row).ok()?,
    })
}

/// Long JSON texts shown in full would drown the line: cut at this many characters.
const SHOWN_CHARS: usize = 240;

fn shown_value(target: &Target, col: &Option<ArrayRef>, row: usize) -> Option<String> {
    let raw = text_at(col, row)?;
    let v = match target {
        Target::Json { path, .. } => json_display(&raw, path)?,
        _ => raw,
    };
    Some(if v.chars().count() > SHOWN_CHARS {
        let cut: String = v.chars().take(SHOWN_CHARS).collect();
        format!("{cut}…")
    } else {
        v
    })
}

fn hits_of(rule: &Rule, batch: &RecordBatch) -> Vec<Hit> {
    let col = |n: &str| text_column(batch, n);
    let base: Vec<Option<ArrayRef>> = [
        "eventtime",
        "recipientaccountid",
        "awsregion",
        "principal",
        "sourceipaddress",
        "eventsource",
        "eventname",
        "eventid",
    ]
    .iter()
    .map(|n| col(n))
    .collect();
    let shown: Vec<(&str, &Target, Option<ArrayRef>)> = rule
        .shown
        .iter()
        .map(|(n, t)| (n.as_str(), t, col(&format!("f_{}", t.column()))))
        .collect();
    (0..batch.num_rows())
        .map(|r| Hit {
            rule: rule.info.clone(),
            time: text_at(&base[0], r),
            account: text_at(&base[1], r),
            region: text_at(&base[2], r),
            principal: text_at(&base[3], r),
            source_ip: text_at(&base[4], r),
            event_source: text_at(&base[5], r),
            event_name: text_at(&base[6], r),
            event_id: text_at(&base[7], r),
            fields: shown
                .iter()
                .filter_map(|(n, t, c)| shown_value(t, c, r).map(|v| (n.to_string(), v)))
                .collect(),
            events: Vec::new(),
            since: None,
        })
        .collect()
}

/// Runs every rule of `set` (that prints its own hits), then every correlation, over the
/// events of `window`, handing each hit to `sink` as it is read. Returns what each rule did.
pub async fn run(
    engine: &QueryEngine,
    set: &RuleSet,
    window: &TimeWindow,
    mut sink: impl FnMut(Hit) -> std::io::Result<()>,
) -> Result<Vec<RuleRun>, RunError> {
    crate::matcher::register(engine.context());
    let mut runs = Vec::new();
    for rule in set.rules.iter().filter(|r| r.emit) {
        let start = Instant::now();
        let fail = |source: QueryError| RunError::Query {
            title: rule.info.title.clone(),
            file: rule.info.file.clone(),
            source,
        };
        let df = engine
            .context()
            .sql(&rule_sql(rule, window))
            .await
            .map_err(|e| fail(e.into()))?;
        let mut stream = df.execute_stream().await.map_err(|e| fail(e.into()))?;
        let mut hits = 0u64;
        while let Some(batch) = stream.next().await {
            let batch = batch.map_err(|e| fail(e.into()))?;
            for hit in hits_of(rule, &batch) {
                hits += 1;
                sink(hit)?;
            }
        }
        runs.push(RuleRun {
            rule: rule.info.clone(),
            hits,
            seconds: start.elapsed().as_secs_f64(),
        });
    }
    for corr in &set.correlations {
        let start = Instant::now();
        let hits = correlate(engine, set, corr, window, &mut sink)
            .await
            .map_err(|e| match e {
                CorrError::Query(source) => RunError::Query {
                    title: corr.info.title.clone(),
                    file: corr.info.file.clone(),
                    source,
                },
                CorrError::Sink(e) => RunError::Sink(e),
            })?;
        runs.push(RuleRun {
            rule: corr.info.clone(),
            hits,
            seconds: start.elapsed().as_secs_f64(),
        });
    }
    Ok(runs)
}

enum CorrError {
    Query(QueryError),
    Sink(std::io::Error),
}

/// The query of a correlation: its base rules' events, with which rule matched (`b0`...),
/// the group-by values (`g0`...) and the counted value (`v`), by group then time.
pub fn correlation_sql(corr: &Correlation, rules: &[Rule], window: &TimeWindow) -> String {
    let base: Vec<String> = corr
        .bases
        .iter()
        .map(|&i| rules[i].predicate.clone())
        .collect();
    let per_base = |exprs: &[String]| -> String {
        if exprs.iter().all(|e| e == &exprs[0]) {
            return exprs[0].clone();
        }
        let arms: String = exprs
            .iter()
            .enumerate()
            .map(|(i, e)| format!(" WHEN {} THEN {e}", base[i]))
            .collect();
        format!("CASE{arms} END")
    };
    let mut select = vec![
        "eventtime_ts".to_string(),
        "eventtime".to_string(),
        "eventid".to_string(),
        format!("{PRINCIPAL} AS principal"),
        "sourceipaddress".to_string(),
        "recipientaccountid".to_string(),
        "awsregion".to_string(),
    ];
    for (i, (_, exprs)) in corr.group_by.iter().enumerate() {
        select.push(format!("CAST({} AS VARCHAR) AS g{i}", per_base(exprs)));
    }
    if let Some((_, exprs)) = &corr.value {
        select.push(format!("CAST({} AS VARCHAR) AS v", per_base(exprs)));
    }
    for (i, b) in base.iter().enumerate() {
        select.push(format!("{b} AS b{i}"));
    }
    let mut filters = vec![format!(
        "({})",
        base.iter()
            .map(|b| b.as_str())
            .collect::<Vec<_>>()
            .join(" OR ")
    )];
    filters.push("eventtime_ts IS NOT NULL".into());
    filters.extend(window.eventtime_filters());
    let mut order: Vec<String> = (0..corr.group_by.len())
        .map(|i| format!("g{i} NULLS FIRST"))
        .collect();
    order.push("eventtime_ts".into());
    order.push("eventid".into());
    format!(
        "SELECT {} FROM {PHYSICAL_TABLE} WHERE {} ORDER BY {}",
        select.join(", "),
        filters.join(" AND "),
        order.join(", ")
    )
}

/// One base event in a correlation's window.
struct Seen {
    micros: i64,
    time: Option<String>,
    id: Option<String>,
    bases: Vec<usize>,
    value: Option<String>,
}

/// The sliding window of one group.
#[derive(Default)]
struct Window {
    key: Option<Vec<Option<String>>>,
    events: VecDeque<Seen>,
}

impl Window {
    /// Whether the correlation's condition holds on the window.
    fn fires(&self, corr: &Correlation) -> Option<u64> {
        match corr.kind {
            CorrelationType::EventCount => {
                let n = self.events.len() as u64;
                corr.holds(n).then_some(n)
            }
            CorrelationType::ValueCount => {
                let mut values: HashMap<&str, ()> = HashMap::new();
                for e in &self.events {
                    if let Some(v) = &e.value {
                        values.insert(v.as_str(), ());
                    }
                }
                let n = values.len() as u64;
                corr.holds(n).then_some(n)
            }
            CorrelationType::Temporal => {
                let all =
                    (0..corr.bases.len()).all(|b| self.events.iter().any(|e| e.bases.contains(&b)));
                all.then_some(self.events.len() as u64)
            }
            _ => {
                // temporal_ordered: the base rules in their listed order.
                let mut next = 0;
                for e in &self.events {
                    if next < corr.bases.len() && e.bases.contains(&next) {
                        next += 1;
                    }
                }
                (next == corr.bases.len()).then_some(self.events.len() as u64)
            }
        }
    }
}

async fn correlate(
    engine: &QueryEngine,
    set: &RuleSet,
    corr: &Correlation,
    window: &TimeWindow,
    sink: &mut impl FnMut(Hit) -> std::io::Result<()>,
) -> Result<u64, CorrError> {
    let sql = correlation_sql(corr, &set.rules, window);
    let df = engine
        .context()
        .sql(&sql)
        .await
        .map_err(|e| CorrError::Query(e.into()))?;
    let mut stream = df
        .execute_stream()
        .await
        .map_err(|e| CorrError::Query(e.into()))?;
    let span = Duration::from_secs(corr.span_seconds).as_micros() as i64;
    let mut w = Window::default();
    let mut hits = 0u64;
    while let Some(batch) = stream.next().await {
        let batch = batch.map_err(|e| CorrError::Query(e.into()))?;
        let ts = arrow::compute::cast(
            batch.column(0),
            &DataType::Timestamp(TimeUnit::Microsecond, None),
        )
        .map_err(|e| CorrError::Query(datafusion::error::DataFusionError::from(e).into()))?;
        let ts = ts.as_primitive::<arrow::datatypes::TimestampMicrosecondType>();
        let col = |n: &str| text_column(&batch, n);
        let (time, id, principal, ip, account, region) = (
            col("eventtime"),
            col("eventid"),
            col("principal"),
            col("sourceipaddress"),
            col("recipientaccountid"),
            col("awsregion"),
        );
        let groups: Vec<Option<ArrayRef>> = (0..corr.group_by.len())
            .map(|i| col(&format!("g{i}")))
            .collect();
        let value = col("v");
        let flags: Vec<Option<ArrayRef>> = (0..corr.bases.len())
            .map(|i| batch.column_by_name(&format!("b{i}")).cloned())
            .collect();
        for r in 0..batch.num_rows() {
            let key: Vec<Option<String>> = groups.iter().map(|g| text_at(g, r)).collect();
            if w.key.as_ref() != Some(&key) {
                w.key = Some(key.clone());
                w.events.clear();
            }
            let micros = ts.value(r);
            while w.events.front().is_some_and(|e| e.micros < micros - span) {
                w.events.pop_front();
            }
            let bases = flags
                .iter()
                .enumerate()
                .filter(|(_, f)| {
                    f.as_ref()
                        .is_some_and(|f| f.as_boolean().is_valid(r) && f.as_boolean().value(r))
                })
                .map(|(i, _)| i)
                .collect();
            w.events.push_back(Seen {
                micros,
                time: text_at(&time, r),
                id: text_at(&id, r),
                bases,
                value: text_at(&value, r),
            });
            if let Some(n) = w.fires(corr) {
                let mut fields: Vec<(String, String)> = corr
                    .group_by
                    .iter()
                    .zip(&key)
                    .map(|((name, _), v)| (name.clone(), v.clone().unwrap_or_default()))
                    .collect();
                let counted = match corr.kind {
                    CorrelationType::ValueCount => "distinct values",
                    _ => "events",
                };
                fields.push((counted.to_string(), n.to_string()));
                fields.push(("timespan".to_string(), corr.timespan.clone()));
                let last = w.events.back();
                let hit = Hit {
                    rule: corr.info.clone(),
                    time: last.and_then(|e| e.time.clone()),
                    account: text_at(&account, r),
                    region: text_at(&region, r),
                    principal: text_at(&principal, r),
                    source_ip: text_at(&ip, r),
                    event_source: None,
                    event_name: None,
                    event_id: last.and_then(|e| e.id.clone()),
                    fields,
                    events: w
                        .events
                        .iter()
                        .filter_map(|e| e.id.clone())
                        .take(MAX_CORRELATED_IDS)
                        .collect(),
                    since: w.events.front().and_then(|e| e.time.clone()),
                };
                hits += 1;
                sink(hit).map_err(CorrError::Sink)?;
                // The window starts again after the events it fired on.
                w.events.clear();
            }
        }
    }
    Ok(hits)
}
