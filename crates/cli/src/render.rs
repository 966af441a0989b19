//! Rendering query results and ingest summaries.

use std::io::Write;

use arrow::record_batch::RecordBatch;
use trawl_lake::IngestSummary;

use crate::args::Format;

/// The output format when none is given: a table on a terminal, CSV otherwise.
pub(crate) fn default_format() -> Format {
    use std::io::IsTerminal;
    if std::io::stdout().is_terminal() {
        Format::Table
    } else {
        Format::Csv
    }
}

/// Writes one statement's result in `format`. Statements without rows and columns (DDL)
/// print nothing.
pub(crate) fn write_result(
    out: &mut dyn Write,
    format: Format,
    batches: &[RecordBatch],
    schema: &arrow::datatypes::SchemaRef,
) -> anyhow::Result<()> {
    if schema.fields().is_empty() {
        return Ok(());
    }
    match format {
        Format::Table if is_explain(schema) => write_explain(out, batches)?,
        Format::Table => {
            let table = if batches.is_empty() {
                arrow::util::pretty::pretty_format_batches(&[RecordBatch::new_empty(
                    schema.clone(),
                )])?
            } else {
                arrow::util::pretty::pretty_format_batches(batches)?
            };
            writeln!(out, "{table}")?;
        }
        Format::Csv => {
            let mut w = arrow::csv::WriterBuilder::new()
                .with_header(true)
                .build(&mut *out);
            if batches.is_empty() {
                w.write(&csv_ready(&RecordBatch::new_empty(schema.clone()))?)?;
            }
            for b in batches {
                w.write(&csv_ready(b)?)?;
            }
        }
        Format::Json => {
            let mut w = arrow::json::WriterBuilder::new()
                .with_explicit_nulls(true)
                .build::<_, arrow::json::writer::JsonArray>(&mut *out);
            for b in batches {
                w.write(b)?;
            }
            w.finish()?;
            if batches.iter().all(|b| b.num_rows() == 0) {
                write!(out, "[]")?;
            }
            writeln!(out)?;
        }
        Format::Jsonl => {
            let mut w = arrow::json::WriterBuilder::new()
                .with_explicit_nulls(true)
                .build::<_, arrow::json::writer::LineDelimited>(&mut *out);
            for b in batches {
                w.write(b)?;
            }
            w.finish()?;
        }
    }
    Ok(())
}

/// An `EXPLAIN` result: the columns `plan_type` and `plan`.
fn is_explain(schema: &arrow::datatypes::SchemaRef) -> bool {
    let names: Vec<&str> = schema.fields().iter().map(|f| f.name().as_str()).collect();
    names == ["plan_type", "plan"]
}

/// An `EXPLAIN` result as plain text for a terminal: each plan under its type, and the
/// metrics of each operator (`EXPLAIN ANALYZE`: rows, time, bytes, what a scan pruned) one
/// per line under it, rather than one table cell with lines hundreds of characters wide.
fn write_explain(out: &mut dyn Write, batches: &[RecordBatch]) -> anyhow::Result<()> {
    use arrow::array::AsArray;
    for b in batches {
        let (kinds, plans) = (
            b.column(0).as_string::<i32>(),
            b.column(1).as_string::<i32>(),
        );
        for (kind, plan) in kinds.iter().zip(plans.iter()) {
            writeln!(out, "== {} ==", kind.unwrap_or_default())?;
            for line in plan.unwrap_or_default().lines() {
                write_plan_line(out, line)?;
            }
            writeln!(out)?;
        }
    }
    Ok(())
}

/// One operator's line: its description, then `metrics=[a=1, b=2]` as one metric a line.
fn write_plan_line(out: &mut dyn Write, line: &str) -> std::io::Result<()> {
    let Some(at) = line.find(", metrics=[") else {
        return writeln!(out, "{line}");
    };
    let indent = line.len() - line.trim_start().len();
    writeln!(out, "{}", &line[..at])?;
    let metrics = line[at + ", metrics=[".len()..].trim_end();
    let metrics = metrics.strip_suffix(']').unwrap_or(metrics);
    // Metrics are `name=value` separated by `, `; a value may hold `, ` only inside brackets.
    let mut depth = 0usize;
    let mut start = 0;
    let bytes = metrics.as_bytes();
    let mut parts = Vec::new();
    for (i, c) in metrics.char_indices() {
        match c {
            '[' | '(' => depth += 1,
            ']' | ')' => depth = depth.saturating_sub(1),
            ',' if depth == 0 && bytes.get(i + 1) == Some(&b' ') => {
                parts.push(&metrics[start..i]);
                start = i + 2;
            }
            _ => {}
        }
    }
    parts.push(&metrics[start..]);
    for p in parts.iter().filter(|p| !p.is_empty()) {
        writeln!(out, "{:indent$}    | {p}", "")?;
    }
    Ok(())
}

