//! Athena identifiers are case-insensitive even when double-quoted (`"eventName"` is
//! `eventname`); DataFusion keeps the case of quoted ones. Fold them before parsing.

use datafusion::sql::sqlparser::dialect::GenericDialect;
use datafusion::sql::sqlparser::tokenizer::{Token, Tokenizer};

/// Lowercases every double-quoted identifier of `sql`; everything else (string literals,
/// comments, spacing) is kept as written. SQL that does not tokenize is returned unchanged,
/// so the parser reports the error.
pub fn fold_quoted_identifiers(sql: &str) -> String {
    let Ok(tokens) = Tokenizer::new(&GenericDialect {}, sql).tokenize() else {
        return sql.to_string();
    };
    if !tokens.iter().any(|t| matches!(t, Token::Word(w) if w.quote_style == Some('"') && w.value.chars().any(char::is_uppercase))) {
        return sql.to_string();
    }
    tokens
        .into_iter()
        .map(|t| match t {
            Token::Word(mut w) if w.quote_style == Some('"') => {
                w.value = w.value.to_lowercase();
                Token::Word(w).to_string()
            }
            other => other.to_string(),
        })
        .collect()
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
