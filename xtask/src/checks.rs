//! The plain cargo checks of `cargo xtask test`: formatting, clippy, tests and doctests.

use std::path::Path;

use crate::project::{run, Project};

/// Crates outside the workspace that the checks also cover (paths from the root).
const EXCLUDED_CRATES: &[&str] = &[
    crate::no_std::SIZE_CHECK_DIR,
    crate::no_std::SMOLTCP_SIZE_CHECK_DIR,
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

/// `cargo clippy --workspace --all-targets -- -D warnings`.
pub fn clippy(project: &Project) -> Result<String, String> {
    run(project.cargo().args([
        "clippy",
        "--workspace",
        "--all-targets",
        "--",
        "-D",
        "warnings",
    ]))?;
    Ok(String::new())
}

/// The workspace's tests, with cargo-nextest when it is installed.
pub fn tests(project: &Project) -> Result<String, String> {
    if has_nextest(project) {
        run(project
            .cargo()
            .args(["nextest", "run", "--workspace", "--no-fail-fast"]))?;
        Ok("with cargo-nextest".into())
    } else {
        run(project
            .cargo()
            .args(["test", "--workspace", "--no-fail-fast"]))?;
        Ok("with cargo test (cargo-nextest not installed)".into())
    }
}

/// `omdisc-smoltcp` with feature `tap` (the `omdisc-tap` host program, which the workspace
/// checks leave out: it needs `required-features`): clippy and its tests.
pub fn smoltcp_tap(project: &Project) -> Result<String, String> {
    let features = ["-p", "omdisc-smoltcp", "--features", "tap"];
    run(project.cargo().arg("clippy").args(features).args([
        "--all-targets",
        "--",
        "-D",
        "warnings",
    ]))?;
    run(project.cargo().arg("test").args(features))?;
    Ok("omdisc-tap linted and tested".into())
}

/// Doctests (nextest does not run them).
pub fn doctests(project: &Project) -> Result<String, String> {
    run(project.cargo().args(["test", "--doc", "--workspace"]))?;
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
