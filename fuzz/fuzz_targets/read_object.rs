//! Any bytes as one whole object (gzip or not, any envelope): see trawl_ingest::fuzz::read_object.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| trawl_ingest::fuzz::read_object(data));
