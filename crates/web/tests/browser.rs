//! The web app end to end in headless Chromium (Debian's `chromium`): every dashboard loads
//! with its charts, drill-down reaches an event's JSON, the SQL console answers and offers a
//! CSV, and write statements are refused. With `TRAWL_SCREENSHOTS=DIR`, a PNG of each
//! dashboard is written there (the ones in docs/screenshots come from this).
//!
//! Chromium is found at `TRAWL_CHROMIUM` or /usr/bin/chromium; without it the test fails when
//! `CI` is set (`.ci/run` installs it) and is skipped otherwise.

#![allow(clippy::unwrap_used, reason = "a test's unwrap is its failure message")]

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;

use trawl_testkit::http_get as get;

mod common;

fn chromium() -> Option<PathBuf> {
    let path = std::env::var_os("TRAWL_CHROMIUM")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/usr/bin/chromium"));
    if path.exists() {
        return Some(path);
    }
    assert!(
        std::env::var_os("CI").is_none(),
        "no Chromium at {}: apt-get install chromium (or set TRAWL_CHROMIUM)",
        path.display()
    );
    eprintln!("skipped: no Chromium at {}", path.display());
    None
}

fn browser(chrome: &Path, profile: &Path, args: &[&str], url: &str) -> String {
    let out = Command::new(chrome)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--hide-scrollbars",
        ])
        .arg(format!("--user-data-dir={}", profile.display()))
        .args(args)
        .arg(url)
        .output()
        .expect("chromium runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// The DOM after Chromium loaded `url`.
fn dom(chrome: &Path, profile: &Path, url: &str) -> String {
    browser(chrome, profile, &["--dump-dom"], url)
}

/// Serves a lake of a generated trail (with a geolocation database) on a free port.
fn start(dir: &Path) -> SocketAddr {
    let trail = dir.join("trail");
    let spec = trawl_gen::TrailSpec {
        events: 3000,
        days: 3,
        ..trawl_gen::TrailSpec::default()
    };
    trawl_gen::write_trail(&trail, &spec).unwrap();
    let lake = trawl_lake::Lake::create(dir.join("lake")).unwrap();
    trawl_testkit::ingest(&lake, &[trail]);
    let city = dir.join("city.mmdb");
    trawl_geo::testing::write_city_db(&city, &trawl_geo::testing::sample_places()).unwrap();
    let geo = Arc::new(trawl_geo::GeoDb::open(&[city]).unwrap());
    common::serve(
        lake,
        Some(geo),
        trawl_web::Limits::default(),
        trawl_web::ServerLimits::default(),
    )
}

/// The first `href="..."` in `html` that starts with `prefix` (HTML-unescaped).
fn first_link(html: &str, prefix: &str) -> Option<String> {
    let html = html.replace("&amp;", "&");
    let start = html.find(&format!("href=\"{prefix}"))? + 6;
    let end = start + html[start..].find('"')?;
    Some(html[start..end].to_string())
}

#[test]
fn dashboards_drill_down_and_console_in_chromium() {
    let Some(chrome) = chromium() else { return };
    let dir = tempfile::tempdir().unwrap();
    let profile = dir.path().join("profile");
    let addr = start(dir.path());
    let base = format!("http://{addr}");

    // Every dashboard: all its tiles, charts drawn, geolocation on the map.
    for d in trawl_report::dashboards::all() {
        let html = dom(&chrome, &profile, &format!("{base}/dashboards/{}", d.id));
        assert!(html.contains(&format!("<h1 id=\"{}\">", d.id)), "{}", d.id);
        for t in &d.tiles {
            assert!(
                html.contains(&format!("id=\"tile-{}\"", t.id)),
                "{}: no tile {}",
                d.id,
                t.id
            );
        }
        let charted = d.tiles.iter().any(|t| {
            !matches!(
                t.chart,
                trawl_report::Chart::Table
                    | trawl_report::Chart::Heatmap
                    | trawl_report::Chart::Text
            )
        });
        if charted {
            assert!(html.contains("<svg"), "{}: no chart", d.id);
        }
        assert!(!html.contains("class=\"error\""), "{}: {html}", d.id);
        // A wide screen, and half a laptop's (a split screen).
        if let Some(out) = std::env::var_os("TRAWL_SCREENSHOTS") {
            for (width, name) in [(1400, d.id.to_string()), (800, format!("{}-800", d.id))] {
                let png = PathBuf::from(&out).join(format!("{name}.png"));
                browser(
                    &chrome,
                    &profile,
                    &[
                        &format!("--window-size={width},2400"),
                        &format!("--screenshot={}", png.display()),
                    ],
                    &format!("{base}/dashboards/{}", d.id),
                );
            }
        }
    }
    let logins = dom(
        &chrome,
        &profile,
        &format!("{base}/dashboards/console-login-overview"),
    );
    let geo = &logins[logins.find("id=\"tile-user-login-geolocation\"").unwrap()..];
    assert!(geo.contains("<svg") && geo.contains("Linköping"), "no map");

    // A time range narrows the counts.
    let all = get(addr, "/api/dashboards/general-operations").2;
    let day = get(
        addr,
        "/api/dashboards/general-operations?since=2024-03-02T00:00:00Z&until=2024-03-03T00:00:00Z",
    )
    .2;
    let total = |json: &str| -> u64 {
        let v: serde_json::Value = serde_json::from_str(json).unwrap();
        v["dashboards"][0]["tiles"][1]["rows"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r[1].as_u64().unwrap())
            .sum()
    };
    assert_eq!(total(&all), 3000);
    assert!(total(&day) > 0 && total(&day) < 3000);

    // Drill-down: an event name, then one of its events, then its JSON.
    let ops = dom(
        &chrome,
        &profile,
        &format!("{base}/dashboards/general-operations"),
    );
    // The page shows its default range (the year before the newest event); drills keep it.
    let drill = first_link(&ops, "/events?since=").expect("drill-down links");
    assert!(drill.contains("&eventname="), "{drill}");
    let name = drill
        .split("eventname=")
        .nth(1)
        .unwrap()
        .split('&')
        .next()
        .unwrap()
        .to_string();
    let events = dom(&chrome, &profile, &format!("{base}{drill}"));
    assert!(
        events.contains(&format!("Events where eventname = {name}")),
        "{events}"
    );
    let one = first_link(&events, "/events/").expect("event links");
    let id = one.trim_start_matches("/events/").to_string();
    let event = dom(&chrome, &profile, &format!("{base}{one}"));
    assert!(event.contains("class=\"event-json\""), "{event}");
    assert!(event.contains(&format!("\"eventID\": \"{id}\"")), "{event}");
    assert!(
        event.contains(&format!("\"eventName\": \"{name}\"")),
        "{event}"
    );

    // The SQL console answers, and offers the same rows as CSV.
    let q = "SELECT%20count(*)%20AS%20n%20FROM%20cloudtrail_logs";
    let console = dom(&chrome, &profile, &format!("{base}/sql?q={q}"));
    assert!(console.contains("id=\"result-count\">1 rows"), "{console}");
    assert!(console.contains(">3000<"), "{console}");
    let csv = first_link(&console, "/sql.csv?q=").unwrap();
    let (status, head, body) = get(addr, &csv);
    assert_eq!(status, 200);
    assert!(
        head.to_ascii_lowercase().contains("content-type: text/csv"),
        "{head}"
    );
    assert!(body.contains("n\n3000"), "{body}");

    // Writes are refused, in the page and for the CSV.
    for stmt in [
        "DROP%20VIEW%20cloudtrail_logs",
        "INSERT%20INTO%20t%20VALUES%20(1)",
        "CREATE%20TABLE%20t%20AS%20SELECT%201",
        "SELECT%201%3B%20DROP%20VIEW%20cloudtrail_logs",
    ] {
        let page = dom(&chrome, &profile, &format!("{base}/sql?q={stmt}"));
        assert!(
            page.contains("id=\"refused\""),
            "{stmt} was not refused: {page}"
        );
        assert_eq!(get(addr, &format!("/sql.csv?q={stmt}")).0, 403);
    }
    // ...and nothing was dropped.
    assert_eq!(
        total(&get(addr, "/api/dashboards/general-operations").2),
        3000
    );
}
