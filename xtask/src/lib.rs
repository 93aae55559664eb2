//! The `xtask` library: what `cargo xtask` subcommands are made of. The binary
//! (`main.rs`) only dispatches to the modules here.
//!
//! - [`test`](mod@test): the stages of `cargo xtask test`; [`checks`], [`no_std`], [`scenarios`] are
//!   stage implementations; [`report`] runs stages with timings and a summary;
//! - [`demo`]: `cargo xtask demo`, a 6-node cluster converging in namespaces;
//! - [`deb`]: `cargo xtask deb`, the Debian package, checked by lintian;
//! - [`testbed`]: network namespaces, bridges, veths and process guards for multi-host tests;
//! - [`ensure`]: installs missing rustup targets and Debian packages; [`background`]: slow
//!   preparations started early on low-priority threads and joined by the stage that needs them;
//! - [`image`]: the bare-metal RISC-V boot image: build, sizes, QEMU on a TAP;
//!   [`riscv_budget`]: its footprint limits; [`stack_size`]: both boot images' stacks sized
//!   to their measured high-water marks;
//! - [`fuzz`]: `cargo xtask fuzz` and the `fuzz-smoke` stage: the cargo-fuzz targets in `fuzz/`;
//! - [`bench`](mod@bench): `cargo xtask bench`, the performance figures against their baselines
//!   ([`bench_model`] and its [`bench_model_charts`], [`bench_loss`], [`bench_ingest`],
//!   [`bench_gmond`]), reading processes through [`proc_stats`], drawing their curves with
//!   [`plot`];
//! - [`project`], [`args`], [`sizes`], [`bloat`]: paths and commands, argument handling, ELF
//!   sizes and what the bytes are spent on.
#![warn(missing_docs, unreachable_pub)]

pub mod args;
pub mod background;
pub mod bench;
pub mod bench_gmond;
pub mod bench_ingest;
pub mod bench_loss;
pub mod bench_model;
pub mod bench_model_charts;
pub mod bench_swim_chart;
pub mod bloat;
pub mod checks;
pub mod deb;
pub mod demo;
pub mod docs_check;
pub mod ensure;
pub mod fuzz;
pub mod image;
pub mod mps2;
pub mod no_std;
pub mod path_remap;
pub mod plot;
pub mod proc_stats;
pub mod program_sizes;
pub mod project;
pub mod report;
pub mod riscv_budget;
pub mod scenarios;
pub mod sizes;
pub mod stack_size;
pub mod test;
pub mod testbed;
