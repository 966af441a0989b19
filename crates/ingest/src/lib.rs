//! Reading CloudTrail objects: local discovery, inflate, form detection, parse, and the
//! encoder that fills the lake's Arrow columns straight from simd-json's tape.
//!
//! The form of an object is detected by content, never by name: gzip (also multi-member)
//! or plain text, an optional UTF-8 BOM, then one of
//! - `{"Records":[...]}` (CloudTrail's delivery format),
//! - a bare JSON array of events, JSON Lines, or JSON values simply concatenated,
//! - CloudWatch Logs subscription envelopes (`logEvents[].message` holds an event),
//! - EventBridge envelopes (`detail` holds the event),
//! - a single event object,
//! - a CloudTrail digest file (counted and returned, not stored as an event).
//!
//! ```
//! use trawl_ingest::{read_bytes, ReadOptions};
//! let json = br#"{"Records":[{"eventVersion":"1.08","eventTime":"2024-03-01T12:00:00Z",
//!   "eventSource":"s3.amazonaws.com","eventName":"GetObject","eventID":"e1"}]}"#;
//! let out = read_bytes("mem://example", json.to_vec(), &ReadOptions::default()).unwrap();
//! assert_eq!(out.records, 1);
//! assert_eq!(out.batches[0].num_rows(), 1);
//! ```

mod decode;
mod encode;
mod error;
mod forms;
#[doc(hidden)]
pub mod fuzz;
pub mod layout;
mod parser;
mod sha;
mod source;
mod stream;

use arrow::array::RecordBatch;
use simd_json::StaticNode;
use simd_json::value::tape::Node;

pub use decode::{
    BIG_NUMBER_MARKER, DEFAULT_MAX_OBJECT_BYTES, decode, quote_big_numbers, split_values,
};
pub use encode::{Appended, RecordEncoder};
pub use error::IngestError;
pub use forms::{MAX_KEPT_BAD_BYTES, MAX_KEPT_BAD_RECORDS};
pub use layout::delivery_stamp;
pub use sha::{sha256_hex, sha256_of_content};
pub use source::{
    Body, Claim, Deliver, DigestSignature, Discovery, Fetch, Listed, LocalFetch, LocalWalk,
    Location, SourceObject, Unlisted, discover_local, looks_like_log, mtime_ns, read_local,
    sort_by_delivery, walk_local,
};
pub use stream::{CHUNK_BYTES as DEFAULT_STREAM_CHUNK_BYTES, OVERSIZE_KEPT_BYTES};
use trawl_schema::TimeWindow;

use encode::{node_len, write_json};
use forms::Reader;
use parser::{INFLATED, KEEP_PARSER_BYTES, Parser};

/// Rows per Arrow batch produced from one object.
pub const BATCH_ROWS: usize = 64 * 1024;

/// How objects are read.
#[derive(Debug, Clone, Copy)]
pub struct ReadOptions {
    /// Cap on the text one object inflates to; past it the object is quarantined (the
    /// events before are kept). Memory does not depend on it (big objects are streamed):
    /// it bounds the time a gzip bomb can take.
    pub max_object_bytes: u64,
    /// Only events inside this window are kept.
    pub window: TimeWindow,
    /// Objects whose text passes this many bytes (inflated, whatever their gzip ratio) are
    /// streamed: inflated and parsed a chunk at a time, their rows handed on per chunk
    /// ([`read_bytes_with`]), so memory does not grow with the object. Smaller objects are
    /// inflated and parsed whole. Local files of at least this many bytes on disk are
    /// streamed from the file.
    pub stream_min_bytes: u64,
    /// JSON text parsed at once when an object is streamed (whole events, at least this
    /// much but the last chunk).
    pub stream_chunk_bytes: usize,
    /// A record (an event, a JSON line, a top-level value) longer than this is not held:
    /// it becomes a bad record with its first 4 KiB in the quarantine, and the rest of
    /// the object is read on.
    pub max_record_bytes: u64,
    /// Hash each object's decompressed content (SHA-256, [`ObjectOutput::sha256`]) as it is
    /// read, for `trawl validate`. On by default.
    pub sha256: bool,
}

