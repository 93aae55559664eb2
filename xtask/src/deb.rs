//! `cargo xtask deb`: the Debian package `omdisc` (`target/debian/omdisc_VERSION_ARCH.deb`),
//! built by cargo-deb from the metadata in `omdisc-std/Cargo.toml` and the files in
//! `omdisc-std/debian/`, with stripped binaries, then checked by lintian.
//!
//! cargo-deb is installed when missing or of another version (pinned, `--locked`, in the
//! tools' cheap profile: see [`ensure_cargo_deb`]), and so are the Debian tools it and the
//! check run. lintian must report no error and no warning that the package does not
//! override with a reason (`omdisc-std/debian/lintian-overrides`); its informational tags
//! are printed.

use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode, Stdio};
use std::time::Instant;

use crate::args::Args;
use crate::ensure::{self, Tool};
use crate::project::{show, Project};
use crate::report::duration;

/// The cargo-deb release the package is built with (`cargo install cargo-deb --version`).
pub const CARGO_DEB_VERSION: &str = "3.8.0";

/// The crate whose binaries and `[package.metadata.deb]` make the package.
pub const PACKAGE_CRATE: &str = "omdisc-std";

/// What building and checking the package runs.
pub const TOOLS: &[Tool] = &[
    Tool {
        command: "dpkg-shlibdeps",
        package: "dpkg-dev",
    },
    Tool {
        command: "strip",
        package: "binutils",
    },
    Tool {
        command: "lintian",
        package: "lintian",
    },
];

/// A built and checked package.
#[derive(Debug, Clone)]
pub struct Package {
    /// The `.deb` file.
    pub path: PathBuf,
    /// Its size in bytes.
    pub size: u64,
    /// What lintian said, summed up (`0 errors, 0 warnings (1 overridden), 3 info`).
    pub lintian: String,
}

/// `cargo xtask deb`.
pub fn run(project: &Project, mut args: Args) -> ExitCode {
    if args.flag("--help") || args.flag("-h") {
        println!(
            "usage: cargo xtask deb\n\n\
             Builds target/debian/omdisc_VERSION_ARCH.deb with cargo-deb (installed if\n\
             missing) and checks it with lintian: no error, no warning without an override."
        );
        return ExitCode::SUCCESS;
    }
    if let Err(why) = args.finish() {
        eprintln!("cargo xtask deb: {why}");
        return ExitCode::from(2);
    }
    let started = Instant::now();
    match build(project) {
        Ok(package) => {
            println!(
                "{} ({} KiB) in {}; lintian: {}",
                package.path.display(),
                package.size / 1024,
                duration(started.elapsed()),
                package.lintian
            );
            ExitCode::SUCCESS
        }
        Err(why) => {
            eprintln!("cargo xtask deb: {why}");
            ExitCode::FAILURE
        }
    }
}

/// Installs cargo-deb [`CARGO_DEB_VERSION`] unless it is there, in the tools' cheap
/// profile ([`ensure::CHEAP_PROFILE`]: it still packs this small package in 2 s); `runner`
/// runs the install. Returns its version line.
pub fn ensure_cargo_deb(project: &Project, runner: ensure::Runner<'_>) -> Result<String, String> {
    let spec = ["cargo-deb", "--version", CARGO_DEB_VERSION, "--locked"];
    ensure::cargo_subcommand(
        || project.cargo(),
        "deb",
        &spec,
        Some(CARGO_DEB_VERSION),
        runner,
    )
}

