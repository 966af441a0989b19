//! What other engines need to read the lake: the flat table over the committed files and the
//! Athena-shaped `cloudtrail_logs` view, in each engine's SQL (`trawl ddl`).
//!
//! Committed files only: Athena and Trino read the table through the lake's symlink manifests
//! (`SymlinkTextInputFormat`, one manifest per day listing that day's committed files); Spark
//! and DuckDB do not honour symlink tables, so their `cloudtrail_events` keeps only the rows of
//! files a manifest names.

use arrow::datatypes::DataType;

use crate::{
    COL_EVENTTIME_TS, COL_FIXUPS, COL_SOURCE, COL_UNMAPPED, FIELDS, Field, Kind,
    NOT_IN_ATHENA_STRUCTS, PARTITION_COL, PHYSICAL_TABLE, UNKNOWN_PARTITION, arrow_schema,
};

/// The SQL dialect a statement is written in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dialect {
    /// trawl's own engine (`named_struct`).
    DataFusion,
    /// Athena and Trino (`CAST(ROW(...) AS ROW(...))`).
    Trino,
    /// Spark SQL (`named_struct`, backquoted identifiers).
    Spark,
    /// DuckDB (`struct_pack`).
    DuckDb,
}

/// The engines `trawl ddl` writes for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Engine {
    Athena,
    Trino,
    Spark,
    DuckDb,
}

impl Engine {
    /// The name `trawl ddl --engine` takes.
    pub fn name(self) -> &'static str {
        match self {
            Engine::Athena => "athena",
            Engine::Trino => "trino",
            Engine::Spark => "spark",
            Engine::DuckDb => "duckdb",
        }
    }

    /// The dialect of the engine's SQL (Athena is Trino).
    pub fn dialect(self) -> Dialect {
        match self {
            Engine::Athena | Engine::Trino => Dialect::Trino,
            Engine::Spark => Dialect::Spark,
            Engine::DuckDb => Dialect::DuckDb,
        }
    }
}

/// Where the lake is, as the engine reads it, and what the DDL needs to know of it.
#[derive(Debug, Clone)]
pub struct DdlTarget {
    /// The lake's root as the engine sees it (`s3://bucket/prefix`, `file:///path`), no
    /// trailing slash. The manifests name files under it.
    pub location: String,
    /// The first day the lake holds (`YYYY-MM-DD`), where Athena's date projection starts.
    pub first_day: Option<String>,
    /// Rows in the partition of events whose time could not be read.
    pub unknown_partition_rows: u64,
    /// The lake version the statements were written at (said in a comment).
    pub version: u64,
    /// The key of the directory level below each day (`account`, `region`) when the lake's
    /// files are laid out with one: Spark and DuckDB find the files (and their partition
    /// columns) from the paths.
    pub sub_partition: Option<String>,
}

/// The body of the Athena-shaped view over `table` in `dialect`: the flat columns folded back
/// into Athena's structs with Athena's lowercase names, then trawl's extra columns.
pub fn view_select(table: &str, dialect: Dialect) -> String {
    let mut cols = Vec::new();
    for f in FIELDS {
        let lower = f.key.to_ascii_lowercase();
        match f.kind {
            Kind::Object(children) => {
                cols.push(format!(
                    "{} AS {lower}",
                    struct_expr(children, &lower, dialect)
                ));
            }
            Kind::Time => {
                cols.push(lower);
                cols.push(COL_EVENTTIME_TS.to_string());
            }
            _ => cols.push(lower),
        }
    }
    cols.extend(NOT_IN_ATHENA_STRUCTS.iter().map(|c| c.to_string()));
    for extra in [COL_UNMAPPED, COL_FIXUPS, COL_SOURCE] {
        cols.push(extra.to_string());
    }
    // The partition of events whose time could not be read is Hive's NULL partition: every
    // Hive-aware engine (Athena, Trino, Spark, DuckDB) reads its `dt` as NULL, and so does this.
    cols.push(format!(
        "CASE WHEN {PARTITION_COL} = '{UNKNOWN_PARTITION}' THEN NULL ELSE {PARTITION_COL} END AS {PARTITION_COL}"
    ));
    // Athena's pseudo-column: the object each row came from.
    let path = match dialect {
        Dialect::Spark => "`$path`",
        _ => "\"$path\"",
    };
    cols.push(format!("{COL_SOURCE} AS {path}"));
    format!("SELECT {} FROM {table}", cols.join(", "))
}