/// Default for [`ReadOptions::stream_min_bytes`]: 16 MiB of text.
pub const DEFAULT_STREAM_MIN_BYTES: u64 = 16 << 20;
/// Default for [`ReadOptions::max_record_bytes`]: 16 MiB. CloudTrail's own events are far
/// smaller (a few KB; requestParameters beyond about 100 KB are truncated by CloudTrail).
pub const DEFAULT_MAX_RECORD_BYTES: u64 = 16 << 20;

impl Default for ReadOptions {
    fn default() -> Self {
        Self {
            max_object_bytes: DEFAULT_MAX_OBJECT_BYTES,
            window: TimeWindow::default(),
            stream_min_bytes: DEFAULT_STREAM_MIN_BYTES,
            stream_chunk_bytes: DEFAULT_STREAM_CHUNK_BYTES,
            max_record_bytes: DEFAULT_MAX_RECORD_BYTES,
            sha256: true,
        }
    }
}

impl ReadOptions {
    fn limits(&self) -> stream::Limits {
        stream::Limits {
            chunk_bytes: self.stream_chunk_bytes.max(1),
            max_record: self.max_record_bytes.max(1),
        }
    }
}

/// A record of an otherwise good object that could not be stored as an event.
#[derive(Debug, Clone, PartialEq)]
pub struct BadRecord {
    /// Position of the record in the object (0-based, counting every record-like value).
    pub index: usize,
    /// What is wrong with it, starting `record N` (the object is not named: see
    /// [`BadRecord::describe`]).
    pub reason: String,
    /// The record's JSON text (or the undecodable line), kept for the quarantine.
    pub raw: String,
}

impl BadRecord {
    /// The reason, naming the object: `s3://bucket/key: record 3: ...`.
    pub fn describe(&self, uri: &str) -> String {
        format!("{uri}: {}", self.reason)
    }
}

/// Everything read from one object.
#[derive(Debug, Default)]
pub struct ObjectOutput {
    pub batches: Vec<RecordBatch>,
    /// Events stored in `batches`.
    pub records: usize,
    /// Events dropped by the time window.
    pub outside_window: usize,
    /// Insight events among `records`.
    pub insights: usize,
    /// Digest files found (their compact JSON): recognised, not stored as events.
    pub digests: Vec<String>,
    /// The first bad records (up to [`MAX_KEPT_BAD_RECORDS`], and
    /// [`MAX_KEPT_BAD_BYTES`] of their text), kept for the quarantine.
    pub bad_records: Vec<BadRecord>,
    /// Bad records beyond those kept: counted, their text left in the source object.
    pub bad_records_beyond: usize,
    /// Things worth telling the user that did not lose data (e.g. replaced invalid UTF-8).
    pub warnings: Vec<String>,
    /// Decompressed JSON bytes.
    pub json_bytes: u64,
    /// SHA-256 (lowercase hex) of the object's decompressed content, byte for byte as
    /// inflated (a byte order mark included): what a CloudTrail digest file lists for it.
    pub sha256: Option<String>,
    /// The signature S3 keeps in the object's metadata, for a CloudTrail digest file.
    pub signature: Option<DigestSignature>,
}

impl ObjectOutput {
    fn hashed(self, sha256: Option<String>) -> Self {
        ObjectOutput { sha256, ..self }
    }
}

/// Reads a local object; see [`read_bytes`].
pub fn read_object(obj: &SourceObject, opts: &ReadOptions) -> Result<ObjectOutput, IngestError> {
    read_bytes(&obj.uri, read_local(obj)?, opts)
}

