//! `cargo xtask fuzz` and the `fuzz-smoke` stage of `cargo xtask test`: the cargo-fuzz
//! targets in `fuzz/` (a workspace of its own), built with the nightly toolchain and run
//! from a fresh working corpus seeded with the committed `fuzz/seeds/<target>/`.
//!
//! The targets are built without a sanitizer (the fuzzed code and the harness are safe Rust,
//! `forbid(unsafe_code)`, so AddressSanitizer would only slow the build and the runs) and
//! with debug assertions, so arithmetic overflow is a crash. cargo-fuzz is installed with
//! `cargo install cargo-fuzz --locked` when `cargo fuzz --version` fails, and the nightly
//! toolchain with `rustup toolchain install nightly --profile minimal` when it is missing
//! (`cargo xtask test` starts both, and the targets' build, in the background: see
//! [`crate::background`]). The working corpus (`fuzz/corpus/`), crash inputs
//! (`fuzz/artifacts/`) and build (`fuzz/target/`) are git-ignored; libFuzzer's output goes
//! to a log file per target, and the summary says how many inputs each target executed and
//! shows any crash with the command to reproduce it.

use std::fs::{self, File};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitCode, Stdio};
use std::time::{Duration, Instant};

use crate::args::Args;
use crate::ensure::Runner;
use crate::project::{run as run_command, show, Project};
use crate::report::duration;

/// The fuzz crate, relative to the project root.
pub const FUZZ_DIR: &str = "fuzz";
/// The fuzz targets (the binaries in `fuzz/fuzz_targets/`).
pub const TARGETS: &[&str] = &["wire_decode", "engine_datagrams", "map_files"];
/// How long `cargo xtask fuzz` runs each target by default.
const DEFAULT_SECONDS: u64 = 60;
/// The longest run accepted.
const MAX_SECONDS: u64 = 24 * 3600;
/// How long the `fuzz-smoke` stage runs each target (all three at once).
pub const SMOKE_SECONDS: u64 = 25;
/// Build options of every `cargo fuzz build/run`.
const BUILD_FLAGS: &[&str] = &["--sanitizer", "none", "--debug-assertions"];
/// Longest input libFuzzer generates (engine scenarios need room for many steps).
const MAX_INPUT_LEN: usize = 4096;
/// Seconds one input may run before libFuzzer reports it as a hang.
const INPUT_TIMEOUT_SECS: u64 = 10;
/// Grace period beyond the requested run time before a target is killed as stuck.
const STUCK_AFTER: Duration = Duration::from_secs(120);

/// What to fuzz and how.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Options {
    targets: Vec<String>,
    seconds: u64,
    parallel: bool,
}

/// `cargo xtask fuzz [--seconds N] [--target NAME,..] [--parallel]`.
pub fn run(project: &Project, mut args: Args) -> ExitCode {
    let options = match parse(&mut args) {
        Ok(Some(options)) => options,
        Ok(None) => return ExitCode::SUCCESS,
        Err(why) => {
            eprintln!("cargo xtask fuzz: {why}");
            return ExitCode::from(2);
        }
    };
    match fuzz(project, &options) {
        Ok(summary) => {
            println!("{summary}");
            ExitCode::SUCCESS
        }
        Err(why) => {
            eprintln!("cargo xtask fuzz: {why}");
            ExitCode::FAILURE
        }
    }
}

/// The `fuzz-smoke` stage: the harness's own checks on stable (fmt, clippy, its tests, which
/// include "the committed seeds are the test vectors"), then every target for
/// [`SMOKE_SECONDS`], all at once.
pub fn smoke(project: &Project) -> Result<String, String> {
    let started = Instant::now();
    harness_checks(project)?;
    let checks = duration(started.elapsed());
    crate::background::wait("fuzz-build");
    let options = Options {
        targets: TARGETS.iter().map(|t| t.to_string()).collect(),
        seconds: SMOKE_SECONDS,
        parallel: true,
    };
    let fuzzed = fuzz(project, &options)?;
    Ok(format!("harness checks {checks}; {fuzzed}"))
}

