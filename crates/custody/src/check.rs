//! The validation: digests (signatures and chain, in [`crate::chain`]), then the log files
//! they list against the ledger, what no digest covers, and the rows.

use std::collections::{BTreeMap, HashMap, HashSet};

use chrono::{DateTime, Duration, Utc};
use trawl_ingest::layout::stream_of;
use trawl_lake::{Lake, QuarantineEntry, SourceEntry};

use crate::chain::{Around, Node, check_chains, nodes, stamp, stamp_us};
use crate::digest::{self, Digest, from_awslogs};
use crate::model::*;
use crate::rows::{SourceRows, by_source};
use crate::{CustodyError, PublicKeys, Reread, Signatures, Sources};

/// Validates the lake's digests, log files and rows (see the crate docs). `reach`: what it
/// may ask of the sources (re-read log files, fetch signatures).
pub fn validate(
    lake: &Lake,
    keys: &PublicKeys,
    opts: &ValidateOptions,
    reach: Sources<'_>,
) -> Result<Validation, CustodyError> {
    let layout = lake.layout();
    let (snap, sources) = lake.snapshot_with_sources()?;
    // Only digests near the scope are held: a file's events may be hours older than its
    // delivery, so a day's margin.
    let margin = Duration::days(1);
    let near = ValidateOptions {
        since: opts.since.map(|s| s - margin),
        until: opts.until.map(|u| u + margin),
        ..opts.clone()
    };
    let mut recorded = digest::load(&layout, snap.version, |d| {
        let (account, region) = stream_of(&d.digest_s3_object).unwrap_or_default();
        let start = digest::parse_time(&d.digest_start_time);
        let end = digest::parse_time(&d.digest_end_time);
        near.wants(account, region) && start.zip(end).is_none_or(|(s, e)| near.spans(s, e))
    })?;
    let rows = by_source(layout.root(), &snap.files)?;
    let ledger = Ledger::new(&sources, &snap.quarantined);
    let scope = Scope { opts, rows: &rows };
    // A digest is in scope when its hour meets the window or it lists an object in scope
    // (events in the window delivered after it).
    let digest_in_scope = |d: &Digest, start, end| {
        opts.spans(start, end)
            || d.log_files.iter().any(|l| {
                ledger
                    .find(&l.s3_bucket, &l.s3_object)
                    .is_some_and(|e| scope.object(&e.uri))
            })
    };

    let mut problems = Vec::new();
    let mut notes = Vec::new();
    if let Some(s) = reach.signatures {
        fetch_signatures(&mut recorded, s, &mut notes);
    }
    let reread = reach.reread;
    let mut nodes = nodes(&recorded, keys, opts, &digest_in_scope, &mut problems);
    check_chains(
        &mut nodes,
        &Around::new(&recorded, near.clone()),
        &mut notes,
        &mut problems,
    );
    let logs = check_logs(&mut nodes, &ledger, reread, &mut notes);

    let mut hours = BTreeMap::new();
    for node in &nodes {
        let hour = hour_of(node);
        hours.insert(
            (
                hour.account.clone(),
                hour.region.clone(),
                hour.start.clone(),
                node.rec.uri.clone(),
            ),
            hour,
        );
        problems.extend(node.problems.iter().cloned());
        problems.extend(node.log_problems.iter().cloned());
    }
    let not_covered = not_covered(&sources, &logs.listed, &scope, &mut hours, &mut problems);

    // Rows: traced to a file listed by a digest whose hour is valid.
    let valid_files: HashSet<&str> = nodes
        .iter()
        .filter(|n| n.problems.is_empty() && n.log_problems.is_empty())
        .flat_map(|n| n.d.log_files.iter())
        .filter_map(|l| {
            ledger
                .find(&l.s3_bucket, &l.s3_object)
                .map(|e| e.uri.as_str())
        })
        .collect();
    let (total_rows, rows_validated) = trace_rows(&scope, &sources, &valid_files, &mut problems);

    let hours: Vec<Hour> = hours.into_values().collect();
    problems.sort_by(|a, b| (a.kind, &a.object).cmp(&(b.kind, &b.object)));
    let summary = Summary {
        digests: nodes.len(),
        digests_valid: nodes.iter().filter(|n| n.problems.is_empty()).count(),
        log_files: logs.listed_count,
        log_files_valid: nodes.iter().map(|n| n.logs_valid).sum(),
        not_covered,
        rows: total_rows,
        rows_validated,
        hours: hours.len(),
        hours_valid: hours.iter().filter(|h| h.status == Status::Valid).count(),
        problems: problems.len(),
        sources_reread: logs.reread,
        failed: !problems.is_empty() || (nodes.is_empty() && total_rows > 0),
    };
    if nodes.is_empty() {
        notes.push(
            "no digest files in the lake: ingest the trail's CloudTrail-Digest/ prefix (from S3, so their signatures come too)".into(),
        );
    }
    let mut fingerprints: Vec<String> = nodes
        .iter()
        .map(|n| n.d.digest_public_key_fingerprint.clone())
        .filter(|f| !keys.get(f).is_empty())
        .collect();
    fingerprints.sort();
    fingerprints.dedup();
    Ok(Validation {
        lake: layout.root().display().to_string(),
        lake_version: snap.version,
        validated_at: stamp(Utc::now()),
        trawl_version: env!("CARGO_PKG_VERSION").to_string(),
        since: opts.since.map(stamp),
        until: opts.until.map(stamp),
        accounts: opts.accounts.clone(),
        regions: opts.regions.clone(),
        public_keys: fingerprints,
        reread: reread.is_some(),
        summary,
        valid_ranges: ranges(&hours),
        hours,
        problems,
        notes,
    })
}

