//! The announcement of a plain node, as the tests, benchmarks and test programs of every
//! crate build it.

use core::net::IpAddr;

use crate::addr::{AddrList, IfaceId, NodeAddr};
use crate::id::NodeId;
use crate::time::Duration;
use crate::wire::{Message, MessageKind};

/// Round `sequence` of incarnation `incarnation` of node `origin` at `ip`, announcing
/// `interval`: one primary address, heard directly (hop 0), sent to the group, no JOIN, not
/// a gateway — what every node of a quiet cluster sends each round.
pub fn plain_announcement(
    origin: NodeId,
    ip: IpAddr,
    incarnation: u64,
    sequence: u32,
    interval: Duration,
) -> Message {
    let mut addrs = AddrList::new();
    // One address always fits (a list holds up to six).
    let _ = addrs.push(NodeAddr::primary(ip, IfaceId::FIRST));
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
