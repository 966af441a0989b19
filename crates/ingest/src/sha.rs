//! The SHA-256 of an object's decompressed content, computed while it is inflated and read
//! (never a second read): what CloudTrail's digest files list for each log file, so the lake
//! can show that its rows came from the files CloudTrail signed.

use std::io::Read;

use ring::digest::{Context, SHA256};

/// A fresh SHA-256 context.
pub(crate) fn context() -> Context {
    Context::new(&SHA256)
}

/// The finished hash, as lowercase hex (CloudTrail's `hashValue` form).
pub(crate) fn finish(ctx: Context) -> String {
    hex::encode(ctx.finish())
}

/// The SHA-256 of `bytes`, as lowercase hex.
pub fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(ring::digest::digest(&SHA256, bytes))
}

/// The SHA-256 (hex) of an object's decompressed content read from `raw`, as ingest hashes
/// it ([`ObjectOutput::sha256`](crate::ObjectOutput::sha256)): gzip (also multi-member)
/// inflated, other content as it is. For a second look at an object at its source.
pub fn sha256_of_content(raw: impl Read) -> std::io::Result<String> {
    let mut raw = std::io::BufReader::with_capacity(1 << 16, raw);
    let gzip = crate::decode::is_gzip(std::io::BufRead::fill_buf(&mut raw)?);
    let mut ctx = context();
    {
        let mut src: Box<dyn Read + '_> = if gzip {
            Box::new(Hashing::new(
                flate2::read::MultiGzDecoder::new(raw),
                Some(&mut ctx),
            ))
        } else {
            Box::new(Hashing::new(raw, Some(&mut ctx)))
        };
        std::io::copy(&mut src, &mut std::io::sink())?;
    }
    Ok(finish(ctx))
}

/// A reader that hashes every byte read through it (into `ctx`, when there is one).
pub(crate) struct Hashing<'h, R> {
    inner: R,
    ctx: Option<&'h mut Context>,
}

impl<'h, R> Hashing<'h, R> {
    pub(crate) fn new(inner: R, ctx: Option<&'h mut Context>) -> Self {
        Hashing { inner, ctx }
    }
}

impl<R: Read> Read for Hashing<'_, R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        if let Some(ctx) = self.ctx.as_deref_mut() {
            ctx.update(&buf[..n]);
        }
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hashes_what_is_read_through_it() {
        let text = b"{\"Records\":[]}".repeat(1000);
        let mut ctx = context();
        let mut out = Vec::new();
        // Small reads, as the streaming window makes: the hash is of all of them in order.
        let mut r = Hashing::new(
            std::io::BufReader::with_capacity(7, &text[..]),
            Some(&mut ctx),
        );
        let mut buf = [0u8; 5];
        loop {
            let n = r.read(&mut buf).unwrap();
            if n == 0 {
                break;
            }
            out.extend_from_slice(&buf[..n]);
        }
        assert_eq!(out, text);
        assert_eq!(finish(ctx), sha256_hex(&text));
        // The same content gzipped, in two members, hashes the same.
        let mut gz = Vec::new();
        for half in text.chunks(text.len() / 2 + 1) {
            let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
            std::io::Write::write_all(&mut e, half).unwrap();
            gz.extend(e.finish().unwrap());
        }
        assert_eq!(sha256_of_content(&gz[..]).unwrap(), sha256_hex(&text));
        assert_eq!(sha256_of_content(&text[..]).unwrap(), sha256_hex(&text));
        // The standard test vector (FIPS 180-2, "abc").
        assert_eq!(
            sha256_hex(b"abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }
}
