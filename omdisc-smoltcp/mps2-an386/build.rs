//! Puts `memory.x` (the board's memory layout) and `device.x` (its interrupt handlers)
//! where cortex-m-rt's `link.x` finds them.
use std::path::PathBuf;

fn main() {
    let out = PathBuf::from(std::env::var_os("OUT_DIR").expect("cargo sets OUT_DIR"));
    for script in ["memory.x", "device.x"] {
        std::fs::copy(script, out.join(script)).expect("the linker scripts are readable");
        println!("cargo:rerun-if-changed={script}");
    }
    println!("cargo:rustc-link-search={}", out.display());
    println!("cargo:rerun-if-changed=build.rs");
    println!("cargo:rerun-if-env-changed=OMDISC_DEFAULT_BOOTARGS");
}
