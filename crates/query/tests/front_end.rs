//! The SQL front end's fuzz body (`trawl_query::fuzz::sql_front_end`, also the libFuzzer
//! target `fuzz/fuzz_targets/sql.rs`) on stable: every statement of the `.slt` corpus,
//! mutations of them, and arbitrary text end in plans or an error, never a panic.

#![allow(clippy::unwrap_used, reason = "a test's unwrap is its failure message")]

use proptest::prelude::*;
use sqllogictest::{DefaultColumnType, QueryExpect, Record};
use trawl_query::fuzz::sql_front_end;

/// The SQL of every `statement` and `query` in `tests/slt/`, with whether it should succeed.
fn corpus() -> &'static [(String, bool)] {
    static CORPUS: std::sync::OnceLock<Vec<(String, bool)>> = std::sync::OnceLock::new();
    CORPUS.get_or_init(read_corpus)
}

fn read_corpus() -> Vec<(String, bool)> {
    let dir = trawl_testkit::manifest_dir().join("tests/slt");
    let mut out = Vec::new();
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        for record in sqllogictest::parse_file::<DefaultColumnType>(&path).unwrap() {
            match record {
                Record::Statement { sql, .. } => out.push((sql, false)),
                Record::Query { sql, expected, .. } => {
                    let ok = !matches!(expected, QueryExpect::Error(_));
                    out.push((sql, ok));
                }
                _ => {}
            }
        }
    }
    out.sort();
    out
}

#[test]
fn the_slt_corpus_plans_without_running() {
    let corpus = corpus();
    let answered: Vec<&String> = corpus
        .iter()
        .filter(|(_, ok)| *ok)
        .map(|(s, _)| s)
        .collect();
    assert!(
        answered.len() > 250,
        "the corpus shrank: {}",
        answered.len()
    );
    let planned = answered
        .iter()
        .filter(|s| sql_front_end(s.as_bytes()) > 0)
        .count();
    // A few queries read tables that ddl.slt creates first; the rest plan on an empty lake.
    assert!(
        planned * 100 >= answered.len() * 90,
        "only {planned} of {} answered queries planned",
        answered.len()
    );
    for (sql, _) in corpus.iter().filter(|(_, ok)| !ok) {
        sql_front_end(sql.as_bytes());
    }
}

/// Pieces the mutations splice in: what breaks parsers and rewrites.
const PIECES: &[&str] = &[
    "(",
    ")",
    "[",
    "]",
    ",",
    "'",
    "\"",
    "`",
    ";",
    "->",
    "x -> x",
    "ARRAY[",
    "MAP(",
    "ROW(",
    "UNNEST(",
    "CROSS JOIN ",
    "CAST(",
    " AS ",
    "varchar",
    "array<",
    "map<",
    ">",
    "<",
    "TRY(",
    "TRIM(",
    "WITHOUT ",
    "VALUES ",
    "date '",
    "TIMESTAMP '",
    "INTERVAL '1' DAY",
    "NULL",
    "*",
    "--",
    "/*",
    "*/",
    "\n",
    "é",
    "\u{0}",
    "99999999999999999999999999",
    "1e400",
    "-",
    "||",
    "WITH t AS (",
    "CREATE EXTERNAL TABLE ",
    "PARTITIONED BY (",
    "ROW FORMAT SERDE ",
    "LOCATION '",
    "TBLPROPERTIES (",
    "json_extract_scalar(",
    "from_iso8601_timestamp(",
    "transform(",
    "reduce(",
    "filter(",
    "zip_with(",
    "regexp_like(",
    "date_diff('",
];

fn mutate(sql: &str, edits: &[(u8, usize, usize)]) -> String {
    let mut s: Vec<char> = sql.chars().collect();
    for &(kind, a, b) in edits {
        let n = s.len().max(1);
        let (i, j) = (a % n, b % n);
        let (lo, hi) = (i.min(j), i.max(j));
        match kind % 4 {
            0 => {
                s.drain(lo..hi.min(s.len()));
            }
            1 => {
                let piece = PIECES[b % PIECES.len()];
                s.splice(lo.min(s.len())..lo.min(s.len()), piece.chars());
            }
            2 => {
                let copy: Vec<char> = s[lo.min(s.len())..hi.min(s.len())].to_vec();
                s.splice(hi.min(s.len())..hi.min(s.len()), copy);
            }
            _ => s.truncate(lo),
        }
    }
    s.into_iter().collect()
}

/// Statements the `sql` fuzz target found panicking, kept as they were found.
#[test]
fn statements_the_fuzzer_found_do_not_panic() {
    for sql in [
        // WITH ORDINALITY with a table alias and no column names (an overflow counting them).
        "SELECT r.arn, n FROM cloudtrail_logs CROSS JOIN UNNEST(resources) WITH ORDINALITY ASr ,t( n) \
         WHERE eventid = 'fixture-0212' ORDER BY n",
        "SELECT * FROM cloudtrail_logs CROSS JOIN UNNEST(resources) WITH ORDINALITY AS t",
    ] {
        sql_front_end(sql.as_bytes());
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn mutated_corpus_statements_never_panic(
        pick in any::<usize>(),
        edits in prop::collection::vec((any::<u8>(), any::<usize>(), any::<usize>()), 1..6),
    ) {
        let corpus = corpus();
        let (sql, _) = &corpus[pick % corpus.len()];
        sql_front_end(mutate(sql, &edits).as_bytes());
    }

    #[test]
    fn arbitrary_text_never_panics(text in ".{0,200}") {
        sql_front_end(text.as_bytes());
    }
}
