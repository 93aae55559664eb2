//! Shorter source paths in the boot images: every panic location keeps its file's path in
//! flash, and a crate's path under cargo's registry
//! (`~/.cargo/registry/src/index.crates.io-<hash>/smoltcp-0.14.0/src/...`) is about 95 bytes.
//! The images are built with `--remap-path-prefix` for the registry's source directories and
//! the project root, so the paths start at the crate (`smoltcp-0.14.0/src/...`,
//! `omdisc-core/src/...`): about 1.5 KiB less flash in the MPS2 image.

use std::path::{Path, PathBuf};

/// A `cargo --config` value that adds the remapping flags to `target`'s rustflags (cargo
/// merges it with the image's own `.cargo/config.toml` flags).
pub fn rustflags_config(target: &str, root: &Path) -> String {
    let mut prefixes = registry_sources();
    prefixes.push(root.to_path_buf());
    let flags: Vec<String> = prefixes
        .iter()
        .filter_map(|p| p.to_str())
        .filter(|p| !p.contains(['"', '\\']))
        .map(|p| format!("\"--remap-path-prefix={}/=\"", p.trim_end_matches('/')))
        .collect();
    format!("target.{target}.rustflags=[{}]", flags.join(", "))
}

/// The source directories of cargo's registries (`$CARGO_HOME/registry/src/*`).
fn registry_sources() -> Vec<PathBuf> {
    let home = std::env::var_os("CARGO_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cargo")));
    let Some(home) = home else {
        return Vec::new();
    };
    let Ok(entries) = std::fs::read_dir(home.join("registry").join("src")) else {
        return Vec::new();
    };
    let mut dirs: Vec<PathBuf> = entries
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.is_dir())
        .collect();
    dirs.sort();
    dirs
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_root_is_remapped_in_the_targets_rustflags() {
        let value = rustflags_config("thumbv7em-none-eabihf", Path::new("/work/x/"));
        assert!(value.starts_with("target.thumbv7em-none-eabihf.rustflags=["));
        assert!(value.ends_with("\"--remap-path-prefix=/work/x/=\"]"));
    }
}
