//! What a query can fail with, and the nesting check that keeps the SQL parser fast.

use datafusion::error::DataFusionError;
use datafusion::sql::sqlparser::dialect::GenericDialect;
use trawl_lake::LakeError;

#[derive(Debug, thiserror::Error)]
pub enum QueryError {
    #[error(transparent)]
    Lake(#[from] LakeError),
    /// The query is wrong: bad SQL, unknown column or table, wrong types.
    #[error("query error: {0}")]
    Plan(String),
    /// The query is fine but running it failed (bad data, I/O).
    #[error("execution error: {0}")]
    Execution(String),
    /// The query needed more memory than the session's limit, in an operator that cannot
    /// spill to disk (sorts, aggregates and joins spill; others cannot).
    #[error("{message}\n\nhint: {}", memory_hint(*.limit))]
    Memory {
        message: String,
        /// The session's limit in bytes, once known.
        limit: Option<usize>,
    },
    /// A bug in trawl or DataFusion.
    #[error("internal error (please report it): {0}")]
    Internal(String),
}

fn memory_hint(limit: Option<usize>) -> String {
    let limit = limit.map_or("the limit".to_string(), |l| {
        format!("the limit is {}", bytes_text(l))
    });
    format!(
        "{limit}; raise it with --memory-limit (e.g. --memory-limit 8GiB), or narrow the query (a time range, fewer columns, LIMIT)"
    )
}

fn bytes_text(n: usize) -> String {
    const GIB: f64 = (1u64 << 30) as f64;
    const MIB: f64 = (1u64 << 20) as f64;
    let n = n as f64;
    if n >= GIB {
        format!("{:.1} GiB", n / GIB)
    } else {
        format!("{:.1} MiB", n / MIB)
    }
}

impl From<DataFusionError> for QueryError {
    fn from(e: DataFusionError) -> Self {
        match e.find_root() {
            DataFusionError::ResourcesExhausted(_) => QueryError::Memory {
                message: e.strip_backtrace(),
                limit: None,
            },
            DataFusionError::SQL(e, _)
                if matches!(
                    e.as_ref(),
                    datafusion::sql::sqlparser::parser::ParserError::RecursionLimitExceeded
                ) =>
            {
                too_deep()
            }
            DataFusionError::SQL(..)
            | DataFusionError::Plan(_)
            | DataFusionError::SchemaError(..)
            | DataFusionError::NotImplemented(_) => QueryError::Plan(e.strip_backtrace()),
            DataFusionError::Internal(_) => QueryError::Internal(e.strip_backtrace()),
            _ => QueryError::Execution(e.strip_backtrace()),
        }
    }
}

/// Levels the SQL parser nests at most (sqlparser's recursion limit).
const MAX_NESTING: usize = 50;

fn too_deep() -> QueryError {
    QueryError::Plan(format!(
        "the statement nests parentheses, brackets, calls or operators more than {MAX_NESTING} \
         levels deep (the SQL parser's limit): flatten it, e.g. with a WITH clause"
    ))
}

/// Refuses brackets nested past the parser's limit before the parser sees them: on such
/// input sqlparser backtracks at every level, and 60 nested `ARRAY[` took minutes. Call it
/// before giving untrusted text to sqlparser (the web console's read-only check does).
pub fn check_nesting(sql: &str) -> Result<(), QueryError> {
    use datafusion::sql::sqlparser::tokenizer::{Token, Tokenizer};
    // Text that does not tokenize is the parser's to report.
    let Ok(tokens) = Tokenizer::new(&GenericDialect {}, sql).tokenize() else {
        return Ok(());
    };
    let mut depth = 0usize;
    for t in &tokens {
        match t {
            Token::LParen | Token::LBracket | Token::LBrace => {
                depth += 1;
                if depth > MAX_NESTING {
                    return Err(too_deep());
                }
            }
            Token::RParen | Token::RBracket | Token::RBrace => depth = depth.saturating_sub(1),
            _ => {}
        }
    }
    Ok(())
}
