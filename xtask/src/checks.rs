//! The plain cargo checks of `cargo xtask test`: formatting, clippy, tests and doctests.

use std::path::Path;

use crate::project::{run, Project};

/// Features the workspace checks turn on, so that every target is linted and tested
/// (`omdisc-tap` needs `omdisc-std/smoltcp`) and every stage reuses one build.
pub const WORKSPACE_FEATURES: &[&str] = &["--features", "omdisc-std/smoltcp"];

/// Crates outside the workspace that the checks also cover (paths from the root).
const EXCLUDED_CRATES: &[&str] = &[
    crate::no_std::SIZE_CHECK_DIR,
    crate::no_std::SMOLTCP_SIZE_CHECK_DIR,
    "omdisc-smoltcp/mps2-an386",
];

/// `cargo fmt --check` over the workspace and every excluded crate that exists.
pub fn fmt(project: &Project) -> Result<String, String> {
    run(project.cargo().args(["fmt", "--all", "--check"]))?;
    let mut checked = 1;
    for krate in existing(project, EXCLUDED_CRATES) {
        let manifest = krate.join("Cargo.toml");
        run(project
            .cargo()
            .arg("fmt")
            .arg("--manifest-path")
            .arg(&manifest)
            .arg("--check"))?;
        checked += 1;
    }
    Ok(format!(
        "workspace and {} excluded crate(s) formatted",
        checked - 1
    ))
}

/// `cargo clippy --workspace --all-targets` with [`WORKSPACE_FEATURES`], `-D warnings`.
pub fn clippy(project: &Project) -> Result<String, String> {
    run(project
        .cargo()
        .args(["clippy", "--workspace", "--all-targets"])
        .args(WORKSPACE_FEATURES)
        .args(["--", "-D", "warnings"]))?;
    Ok(String::new())
}

/// The workspace's tests with [`WORKSPACE_FEATURES`], with cargo-nextest when it is
/// installed.
pub fn tests(project: &Project) -> Result<String, String> {
    if has_nextest(project) {
        run(project
            .cargo()
            .args(["nextest", "run", "--workspace", "--no-fail-fast"])
            .args(WORKSPACE_FEATURES))?;
        Ok("with cargo-nextest".into())
    } else {
        run(project
            .cargo()
            .args(["test", "--workspace", "--no-fail-fast"])
            .args(WORKSPACE_FEATURES))?;
        Ok("with cargo test (cargo-nextest not installed)".into())
    }
}

/// `omdisc-tap` (`omdisc-std` with feature `smoltcp`): linted and its unit tests run, with
/// the same flags as the `clippy` and `tests` stages, so after them this reuses their build
/// and only runs the tests again.
pub fn omdisc_tap(project: &Project) -> Result<String, String> {
    run(project
        .cargo()
        .args(["clippy", "--workspace", "--all-targets"])
        .args(WORKSPACE_FEATURES)
        .args(["--", "-D", "warnings"]))?;
    run(project
        .cargo()
        .args(["test", "--workspace", "--bin", "omdisc-tap"])
        .args(WORKSPACE_FEATURES))?;
    Ok("omdisc-tap linted and tested".into())
}

/// Doctests (nextest does not run them), with [`WORKSPACE_FEATURES`].
pub fn doctests(project: &Project) -> Result<String, String> {
    run(project
        .cargo()
        .args(["test", "--doc", "--workspace"])
        .args(WORKSPACE_FEATURES))?;
    Ok(String::new())
}

fn has_nextest(project: &Project) -> bool {
    project
        .cargo()
        .args(["nextest", "--version"])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

fn existing<'a>(
    project: &'a Project,
    crates: &'a [&str],
) -> impl Iterator<Item = std::path::PathBuf> + 'a {
    crates
        .iter()
        .map(|c| project.root().join(c))
        .filter(|p| Path::new(p).join("Cargo.toml").is_file())
}
