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

/// The tokens of `sql` other than whitespace, with their byte ranges.
fn significant_tokens(sql: &str) -> Option<Vec<(Token, std::ops::Range<usize>)>> {
    let tokens = super::tokens_with_ranges(sql, &GenericDialect {})?;
    Some(
        tokens
            .into_iter()
            .filter(|(t, _)| !matches!(t, Token::Whitespace(_)))
            .collect(),
    )
}

/// Token `i` as an upper-case keyword, if it is an unquoted word.
fn keyword(tokens: &[(Token, std::ops::Range<usize>)], i: usize) -> Option<String> {
    match tokens.get(i) {
        Some((Token::Word(w), _)) if w.quote_style.is_none() => Some(w.value.to_ascii_uppercase()),
        _ => None,
    }
}

/// Trino's lambdas (`x -> x > 1`, `(k, v) -> ...`) as function arguments become
/// `__trawl_lambda('x', <body>)`, which the generic dialect parses (it has no lambdas);
/// [`crate::athena::rewrite_statement`] turns that call back into a lambda. The body runs
/// to the `,` or `)` that closes the argument; lambdas may nest.
pub(crate) fn mark_lambdas(sql: &str) -> String {
    let Some(tokens) = significant_tokens(sql) else {
        return sql.to_string();
    };
    let word = |i: usize| match tokens.get(i) {
        Some((Token::Word(w), _)) => Some(w.value.clone()),
        _ => None,
    };
    let is = |i: usize, want: &Token| tokens.get(i).is_some_and(|(t, _)| t == want);
    // The parameters and the index of the arrow of a lambda starting at token `i`.
    let lambda_at = |i: usize| -> Option<(Vec<String>, usize)> {
        if !(i > 0 && (is(i - 1, &Token::LParen) || is(i - 1, &Token::Comma))) {
            return None;
        }
        if let Some(name) = word(i) {
            return is(i + 1, &Token::Arrow).then(|| (vec![name], i + 1));
        }
        if !is(i, &Token::LParen) {
            return None;
        }
        let mut params = Vec::new();
        let mut j = i + 1;
        loop {
            params.push(word(j)?);
            j += 1;
            if is(j, &Token::RParen) {
                return is(j + 1, &Token::Arrow).then_some((params, j + 1));
            }
            if !is(j, &Token::Comma) {
                return None;
            }
            j += 1;
        }
    };
    let mut out = String::with_capacity(sql.len() + 32);
    let mut last = 0;
    let mut depth = 0usize;
    // Depths at which a lambda's body is open.
    let mut open: Vec<usize> = Vec::new();
    let mut i = 0;
    while i < tokens.len() {
        let (token, range) = &tokens[i];
        // A `,` or closing bracket at the body's own depth ends it.
        let closes = matches!(
            token,
            Token::Comma | Token::RParen | Token::RBracket | Token::RBrace
        ) && open.last() == Some(&depth);
        if closes {
            out.push_str(&sql[last..range.start]);
            out.push(')');
            last = range.start;
            open.pop();
            continue;
        }
        if depth > 0
            && let Some((params, arrow)) = lambda_at(i)
        {
            out.push_str(&sql[last..range.start]);
            let quoted: Vec<String> = params
                .iter()
                .map(|p| format!("'{}'", p.replace('\'', "''")))
                .collect();
            out.push_str(&format!("__trawl_lambda({}, ", quoted.join(", ")));
            last = tokens[arrow].1.end;
            open.push(depth);
            i = arrow + 1;
            continue;
        }
        match token {
            Token::LParen | Token::LBracket | Token::LBrace => depth += 1,
            Token::RParen | Token::RBracket | Token::RBrace => depth = depth.saturating_sub(1),
            _ => {}
        }
        i += 1;
    }
    out.push_str(&sql[last..]);
    for _ in open {
        out.push(')');
    }
    out
}

