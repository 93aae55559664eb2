//! # omdisc-core
//!
//! The `no_std`, allocation-free heart of omdisc, cluster auto-discovery in the tradition of
//! openMosix's `omdiscd`. The [`Engine`] is *sans-IO*: you pass in the time, received
//! datagrams and a seed; you pull out datagrams to send, the next deadline and membership
//! events. This is the whole drive loop:
//!
//! ```
//! use core::net::{IpAddr, Ipv4Addr};
//! use omdisc_core::{ArrayEngine, Config, InterfaceSpec, Instant, NodeEntry, NodeId, MAX_DATAGRAM_LEN};
//!
//! let ip = IpAddr::V4(Ipv4Addr::new(192, 168, 10, 220));
//! let config = Config::new(NodeId::from_ip(ip)?, /* incarnation */ 1);
//! let iface = [InterfaceSpec::with_address(ip)];
//! let mut engine: ArrayEngine<64> = ArrayEngine::new(config, &iface, [NodeEntry::VACANT; 64], 42)?;
//! let mut buf = [0u8; MAX_DATAGRAM_LEN];
//! let now = Instant::from_millis(0); // your monotonic clock
//! engine.start(now);
//! // loop {
//!     // for each datagram received (group or unicast), with its source address and port:
//!     // engine.handle_datagram(now, iface, src, &bytes)
//!     engine.handle_timeout(now);
//!     while let Some(tx) = engine.poll_transmit(now, &mut buf) {
//!         // send &buf[..tx.len] from interface tx.iface to tx.to: the group
//!         // (Destination::Group) or one peer by unicast (Destination::Peer(addr))
//!     }
//!     while let Some(event) = engine.poll_event() { /* Joined, Left, ...: rewrite the map */ }
//!     // when the kernel reports an interface's new addresses (or none):
//!     // engine.set_addresses(now, iface, &addresses)
//!     let _sleep_until = engine.poll_timeout(); // or until a datagram arrives
//! // }
//! // On shutdown: engine.leave(now), then drain poll_transmit to send the LEAVE.
//! assert_eq!(engine.members().count(), 1); // just this node, so far
//! # Ok::<(), Box<dyn core::error::Error>>(())
//! ```
//!
//! The same code runs in the Linux daemon (`omdisc-std`), over smoltcp (`omdisc-smoltcp`)
//! and in bare-metal boot images.
//!
//! ## What is where
//!
//! * The engine: [`Engine`] (and [`ArrayEngine`]), set up with a [`Config`] and
//!   [`InterfaceSpec`]s (protocol defaults such as [`DEFAULT_PORT`] and
//!   [`DEFAULT_GROUP_V4`] are here too); it reports [`Event`]s, [`Stats`] and, per
//!   operation, an error that says what it left unchanged ([`ConfigError`], [`RxError`]).
//! * What it knows: the [`NodeTable`] of [`NodeEntry`]s (its members are the map),
//!   [`Collision`]s between hosts claiming one [`NodeId`].
//! * The wire format: [`wire`] — a checked [`Packet`] view, [`Verified`], [`Message`],
//!   [`Keyring`] for the cluster key, the format's constants.
//! * The openMosix map: [`map`] — `om_config`/`om_mospe` files and setpe text.
//! * Time is the core's own [`Instant`] and [`Duration`] (milliseconds), so no frontend's
//!   clock type leaks in.
//!
//! ## Guarantees
//!
//! * `#![no_std]`, no `alloc`; capacities are fixed: [`MAX_ADDRS`] addresses per node,
//!   [`MAX_IFACES`] interfaces, and a node table as large as the storage you give it.
//! * Untrusted input never panics: no `unwrap`, `expect`, `panic!` or unchecked indexing
//!   outside tests (enforced by the lints at the top of this file). A full table, an
//!   oversize message, a bad field: an error value, never silent truncation.
//! * Logging through `log` (feature `log`, default) or `defmt` (feature `defmt`, with which
//!   the types a board logs implement `defmt::Format`).
//! * Feature `probes` (default): the SWIM probe protocol (probe timer, PING-REQs served for
//!   others, suspicion), gossip (piggybacked news, the unicast fan-out, digests for unicast
//!   JOINs, contacting unknown senders) and seeds. Without it the engine still answers
//!   PINGs with an ACK (so members that probe keep it), but takes nothing else from the
//!   unicast kinds, never probes (`Config::probe_interval` is ignored), does not answer
//!   unicast JOINs and never contacts seeds: members leave its map by expiry only. That
//!   keeps the engine small enough for 64 KiB of flash (the MPS2 and RISC-V boot images
//!   build without it).

#![no_std]
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

mod addr;
mod config;
pub mod detector;
mod engine;
mod event;
mod id;
pub mod map;
mod rng;
mod table;
#[doc(hidden)]
pub mod testing;
mod time;
pub mod wire;

pub use addr::{is_node_address, AddrList, AddrRole, IfaceId, NodeAddr, MAX_ADDRS, MAX_IFACES};
pub use config::{
    Config, ConfigError, Forwarding, IdSource, InterfaceSpec, DEFAULT_BANDWIDTH,
    DEFAULT_DEAD_AFTER, DEFAULT_GROUP_V4, DEFAULT_GROUP_V6, DEFAULT_INTERVAL,
    DEFAULT_MAX_DEAD_AFTER, DEFAULT_PORT, DEFAULT_PROBE_INTERVAL, MAX_TOMBSTONE_LIFETIME,
    MIN_INTERVAL_MS,
};
pub use detector::{DeadAfter, Detector, LossEstimate};
pub use engine::{
    advertised_interval, AddressError, ArrayEngine, Destination, Engine, Phase, Received, RxError,
    SeedError, Stats, Transmit, DEFAULT_CAPACITY, DUPLICATE_CACHE_LEN, EVENT_QUEUE_LEN,
    LEAVE_BACKOFF_MEMBERS, MAX_RUMORS, MAX_SEEDS, MAX_SUSPECTS, PUSH_RESENDS, RELAY_QUEUE_LEN,
    SEED_RETRY_MAX, SEED_RETRY_MIN, SEED_UNREACHABLE_AFTER, UNICAST_QUEUE_LEN,
};
pub use event::Event;
pub use id::{NodeId, NodeIdError};
pub use table::{Collision, NodeEntry, NodeState, NodeTable, TableStorage};
pub use time::{Duration, Instant};
pub use wire::{
    ClusterKey, EmitError, Gossip, KeyError, Keyring, MemberState, Message, MessageKind, Packet,
    Payload, SyncSummary, Verified, WireError, MAX_DATAGRAM_LEN,
};
