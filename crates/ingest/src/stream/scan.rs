//! The text of a streamed object: a window inflated as the scan needs it, and the scanner
//! that finds where a JSON value ends without parsing it.

use std::io::Read;

use crate::IngestError;

use super::CHUNK_BYTES;

/// Inflated text read from the object at a time.
const READ_BYTES: usize = 1 << 20;

/// How far into the object the opening `{"Records":[` or `[` may be.
pub(super) const HEAD_BYTES: usize = 4096;

/// Text of the object, inflated as the scan needs it. Positions only grow within a chunk;
/// [`Window::consume`] drops what the parsed chunks used.
pub(crate) struct Window<'a> {
    uri: &'a str,
    src: Box<dyn Read + 'a>,
    gzip: bool,
    pub(super) buf: Vec<u8>,
    eof: bool,
    /// Bytes pulled from the source so far, and the cap on them.
    pub(super) total: u64,
    cap: u64,
    /// A read error met after some text of the same read: reported on the next read, so
    /// the text before it is scanned first.
    fault: Option<IngestError>,
}

impl<'a> Window<'a> {
    /// A window over the text `src` gives (inflated already when `gzip`: only used to name
    /// a fault), after the text `read` already taken from it.
    pub(crate) fn new(
        uri: &'a str,
        src: Box<dyn Read + 'a>,
        gzip: bool,
        cap: u64,
        mut read: Vec<u8>,
    ) -> Self {
        let total = read.len() as u64;
        read.reserve((CHUNK_BYTES + 2 * READ_BYTES).saturating_sub(read.len()));
        Window {
            uri,
            src,
            gzip,
            buf: read,
            eof: false,
            total,
            cap,
            fault: None,
        }
    }

    /// Appends up to [`READ_BYTES`] more text; false at the end of the object.
    pub(super) fn more(&mut self) -> Result<bool, IngestError> {
        if let Some(fault) = self.fault.take() {
            return Err(fault);
        }
        if self.total > self.cap {
            return Err(IngestError::TooLarge {
                uri: self.uri.to_string(),
                limit: self.cap,
            });
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
    pub(super) fn consume(&mut self, upto: usize) {
        self.buf.drain(..upto);
    }

    /// Drops the text from `start` on and reads on, one read at a time, until `find` says
    /// where the skipped text ends in what was read since: that position, or `None` when
    /// the object ends first; with the bytes skipped. Holds at most one read of text.
    pub(super) fn skip_past(
        &mut self,
        start: usize,
        mut find: impl FnMut(&[u8]) -> Option<usize>,
    ) -> Result<Skipped, IngestError> {
        let mut bytes = (self.buf.len() - start) as u64;
        self.consume(self.buf.len());
        loop {
            if !self.more()? {
                return Ok(Skipped { end: None, bytes });
            }
            if let Some(end) = find(&self.buf) {
                return Ok(Skipped {
                    end: Some(end),
                    bytes: bytes + end as u64,
                });
            }
            bytes += self.buf.len() as u64;
            self.consume(self.buf.len());
        }
    }

    /// Reads until the window holds more than `want` bytes after `from`, or the object ends.
    pub(super) fn fill(&mut self, from: usize, want: usize) -> Result<(), IngestError> {
        while self.buf.len() - from <= want && self.more()? {}
        Ok(())
    }
}

/// What [`Window::skip_past`] skipped.
pub(super) struct Skipped {
    /// Where the skipped text ends in the window, or `None` at the end of the object.
    pub(super) end: Option<usize>,
    pub(super) bytes: u64,
}

/// Where one JSON value ends: scanned incrementally, so a value longer than the window
/// is not scanned again from its start.
pub(super) struct ValueScan {
    pub(super) depth: usize,
    pub(super) in_str: bool,
    pub(super) escaped: bool,
    /// A number or literal: ends at the first delimiter.
    pub(super) scalar: bool,
    pub(super) started: bool,
}

impl ValueScan {
    pub(super) fn new() -> Self {
        Self {
            depth: 0,
            in_str: false,
            escaped: false,
            scalar: false,
            started: false,
        }
    }

    /// Scans `buf[from..]`; the end (exclusive) of the value, or `None` if `buf` ends first.
    pub(super) fn advance(&mut self, buf: &[u8], from: usize) -> Option<usize> {
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
pub(super) fn head(buf: &[u8]) -> Option<(usize, usize)> {
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

/// Where a value scanned by [`value_end`] ends.
pub(super) enum Scanned {
    /// At this position, no longer than the limit.
    End(usize),
    /// Longer than the limit: ending at this position (in the window already), or not yet.
    Long(Option<usize>),
}

/// Scans on from `from` with `scan` until the value that starts at `start` closes, reading
/// more text as needed, but no more once it is longer than `limit`.
pub(super) fn value_end(
    uri: &str,
    w: &mut Window<'_>,
    start: usize,
    mut from: usize,
    scan: &mut ValueScan,
    limit: u64,
) -> Result<Scanned, IngestError> {
    loop {
        if from < w.buf.len()
            && let Some(end) = scan.advance(&w.buf, from)
        {
            return Ok(if (end - start) as u64 > limit {
                Scanned::Long(Some(end))
            } else {
                Scanned::End(end)
            });
        }
        from = from.max(w.buf.len());
        if (from - start) as u64 > limit {
            return Ok(Scanned::Long(None));
        }
        if !w.more()? {
            return Err(IngestError::NotJson {
                uri: uri.to_string(),
                detail: "the text ends inside a value (truncated?)".into(),
            });
        }
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
