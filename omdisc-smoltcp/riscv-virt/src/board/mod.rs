//! The machine-specific half of the image: QEMU's RISC-V `virt` machine in
//! supervisor mode under OpenSBI.

pub mod clock;
pub mod console;
pub mod dma;
pub mod entry;
pub mod plic;
pub mod rtc;
pub mod sbi;
pub mod sleep;
pub mod stack;
