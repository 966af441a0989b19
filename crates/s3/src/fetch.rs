//! GET an object whole, retrying, and resuming a body that breaks halfway with a ranged GET
//! pinned to the ETag (so the pieces are of one version of the object).

use std::sync::atomic::Ordering;

use crate::S3Source;
use crate::retry::{backoff, chain, classify};

/// The bytes of `s3://bucket/key` (`size` from the listing, a capacity hint and a check).
/// `Err` says why it was given up, after the retries.
pub(crate) async fn get(
    src: &S3Source,
    bucket: &str,
    key: &str,
    etag: Option<&str>,
    size: u64,
) -> Result<Vec<u8>, String> {
    let client = src.client(bucket).await;
    let opts = &src.shared.opts;
    let counts = &src.shared.counts;
    let mut buf: Vec<u8> = Vec::with_capacity(size as usize);
    let mut etag = etag.map(str::to_string);
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
                        Ok(Err(e)) => break Some(format!("body broke: {}", chain(&e))),
                        Err(_) => {
                            break Some(format!("body stalled for {:?}", opts.attempt_timeout));
                        }
                    }
                };
                match (broke, expected) {
                    (None, Some(want)) if (buf.len() as u64) < want => {
                        format!("body ended at {} of {want} bytes", buf.len())
                    }
                    (None, _) => return Ok(buf),
                    (Some(why), _) => why,
                }
            }
            Err(e) => {
                let f = classify(&e);
                if !f.retry {
                    return Err(f.message);
                }
                f.message
            }
        };
        attempt += 1;
        if attempt >= opts.max_attempts {
            return Err(format!(
                "gave up after {attempt} attempts, the last: {failure}; run the same command again to retry this object"
            ));
        }
        tracing::debug!("s3://{bucket}/{key}: {failure}; retrying (attempt {attempt})");
        counts.retries.fetch_add(1, Ordering::Relaxed);
        tokio::time::sleep(backoff(opts, attempt - 1)).await;
    }
}
