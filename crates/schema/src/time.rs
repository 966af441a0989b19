//! `eventTime` parsing and its canonical text form.

use chrono::{DateTime, NaiveDate, Utc};

/// An event time that parsed unambiguously.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ParsedTime {
    /// Microseconds since the Unix epoch, UTC.
    pub micros: i64,
}

impl ParsedTime {
    /// `YYYY-MM-DDTHH:MM:SSZ`, the form CloudTrail writes and Athena queries compare against.
    pub fn canonical(&self) -> String {
        format_canonical(self.micros)
    }

    /// The UTC date `YYYY-MM-DD`: the lake's partition value.
    pub fn date(&self) -> String {
        let dt =
            DateTime::<Utc>::from_timestamp_micros(self.micros).expect("in range by construction");
        dt.format("%Y-%m-%d").to_string()
    }
}

/// Formats microseconds since the epoch as `YYYY-MM-DDTHH:MM:SSZ` (fraction dropped).
pub fn format_canonical(micros: i64) -> String {
    let dt = DateTime::<Utc>::from_timestamp_micros(micros).expect("in range by construction");
    dt.format("%Y-%m-%dT%H:%M:%SZ").to_string()
}

fn digits(b: &[u8]) -> Option<u32> {
    let mut v = 0u32;
    for &c in b {
        if !c.is_ascii_digit() {
            return None;
        }
        v = v * 10 + u32::from(c - b'0');
    }
    Some(v)
}

/// Parses the event time forms seen in real trails:
/// `2024-03-01T12:34:56Z` (canonical), with a fraction of any length
/// (`…56.123Z`, `…56.000000000`), with a space instead of `T`, with no zone (taken as UTC),
/// or with a numeric offset (`+02:00`, `+0200`). Anything else returns `None` and is kept
/// verbatim by the caller.
pub fn parse_event_time(s: &str) -> Option<ParsedTime> {
    let b = s.as_bytes();
    if b.len() < 19
        || b[4] != b'-'
        || b[7] != b'-'
        || !(b[10] == b'T' || b[10] == b' ' || b[10] == b't')
        || b[13] != b':'
        || b[16] != b':'
    {
        return None;
    }
    let (y, mo, d) = (digits(&b[0..4])?, digits(&b[5..7])?, digits(&b[8..10])?);
    let (h, mi, se) = (
        digits(&b[11..13])?,
        digits(&b[14..16])?,
        digits(&b[17..19])?,
    );
    let mut rest = &b[19..];
    let mut frac_micros = 0i64;
    if let [b'.', tail @ ..] = rest {
        let n = tail.iter().take_while(|c| c.is_ascii_digit()).count();
        if n == 0 {
            return None;
        }
        let mut scale = 100_000i64;
        for &c in &tail[..n.min(6)] {
            frac_micros += i64::from(c - b'0') * scale;
            scale /= 10;
        }
        rest = &tail[n..];
    }
    let offset_secs: i64 = match rest {
        [] | [b'Z'] | [b'z'] => 0,
        [sign @ (b'+' | b'-'), oh1, oh2, b':', om1, om2]
        | [sign @ (b'+' | b'-'), oh1, oh2, om1, om2] => {
            let oh = i64::from(digits(&[*oh1, *oh2])?);
            let om = i64::from(digits(&[*om1, *om2])?);
            if oh > 23 || om > 59 {
                return None;
            }
            let secs = oh * 3600 + om * 60;
            if *sign == b'+' { secs } else { -secs }
        }
        _ => return None,
    };
    let date = NaiveDate::from_ymd_opt(y as i32, mo, d)?;
    let naive = date.and_hms_opt(h, mi, se)?;
    let secs = naive.and_utc().timestamp() - offset_secs;
    let micros = secs.checked_mul(1_000_000)?.checked_add(frac_micros)?;
    DateTime::<Utc>::from_timestamp_micros(micros)?;
    Some(ParsedTime { micros })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn event_time_forms() {
        let cases: &[(&str, Option<&str>)] = &[
            ("2024-03-01T12:34:56Z", Some("2024-03-01T12:34:56Z")),
            ("2021-10-26 21:59:39", Some("2021-10-26T21:59:39Z")),
            ("2024-01-01 00:00:00.000", Some("2024-01-01T00:00:00Z")),
            (
                "2025-01-20 16:52:14.000000000",
                Some("2025-01-20T16:52:14Z"),
            ),
            ("2024-03-01T12:34:56.789Z", Some("2024-03-01T12:34:56Z")),
            ("2024-03-01T01:00:00+02:00", Some("2024-02-29T23:00:00Z")),
            ("2024-03-01T01:00:00-0130", Some("2024-03-01T02:30:00Z")),
            ("eventTime", None),
            ("...", None),
            ("2024-02-30T00:00:00Z", None),
            ("2024-03-01T25:00:00Z", None),
            ("2024-03-01T12:34:56.Z", None),
            ("2024-03-01T12:34:56Zjunk", None),
            ("", None),
        ];
        for (input, want) in cases {
            let got = parse_event_time(input).map(|t| t.canonical());
            assert_eq!(got.as_deref(), *want, "input {input:?}");
        }
    }

    #[test]
    fn fraction_kept_in_micros() {
        let t = parse_event_time("2024-03-01T12:34:56.789123456Z").unwrap();
        assert_eq!(t.micros % 1_000_000, 789_123);
        assert_eq!(t.date(), "2024-03-01");
    }
}
