//! Running statements: every statement of a text, or one query within a memory bound.

use std::sync::Arc;

use datafusion::arrow::record_batch::RecordBatch;
use datafusion::execution::TaskContext;
use datafusion::execution::context::SQLOptions;
use datafusion::logical_expr::LogicalPlan;
use datafusion::physical_plan::ExecutionPlan;
use datafusion::prelude::SessionContext;

use crate::{Prepared, QueryEngine, QueryError, StatementResult, athena, first_rows};

/// `plan` (its first `limit` rows) optimised into a physical plan, with the task context to
/// run it. Its schema is the one results have: the physical plan's last step casts views to
/// text (text_views::TextOutput), the statement's schema does not.
async fn physical(
    ctx: &SessionContext,
    plan: LogicalPlan,
    limit: Option<usize>,
) -> Result<(Arc<TaskContext>, Arc<dyn ExecutionPlan>), QueryError> {
    let df = ctx.execute_logical_plan(plan).await?;
    let df = match limit {
        None => df,
        Some(n) => df.limit(0, Some(n))?,
    };
    let task = Arc::new(df.task_ctx());
    Ok((task, df.create_physical_plan().await?))
}

impl QueryEngine {
    /// Runs one query, keeping its rows only while they take at most `max_bytes` of memory:
    /// `None` as soon as they would take more (the query is stopped there, so a result too
    /// big to keep costs no more than that to find out).
    pub async fn run_within(
        &self,
        sql: &str,
        max_bytes: usize,
    ) -> Result<Option<StatementResult>, QueryError> {
        use futures::TryStreamExt as _;
        let started = std::time::Instant::now();
        let mut plans = match self.prepare(&self.ctx, sql).await? {
            Prepared::Plans(plans) if plans.len() == 1 => plans,
            _ => return Err(QueryError::Plan(format!("not one query: {sql}"))),
        };
        let (task, physical) = physical(&self.ctx, plans.remove(0), None).await?;
        let schema = physical.schema();
        let mut stream = datafusion::physical_plan::execute_stream(physical.clone(), task)?;
        let (mut batches, mut bytes) = (Vec::new(), 0);
        while let Some(batch) = stream
            .try_next()
            .await
            .map_err(|e| self.with_limit(e.into()))?
        {
            bytes += batch.get_array_memory_size();
            if bytes > max_bytes {
                return Ok(None);
            }
            batches.push(batch);
        }
        Ok(Some(StatementResult {
            sql: sql.trim().to_string(),
            schema,
            batches,
            plan: Some(physical),
            elapsed: started.elapsed(),
        }))
    }

    /// [`Self::run`], or with `read_only = Some(max_rows)` [`Self::run_read_only`].
    pub(crate) async fn run_statements(
        &self,
        ctx: &SessionContext,
        sql: &str,
        read_only: Option<usize>,
    ) -> Result<Vec<(StatementResult, bool)>, QueryError> {
        let statements = athena::ddl::split_statements(sql);
        if statements.is_empty() {
            return Err(QueryError::Plan("no SQL statement given".into()));
        }
        let options = SQLOptions::new()
            .with_allow_ddl(false)
            .with_allow_dml(false)
            .with_allow_statements(false);
        let mut out = Vec::new();
        for text in statements {
            let started = std::time::Instant::now();
            let plans = match self.prepare(ctx, &text).await? {
                Prepared::Ddl(ddl) => {
                    if read_only.is_some() {
                        return Err(QueryError::Plan(format!(
                            "read-only: {:?} changes the catalog; run it with `trawl sql`",
                            text.trim()
                        )));
                    }
                    out.push((self.run_ddl(&text, ddl).await?, false));
                    continue;
                }
                Prepared::Plans(plans) => plans,
            };
            for plan in plans {
                if read_only.is_some() {
                    options.verify_plan(&plan).map_err(|e| {
                        QueryError::Plan(format!("read-only: {}", e.strip_backtrace()))
                    })?;
                }
                let limit = read_only.map(|max_rows| max_rows.saturating_add(1));
                let (task, physical) = physical(ctx, plan, limit).await?;
                let schema = physical.schema();
                let batches = datafusion::physical_plan::collect(physical.clone(), task).await?;
                let (batches, cut) = match read_only {
                    None => (batches, false),
                    Some(max_rows) => {
                        let rows: usize = batches.iter().map(RecordBatch::num_rows).sum();
                        (first_rows(&batches, max_rows), rows > max_rows)
                    }
                };
                let result = StatementResult {
                    sql: text.trim().to_string(),
                    schema,
                    batches,
                    plan: Some(physical),
                    elapsed: started.elapsed(),
                };
                out.push((result, cut));
            }
        }
        Ok(out)
    }
}
