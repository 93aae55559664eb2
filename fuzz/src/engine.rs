//! `engine_datagrams`: an engine with a small node table driven through a decoded
//! [`Scenario`], its invariants checked after every step.
//!
//! After every step [`run`] asserts that:
//!
//! - the engine's invariants (`omdisc_core::testing::check_engine`, which the core's
//!   property tests run too): the table within its capacity and sorted by id, exactly one
//!   entry this node's, of each id's live entries exactly the one with the lowest address a
//!   member, the conflicts listed, the group size the bandwidth budget uses equal to the
//!   entries that have not departed, a deadline while running or leaving;
//! - a refused datagram, or one that does not decode and verify with the engine's keys,
//!   changed nothing in the table, and one taken as new information decodes and verifies;
//! - a refused address list (`set_addresses`: no such interface, an address no node can
//!   have, more than fit) changed nothing: table, addresses announced on every interface,
//!   node id;
//! - every datagram `poll_transmit` hands out fits, goes out on an active interface (or,
//!   for the LEAVE of an identity whose last address went, on one of its interfaces), decodes
//!   (and verifies) with the engine's own keys, and is this node's own message (under an
//!   id it has or had: the LEAVE of an identity its addresses took away) or a relay of
//!   someone else's within the hop limit (stamped with an id this node has or had; never
//!   its own while its id stays);
//! - `poll_transmit` and `poll_event` run dry after a bounded number of calls;
//! - a few more `handle_timeout(now)` calls (with drains) move the deadline past `now` (a
//!   frontend never spins).

use core::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::collections::VecDeque;

use omdisc_core::testing::check_engine;
use omdisc_core::{
    AddrList, ArrayEngine, Config, Duration, Engine, IfaceId, Instant, InterfaceSpec, Message,
    MessageKind, NodeAddr, NodeEntry, NodeId, NodeState, Received, MAX_DATAGRAM_LEN, MAX_IFACES,
};
use omdisc_core::{EVENT_QUEUE_LEN, RELAY_QUEUE_LEN};

use crate::scenario::{Advance, Payload, Scenario, Setup, Source, Step};

/// Node-table capacity of the engine under test: small, so that it fills up.
pub const CAPACITY: usize = 6;

/// How many recent datagrams (sent and received) replays choose from.
const HISTORY_LEN: usize = 16;

/// More datagrams than one step can queue: LEAVE and one own round on each of six
/// interfaces, a full relay queue, each job on six interfaces, a full queue of direct
/// (unicast) datagrams and a death notice to the group on each interface.
const MAX_TRANSMITS_PER_STEP: usize =
    6 + 6 + RELAY_QUEUE_LEN * 6 + omdisc_core::UNICAST_QUEUE_LEN + 6;

/// More events than the queue holds, plus its overflow marker.
const MAX_EVENTS_PER_STEP: usize = EVENT_QUEUE_LEN + 1;

/// How many times in a row `handle_timeout` may leave a deadline at the same instant.
const MAX_CALLS_AT_ONE_INSTANT: usize = 4;

/// One table entry as [`Driver::table_view`] compares it.
type EntryView = (
    NodeId,
    Vec<NodeAddr>,
    (u64, u32, Duration, Instant),
    (IfaceId, Option<NodeId>, u8, bool),
    (NodeState, bool),
);

/// The engine's node id and addresses, per interface.
const NODE_ID: u16 = 1;
fn interface_address(index: usize) -> IpAddr {
    match index {
        0 => IpAddr::V4(Ipv4Addr::new(10, 0, 0, 1)),
        1 => IpAddr::V4(Ipv4Addr::new(10, 1, 0, 1)),
        _ => IpAddr::V6(Ipv6Addr::new(0xfd00, 0, 0, 0, 0, 0, 0, 1)),
    }
}

/// Decodes `data` as a scenario and runs it; panics on a violated invariant.
pub fn check(data: &[u8]) {
    run(&Scenario::decode(data));
}

