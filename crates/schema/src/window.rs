//! One time window on event time, for every place that takes "since" and "until": the CLI
//! flags, the ingest filter, the S3 listing's delivery days, the ledger and the dashboards.

use chrono::{DateTime, NaiveDate, SecondsFormat, Utc};

/// Why a time or a window was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WindowError {
    #[error("{text:?} is neither an RFC 3339 time (2024-03-01T12:00:00Z) nor a date (2024-03-01)")]
    NotATime { text: String },
    #[error("the start {since} is not before the end {until}: give a start before the end")]
    Empty { since: String, until: String },
}

/// Event times `[since, until)`, in microseconds since the epoch; either end may be open.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub struct TimeWindow {
    pub since: Option<i64>,
    pub until: Option<i64>,
}

impl TimeWindow {
    /// Every time.
    pub const ALL: TimeWindow = TimeWindow {
        since: None,
        until: None,
    };

    /// The window `[since, until)`; refused if it holds no time.
    pub fn new(since: Option<i64>, until: Option<i64>) -> Result<Self, WindowError> {
        let w = TimeWindow { since, until };
        match (since, until) {
            (Some(s), Some(u)) if s >= u => Err(WindowError::Empty {
                since: w.since_text().unwrap_or_default(),
                until: w.until_text().unwrap_or_default(),
            }),
            _ => Ok(w),
        }
    }

    /// Parses both ends as [`parse_instant`] does; empty text is an open end.
    pub fn parse(since: Option<&str>, until: Option<&str>) -> Result<Self, WindowError> {
        let end = |t: Option<&str>| {
            t.map(str::trim)
                .filter(|t| !t.is_empty())
                .map(parse_instant)
                .transpose()
        };
        Self::new(end(since)?, end(until)?)
    }

    /// Whether both ends are open.
    pub fn is_open(&self) -> bool {
        self.since.is_none() && self.until.is_none()
    }

    /// Whether the time `micros` is in the window.
    pub fn contains(&self, micros: i64) -> bool {
        self.since.is_none_or(|s| micros >= s) && self.until.is_none_or(|u| micros < u)
    }

    /// Whether every time of `other` is in this window.
    pub fn covers(&self, other: &TimeWindow) -> bool {
        let since_ok = match (self.since, other.since) {
            (None, _) => true,
            (Some(a), Some(b)) => a <= b,
            (Some(_), None) => false,
        };
        let until_ok = match (self.until, other.until) {
            (None, _) => true,
            (Some(a), Some(b)) => a >= b,
            (Some(_), None) => false,
        };
        since_ok && until_ok
    }

    /// The delivery days (UTC, inclusive) whose files may hold events of the window, if it
    /// has an end: CloudTrail delivers an event within about 15 minutes, into the folder of
    /// the delivery day, so a day on either side is kept.
    pub fn delivery_days(&self) -> Option<(NaiveDate, NaiveDate)> {
        if self.is_open() {
            return None;
        }
        let day = |us: i64| {
            DateTime::from_timestamp_micros(us)
                .map(|t| t.date_naive())
                .unwrap_or(NaiveDate::MIN)
        };
        let first = self.since.map_or(NaiveDate::MIN, |s| {
            day(s).pred_opt().unwrap_or(NaiveDate::MIN)
        });
        // `until` is exclusive: its last event is a microsecond before.
        let last = self.until.map_or(NaiveDate::MAX, |u| {
            day(u.saturating_sub(1))
                .succ_opt()
                .unwrap_or(NaiveDate::MAX)
        });
        Some((first, last))
    }

    /// The start as RFC 3339 UTC text (`2024-03-01T00:00:00Z`, fractions only when there
    /// are some), as `eventtime` is written.
    pub fn since_text(&self) -> Option<String> {
        self.since.map(rfc3339)
    }

    /// The end as RFC 3339 UTC text.
    pub fn until_text(&self) -> Option<String> {
        self.until.map(rfc3339)
    }

    /// SQL predicates bounding the lake's `eventtime` text (which prune days): `eventtime >=`
    /// the start, and `<` the end (`<=` an end with a fraction: the text is to the second).
    pub fn eventtime_filters(&self) -> Vec<String> {
        let text = |micros: i64| format!("'{}'", crate::format_canonical(micros));
        let mut filters = Vec::new();
        if let Some(s) = self.since {
            filters.push(format!("eventtime >= {}", text(s)));
        }
        if let Some(u) = self.until {
            let op = if u % 1_000_000 == 0 { "<" } else { "<=" };
            filters.push(format!("eventtime {op} {}", text(u)));
        }
        filters
    }
}

