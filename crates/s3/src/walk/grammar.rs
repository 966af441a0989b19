//! The CloudTrail key layout: the levels of `AWSLogs/...` and what a selection keeps of them.

use super::*;
pub(super) use trawl_ingest::layout::{digits, is_account, is_kind, is_org, is_region, key_date};

/// Where a prefix sits in the layout.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Level {
    /// Above `AWSLogs/` (a custom prefix, or the bucket root), `n` folders down from where
    /// the walk started.
    Search(u8),
    AwsLogs,
    Org,
    Account,
    /// `CloudTrail/`, `CloudTrail-Digest/` or `CloudTrail-Insight/`.
    Kind,
    Region,
    Year(i32),
    Month(i32, u32),
    Day(NaiveDate),
    /// Off the layout: everything under it is listed.
    Unknown,
}

/// Folders above `AWSLogs/` searched for it before listing everything.
pub(super) const SEARCH_DEPTH: u8 = 3;

/// Delivery days to list, inclusive, if a window was given.
pub(super) fn day_range(sel: &Selection) -> Option<(NaiveDate, NaiveDate)> {
    sel.window.delivery_days()
}

/// The level of folder `name` found under a folder of level `parent`; `None` if it is not
/// part of the layout there (and is skipped).
pub(super) fn child_level(parent: Level, name: &str) -> Option<Level> {
    Some(match parent {
        Level::Search(_) if name == "AWSLogs" => Level::AwsLogs,
        Level::Search(n) if n < SEARCH_DEPTH => Level::Search(n + 1),
        Level::Search(_) => Level::Unknown,
        Level::AwsLogs if is_org(name) => Level::Org,
        Level::AwsLogs | Level::Org if is_account(name) => Level::Account,
        Level::Account if is_kind(name) => Level::Kind,
        Level::Kind if is_region(name) => Level::Region,
        Level::Region => Level::Year(digits(name, 4)? as i32),
        Level::Year(y) => match digits(name, 2)? {
            m @ 1..=12 => Level::Month(y, m),
            _ => return None,
        },
        Level::Month(y, m) => Level::Day(NaiveDate::from_ymd_opt(y, m, digits(name, 2)?)?),
        _ => return None,
    })
}

/// Whether a folder of `level` can hold selected objects.
pub(super) fn selected(level: Level, name: &str, sel: &Selection) -> bool {
    let days = day_range(sel);
    match level {
        Level::Account => sel.accounts.is_empty() || sel.accounts.iter().any(|a| a == name),
        Level::Region => sel.regions.is_empty() || sel.regions.iter().any(|r| r == name),
        Level::Year(y) => days.is_none_or(|(a, b)| a.year() <= y && y <= b.year()),
        Level::Month(y, m) => days.is_none_or(|(a, b)| {
            let first = NaiveDate::from_ymd_opt(y, m, 1).expect("valid month");
            let last = first
                .checked_add_months(chrono::Months::new(1))
                .and_then(|d| d.pred_opt())
                .unwrap_or(NaiveDate::MAX);
            first <= b && a <= last
        }),
        Level::Day(d) => days.is_none_or(|(a, b)| a <= d && d <= b),
        _ => true,
    }
}

/// The level of the prefix the user gave, read from its folders.
pub(super) fn start_level(prefix: &str, sel: &Selection) -> Option<Level> {
    let mut level = Level::Search(0);
    for name in prefix.split('/').filter(|s| !s.is_empty()) {
        level = match child_level(level, name) {
            // Folders above AWSLogs do not count towards the search depth.
            Some(Level::Search(_)) if matches!(level, Level::Search(_)) => Level::Search(0),
            Some(l) => l,
            None => Level::Unknown,
        };
        if !selected(level, name, sel) {
            return None;
        }
    }
    Some(level)
}

/// Levels listed folder by folder before the streams start: a few folders an account.
pub(super) fn above_region(level: Level) -> bool {
    matches!(
        level,
        Level::Search(_) | Level::AwsLogs | Level::Org | Level::Account | Level::Kind
    )
}