/// Fills in the signatures of digests recorded without one (read from a local copy) from
/// the objects CloudTrail delivered: the signature is then checked against the hash of the
/// copy the lake read.
fn fetch_signatures(
    recorded: &mut [digest::Recorded],
    from: &dyn Signatures,
    notes: &mut Vec<String>,
) {
    let wanted: Vec<usize> = recorded
        .iter()
        .enumerate()
        .filter(|(_, r)| r.signature.is_none() && r.digest.is_ok())
        .map(|(i, _)| i)
        .collect();
    let objects: Vec<(String, String)> = wanted
        .iter()
        .filter_map(|&i| recorded[i].digest.as_ref().ok())
        .map(|d| (d.digest_s3_bucket.clone(), d.digest_s3_object.clone()))
        .collect();
    let (mut fetched, mut failed) = (0, 0);
    for (&i, got) in wanted.iter().zip(from.signatures(&objects)) {
        match got {
            Ok(Some(sig)) => {
                let rec = &mut recorded[i];
                rec.signature = Some(sig.signature);
                rec.signature_algorithm = sig.algorithm;
                rec.backfill_generated = sig.backfill_generated;
                fetched += 1;
            }
            Ok(None) => failed += 1,
            Err(e) => {
                failed += 1;
                if failed <= 5 {
                    notes.push(format!(
                        "{}: its signature could not be fetched: {e}",
                        recorded[i].uri
                    ));
                }
            }
        }
    }
    if !wanted.is_empty() {
        notes.push(format!(
            "{fetched} of {} digests read without their S3 metadata got their signature from the digest objects in S3 ({failed} did not)",
            wanted.len()
        ));
    }
}

/// The ledger, found by what a digest names: an S3 object by bucket and key, a local copy
/// by its path from `AWSLogs/` on.
struct Ledger<'a> {
    sources: &'a BTreeMap<String, SourceEntry>,
    local: HashMap<&'a str, &'a SourceEntry>,
    quarantined: &'a BTreeMap<String, QuarantineEntry>,
}

impl<'a> Ledger<'a> {
    fn new(
        sources: &'a BTreeMap<String, SourceEntry>,
        quarantined: &'a BTreeMap<String, QuarantineEntry>,
    ) -> Self {
        let local = sources
            .values()
            .filter(|s| !s.uri.starts_with("s3://"))
            .filter_map(|s| Some((from_awslogs(&s.uri)?, s)))
            .collect();
        Ledger {
            sources,
            local,
            quarantined,
        }
    }

    fn find(&self, bucket: &str, key: &str) -> Option<&'a SourceEntry> {
        self.sources
            .get(&format!("s3://{bucket}/{key}"))
            .or_else(|| from_awslogs(key).and_then(|k| self.local.get(k).copied()))
    }

    /// Why the object was quarantined, if it was.
    fn quarantined(&self, bucket: &str, key: &str) -> Option<&'a QuarantineEntry> {
        self.quarantined
            .get(&format!("s3://{bucket}/{key}"))
            .or_else(|| {
                let suffix = from_awslogs(key)?;
                self.quarantined
                    .values()
                    .find(|q| !q.uri.starts_with("s3://") && from_awslogs(&q.uri) == Some(suffix))
            })
    }
}

/// What [`check_logs`] saw.
struct Logs {
    /// Ledger URIs of the log files some digest lists.
    listed: HashSet<String>,
    listed_count: usize,
    reread: usize,
}

