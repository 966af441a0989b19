//! Every record of the real corpus (`../shared/corpus/real/*/normalized`) is read, and the
//! JSON rebuilt from its Arrow row equals the input JSON value.
//!
//! The corpus is found through `TRAWL_CORPUS` (default: `../shared/corpus/real` beside the
//! workspace). When CI is set and the corpus is missing, the test fails instead of skipping.

use std::io::Read;
use std::path::PathBuf;

use trawl_ingest::{ReadOptions, read_bytes};

fn corpus_dir() -> Option<PathBuf> {
    let dir = std::env::var_os("TRAWL_CORPUS")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared/corpus/real")
        });
    if dir.is_dir() {
        return Some(dir);
    }
    if std::env::var_os("CI").is_some() || std::env::var_os("TRAWL_CORPUS").is_some() {
        panic!(
            "real corpus not found at {}: set TRAWL_CORPUS to shared/corpus/real",
            dir.display()
        );
    }
    eprintln!(
        "skipping: real corpus not found at {} (set TRAWL_CORPUS)",
        dir.display()
    );
    None
}

fn normalized_files(dir: &PathBuf) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = walk(dir)
        .into_iter()
        .filter(|p| {
            p.to_string_lossy().contains("/normalized/")
                && p.to_string_lossy().ends_with(".json.gz")
        })
        .collect();
    files.sort();
    files
}

fn walk(dir: &PathBuf) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            out.extend(walk(&p))
        } else {
            out.push(p)
        }
    }
    out
}

#[test]
fn every_corpus_record_round_trips_through_arrow() {
    let Some(dir) = corpus_dir() else { return };
    let files = normalized_files(&dir);
    assert!(
        files.len() > 300,
        "expected the corpus' ~370 normalized files, found {}",
        files.len()
    );
    let mut total = 0;
    for path in files {
        let raw = std::fs::read(&path).unwrap();
        let mut text = String::new();
        flate2::read::MultiGzDecoder::new(raw.as_slice())
            .read_to_string(&mut text)
            .unwrap();
        let input: serde_json::Value = serde_json::from_str(&text).unwrap();
        let expected = input["Records"].as_array().unwrap();
        let out = read_bytes(&path.display().to_string(), raw, &ReadOptions::default())
            .unwrap_or_else(|e| panic!("{e}"));
        assert!(
            out.bad_records.is_empty(),
            "{}: {:?}",
            path.display(),
            out.bad_records
        );
        let rebuilt: Vec<serde_json::Value> = out
            .batches
            .iter()
            .flat_map(|b| trawl_schema::rebuild_batch(b).unwrap())
            .collect();
        assert_eq!(
            rebuilt.len(),
            expected.len(),
            "{}: record count",
            path.display()
        );
        for (i, (got, want)) in rebuilt.iter().zip(expected).enumerate() {
            assert_eq!(
                got,
                want,
                "{} record {i} differs after the round trip",
                path.display()
            );
        }
        total += expected.len();
    }
    assert!(total > 1100, "only {total} records checked");
}
