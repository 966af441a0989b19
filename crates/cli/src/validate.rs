//! `trawl validate`: the lake against CloudTrail's digest files (crate `trawl-custody`).

use std::io::Write;
use std::process::ExitCode;

use anyhow::{Context, bail};
use trawl_custody::{LocalReread, PublicKeys, Reread, Signatures, Sources, ValidateOptions};
use trawl_lake::Lake;

use crate::args::{ValidateArgs, ValidateFormat, window};

pub(crate) fn run(a: &ValidateArgs) -> anyhow::Result<ExitCode> {
    let s3 = crate::args::s3_options(&a.profile, &a.endpoint_url);
    let lake = crate::lakes::open(&a.lake, &s3, false)?;
    let mut keys = PublicKeys::default();
    for path in &a.public_keys {
        keys.add_file(path)?;
    }
    if a.fetch_keys {
        fetch_keys(a, &lake, &mut keys)?;
    }
    if keys.is_empty() {
        bail!(
            "no public keys: save CloudTrail's with `aws cloudtrail list-public-keys --start-time YYYY-MM-DD > keys.json` (in each region the trail delivers from) and pass --public-keys keys.json, or use --fetch-keys"
        );
    }
    let w = window(a.since.as_deref(), a.until.as_deref())?;
    let opts = ValidateOptions {
        since: w.since.and_then(chrono::DateTime::from_timestamp_micros),
        until: w.until.and_then(chrono::DateTime::from_timestamp_micros),
        accounts: a.accounts.clone(),
        regions: a.regions.clone(),
    };
    let s3 = if a.reread || a.fetch_signatures {
        Some(SourceReread::new(a)?)
    } else {
        None
    };
    let reach = Sources {
        reread: s3.as_ref().filter(|_| a.reread).map(|s| s as &dyn Reread),
        signatures: s3
            .as_ref()
            .filter(|_| a.fetch_signatures)
            .map(|s| s as &dyn Signatures),
    };
    let v = trawl_custody::validate(&lake, &keys, &opts, reach)?;
    if !a.no_save {
        trawl_custody::save(&lake, &v)?;
    }
    let mut out = std::io::stdout().lock();
    match a.format {
        ValidateFormat::Json => {
            serde_json::to_writer_pretty(&mut out, &v)?;
            writeln!(out)?;
        }
        ValidateFormat::Table => out.write_all(trawl_custody::table(&v).as_bytes())?,
    }
    Ok(if v.summary.failed {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    })
}

/// Fetches the keys for every region and the time span of the lake's digests.
fn fetch_keys(a: &ValidateArgs, lake: &Lake, keys: &mut PublicKeys) -> anyhow::Result<()> {
    let recorded = trawl_custody::digest::load(&lake.layout(), lake.latest_version()?, |_| true)?;
    let mut regions = std::collections::BTreeSet::new();
    let (mut first, mut last) = (None, None);
    for r in &recorded {
        let Ok(d) = &r.digest else { continue };
        if let Some((_, region)) = trawl_ingest::layout::stream_of(&d.digest_s3_object) {
            regions.insert(region.to_string());
        }
        let times = [
            trawl_custody::digest::parse_time(&d.digest_start_time),
            r.end(),
            r.backfill_generated
                .as_deref()
                .and_then(trawl_custody::digest::parse_time),
        ];
        for t in times.into_iter().flatten() {
            first = Some(first.map_or(t, |f: chrono::DateTime<chrono::Utc>| f.min(t)));
            last = Some(last.map_or(t, |l: chrono::DateTime<chrono::Utc>| l.max(t)));
        }
    }
    let (Some(first), Some(last)) = (first, last) else {
        bail!(
            "--fetch-keys: the lake holds no digest files to fetch keys for; ingest the trail's CloudTrail-Digest/ prefix from S3"
        );
    };
    let regions: Vec<String> = regions.into_iter().collect();
    let opts = trawl_s3::S3Options {
        profile: a.profile.clone(),
        ..trawl_s3::S3Options::default()
    };
    let day = chrono::Duration::days(1);
    let fetched = trawl_s3::list_public_keys(&opts, &regions, first - day, last + day)?;
    let mut list = Vec::new();
    for k in fetched {
        use base64::Engine;
        list.push(serde_json::json!({
            "Value": base64::engine::general_purpose::STANDARD.encode(&k.der),
            "ValidityStartTime": k.valid_from.map(|t| t.to_rfc3339()),
            "ValidityEndTime": k.valid_to.map(|t| t.to_rfc3339()),
            "Fingerprint": k.fingerprint,
        }));
        keys.insert(trawl_custody::PublicKey {
            fingerprint: k.fingerprint,
            der: k.der,
            valid_from: k.valid_from,
            valid_to: k.valid_to,
        });
    }
    if let Some(path) = &a.save_keys {
        std::fs::write(
            path,
            serde_json::to_string_pretty(&serde_json::json!({ "PublicKeyList": list }))?,
        )
        .with_context(|| format!("writing {}", path.display()))?;
    }
    Ok(())
}

impl Signatures for SourceReread {
    fn signatures(
        &self,
        digests: &[(String, String)],
    ) -> Vec<Result<Option<trawl_ingest::DigestSignature>, String>> {
        self.s3
            .signatures(digests)
            .into_iter()
            .map(|r| r.map_err(|e| e.to_string()))
            .collect()
    }
}

/// Re-reads local files directly and S3 objects through the S3 client ingest uses.
struct SourceReread {
    s3: trawl_s3::S3Source,
}

impl SourceReread {
    fn new(a: &ValidateArgs) -> anyhow::Result<Self> {
        let s3 = trawl_s3::S3Source::new(crate::args::s3_options(&a.profile, &a.endpoint_url))
            .context("setting up the S3 client for --reread or --fetch-signatures")?;
        Ok(SourceReread { s3 })
    }
}

impl Reread for SourceReread {
    fn sha256(&self, uri: &str) -> Result<Option<String>, String> {
        let url = match trawl_s3::S3Url::parse(uri) {
            None => return LocalReread.sha256(uri),
            Some(url) => url.map_err(|e| e.to_string())?,
        };
        let obj = trawl_ingest::SourceObject {
            uri: uri.to_string(),
            location: trawl_ingest::Location::S3 {
                bucket: url.bucket,
                key: url.prefix,
            },
            size: 0,
            mtime_ns: 0,
            etag: None,
        };
        use trawl_ingest::{Body, Fetch};
        let raw = match self.s3.fetch(&obj) {
            Ok(Body::Bytes(raw) | Body::Signed(raw, _)) => raw,
            Ok(Body::File(path)) => std::fs::read(path).map_err(|e| e.to_string())?,
            Err(e) if e.to_string().contains("NoSuchKey") => return Ok(None),
            Err(e) => return Err(e.to_string()),
        };
        trawl_ingest::sha256_of_content(raw.as_slice())
            .map(Some)
            .map_err(|e| e.to_string())
    }
}
