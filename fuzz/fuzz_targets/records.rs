//! Bytes as the members of a Records array (the record parser and Arrow builders): see trawl_ingest::fuzz::records.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| trawl_ingest::fuzz::records(data));
