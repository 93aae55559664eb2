//! [`Payload`]: what the unicast kinds (PING, ACK, PING-REQ, GOSSIP) carry after the
//! sender's addresses — a probe number, a target (PING-REQ only), the sender's member
//! count, a sync request (a summary of the sender's map), and up to [`MAX_GOSSIP_ENTRIES`]
//! gossip entries about other members.
//!
//! ```text
//!  0        4       5       6         8
//! +--------+-------+-------+---------+-----------------------+------------------+---------------------+
//! | nonce  | flags | count | members | [port, address entry] | [salt, 32 × sum] | count × gossip entry|
//! +--------+-------+-------+---------+-----------------------+------------------+---------------------+
//! gossip entry: state(1) node(2) incarnation(8) sequence(4) port(2) address entry(6|18)
//! ```
//!
//! `flags` bit 0 (target) is set exactly for PING-REQ (the port and address of the member
//! to probe follow); bit 1 (sync) asks the receiver for the members this node lacks: a
//! [`SyncSummary`] follows (68 bytes), and the payload carries no gossip entries; the other
//! bits are reserved, 0. `members` is how many members the sender's map holds (itself
//! included; 65 535 at most). An address entry is the one of the header's address list
//! (tag, interface, 4 or 16 bytes); its interface and role are written as 0 and ignored.

use core::net::SocketAddr;

use super::{address, MessageKind, WireError};
use crate::addr::{AddrRole, IfaceId, NodeAddr};
use crate::id::NodeId;

/// Most gossip entries one datagram carries.
pub const MAX_GOSSIP_ENTRIES: usize = 6;

/// Length of the payload's fixed part: nonce, flags, entry count, member count.
const FIXED_LEN: usize = 8;
/// Payload flag: a PING-REQ's target follows.
const FLAG_TARGET: u8 = 0x01;
/// Payload flag: a sync summary follows (the sender asks for the members it lacks).
const FLAG_SYNC: u8 = 0x02;
/// Buckets of a [`SyncSummary`].
pub const SYNC_BUCKETS: usize = 32;
/// Length of an encoded [`SyncSummary`]: the salt and one 16-bit sum a bucket.
const SUMMARY_LEN: usize = 4 + 2 * SYNC_BUCKETS;
/// Length of a gossip entry before its address: state, node, incarnation, sequence, port.
const ENTRY_FIXED_LEN: usize = 1 + 2 + 8 + 4 + 2;
/// Longest target: port and an IPv6 entry.
const MAX_TARGET_LEN: usize = 2 + address::IPV6_ENTRY_LEN;
/// Longest payload.
pub(crate) const MAX_PAYLOAD_LEN: usize =
    FIXED_LEN + MAX_TARGET_LEN + MAX_GOSSIP_ENTRIES * (ENTRY_FIXED_LEN + address::IPV6_ENTRY_LEN);

/// What a gossip entry says about a member.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum MemberState {
    /// A member the sender knows at this address: the receiver contacts it if it does not
    /// know it (a member digest; it never adds the node by itself).
    Alive,
    /// The sender's probes of this member went unanswered; the member refutes by sending a
    /// newer sequence number.
    Suspect,
    /// The member was suspected and did not refute in time: receivers that know nothing
    /// newer of it remove it.
    Dead,
    /// The member said it was leaving (its LEAVE, passed on): receivers that know nothing
    /// newer of it remove it.
    Left,
}

impl MemberState {
    const fn code(self) -> u8 {
        match self {
            MemberState::Alive => 1,
            MemberState::Suspect => 2,
            MemberState::Dead => 3,
            MemberState::Left => 4,
        }
    }

    const fn from_code(code: u8) -> Result<MemberState, WireError> {
        match code {
            1 => Ok(MemberState::Alive),
            2 => Ok(MemberState::Suspect),
            3 => Ok(MemberState::Dead),
            4 => Ok(MemberState::Left),
            other => Err(WireError::UnknownMemberState(other)),
        }
    }
}

