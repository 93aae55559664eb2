//! `cargo xtask`: the project's automation (tests and scenarios, demo, Debian package, benchmarks,
//! boot images, fuzzing).
//!
//! This file only dispatches: every subcommand lives in its own module of the `xtask`
//! library and is one row of [`COMMANDS`]. To add one, write `pub mod NAME;` in `lib.rs`
//! with a `pub fn run(&Project, Args) -> ExitCode`, and add a row here.

use std::process::ExitCode;

use xtask::args::Args;
use xtask::project::Project;
use xtask::{bench, deb, demo, fuzz, image, scenarios, test};

/// One `cargo xtask` subcommand.
struct Command {
    /// The word typed after `cargo xtask`.
    name: &'static str,
    /// One-line description for `cargo xtask help`.
    about: &'static str,
    /// Entry point.
    run: fn(&Project, Args) -> ExitCode,
}

/// Every subcommand, in the order `help` lists them.
const COMMANDS: &[Command] = &[
    Command {
        name: "test",
        about:
            "everything CI checks: fmt, clippy, tests, no_std builds, sizes, namespace scenarios",
        run: test::run,
    },
    Command {
        name: "scenario",
        about: "run namespace scenarios by name (--list, --all)",
        run: scenarios::run,
    },
    Command {
        name: "demo",
        about: "a real 6-node cluster in network namespaces, converging (root)",
        run: demo::run,
    },
    Command {
        name: "deb",
        about: "the Debian package target/debian/omdisc_*.deb (cargo-deb), checked by lintian",
        run: deb::run,
    },
    Command {
        name: "bench",
        about: "ingest and protocol benchmarks against their baselines (--peer gmond)",
        run: bench::run,
    },
    Command {
        name: "image",
        about: "build the bare-metal RISC-V boot image and print its size",
        run: image::run_image,
    },
    Command {
        name: "qemu",
        about: "boot the RISC-V image under QEMU on a TAP",
        run: image::run_qemu,
    },
    Command {
        name: "fuzz",
        about: "run the cargo-fuzz targets for N seconds each (--seconds N, --target NAME)",
        run: fuzz::run,
    },
];

fn main() -> ExitCode {
    let mut argv = std::env::args().skip(1);
    let Some(name) = argv.next() else {
        print_help();
        return ExitCode::from(2);
    };
    if matches!(name.as_str(), "help" | "-h" | "--help") {
        print_help();
        return ExitCode::SUCCESS;
    }
    let Some(command) = COMMANDS.iter().find(|c| c.name == name) else {
        eprintln!("cargo xtask: unknown subcommand `{name}` (see `cargo xtask help`)");
        return ExitCode::from(2);
    };
    (command.run)(&Project::from_manifest_dir(), Args::new(argv.collect()))
}

fn print_help() {
    println!(
        "usage: cargo xtask <command> [options]   (cargo xtask <command> --help for options)\n"
    );
    for command in COMMANDS {
        println!("  {:<9} {}", command.name, command.about);
    }
}
