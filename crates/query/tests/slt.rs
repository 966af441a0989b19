//! sqllogictest files in `tests/slt/`, run against a lake holding `fixtures/forms` and
//! `fixtures/odd`. Expected answers were worked out by hand from those fixtures.
//! Rewrite expectations only after checking them: the files are the specification.

#![allow(clippy::unwrap_used, reason = "a test's unwrap is its failure message")]

use std::path::PathBuf;

use sqllogictest::Runner;
use trawl_lake::Lake;
use trawl_query::QueryEngine;

#[path = "support/slt_db.rs"]
mod slt_db;
use slt_db::Db;

/// A lake holding `fixtures/forms` and `fixtures/odd`.
fn fixture_lake(dir: &std::path::Path) -> Lake {
    trawl_testkit::fixture_lake(dir, &["forms", "odd"])
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqllogictest_files() {
    let slt_dir = PathBuf::from(
        std::env::var_os("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR"),
    )
    .join("tests/slt");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&slt_dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    files.retain(|p| p.extension().is_some_and(|e| e == "slt"));
    files.sort();
    assert!(files.len() >= 3, "{files:?}");
    let mut failures = Vec::new();
    for file in &files {
        // A lake per file: DDL persists in a lake's catalog and must not leak between files.
        let dir = tempfile::tempdir().unwrap();
        let lake = fixture_lake(dir.path());
        let mut runner = Runner::new(move || {
            let lake = lake.clone();
            async move {
                Ok(Db {
                    engine: QueryEngine::open(&lake).await?,
                })
            }
        });
        if let Err(e) = runner.run_file_async(file).await {
            failures.push(format!("{}: {e}", file.display()));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}
