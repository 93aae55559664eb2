//! The RISC-V image's footprint limits (issue 16): `.text` at most 64 KiB and `.bss` at most
//! 48 KiB, printed by `cargo xtask image` beside the sizes and held by the `image-checks`
//! stage, with the per-crate table of what the code is spent on ([`crate::bloat`]).

use std::path::Path;

use crate::bloat::Bloat;
use crate::sizes::section_sizes;

/// Most `.text` the image may have, in bytes.
pub const TEXT_LIMIT: u64 = 64 * 1024;
/// Most `.bss` the image may have, in bytes (the stack is a section of its own).
pub const BSS_LIMIT: u64 = 48 * 1024;
/// The image crate's name in symbols (its `#[no_mangle]` functions count for it).
const OWN_CRATE: &str = "omdisc_riscv_virt";

/// The image's sections against the limits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Footprint {
    /// `.text` bytes.
    pub text: u64,
    /// `.rodata` bytes.
    pub rodata: u64,
    /// `.data` bytes.
    pub data: u64,
    /// `.bss` bytes.
    pub bss: u64,
    /// The stack section's bytes.
    pub stack: u64,
}

impl Footprint {
    /// Reads the sections of the image at `path`.
    pub fn read(path: &Path) -> Result<Footprint, String> {
        let sizes = section_sizes(path, &[".text", ".rodata", ".data", ".bss", ".stack"])?;
        let size = |i: usize| sizes[i].1;
        Ok(Footprint {
            text: size(0),
            rodata: size(1),
            data: size(2),
            bss: size(3),
            stack: size(4),
        })
    }

    /// Whether `.text` and `.bss` are within their limits.
    pub fn fits(&self) -> bool {
        self.text <= TEXT_LIMIT && self.bss <= BSS_LIMIT
    }

    /// One line: each section, `.text` and `.bss` with their limits.
    pub fn line(&self) -> String {
        let mark = |size: u64, limit: u64| if size <= limit { "" } else { " OVER" };
        format!(
            ".text {} of {TEXT_LIMIT}{}  .rodata {}  .data {}  .bss {} of {BSS_LIMIT}{}  stack {}",
            self.text,
            mark(self.text, TEXT_LIMIT),
            self.rodata,
            self.data,
            self.bss,
            mark(self.bss, BSS_LIMIT),
            self.stack
        )
    }

    /// An error naming what is over its limit, if anything is.
    pub fn check(&self) -> Result<(), String> {
        if self.fits() {
            Ok(())
        } else {
            Err(format!(
                "the RISC-V image is over its footprint limits: {}",
                self.line()
            ))
        }
    }
}

/// The per-crate table of the image's code and its largest functions and statics.
pub fn bloat_table(image: &Path) -> Result<String, String> {
    Ok(Bloat::read(image, OWN_CRATE)?.markdown(20, 512))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn footprint(text: u64, bss: u64) -> Footprint {
        Footprint {
            text,
            rodata: 10,
            data: 2,
            bss,
            stack: 4096,
        }
    }

    #[test]
    fn the_limits_hold_at_the_boundary_and_fail_past_it() {
        assert!(footprint(TEXT_LIMIT, BSS_LIMIT).check().is_ok());
        let over = footprint(TEXT_LIMIT + 1, BSS_LIMIT).check().unwrap_err();
        assert!(over.contains(".text 65537 of 65536 OVER"), "{over}");
        let line = footprint(100, BSS_LIMIT + 8).line();
        assert!(line.contains(".bss 49160 of 49152 OVER"), "{line}");
        assert!(!line.contains(".text 100 of 65536 OVER"), "{line}");
    }
}
