//! Objects too big to hold whole: inflated a window at a time, their events parsed a chunk
//! at a time, and each chunk's rows handed on as soon as they are built. Memory per object is
//! a chunk (and at most one record of `--max-record-bytes`), not the object.
//!
//! Every form is streamed: the events of a `{"Records":[...]}` envelope or of a top-level
//! array one by one, JSON Lines line by line, other concatenated values value by value. A
//! record (or line, or top-level value) longer than `--max-record-bytes` is not held: it is
//! scanned past, reported as a bad record with its first bytes, and the rest goes on.

mod scan;

use std::ops::Range;

use crate::{IngestError, Parser, Reader};
use arrow::array::RecordBatch;
pub(crate) use scan::Window;
use scan::{HEAD_BYTES, Scanned, ValueScan, head, value_end};

/// JSON text parsed at once: a chunk of whole events at least this long (or the last).
/// Two parsers streaming hold about 10x this between them (window, parse buffers, tape,
/// Arrow builders).
pub const CHUNK_BYTES: usize = 2 << 20;

/// The first bytes of a record over `--max-record-bytes` kept in the quarantine.
pub const OVERSIZE_KEPT_BYTES: usize = 4096;

/// How a streamed object is cut up.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Limits {
    /// Text of whole records parsed at once.
    pub(crate) chunk_bytes: usize,
    /// A record longer than this is reported, not held.
    pub(crate) max_record: u64,
}

/// Streams the object's text in `w` through `reader`, handing each chunk's batch to `sink`.
/// On an error, the events of the chunks before it have gone to the sink already.
///
/// The object is a sequence of top-level values (one, usually; more when gzip members or
/// files were concatenated): each array of events is streamed event by event, any other
/// value is read as a record of its own; JSON Lines are read line by line.
pub(crate) fn stream(
    reader: &mut Reader<'_>,
    mut w: Window<'_>,
    lim: Limits,
    sink: &mut dyn FnMut(RecordBatch),
) -> Result<(), IngestError> {
    w.fill(0, HEAD_BYTES)?;
    let bom = if w.buf.starts_with(&[0xEF, 0xBB, 0xBF]) {
        w.consume(3);
        3
    } else {
        0
    };
    let lines = is_lines(&mut w, lim)?;
    let any = if lines {
        stream_lines(reader, &mut w, lim, sink)?;
        true
    } else {
        stream_values(reader, &mut w, lim, sink)?
    };
    if !any {
        return Err(IngestError::Empty {
            uri: reader.uri.to_string(),
        });
    }
    reader.out.json_bytes = w.total - bom;
    Ok(())
}

fn is_blank(text: &[u8]) -> bool {
    text.iter().all(u8::is_ascii_whitespace)
}

/// Whether `text` is JSON Lines: its first value (not an array of events) ends on its first
/// line, and a newline ends that line. JSON Lines are read line by line, streamed or whole.
pub(crate) fn text_is_lines(text: &[u8]) -> bool {
    let Some(first) = text.iter().position(|c| !c.is_ascii_whitespace()) else {
        return false;
    };
    let Some(newline) = memchr::memchr(b'\n', &text[first..]).map(|p| first + p) else {
        return false;
    };
    head(&text[first..]).is_none()
        && ValueScan::new()
            .advance(&text[..newline], first)
            .is_some_and(|end| is_blank(&text[end..newline]))
}

/// Whether the object is JSON Lines ([`text_is_lines`]), reading on until its first line
/// ends (or passes a record's length).
fn is_lines(w: &mut Window<'_>, lim: Limits) -> Result<bool, IngestError> {
    // An array of events is streamed as one: no need to look for its first line.
    if head(&w.buf).is_some() {
        return Ok(false);
    }
    let first = w
        .buf
        .iter()
        .position(|c| !c.is_ascii_whitespace())
        .unwrap_or(0);
    while memchr::memchr(b'\n', &w.buf[first..]).is_none() {
        if (w.buf.len() - first) as u64 > lim.max_record || !w.more()? {
            return Ok(false);
        }
    }
    Ok(text_is_lines(&w.buf))
}

/// Text that goes to the parser together: ranges of the window, parsed as one array visited
/// at `depth`.
struct Pending {
    elems: Vec<Range<usize>>,
    /// The array's depth, or `None` for top-level values.
    depth: Option<usize>,
    /// Values parsed so far (top-level values are numbered in messages).
    parsed: usize,
}

impl Pending {
    fn new(depth: Option<usize>) -> Self {
        Pending {
            elems: Vec::new(),
            depth,
            parsed: 0,
        }
    }

