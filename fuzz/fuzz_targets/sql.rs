//! Text as SQL through the whole front end, planned and optimised, never run: see trawl_query::fuzz::sql_front_end.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    trawl_query::fuzz::sql_front_end(data);
});
