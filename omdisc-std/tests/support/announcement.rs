//! The announcement of a simulated plain node (the core's
//! [`plain_announcement`](omdisc_core::testing::plain_announcement)) at an IPv4 address.
//! Shared, with `#[path]`, by `tests/daemon_no_allocation.rs` and
//! `examples/ingest_blast.rs`, which stand in for such nodes.

use std::net::{IpAddr, Ipv4Addr};

use omdisc_core::{Duration, Message, NodeId};

/// Round `sequence` of incarnation `incarnation` of node `origin` at `ip`, announcing
/// `interval`.
pub fn announcement(
    origin: NodeId,
    ip: Ipv4Addr,
    incarnation: u64,
    sequence: u32,
    interval: Duration,
) -> Message {
    omdisc_core::testing::plain_announcement(
        origin,
        IpAddr::V4(ip),
        incarnation,
        sequence,
        interval,
    )
}
