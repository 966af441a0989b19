//! What the "Detections" view shows (`trawl serve`, `trawl report --format html`): per rule,
//! its hits counted, first and last, and the latest few; the rules that could not run.

use std::collections::VecDeque;
use std::fmt::Write;
use std::sync::Arc;

use serde::Serialize;
use trawl_query::QueryEngine;
use trawl_report::html::escape;
use trawl_schema::TimeWindow;

use crate::rules::{Problem, RuleInfo, RuleSet, level_rank};
use crate::run::{Hit, RunError, run};

/// One rule's hits in a [`Digest`].
#[derive(Debug, Clone, Serialize)]
pub struct RuleDigest {
    #[serde(flatten)]
    pub rule: Arc<RuleInfo>,
    pub hits: u64,
    pub first: Option<String>,
    pub last: Option<String>,
    /// The latest hits (at most the digest's `keep`), oldest first.
    pub latest: Vec<Hit>,
}

/// The rules' hits over a window, counted in full, the latest kept.
#[derive(Debug, Clone, Serialize)]
pub struct Digest {
    pub window: (Option<String>, Option<String>),
    /// Rules that hit, the highest level first, then the most hits.
    pub rules: Vec<RuleDigest>,
    /// Rules (and correlations) that ran.
    pub ran: usize,
    pub hits: u64,
    pub problems: Vec<Problem>,
}

/// Runs `set` over `window` and keeps, per rule, the count and the latest `keep` hits.
pub async fn digest(
    engine: &QueryEngine,
    set: &RuleSet,
    window: &TimeWindow,
    keep: usize,
) -> Result<Digest, RunError> {
    // The rule being read (its hits arrive together, in time order) and its latest hits.
    let mut current: Option<(RuleDigest, VecDeque<Hit>)> = None;
    let mut done: Vec<RuleDigest> = Vec::new();
    let close = |(mut d, latest): (RuleDigest, VecDeque<Hit>), done: &mut Vec<RuleDigest>| {
        d.latest = latest.into();
        done.push(d);
    };
    let runs = run(engine, set, window, |hit| {
        if current
            .as_ref()
            .is_none_or(|(d, _)| !Arc::ptr_eq(&d.rule, &hit.rule))
        {
            if let Some(c) = current.take() {
                close(c, &mut done);
            }
            let d = RuleDigest {
                rule: hit.rule.clone(),
                hits: 0,
                first: hit.time.clone(),
                last: None,
                latest: Vec::new(),
            };
            current = Some((d, VecDeque::new()));
        }
        let (d, latest) = current.as_mut().expect("set above");
        d.hits += 1;
        d.last = hit.time.clone();
        if keep > 0 {
            if latest.len() == keep {
                latest.pop_front();
            }
            latest.push_back(hit);
        }
        Ok(())
    })
    .await?;
    if let Some(c) = current.take() {
        close(c, &mut done);
    }
    let rank = |r: &RuleDigest| r.rule.level.as_deref().and_then(level_rank).unwrap_or(0);
    done.sort_by(|a, b| rank(b).cmp(&rank(a)).then(b.hits.cmp(&a.hits)));
    Ok(Digest {
        window: (window.since_text(), window.until_text()),
        hits: runs.iter().map(|r| r.hits).sum(),
        ran: runs.len(),
        rules: done,
        problems: set.problems.clone(),
    })
}

impl Digest {
    /// The view as HTML (inside a page): `link` turns an event id into its page's address
    /// (the web app's drill-down), or leaves it as text.
    pub fn html(&self, link: &dyn Fn(&str) -> Option<String>) -> String {
        let mut h = String::from("<section id=\"detections\"><h2>Detections</h2>");
        let window = match &self.window {
            (None, None) => "all events in the lake".to_string(),
            (s, u) => format!(
                "events from {} to {}",
                s.as_deref().unwrap_or("the first"),
                u.as_deref().unwrap_or("the last")
            ),
        };
        let _ = write!(
            h,
            "<p>{} hits from {} of {} Sigma rules over {}. Each rule's matches carry its title, \
             id and author.</p>",
            self.hits,
            self.rules.len(),
            self.ran,
            escape(&window)
        );
        h.push_str(
            "<div class=\"table-wrap\"><table><thead><tr><th>level</th><th>rule</th>\
             <th>hits</th><th>first</th><th>last</th><th>tags</th><th>author</th></tr></thead><tbody>",
        );
        for r in &self.rules {
            let _ = write!(
                h,
                "<tr><td{}>{}</td><td><a href=\"#rule-{}\">{}</a></td><td class=\"num\">{}</td>\
                 <td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
                if matches!(r.rule.level.as_deref(), Some("high" | "critical")) {
                    " class=\"flag\""
                } else {
                    ""
                },
                escape(r.rule.level.as_deref().unwrap_or("")),
                escape(r.rule.id.as_deref().unwrap_or("")),
                escape(&r.rule.title),
                r.hits,
                escape(r.first.as_deref().unwrap_or("")),
                escape(r.last.as_deref().unwrap_or("")),
                escape(&r.rule.tags.join(" ")),
                escape(r.rule.author.as_deref().unwrap_or("")),
            );
        }
        h.push_str("</tbody></table></div>");
        for r in &self.rules {
            let _ = write!(
                h,
                "<h3 id=\"rule-{}\">{} <small>({}, {} hits; the latest {} shown; rule {} by {})</small></h3>",
                escape(r.rule.id.as_deref().unwrap_or("")),
                escape(&r.rule.title),
                escape(r.rule.level.as_deref().unwrap_or("no level")),
                r.hits,
                r.latest.len(),
                escape(r.rule.id.as_deref().unwrap_or("without id")),
                escape(r.rule.author.as_deref().unwrap_or("an unnamed author")),
            );
            h.push_str(
                "<div class=\"table-wrap\"><table><thead><tr><th>time</th><th>principal</th>\
                 <th>source IP</th><th>event</th><th>matched</th><th>event id</th></tr></thead><tbody>",
            );
            for hit in r.latest.iter().rev() {
                let id = hit.event_id.clone().unwrap_or_default();
                let id_cell = match link(&id) {
                    Some(href) if !id.is_empty() => {
                        format!("<a href=\"{}\">{}</a>", escape(&href), escape(&id))
                    }
                    _ => escape(&id),
                };
                let matched: Vec<String> =
                    hit.fields.iter().map(|(k, v)| format!("{k}={v}")).collect();
                let _ = write!(
                    h,
                    "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{id_cell}</td></tr>",
                    escape(hit.time.as_deref().unwrap_or("")),
                    escape(hit.principal.as_deref().unwrap_or("")),
                    escape(hit.source_ip.as_deref().unwrap_or("")),
                    escape(hit.event_name.as_deref().unwrap_or("")),
                    escape(&matched.join(" ")),
                );
            }
            h.push_str("</tbody></table></div>");
        }
        if !self.problems.is_empty() {
            h.push_str("<h3>Rules not evaluated</h3><ul>");
            for p in &self.problems {
                let _ = write!(h, "<li>{}</li>", escape(&p.to_string()));
            }
            h.push_str("</ul>");
        }
        h.push_str("</section>");
        h
    }
}
