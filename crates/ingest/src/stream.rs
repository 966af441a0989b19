//! Objects too big to hold whole: inflated a window at a time, the events of their
//! `Records` array (or of a top-level array) parsed a chunk at a time, and each chunk's rows
//! handed on as soon as they are built. Memory per object is a chunk, not the object.
//!
//! Only the array is streamed. An object of another form (JSON Lines, an envelope whose
//! first member is not `Records`, ...) is read whole, as small objects are.

use std::io::Read;
use std::ops::Range;

use crate::{IngestError, Parser, Reader};
use arrow::array::RecordBatch;
use flate2::read::MultiGzDecoder;

/// JSON text parsed at once: a chunk of whole events at least this long (or the last).
/// Two parsers streaming hold about 10x this between them (window, parse buffers, tape,
/// Arrow builders).
pub const CHUNK_BYTES: usize = 2 << 20;

/// Inflated text read from the object at a time.
const READ_BYTES: usize = 1 << 20;

/// How far into the object the opening `{"Records":[` or `[` may be.
const HEAD_BYTES: usize = 4096;

pub(crate) enum Streamed {
    /// Every event went to the sink.
    Done,
    /// Not an array of events at the start: read the object whole. Nothing was emitted.
    NotStreamable,
}

/// Text of the object, inflated as the scan needs it. Positions only grow within a chunk;
/// [`Window::consume`] drops what the parsed chunks used.
struct Window<'a> {
    uri: &'a str,
    src: Box<dyn Read + 'a>,
    gzip: bool,
    buf: Vec<u8>,
    eof: bool,
    /// Bytes pulled from the source so far, and the cap on them.
    total: u64,
    cap: u64,
    /// A read error met after some text of the same read: reported on the next read, so
    /// the text before it is scanned first.
    fault: Option<IngestError>,
}

impl Window<'_> {
    /// Appends up to [`READ_BYTES`] more text; false at the end of the object.
    fn more(&mut self) -> Result<bool, IngestError> {
        if let Some(fault) = self.fault.take() {
            return Err(fault);
        }
        if self.eof {
            return Ok(false);
        }
        let start = self.buf.len();
        self.buf.resize(start + READ_BYTES, 0);
        let mut filled = start;
        while filled < self.buf.len() {
            match self.src.read(&mut self.buf[filled..]) {
                Ok(0) => {
                    self.eof = true;
                    break;
                }
                Ok(n) => filled += n,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(source) => {
                    let fault = if self.gzip {
                        IngestError::Inflate {
                            uri: self.uri.to_string(),
                            inflated: self.total + (filled - start) as u64,
                            source,
                        }
                    } else {
                        IngestError::Io {
                            uri: self.uri.to_string(),
                            source,
                        }
                    };
                    if filled == start {
                        self.buf.truncate(filled);
                        return Err(fault);
                    }
                    self.fault = Some(fault);
                    break;
                }
            }
        }
        self.buf.truncate(filled);
        self.total += (filled - start) as u64;
        if self.total > self.cap {
            return Err(IngestError::TooLarge {
                uri: self.uri.to_string(),
                limit: self.cap,
            });
        }
        Ok(filled > start)
    }

    /// Forgets the text before `upto`.
    fn consume(&mut self, upto: usize) {
        self.buf.drain(..upto);
    }
}

/// Where one JSON value ends: scanned incrementally, so a value longer than the window
/// is not scanned again from its start.
struct ValueScan {
    depth: usize,
    in_str: bool,
    escaped: bool,
    /// A number or literal: ends at the first delimiter.
    scalar: bool,
    started: bool,
}

impl ValueScan {
    fn new() -> Self {
        Self {
            depth: 0,
            in_str: false,
            escaped: false,
            scalar: false,
            started: false,
        }
    }

    /// Scans `buf[from..]`; the end (exclusive) of the value, or `None` if `buf` ends first.
    fn advance(&mut self, buf: &[u8], from: usize) -> Option<usize> {
        let mut i = from;
        if !self.started {
            self.started = true;
            match buf[i] {
                b'{' | b'[' => self.depth = 1,
                b'"' => self.in_str = true,
                _ => self.scalar = true,
            }
            i += 1;
        }
        if self.scalar {
            return buf[i..]
                .iter()
                .position(|c| matches!(c, b',' | b']' | b'}') || c.is_ascii_whitespace())
                .map(|p| i + p);
        }
        while i < buf.len() {
            if self.in_str {
                if self.escaped {
                    // The window ended right after a backslash.
                    self.escaped = false;
                    i += 1;
                    continue;
                }
                // Jump to the next quote or backslash.
                match buf[i..].iter().position(|&c| c == b'"' || c == b'\\') {
                    None => return None,
                    Some(p) => i += p,
                }
                if buf[i] == b'\\' {
                    if i + 1 < buf.len() {
                        i += 2;
                    } else {
                        self.escaped = true;
                        i += 1;
                    }
                    continue;
                }
                self.in_str = false;
                i += 1;
                if self.depth == 0 {
                    return Some(i);
                }
                continue;
            }
            match buf[i] {
                b'"' => self.in_str = true,
                b'{' | b'[' => self.depth += 1,
                b'}' | b']' => {
                    self.depth -= 1;
                    if self.depth == 0 {
                        return Some(i + 1);
                    }
                }
                _ => {}
            }
            i += 1;
        }
        None
    }
}

