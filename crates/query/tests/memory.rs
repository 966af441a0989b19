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
        distributed: None,
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
async fn a_chain_of_a_thousand_terms_answers() {
    let dir = tempfile::tempdir().unwrap();
    let lake = trawl_testkit::fixture_lake(dir.path(), &["forms"]);
    let engine = QueryEngine::open(&lake).await.unwrap();
    for (op, n) in [("+", 1000), ("*", 1000), ("-", 1000)] {
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

/// Wide and deep statements end in an answer or a clear error, never a crash or a stack
/// overflow: a 100,000-element IN list, a 50-way UNION ALL, 20,000 ORed comparisons (one
/// level each as parsed: 2,000 overflowed the stack before chains were rebalanced), parentheses
/// or calls nested past the parser's depth limit, and a chain of 100,000 `+`.
/// Run as `trawl` runs queries: on a thread with `QUERY_STACK_BYTES` of stack, in
/// `query_runtime()` (a test thread's 2 MiB overflowed at 40 nested unary minuses in a debug
/// build, inside DataFusion's planner).
#[test]
fn wide_and_deep_statements_answer_or_fail_cleanly() {
    std::thread::Builder::new()
        .stack_size(trawl_query::QUERY_STACK_BYTES)
        .spawn(|| {
            trawl_query::query_runtime()
                .unwrap()
                .block_on(wide_and_deep())
        })
        .unwrap()
        .join()
        .unwrap();
}

async fn wide_and_deep() {
    let dir = tempfile::tempdir().unwrap();
    let lake = trawl_testkit::fixture_lake(dir.path(), &["forms"]);
    let engine = QueryEngine::open(&lake).await.unwrap();
    let run = |sql: String| {
        let engine = &engine;
        async move { engine.run(&sql).await.map(|r| text(&r)) }
    };
    let one =
        run("SELECT count(*) AS n FROM cloudtrail_logs WHERE eventname = 'RunInstances'".into())
            .await
            .unwrap();
    assert!(
        !one.contains("| 0 "),
        "the fixture has RunInstances events: {one}"
    );
    let names: Vec<String> = (0..100_000).map(|i| format!("'E{i}'")).collect();
    let wide_in = format!(
        "SELECT count(*) AS n FROM cloudtrail_logs WHERE eventname IN ({}, 'RunInstances')",
        names.join(", ")
    );
    assert_eq!(
        run(wide_in).await.unwrap(),
        one,
        "a 100,000-element IN list"
    );
    let numbers: Vec<String> = (0..100_000).map(|i| i.to_string()).collect();
    let got = run(format!("SELECT 99999 IN ({}) AS hit", numbers.join(",")))
        .await
        .unwrap();
    assert!(got.contains("true"), "{got}");
    let ors: Vec<String> = (0..20_000).map(|i| format!("eventname = 'E{i}'")).collect();
    let wide_or = format!(
        "SELECT count(*) AS n FROM cloudtrail_logs WHERE {} OR eventname = 'RunInstances'",
        ors.join(" OR ")
    );
    assert_eq!(run(wide_or).await.unwrap(), one, "20,000 ORed comparisons");

    let all = run("SELECT count(*) AS n FROM cloudtrail_logs".into())
        .await
        .unwrap();
    let n: i64 = all
        .lines()
        .nth(3)
        .unwrap()
        .trim_matches(|c| c == '|' || c == ' ')
        .parse()
        .unwrap();
    let union = vec!["SELECT eventid FROM cloudtrail_logs"; 50].join(" UNION ALL ");
    let got = run(format!("SELECT count(*) AS n FROM ({union})"))
        .await
        .unwrap();
    assert!(
        got.contains(&format!("| {} ", 50 * n)),
        "a 50-way UNION ALL: {got}"
    );

    // 60 nested ARRAY[ made the parser backtrack for minutes: refused before it parses.
    for (open, close, n) in [
        ("(", ")", 10_000),
        ("abs(", ")", 10_000),
        ("ARRAY[", "]", 60),
    ] {
        let sql = format!("SELECT {}1{} AS x", open.repeat(n), close.repeat(n));
        let err = run(sql).await.unwrap_err().to_string();
        assert!(err.contains("more than 50 levels"), "{open}: {err}");
    }
    let err = run(format!("SELECT {}TRUE AS x", "NOT ".repeat(10_000)))
        .await
        .unwrap_err();
    assert!(matches!(err, QueryError::Plan(_)), "{err}");
    // Unary minus nests in the parser up to its limit.
    let got = run(format!("SELECT {}1 AS x", "- ".repeat(40)))
        .await
        .unwrap();
    assert!(got.contains("| 1 "), "{got}");
    let terms = vec!["1"; 100_000].join(" + ");
    let err = run(format!("SELECT {terms} AS x"))
        .await
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("chains 99999 operators") && err.contains("parentheses"),
        "{err}"
    );
    // Grouped as the error says, the same sum answers.
    let group = format!("({})", vec!["1"; 1_000].join(" + "));
    let got = run(format!("SELECT {} AS x", vec![group; 100].join(" + ")))
        .await
        .unwrap();
    assert!(got.contains("| 100000 "), "{got}");
}