/// Every log file each digest lists: in the lake, with the hash listed (and, with `reread`,
/// still so at its source).
fn check_logs(
    nodes: &mut [Node<'_>],
    ledger: &Ledger<'_>,
    reread: Option<&dyn Reread>,
    notes: &mut Vec<String>,
) -> Logs {
    let mut logs = Logs {
        listed: HashSet::new(),
        listed_count: 0,
        reread: 0,
    };
    for node in nodes {
        for l in &node.d.log_files {
            logs.listed_count += 1;
            let Some(entry) = ledger.find(&l.s3_bucket, &l.s3_object) else {
                let object = format!("s3://{}/{}", l.s3_bucket, l.s3_object);
                let message = match ledger.quarantined(&l.s3_bucket, &l.s3_object) {
                    Some(q) => format!(
                        "listed by {}; quarantined at ingest, so its events are not in the lake: {}",
                        node.rec.uri, q.reason
                    ),
                    None => format!(
                        "listed by {}; not in the lake: deleted from the bucket, or not ingested (ingest its prefix for this hour)",
                        node.rec.uri
                    ),
                };
                let p = node.problem(Kind::LogMissing, &object, message);
                node.log_problems.push(p);
                continue;
            };
            logs.listed.insert(entry.uri.clone());
            let problem = match &entry.sha256 {
                None => Some((
                    Kind::LogUnhashed,
                    "no SHA-256 recorded for it (ingested with --no-hash or by an older trawl, or the ledger was rebuilt): ingest the trail into a new lake to validate it".to_string(),
                )),
                Some(sha) if !sha.eq_ignore_ascii_case(&l.hash_value) => Some((
                    Kind::LogChanged,
                    format!(
                        "its content at ingest hashed to {sha}; {} lists SHA-256 {}: the file was changed after CloudTrail delivered it",
                        node.rec.uri, l.hash_value
                    ),
                )),
                Some(_) => match reread.map(|r| r.sha256(&entry.uri)) {
                    None => None,
                    Some(Ok(Some(now))) if now.eq_ignore_ascii_case(&l.hash_value) => {
                        logs.reread += 1;
                        None
                    }
                    Some(Ok(Some(now))) => Some((
                        Kind::SourceChanged,
                        format!(
                            "re-read at its source it hashes to {now}, not {} as its digest lists (the lake holds what was ingested, which matched)",
                            l.hash_value
                        ),
                    )),
                    Some(Ok(None)) => {
                        notes.push(format!(
                            "{}: no longer at its source; the hash recorded at ingest was checked",
                            entry.uri
                        ));
                        None
                    }
                    Some(Err(e)) => {
                        notes.push(format!(
                            "{}: could not be re-read at its source ({e}); the hash recorded at ingest was checked",
                            entry.uri
                        ));
                        None
                    }
                },
            };
            match problem {
                Some((kind, message)) => {
                    let p = node.problem(kind, &entry.uri, message);
                    node.log_problems.push(p);
                }
                None => node.logs_valid += 1,
            }
        }
    }
    logs
}

/// A digest's hour: invalid if the digest or a listed file's hash is at fault, missing if
/// only files are missing.
fn hour_of(node: &Node<'_>) -> Hour {
    let status = if !node.problems.is_empty()
        || node.log_problems.iter().any(|p| p.kind != Kind::LogMissing)
    {
        Status::Invalid
    } else if !node.log_problems.is_empty() {
        Status::Missing
    } else {
        Status::Valid
    };
    Hour {
        account: node.account.clone(),
        region: node.region.clone(),
        start: stamp(node.start),
        end: stamp(node.end),
        status,
        digest: Some(node.rec.uri.clone()),
        log_files: node.d.log_files.len(),
        log_files_valid: node.logs_valid,
        why: node
            .problems
            .iter()
            .chain(&node.log_problems)
            .map(|p| format!("{}: {}", p.object, p.message))
            .collect(),
    }
}

type Hours = BTreeMap<(String, String, String, String), Hour>;

/// What a validation covers: an object when its account and region are asked for and its
/// events (else its delivery hour) meet the window.
struct Scope<'a> {
    opts: &'a ValidateOptions,
    rows: &'a HashMap<String, SourceRows>,
}

impl Scope<'_> {
    fn object(&self, uri: &str) -> bool {
        let (account, region) = stream_of(uri).unwrap_or_default();
        if !self.opts.wants(account, region) {
            return false;
        }
        if self.opts.since.is_none() && self.opts.until.is_none() {
            return true;
        }
        let span = self.rows.get(uri).and_then(|r| {
            r.min_us
                .and_then(DateTime::from_timestamp_micros)
                .zip(r.max_us.and_then(DateTime::from_timestamp_micros))
        });
        match (span, delivery_hour(uri)) {
            (Some((a, b)), _) => self.opts.spans(a, b + Duration::microseconds(1)),
            (None, Some(h)) => self.opts.spans(h, h + Duration::hours(1)),
            (None, None) => true,
        }
    }
}

