//! Idempotent installation of what the tests need: rustup targets and Debian packages.
//! Each is checked first (target listed as installed, command found on the path) and only
//! what is missing is installed, non-interactively; `apt-get update` runs at most once per
//! xtask run. Without root it says in one line what to install.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};

use crate::project::{run, show};

/// The cross-compilation targets of the project (no_std core, boot image).
pub const RUST_TARGETS: &[&str] = &["thumbv7em-none-eabihf", "riscv64gc-unknown-none-elf"];

/// A command the tests run, and the Debian package that provides it.
#[derive(Debug, Clone, Copy)]
pub struct Tool {
    /// Program looked for on the path.
    pub command: &'static str,
    /// Debian package to install when it is missing.
    pub package: &'static str,
}

/// Everything the namespace tests and the boot-image test run (and Prometheus for the
/// metrics scenario). (`pimd` would be an
/// alternative multicast router, but Debian's `pimd` and `smcroute` conflict.)
pub const TOOLS: &[Tool] = &[
    Tool {
        command: "ip",
        package: "iproute2",
    },
    Tool {
        command: "man",
        package: "man-db",
    },
    Tool {
        command: "ping",
        package: "iputils-ping",
    },
    Tool {
        command: "sysctl",
        package: "procps",
    },
    Tool {
        command: "nft",
        package: "nftables",
    },
    Tool {
        command: "smcroute",
        package: "smcroute",
    },
    Tool {
        command: "qemu-system-riscv64",
        package: "qemu-system-misc",
    },
    Tool {
        command: "qemu-system-arm",
        package: "qemu-system-arm",
    },
    // The metrics-prometheus scenario: a real Prometheus server and its linter.
    Tool {
        command: "promtool",
        package: "prometheus",
    },
];

/// Set once `apt-get update` has run in this process.
static APT_UPDATED: AtomicBool = AtomicBool::new(false);

/// Adds the rustup targets that are not installed yet.
pub fn rust_targets(targets: &[&str]) -> Result<String, String> {
    rust_targets_with(targets, &run)
}

/// Unless on a background lane, waits for the lane's installs of Debian packages and rustup
/// targets (if started), so that no two `apt-get` or `rustup` run at once.
fn after_background_installs() {
    if !crate::background::in_lane() {
        crate::background::wait_quietly("packages");
        crate::background::wait_quietly("rust-targets");
    }
}

/// [`rust_targets`], with `runner` running `rustup target add`.
pub fn rust_targets_with(targets: &[&str], runner: Runner<'_>) -> Result<String, String> {
    after_background_installs();
    let output = Command::new("rustup")
        .args(["target", "list", "--installed"])
        .stdin(Stdio::null())
        .output()
        .map_err(|e| {
            format!(
                "cannot run rustup ({e}); install targets {}",
                targets.join(" ")
            )
        })?;
    if !output.status.success() {
        return Err(format!(
            "`rustup target list --installed` failed ({})",
            output.status
        ));
    }
    let installed = String::from_utf8_lossy(&output.stdout);
    let missing: Vec<&str> = targets
        .iter()
        .copied()
        .filter(|t| !installed.lines().any(|line| line.trim() == *t))
        .collect();
    if missing.is_empty() {
        return Ok(format!("targets present: {}", targets.join(", ")));
    }
    runner(
        Command::new("rustup")
            .args(["target", "add"])
            .args(&missing)
            .stdin(Stdio::null()),
    )?;
    Ok(format!("added targets: {}", missing.join(", ")))
}

/// Installs the Debian packages of the tools whose command is not found.
pub fn tools(tools: &[Tool]) -> Result<String, String> {
    tools_with(tools, &run)
}

/// [`tools`], with `runner` running `apt-get`.
pub fn tools_with(tools: &[Tool], runner: Runner<'_>) -> Result<String, String> {
    after_background_installs();
    let missing: Vec<Tool> = tools
        .iter()
        .copied()
        .filter(|t| find_command(t.command).is_none())
        .collect();
    if missing.is_empty() {
        let names: Vec<&str> = tools.iter().map(|t| t.command).collect();
        return Ok(format!("commands present: {}", names.join(", ")));
    }
    let packages: Vec<&str> = missing.iter().map(|t| t.package).collect();
    if !is_root() {
        return Err(format!(
            "missing {}; as root run: apt-get install -y --no-install-recommends {}",
            missing
                .iter()
                .map(|t| t.command)
                .collect::<Vec<_>>()
                .join(", "),
            packages.join(" ")
        ));
    }
    if !APT_UPDATED.swap(true, Ordering::SeqCst) {
        runner(&mut apt_get(&["update"]))?;
    }
    let mut install = apt_get(&["install", "-y", "--no-install-recommends"]);
    {
        let _no_starts = NoServiceStarts::new();
        runner(install.args(&packages))?;
    }
    let still_missing: Vec<&str> = missing
        .iter()
        .filter(|t| find_command(t.command).is_none())
        .map(|t| t.command)
        .collect();
    if !still_missing.is_empty() {
        return Err(format!(
            "`{}` did not provide {}",
            show(&install),
            still_missing.join(", ")
        ));
    }
    Ok(format!("installed: {}", packages.join(", ")))
}

/// Runs a command to completion: [`crate::project::run`] (echoed, output on the terminal)
/// or a background lane's [`crate::background::Log::run`] (output to its log).
pub type Runner<'a> = &'a dyn Fn(&mut Command) -> Result<(), String>;

