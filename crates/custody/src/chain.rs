//! Each digest by itself (where it was read, its signature) and linked to the one before it.

use std::collections::{BTreeMap, HashMap};

use chrono::{DateTime, Duration, Utc};
use trawl_ingest::layout::stream_of;

use crate::PublicKeys;
use crate::digest::{self, Digest, Recorded, from_awslogs, parse_time, string_to_sign};
use crate::model::{Kind, Problem, ValidateOptions};

pub(crate) fn stamp(t: DateTime<Utc>) -> String {
    t.format("%Y-%m-%dT%H:%M:%SZ").to_string()
}

pub(crate) fn stamp_us(us: i64) -> Option<String> {
    DateTime::from_timestamp_micros(us).map(stamp)
}

/// A digest that parsed, with where it sits.
pub(crate) struct Node<'a> {
    pub(crate) rec: &'a Recorded,
    pub(crate) d: &'a Digest,
    pub(crate) account: String,
    pub(crate) region: String,
    pub(crate) start: DateTime<Utc>,
    pub(crate) end: DateTime<Utc>,
    /// Problems of the digest itself (signature, format, chain).
    pub(crate) problems: Vec<Problem>,
    /// Problems of the log files it lists.
    pub(crate) log_problems: Vec<Problem>,
    pub(crate) logs_valid: usize,
}

impl Node<'_> {
    /// Records a problem of the digest itself.
    fn fail(&mut self, kind: Kind, object: &str, message: String) {
        let p = self.problem(kind, object, message);
        self.problems.push(p);
    }

    pub(crate) fn problem(&self, kind: Kind, object: &str, message: String) -> Problem {
        Problem::new(kind, object, message)
            .at(&self.account, &self.region)
            .between(Some(stamp(self.start)), Some(stamp(self.end)))
    }
}

/// A digest key's parts: its folder, and its file name
/// `{account}_CloudTrail-Digest_{region}_{trail}_{home}_{YYYYMMDDTHHMMSSZ}[_backfill].json.gz`
/// cut into the name without the time (`stem`), the time, and whether it is a backfill.
struct KeyName<'a> {
    dir: &'a str,
    stem: &'a str,
    time: &'a str,
    backfill: bool,
}

fn key_name(key: &str) -> Option<KeyName<'_>> {
    let (dir, name) = key.rsplit_once('/').unwrap_or(("", key));
    let name = name.strip_suffix(".json.gz")?;
    let (name, backfill) = match name.strip_suffix("_backfill") {
        Some(name) => (name, true),
        None => (name, false),
    };
    let (stem, time) = name.rsplit_once('_')?;
    Some(KeyName {
        dir,
        stem,
        time,
        backfill,
    })
}

/// One chain per bucket, prefix, account, region, trail and home region (several trails may
/// share a bucket): the key without its date folders and time. Backfill digests chain among
/// themselves. A key of another shape is a chain of its own.
fn chain_of(d: &Digest) -> String {
    let key = &d.digest_s3_object;
    match key_name(key) {
        Some(k) => {
            let dir = k.dir.rsplitn(4, '/').nth(3).unwrap_or(k.dir);
            let kind = if k.backfill { "#backfill" } else { "" };
            format!("{}/{dir}/{}{kind}", d.digest_s3_bucket, k.stem)
        }
        None => format!("{}/{key}", d.digest_s3_bucket),
    }
}

/// The trail a chain belongs to: the chain without its region (its folder and the
/// `_{region}_` of its file names), so a region whose digests stop shows against the others.
fn trail_of(chain: &str, region: &str) -> String {
    chain
        .replace(&format!("/{region}/"), "/*/")
        .replace(&format!("_{region}_"), "_*_")
}

/// Whether `uri` is where the digest says it was delivered.
fn in_place(uri: &str, d: &Digest) -> bool {
    uri == format!("s3://{}/{}", d.digest_s3_bucket, d.digest_s3_object)
        || (!uri.starts_with("s3://")
            && from_awslogs(uri).is_some()
            && from_awslogs(uri) == from_awslogs(&d.digest_s3_object))
}