/// Objects in the lake that no digest lists (digest files themselves aside), as problems
/// and as hours of their own. Returns how many.
fn not_covered(
    sources: &BTreeMap<String, SourceEntry>,
    listed: &HashSet<String>,
    scope: &Scope<'_>,
    hours: &mut Hours,
    problems: &mut Vec<Problem>,
) -> usize {
    let mut count = 0;
    for s in sources.values() {
        if s.digests > 0 || listed.contains(&s.uri) || !scope.object(&s.uri) {
            continue;
        }
        let (account, region) = stream_of(&s.uri).unwrap_or_default();
        let span = scope.rows.get(&s.uri).copied().unwrap_or_default();
        let hour = delivery_hour(&s.uri).or_else(|| {
            span.min_us
                .and_then(DateTime::from_timestamp_micros)
                .map(|t| t - Duration::seconds(t.timestamp().rem_euclid(3600)))
        });
        count += 1;
        let end = hour.map(|h| h + Duration::hours(1));
        let from = span.min_us.and_then(stamp_us).or_else(|| hour.map(stamp));
        let to = span.max_us.and_then(stamp_us).or_else(|| end.map(stamp));
        let message = format!(
            "in the lake ({} events) but no digest file lists it: ingest the trail's CloudTrail-Digest/ files for {}, or the file did not come from CloudTrail's delivery",
            span.rows,
            match (&from, &to) {
                (Some(f), Some(t)) => format!("{f} to {t}"),
                _ => "its hour".into(),
            }
        );
        problems.push(
            Problem::new(Kind::NotCovered, &s.uri, message.clone())
                .at(account, region)
                .between(from, to),
        );
        let start = hour.map(stamp).unwrap_or_default();
        let row = hours
            .entry((account.into(), region.into(), start.clone(), String::new()))
            .or_insert_with(|| Hour {
                account: account.into(),
                region: region.into(),
                start,
                end: end.map(stamp).unwrap_or_default(),
                status: Status::NotCovered,
                digest: None,
                log_files: 0,
                log_files_valid: 0,
                why: Vec::new(),
            });
        row.log_files += 1;
        row.why.push(format!("{}: {message}", s.uri));
    }
    count
}

/// The rows of the objects in scope, and of those the rows whose source is a file of a
/// valid hour. Rows naming a source the ledger does not know are problems.
fn trace_rows(
    scope: &Scope<'_>,
    sources: &BTreeMap<String, SourceEntry>,
    valid_files: &HashSet<&str>,
    problems: &mut Vec<Problem>,
) -> (u64, u64) {
    let (mut total, mut validated) = (0, 0);
    for (uri, r) in scope.rows {
        if !scope.object(uri) {
            continue;
        }
        let (account, region) = stream_of(uri).unwrap_or_default();
        total += r.rows;
        if valid_files.contains(uri.as_str()) {
            validated += r.rows;
        } else if !sources.contains_key(uri) {
            let message = format!(
                "{} event rows name it as their source, but the ledger does not (a rebuilt ledger?): its hash is unknown",
                r.rows
            );
            problems.push(
                Problem::new(Kind::NotCovered, uri, message)
                    .at(account, region)
                    .between(r.min_us.and_then(stamp_us), r.max_us.and_then(stamp_us)),
            );
        }
    }
    (total, validated)
}

/// The hour a CloudTrail log file was delivered in, from its name (`..._20240301T1205Z_...`).
fn delivery_hour(uri: &str) -> Option<DateTime<Utc>> {
    let stamp = trawl_ingest::delivery_stamp(uri)?;
    let (day, hhmm) = (stamp / 10_000, stamp % 10_000);
    let date = chrono::NaiveDate::parse_from_str(&day.to_string(), "%Y%m%d").ok()?;
    let t = date.and_hms_opt(u32::try_from(hhmm / 100).ok()?, 0, 0)?;
    Some(t.and_utc())
}

/// Consecutive valid hours merged, per account and region.
fn ranges(hours: &[Hour]) -> Vec<Range> {
    let mut out: Vec<Range> = Vec::new();
    for h in hours.iter().filter(|h| h.status == Status::Valid) {
        match out.last_mut() {
            Some(r) if r.account == h.account && r.region == h.region && r.to == h.start => {
                r.to = h.end.clone();
            }
            _ => out.push(Range {
                account: h.account.clone(),
                region: h.region.clone(),
                from: h.start.clone(),
                to: h.end.clone(),
            }),
        }
    }
    out
}
