//! `trawl verify --rebuild-ledger` over data files it did not write: a Parquet file under
//! `events/` whose columns have other types is skipped as "not a trawl data file" and named,
//! never a panic (it was one: `as_string` on an Int64 `eventid`).

#![allow(clippy::unwrap_used, reason = "a test's unwrap is its failure message")]

use std::sync::Arc;

use arrow::array::{ArrayRef, Int64Array, RecordBatch, StringArray};
use arrow::datatypes::{Field, Schema};
use trawl_lake::Lake;

fn write_parquet(path: &std::path::Path, columns: Vec<(&str, ArrayRef)>) {
    let schema = Arc::new(Schema::new(
        columns
            .iter()
            .map(|(name, a)| Field::new(*name, a.data_type().clone(), true))
            .collect::<Vec<_>>(),
    ));
    let batch =
        RecordBatch::try_new(schema.clone(), columns.into_iter().map(|c| c.1).collect()).unwrap();
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    let mut w =
        parquet::arrow::ArrowWriter::try_new(std::fs::File::create(path).unwrap(), schema, None)
            .unwrap();
    w.write(&batch).unwrap();
    w.close().unwrap();
}

#[test]
fn rebuild_ledger_skips_a_parquet_file_whose_columns_have_other_types() {
    let ints = || Arc::new(Int64Array::from(vec![1, 2])) as ArrayRef;
    let texts = || Arc::new(StringArray::from(vec!["a", "b"])) as ArrayRef;
    // (file name, its columns, the problem reported)
    type Case = (&'static str, Vec<(&'static str, ArrayRef)>, &'static str);
    let cases: [Case; 3] = [
        (
            "eventid-int",
            vec![("eventid", ints()), ("trawl_source", texts())],
            "column eventid is Int64, not text: not a trawl data file",
        ),
        (
            "source-int",
            vec![("eventid", texts()), ("trawl_source", ints())],
            "column trawl_source is Int64, not text: not a trawl data file",
        ),
        (
            "no-eventid",
            vec![("other", texts())],
            "no eventid column: not a trawl data file",
        ),
    ];
    for (name, columns, want) in cases {
        let dir = tempfile::tempdir().unwrap();
        let lake = trawl_testkit::fixture_lake(dir.path(), &["forms"]);
        let alien = format!("events/dt=2024-03-01/part-{name}.parquet");
        write_parquet(&lake.root().join(&alien), columns);
        let report = trawl_lake::rebuild_ledger(&lake).unwrap();
        let skipped: Vec<(&str, &str)> = report
            .skipped
            .iter()
            .map(|p| (p.path.as_str(), p.problem.as_str()))
            .collect();
        assert_eq!(skipped, [(alien.as_str(), want)], "{name}");
        // The lake's own files are all kept, and it reads as before.
        assert_eq!(report.rows, 10, "{name}");
        let lake = Lake::open(lake.root()).unwrap();
        let verified = trawl_lake::verify(&lake).unwrap();
        assert!(
            verified.problems.is_empty(),
            "{name}: {:?}",
            verified.problems
        );
    }
}
