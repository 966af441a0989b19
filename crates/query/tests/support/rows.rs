//! A statement's result as text, for tests that compare answers.

use datafusion::arrow::util::display::{ArrayFormatter, FormatOptions};
use trawl_query::QueryEngine;

/// Every row of the last statement's result, as text cells (NULL as "NULL").
pub(crate) async fn cells(engine: &QueryEngine, sql: &str) -> Vec<Vec<String>> {
    let result = engine
        .run(sql)
        .await
        .unwrap_or_else(|e| panic!("{sql}: {e}"))
        .pop()
        .expect("a statement's result");
    let options = FormatOptions::default().with_null("NULL");
    let mut out = Vec::new();
    for batch in &result.batches {
        let formatters: Vec<ArrayFormatter> = batch
            .columns()
            .iter()
            .map(|c| ArrayFormatter::try_new(c.as_ref(), &options).expect("a formatter"))
            .collect();
        for row in 0..batch.num_rows() {
            out.push(
                formatters
                    .iter()
                    .map(|f| f.value(row).to_string())
                    .collect(),
            );
        }
    }
    out
}

/// Every row of the last statement's result, its cells joined by `separator`.
#[allow(
    dead_code,
    reason = "each test that includes this file uses some of it"
)]
pub(crate) async fn joined(engine: &QueryEngine, sql: &str, separator: &str) -> Vec<String> {
    cells(engine, sql)
        .await
        .into_iter()
        .map(|r| r.join(separator))
        .collect()
}
