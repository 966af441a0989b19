//! `trawl summary`: one row per principal (or access key, source IP, account), so that a
//! rare or new one stands out.

use std::collections::BTreeMap;

use arrow::array::{Array, AsArray};
use arrow::datatypes::{DataType, Int64Type};
use serde::Serialize;
use trawl_query::{QueryEngine, QueryError};
use trawl_schema::{PHYSICAL_TABLE, TimeWindow};

use crate::lineage::text;
use crate::timeline::lit;

/// What a row is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum By {
    /// The principal's ARN (else principal id, else the invoking service, else its type).
    Principal,
    AccessKey,
    Ip,
    /// The account the event was delivered to (`recipientAccountId`).
    Account,
}

impl By {
    fn key(self) -> &'static str {
        match self {
            By::Principal => {
                "coalesce(useridentity_arn, useridentity_principalid, useridentity_invokedby, useridentity_type)"
            }
            By::AccessKey => "useridentity_accesskeyid",
            By::Ip => "sourceipaddress",
            By::Account => "recipientaccountid",
        }
    }
}

/// The order of the rows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SortBy {
    /// Fewest events first: the rare ones.
    Events,
    /// Newest first-seen first: the new ones.
    FirstSeen,
    LastSeen,
    /// Most errors first.
    Errors,
    /// Most access denied first.
    Denied,
}

/// What to summarise.
#[derive(Debug, Clone)]
pub struct Summary {
    pub by: By,
    pub window: TimeWindow,
    pub sort: SortBy,
    /// Rows with at least / at most this many events.
    pub min_events: Option<u64>,
    pub max_events: Option<u64>,
    /// Distinct values listed per column, at most (the counts are exact).
    pub values: usize,
    /// Add the source IPs' countries (the engine has a GeoIP database).
    pub geo: bool,
}

/// The error codes that mean the caller was not allowed.
const DENIED: &[&str] = &[
    "AccessDenied",
    "AccessDeniedException",
    "Client.UnauthorizedOperation",
    "UnauthorizedOperation",
    "Forbidden",
];

/// One row.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Row {
    /// The principal, key, IP or account (`None`: events that name none).
    pub key: Option<String>,
    pub first_seen: Option<String>,
    pub last_seen: Option<String>,
    pub events: u64,
    pub services: Distinct,
    pub regions: Distinct,
    pub source_ips: Distinct,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub countries: Option<Distinct>,
    pub user_agents: Distinct,
    pub errors: u64,
    pub access_denied: u64,
    pub console_logins: u64,
    pub console_login_failures: u64,
    /// Successful console logins that used MFA.
    pub console_logins_with_mfa: u64,
    /// The most frequent event names, with their counts, most first.
    pub top_events: Vec<(String, u64)>,
}

/// A column's distinct values: how many, and the first few (sorted).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Distinct {
    pub count: u64,
    pub values: Vec<String>,
}

impl Summary {
    fn filter(&self) -> String {
        let mut f = vec!["TRUE".to_string()];
        f.extend(self.window.eventtime_filters());
        f.join(" AND ")
    }

    /// The per-row aggregates.
    pub fn sql(&self) -> String {
        let denied: Vec<String> = DENIED.iter().map(|d| lit(d)).collect();
        let login = "json_extract_scalar(responseelements, '$.ConsoleLogin')";
        let countries = if self.geo {
            ", count(DISTINCT geoip_country(sourceipaddress)) AS n_countries, \
             array_agg(DISTINCT geoip_country(sourceipaddress)) AS countries"
        } else {
            ""
        };
        let mut having = Vec::new();
        if let Some(n) = self.min_events {
            having.push(format!("count(*) >= {n}"));
        }
        if let Some(n) = self.max_events {
            having.push(format!("count(*) <= {n}"));
        }
        let having = if having.is_empty() {
            String::new()
        } else {
            format!(" HAVING {}", having.join(" AND "))
        };
        let order = match self.sort {
            SortBy::Events => "events ASC",
            SortBy::FirstSeen => "first_seen DESC",
            SortBy::LastSeen => "last_seen DESC",
            SortBy::Errors => "errors DESC",
            SortBy::Denied => "access_denied DESC",
        };
        format!(
            "SELECT {key} AS k, min(eventtime) AS first_seen, max(eventtime) AS last_seen, \
             count(*) AS events, \
             count(DISTINCT eventsource) AS n_services, array_agg(DISTINCT eventsource) AS services, \
             count(DISTINCT awsregion) AS n_regions, array_agg(DISTINCT awsregion) AS regions, \
             count(DISTINCT sourceipaddress) AS n_ips, array_agg(DISTINCT sourceipaddress) AS ips, \
             count(DISTINCT useragent) AS n_agents, array_agg(DISTINCT useragent) AS agents, \
             count(errorcode) AS errors, \
             count(*) FILTER (WHERE errorcode IN ({denied})) AS access_denied, \
             count(*) FILTER (WHERE eventname = 'ConsoleLogin' AND {login} IS NOT NULL) AS logins, \
             count(*) FILTER (WHERE eventname = 'ConsoleLogin' AND {login} = 'Failure') AS login_failures, \
             count(*) FILTER (WHERE eventname = 'ConsoleLogin' AND {login} = 'Success' \
                 AND json_extract_scalar(additionaleventdata, '$.MFAUsed') = 'Yes') AS logins_mfa\
             {countries} \
             FROM {PHYSICAL_TABLE} WHERE {filter} GROUP BY 1{having} ORDER BY {order}, k",
            key = self.by.key(),
            denied = denied.join(", "),
            filter = self.filter(),
        )
    }