/// The build profile of the tools `cargo install` builds for the tests (cargo-fuzz,
/// cargo-deb, defmt-print): `--release` settings through cargo's environment, without
/// optimisation, debug info or LTO and with many codegen units. They pack one small
/// package, decode a few hundred log lines, drive cargo: this compiles in about half the
/// CPU time of their default release profile (cargo-fuzz 50 -> 25 CPU-seconds) and a third
/// less than a `--debug` build with debug info.
pub const CHEAP_PROFILE: &[(&str, &str)] = &[
    ("CARGO_PROFILE_RELEASE_OPT_LEVEL", "0"),
    ("CARGO_PROFILE_RELEASE_DEBUG", "false"),
    ("CARGO_PROFILE_RELEASE_LTO", "false"),
    ("CARGO_PROFILE_RELEASE_CODEGEN_UNITS", "16"),
    ("CARGO_PROFILE_RELEASE_INCREMENTAL", "false"),
];

/// `cargo install` with [`CHEAP_PROFILE`]: `cargo` is the command to add `install` to.
pub fn cargo_install(mut cargo: Command) -> Command {
    cargo.arg("install").envs(CHEAP_PROFILE.iter().copied());
    cargo.stdin(Stdio::null());
    cargo
}

/// A cargo subcommand (`cargo NAME`) from crates.io, installed with `cargo install` (in the
/// [`CHEAP_PROFILE`]) when `cargo NAME --version` fails or, with `want`, does not print that
/// version (then reinstalled with `--force`). `cargo` makes the `cargo` command to use;
/// `spec` is what follows `cargo install` (crate name, `--version`, `--locked`); `runner`
/// runs the install. Returns the version line.
pub fn cargo_subcommand(
    cargo: impl Fn() -> Command,
    name: &str,
    spec: &[&str],
    want: Option<&str>,
    runner: Runner<'_>,
) -> Result<String, String> {
    let version = || {
        cargo()
            .args([name, "--version"])
            .stdin(Stdio::null())
            .stderr(Stdio::null())
            .output()
            .ok()
            .filter(|o| o.status.success())
            .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
    };
    let wanted = |line: &str| want.is_none_or(|w| names_version(line, w));
    let installed = version();
    if let Some(line) = installed.as_ref().filter(|line| wanted(line)) {
        return Ok(line.clone());
    }
    let mut install = cargo_install(cargo());
    install.args(spec);
    if installed.is_some() {
        install.arg("--force");
    }
    runner(&mut install)?;
    version().filter(|line| wanted(line)).ok_or_else(|| {
        format!("`cargo {name} --version` is not the one installed (wanted {want:?})")
    })
}

/// Whether a `--version` line (`cargo-deb 3.8.0`) names `version` as one of its words.
fn names_version(line: &str, version: &str) -> bool {
    line.split_whitespace().any(|word| word == version)
}

/// `apt-get ARGS` that never asks a question.
fn apt_get(args: &[&str]) -> Command {
    let mut command = Command::new("apt-get");
    command
        .args(["-q", "-o", "Dpkg::Use-Pty=0"])
        .args(args)
        .env("DEBIAN_FRONTEND", "noninteractive")
        .stdin(Stdio::null());
    command
}

/// Where Debian's maintainer scripts ask whether they may start a service (`invoke-rc.d`).
const POLICY_RC_D: &str = "/usr/sbin/policy-rc.d";

/// While alive, packages being installed may not start their services (`policy-rc.d` that
/// answers 101, "action forbidden"): installing `prometheus` or `smcroute` for the tests
/// must not leave a Prometheus server or a multicast router running on the host. Only a
/// `policy-rc.d` this guard wrote is removed again; an existing one is left as it is.
struct NoServiceStarts {
    created: bool,
}

impl NoServiceStarts {
    fn new() -> NoServiceStarts {
        use std::io::Write;
        use std::os::unix::fs::OpenOptionsExt;
        let Ok(mut file) = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o755)
            .open(POLICY_RC_D)
        else {
            return NoServiceStarts { created: false };
        };
        // Written or not, the file is ours and goes again on drop.
        let _ = file.write_all(
            b"#!/bin/sh\n# cargo xtask: no service starts while it installs test tools\nexit 101\n",
        );
        let created = true;
        NoServiceStarts { created }
    }
}

impl Drop for NoServiceStarts {
    fn drop(&mut self) {
        if self.created {
            let _ = std::fs::remove_file(POLICY_RC_D);
        }
    }
}

/// Whether this process runs as root.
pub fn is_root() -> bool {
    nix::unistd::geteuid().is_root()
}

/// Finds `command` on `PATH`, or in the sbin directories that a non-login `PATH` may lack.
pub fn find_command(command: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .chain(["/usr/local/sbin", "/usr/sbin", "/sbin"].map(PathBuf::from))
        .map(|dir| dir.join(command))
        .find(|candidate| is_executable(candidate))
}

fn is_executable(path: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    path.metadata()
        .is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_a_command_that_exists_and_not_one_that_does_not() {
        assert!(find_command("sh").is_some());
        assert!(find_command("omdisc-no-such-command").is_none());
    }

    #[test]
    fn a_version_line_names_its_version_exactly() {
        assert!(names_version("cargo-deb 3.8.0", "3.8.0"));
        assert!(!names_version("cargo-deb 3.8.01", "3.8.0"));
        assert!(!names_version("cargo-deb 2.12.1", "3.8.0"));
    }

    #[test]
    fn nothing_missing_means_nothing_installed() {
        let present = [Tool {
            command: "sh",
            package: "dash",
        }];
        assert_eq!(tools(&present).unwrap(), "commands present: sh");
        assert!(!APT_UPDATED.load(Ordering::SeqCst));
    }
}