/// The members of a struct, as (lowercase key, physical column or nested fields).
fn members(
    fields: &'static [Field],
    prefix: &str,
) -> Vec<(String, String, Option<&'static [Field]>)> {
    fields
        .iter()
        .filter_map(|f| {
            let lower = f.key.to_ascii_lowercase();
            let column = format!("{prefix}_{lower}");
            if NOT_IN_ATHENA_STRUCTS.contains(&column.as_str()) {
                return None;
            }
            let nested = match f.kind {
                Kind::Object(children) => Some(children),
                _ => None,
            };
            Some((lower, column, nested))
        })
        .collect()
}

fn struct_expr(fields: &'static [Field], prefix: &str, dialect: Dialect) -> String {
    let parts: Vec<String> = members(fields, prefix)
        .into_iter()
        .map(|(key, column, nested)| {
            let value = match nested {
                Some(children) => struct_expr(children, &column, dialect),
                None => column,
            };
            match dialect {
                Dialect::DataFusion | Dialect::Spark => format!("'{key}', {value}"),
                Dialect::DuckDb => format!("\"{key}\" := {value}"),
                Dialect::Trino => value,
            }
        })
        .collect();
    match dialect {
        Dialect::DataFusion | Dialect::Spark => format!("named_struct({})", parts.join(", ")),
        Dialect::DuckDb => format!("struct_pack({})", parts.join(", ")),
        Dialect::Trino => format!(
            "CAST(ROW({}) AS {})",
            parts.join(", "),
            trino_row_type(fields, prefix)
        ),
    }
}

/// The Trino type of a struct of the view: `ROW("key" varchar, ...)`.
fn trino_row_type(fields: &'static [Field], prefix: &str) -> String {
    let schema = arrow_schema();
    let parts: Vec<String> = members(fields, prefix)
        .into_iter()
        .map(|(key, column, nested)| {
            let ty = match nested {
                Some(children) => trino_row_type(children, &column),
                None => trino_type(
                    schema
                        .field_with_name(&column)
                        .expect("every struct member is a column")
                        .data_type(),
                ),
            };
            format!("\"{key}\" {ty}")
        })
        .collect();
    format!("ROW({})", parts.join(", "))
}

fn trino_type(dt: &DataType) -> String {
    match dt {
        DataType::Map(..) => "map(varchar, varchar)".into(),
        DataType::List(item) => format!("array({})", trino_type(item.data_type())),
        DataType::Struct(fields) => format!(
            "ROW({})",
            fields
                .iter()
                .map(|f| format!("\"{}\" {}", f.name(), trino_type(f.data_type())))
                .collect::<Vec<_>>()
                .join(", ")
        ),
        DataType::Timestamp(..) => "timestamp".into(),
        _ => "varchar".into(),
    }
}

/// The lake's columns in Hive/Spark type syntax, one `` `name` type`` per line.
fn hive_columns() -> Vec<String> {
    arrow_schema()
        .fields()
        .iter()
        .map(|f| format!("  `{}` {}", f.name(), crate::hive_type(f.data_type())))
        .collect()
}