/// One gossip entry: a member's state as the sender knows it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Gossip {
    /// What the sender says about the member.
    pub state: MemberState,
    /// The member's id.
    pub node: NodeId,
    /// The member's incarnation, as the sender knows it.
    pub incarnation: u64,
    /// The member's sequence number, as the sender knows it (a suspicion or death applies
    /// only to what is not newer).
    pub sequence: u32,
    /// Where the member is reached (address and port).
    pub addr: SocketAddr,
}

/// A summary of a map, sent with a sync request: the members are spread over
/// [`SYNC_BUCKETS`] buckets by a hash salted with `salt`, and each bucket's sum adds up a
/// 16-bit check of each member in it (its id and incarnation). The receiver builds the same
/// summary of its own map with the same salt and sends the members of the buckets whose
/// sums differ: a map that lacks two members of 1 000 gets about 60 members back, not 1 000.
/// A fresh salt with every request makes a collision (two different buckets with one sum)
/// last one request only.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct SyncSummary {
    /// The hash's salt.
    pub salt: u32,
    /// Each bucket's sum (wrapping) of its members' checks, big-endian, as on the wire
    /// ([`SyncSummary::sum`] reads one).
    pub sums: [u8; 2 * SYNC_BUCKETS],
}

impl Default for SyncSummary {
    fn default() -> Self {
        SyncSummary::new(0)
    }
}

impl SyncSummary {
    /// An empty summary (no members) with `salt`.
    pub const fn new(salt: u32) -> SyncSummary {
        SyncSummary {
            salt,
            sums: [0; 2 * SYNC_BUCKETS],
        }
    }

    /// The bucket of member `node` at `incarnation` under `salt`, and its check.
    pub fn place(salt: u32, node: NodeId, incarnation: u64) -> (usize, u16) {
        let x = mix(salt ^ u32::from(node.get()));
        let x = mix(mix(x ^ incarnation as u32) ^ (incarnation >> 32) as u32);
        (x as usize % SYNC_BUCKETS, (x >> 16) as u16)
    }

    /// Bucket `bucket`'s sum (0 past the last bucket).
    pub fn sum(&self, bucket: usize) -> u16 {
        self.sums
            .get(bucket.saturating_mul(2)..)
            .and_then(|s| s.first_chunk::<2>())
            .map_or(0, |b| u16::from_be_bytes(*b))
    }

    /// Sets bucket `bucket`'s sum (nothing past the last bucket).
    pub fn set_sum(&mut self, bucket: usize, sum: u16) {
        let slot = self.sums.get_mut(bucket.saturating_mul(2)..);
        if let Some(b) = slot.and_then(|s| s.first_chunk_mut::<2>()) {
            *b = sum.to_be_bytes();
        }
    }

    /// Adds member `node` at `incarnation`.
    pub fn add(&mut self, node: NodeId, incarnation: u64) {
        let (bucket, check) = Self::place(self.salt, node, incarnation);
        self.set_sum(bucket, self.sum(bucket).wrapping_add(check));
    }

    /// The buckets whose sums differ from `other`'s, a bit each (bit `i`: bucket `i`).
    pub fn differing(&self, other: &SyncSummary) -> u32 {
        (0..SYNC_BUCKETS)
            .filter(|b| self.sum(*b) != other.sum(*b))
            .fold(0, |mask, b| mask | 1 << b)
    }
}

/// A 32-bit mixing function (MurmurHash3's finalizer): every input bit moves every output bit.
const fn mix(mut x: u32) -> u32 {
    x ^= x >> 16;
    x = x.wrapping_mul(0x85eb_ca6b);
    x ^= x >> 13;
    x = x.wrapping_mul(0xc2b2_ae35);
    x ^ (x >> 16)
}

/// The gossip entries of one datagram.
pub type GossipList = heapless::Vec<Gossip, MAX_GOSSIP_ENTRIES, u8>;

