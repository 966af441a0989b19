//! `trawl validate`: a generated trail with signed digest files, served by an S3 endpoint on
//! loopback that gives each digest's signature as object metadata (as S3 does), ingested
//! from S3, then validated; and each kind of tampering, named by the report, exit code 1.

#![allow(clippy::unwrap_used, reason = "a test's unwrap is its failure message")]

use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::Output;

use serde_json::Value;
use trawl_gen::{DigestSpec, LogFile, Signer};
use trawl_s3_fake::FakeS3;

const BUCKET: &str = "evidence";

/// A trail with digests in `root/evidence/`, served over S3.
struct Case {
    tmp: tempfile::TempDir,
    s3: FakeS3,
    logs: Vec<LogFile>,
    /// Digest keys, chain by chain, each chain in time order.
    digests: Vec<String>,
}

fn case() -> Case {
    let tmp = tempfile::tempdir().unwrap();
    let trail = tmp.path().join("root").join(BUCKET);
    let spec = trawl_gen::TrailSpec {
        events: 1500,
        days: 1,
        events_per_file: 60,
        duplicate_rate: 0.0,
        hash_files: true,
        ..trawl_gen::TrailSpec::default()
    };
    let stats = trawl_gen::write_trail(&trail, &spec).unwrap();
    let signer = Signer::test_key();
    let d = trawl_gen::write_digests(
        &trail,
        &stats.logs,
        &DigestSpec {
            bucket: BUCKET.into(),
            ..DigestSpec::default()
        },
        &signer,
    )
    .unwrap();
    let keys = signer.public_keys_json(
        d.first_start.unwrap() - chrono::Duration::days(30),
        d.last_end.unwrap() + chrono::Duration::days(30),
    );
    std::fs::write(tmp.path().join("keys.json"), keys.to_string()).unwrap();
    let s3 = trawl_testkit::s3(&tmp.path().join("root"), Default::default());
    Case {
        tmp,
        s3,
        logs: stats.logs,
        digests: d.keys,
    }
}

impl Case {
    fn trail(&self) -> PathBuf {
        self.tmp.path().join("root").join(BUCKET)
    }
    fn lake(&self) -> String {
        self.tmp.path().join("lake").display().to_string()
    }
    fn trawl(&self, args: &[&str]) -> Output {
        self.trawl_env(args, &[])
    }
    fn trawl_env(&self, args: &[&str], envs: &[(&str, &str)]) -> Output {
        trawl_testkit::trawl_s3_client(env!("CARGO_BIN_EXE_trawl"))
            .args(args)
            .envs(envs.iter().copied())
            .output()
            .unwrap()
    }
    fn ingest_s3(&self) {
        let endpoint = self.s3.endpoint();
        let lake = self.lake();
        let out = self.trawl(&[
            "ingest",
            "--lake",
            &lake,
            "--json",
            "--endpoint-url",
            &endpoint,
            "s3://evidence/",
        ]);
        assert!(out.status.success(), "{}", trawl_testkit::stderr(&out));
    }
    /// `trawl validate --format json`: the exit code and the evidence.
    fn validate(&self, extra: &[&str]) -> (i32, Value) {
        self.validate_lake(&self.lake(), extra)
    }
    /// [`Case::validate`] of another lake.
    fn validate_lake(&self, lake: &str, extra: &[&str]) -> (i32, Value) {
        let keys = self.tmp.path().join("keys.json").display().to_string();
        let endpoint = self.s3.endpoint();
        let mut args = vec![
            "validate",
            "--lake",
            lake,
            "--public-keys",
            &keys,
            "--format",
            "json",
            "--endpoint-url",
            &endpoint,
        ];
        args.extend_from_slice(extra);
        let out = self.trawl(&args);
        let v: Value = serde_json::from_slice(&out.stdout)
            .unwrap_or_else(|e| panic!("JSON ({e}): {}", trawl_testkit::stderr(&out)));
        (out.status.code().unwrap(), v)
    }
    /// Whether `trawl report --format json` marks its (all-time) dashboard validated.
    fn report_validated(&self) -> Option<bool> {
        let lake = self.lake();
        let out = self.trawl(&[
            "report",
            "general-operations",
            "--lake",
            &lake,
            "--all-time",
            "--format",
            "json",
        ]);
        let v: Value = serde_json::from_slice(&out.stdout).unwrap();
        v["validated"][0].as_bool()
    }
    fn path(&self, key: &str) -> PathBuf {
        self.trail().join(key)
    }
    fn uri(key: &str) -> String {
        format!("s3://{BUCKET}/{key}")
    }
    /// The digest files of one chain (account and region), in time order.
    fn chain(&self, account: &str, region: &str) -> Vec<String> {
        let dir = format!("AWSLogs/{account}/CloudTrail-Digest/{region}/");
        self.digests
            .iter()
            .filter(|k| k.starts_with(&dir))
            .cloned()
            .collect()
    }
    fn delete_digest(&self, key: &str) {
        std::fs::remove_file(self.path(key)).unwrap();
        std::fs::remove_file(self.trail().join(".s3meta").join(format!("{key}.json"))).unwrap();
    }
    /// The log files a digest lists.
    fn listed(&self, digest: &str) -> Vec<String> {
        let d: Value = serde_json::from_slice(&gunzip(&self.path(digest))).unwrap();
        d["logFiles"]
            .as_array()
            .unwrap()
            .iter()
            .map(|l| l["s3Object"].as_str().unwrap().to_string())
            .collect()
    }
}