/// Runs `scenario`; panics on a violated invariant.
pub fn run(scenario: &Scenario) {
    let mut driver = Driver::new(&scenario.setup);
    driver.check_invariants("setup");
    for (index, step) in scenario.steps.iter().enumerate() {
        driver.step(step);
        let drained = !scenario.setup.lazy_drain || matches!(step, Step::Drain);
        if drained {
            driver.drain();
        }
        driver.check_invariants_after(index, step);
        if drained && matches!(step, Step::Timeout(_)) {
            driver.check_no_spin(index);
            driver.check_invariants_after(index, step);
        }
    }
    driver.drain();
    driver.check_invariants("final drain");
}

/// What a run reached, for tests that the harness gets deep into the engine.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Reach {
    /// Most map members seen at once.
    pub max_members: usize,
    /// Datagrams the engine accepted as new information.
    pub accepted: u64,
    /// Datagrams it relayed.
    pub relayed: u64,
    /// Nodes that left or expired.
    pub departed: u64,
    /// Ids this node had (more than one when its id follows addresses that changed).
    pub own_ids: usize,
}

/// Runs `scenario` like [`run`] and reports how deep it got.
pub fn reach(scenario: &Scenario) -> Reach {
    let mut driver = Driver::new(&scenario.setup);
    let mut max_members = driver.engine.members().count();
    for step in &scenario.steps {
        driver.step(step);
        driver.drain();
        driver.check_invariants("reach");
        max_members = max_members.max(driver.engine.members().count());
    }
    let stats = driver.engine.stats();
    Reach {
        max_members,
        accepted: stats.rx_accepted,
        relayed: stats.tx_relayed,
        departed: stats.left + stats.expired,
        own_ids: driver.own_ids.len(),
    }
}

struct Driver {
    engine: ArrayEngine<CAPACITY>,
    /// Every id this node has had (with an id from the address, one per address it had).
    own_ids: Vec<NodeId>,
    /// The interfaces it was configured with.
    interfaces: usize,
    now: Instant,
    hop_limit: u8,
    history: VecDeque<Vec<u8>>,
    buf: [u8; MAX_DATAGRAM_LEN],
}

impl Driver {
    fn new(setup: &Setup) -> Driver {
        let node_id = NodeId::new(NODE_ID).unwrap_or(NodeId::MIN);
        let mut config = if setup.id_from_address {
            Config::from_address(7)
        } else {
            Config::new(node_id, 7)
        };
        config.interval = Duration::from_millis(setup.interval_ms);
        config.dead_after = setup.dead_after;
        config.hop_limit = setup.hop_limit;
        config.bandwidth = setup.bandwidth;
        config.tombstone_lifetime = Duration::from_millis(setup.tombstone_ms);
        config.forwarding = setup.forwarding;
        let interfaces: Vec<InterfaceSpec> = (0..setup.interfaces)
            .map(|i| InterfaceSpec::with_address(interface_address(i)))
            .collect();
        let mut engine = match Engine::new(
            config,
            &interfaces,
            [NodeEntry::VACANT; CAPACITY],
            setup.seed,
        ) {
            Ok(engine) => engine,
            Err(e) => panic!("harness configuration refused: {e}"),
        };
        engine.set_keyring(setup.keys.keyring().cloned());
        let now = Instant::from_millis(setup.clock_start);
        if !setup.start_later {
            engine.start(now);
        }
        let own_ids = vec![engine.node_id()];
        Driver {
            engine,
            own_ids,
            interfaces: setup.interfaces,
            now,
            hop_limit: setup.hop_limit,
            history: VecDeque::new(),
            buf: [0; MAX_DATAGRAM_LEN],
        }
    }

    fn advance(&mut self, millis: u64) {
        self.now = Instant::from_millis(self.now.total_millis().saturating_add(millis));
    }

    fn remember(&mut self, datagram: &[u8]) {
        if self.history.len() == HISTORY_LEN {
            self.history.pop_front();
        }
        self.history.push_back(datagram.to_vec());
    }

    fn replay(&self, n: u8) -> Option<Vec<u8>> {
        let len = self.history.len();
        if len == 0 {
            return None;
        }
        self.history.get(len - 1 - usize::from(n) % len).cloned()
    }

