//! Every tile against a second engine: DuckDB computes each tile on the raw trail JSON with SQL
//! written from the Looker block's LookML (`tests/block/peer.py`), sharing nothing with trawl's
//! SQL, in UTC and in the block's America/Los_Angeles; the answers must agree row for row.
//! Needs `python3` with `duckdb`; with `CI` set, its absence fails.

#![allow(clippy::unwrap_used, reason = "a test's unwrap is its failure message")]

use std::collections::BTreeMap;
use std::io::Write as _;
use std::path::PathBuf;

use serde_json::Value;
use trawl_report::Range;

type Rows = Vec<Vec<Option<String>>>;

/// A value as the peer prints it; times with an offset as UTC (`...Z`).
fn text(v: &Value) -> Option<String> {
    match v {
        Value::Null => None,
        Value::String(s) => Some(
            chrono::DateTime::parse_from_rfc3339(s)
                .ok()
                .filter(|_| s.len() > 10 && s.as_bytes()[10] == b'T')
                .map_or_else(
                    || s.clone(),
                    |t| {
                        t.with_timezone(&chrono::Utc)
                            .format("%Y-%m-%dT%H:%M:%SZ")
                            .to_string()
                    },
                ),
        ),
        other => Some(other.to_string()),
    }
}

fn block_dir() -> PathBuf {
    trawl_testkit::manifest_dir().join("tests/block")
}

/// `tests/block/record_type.txt`, the DuckDB type of a record the peer and
/// `benches/report_vs_duckdb.sh` read, is trawl's schema (`TRAWL_UPDATE_DOCS=1` rewrites it).
#[test]
fn the_record_type_file_is_current() {
    let path = block_dir().join("record_type.txt");
    let want = format!("{}\n", trawl_testkit::duckdb_record_type());
    if std::env::var_os("TRAWL_UPDATE_DOCS").is_some() {
        std::fs::write(&path, &want).unwrap();
    }
    let have = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        have == want,
        "{} is stale: run TRAWL_UPDATE_DOCS=1 cargo test -p trawl-report --test block_peer",
        path.display()
    );
}

fn peer(trail: &std::path::Path, zone: &str) -> BTreeMap<String, Rows> {
    let record_type = block_dir().join("record_type.txt");
    trawl_testkit::run_peer(
        &block_dir().join("peer.py"),
        &[trail.as_os_str(), record_type.as_os_str(), zone.as_ref()],
    )
    .lines()
    .map(|l| {
        let v: Value = serde_json::from_str(l).unwrap();
        let rows = serde_json::from_value(v["rows"].clone()).unwrap();
        (v["id"].as_str().unwrap().to_string(), rows)
    })
    .collect()
}

#[tokio::test]
async fn every_tile_agrees_with_duckdb_computing_the_blocks_definitions() {
    if !trawl_testkit::duckdb_available() {
        eprintln!("skipping: python3 cannot import duckdb (pip install duckdb)");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let trail = dir.path().join("trail");
    let spec = trawl_gen::TrailSpec {
        seed: 11,
        events: 6000,
        days: 4,
        duplicate_rate: 0.0,
        ..trawl_gen::TrailSpec::default()
    };
    trawl_gen::write_trail(&trail, &spec).unwrap();
    // Every security-group shape too, delivered as CloudTrail does (gzip).
    let shapes =
        std::fs::read(trawl_testkit::fixtures().join("security-groups/shapes.json")).unwrap();
    let mut gz = flate2::write::GzEncoder::new(
        std::fs::File::create(trail.join("shapes.json.gz")).unwrap(),
        flate2::Compression::default(),
    );
    gz.write_all(&shapes).unwrap();
    gz.finish().unwrap();
    let lake = trawl_lake::Lake::create(dir.path().join("lake")).unwrap();
    trawl_testkit::ingest(&lake, std::slice::from_ref(&trail));
    let engine = trawl_query::QueryEngine::open(&lake).await.unwrap();

    for zone in ["UTC", "America/Los_Angeles"] {
        let theirs = peer(&trail, zone);
        let range = Range::default().in_zone(zone).unwrap();
        let mut compared = 0;
        for d in trawl_report::select("all").unwrap() {
            let ours = trawl_report::run(&engine, &d, &range, false).await.unwrap();
            for t in &ours.tiles {
                if t.text.is_some() || t.note.is_some() {
                    continue; // guidance, or geolocation without a database
                }
                let want = theirs
                    .get(&t.id)
                    .unwrap_or_else(|| panic!("the peer has no tile {}", t.id));
                let got: Rows = t
                    .rows
                    .iter()
                    .map(|r| r.iter().map(text).collect())
                    .collect();
                assert!(
                    !want.is_empty(),
                    "{zone}: tile {} is empty, so it proves nothing",
                    t.id
                );
                assert_eq!(&got, want, "{zone}: tile {} differs from DuckDB's", t.id);
                compared += 1;
            }
        }
        assert_eq!(compared, 24, "{zone}: every tile with rows compared");
    }
}
