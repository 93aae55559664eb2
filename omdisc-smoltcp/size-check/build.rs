//! Hands the linker the memory layout of `omdisc-core/size-check` (its `link.x`) when
//! building for a bare-metal target, so the two images compare.

use std::path::PathBuf;

fn main() {
    let dir = PathBuf::from(std::env::var_os("CARGO_MANIFEST_DIR").unwrap_or_default())
        .join("../../omdisc-core/size-check");
    println!("cargo:rerun-if-changed={}", dir.join("link.x").display());
    println!("cargo:rerun-if-changed=build.rs");
    let target = std::env::var("TARGET").unwrap_or_default();
    if !target.starts_with("thumb") {
        return;
    }
    println!("cargo:rustc-link-search={}", dir.display());
    println!("cargo:rustc-link-arg=-Tlink.x");
}
