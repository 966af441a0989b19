//! Athena DDL as users keep it in their repositories. DataFusion's parser rejects Hive's
//! column types (`STRUCT<type: STRING, ...>`), SerDe clauses and table properties, and none of
//! them matter here: a declared table becomes a view over the lake. So DDL statements are
//! recognised on sqlparser's tokens and reduced to what the view needs: name, columns,
//! partition columns, location and properties.

use std::collections::BTreeMap;

use datafusion::sql::sqlparser::dialect::HiveDialect;
use datafusion::sql::sqlparser::tokenizer::{Token, Tokenizer};
use trawl_lake::TableDef;

/// An Athena DDL statement.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Ddl {
    Create {
        def: TableDef,
        if_not_exists: bool,
    },
    Drop {
        schema: String,
        name: String,
        if_exists: bool,
    },
    ShowCreate {
        schema: String,
        name: String,
    },
    /// Accepted and ignored: partitions of the lake are implicit (`MSCK REPAIR TABLE`,
    /// `ALTER TABLE ... ADD|DROP PARTITION`).
    NoOp {
        table: String,
    },
}

/// Splits SQL text into statements at top-level semicolons (strings, quoted names and
/// comments are respected). Empty statements are dropped.
pub fn split_statements(sql: &str) -> Vec<String> {
    let Some(tokens) = super::tokens_with_ranges(sql, &HiveDialect {}) else {
        return vec![sql.to_string()];
    };
    let mut out = Vec::new();
    let mut start = 0;
    for (token, range) in tokens {
        if token == Token::SemiColon {
            out.push(sql[start..range.start].to_string());
            start = range.end;
        }
    }
    out.push(sql[start..].to_string());
    out.retain(|s| !is_only_comments(s));
    out
}

fn is_only_comments(s: &str) -> bool {
    Tokenizer::new(&HiveDialect {}, s)
        .tokenize()
        .map(|ts| ts.iter().all(|t| matches!(t, Token::Whitespace(_))))
        .unwrap_or(false)
}

fn significant(sql: &str) -> Result<Vec<Token>, String> {
    let tokens = Tokenizer::new(&HiveDialect {}, sql)
        .tokenize()
        .map_err(|e| e.to_string())?;
    Ok(tokens
        .into_iter()
        .filter(|t| !matches!(t, Token::Whitespace(_)))
        .collect())
}

fn word(t: Option<&Token>) -> Option<String> {
    match t {
        Some(Token::Word(w)) => Some(w.value.to_lowercase()),
        _ => None,
    }
}

fn keyword(t: Option<&Token>, kw: &str) -> bool {
    matches!(t, Some(Token::Word(w)) if w.quote_style.is_none() && w.value.eq_ignore_ascii_case(kw))
}

/// Reads `name` or `schema.name` at `*i`.
fn table_name(ts: &[Token], i: &mut usize) -> Result<(String, String), String> {
    let first = word(ts.get(*i)).ok_or("expected a table name")?;
    *i += 1;
    if ts.get(*i) == Some(&Token::Period) {
        let second = word(ts.get(*i + 1)).ok_or("expected a table name after the schema")?;
        *i += 2;
        Ok((first, second))
    } else {
        Ok(("default".to_string(), first))
    }
}

/// Reads a parenthesised column list at `*i` (`(name type, ...)`), returning the names.
/// Types may nest `<...>` and `(...)`.
fn column_list(ts: &[Token], i: &mut usize) -> Result<Vec<String>, String> {
    if ts.get(*i) != Some(&Token::LParen) {
        return Err("expected ( and a column list".into());
    }
    *i += 1;
    let (mut depth, mut expect_name, mut names) = (0i32, true, Vec::new());
    while let Some(t) = ts.get(*i) {
        *i += 1;
        match t {
            Token::LParen | Token::Lt => depth += 1,
            Token::Gt => depth -= 1,
            Token::ShiftRight => depth -= 2,
            Token::RParen if depth == 0 => return Ok(names),
            Token::RParen => depth -= 1,
            Token::Comma if depth == 0 => expect_name = true,
            Token::Word(w) if expect_name && depth == 0 => {
                names.push(w.value.to_lowercase());
                expect_name = false;
            }
            _ => {}
        }
    }
    Err("unbalanced parentheses in the column list".into())
}

