//! What a filtered dashboard reads from the lake once for all its tiles: the columns their
//! partial queries name, struct columns narrowed to the members they name.

use std::collections::BTreeSet;

use arrow::datatypes::DataType;
use trawl_query::{QueryEngine, QueryError};

use crate::dashboards::Dashboard;

/// What a filtered dashboard's tiles read from the lake: the columns any of them names,
/// read once per commit span for the events the filters keep, and the tiles' partials then
/// computed from those events in memory (one scan of the lake instead of one per tile).
#[derive(Debug, Clone)]
pub struct Scoped {
    pub(super) dashboard: &'static str,
    /// What every tile of the dashboard reads only ([`crate::dashboards::Scope`]): the read
    /// keeps only those events.
    pub(super) predicate: Option<&'static str>,
    /// What the read selects: a column, or a struct column narrowed to the members the
    /// tiles name (`useridentity` is a dozen columns in the lake; the tiles read three).
    pub(super) columns: Vec<String>,
}

impl Scoped {
    /// The columns of `engine`'s `cloudtrail_logs` that the partial queries of `dashboard`'s
    /// tiles name (as a whole word, in any case: a name too many only reads more), with `dt`
    /// and `eventtime`, which every partial groups and bounds by. A struct column the tiles
    /// name only through members (`useridentity.arn`) is read as a struct of those members.
    pub async fn of(engine: &QueryEngine, dashboard: &Dashboard) -> Result<Scoped, QueryError> {
        let view = engine.context().table(trawl_query::TABLE).await?;
        let sqls: Vec<String> = dashboard
            .tiles
            .iter()
            .filter_map(|t| t.rollup.as_ref())
            // In UTC the time buckets read stored columns (`dt`, `eventtime_ts`); in another
            // zone `eventtime`, which is always read.
            .map(|r| crate::dashboards::zoned(&r.partial, None).to_ascii_lowercase())
            .collect();
        let mut columns = Vec::new();
        for f in view.schema().fields() {
            let name = f.name();
            let lower = name.to_ascii_lowercase();
            if name != "dt" && name != "eventtime" && !sqls.iter().any(|s| names(s, &lower)) {
                continue;
            }
            let quoted = quote(name);
            let narrowed = match f.data_type() {
                DataType::Struct(_) => {
                    let mut paths = BTreeSet::new();
                    sqls.iter()
                        .try_for_each(|s| members(s, &lower, &mut paths))
                        .and_then(|()| narrowed(&quoted, f.data_type(), &paths, 0))
                }
                _ => None,
            };
            columns.push(match narrowed {
                Some(expr) => format!("{expr} AS {quoted}"),
                None => quoted,
            });
        }
        Ok(Scoped {
            dashboard: dashboard.id,
            predicate: dashboard.scope.map(|s| s.predicate),
            columns,
        })
    }

    /// What the read selects, in SQL: each column, or a struct narrowed to its members.
    pub fn columns(&self) -> &[String] {
        &self.columns
    }
}

/// Whether `text` holds `word` as a whole identifier.
fn names(text: &str, word: &str) -> bool {
    let ident = |b: &u8| b.is_ascii_alphanumeric() || *b == b'_';
    text.match_indices(word).any(|(i, _)| {
        let before = i.checked_sub(1).and_then(|j| text.as_bytes().get(j));
        let after = text.as_bytes().get(i + word.len());
        !before.is_some_and(ident) && !after.is_some_and(ident)
    })
}