/// `2024-03-01T12:00:00Z`, `2024-03-01T13:00:00+01:00` or `2024-03-01` (midnight UTC), as
/// microseconds since the epoch.
pub fn parse_instant(text: &str) -> Result<i64, WindowError> {
    let text = text.trim();
    if let Ok(t) = DateTime::parse_from_rfc3339(text) {
        return Ok(t.with_timezone(&Utc).timestamp_micros());
    }
    if let Some(t) = NaiveDate::parse_from_str(text, "%Y-%m-%d")
        .ok()
        .and_then(|d| d.and_hms_opt(0, 0, 0))
    {
        return Ok(t.and_utc().timestamp_micros());
    }
    Err(WindowError::NotATime {
        text: text.to_string(),
    })
}

/// Microseconds since the epoch as RFC 3339 UTC text.
pub fn rfc3339(micros: i64) -> String {
    match DateTime::from_timestamp_micros(micros) {
        Some(t) => t.to_rfc3339_opts(SecondsFormat::AutoSi, true),
        // Out of chrono's range (years beyond ±262,000): only reachable from a computed bound.
        None if micros < 0 => "-262143-01-01T00:00:00Z".to_string(),
        None => "+262142-12-31T23:59:59Z".to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MARCH_1: i64 = 1_709_251_200_000_000;

    #[test]
    fn instants_parse_from_rfc3339_or_a_date() {
        let cases = [
            ("2024-03-01", Some(MARCH_1)),
            ("2024-03-01T00:00:00Z", Some(MARCH_1)),
            ("2024-03-01T01:00:00+01:00", Some(MARCH_1)),
            (" 2024-03-01T00:00:00.5Z ", Some(MARCH_1 + 500_000)),
            ("yesterday", None),
            ("2024-02-30", None),
            ("", None),
        ];
        for (text, want) in cases {
            assert_eq!(parse_instant(text).ok(), want, "{text:?}");
        }
    }

    #[test]
    fn a_window_refuses_an_end_before_its_start_and_names_both() {
        let err = TimeWindow::parse(Some("2024-03-02"), Some("2024-03-01")).unwrap_err();
        assert_eq!(
            err.to_string(),
            "the start 2024-03-02T00:00:00Z is not before the end 2024-03-01T00:00:00Z: give a start before the end"
        );
        assert!(TimeWindow::parse(Some("2024-03-01"), Some("2024-03-01")).is_err());
        assert_eq!(
            TimeWindow::parse(Some(""), None).unwrap(),
            TimeWindow::ALL,
            "empty text is an open end"
        );
    }

    #[test]
    fn contains_is_inclusive_exclusive_and_covers_compares_ends() {
        let w = |since, until| TimeWindow { since, until };
        let day = w(Some(100), Some(200));
        assert!(day.contains(100) && day.contains(199) && !day.contains(200) && !day.contains(99));
        let cases = [
            (TimeWindow::ALL, day, true),
            (day, TimeWindow::ALL, false),
            (day, w(Some(100), Some(200)), true),
            (day, w(Some(120), Some(180)), true),
            (day, w(Some(99), Some(180)), false),
            (day, w(Some(120), Some(201)), false),
            (day, w(Some(120), None), false),
            (w(None, Some(200)), w(Some(0), Some(150)), true),
        ];
        for (outer, inner, want) in cases {
            assert_eq!(outer.covers(&inner), want, "{outer:?} covers {inner:?}");
        }
    }

    #[test]
    fn delivery_days_keep_a_day_on_each_side() {
        let d = |s: &str| NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap();
        let w = TimeWindow::parse(Some("2024-03-10"), Some("2024-05-01")).unwrap();
        assert_eq!(w.delivery_days(), Some((d("2024-03-09"), d("2024-05-01"))));
        let w = TimeWindow::parse(Some("2024-03-10T12:00:00Z"), None).unwrap();
        assert_eq!(w.delivery_days(), Some((d("2024-03-09"), NaiveDate::MAX)));
        assert_eq!(TimeWindow::ALL.delivery_days(), None);
    }

    #[test]
    fn ends_format_as_eventtime_is_written() {
        let w = TimeWindow::new(Some(MARCH_1), Some(MARCH_1 + 1_500_000)).unwrap();
        assert_eq!(w.since_text().as_deref(), Some("2024-03-01T00:00:00Z"));
        assert_eq!(w.until_text().as_deref(), Some("2024-03-01T00:00:01.500Z"));
        let back = TimeWindow::parse(w.since_text().as_deref(), w.until_text().as_deref());
        assert_eq!(back, Ok(w), "formatting and parsing round-trip");
    }
}
