//! simd-json's parser with its buffers kept per thread.

use crate::*;

/// simd-json's buffers, the tape and a padded copy of the text, kept per thread from object
/// to object: fresh ones for every object cost the kernel zeroing new pages, measured at
/// about a tenth of the ingest's CPU time.
#[derive(Default)]
pub(crate) struct Parser {
    text: Vec<u8>,
    buffers: Option<simd_json::Buffers>,
    tape: Option<simd_json::Tape<'static>>,
}

thread_local! {
    pub(crate) static PARSER: std::cell::Cell<Option<Parser>> = const { std::cell::Cell::new(None) };
    /// The inflate buffer, kept per thread from object to object for the same reason.
    pub(crate) static INFLATED: std::cell::Cell<Vec<u8>> = const { std::cell::Cell::new(Vec::new()) };
}

/// A thread keeps its parser buffers for the next object only up to this size of text.
pub(crate) const KEEP_PARSER_BYTES: usize = 8 << 20;

impl Parser {
    /// Runs `f` with this thread's parser (a fresh one if it is in use).
    pub(crate) fn with<T>(f: impl FnOnce(&mut Parser) -> T) -> T {
        let mut p = PARSER.with(std::cell::Cell::take).unwrap_or_default();
        let out = f(&mut p);
        if p.text.capacity() <= KEEP_PARSER_BYTES {
            PARSER.with(|c| c.set(Some(p)));
        }
        out
    }

    /// Parses `text` (not changed) into a tape and calls `visit` with it.
    pub(crate) fn parse<T>(
        &mut self,
        text: &[u8],
        visit: impl FnOnce(&[Node<'_>]) -> T,
    ) -> Result<T, simd_json::Error> {
        self.parse_written(|buf| buf.extend_from_slice(text), visit)
    }

    /// Parses the text `write` puts in the parser's (empty) buffer, and calls `visit` with
    /// the tape: text assembled from pieces is written once, not copied again.
    pub(crate) fn parse_written<T>(
        &mut self,
        write: impl FnOnce(&mut Vec<u8>),
        visit: impl FnOnce(&[Node<'_>]) -> T,
    ) -> Result<T, simd_json::Error> {
        self.text.clear();
        write(&mut self.text);
        let len = self.text.len();
        self.text.resize(len + simd_json::INPUT_PADDING, 0);
        let buffers = self
            .buffers
            .get_or_insert_with(|| simd_json::Buffers::new(len));
        let mut tape = self
            .tape
            .take()
            .unwrap_or_else(simd_json::Tape::null)
            .reset();
        let parsed = simd_json::fill_tape_padded(&mut self.text, len, buffers, &mut tape);
        let out = parsed.map(|()| visit(&tape.0));
        self.tape = Some(tape.reset());
        out
    }
}