fn gunzip(path: &Path) -> Vec<u8> {
    let mut out = Vec::new();
    flate2::read::MultiGzDecoder::new(std::fs::File::open(path).unwrap())
        .read_to_end(&mut out)
        .unwrap();
    out
}

fn gzip(path: &Path, text: &[u8]) {
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    gz.write_all(text).unwrap();
    std::fs::write(path, gz.finish().unwrap()).unwrap();
}

/// The problems of the evidence, as (kind, object).
fn problems(v: &Value) -> Vec<(String, String)> {
    v["problems"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| {
            (
                p["kind"].as_str().unwrap().to_string(),
                p["object"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

fn has(v: &Value, kind: &str, object: &str) -> bool {
    problems(v).iter().any(|(k, o)| k == kind && o == object)
}

#[test]
fn an_untouched_trail_from_s3_is_valid_to_the_last_row() {
    let c = case();
    c.ingest_s3();
    let (code, v) = c.validate(&[]);
    let s = &v["summary"];
    assert_eq!(code, 0, "{v:#}");
    assert_eq!(s["digests"], c.digests.len());
    assert_eq!(s["digests_valid"], c.digests.len());
    assert_eq!(s["log_files"], c.logs.len());
    assert_eq!(s["log_files_valid"], c.logs.len());
    assert_eq!(s["not_covered"], 0);
    assert_eq!(s["rows"], 1500);
    assert_eq!(s["rows_validated"], 1500);
    assert!(problems(&v).is_empty(), "{v:#}");
    // One valid range per account and region (the chains are unbroken).
    assert_eq!(v["valid_ranges"].as_array().unwrap().len(), 6, "{v:#}");
    // Kept in the lake for the report.
    let kept: Value = serde_json::from_slice(
        &std::fs::read(Path::new(&c.lake()).join("_trawl/custody/validation.json")).unwrap(),
    )
    .unwrap();
    assert_eq!(kept["summary"], v["summary"]);
    // Scoped to one account, region and window: only its hours, rows and digests.
    let (code, scoped) = c.validate(&[
        "--accounts",
        "111122223333",
        "--regions",
        "eu-west-1",
        "--since",
        "2024-03-01T06:00:00Z",
        "--until",
        "2024-03-01T12:00:00Z",
    ]);
    assert_eq!(code, 0, "{scoped:#}");
    let hours = scoped["hours"].as_array().unwrap();
    assert!(!hours.is_empty(), "{scoped:#}");
    assert!(
        hours
            .iter()
            .all(|h| h["account"] == "111122223333" && h["region"] == "eu-west-1")
    );
    // The window's hours, and the digest of a file delivered after it with events in it.
    let digests = scoped["summary"]["digests"].as_u64().unwrap();
    assert!((1..=8).contains(&digests), "{scoped:#}");
    let rows = scoped["summary"]["rows"].as_u64().unwrap();
    assert!(rows > 0 && rows < 1500, "{rows}");
    assert_eq!(scoped["summary"]["rows_validated"], rows);
    // The window's first digest links to one before it, in the lake: checked, not missing.
    assert!(problems(&scoped).is_empty(), "{scoped:#}");
    // Re-read at the source: the same.
    let (code, v) = c.validate(&["--reread"]);
    assert_eq!(code, 0, "{v:#}");
    assert_eq!(v["summary"]["sources_reread"], c.logs.len());
    // The table says it in words.
    let keys = c.tmp.path().join("keys.json").display().to_string();
    let out = c.trawl(&["validate", "--lake", &c.lake(), "--public-keys", &keys]);
    let text = trawl_testkit::stdout(&out);
    assert!(
        text.contains(&format!(
            "VALID: {0}/{0} digest files valid",
            c.digests.len()
        )),
        "{text}"
    );
}

#[test]
fn one_byte_of_a_log_file_changed_before_ingest() {
    let c = case();
    let key = &c.logs[3].key;
    let mut text = gunzip(&c.path(key));
    let at = text
        .windows(12)
        .position(|w| w == b"\"eventName\":")
        .unwrap()
        + 13;
    text[at] ^= 0x20; // a letter's case
    gzip(&c.path(key), &text);
    c.ingest_s3();
    let (code, v) = c.validate(&[]);
    assert_eq!(code, 1);
    assert_eq!(
        problems(&v),
        vec![("log-changed".into(), Case::uri(key))],
        "{v:#}"
    );
    let bad: Vec<&Value> = v["hours"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|h| h["status"] != "valid")
        .collect();
    assert_eq!(bad.len(), 1);
    assert_eq!(bad[0]["status"], "invalid");
    assert!(v["summary"]["rows_validated"].as_u64().unwrap() < 1500);
    assert_eq!(c.report_validated(), Some(false));
}

#[test]
fn a_log_file_changed_at_its_source_after_ingest_is_caught_on_reread() {
    let c = case();
    c.ingest_s3();
    let key = &c.logs[5].key;
    let mut text = gunzip(&c.path(key));
    let last = text.len() - 3;
    text[last] = b' ';
    gzip(&c.path(key), &text);
    assert_eq!(c.validate(&[]).0, 0, "the lake holds what was signed");
    let (code, v) = c.validate(&["--reread"]);
    assert_eq!(code, 1);
    assert_eq!(
        problems(&v),
        vec![("source-changed".into(), Case::uri(key))],
        "{v:#}"
    );
}

#[test]
fn a_deleted_log_file_and_an_extra_one() {
    let c = case();
    let gone = c.logs[7].key.clone();
    let lost = gunzip(&c.path(&gone))
        .windows(10)
        .filter(|w| w == b"\"eventID\":")
        .count() as u64;
    std::fs::remove_file(c.path(&gone)).unwrap();
    let extra = "AWSLogs/111122223333/CloudTrail/us-east-1/2024/03/01/111122223333_CloudTrail_us-east-1_20240301T1210Z_EXTRA.json.gz";
    gzip(
        &c.path(extra),
        br#"{"Records":[{"eventVersion":"1.08","eventTime":"2024-03-01T12:05:00Z","eventSource":"iam.amazonaws.com","eventName":"CreateUser","awsRegion":"us-east-1","eventID":"planted-1","recipientAccountId":"111122223333"}]}"#,
    );
    c.ingest_s3();
    let (code, v) = c.validate(&[]);
    assert_eq!(code, 1);
    assert!(has(&v, "log-missing", &Case::uri(&gone)), "{v:#}");
    assert!(has(&v, "not-covered", &Case::uri(extra)), "{v:#}");
    assert_eq!(problems(&v).len(), 2, "{v:#}");
    let hours = v["hours"].as_array().unwrap();
    assert!(hours.iter().any(|h| h["status"] == "missing"));
    let planted = hours.iter().find(|h| h["status"] == "not-covered").unwrap();
    assert_eq!(
        (planted["account"].as_str(), planted["region"].as_str()),
        (Some("111122223333"), Some("us-east-1"))
    );
    assert_eq!(planted["start"], "2024-03-01T12:00:00Z");
    assert_eq!(v["summary"]["rows"], 1500 - lost + 1, "{v:#}");
}

#[test]
fn a_digest_deleted_from_the_middle_of_the_chain() {
    let c = case();
    let chain = c.chain("111122223333", "us-east-1");
    assert!(chain.len() > 4);
    let gone = chain[chain.len() / 2].clone();
    let orphans = c.listed(&gone);
    c.delete_digest(&gone);
    c.ingest_s3();
    let (code, v) = c.validate(&[]);
    assert_eq!(code, 1);
    assert!(has(&v, "missing-digest", &Case::uri(&gone)), "{v:#}");
    // Its log files are now covered by no digest.
    for key in &orphans {
        assert!(has(&v, "not-covered", &Case::uri(key)), "{key}: {v:#}");
    }
}

#[test]
fn a_digest_re_signed_with_another_key() {
    let c = case();
    let key = c.chain("444455556666", "eu-west-1")[2].clone();
    let text = gunzip(&c.path(&key));
    let d: trawl_custody::digest::Digest = serde_json::from_slice(&text).unwrap();
    let message = trawl_custody::digest::string_to_sign(&d, &trawl_ingest::sha256_hex(&text));
    let other = Signer::new(
        &std::fs::read(trawl_testkit::fixtures().join("custody/test-key-2.rsa.der")).unwrap(),
    )
    .unwrap();
    let meta = c.trail().join(".s3meta").join(format!("{key}.json"));
    std::fs::write(
        &meta,
        serde_json::json!({"signature": other.sign(message.as_bytes()), "signature-algorithm": "SHA256withRSA"}).to_string(),
    )
    .unwrap();
    c.ingest_s3();
    let (code, v) = c.validate(&[]);
    assert_eq!(code, 1);
    assert!(has(&v, "bad-signature", &Case::uri(&key)), "{v:#}");
    // The next digest names the original signature: the chain shows the swap too.
    assert!(
        problems(&v).iter().any(|(k, _)| k == "chain-mismatch"),
        "{v:#}"
    );
}

#[test]
fn a_digest_whose_previous_hash_was_edited() {
    let c = case();
    let key = c.chain("111122223333", "eu-west-1")[3].clone();
    let text = String::from_utf8(gunzip(&c.path(&key))).unwrap();
    let d: Value = serde_json::from_str(&text).unwrap();
    let old = d["previousDigestHashValue"].as_str().unwrap();
    let edited = text.replace(old, &"0".repeat(64));
    gzip(&c.path(&key), edited.as_bytes());
    c.ingest_s3();
    let (code, v) = c.validate(&[]);
    assert_eq!(code, 1);
    assert!(has(&v, "chain-mismatch", &Case::uri(&key)), "{v:#}");
    assert!(has(&v, "bad-signature", &Case::uri(&key)), "{v:#}");
}

#[test]
fn a_region_whose_digests_stop() {
    let c = case();
    let chain = c.chain("444455556666", "ap-southeast-2");
    // The last four hours' digests, and the log files they list, are gone.
    for key in &chain[chain.len() - 4..] {
        for log in c.listed(key) {
            std::fs::remove_file(c.path(&log)).unwrap();
        }
        c.delete_digest(key);
    }
    c.ingest_s3();
    let (code, v) = c.validate(&[]);
    assert_eq!(code, 1);
    let last = &chain[chain.len() - 5];
    assert_eq!(
        problems(&v),
        vec![("digests-stop".into(), Case::uri(last))],
        "{v:#}"
    );
    // The table names it too, as the JSON does.
    let keys = c.tmp.path().join("keys.json").display().to_string();
    let out = c.trawl(&["validate", "--lake", &c.lake(), "--public-keys", &keys]);
    let text = trawl_testkit::stdout(&out);
    assert!(
        text.contains(&format!("digests-stop: {}", Case::uri(last))),
        "{text}"
    );
}

#[test]
fn a_local_copy_has_no_signatures_and_says_so() {
    let c = case();
    let lake = c.lake();
    let trail = c.trail().display().to_string();
    let out = c.trawl(&["ingest", "--lake", &lake, "--json", &trail]);
    assert!(out.status.success(), "{}", trawl_testkit::stderr(&out));
    let (code, v) = c.validate(&[]);
    assert_eq!(code, 1);
    let kinds: std::collections::BTreeSet<String> =
        problems(&v).into_iter().map(|(k, _)| k).collect();
    assert_eq!(
        kinds.into_iter().collect::<Vec<_>>(),
        vec!["unsigned".to_string()],
        "{v:#}"
    );
    // Every log file still matched its digest, by path under AWSLogs/.
    assert_eq!(v["summary"]["log_files_valid"], c.logs.len());
    // The signatures fetched from the digest objects in S3 validate the local copy.
    let (code, v) = c.validate(&["--fetch-signatures"]);
    assert_eq!(code, 0, "{v:#}");
    assert_eq!(v["summary"]["rows_validated"], 1500);
    let note = format!(
        "{0} of {0} digests read without their S3 metadata got their signature",
        c.digests.len()
    );
    assert!(
        v["notes"]
            .as_array()
            .unwrap()
            .iter()
            .any(|n| n.as_str().unwrap().starts_with(&note)),
        "{v:#}"
    );
    // A local digest whose content differs from the signed object's fails, named.
    let key = c.chain("111122223333", "us-east-1")[1].clone();
    let mut text = gunzip(&c.path(&key));
    let at = text.iter().position(|&b| b == b'[').unwrap();
    text.insert(at + 1, b' ');
    let local_copy = Path::new(&c.lake()).parent().unwrap().join("copy");
    std::fs::create_dir_all(&local_copy).unwrap();
    let copied = local_copy.join("trail");
    let status = std::process::Command::new("cp")
        .args(["-r"])
        .arg(c.trail())
        .arg(&copied)
        .status()
        .unwrap();
    assert!(status.success());
    gzip(&copied.join(&key), &text);
    let other_lake = Path::new(&c.lake())
        .parent()
        .unwrap()
        .join("lake2")
        .display()
        .to_string();
    let out = c.trawl(&[
        "ingest",
        "--lake",
        &other_lake,
        "--json",
        &copied.display().to_string(),
    ]);
    assert!(out.status.success());
    let (code, v) = c.validate_lake(&other_lake, &["--fetch-signatures"]);
    assert_eq!(code, 1);
    let copied_digest = copied.join(&key).display().to_string();
    assert!(has(&v, "bad-signature", &copied_digest), "{v:#}");
}

/// A CloudTrail endpoint on loopback: answers every request with `body` (a ListPublicKeys
/// response in the JSON 1.1 protocol) and keeps each request's text.
fn fake_cloudtrail(body: String) -> (String, std::sync::Arc<std::sync::Mutex<Vec<String>>>) {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let seen = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let kept = seen.clone();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { return };
            let mut req = Vec::new();
            let mut buf = [0u8; 8192];
            loop {
                let n = stream.read(&mut buf).unwrap_or(0);
                if n == 0 {
                    break;
                }
                req.extend_from_slice(&buf[..n]);
                let text = String::from_utf8_lossy(&req).to_string();
                if let Some(end) = text.find("\r\n\r\n") {
                    let len: usize = text[..end]
                        .lines()
                        .find_map(|l| {
                            let (k, v) = l.split_once(':')?;
                            k.eq_ignore_ascii_case("content-length")
                                .then(|| v.trim().parse().ok())?
                        })
                        .unwrap_or(0);
                    if req.len() >= end + 4 + len {
                        break;
                    }
                }
            }
            kept.lock()
                .unwrap()
                .push(String::from_utf8_lossy(&req).into_owned());
            let _ = write!(
                stream,
                "HTTP/1.1 200 OK\r\nContent-Type: application/x-amz-json-1.1\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                body.len()
            );
        }
    });
    (format!("http://{addr}"), seen)
}

#[test]
fn fetch_keys_asks_cloudtrail_for_each_region_and_saves_them() {
    use base64::Engine;
    let c = case();
    c.ingest_s3();
    let signer = Signer::test_key();
    let body = serde_json::json!({"PublicKeyList": [{
        "Value": base64::engine::general_purpose::STANDARD.encode(signer.public_key_der()),
        "ValidityStartTime": 1_700_000_000,
        "ValidityEndTime": 1_800_000_000,
        "Fingerprint": signer.fingerprint(),
    }]})
    .to_string();
    let (endpoint, seen) = fake_cloudtrail(body);
    let lake = c.lake();
    let saved = c.tmp.path().join("fetched.json");
    let saved_text = saved.display().to_string();
    let out = c.trawl_env(
        &[
            "validate",
            "--lake",
            &lake,
            "--fetch-keys",
            "--save-keys",
            &saved_text,
        ],
        &[("AWS_ENDPOINT_URL_CLOUDTRAIL", &endpoint)],
    );
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}{}",
        trawl_testkit::stdout(&out),
        trawl_testkit::stderr(&out)
    );
    let requests = seen.lock().unwrap().clone();
    // One request per region of the digests (three), each a ListPublicKeys with a start.
    assert_eq!(requests.len(), 3, "{requests:?}");
    for r in &requests {
        assert!(r.contains("CloudTrail_20131101.ListPublicKeys"), "{r}");
        assert!(r.contains("StartTime"), "{r}");
    }
    let mut keys = trawl_custody::PublicKeys::default();
    assert_eq!(keys.add_file(&saved).unwrap(), 3);
    assert_eq!(keys.len(), 1, "the same key from three regions is one key");
    // Keys that do not match: every digest fails, named.
    let (endpoint, _) = fake_cloudtrail(r#"{"PublicKeyList":[]}"#.into());
    let out = c.trawl_env(
        &["validate", "--lake", &lake, "--fetch-keys"],
        &[("AWS_ENDPOINT_URL_CLOUDTRAIL", &endpoint)],
    );
    assert_eq!(out.status.code(), Some(2), "no keys at all is an error");
    assert!(trawl_testkit::stderr(&out).contains("no public keys"));
}

#[test]
fn backfill_digests_chain_apart_and_need_their_generation_time() {
    let c = case();
    let signer = Signer::test_key();
    let log = &c.logs[2];
    let write_backfill = |name_time: &str, generated: Option<&str>| -> String {
        let key = format!(
            "AWSLogs/{0}/CloudTrail-Digest/{1}/2024/03/01/{0}_CloudTrail-Digest_{1}_trawl-gen_us-east-1_{name_time}_backfill.json.gz",
            log.account, log.region
        );
        let d = serde_json::json!({
            "awsAccountId": log.account,
            "digestStartTime": "2024-03-01T00:00:00Z",
            "digestEndTime": "2024-03-01T01:00:00Z",
            "digestS3Bucket": BUCKET,
            "digestS3Object": key,
            "digestPublicKeyFingerprint": signer.fingerprint(),
            "digestSignatureAlgorithm": "SHA256withRSA",
            "previousDigestS3Bucket": null,
            "previousDigestS3Object": null,
            "previousDigestHashValue": null,
            "previousDigestHashAlgorithm": null,
            "previousDigestSignature": null,
            "logFiles": [{"s3Bucket": BUCKET, "s3Object": log.key, "hashValue": log.sha256, "hashAlgorithm": "SHA-256"}],
        });
        let text = serde_json::to_vec(&d).unwrap();
        let message = format!(
            "2024-03-01T01:00:00Z\n{BUCKET}/{key}\n{}\nnull",
            trawl_ingest::sha256_hex(&text)
        );
        gzip(&c.path(&key), &text);
        let mut meta = serde_json::json!({"signature": signer.sign(message.as_bytes()), "signature-algorithm": "SHA256withRSA"});
        if let Some(g) = generated {
            meta["backfill-generation-timestamp"] = g.into();
        }
        let meta_path = c.trail().join(".s3meta").join(format!("{key}.json"));
        std::fs::create_dir_all(meta_path.parent().unwrap()).unwrap();
        std::fs::write(meta_path, meta.to_string()).unwrap();
        key
    };
    write_backfill("20240301T010000Z", Some("2024-03-05T10:00:00Z"));
    c.ingest_s3();
    let (code, v) = c.validate(&[]);
    assert_eq!(code, 0, "{v:#}");
    assert_eq!(v["summary"]["digests"], c.digests.len() + 1);
    let bad = write_backfill("20240301T020000Z", None);
    c.ingest_s3();
    let (code, v) = c.validate(&[]);
    assert_eq!(code, 1);
    assert_eq!(
        problems(&v),
        vec![("bad-digest".into(), Case::uri(&bad))],
        "{v:#}"
    );
}

#[test]
fn digests_of_a_commit_cut_short_are_not_read() {
    let c = case();
    c.ingest_s3();
    // What a crash between writing the digest records and the commit leaves: records for a
    // version the log does not have; here a committed digest again with a broken signature,
    // which would replace the committed one if it were read.
    let lake = Path::new(&c.lake()).to_path_buf();
    let next = trawl_lake::Lake::open(&lake)
        .unwrap()
        .latest_version()
        .unwrap()
        + 1;
    let digests = lake.join("_trawl/digests");
    let first = std::fs::read_dir(&digests)
        .unwrap()
        .next()
        .unwrap()
        .unwrap()
        .path();
    let committed = std::fs::read_to_string(first).unwrap();
    let line = committed
        .lines()
        .next()
        .unwrap()
        .replace("\"signature\":\"", "\"signature\":\"00");
    std::fs::write(
        digests.join(format!("{next:020}.jsonl")),
        format!("{line}\n"),
    )
    .unwrap();
    let (code, v) = c.validate(&[]);
    assert_eq!(code, 0, "{v:#}");
    assert_eq!(v["summary"]["digests"], c.digests.len());
}
