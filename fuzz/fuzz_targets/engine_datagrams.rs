//! The `engine_datagrams` fuzz target: see [`omdisc_fuzz::engine`].
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| omdisc_fuzz::engine::check(data));
