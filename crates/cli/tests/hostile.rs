//! Hostile and unusual objects: bombs of several shapes, high-ratio objects around the
//! streaming threshold, a record far over `--max-record-bytes`, a big JSON Lines file. Each
//! is ingested by the binary, with the outcome checked and the peak memory of every run
//! held under the bound the README promises. (`benches/hostile.py` runs the full-size cases
//! and records each one's peak; this test keeps them at a size CI affords, every one still
//! far over what reading the object whole would take.)

#![allow(clippy::unwrap_used, reason = "a test's unwrap is its failure message")]

use std::io::Write;
use std::path::Path;

use trawl_testkit::{run_measured, stderr, stdout, trawl};

const BIN: &str = env!("CARGO_BIN_EXE_trawl");

/// The bound on one `trawl ingest`'s resident memory, whatever the input.
const MAX_RSS: u64 = 512 << 20;

const MIB: usize = 1 << 20;

/// A gzip object whose text is each part repeated so many times: each distinct part is
/// compressed once and its member repeated (gzip members concatenate into one text).
fn gz(parts: &[(&[u8], usize)]) -> Vec<u8> {
    let mut out = Vec::new();
    for (text, times) in parts {
        let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        e.write_all(text).unwrap();
        let member = e.finish().unwrap();
        for _ in 0..*times {
            out.extend_from_slice(&member);
        }
    }
    out
}

fn event(id: &str) -> String {
    format!(
        r#"{{"eventVersion":"1.08","eventTime":"2024-03-01T12:00:00Z","eventSource":"s3.amazonaws.com","eventName":"GetObject","awsRegion":"us-east-1","eventID":"{id}","requestParameters":{{"bucketName":"b","key":"k/{id}"}}}}"#
    )
}

/// Ingests `name` holding `bytes` into a fresh lake: the summary and the exit code.
fn ingest(dir: &Path, name: &str, bytes: &[u8]) -> (serde_json::Value, Option<i32>) {
    let case = dir.join(name.replace('.', "-"));
    let src = case.join("src");
    std::fs::create_dir_all(&src).unwrap();
    std::fs::write(src.join(name), bytes).unwrap();
    let (o, peak) = run_measured(
        trawl(BIN)
            .args(["ingest", "--json", "--progress", "never", "--lake"])
            .arg(case.join("lake"))
            .arg(&src),
    );
    eprintln!(
        "{name}: {} bytes as stored, peak RSS {} MiB",
        bytes.len(),
        peak >> 20
    );
    assert!(peak > 0, "{name}: no memory reading");
    assert!(
        peak <= MAX_RSS,
        "{name}: trawl ingest peaked at {} MiB (bound {} MiB); {}",
        peak >> 20,
        MAX_RSS >> 20,
        stderr(&o)
    );
    let summary = serde_json::from_str(&stdout(&o))
        .unwrap_or_else(|e| panic!("{name}: {e}: {}{}", stdout(&o), stderr(&o)));
    std::fs::remove_dir_all(&case).unwrap();
    (summary, o.status.code())
}

fn quarantined(summary: &serde_json::Value) -> Vec<String> {
    summary["quarantined"]
        .as_array()
        .unwrap()
        .iter()
        .map(|q| q["reason"].as_str().unwrap().to_string())
        .collect()
}

#[test]
fn hostile_objects_stay_within_the_memory_bound() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let blanks = vec![b' '; 64 * MIB];

    // 768 MiB of whitespace between two events, from 0.8 MB of gzip: both events kept.
    let head = format!("{{\"Records\":[{},", event("w1"));
    let tail = format!("{}]}}", event("w2"));
    let bytes = gz(&[(head.as_bytes(), 1), (&blanks, 12), (tail.as_bytes(), 1)]);
    let (s, code) = ingest(dir, "whitespace.json.gz", &bytes);
    assert_eq!(
        (s["events_stored"].as_u64(), code),
        (Some(2), Some(0)),
        "{s}"
    );

    // The same whitespace after `{"Records":[` and nothing else: quarantined as truncated.
    let bytes = gz(&[(b"{\"Records\":[", 1), (&blanks, 12)]);
    let (s, code) = ingest(dir, "open-array.json.gz", &bytes);
    assert_eq!(code, Some(1));
    assert!(quarantined(&s)[0].contains("truncated"), "{s}");

    // One record with a 640 MiB string between two good ones: those two are kept, the
    // long one is a bad record named with its size.
    let long_head = format!(
        "{{\"Records\":[{},{{\"eventID\":\"g\",\"requestParameters\":{{\"x\":\"",
        event("g1")
    );
    let long_tail = format!("\"}}}},{}]}}", event("g2"));
    let letters = vec![b'A'; 64 * MIB];
    let bytes = gz(&[
        (long_head.as_bytes(), 1),
        (&letters, 10),
        (long_tail.as_bytes(), 1),
    ]);
    let (s, code) = ingest(dir, "giant-string.json.gz", &bytes);
    assert_eq!(
        (s["events_stored"].as_u64(), s["bad_records"].as_u64(), code),
        (Some(2), Some(1), Some(1)),
        "{s}"
    );

    // 640 MiB of `[`: nesting that never closes, quarantined.
    let brackets = vec![b'['; 64 * MIB];
    let bytes = gz(&[(b"{\"Records\":[", 1), (&brackets, 10)]);
    let (s, code) = ingest(dir, "deep.json.gz", &bytes);
    assert_eq!(
        (s["events_stored"].as_u64(), code),
        (Some(0), Some(1)),
        "{s}"
    );
    assert_eq!(quarantined(&s).len(), 1, "{s}");

    // Ten million empty records and one event: the event kept, the others counted.
    let empties = "{},".repeat(MIB);
    let tail = format!("{}]}}", event("t1"));
    let bytes = gz(&[
        (b"{\"Records\":[", 1),
        (empties.as_bytes(), 10),
        (tail.as_bytes(), 1),
    ]);
    let (s, code) = ingest(dir, "tiny-records.json.gz", &bytes);
    assert_eq!(
        (s["events_stored"].as_u64(), s["bad_records"].as_u64(), code),
        (Some(1), Some(10 * MIB as u64), Some(1)),
        "{s}"
    );

    // High-ratio objects just under and just over the streaming threshold (16 MiB of text).
    for (name, pad) in [
        ("under.json.gz", 16 * MIB - 4096),
        ("over.json.gz", 16 * MIB + 4096),
    ] {
        let text = format!(
            "{{\"Records\":[{},{}{}]}}",
            event(&format!("{name}-1")),
            " ".repeat(pad),
            event(&format!("{name}-2"))
        );
        let (s, code) = ingest(dir, name, &gz(&[(text.as_bytes(), 1)]));
        assert_eq!(
            (s["events_stored"].as_u64(), code),
            (Some(2), Some(0)),
            "{s}"
        );
    }

    // 600 MB of JSON Lines, plain: streamed line by line from the file.
    let pad = "p".repeat(4000);
    let mut lines = Vec::with_capacity(620 * MIB);
    let mut n = 0u64;
    while lines.len() < 600 * MIB {
        let line = event(&format!("l{n}")).replace(
            "\"bucketName\":\"b\"",
            &format!("\"bucketName\":\"b\",\"pad\":\"{pad}\""),
        );
        lines.extend_from_slice(line.as_bytes());
        lines.push(b'\n');
        n += 1;
    }
    let (s, code) = ingest(dir, "big.jsonl", &lines);
    assert_eq!(
        (s["events_stored"].as_u64(), code),
        (Some(n), Some(0)),
        "{s}"
    );
}
