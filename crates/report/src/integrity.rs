//! "Log integrity": the lake's latest `trawl validate` (kept in `_trawl/custody/`), shown
//! with the dashboards: the ranges validated, the failures, and whether a dashboard's range
//! lies inside what was validated.

use std::fmt::Write;

use serde::Serialize;
use trawl_custody::{Status, Validation};
use trawl_lake::Lake;
use trawl_schema::TimeWindow;

use crate::html::escape;

/// Failures listed at most (the evidence file has them all).
const SHOWN: usize = 20;

/// The lake's latest validation and the lake's version now.
#[derive(Debug, Clone, Serialize)]
pub struct Integrity {
    /// None: never validated.
    pub validation: Option<Validation>,
    /// The lake's commit version now: a validation of an older version does not cover what
    /// was committed since.
    pub lake_version: u64,
}

impl Integrity {
    /// Reads the lake's latest validation (a damaged record is reported as none, with a
    /// warning naming it); `lake_version` is the lake's commit version now, as the caller
    /// read it (a query engine's, [`Lake::latest_version`]).
    pub fn load(lake: &Lake, lake_version: u64) -> Integrity {
        let validation = match trawl_custody::load_latest(lake) {
            Ok(v) => v,
            Err(e) => {
                tracing::warn!("{e}");
                None
            }
        };
        Integrity {
            validation,
            lake_version,
        }
    }

    /// True when the lake gained commits after the validation.
    pub fn stale(&self) -> bool {
        self.validation
            .as_ref()
            .is_some_and(|v| v.lake_version != self.lake_version)
    }

    /// Whether every event of a dashboard's window is validated: the latest validation
    /// found no failure and traced every row in its window to a valid log file, it covered
    /// all accounts and regions, the lake has not changed since, and the dashboard's window
    /// lies inside the validation's (`--since`/`--until`; all time when it had none).
    pub fn covers(&self, window: &TimeWindow) -> bool {
        let Some(v) = &self.validation else {
            return false;
        };
        let whole = !v.summary.failed
            && !self.stale()
            && v.summary.rows_validated == v.summary.rows
            && v.accounts.is_empty()
            && v.regions.is_empty();
        let micros = |t: &Option<String>| {
            t.as_deref()
                .and_then(trawl_custody::digest::parse_time)
                .map(|t| t.timestamp_micros())
        };
        let since_ok = match micros(&v.since) {
            None => v.since.is_none(),
            Some(s) => window.since.is_some_and(|w| w >= s),
        };
        let until_ok = match micros(&v.until) {
            None => v.until.is_none(),
            Some(u) => window.until.is_some_and(|w| w <= u),
        };
        whole && since_ok && until_ok
    }

    /// One line for a dashboard's header.
    pub fn mark(&self, window: &TimeWindow) -> String {
        match &self.validation {
            None => "Log integrity: not validated (run `trawl validate`)".into(),
            Some(_) if self.covers(window) => {
                "Log integrity: validated (every event of this range came from a log file CloudTrail signed)".into()
            }
            Some(v) => format!(
                "Log integrity: not validated for this whole range (latest validation: {}{})",
                if v.summary.failed { "FAILED" } else { "valid" },
                if self.stale() { ", lake changed since" } else { "" }
            ),
        }
    }

    /// The section as terminal text.
    pub fn text(&self) -> String {
        let mut out = String::from("# Log integrity\n\n");
        let Some(v) = &self.validation else {
            out.push_str(
                "Not validated: run `trawl validate --public-keys FILE` (docs/custody.md).\n",
            );
            return out;
        };
        let _ = writeln!(out, "{}", self.headline(v));
        for r in &v.valid_ranges {
            let _ = writeln!(
                out,
                "  valid  {:<14} {:<16} {} to {}",
                r.account, r.region, r.from, r.to
            );
        }
        for h in self.failures(v) {
            let _ = writeln!(
                out,
                "  {:<6} {:<14} {:<16} {}  {}",
                h.status.as_str(),
                h.account,
                h.region,
                h.start,
                h.why.first().map_or("", String::as_str)
            );
        }
        let more = self.failure_count(v).saturating_sub(SHOWN);
        if more > 0 {
            let _ = writeln!(
                out,
                "  ... and {more} more hours not valid (trawl validate --format json)"
            );
        }
        out
    }

    /// The section as HTML.
    pub fn html(&self) -> String {
        let mut out = String::from("<section id=\"integrity\"><h2>Log integrity</h2>");
        let Some(v) = &self.validation else {
            out.push_str("<p>Not validated: run <code>trawl validate --public-keys FILE</code> to check the lake against CloudTrail's signed digest files.</p></section>");
            return out;
        };
        let _ = write!(out, "<p>{}</p>", escape(&self.headline(v)));
        if !v.valid_ranges.is_empty() {
            out.push_str("<div class=\"table\"><table><thead><tr><th>account</th><th>region</th><th>valid from</th><th>to</th></tr></thead><tbody>");
            for r in &v.valid_ranges {
                let _ = write!(
                    out,
                    "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
                    escape(&r.account),
                    escape(&r.region),
                    escape(&r.from),
                    escape(&r.to)
                );
            }
            out.push_str("</tbody></table></div>");
        }
        let failures = self.failures(v);
        if !failures.is_empty() {
            out.push_str("<div class=\"table\"><table><thead><tr><th>status</th><th>account</th><th>region</th><th>hour</th><th>why</th></tr></thead><tbody>");
            for h in failures {
                let _ = write!(
                    out,
                    "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
                    h.status.as_str(),
                    escape(&h.account),
                    escape(&h.region),
                    escape(&h.start),
                    escape(&h.why.join("; "))
                );
            }
            out.push_str("</tbody></table></div>");
        }
        out.push_str("</section>");
        out
    }

    fn headline(&self, v: &Validation) -> String {
        let mut text = format!(
            "Validated {} at lake version {}: {}",
            v.validated_at,
            v.lake_version,
            v.summary.line()
        );
        if self.stale() {
            let _ = write!(
                text,
                " The lake is at version {} now: what was committed since is not covered; run `trawl validate` again.",
                self.lake_version
            );
        }
        text
    }

    fn failure_count(&self, v: &Validation) -> usize {
        v.hours.iter().filter(|h| h.status != Status::Valid).count()
    }

    fn failures<'a>(&self, v: &'a Validation) -> Vec<&'a trawl_custody::Hour> {
        v.hours
            .iter()
            .filter(|h| h.status != Status::Valid)
            .take(SHOWN)
            .collect()
    }
}
