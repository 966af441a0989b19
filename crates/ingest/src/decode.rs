//! Bytes of an object to JSON text: gzip (also multi-member) or plain, BOM stripped,
//! decompressed size capped.

use std::io::Read;

use flate2::read::MultiGzDecoder;

use crate::IngestError;

/// Default cap on an object's decompressed size: 64 GiB. Objects past the streaming
/// threshold are streamed, so this bounds the time a gzip bomb takes, not memory.
pub const DEFAULT_MAX_OBJECT_BYTES: u64 = 64 << 30;

/// Inflates `raw` when it starts with the gzip magic, otherwise returns it as is; strips a
/// UTF-8 byte order mark. Errors name `uri`.
pub fn decode(uri: &str, raw: Vec<u8>, max_bytes: u64) -> Result<Vec<u8>, IngestError> {
    let out = if is_gzip(&raw) {
        let mut out = Vec::new();
        inflate_upto(
            uri,
            &mut MultiGzDecoder::new(raw.as_slice()),
            raw.len(),
            max_bytes,
            &mut out,
        )?;
        out
    } else {
        raw
    };
    if out.len() as u64 > max_bytes {
        return Err(IngestError::TooLarge {
            uri: uri.to_string(),
            limit: max_bytes,
        });
    }
    checked_text(uri, out)
}

/// Whether `raw` starts with gzip's magic number.
pub(crate) fn is_gzip(raw: &[u8]) -> bool {
    raw.starts_with(&[0x1f, 0x8b])
}

/// Inflates from `gz` (of `packed` compressed bytes) into `out`, which it sizes for about
/// ten times `packed`: up to `limit` bytes and one more, so that `out` longer than `limit`
/// says there is more.
pub(crate) fn inflate_upto(
    uri: &str,
    gz: &mut impl Read,
    packed: usize,
    limit: u64,
    out: &mut Vec<u8>,
) -> Result<(), IngestError> {
    let cap = usize::try_from(limit)
        .unwrap_or(usize::MAX)
        .saturating_add(1);
    out.reserve(packed.saturating_mul(10).min(cap));
    gz.take(limit.saturating_add(1))
        .read_to_end(out)
        .map(drop)
        .map_err(|source| IngestError::Inflate {
            uri: uri.to_string(),
            inflated: out.len() as u64,
            source,
        })
}

/// An object's whole text without its byte order mark; blank text is an error.
pub(crate) fn checked_text(uri: &str, mut out: Vec<u8>) -> Result<Vec<u8>, IngestError> {
    if out.starts_with(&[0xEF, 0xBB, 0xBF]) {
        out.drain(..3);
    }
    if out.iter().all(u8::is_ascii_whitespace) {
        return Err(IngestError::Empty {
            uri: uri.to_string(),
        });
    }
    Ok(out)
}

/// Prefix of a string that stands for a number literal simd-json cannot hold (an integer
/// beyond 64 bits, a float beyond f64): the encoder writes it back as the exact literal.
pub const BIG_NUMBER_MARKER: &str = "\u{F8FF}trawl-number:";

/// Rewrites number literals that do not fit 64-bit integers or f64 as marked strings, so
/// the rest of the object parses; `None` if there are none.
pub fn quote_big_numbers(text: &[u8]) -> Option<Vec<u8>> {
    let mut out = Vec::with_capacity(text.len() + 64);
    let (mut i, mut changed, mut in_str) = (0, false, false);
    while i < text.len() {
        let c = text[i];
        if in_str {
            out.push(c);
            match c {
                b'\\' if i + 1 < text.len() => {
                    out.push(text[i + 1]);
                    i += 1;
                }
                b'"' => in_str = false,
                _ => {}
            }
            i += 1;
            continue;
        }
        if c == b'"' {
            in_str = true;
        } else if c == b'-' || c.is_ascii_digit() {
            let end = i + text[i..]
                .iter()
                .take_while(|b| b.is_ascii_digit() || b"+-.eE".contains(b))
                .count();
            let lit = std::str::from_utf8(&text[i..end]).unwrap_or("");
            let fits = if lit.contains(['.', 'e', 'E']) {
                lit.parse::<f64>().is_ok_and(f64::is_finite)
            } else {
                lit.parse::<i64>().is_ok() || lit.parse::<u64>().is_ok()
            };
            if !fits && !lit.is_empty() {
                out.push(b'"');
                out.extend_from_slice(BIG_NUMBER_MARKER.as_bytes());
                out.extend_from_slice(lit.as_bytes());
                out.push(b'"');
                changed = true;
                i = end;
                continue;
            }
            out.extend_from_slice(&text[i..end]);
            i = end;
            continue;
        }
        out.push(c);
        i += 1;
    }
    changed.then_some(out)
}

