//! Athena identifiers are case-insensitive even when double-quoted (`"eventName"` is
//! `eventname`); DataFusion keeps the case of quoted ones. Fold them before parsing.

use datafusion::sql::sqlparser::dialect::GenericDialect;
use datafusion::sql::sqlparser::tokenizer::Token;

/// Lowercases every double-quoted identifier of `sql`; everything else (string literals,
/// comments, spacing) is kept as written. SQL that does not tokenize is returned unchanged,
/// so the parser reports the error.
pub fn fold_quoted_identifiers(sql: &str) -> String {
    let Some(tokens) = super::tokens_with_ranges(sql, &GenericDialect {}) else {
        return sql.to_string();
    };
    let mut out = String::with_capacity(sql.len());
    let mut last = 0;
    for (token, range) in tokens {
        if let Token::Word(w) = &token
            && w.quote_style == Some('"')
            && w.value.chars().any(char::is_uppercase)
        {
            let text = &sql[range.clone()];
            out.push_str(&sql[last..range.start]);
            out.push_str(&text.to_lowercase());
            last = range.end;
        }
    }
    out.push_str(&sql[last..]);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_quoted_identifiers_change() {
        let cases = [
            (
                r#"SELECT "eventName" FROM "Default"."CloudTrail_Logs""#,
                r#"SELECT "eventname" FROM "default"."cloudtrail_logs""#,
            ),
            (
                r#"SELECT 'Keep "This"' AS "X" -- "Comment""#,
                r#"SELECT 'Keep "This"' AS "x" -- "Comment""#,
            ),
            (
                "select eventname from cloudtrail_logs",
                "select eventname from cloudtrail_logs",
            ),
            (r#"SELECT "$path" FROM t"#, r#"SELECT "$path" FROM t"#),
        ];
        for (input, want) in cases {
            assert_eq!(fold_quoted_identifiers(input), want, "{input}");
        }
    }
}