    /// The event names per row, for the top ones.
    fn events_sql(&self) -> String {
        format!(
            "SELECT {key} AS k, eventname, count(*) AS n FROM {PHYSICAL_TABLE} WHERE {filter} GROUP BY 1, 2",
            key = self.by.key(),
            filter = self.filter(),
        )
    }

    /// The rows, in order.
    pub async fn run(&self, engine: &QueryEngine) -> Result<Vec<Row>, QueryError> {
        let ctx = engine.context();
        let main = ctx.sql(&self.sql()).await?.collect().await?;
        let names = ctx.sql(&self.events_sql()).await?.collect().await?;
        let mut top: BTreeMap<Option<String>, Vec<(String, u64)>> = BTreeMap::new();
        for b in &names {
            let k = text(b, "k");
            let name = text(b, "eventname");
            let n = b
                .column_by_name("n")
                .expect("n")
                .as_primitive::<Int64Type>();
            for r in 0..b.num_rows() {
                top.entry(k[r].clone())
                    .or_default()
                    .push((name[r].clone().unwrap_or_default(), n.value(r) as u64));
            }
        }
        let mut out = Vec::new();
        for b in &main {
            let k = text(b, "k");
            let first = text(b, "first_seen");
            let last = text(b, "last_seen");
            let count = |c: &str| -> Vec<u64> {
                let a = b.column_by_name(c).expect("a count column");
                let a = arrow::compute::cast(a, &DataType::Int64).expect("counts are integers");
                let a = a.as_primitive::<Int64Type>();
                (0..a.len()).map(|i| a.value(i) as u64).collect()
            };
            let lists = |c: &str| -> Vec<Vec<String>> {
                let a = b.column_by_name(c).expect("a list column").as_list::<i32>();
                (0..a.len())
                    .map(|i| {
                        let v = a.value(i);
                        let v = arrow::compute::cast(&v, &DataType::Utf8).expect("text");
                        let v = v.as_string::<i32>();
                        let mut vals: Vec<String> =
                            v.iter().flatten().map(str::to_string).collect();
                        vals.sort();
                        vals.truncate(self.values);
                        vals
                    })
                    .collect()
            };
            let distinct = |n: &str, l: &str| -> Vec<Distinct> {
                count(n)
                    .into_iter()
                    .zip(lists(l))
                    .map(|(count, values)| Distinct { count, values })
                    .collect()
            };
            let (services, regions, ips, agents) = (
                distinct("n_services", "services"),
                distinct("n_regions", "regions"),
                distinct("n_ips", "ips"),
                distinct("n_agents", "agents"),
            );
            let countries = self.geo.then(|| distinct("n_countries", "countries"));
            let (events, errors, denied) =
                (count("events"), count("errors"), count("access_denied"));
            let (logins, failures, mfa) = (
                count("logins"),
                count("login_failures"),
                count("logins_mfa"),
            );
            for r in 0..b.num_rows() {
                let mut names = top.remove(&k[r]).unwrap_or_default();
                names.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
                names.truncate(self.values);
                out.push(Row {
                    key: k[r].clone(),
                    first_seen: first[r].clone(),
                    last_seen: last[r].clone(),
                    events: events[r],
                    services: services[r].clone(),
                    regions: regions[r].clone(),
                    source_ips: ips[r].clone(),
                    countries: countries.as_ref().map(|c| c[r].clone()),
                    user_agents: agents[r].clone(),
                    errors: errors[r],
                    access_denied: denied[r],
                    console_logins: logins[r],
                    console_login_failures: failures[r],
                    console_logins_with_mfa: mfa[r],
                    top_events: names,
                });
            }
        }
        Ok(out)
    }
}
