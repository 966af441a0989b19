//! GET an object whole, retrying, and resuming a body that breaks halfway with a ranged GET
//! pinned to the ETag (so the pieces are of one version of the object).

use std::sync::atomic::Ordering;

use std::collections::HashMap;

use trawl_ingest::DigestSignature;

use crate::retry::{Failure, backoff, chain, classify};
use crate::{S3Error, S3Source};

/// The bytes of `s3://bucket/key` (`size` from the listing, a capacity hint and a check),
/// with the CloudTrail signature its metadata carries (digest files). `Err` says why it was
/// given up, after the retries.
pub(crate) async fn get(
    src: &S3Source,
    bucket: &str,
    key: &str,
    etag: Option<&str>,
    size: u64,
) -> Result<(Vec<u8>, Option<DigestSignature>), S3Error> {
    let given_up = |message: String, source| S3Error::Request {
        url: format!("s3://{bucket}/{key}"),
        message,
        source,
    };
    let client = src.client(bucket).await;
    let opts = &src.shared.opts;
    let counts = &src.shared.counts;
    let mut buf: Vec<u8> = Vec::with_capacity(size as usize);
    let mut etag = etag.map(str::to_string);
    let mut signature = None;
    let mut attempt = 0u32;
    loop {
        let mut req = client.get_object().bucket(bucket).key(key);
        if !buf.is_empty() {
            req = req.range(format!("bytes={}-", buf.len()));
        }
        if let Some(e) = &etag {
            req = req.if_match(e);
        }
        counts.get.fetch_add(1, Ordering::Relaxed);
        let failure = match req.send().await {
            Ok(resp) => {
                if etag.is_none() {
                    etag = resp.e_tag().map(str::to_string);
                }
                // Pinned to one ETag, every part's metadata is the same object's.
                if signature.is_none() {
                    signature = digest_signature(resp.metadata());
                }
                let expected = resp
                    .content_length()
                    .map(|n| buf.len() as u64 + n.max(0) as u64);
                let mut body = resp.body;
                let broke = loop {
                    match tokio::time::timeout(opts.attempt_timeout, body.try_next()).await {
                        Ok(Ok(Some(chunk))) => {
                            counts
                                .bytes
                                .fetch_add(chunk.len() as u64, Ordering::Relaxed);
                            buf.extend_from_slice(&chunk);
                        }
                        Ok(Ok(None)) => break None,
                        Ok(Err(e)) => {
                            break Some(Failure {
                                retry: true,
                                message: format!("body broke: {}", chain(&e)),
                                source: Some(Box::new(e)),
                            });
                        }
                        Err(_) => {
                            break Some(Failure {
                                retry: true,
                                message: format!("body stalled for {:?}", opts.attempt_timeout),
                                source: None,
                            });
                        }
                    }
                };
                match (broke, expected) {
                    (None, Some(want)) if (buf.len() as u64) < want => Failure {
                        retry: true,
                        message: format!("body ended at {} of {want} bytes", buf.len()),
                        source: None,
                    },
                    (None, _) => return Ok((buf, signature)),
                    (Some(why), _) => why,
                }
            }
            Err(e) => {
                let f = classify(e);
                if !f.retry {
                    return Err(given_up(f.message, f.source));
                }
                f
            }
        };
        attempt += 1;
        if attempt >= opts.max_attempts {
            return Err(given_up(
                format!(
                    "gave up after {attempt} attempts, the last: {}; run the same command again to retry this object",
                    failure.message
                ),
                failure.source,
            ));
        }
        tracing::debug!(
            "s3://{bucket}/{key}: {}; retrying (attempt {attempt})",
            failure.message
        );
        counts.retries.fetch_add(1, Ordering::Relaxed);
        tokio::time::sleep(backoff(opts, attempt - 1)).await;
    }
}

/// The signature CloudTrail puts in a digest file's user metadata (`x-amz-meta-signature`,
/// `x-amz-meta-signature-algorithm`; the SDK gives them without the prefix).
pub(crate) fn digest_signature(
    metadata: Option<&HashMap<String, String>>,
) -> Option<DigestSignature> {
    let metadata = metadata?;
    let get = |name: &str| {
        metadata
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.clone())
    };
    Some(DigestSignature {
        signature: get("signature")?,
        algorithm: get("signature-algorithm"),
        backfill_generated: get("backfill-generation-timestamp"),
    })
}