    fn step(&mut self, step: &Step) {
        match step {
            Step::Datagram {
                advance,
                iface,
                source,
                payload,
            } => {
                self.advance(*advance);
                let Some(datagram) = self.payload_bytes(payload) else {
                    return;
                };
                let src = match source {
                    Source::Address(ip) => *ip,
                    Source::Claimed => claimed_source(&datagram),
                };
                self.deliver(*iface, src, &datagram);
            }
            Step::Timeout(advance) => {
                match advance {
                    Advance::ToDeadline => {
                        if let Some(deadline) = self.engine.poll_timeout() {
                            self.now = self.now.max(deadline);
                        }
                    }
                    Advance::By(millis) => self.advance(*millis),
                }
                self.engine.handle_timeout(self.now);
            }
            Step::Start => self.engine.start(self.now),
            Step::Leave => self.engine.leave(self.now),
            Step::Rekey(keys) => self.engine.set_keyring(keys.keyring().cloned()),
            Step::Drain => {}
            Step::SetAddresses { iface, addrs } => self.set_addresses(*iface, addrs),
            Step::Resumed(iface) => self.engine.interface_resumed(self.now, *iface),
        }
        let id = self.engine.node_id();
        if !self.own_ids.contains(&id) {
            self.own_ids.push(id);
        }
    }

    /// `set_addresses`; a refusal must change nothing.
    fn set_addresses(&mut self, iface: IfaceId, addrs: &[IpAddr]) {
        let before = (self.table_view(), self.announced(), self.engine.node_id());
        let result = self.engine.set_addresses(self.now, iface, addrs);
        if let Err(e) = result {
            let after = (self.table_view(), self.announced(), self.engine.node_id());
            assert_eq!(
                after, before,
                "set_addresses({iface}, {addrs:?}) was refused ({e}) but changed the engine"
            );
        }
    }

    /// The addresses announced on every interface.
    fn announced(&self) -> Vec<AddrList> {
        (0..MAX_IFACES)
            .filter_map(IfaceId::new)
            .map(|i| self.engine.announced_addresses(i))
            .collect()
    }

    fn payload_bytes(&self, payload: &Payload) -> Option<Vec<u8>> {
        match payload {
            Payload::Raw(bytes) => Some(bytes.clone()),
            Payload::Built(msg, keys) => {
                let mut buf = [0u8; MAX_DATAGRAM_LEN];
                match msg.emit(&mut buf, keys.keyring()) {
                    Ok(n) => Some(buf[..n].to_vec()),
                    Err(e) => panic!("a message of at most six addresses must encode: {e}"),
                }
            }
            Payload::Replay(n) => self.replay(*n),
            Payload::Flipped { replay, at, xor } => {
                let mut bytes = self.replay(*replay)?;
                let len = bytes.len();
                if len > 0 {
                    bytes[usize::from(*at) % len] ^= xor;
                }
                Some(bytes)
            }
        }
    }

    fn deliver(&mut self, iface: IfaceId, src: IpAddr, datagram: &[u8]) {
        // Whether the datagram decodes and, with keys, verifies: the engine may answer a
        // forged copy of something it already knows (own, duplicate, stale) without paying for
        // the MAC, but nothing that fails here may change the table.
        let authentic = Message::decode(datagram, self.engine.keyring());
        let before = self.table_view();
        let src = std::net::SocketAddr::new(src, omdisc_core::DEFAULT_PORT);
        let result = self.engine.handle_datagram(self.now, iface, src, datagram);
        self.remember(datagram);
        if result.is_err() || authentic.is_err() {
            assert_eq!(
                self.table_view(),
                before,
                "a datagram refused ({result:?}) or not authentic ({authentic:?}) changed the \
                 table: {datagram:02x?}"
            );
        }
        if result == Ok(Received::Updated) {
            if let Err(e) = authentic {
                panic!("engine took as new a datagram that does not verify ({e}): {datagram:02x?}");
            }
        }
    }

    /// What the table says about every node (everything but the engine's private
    /// bookkeeping, such as when it last answered a replay).
    fn table_view(&self) -> Vec<EntryView> {
        self.engine
            .table()
            .entries()
            .iter()
            .map(|e| {
                (
                    e.id(),
                    e.addrs().to_vec(),
                    (e.incarnation(), e.sequence(), e.interval(), e.last_seen()),
                    (e.iface(), e.via(), e.hops(), e.is_gateway()),
                    (e.state(), e.is_shadowed()),
                )
            })
            .collect()
    }