/// One statement's rows and what it cost, as one JSON object: `{"rows": [...], "stats": {...}}`.
pub(crate) fn write_with_stats(
    out: &mut dyn Write,
    batches: &[RecordBatch],
    schema: &arrow::datatypes::SchemaRef,
    stats: &trawl_tuning::QueryStats,
) -> anyhow::Result<()> {
    let mut rows = Vec::new();
    if !schema.fields().is_empty() {
        write_result(&mut rows, Format::Json, batches, schema)?;
    }
    let rows: serde_json::Value = if rows.is_empty() {
        serde_json::Value::Array(Vec::new())
    } else {
        serde_json::from_slice(&rows)?
    };
    let doc = serde_json::json!({"rows": rows, "stats": stats});
    serde_json::to_writer(&mut *out, &doc)?;
    writeln!(out)?;
    Ok(())
}

/// CSV has no arrays, structs, maps or bytes: such columns are written as their display text
/// (`[a, b]`, `{arn: ...}`, hex), as the table format shows them.
fn csv_ready(batch: &RecordBatch) -> anyhow::Result<RecordBatch> {
    use std::sync::Arc;

    use arrow::array::{Array, ArrayRef, StringArray};
    use arrow::datatypes::{DataType, Field, Schema};
    use arrow::util::display::{ArrayFormatter, FormatOptions};
    let textual = |t: &DataType| {
        t.is_nested()
            || matches!(
                t,
                DataType::Binary
                    | DataType::LargeBinary
                    | DataType::BinaryView
                    | DataType::FixedSizeBinary(_)
            )
    };
    let schema = batch.schema();
    if !schema.fields().iter().any(|f| textual(f.data_type())) {
        return Ok(batch.clone());
    }
    let mut fields = Vec::with_capacity(schema.fields().len());
    let mut columns: Vec<ArrayRef> = Vec::with_capacity(schema.fields().len());
    for (field, column) in schema.fields().iter().zip(batch.columns()) {
        if !textual(field.data_type()) {
            fields.push(field.as_ref().clone());
            columns.push(column.clone());
            continue;
        }
        let formatter = ArrayFormatter::try_new(column.as_ref(), &FormatOptions::default())?;
        let text: StringArray = (0..column.len())
            .map(|i| column.is_valid(i).then(|| formatter.value(i).to_string()))
            .collect();
        fields.push(Field::new(field.name(), DataType::Utf8, true));
        columns.push(Arc::new(text));
    }
    Ok(RecordBatch::try_new(
        Arc::new(Schema::new(fields)),
        columns,
    )?)
}

/// The human-readable ingest summary.
pub(crate) fn write_summary(out: &mut dyn Write, s: &IngestSummary) -> std::io::Result<()> {
    writeln!(
        out,
        "lake            {} (version {})",
        s.lake, s.lake_version
    )?;
    writeln!(
        out,
        "objects         {} found, {} read, {} already in the lake",
        s.objects_found, s.objects_read, s.objects_skipped
    )?;
    writeln!(
        out,
        "bytes           {} read, {} of JSON",
        trawl_tuning::human_bytes(s.bytes_read),
        trawl_tuning::human_bytes(s.json_bytes)
    )?;
    writeln!(
        out,
        "events          {} stored, {} duplicates dropped, {} conflicts, {} outside the time window",
        s.events_stored, s.duplicates_dropped, s.conflicts, s.outside_window
    )?;
    if s.dedup_spilled > 0 {
        writeln!(
            out,
            "dedup           {} eventIDs spilled to disk to stay within --dedup-events",
            s.dedup_spilled
        )?;
    }
    writeln!(
        out,
        "also seen       {} digest files, {} insight events",
        s.digests, s.insights
    )?;
    writeln!(
        out,
        "speed           {:.0} events/s, {:.1} MB/s of JSON, {:.2} s",
        s.events_per_second, s.json_mb_per_second, s.seconds
    )?;
    writeln!(
        out,
        "commits         {} ({} files written)",
        s.commits, s.files_written
    )?;
    if s.bad_records > 0 {
        writeln!(
            out,
            "bad records     {} quarantined (see _trawl/quarantine/ in the lake)",
            s.bad_records
        )?;
    }
    if !s.quarantined.is_empty() {
        writeln!(out, "quarantined     {} objects:", s.quarantined.len())?;
        for q in &s.quarantined {
            writeln!(out, "  {}", q.reason)?;
        }
    }
    Ok(())
}

