//! # omdisc-smoltcp
//!
//! The omdisc discovery engine ([`omdisc_core`]) over [smoltcp]: the same `no_std` protocol
//! code that runs in the Linux daemon, on any network device smoltcp can drive — a
//! microcontroller's MAC, a virtio-net NIC in a boot image, or a Linux TAP device (the
//! `omdisc-tap` program of `omdisc-std`, feature `smoltcp`). This crate is what a board
//! needs and nothing more: it depends on no host shell.
//!
//! A [`Node`] owns a smoltcp [`Interface`](smoltcp::iface::Interface) with its own Ethernet
//! and IP addresses and a UDP socket bound to the group port; it joins the group (IGMP,
//! or MLD for an IPv6 group with feature `ipv6`) and feeds the engine. With feature
//! `probes`, direct datagrams (probes, ACKs, gossip) go out through sockets of their own. The caller keeps the
//! device and the clock, and supplies all memory ([`NodeStorage`] and the node table): no
//! heap is needed.
//!
//! ## The drive loop
//!
//! ```
//! use omdisc_core::NodeEntry;
//! use omdisc_smoltcp::{Node, NodeStorage, Settings};
//! use smoltcp::phy::Device;
//! use smoltcp::time::Instant;
//! use smoltcp::wire::{EthernetAddress, IpCidr, Ipv4Address, Ipv4Cidr};
//!
//! fn run<'a, D: Device>(device: &mut D, clock: impl Fn() -> Instant, storage: &'a mut NodeStorage<'a>)
//! # -> Result<(), Box<dyn core::error::Error>>
//! {
//!     let mac = EthernetAddress([0x02, 0x6f, 0x6d, 0x0a, 0x4d, 0x32]);
//!     let ip = IpCidr::Ipv4(Ipv4Cidr::new(Ipv4Address::new(10, 77, 1, 50), 24));
//!     let settings = Settings::new(mac, ip, /* incarnation */ 1, /* seed */ 0x5eed)?;
//!     let mut node = Node::new(settings, device, clock(), storage, [NodeEntry::VACANT; 64])?;
//!     loop {
//!         let delay = node.poll(clock(), device);
//!         while let Some(_event) = node.poll_event() {
//!             // Joined/Left/Expired...: print or store the map (node.engine().members()).
//!         }
//!         // Sleep until a frame arrives or `delay` has passed (no delay: until a frame).
//! #       let _ = delay; break;
//!     }
//!     // On shutdown: LEAVE, so every other node drops this one at once.
//!     for _ in 0..100 {
//!         if node.leave(clock(), device).is_ok() {
//!             break;
//!         }
//!     }
//! #   Ok(())
//! }
//! ```
//!
//! ## Receive bursts
//!
//! smoltcp's `Interface::poll` takes in every pending frame before the application reads
//! its socket, so a burst larger than the socket's queue would be dropped. [`Node::poll`]
//! instead hands each frame's datagram to the engine before taking in the next one, so a
//! small receive queue loses nothing; the per-poll ingress budget
//! ([`Settings::ingress_budget`]) keeps a flood from starving the caller.
//!
//! ## Probes
//!
//! With feature `probes` (default) the node runs the core's failure detection by probes
//! (SWIM): a crashed member is removed within seconds, whatever the announce interval. A
//! smoltcp UDP socket keeps a datagram whose next hop does not answer ARP (or neighbour
//! solicitation) at the head of its queue, retried once a second, with everything behind it
//! waiting; a crashed member's address soon stops answering. So group datagrams have a
//! socket to themselves, direct ones go through [`UNICAST_SOCKETS`] sockets of one datagram
//! each, and a direct datagram that has waited [`Settings::unicast_wait`] for its next hop is
//! dropped ([`NodeCounters::unicast_stuck`]); while every such socket waits, new direct
//! datagrams are dropped ([`NodeCounters::unicast_dropped`]). smoltcp learns neighbours
//! from ARP only, one unknown neighbour a second: the node also learns each member's
//! Ethernet address from the datagrams the engine accepts from it, so probes to members
//! that announce need no ARP. Without the feature (the boot
//! images, for their flash) the node answers PINGs but never probes: members only expire
//! by silence.
//!
//! ## Features
//!
//! * `log` (default) or `defmt`: the logging backend, of this crate and the core. Mutually
//!   exclusive.
//! * `ipv6` (default): IPv6 addresses and groups (smoltcp's `proto-ipv6`, MLDv2 joins).
//! * `probes` (default): failure detection by probes, with the direct-datagram sockets
//!   (the core's `probes` feature).
//!
//! ## Not supported
//!
//! Several interfaces per node (gateways: use `omdiscd`), mediums other than Ethernet, and
//! repeated MLD reports (IGMP reports are repeated, see [`Settings::igmp_repeats`]).
//!
//! [smoltcp]: https://docs.rs/smoltcp

#![cfg_attr(not(test), no_std)]
#![forbid(unsafe_code)]
#![deny(missing_docs, unreachable_pub)]
#![cfg_attr(
    not(test),
    deny(
        clippy::unwrap_used,
        clippy::expect_used,
        clippy::panic,
        clippy::indexing_slicing,
        clippy::unreachable,
        clippy::todo,
        clippy::unimplemented
    )
)]

#[macro_use]
mod log;

pub mod boot;
mod error;
mod igmp;
#[cfg(feature = "probes")]
mod neighbours;
mod node;
mod settings;
mod storage;
mod time;
#[cfg(feature = "probes")]
mod unicast;

#[cfg(test)]
mod test_device;

pub use error::SetupError;
pub use igmp::group_mac;
pub use node::{Node, NodeCounters, NodeEngine, NODE_RELAY_QUEUE};
pub use settings::{
    Settings, DEFAULT_DEAD_AFTER, DEFAULT_GROUP, DEFAULT_IGMP_REPEATS, DEFAULT_IGMP_SPACING,
    DEFAULT_INGRESS_BUDGET, DEFAULT_PORT, MAX_NODE_ADDRESSES,
};
pub use storage::{NodeStorage, DEFAULT_RX_SLOTS, DEFAULT_TX_SLOTS};
#[cfg(feature = "probes")]
pub use unicast::{DEFAULT_UNICAST_WAIT, UNICAST_SOCKETS};
