//! Lookups of one value (`eventid = '…'`, `useridentity.accesskeyid IN ('…', '…')`) skip
//! the files whose needle filter ([`trawl_lake::needles`]) says they hold none of the values,
//! before their footers are read. A filter never hides a file that holds a value; a file
//! without a usable filter is read. The rows are still tested by the query's own filter.

use std::collections::{HashMap, HashSet};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use datafusion::arrow::datatypes::DataType;
use datafusion::logical_expr::Expr;
use datafusion::logical_expr::utils::split_conjunction;
use trawl_lake::DataFile;
use trawl_lake::needles::{self, Needles};

/// The needle filters of a table's files, read when a lookup first needs them and kept (a
/// file never changes).
#[derive(Debug)]
pub(crate) struct Filters {
    /// The local directory that holds them: the lake's, or the mirror of a lake in S3 (where
    /// only the files this machine wrote have one). `None`: no filters (a cluster's node).
    root: Option<PathBuf>,
    /// By data file path: its filter, or `None` when it has none that can be used.
    read: Mutex<HashMap<String, Option<Arc<Needles>>>>,
}

impl Filters {
    pub(crate) fn new(root: Option<PathBuf>) -> Self {
        Filters {
            root,
            read: Mutex::default(),
        }
    }

    /// The paths of the `files` that hold none of the values some lookup of `filters` (the
    /// scan's conjuncts) asks for.
    pub(crate) async fn without(&self, files: &[DataFile], filters: &[Expr]) -> HashSet<String> {
        let asked = lookups(filters);
        let Some(root) = self.root.clone().filter(|_| !asked.is_empty()) else {
            return HashSet::new();
        };
        let missing: Vec<(String, String, String)> = {
            let read = self.read.lock().expect("needle filters lock");
            files
                .iter()
                .filter(|f| !read.contains_key(&f.path))
                .map(|f| (f.path.clone(), needles::path_of(&f.index), f.xxh3.clone()))
                .collect()
        };
        let fetched = tokio::task::spawn_blocking(move || {
            missing
                .into_iter()
                .map(|(data, filter, xxh3)| {
                    let filter = Needles::read(&root.join(filter), &xxh3).map(Arc::new);
                    (data, filter)
                })
                .collect::<Vec<_>>()
        })
        .await
        .unwrap_or_default();
        let mut read = self.read.lock().expect("needle filters lock");
        read.extend(fetched);
        files
            .iter()
            .filter(|f| {
                read.get(&f.path).and_then(Option::as_ref).is_some_and(|n| {
                    asked
                        .iter()
                        .any(|(c, values)| values.iter().all(|v| !n.may_hold(*c, v)))
                })
            })
            .map(|f| f.path.clone())
            .collect()
    }
}

/// The lookups in `filters`: (lookup column, values) for each conjunct that is an equality of
/// a lookup column with a text constant, the column `IN` a list of them, or an `OR` of such
/// equalities of one column (DataFusion writes a short `IN` list so).
fn lookups(filters: &[Expr]) -> Vec<(usize, Vec<String>)> {
    filters
        .iter()
        .flat_map(split_conjunction)
        .filter_map(|e| crate::table::equal_to(e, &lookup_column))
        .map(|(c, values)| (c, values.into_iter().map(str::to_string).collect()))
        .collect()
}

/// The lookup column `e` reads as it is stored (or cast to another text type).
fn lookup_column(e: &Expr) -> Option<usize> {
    match e {
        Expr::Column(c) => needles::column(&c.name),
        Expr::Cast(c)
            if matches!(
                c.field.data_type(),
                DataType::Utf8 | DataType::Utf8View | DataType::LargeUtf8
            ) =>
        {
            lookup_column(&c.expr)
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use datafusion::logical_expr::{col, lit};

    #[test]
    fn lookups_are_equalities_and_lists_of_lookup_columns_in_conjunctions() {
        let found = lookups(&[
            col("eventid")
                .eq(lit("e-1"))
                .and(lit("203.0.113.9").eq(col("sourceipaddress"))),
            col("useridentity_arn").in_list(vec![lit("a"), lit("b")], false),
            col("eventid").eq(lit("x")).or(col("eventid").eq(lit("y"))),
            // Not lookups: another column, a negation, a disjunction of two columns, a list
            // with a column.
            col("eventname").eq(lit("GetObject")),
            col("useridentity_accesskeyid").in_list(vec![lit("k")], true),
            col("eventid")
                .eq(lit("x"))
                .or(col("requestid").eq(lit("y"))),
            col("eventid").in_list(vec![lit("x"), col("requestid")], false),
        ]);
        assert_eq!(
            found,
            vec![
                (0, vec!["e-1".to_string()]),
                (1, vec!["203.0.113.9".to_string()]),
                (3, vec!["a".to_string(), "b".to_string()]),
                (0, vec!["x".to_string(), "y".to_string()]),
            ]
        );
    }
}
