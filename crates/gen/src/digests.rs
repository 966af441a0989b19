//! CloudTrail digest files for a generated trail: one per account, region and hour, listing
//! the SHA-256 of each log file delivered in that hour, chained to the digest before it and
//! signed (SHA256withRSA) with a test key. The signature goes where S3 keeps it, the object's
//! user metadata, written as `trawl-s3-fake` serves it (`.s3meta/<key>.json` in the bucket's
//! directory). The format follows AWS's "CloudTrail digest file structure" page and the
//! string that `aws cloudtrail validate-logs` checks.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::Path;

use base64::Engine;
use chrono::{DateTime, Duration, DurationRound, Utc};
use ring::signature::{KeyPair, RSA_PKCS1_SHA256, RsaKeyPair};
use serde_json::{Value, json};

use crate::LogFile;

/// The generator's test signing key (2048-bit RSA, PKCS#1 DER; `fixtures/custody/`). It
/// signs generated digests only: it is not, and cannot stand for, CloudTrail's key.
pub const TEST_SIGNING_KEY: &[u8] = include_bytes!("../../../fixtures/custody/test-key-1.rsa.der");

/// Where the user metadata of an object of a bucket directory is written (what
/// `trawl-s3-fake` serves as `x-amz-meta-*`).
const METADATA_DIR: &str = ".s3meta";

/// The SHA-256 of `bytes`, lowercase hex.
pub(crate) fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(ring::digest::digest(&ring::digest::SHA256, bytes))
}

/// An RSA key that signs digests as CloudTrail does.
pub struct Signer {
    key: RsaKeyPair,
    fingerprint: String,
}

impl Signer {
    /// A signer from an RSA private key in PKCS#1 DER.
    pub fn new(der: &[u8]) -> std::io::Result<Self> {
        let key = RsaKeyPair::from_der(der)
            .map_err(|e| std::io::Error::other(format!("not an RSA private key: {e}")))?;
        // CloudTrail's fingerprints are 32 hex digits; ours: the first 128 bits of the
        // public key's SHA-256 (validators match them as given, never recompute them).
        let fingerprint = sha256_hex(key.public_key().as_ref())[..32].to_string();
        Ok(Signer { key, fingerprint })
    }

    /// The generator's built-in test key ([`TEST_SIGNING_KEY`]).
    pub fn test_key() -> Self {
        Signer::new(TEST_SIGNING_KEY).expect("the built-in test key is an RSA key")
    }

    /// The public key, DER-encoded `RSAPublicKey` (PKCS#1), as `ListPublicKeys` gives it.
    pub fn public_key_der(&self) -> &[u8] {
        self.key.public_key().as_ref()
    }

    pub fn fingerprint(&self) -> &str {
        &self.fingerprint
    }

    /// The SHA256withRSA (PKCS#1 v1.5) signature of `message`, lowercase hex.
    pub fn sign(&self, message: &[u8]) -> String {
        let mut sig = vec![0; self.key.public().modulus_len()];
        self.key
            .sign(
                &RSA_PKCS1_SHA256,
                &ring::rand::SystemRandom::new(),
                message,
                &mut sig,
            )
            .expect("RSA signing with a valid key");
        hex::encode(sig)
    }

    /// This key in the shape `aws cloudtrail list-public-keys` prints, valid from `from`
    /// to `to`.
    pub fn public_keys_json(&self, from: DateTime<Utc>, to: DateTime<Utc>) -> Value {
        json!({"PublicKeyList": [{
            "Value": base64::engine::general_purpose::STANDARD.encode(self.public_key_der()),
            "ValidityStartTime": from.to_rfc3339(),
            "ValidityEndTime": to.to_rfc3339(),
            "Fingerprint": self.fingerprint,
        }]})
    }
}

impl std::fmt::Debug for Signer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Signer")
            .field("fingerprint", &self.fingerprint)
            .finish_non_exhaustive()
    }
}

/// The bucket and trail the digests name.
#[derive(Debug, Clone)]
pub struct DigestSpec {
    /// The bucket the trail is in (`digestS3Bucket`, each log file's `s3Bucket`).
    pub bucket: String,
    pub trail: String,
    /// The trail's home region (in digest file names).
    pub home_region: String,
}

impl Default for DigestSpec {
    fn default() -> Self {
        DigestSpec {
            bucket: "trawl-gen-trail".into(),
            trail: "trawl-gen".into(),
            home_region: "us-east-1".into(),
        }
    }
}

/// What [`write_digests`] wrote.
#[derive(Debug, Clone, Default)]
pub struct DigestStats {
    pub digests: usize,
    /// The digest files' keys, in the order written.
    pub keys: Vec<String>,
    pub first_start: Option<DateTime<Utc>>,
    pub last_end: Option<DateTime<Utc>>,
}