/// The S3 request counts of an ingest (after its summary).
pub(crate) fn write_requests(
    out: &mut dyn Write,
    r: &trawl_s3::RequestSnapshot,
) -> std::io::Result<()> {
    writeln!(
        out,
        "s3 requests     {} LIST ({} objects listed), {} GET, {} HEAD, {} retried; {} downloaded",
        r.list_requests,
        r.listed,
        r.get_requests,
        r.head_requests,
        r.retries,
        trawl_tuning::human_bytes(r.bytes)
    )
}

/// The human-readable `trawl verify` report.
pub(crate) fn write_verify(
    out: &mut dyn Write,
    r: &trawl_lake::VerifyReport,
) -> std::io::Result<()> {
    writeln!(out, "lake            {} (version {})", r.lake, r.version)?;
    writeln!(
        out,
        "checked         {} files, {} rows, {}",
        r.files_checked,
        r.rows,
        trawl_tuning::human_bytes(r.bytes)
    )?;
    if r.problems.is_empty() {
        writeln!(
            out,
            "committed files all present, unchanged and readable; dedup indexes match"
        )?;
    } else {
        writeln!(out, "DAMAGED         {} committed files:", r.problems.len())?;
        for p in &r.problems {
            writeln!(out, "  {}: {}", p.path, p.problem)?;
        }
        writeln!(
            out,
            "hint: restore these files from a backup, or ingest the sources again into a new lake"
        )?;
    }
    let behind: Vec<_> = r.manifests.iter().filter(|m| m.extra == 0).collect();
    if !behind.is_empty() {
        writeln!(
            out,
            "manifests       {} days behind the log (engines reading through them see an older state):",
            behind.len()
        )?;
        for m in &behind {
            writeln!(
                out,
                "  {}: {} committed files not listed, {} replaced files still listed",
                m.path, m.missing, m.replaced
            )?;
        }
        writeln!(
            out,
            "hint: the next `trawl ingest` or `trawl ddl` rewrites them (an ingest running now does it at its next commit)"
        )?;
    }
    if !r.orphans.is_empty() {
        writeln!(
            out,
            "not in the lake {} files no commit names:",
            r.orphans.len()
        )?;
        for o in &r.orphans {
            writeln!(out, "  {}: {}", o.path, o.why)?;
        }
        if r.orphans.iter().any(|o| o.path.ends_with(".parquet")) && r.files_checked == 0 {
            writeln!(
                out,
                "hint: the commit log names no data file; if it was lost, `trawl verify --rebuild-ledger` writes one from these files"
            )?;
        }
    }
    Ok(())
}

/// The human-readable `trawl verify --rebuild-ledger` report.
pub(crate) fn write_rebuild(
    out: &mut dyn Write,
    r: &trawl_lake::RebuildReport,
) -> std::io::Result<()> {
    writeln!(out, "lake            {} (version {})", r.lake, r.version)?;
    if let Some(old) = &r.old_log {
        writeln!(out, "old log         moved to {old}")?;
    }
    writeln!(
        out,
        "new log         {} files, {} rows, {} source objects; {} dedup indexes rebuilt",
        r.files, r.rows, r.sources, r.indexes_rebuilt
    )?;
    if !r.skipped.is_empty() {
        writeln!(out, "left out        {} files:", r.skipped.len())?;
        for p in &r.skipped {
            writeln!(out, "  {}: {}", p.path, p.problem)?;
        }
    }
    if !r.replaced.is_empty() {
        writeln!(
            out,
            "replaced        {} files left out: a compacted file holds their rows (the next ingest or compaction deletes them)",
            r.replaced.len()
        )?;
    }
    Ok(())
}

pub(crate) fn write_compact(
    out: &mut dyn Write,
    s: &trawl_lake::CompactSummary,
) -> std::io::Result<()> {
    match s.version {
        Some(v) => writeln!(
            out,
            "compacted       {} files ({}) of {} days into {} files ({}), {} rows, as lake version {v}",
            s.files_before,
            bytesize::ByteSize(s.bytes_before),
            s.days,
            s.files_after,
            bytesize::ByteSize(s.bytes_after),
            s.rows
        )?,
        None => writeln!(
            out,
            "compacted       nothing: no day has two small files or a file in another layout"
        )?,
    }
    if s.relaid_days > 0 {
        writeln!(out, "re-laid out     {} days, whole", s.relaid_days)?;
    }
    if !s.layout.is_empty() {
        writeln!(out, "layout          {}", s.layout)?;
    }
    if s.retries > 0 {
        writeln!(
            out,
            "retries         {} (another writer committed first; this went on top)",
            s.retries
        )?;
    }
    if s.purged + s.recovered > 0 {
        writeln!(
            out,
            "deleted         {} replaced files past the retention, {} left by a crashed compaction",
            s.purged, s.recovered
        )?;
    }
    writeln!(
        out,
        "lake            {} data files, {:.2} s",
        s.lake_files, s.seconds
    )
}
