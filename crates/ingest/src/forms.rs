//! Form detection: `{"Records":[...]}`, arrays, JSON Lines, concatenated values, CloudWatch
//! Logs and EventBridge envelopes, digest files, single events; each event found is encoded.

use crate::*;

/// Reads an object's text in whatever form it comes (see the crate's documentation), and
/// encodes its events.
pub(crate) struct Reader<'u> {
    pub(crate) uri: &'u str,
    pub(crate) enc: RecordEncoder,
    pub(crate) out: ObjectOutput,
    pub(crate) index: usize,
    /// Bytes of raw text of the bad records kept.
    kept_bad_bytes: usize,
    warnings_beyond: usize,
}

/// Bad records of one object kept whole for the quarantine; the rest are counted
/// ([`ObjectOutput::bad_records_beyond`]), so a million broken records cost no memory.
pub const MAX_KEPT_BAD_RECORDS: usize = 1000;
/// Raw text of the bad records of one object kept for the quarantine, at most.
pub const MAX_KEPT_BAD_BYTES: usize = 32 << 20;
/// Warnings kept per object; the rest are counted in one last warning.
const MAX_KEPT_WARNINGS: usize = 100;

impl<'u> Reader<'u> {
    pub(crate) fn new(uri: &'u str, opts: &ReadOptions) -> Self {
        Reader {
            uri,
            enc: RecordEncoder::new(opts.window),
            out: ObjectOutput::default(),
            index: 0,
            kept_bad_bytes: 0,
            warnings_beyond: 0,
        }
    }

    /// The outcome of streaming the object through this reader: an error after some
    /// events is [`IngestError::Partial`].
    pub(crate) fn streamed(
        self,
        streamed: Result<(), IngestError>,
    ) -> Result<ObjectOutput, IngestError> {
        match streamed {
            Ok(()) => self.finish(),
            Err(e) if self.out.records == 0 => Err(e),
            Err(e) => Err(IngestError::Partial {
                stored: self.out.records,
                source: Box::new(e),
            }),
        }
    }

    /// The object's output once every value is read; an object with nothing but bad
    /// records is an error.
    pub(crate) fn finish(mut self) -> Result<ObjectOutput, IngestError> {
        let uri = self.uri;
        self.flush();
        if self.warnings_beyond > 0 {
            self.out.warnings.push(format!(
                "{uri}: {} more warnings like the ones above",
                self.warnings_beyond
            ));
        }
        let out = self.out;
        if out.records == 0
            && out.outside_window == 0
            && out.digests.is_empty()
            && let Some(first) = out.bad_records.first()
        {
            return Err(IngestError::NoEvents {
                uri: uri.to_string(),
                count: out.bad_records.len() + out.bad_records_beyond,
                first: first.reason.clone(),
            });
        }
        Ok(out)
    }
}