/// Whether a digest, with its hour, is in a validation's scope.
pub(crate) type InScope<'s> = dyn Fn(&Digest, DateTime<Utc>, DateTime<Utc>) -> bool + 's;

/// The digests in the accounts and regions asked for that `in_scope` keeps (given the
/// digest and its hour), each with its signature checked; digests that cannot be read are
/// problems.
pub(crate) fn nodes<'a>(
    recorded: &'a [Recorded],
    keys: &PublicKeys,
    opts: &ValidateOptions,
    in_scope: &InScope<'_>,
    problems: &mut Vec<Problem>,
) -> Vec<Node<'a>> {
    let mut nodes = Vec::new();
    for rec in recorded {
        let d = match &rec.digest {
            Ok(d) => d,
            Err(e) => {
                problems.push(Problem::new(
                    Kind::BadDigest,
                    &rec.uri,
                    format!("not a digest file validation can read ({e})"),
                ));
                continue;
            }
        };
        let (account, region) = stream_of(&d.digest_s3_object)
            .map(|(a, r)| (a.to_string(), r.to_string()))
            .unwrap_or_else(|| (d.aws_account_id.clone().unwrap_or_default(), String::new()));
        let (Some(start), Some(end)) = (
            parse_time(&d.digest_start_time),
            parse_time(&d.digest_end_time),
        ) else {
            problems.push(
                Problem::new(
                    Kind::BadDigest,
                    &rec.uri,
                    format!(
                        "digestStartTime {:?} or digestEndTime {:?} is not a time",
                        d.digest_start_time, d.digest_end_time
                    ),
                )
                .at(&account, &region),
            );
            continue;
        };
        if !opts.wants(&account, &region) || !in_scope(d, start, end) {
            continue;
        }
        let mut node = Node {
            rec,
            d,
            account,
            region,
            start,
            end,
            problems: Vec::new(),
            log_problems: Vec::new(),
            logs_valid: 0,
        };
        check_signature(&mut node, keys);
        nodes.push(node);
    }
    nodes
}

/// The signature of a digest, with the key its fingerprint names.
fn check_signature(node: &mut Node<'_>, keys: &PublicKeys) {
    let rec = node.rec;
    let d = node.d;
    let uri = rec.uri.as_str();
    if !in_place(uri, d) {
        node.fail(
            Kind::Moved,
            uri,
            format!(
                "the digest says it was delivered to s3://{}/{}: it has been moved or copied under another name",
                d.digest_s3_bucket, d.digest_s3_object
            ),
        );
    }
    let Some(sha) = &rec.sha256 else {
        node.fail(
            Kind::BadDigest,
            uri,
            "recorded by a trawl that did not hash digest files: ingest the digests into a new lake".into(),
        );
        return;
    };
    let Some(signature) = &rec.signature else {
        node.fail(
            Kind::Unsigned,
            uri,
            "no signature: S3 keeps it in the digest object's metadata (x-amz-meta-signature), which a local copy does not have: validate with --fetch-signatures, or ingest the CloudTrail-Digest/ prefix from S3".into(),
        );
        return;
    };
    if let Some(alg) = rec
        .signature_algorithm
        .as_deref()
        .or(d.digest_signature_algorithm.as_deref())
        && alg != "SHA256withRSA"
    {
        node.fail(
            Kind::BadSignature,
            uri,
            format!("signature algorithm {alg:?}: only SHA256withRSA is known"),
        );
        return;
    }
    let fingerprint = &d.digest_public_key_fingerprint;
    let candidates = keys.get(fingerprint);
    if candidates.is_empty() {
        node.fail(
            Kind::UnknownKey,
            uri,
            format!(
                "signed with public key {fingerprint}, which is not among the keys given: save `aws cloudtrail list-public-keys --start-time {}` from this account and region to a file and pass it with --public-keys, or use --fetch-keys",
                stamp(node.start)
            ),
        );
        return;
    }
    // A backfill digest is signed with the key of when it was generated.
    let signed_at = if key_name(&d.digest_s3_object).is_some_and(|k| k.backfill) {
        match rec.backfill_generated.as_deref().and_then(parse_time) {
            Some(t) => t,
            None => {
                node.fail(
                    Kind::BadDigest,
                    uri,
                    "a backfill digest without a valid backfill-generation-timestamp in its S3 metadata".into(),
                );
                return;
            }
        }
    } else {
        node.end
    };
    let message = string_to_sign(d, sha);
    match candidates
        .iter()
        .find(|k| digest::verify(&k.der, message.as_bytes(), signature))
    {
        None => {
            node.fail(
                Kind::BadSignature,
                uri,
                format!("the signature does not verify with public key {fingerprint}: the digest, or its signature, was changed"),
            );
        }
        Some(k) if !k.valid_at(signed_at) => {
            node.fail(
                Kind::BadSignature,
                uri,
                format!("signed with public key {fingerprint} outside the key's validity window"),
            );
        }
        Some(_) => {}
    }
}

