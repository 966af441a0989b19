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
