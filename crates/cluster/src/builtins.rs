//! DataFusion's functions that trawl replaces under the same name.
//!
//! trawl registers Athena's versions of some functions under DataFusion's names
//! (`date_trunc`, `reverse`, `round`...), and several of them rewrite themselves into
//! DataFusion's function of that name while the plan is simplified. Plans cross the wire
//! with functions named, and a node resolves a name through its registry, which holds
//! trawl's version: so a call to DataFusion's function is marked as such, and the node
//! that decodes it takes DataFusion's, not the one its registry holds under that name.

use std::collections::HashMap;
use std::sync::{Arc, LazyLock};

use datafusion::error::Result;
use datafusion::logical_expr::{AggregateUDF, ScalarUDF};

/// What a marked function's definition holds.
const MARK: &[u8] = b"datafusion-builtin";

static SCALARS: LazyLock<HashMap<String, Arc<ScalarUDF>>> = LazyLock::new(|| {
    datafusion::functions::all_default_functions()
        .into_iter()
        .chain(datafusion::functions_nested::all_default_nested_functions())
        .map(|f| (f.name().to_string(), f))
        .collect()
});

static AGGREGATES: LazyLock<HashMap<String, Arc<AggregateUDF>>> = LazyLock::new(|| {
    datafusion::functions_aggregate::all_default_aggregate_functions()
        .into_iter()
        .map(|f| (f.name().to_string(), f))
        .collect()
});

/// Marks `f` in `buf` when it is DataFusion's own function of its name; else `fallback`.
pub(crate) fn encode_udf(
    f: &ScalarUDF,
    buf: &mut Vec<u8>,
    fallback: impl FnOnce(&mut Vec<u8>) -> Result<()>,
) -> Result<()> {
    mark(
        SCALARS.get(f.name()).is_some_and(|b| **b == *f),
        buf,
        fallback,
    )
}

/// DataFusion's function `name` when `buf` marks it so; else `fallback`.
pub(crate) fn decode_udf(
    name: &str,
    buf: &[u8],
    fallback: impl FnOnce() -> Result<Arc<ScalarUDF>>,
) -> Result<Arc<ScalarUDF>> {
    if buf != MARK {
        return fallback();
    }
    SCALARS.get(name).cloned().ok_or_else(|| unknown(name))
}

/// [`encode_udf`] for aggregates.
pub(crate) fn encode_udaf(
    f: &AggregateUDF,
    buf: &mut Vec<u8>,
    fallback: impl FnOnce(&mut Vec<u8>) -> Result<()>,
) -> Result<()> {
    mark(
        AGGREGATES.get(f.name()).is_some_and(|b| **b == *f),
        buf,
        fallback,
    )
}

/// [`decode_udf`] for aggregates.
pub(crate) fn decode_udaf(
    name: &str,
    buf: &[u8],
    fallback: impl FnOnce() -> Result<Arc<AggregateUDF>>,
) -> Result<Arc<AggregateUDF>> {
    if buf != MARK {
        return fallback();
    }
    AGGREGATES.get(name).cloned().ok_or_else(|| unknown(name))
}

fn mark(
    builtin: bool,
    buf: &mut Vec<u8>,
    fallback: impl FnOnce(&mut Vec<u8>) -> Result<()>,
) -> Result<()> {
    if !builtin {
        return fallback(buf);
    }
    buf.extend_from_slice(MARK);
    Ok(())
}

fn unknown(name: &str) -> datafusion::error::DataFusionError {
    datafusion::error::DataFusionError::Internal(format!(
        "no DataFusion function {name}: the nodes run another trawl version than the client"
    ))
}
