//! # omdisc-fuzz
//!
//! The checks behind omdisc's cargo-fuzz targets, as a library so that they are unit-tested
//! on stable (`cargo test --no-default-features`) and the targets in `fuzz_targets/` stay
//! one line each:
//!
//! - [`wire`]: `wire_decode` — [`Message::decode`](omdisc_core::Message::decode) with and
//!   without a key, and re-encoding of what decodes;
//! - [`scenario`] and [`engine`]: `engine_datagrams` — an engine with a small table driven
//!   through a sequence of datagrams, timeouts, leaves and key changes decoded from the
//!   input, with its invariants checked after every step;
//! - [`map`]: `map_files` — the binary map reader, the setpe line parser, and rendering a
//!   decoded map back;
//! - [`seeds`]: the committed seed corpus (`fuzz/seeds/<target>/`), made from the shared wire
//!   test vectors.
//!
//! A failed check panics (libFuzzer reports a panic as a crash and saves the input).

#![forbid(unsafe_code)]
#![deny(missing_docs, unreachable_pub)]

pub mod engine;
pub mod keys;
pub mod map;
pub mod scenario;
pub mod seeds;
pub mod wire;

/// The fuzz targets, by name (the binaries in `fuzz_targets/`).
pub const TARGETS: &[&str] = &["wire_decode", "engine_datagrams", "map_files"];