/// Reads the bytes of one object named `uri`. An `Err` means the whole object is bad and
/// must be quarantined; bad records inside a good object are in [`ObjectOutput::bad_records`].
/// The rows are in [`ObjectOutput::batches`], also for a streamed object.
pub fn read_bytes(
    uri: &str,
    raw: Vec<u8>,
    opts: &ReadOptions,
) -> Result<ObjectOutput, IngestError> {
    let mut streamed = Vec::new();
    let mut out = read_bytes_with(uri, raw, opts, &mut |b| streamed.push(b))?;
    streamed.append(&mut out.batches);
    out.batches = streamed;
    Ok(out)
}

/// Reads one object like [`read_bytes`], but an object whose text passes
/// [`ReadOptions::stream_min_bytes`] is streamed: its rows go to `sink` a chunk at a time
/// as they are built, and [`ObjectOutput::batches`] holds none of them. An error part way
/// through a streamed object is [`IngestError::Partial`]: the rows before the fault went to
/// `sink`.
pub fn read_bytes_with(
    uri: &str,
    raw: Vec<u8>,
    opts: &ReadOptions,
    sink: &mut dyn FnMut(RecordBatch),
) -> Result<ObjectOutput, IngestError> {
    // Text up to this long is read whole; one byte more and the object is streamed.
    let whole = opts.stream_min_bytes.max(1).min(opts.max_object_bytes);
    if !decode::is_gzip(&raw) {
        let sha256 = opts.sha256.then(|| sha256_hex(&raw));
        let out = if raw.len() as u64 <= whole {
            read_text_owned(uri, raw, opts)
        } else {
            let reader = Reader::new(uri, opts);
            let w = stream::Window::new(
                uri,
                Box::new(raw.as_slice()),
                false,
                opts.max_object_bytes,
                Vec::new(),
            );
            stream_with(reader, w, opts, sink)
        };
        return out.map(|o| o.hashed(sha256));
    }
    // Hashed as it inflates: the text read whole and whatever is streamed after it.
    let mut sha = sha::context();
    let out = {
        let mut text = INFLATED.with(std::cell::Cell::take);
        text.clear();
        let mut gz = sha::Hashing::new(
            flate2::read::MultiGzDecoder::new(raw.as_slice()),
            opts.sha256.then_some(&mut sha),
        );
        decode::inflate_upto(uri, &mut gz, raw.len(), whole, &mut text)?;
        if text.len() as u64 > whole {
            // More text than is read whole: stream it, from what is inflated already.
            let reader = Reader::new(uri, opts);
            let w = stream::Window::new(uri, Box::new(gz), true, opts.max_object_bytes, text);
            stream_with(reader, w, opts, sink)
        } else {
            read_text_owned(uri, text, opts)
        }
    };
    out.map(|o| o.hashed(opts.sha256.then(|| sha::finish(sha))))
}

/// Streams the text of `w` through `reader` (see [`stream`]).
fn stream_with(
    mut reader: Reader<'_>,
    w: stream::Window<'_>,
    opts: &ReadOptions,
    sink: &mut dyn FnMut(RecordBatch),
) -> Result<ObjectOutput, IngestError> {
    let streamed = stream::stream(&mut reader, w, opts.limits(), sink);
    reader.streamed(streamed)
}

/// Reads a whole object's text (BOM and blank checks first); its buffer is kept for the
/// thread's next object.
fn read_text_owned(
    uri: &str,
    text: Vec<u8>,
    opts: &ReadOptions,
) -> Result<ObjectOutput, IngestError> {
    let text = decode::checked_text(uri, text)?;
    let out = read_text_whole(uri, &text, opts);
    if text.capacity() <= KEEP_PARSER_BYTES {
        INFLATED.with(|c| c.set(text));
    }
    out
}

