//! The bare-metal checks of `cargo xtask test`: `omdisc-core` and `omdisc-smoltcp`
//! cross-built for a Cortex-M4F with and without `defmt` (and free of the Linux shell's
//! crates), and the flash/RAM cost of minimal
//! images that run the engine alone (`omdisc-core/size-check`) and over smoltcp
//! (`omdisc-smoltcp/size-check`), printed side by side.

use std::path::PathBuf;

use crate::project::{run, Project};
use crate::sizes;

/// The microcontroller target the core must build for.
pub const MCU_TARGET: &str = "thumbv7em-none-eabihf";

/// The size-check crate, relative to the project root (outside the workspace).
pub const SIZE_CHECK_DIR: &str = "omdisc-core/size-check";

/// The smoltcp frontend's size-check crate, relative to the project root (outside the
/// workspace).
pub const SMOLTCP_SIZE_CHECK_DIR: &str = "omdisc-smoltcp/size-check";

/// The crates that must build for [`MCU_TARGET`].
const NO_STD_CRATES: &[&str] = &["omdisc-core", "omdisc-smoltcp"];

/// Crates of the Linux shell that a `no_std` crate must never depend on: dependencies
/// point from the host shells to the `no_std` crates, never back.
const SHELL_CRATES: &[&str] = &["omdisc-std", "argh", "nix", "socket2", "serde_json"];

/// The size-check images: what they run, crate directory, binary name.
const SIZE_CHECKS: &[(&str, &str, &str)] = &[
    ("engine", SIZE_CHECK_DIR, "omdisc-core-size-check"),
    (
        "engine over smoltcp",
        SMOLTCP_SIZE_CHECK_DIR,
        "omdisc-smoltcp-size-check",
    ),
];

/// The feature sets each of `NO_STD_CRATES` is built with: none, `defmt` alone, and `defmt`
/// on top of the default `log` (defmt takes precedence, so features stay additive).
const FEATURE_SETS: &[&[&str]] = &[
    &["--no-default-features"],
    &["--no-default-features", "--features", "defmt"],
    &["--features", "defmt"],
];

/// Each of `NO_STD_CRATES` for [`MCU_TARGET`] with each of [`FEATURE_SETS`]; and none of
/// them depends on one of the `SHELL_CRATES`.
pub fn cross_build(project: &Project) -> Result<String, String> {
    for krate in NO_STD_CRATES {
        shell_free(project, krate)?;
        for features in FEATURE_SETS {
            run(project
                .cargo()
                .args(["build", "-p", krate, "--target", MCU_TARGET])
                .args(*features))?;
        }
    }
    Ok(format!(
        "{} build for {MCU_TARGET} without features, with defmt, and with defmt over the default log; they depend on no std-shell crate",
        NO_STD_CRATES.join(" and ")
    ))
}

/// Fails if `cargo tree -p KRATE -e normal` lists one of the [`SHELL_CRATES`].
fn shell_free(project: &Project, krate: &str) -> Result<(), String> {
    let mut cargo = project.cargo();
    cargo.args([
        "tree", "-p", krate, "-e", "normal", "--prefix", "none", "-f", "{p}",
    ]);
    let shown = crate::project::show(&cargo);
    println!("$ {shown}");
    let output = cargo
        .output()
        .map_err(|e| format!("cannot run `{shown}`: {e}"))?;
    if !output.status.success() {
        return Err(format!(
            "`{shown}` failed: {}",
            String::from_utf8_lossy(&output.stderr).trim()
        ));
    }
    let tree = String::from_utf8_lossy(&output.stdout);
    let found = shell_crates_in(&tree);
    if found.is_empty() {
        Ok(())
    } else {
        Err(format!("{krate} depends on {}", found.join(", ")))
    }
}

/// The [`SHELL_CRATES`] among the packages of a `cargo tree --prefix none -f {p}` listing.
fn shell_crates_in(tree: &str) -> Vec<&str> {
    let mut found: Vec<&str> = tree
        .lines()
        .filter_map(|line| line.split_whitespace().next())
        .filter(|name| SHELL_CRATES.contains(name))
        .collect();
    found.sort_unstable();
    found.dedup();
    found
}

/// Builds the size-check images in release, lints them, and reports their section sizes.
pub fn size_report(project: &Project) -> Result<String, String> {
    let target_dir = project.target_dir()?.to_path_buf();
    let mut summaries = Vec::new();
    for (what, dir, binary) in SIZE_CHECKS {
        let manifest = project.root().join(dir).join("Cargo.toml");
        for action in ["clippy", "build"] {
            let mut cargo = project.cargo();
            cargo
                .arg(action)
                .arg("--release")
                .args(["--target", MCU_TARGET])
                .arg("--manifest-path")
                .arg(&manifest)
                .env("CARGO_TARGET_DIR", &target_dir);
            if action == "clippy" {
                cargo.args(["--", "-D", "warnings"]);
            }
            run(&mut cargo)?;
        }
        let image = image_path(&target_dir, binary);
        let sizes = sizes::section_sizes(&image, sizes::BUDGET_SECTIONS)?;
        summaries.push((*what, image, sizes));
    }
    println!("sizes of the {MCU_TARGET} images, in bytes:");
    print!("  {:<14}", "");
    for (what, _, _) in &summaries {
        print!(" {what:>20}");
    }
    println!();
    for (index, name) in sizes::BUDGET_SECTIONS.iter().enumerate() {
        print!("  {name:<14}");
        for (_, _, sizes) in &summaries {
            print!(" {:>20}", sizes.get(index).map_or(0, |(_, size)| *size));
        }
        println!();
    }
    for (what, image, _) in &summaries {
        println!("  {what}: {}", image.display());
    }
    Ok(summaries
        .iter()
        .map(|(what, _, sizes)| format!("{what}: {}", sizes::summary_line(sizes)))
        .collect::<Vec<_>>()
        .join("; "))
}

fn image_path(target_dir: &std::path::Path, binary: &str) -> PathBuf {
    target_dir.join(MCU_TARGET).join("release").join(binary)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shell_crates_are_found_in_a_tree() {
        let clean = "omdisc-smoltcp v0.1.0 (/x)\nomdisc-core v0.1.0 (/y)\nsmoltcp v0.14.0\n";
        assert!(shell_crates_in(clean).is_empty());
        let layered =
            "omdisc-smoltcp v0.1.0 (/x)\nomdisc-std v0.1.0 (/z)\nnix v0.32.0\nnix v0.32.0 (*)\n";
        assert_eq!(shell_crates_in(layered), ["nix", "omdisc-std"]);
    }
}
