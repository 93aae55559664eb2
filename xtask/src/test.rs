//! `cargo xtask test`: every check CI runs, as a list of stages. Adding a stage is one row
//! in `STAGES`.

use std::process::ExitCode;
use std::sync::OnceLock;

use crate::args::Args;
use crate::background::{self, Step};
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
    check("tools", "starts in the background what is missing: Debian packages, rustup targets, the nightly toolchain, the Debian service's packages and root, defmt-print, cargo-deb, cargo-fuzz and the fuzz build", tools),
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

/// The stages that need neither the Debian packages nor the cross targets, so they run
/// while the `tools` stage's background lane installs them.
const NEED_NO_TOOLS: &[&str] = &["tools", "fmt", "clippy", "tests", "doctests"];

/// The stages this run picked (set before the first stage runs), so that the `tools` stage
/// prepares only what they need.
static PICKED: OnceLock<Vec<&'static str>> = OnceLock::new();

fn picked(stage: &str) -> bool {
    PICKED.get().is_some_and(|p| p.contains(&stage))
}

/// Starts what the stages need and a fresh machine lacks, in the background: in one lane
/// (network-bound, at normal priority), the Debian packages and rustup targets (the stages after `doctests`
/// wait for them), the nightly toolchain, the Debian service's packages and root; in
/// another, at the lowest CPU priority, the `cargo install`ed tools and the fuzz targets'
/// build. Each step prints how it went and how long it took when a stage waits for it, and
/// the run ends with a table of them all.
fn tools(project: &Project) -> Result<String, String> {
    start_lanes(project)
}

/// Starts the background lanes for the picked stages; says what they will do.
fn start_lanes(project: &Project) -> Result<String, String> {
    let mut downloads = vec![
        Step::new("packages", |log| {
            ensure::tools_with(ensure::TOOLS, &|c| log.run(c))
        }),
        Step::new("rust-targets", |log| {
            ensure::rust_targets_with(ensure::RUST_TARGETS, &|c| log.run(c))
        }),
    ];
    let mut installs = Vec::new();
    if picked("fuzz-smoke") {
        downloads.push(Step::new("nightly", |log| {
            crate::fuzz::ensure_nightly(&|c| log.run(c))
        }));
    }
    if picked("debian-service") {
        // lintian (with its Perl), debootstrap, systemd-container: a minute of apt.
        downloads.push(Step::new("debian-packages", |log| {
            let packages = [crate::deb::TOOLS, scenarios::DEBIAN_TOOLS].concat();
            ensure::tools_with(&packages, &|c| log.run(c))
        }));
        downloads.push(Step::new("debian-root", |_| {
            scenarios::prepare_debian_root(&Project::from_manifest_dir())
        }));
    }
    if picked("mcu-image") {
        installs.push(Step::new("defmt-print", |log| {
            crate::mps2::install_defmt_print(&Project::from_manifest_dir(), &|c| log.run(c))
                .map(|path| path.display().to_string())
        }));
    }
    if picked("debian-service") {
        installs.push(Step::new("cargo-deb", |log| {
            crate::deb::ensure_cargo_deb(&Project::from_manifest_dir(), &|c| log.run(c))
        }));
    }
    if picked("fuzz-smoke") {
        installs.push(Step::new("cargo-fuzz", |log| {
            crate::fuzz::install_cargo_fuzz(&|c| log.run(c))
        }));
        installs.push(Step::new("fuzz-build", |log| {
            crate::fuzz::prebuild(&Project::from_manifest_dir(), &|c| log.run(c))
        }));
    }
    let logs = project.scratch_dir("background")?;
    let mut started = Vec::new();
    // The downloads keep the normal priority: debootstrap's and apt's package scripts need
    // some CPU, and at nice 10 a loaded machine starved a debootstrap past its 600 s.
    for (lane, nice, steps) in [("downloads", 0, downloads), ("installs", 19, installs)] {
        if steps.is_empty() {
            continue;
        }
        let names: Vec<&str> = steps.iter().map(|s| s.name).collect();
        background::start_lane(lane, nice, logs.join(format!("{lane}.log")), steps)?;
        started.push(format!("{lane}: {}", names.join(", ")));
    }
    Ok(if started.is_empty() {
        "nothing".to_string()
    } else {
        started.join("; ")
    })
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
    let picked: Vec<&Stage> = STAGES
        .iter()
        .filter(|stage| options.only.is_empty() || options.only.iter().any(|n| n == stage.name))
        .filter(|stage| !options.skip.iter().any(|n| n == stage.name))
        .collect();
    let _ = PICKED.set(picked.iter().map(|s| s.name).collect());
    for stage in picked {
        report.stage(stage.name, || {
            if !NEED_NO_TOOLS.contains(&stage.name) {
                // Printed by the first stage that waits; the rest find them done.
                background::wait("packages");
                background::wait("rust-targets");
            }
            (stage.run)(project)
        });
    }
    background::wait_all();
    report.finish()
}
