//! `trawl bench`: every statement of a query set run N times on each lake, timed, with what
//! it read and what Athena would bill; a baseline of an earlier run to fail on regressions.

use serde::{Deserialize, Serialize};
use trawl_query::{QueryEngine, QueryError};

use crate::{AthenaBill, Workbench};

/// How many times each statement runs.
#[derive(Debug, Clone, Copy)]
pub struct BenchOptions {
    /// Timed runs (at least 1).
    pub repeat: usize,
    /// Untimed runs first (footers and statistics read and cached, as in a warm session).
    pub warmup: usize,
}

/// Wall times of the timed runs, in seconds.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Timing {
    pub min: f64,
    pub median: f64,
    pub max: f64,
}

impl Timing {
    /// Of at least one time.
    fn of(mut times: Vec<f64>) -> Timing {
        times.sort_by(f64::total_cmp);
        let n = times.len();
        let median = if n % 2 == 1 {
            times[n / 2]
        } else {
            (times[n / 2 - 1] + times[n / 2]) / 2.0
        };
        Timing {
            min: times[0],
            median,
            max: times[n - 1],
        }
    }
}

/// One statement on one lake.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BenchRun {
    /// The statement's place in the file, from 1.
    pub statement: usize,
    pub sql: String,
    pub lake: String,
    pub seconds: Timing,
    pub rows: u64,
    /// Bytes the lake scans read (the last run).
    pub bytes_scanned: u64,
    /// Files the lake scans listed after partition pruning (the last run).
    #[serde(default)]
    pub files_listed: u64,
    /// `None` for DDL.
    pub athena: Option<AthenaBill>,
    /// The median against the first lake's for the same statement (`None` on the first).
    pub ratio: Option<f64>,
}

/// A whole `trawl bench` run: what `--format json` prints and `--baseline` reads.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BenchReport {
    pub repeat: usize,
    pub warmup: usize,
    pub runs: Vec<BenchRun>,
}

/// Runs each of `statements` on `engine` (the lake labelled `lake`).
pub async fn run_statements(
    engine: &QueryEngine,
    bench: &Workbench,
    lake: &str,
    statements: &[String],
    opts: BenchOptions,
) -> Result<Vec<BenchRun>, QueryError> {
    let mut out = Vec::new();
    for (i, sql) in statements.iter().enumerate() {
        for _ in 0..opts.warmup {
            engine.run(sql).await?;
        }
        let mut times = Vec::new();
        let mut last = None;
        for _ in 0..opts.repeat.max(1) {
            let mut results = engine.run(sql).await?;
            times.push(results.iter().map(|r| r.elapsed.as_secs_f64()).sum());
            last = results.pop();
        }
        let Some(result) = last else { continue };
        let stats = bench.stats(&result, engine.files());
        out.push(BenchRun {
            statement: i + 1,
            sql: sql.trim().to_string(),
            lake: lake.to_string(),
            seconds: Timing::of(times),
            rows: stats.rows,
            bytes_scanned: stats.scan.as_ref().map_or(0, |s| s.bytes_scanned),
            files_listed: stats.scan.as_ref().map_or(0, |s| s.files_listed),
            athena: stats.athena,
            ratio: None,
        });
    }
    Ok(out)
}

impl BenchReport {
    /// The report of `runs` (every lake's, in order), each run's ratio to the first lake's.
    pub fn new(mut runs: Vec<BenchRun>, opts: BenchOptions) -> BenchReport {
        let first = runs.first().map(|r| r.lake.clone());
        let base: Vec<(usize, f64)> = runs
            .iter()
            .filter(|r| Some(&r.lake) == first.as_ref())
            .map(|r| (r.statement, r.seconds.median))
            .collect();
        for r in &mut runs {
            if Some(&r.lake) == first.as_ref() {
                continue;
            }
            r.ratio = base
                .iter()
                .find(|(s, _)| *s == r.statement)
                .filter(|(_, m)| *m > 0.0)
                .map(|(_, m)| r.seconds.median / m);
        }
        BenchReport {
            repeat: opts.repeat.max(1),
            warmup: opts.warmup,
            runs,
        }
    }

