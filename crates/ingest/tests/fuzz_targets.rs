//! The fuzz targets' bodies (`fuzz/`, run by libFuzzer on nightly in CI) on stable: over every
//! fixture and corpus object, then over random and mutated input from proptest.

#![allow(clippy::unwrap_used, reason = "a test's unwrap is its failure message")]

use std::path::{Path, PathBuf};

use proptest::prelude::*;
use trawl_ingest::fuzz;

fn files(dir: &Path) -> Vec<PathBuf> {
    walkdir::WalkDir::new(dir)
        .into_iter()
        .map(|e| e.unwrap())
        .filter(|e| e.file_type().is_file())
        .map(|e| e.into_path())
        .collect()
}

/// The fixtures, and the real corpus when `TRAWL_CORPUS` names it.
fn seeds() -> Vec<Vec<u8>> {
    // Read at run time: a binary built in another checkout sharing the target directory
    // still reads this one's fixtures.
    let root = PathBuf::from(
        std::env::var_os("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR for tests"),
    )
    .join("../../fixtures");
    let mut paths = files(&root);
    if let Some(corpus) = std::env::var_os("TRAWL_CORPUS") {
        paths.extend(
            files(&PathBuf::from(corpus))
                .into_iter()
                .filter(|p| p.extension().is_some_and(|x| x != "md")),
        );
    }
    assert!(paths.len() > 10, "no seeds under {}", root.display());
    paths.iter().map(|p| std::fs::read(p).unwrap()).collect()
}

fn plain(data: Vec<u8>) -> Vec<u8> {
    trawl_ingest::decode("seed", data.clone(), 1 << 30).unwrap_or(data)
}

#[test]
fn every_seed_passes_every_target() {
    for seed in seeds() {
        fuzz::read_object(&seed);
        fuzz::gzip(&seed);
        let text = plain(seed);
        fuzz::read_object(&text);
        // The members of a Records array, as the `records` target sees them.
        if let Some(start) = text.iter().position(|&b| b == b'[')
            && let Some(end) = text.iter().rposition(|&b| b == b']')
            && start < end
        {
            fuzz::records(&text[start + 1..end]);
        }
    }
}

/// Seeds with bytes overwritten and cut: what a fuzzer tries first.
fn mutated() -> impl Strategy<Value = Vec<u8>> {
    let seeds = seeds();
    let n = seeds.len();
    (
        0..n,
        any::<u64>(),
        prop::collection::vec((any::<u32>(), any::<u8>()), 0..8),
        any::<bool>(),
    )
        .prop_map(move |(i, cut, flips, inflate)| {
            let mut data = seeds[i].clone();
            if inflate {
                data = plain(data);
            }
            for (at, byte) in flips {
                if !data.is_empty() {
                    let at = at as usize % data.len();
                    data[at] = byte;
                }
            }
            if cut % 3 == 0 && !data.is_empty() {
                data.truncate((cut as usize / 3) % data.len());
            }
            data
        })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 400, ..ProptestConfig::default() })]

    #[test]
    fn random_bytes(data in prop::collection::vec(any::<u8>(), 0..2048)) {
        fuzz::read_object(&data);
        fuzz::records(&data);
        fuzz::gzip(&data);
    }

    #[test]
    fn mutated_seeds(data in mutated()) {
        fuzz::read_object(&data);
        fuzz::records(&data);
        fuzz::gzip(&data);
    }
}
