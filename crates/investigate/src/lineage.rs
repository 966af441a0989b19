//! Who is behind a session: the chain of credentials, followed backwards from a session's
//! temporary key through the STS calls whose responses carried it (role chaining hop by hop,
//! SAML and web-identity federation), to a long-term key and the `CreateAccessKey` that made
//! it. Each step is one query of the lake; a link the lake does not hold is said plainly.

use arrow::array::{Array, AsArray, RecordBatch};
use arrow::datatypes::DataType;
use serde::Serialize;
use trawl_query::{QueryEngine, QueryError};
use trawl_schema::PHYSICAL_TABLE;

use crate::timeline::lit;

/// The STS calls that return credentials.
const ISSUERS: &[&str] = &[
    "AssumeRole",
    "AssumeRoleWithSAML",
    "AssumeRoleWithWebIdentity",
    "GetFederationToken",
    "GetSessionToken",
    "AssumeRoot",
];

/// Hops followed at most (a chain longer than this, or a loop, stops).
const MAX_HOPS: usize = 16;

/// One link of a chain: the event that issued (or created) a key, and who made the call.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Link {
    /// The key this link explains.
    pub key: String,
    /// `AssumeRole…`, `GetFederationToken`, `GetSessionToken`, `CreateAccessKey`.
    pub event: String,
    pub time: Option<String>,
    pub event_id: Option<String>,
    /// The session (assumed-role ARN, federated user) the call created, when it says.
    pub issued_to: Option<String>,
    /// Who made the call: type, ARN (or principal id), and the key it used.
    pub caller_type: Option<String>,
    pub caller: Option<String>,
    pub caller_key: Option<String>,
    pub source_ip: Option<String>,
    pub user_agent: Option<String>,
    /// `sourceIdentity` set on the session, if any.
    pub source_identity: Option<String>,
    /// For SAML and web-identity federation: the identity provider, and the subject it vouched for.
    pub provider: Option<String>,
    pub subject: Option<String>,
}

/// A chain, nearest link first.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Chain {
    /// The key the chain starts from.
    pub key: String,
    pub links: Vec<Link>,
    /// Why the chain stops where it does.
    pub end: String,
}

/// The temporary (`ASIA…`) and long-term keys a session used, from its events, and for an
/// assumed-role ARN also those STS issued to it (a session that made no call yet): the start
/// of its chains, earliest first. `session` is an assumed-role ARN, a key, or a session name.
pub async fn session_keys(engine: &QueryEngine, session: &str) -> Result<Vec<String>, QueryError> {
    if session.starts_with("ASIA") || session.starts_with("AKIA") {
        return Ok(vec![session.to_string()]);
    }
    let predicate = crate::Subject::Session(session.to_string()).predicate();
    let issued = if session.starts_with("arn:") {
        format!(
            " UNION ALL SELECT json_extract_scalar(responseelements, '$.credentials.accessKeyId') AS k, \
             eventtime AS t FROM {PHYSICAL_TABLE} WHERE eventsource = 'sts.amazonaws.com' \
             AND json_extract_scalar(responseelements, '$.assumedRoleUser.arn') = {}",
            lit(session)
        )
    } else {
        String::new()
    };
    let sql = format!(
        "SELECT k, min(t) AS t FROM (SELECT useridentity_accesskeyid AS k, eventtime AS t FROM {PHYSICAL_TABLE} \
         WHERE {predicate}{issued}) WHERE k IS NOT NULL GROUP BY 1 ORDER BY t, k"
    );
    let batches = engine.context().sql(&sql).await?.collect().await?;
    Ok(batches
        .iter()
        .flat_map(|b| text(b, "k"))
        .flatten()
        .collect())
}

/// The chain behind `key`.
pub async fn chain(engine: &QueryEngine, key: &str) -> Result<Chain, QueryError> {
    let mut out = Chain {
        key: key.to_string(),
        ..Chain::default()
    };
    let mut next = Some(key.to_string());
    let mut seen = std::collections::BTreeSet::new();
    while let Some(k) = next.take() {
        if !seen.insert(k.clone()) || out.links.len() >= MAX_HOPS {
            out.end = format!("stopped at {k}: a loop or more than {MAX_HOPS} hops");
            break;
        }
        let Some(link) = issuer(engine, &k).await? else {
            let first = first_event(engine).await?;
            out.end = if k.starts_with("AKIA") {
                format!(
                    "no CreateAccessKey of {k} in the lake (its first event is {}): the key was created before, or in another account's trail",
                    first.as_deref().unwrap_or("-")
                )
            } else {
                format!(
                    "no event in the lake issued {k} (its first event is {}): it was issued before, in another account's or region's trail, or by a call CloudTrail does not log",
                    first.as_deref().unwrap_or("-")
                )
            };
            break;
        };
        let caller_type = link.caller_type.clone().unwrap_or_default();
        next = match (&link.caller_key, caller_type.as_str()) {
            _ if link.provider.is_some() => {
                out.end = format!(
                    "federated: {} vouched for {}",
                    link.provider.as_deref().unwrap_or("-"),
                    link.subject.as_deref().unwrap_or("-")
                );
                None
            }
            (Some(ck), _) if !ck.is_empty() => Some(ck.clone()),
            (_, "Root") => {
                out.end = "the account's root user".into();
                None
            }
            (_, t) => {
                out.end = format!(
                    "the call names no key of its caller ({}: {})",
                    if t.is_empty() { "no identity type" } else { t },
                    link.caller.as_deref().unwrap_or("-")
                );
                None
            }
        };
        out.links.push(link);
    }
    if out.end.is_empty() {
        out.end = "complete".into();
    }
    Ok(out)
}

