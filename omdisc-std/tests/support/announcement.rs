//! The announcement of a simulated plain node: one primary IPv4 address, heard directly
//! (hop 0), sent to the group, no JOIN, not a gateway — what every node of a quiet cluster
//! sends each round. Shared, with `#[path]`, by `tests/daemon_no_allocation.rs` and
//! `examples/ingest_blast.rs`, which stand in for such nodes.

use std::net::{IpAddr, Ipv4Addr};

use omdisc_core::{AddrList, Duration, IfaceId, Message, MessageKind, NodeAddr, NodeId};

/// Round `sequence` of incarnation `incarnation` of node `origin` at `ip`, announcing
/// `interval`.
pub fn announcement(
    origin: NodeId,
    ip: Ipv4Addr,
    incarnation: u64,
    sequence: u32,
    interval: Duration,
) -> Message {
    let mut addrs = AddrList::new();
    // One address always fits (a list holds up to six).
    let _ = addrs.push(NodeAddr::primary(IpAddr::V4(ip), IfaceId::FIRST));
    Message {
        kind: MessageKind::Announce,
        join: false,
        unicast: false,
        gateway: false,
        hops: 0,
        relayer: None,
        origin,
        incarnation,
        sequence,
        interval,
        addrs,
    }
}