    /// Counts a value scanned past (too long to hold), for the numbering.
    fn skipped(&mut self) {
        self.parsed += 1;
    }

    /// Bytes of the window the pending values span.
    fn span(&self, upto: usize) -> usize {
        self.elems.first().map_or(0, |r| upto - r.start)
    }

    /// Parses what is pending, and drops the window's text before `upto` (which must not
    /// be before the last pending value's end); returns the position `upto` moved to.
    fn flush(
        &mut self,
        reader: &mut Reader<'_>,
        w: &mut Window<'_>,
        upto: usize,
        sink: &mut dyn FnMut(RecordBatch),
    ) -> usize {
        self.parse(reader, &w.buf, sink);
        w.consume(upto);
        0
    }

    /// Parses what is pending (the window is left as it is).
    fn parse(&mut self, reader: &mut Reader<'_>, buf: &[u8], sink: &mut dyn FnMut(RecordBatch)) {
        let level = match self.depth {
            Some(depth) => Level::Array(depth),
            None => Level::Top { n: self.parsed },
        };
        parse_chunk(reader, buf, &self.elems, level, sink);
        self.parsed += self.elems.len();
        self.elems.clear();
    }

    /// Parses what is pending once it spans a chunk; the position `upto` moved to.
    fn flush_full(
        &mut self,
        reader: &mut Reader<'_>,
        w: &mut Window<'_>,
        upto: usize,
        lim: Limits,
        sink: &mut dyn FnMut(RecordBatch),
    ) -> usize {
        if self.elems.is_empty() {
            w.consume(upto);
            0
        } else if self.span(upto) >= lim.chunk_bytes {
            self.flush(reader, w, upto, sink)
        } else {
            upto
        }
    }
}

/// Top-level values one after another: arrays of events streamed, other values parsed a
/// chunk of them at a time. False when the text is blank.
fn stream_values(
    reader: &mut Reader<'_>,
    w: &mut Window<'_>,
    lim: Limits,
    sink: &mut dyn FnMut(RecordBatch),
) -> Result<bool, IngestError> {
    let mut values = Pending::new(None);
    let mut i = 0;
    let mut any = false;
    loop {
        while i < w.buf.len() && w.buf[i].is_ascii_whitespace() {
            i += 1;
        }
        if i == w.buf.len() {
            i = values.flush_full(reader, w, i, lim, sink);
            if !w.more()? {
                break;
            }
            continue;
        }
        any = true;
        w.fill(i, HEAD_BYTES)?;
        if let Some((start, depth)) = head(&w.buf[i..]) {
            // The window now starts at the array's value.
            values.flush(reader, w, i, sink);
            values.skipped();
            let end = stream_array(reader, w, start, depth, lim, sink)?;
            i = if depth == 0 {
                end
            } else {
                envelope_rest(reader, w, end, lim)?
            };
            continue;
        }
        let mut scan = ValueScan::new();
        match value_end(reader.uri, w, i, i, &mut scan, lim.max_record)? {
            Scanned::End(end) => {
                values.elems.push(i..end);
                i = values.flush_full(reader, w, end, lim, sink);
            }
            Scanned::Long(end) => {
                let shift = i;
                i = values.flush(reader, w, i, sink);
                let end = end.map(|e| e - shift);
                i = skip_oversize(reader, w, i, &mut scan, lim.max_record, end)?;
                values.skipped();
            }
        }
    }
    values.flush(reader, w, i, sink);
    Ok(any)
}

/// JSON Lines: each non-blank line a record, parsed a chunk of lines at a time.
fn stream_lines(
    reader: &mut Reader<'_>,
    w: &mut Window<'_>,
    lim: Limits,
    sink: &mut dyn FnMut(RecordBatch),
) -> Result<(), IngestError> {
    let mut lines = Pending::new(None);
    let mut i = 0;
    // Where the search for the end of the line at `i` goes on.
    let mut from = 0;
    loop {
        let found = memchr::memchr(b'\n', &w.buf[from..]).map(|p| from + p);
        let len = found.unwrap_or(w.buf.len()) - i;
        if len as u64 > lim.max_record {
            // What is pending goes first; then the window starts at the long line.
            lines.flush(reader, w, i, sink);
            let prefix = kept_prefix(w, 0);
            let (end, size) = match found {
                Some(_) => (len, len as u64),
                None => {
                    let skipped = w.skip_past(0, |buf| memchr::memchr(b'\n', buf))?;
                    (skipped.end.unwrap_or(0), skipped.bytes)
                }
            };
            reader.oversize(&prefix, size, lim.max_record);
            lines.skipped();
            // At the line's newline (or the end): the next turn steps past it.
            (i, from) = (end, end);
            continue;
        }
        if let Some(end) = found {
            if !is_blank(&w.buf[i..end]) {
                lines.elems.push(i..end);
            }
            i = lines.flush_full(reader, w, end + 1, lim, sink);
            from = i;
            continue;
        }
        from = w.buf.len();
        if !w.more()? {
            if !is_blank(&w.buf[i..]) {
                lines.elems.push(i..w.buf.len());
            }
            break;
        }
    }
    let end = w.buf.len();
    lines.flush(reader, w, end, sink);
    Ok(())
}

