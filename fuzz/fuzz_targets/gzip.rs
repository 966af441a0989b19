//! The gzip reader, and gzip round trips: see trawl_ingest::fuzz::gzip.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| trawl_ingest::fuzz::gzip(data));
