//! CloudTrail's public keys, as `aws cloudtrail list-public-keys` prints them (saved for
//! offline work) or as the API returns them: each a DER `RSAPublicKey`, its validity window
//! and its fingerprint, which a digest names.

use std::collections::BTreeMap;
use std::path::Path;

use base64::Engine;
use chrono::{DateTime, Utc};
use serde::Deserialize;

use crate::CustodyError;
use crate::digest::parse_time;

/// One public key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PublicKey {
    pub fingerprint: String,
    /// DER `RSAPublicKey` (PKCS#1).
    pub der: Vec<u8>,
    pub valid_from: Option<DateTime<Utc>>,
    pub valid_to: Option<DateTime<Utc>>,
}

impl PublicKey {
    /// Whether the key was valid at `t` (a key with no window given is taken as valid).
    pub fn valid_at(&self, t: DateTime<Utc>) -> bool {
        self.valid_from.is_none_or(|f| f <= t) && self.valid_to.is_none_or(|u| t <= u)
    }
}

/// Keys by fingerprint.
#[derive(Debug, Clone, Default)]
pub struct PublicKeys {
    keys: BTreeMap<String, Vec<PublicKey>>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct ListOutput {
    public_key_list: Vec<Entry>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct Entry {
    value: String,
    fingerprint: String,
    #[serde(default)]
    validity_start_time: Option<serde_json::Value>,
    #[serde(default)]
    validity_end_time: Option<serde_json::Value>,
}

/// The CLI prints times as ISO 8601 text; with `--cli-timestamp-format none` (or from other
/// tools) they may be epoch seconds.
fn time_of(v: &Option<serde_json::Value>) -> Result<Option<DateTime<Utc>>, String> {
    match v {
        None | Some(serde_json::Value::Null) => Ok(None),
        Some(serde_json::Value::String(s)) => parse_time(s)
            .map(Some)
            .ok_or_else(|| format!("time {s:?} is not ISO 8601")),
        Some(serde_json::Value::Number(n)) => n
            .as_f64()
            .and_then(|secs| DateTime::from_timestamp(secs.floor() as i64, 0))
            .map(Some)
            .ok_or_else(|| format!("time {n} is out of range")),
        Some(other) => Err(format!("time {other} is neither text nor a number")),
    }
}

impl PublicKeys {
    /// Adds a key.
    pub fn insert(&mut self, key: PublicKey) {
        let same = self.keys.entry(key.fingerprint.clone()).or_default();
        if !same.contains(&key) {
            same.push(key);
        }
    }

    /// Reads the JSON that `aws cloudtrail list-public-keys` prints
    /// (`{"PublicKeyList": [{"Value": base64, "Fingerprint": ..., "ValidityStartTime": ...,
    /// "ValidityEndTime": ...}]}`).
    pub fn add_file(&mut self, path: &Path) -> Result<usize, CustodyError> {
        let text = std::fs::read(path).map_err(|source| CustodyError::Io {
            path: path.to_path_buf(),
            source,
        })?;
        let bad = |message: String| CustodyError::BadKeys {
            path: path.to_path_buf(),
            message,
        };
        let list: ListOutput = serde_json::from_slice(&text).map_err(|e| bad(e.to_string()))?;
        let n = list.public_key_list.len();
        for (i, e) in list.public_key_list.into_iter().enumerate() {
            let der = base64::engine::general_purpose::STANDARD
                .decode(e.value.trim())
                .map_err(|err| {
                    bad(format!(
                        "key {i} ({}): Value is not base64: {err}",
                        e.fingerprint
                    ))
                })?;
            self.insert(PublicKey {
                fingerprint: e.fingerprint,
                der,
                valid_from: time_of(&e.validity_start_time)
                    .map_err(|m| bad(format!("key {i}: {m}")))?,
                valid_to: time_of(&e.validity_end_time)
                    .map_err(|m| bad(format!("key {i}: {m}")))?,
            });
        }
        Ok(n)
    }

    /// The keys with this fingerprint.
    pub fn get(&self, fingerprint: &str) -> &[PublicKey] {
        self.keys.get(fingerprint).map_or(&[], Vec::as_slice)
    }

    pub fn len(&self) -> usize {
        self.keys.values().map(Vec::len).sum()
    }

    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }
}