/// Trino's parametric types in `CAST(x AS ARRAY(VARCHAR))` and `ROW(a BIGINT, ...)` written
/// as the parser reads them, `ARRAY<VARCHAR>` and `STRUCT<a BIGINT, ...>` (`MAP(K, V)` parses
/// as it is). Only a type that follows `AS` (and the types nested in it) is touched.
pub(crate) fn angle_bracket_types(sql: &str) -> String {
    let Some(tokens) = significant_tokens(sql) else {
        return sql.to_string();
    };
    let word = |i: usize| keyword(&tokens, i);
    // (token index, replacement) pairs.
    let mut edits: Vec<(usize, &str)> = Vec::new();
    let mut i = 0;
    while i < tokens.len() {
        if word(i).as_deref() == Some("AS")
            && matches!(word(i + 1).as_deref(), Some("ARRAY" | "ROW" | "MAP"))
            && matches!(tokens.get(i + 2), Some((Token::LParen, _)))
        {
            // Inside the type: every ARRAY( / ROW( pair becomes angle brackets.
            let mut stack: Vec<bool> = Vec::new();
            let mut j = i + 1;
            while j < tokens.len() {
                match &tokens[j].0 {
                    Token::LParen => {
                        let kind = word(j - 1);
                        let angle = matches!(kind.as_deref(), Some("ARRAY" | "ROW"));
                        if angle {
                            if kind.as_deref() == Some("ROW") {
                                edits.push((j - 1, "STRUCT"));
                            }
                            edits.push((j, "<"));
                        }
                        stack.push(angle);
                    }
                    Token::RParen => {
                        let Some(angle) = stack.pop() else { break };
                        if angle {
                            edits.push((j, ">"));
                        }
                        if stack.is_empty() {
                            break;
                        }
                    }
                    _ => {}
                }
                j += 1;
            }
            i = j;
        }
        i += 1;
    }
    if edits.is_empty() {
        return sql.to_string();
    }
    let mut out = String::with_capacity(sql.len());
    let mut last = 0;
    for (idx, with) in edits {
        let range = &tokens[idx].1;
        // A token's range runs to the next token; keep what follows its own text.
        let text = &sql[range.clone()];
        let own = text.trim_end().len();
        out.push_str(&sql[last..range.start]);
        out.push_str(with);
        last = range.start + own;
    }
    out.push_str(&sql[last..]);
    out
}

/// `TRIM(LEADING FROM s)`, `TRIM(TRAILING FROM s)`, `TRIM(BOTH FROM s)` (Trino's forms
/// without characters, which the parser refuses) as `ltrim(s)`, `rtrim(s)`, `trim(s)`.
pub(crate) fn trim_without_characters(sql: &str) -> String {
    let Some(tokens) = significant_tokens(sql) else {
        return sql.to_string();
    };
    let word = |i: usize| keyword(&tokens, i);
    let mut out = String::with_capacity(sql.len());
    let mut last = 0;
    for i in 0..tokens.len() {
        if word(i).as_deref() != Some("TRIM")
            || !matches!(tokens.get(i + 1), Some((Token::LParen, _)))
            || word(i + 3).as_deref() != Some("FROM")
        {
            continue;
        }
        let name = match word(i + 2).as_deref() {
            Some("LEADING") => "ltrim",
            Some("TRAILING") => "rtrim",
            Some("BOTH") => "trim",
            _ => continue,
        };
        out.push_str(&sql[last..tokens[i].1.start]);
        out.push_str(name);
        out.push('(');
        last = tokens[i + 3].1.end;
    }
    out.push_str(&sql[last..]);
    out
}

/// Trino's `VALUES 1, 2, 3` (rows of one column without parentheses) as the parser reads
/// it, `VALUES (1), (2), (3)`. A list whose first row has parentheses is left as written.
pub(crate) fn parenthesize_values(sql: &str) -> String {
    let Some(tokens) = significant_tokens(sql) else {
        return sql.to_string();
    };
    // Byte offsets where "(" and ")" go.
    let mut opens = Vec::new();
    let mut closes = Vec::new();
    let mut i = 0;
    while i < tokens.len() {
        if keyword(&tokens, i).as_deref() != Some("VALUES")
            || matches!(tokens.get(i + 1), Some((Token::LParen, _)) | None)
        {
            i += 1;
            continue;
        }
        let mut depth = 0i32;
        let mut start = i + 1;
        let mut j = i + 1;
        loop {
            let end_of_list = match tokens.get(j) {
                None | Some((Token::SemiColon, _)) => true,
                Some((Token::RParen, _)) if depth == 0 => true,
                Some((Token::Word(_), _)) if depth == 0 => matches!(
                    keyword(&tokens, j).as_deref(),
                    Some("ORDER" | "LIMIT" | "OFFSET" | "FETCH" | "UNION" | "EXCEPT" | "INTERSECT")
                ),
                _ => false,
            };
            let comma = depth == 0 && matches!(tokens.get(j), Some((Token::Comma, _)));
            if (end_of_list || comma) && j > start {
                opens.push(tokens[start].1.start);
                closes.push(tokens[j - 1].1.end);
                start = j + 1;
            }
            if end_of_list {
                break;
            }
            match &tokens[j].0 {
                Token::LParen | Token::LBracket => depth += 1,
                Token::RParen | Token::RBracket => depth -= 1,
                _ => {}
            }
            j += 1;
        }
        i = j;
    }
    if opens.is_empty() {
        return sql.to_string();
    }
    let mut out = String::with_capacity(sql.len() + 2 * opens.len());
    for (at, c) in sql.char_indices() {
        // A token's range may end in the whitespace before the next one: close right after
        // the token's own text.
        if opens.contains(&at) {
            out.push('(');
        }
        out.push(c);
        let next = at + c.len_utf8();
        if closes.iter().any(|&e| sql[..e].trim_end().len() == next) {
            out.push(')');
        }
    }
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