/// Splits text holding several top-level JSON values (JSON Lines, or values simply
/// concatenated as Firehose writes them) into their byte ranges. Strings and escapes are
/// honoured; a value that is not an object or array is reported by its index.
pub fn split_values(buf: &[u8]) -> Result<Vec<std::ops::Range<usize>>, (usize, String)> {
    let mut out = Vec::new();
    let mut i = 0;
    let n = buf.len();
    while i < n {
        while i < n && buf[i].is_ascii_whitespace() {
            i += 1;
        }
        if i >= n {
            break;
        }
        let start = i;
        if buf[i] != b'{' && buf[i] != b'[' {
            let end = buf[i..]
                .iter()
                .position(|&c| c == b'\n')
                .map_or(n, |p| i + p);
            return Err((
                out.len(),
                format!(
                    "line starting at byte {start} is not a JSON object or array: {:?}",
                    String::from_utf8_lossy(&buf[start..end.min(start + 60)])
                ),
            ));
        }
        let mut depth = 0usize;
        let mut in_str = false;
        while i < n {
            let c = buf[i];
            if in_str {
                match c {
                    b'\\' => i += 1,
                    b'"' => in_str = false,
                    _ => {}
                }
            } else {
                match c {
                    b'"' => in_str = true,
                    b'{' | b'[' => depth += 1,
                    b'}' | b']' => {
                        depth -= 1;
                        if depth == 0 {
                            i += 1;
                            break;
                        }
                    }
                    _ => {}
                }
            }
            i += 1;
        }
        if depth != 0 {
            return Err((
                out.len(),
                format!("value starting at byte {start} is truncated"),
            ));
        }
        out.push(start..i);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn gz(data: &[u8]) -> Vec<u8> {
        let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        e.write_all(data).unwrap();
        e.finish().unwrap()
    }

    #[test]
    fn multi_member_gzip_is_read_whole() {
        let mut raw = gz(b"{\"a\":1}\n");
        raw.extend(gz(b"{\"a\":2}\n"));
        assert_eq!(decode("x", raw, 1000).unwrap(), b"{\"a\":1}\n{\"a\":2}\n");
    }

    #[test]
    fn bom_is_stripped_and_cap_enforced() {
        assert_eq!(decode("x", b"\xEF\xBB\xBF{}".to_vec(), 100).unwrap(), b"{}");
        let bomb = gz(&vec![b' '; 10_000]);
        assert!(matches!(
            decode("x", bomb, 1000),
            Err(IngestError::TooLarge { .. })
        ));
        assert!(matches!(
            decode("x", b"  \n".to_vec(), 100),
            Err(IngestError::Empty { .. })
        ));
    }

    #[test]
    fn only_out_of_range_numbers_are_quoted() {
        let text = br#"{"a":123456789012345678901234567890,"b":[1,-2,3.5e10,1e400],"c":"9999999999999999999999","d":-9223372036854775809}"#;
        let fixed = String::from_utf8(quote_big_numbers(text).unwrap()).unwrap();
        let m = BIG_NUMBER_MARKER;
        assert_eq!(
            fixed,
            format!(
                r#"{{"a":"{m}123456789012345678901234567890","b":[1,-2,3.5e10,"{m}1e400"],"c":"9999999999999999999999","d":"{m}-9223372036854775809"}}"#
            )
        );
        assert!(
            quote_big_numbers(br#"{"a":18446744073709551615,"b":-9223372036854775808}"#).is_none()
        );
    }

    #[test]
    fn no_limit_means_no_limit() {
        // Regression: `max_bytes + 1` overflowed for u64::MAX and read nothing.
        let raw = gz(b"{\"Records\":[]}");
        assert_eq!(decode("x", raw, u64::MAX).unwrap(), b"{\"Records\":[]}");
    }

    #[test]
    fn truncated_gzip_is_an_error() {
        let raw = gz(&vec![b'x'; 100_000]);
        let cut = raw[..raw.len() / 2].to_vec();
        let err = decode("s3://b/k.json.gz", cut, 1 << 20).unwrap_err();
        assert!(
            err.to_string()
                .starts_with("s3://b/k.json.gz: gzip stream is corrupt"),
            "{err}"
        );
    }

    #[test]
    fn split_handles_strings_and_concatenation() {
        let text = br#"{"a":"}{\"x"}{"b":[1,2]}
 [3]"#;
        let ranges = split_values(text).unwrap();
        let parts: Vec<&[u8]> = ranges.iter().map(|r| &text[r.clone()]).collect();
        assert_eq!(
            parts,
            vec![&br#"{"a":"}{\"x"}"#[..], br#"{"b":[1,2]}"#, b"[3]"]
        );
        assert!(split_values(b"{\"a\":1}\n42\n").is_err());
        assert!(split_values(b"{\"a\":[1,2}").is_err());
    }
}
