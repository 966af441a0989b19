//! `trawl-load`: a load test of `trawl serve` on loopback. N clients, each on its own
//! keep-alive connection, send a seeded mix of requests for a fixed time — dashboard pages
//! with different ranges and filters, drill-down pages, event JSON pages, console queries
//! light and heavy, and commit probes — and the run reports throughput and p50/p99 latency
//! per route, statuses, and whether every answer matched one commit of the lake.
//!
//!   trawl-load --addr 127.0.0.1:8080 --lake LAKE [--clients 64] [--seconds 60]
//!              [--dashboard-p99-ms 2000] [--json out.json]
//!
//! Exit 1 when a target is missed: any 5xx or transport error, a count that no commit of the
//! lake gives (read from `LAKE/_trawl/log/` after the run), a client that saw the lake go
//! back in time, or a dashboard p99 over the target. benches/serve_load.sh runs it beside a
//! `trawl serve` while `trawl ingest` commits into the same lake.

use std::collections::{BTreeMap, BTreeSet};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use clap::Parser;
use http_body_util::{BodyExt, Empty};
use hyper::body::Bytes;
use hyper_util::rt::TokioIo;
use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};
use trawl_report::html::url_encode as enc;

#[derive(Debug, Parser)]
struct Args {
    /// The server's address.
    #[arg(long)]
    addr: SocketAddr,
    /// The lake the server reads (its commit log gives the counts an answer may show).
    #[arg(long)]
    lake: PathBuf,
    /// Concurrent clients, one connection each.
    #[arg(long, default_value_t = 64)]
    clients: usize,
    /// Seconds the load lasts.
    #[arg(long, default_value_t = 60)]
    seconds: u64,
    /// Seed of the request mix.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Target: p99 latency of dashboard pages, in milliseconds.
    #[arg(long, default_value_t = 2000)]
    dashboard_p99_ms: u64,
    /// Also write the figures as JSON here.
    #[arg(long)]
    json: Option<PathBuf>,
    /// Seconds to wait for the server's `GET /ready` (its dashboards' default pages computed
    /// since it started) before the load begins; 0: begin at once, while it warms.
    #[arg(long, default_value_t = 600)]
    ready_timeout: u64,
}

/// What the clients draw requests from, learnt from the lake through the server.
#[derive(Debug)]
struct Sample {
    days: Vec<String>,
    ids: Vec<String>,
    filters: Vec<(String, String)>,
}

#[derive(Debug)]
struct Outcome {
    route: &'static str,
    status: u16,
    latency: Duration,
    path: String,
    /// For commit probes: the count the answer gave.
    count: Option<u64>,
}

const DASHBOARDS: &[&str] = &[
    "general-operations",
    "error-overview",
    "console-login-overview",
    "security-group-modifications",
    "operational-account-activity",
];

fn console(sql: &str) -> String {
    format!("/sql.csv?q={}", enc(sql))
}

/// A keep-alive HTTP/1 connection, reopened when the server closes it.
struct Client {
    addr: SocketAddr,
    conn: Option<hyper::client::conn::http1::SendRequest<Empty<Bytes>>>,
}

impl Client {
    async fn get(&mut self, path: &str) -> anyhow::Result<(u16, Bytes)> {
        if self.conn.as_ref().is_none_or(|c| c.is_closed()) {
            let stream = tokio::net::TcpStream::connect(self.addr).await?;
            let (send, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream)).await?;
            tokio::spawn(conn);
            self.conn = Some(send);
        }
        let send = self.conn.as_mut().context("a connection")?;
        send.ready().await?;
        let req = hyper::Request::get(path)
            .header(hyper::header::HOST, self.addr.to_string())
            .body(Empty::new())?;
        let res = send.send_request(req).await;
        let res = match res {
            Ok(r) => r,
            Err(e) => {
                self.conn = None;
                return Err(e.into());
            }
        };
        let status = res.status().as_u16();
        let body = res.into_body().collect().await?.to_bytes();
        Ok((status, body))
    }
}

/// The rows of a CSV answer (header dropped); the values asked for have no commas.
fn csv_rows(body: &Bytes) -> Vec<String> {
    String::from_utf8_lossy(body)
        .lines()
        .skip(1)
        .map(|l| l.trim_matches('"').to_string())
        .filter(|l| !l.is_empty())
        .collect()
}