/// Recognises an Athena DDL statement; `Ok(None)` when `sql` is not one (it then goes to the
/// SQL planner as usual).
pub(crate) fn parse_ddl(sql: &str) -> Result<Option<Ddl>, String> {
    let ts = significant(sql)?;
    let kw = |i: usize, k: &str| keyword(ts.get(i), k);
    if let Some(verb) = ["insert", "update", "delete", "merge"]
        .into_iter()
        .find(|v| kw(0, v))
    {
        return Err(format!(
            "{} is not supported: the lake is written only by `trawl ingest` (run `trawl ingest --lake LAKE PATH_OR_S3_URL` to add CloudTrail files); to keep a query's result, use CREATE VIEW name AS SELECT ...",
            verb.to_ascii_uppercase()
        ));
    }
    if kw(0, "msck")
        || (kw(0, "alter") && kw(1, "table") && ts.iter().any(|t| keyword(Some(t), "partition")))
    {
        let at = if kw(0, "msck") { 3 } else { 2 };
        let mut i = at;
        let (schema, name) = table_name(&ts, &mut i)?;
        return Ok(Some(Ddl::NoOp {
            table: format!("{schema}.{name}"),
        }));
    }
    if kw(0, "show") && kw(1, "create") && kw(2, "table") {
        let mut i = 3;
        let (schema, name) = table_name(&ts, &mut i)?;
        return Ok(Some(Ddl::ShowCreate { schema, name }));
    }
    if kw(0, "drop") && kw(1, "table") {
        let mut i = 2;
        let if_exists = kw(2, "if") && kw(3, "exists");
        if if_exists {
            i = 4;
        }
        let (schema, name) = table_name(&ts, &mut i)?;
        return Ok(Some(Ddl::Drop {
            schema,
            name,
            if_exists,
        }));
    }
    let external = kw(1, "external");
    if !(kw(0, "create") && (external || kw(1, "table"))) {
        return Ok(None);
    }
    let mut i = if external { 2 } else { 1 };
    if !kw(i, "table") {
        return Ok(None);
    }
    i += 1;
    let if_not_exists = kw(i, "if") && kw(i + 1, "not") && kw(i + 2, "exists");
    if if_not_exists {
        i += 3;
    }
    let (schema, name) = table_name(&ts, &mut i)?;
    if kw(i, "as") || ts[i..].iter().any(|t| keyword(Some(t), "select")) {
        return Err(format!(
            "CREATE TABLE {name} AS SELECT is not supported: the lake is written by `trawl ingest`; use CREATE VIEW {name} AS SELECT ..."
        ));
    }
    if !external
        && ts.get(i) == Some(&Token::LParen)
        && !ts
            .iter()
            .any(|t| keyword(Some(t), "location") || keyword(Some(t), "partitioned"))
    {
        // A plain CREATE TABLE (x INT) is DataFusion's business (an in-memory table).
        return Ok(None);
    }
    let columns = if ts.get(i) == Some(&Token::LParen) {
        column_list(&ts, &mut i)?
    } else {
        Vec::new()
    };
    let (mut partitions, mut location, mut properties) = (Vec::new(), None, BTreeMap::new());
    while i < ts.len() {
        if kw(i, "partitioned") && kw(i + 1, "by") {
            i += 2;
            partitions = column_list(&ts, &mut i)?;
        } else if kw(i, "location") {
            if let Some(Token::SingleQuotedString(s)) = ts.get(i + 1) {
                location = Some(s.clone());
            }
            i += 2;
        } else if kw(i, "tblproperties") && ts.get(i + 1) == Some(&Token::LParen) {
            i += 2;
            while let Some(t) = ts.get(i) {
                match (t, ts.get(i + 1), ts.get(i + 2)) {
                    (
                        Token::SingleQuotedString(k),
                        Some(Token::Eq),
                        Some(Token::SingleQuotedString(v)),
                    ) => {
                        properties.insert(k.to_lowercase(), v.clone());
                        i += 3;
                    }
                    (Token::RParen, ..) => {
                        i += 1;
                        break;
                    }
                    _ => i += 1,
                }
            }
        } else {
            i += 1;
        }
    }
    Ok(Some(Ddl::Create {
        def: TableDef {
            schema,
            name,
            columns,
            partitions,
            location,
            properties,
            ddl: sql.trim().to_string(),
        },
        if_not_exists,
    }))
}

