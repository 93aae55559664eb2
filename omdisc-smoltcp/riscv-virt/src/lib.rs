//! The portable half of the omdisc boot image for QEMU's RISC-V `virt`
//! machine: everything here builds and is unit-tested on the host too.
//!
//! - [`boot_config`]: address, group, port and interval from the kernel
//!   command line over build-time defaults;
//! - [`device_tree`]: what the image needs from the firmware's device tree;
//! - [`virtio_net`]: a virtio-net NIC as a `smoltcp::phy::Device`;
//! - [`cluster_node`]: the `omdisc-smoltcp` node as the image sets it up, its map and
//!   event log.
//!
//! The machine-specific half (entry stub, console, clock, timer, interrupt
//! controller, DMA memory) lives in the binary, `src/main.rs` and `src/board/`.
#![cfg_attr(not(test), no_std)]
#![deny(missing_docs)]

pub mod boot_config;
pub mod cluster_node;
pub mod device_tree;
pub mod virtio_net;
