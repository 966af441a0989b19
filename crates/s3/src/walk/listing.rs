//! One ListObjectsV2 page, retried like GETs are.

use super::*;

/// One ListObjectsV2 page of at most `max_keys` keys, retried like GETs are.
pub(super) async fn list_page(
    shared: &Shared,
    client: &aws_sdk_s3::Client,
    bucket: &str,
    prefix: &str,
    delimited: bool,
    token: Option<String>,
    max_keys: usize,
) -> Result<Listing, S3Error> {
    let mut attempt = 0u32;
    loop {
        let mut req = client
            .list_objects_v2()
            .bucket(bucket)
            .prefix(prefix)
            .max_keys(max_keys.min(MAX_PAGE) as i32)
            .set_continuation_token(token.clone());
        if delimited {
            req = req.delimiter("/");
        }
        shared.counts.list.fetch_add(1, Ordering::Relaxed);
        let f = match req.send().await {
            Ok(out) => {
                let objects = out
                    .contents()
                    .iter()
                    .filter_map(|o| {
                        let key = o.key()?;
                        (!key.ends_with('/')).then(|| SourceObject {
                            uri: format!("s3://{bucket}/{key}"),
                            location: Location::S3 {
                                bucket: bucket.to_string(),
                                key: key.to_string(),
                            },
                            size: o.size().unwrap_or(0).max(0) as u64,
                            mtime_ns: o.last_modified().map_or(0, |t| {
                                t.secs()
                                    .saturating_mul(1_000_000_000)
                                    .saturating_add(i64::from(t.subsec_nanos()))
                            }),
                            etag: o.e_tag().map(str::to_string),
                        })
                    })
                    .collect();
                shared
                    .counts
                    .listed
                    .fetch_add(out.contents().len() as u64, Ordering::Relaxed);
                let folders = out
                    .common_prefixes()
                    .iter()
                    .filter_map(|p| p.prefix().map(str::to_string))
                    .collect();
                let next = out
                    .is_truncated()
                    .unwrap_or(false)
                    .then(|| out.next_continuation_token().map(str::to_string))
                    .flatten();
                return Ok(Listing {
                    objects,
                    folders,
                    next,
                });
            }
            Err(e) => classify(e),
        };
        attempt += 1;
        if !f.retry || attempt >= shared.opts.max_attempts {
            return Err(S3Error::Request {
                url: format!("s3://{bucket}/{prefix}"),
                message: format!("listing failed: {}", f.message),
                source: f.source,
            });
        }
        shared.counts.retries.fetch_add(1, Ordering::Relaxed);
        tokio::time::sleep(backoff(&shared.opts, attempt - 1)).await;
    }
}
