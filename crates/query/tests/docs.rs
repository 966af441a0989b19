//! `docs/functions.md` is generated from the session's function registry; this test keeps it
//! in sync (run with `TRAWL_UPDATE_DOCS=1` to rewrite it) and checks every Trino function
//! listed as added is registered.

use trawl_query::{ATHENA_FUNCTIONS, GEO_FUNCTIONS, QueryEngine};

#[path = "../../schema/tests/support/generated_block.rs"]
mod support;
use support::generated_block;

#[tokio::test]
async fn function_reference_matches_the_registry() {
    let dir = tempfile::tempdir().unwrap();
    let lake = trawl_lake::Lake::create(dir.path().join("lake")).unwrap();
    let engine = QueryEngine::open(&lake).await.unwrap();
    let (mut scalars, aggregates, windows) = engine.function_names();
    // What CAST(x AS BIGINT) and the like become: not for calling by name.
    scalars.retain(|n| !n.starts_with("__trawl_"));
    for (signature, _) in ATHENA_FUNCTIONS.iter().chain(GEO_FUNCTIONS) {
        let names = signature.split('(').next().unwrap();
        for name in names
            .split(['/', ','])
            .map(str::trim)
            .filter(|n| !n.is_empty())
        {
            let name = name.split('(').next().unwrap();
            assert!(
                scalars.iter().chain(&aggregates).any(|s| s == name),
                "{name} is listed but not registered"
            );
        }
    }
    let mut doc = String::from(
        "### Added for Athena (Trino) compatibility\n\n| function | what it does |\n|---|---|\n",
    );
    for (f, what) in ATHENA_FUNCTIONS {
        doc.push_str(&format!("| `{f}` | {what} |\n"));
    }
    doc.push_str(
        "\n### Geolocation (`--geoip FILE.mmdb` or `TRAWL_GEOIP`)\n\n| function | what it does |\n|---|---|\n",
    );
    for (f, what) in GEO_FUNCTIONS {
        doc.push_str(&format!("| `{f}` | {what} |\n"));
    }
    for (title, names) in [
        ("Scalar functions", &scalars),
        ("Aggregate functions", &aggregates),
        ("Window functions", &windows),
    ] {
        doc.push_str(&format!("\n### {title} ({})\n\n", names.len()));
        doc.push_str(
            &names
                .iter()
                .map(|n| format!("`{n}`"))
                .collect::<Vec<_>>()
                .join(", "),
        );
        doc.push('\n');
    }
    generated_block(
        "functions.md",
        "functions",
        "cargo test -p trawl-query --test docs",
        &doc,
    );
}