/// The Hive table over the manifests (Athena, and Hive/Glue for Trino).
fn symlink_table(target: &DdlTarget, projection: bool) -> String {
    let manifests = format!("{}/_trawl/manifest/", target.location);
    let mut s = format!(
        "CREATE EXTERNAL TABLE IF NOT EXISTS {PHYSICAL_TABLE} (\n{}\n)\n\
         PARTITIONED BY (`{PARTITION_COL}` string)\n\
         ROW FORMAT SERDE 'org.apache.hadoop.hive.ql.io.parquet.serde.ParquetHiveSerDe'\n\
         STORED AS INPUTFORMAT 'org.apache.hadoop.hive.ql.io.SymlinkTextInputFormat'\n\
         OUTPUTFORMAT 'org.apache.hadoop.hive.ql.io.HiveIgnoreKeyTextOutputFormat'\n\
         LOCATION '{manifests}'",
        hive_columns().join(",\n")
    );
    if projection {
        let first = target.first_day.as_deref().unwrap_or("2013-11-01");
        s.push_str(&format!(
            "\nTBLPROPERTIES (\n  'projection.enabled' = 'true',\n  'projection.dt.type' = 'date',\n  \
             'projection.dt.format' = 'yyyy-MM-dd',\n  'projection.dt.range' = '{first},NOW',\n  \
             'projection.dt.interval' = '1',\n  'projection.dt.interval.unit' = 'DAYS',\n  \
             'storage.location.template' = '{manifests}dt=${{dt}}/'\n)"
        ));
    }
    s.push_str(";\n");
    s
}

/// A local `file://` location as a plain path (what DuckDB's file functions take).
fn duckdb_path(location: &str) -> String {
    url::Url::parse(location)
        .ok()
        .filter(|u| u.scheme() == "file")
        .and_then(|u| u.to_file_path().ok())
        .map_or_else(|| location.to_string(), |p| p.display().to_string())
}

/// SQL string literal: single quotes doubled.
fn lit(s: &str) -> String {
    format!("'{}'", s.replace('\'', "''"))
}

