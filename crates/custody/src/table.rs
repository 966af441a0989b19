//! The validation as text: a row per account, region and hour that is not valid (valid
//! hours are merged into ranges), then the summary line.

use std::fmt::Write;

use crate::model::{Status, Validation};

/// The terminal form of a validation.
pub fn table(v: &Validation) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "lake {} at version {}, validated {}{}",
        v.lake,
        v.lake_version,
        v.validated_at,
        if v.reread {
            ", log files re-read at their source"
        } else {
            ""
        }
    );
    if !v.valid_ranges.is_empty() {
        let _ = writeln!(out, "\nvalid (signed, chained, every log file unchanged):");
        let _ = writeln!(
            out,
            "  {:<14} {:<16} {:<22} {:<22}",
            "account", "region", "from", "to"
        );
        for r in &v.valid_ranges {
            let _ = writeln!(
                out,
                "  {:<14} {:<16} {:<22} {:<22}",
                r.account, r.region, r.from, r.to
            );
        }
    }
    let bad: Vec<_> = v
        .hours
        .iter()
        .filter(|h| h.status != Status::Valid)
        .collect();
    if !bad.is_empty() {
        let _ = writeln!(out, "\nnot valid:");
        let _ = writeln!(
            out,
            "  {:<14} {:<16} {:<22} {:<12} {:>9}  why",
            "account", "region", "hour", "status", "logs ok"
        );
        for h in bad {
            let _ = writeln!(
                out,
                "  {:<14} {:<16} {:<22} {:<12} {:>4}/{:<4}  {}",
                h.account,
                h.region,
                h.start,
                h.status.as_str(),
                h.log_files_valid,
                h.log_files,
                h.why.first().map_or("", String::as_str)
            );
            for why in h.why.iter().skip(1) {
                let _ = writeln!(out, "  {:<80}{why}", "");
            }
        }
    }
    // Problems an hour's row does not already show (digests-stop, unreadable digests...).
    let shown: std::collections::HashSet<&str> = v
        .hours
        .iter()
        .flat_map(|h| h.why.iter().map(String::as_str))
        .collect();
    let other: Vec<_> = v
        .problems
        .iter()
        .filter(|p| !shown.contains(format!("{}: {}", p.object, p.message).as_str()))
        .collect();
    if !other.is_empty() {
        let _ = writeln!(out, "\nalso:");
        for p in other {
            // The kind as the JSON names it (`digests-stop`).
            let kind = serde_json::to_value(p.kind).unwrap_or_default();
            let _ = writeln!(
                out,
                "  {}: {}: {}",
                kind.as_str().unwrap_or("?"),
                p.object,
                p.message
            );
        }
    }
    if !v.notes.is_empty() {
        let _ = writeln!(out, "\nnotes:");
        for n in &v.notes {
            let _ = writeln!(out, "  {n}");
        }
    }
    let _ = writeln!(out, "\n{}", v.summary.line());
    out
}