async fn sample(addr: SocketAddr) -> anyhow::Result<Sample> {
    let mut c = Client { addr, conn: None };
    let mut ask = async |sql: &str| -> anyhow::Result<Vec<String>> {
        let (status, body) = c.get(&console(sql)).await?;
        if status != 200 {
            bail!("{sql}: {status} {}", String::from_utf8_lossy(&body));
        }
        Ok(csv_rows(&body))
    };
    let days = ask("SELECT DISTINCT substr(eventtime, 1, 10) AS d FROM cloudtrail_logs ORDER BY d")
        .await?;
    let ids = ask("SELECT eventid FROM cloudtrail_logs ORDER BY eventid LIMIT 500").await?;
    let mut filters = Vec::new();
    for (col, expr) in [
        ("awsregion", "awsregion"),
        ("eventname", "eventname"),
        ("sourceipaddress", "sourceipaddress"),
        ("user_arn", "useridentity.arn"),
        ("errorcode", "errorcode"),
    ] {
        let sql = format!(
            "SELECT {expr} AS v FROM cloudtrail_logs WHERE {expr} IS NOT NULL \
             GROUP BY 1 ORDER BY count(*) DESC, 1 LIMIT 10"
        );
        for v in ask(&sql).await? {
            filters.push((col.to_string(), v));
        }
    }
    if days.is_empty() || ids.is_empty() || filters.is_empty() {
        bail!("the lake is empty: ingest a trail first");
    }
    Ok(Sample { days, ids, filters })
}

/// Waits for the server's `GET /ready` to answer 200 (a server without that route, 404, is
/// taken as ready); returns how long that took.
async fn ready(addr: SocketAddr, timeout: Duration) -> anyhow::Result<Duration> {
    let start = Instant::now();
    let mut c = Client { addr, conn: None };
    loop {
        match c.get("/ready").await {
            Ok((200 | 404, _)) => return Ok(start.elapsed()),
            Ok((503, _)) | Err(_) if start.elapsed() < timeout => {
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            Ok((status, body)) => bail!(
                "http://{addr}/ready answered {status} after {:.0} s: {}",
                start.elapsed().as_secs_f64(),
                String::from_utf8_lossy(&body)
            ),
            Err(e) => bail!(
                "http://{addr}/ready: no answer within {} s ({e}); raise --ready-timeout, or \
                 pass 0 to load a server that is still warming",
                timeout.as_secs()
            ),
        }
    }
}

/// One request of the mix: its route name and path.
fn pick(rng: &mut SmallRng, s: &Sample) -> (&'static str, String) {
    let day = |rng: &mut SmallRng| s.days[rng.random_range(0..s.days.len())].clone();
    // A range: everything, one day, or a span of days.
    let range = |rng: &mut SmallRng| match rng.random_range(0..3) {
        0 => String::new(),
        1 => {
            let d = day(rng);
            format!("since={d}&until={d}T23:59:59Z")
        }
        _ => {
            let (a, b) = (day(rng), day(rng));
            let (a, b) = if a <= b { (a, b) } else { (b, a) };
            format!("since={a}&until={b}T23:59:59Z")
        }
    };
    let filter = |rng: &mut SmallRng| {
        let (c, v) = &s.filters[rng.random_range(0..s.filters.len())];
        format!("col={}&value={}", enc(c), enc(v))
    };
    match rng.random_range(0..100) {
        0..40 => {
            let d = DASHBOARDS[rng.random_range(0..DASHBOARDS.len())];
            // Reported apart; the p99 target is over both.
            let (route, f) = if rng.random_bool(0.3) {
                ("dashboard-filter", filter(rng))
            } else {
                ("dashboard", String::new())
            };
            (route, format!("/dashboards/{d}?{}&{f}", range(rng)))
        }
        40..60 => (
            "drill-down",
            format!("/events?{}&{}", filter(rng), range(rng)),
        ),
        60..78 => {
            let id = &s.ids[rng.random_range(0..s.ids.len())];
            ("event", format!("/events/{}", enc(id)))
        }
        78..88 => {
            let d = day(rng);
            let sql = format!(
                "SELECT eventsource, eventname, count(*) AS n FROM cloudtrail_logs \
                 WHERE eventtime >= '{d}' AND eventtime < '{d}T23:59:59Z' \
                 GROUP BY 1, 2 ORDER BY n DESC LIMIT 20"
            );
            ("console-light", console(&sql))
        }
        88..93 => {
            let sql = "SELECT useridentity.arn, eventname, sourceipaddress, count(*) AS n, \
                       min(eventtime) AS first, max(eventtime) AS last \
                       FROM cloudtrail_logs GROUP BY 1, 2, 3 ORDER BY n DESC, 1, 2, 3";
            ("console-heavy", console(sql))
        }
        _ => (
            "commit-probe",
            console("SELECT count(*) AS n FROM cloudtrail_logs"),
        ),
    }
}

async fn client(
    addr: SocketAddr,
    sample: std::sync::Arc<Sample>,
    seed: u64,
    until: Instant,
) -> Vec<Outcome> {
    let mut rng = SmallRng::seed_from_u64(seed);
    let mut c = Client { addr, conn: None };
    let mut out = Vec::new();
    while Instant::now() < until {
        let (route, path) = pick(&mut rng, &sample);
        let start = Instant::now();
        let (status, count) = match c.get(&path).await {
            Ok((status, body)) => {
                let count = (route == "commit-probe" && status == 200)
                    .then(|| csv_rows(&body).first()?.parse().ok())
                    .flatten();
                (status, count)
            }
            Err(_) => (0, None),
        };
        out.push(Outcome {
            route,
            status,
            latency: start.elapsed(),
            path,
            count,
        });
    }
    out
}

/// Rows in the lake after each commit: the counts a whole-commit answer can give.
fn commit_totals(lake: &std::path::Path) -> anyhow::Result<BTreeSet<u64>> {
    let dir = lake.join("_trawl/log");
    let mut names: Vec<_> = std::fs::read_dir(&dir)
        .with_context(|| format!("reading {}: is --lake the served lake?", dir.display()))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "json"))
        .collect();
    names.sort();
    let mut totals = BTreeSet::from([0]);
    let mut total = 0;
    for p in names {
        let entry: serde_json::Value = serde_json::from_slice(&std::fs::read(&p)?)
            .with_context(|| format!("parsing {}", p.display()))?;
        for f in entry["add"].as_array().into_iter().flatten() {
            total += f["rows"].as_u64().unwrap_or(0);
        }
        totals.insert(total);
    }
    Ok(totals)
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let i = ((sorted.len() as f64 * p).ceil() as usize).clamp(1, sorted.len()) - 1;
    sorted[i]
}

