//! The RISC-V image's footprint limits (issue 16): `.text` at most 64 KiB and `.bss` at most
//! 48 KiB, printed by `cargo xtask image` beside the sizes and held by the `image-checks`
//! stage, with the per-crate table of what the code is spent on ([`crate::bloat`]); and its
//! stack and boot time, measured by booting it alone (no network) under QEMU: the stack
//! high-water mark it prints with every map must fit its stack with the margin, and the
//! first announcement's time after reset is printed against its 40 ms target.

use std::fs::File;
use std::path::Path;
use std::process::Stdio;
use std::time::{Duration, Instant};

use crate::bloat::Bloat;
use crate::ensure;
use crate::image::QEMU_TOOL;
use crate::sizes::section_sizes;

/// Most `.text` the image may have, in bytes.
pub const TEXT_LIMIT: u64 = 64 * 1024;
/// Most `.bss` the image may have, in bytes (the stack is a section of its own).
pub const BSS_LIMIT: u64 = 48 * 1024;
/// Target for the first announcement after machine reset, by the image's own clock.
pub const FIRST_ANNOUNCEMENT_TARGET_MS: u64 = 40;
/// How long the image runs alone for its measurements.
const MEASURE_RUN: Duration = Duration::from_millis(1500);
/// Its boot arguments then (no network: a virtio-net device without a backend).
const MEASURE_BOOTARGS: &str = "ip=10.77.1.60/24 interval=0.2";
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

/// Builds the image, reads its sections and boots it alone for its stack and boot time.
pub fn build_and_measure(
    project: &crate::project::Project,
) -> Result<(std::path::PathBuf, Footprint, Measured), String> {
    let image = crate::image::build(project)?;
    let footprint = Footprint::read(&image)?;
    let scratch = project.scratch_dir("riscv-measure")?;
    let measured = Measured::from_console(&run_alone(&image, &scratch)?)?;
    Ok((image, footprint, measured))
}

/// What a run of the image alone showed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Measured {
    /// The deepest stack it reported, in bytes.
    pub stack_high_water: u64,
    /// Its first announcement, in ms after machine reset, if it reported one.
    pub first_announcement_ms: Option<u64>,
}

impl Measured {
    /// Reads the console of a run.
    pub fn from_console(console: &str) -> Result<Measured, String> {
        let stack_high_water = crate::mps2::stack_high_water(console).ok_or_else(|| {
            format!(
                "the image reported no stack high-water mark; its console ends: {}",
                crate::testbed::tail(console, 5)
            )
        })?;
        Ok(Measured {
            stack_high_water,
            first_announcement_ms: first_announcement_ms(console),
        })
    }

    /// Lines about the stack (against the stack section of `stack` bytes) and the boot time.
    pub fn lines(&self, stack: u64) -> String {
        format!(
            "stack: {}\nfirst announcement: {} after machine reset (target {FIRST_ANNOUNCEMENT_TARGET_MS} ms; QEMU under TCG, so host load adds to it)",
            crate::stack_size::describe(self.stack_high_water, stack),
            self.first_announcement_ms
                .map_or("not seen".to_string(), |ms| format!("{ms} ms")),
        )
    }

    /// An error unless a `stack`-byte stack is sized to the high-water mark with its margin
    /// ([`stack_size::check`](crate::stack_size::check)).
    pub fn check_stack(&self, stack: u64) -> Result<(), String> {
        crate::stack_size::check(self.stack_high_water, stack, "link.x")
    }
}

/// The image's own `first announcement sent N ms after machine reset`.
pub fn first_announcement_ms(log: &str) -> Option<u64> {
    let line = log
        .lines()
        .find(|l| l.contains("first announcement sent"))?;
    let after = line.split("first announcement sent ").nth(1)?;
    after.split_whitespace().next()?.parse().ok()
}

/// Boots `image` alone under QEMU for a moment (no network, console to a file in
/// `scratch`) and returns what it printed.
pub fn run_alone(image: &Path, scratch: &Path) -> Result<String, String> {
    ensure::tools(&[QEMU_TOOL])?;
    let console = scratch.join("alone.console");
    let file =
        File::create(&console).map_err(|e| format!("cannot create {}: {e}", console.display()))?;
    let mut qemu = std::process::Command::new(QEMU_TOOL.command)
        .args(["-machine", "virt", "-bios", "none", "-display", "none"])
        .args(["-monitor", "none", "-serial", "stdio", "-nic", "none"])
        .args(["-device", "virtio-net-device", "-kernel"])
        .arg(image)
        .args(["-append", MEASURE_BOOTARGS])
        .stdin(Stdio::null())
        .stdout(file)
        .stderr(Stdio::null())
        .spawn()
        .map_err(|e| format!("cannot start {}: {e}", QEMU_TOOL.command))?;
    let end = Instant::now() + MEASURE_RUN;
    let mut exited = None;
    while exited.is_none() && Instant::now() < end {
        std::thread::sleep(Duration::from_millis(20));
        exited = qemu.try_wait().ok().flatten();
    }
    if exited.is_none() {
        let _ = qemu.kill();
        let _ = qemu.wait();
    }
    let text = std::fs::read_to_string(&console)
        .map_err(|e| format!("cannot read {}: {e}", console.display()))?;
    match exited {
        Some(status) => Err(format!(
            "the image ended QEMU ({status}) while running alone; its console ends: {}",
            crate::testbed::tail(&text, 5)
        )),
        None => Ok(text),
    }
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

    #[test]
    fn the_stack_and_boot_time_are_read_from_the_console() {
        let console = "[    0.030] INFO  first announcement sent 31 ms after machine reset\r\n\
            [    0.031] INFO  stack high-water mark 10064 B of 16384 B (with margin 15096 B)\r\n";
        let m = Measured::from_console(console).unwrap();
        assert_eq!(m.stack_high_water, 10064);
        assert_eq!(m.first_announcement_ms, Some(31));
        assert!(m.check_stack(16384).is_ok());
        assert!(m.check_stack(15088).is_err());
        assert!(m.check_stack(20480).is_err());
        assert!(m
            .lines(16384)
            .contains("15096 B, of a 16384 B stack (sized: 16384 B)\n"));
        assert!(Measured::from_console("nothing").is_err());
    }
}