/// Everything `engine` needs to read the lake at `target`: the flat `cloudtrail_events` over
/// committed files and the `cloudtrail_logs` view, as statements to run in order.
pub fn ddl(engine: Engine, target: &DdlTarget) -> String {
    let loc = &target.location;
    let mut out = format!(
        "-- trawl ddl --engine {}: the lake at {loc} (written at lake version {}).\n",
        engine.name(),
        target.version
    );
    match engine {
        Engine::Athena => {
            out.push_str(
                "-- The table reads the committed files each day's manifest lists (partition projection on dt).\n",
            );
            if target.unknown_partition_rows > 0 {
                out.push_str(&format!(
                    "-- {} rows whose eventTime could not be read are in dt={UNKNOWN_PARTITION}, which date projection\n\
                     -- does not reach: query them with `trawl sql`.\n",
                    target.unknown_partition_rows
                ));
            }
            out.push_str(&symlink_table(target, true));
        }
        Engine::Trino => {
            out.push_str(
                "-- 1. In Hive (or AWS Glue), the metastore Trino's Hive connector reads: the table reads the\n\
                 --    committed files each day's manifest lists (Trino honours SymlinkTextInputFormat).\n",
            );
            out.push_str(&symlink_table(target, false));
            out.push_str(
                "-- 2. In Trino, in the catalog and schema of that metastore: register the days (again after\n\
                 --    an ingest adds days), then the view.\n",
            );
            out.push_str(&format!(
                "CALL system.sync_partition_metadata('default', '{PHYSICAL_TABLE}', 'FULL'); -- your schema in place of 'default'\n"
            ));
        }
        Engine::Spark => {
            out.push_str(
                "-- Spark does not honour symlink manifests: cloudtrail_events keeps the rows of the files the\n\
                 -- manifests list, both read again by every query (so it follows new commits).\n",
            );
            let cols: Vec<String> = arrow_schema()
                .fields()
                .iter()
                .map(|f| format!("`{}`", f.name()))
                .chain([format!(
                    "CAST(`{PARTITION_COL}` AS STRING) AS `{PARTITION_COL}`"
                )])
                .collect();
            out.push_str(&format!(
                "CREATE OR REPLACE VIEW {PHYSICAL_TABLE} AS\n\
                 SELECT {} FROM parquet.`{loc}/events`\n\
                 WHERE _metadata.file_name IN (\n  \
                 SELECT regexp_extract(value, '[^/]+$', 0) FROM text.`{loc}/_trawl/manifest/*/manifest`\n);\n",
                cols.join(", ")
            ));
        }
        Engine::DuckDb => {
            let path = duckdb_path(loc);
            out.push_str(
                "-- DuckDB does not read symlink manifests: cloudtrail_events keeps the rows of the files the\n\
                 -- manifests list, read again by every query (so it follows new commits).\n",
            );
            // A directory below the day is a partition column to DuckDB too: typed as text,
            // and left out (it is a copy of a column of the table).
            let (glob, sub_type, sub_excluded) = match &target.sub_partition {
                Some(key) => (
                    "*/*/*.parquet",
                    format!(", '{key}': VARCHAR"),
                    format!(", {key}"),
                ),
                None => ("*/*.parquet", String::new(), String::new()),
            };
            out.push_str(&format!(
                "CREATE OR REPLACE VIEW {PHYSICAL_TABLE} AS\n\
                 SELECT * EXCLUDE (filename{sub_excluded}) FROM read_parquet({}, hive_partitioning = true, hive_types = {{'{PARTITION_COL}': VARCHAR{sub_type}}}, filename = true)\n\
                 WHERE parse_filename(filename) IN (\n  \
                 SELECT parse_filename(unnest(string_split(trim(content), chr(10)))) FROM read_text({})\n);\n",
                lit(&format!("{path}/events/{glob}")),
                lit(&format!("{path}/_trawl/manifest/*/manifest")),
            ));
        }
    }
    out.push_str(&format!(
        "CREATE OR REPLACE VIEW cloudtrail_logs AS\n{};\n",
        view_select(PHYSICAL_TABLE, engine.dialect())
    ));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn target() -> DdlTarget {
        DdlTarget {
            location: "s3://bucket/lake".into(),
            first_day: Some("2024-03-01".into()),
            unknown_partition_rows: 0,
            version: 3,
            sub_partition: None,
        }
    }

    #[test]
    fn athena_reads_manifests_with_date_projection() {
        let s = ddl(Engine::Athena, &target());
        assert!(
            s.contains("LOCATION 's3://bucket/lake/_trawl/manifest/'"),
            "{s}"
        );
        assert!(s.contains("SymlinkTextInputFormat"));
        assert!(s.contains("'projection.dt.range' = '2024-03-01,NOW'"));
        assert!(s.contains(
            "'storage.location.template' = 's3://bucket/lake/_trawl/manifest/dt=${dt}/'"
        ));
        assert!(!s.contains("named_struct"));
    }

    #[test]
    fn trino_struct_is_a_cast_row_with_athena_names() {
        let v = view_select("t", Dialect::Trino);
        assert!(
            v.contains("CAST(ROW(useridentity_type, useridentity_principalid"),
            "{v}"
        );
        assert!(
            v.contains("\"sessionissuer\" ROW(\"type\" varchar, \"principalid\" varchar"),
            "{v}"
        );
        assert!(v.contains("\"attributes\" map(varchar, varchar)"), "{v}");
        assert!(
            !v.contains("sourceidentity\" varchar"),
            "kept flat, outside Athena's struct"
        );
    }

    #[test]
    fn duckdb_uses_plain_paths_for_a_local_lake() {
        let t = DdlTarget {
            location: "file:///tmp/my%20lake".into(),
            ..target()
        };
        let s = ddl(Engine::DuckDb, &t);
        assert!(
            s.contains("read_parquet('/tmp/my lake/events/*/*.parquet'"),
            "{s}"
        );
        assert!(s.contains("struct_pack(\"type\" := useridentity_type"));
        // A lake with a directory per account below each day.
        let t = DdlTarget {
            sub_partition: Some("account".into()),
            ..t
        };
        let s = ddl(Engine::DuckDb, &t);
        assert!(
            s.contains("EXCLUDE (filename, account) FROM read_parquet('/tmp/my lake/events/*/*/*.parquet', hive_partitioning = true, hive_types = {'dt': VARCHAR, 'account': VARCHAR}"),
            "{s}"
        );
    }

    #[test]
    fn unknown_partition_rows_are_called_out_for_athena() {
        let t = DdlTarget {
            unknown_partition_rows: 5,
            ..target()
        };
        assert!(ddl(Engine::Athena, &t).contains("5 rows whose eventTime could not be read"));
    }
}