/// The start of the array of events: `(position after '[', depth of the array)`, or None
/// when the text does not begin with `{"Records":[` or `[`.
fn head(buf: &[u8]) -> Option<(usize, usize)> {
    let ws = |mut i: usize| {
        while i < buf.len() && buf[i].is_ascii_whitespace() {
            i += 1;
        }
        i
    };
    let mut i = ws(0);
    if buf.starts_with(&[0xEF, 0xBB, 0xBF]) {
        i = ws(3);
    }
    match buf.get(i)? {
        b'[' => Some((i + 1, 0)),
        b'{' => {
            i = ws(i + 1);
            if !buf[i..].starts_with(b"\"Records\"") {
                return None;
            }
            i = ws(i + 9);
            (buf.get(i)? == &b':').then_some(())?;
            i = ws(i + 1);
            (buf.get(i)? == &b'[').then_some(())?;
            Some((i + 1, 1))
        }
        _ => None,
    }
}

/// Streams the object `raw` (gzip or plain) through `reader`, handing each chunk's batch to
/// `sink`. On an error, the events of the chunks before it have gone to the sink already.
///
/// The object is a sequence of top-level values (one, usually; more when gzip members or
/// files were concatenated): each array of events is streamed, any other value after the
/// first is read whole, as [`crate::read_bytes`] reads values of concatenated JSON.
pub(crate) fn stream<R: std::io::BufRead>(
    reader: &mut Reader<'_>,
    mut raw: R,
    max_bytes: u64,
    chunk_bytes: usize,
    sink: &mut dyn FnMut(RecordBatch),
) -> Result<Streamed, IngestError> {
    let io = |source| IngestError::Io {
        uri: reader.uri.to_string(),
        source,
    };
    let gzip = raw.fill_buf().map_err(io)?.starts_with(&[0x1f, 0x8b]);
    let src: Box<dyn Read + '_> = if gzip {
        Box::new(MultiGzDecoder::new(raw))
    } else {
        Box::new(raw)
    };
    let mut w = Window {
        uri: reader.uri,
        src,
        gzip,
        buf: Vec::with_capacity(chunk_bytes.min(CHUNK_BYTES) + 2 * READ_BYTES),
        eof: false,
        total: 0,
        cap: max_bytes,
        fault: None,
    };
    while w.buf.len() < HEAD_BYTES && w.more()? {}
    if head(&w.buf).is_none() {
        return Ok(Streamed::NotStreamable);
    }
    let bom = if w.buf.starts_with(&[0xEF, 0xBB, 0xBF]) {
        w.consume(3);
        3
    } else {
        0
    };
    let chunk_bytes = chunk_bytes.max(1);
    let mut i = 0;
    // Top-level values read so far.
    let mut value = 0;
    loop {
        while i < w.buf.len() && w.buf[i].is_ascii_whitespace() {
            i += 1;
        }
        w.consume(i);
        i = 0;
        if w.buf.is_empty() && !w.more()? {
            break;
        }
        if w.buf[0].is_ascii_whitespace() {
            continue;
        }
        value += 1;
        while w.buf.len() < HEAD_BYTES && w.more()? {}
        i = match head(&w.buf) {
            Some((start, depth)) => {
                let end = stream_array(reader, &mut w, start, depth, chunk_bytes, sink)?;
                if depth == 0 {
                    end
                } else {
                    envelope_rest(reader.uri, &mut w, end)?
                }
            }
            None => {
                // Another kind of value after the first: read whole.
                let end = value_end(reader.uri, &mut w, 0, ValueScan::new())?;
                reader.read_value(&w.buf[..end], None, value - 1)?;
                reader.flush();
                for batch in reader.out.batches.drain(..) {
                    sink(batch);
                }
                end
            }
        };
    }
    reader.out.json_bytes = w.total - bom;
    Ok(Streamed::Done)
}

