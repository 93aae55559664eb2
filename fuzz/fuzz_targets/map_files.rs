//! The `map_files` fuzz target: see [`omdisc_fuzz::map`].
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| omdisc_fuzz::map::check(data));