/// Reads an object's whole text.
fn read_text_whole(
    uri: &str,
    text: &[u8],
    opts: &ReadOptions,
) -> Result<ObjectOutput, IngestError> {
    let mut reader = Reader::new(uri, opts);
    reader.out.json_bytes = text.len() as u64;
    if let Err(first) = reader.read_text(text) {
        if let Some(fixed) = quote_big_numbers(text) {
            reader.out.warnings.push(format!(
                "{uri}: numbers beyond 64-bit range kept as their exact text in the JSON columns"
            ));
            let (warnings, json_bytes) = (reader.out.warnings, reader.out.json_bytes);
            reader = Reader::new(uri, opts);
            reader.out.warnings = warnings;
            reader.out.json_bytes = json_bytes;
            reader.read_text(&fixed)?;
        } else if std::str::from_utf8(text).is_err() {
            let fixed = String::from_utf8_lossy(text).into_owned().into_bytes();
            reader.out.warnings.push(format!(
                "{uri}: invalid UTF-8 replaced with U+FFFD so the records could be kept; the original bytes are in the source object"
            ));
            reader.read_text(&fixed)?;
        } else {
            return Err(first);
        }
    }
    reader.finish()
}

/// Reads the content a [`Fetch`] handed over for `obj`: its bytes
/// ([`read_bytes_with`]) or a file to stream ([`read_file_with`]).
pub fn read_body_with(
    obj: &SourceObject,
    body: Body,
    opts: &ReadOptions,
    sink: &mut dyn FnMut(RecordBatch),
) -> Result<ObjectOutput, IngestError> {
    match body {
        Body::Bytes(raw) => read_bytes_with(&obj.uri, raw, opts, sink),
        Body::Signed(raw, signature) => {
            read_bytes_with(&obj.uri, raw, opts, sink).map(|out| ObjectOutput {
                signature: Some(signature),
                ..out
            })
        }
        Body::File(path) => read_file_with(obj, &path, opts, sink),
    }
}