#[tokio::main]
async fn main() -> anyhow::Result<ExitCode> {
    let a = Args::parse();
    if a.ready_timeout > 0 {
        let waited = ready(a.addr, Duration::from_secs(a.ready_timeout)).await?;
        eprintln!(
            "trawl-load: the server was ready after {:.1} s",
            waited.as_secs_f64()
        );
    }
    let sample = std::sync::Arc::new(
        sample(a.addr)
            .await
            .context("sampling the lake through the server")?,
    );
    eprintln!(
        "trawl-load: {} clients for {} s on http://{} ({} days, {} ids, {} filters)",
        a.clients,
        a.seconds,
        a.addr,
        sample.days.len(),
        sample.ids.len(),
        sample.filters.len()
    );
    let until = Instant::now() + Duration::from_secs(a.seconds);
    let tasks: Vec<_> = (0..a.clients)
        .map(|i| {
            tokio::spawn(client(
                a.addr,
                sample.clone(),
                a.seed * 1000 + i as u64,
                until,
            ))
        })
        .collect();
    let mut per_client = Vec::new();
    for t in tasks {
        per_client.push(t.await?);
    }
    let elapsed = a.seconds as f64;

    // Consistency: every probe's count is a commit's total, and no client sees it shrink.
    let totals = commit_totals(&a.lake)?;
    let mut inconsistent: Vec<u64> = Vec::new();
    let mut backwards = 0;
    for outcomes in &per_client {
        let counts: Vec<u64> = outcomes.iter().filter_map(|o| o.count).collect();
        inconsistent.extend(counts.iter().filter(|c| !totals.contains(c)).copied());
        backwards += counts.windows(2).filter(|w| w[1] < w[0]).count();
    }
    let probes: BTreeSet<u64> = per_client
        .iter()
        .flatten()
        .filter_map(|o| o.count)
        .collect();

    let mut routes: BTreeMap<&str, Vec<&Outcome>> = BTreeMap::new();
    for o in per_client.iter().flatten() {
        routes.entry(o.route).or_default().push(o);
    }
    println!(
        "{:<15} {:>8} {:>8} {:>9} {:>9} {:>9}  statuses",
        "route", "requests", "per s", "p50 ms", "p99 ms", "max ms"
    );
    let mut report = serde_json::Map::new();
    let (mut server_errors, mut transport_errors) = (0, 0);
    // Dashboard pages, filtered or not, slowest first.
    let mut slowest: Vec<&Outcome> = routes
        .iter()
        .filter(|(r, _)| r.starts_with("dashboard"))
        .flat_map(|(_, o)| o.iter().copied())
        .collect();
    slowest.sort_by_key(|o| std::cmp::Reverse(o.latency));
    let dashboards: Vec<Duration> = slowest.iter().rev().map(|o| o.latency).collect();
    let dashboard_p99 = percentile(&dashboards, 0.99);
    for (route, outcomes) in &routes {
        let mut lat: Vec<Duration> = outcomes.iter().map(|o| o.latency).collect();
        lat.sort();
        let mut statuses: BTreeMap<u16, usize> = BTreeMap::new();
        for o in outcomes {
            *statuses.entry(o.status).or_default() += 1;
        }
        server_errors += statuses.range(500..600).map(|(_, n)| n).sum::<usize>();
        transport_errors += statuses.get(&0).copied().unwrap_or(0);
        let (p50, p99) = (percentile(&lat, 0.5), percentile(&lat, 0.99));
        let ms = |d: Duration| d.as_secs_f64() * 1000.0;
        let st: Vec<String> = statuses.iter().map(|(s, n)| format!("{s}:{n}")).collect();
        println!(
            "{route:<15} {:>8} {:>8.1} {:>9.0} {:>9.0} {:>9.0}  {}",
            outcomes.len(),
            outcomes.len() as f64 / elapsed,
            ms(p50),
            ms(p99),
            ms(*lat.last().unwrap_or(&Duration::ZERO)),
            st.join(" ")
        );
        report.insert(
            route.to_string(),
            serde_json::json!({
                "requests": outcomes.len(), "per_s": outcomes.len() as f64 / elapsed,
                "p50_ms": ms(p50), "p99_ms": ms(p99),
                "max_ms": ms(*lat.last().unwrap_or(&Duration::ZERO)),
                "statuses": statuses,
            }),
        );
    }
    let total: usize = routes.values().map(Vec::len).sum();
    println!(
        "all: {total} requests, {:.1}/s; 5xx: {server_errors}; transport errors: {transport_errors}; \
         commit probes saw {} distinct counts of {} commits' totals, {} not a commit's total, {backwards} going back",
        total as f64 / elapsed,
        probes.len(),
        totals.len(),
        inconsistent.len()
    );
    println!(
        "dashboard pages, filtered or not: {} requests, p50 {} ms, p99 {} ms (target: {} ms)",
        dashboards.len(),
        percentile(&dashboards, 0.5).as_millis(),
        dashboard_p99.as_millis(),
        a.dashboard_p99_ms
    );
    // The slowest dashboard pages, to tell what holds the tail.
    for o in slowest.iter().take(5) {
        println!("  slow: {:>6} ms  {}", o.latency.as_millis(), o.path);
    }
    if let Some(path) = &a.json {
        let doc = serde_json::json!({
            "clients": a.clients, "seconds": a.seconds, "requests": total,
            "server_errors": server_errors, "transport_errors": transport_errors,
            "inconsistent": inconsistent.len(), "backwards": backwards,
            "distinct_counts": probes.len(), "routes": report,
            "dashboard_p99_ms": dashboard_p99.as_secs_f64() * 1000.0,
        });
        std::fs::write(path, serde_json::to_vec_pretty(&doc)?)?;
    }
    let mut failed = Vec::new();
    if server_errors > 0 || transport_errors > 0 {
        failed.push(format!(
            "{server_errors} 5xx and {transport_errors} transport errors (target: none)"
        ));
    }
    if !inconsistent.is_empty() || backwards > 0 {
        failed.push(format!(
            "answers not matching one commit: {:?}, {backwards} going back",
            inconsistent.iter().take(5).collect::<Vec<_>>()
        ));
    }
    if dashboard_p99 > Duration::from_millis(a.dashboard_p99_ms) {
        failed.push(format!(
            "dashboard p99 {} ms over the target {} ms",
            dashboard_p99.as_millis(),
            a.dashboard_p99_ms
        ));
    }
    for f in &failed {
        eprintln!("trawl-load: FAILED: {f}");
    }
    Ok(if failed.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}