    fn drain(&mut self) {
        let node_id = self.engine.node_id();
        for _ in 0..=MAX_TRANSMITS_PER_STEP {
            let Some(tx) = self.engine.poll_transmit(self.now, &mut self.buf) else {
                return self.drain_events();
            };
            assert!(tx.len <= MAX_DATAGRAM_LEN, "transmit of {} bytes", tx.len);
            let datagram = self.buf[..tx.len].to_vec();
            let msg = match Message::decode(&datagram, self.engine.keyring()) {
                Ok(msg) => msg,
                Err(e) => panic!("transmitted datagram does not decode ({e}): {datagram:02x?}"),
            };
            // The LEAVE of an identity whose last address went is tried where it was heard.
            let farewell = msg.kind == MessageKind::Leave && msg.hops == 0;
            assert!(
                self.engine.is_active(tx.iface) || farewell && tx.iface.index() < self.interfaces,
                "{:?} on inactive {}",
                msg.kind,
                tx.iface
            );
            if msg.hops == 0 {
                assert!(
                    self.own_ids.contains(&msg.origin),
                    "direct message from {}, not from this node (ids {:?})",
                    msg.origin,
                    self.own_ids
                );
            } else {
                // A relay queued before this node's id changed names the id it had then.
                assert!(
                    msg.relayer.is_some_and(|r| self.own_ids.contains(&r)),
                    "relayed by {:?}, not by this node (ids {:?})",
                    msg.relayer,
                    self.own_ids
                );
                // Never its own message while its id never changed. Once it did, a message
                // of an identity it had is a stranger's when its tombstone is gone (as any
                // departed node's), and relays queued before a change go out as they were.
                assert!(
                    self.own_ids.len() > 1 || msg.origin != node_id,
                    "relayed its own message: {msg:?}"
                );
                assert!(msg.relayer != Some(msg.origin), "relayed as its own origin");
                assert!(msg.hops <= self.hop_limit, "relayed over the hop limit");
            }
            self.remember(&datagram);
        }
        panic!("poll_transmit handed out more than {MAX_TRANSMITS_PER_STEP} datagrams in a step");
    }

    fn drain_events(&mut self) {
        for _ in 0..=MAX_EVENTS_PER_STEP {
            if self.engine.poll_event().is_none() {
                return;
            }
        }
        panic!("poll_event handed out more than {MAX_EVENTS_PER_STEP} events in a step");
    }

    /// A frontend calls `handle_timeout(now)` again while `poll_timeout() <= now`; a timer may
    /// legitimately come due at `now` once more (a zero reply delay, reverse reconsideration
    /// rounding down), but a few calls must move every deadline past `now`, or the frontend
    /// spins. (Not checked once the clock has saturated at `u64::MAX` ms, where every deadline
    /// saturates too.)
    fn check_no_spin(&mut self, index: usize) {
        if self.now.total_millis() == u64::MAX {
            return;
        }
        for _ in 0..MAX_CALLS_AT_ONE_INSTANT {
            match self.engine.poll_timeout() {
                Some(deadline) if deadline <= self.now => {
                    self.engine.handle_timeout(self.now);
                    self.drain();
                }
                _ => return,
            }
        }
        panic!(
            "step {index}: poll_timeout is still {:?} <= now {} after {MAX_CALLS_AT_ONE_INSTANT} \
             more handle_timeout calls (a spinning frontend); table {:?}",
            self.engine.poll_timeout(),
            self.now.total_millis(),
            self.engine.table().entries()
        );
    }

    fn check_invariants_after(&self, index: usize, step: &Step) {
        self.check_invariants(&format!("step {index} ({step:?})"));
    }

    fn check_invariants(&self, when: &str) {
        let table = self.engine.table();
        assert_eq!(table.capacity(), CAPACITY, "{when}: table capacity");
        if let Err(violation) = check_engine(&self.engine) {
            panic!("{when}: {violation}; table {:?}", table.entries());
        }
    }
}

/// The first address a datagram claims, or `10.0.0.2` when it does not decode.
fn claimed_source(datagram: &[u8]) -> IpAddr {
    Message::decode(datagram, None)
        .ok()
        .and_then(|m| m.addrs.first().map(|a| a.ip))
        .unwrap_or(IpAddr::V4(Ipv4Addr::new(10, 0, 0, 2)))
}
