//! `eventTime` parsing and its canonical text form.

use chrono::{DateTime, Utc};

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
    if h > 23 || mi > 59 || se > 59 {
        return None;
    }
    let days = days_from_civil(y, mo, d)?;
    let secs = days * 86_400 + i64::from(h * 3600 + mi * 60 + se) - offset_secs;
    // Four-digit years and a fraction below a second: no overflow, always a valid instant.
    Some(ParsedTime {
        micros: secs * 1_000_000 + frac_micros,
    })
}

/// Days from 1970-01-01 to the proleptic Gregorian date `y-m-d` (years 0 to 9999), or `None`
/// when there is no such date (month 13, February 30th). Arithmetic only: this runs once
/// per event at ingest and once per row where a query parses `eventtime`.
fn days_from_civil(y: u32, m: u32, d: u32) -> Option<i64> {
    let leap = y.is_multiple_of(4) && (!y.is_multiple_of(100) || y.is_multiple_of(400));
    let month_days = match m {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        2 if leap => 29,
        2 => 28,
        _ => return None,
    };
    if d == 0 || d > month_days {
        return None;
    }
    // Howard Hinnant's days_from_civil: years start in March, so leap days come last.
    let y = i64::from(y) - i64::from(m <= 2);
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (i64::from(m) + 9) % 12;
    let doy = (153 * mp + 2) / 5 + i64::from(d) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    Some(era * 146_097 + doe - 719_468)
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

    /// The arithmetic agrees with chrono on every day of years around the edges of the
    /// calendar rules (leap years by 4, 100 and 400, year 0, 1969/1970, 9999) and refuses the
    /// days chrono refuses.
    #[test]
    fn civil_days_agree_with_chrono() {
        use chrono::NaiveDate;
        let epoch = NaiveDate::from_ymd_opt(1970, 1, 1).unwrap();
        for y in [
            0u32, 1, 4, 99, 100, 400, 1900, 1968, 1969, 1970, 1972, 2000, 2024, 2100, 9999,
        ] {
            for m in 0..=13u32 {
                for d in 0..=32u32 {
                    let want = NaiveDate::from_ymd_opt(y as i32, m, d)
                        .map(|date| (date - epoch).num_days());
                    assert_eq!(days_from_civil(y, m, d), want, "{y:04}-{m:02}-{d:02}");
                }
            }
        }
        let t = parse_event_time("1969-12-31T23:59:59.5Z").unwrap();
        assert_eq!(t.micros, -500_000);
        assert_eq!(t.canonical(), "1969-12-31T23:59:59Z");
        assert_eq!(parse_event_time("2024-03-01T12:00:60Z"), None);
        assert_eq!(parse_event_time("2024-03-01T12:60:00Z"), None);
        assert_eq!(
            parse_event_time("0000-01-01T00:00:00Z").map(|t| t.canonical()),
            Some("0000-01-01T00:00:00Z".to_string())
        );
    }

    #[test]
    fn fraction_kept_in_micros() {
        let t = parse_event_time("2024-03-01T12:34:56.789123456Z").unwrap();
        assert_eq!(t.micros % 1_000_000, 789_123);
        assert_eq!(t.date(), "2024-03-01");
    }
}
