//! CloudTrail's public keys through its `ListPublicKeys` API (`trawl validate --fetch-keys`),
//! with the same credential chain and profile as S3. Each region has its own keys.

use chrono::{DateTime, Utc};

use crate::{S3Error, S3Options, load_config, runtime};

/// A key as `ListPublicKeys` returns it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FetchedKey {
    pub fingerprint: String,
    /// DER `RSAPublicKey`.
    pub der: Vec<u8>,
    pub valid_from: Option<DateTime<Utc>>,
    pub valid_to: Option<DateTime<Utc>>,
}

fn time(t: Option<&aws_smithy_types::DateTime>) -> Option<DateTime<Utc>> {
    t.and_then(|t| DateTime::from_timestamp(t.secs(), t.subsec_nanos()))
}

/// The public keys valid between `start` and `end` in each of `regions`, every page.
/// The CloudTrail endpoint is AWS's (or `AWS_ENDPOINT_URL_CLOUDTRAIL`); `--endpoint-url`,
/// which is for S3, is not used for it.
pub fn list_public_keys(
    opts: &S3Options,
    regions: &[String],
    start: DateTime<Utc>,
    end: DateTime<Utc>,
) -> Result<Vec<FetchedKey>, S3Error> {
    let rt = runtime("trawl-keys")?;
    let opts = S3Options {
        endpoint_url: None,
        ..opts.clone()
    };
    rt.block_on(async {
        let base = load_config(&opts).await;
        let mut out = Vec::new();
        for region in regions {
            let conf = aws_sdk_cloudtrail::config::Builder::from(&base)
                .region(aws_sdk_cloudtrail::config::Region::new(region.clone()))
                .build();
            let client = aws_sdk_cloudtrail::Client::from_conf(conf);
            let mut token: Option<String> = None;
            loop {
                let resp = client
                    .list_public_keys()
                    .start_time(aws_smithy_types::DateTime::from_secs(start.timestamp()))
                    .end_time(aws_smithy_types::DateTime::from_secs(end.timestamp()))
                    .set_next_token(token.take())
                    .send()
                    .await
                    .map_err(|e| S3Error::Request {
                        url: format!("cloudtrail ListPublicKeys in {region}"),
                        message: format!(
                            "{}; save the keys with `aws cloudtrail list-public-keys --region {region} --start-time {}` and pass --public-keys FILE instead",
                            crate::retry::chain(&e),
                            start.format("%Y-%m-%d")
                        ),
                        source: Some(Box::new(e)),
                    })?;
                for k in resp.public_key_list() {
                    out.push(FetchedKey {
                        fingerprint: k.fingerprint().unwrap_or_default().to_string(),
                        der: k.value().map(|b| b.as_ref().to_vec()).unwrap_or_default(),
                        valid_from: time(k.validity_start_time()),
                        valid_to: time(k.validity_end_time()),
                    });
                }
                match resp.next_token() {
                    Some(t) if !t.is_empty() => token = Some(t.to_string()),
                    _ => break,
                }
            }
        }
        Ok(out)
    })
}
