//! The machine-specific half of the image: QEMU's RISC-V `virt` machine in
//! machine mode, without firmware (`-bios none`).

pub mod clock;
pub mod console;
pub mod entry;
pub mod plic;
pub mod power;
pub mod rtc;
pub mod sleep;
pub mod stack;