/// `cargo fmt --check`, clippy (`-D warnings`) and the tests of the fuzz crate's harness
/// library, on stable and without libFuzzer (`--no-default-features`).
fn harness_checks(project: &Project) -> Result<(), String> {
    let manifest = project.root().join(FUZZ_DIR).join("Cargo.toml");
    let target_dir = project.target_dir()?.join("fuzz-harness");
    let cargo = |args: &[&str]| {
        let mut command = project.cargo();
        command
            .args(args)
            .arg("--manifest-path")
            .arg(&manifest)
            .arg("--target-dir")
            .arg(&target_dir);
        command
    };
    run_command(
        project
            .cargo()
            .args(["fmt", "--check", "--manifest-path"])
            .arg(&manifest),
    )?;
    run_command(
        cargo(&["clippy", "--no-default-features", "--all-targets"]).args(["--", "-D", "warnings"]),
    )?;
    run_command(&mut cargo(&["test", "--no-default-features"]))
}

fn parse(args: &mut Args) -> Result<Option<Options>, String> {
    if args.flag("--help") || args.flag("-h") {
        println!(
            "usage: cargo xtask fuzz [--seconds N] [--target NAME,..] [--parallel]\n\n\
             Runs each cargo-fuzz target for N seconds (default {DEFAULT_SECONDS}), one after\n\
             another or, with --parallel, all at once. Targets: {}",
            TARGETS.join(", ")
        );
        return Ok(None);
    }
    let seconds = match args.value("--seconds")? {
        None => DEFAULT_SECONDS,
        Some(text) => text
            .parse::<u64>()
            .ok()
            .filter(|s| (1..=MAX_SECONDS).contains(s))
            .ok_or_else(|| format!("--seconds must be a number 1..={MAX_SECONDS}, not `{text}`"))?,
    };
    let mut targets = args.list("--target")?;
    for target in &targets {
        if !TARGETS.contains(&target.as_str()) {
            return Err(format!(
                "unknown target `{target}` (targets: {})",
                TARGETS.join(", ")
            ));
        }
    }
    if targets.is_empty() {
        targets = TARGETS.iter().map(|t| t.to_string()).collect();
    }
    let parallel = args.flag("--parallel");
    std::mem::replace(args, Args::new(Vec::new())).finish()?;
    Ok(Some(Options {
        targets,
        seconds,
        parallel,
    }))
}

/// Installs cargo-fuzz if needed, builds the targets, runs them; `Ok` with the summary when
/// no target crashed.
fn fuzz(project: &Project, options: &Options) -> Result<String, String> {
    let tool = ensure_cargo_fuzz()?;
    let started = Instant::now();
    run_command(nightly_fuzz(project).arg("build").args(BUILD_FLAGS))?;
    let build = started.elapsed();
    println!("fuzz targets built in {} ({tool})", duration(build));

    let logs = project.scratch_dir("fuzz")?;
    let mut runs = Vec::new();
    if options.parallel {
        let mut started = Vec::new();
        for target in &options.targets {
            match start(project, target, options.seconds, &logs) {
                Ok(s) => started.push(s),
                Err(why) => {
                    for mut s in started {
                        let _ = s.child.kill();
                        let _ = s.child.wait();
                    }
                    return Err(why);
                }
            }
        }
        for s in started {
            runs.push(finish(project, s)?);
        }
    } else {
        for target in &options.targets {
            let s = start(project, target, options.seconds, &logs)?;
            runs.push(finish(project, s)?);
        }
    }

    for r in &runs {
        println!("{}", r.line());
    }
    let crashed: Vec<&TargetRun> = runs.iter().filter(|r| r.crash.is_some()).collect();
    if let Some(first) = crashed.first() {
        for r in &crashed {
            if let Some(crash) = &r.crash {
                println!("\n{} crashed:\n{}", r.target, crash.details);
            }
        }
        return Err(format!(
            "{} of {} target(s) crashed, first {}: {}",
            crashed.len(),
            runs.len(),
            first.target,
            first.crash.as_ref().map_or("", |c| c.summary.as_str())
        ));
    }
    let counts: Vec<String> = runs
        .iter()
        .map(|r| format!("{} {}", r.target, executions_text(r.executions)))
        .collect();
    Ok(format!(
        "build {}; {} s each{}: {}",
        duration(build),
        options.seconds,
        if options.parallel { ", at once" } else { "" },
        counts.join(", ")
    ))
}

