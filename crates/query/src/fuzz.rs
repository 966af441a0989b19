//! The body of the SQL front end's fuzz target (`fuzz/fuzz_targets/sql.rs`, libFuzzer on
//! nightly) and of the test that runs it on stable over the `.slt` corpus and random text.

use std::sync::OnceLock;

use crate::QueryEngine;

/// One engine over an empty lake, made on first use and kept for every input.
fn engine() -> &'static (tokio::runtime::Runtime, QueryEngine) {
    static ENGINE: OnceLock<(tokio::runtime::Runtime, QueryEngine)> = OnceLock::new();
    ENGINE.get_or_init(|| {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("a tokio runtime for the fuzz target");
        let root = std::env::temp_dir().join(format!("trawl-fuzz-lake-{}", std::process::id()));
        let lake = trawl_lake::Lake::create(&root)
            .or_else(|_| trawl_lake::Lake::open(&root))
            .expect("an empty lake in the temp dir");
        let engine = rt
            .block_on(QueryEngine::open(&lake))
            .expect("a query engine over an empty lake");
        (rt, engine)
    })
}

/// Any bytes as SQL text through the whole front end — statement splitting, the Athena DDL
/// parser, the text passes, the parser, the AST rewrites (lambdas, UNNEST, types, function
/// names) and DataFusion's planner and optimiser (which folds constant calls of trawl's
/// functions) — without running anything: it ends in plans or an error, never a panic.
/// Returns how many statements were planned.
pub fn sql_front_end(data: &[u8]) -> usize {
    let Ok(sql) = std::str::from_utf8(data) else {
        return 0;
    };
    let (rt, engine) = engine();
    // On a thread with the stack query threads get (see `QUERY_STACK_BYTES`).
    std::thread::scope(|s| {
        std::thread::Builder::new()
            .stack_size(crate::QUERY_STACK_BYTES)
            .spawn_scoped(s, || rt.block_on(engine.plan_only(sql)).unwrap_or(0))
            .expect("a planning thread")
            .join()
            .unwrap_or_else(|panic| std::panic::resume_unwind(panic))
    })
}