/// An identifier in double quotes.
fn quote(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

/// Adds to `paths` the member paths of `column` that `text` names (`column.a.b` → `[a, b]`);
/// `None` when `text` names `column` otherwise (alone, or with brackets or quotes), so the
/// whole column is needed.
fn members(text: &str, column: &str, paths: &mut BTreeSet<Vec<String>>) -> Option<()> {
    let ident = |b: u8| b.is_ascii_alphanumeric() || b == b'_';
    let bytes = text.as_bytes();
    for (i, _) in text.match_indices(column) {
        let end = i + column.len();
        if i.checked_sub(1).is_some_and(|j| ident(bytes[j]))
            || bytes.get(end).is_some_and(|b| ident(*b))
        {
            continue;
        }
        let mut path = Vec::new();
        let mut at = end;
        while bytes.get(at) == Some(&b'.') {
            let start = at + 1;
            let mut stop = start;
            while bytes.get(stop).is_some_and(|b| ident(*b)) {
                stop += 1;
            }
            if stop == start {
                return None;
            }
            path.push(text[start..stop].to_string());
            at = stop;
        }
        if path.is_empty() {
            return None;
        }
        paths.insert(path);
    }
    Some(())
}

/// `expr` (a struct of type `data_type`) as a struct of the members `paths` name, at the
/// same places (a member named whole is kept whole); `None` when a path names no member,
/// so the whole struct is read.
fn narrowed(
    expr: &str,
    data_type: &DataType,
    paths: &BTreeSet<Vec<String>>,
    depth: usize,
) -> Option<String> {
    let DataType::Struct(fields) = data_type else {
        return None;
    };
    let mut parts = Vec::new();
    for f in fields {
        let name = f.name().to_ascii_lowercase();
        let under: BTreeSet<Vec<String>> = paths
            .iter()
            .filter(|p| p.get(depth) == Some(&name))
            .cloned()
            .collect();
        if under.is_empty() {
            continue;
        }
        let member = format!("{expr}.{}", quote(f.name()));
        let whole = under.iter().any(|p| p.len() == depth + 1);
        let value = if whole {
            member
        } else {
            narrowed(&member, f.data_type(), &under, depth + 1)?
        };
        parts.push(format!("'{}', {value}", f.name().replace('\'', "''")));
    }
    // Every path must name a member of the struct.
    let named = paths
        .iter()
        .filter_map(|p| p.get(depth))
        .all(|n| fields.iter().any(|f| f.name().eq_ignore_ascii_case(n)));
    (named && !parts.is_empty()).then(|| format!("named_struct({})", parts.join(", ")))
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use arrow::datatypes::{DataType, Field, Fields};

    use super::{members, names, narrowed};

    #[test]
    fn a_struct_column_named_through_members_is_read_as_those_members() {
        let sql = "select useridentity.arn, t.useridentity.sessioncontext.sessionissuer.username, \
                   x_useridentity.other from t where useridentity.type = 'a' and useridentity.arn > ''";
        let mut paths = BTreeSet::new();
        assert_eq!(members(sql, "useridentity", &mut paths), Some(()));
        let path = |p: &[&str]| p.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        assert_eq!(
            paths,
            BTreeSet::from([
                path(&["arn"]),
                path(&["sessioncontext", "sessionissuer", "username"]),
                path(&["type"]),
            ])
        );
        // Named otherwise: the whole column.
        for whole in [
            "select useridentity from t",
            "select * from t where useridentity is null",
            "select useridentity['arn'] from t",
            "select useridentity.\"arn\" from t",
            "select useridentity. arn from t",
        ] {
            assert_eq!(
                members(whole, "useridentity", &mut BTreeSet::new()),
                None,
                "{whole}"
            );
        }

        let leaf = |n: &str| Field::new(n, DataType::Utf8, true);
        let issuer = DataType::Struct(Fields::from(vec![leaf("arn"), leaf("username")]));
        let context = DataType::Struct(Fields::from(vec![
            Field::new("sessionissuer", issuer, true),
            leaf("mfaauthenticated"),
        ]));
        let identity = DataType::Struct(Fields::from(vec![
            leaf("type"),
            leaf("arn"),
            leaf("accountid"),
            Field::new("sessioncontext", context, true),
        ]));
        assert_eq!(
            narrowed("\"u\"", &identity, &paths, 0).as_deref(),
            Some(
                "named_struct('type', \"u\".\"type\", 'arn', \"u\".\"arn\", 'sessioncontext', \
                 named_struct('sessionissuer', named_struct('username', \
                 \"u\".\"sessioncontext\".\"sessionissuer\".\"username\")))"
            )
        );
        // A member named whole is kept whole, whatever else names its own members.
        let mut context_whole = paths.clone();
        context_whole.insert(path(&["sessioncontext"]));
        assert_eq!(
            narrowed("u", &identity, &context_whole, 0).as_deref(),
            Some(
                "named_struct('type', u.\"type\", 'arn', u.\"arn\", 'sessioncontext', u.\"sessioncontext\")"
            )
        );
        // A path that names no member (or goes below a leaf): the whole struct.
        for bad in [&["nosuch"][..], &["accountid", "deeper"]] {
            let mut p = paths.clone();
            p.insert(path(bad));
            assert_eq!(narrowed("u", &identity, &p, 0), None, "{bad:?}");
        }
    }

    #[test]
    fn a_column_is_named_as_a_whole_identifier() {
        let sql = "select useridentity.type, eventname_x, \"errorcode\", count(*) from t where awsregion='a'";
        for named in ["useridentity", "type", "errorcode", "awsregion"] {
            assert!(names(sql, named), "{named}");
        }
        for not in ["eventname", "identity", "region", "count_if", "error"] {
            assert!(!names(sql, not), "{not}");
        }
        assert!(names("eventtime", "eventtime"), "the whole text");
    }
}
