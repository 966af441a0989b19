//! Time filters that every row of the files they keep satisfies, so no row need test them.
//!
//! A dashboard's range (`eventtime >= '2023-03-31T23:59:59Z'`) usually holds whole files:
//! every row of a day's file lies between the file's smallest and largest event time, which
//! the commit log records. When each file the table reads lies wholly inside a time filter
//! or wholly outside it, the table answers the filter exactly: it drops the files outside
//! and reads the rest without testing the filter on each row (reading `eventtime` and
//! comparing 10 million strings is half the cost of a query that groups one small column).
//! A file that straddles a bound, or any file of the unknown-date partition (whose
//! `eventtime` is text that did not parse), leaves the filter to be tested row by row, as
//! before.
//!
//! Why the file's bounds hold every row: a row outside the unknown partition has a time that
//! parsed, stored as canonical text (`YYYY-MM-DDTHH:MM:SSZ`, never NULL), and the log's
//! `min_time`/`max_time` are that text of the file's smallest and largest parsed time; such
//! texts sort as the times do (four-digit years). Comparison is by bytes, as Trino compares
//! `varchar` (by code point).

use datafusion::logical_expr::{Between, BinaryExpr, Expr, Operator};
use trawl_lake::DataFile;
use trawl_schema::{COL_EVENTTIME, UNKNOWN_PARTITION};

/// What a filter is on the rows of one file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Verdict {
    /// Every row satisfies it.
    All,
    /// No row does.
    None,
    /// Only the rows can tell.
    Some,
}

/// A comparison of the `eventtime` column itself with a text constant.
#[derive(Debug)]
enum TimeFilter<'a> {
    Compare(Operator, &'a str),
    Between(&'a str, &'a str),
}

/// The text of a string constant.
pub(crate) fn text(e: &Expr) -> Option<&str> {
    use datafusion::common::ScalarValue;
    match e {
        Expr::Literal(
            ScalarValue::Utf8(Some(s))
            | ScalarValue::Utf8View(Some(s))
            | ScalarValue::LargeUtf8(Some(s)),
            _,
        ) => Some(s),
        _ => None,
    }
}

/// Only the bare column: a cast of it (to a timestamp, say) compares something else.
fn is_eventtime(e: &Expr) -> bool {
    matches!(e, Expr::Column(c) if c.name == COL_EVENTTIME)
}

fn time_filter(filter: &Expr) -> Option<TimeFilter<'_>> {
    match filter {
        Expr::BinaryExpr(BinaryExpr { left, op, right }) => {
            let op = match op {
                Operator::Gt | Operator::GtEq | Operator::Lt | Operator::LtEq | Operator::Eq => *op,
                _ => return None,
            };
            if is_eventtime(left) {
                text(right).map(|s| TimeFilter::Compare(op, s))
            } else if is_eventtime(right) {
                text(left).map(|s| TimeFilter::Compare(crate::table::flip(op), s))
            } else {
                None
            }
        }
        Expr::Between(Between {
            expr,
            negated: false,
            low,
            high,
        }) if is_eventtime(expr) => Some(TimeFilter::Between(text(low)?, text(high)?)),
        _ => None,
    }
}

/// What `f` is on the rows of `file`.
fn verdict_of(f: &TimeFilter<'_>, file: &DataFile) -> Verdict {
    let (Some(lo), Some(hi)) = (file.min_time.as_deref(), file.max_time.as_deref()) else {
        return Verdict::Some;
    };
    if file.dt == UNKNOWN_PARTITION {
        return Verdict::Some;
    }
    let decide = |all: bool, none: bool| {
        if all {
            Verdict::All
        } else if none {
            Verdict::None
        } else {
            Verdict::Some
        }
    };
    match *f {
        TimeFilter::Compare(Operator::GtEq, s) => decide(lo >= s, hi < s),
        TimeFilter::Compare(Operator::Gt, s) => decide(lo > s, hi <= s),
        TimeFilter::Compare(Operator::LtEq, s) => decide(hi <= s, lo > s),
        TimeFilter::Compare(Operator::Lt, s) => decide(hi < s, lo >= s),
        TimeFilter::Compare(Operator::Eq, s) => decide(lo == s && hi == s, s < lo || s > hi),
        TimeFilter::Compare(..) => Verdict::Some,
        TimeFilter::Between(a, b) => decide(lo >= a && hi <= b, hi < a || lo > b || a > b),
    }
}

/// Each file's verdict on `filter` when no file leaves it to the rows (the filter is then
/// answered by the files); `None` otherwise.
fn verdicts(filter: &Expr, files: &[DataFile]) -> Option<Vec<Verdict>> {
    let f = time_filter(filter)?;
    files
        .iter()
        .map(|file| Some(verdict_of(&f, file)).filter(|v| *v != Verdict::Some))
        .collect()
}

/// Whether `files` answer `filter` without testing a row: it is a time filter and every file
/// lies wholly inside or wholly outside it.
pub(crate) fn is_exact(filter: &Expr, files: &[DataFile]) -> bool {
    verdicts(filter, files).is_some()
}

/// A scan's filters, split by what answers them.
pub(crate) struct Split<'a> {
    /// The filters rows must still be tested against.
    pub tested: Vec<Expr>,
    /// The files (lake-relative paths) wholly outside a filter the files answer.
    pub files_outside: std::collections::BTreeSet<&'a str>,
}