/// Reads the local file `path` of `obj` like [`read_bytes_with`]; a file of at least
/// [`ReadOptions::stream_min_bytes`] is streamed from disk, never held whole. A file that
/// changed since it was listed, or while it was read, is an error ([`IngestError::Changed`]).
pub fn read_file_with(
    obj: &SourceObject,
    path: &std::path::Path,
    opts: &ReadOptions,
    sink: &mut dyn FnMut(RecordBatch),
) -> Result<ObjectOutput, IngestError> {
    if obj.size < opts.stream_min_bytes.max(1) {
        return read_bytes_with(&obj.uri, read_local(obj)?, opts, sink);
    }
    let file = source::open_unchanged(obj, path)?;
    let mut buffered = std::io::BufReader::with_capacity(1 << 20, &file);
    let gzip = decode::is_gzip(std::io::BufRead::fill_buf(&mut buffered).map_err(|source| {
        IngestError::Io {
            uri: obj.uri.clone(),
            source,
        }
    })?);
    let mut sha = sha::context();
    let out = {
        let src: Box<dyn std::io::Read + '_> = if gzip {
            Box::new(sha::Hashing::new(
                flate2::read::MultiGzDecoder::new(buffered),
                opts.sha256.then_some(&mut sha),
            ))
        } else {
            Box::new(sha::Hashing::new(buffered, opts.sha256.then_some(&mut sha)))
        };
        let mut reader = Reader::new(&obj.uri, opts);
        let w = stream::Window::new(&obj.uri, src, gzip, opts.max_object_bytes, Vec::new());
        let streamed = stream::stream(&mut reader, w, opts.limits(), sink)
            .and_then(|()| source::check_unchanged(obj, &file, "while it was read"));
        reader.streamed(streamed)
    };
    out.map(|o| o.hashed(opts.sha256.then(|| sha::finish(sha))))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read(text: &[u8]) -> Result<ObjectOutput, IngestError> {
        read_bytes("/trail/x.json", text.to_vec(), &ReadOptions::default())
    }

    #[test]
    fn invalid_utf8_inside_a_string_keeps_the_record_with_a_warning() {
        let out =
            read(b"{\"Records\":[{\"eventID\":\"u1\",\"userAgent\":\"ab\xff\xfecd\"}]}").unwrap();
        assert_eq!(out.records, 1);
        assert_eq!(out.warnings.len(), 1);
        assert!(
            out.warnings[0].starts_with("/trail/x.json: invalid UTF-8 replaced"),
            "{:?}",
            out.warnings
        );
        let row = trawl_schema::rebuild(&out.batches[0], 0).unwrap();
        assert_eq!(row["userAgent"], "ab\u{fffd}\u{fffd}cd");
    }

    #[test]
    fn invalid_utf8_in_a_json_line_keeps_the_record() {
        let out =
            read(b"{\"eventID\":\"l1\"}\n{\"eventID\":\"l2\",\"userAgent\":\"x\xffy\"}\n").unwrap();
        assert_eq!((out.records, out.bad_records.len()), (2, 0));
        assert!(
            out.warnings[0].contains("value 1: invalid UTF-8"),
            "{:?}",
            out.warnings
        );
    }

    #[test]
    fn nesting_beyond_the_parser_limit_is_a_clear_error() {
        let deep = format!(
            "{{\"Records\":[{{\"eventID\":\"d\",\"requestParameters\":{}{}}}]}}",
            "[".repeat(3000),
            "]".repeat(3000)
        );
        let err = read(deep.as_bytes()).unwrap_err();
        assert!(matches!(err, IngestError::TooDeep { .. }), "{err}");
        assert!(
            err.to_string()
                .starts_with("/trail/x.json: JSON nested deeper than 1024 levels"),
            "{err}"
        );
        // Just under the limit is fine, and kept exactly.
        let ok = format!(
            "{{\"Records\":[{{\"eventID\":\"d\",\"requestParameters\":{{\"x\":{}{}}}}}]}}",
            "[".repeat(900),
            "]".repeat(900)
        );
        let out = read(ok.as_bytes()).unwrap();
        let row = trawl_schema::rebuild(&out.batches[0], 0).unwrap();
        assert_eq!(row["requestParameters"].to_string().len(), 1806);
    }

    #[test]
    fn numbers_beyond_64_bits_do_not_cost_the_object() {
        let text = br#"{"Records":[{"eventID":"b1","requestParameters":{"n":123456789012345678901234567890,"f":1e400,"ok":5},"apiVersion":99999999999999999999}]}"#;
        let out = read(text).unwrap();
        assert_eq!(out.records, 1);
        assert!(
            out.warnings[0].contains("numbers beyond 64-bit range"),
            "{:?}",
            out.warnings
        );
        let batch = &out.batches[0];
        let params = batch.column_by_name("requestparameters").unwrap();
        let params = arrow::array::AsArray::as_string::<i32>(params);
        assert_eq!(
            params.value(0),
            r#"{"n":123456789012345678901234567890,"f":1e400,"ok":5}"#
        );
        let api =
            arrow::array::AsArray::as_string::<i32>(batch.column_by_name("apiversion").unwrap());
        assert_eq!(api.value(0), "99999999999999999999");
        // Rebuilt as serde_json reads such input (big integers as the nearest f64).
        let text = br#"{"Records":[{"eventID":"b2","requestParameters":{"n":123456789012345678901234567890,"ok":5},"apiVersion":99999999999999999999}]}"#;
        let out = read(text).unwrap();
        let row = trawl_schema::rebuild(&out.batches[0], 0).unwrap();
        let want: serde_json::Value = serde_json::from_slice(text).unwrap();
        assert_eq!(row, want["Records"][0]);
        // Same in JSON Lines.
        let lines = b"{\"eventID\":\"l1\",\"x\":1}\n{\"eventID\":\"l2\",\"responseElements\":{\"n\":123456789012345678901234567890}}\n";
        let out = read(lines).unwrap();
        assert_eq!((out.records, out.bad_records.len()), (2, 0));
    }

    #[test]
    fn huge_fields_are_kept_whole() {
        let big = "A".repeat(8 << 20);
        let text = format!("{{\"Records\":[{{\"eventID\":\"h\",\"errorMessage\":\"{big}\"}}]}}");
        let out = read(text.as_bytes()).unwrap();
        let row = trawl_schema::rebuild(&out.batches[0], 0).unwrap();
        assert_eq!(row["errorMessage"].as_str().unwrap().len(), 8 << 20);
    }

    fn events(from: usize, n: usize) -> String {
        (from..from + n)
            .map(|i| {
                format!(
                    r#"{{"eventVersion":"1.08","eventTime":"2024-03-01T12:{:02}:{:02}Z","eventSource":"s3.amazonaws.com","eventName":"GetObject","eventID":"e{i}","requestParameters":{{"bucketName":"b","key":"k\"{i}"}}}}"#,
                    i / 60 % 60,
                    i % 60
                )
            })
            .collect::<Vec<_>>()
            .join(",\n ")
    }

    fn gzip(text: &[u8]) -> Vec<u8> {
        use std::io::Write;
        let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        e.write_all(text).unwrap();
        e.finish().unwrap()
    }

    /// Reads `raw` streamed in `chunk`-byte chunks: the output and the batches the sink got.
    fn streamed(raw: &[u8], chunk: usize) -> (Result<ObjectOutput, IngestError>, Vec<RecordBatch>) {
        let opts = ReadOptions {
            stream_min_bytes: 1,
            stream_chunk_bytes: chunk,
            ..ReadOptions::default()
        };
        let mut got = Vec::new();
        let out = read_bytes_with("/trail/big.json.gz", raw.to_vec(), &opts, &mut |b| {
            got.push(b)
        });
        (out, got)
    }

    fn rows(batches: &[RecordBatch]) -> Vec<serde_json::Value> {
        batches
            .iter()
            .flat_map(|b| trawl_schema::rebuild_batch(b).unwrap())
            .collect()
    }

    #[test]
    fn a_streamed_object_gives_the_rows_of_a_whole_read_a_chunk_at_a_time() {
        let text = format!(
            "\u{feff}{{ \"Records\" : [\n {} ],\n \"extra\": {{\"a\":[1,\"]\"]}} }}\n{{\"Records\":[{}]}}",
            events(0, 3000),
            events(3000, 500)
        );
        let whole = read(text.as_bytes()).unwrap();
        assert_eq!(whole.records, 3500);
        for raw in [gzip(text.as_bytes()), text.as_bytes().to_vec()] {
            let (out, got) = streamed(&raw, 64 << 10);
            let out = out.unwrap();
            assert!(out.batches.is_empty());
            assert!(got.len() > 10, "{} batches: not chunked", got.len());
            assert!(got.iter().all(|b| b.get_array_memory_size() < 4 << 20));
            assert_eq!(out.records, 3500);
            assert_eq!(out.json_bytes, whole.json_bytes);
            assert_eq!(rows(&got), rows(&whole.batches));
        }
        // read_bytes puts the streamed rows in the output, as for any object.
        let opts = ReadOptions {
            stream_min_bytes: 1,
            ..ReadOptions::default()
        };
        let out = read_bytes("/trail/big.json.gz", gzip(text.as_bytes()), &opts).unwrap();
        assert_eq!(rows(&out.batches), rows(&whole.batches));
    }

    #[test]
    fn a_bad_event_in_a_streamed_chunk_costs_only_that_event() {
        let text = format!(
            "{{\"Records\":[{},{{\"eventID\":\"x\" \"broken\":1}},7,{}]}}",
            events(0, 300),
            events(300, 300)
        );
        let (out, got) = streamed(&gzip(text.as_bytes()), 4096);
        let out = out.unwrap();
        assert_eq!(rows(&got).len(), 600);
        let bad: Vec<(usize, &str)> = out
            .bad_records
            .iter()
            .map(|b| (b.index, b.raw.as_str()))
            .collect();
        assert_eq!(
            bad,
            [(300, r#"{"eventID":"x" "broken":1}"#), (301, "7")],
            "{:?}",
            out.bad_records
        );
        let reason = out.bad_records[0].describe("/trail/big.json.gz");
        assert!(
            reason.starts_with("/trail/big.json.gz: record 300 is not valid JSON"),
            "{reason}"
        );
        // Read whole, the same object is not JSON at all.
        assert!(read(text.as_bytes()).is_err());
    }

    #[test]
    fn a_truncated_streamed_object_keeps_the_events_before_the_fault() {
        let text = format!("{{\"Records\":[{}]}}", events(0, 2000));
        let gz = gzip(text.as_bytes());
        let (out, got) = streamed(&gz[..gz.len() / 2], 16 << 10);
        let err = out.unwrap_err();
        let IngestError::Partial { stored, source } = &err else {
            panic!("{err}");
        };
        assert!(matches!(**source, IngestError::Inflate { .. }), "{source}");
        assert_eq!(rows(&got).len(), *stored);
        assert!(*stored > 100 && *stored < 2000, "{stored}");
        let msg = err.to_string();
        assert!(
            msg.starts_with("/trail/big.json.gz: gzip stream is corrupt or truncated")
                && msg.contains(&format!(
                    "the {stored} events read before the fault are stored"
                )),
            "{msg}"
        );
        // Text cut inside the array: the same, said as JSON.
        let (out, _) = streamed(&text.as_bytes()[..text.len() - 40], 16 << 10);
        let err = out.unwrap_err().to_string();
        assert!(err.contains("(truncated?)"), "{err}");
        // Past the cap on inflated size: an error naming the cap.
        let opts = ReadOptions {
            stream_min_bytes: 1,
            stream_chunk_bytes: 4096,
            max_object_bytes: 100_000,
            ..ReadOptions::default()
        };
        let err = read_bytes_with("/trail/big.json.gz", gz.clone(), &opts, &mut |_| {})
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("decompresses to more than 100000 bytes"),
            "{err}"
        );
    }

    #[test]
    fn an_object_is_streamed_by_what_it_inflates_to_not_by_its_size() {
        // A few KB of gzip that inflate past the threshold: streamed, whatever the ratio.
        let pad = " ".repeat(400_000);
        let text = format!(
            "{{\"Records\":[{}{pad},{}]}}",
            events(0, 50),
            events(50, 50)
        );
        let gz = gzip(text.as_bytes());
        assert!(gz.len() < 10_000, "{}", gz.len());
        let opts = ReadOptions {
            stream_min_bytes: 100_000,
            stream_chunk_bytes: 4096,
            ..ReadOptions::default()
        };
        let mut got = Vec::new();
        let out = read_bytes_with("/trail/bomb.json.gz", gz.clone(), &opts, &mut |b| {
            got.push(b)
        })
        .unwrap();
        assert!(out.batches.is_empty(), "read whole");
        assert_eq!((out.records, rows(&got).len()), (100, 100));
        assert_eq!(out.json_bytes, text.len() as u64);
        // Under the threshold the same object is read whole, with the same rows.
        let whole = read(&gz).unwrap();
        assert_eq!(rows(&whole.batches), rows(&got));
    }

    #[test]
    fn a_record_longer_than_max_record_bytes_is_reported_not_held() {
        // One found whole in the window (300 KB), one longer than a read (1.5 MB): both
        // scanned past.
        let record = |id: &str, n: usize| {
            format!(
                r#"{{"eventID":"{id}","requestParameters":{{"x":"{}"}}}}"#,
                "A".repeat(n)
            )
        };
        let (long, huge) = (record("long", 300_000), record("huge", 1_500_000));
        let opts = ReadOptions {
            stream_min_bytes: 1,
            stream_chunk_bytes: 4096,
            max_record_bytes: 100_000,
            ..ReadOptions::default()
        };
        let (head, tail) = (events(0, 20), events(20, 20));
        let lines = |t: &str| t.replace(",\n ", "\n");
        let spaced = |t: &str| t.replace(",\n ", " ");
        let forms = [
            format!("{{\"Records\":[{head},{long},{huge},{tail}]}}"),
            format!("[{head},{long},{huge},{tail}]"),
            format!("{}\n{long}\n{huge}\n{}\n", lines(&head), lines(&tail)),
            format!("{} {long} {huge} {}", spaced(&head), spaced(&tail)),
        ];
        for text in forms {
            for raw in [text.as_bytes().to_vec(), gzip(text.as_bytes())] {
                let out = read_bytes("/trail/long.json", raw, &opts).unwrap();
                assert_eq!(out.records, 40, "{}", &text[..60]);
                let bad: Vec<(usize, &str)> = out
                    .bad_records
                    .iter()
                    .map(|b| (b.index, &b.raw[..]))
                    .collect();
                assert_eq!(bad, [(20, &long[..4096]), (21, &huge[..4096])]);
                for (b, r) in out.bad_records.iter().zip([&long, &huge]) {
                    let said = format!(
                        "record {} is {} bytes of JSON, more than --max-record-bytes (100000)",
                        b.index,
                        r.len()
                    );
                    assert!(b.reason.starts_with(&said), "{}", b.reason);
                }
            }
        }
    }

    #[test]
    fn json_lines_stream_line_by_line_and_a_broken_line_costs_that_line() {
        let lines = events(0, 300).replace(",\n ", "\n");
        let text = format!(
            "{lines}\n{{\"eventID\":\"broken\", \n{}\n",
            events(300, 100).replace(",\n ", "\n")
        );
        let whole = read(text.as_bytes()).unwrap();
        assert_eq!((whole.records, whole.bad_records.len()), (400, 1));
        for raw in [gzip(text.as_bytes()), text.as_bytes().to_vec()] {
            let (out, got) = streamed(&raw, 4096);
            let out = out.unwrap();
            assert!(got.len() > 5, "not chunked");
            assert_eq!(out.records, 400);
            assert_eq!(rows(&got), rows(&whole.batches));
            let bad: Vec<&str> = out.bad_records.iter().map(|b| b.raw.as_str()).collect();
            assert_eq!(bad, [r#"{"eventID":"broken", "#]);
        }
    }

    #[test]
    fn bad_records_past_the_share_of_an_object_are_counted_not_kept() {
        let text = format!("{{\"Records\":[{}{}]}}", "7,".repeat(5000), events(0, 1));
        for out in [
            read(text.as_bytes()).unwrap(),
            streamed(text.as_bytes(), 4096).0.unwrap(),
        ] {
            assert_eq!(out.records, 1);
            assert_eq!(out.bad_records.len(), MAX_KEPT_BAD_RECORDS);
            assert_eq!(out.bad_records_beyond, 5000 - MAX_KEPT_BAD_RECORDS);
            assert_eq!(
                out.bad_records.last().unwrap().index,
                MAX_KEPT_BAD_RECORDS - 1
            );
        }
    }

    #[test]
    fn records_that_are_not_events_are_reported_by_index() {
        let out = read(br#"{"Records":[{"eventID":"a"}, 7, {"foo":1}, {"eventID":"b"}]}"#).unwrap();
        assert_eq!(out.records, 2);
        let reasons: Vec<String> = out
            .bad_records
            .iter()
            .map(|b| b.describe("/trail/x.json"))
            .collect();
        assert_eq!(
            reasons,
            [
                "/trail/x.json: record 1: is a number, not an event object",
                "/trail/x.json: record 2: object has none of CloudTrail's event fields"
            ]
        );
        assert_eq!(out.bad_records[1].raw, r#"{"foo":1}"#);
        let none = read(br#"{"name":"my-package","version":"1.0.0"}"#).unwrap_err();
        assert!(
            none.to_string()
                .contains("no CloudTrail event in the object"),
            "{none}"
        );
    }
}
