use super::*;
use crate::addr::{AddrList, IfaceId, NodeAddr};
use crate::id::NodeId;
use crate::time::Duration;
use core::net::{IpAddr, Ipv4Addr};

/// An announcement from node 2780 (192.168.10.220), joining, not relayed.
static ANNOUNCE_BYTES: [u8; 34] = [
    b'O', b'M', 0x01, 0x01, // magic, version 1, kind announce
    0x01, 0x00, 0x00, 0x00, // flags JOIN, hops 0, relayer 0
    0x0a, 0xdc, 0x01, 0x00, // origin 2780, 1 address, reserved
    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x2a, // incarnation 42
    0x00, 0x00, 0x00, 0x07, // sequence 7
    0x00, 0x00, 0x03, 0xe8, // interval 1000 ms
    0x04, 0x00, 192, 168, 10, 220, // primary IPv4 on interface 0
];

fn announce() -> Message {
    let mut addrs = AddrList::new();
    addrs
        .push(NodeAddr::primary(
            IpAddr::V4(Ipv4Addr::new(192, 168, 10, 220)),
            IfaceId::default(),
        ))
        .unwrap();
    Message {
        kind: MessageKind::Announce,
        join: true,
        unicast: false,
        gateway: false,
        hops: 0,
        relayer: None,
        origin: NodeId::new(2780).unwrap(),
        incarnation: 42,
        sequence: 7,
        interval: Duration::from_secs(1),
        addrs,
    }
}

#[test]
fn test_parse() {
    assert_eq!(Message::decode(&ANNOUNCE_BYTES, None), Ok(announce()));
}

#[test]
fn test_emit() {
    let mut buf = [0u8; MAX_DATAGRAM_LEN];
    let n = announce().emit(&mut buf, None).unwrap();
    assert_eq!(&buf[..n], &ANNOUNCE_BYTES[..]);
}

#[test]
fn every_truncation_is_refused() {
    for len in 0..ANNOUNCE_BYTES.len() {
        assert_eq!(
            Message::decode(&ANNOUNCE_BYTES[..len], None),
            Err(WireError::Truncated),
            "length {len}"
        );
    }
}

#[test]
fn trailing_bytes_are_refused() {
    let mut long = [0u8; 35];
    long[..34].copy_from_slice(&ANNOUNCE_BYTES);
    assert_eq!(Message::decode(&long, None), Err(WireError::TrailingBytes));
}

#[test]
fn header_fields_are_checked() {
    let cases: [(usize, u8, WireError); 7] = [
        (0, b'X', WireError::BadMagic),
        (2, 2, WireError::UnsupportedVersion(2)),
        (3, 9, WireError::UnknownKind(9)),
        (4, 0x41, WireError::ReservedFlags(0x40)),
        (11, 1, WireError::ReservedNonZero),
        (10, 7, WireError::TooManyAddresses(7)),
        (5, 1, WireError::BadRelayer),
    ];
    for (at, value, expected) in cases {
        let mut bytes = ANNOUNCE_BYTES;
        bytes[at] = value;
        assert_eq!(Message::decode(&bytes, None), Err(expected), "byte {at}");
    }
}

#[test]
fn zero_origin_and_bad_interval_are_refused() {
    let mut bytes = ANNOUNCE_BYTES;
    bytes[8] = 0;
    bytes[9] = 0;
    assert_eq!(Message::decode(&bytes, None), Err(WireError::ZeroNodeId));
    let mut bytes = ANNOUNCE_BYTES;
    bytes[24..28].copy_from_slice(&[0, 0, 0, 0]);
    assert_eq!(
        Message::decode(&bytes, None),
        Err(WireError::BadInterval(0))
    );
}

#[test]
fn relayer_must_differ_from_origin() {
    let mut bytes = ANNOUNCE_BYTES;
    bytes[5] = 1;
    bytes[6] = 0x0a;
    bytes[7] = 0xdc;
    assert_eq!(Message::decode(&bytes, None), Err(WireError::BadRelayer));
    bytes[7] = 0x01;
    assert!(Message::decode(&bytes, None).is_ok());
}

#[test]
fn announcement_without_primary_is_refused() {
    let mut bytes = ANNOUNCE_BYTES;
    bytes[28] = 0x84;
    assert_eq!(
        Message::decode(&bytes, None),
        Err(WireError::NoPrimaryAddress)
    );
    bytes[3] = 2; // a leave may carry only aliases
    assert!(Message::decode(&bytes, None).is_ok());
}