/// Scans past the value at `w.buf[start..]`, longer than `limit` (and ending at `end` when
/// that is known), without holding it, and reports it as a bad record with its first bytes;
/// returns the position after it.
fn skip_oversize(
    reader: &mut Reader<'_>,
    w: &mut Window<'_>,
    start: usize,
    scan: &mut ValueScan,
    limit: u64,
    end: Option<usize>,
) -> Result<usize, IngestError> {
    let prefix = kept_prefix(w, start);
    let (end, size) = match end {
        Some(end) => (end, (end - start) as u64),
        None => {
            let skipped = w.skip_past(start, |buf| scan.advance(buf, 0))?;
            let Some(end) = skipped.end else {
                return Err(IngestError::NotJson {
                    uri: reader.uri.to_string(),
                    detail: format!(
                        "the text ends inside record {} after {} bytes (truncated?)",
                        reader.index, skipped.bytes
                    ),
                });
            };
            (end, skipped.bytes)
        }
    };
    reader.oversize(&prefix, size, limit);
    Ok(end)
}

/// The first bytes of the long record at `w.buf[start..]`, kept for the quarantine.
fn kept_prefix(w: &Window<'_>, start: usize) -> Vec<u8> {
    w.buf[start..(start + OVERSIZE_KEPT_BYTES).min(w.buf.len())].to_vec()
}

/// After an envelope's array of events: the rest of the envelope, up to its closing brace,
/// checked to be JSON and otherwise ignored (as members beside `Records` are in objects
/// read whole). Returns the position after the envelope.
fn envelope_rest(
    reader: &mut Reader<'_>,
    w: &mut Window<'_>,
    from: usize,
    lim: Limits,
) -> Result<usize, IngestError> {
    let uri = reader.uri;
    let mut inside = ValueScan {
        depth: 1,
        started: true,
        ..ValueScan::new()
    };
    let end = match value_end(uri, w, from, from, &mut inside, lim.max_record)? {
        Scanned::End(end) | Scanned::Long(Some(end)) => end,
        Scanned::Long(None) => {
            // Members beside `Records` longer than a record: skipped unchecked, as they would
            // be ignored anyway.
            return w
                .skip_past(from, |buf| inside.advance(buf, 0))?
                .end
                .ok_or_else(|| IngestError::NotJson {
                    uri: uri.to_string(),
                    detail: "the text ends inside the envelope (truncated?)".into(),
                });
        }
    };
    let mut text = b"{\"Records\":[]".to_vec();
    text.extend_from_slice(&w.buf[from..end]);
    let ok = simd_json::to_tape(&mut text.clone()).is_ok()
        || crate::quote_big_numbers(&text).is_some_and(|mut t| simd_json::to_tape(&mut t).is_ok())
        || simd_json::to_tape(&mut String::from_utf8_lossy(&text).into_owned().into_bytes())
            .is_ok();
    if !ok {
        return Err(IngestError::NotJson {
            uri: uri.to_string(),
            detail: format!(
                "the text after the array of events is not valid JSON: {:?}",
                String::from_utf8_lossy(&w.buf[from..end.min(from + 60)])
            ),
        });
    }
    Ok(end)
}

