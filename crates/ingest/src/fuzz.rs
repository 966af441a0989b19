//! The bodies of the fuzz targets in `fuzz/` (libFuzzer, nightly) and of the tests that run
//! them on stable over the fixtures and random input: each panics when an invariant breaks.

use std::io::Write;

use crate::{ReadOptions, decode, read_bytes, read_bytes_with};

/// Inflated bytes the targets allow an object (a bomb stops here, with an error).
const CAP: u64 = 8 << 20;

/// Any bytes as one whole object (gzip or not, any envelope): reading never panics, the
/// rows stored are the events counted, and every stored row rebuilds to a JSON object.
/// Streamed (as big objects are), the object gives the same rows, records and bad records
/// whenever both ways succeed; when only the whole read succeeds, the streamed rows are a
/// prefix of its rows.
pub fn read_object(data: &[u8]) {
    let opts = ReadOptions {
        max_object_bytes: CAP,
        stream_min_bytes: u64::MAX,
        ..ReadOptions::default()
    };
    let whole = read_bytes("fuzz://object", data.to_vec(), &opts);
    if let Ok(out) = &whole {
        let rows: usize = out.batches.iter().map(|b| b.num_rows()).sum();
        assert_eq!(rows, out.records, "rows stored vs events counted");
        for b in &out.batches {
            let records = trawl_schema::rebuild_batch(b).expect("a stored row rebuilds");
            assert!(records.iter().all(|r| r.is_object()));
        }
    }
    // Small chunks, so that objects of a few events already stream in several.
    let opts = ReadOptions {
        stream_min_bytes: 1,
        stream_chunk_bytes: 64,
        ..opts
    };
    let mut emitted = Vec::new();
    let streamed = read_bytes_with("fuzz://object", data.to_vec(), &opts, &mut |b| {
        emitted.push(b)
    });
    let rows = |batches: &[arrow::array::RecordBatch]| -> Vec<serde_json::Value> {
        batches
            .iter()
            .flat_map(|b| trawl_schema::rebuild_batch(b).expect("a stored row rebuilds"))
            .collect()
    };
    let Ok(whole) = whole else { return };
    let whole_rows = rows(&whole.batches);
    match streamed {
        Ok(mut out) => {
            emitted.append(&mut out.batches);
            assert_eq!(rows(&emitted), whole_rows, "streamed rows vs whole rows");
            assert_eq!(out.records, whole.records, "streamed vs whole records");
            let bad = |o: &crate::ObjectOutput| -> Vec<usize> {
                o.bad_records.iter().map(|b| b.index).collect()
            };
            assert_eq!(bad(&out), bad(&whole), "streamed vs whole bad records");
        }
        Err(_) => {
            let got = rows(&emitted);
            assert_eq!(got[..], whole_rows[..got.len().min(whole_rows.len())]);
            assert!(
                got.len() <= whole_rows.len(),
                "streamed more rows than whole"
            );
        }
    }
}

/// `data` as the members of a `Records` array: steers the fuzzer into the record parser and
/// the Arrow builders rather than the envelope detector.
pub fn records(data: &[u8]) {
    let mut text = b"{\"Records\":[".to_vec();
    text.extend_from_slice(data);
    text.extend_from_slice(b"]}");
    read_object(&text);
}

/// The gzip reader: any bytes decode or fail without panicking and never beyond the cap;
/// `data` gzipped (as one member, or split in two members) comes back whole.
pub fn gzip(data: &[u8]) {
    if let Ok(out) = decode("fuzz://raw", data.to_vec(), CAP) {
        assert!(out.len() as u64 <= CAP);
    }
    let gz = |part: &[u8]| {
        let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        e.write_all(part).expect("in memory");
        e.finish().expect("in memory")
    };
    let (a, b) = data.split_at(data.len() / 2);
    let mut two = gz(a);
    two.extend(gz(b));
    for packed in [gz(data), two] {
        // A UTF-8 byte order mark at the start is dropped, and blank text is "empty".
        let want = data.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(data);
        match decode("fuzz://gz", packed, CAP) {
            Ok(out) => assert_eq!(out, want, "gzip round trip"),
            Err(e) => assert!(want.iter().all(u8::is_ascii_whitespace), "{e}"),
        }
    }
}
