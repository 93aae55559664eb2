//! Property tests of the node table, driven through the engine by random sequences of
//! announcements, leaves, collisions and time passing: the engine's invariants (the same
//! checker the fuzz harness runs) always hold, and a table whose storage grows in steps
//! behaves exactly like one whose storage was all there from the start.

use std::net::{IpAddr, Ipv4Addr};

use omdisc_core::testing::check_engine;
use omdisc_core::{
    ArrayEngine, Config, Duration, Engine, Event, IfaceId, Instant, InterfaceSpec, Message,
    MessageKind, NodeAddr, NodeEntry, NodeId, TableStorage, MAX_DATAGRAM_LEN,
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
        unicast: false,
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

/// Storage that grows by three slots at a time up to 16, as a frontend's growing table does
/// (in bigger steps).
struct SteppedStorage {
    slots: Vec<NodeEntry>,
}

impl TableStorage for SteppedStorage {
    fn slots(&self) -> &[NodeEntry] {
        &self.slots
    }
    fn slots_mut(&mut self) -> &mut [NodeEntry] {
        &mut self.slots
    }
    fn capacity(&self) -> usize {
        16
    }
    fn grow(&mut self, min: usize) -> bool {
        let size = (self.slots.len() + 3).max(min).min(16);
        self.slots.resize(size, NodeEntry::VACANT);
        self.slots.len() >= min
    }
}

/// A started engine for node 1 (10.1.0.1) over `storage`.
fn engine_over<S: TableStorage>(storage: S) -> Engine<S> {
    let local = IpAddr::V4(Ipv4Addr::new(10, 1, 0, 1));
    let mut config = Config::new(NodeId::new(1).unwrap(), 1);
    config.interval = Duration::from_millis(500);
    let mut engine =
        Engine::new(config, &[InterfaceSpec::with_address(local)], storage, 5).unwrap();
    engine.start(Instant::from_millis(0));
    engine
}

/// Applies `op` at `*now` (moving it on for a wait) and drains the engine; returns the
/// events and datagrams it produced.
fn apply<S: TableStorage>(
    engine: &mut Engine<S>,
    op: &Op,
    now: &mut Instant,
) -> (Vec<Event>, Vec<Vec<u8>>) {
    match *op {
        Op::Announce {
            net,
            host,
            incarnation,
            sequence,
        } => {
            let (src, bytes) = datagram(MessageKind::Announce, net, host, incarnation, sequence);
            let _ = engine.handle_datagram(
                *now,
                IfaceId::FIRST,
                core::net::SocketAddr::new(src, 7477),
                &bytes,
            );
        }
        Op::Leave {
            net,
            host,
            incarnation,
            sequence,
        } => {
            let (src, bytes) = datagram(MessageKind::Leave, net, host, incarnation, sequence);
            let _ = engine.handle_datagram(
                *now,
                IfaceId::FIRST,
                core::net::SocketAddr::new(src, 7477),
                &bytes,
            );
        }
        Op::Wait { ms } => {
            *now = *now + Duration::from_millis(u64::from(ms));
            engine.handle_timeout(*now);
        }
    }
    let mut buf = [0u8; MAX_DATAGRAM_LEN];
    let mut sent = Vec::new();
    while let Some(transmit) = engine.poll_transmit(*now, &mut buf) {
        sent.push(buf[..transmit.len].to_vec());
    }
    let events = std::iter::from_fn(|| engine.poll_event()).collect();
    (events, sent)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(3_000))]

    #[test]
    fn table_invariants_hold_under_random_operations(ops in proptest::collection::vec(op(), 1..200)) {
        let mut engine: ArrayEngine<16> = engine_over([NodeEntry::VACANT; 16]);
        let mut now = Instant::from_millis(0);
        for op in &ops {
            apply(&mut engine, op, &mut now);
            check_invariants(&engine)?;
        }
    }

    #[test]
    fn a_growing_table_behaves_like_one_allocated_at_start(ops in proptest::collection::vec(op(), 1..200)) {
        let mut fixed: ArrayEngine<16> = engine_over([NodeEntry::VACANT; 16]);
        let mut growing = engine_over(SteppedStorage { slots: Vec::new() });
        let (mut now_fixed, mut now_growing) = (Instant::from_millis(0), Instant::from_millis(0));
        for op in &ops {
            let expected = apply(&mut fixed, op, &mut now_fixed);
            let got = apply(&mut growing, op, &mut now_growing);
            prop_assert_eq!(got, expected, "after {:?}", op);
            prop_assert_eq!(growing.table().entries(), fixed.table().entries());
            prop_assert!(growing.table().slots_in_use() <= 16);
            check_engine(&growing).map_err(|v| TestCaseError::fail(v.to_string()))?;
        }
    }
}
