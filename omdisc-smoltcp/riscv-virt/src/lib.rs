//! The portable half of the omdisc boot image for QEMU's RISC-V `virt`
//! machine: everything here builds and is unit-tested on the host too.
//!
//! - [`device_tree`]: what the image needs from the firmware's device tree;
//! - [`virtio_net`]: a virtio-net NIC as a `smoltcp::phy::Device`.
//!
//! The boot arguments and the node's drive loop are shared with the other boards:
//! `omdisc_smoltcp::boot`.
//!
//! The machine-specific half (entry stub, console, clock, timer, interrupt
//! controller, DMA memory) lives in the binary, `src/main.rs` and `src/board/`.
#![cfg_attr(not(test), no_std)]
#![deny(missing_docs)]

pub mod device_tree;
pub mod virtio_net;