/// The view's expression for a declared partition column: CloudTrail's S3 key partitions
/// mapped onto the lake (event date, region, account). Unknown names give NULL.
pub(crate) fn partition_expr(name: &str, properties: &BTreeMap<String, String>) -> String {
    let date = format!(
        "CASE WHEN dt = '{}' THEN NULL ELSE dt END",
        trawl_schema::UNKNOWN_PARTITION
    );
    match name {
        "region" | "aws_region" | "awsregion" | "region_partition" => "awsregion".to_string(),
        "account" | "account_id" | "accountid" | "account_partition" => {
            "recipientaccountid".to_string()
        }
        "year" => format!("substr({date}, 1, 4)"),
        "month" => format!("substr({date}, 6, 2)"),
        "day" => format!("substr({date}, 9, 2)"),
        "timestamp" | "date" | "dt" | "date_partition" | "day_partition" | "event_date" => {
            let format = properties
                .get(&format!("projection.{name}.format"))
                .map(String::as_str)
                .unwrap_or("yyyy/MM/dd");
            match format {
                "yyyy-MM-dd" => date,
                "yyyyMMdd" => format!("replace({date}, '-', '')"),
                _ => format!("replace({date}, '-', '/')"),
            }
        }
        _ => "CAST(NULL AS VARCHAR)".to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const AWS_DDL: &str = r#"CREATE EXTERNAL TABLE cloudtrail_logs_pp(
    eventVersion STRING,
    userIdentity STRUCT<
        type: STRING,
        sessionContext: STRUCT<
            attributes: STRUCT<mfaAuthenticated: STRING, creationDate: STRING>,
            webIdFederationData: STRUCT<federatedProvider: STRING, attributes: map<string,string>>
        >
    >,
    eventTime STRING,
    resources ARRAY<STRUCT<arn: STRING, accountId: STRING, type: STRING>>,
    tlsDetails STRUCT<tlsVersion:STRING, cipherSuite:STRING>
  )
PARTITIONED BY (`timestamp` string)
ROW FORMAT SERDE 'org.apache.hive.hcatalog.data.JsonSerDe'
STORED AS INPUTFORMAT 'com.amazon.emr.cloudtrail.CloudTrailInputFormat'
OUTPUTFORMAT 'org.apache.hadoop.hive.ql.io.HiveIgnoreKeyTextOutputFormat'
LOCATION 's3://bucket/AWSLogs/111122223333/CloudTrail/us-east-1'
TBLPROPERTIES ('projection.enabled'='true', 'projection.timestamp.format'='yyyy/MM/dd',
  'storage.location.template'='s3://bucket/AWSLogs/111122223333/CloudTrail/us-east-1/${timestamp}')"#;

    #[test]
    fn aws_cloudtrail_ddl_is_understood() {
        let Ok(Some(Ddl::Create { def, if_not_exists })) = parse_ddl(AWS_DDL) else {
            panic!("not recognised")
        };
        assert!(!if_not_exists);
        assert_eq!(
            (def.schema.as_str(), def.name.as_str()),
            ("default", "cloudtrail_logs_pp")
        );
        assert_eq!(
            def.columns,
            [
                "eventversion",
                "useridentity",
                "eventtime",
                "resources",
                "tlsdetails"
            ]
        );
        assert_eq!(def.partitions, ["timestamp"]);
        assert_eq!(
            def.location.as_deref(),
            Some("s3://bucket/AWSLogs/111122223333/CloudTrail/us-east-1")
        );
        assert_eq!(def.properties["projection.timestamp.format"], "yyyy/MM/dd");
    }

    #[test]
    fn other_statements() {
        let cases: &[(&str, Option<&str>)] = &[
            ("MSCK REPAIR TABLE db.t", Some("noop db.t")),
            (
                "ALTER TABLE t ADD IF NOT EXISTS PARTITION (region='us-east-1') LOCATION 's3://x/'",
                Some("noop default.t"),
            ),
            ("DROP TABLE IF EXISTS \"Db\".\"T\"", Some("drop db.t true")),
            ("SHOW CREATE TABLE t", Some("show default.t")),
            ("SELECT 1", None),
            ("CREATE TABLE t (x INT)", None),
            ("CREATE VIEW v AS SELECT 1", None),
        ];
        for (sql, want) in cases {
            let got = parse_ddl(sql).unwrap().map(|d| match d {
                Ddl::NoOp { table } => format!("noop {table}"),
                Ddl::Drop {
                    schema,
                    name,
                    if_exists,
                } => format!("drop {schema}.{name} {if_exists}"),
                Ddl::ShowCreate { schema, name } => format!("show {schema}.{name}"),
                Ddl::Create { def, .. } => format!("create {}", def.name),
            });
            assert_eq!(got.as_deref(), *want, "{sql}");
        }
        assert!(
            parse_ddl("CREATE TABLE t AS SELECT * FROM cloudtrail_logs")
                .unwrap_err()
                .contains("not supported")
        );
    }

    #[test]
    fn statements_split_at_top_level_semicolons() {
        let parts = split_statements("SELECT ';' AS a; -- c;\nSELECT 'it''s';\n\n");
        assert_eq!(parts, ["SELECT ';' AS a", " -- c;\nSELECT 'it''s'"]);
    }
}
