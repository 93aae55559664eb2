//! Property tests of the wire codec: decoding mutated and truncated datagrams (made from the
//! shared vectors and from random messages) never panics and is canonical (what decodes
//! re-encodes to the same bytes), valid messages round-trip.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::OnceLock;

use omdisc_core::testing::vectors::{self, WIRE_VECTORS};
use omdisc_core::wire::{GossipList, MAX_GOSSIP_ENTRIES};
use omdisc_core::wire::{FLAG_AUTH, HEADER_LEN, TRAILER_LEN};
use omdisc_core::{
    ClusterKey, Duration, Gossip, IfaceId, Keyring, MemberState, Message, MessageKind, NodeAddr,
    NodeId, Packet, Payload, SyncSummary, WireError, MAX_ADDRS, MAX_DATAGRAM_LEN,
};
use proptest::prelude::*;

fn any_ip() -> impl Strategy<Value = IpAddr> {
    prop_oneof![
        any::<[u8; 4]>().prop_map(|b| IpAddr::V4(Ipv4Addr::from(b))),
        any::<[u8; 16]>().prop_map(|b| IpAddr::V6(Ipv6Addr::from(b))),
    ]
    .prop_filter("node address", |ip| omdisc_core::is_node_address(*ip))
}

prop_compose! {
    fn any_addr()(ip in any_ip(), alias in any::<bool>(), iface in 0..6usize) -> NodeAddr {
        let iface = IfaceId::new(iface).unwrap();
        if alias { NodeAddr::alias(ip, iface) } else { NodeAddr::primary(ip, iface) }
    }
}

prop_compose! {
    fn any_message()(
        leave in any::<bool>(),
        join in any::<bool>(),
        gateway in any::<bool>(),
        relayed in proptest::option::of((1u8.., 1u16..)),
        origin in 1u16..,
        incarnation in any::<u64>(),
        sequence in any::<u32>(),
        interval in 1u64..=86_400_000,
        first in any_ip(),
        rest in proptest::collection::vec(any_addr(), 0..MAX_ADDRS),
    ) -> Message {
        let mut addrs = heapless::Vec::new();
        addrs.push(NodeAddr::primary(first, IfaceId::FIRST)).unwrap();
        for a in rest {
            if !addrs.iter().any(|b: &NodeAddr| b.ip == a.ip) {
                addrs.push(a).unwrap();
            }
        }
        let (hops, relayer) = match relayed {
            Some((h, r)) if r != origin => (h, NodeId::new(r)),
            _ => (0, None),
        };
        Message {
            kind: if leave { MessageKind::Leave } else { MessageKind::Announce },
            join, unicast: false, gateway, hops, relayer,
            origin: NodeId::new(origin).unwrap(),
            incarnation, sequence,
            interval: Duration::from_millis(interval),
            addrs,
        }
    }
}

fn any_socket() -> impl Strategy<Value = SocketAddr> {
    (any_ip(), 1u16..).prop_map(|(ip, port)| SocketAddr::new(ip, port))
}

prop_compose! {
    fn any_gossip()(
        state in prop_oneof![
            Just(MemberState::Alive),
            Just(MemberState::Suspect),
            Just(MemberState::Dead),
            Just(MemberState::Left),
        ],
        node in 1u16..,
        incarnation in any::<u64>(),
        sequence in any::<u32>(),
        addr in any_socket(),
    ) -> Gossip {
        Gossip { state, node: NodeId::new(node).unwrap(), incarnation, sequence, addr }
    }
}

