//! `docs/functions.md` is generated from the session's function registry; this test keeps it
//! in sync (run with `TRAWL_UPDATE_DOCS=1` to rewrite it) and checks every Trino function
//! listed as added is registered.

#![allow(clippy::unwrap_used, reason = "a test's unwrap is its failure message")]

use trawl_query::{ATHENA_FUNCTIONS, GEO_FUNCTIONS, QueryEngine, TRINO_FUNCTIONS};

use trawl_testkit::generated_block;

#[tokio::test]
async fn function_reference_matches_the_registry() {
    let dir = tempfile::tempdir().unwrap();
    let lake = trawl_lake::Lake::create(dir.path().join("lake")).unwrap();
    let engine = QueryEngine::open(&lake).await.unwrap();
    let (mut scalars, mut aggregates, windows) = engine.function_names();
    // What CAST(x AS BIGINT), count(DISTINCT text) and the like become: not for calling by name.
    scalars.retain(|n| !n.starts_with("__trawl_"));
    aggregates.retain(|n| !n.starts_with("__trawl_"));
    for (signature, _) in ATHENA_FUNCTIONS.iter().chain(GEO_FUNCTIONS) {
        for name in listed_names(signature) {
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
    // Trino's whole list: each function either runs here or says why not.
    let added: Vec<&str> = ATHENA_FUNCTIONS
        .iter()
        .flat_map(|(signature, _)| listed_names(signature))
        .collect();
    // Written as SQL syntax rather than called as functions, or rewritten before planning
    // (athena::ast): the latter are trawl's.
    const SQL_FORMS: &[&str] = &[
        "coalesce",
        "nullif",
        "if",
        "extract",
        "current_date",
        "current_time",
        "current_timestamp",
        "try",
    ];
    const REWRITTEN: &[&str] = &[
        "all_match",
        "none_match",
        "date",
        "e",
        "infinity",
        "nan",
        "is_finite",
        "is_infinite",
        "mod",
        "cast",
        "try_cast",
    ];
    let mut missing = Vec::new();
    doc.push_str(&format!(
        "\n### Trino's functions ({})\n\nEvery function of Trino's list (`functions/list.md`), as trawl has it: `trawl` where trawl implements or wraps it for Trino's semantics (tested against Trino's documented cases in `crates/query/tests/slt/`), `DataFusion` where DataFusion's function of that name is used as it is, or why it is missing (calling it fails with \"Invalid function\").\n\n| function | in trawl |\n|---|---|\n",
        TRINO_FUNCTIONS.len()
    ));
    for (name, why) in TRINO_FUNCTIONS {
        let registered = scalars
            .iter()
            .chain(&aggregates)
            .chain(&windows)
            .any(|s| s == name)
            || SQL_FORMS.contains(name)
            || REWRITTEN.contains(name);
        let status = match (registered, why.is_empty()) {
            (true, true) if added.contains(name) || REWRITTEN.contains(name) => "trawl".to_string(),
            (true, true) => "DataFusion".to_string(),
            (false, false) => format!("no: {why}"),
            (true, false) => panic!("{name} is registered but listed as missing ({why})"),
            (false, true) => {
                missing.push(*name);
                continue;
            }
        };
        doc.push_str(&format!("| `{name}` | {status} |\n"));
    }
    assert!(
        missing.is_empty(),
        "Trino functions neither registered nor explained in TRINO_FUNCTIONS: {missing:?}"
    );
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

/// The function names of an entry such as `substr(text, start[, length]) / substring`,
/// `year/quarter/month(t)` or `day_of_week(t), dow(t)`: the names between the `/` and `,`
/// outside parentheses, each up to its `(`.
fn listed_names(signature: &str) -> Vec<&str> {
    let mut names = Vec::new();
    let (mut depth, mut start) = (0, 0);
    for (i, c) in signature.char_indices() {
        match c {
            '(' | '[' => depth += 1,
            ')' | ']' => depth -= 1,
            '/' | ',' if depth == 0 => {
                names.push(&signature[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    names.push(&signature[start..]);
    names
        .into_iter()
        .map(|n| n.split('(').next().unwrap().trim())
        .filter(|n| !n.is_empty())
        .collect()
}