/// Splits `filters` into those [`is_exact`] answers and the rest, for a scan of `files`.
pub(crate) fn split<'a>(filters: &[Expr], files: &'a [DataFile]) -> Split<'a> {
    let mut split = Split {
        tested: Vec::new(),
        files_outside: Default::default(),
    };
    for filter in filters {
        match verdicts(filter, files) {
            Some(vs) => split.files_outside.extend(
                files
                    .iter()
                    .zip(vs)
                    .filter(|(_, v)| *v == Verdict::None)
                    .map(|(f, _)| f.path.as_str()),
            ),
            None => split.tested.push(filter.clone()),
        }
    }
    split
}

#[cfg(test)]
mod tests {
    use super::*;
    use datafusion::logical_expr::{col, lit};

    /// `filter` on the rows of `file`; `None` when it is not a time filter this module knows.
    fn verdict(filter: &Expr, file: &DataFile) -> Option<Verdict> {
        time_filter(filter).map(|f| verdict_of(&f, file))
    }

    fn file(dt: &str, lo: Option<&str>, hi: Option<&str>) -> DataFile {
        DataFile {
            path: format!("events/dt={dt}/x.parquet"),
            dt: dt.into(),
            rows: 1,
            bytes: 1,
            min_time: lo.map(Into::into),
            max_time: hi.map(Into::into),
            xxh3: String::new(),
            index: String::new(),
            layout: None,
            committed: 1,
        }
    }

    #[test]
    fn a_file_inside_outside_or_across_a_bound() {
        let day = file(
            "2024-03-01",
            Some("2024-03-01T00:00:05Z"),
            Some("2024-03-01T23:59:59Z"),
        );
        let e = col("eventtime");
        let cases = [
            (e.clone().gt_eq(lit("2024-03-01T00:00:05Z")), Verdict::All),
            (e.clone().gt(lit("2024-03-01T00:00:05Z")), Verdict::Some),
            (e.clone().gt(lit("2024-03-01")), Verdict::All),
            (e.clone().gt_eq(lit("2024-03-02")), Verdict::None),
            (e.clone().gt(lit("2024-03-01T23:59:59Z")), Verdict::None),
            (e.clone().lt(lit("2024-03-02")), Verdict::All),
            (e.clone().lt(lit("2024-03-01T23:59:59Z")), Verdict::Some),
            (e.clone().lt_eq(lit("2024-03-01T23:59:59Z")), Verdict::All),
            (e.clone().lt_eq(lit("2024-03-01T00:00:04Z")), Verdict::None),
            (e.clone().lt(lit("2024-03-01T00:00:05Z")), Verdict::None),
            (e.clone().eq(lit("2024-03-01T12:00:00Z")), Verdict::Some),
            (e.clone().eq(lit("2024-02-01T12:00:00Z")), Verdict::None),
            (lit("2024-03-01").lt(e.clone()), Verdict::All),
            (lit("2024-03-02").lt_eq(e.clone()), Verdict::None),
            (
                e.clone()
                    .between(lit("2024-02-01"), lit("2024-03-01T23:59:59Z")),
                Verdict::All,
            ),
            (
                e.clone()
                    .between(lit("2024-03-01T12:00:00Z"), lit("2024-04")),
                Verdict::Some,
            ),
            (
                e.clone().between(lit("2024-04"), lit("2024-03")),
                Verdict::None,
            ),
        ];
        for (filter, want) in cases {
            assert_eq!(verdict(&filter, &day), Some(want), "{filter}");
        }
        let single = file(
            "2024-03-01",
            Some("2024-03-01T12:00:00Z"),
            Some("2024-03-01T12:00:00Z"),
        );
        assert_eq!(
            verdict(&e.clone().eq(lit("2024-03-01T12:00:00Z")), &single),
            Some(Verdict::All)
        );
    }

    #[test]
    fn only_plain_comparisons_of_the_column_with_text_are_decided() {
        let day = file(
            "2024-03-01",
            Some("2024-03-01T00:00:00Z"),
            Some("2024-03-01T23:59:59Z"),
        );
        let not_ours = [
            col("eventname").gt_eq(lit("2024")),
            datafusion::logical_expr::cast(
                col("eventtime"),
                datafusion::arrow::datatypes::DataType::Utf8,
            )
            .gt_eq(lit("2024")),
            col("eventtime").not_eq(lit("2024")),
            col("eventtime").gt_eq(col("eventsource")),
            col("eventtime").gt_eq(lit(5)),
            col("eventtime").not_between(lit("2024"), lit("2025")),
            col("eventtime").like(lit("2024%")),
        ];
        for filter in not_ours {
            assert_eq!(verdict(&filter, &day), None, "{filter}");
            assert!(!is_exact(&filter, std::slice::from_ref(&day)), "{filter}");
        }
    }

    #[test]
    fn unknown_days_and_files_without_bounds_leave_the_rows_to_tell() {
        let filter = col("eventtime").gt_eq(lit("2000"));
        let inside = file(
            "2024-03-01",
            Some("2024-03-01T00:00:00Z"),
            Some("2024-03-01T23:59:59Z"),
        );
        let unknown = file(UNKNOWN_PARTITION, Some("2024"), Some("2024"));
        let bare = file("2024-03-02", None, None);
        assert_eq!(verdict(&filter, &unknown), Some(Verdict::Some));
        assert_eq!(verdict(&filter, &bare), Some(Verdict::Some));
        assert!(is_exact(&filter, std::slice::from_ref(&inside)));
        assert!(!is_exact(&filter, &[inside.clone(), unknown]));
        assert!(!is_exact(&filter, &[inside, bare]));
        assert!(is_exact(&filter, &[]));
    }
}
