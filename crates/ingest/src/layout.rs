//! The CloudTrail key layout, the one place that reads it:
//! `[prefix/]AWSLogs/[o-…/]ACCOUNT/CloudTrail[-Digest|-Insight]/REGION/YYYY/MM/DD/` and the
//! file names `ACCOUNT_CloudTrail_REGION_YYYYMMDDTHHMMZ_….json.gz`. The local walk orders
//! files by it, the S3 walk lists by it.

use chrono::NaiveDate;

/// A 12-digit account id.
pub fn is_account(s: &str) -> bool {
    s.len() == 12 && s.bytes().all(|b| b.is_ascii_digit())
}

/// An organization id folder (`o-abc123def4`).
pub fn is_org(s: &str) -> bool {
    s.len() > 2 && s.starts_with("o-") && s[2..].bytes().all(|b| b.is_ascii_alphanumeric())
}

/// `CloudTrail`, `CloudTrail-Digest` or `CloudTrail-Insight`.
pub fn is_kind(s: &str) -> bool {
    matches!(s, "CloudTrail" | "CloudTrail-Digest" | "CloudTrail-Insight")
}

/// `us-east-1`, `ap-southeast-2`, `us-gov-west-1`, `cn-north-1`, `eu-central-2`...
pub fn is_region(s: &str) -> bool {
    let parts: Vec<&str> = s.split('-').collect();
    parts.len() >= 3
        && parts[0].len() == 2
        && parts[..parts.len() - 1]
            .iter()
            .all(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_lowercase()))
        && parts[parts.len() - 1].bytes().all(|b| b.is_ascii_digit())
}

/// `s` as a number if it is exactly `len` digits (`2024`, `03`).
pub fn digits(s: &str, len: usize) -> Option<u32> {
    (s.len() == len && s.bytes().all(|b| b.is_ascii_digit()))
        .then(|| s.parse().ok())
        .flatten()
}

/// The date of the folders `YYYY`, `MM`, `DD`, if they make one.
pub fn folder_date(year: &str, month: &str, day: &str) -> Option<NaiveDate> {
    NaiveDate::from_ymd_opt(digits(year, 4)? as i32, digits(month, 2)?, digits(day, 2)?)
}

/// The delivery date of a key or path, from its last `/YYYY/MM/DD/` folders.
pub fn key_date(key: &str) -> Option<NaiveDate> {
    let parts: Vec<&str> = key.split('/').collect();
    parts
        .windows(4)
        .rev()
        .find_map(|w| folder_date(w[0], w[1], w[2]))
}

/// When CloudTrail delivered an object, as `YYYYMMDDHHMM`, read from its name
/// (`…_CloudTrail_us-east-1_20240301T1205Z_….json.gz`) or, failing that, from the
/// `/YYYY/MM/DD/` folders of its key (time 00:00). `None` for any other name.
pub fn delivery_stamp(uri: &str) -> Option<u64> {
    let name = uri.rsplit('/').next().unwrap_or(uri);
    let from_name = name.split(['_', '.']).find_map(|token| {
        let (day, time) = token.strip_suffix('Z')?.split_once('T')?;
        Some(u64::from(digits(day, 8)?) * 10_000 + u64::from(digits(time, 4)?))
    });
    from_name
        .or_else(|| key_date(uri).and_then(|d| d.format("%Y%m%d0000").to_string().parse().ok()))
}

/// The stream an object belongs to, `(account, region)`: from the folders
/// `AWSLogs/[o-…/]ACCOUNT/CloudTrail…/REGION/` of its key or path, or else from a CloudTrail
/// file name (`ACCOUNT_CloudTrail_REGION_…`). CloudTrail re-delivers an event in the stream
/// it first delivered it in.
pub fn stream_of(key: &str) -> Option<(&str, &str)> {
    folder_stream(key).or_else(|| {
        let name = key.rsplit('/').next()?;
        let mut fields = name.split('_');
        let (account, kind, region) = (fields.next()?, fields.next()?, fields.next()?);
        (is_account(account) && kind.starts_with("CloudTrail") && is_region(region))
            .then_some((account, region))
    })
}