/// Writes one digest file per account, region and hour under `dir`, from the hour of each
/// chain's first delivered log file to the hour of its last (hours with no log file get a
/// digest too, as CloudTrail writes them), each signed by `signer`. The trail must have been
/// written with [`TrailSpec::hash_files`](crate::TrailSpec::hash_files).
pub fn write_digests(
    dir: &Path,
    logs: &[LogFile],
    spec: &DigestSpec,
    signer: &Signer,
) -> std::io::Result<DigestStats> {
    if let Some(log) = logs.iter().find(|l| l.sha256.is_none()) {
        return Err(std::io::Error::new(
            std::io::ErrorKind::InvalidInput,
            format!(
                "{}: no SHA-256 kept for it: write the trail with TrailSpec::hash_files",
                log.key
            ),
        ));
    }
    let mut chains: BTreeMap<(&str, &str), Vec<&LogFile>> = BTreeMap::new();
    for log in logs {
        chains
            .entry((log.account.as_str(), log.region.as_str()))
            .or_default()
            .push(log);
    }
    // CloudTrail writes a digest every hour in every region of a trail, files or not: each
    // account's chains span the same hours, from its first delivery to its last.
    let hour = Duration::hours(1);
    let mut span: BTreeMap<&str, (DateTime<Utc>, DateTime<Utc>)> = BTreeMap::new();
    for log in logs {
        let s = span
            .entry(&log.account)
            .or_insert((log.delivered, log.delivered));
        s.0 = s.0.min(log.delivered);
        s.1 = s.1.max(log.delivered);
    }
    let mut stats = DigestStats::default();
    for ((account, region), mut files) in chains {
        files.sort_by_key(|f| f.delivered);
        let (first, last) = span[account];
        let first = first.duration_trunc(hour).expect("an hour");
        let mut previous: Option<(String, String, String)> = None; // key, sha256, signature
        let mut start = first;
        let mut next = files.iter().peekable();
        while start <= last {
            let end = start + hour;
            let mut listed = Vec::new();
            while let Some(f) = next.next_if(|f| f.delivered < end) {
                listed.push(*f);
            }
            let key = digest_key(account, region, spec, end);
            let body = digest_body(account, start, end, &key, spec, signer, &listed, &previous);
            let text = serde_json::to_vec(&body).expect("serialisable");
            let sha256 = sha256_hex(&text);
            let signed = format!(
                "{}\n{}/{}\n{}\n{}",
                stamp(end),
                spec.bucket,
                key,
                sha256,
                previous.as_ref().map_or("null", |p| p.2.as_str())
            );
            let signature = signer.sign(signed.as_bytes());
            write_gz(&dir.join(&key), &text)?;
            let meta = dir.join(METADATA_DIR).join(format!("{key}.json"));
            std::fs::create_dir_all(meta.parent().expect("has a parent"))?;
            std::fs::write(
                meta,
                json!({"signature": signature, "signature-algorithm": "SHA256withRSA"}).to_string(),
            )?;
            stats.digests += 1;
            stats.keys.push(key.clone());
            stats.first_start = Some(stats.first_start.map_or(start, |s| s.min(start)));
            stats.last_end = Some(stats.last_end.map_or(end, |e| e.max(end)));
            previous = Some((key, sha256, signature));
            start = end;
        }
    }
    Ok(stats)
}

/// CloudTrail's time format in digests (`2015-08-17T15:01:31Z`).
fn stamp(t: DateTime<Utc>) -> String {
    t.format("%Y-%m-%dT%H:%M:%SZ").to_string()
}

/// `AWSLogs/<account>/CloudTrail-Digest/<region>/<Y/m/d of end>/<account>_CloudTrail-Digest_
/// <region>_<trail>_<home region>_<end>.json.gz`.
fn digest_key(account: &str, region: &str, spec: &DigestSpec, end: DateTime<Utc>) -> String {
    format!(
        "AWSLogs/{account}/CloudTrail-Digest/{region}/{}/{account}_CloudTrail-Digest_{region}_{}_{}_{}.json.gz",
        end.format("%Y/%m/%d"),
        spec.trail,
        spec.home_region,
        end.format("%Y%m%dT%H%M%SZ")
    )
}

#[allow(clippy::too_many_arguments, reason = "one digest's fields, each named")]
fn digest_body(
    account: &str,
    start: DateTime<Utc>,
    end: DateTime<Utc>,
    key: &str,
    spec: &DigestSpec,
    signer: &Signer,
    listed: &[&LogFile],
    previous: &Option<(String, String, String)>,
) -> Value {
    let oldest = listed.iter().filter_map(|f| f.oldest_event.clone()).min();
    let newest = listed.iter().filter_map(|f| f.newest_event.clone()).max();
    let files: Vec<Value> = listed
        .iter()
        .map(|f| {
            json!({
                "s3Bucket": spec.bucket,
                "s3Object": f.key,
                "hashValue": f.sha256,
                "hashAlgorithm": "SHA-256",
                "newestEventTime": f.newest_event,
                "oldestEventTime": f.oldest_event,
            })
        })
        .collect();
    json!({
        "awsAccountId": account,
        "digestStartTime": stamp(start),
        "digestEndTime": stamp(end),
        "digestS3Bucket": spec.bucket,
        "digestS3Object": key,
        "digestPublicKeyFingerprint": signer.fingerprint(),
        "digestSignatureAlgorithm": "SHA256withRSA",
        "newestEventTime": newest,
        "oldestEventTime": oldest,
        "previousDigestS3Bucket": previous.as_ref().map(|_| &spec.bucket),
        "previousDigestS3Object": previous.as_ref().map(|p| &p.0),
        "previousDigestHashValue": previous.as_ref().map(|p| &p.1),
        "previousDigestHashAlgorithm": previous.as_ref().map(|_| "SHA-256"),
        "previousDigestSignature": previous.as_ref().map(|p| &p.2),
        "logFiles": files,
    })
}

fn write_gz(path: &Path, text: &[u8]) -> std::io::Result<()> {
    std::fs::create_dir_all(path.parent().expect("has a parent"))?;
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::new(6));
    gz.write_all(text)?;
    std::fs::write(path, gz.finish()?)
}