/// The payload of a PING, ACK, PING-REQ or GOSSIP datagram.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Payload {
    /// The probe number an ACK echoes (PING, ACK, PING-REQ; 0 in GOSSIP).
    pub nonce: u32,
    /// The member a PING-REQ asks the receiver to probe (`None` for the other kinds).
    pub target: Option<SocketAddr>,
    /// How many members the sender's map holds, itself included (0: not said).
    pub members: u16,
    /// A sync request: the sender holds fewer members than the receiver said it does, and
    /// asks for those of the buckets where this summary of its map differs (no gossip
    /// entries come with it).
    pub sync: Option<SyncSummary>,
    /// Gossip about other members.
    pub entries: GossipList,
}

impl Payload {
    /// An empty payload: nonce 0, no target, no member count, no sync, no entries.
    pub const EMPTY: Payload = Payload {
        nonce: 0,
        target: None,
        members: 0,
        sync: None,
        entries: heapless::Vec::new(),
    };

    /// Encoded length.
    pub fn buffer_len(&self) -> usize {
        let target = self.target.map_or(0, |t| 2 + socket_entry_len(&t));
        let entries: usize = self
            .entries
            .iter()
            .map(|e| ENTRY_FIXED_LEN + socket_entry_len(&e.addr))
            .sum();
        let summary = if self.sync.is_some() { SUMMARY_LEN } else { 0 };
        FIXED_LEN + target + summary + entries
    }

    /// Writes the payload at the start of `out`; `None` (after a partial write the caller
    /// discards) if `out` is too short, or if a sync request carries gossip entries.
    pub(crate) fn write(&self, out: &mut [u8]) -> Option<usize> {
        if self.sync.is_some() && !self.entries.is_empty() {
            return None;
        }
        let (fixed, mut rest) = out.split_first_chunk_mut::<FIXED_LEN>()?;
        let [n0, n1, n2, n3] = self.nonce.to_be_bytes();
        let [m0, m1] = self.members.to_be_bytes();
        let flags = if self.target.is_some() {
            FLAG_TARGET
        } else {
            0
        } | if self.sync.is_some() { FLAG_SYNC } else { 0 };
        *fixed = [n0, n1, n2, n3, flags, self.entries.len() as u8, m0, m1];
        let mut written = FIXED_LEN;
        if let Some(target) = self.target {
            let n = write_socket(&target, rest)?;
            rest = rest.get_mut(n..)?;
            written += n;
        }
        if let Some(summary) = &self.sync {
            let (head, tail) = rest.split_first_chunk_mut::<4>()?;
            *head = summary.salt.to_be_bytes();
            let (sums, tail) = tail.split_first_chunk_mut::<{ 2 * SYNC_BUCKETS }>()?;
            *sums = summary.sums;
            rest = tail;
            written += SUMMARY_LEN;
        }
        for entry in &self.entries {
            let (head, tail) = rest.split_first_chunk_mut::<ENTRY_FIXED_LEN>()?;
            let [i0, i1, i2, i3, i4, i5, i6, i7] = entry.incarnation.to_be_bytes();
            let [s0, s1, s2, s3] = entry.sequence.to_be_bytes();
            let [d0, d1] = entry.node.get().to_be_bytes();
            let [p0, p1] = entry.addr.port().to_be_bytes();
            *head = [
                entry.state.code(),
                d0,
                d1,
                i0,
                i1,
                i2,
                i3,
                i4,
                i5,
                i6,
                i7,
                s0,
                s1,
                s2,
                s3,
                p0,
                p1,
            ];
            let n = address::encode(&NodeAddr::primary(entry.addr.ip(), IfaceId::FIRST), tail)?;
            rest = tail.get_mut(n..)?;
            written += ENTRY_FIXED_LEN + n;
        }
        Some(written)
    }

