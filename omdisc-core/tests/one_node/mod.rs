//! One engine driven by hand: node 1 on 10.0.0.1 without multicast, members 2.. added by
//! their unicast announcements, and what it sends decoded (shared by the tests of direct
//! datagrams).

#![allow(dead_code)]

use std::net::{IpAddr, Ipv4Addr, SocketAddr};

use omdisc_core::{
    AddrList, Config, Destination, Duration, Engine, IfaceId, Instant, InterfaceSpec, Message,
    MessageKind, NodeAddr, NodeEntry, NodeId, Packet, Payload, MAX_DATAGRAM_LEN,
};

pub fn ip(d: u8) -> IpAddr {
    IpAddr::V4(Ipv4Addr::new(10, 0, 0, d))
}

pub fn from(d: u8) -> SocketAddr {
    SocketAddr::new(ip(d), omdisc_core::DEFAULT_PORT)
}

/// A unicast message of node `d` (incarnation 1) at round `sequence`.
pub fn message(d: u8, kind: MessageKind, sequence: u32) -> Message {
    let mut addrs = AddrList::new();
    addrs
        .push(NodeAddr::primary(ip(d), IfaceId::FIRST))
        .unwrap();
    Message {
        kind,
        join: false,
        unicast: true,
        gateway: false,
        hops: 0,
        relayer: None,
        origin: NodeId::new(u16::from(d)).unwrap(),
        incarnation: 1,
        sequence,
        interval: Duration::from_secs(1),
        addrs,
    }
}

pub fn bytes(msg: &Message, payload: &Payload) -> Vec<u8> {
    let mut buf = [0u8; MAX_DATAGRAM_LEN];
    let n = msg.emit_with(payload, &mut buf, None).unwrap();
    buf[..n].to_vec()
}

pub type TestEngine = Engine<Vec<NodeEntry>>;

/// Node 1 without multicast, started, with members 2..=`last` added by their unicast
/// announcements (what it sends meanwhile is dropped).
pub fn node_with_members(last: u8) -> TestEngine {
    let mut config = Config::new(NodeId::new(1).unwrap(), 7);
    config.multicast = false;
    let spec = [InterfaceSpec::with_address(ip(1))];
    let mut e = Engine::new(config, &spec, vec![NodeEntry::VACANT; 256], 1).unwrap();
    e.start(Instant::ZERO);
    for d in 2..=last {
        let msg = message(d, MessageKind::Announce, 1);
        e.handle_datagram(
            Instant::ZERO,
            IfaceId::FIRST,
            from(d),
            &bytes(&msg, &Payload::EMPTY),
        )
        .unwrap();
    }
    drain(&mut e, Instant::ZERO);
    e
}

/// What `e` sends at `now`: (destination, kind, payload).
pub fn drain(e: &mut TestEngine, now: Instant) -> Vec<(Destination, MessageKind, Payload)> {
    let mut out = Vec::new();
    let mut buf = [0u8; MAX_DATAGRAM_LEN];
    while let Some(t) = e.poll_transmit(now, &mut buf) {
        let packet = Packet::new_checked(&buf[..t.len]).unwrap();
        let verified = packet.verify(None).unwrap();
        out.push((t.to, verified.kind(), verified.payload()));
    }
    out
}

/// Runs `e`'s timers until `until`, calling `on` with everything it sends (and `e`, to
/// answer).
pub fn run(
    e: &mut TestEngine,
    until: Instant,
    mut on: impl FnMut(&mut TestEngine, Instant, Vec<(Destination, MessageKind, Payload)>),
) {
    while let Some(at) = e.poll_timeout() {
        if at > until {
            break;
        }
        e.handle_timeout(at);
        let sent = drain(e, at);
        on(e, at, sent);
    }
}
