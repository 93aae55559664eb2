//! The bare-metal checks of `cargo xtask test`: `omdisc-core` cross-built for a Cortex-M4F
//! with and without `defmt`, and the flash/RAM cost of a minimal image that runs its engine
//! (`omdisc-core/size-check`).

use std::path::PathBuf;

use crate::project::{run, Project};
use crate::sizes;

/// The microcontroller target the core must build for.
pub const MCU_TARGET: &str = "thumbv7em-none-eabihf";

/// The size-check crate, relative to the project root (outside the workspace).
pub const SIZE_CHECK_DIR: &str = "omdisc-core/size-check";

/// `omdisc-core` for [`MCU_TARGET`] with no default features, then with `defmt`.
pub fn cross_build(project: &Project) -> Result<String, String> {
    for features in [&[][..], &["--features", "defmt"][..]] {
        run(project
            .cargo()
            .args([
                "build",
                "-p",
                "omdisc-core",
                "--target",
                MCU_TARGET,
                "--no-default-features",
            ])
            .args(features))?;
    }
    Ok(format!(
        "omdisc-core builds for {MCU_TARGET}, without features and with defmt"
    ))
}

/// Builds the size-check image in release, lints it, and reports its section sizes.
pub fn size_report(project: &Project) -> Result<String, String> {
    let manifest = project.root().join(SIZE_CHECK_DIR).join("Cargo.toml");
    let target_dir = project.target_dir()?.to_path_buf();
    let image = image_path(&target_dir);
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
    let sizes = sizes::section_sizes(&image, sizes::BUDGET_SECTIONS)?;
    println!("size of {}:", image.display());
    for (name, size) in &sizes {
        println!("  {name:<14} {size:>8} B");
    }
    Ok(sizes::summary_line(&sizes))
}

fn image_path(target_dir: &std::path::Path) -> PathBuf {
    target_dir
        .join(MCU_TARGET)
        .join("release")
        .join("omdisc-core-size-check")
}