/// The first event time of the lake.
async fn first_event(engine: &QueryEngine) -> Result<Option<String>, QueryError> {
    let b = engine
        .context()
        .sql(&format!("SELECT min(eventtime) AS t FROM {PHYSICAL_TABLE}"))
        .await?
        .collect()
        .await?;
    Ok(b.iter().flat_map(|b| text(b, "t")).flatten().next())
}

/// The event that issued (temporary) or created (long-term) `key`, earliest first.
async fn issuer(engine: &QueryEngine, key: &str) -> Result<Option<Link>, QueryError> {
    let (filter, issued) = if key.starts_with("AKIA") {
        (
            format!(
                "eventsource = 'iam.amazonaws.com' AND eventname = 'CreateAccessKey' \
                 AND json_extract_scalar(responseelements, '$.accessKey.accessKeyId') = {}",
                lit(key)
            ),
            "json_extract_scalar(responseelements, '$.accessKey.userName')",
        )
    } else {
        let names: Vec<String> = ISSUERS.iter().map(|n| lit(n)).collect();
        (
            format!(
                "eventsource = 'sts.amazonaws.com' AND eventname IN ({}) \
                 AND json_extract_scalar(responseelements, '$.credentials.accessKeyId') = {}",
                names.join(", "),
                lit(key)
            ),
            "coalesce(json_extract_scalar(responseelements, '$.assumedRoleUser.arn'), \
             json_extract_scalar(responseelements, '$.federatedUser.arn'))",
        )
    };
    let sql = format!(
        "SELECT eventname, eventtime, eventid, {issued} AS issued_to, useridentity_type, \
         coalesce(useridentity_arn, useridentity_principalid, useridentity_username) AS caller, \
         useridentity_accesskeyid AS caller_key, sourceipaddress, useragent, \
         json_extract_scalar(requestparameters, '$.sourceIdentity') AS source_identity, \
         coalesce(json_extract_scalar(requestparameters, '$.principalArn'), \
                  json_extract_scalar(responseelements, '$.provider'), \
                  useridentity_sessioncontext_webidfederationdata_federatedprovider) AS provider, \
         coalesce(json_extract_scalar(responseelements, '$.subject'), \
                  json_extract_scalar(responseelements, '$.subjectFromWebIdentityToken')) AS subject \
         FROM {PHYSICAL_TABLE} WHERE {filter} ORDER BY eventtime_ts NULLS LAST, eventid LIMIT 1"
    );
    let batches = engine.context().sql(&sql).await?.collect().await?;
    let Some(b) = batches.iter().find(|b| b.num_rows() > 0) else {
        return Ok(None);
    };
    let get = |c: &str| text(b, c).into_iter().next().flatten();
    let event = get("eventname").unwrap_or_default();
    let federated = event == "AssumeRoleWithSAML" || event == "AssumeRoleWithWebIdentity";
    Ok(Some(Link {
        key: key.to_string(),
        time: get("eventtime"),
        event_id: get("eventid"),
        issued_to: get("issued_to"),
        caller_type: get("useridentity_type"),
        caller: get("caller"),
        caller_key: get("caller_key"),
        source_ip: get("sourceipaddress"),
        user_agent: get("useragent"),
        source_identity: get("source_identity"),
        provider: if federated { get("provider") } else { None },
        subject: if federated { get("subject") } else { None },
        event,
    }))
}

/// A column of `batch` as optional texts.
pub(crate) fn text(batch: &RecordBatch, name: &str) -> Vec<Option<String>> {
    let a = batch.column_by_name(name).expect("a text column");
    let a = arrow::compute::cast(a, &DataType::Utf8).expect("text");
    let a = a.as_string::<i32>();
    (0..a.len())
        .map(|i| a.is_valid(i).then(|| a.value(i).to_string()))
        .collect()
}

impl Chain {
    /// The chain as lines for a terminal, nearest link first.
    pub fn text(&self) -> String {
        let mut out = format!("lineage of {}\n", self.key);
        for l in &self.links {
            let o = |v: &Option<String>| v.clone().unwrap_or_else(|| "-".into());
            out.push_str(&format!(
                "  {} {} {} by {} ({}, key {}) from {}{}{}  [{}]\n",
                o(&l.time),
                l.event,
                match (&l.issued_to, l.key.starts_with("AKIA")) {
                    (Some(s), false) => format!("issued {} as {s}", l.key),
                    (Some(u), true) => format!("created {} for {u}", l.key),
                    (None, _) => format!("issued {}", l.key),
                },
                o(&l.caller),
                o(&l.caller_type),
                o(&l.caller_key),
                o(&l.source_ip),
                l.source_identity
                    .as_ref()
                    .map(|s| format!(", source identity {s}"))
                    .unwrap_or_default(),
                l.provider
                    .as_ref()
                    .map(|p| format!(", provider {p} subject {}", o(&l.subject)))
                    .unwrap_or_default(),
                o(&l.event_id),
            ));
        }
        out.push_str(&format!("  end: {}\n", self.end));
        out
    }
}
