//! The digest format against a digest signed outside trawl (`fixtures/custody/openssl-*`:
//! the string to sign built as the AWS CLI builds it, signed by the `openssl` command, the
//! public key as `aws cloudtrail list-public-keys` prints it), and trawl's own signer.

#![allow(clippy::unwrap_used, reason = "a test's unwrap is its failure message")]

use trawl_custody::PublicKeys;
use trawl_custody::digest::{Digest, string_to_sign, verify};

fn fixture(name: &str) -> Vec<u8> {
    std::fs::read(trawl_testkit::fixtures().join("custody").join(name)).unwrap()
}

#[test]
fn the_string_to_sign_and_the_signature_match_an_openssl_signed_digest() {
    let content = fixture("openssl-digest.json");
    let d: Digest = serde_json::from_slice(&content).unwrap();
    let message = string_to_sign(&d, &trawl_ingest::sha256_hex(&content));
    assert_eq!(message.as_bytes(), fixture("openssl-digest.string-to-sign"));

    let mut keys = PublicKeys::default();
    let path = trawl_testkit::fixtures().join("custody/openssl-keys.json");
    assert_eq!(keys.add_file(&path).unwrap(), 1);
    let key = &keys.get(&d.digest_public_key_fingerprint)[0];
    assert!(key.valid_at(trawl_custody::digest::parse_time(&d.digest_end_time).unwrap()));
    assert!(!key.valid_at(trawl_custody::digest::parse_time("2025-06-01T00:00:00Z").unwrap()));
    let signature = String::from_utf8(fixture("openssl-digest.signature.hex")).unwrap();
    assert!(verify(&key.der, message.as_bytes(), &signature));

    // Any change to what is signed, or to the signature, fails.
    let mut other = d.clone();
    other.previous_digest_signature = None;
    assert!(!verify(
        &key.der,
        string_to_sign(&other, &trawl_ingest::sha256_hex(&content)).as_bytes(),
        &signature
    ));
    let mut edited = content.clone();
    edited[10] ^= 1;
    assert!(!verify(
        &key.der,
        string_to_sign(&d, &trawl_ingest::sha256_hex(&edited)).as_bytes(),
        &signature
    ));
    let mut bad = signature.into_bytes();
    bad[0] = if bad[0] == b'0' { b'1' } else { b'0' };
    assert!(!verify(
        &key.der,
        message.as_bytes(),
        std::str::from_utf8(&bad).unwrap()
    ));
    assert!(!verify(&key.der, message.as_bytes(), "not hex"));
}

#[test]
fn a_chains_first_digest_signs_the_text_null() {
    let content = fixture("openssl-digest.json");
    let mut d: Digest = serde_json::from_slice(&content).unwrap();
    d.previous_digest_signature = None;
    assert!(string_to_sign(&d, "ab").ends_with("\nab\nnull"));
}

#[test]
fn the_generators_signer_verifies_and_another_key_does_not() {
    let signer = trawl_gen::Signer::test_key();
    let other = trawl_gen::Signer::new(&fixture("test-key-2.rsa.der")).unwrap();
    let message = b"2024-03-01T01:00:00Z\nb/k\nabc\nnull";
    let sig = signer.sign(message);
    assert!(verify(signer.public_key_der(), message, &sig));
    assert!(!verify(other.public_key_der(), message, &sig));
    // The generator's key is the OpenSSL fixture's key 1: the same public key.
    let mut keys = PublicKeys::default();
    keys.add_file(&trawl_testkit::fixtures().join("custody/openssl-keys.json"))
        .unwrap();
    assert_eq!(
        keys.get("openssl-test-key-1")[0].der,
        signer.public_key_der()
    );
}

#[test]
fn keys_files_that_are_not_list_public_keys_output_are_refused_by_name() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("keys.json");
    std::fs::write(
        &path,
        r#"{"PublicKeyList":[{"Value":"%%%","Fingerprint":"f"}]}"#,
    )
    .unwrap();
    let e = PublicKeys::default()
        .add_file(&path)
        .unwrap_err()
        .to_string();
    assert!(e.contains("keys.json") && e.contains("not base64"), "{e}");
    std::fs::write(&path, "[]").unwrap();
    let e = PublicKeys::default()
        .add_file(&path)
        .unwrap_err()
        .to_string();
    assert!(e.contains("list-public-keys"), "{e}");
    // Epoch seconds, as `--cli-timestamp-format none` prints, are times too.
    std::fs::write(&path, r#"{"PublicKeyList":[{"Value":"AAAA","Fingerprint":"f","ValidityStartTime":1704067200,"ValidityEndTime":null}]}"#).unwrap();
    let mut keys = PublicKeys::default();
    keys.add_file(&path).unwrap();
    assert!(
        !keys.get("f")[0]
            .valid_at(trawl_custody::digest::parse_time("2023-12-31T00:00:00Z").unwrap())
    );
}
