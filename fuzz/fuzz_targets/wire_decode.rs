//! The `wire_decode` fuzz target: see [`omdisc_fuzz::wire`].
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| omdisc_fuzz::wire::check(data));