/// Builds the package (release binaries, stripped) and checks it with lintian.
pub fn build(project: &Project) -> Result<Package, String> {
    crate::background::wait_quietly("debian-packages");
    ensure::tools(TOOLS)?;
    crate::background::wait("cargo-deb");
    let cargo_deb = ensure_cargo_deb(project, &crate::project::run)?;
    println!("{cargo_deb}");
    let out_dir = project.target_dir()?.join("debian");
    let mut command = project.cargo();
    command
        .args(["deb", "-p", PACKAGE_CRATE, "--strip", "--output"])
        .arg(&out_dir)
        .stdin(Stdio::null())
        .stderr(Stdio::inherit());
    let shown = show(&command);
    println!("$ {shown}");
    let output = command
        .output()
        .map_err(|e| format!("cannot run `{shown}`: {e}"))?;
    if !output.status.success() {
        return Err(format!("`{shown}` failed ({})", output.status));
    }
    // cargo-deb prints the path of the package it wrote as its last line.
    let stdout = String::from_utf8_lossy(&output.stdout);
    let path = stdout
        .lines()
        .rev()
        .map(str::trim)
        .find(|line| line.ends_with(".deb"))
        .map(PathBuf::from)
        .ok_or_else(|| format!("`{shown}` named no .deb: {}", stdout.trim()))?;
    let size = std::fs::metadata(&path)
        .map_err(|e| format!("cannot stat {}: {e}", path.display()))?
        .len();
    let lintian = lint(&path)?;
    Ok(Package {
        path,
        size,
        lintian,
    })
}

/// Runs lintian on `deb`; fails on an error or a warning that is not overridden.
fn lint(deb: &Path) -> Result<String, String> {
    let mut command = Command::new("lintian");
    command
        .args([
            "--display-info",
            "--pedantic",
            "--show-overrides",
            "--tag-display-limit",
            "0",
        ])
        .arg(deb)
        .stdin(Stdio::null());
    let shown = show(&command);
    println!("$ {shown}");
    let output = command
        .output()
        .map_err(|e| format!("cannot run `{shown}`: {e}"))?;
    let stdout = String::from_utf8_lossy(&output.stdout);
    for line in stdout.lines().filter(|l| !l.starts_with("N:")) {
        println!("  {line}");
    }
    let tags = LintianTags::parse(&stdout);
    if tags.errors > 0 || tags.warnings > 0 {
        return Err(format!("lintian: {}", tags.summary()));
    }
    // lintian exits 0 without errors (warnings do not change it); anything else is a crash.
    if !output.status.success() {
        let stderr = String::from_utf8_lossy(&output.stderr);
        return Err(format!(
            "`{shown}` failed ({}): {}",
            output.status,
            stderr.trim()
        ));
    }
    Ok(tags.summary())
}

/// lintian's tags by kind (`E:`, `W:`, `I:`, `P:`, and `O:` for overridden ones).
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
struct LintianTags {
    errors: usize,
    warnings: usize,
    info: usize,
    pedantic: usize,
    overridden: usize,
}

impl LintianTags {
    fn parse(output: &str) -> LintianTags {
        let mut tags = LintianTags::default();
        for line in output.lines() {
            match line.split_once(':').map(|(kind, _)| kind) {
                Some("E") => tags.errors += 1,
                Some("W") => tags.warnings += 1,
                Some("I") => tags.info += 1,
                Some("P") => tags.pedantic += 1,
                Some("O") => tags.overridden += 1,
                _ => {}
            }
        }
        tags
    }

    fn summary(&self) -> String {
        format!(
            "{} errors, {} warnings, {} overridden, {} info, {} pedantic",
            self.errors, self.warnings, self.overridden, self.info, self.pedantic
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lintian_tags_are_counted_by_kind() {
        let output = "\
E: omdisc: some-error [x]
W: omdisc: some-warning
N:
N:   an explanation: with a colon
O: omdisc: initial-upload-closes-no-bugs [usr/share/doc/omdisc/changelog.Debian.gz:1]
I: omdisc: hardening-no-fortify-functions [usr/bin/showmap]
I: omdisc: no-md5sums-control-file
P: omdisc: something-pedantic
";
        let tags = LintianTags::parse(output);
        assert_eq!(
            tags,
            LintianTags {
                errors: 1,
                warnings: 1,
                info: 2,
                pedantic: 1,
                overridden: 1,
            }
        );
        assert_eq!(
            tags.summary(),
            "1 errors, 1 warnings, 1 overridden, 2 info, 1 pedantic"
        );
    }
}
