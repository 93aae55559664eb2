//! `cargo xtask test`: every check CI runs, as a list of stages. Adding a stage is one row
//! in `STAGES`.

use std::process::ExitCode;

use crate::args::Args;
use crate::checks;
use crate::ensure;
use crate::no_std;
use crate::project::Project;
use crate::report::Report;
use crate::scenarios;

/// A stage's check: `Ok` with a short note on what it found, or `Err` with a one-line reason.
type CheckFn = fn(&Project) -> Result<String, String>;

/// One stage of `cargo xtask test`.
struct Stage {
    name: &'static str,
    about: &'static str,
    run: CheckFn,
}

/// The stages, in the order they run. One row per stage (hence no rustfmt).
#[rustfmt::skip]
const STAGES: &[Stage] = &[
    check("tools", "rustup targets, Debian packages and defmt-print, installed if missing", tools),
    check("fmt", "cargo fmt --check, workspace and excluded crates", checks::fmt),
    check("clippy", "cargo clippy --workspace --all-targets -D warnings", checks::clippy),
    check("tests", "workspace tests (cargo-nextest if installed)", checks::tests),
    check("doctests", "cargo test --doc --workspace", checks::doctests),
    check("docs", "man pages render without warnings and match --help; README starts with the set-up commands", crate::docs_check::check),
    check("tap", "omdisc-tap (omdisc-std with feature smoltcp): clippy and its tests", checks::omdisc_tap),
    check("no_std", "omdisc-core and omdisc-smoltcp for thumbv7em-none-eabihf, with and without defmt; no std-shell dependency", no_std::cross_build),
    check("size", "sizes of minimal thumbv7em images (the engine, and the engine over smoltcp); omdiscd, showmap, omdisc-tap each < 2 MiB stripped", sizes),
    check("scenarios", "multi-host scenarios in network namespaces (root)", scenarios::stage),
    check("smoltcp-interop", "omdisc-tap (smoltcp on a TAP) with omdiscd nodes (smoltcp-*)", |p| scenarios::group_stage(p, "smoltcp")),
    check("image-checks", "RISC-V image crate: fmt, clippy (image and host), host unit tests; .text/.bss limits, measured stack", crate::image::checks),
    check("boot-image", "RISC-V image under QEMU joins a cluster (boot-image*)", |p| scenarios::group_stage(p, "boot-image")),
    check("mcu-image", "Cortex-M4F MPS2 image: fmt, clippy, host tests; flash/RAM budget with the measured stack; under QEMU joins a cluster (mcu-image*)", crate::mps2::stage),
    check("debian-service", "the .deb (lintian-clean) as a real systemd service in two containers (debian-*)", |p| scenarios::group_stage(p, "debian")),
    check("fuzz-smoke", "fuzz harness checks, then every cargo-fuzz target for 25 s at once (nightly)", crate::fuzz::smoke),
    check("leftovers", "no namespace or process of this run is left", leftovers),
];

/// Installs missing rustup targets, Debian packages and the defmt decoder.
fn tools(project: &Project) -> Result<String, String> {
    let targets = ensure::rust_targets(ensure::RUST_TARGETS)?;
    let tools = ensure::tools(ensure::TOOLS)?;
    let defmt_print = crate::mps2::ensure_defmt_print(project)?;
    Ok(format!("{targets}; {tools}; {}", defmt_print.display()))
}

/// The thumbv7em image sizes, then the stripped sizes of the Linux programs.
fn sizes(project: &Project) -> Result<String, String> {
    let images = no_std::size_report(project)?;
    let programs = crate::program_sizes::check(project)?;
    Ok(format!("{images}; {programs}"))
}

/// Fails if `ip netns list` still shows a namespace of this run, or a child is still running.
fn leftovers(_: &Project) -> Result<String, String> {
    scenarios::no_leftovers()?;
    Ok("ip netns list has none of ours; no child process left".into())
}

/// A stage that runs `run`.
const fn check(name: &'static str, about: &'static str, run: CheckFn) -> Stage {
    Stage { name, about, run }
}

/// Runs the stages (all, or those picked with `--only`/`--skip`) and prints the summary.
pub fn run(project: &Project, mut args: Args) -> ExitCode {
    match parse(&mut args) {
        Ok(Some(options)) => run_stages(project, &options),
        Ok(None) => ExitCode::SUCCESS,
        Err(why) => {
            eprintln!("cargo xtask test: {why}");
            ExitCode::from(2)
        }
    }
}

/// Which stages to run and how.
struct Options {
    only: Vec<String>,
    skip: Vec<String>,
    fail_fast: bool,
}

/// Parses the options; `None` when the request was only for help or the list.
fn parse(args: &mut Args) -> Result<Option<Options>, String> {
    if args.flag("--help") || args.flag("-h") {
        println!(
            "usage: cargo xtask test [--list] [--only STAGE,..] [--skip STAGE,..] [--fail-fast]"
        );
        return Ok(None);
    }
    if args.flag("--list") {
        for stage in STAGES {
            println!("{:<16} {}", stage.name, stage.about);
        }
        return Ok(None);
    }
    let options = Options {
        only: args.list("--only")?,
        skip: args.list("--skip")?,
        fail_fast: args.flag("--fail-fast"),
    };
    for name in options.only.iter().chain(&options.skip) {
        if !STAGES.iter().any(|s| s.name == name) {
            return Err(format!("unknown stage `{name}` (see --list)"));
        }
    }
    std::mem::replace(args, Args::new(Vec::new())).finish()?;
    Ok(Some(options))
}

fn run_stages(project: &Project, options: &Options) -> ExitCode {
    let mut report = Report::new("cargo xtask test", options.fail_fast);
    match project.target_dir() {
        Ok(dir) => println!(
            "project {}, target dir {}",
            project.root().display(),
            dir.display()
        ),
        Err(why) => println!("project {}: {why}", project.root().display()),
    }
    for stage in STAGES {
        let picked = options.only.is_empty() || options.only.iter().any(|n| n == stage.name);
        if !picked || options.skip.iter().any(|n| n == stage.name) {
            continue;
        }
        report.stage(stage.name, || (stage.run)(project));
    }
    report.finish()
}
