//! sqllogictest's view of a trawl session: rows printed as the .slt files expect them.
//! Shared by the local suite (crates/query/tests/slt.rs) and the cluster's
//! (crates/cli/tests/cluster.rs).

use std::time::Duration;

use async_trait::async_trait;
use datafusion::arrow::util::display::{ArrayFormatter, FormatOptions};
use sqllogictest::{AsyncDB, DBOutput, DefaultColumnType};
use trawl_query::{QueryEngine, QueryError};

/// A sqllogictest database: statements run by a trawl session.
pub(crate) struct Db {
    pub(crate) engine: QueryEngine,
}

#[async_trait]
impl AsyncDB for Db {
    type Error = QueryError;
    type ColumnType = DefaultColumnType;

    async fn run(&mut self, sql: &str) -> Result<DBOutput<DefaultColumnType>, QueryError> {
        let result = self.engine.run(sql).await?.pop().expect("one statement");
        if result.schema.fields().is_empty() {
            return Ok(DBOutput::StatementComplete(0));
        }
        let options = FormatOptions::default().with_null("NULL");
        let mut rows = Vec::new();
        for batch in &result.batches {
            let formatters: Vec<ArrayFormatter> = batch
                .columns()
                .iter()
                .map(|c| ArrayFormatter::try_new(c.as_ref(), &options))
                .collect::<Result<_, _>>()
                .map_err(|e| QueryError::Execution(e.to_string()))?;
            for row in 0..batch.num_rows() {
                rows.push(
                    formatters
                        .iter()
                        .map(|f| {
                            let s = f.value(row).to_string();
                            if s.is_empty() {
                                "(empty)".to_string()
                            } else {
                                s
                            }
                        })
                        .collect(),
                );
            }
        }
        Ok(DBOutput::Rows {
            types: vec![DefaultColumnType::Any; result.schema.fields().len()],
            rows,
        })
    }

    async fn shutdown(&mut self) {}

    fn engine_name(&self) -> &str {
        "trawl"
    }

    async fn sleep(dur: Duration) {
        tokio::time::sleep(dur).await;
    }
}