prop_compose! {
    /// A PING, ACK, PING-REQ or GOSSIP from a random sender, with its payload.
    fn any_unicast_message()(
        base in any_message(),
        kind in prop_oneof![
            Just(MessageKind::Ping),
            Just(MessageKind::Ack),
            Just(MessageKind::PingReq),
            Just(MessageKind::Gossip),
        ],
        unicast in any::<bool>(),
        nonce in any::<u32>(),
        target in any_socket(),
        members in any::<u16>(),
        sync in proptest::option::of((any::<u32>(), any::<[u8; 64]>())),
        entries in proptest::collection::vec(any_gossip(), 0..=MAX_GOSSIP_ENTRIES),
    ) -> (Message, Payload) {
        let mut msg = base;
        msg.kind = kind;
        msg.unicast = unicast;
        msg.hops = 0;
        msg.relayer = None;
        let mut addrs = msg.addrs.clone();
        addrs[0].role = omdisc_core::AddrRole::Primary;
        msg.addrs = addrs;
        // A sync request carries a summary of the sender's map and no gossip entries.
        let sync = sync.map(|(salt, sums)| SyncSummary { salt, sums });
        let payload = Payload {
            nonce,
            target: (kind == MessageKind::PingReq).then_some(target),
            members,
            sync,
            entries: entries
                .into_iter()
                .filter(|_| sync.is_none())
                .collect::<GossipList>(),
        };
        (msg, payload)
    }
}

fn key() -> Keyring {
    Keyring::new(ClusterKey::from_hex("00112233445566778899aabbccddeeff").unwrap())
}

/// The shared vectors' datagrams, each with its key (valid ones and refused ones alike).
fn vector_datagrams() -> &'static [(Vec<u8>, Option<Keyring>)] {
    static DATAGRAMS: OnceLock<Vec<(Vec<u8>, Option<Keyring>)>> = OnceLock::new();
    DATAGRAMS.get_or_init(|| {
        vectors::parse(WIRE_VECTORS)
            .map(|v| {
                let v = v.unwrap();
                (v.bytes.to_vec(), v.key.map(Keyring::new))
            })
            .collect()
    })
}

/// What must hold for any input: decoding returns (never panics), what decodes without a
/// key re-encodes to exactly its bytes (minus the trailer, flag cleared, when signed), and
/// what verifies with a key decodes the same without it.
fn check_decoding(bytes: &[u8], keys: Option<&Keyring>) -> Result<(), TestCaseError> {
    let plain = Message::decode(bytes, None);
    if let Ok(msg) = &plain {
        let payload = Packet::new_checked(bytes).unwrap().payload();
        let mut again = [0u8; MAX_DATAGRAM_LEN];
        let n = msg.emit_with(&payload, &mut again, None).unwrap();
        let mut expected = bytes.to_vec();
        if bytes[4] & FLAG_AUTH != 0 {
            expected.truncate(bytes.len() - TRAILER_LEN);
            expected[4] &= !FLAG_AUTH;
        }
        prop_assert_eq!(&again[..n], &expected[..]);
    }
    if let Ok(msg) = Message::decode(bytes, keys) {
        prop_assert_eq!(plain.as_ref(), Ok(&msg));
    }
    Ok(())
}