/// The stream named by the `AWSLogs/[o-…/]ACCOUNT/CloudTrail…/REGION` folders of a key, or of
/// a folder.
fn folder_stream(key: &str) -> Option<(&str, &str)> {
    let parts: Vec<&str> = key.split('/').collect();
    let at = parts.iter().position(|p| *p == "AWSLogs")?;
    let mut rest = &parts[at + 1..];
    if rest.first().is_some_and(|p| is_org(p)) {
        rest = &rest[1..];
    }
    match rest {
        [account, kind, region, ..]
            if is_account(account) && is_kind(kind) && is_region(region) =>
        {
            Some((*account, *region))
        }
        _ => None,
    }
}

/// `--shard K/N`: the K-th of N disjoint shares of the objects (K from 1), by stream, so that
/// an event and its re-deliveries fall in one share. An object outside the layout is shared
/// by its file name (the same on every machine, whatever the folder it sits in).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Shard {
    index: u32,
    count: u32,
}

/// Why a `--shard` value was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("--shard {text:?}: write K/N with 1 <= K <= N, e.g. 2/3 for the second of three shares")]
pub struct BadShard {
    text: String,
}

impl Shard {
    /// Every object (`1/1`).
    pub const ALL: Shard = Shard { index: 1, count: 1 };

    /// The `index`-th (from 1) of `count` shares.
    pub fn new(index: u32, count: u32) -> Option<Shard> {
        (1..=count)
            .contains(&index)
            .then_some(Shard { index, count })
    }

    /// Whether the object `uri` (a path or `s3://bucket/key`) is in this share.
    pub fn holds(&self, uri: &str) -> bool {
        match stream_of(uri) {
            Some(stream) => self.holds_stream(stream),
            None => self.has(uri.rsplit('/').next().unwrap_or(uri)),
        }
    }

    /// Whether some object below the folder `prefix` can be in this share: false only for
    /// a folder of one stream (a region folder, or below) that another share holds.
    pub fn may_hold_below(&self, prefix: &str) -> bool {
        folder_stream(prefix).is_none_or(|stream| self.holds_stream(stream))
    }

    fn holds_stream(&self, (account, region): (&str, &str)) -> bool {
        self.has(&format!("{account}/{region}"))
    }

    /// Whether the share key `key` hashes to this share.
    fn has(&self, key: &str) -> bool {
        self.count == 1
            || xxhash_rust::xxh3::xxh3_64(key.as_bytes()) % u64::from(self.count)
                == u64::from(self.index - 1)
    }
}

impl Default for Shard {
    fn default() -> Self {
        Shard::ALL
    }
}

impl std::str::FromStr for Shard {
    type Err = BadShard;

    fn from_str(text: &str) -> Result<Shard, BadShard> {
        let bad = || BadShard {
            text: text.to_string(),
        };
        let (k, n) = text.trim().split_once('/').ok_or_else(bad)?;
        let (k, n) = (
            k.trim().parse().map_err(|_| bad())?,
            n.trim().parse().map_err(|_| bad())?,
        );
        Shard::new(k, n).ok_or_else(bad)
    }
}

