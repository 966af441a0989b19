//! The object store of a lake in S3 (`--lake s3://bucket/prefix`): `object_store`'s S3 client
//! (the one DataFusion reads through), with the region and credentials of the same AWS chain
//! the sources use (profiles, SSO, the AWS_* variables, web identity, container and instance
//! roles), and conditional writes for the commit log.

use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use aws_sdk_s3::config::ProvideCredentials;
use aws_sdk_s3::config::SharedCredentialsProvider;
use object_store::ObjectStore;
use object_store::aws::{AmazonS3Builder, AwsCredential};
use object_store::prefix::PrefixStore;

use crate::{S3Error, S3Options, S3Url, load_config, runtime};

/// The store of the lake at `url`, rooted at its prefix (paths in it are the lake's relative
/// paths).
pub fn lake_store(url: &S3Url, opts: &S3Options) -> Result<Arc<dyn ObjectStore>, S3Error> {
    // object_store's HTTPS client takes the process's rustls provider: ring, as the SDK's.
    let _ = rustls::crypto::ring::default_provider().install_default();
    let conf = runtime("trawl-lake-config")?.block_on(load_config(opts));
    let fault = |message: String| S3Error::Request {
        url: url.to_string(),
        message,
        source: None,
    };
    let mut builder = AmazonS3Builder::new()
        .with_bucket_name(&url.bucket)
        .with_region(conf.region().map_or("us-east-1", |r| r.as_ref()));
    let endpoint = opts
        .endpoint_url
        .clone()
        .or_else(|| conf.endpoint_url().map(str::to_string));
    if let Some(endpoint) = endpoint {
        builder = builder
            .with_allow_http(endpoint.starts_with("http://"))
            .with_endpoint(endpoint);
    }
    builder = match (opts.no_sign_request, conf.credentials_provider()) {
        (true, _) | (false, None) => builder.with_skip_signature(true),
        (false, Some(chain)) => builder.with_credentials(Arc::new(ChainCredentials {
            chain,
            cached: Mutex::new(None),
        })),
    };
    let store = builder
        .build()
        .map_err(|e| fault(format!("setting up the lake's S3 client: {e}")))?;
    let prefix = url.prefix.trim_end_matches('/');
    Ok(if prefix.is_empty() {
        Arc::new(store)
    } else {
        Arc::new(PrefixStore::new(store, prefix))
    })
}

/// The AWS credential chain as `object_store` asks for credentials: once per request, so
/// they are kept until five minutes before they expire.
#[derive(Debug)]
struct ChainCredentials {
    chain: SharedCredentialsProvider,
    cached: Mutex<Option<(Arc<AwsCredential>, Option<SystemTime>)>>,
}

#[async_trait::async_trait]
impl object_store::CredentialProvider for ChainCredentials {
    type Credential = AwsCredential;

    async fn get_credential(&self) -> object_store::Result<Arc<AwsCredential>> {
        let fresh = |expiry: &Option<SystemTime>| {
            expiry.is_none_or(|e| e > SystemTime::now() + Duration::from_secs(300))
        };
        if let Some((c, expiry)) = self.cached.lock().expect("credentials").as_ref()
            && fresh(expiry)
        {
            return Ok(c.clone());
        }
        let c =
            self.chain
                .provide_credentials()
                .await
                .map_err(|e| object_store::Error::Generic {
                    store: "S3",
                    source: Box::new(e),
                })?;
        let credential = Arc::new(AwsCredential {
            key_id: c.access_key_id().to_string(),
            secret_key: c.secret_access_key().to_string(),
            token: c.session_token().map(str::to_string),
        });
        *self.cached.lock().expect("credentials") = Some((credential.clone(), c.expiry()));
        Ok(credential)
    }
}