#[test]
fn every_truncation_of_a_valid_vector_is_refused_as_truncated() {
    let mut checked = 0;
    for (bytes, keys) in vector_datagrams() {
        if Message::decode(bytes, keys.as_ref()).is_err() {
            continue;
        }
        for len in 0..bytes.len() {
            let cut = &bytes[..len];
            assert_eq!(
                Message::decode(cut, None),
                Err(WireError::Truncated),
                "{len} of {bytes:02x?}"
            );
            assert_eq!(
                Message::decode(cut, keys.as_ref()),
                Err(WireError::Truncated)
            );
            checked += 1;
        }
    }
    assert!(checked > 150, "only {checked} truncations");
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(100_000))]

    /// Mutated vectors, not random bytes: random bytes almost never get past the magic.
    #[test]
    fn decoding_mutated_vectors_never_panics_and_stays_canonical(
        pick in any::<prop::sample::Index>(),
        flips in proptest::collection::vec((any::<prop::sample::Index>(), 1u8..), 0..4),
        cut in proptest::option::of(any::<prop::sample::Index>()),
        extra in proptest::collection::vec(any::<u8>(), 0..3),
    ) {
        let (bytes, keys) = pick.get(vector_datagrams());
        let mut bytes = bytes.clone();
        for (at, xor) in flips {
            let i = at.index(bytes.len().max(1));
            if let Some(b) = bytes.get_mut(i) {
                *b ^= xor;
            }
        }
        // The whole datagram, or any length from empty to it and a few bytes more.
        bytes.extend_from_slice(&extra);
        let len = cut.map_or(bytes.len() - extra.len(), |cut| cut.index(bytes.len() + 1));
        check_decoding(&bytes[..len], keys.as_ref())?;
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(20_000))]

    #[test]
    fn decoding_datagrams_with_a_valid_header_never_panics(
        msg in any_message(),
        flips in proptest::collection::vec((0usize..MAX_DATAGRAM_LEN, any::<u8>()), 1..6),
        cut in 0usize..MAX_DATAGRAM_LEN,
    ) {
        let mut buf = [0u8; MAX_DATAGRAM_LEN];
        let n = msg.emit(&mut buf, None).unwrap();
        for (at, value) in flips {
            buf[at % n] = value;
        }
        let len = if cut < HEADER_LEN { n } else { cut.min(n) };
        let _ = Message::decode(&buf[..len], Some(&key()));
        if let Ok(decoded) = Message::decode(&buf[..len], None) {
            // Canonical: what decodes re-encodes to the same bytes.
            if buf[4] & FLAG_AUTH == 0 {
                let mut again = [0u8; MAX_DATAGRAM_LEN];
                let m = decoded.emit(&mut again, None).unwrap();
                prop_assert_eq!(&again[..m], &buf[..len]);
            }
        }
    }

    #[test]
    fn every_valid_message_round_trips(msg in any_message(), signed in any::<bool>()) {
        let keys = signed.then(key);
        let mut buf = [0u8; MAX_DATAGRAM_LEN];
        let n = msg.emit(&mut buf, keys.as_ref()).unwrap();
        prop_assert_eq!(n, msg.buffer_len(signed));
        prop_assert_eq!(Message::decode(&buf[..n], keys.as_ref()), Ok(msg));
    }

    #[test]
    fn every_valid_unicast_message_round_trips(
        (msg, payload) in any_unicast_message(),
        signed in any::<bool>(),
    ) {
        let keys = signed.then(key);
        let mut buf = [0u8; MAX_DATAGRAM_LEN];
        let n = msg.emit_with(&payload, &mut buf, keys.as_ref()).unwrap();
        prop_assert_eq!(n, msg.buffer_len_with(&payload, signed));
        let packet = Packet::new_checked(&buf[..n]).unwrap().verify(keys.as_ref()).unwrap();
        prop_assert_eq!(packet.payload(), payload);
        prop_assert_eq!(Message::parse(&packet), msg);
    }

    #[test]
    fn decoding_mutated_unicast_messages_never_panics_and_stays_canonical(
        (msg, payload) in any_unicast_message(),
        flips in proptest::collection::vec((0usize..MAX_DATAGRAM_LEN, any::<u8>()), 1..6),
        cut in 0usize..MAX_DATAGRAM_LEN,
    ) {
        let mut buf = [0u8; MAX_DATAGRAM_LEN];
        let n = msg.emit_with(&payload, &mut buf, None).unwrap();
        for (at, value) in flips {
            buf[at % n] = value;
        }
        let len = if cut < HEADER_LEN { n } else { cut.min(n) };
        if buf[4] & FLAG_AUTH == 0 {
            check_decoding(&buf[..len], Some(&key()))?;
        } else {
            let _ = Message::decode(&buf[..len], Some(&key()));
        }
    }

    #[test]
    fn emit_into_a_short_buffer_fails_cleanly(msg in any_message(), short in 0usize..HEADER_LEN) {
        let mut buf = [0u8; MAX_DATAGRAM_LEN];
        prop_assert!(msg.emit(&mut buf[..short], None).is_err());
    }
}