#[test]
fn duplicate_addresses_are_refused() {
    let mut msg = announce();
    msg.addrs.push(msg.addrs[0]).unwrap();
    let mut buf = [0u8; MAX_DATAGRAM_LEN];
    let n = msg.emit(&mut buf, None).unwrap();
    assert_eq!(
        Message::decode(&buf[..n], None),
        Err(WireError::DuplicateAddress)
    );
}

#[test]
fn emit_refuses_a_short_buffer() {
    let mut buf = [0u8; 33];
    assert_eq!(
        announce().emit(&mut buf, None),
        Err(EmitError::BufferTooSmall { needed: 34 })
    );
}

#[test]
fn authenticated_round_trip_and_refusals() {
    let key = ClusterKey::from_hex("000102030405060708090a0b0c0d0e0f").unwrap();
    let ring = Keyring::new(key);
    let mut buf = [0u8; MAX_DATAGRAM_LEN];
    let n = announce().emit(&mut buf, Some(&ring)).unwrap();
    assert_eq!(n, 34 + TRAILER_LEN);
    assert_eq!(buf[4] & FLAG_AUTH, FLAG_AUTH);
    assert_eq!(Message::decode(&buf[..n], Some(&ring)), Ok(announce()));
    // An unkeyed receiver skips the trailer.
    assert_eq!(Message::decode(&buf[..n], None), Ok(announce()));
    // A keyed receiver refuses unsigned and tampered messages.
    assert_eq!(
        Message::decode(&ANNOUNCE_BYTES, Some(&ring)),
        Err(WireError::MissingAuth)
    );
    buf[20] ^= 0x80;
    assert_eq!(
        Message::decode(&buf[..n], Some(&ring)),
        Err(WireError::BadMac)
    );
}

#[test]
fn max_datagram_len_fits_the_longest_ping_req() {
    let mut msg = announce();
    msg.addrs.clear();
    for i in 0..MAX_ADDRS {
        let ip: IpAddr = IpAddr::V6(core::net::Ipv6Addr::new(
            0xfd00,
            0,
            0,
            0,
            0,
            0,
            0,
            i as u16 + 1,
        ));
        msg.addrs
            .push(NodeAddr::primary(ip, IfaceId::new(i).unwrap()))
            .unwrap();
    }
    // The longest datagram: a PING-REQ with an IPv6 target and six IPv6 gossip entries.
    msg.kind = MessageKind::PingReq;
    let v6 = |n: u16| IpAddr::V6(core::net::Ipv6Addr::new(0xfd00, 0, 0, 0, 0, 0, 1, n));
    let mut payload = crate::wire::Payload {
        nonce: 1,
        target: Some(core::net::SocketAddr::new(v6(100), 7477)),
        members: u16::MAX,
        sync: None,
        entries: crate::wire::GossipList::new(),
    };
    for n in 0..crate::wire::MAX_GOSSIP_ENTRIES as u16 {
        payload
            .entries
            .push(crate::wire::Gossip {
                state: crate::wire::MemberState::Dead,
                node: NodeId::new(n + 1).unwrap(),
                incarnation: u64::MAX,
                sequence: u32::MAX,
                addr: core::net::SocketAddr::new(v6(n + 1), 7477),
            })
            .unwrap();
    }
    assert_eq!(msg.buffer_len_with(&payload, true), MAX_DATAGRAM_LEN);
    let mut buf = [0u8; MAX_DATAGRAM_LEN];
    let key = Keyring::new(
        crate::wire::ClusterKey::from_hex("00112233445566778899aabbccddeeff").unwrap(),
    );
    let n = msg.emit_with(&payload, &mut buf, Some(&key)).unwrap();
    assert_eq!(n, MAX_DATAGRAM_LEN);
    let packet = Packet::new_checked(&buf)
        .unwrap()
        .verify(Some(&key))
        .unwrap();
    assert_eq!(packet.payload(), payload);
    assert_eq!(Message::parse(&packet), msg);
}