    /// Decodes the payload at the start of `buf` for a message of `kind`; returns it and
    /// its length. Every field is checked: the target flag against the kind, the reserved
    /// flags, the entry count (0 with a sync summary), each state, node id, port and address.
    pub(crate) fn decode(kind: MessageKind, buf: &[u8]) -> Result<(Payload, usize), WireError> {
        let (fixed, mut rest) = buf
            .split_first_chunk::<FIXED_LEN>()
            .ok_or(WireError::Truncated)?;
        let [n0, n1, n2, n3, flags, count, m0, m1] = *fixed;
        let has_target = flags & FLAG_TARGET != 0;
        if has_target != (kind == MessageKind::PingReq) {
            return Err(WireError::BadTarget);
        }
        if flags & !(FLAG_TARGET | FLAG_SYNC) != 0 {
            return Err(WireError::ReservedNonZero);
        }
        let sync = flags & FLAG_SYNC != 0;
        if usize::from(count) > MAX_GOSSIP_ENTRIES || sync && count > 0 {
            return Err(WireError::TooManyEntries(count));
        }
        let mut payload = Payload {
            nonce: u32::from_be_bytes([n0, n1, n2, n3]),
            target: None,
            members: u16::from_be_bytes([m0, m1]),
            sync: None,
            entries: GossipList::new(),
        };
        let mut len = FIXED_LEN;
        if has_target {
            let (target, n) = read_socket(rest)?;
            payload.target = Some(target);
            rest = rest.get(n..).ok_or(WireError::Truncated)?;
            len += n;
        }
        if sync {
            let (salt, tail) = rest.split_first_chunk::<4>().ok_or(WireError::Truncated)?;
            let (sums, tail) = tail
                .split_first_chunk::<{ 2 * SYNC_BUCKETS }>()
                .ok_or(WireError::Truncated)?;
            payload.sync = Some(SyncSummary {
                salt: u32::from_be_bytes(*salt),
                sums: *sums,
            });
            rest = tail;
            len += SUMMARY_LEN;
        }
        for _ in 0..count {
            let (head, tail) = rest
                .split_first_chunk::<ENTRY_FIXED_LEN>()
                .ok_or(WireError::Truncated)?;
            let [state, d0, d1, i0, i1, i2, i3, i4, i5, i6, i7, s0, s1, s2, s3, p0, p1] = *head;
            let state = MemberState::from_code(state)?;
            let node = NodeId::new(u16::from_be_bytes([d0, d1])).ok_or(WireError::ZeroNodeId)?;
            let port = u16::from_be_bytes([p0, p1]);
            let (addr, n) = address::decode(tail)?;
            check_entry_address(&addr, port)?;
            let entry = Gossip {
                state,
                node,
                incarnation: u64::from_be_bytes([i0, i1, i2, i3, i4, i5, i6, i7]),
                sequence: u32::from_be_bytes([s0, s1, s2, s3]),
                addr: SocketAddr::new(addr.ip, port),
            };
            payload
                .entries
                .push(entry)
                .map_err(|_| WireError::TooManyEntries(count))?;
            rest = tail.get(n..).ok_or(WireError::Truncated)?;
            len += ENTRY_FIXED_LEN + n;
        }
        Ok((payload, len))
    }
}

fn socket_entry_len(addr: &SocketAddr) -> usize {
    address::encoded_len(&NodeAddr::primary(addr.ip(), IfaceId::FIRST))
}

fn write_socket(addr: &SocketAddr, out: &mut [u8]) -> Option<usize> {
    let (port, rest) = out.split_first_chunk_mut::<2>()?;
    *port = addr.port().to_be_bytes();
    let n = address::encode(&NodeAddr::primary(addr.ip(), IfaceId::FIRST), rest)?;
    Some(2 + n)
}

fn read_socket(buf: &[u8]) -> Result<(SocketAddr, usize), WireError> {
    let (port, rest) = buf.split_first_chunk::<2>().ok_or(WireError::Truncated)?;
    let port = u16::from_be_bytes(*port);
    let (addr, n) = address::decode(rest)?;
    check_entry_address(&addr, port)?;
    Ok((SocketAddr::new(addr.ip, port), 2 + n))
}

