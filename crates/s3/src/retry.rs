//! What is worth retrying, and how long to wait.

use std::time::Duration;

use aws_sdk_s3::error::{ProvideErrorMetadata, SdkError};
use aws_smithy_runtime_api::http::Response;
use rand::Rng;

use crate::S3Options;

/// An error sorted: `retry` if another attempt may succeed; `message` says what happened
/// and, for the permanent ones, what to do.
#[derive(Debug)]
pub(crate) struct Failure {
    pub retry: bool,
    pub message: String,
    /// The SDK's error, kept as the source of the error the failure becomes.
    pub source: Option<crate::BoxError>,
}

/// Throttling, server errors, timeouts and broken connections are retried; the rest (no
/// such key, access denied, bad credentials) are not.
pub(crate) fn classify<E>(err: SdkError<E, Response>) -> Failure
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
{
    let mut f = sort(&err);
    f.source = Some(Box::new(err));
    f
}

fn sort<E>(err: &SdkError<E, Response>) -> Failure
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
{
    match err {
        SdkError::TimeoutError(_) => Failure {
            source: None,
            retry: true,
            message: "timed out".into(),
        },
        SdkError::DispatchFailure(d) => {
            let message = format!("request failed: {}", chain(err));
            Failure {
                source: None,
                retry: !d.is_user(),
                message: if d.is_user() {
                    format!(
                        "{message}; if no credentials were found, configure them (AWS_PROFILE or --profile, AWS_ACCESS_KEY_ID, SSO, an instance role) or pass --no-sign-request for a public bucket"
                    )
                } else {
                    message
                },
            }
        }
        SdkError::ResponseError(_) => Failure {
            source: None,
            retry: true,
            message: format!("bad response: {}", chain(err)),
        },
        SdkError::ServiceError(s) => {
            let status = s.raw().status().as_u16();
            let code = s.err().code().unwrap_or("");
            let retry = matches!(status, 429 | 500 | 502 | 503 | 504)
                || matches!(
                    code,
                    "SlowDown"
                        | "RequestTimeout"
                        | "InternalError"
                        | "Throttling"
                        | "ThrottlingException"
                        | "RequestLimitExceeded"
                );
            let detail = s.err().message().unwrap_or("");
            let hint = match (status, code) {
                (403, _) | (_, "AccessDenied") => {
                    "; check that the credentials (AWS_PROFILE/--profile) may s3:ListBucket and s3:GetObject here, and the bucket policy"
                }
                (404, "NoSuchBucket") | (_, "NoSuchBucket") => {
                    "; check the bucket name (and --endpoint-url for S3-compatible stores)"
                }
                (404, _) | (_, "NoSuchKey") => "; the object was deleted after it was listed",
                (301, _) | (_, "PermanentRedirect") => {
                    "; the bucket is in another region: set AWS_REGION to it"
                }
                (412, _) => "; the object changed while it was read: run again",
                _ => "",
            };
            let code = if code.is_empty() {
                format!("HTTP {status}")
            } else {
                format!("{code} (HTTP {status})")
            };
            Failure {
                source: None,
                retry,
                message: format!("{code}: {detail}{hint}").replace(": ;", ";"),
            }
        }
        other => Failure {
            source: None,
            retry: false,
            message: chain(other),
        },
    }
}

/// An error and its sources on one line.
pub(crate) fn chain(err: &dyn std::error::Error) -> String {
    let mut text = err.to_string();
    let mut src = err.source();
    while let Some(s) = src {
        let more = s.to_string();
        if !text.contains(&more) {
            text.push_str(": ");
            text.push_str(&more);
        }
        src = s.source();
    }
    text
}

/// Full-jitter exponential backoff: a random wait up to `base * 2^attempt`, capped.
pub(crate) fn backoff(opts: &S3Options, attempt: u32) -> Duration {
    let ceiling = opts
        .base_backoff
        .saturating_mul(1u32 << attempt.min(20))
        .min(opts.max_backoff);
    let nanos = ceiling.as_nanos().min(u64::MAX as u128) as u64;
    Duration::from_nanos(rand::rng().random_range(0..=nanos))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_grows_and_is_capped() {
        let opts = S3Options {
            base_backoff: Duration::from_millis(100),
            max_backoff: Duration::from_secs(2),
            ..S3Options::default()
        };
        for attempt in 0..40 {
            let cap = Duration::from_millis(100)
                .saturating_mul(1 << attempt.min(20))
                .min(Duration::from_secs(2));
            for _ in 0..20 {
                assert!(backoff(&opts, attempt) <= cap);
            }
        }
        // Jitter: not always the same wait.
        let waits: std::collections::HashSet<_> = (0..20).map(|_| backoff(&opts, 5)).collect();
        assert!(waits.len() > 1);
    }
}