/// The digests the lake holds near the scope, by `(bucket, key)`, and the window they were
/// read for: where a chain's link out of the scope is looked up.
pub(crate) struct Around<'a> {
    pub(crate) recorded: HashMap<(String, String), &'a Recorded>,
    pub(crate) read: ValidateOptions,
}

impl<'a> Around<'a> {
    pub(crate) fn new(recorded: &'a [Recorded], read: ValidateOptions) -> Self {
        let recorded = recorded
            .iter()
            .filter_map(|r| {
                let d = r.digest.as_ref().ok()?;
                Some(((d.digest_s3_bucket.clone(), d.digest_s3_object.clone()), r))
            })
            .collect();
        Around { recorded, read }
    }
}

/// Links each digest to the one before it, per chain.
pub(crate) fn check_chains(
    nodes: &mut [Node<'_>],
    lake: &Around<'_>,
    notes: &mut Vec<String>,
    stops: &mut Vec<Problem>,
) {
    let mut chains: BTreeMap<String, Vec<usize>> = BTreeMap::new();
    for (i, n) in nodes.iter().enumerate() {
        chains.entry(chain_of(n.d)).or_default().push(i);
    }
    let mut trail_end: HashMap<String, DateTime<Utc>> = HashMap::new();
    for (chain, members) in chains.iter().filter(|(c, _)| !c.ends_with("#backfill")) {
        let region = &nodes[members[0]].region;
        let t = trail_end
            .entry(trail_of(chain, region))
            .or_insert(nodes[members[0]].end);
        for &i in members {
            *t = (*t).max(nodes[i].end);
        }
    }
    for (chain, mut members) in chains {
        members.sort_by_key(|&i| (nodes[i].end, nodes[i].rec.uri.clone()));
        let by_key: HashMap<(String, String), usize> = members
            .iter()
            .map(|&i| {
                (
                    (
                        nodes[i].d.digest_s3_bucket.clone(),
                        nodes[i].d.digest_s3_object.clone(),
                    ),
                    i,
                )
            })
            .collect();
        let first_end = nodes[members[0]].end;
        let mut successors: HashMap<usize, Vec<usize>> = HashMap::new();
        for (pos, &i) in members.iter().enumerate() {
            let (prev_bucket, prev_key) = match (
                &nodes[i].d.previous_digest_s3_bucket,
                &nodes[i].d.previous_digest_s3_object,
            ) {
                (Some(b), Some(k)) => (b.clone(), k.clone()),
                _ => {
                    if pos > 0 {
                        let before = &nodes[members[pos - 1]];
                        notes.push(format!(
                            "{}: the chain restarts here (no previous digest): log file validation was off, or the trail stopped, between {} and {}",
                            nodes[i].rec.uri,
                            stamp(before.end),
                            stamp(nodes[i].start)
                        ));
                    }
                    continue;
                }
            };
            let named = (prev_bucket.clone(), prev_key.clone());
            // The digest before: validated here, or in the lake but out of this scope.
            let before = match by_key.get(&named) {
                Some(&p) => {
                    successors.entry(p).or_default().push(i);
                    Some(nodes[p].rec)
                }
                None => lake.recorded.get(&named).copied(),
            };
            let Some(before) = before else {
                let prev_end = digest_key_time(&prev_key);
                // Missing only where the lake's digests were read and a chain runs on both
                // sides of it.
                let looked = prev_end.is_some_and(|e| lake.read.spans(e - Duration::hours(1), e));
                if pos == 0 || !looked || prev_end.is_some_and(|e| e < first_end) {
                    notes.push(format!(
                        "{}: validation of this chain starts here; the digest before it (s3://{prev_bucket}/{prev_key}) is not in the lake or not in the window",
                        nodes[i].rec.uri
                    ));
                } else {
                    let prob = nodes[i].problem(
                        Kind::MissingDigest,
                        &format!("s3://{prev_bucket}/{prev_key}"),
                        format!(
                            "named as the previous digest by {}, and not in the lake: deleted from the bucket, or not ingested",
                            nodes[i].rec.uri
                        ),
                    );
                    nodes[i].problems.push(prob);
                }
                continue;
            };
            // The link: the previous digest's hash and signature, as this one names them.
            let d = nodes[i].d;
            let links = [
                (
                    "previousDigestHashValue",
                    &d.previous_digest_hash_value,
                    before.sha256.clone(),
                    "its SHA-256 is",
                ),
                (
                    "previousDigestSignature",
                    &d.previous_digest_signature,
                    before.signature.clone(),
                    "its signature is",
                ),
            ];
            for (field, want, got, what) in links {
                if let (Some(want), Some(got)) = (want, got)
                    && !want.eq_ignore_ascii_case(&got)
                {
                    let message = format!(
                        "{field} is {want}, but the previous digest {} does not match ({what} {got})",
                        before.uri
                    );
                    let prob = nodes[i].problem(Kind::ChainMismatch, &nodes[i].rec.uri, message);
                    nodes[i].problems.push(prob);
                }
            }
        }
        for (p, next) in successors {
            if next.len() > 1 {
                let names: Vec<&str> = next.iter().map(|&i| nodes[i].rec.uri.as_str()).collect();
                let prob = nodes[p].problem(
                    Kind::Fork,
                    &nodes[p].rec.uri.clone(),
                    format!(
                        "named as the previous digest by {} digests: {}",
                        next.len(),
                        names.join(", ")
                    ),
                );
                nodes[p].problems.push(prob);
            }
        }
        // A region whose digests stop while the trail's other regions go on.
        if chain.ends_with("#backfill") {
            continue;
        }
        let last = *members.last().expect("a chain has a digest");
        let region = nodes[last].region.clone();
        if let Some(&end) = trail_end.get(&trail_of(&chain, &region))
            && end - nodes[last].end > Duration::hours(2)
        {
            let prob = nodes[last].problem(
                Kind::DigestsStop,
                &nodes[last].rec.uri.clone(),
                format!(
                    "the last digest of {} {region}: its digests stop at {} while the trail's other regions have digests to {}; the digests after it were deleted, or the trail stopped delivering in this region",
                    nodes[last].account,
                    stamp(nodes[last].end),
                    stamp(end)
                ),
            );
            stops.push(prob);
        }
    }
}

/// The time in a digest key's name (`..._20150817T150131Z.json.gz`).
fn digest_key_time(key: &str) -> Option<DateTime<Utc>> {
    chrono::NaiveDateTime::parse_from_str(key_name(key)?.time, "%Y%m%dT%H%M%SZ")
        .ok()
        .map(|t| t.and_utc())
}