/// Streams the array of events that starts at `w.buf[start]` (just after its `[`), visited
/// at `depth`; returns the position after its `]`. On an error, the whole events before it
/// are parsed and handed on first.
fn stream_array(
    reader: &mut Reader<'_>,
    w: &mut Window<'_>,
    start: usize,
    depth: usize,
    lim: Limits,
    sink: &mut dyn FnMut(RecordBatch),
) -> Result<usize, IngestError> {
    let mut i = start;
    let mut events = Pending::new(Some(depth));
    let mut after_value = false;
    // Values of the array scanned so far (the next one's index).
    let mut seen = 0usize;
    let outcome = 'scan: loop {
        while i < w.buf.len() && w.buf[i].is_ascii_whitespace() {
            i += 1;
        }
        if i == w.buf.len() {
            // Blanks do not stay in the window: what is pending is parsed once it spans a
            // chunk, however much of it is blank.
            i = events.flush_full(reader, w, i, lim, sink);
            match w.more() {
                Ok(true) => continue,
                Ok(false) => {
                    break 'scan Err(IngestError::NotJson {
                        uri: reader.uri.to_string(),
                        detail: format!(
                            "the text ends inside the array of events, after {seen} records (truncated?)"
                        ),
                    });
                }
                Err(e) => break 'scan Err(e),
            }
        }
        match w.buf[i] {
            b']' => break 'scan Ok(i + 1),
            b',' if after_value => {
                after_value = false;
                i += 1;
                continue;
            }
            c if after_value => {
                break 'scan Err(IngestError::NotJson {
                    uri: reader.uri.to_string(),
                    detail: format!(
                        "expected `,` or `]` after record {}, found {:?}",
                        seen.saturating_sub(1),
                        char::from(c)
                    ),
                });
            }
            _ => {}
        }
        let mut scan = ValueScan::new();
        let end = match value_end(reader.uri, w, i, i, &mut scan, lim.max_record) {
            Ok(Scanned::End(end)) => end,
            Ok(Scanned::Long(end)) => {
                let shift = i;
                i = events.flush(reader, w, i, sink);
                let end = end.map(|e| e - shift);
                match skip_oversize(reader, w, i, &mut scan, lim.max_record, end) {
                    Ok(end) => {
                        seen += 1;
                        i = end;
                        after_value = true;
                        continue;
                    }
                    Err(e) => break 'scan Err(e),
                }
            }
            Err(IngestError::NotJson { uri, .. }) => {
                break 'scan Err(IngestError::NotJson {
                    uri,
                    detail: format!("the text ends inside record {seen} (truncated?)"),
                });
            }
            Err(e) => break 'scan Err(e),
        };
        events.elems.push(i..end);
        seen += 1;
        after_value = true;
        i = events.flush_full(reader, w, end, lim, sink);
    };
    match outcome {
        Ok(end) => {
            // The array's end stays in the window, so the caller can go on from it.
            events.parse(reader, &w.buf, sink);
            Ok(end)
        }
        Err(e) => {
            let upto = w.buf.len();
            events.flush(reader, w, upto, sink);
            Err(e)
        }
    }
}

/// Where the values of a chunk sit: events of an array visited at a depth, or top-level
/// values (each visited as an object read whole visits its one value).
#[derive(Debug, Clone, Copy)]
enum Level {
    /// Members of an array of events visited at this depth.
    Array(usize),
    /// Top-level values, the first of them the object's value number `n`.
    Top { n: usize },
}

/// Parses the values `elems` of `buf` in one go with this thread's parser (falling back to
/// one value at a time when they do not parse together), and hands the rows to `sink`.
fn parse_chunk(
    reader: &mut Reader<'_>,
    buf: &[u8],
    elems: &[Range<usize>],
    level: Level,
    sink: &mut dyn FnMut(RecordBatch),
) {
    if elems.is_empty() {
        return;
    }
    let write = |text: &mut Vec<u8>| {
        text.push(b'[');
        for (n, r) in elems.iter().enumerate() {
            if n > 0 {
                text.push(b',');
            }
            text.extend_from_slice(&buf[r.clone()]);
        }
        text.push(b']');
    };
    let parsed = Parser::with(|p| {
        p.parse_written(write, |tape| {
            // Lines are not scanned as values: broken ones can join into other values.
            if !matches!(tape[0], simd_json::value::tape::Node::Array { len, .. } if len == elems.len())
            {
                return false;
            }
            match level {
                Level::Array(depth) => reader.visit(tape, 0, depth),
                Level::Top { .. } => {
                    let mut i = 1;
                    for _ in 0..elems.len() {
                        reader.visit(tape, i, 0);
                        i += crate::encode::node_len(&tape[i]);
                    }
                }
            }
            true
        })
    });
    if !matches!(parsed, Ok(true)) {
        // One value is at fault: the others are kept, it is reported by its index.
        for (k, r) in elems.iter().enumerate() {
            let (depth, n) = match level {
                Level::Array(depth) => (Some(depth + 1), reader.index),
                Level::Top { n } => (None, n + k),
            };
            reader.read_value(&buf[r.clone()], depth, n);
        }
    }
    reader.flush();
    for batch in reader.out.batches.drain(..) {
        sink(batch);
    }
}