pub(crate) fn type_name(node: &Node<'_>) -> &'static str {
    match node {
        Node::String(_) => "a string",
        Node::Object { .. } => "an object",
        Node::Array { .. } => "an array",
        Node::Static(StaticNode::Null) => "null",
        Node::Static(StaticNode::Bool(_)) => "a boolean",
        Node::Static(_) => "a number",
    }
}

/// Looks up `key` (exact) in the object at `idx`; returns the value's index.
pub(crate) fn get(tape: &[Node<'_>], idx: usize, key: &str) -> Option<usize> {
    let Node::Object { len, .. } = tape[idx] else {
        return None;
    };
    let mut i = idx + 1;
    for _ in 0..len {
        if matches!(tape[i], Node::String(k) if k == key) {
            return Some(i + 1);
        }
        i += 1 + node_len(&tape[i + 1]);
    }
    None
}

/// What one pass over an object's keys tells about it: envelope members, digest markers,
/// and whether it has any CloudTrail event member.
#[derive(Default)]
struct Envelope {
    records: Option<usize>,
    digest_start: bool,
    digest_end: bool,
    log_events: Option<usize>,
    message_type: Option<usize>,
    detail: Option<usize>,
    detail_type: bool,
    source: bool,
    event_key: bool,
}

impl Envelope {
    pub(crate) fn scan(tape: &[Node<'_>], idx: usize) -> Envelope {
        let mut e = Envelope::default();
        let Node::Object { len, .. } = tape[idx] else {
            return e;
        };
        let mut i = idx + 1;
        for _ in 0..len {
            if let Node::String(k) = tape[i] {
                match k {
                    "Records" => e.records = Some(i + 1),
                    "digestStartTime" => e.digest_start = true,
                    "digestEndTime" => e.digest_end = true,
                    "logEvents" => e.log_events = Some(i + 1),
                    "messageType" => e.message_type = Some(i + 1),
                    "detail" => e.detail = Some(i + 1),
                    "detail-type" => e.detail_type = true,
                    "source" => e.source = true,
                    _ => {}
                }
                if !e.event_key {
                    e.event_key = trawl_schema::FIELDS
                        .iter()
                        .any(|f| f.key.eq_ignore_ascii_case(k));
                }
            }
            i += 1 + node_len(&tape[i + 1]);
        }
        e
    }
}

/// Non-blank lines, when the text looks like JSON Lines: several lines, the first of which
/// is a complete JSON object or array.
pub(crate) fn split_lines(text: &[u8]) -> Option<Vec<std::ops::Range<usize>>> {
    let out = non_blank_lines(text);
    let first = out.first()?.clone();
    let mut probe = text[first].to_vec();
    let parses = simd_json::to_tape(&mut probe)
        .is_ok_and(|t| matches!(t.0[0], Node::Object { .. } | Node::Array { .. }));
    (out.len() > 1 && parses).then_some(out)
}

/// The ranges of the lines of `text` that are not blank.
fn non_blank_lines(text: &[u8]) -> Vec<std::ops::Range<usize>> {
    let mut out = Vec::new();
    let mut start = 0;
    for (i, &b) in text
        .iter()
        .enumerate()
        .chain(std::iter::once((text.len(), &b'\n')))
    {
        if b == b'\n' {
            if text[start..i].iter().any(|c| !c.is_ascii_whitespace()) {
                out.push(start..i);
            }
            start = i + 1;
        }
    }
    out
}

pub(crate) fn json_of(tape: &[Node<'_>], idx: usize) -> String {
    let mut s = String::new();
    write_json(tape, idx, &mut s);
    s
}

impl Reader<'_> {
    /// Reads text that holds one JSON value or several (JSON Lines / concatenated).
    pub(crate) fn read_text(&mut self, text: &[u8]) -> Result<(), IngestError> {
        let whole_err = match Parser::with(|p| p.parse(text, |tape| self.visit_top(tape, 0, 0))) {
            Ok(visited) => return visited,
            Err(e) if matches!(e.error(), simd_json::ErrorType::DepthLimitExceeded) => {
                return Err(IngestError::TooDeep {
                    uri: self.uri.to_string(),
                    limit: simd_json::DEFAULT_MAX_DEPTH,
                });
            }
            Err(e) => e,
        };
        // Several values: JSON Lines, read line by line (a broken line costs that line),
        // or concatenated values. When a broken value defeats the bracket-matching split,
        // lines can still be split.
        let lines = stream::text_is_lines(text).then(|| non_blank_lines(text));
        let ranges = match lines.map(Ok).unwrap_or_else(|| split_values(text)) {
            Ok(ranges) if ranges.len() > 1 => ranges,
            Ok(_) => {
                return Err(IngestError::NotJson {
                    uri: self.uri.to_string(),
                    detail: whole_err.to_string(),
                });
            }
            Err((_, detail)) => match split_lines(text) {
                Some(lines) => lines,
                None => {
                    return Err(IngestError::NotJson {
                        uri: self.uri.to_string(),
                        detail: format!("{whole_err}; {detail}"),
                    });
                }
            },
        };
        for (n, range) in ranges.into_iter().enumerate() {
            self.read_value(&text[range], None, n);
        }
        Ok(())
    }

    /// Parses one value and visits it: a value of a multi-value object (`depth` None: as a
    /// top-level value), or an event of a streamed chunk at `depth`. A value that is not
    /// JSON even with numbers beyond 64 bits quoted and invalid UTF-8 replaced is a bad
    /// record.
    pub(crate) fn read_value(&mut self, text: &[u8], depth: Option<usize>, n: usize) {
        let what = match depth {
            None => format!("value {n}"),
            Some(_) => format!("record {n}"),
        };
        let mut part = text.to_vec();
        let err = match simd_json::to_tape(&mut part) {
            Ok(tape) => {
                self.visit_value(&tape.0, depth);
                return;
            }
            Err(e) => e,
        };
        // A value whose only fault is a number beyond 64 bits is still a good record.
        if let Some(mut fixed) = quote_big_numbers(text)
            && let Ok(tape) = simd_json::to_tape(&mut fixed)
        {
            self.visit_value(&tape.0, depth);
            return;
        }
        // So is one with invalid UTF-8 in a string: kept with U+FFFD, as whole objects are.
        if std::str::from_utf8(text).is_err() {
            let mut fixed = String::from_utf8_lossy(text).into_owned().into_bytes();
            if let Ok(tape) = simd_json::to_tape(&mut fixed) {
                self.warn(format!(
                    "{}: {what}: invalid UTF-8 replaced with U+FFFD so the record could be kept",
                    self.uri
                ));
                self.visit_value(&tape.0, depth);
                return;
            }
        }
        let index = self.index;
        self.index += 1;
        let reason = match depth {
            None => format!("record {index} (value {n}) is not valid JSON: {err}"),
            Some(_) => format!("record {index} is not valid JSON: {err}"),
        };
        self.keep_bad(|| BadRecord {
            index,
            reason,
            raw: String::from_utf8_lossy(text).into_owned(),
        });
    }

    /// Visits one value of several: it never fails the object, at worst it is a bad record.
    fn visit_value(&mut self, tape: &[Node<'_>], depth: Option<usize>) {
        self.visit(tape, 0, depth.unwrap_or(0));
    }

    pub(crate) fn visit_top(
        &mut self,
        tape: &[Node<'_>],
        idx: usize,
        value_index: usize,
    ) -> Result<(), IngestError> {
        match tape[idx] {
            Node::Object { .. } => {
                if let Some(records) = get(tape, idx, "Records")
                    && !matches!(tape[records], Node::Array { .. })
                {
                    return Err(IngestError::BadShape {
                        uri: self.uri.to_string(),
                        value_index,
                        detail: format!(
                            "`Records` is {}, not an array of events",
                            type_name(&tape[records])
                        ),
                    });
                }
                self.visit(tape, idx, 0);
                Ok(())
            }
            Node::Array { .. } => {
                self.visit(tape, idx, 0);
                Ok(())
            }
            other => Err(IngestError::BadShape {
                uri: self.uri.to_string(),
                value_index,
                detail: format!(
                    "the top-level value is {}, not an object or array of events",
                    type_name(&other)
                ),
            }),
        }
    }

    pub(crate) fn bad(&mut self, tape: &[Node<'_>], idx: usize, why: String) {
        let index = self.index;
        self.index += 1;
        self.keep_bad(|| BadRecord {
            index,
            reason: format!("record {index}: {why}"),
            raw: json_of(tape, idx),
        });
    }

    /// Keeps the bad record `make` builds for the quarantine, or, past the object's share
    /// ([`MAX_KEPT_BAD_RECORDS`], [`MAX_KEPT_BAD_BYTES`]), only counts it without building it.
    fn keep_bad(&mut self, make: impl FnOnce() -> BadRecord) {
        if self.out.bad_records.len() < MAX_KEPT_BAD_RECORDS
            && self.kept_bad_bytes < MAX_KEPT_BAD_BYTES
        {
            let bad = make();
            self.kept_bad_bytes += bad.raw.len();
            self.out.bad_records.push(bad);
        } else {
            self.out.bad_records_beyond += 1;
        }
    }

    /// A record longer than `--max-record-bytes` (`size` bytes, starting with `prefix`),
    /// scanned past without being held.
    pub(crate) fn oversize(&mut self, prefix: &[u8], size: u64, limit: u64) {
        let index = self.index;
        self.index += 1;
        self.keep_bad(|| BadRecord {
            index,
            reason: format!(
                "record {index} is {size} bytes of JSON, more than --max-record-bytes ({limit}): not stored; \
                 the quarantine keeps its first {} bytes and the source object the whole record; \
                 re-ingest the object with a larger --max-record-bytes to store it",
                prefix.len()
            ),
            raw: String::from_utf8_lossy(prefix).into_owned(),
        });
    }

    /// A warning, kept up to [`MAX_KEPT_WARNINGS`] per object, then counted.
    pub(crate) fn warn(&mut self, warning: String) {
        if self.out.warnings.len() < MAX_KEPT_WARNINGS {
            self.out.warnings.push(warning);
        } else {
            self.warnings_beyond += 1;
        }
    }

    /// Visits a value that holds events: an envelope, an array of events, or an event.
    pub(crate) fn visit(&mut self, tape: &[Node<'_>], idx: usize, depth: usize) {
        if depth > 4 {
            self.bad(tape, idx, "envelopes nested more than 4 deep".into());
            return;
        }
        match tape[idx] {
            Node::Array { len, .. } => {
                let mut i = idx + 1;
                for _ in 0..len {
                    match tape[i] {
                        Node::Object { .. } => self.visit(tape, i, depth + 1),
                        other => self.bad(
                            tape,
                            i,
                            format!("is {}, not an event object", type_name(&other)),
                        ),
                    }
                    i += node_len(&tape[i]);
                }
            }
            Node::Object { .. } => {
                let e = Envelope::scan(tape, idx);
                if let Some(records) = e.records {
                    match tape[records] {
                        Node::Array { .. } => self.visit(tape, records, depth + 1),
                        other => self.bad(
                            tape,
                            idx,
                            format!("`Records` is {}, not an array", type_name(&other)),
                        ),
                    }
                } else if e.digest_start && e.digest_end {
                    self.out.digests.push(json_of(tape, idx));
                } else if let Some(events) = e.log_events {
                    if !matches!(
                        e.message_type.map(|m| tape[m]),
                        Some(Node::String("CONTROL_MESSAGE"))
                    ) {
                        self.visit_log_events(tape, idx, events, depth);
                    }
                } else if let (Some(detail), true) = (e.detail, e.detail_type || e.source) {
                    match tape[detail] {
                        Node::Object { .. } => self.visit(tape, detail, depth + 1),
                        other => self.bad(
                            tape,
                            idx,
                            format!(
                                "EventBridge `detail` is {}, not an event",
                                type_name(&other)
                            ),
                        ),
                    }
                } else if e.event_key {
                    self.index += 1;
                    match self.enc.append(tape, idx, self.uri) {
                        Appended::Stored => self.out.records += 1,
                        Appended::OutsideWindow => self.out.outside_window += 1,
                    }
                    if self.enc.rows() >= BATCH_ROWS {
                        self.flush();
                    }
                } else {
                    self.bad(
                        tape,
                        idx,
                        "object has none of CloudTrail's event fields".into(),
                    );
                }
            }
            other => self.bad(
                tape,
                idx,
                format!("is {}, not an event object", type_name(&other)),
            ),
        }
    }

    /// CloudWatch Logs subscription data: `logEvents[].message` holds an event as JSON text.
    pub(crate) fn visit_log_events(
        &mut self,
        tape: &[Node<'_>],
        idx: usize,
        events: usize,
        depth: usize,
    ) {
        let Node::Array { len, .. } = tape[events] else {
            self.bad(tape, idx, "`logEvents` is not an array".into());
            return;
        };
        let mut i = events + 1;
        for _ in 0..len {
            match get(tape, i, "message").map(|m| tape[m]) {
                Some(Node::String(msg)) => {
                    let mut buf = msg.as_bytes().to_vec();
                    match simd_json::to_tape(&mut buf) {
                        Ok(inner)
                            if matches!(inner.0[0], Node::Object { .. } | Node::Array { .. }) =>
                        {
                            self.visit(&inner.0, 0, depth + 1)
                        }
                        Ok(_) => self.bad(tape, i, "logEvents message is not a JSON event".into()),
                        Err(e) => {
                            self.bad(tape, i, format!("logEvents message is not valid JSON: {e}"))
                        }
                    }
                }
                _ => self.bad(tape, i, "logEvents entry has no string `message`".into()),
            }
            i += node_len(&tape[i]);
        }
    }

    pub(crate) fn flush(&mut self) {
        if self.enc.rows() > 0 {
            self.out.batches.push(self.enc.finish());
        }
        self.out.insights = self.enc.insights();
    }
}
