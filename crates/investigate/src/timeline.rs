//! `trawl timeline`: the events of a principal, an access key, a source IP, a role session or
//! a resource, in time order, a line each, streamed from the lake.

use std::sync::Arc;

use arrow::array::{Array, AsArray, RecordBatch, StringArray};
use datafusion::physical_plan::SendableRecordBatchStream;
use serde::Serialize;
use trawl_query::{QueryEngine, QueryError};
use trawl_schema::{PHYSICAL_TABLE, TimeWindow};

use crate::brief::brief;

/// Whose (or what's) events.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Subject {
    /// An ARN (a user, a role: the role's sessions too; an assumed-role session ARN), or a
    /// name (an IAM user name, a role name, a role session name).
    Principal(String),
    /// An access key id (`AKIA…` long-term, `ASIA…` a session's).
    AccessKey(String),
    /// A source IP address (or the service name CloudTrail writes there).
    Ip(String),
    /// A role session: its assumed-role ARN, its `ASIA…` key, or its session name.
    Session(String),
    /// A resource ARN: in the event's `resources`, or anywhere in its request parameters.
    Resource(String),
}

/// A SQL string literal.
pub(crate) fn lit(s: &str) -> String {
    format!("'{}'", s.replace('\'', "''"))
}

impl Subject {
    /// The predicate on the lake's flat table that selects the subject's events.
    pub(crate) fn predicate(&self) -> String {
        match self {
            Subject::Principal(p) if p.starts_with("arn:") => format!(
                "(useridentity_arn = {v} OR useridentity_sessioncontext_sessionissuer_arn = {v})",
                v = lit(p)
            ),
            Subject::Principal(p) => format!(
                "(useridentity_username = {v} OR useridentity_sessioncontext_sessionissuer_username = {v} \
                 OR useridentity_principalid LIKE {suffix} ESCAPE '\\')",
                v = lit(p),
                suffix = lit(&format!("%:{}", like_escape(p)))
            ),
            Subject::AccessKey(k) => format!("useridentity_accesskeyid = {}", lit(k)),
            Subject::Ip(ip) => format!("sourceipaddress = {}", lit(ip)),
            Subject::Session(s) if s.starts_with("arn:") => {
                format!("useridentity_arn = {}", lit(s))
            }
            Subject::Session(s) if s.starts_with("ASIA") => {
                format!("useridentity_accesskeyid = {}", lit(s))
            }
            Subject::Session(s) => format!(
                "(useridentity_type = 'AssumedRole' AND useridentity_principalid LIKE {} ESCAPE '\\')",
                lit(&format!("%:{}", like_escape(s)))
            ),
            Subject::Resource(arn) => format!(
                "(strpos(requestparameters, {v}) > 0 OR eventid IN (\
                 SELECT eventid FROM (SELECT eventid, unnest(resources) AS r FROM {PHYSICAL_TABLE}) \
                 WHERE r['arn'] = {v}))",
                v = lit(arn)
            ),
        }
    }
}

/// `s` with LIKE's wildcards escaped (by `\`).
fn like_escape(s: &str) -> String {
    s.replace('\\', "\\\\")
        .replace('%', "\\%")
        .replace('_', "\\_")
}

/// What to list.
#[derive(Debug, Clone)]
pub struct Timeline {
    pub subject: Subject,
    /// Events from `since`, before `until` (to the second).
    pub window: TimeWindow,
    /// Add each source IP's country (the engine has a GeoIP database).
    pub geo: bool,
    /// Also the events made with these access keys (`--follow`: the keys upstream of a
    /// session in its lineage).
    pub also_keys: Vec<String>,
}

impl Timeline {
    /// The query: the subject's events in the window, in time order (events whose time did
    /// not parse last), ties by event id.
    pub fn sql(&self) -> String {
        let subject = if self.also_keys.is_empty() {
            self.subject.predicate()
        } else {
            let keys: Vec<String> = self.also_keys.iter().map(|k| lit(k)).collect();
            format!(
                "({} OR useridentity_accesskeyid IN ({}))",
                self.subject.predicate(),
                keys.join(", ")
            )
        };
        let mut filters = vec![subject];
        filters.extend(self.window.eventtime_filters());
        let country = if self.geo {
            ", geoip_country(sourceipaddress) AS country"
        } else {
            ""
        };
        format!(
            "SELECT eventtime, recipientaccountid, awsregion, eventsource, eventname, errorcode, \
             json_extract_scalar(responseelements, '$.ConsoleLogin') AS console_login, \
             sourceipaddress, useragent, requestparameters, eventid, \
             coalesce(useridentity_arn, useridentity_principalid, useridentity_invokedby, useridentity_type) AS principal{country} \
             FROM {PHYSICAL_TABLE} WHERE {} ORDER BY eventtime_ts NULLS LAST, eventid",
            filters.join(" AND ")
        )
    }

    /// The events, as a stream of batches in order (the plan sorts what matches; the lake is
    /// read as it streams).
    pub async fn stream(
        &self,
        engine: &QueryEngine,
    ) -> Result<SendableRecordBatchStream, QueryError> {
        let df = engine.context().sql(&self.sql()).await?;
        Ok(df.execute_stream().await?)
    }
}

/// One line of a timeline.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Entry {
    pub time: Option<String>,
    pub account: Option<String>,
    pub region: Option<String>,
    pub source: Option<String>,
    pub event: Option<String>,
    /// The error code, or a console login's `Success`/`Failure`; empty for a call that worked.
    pub outcome: String,
    pub ip: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub country: Option<String>,
    pub user_agent: Option<String>,
    pub principal: Option<String>,
    /// The main request parameters, in short ([`brief`]).
    pub summary: String,
    pub event_id: Option<String>,
}

/// The entries of a batch of [`Timeline::stream`].
pub fn entries(batch: &RecordBatch) -> Vec<Entry> {
    let col = |name: &str| -> Option<Arc<dyn Array>> { batch.column_by_name(name).cloned() };
    let text = |name: &str| -> Option<StringArray> {
        col(name).and_then(|c| {
            arrow::compute::cast(&c, &arrow::datatypes::DataType::Utf8)
                .ok()
                .map(|c| c.as_string::<i32>().clone())
        })
    };
    let names = [
        "eventtime",
        "recipientaccountid",
        "awsregion",
        "eventsource",
        "eventname",
        "errorcode",
        "console_login",
        "sourceipaddress",
        "useragent",
        "requestparameters",
        "eventid",
        "principal",
        "country",
    ];
    let cols: Vec<Option<StringArray>> = names.iter().map(|n| text(n)).collect();
    let get = |c: usize, r: usize| -> Option<String> {
        let a = cols[c].as_ref()?;
        a.is_valid(r).then(|| a.value(r).to_string())
    };
    (0..batch.num_rows())
        .map(|r| {
            let source = get(3, r);
            let event = get(4, r);
            let outcome = get(5, r).or_else(|| get(6, r)).unwrap_or_default();
            let summary = brief(
                source.as_deref().unwrap_or_default(),
                event.as_deref().unwrap_or_default(),
                get(9, r).as_deref(),
            );
            Entry {
                time: get(0, r),
                account: get(1, r),
                region: get(2, r),
                source,
                event,
                outcome,
                ip: get(7, r),
                country: get(12, r),
                user_agent: get(8, r),
                principal: get(11, r),
                summary,
                event_id: get(10, r),
            }
        })
        .collect()
}
