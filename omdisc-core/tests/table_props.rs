//! Property tests of the node table, driven through the engine by random sequences of
//! announcements, leaves, collisions and time passing: the engine's invariants (the same
//! checker the fuzz harness runs) always hold.

use std::net::{IpAddr, Ipv4Addr};

use omdisc_core::testing::check_engine;
use omdisc_core::{
    ArrayEngine, Config, Duration, IfaceId, Instant, InterfaceSpec, Message, MessageKind, NodeAddr,
    NodeEntry, NodeId, MAX_DATAGRAM_LEN,
};
use proptest::prelude::*;

#[derive(Clone, Debug)]
enum Op {
    /// An announcement from host (a, b) = 10.a.0.b (id = b), with this incarnation and sequence.
    Announce {
        net: u8,
        host: u8,
        incarnation: u8,
        sequence: u8,
    },
    Leave {
        net: u8,
        host: u8,
        incarnation: u8,
        sequence: u8,
    },
    Wait {
        ms: u16,
    },
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        4 => (1u8..3, 2u8..24, 0u8..3, 0u8..8).prop_map(|(net, host, incarnation, sequence)| Op::Announce { net, host, incarnation, sequence }),
        1 => (1u8..3, 2u8..24, 0u8..3, 0u8..8).prop_map(|(net, host, incarnation, sequence)| Op::Leave { net, host, incarnation, sequence }),
        1 => (0u16..3000).prop_map(|ms| Op::Wait { ms }),
    ]
}

fn datagram(
    kind: MessageKind,
    net: u8,
    host: u8,
    incarnation: u8,
    sequence: u8,
) -> (IpAddr, Vec<u8>) {
    let ip = IpAddr::V4(Ipv4Addr::new(10, net, 0, host));
    let mut addrs = heapless::Vec::new();
    addrs.push(NodeAddr::primary(ip, IfaceId::FIRST)).unwrap();
    let msg = Message {
        kind,
        join: false,
        gateway: false,
        hops: 0,
        relayer: None,
        origin: NodeId::new(u16::from(host)).unwrap(),
        incarnation: u64::from(incarnation),
        sequence: u32::from(sequence),
        interval: Duration::from_millis(500),
        addrs,
    };
    let mut buf = [0u8; MAX_DATAGRAM_LEN];
    let n = msg.emit(&mut buf, None).unwrap();
    (ip, buf[..n].to_vec())
}

/// The engine's invariants, as the fuzz harness checks them after every step
/// (`omdisc_core::testing::check_engine`): among them that of the live entries of an id
/// exactly the one with the lowest address is a member — the rule every node applies.
fn check_invariants(engine: &ArrayEngine<16>) -> Result<(), TestCaseError> {
    check_engine(engine).map_err(|violation| {
        TestCaseError::fail(format!("{violation}: {:?}", engine.table().entries()))
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(3_000))]

    #[test]
    fn table_invariants_hold_under_random_operations(ops in proptest::collection::vec(op(), 1..200)) {
        let local = IpAddr::V4(Ipv4Addr::new(10, 1, 0, 1));
        let mut config = Config::new(NodeId::new(1).unwrap(), 1);
        config.interval = Duration::from_millis(500);
        let mut engine: ArrayEngine<16> =
            ArrayEngine::new(config, &[InterfaceSpec::with_address(local)], [NodeEntry::VACANT; 16], 5).unwrap();
        let mut now = Instant::from_millis(0);
        engine.start(now);
        let mut buf = [0u8; MAX_DATAGRAM_LEN];
        for op in ops {
            match op {
                Op::Announce { net, host, incarnation, sequence } => {
                    let (src, bytes) = datagram(MessageKind::Announce, net, host, incarnation, sequence);
                    let _ = engine.handle_datagram(now, IfaceId::FIRST, src, &bytes);
                }
                Op::Leave { net, host, incarnation, sequence } => {
                    let (src, bytes) = datagram(MessageKind::Leave, net, host, incarnation, sequence);
                    let _ = engine.handle_datagram(now, IfaceId::FIRST, src, &bytes);
                }
                Op::Wait { ms } => {
                    now = now + Duration::from_millis(u64::from(ms));
                    engine.handle_timeout(now);
                }
            }
            while engine.poll_transmit(now, &mut buf).is_some() {}
            while engine.poll_event().is_some() {}
            check_invariants(&engine)?;
        }
    }
}