/// `cargo fuzz`, installing it first if `cargo fuzz --version` fails, and the nightly
/// toolchain it builds with (waiting for the `tools` stage's background installs, if
/// started). Returns its version.
fn ensure_cargo_fuzz() -> Result<String, String> {
    crate::background::wait("nightly");
    ensure_nightly(&run_command)?;
    crate::background::wait("cargo-fuzz");
    install_cargo_fuzz(&run_command)
}

/// Installs a minimal nightly toolchain (libFuzzer needs it) unless `cargo +nightly` works:
/// a fresh CI machine has stable only. `runner` runs the install. Returns what it did.
pub fn ensure_nightly(runner: Runner<'_>) -> Result<String, String> {
    let nightly = rustup_cargo()
        .args(["+nightly", "--version"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status();
    if nightly.is_ok_and(|s| s.success()) {
        return Ok("nightly present".into());
    }
    // No self-update: that is not ours to do, and it would download rustup again.
    runner(Command::new("rustup").stdin(Stdio::null()).args([
        "toolchain",
        "install",
        "nightly",
        "--profile",
        "minimal",
        "--no-self-update",
    ]))
    .map_err(|e| format!("the nightly toolchain is missing and could not be installed: {e}"))?;
    Ok("nightly installed".into())
}

/// Installs cargo-fuzz (`--locked`, the tools' cheap profile) unless `cargo fuzz
/// --version` works; `runner` runs the install. Returns its version line.
pub fn install_cargo_fuzz(runner: Runner<'_>) -> Result<String, String> {
    crate::ensure::cargo_subcommand(
        rustup_cargo,
        "fuzz",
        &["cargo-fuzz", "--locked"],
        None,
        runner,
    )
}

/// Builds the fuzz targets (`cargo +nightly fuzz build`, as [`fuzz`] builds them, so that
/// its build then has nothing to do), after installing what that needs; `runner` runs the
/// commands. The `tools` stage runs this in the background.
pub fn prebuild(project: &Project, runner: Runner<'_>) -> Result<String, String> {
    crate::background::wait_quietly("nightly");
    ensure_nightly(runner)?;
    let tool = install_cargo_fuzz(runner)?;
    runner(nightly_fuzz(project).arg("build").args(BUILD_FLAGS))?;
    Ok(format!("fuzz targets built ({tool})"))
}

/// The rustup proxy `cargo` (so that `+nightly` works), without the variables the running
/// cargo set for us (they name the stable toolchain and the workspace's target dir; cargo
/// fuzz builds in `fuzz/target`).
fn rustup_cargo() -> Command {
    let proxy = std::env::var_os("CARGO_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| Path::new(&h).join(".cargo")))
        .map(|home| home.join("bin").join("cargo"))
        .filter(|p| p.is_file())
        .unwrap_or_else(|| PathBuf::from("cargo"));
    let mut command = Command::new(proxy);
    for var in [
        "CARGO",
        "CARGO_TARGET_DIR",
        "CARGO_BUILD_TARGET_DIR",
        "RUSTUP_TOOLCHAIN",
        "RUSTC",
        "RUSTDOC",
    ] {
        command.env_remove(var);
    }
    command.stdin(Stdio::null());
    command
}

/// `cargo +nightly fuzz` in the project root.
fn nightly_fuzz(project: &Project) -> Command {
    let mut command = rustup_cargo();
    command
        .current_dir(project.root())
        .args(["+nightly", "fuzz"]);
    command
}

/// A target whose libFuzzer run is under way.
struct Started {
    target: String,
    seconds: u64,
    begun: Instant,
    child: Child,
    log: PathBuf,
    command: String,
}

/// Copies the seeds into a fresh `fuzz/corpus/<target>` and starts libFuzzer on it.
fn start(project: &Project, target: &str, seconds: u64, logs: &Path) -> Result<Started, String> {
    let fuzz_dir = project.root().join(FUZZ_DIR);
    let corpus = fuzz_dir.join("corpus").join(target);
    let seeds = fuzz_dir.join("seeds").join(target);
    fresh_corpus(&seeds, &corpus)?;
    let log = logs.join(format!("{target}.log"));
    let file = File::create(&log).map_err(|e| format!("cannot create {}: {e}", log.display()))?;
    let err = file
        .try_clone()
        .map_err(|e| format!("cannot reopen {}: {e}", log.display()))?;
    let mut command = nightly_fuzz(project);
    command
        .arg("run")
        .args(BUILD_FLAGS)
        .arg(target)
        .arg(Path::new(FUZZ_DIR).join("corpus").join(target))
        .arg("--")
        .arg(format!("-max_total_time={seconds}"))
        .arg(format!("-max_len={MAX_INPUT_LEN}"))
        .arg(format!("-timeout={INPUT_TIMEOUT_SECS}"))
        .arg("-print_final_stats=1")
        .stdout(file)
        .stderr(err);
    let shown = show(&command);
    println!("$ {shown}  (log: {})", log.display());
    let child = command
        .spawn()
        .map_err(|e| format!("cannot run `{shown}`: {e}"))?;
    Ok(Started {
        target: target.to_string(),
        seconds,
        begun: Instant::now(),
        child,
        log,
        command: shown,
    })
}

/// Empties `corpus` and copies every seed file into it.
fn fresh_corpus(seeds: &Path, corpus: &Path) -> Result<(), String> {
    if corpus.exists() {
        fs::remove_dir_all(corpus)
            .map_err(|e| format!("cannot empty {}: {e}", corpus.display()))?;
    }
    fs::create_dir_all(corpus).map_err(|e| format!("cannot create {}: {e}", corpus.display()))?;
    let entries =
        fs::read_dir(seeds).map_err(|e| format!("cannot read seeds {}: {e}", seeds.display()))?;
    let mut copied = 0;
    for entry in entries {
        let path = entry
            .map_err(|e| format!("cannot read seeds {}: {e}", seeds.display()))?
            .path();
        if let Some(name) = path.file_name().filter(|_| path.is_file()) {
            fs::copy(&path, corpus.join(name))
                .map_err(|e| format!("cannot copy seed {}: {e}", path.display()))?;
            copied += 1;
        }
    }
    if copied == 0 {
        return Err(format!("no seeds in {}", seeds.display()));
    }
    Ok(())
}

/// One target's finished run.
#[derive(Debug)]
struct TargetRun {
    target: String,
    took: Duration,
    executions: Option<u64>,
    crash: Option<Crash>,
}

/// A crash (or hang, or out-of-memory) that libFuzzer reported.
#[derive(Debug)]
struct Crash {
    /// One line: the panic message or libFuzzer's error, and the saved input.
    summary: String,
    /// The panic, the saved input and the command to reproduce it.
    details: String,
}

impl TargetRun {
    fn line(&self) -> String {
        let rate = match self.executions {
            Some(n) if self.took.as_secs_f64() > 0.0 => {
                format!(" ({:.0}/s)", n as f64 / self.took.as_secs_f64())
            }
            _ => String::new(),
        };
        let result = if self.crash.is_some() { "CRASH" } else { "ok" };
        format!(
            "{:<17} {:>12} in {:>6}{rate}  {result}",
            self.target,
            executions_text(self.executions),
            duration(self.took)
        )
    }
}

fn executions_text(executions: Option<u64>) -> String {
    match executions {
        Some(n) => format!("{n} execs"),
        None => "? execs".to_string(),
    }
}

/// Waits for a started target (killing it if it overruns by [`STUCK_AFTER`]) and reads its log.
fn finish(project: &Project, mut started: Started) -> Result<TargetRun, String> {
    let begun = started.begun;
    let deadline = Duration::from_secs(started.seconds) + STUCK_AFTER;
    let status = loop {
        match started.child.try_wait() {
            Ok(Some(status)) => break status,
            Ok(None) if begun.elapsed() > deadline => {
                let _ = started.child.kill();
                let _ = started.child.wait();
                return Err(format!(
                    "{} still running {} after its {} s; killed (log {})",
                    started.target,
                    duration(begun.elapsed()),
                    started.seconds,
                    started.log.display()
                ));
            }
            Ok(None) => std::thread::sleep(Duration::from_millis(200)),
            Err(e) => return Err(format!("cannot wait for `{}`: {e}", started.command)),
        }
    };
    let log = fs::read_to_string(&started.log)
        .map_err(|e| format!("cannot read {}: {e}", started.log.display()))?;
    let executions = executions(&log);
    let crash = if status.success() {
        None
    } else {
        Some(crash(project, &started, &log, &status.to_string()))
    };
    Ok(TargetRun {
        target: started.target,
        took: begun.elapsed(),
        executions,
        crash,
    })
}

/// Describes a failed run from its log.
fn crash(project: &Project, started: &Started, log: &str, status: &str) -> Crash {
    let artifact = saved_input(log);
    let what = failure_message(log).unwrap_or_else(|| format!("cargo fuzz exited with {status}"));
    let summary = match &artifact {
        Some(a) => format!("{what} (input {a})"),
        None => what.clone(),
    };
    let reproduce = artifact.as_ref().map_or(String::new(), |a| {
        format!(
            "\nreproduce: cd {} && cargo +nightly fuzz run {} {} {a}\nminimise:  cd {} && cargo +nightly fuzz tmin {} {} {a}",
            project.root().display(),
            BUILD_FLAGS.join(" "),
            started.target,
            project.root().display(),
            BUILD_FLAGS.join(" "),
            started.target
        )
    });
    let tail: Vec<&str> = log.lines().rev().take(30).collect();
    let tail: Vec<&str> = tail.into_iter().rev().collect();
    Crash {
        summary,
        details: format!(
            "{}\n(log {}){reproduce}",
            tail.join("\n"),
            started.log.display()
        ),
    }
}

/// The number of inputs libFuzzer ran: its final `stat::number_of_executed_units`, else the
/// count on its `#N DONE` line.
pub fn executions(log: &str) -> Option<u64> {
    let stat = log.lines().rev().find_map(|line| {
        line.strip_prefix("stat::number_of_executed_units:")
            .and_then(|n| n.trim().parse().ok())
    });
    stat.or_else(|| {
        log.lines().rev().find_map(|line| {
            let (count, rest) = line.strip_prefix('#')?.split_once(char::is_whitespace)?;
            if rest.trim_start().starts_with("DONE") {
                count.parse().ok()
            } else {
                None
            }
        })
    })
}

/// Where libFuzzer saved the failing input (`Test unit written to PATH`).
pub fn saved_input(log: &str) -> Option<String> {
    log.lines().rev().find_map(|line| {
        line.split_once("Test unit written to ")
            .map(|(_, path)| path.trim().to_string())
    })
}

/// The panic message (`thread '...' panicked at FILE:LINE:` and the line after it), else
/// libFuzzer's `ERROR:` line.
pub fn failure_message(log: &str) -> Option<String> {
    let lines: Vec<&str> = log.lines().collect();
    if let Some(i) = lines.iter().position(|l| l.contains("panicked at ")) {
        let at = lines[i]
            .split_once("panicked at ")
            .map_or("", |(_, at)| at.trim_end_matches(':'));
        let message = lines.get(i + 1).map_or("", |m| m.trim());
        return Some(format!("panicked at {at}: {message}"));
    }
    lines
        .iter()
        .find_map(|l| l.split_once("ERROR: libFuzzer: "))
        .map(|(_, what)| format!("libFuzzer: {}", what.trim()))
}

#[cfg(test)]
mod tests {
    use super::*;

    const DONE_LOG: &str = "\
INFO: Seed: 1234
#23\tINITED cov: 113 ft: 171 corp: 20/729b exec/s: 0 rss: 29Mb
#24119505\tDONE   cov: 162 ft: 334 corp: 97/4808b lim: 4096 exec/s: 395401 rss: 29Mb
Done 24119505 runs in 61 second(s)
stat::number_of_executed_units: 24119506
stat::average_exec_per_sec:     395401
";

    const CRASH_LOG: &str = "\
#17429\tNEW    cov: 815 ft: 3370 corp: 473/54Kb lim: 208 exec/s: 17429 rss: 29Mb

thread '<unnamed>' (25672) panicked at src/engine.rs:265:27:
transmitted datagram does not decode (hop count and relayer disagree): [4f, 4d]
==25672== ERROR: libFuzzer: deadly signal
MS: 1 CrossOver-; base unit: 0a1b
artifact_prefix='/p/fuzz/artifacts/engine_datagrams/'; Test unit written to /p/fuzz/artifacts/engine_datagrams/crash-f6cb
stat::number_of_executed_units: 17490
";

    #[test]
    fn executions_come_from_the_final_stats_or_the_done_line() {
        assert_eq!(executions(DONE_LOG), Some(24_119_506));
        let without_stats: String = DONE_LOG
            .lines()
            .filter(|l| !l.starts_with("stat::"))
            .map(|l| format!("{l}\n"))
            .collect();
        assert_eq!(executions(&without_stats), Some(24_119_505));
        assert_eq!(executions(CRASH_LOG), Some(17_490));
        assert_eq!(executions("INFO: Seed: 1\n#23\tINITED cov: 1\n"), None);
    }

    #[test]
    fn a_crash_is_described_by_its_panic_and_saved_input() {
        assert_eq!(
            failure_message(CRASH_LOG).as_deref(),
            Some(
                "panicked at src/engine.rs:265:27: transmitted datagram does not decode \
                 (hop count and relayer disagree): [4f, 4d]"
            )
        );
        assert_eq!(
            saved_input(CRASH_LOG).as_deref(),
            Some("/p/fuzz/artifacts/engine_datagrams/crash-f6cb")
        );
        let timeout = "==7== ERROR: libFuzzer: timeout after 10 seconds\n";
        assert_eq!(
            failure_message(timeout).as_deref(),
            Some("libFuzzer: timeout after 10 seconds")
        );
        assert_eq!(failure_message(DONE_LOG), None);
        assert_eq!(saved_input(DONE_LOG), None);
    }

    fn parse_args(list: &[&str]) -> Result<Option<Options>, String> {
        parse(&mut Args::new(list.iter().map(|s| s.to_string()).collect()))
    }

    #[test]
    fn options_default_to_every_target_for_a_minute() {
        let options = parse_args(&[]).unwrap().unwrap();
        assert_eq!(options.targets, TARGETS);
        assert_eq!(options.seconds, DEFAULT_SECONDS);
        assert!(!options.parallel);
        let options = parse_args(&["--seconds", "5", "--target", "map_files", "--parallel"])
            .unwrap()
            .unwrap();
        assert_eq!(
            options,
            Options {
                targets: vec!["map_files".into()],
                seconds: 5,
                parallel: true
            }
        );
    }

    #[test]
    fn bad_options_are_refused_in_one_line() {
        assert!(parse_args(&["--seconds", "0"]).is_err());
        assert!(parse_args(&["--seconds", "soon"]).is_err());
        assert_eq!(
            parse_args(&["--target", "nope"]).unwrap_err(),
            "unknown target `nope` (targets: wire_decode, engine_datagrams, map_files)"
        );
        assert!(parse_args(&["--bogus"]).is_err());
    }

    #[test]
    fn the_targets_are_the_fuzz_crates_binaries() {
        let manifest = Project::from_manifest_dir()
            .root()
            .join(FUZZ_DIR)
            .join("Cargo.toml");
        let text = fs::read_to_string(&manifest).unwrap();
        for target in TARGETS {
            assert!(
                text.contains(&format!("name = \"{target}\"")),
                "{target} is not a [[bin]] of {}",
                manifest.display()
            );
        }
    }
}
