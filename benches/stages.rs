//! Per-stage ingest throughput on a seeded trail: inflate, parse (simd-json tape),
//! parse + Arrow build (the encoder), sort + Parquet write.
//!
//!     cargo bench -p trawl-lake --bench stages -- [EVENTS]
//!
//! Prints the median of 5 runs per stage in MB/s of decompressed JSON and events/s.

#![allow(clippy::unwrap_used, reason = "a test's unwrap is its failure message")]

use std::io::Write;
use std::time::{Duration, Instant};

use trawl_ingest::{ReadOptions, read_bytes};

fn median(mut runs: Vec<Duration>) -> Duration {
    runs.sort();
    runs[runs.len() / 2]
}

fn time<T>(mut f: impl FnMut() -> T) -> Duration {
    median(
        (0..5)
            .map(|_| {
                let t = Instant::now();
                std::hint::black_box(f());
                t.elapsed()
            })
            .collect(),
    )
}

fn report(stage: &str, d: Duration, json_bytes: usize, events: usize) {
    let s = d.as_secs_f64();
    println!(
        "{stage:28} {:8.1} ms {:9.1} MB/s {:11.0} events/s",
        s * 1e3,
        json_bytes as f64 / 1e6 / s,
        events as f64 / s
    );
}

fn main() {
    let events: usize = std::env::args()
        .skip(1)
        .find_map(|a| a.parse().ok())
        .unwrap_or(50_000);
    let spec = trawl_gen::TrailSpec {
        events,
        days: 1,
        duplicate_rate: 0.0,
        ..Default::default()
    };
    let records: Vec<serde_json::Value> = trawl_gen::records(&spec).collect();
    let json = serde_json::to_vec(&serde_json::json!({ "Records": records })).unwrap();
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::new(6));
    gz.write_all(&json).unwrap();
    let gz = gz.finish().unwrap();
    println!(
        "{events} events, {:.1} MB of JSON, {:.1} MB gzipped; one core",
        json.len() as f64 / 1e6,
        gz.len() as f64 / 1e6
    );

    report(
        "inflate (flate2 zlib-rs)",
        time(|| {
            trawl_ingest::decode("bench", gz.clone(), u64::MAX)
                .unwrap()
                .len()
        }),
        json.len(),
        events,
    );
    report(
        "parse (simd-json tape)",
        time(|| simd_json::to_tape(&mut json.clone()).unwrap().0.len()),
        json.len(),
        events,
    );
    // The object read whole (as objects under 2 MiB are), then streamed (as bigger ones are).
    let opts = ReadOptions {
        stream_min_bytes: u64::MAX,
        ..ReadOptions::default()
    };
    report(
        "parse + Arrow build",
        time(|| read_bytes("bench", json.clone(), &opts).unwrap().records),
        json.len(),
        events,
    );
    let streamed = ReadOptions {
        stream_min_bytes: 1,
        ..ReadOptions::default()
    };
    report(
        "inflate + parse + Arrow build, streamed",
        time(|| read_bytes("bench", gz.clone(), &streamed).unwrap().records),
        json.len(),
        events,
    );
    let batches = read_bytes("bench", json.clone(), &opts).unwrap().batches;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("bench.parquet");
    report(
        "sort + Parquet write (zstd)",
        time(|| {
            trawl_lake::writer::write_file(
                &path,
                batches.clone(),
                &trawl_lake::LayoutOptions::default(),
            )
            .unwrap()
            .bytes
        }),
        json.len(),
        events,
    );
    let size = std::fs::metadata(&path).unwrap().len();
    println!(
        "Parquet file: {:.1} MB ({:.1}% of the JSON, {:.0} bytes/event)",
        size as f64 / 1e6,
        size as f64 * 100.0 / json.len() as f64,
        size as f64 / events as f64
    );
}
