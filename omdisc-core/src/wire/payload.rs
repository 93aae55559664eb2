//! [`Payload`]: what the unicast kinds (PING, ACK, PING-REQ, GOSSIP) carry after the
//! sender's addresses — a probe number, a target (PING-REQ only), the sender's member
//! count, a request for its whole map, and up to [`MAX_GOSSIP_ENTRIES`] gossip entries
//! about other members.
//!
//! ```text
//!  0        4       5       6         8
//! +--------+-------+-------+---------+------------------------+------------------------+
//! | nonce  | flags | count | members | [port, address entry]  | count × gossip entry   |
//! +--------+-------+-------+---------+------------------------+------------------------+
//! gossip entry: state(1) node(2) incarnation(8) sequence(4) port(2) address entry(6|18)
//! ```
//!
//! `flags` bit 0 (target) is set exactly for PING-REQ (the port and address of the member
//! to probe follow); bit 1 (sync) asks the receiver for its whole map; the other bits are
//! reserved, 0. `members` is how many members the sender's map holds (itself included;
//! 65 535 at most). An address entry is the one of the header's address list (tag,
//! interface, 4 or 16 bytes); its interface and role are written as 0 and ignored.

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
/// Payload flag: the sender asks for the receiver's whole map.
const FLAG_SYNC: u8 = 0x02;
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
    /// The sender asks for the receiver's whole map (a sync: it holds fewer members than
    /// the receiver said it does).
    pub sync: bool,
    /// Gossip about other members.
    pub entries: GossipList,
}

impl Payload {
    /// An empty payload: nonce 0, no target, no member count, no sync, no entries.
    pub const EMPTY: Payload = Payload {
        nonce: 0,
        target: None,
        members: 0,
        sync: false,
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
        FIXED_LEN + target + entries
    }

    /// Writes the payload at the start of `out`; `None` (after a partial write the caller
    /// discards) if `out` is too short.
    pub(crate) fn write(&self, out: &mut [u8]) -> Option<usize> {
        let (fixed, mut rest) = out.split_first_chunk_mut::<FIXED_LEN>()?;
        let [n0, n1, n2, n3] = self.nonce.to_be_bytes();
        let [m0, m1] = self.members.to_be_bytes();
        let flags = if self.target.is_some() {
            FLAG_TARGET
        } else {
            0
        } | if self.sync { FLAG_SYNC } else { 0 };
        *fixed = [n0, n1, n2, n3, flags, self.entries.len() as u8, m0, m1];
        let mut written = FIXED_LEN;
        if let Some(target) = self.target {
            let n = write_socket(&target, rest)?;
            rest = rest.get_mut(n..)?;
            written += n;
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
    /// flags, the entry count, each state, node id, port and address.
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
        if usize::from(count) > MAX_GOSSIP_ENTRIES {
            return Err(WireError::TooManyEntries(count));
        }
        let mut payload = Payload {
            nonce: u32::from_be_bytes([n0, n1, n2, n3]),
            target: None,
            members: u16::from_be_bytes([m0, m1]),
            sync: flags & FLAG_SYNC != 0,
            entries: GossipList::new(),
        };
        let mut len = FIXED_LEN;
        if has_target {
            let (target, n) = read_socket(rest)?;
            payload.target = Some(target);
            rest = rest.get(n..).ok_or(WireError::Truncated)?;
            len += n;
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
            sync: false,
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
    fn the_sync_flag_and_member_count_round_trip_and_reserved_flags_are_refused() {
        let p = Payload {
            nonce: 1,
            members: 65_535,
            sync: true,
            ..Payload::EMPTY
        };
        let mut buf = [0u8; MAX_PAYLOAD_LEN];
        let n = p.write(&mut buf).unwrap();
        assert_eq!(&buf[..n], &[0, 0, 0, 1, FLAG_SYNC, 0, 0xff, 0xff]);
        assert_eq!(Payload::decode(MessageKind::Gossip, &buf[..n]), Ok((p, n)));
        for reserved in [0x04u8, 0x80] {
            let bad = [0, 0, 0, 1, reserved, 0, 0, 0];
            assert_eq!(
                Payload::decode(MessageKind::Ping, &bad),
                Err(WireError::ReservedNonZero)
            );
        }
    }
}