    /// The runs whose median got slower than in `baseline` by more than `factor` and by
    /// more than `min_delta` seconds (below that, timer noise), matched by lake and SQL text
    /// (by SQL text alone when the baseline ran it on one lake only, as a baseline made in
    /// another checkout names its lake by another path).
    pub fn regressions(
        &self,
        baseline: &BenchReport,
        factor: f64,
        min_delta: f64,
    ) -> Vec<Regression> {
        let mut out = Vec::new();
        for now in &self.runs {
            let same_sql: Vec<&BenchRun> =
                baseline.runs.iter().filter(|b| b.sql == now.sql).collect();
            let before =
                same_sql
                    .iter()
                    .find(|b| b.lake == now.lake)
                    .or(match same_sql.as_slice() {
                        [one] => Some(one),
                        _ => None,
                    });
            let Some(before) = before else { continue };
            let (b, a) = (before.seconds.median, now.seconds.median);
            if a > b * factor && a - b > min_delta {
                out.push(Regression {
                    statement: now.statement,
                    sql: now.sql.clone(),
                    lake: now.lake.clone(),
                    before: b,
                    after: a,
                });
            }
        }
        out
    }
}

/// `sql` on one line (runs of whitespace as one space), cut to `max` characters with `...`.
pub fn one_line(sql: &str, max: usize) -> String {
    let s = sql.split_whitespace().collect::<Vec<_>>().join(" ");
    if s.chars().count() > max {
        format!(
            "{}...",
            s.chars().take(max.saturating_sub(3)).collect::<String>()
        )
    } else {
        s
    }
}

/// A statement slower than in the baseline.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Regression {
    pub statement: usize,
    pub sql: String,
    pub lake: String,
    /// Median seconds in the baseline, and now.
    pub before: f64,
    pub after: f64,
}

impl std::fmt::Display for Regression {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let sql = one_line(&self.sql, 80);
        write!(
            f,
            "statement {} on {}: median {:.3} s, was {:.3} s ({:.2}x): {sql}",
            self.statement,
            self.lake,
            self.after,
            self.before,
            self.after / self.before.max(f64::MIN_POSITIVE)
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(statement: usize, lake: &str, median: f64) -> BenchRun {
        BenchRun {
            statement,
            sql: format!("SELECT {statement}"),
            lake: lake.to_string(),
            seconds: Timing {
                min: median,
                median,
                max: median,
            },
            rows: 1,
            bytes_scanned: 0,
            files_listed: 0,
            athena: None,
            ratio: None,
        }
    }

    #[test]
    fn the_median_of_odd_and_even_counts() {
        assert_eq!(Timing::of(vec![3.0, 1.0, 2.0]).median, 2.0);
        let t = Timing::of(vec![4.0, 1.0, 2.0, 3.0]);
        assert_eq!((t.min, t.median, t.max), (1.0, 2.5, 4.0));
    }

    #[test]
    fn ratios_are_to_the_first_lake() {
        let opts = BenchOptions {
            repeat: 1,
            warmup: 0,
        };
        let r = BenchReport::new(vec![run(1, "a", 2.0), run(1, "b", 1.0)], opts);
        assert_eq!(r.runs[0].ratio, None);
        assert_eq!(r.runs[1].ratio, Some(0.5));
    }

    #[test]
    fn a_regression_is_slower_by_the_factor_and_the_delta() {
        let opts = BenchOptions {
            repeat: 1,
            warmup: 0,
        };
        let base = BenchReport::new(vec![run(1, "a", 1.0), run(2, "a", 0.001)], opts);
        let now = BenchReport::new(vec![run(1, "b", 1.3), run(2, "b", 0.004)], opts);
        // Statement 1: 1.3x and 0.3 s slower; statement 2: 4x but 3 ms, noise.
        let r = now.regressions(&base, 1.25, 0.01);
        assert_eq!(r.len(), 1, "{r:?}");
        assert_eq!(r[0].statement, 1);
        assert!(now.regressions(&base, 1.5, 0.01).is_empty());
        assert_eq!(now.regressions(&base, 1.25, 0.0).len(), 2);
    }
}