#[test]
fn the_checked_view_reads_every_field() {
    let packet = Packet::new_checked(&ANNOUNCE_BYTES).unwrap();
    assert_eq!(packet.kind(), MessageKind::Announce);
    assert!(packet.join() && !packet.gateway() && !packet.is_authenticated());
    assert_eq!((packet.hops(), packet.relayer()), (0, None));
    assert_eq!(packet.origin().get(), 2780);
    assert_eq!((packet.incarnation(), packet.sequence()), (42, 7));
    assert_eq!(packet.interval(), Duration::from_secs(1));
    assert_eq!(packet.addrs(), &announce().addrs[..]);
    assert_eq!(packet.body(), &ANNOUNCE_BYTES[..]);
    assert_eq!(packet.len(), ANNOUNCE_BYTES.len());
    let verified = packet.verify(None).unwrap();
    assert_eq!(Message::parse(&verified), announce());
}

#[test]
fn a_keyed_verify_needs_the_trailer_and_an_unkeyed_one_ignores_it() {
    let ring = Keyring::new(ClusterKey::from_hex("000102030405060708090a0b0c0d0e0f").unwrap());
    let packet = Packet::new_checked(&ANNOUNCE_BYTES).unwrap();
    assert_eq!(
        packet.clone().verify(Some(&ring)),
        Err(WireError::MissingAuth)
    );
    let mut buf = [0u8; MAX_DATAGRAM_LEN];
    let n = announce().emit(&mut buf, Some(&ring)).unwrap();
    let signed = Packet::new_checked(&buf[..n]).unwrap();
    assert!(signed.is_authenticated());
    assert_eq!(signed.body(), &buf[..n - TRAILER_LEN]);
    assert!(signed.clone().verify(Some(&ring)).is_ok());
    assert!(signed.verify(None).is_ok());
}

/// What a relay used to send: the decoded message, one more hop, re-encoded.
fn relayed_by_reencoding(
    datagram: &[u8],
    relayer: u16,
    keys: Option<&Keyring>,
) -> heapless::Vec<u8, MAX_DATAGRAM_LEN> {
    let mut msg = Message::decode(datagram, None).unwrap();
    msg.hops += 1;
    msg.relayer = NodeId::new(relayer);
    let mut buf = [0u8; MAX_DATAGRAM_LEN];
    let n = msg.emit(&mut buf, keys).unwrap();
    heapless::Vec::from_slice(&buf[..n]).unwrap()
}

#[test]
fn a_relay_rewrites_hops_and_relayer_in_place_and_re_signs() {
    let ring = Keyring::new(ClusterKey::from_hex("000102030405060708090a0b0c0d0e0f").unwrap());
    let other = Keyring::new(ClusterKey::from_hex("0f0e0d0c0b0a09080706050403020100").unwrap());
    let mut signed = [0u8; MAX_DATAGRAM_LEN];
    let signed_len = announce().emit(&mut signed, Some(&other)).unwrap();
    // Unsigned in, unsigned or signed out; signed (with another key) in, either out.
    for (datagram, verify_with) in [
        (&ANNOUNCE_BYTES[..], None),
        (&signed[..signed_len], Some(&other)),
    ] {
        let verified = Packet::new_checked(datagram)
            .unwrap()
            .verify(verify_with)
            .unwrap();
        let body = RelayBody::relayed(&verified, NodeId::new(9).unwrap()).unwrap();
        for keys in [None, Some(&ring)] {
            let mut out = [0u8; MAX_DATAGRAM_LEN];
            let n = body.emit(&mut out, keys).unwrap();
            assert_eq!(&out[..n], &relayed_by_reencoding(datagram, 9, keys)[..]);
            let relayed = Message::decode(&out[..n], keys).unwrap();
            assert_eq!((relayed.hops, relayed.relayer), (1, NodeId::new(9)));
        }
    }
}

#[test]
fn a_short_buffer_is_an_error_and_nothing_is_written() {
    let mut buf = [0xeeu8; 33];
    assert_eq!(
        announce().emit(&mut buf, None),
        Err(EmitError::BufferTooSmall { needed: 34 })
    );
    assert!(buf.iter().all(|b| *b == 0xee));
    let verified = Packet::new_checked(&ANNOUNCE_BYTES)
        .unwrap()
        .verify(None)
        .unwrap();
    let body = RelayBody::relayed(&verified, NodeId::new(9).unwrap()).unwrap();
    assert_eq!(
        body.emit(&mut buf, None),
        Err(EmitError::BufferTooSmall { needed: 34 })
    );
    assert!(buf.iter().all(|b| *b == 0xee));
}
