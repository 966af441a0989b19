//! What validation may ask of the sources, beyond the lake: a log file re-read to show it
//! still matches its digest, and the signatures of digests read from a local copy.

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

/// Re-reads local files; S3 objects are refused (`trawl validate` passes an S3 reader).
#[derive(Debug, Clone, Copy, Default)]
pub struct LocalReread;

impl Reread for LocalReread {
    fn sha256(&self, uri: &str) -> Result<Option<String>, String> {
        if uri.starts_with("s3://") {
            return Err("no S3 client here to re-read it".into());
        }
        match std::fs::File::open(uri) {
            Ok(f) => trawl_ingest::sha256_of_content(f)
                .map(Some)
                .map_err(|e| e.to_string()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(e.to_string()),
        }
    }
}
