//! Every session runs under a memory pool: a query that needs more than the limit stops with
//! an error that names the limit and how to raise it, instead of taking the machine's memory.

#![allow(clippy::unwrap_used, reason = "a test's unwrap is its failure message")]

use datafusion::arrow::util::pretty::pretty_format_batches;
use trawl_query::{EngineOptions, QueryEngine, QueryError};

fn text(results: &[trawl_query::StatementResult]) -> String {
    pretty_format_batches(&results[0].batches)
        .unwrap()
        .to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_query_over_the_memory_limit_stops_with_an_error_that_names_it() {
    let dir = tempfile::tempdir().unwrap();
    let trail = trawl_testkit::trail(&dir.path().join("trail"), 7, 60_000, 2);
    let lake = trawl_lake::Lake::create(dir.path().join("lake")).unwrap();
    trawl_testkit::ingest(&lake, &[trail]);
    let limited = |bytes: usize| EngineOptions {
        memory_limit: Some(bytes),
        spill_dir: Some(dir.path().join("spill")),
    };
    std::fs::create_dir_all(dir.path().join("spill")).unwrap();
    let free = QueryEngine::open(&lake).await.unwrap();
    assert_eq!(
        free.memory_limit(),
        trawl_query::default_memory_limit(),
        "without a limit given, the default share of the machine"
    );
    let small = QueryEngine::open_with_options(&lake, None, &limited(16 << 20))
        .await
        .unwrap();
    assert_eq!(small.memory_limit(), 16 << 20);

    // Under a tight limit a big sort answers as the unbounded one (spilling), or stops with
    // the memory error that names the limit: never more memory than the limit allows.
    // (DataFusion 55's external sort needs room to merge what it spilled; at this size
    // 16 MiB is not enough, and the error says so.)
    let sort = "SELECT eventid, eventname, requestparameters, useragent FROM cloudtrail_logs \
                ORDER BY requestparameters, eventid";
    let want = text(&free.run(sort).await.unwrap());
    match small.run(sort).await {
        Ok(got) => assert!(want == text(&got), "the sort answers as the unbounded one"),
        Err(QueryError::Memory { limit, message }) => {
            assert_eq!(limit, Some(16 << 20), "{message}");
        }
        Err(other) => panic!("{other}"),
    }

    let tiny = QueryEngine::open_with_options(&lake, None, &limited(1 << 20))
        .await
        .unwrap();
    let err = tiny
        .run("SELECT array_agg(requestparameters) FROM cloudtrail_logs")
        .await
        .unwrap_err();
    assert!(
        matches!(err, QueryError::Memory { limit: Some(l), .. } if l == 1 << 20),
        "{err:?}"
    );
    let message = err.to_string();
    assert!(
        message.contains("the limit is 1.0 MiB") && message.contains("--memory-limit"),
        "{message}"
    );
}

/// Deep expressions end in an answer, never a stack overflow: a chain of integer `+` (each
/// step overflow-checked, as in Trino) is one call however long, not one level per term.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_chain_of_thousands_of_terms_answers() {
    let dir = tempfile::tempdir().unwrap();
    let lake = trawl_testkit::fixture_lake(dir.path(), &["forms"]);
    let engine = QueryEngine::open(&lake).await.unwrap();
    for (op, n) in [("+", 3000), ("*", 3000), ("-", 3000)] {
        let sql = format!("SELECT {} AS x", vec!["1"; n].join(op));
        let got = text(&engine.run(&sql).await.unwrap());
        let want = match op {
            "+" => n as i64,
            "*" => 1,
            _ => 2 - n as i64,
        };
        assert!(got.contains(&format!("| {want} ")), "{op} x {n}: {got}");
    }
}