/// An address in a payload is written with interface 0, primary, and a port that is not 0.
fn check_entry_address(addr: &NodeAddr, port: u16) -> Result<(), WireError> {
    if addr.iface != IfaceId::FIRST || addr.role != AddrRole::Primary {
        return Err(WireError::ReservedNonZero);
    }
    if port == 0 {
        return Err(WireError::BadPort);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use core::net::{IpAddr, Ipv4Addr, Ipv6Addr};

    fn gossip(state: MemberState, node: u16, ip: IpAddr) -> Gossip {
        Gossip {
            state,
            node: NodeId::new(node).unwrap(),
            incarnation: 7,
            sequence: 9,
            addr: SocketAddr::new(ip, 7477),
        }
    }

    #[test]
    fn a_ping_req_payload_round_trips() {
        let mut p = Payload {
            nonce: 0xdead_beef,
            target: Some(SocketAddr::new(
                IpAddr::V4(Ipv4Addr::new(10, 0, 0, 9)),
                7477,
            )),
            members: 300,
            sync: None,
            entries: GossipList::new(),
        };
        p.entries
            .push(gossip(
                MemberState::Suspect,
                9,
                IpAddr::V4(Ipv4Addr::new(10, 0, 0, 9)),
            ))
            .unwrap();
        p.entries
            .push(gossip(
                MemberState::Alive,
                4,
                IpAddr::V6(Ipv6Addr::LOCALHOST),
            ))
            .unwrap();
        let mut buf = [0u8; MAX_PAYLOAD_LEN];
        let n = p.write(&mut buf).unwrap();
        assert_eq!(n, p.buffer_len());
        assert_eq!(&buf[..8], &[0xde, 0xad, 0xbe, 0xef, 1, 2, 0x01, 0x2c]);
        assert_eq!(Payload::decode(MessageKind::PingReq, &buf[..n]), Ok((p, n)));
    }

    #[test]
    fn summaries_of_the_same_members_agree_and_differ_in_the_buckets_of_what_differs() {
        let id = |n| NodeId::new(n).unwrap();
        let mut full = SyncSummary::new(99);
        let mut lacking = SyncSummary::new(99);
        for n in 1..=1000 {
            full.add(id(n), 1_700_000_000_000 + u64::from(n));
            if n != 500 && n != 7 {
                lacking.add(id(n), 1_700_000_000_000 + u64::from(n));
            }
        }
        let expected = [500u16, 7]
            .iter()
            .map(|n| SyncSummary::place(99, id(*n), 1_700_000_000_000 + u64::from(*n)).0)
            .fold(0u32, |m, b| m | 1 << b);
        assert_eq!(full.differing(&lacking), expected);
        assert_eq!(full.differing(&full), 0);
        // The hash is the wire's (docs/protocol.md; these values from a Python rendering of
        // the formula there).
        assert_eq!(
            SyncSummary::place(0x0102_0304, id(2780), 1_700_000_000_000),
            (0, 20082)
        );
        assert_eq!(SyncSummary::place(0, id(1), 1), (17, 61732));
        // Another incarnation is another check; members spread over every bucket.
        assert_ne!(
            SyncSummary::place(99, id(5), 1),
            SyncSummary::place(99, id(5), 2)
        );
        assert!((0..SYNC_BUCKETS).all(|b| full.sum(b) != 0));
        // Another salt, other buckets.
        let buckets = |salt| {
            (1..=64)
                .map(|n| SyncSummary::place(salt, id(n), 1).0)
                .collect::<heapless::Vec<usize, 64>>()
        };
        assert_ne!(buckets(1), buckets(2));
    }

    #[test]
    fn a_target_is_required_exactly_for_ping_req() {
        let buf = [0, 0, 0, 1, 0, 0, 0, 0];
        assert_eq!(
            Payload::decode(MessageKind::PingReq, &buf),
            Err(WireError::BadTarget)
        );
        assert!(Payload::decode(MessageKind::Ping, &buf).is_ok());
        let with = [0, 0, 0, 1, 1, 0, 0, 0, 0x1d, 0x35, 4, 0, 10, 0, 0, 9];
        assert_eq!(
            Payload::decode(MessageKind::Ack, &with),
            Err(WireError::BadTarget)
        );
        assert!(Payload::decode(MessageKind::PingReq, &with).is_ok());
    }

    #[test]
    fn bad_entries_are_refused() {
        let too_many = [0, 0, 0, 0, 0, MAX_GOSSIP_ENTRIES as u8 + 1, 0, 0];
        assert_eq!(
            Payload::decode(MessageKind::Gossip, &too_many),
            Err(WireError::TooManyEntries(7))
        );
        let mut entry = [0u8; FIXED_LEN + ENTRY_FIXED_LEN + 6];
        entry[5] = 1;
        entry[FIXED_LEN..FIXED_LEN + ENTRY_FIXED_LEN]
            .copy_from_slice(&[4, 0, 9, 0, 0, 0, 0, 0, 0, 0, 7, 0, 0, 0, 9, 0x1d, 0x35]);
        entry[FIXED_LEN + ENTRY_FIXED_LEN..].copy_from_slice(&[4, 0, 10, 0, 0, 9]);
        entry[FIXED_LEN] = 5;
        assert_eq!(
            Payload::decode(MessageKind::Gossip, &entry),
            Err(WireError::UnknownMemberState(5))
        );
        entry[FIXED_LEN] = 3;
        entry[FIXED_LEN + 15] = 0;
        entry[FIXED_LEN + 16] = 0;
        assert_eq!(
            Payload::decode(MessageKind::Gossip, &entry),
            Err(WireError::BadPort)
        );
        entry[FIXED_LEN + 16] = 1;
        assert!(Payload::decode(MessageKind::Gossip, &entry).is_ok());
        assert_eq!(
            Payload::decode(MessageKind::Gossip, &entry[..entry.len() - 1]),
            Err(WireError::Truncated)
        );
    }

    #[test]
    fn a_sync_summary_and_member_count_round_trip_and_reserved_flags_are_refused() {
        let mut summary = SyncSummary::new(0x0102_0304);
        summary.set_sum(0, 0xabcd);
        summary.set_sum(SYNC_BUCKETS - 1, 7);
        assert_eq!(
            (summary.sum(0), summary.sum(1), summary.sum(31)),
            (0xabcd, 0, 7)
        );
        let p = Payload {
            nonce: 1,
            members: 65_535,
            sync: Some(summary),
            ..Payload::EMPTY
        };
        let mut buf = [0u8; MAX_PAYLOAD_LEN];
        let n = p.write(&mut buf).unwrap();
        assert_eq!(n, p.buffer_len());
        assert_eq!(n, FIXED_LEN + SUMMARY_LEN);
        assert_eq!(
            &buf[..14],
            &[0, 0, 0, 1, FLAG_SYNC, 0, 0xff, 0xff, 1, 2, 3, 4, 0xab, 0xcd]
        );
        assert_eq!(&buf[n - 2..n], &[0, 7]);
        assert_eq!(
            Payload::decode(MessageKind::Gossip, &buf[..n]),
            Ok((p.clone(), n))
        );
        assert_eq!(
            Payload::decode(MessageKind::Gossip, &buf[..n - 1]),
            Err(WireError::Truncated)
        );
        // A sync request carries no gossip entries: none is written, one is refused.
        let mut with_entry = p.clone();
        with_entry
            .entries
            .push(gossip(
                MemberState::Alive,
                4,
                IpAddr::V4(Ipv4Addr::LOCALHOST),
            ))
            .unwrap();
        assert_eq!(with_entry.write(&mut buf), None);
        let mut counted = [0u8; FIXED_LEN + SUMMARY_LEN];
        counted[4] = FLAG_SYNC;
        counted[5] = 1;
        assert_eq!(
            Payload::decode(MessageKind::Gossip, &counted),
            Err(WireError::TooManyEntries(1))
        );
        for reserved in [0x04u8, 0x80] {
            let bad = [0, 0, 0, 1, reserved, 0, 0, 0];
            assert_eq!(
                Payload::decode(MessageKind::Ping, &bad),
                Err(WireError::ReservedNonZero)
            );
        }
    }
}