/// Scans on from `from` with `scan` until the value closes, reading more text as needed.
fn value_end(
    uri: &str,
    w: &mut Window<'_>,
    mut from: usize,
    mut scan: ValueScan,
) -> Result<usize, IngestError> {
    loop {
        if from < w.buf.len()
            && let Some(end) = scan.advance(&w.buf, from)
        {
            return Ok(end);
        }
        from = from.max(w.buf.len());
        if !w.more()? {
            return Err(IngestError::NotJson {
                uri: uri.to_string(),
                detail: "the text ends inside a value (truncated?)".into(),
            });
        }
    }
}

/// After an envelope's array of events: the rest of the envelope, up to its closing brace,
/// checked to be JSON and otherwise ignored (as members beside `Records` are in objects
/// read whole). Returns the position after the envelope.
fn envelope_rest(uri: &str, w: &mut Window<'_>, from: usize) -> Result<usize, IngestError> {
    let inside = ValueScan {
        depth: 1,
        started: true,
        ..ValueScan::new()
    };
    let end = value_end(uri, w, from, inside)?;
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
    chunk_bytes: usize,
    sink: &mut dyn FnMut(RecordBatch),
) -> Result<usize, IngestError> {
    let mut i = start;
    let mut elems: Vec<Range<usize>> = Vec::new();
    let mut after_value = false;
    // Values of the array scanned so far (the next one's index).
    let mut seen = 0usize;
    let outcome = 'scan: loop {
        while i < w.buf.len() && w.buf[i].is_ascii_whitespace() {
            i += 1;
        }
        if i == w.buf.len() {
            if elems.is_empty() {
                // Only blanks since the last chunk: nothing to keep.
                w.consume(i);
                i = 0;
            }
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
        let end = match value_end(reader.uri, w, i, ValueScan::new()) {
            Ok(end) => end,
            Err(IngestError::NotJson { uri, .. }) => {
                break 'scan Err(IngestError::NotJson {
                    uri,
                    detail: format!("the text ends inside record {seen} (truncated?)"),
                });
            }
            Err(e) => break 'scan Err(e),
        };
        elems.push(i..end);
        seen += 1;
        i = end;
        after_value = true;
        if end - elems[0].start >= chunk_bytes {
            parse_chunk(reader, &w.buf, &elems, depth, sink);
            elems.clear();
            w.consume(i);
            i = 0;
        }
    };
    parse_chunk(reader, &w.buf, &elems, depth, sink);
    outcome
}

/// Parses the events `elems` of `buf` as one array visited at `depth`, with this thread's
/// parser (falling back to one event at a time when the array does not parse), and hands
/// the rows to `sink`.
fn parse_chunk(
    reader: &mut Reader<'_>,
    buf: &[u8],
    elems: &[Range<usize>],
    depth: usize,
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
    let parsed = Parser::with(|p| p.parse_written(write, |tape| reader.visit(tape, 0, depth)));
    if parsed.is_err() {
        // One event is at fault: the others are kept, it is reported by its index.
        for r in elems {
            // An event never fails the object: at worst it is a bad record.
            let _ = reader.read_value(&buf[r.clone()], Some(depth + 1), reader.index);
        }
    }
    reader.flush();
    for batch in reader.out.batches.drain(..) {
        sink(batch);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ends(text: &[u8]) -> Option<usize> {
        ValueScan::new().advance(text, 0)
    }

    #[test]
    fn values_end_where_json_says() {
        assert_eq!(ends(br#"{"a":"}"},"#), Some(9));
        assert_eq!(ends(br#"{"a":"\"}"}]"#), Some(11));
        assert_eq!(ends(br#"[1,[2],{"x":"]"}] "#), Some(17));
        assert_eq!(ends(br#""s\\"x"#), Some(5));
        assert_eq!(ends(b"123,"), Some(3));
        assert_eq!(ends(b"null]"), Some(4));
        assert_eq!(ends(br#"{"a":1"#), None);
        // Scanned in pieces, split inside a string and right after a backslash.
        let text = br#"{"k":"a\"b}","n":[1]}"#;
        for cut in 1..text.len() {
            let mut scan = ValueScan::new();
            let first = scan.advance(&text[..cut], 0);
            let end = first.or_else(|| scan.advance(text, cut));
            assert_eq!(end, Some(text.len()), "cut at {cut}");
        }
    }

    #[test]
    fn the_array_of_events_is_found_at_the_start() {
        assert_eq!(head(b"  {\n \"Records\" : [ {}"), Some((18, 1)));
        assert_eq!(head(b"\xEF\xBB\xBF[{}]"), Some((4, 0)));
        assert_eq!(head(br#"{"digestStartTime":"x"}"#), None);
        assert_eq!(head(br#"{"eventID":"a"}"#), None);
        assert_eq!(head(b"{\"Records\":{}}"), None);
    }
}
