//! What the benchmarks (and the allocation test, which includes this file) share: a
//! counting global allocator, a cluster key, 1 000 simulated peers and an engine that
//! knows them all.
//!
//! The peers sit in 250 runs of 4 consecutive ids and addresses (ids 1–4, 6–9, …), so the
//! setpe map of the cluster needs 250 range lines — close to the kernel's 256 — instead of
//! collapsing into one line.

#![allow(dead_code)] // each bench target uses a different part

// Also included by omdisc-std's tests/daemon_no_allocation.rs.
mod counting_allocator;
#[allow(unused_imports)] // each bench target uses a different part
pub use counting_allocator::{allocations, allocations_during, CountingAllocator};

use std::net::{IpAddr, Ipv4Addr};

use omdisc_core::map::MapNode;
use omdisc_core::{
    ClusterKey, Config, Duration, Engine, IfaceId, Instant, InterfaceSpec, Keyring, Message,
    NodeEntry, NodeId, MAX_DATAGRAM_LEN,
};

/// Members of the benchmarked cluster: this node and 999 peers.
pub const MEMBERS: usize = 1000;
/// Peers (every member but this node).
pub const PEERS: usize = MEMBERS - 1;
/// Node-table capacity, as large as the daemon's default.
pub const TABLE_CAPACITY: usize = 65_535 + 1024;
/// The benchmarks' cluster key (32 bytes, hex).
pub const KEY_HEX: &str = "7b1f0e5c9a2d4b6e8f1a3c5e7d9b0a2c4e6f8a1b3c5d7e9f0a2b4c6d8e0f1a3b";
/// Incarnation of every simulated peer.
pub const PEER_INCARNATION: u64 = 1_700_000_000_000;

/// The engine as the daemon uses it: a boxed table.
pub type BenchEngine = Engine<Box<[NodeEntry]>>;

/// The keyring of [`KEY_HEX`].
pub fn keyring() -> Keyring {
    Keyring::new(ClusterKey::from_hex(KEY_HEX).expect("valid key"))
}

/// This node: 10.1.253.232, node id 65000 (clear of every peer's id).
pub fn own_ip() -> IpAddr {
    IpAddr::V4(Ipv4Addr::new(10, 1, 253, 232))
}

/// Node id of peer `k` (0-based): runs of 4 consecutive ids with a gap after each.
pub fn peer_id(k: usize) -> u16 {
    (1 + (k / 4) * 5 + k % 4) as u16
}

/// Address of peer `k`: 10.1.(id / 256).(id % 256), so its id is its last two octets.
pub fn peer_ip(k: usize) -> IpAddr {
    let [hi, lo] = peer_id(k).to_be_bytes();
    IpAddr::V4(Ipv4Addr::new(10, 1, hi, lo))
}

/// Announcement number `sequence` of peer `k`.
pub fn announcement(k: usize, sequence: u32) -> Message {
    omdisc_core::testing::plain_announcement(
        NodeId::new(peer_id(k)).expect("non-zero id"),
        peer_ip(k),
        PEER_INCARNATION,
        sequence,
        Duration::from_millis(4_800),
    )
}

/// Peer `k`'s announcement number `sequence`, encoded (signed with `keys` if given).
pub fn datagram(k: usize, sequence: u32, keys: Option<&Keyring>) -> Vec<u8> {
    let mut buf = [0u8; MAX_DATAGRAM_LEN];
    let len = announcement(k, sequence)
        .emit(&mut buf, keys)
        .expect("fits the buffer");
    buf[..len].to_vec()
}

/// A started engine for this node that has heard announcement 1 of every peer (so its
/// table holds [`MEMBERS`] members), with its events and datagrams drained. Returns it with
/// the instant it has reached.
pub fn cluster_engine(keys: Option<Keyring>) -> (BenchEngine, Instant) {
    let ip = own_ip();
    let mut config = Config::new(NodeId::from_ip(ip).expect("non-zero id"), 1);
    // The peers are simulated by their announcements only: they answer no probes.
    config.probe_interval = omdisc_core::Duration::ZERO;
    let storage = vec![NodeEntry::VACANT; TABLE_CAPACITY].into_boxed_slice();
    let mut engine = Engine::new(config, &[InterfaceSpec::with_address(ip)], storage, 7)
        .expect("valid configuration");
    engine.set_keyring(keys.clone());
    let now = Instant::from_millis(10_000);
    engine.start(now);
    for k in 0..PEERS {
        let bytes = datagram(k, 1, keys.as_ref());
        engine
            .handle_datagram(
                now,
                IfaceId::FIRST,
                core::net::SocketAddr::new(peer_ip(k), 7477),
                &bytes,
            )
            .expect("peer accepted");
    }
    drain(&mut engine, now);
    assert_eq!(engine.members().count(), MEMBERS);
    (engine, now)
}

/// Pulls every waiting datagram and event out of `engine`.
pub fn drain(engine: &mut BenchEngine, now: Instant) {
    let mut buf = [0u8; MAX_DATAGRAM_LEN];
    while engine.poll_transmit(now, &mut buf).is_some() {}
    while engine.poll_event().is_some() {}
}

/// The map's members of `engine`, as the daemon renders them.
pub fn map_nodes(engine: &BenchEngine) -> Vec<MapNode> {
    engine.members().map(MapNode::from_entry).collect()
}

/// A `fmt::Write` over a fixed byte buffer (no allocation): the setpe text goes here.
pub struct FixedText<const N: usize> {
    bytes: [u8; N],
    len: usize,
}

impl<const N: usize> FixedText<N> {
    /// An empty buffer.
    pub fn new() -> Self {
        FixedText {
            bytes: [0; N],
            len: 0,
        }
    }

    /// Forgets what was written.
    pub fn clear(&mut self) {
        self.len = 0;
    }

    /// What was written.
    pub fn as_str(&self) -> &str {
        std::str::from_utf8(&self.bytes[..self.len]).expect("only str was written")
    }
}

impl<const N: usize> std::fmt::Write for FixedText<N> {
    fn write_str(&mut self, s: &str) -> std::fmt::Result {
        let end = self.len + s.len();
        let dst = self.bytes.get_mut(self.len..end).ok_or(std::fmt::Error)?;
        dst.copy_from_slice(s.as_bytes());
        self.len = end;
        Ok(())
    }
}
