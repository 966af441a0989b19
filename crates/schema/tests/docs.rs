//! `docs/schema.md`'s column table is generated from the schema; this test keeps it in sync.
//! Run with `TRAWL_UPDATE_DOCS=1` to rewrite it.

#![allow(clippy::unwrap_used, reason = "a test's unwrap is its failure message")]

use trawl_testkit::generated_block;

const REGENERATE: &str = "cargo test -p trawl-schema";

#[test]
fn schema_doc_lists_every_column() {
    generated_block(
        "schema.md",
        "columns",
        REGENERATE,
        &trawl_schema::markdown_columns(),
    );
}

#[test]
fn layout_doc_has_the_current_ddl() {
    use trawl_schema::ddl::{DdlTarget, Engine, ddl};
    let target = DdlTarget {
        location: "s3://YOUR-BUCKET/trawl-lake".into(),
        first_day: Some("2024-01-01".into()),
        unknown_partition_rows: 0,
        version: 1,
        sub_partition: None,
    };
    generated_block(
        "lake-layout.md",
        "ddl",
        REGENERATE,
        &format!("```sql\n{}```\n", ddl(Engine::Athena, &target)),
    );
}
