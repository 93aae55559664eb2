//! Stripped sizes of the Linux programs, `omdiscd`, `showmap` and `omdisc-tap` (release
//! profile, `strip` of binutils), each held under [`LIMIT`]: part of the `size` stage of
//! `cargo xtask test`. The build is the scenarios' own (`Binaries::build`), so the
//! scenarios stage finds it done.

use std::process::Command;

use crate::project::{run, Project};
use crate::testbed::Binaries;

/// Most bytes a stripped program may have: 2 MiB.
pub const LIMIT: u64 = 2 << 20;

/// Builds the programs, strips copies of them, prints their sizes; an error names every
/// program over [`LIMIT`].
pub fn check(project: &Project) -> Result<String, String> {
    let binaries = Binaries::build(project)?;
    let dir = project.scratch_dir("program-sizes")?;
    let mut sizes = Vec::new();
    for (name, path) in [
        ("omdiscd", &binaries.omdiscd),
        ("showmap", &binaries.showmap),
        ("omdisc-tap", &binaries.omdisc_tap),
    ] {
        let stripped = dir.join(name);
        run(Command::new("strip").arg("-o").arg(&stripped).arg(path))?;
        let size = std::fs::metadata(&stripped)
            .map_err(|e| format!("cannot read {}: {e}", stripped.display()))?
            .len();
        sizes.push((name, size));
    }
    println!("stripped sizes of the release programs (limit {LIMIT} bytes):");
    for (name, size) in &sizes {
        println!(
            "  {name:<12} {size:>9} bytes ({:.2} MiB)",
            *size as f64 / 1048576.0
        );
    }
    let line = sizes
        .iter()
        .map(|(name, size)| format!("{name} {size} B"))
        .collect::<Vec<_>>()
        .join(", ");
    let over: Vec<&str> = sizes
        .iter()
        .filter(|(_, size)| *size >= LIMIT)
        .map(|(name, _)| *name)
        .collect();
    if over.is_empty() {
        Ok(format!("stripped {line} (each < 2 MiB)"))
    } else {
        Err(format!("over 2 MiB stripped: {}; {line}", over.join(", ")))
    }
}
