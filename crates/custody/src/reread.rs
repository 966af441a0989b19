//! What validation may ask of the sources, beyond the lake: a log file re-read to show it
//! still matches its digest, and the signatures of digests read from a local copy.

use std::io::Read;

/// Hashes a log file where it was read from. `Ok(None)`: it is no longer there.
pub trait Reread: Sync {
    fn sha256(&self, uri: &str) -> Result<Option<String>, String>;
}

/// The signatures S3 keeps in the metadata of digest files, by `(bucket, key)`, in order:
/// for digests the lake read from a local copy (which has no metadata).
pub trait Signatures: Sync {
    fn signatures(
        &self,
        digests: &[(String, String)],
    ) -> Vec<Result<Option<trawl_ingest::DigestSignature>, String>>;
}

/// What [`validate`](crate::validate) may reach beyond the lake.
#[derive(Default, Clone, Copy)]
pub struct Sources<'a> {
    /// Re-read every listed log file at its source.
    pub reread: Option<&'a dyn Reread>,
    /// Fetch the signatures of digests recorded without one.
    pub signatures: Option<&'a dyn Signatures>,
}

impl std::fmt::Debug for Sources<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Sources")
            .field("reread", &self.reread.is_some())
            .field("signatures", &self.signatures.is_some())
            .finish()
    }
}

/// The SHA-256 (hex) of an object's decompressed content (gzip, also multi-member, is
/// inflated; other content is hashed as it is), as CloudTrail lists log files.
pub fn sha256_of_content(mut raw: impl Read) -> std::io::Result<String> {
    let mut head = [0u8; 2];
    let mut n = 0;
    while n < 2 {
        let got = raw.read(&mut head[n..])?;
        if got == 0 {
            break;
        }
        n += got;
    }
    let rest = std::io::Cursor::new(head[..n].to_vec()).chain(raw);
    let mut ctx = ring::digest::Context::new(&ring::digest::SHA256);
    let mut buf = vec![0u8; 1 << 16];
    let mut reader: Box<dyn Read> = if head[..n] == [0x1f, 0x8b] {
        Box::new(flate2::read::MultiGzDecoder::new(rest))
    } else {
        Box::new(rest)
    };
    loop {
        let got = reader.read(&mut buf)?;
        if got == 0 {
            break;
        }
        ctx.update(&buf[..got]);
    }
    Ok(hex::encode(ctx.finish()))
}

/// Re-reads local files; S3 objects are refused (`trawl validate` passes an S3 reader).
#[derive(Debug, Clone, Copy, Default)]
pub struct LocalReread;

impl Reread for LocalReread {
    fn sha256(&self, uri: &str) -> Result<Option<String>, String> {
        if uri.starts_with("s3://") {
            return Err("no S3 client here to re-read it".into());
        }
        match std::fs::File::open(uri) {
            Ok(f) => sha256_of_content(std::io::BufReader::new(f))
                .map(Some)
                .map_err(|e| e.to_string()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(e.to_string()),
        }
    }
}