impl std::fmt::Display for Shard {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.index, self.count)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn folder_names_of_the_layout() {
        assert!(
            is_region("us-east-1") && is_region("us-gov-west-1") && is_region("ap-southeast-2")
        );
        assert!(!is_region("CloudTrail") && !is_region("2024") && !is_region("us-east"));
        assert!(is_org("o-abc123def4") && !is_org("o-") && !is_org("other"));
        assert!(is_account("123456789012") && !is_account("12345678901"));
        assert!(is_kind("CloudTrail-Digest") && !is_kind("Config"));
        assert_eq!(digits("03", 2), Some(3));
        assert_eq!((digits("3", 2), digits("0x", 2)), (None, None));
    }

    #[test]
    fn streams_from_folders_or_file_names() {
        let cases = [
            (
                "s3://b/AWSLogs/111122223333/CloudTrail/us-east-1/2024/03/01/x.json.gz",
                Some(("111122223333", "us-east-1")),
            ),
            (
                "s3://b/p/AWSLogs/o-abc123def4/111122223333/CloudTrail-Insight/eu-west-1/2024/03/01/x.json.gz",
                Some(("111122223333", "eu-west-1")),
            ),
            (
                "/data/trail/444455556666_CloudTrail_ap-southeast-2_20240301T0000Z_ab.json.gz",
                Some(("444455556666", "ap-southeast-2")),
            ),
            (
                "/data/AWSLogs/111122223333/Config/us-east-1/x.json.gz",
                None,
            ),
            ("/data/logs/export.jsonl", None),
        ];
        for (key, want) in cases {
            assert_eq!(stream_of(key), want, "{key}");
        }
    }

    #[test]
    fn shards_split_objects_by_stream_into_disjoint_shares() {
        assert_eq!("2/3".parse(), Ok(Shard::new(2, 3).unwrap()));
        for bad in ["0/3", "4/3", "3", "a/b", "1/0", ""] {
            let err = bad.parse::<Shard>().unwrap_err().to_string();
            assert!(err.contains("write K/N"), "{bad}: {err}");
        }
        let mut keys = Vec::new();
        for account in ["111122223333", "444455556666", "777788889999"] {
            for region in ["us-east-1", "eu-west-1", "ap-south-1", "us-west-2"] {
                for n in 0..3 {
                    keys.push(format!(
                        "s3://b/AWSLogs/{account}/CloudTrail/{region}/2024/03/0{}/{account}_CloudTrail_{region}_2024030{}T0000Z_{n}.json.gz",
                        n + 1,
                        n + 1
                    ));
                }
            }
        }
        keys.extend((0..20).map(|i| format!("/elsewhere/export-{i}.jsonl")));
        for count in 1..=4 {
            let shards: Vec<Shard> = (1..=count).map(|k| Shard::new(k, count).unwrap()).collect();
            for key in &keys {
                let holders: Vec<&Shard> = shards.iter().filter(|s| s.holds(key)).collect();
                assert_eq!(holders.len(), 1, "{key} in one share of {count}");
                // A stream's objects, whatever the day, are in the same share; a folder of
                // the stream is skipped by the others.
                let folder = &key[..key.find("/2024/").unwrap_or(0)];
                if !folder.is_empty() {
                    for s in &shards {
                        assert_eq!(s.may_hold_below(folder), s.holds(key), "{folder} {s}");
                    }
                }
            }
        }
        // Spread: four shares of 12 streams each get some.
        let four: Vec<usize> = (1..=4)
            .map(|k| {
                keys.iter()
                    .filter(|key| Shard::new(k, 4).unwrap().holds(key))
                    .count()
            })
            .collect();
        assert!(four.iter().all(|&n| n > 0), "{four:?}");
        assert!(Shard::ALL.may_hold_below("s3://b/AWSLogs/"));
    }

    #[test]
    fn dates_from_folders_and_stamps_from_names() {
        let d = |s: &str| NaiveDate::parse_from_str(s, "%Y-%m-%d").ok();
        let cases = [
            (
                "AWSLogs/1/CloudTrail/us-east-1/2024/03/01/x.json.gz",
                d("2024-03-01"),
            ),
            ("/trail/2024/03/01/", d("2024-03-01")),
            ("AWSLogs/1/CloudTrail/us-east-1/2024/02/30/x.json.gz", None),
            ("logs/x.json.gz", None),
        ];
        for (key, want) in cases {
            assert_eq!(key_date(key), want, "{key}");
        }
        let name = "AWSLogs/1/CloudTrail/us-east-1/2024/03/02/1_CloudTrail_us-east-1_20240302T0005Z_ab.json.gz";
        assert_eq!(delivery_stamp(name), Some(202403020005));
        assert_eq!(
            delivery_stamp("x/2024/03/02/other.json"),
            Some(202403020000)
        );
        assert_eq!(delivery_stamp("x/other.json"), None);
    }
}
