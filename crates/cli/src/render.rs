//! Rendering query results and ingest summaries.

use std::io::Write;

use arrow::record_batch::RecordBatch;
use trawl_lake::IngestSummary;

use crate::args::Format;

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

fn human_bytes(n: u64) -> String {
    let units = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut v = n as f64;
    let mut u = 0;
    while v >= 1024.0 && u + 1 < units.len() {
        v /= 1024.0;
        u += 1;
    }
    if u == 0 {
        format!("{n} B")
    } else {
        format!("{v:.1} {}", units[u])
    }
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
        human_bytes(s.bytes_read),
        human_bytes(s.json_bytes)
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
        human_bytes(r.bytes)
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
        human_bytes(r.bytes)
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
        None => writeln!(out, "compacted       nothing: no day has two small files")?,
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
