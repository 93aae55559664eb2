//! The portable half of the omdisc boot image for QEMU's MPS2 AN386 board (Cortex-M4F):
//! everything here builds and is unit-tested on the host too.
//!
//! - [`lan9118`]: the board's Ethernet controller as a `smoltcp::phy::Device`;
//! - [`command_line`]: the boot arguments in semihosting's command line.
//!
//! The machine-specific half (SysTick clock, `wfi`, NVIC, semihosting calls, defmt
//! logger) lives in the binary, `src/main.rs` and `src/board/`; the boot arguments' meaning
//! and the node's drive loop are shared with the other boards (`omdisc_smoltcp::boot`).
#![cfg_attr(not(test), no_std)]
#![deny(missing_docs)]

pub mod command_line;
pub mod lan9118;
