//! Athena identifiers are case-insensitive even when double-quoted (`"eventName"` is
//! `eventname`); DataFusion keeps the case of quoted ones. Fold them before parsing. Trino's
//! `IPADDRESS '...'` literal becomes `CAST('...' AS IPADDRESS)` in the same pass.

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
    // Start of an unquoted `IPADDRESS` word that may begin a typed literal.
    let mut ip_word: Option<usize> = None;
    for (token, range) in tokens {
        match &token {
            Token::Word(w)
                if w.quote_style == Some('"') && w.value.chars().any(char::is_uppercase) =>
            {
                let text = &sql[range.clone()];
                out.push_str(&sql[last..range.start]);
                out.push_str(&text.to_lowercase());
                last = range.end;
            }
            // Trino's `IPADDRESS '10.0.0.1'` literal, which the parser does not know, as the
            // cast it means.
            Token::Word(w)
                if w.quote_style.is_none() && w.value.eq_ignore_ascii_case("ipaddress") =>
            {
                ip_word = Some(range.start);
                continue;
            }
            Token::Whitespace(_) if ip_word.is_some() => continue,
            Token::SingleQuotedString(_) if ip_word.is_some() => {
                let start = ip_word.expect("checked");
                out.push_str(&sql[last..start]);
                out.push_str(&format!("CAST({} AS IPADDRESS)", &sql[range.clone()]));
                last = range.end;
            }
            _ => {}
        }
        ip_word = None;
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
            (
                "SELECT IPADDRESS '10.0.0.1', ipaddress\n '::1', 'IPADDRESS ''x''', CAST(a AS IPADDRESS)",
                "SELECT CAST('10.0.0.1' AS IPADDRESS), CAST('::1' AS IPADDRESS), 'IPADDRESS ''x''', CAST(a AS IPADDRESS)",
            ),
        ];
        for (input, want) in cases {
            assert_eq!(fold_quoted_identifiers(input), want, "{input}");
        }
    }
}
