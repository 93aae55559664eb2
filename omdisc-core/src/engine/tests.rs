use super::*;
use crate::addr::{AddrRole, NodeAddr};
use crate::config::Forwarding;
use crate::engine::AddressError;
use crate::event::Event;
use crate::time::Duration;
use crate::wire::{Message, MessageKind, MAX_DATAGRAM_LEN};
use core::net::{IpAddr, Ipv4Addr};

fn ip(d: u8) -> IpAddr {
    IpAddr::V4(Ipv4Addr::new(10, 0, 0, d))
}

fn engine_with(ifaces: &[InterfaceSpec], forwarding: Forwarding) -> ArrayEngine<4> {
    let mut config = Config::new(NodeId::new(1).unwrap(), 7);
    config.forwarding = forwarding;
    // These tests are about announcements: no probes (see the swim tests for those).
    config.probe_interval = Duration::ZERO;
    Engine::new(config, ifaces, [NodeEntry::VACANT; 4], 1).unwrap()
}

fn engine() -> ArrayEngine<4> {
    engine_with(&[InterfaceSpec::with_address(ip(1))], Forwarding::Relay)
}

fn announce_from(d: u8) -> Message {
    crate::testing::plain_announcement(
        NodeId::new(u16::from(d)).unwrap(),
        ip(d),
        1,
        1,
        Duration::from_secs(1),
    )
}

/// An engine of node 1 at 10.0.0.1 with `config`, started at 0 ms, that has just heard
/// node 2's announcement.
fn started_hearing_node_2(config: Config) -> ArrayEngine<4> {
    let ifaces = [InterfaceSpec::with_address(ip(1))];
    let mut e: ArrayEngine<4> = Engine::new(config, &ifaces, [NodeEntry::VACANT; 4], 1).unwrap();
    let now = Instant::from_millis(0);
    e.start(now);
    e.handle_datagram(
        now,
        IfaceId::FIRST,
        core::net::SocketAddr::new(ip(2), 7477),
        &bytes(&announce_from(2)),
    )
    .unwrap();
    e
}

fn bytes(msg: &Message) -> heapless::Vec<u8, MAX_DATAGRAM_LEN> {
    let mut buf = [0u8; MAX_DATAGRAM_LEN];
    let n = msg.emit(&mut buf, None).unwrap();
    heapless::Vec::from_slice(&buf[..n]).unwrap()
}

#[test]
fn bad_configurations_are_refused() {
    let one = [InterfaceSpec::with_address(ip(1))];
    let config = Config::new(NodeId::new(1).unwrap(), 1);
    let new = |config: Config, ifaces: &[InterfaceSpec]| {
        Engine::new(config, ifaces, [NodeEntry::VACANT; 2], 0).map(|_| ())
    };
    assert_eq!(new(config.clone(), &[]), Err(ConfigError::NoInterfaces));
    let seven: [InterfaceSpec; 7] =
        core::array::from_fn(|i| InterfaceSpec::with_address(ip(i as u8 + 1)));
    assert_eq!(
        new(config.clone(), &seven),
        Err(ConfigError::TooManyInterfaces(7))
    );
    let multicast = [InterfaceSpec::with_address(IpAddr::V4(Ipv4Addr::new(
        239, 0, 0, 1,
    )))];
    assert!(matches!(
        new(config.clone(), &multicast),
        Err(ConfigError::BadAddress(_))
    ));
    let mut crowded = InterfaceSpec::default();
    for d in 1..=6 {
        crowded.addrs.push(ip(d)).unwrap();
    }
    assert_eq!(
        new(
            config.clone(),
            &[crowded, InterfaceSpec::with_address(ip(9))]
        ),
        Err(ConfigError::TooManyAddresses(7))
    );
    let mut c = config.clone();
    c.interval = Duration::from_millis(5);
    assert_eq!(new(c, &one), Err(ConfigError::BadInterval));
    let mut c = config.clone();
    c.dead_after = 0;
    assert_eq!(new(c, &one), Err(ConfigError::BadDeadAfter));
    let empty: [NodeEntry; 0] = [];
    assert_eq!(
        Engine::new(config, &one, empty, 0).map(|_| ()),
        Err(ConfigError::NoStorage)
    );
}

#[test]
fn nothing_happens_before_start_and_the_first_announcement_asks_to_join() {
    let mut e = engine();
    let mut buf = [0u8; MAX_DATAGRAM_LEN];
    let now = Instant::from_millis(10);
    assert_eq!(e.poll_timeout(), None);
    assert!(e.poll_transmit(now, &mut buf).is_none());
    assert_eq!(
        e.handle_datagram(
            now,
            IfaceId::FIRST,
            core::net::SocketAddr::new(ip(2), 7477),
            &bytes(&announce_from(2))
        ),
        Err(RxError::NotRunning)
    );
    e.start(now);
    assert_eq!(e.poll_timeout(), Some(now));
    let tx = e.poll_transmit(now, &mut buf).unwrap();
    assert_eq!(tx.iface, IfaceId::FIRST);
    let msg = Message::decode(&buf[..tx.len], None).unwrap();
    assert!(msg.join);
    assert_eq!(msg.sequence, 1);
    assert_eq!(msg.addrs[0].ip, ip(1));
    assert!(e.poll_transmit(now, &mut buf).is_none());
    // Next: the periodic announcement within [0.5, 1.5] / (e - 3/2) × interval.
    let next = e.poll_timeout().unwrap();
    assert!((420..=1242).contains(&next.total_millis()), "{next}");
    assert_eq!(msg.interval, Duration::from_millis(1232));
}

#[test]
fn a_join_is_answered_within_the_reply_window() {
    let mut e = engine();
    let mut buf = [0u8; MAX_DATAGRAM_LEN];
    let t0 = Instant::from_millis(0);
    e.start(t0);
    while e.poll_transmit(t0, &mut buf).is_some() {}
    let mut join = announce_from(2);
    join.join = true;
    let t1 = Instant::from_millis(100);
    assert_eq!(
        e.handle_datagram(
            t1,
            IfaceId::FIRST,
            core::net::SocketAddr::new(ip(2), 7477),
            &bytes(&join)
        ),
        Ok(Received::Updated)
    );
    assert_eq!(e.poll_event(), Some(Event::Joined(NodeId::new(2).unwrap())));
    let reply_at = e.poll_timeout().unwrap();
    assert!(reply_at <= t1 + Duration::from_millis(200));
    e.handle_timeout(reply_at);
    let tx = e.poll_transmit(reply_at, &mut buf).unwrap();
    let msg = Message::decode(&buf[..tx.len], None).unwrap();
    assert!(!msg.join);
    assert_eq!(msg.sequence, 2);
}

#[test]
fn refusals_change_nothing() {
    let mut e = engine();
    let now = Instant::from_millis(0);
    e.start(now);
    // Sent from an address the message does not claim.
    assert_eq!(
        e.handle_datagram(
            now,
            IfaceId::FIRST,
            core::net::SocketAddr::new(ip(3), 7477),
            &bytes(&announce_from(2))
        ),
        Err(RxError::SpoofedSource)
    );
    // Relayed more often than the hop limit.
    let mut far = announce_from(2);
    far.hops = 5;
    far.relayer = NodeId::new(9);
    assert_eq!(
        e.handle_datagram(
            now,
            IfaceId::FIRST,
            core::net::SocketAddr::new(ip(9), 7477),
            &bytes(&far)
        ),
        Err(RxError::HopLimit(5))
    );
    // Garbage.
    assert!(matches!(
        e.handle_datagram(
            now,
            IfaceId::FIRST,
            core::net::SocketAddr::new(ip(2), 7477),
            b"hello"
        ),
        Err(RxError::Wire(_))
    ));
    // Our own message heard back.
    assert_eq!(
        e.handle_datagram(
            now,
            IfaceId::FIRST,
            core::net::SocketAddr::new(ip(1), 7477),
            &bytes(&announce_from(1))
        ),
        Ok(Received::Own)
    );
    assert_eq!(e.members().count(), 1);
    assert_eq!(e.poll_event(), None);
    let s = e.stats();
    assert_eq!(
        (s.rx_spoofed, s.rx_hop_limit, s.rx_malformed, s.rx_own),
        (1, 1, 1, 1)
    );
}

/// Also found by the `engine_datagrams` fuzz target (fixed in the sweep alongside the replay
/// tests): a tombstone's purge was scheduled for the instant its lifetime ends but done only
/// after it, so `poll_timeout` stayed at `now` and a frontend sleeping until it would spin.
#[test]
fn after_handle_timeout_the_next_deadline_lies_ahead() {
    let mut config = Config::new(NodeId::new(1).unwrap(), 7);
    config.tombstone_lifetime = Duration::from_secs(1);
    let mut e = started_hearing_node_2(config);
    let mut buf = [0u8; MAX_DATAGRAM_LEN];
    let mut now = Instant::from_millis(0);
    for _ in 0..100 {
        while e.poll_transmit(now, &mut buf).is_some() {}
        while e.poll_event().is_some() {}
        let next = e.poll_timeout().unwrap();
        assert!(next > now, "deadline {next:?} is not after {now:?}");
        now = next;
        e.handle_timeout(now);
    }
    assert!(now > Instant::from_secs(10), "only reached {now:?}");
    assert_eq!(e.table().len(), 1, "the tombstone of node 2 was purged");
}

#[test]
fn a_full_table_is_reported_once_per_node() {
    let mut e = engine(); // 4 slots, one for this node
    let now = Instant::from_millis(0);
    e.start(now);
    for d in 2..=4 {
        let r = e.handle_datagram(
            now,
            IfaceId::FIRST,
            core::net::SocketAddr::new(ip(d), 7477),
            &bytes(&announce_from(d)),
        );
        assert_eq!(r, Ok(Received::Updated));
    }
    let full = bytes(&announce_from(5));
    assert_eq!(
        e.handle_datagram(
            now,
            IfaceId::FIRST,
            core::net::SocketAddr::new(ip(5), 7477),
            &full
        ),
        Err(RxError::TableFull)
    );
    assert_eq!(
        e.handle_datagram(
            now,
            IfaceId::FIRST,
            core::net::SocketAddr::new(ip(5), 7477),
            &full
        ),
        Err(RxError::TableFull)
    );
    let fulls = core::iter::from_fn(|| e.poll_event())
        .filter(|ev| matches!(ev, Event::TableFull(_)))
        .count();
    assert_eq!(fulls, 1);
    assert_eq!(e.stats().rx_table_full, 2);
}

#[test]
fn routed_mode_listens_on_the_first_interface_only() {
    let ifaces = [
        InterfaceSpec::with_address(ip(1)),
        InterfaceSpec::with_address(ip(101)),
    ];
    let mut e = engine_with(&ifaces, Forwarding::Routed);
    let now = Instant::from_millis(0);
    e.start(now);
    assert!(!e.is_gateway());
    let second = IfaceId::new(1).unwrap();
    assert_eq!(
        e.handle_datagram(
            now,
            second,
            core::net::SocketAddr::new(ip(2), 7477),
            &bytes(&announce_from(2))
        ),
        Err(RxError::InactiveInterface(second))
    );
    let addrs = e.announced_addresses(IfaceId::FIRST);
    assert_eq!(addrs.len(), 2);
    assert_eq!((addrs[1].ip, addrs[1].role), (ip(101), AddrRole::Alias));
    let mut buf = [0u8; MAX_DATAGRAM_LEN];
    assert_eq!(
        e.poll_transmit(now, &mut buf).map(|t| t.iface),
        Some(IfaceId::FIRST)
    );
    assert!(e.poll_transmit(now, &mut buf).is_none());
}

#[test]
fn the_announce_interval_is_the_configured_one_until_the_budget_stretches_it() {
    let spec = [InterfaceSpec::with_address(ip(1))];
    let mut config = Config::new(NodeId::new(1).unwrap(), 7);
    config.interval = Duration::from_millis(100);
    config.bandwidth = 0;
    let e: ArrayEngine<4> = Engine::new(config.clone(), &spec, [NodeEntry::VACANT; 4], 1).unwrap();
    assert_eq!(e.announce_interval(), Duration::from_millis(100));
    // One node alone on a 1000 bit/s budget: its own announcement's bits per second.
    config.bandwidth = 1000;
    let mut e: ArrayEngine<4> = Engine::new(config, &spec, [NodeEntry::VACANT; 4], 1).unwrap();
    let bits = u64::from(e.average_announce_size()) * 8;
    assert_eq!(e.announce_interval().total_millis(), bits * 1000 / 1000);
    // What it advertises is the longest randomised round, of an interval that stretches
    // at most to twice the last one each round.
    e.start(Instant::from_millis(0));
    assert_eq!(e.advertised_interval(), Duration::from_millis(248));
    let mut buf = [0u8; MAX_DATAGRAM_LEN];
    for _ in 0..8 {
        let now = e.poll_timeout().unwrap();
        while e.poll_transmit(now, &mut buf).is_some() {}
        e.handle_timeout(now);
    }
    assert!(e.advertised_interval() > e.announce_interval());
}

#[test]
fn a_gateway_announces_each_leg_as_primary_on_its_own_network() {
    let ifaces = [
        InterfaceSpec::with_address(ip(1)),
        InterfaceSpec::with_address(ip(101)),
    ];
    let mut e = engine_with(&ifaces, Forwarding::Relay);
    let now = Instant::from_millis(0);
    e.start(now);
    assert!(e.is_gateway());
    each_leg_announces_itself_with_the_other_as_alias(&mut e, now, true);
}

/// The first round of a two-legged node: on each leg its address there as primary and the
/// other leg as alias, with the gateway flag `gateway`.
fn each_leg_announces_itself_with_the_other_as_alias(
    e: &mut ArrayEngine<4>,
    now: Instant,
    gateway: bool,
) {
    let mut buf = [0u8; MAX_DATAGRAM_LEN];
    for (iface, primary, alias) in [(0, ip(1), ip(101)), (1, ip(101), ip(1))] {
        let tx = e.poll_transmit(now, &mut buf).unwrap();
        assert_eq!(tx.iface.index(), iface);
        let msg = Message::decode(&buf[..tx.len], None).unwrap();
        assert_eq!(msg.gateway, gateway);
        assert_eq!(
            (msg.addrs[0].ip, msg.addrs[0].role),
            (primary, AddrRole::Primary)
        );
        assert_eq!(
            (msg.addrs[1].ip, msg.addrs[1].role),
            (alias, AddrRole::Alias)
        );
    }
}

/// A gateway built with room to relay one message at a time: a second message heard before
/// `poll_transmit` drains the queue is counted as dropped, and the first still goes out on
/// the other leg.
#[test]
fn a_relay_queue_of_one_relays_one_message_and_counts_the_next_as_dropped() {
    let ifaces = [
        InterfaceSpec::with_address(ip(1)),
        InterfaceSpec::with_address(ip(101)),
    ];
    let mut config = Config::new(NodeId::new(1).unwrap(), 7);
    config.forwarding = Forwarding::Relay;
    let mut e: Engine<[NodeEntry; 4], 1, 1> =
        Engine::with_relay_sizes(config, &ifaces, [NodeEntry::VACANT; 4], 1).unwrap();
    let now = Instant::from_millis(0);
    e.start(now);
    let mut buf = [0u8; MAX_DATAGRAM_LEN];
    while e.poll_transmit(now, &mut buf).is_some() {}

    for d in [2, 3] {
        e.handle_datagram(
            now,
            IfaceId::FIRST,
            core::net::SocketAddr::new(ip(d), 7477),
            &bytes(&announce_from(d)),
        )
        .unwrap();
    }
    let mut relayed = heapless::Vec::<u16, 4>::new();
    while let Some(tx) = e.poll_transmit(now, &mut buf) {
        let msg = Message::decode(&buf[..tx.len], None).unwrap();
        if msg.origin != e.node_id() {
            assert_eq!(tx.iface.index(), 1, "relayed out of the other leg");
            relayed.push(msg.origin.get()).unwrap();
        }
    }
    assert_eq!(&relayed[..], &[2]);
    assert_eq!(e.stats().relay_dropped, 1);
}

#[test]
fn a_one_interface_engine_with_small_relay_queues_is_kilobytes_smaller() {
    let small = core::mem::size_of::<Engine<[NodeEntry; 4], 2, 1>>();
    let gateway = core::mem::size_of::<ArrayEngine<4>>();
    assert!(
        small + 6 * 1024 < gateway,
        "{small} B is not 6 KiB below {gateway} B"
    );
}

#[test]
fn an_isolated_node_sends_on_every_leg_with_aliases_but_relays_nothing() {
    let ifaces = [
        InterfaceSpec::with_address(ip(1)),
        InterfaceSpec::with_address(ip(101)),
    ];
    let mut e = engine_with(&ifaces, Forwarding::Isolated);
    let now = Instant::from_millis(0);
    e.start(now);
    assert!(!e.is_gateway());
    each_leg_announces_itself_with_the_other_as_alias(&mut e, now, false);
    let mut buf = [0u8; MAX_DATAGRAM_LEN];
    assert!(e.poll_transmit(now, &mut buf).is_none());
    // Both legs listen; what one hears is not sent out of the other.
    let second = IfaceId::new(1).unwrap();
    assert!(e
        .handle_datagram(
            now,
            second,
            core::net::SocketAddr::new(ip(2), 7477),
            &bytes(&announce_from(2))
        )
        .is_ok());
    while let Some(tx) = e.poll_transmit(now, &mut buf) {
        let sent = Message::decode(&buf[..tx.len], None).unwrap();
        assert_eq!(sent.origin, e.node_id(), "relayed node {}", sent.origin);
    }
    assert_eq!(e.stats().tx_relayed, 0);
}

/// Found by the `engine_datagrams` fuzz target: a gateway relayed a message whose origin is
/// its own node id (a forged LEAVE without addresses, or an id-collision contender), which
/// made the relay's relayer equal its origin, a datagram every receiver refuses.
#[test]
fn a_gateway_never_relays_a_message_about_its_own_node_id() {
    let ifaces = [
        InterfaceSpec::with_address(ip(1)),
        InterfaceSpec::with_address(ip(101)),
    ];
    let mut e = engine_with(&ifaces, Forwarding::Relay);
    let now = Instant::from_millis(0);
    e.start(now);
    let mut buf = [0u8; MAX_DATAGRAM_LEN];
    while e.poll_transmit(now, &mut buf).is_some() {}

    let mut leave = announce_from(1);
    leave.kind = MessageKind::Leave;
    leave.addrs.clear();
    let mut contender = announce_from(9);
    contender.origin = NodeId::new(1).unwrap();
    for mut msg in [leave, contender] {
        msg.hops = 1;
        msg.relayer = NodeId::new(2);
        let _ = e.handle_datagram(
            now,
            IfaceId::FIRST,
            core::net::SocketAddr::new(ip(2), 7477),
            &bytes(&msg),
        );
        while let Some(tx) = e.poll_transmit(now, &mut buf) {
            let sent = Message::decode(&buf[..tx.len], None);
            assert!(sent.is_ok(), "sent an invalid datagram: {sent:?}");
            assert_eq!(
                sent.unwrap().origin,
                e.node_id(),
                "relayed a message about node 1"
            );
        }
    }
}

/// Found by the `engine_datagrams` fuzz target: a replay of a departed id-collision contender
/// for this node's own id was answered with its LEAVE relayed by this node, so relayer and
/// origin were the same id, a datagram every receiver refuses.
#[test]
fn a_replay_of_a_departed_contender_for_this_nodes_id_is_not_answered() {
    let mut e = engine();
    let now = Instant::from_millis(0);
    e.start(now);
    let mut buf = [0u8; MAX_DATAGRAM_LEN];
    while e.poll_transmit(now, &mut buf).is_some() {}

    let mut contender = announce_from(6);
    contender.origin = NodeId::new(1).unwrap();
    assert_eq!(
        e.handle_datagram(
            now,
            IfaceId::FIRST,
            core::net::SocketAddr::new(ip(6), 7477),
            &bytes(&contender)
        ),
        Ok(Received::Updated)
    );
    let mut leave = contender.clone();
    leave.kind = MessageKind::Leave;
    leave.sequence = 2;
    assert_eq!(
        e.handle_datagram(
            now,
            IfaceId::FIRST,
            core::net::SocketAddr::new(ip(6), 7477),
            &bytes(&leave)
        ),
        Ok(Received::Updated)
    );
    assert_eq!(
        e.handle_datagram(
            now,
            IfaceId::FIRST,
            core::net::SocketAddr::new(ip(6), 7477),
            &bytes(&contender)
        ),
        Err(RxError::Stale)
    );
    while let Some(tx) = e.poll_transmit(now, &mut buf) {
        let sent = Message::decode(&buf[..tx.len], None);
        assert!(sent.is_ok(), "sent an invalid datagram: {sent:?}");
    }
}

#[test]
fn leave_sends_leave_on_every_interface_and_stops() {
    let ifaces = [
        InterfaceSpec::with_address(ip(1)),
        InterfaceSpec::with_address(ip(101)),
    ];
    let mut e = engine_with(&ifaces, Forwarding::Relay);
    let mut buf = [0u8; MAX_DATAGRAM_LEN];
    let now = Instant::from_millis(0);
    e.start(now);
    while e.poll_transmit(now, &mut buf).is_some() {}
    e.leave(now);
    assert_eq!(e.phase(), Phase::Leaving);
    let mut sent = 0;
    while let Some(tx) = e.poll_transmit(now, &mut buf) {
        let msg = Message::decode(&buf[..tx.len], None).unwrap();
        assert_eq!(msg.kind, MessageKind::Leave);
        sent += 1;
    }
    assert_eq!(sent, 2);
    assert_eq!(e.phase(), Phase::Stopped);
    assert_eq!(e.poll_timeout(), None);
}

#[test]
fn unpulled_events_end_in_an_overflow_event() {
    let mut config = Config::new(NodeId::new(1).unwrap(), 7);
    config.interval = Duration::from_secs(1);
    let storage = [NodeEntry::VACANT; 64];
    let mut e = Engine::new(config, &[InterfaceSpec::with_address(ip(1))], storage, 1).unwrap();
    let now = Instant::from_millis(0);
    e.start(now);
    for d in 2..=(EVENT_QUEUE_LEN as u8 + 10) {
        let _ = e.handle_datagram(
            now,
            IfaceId::FIRST,
            core::net::SocketAddr::new(ip(d), 7477),
            &bytes(&announce_from(d)),
        );
    }
    let events: heapless::Vec<Event, 64> = core::iter::from_fn(|| e.poll_event()).collect();
    assert_eq!(events.len(), EVENT_QUEUE_LEN + 1);
    assert_eq!(events.last(), Some(&Event::Overflow));
    assert_eq!(e.events_dropped(), 9);
}

#[test]
fn old_rounds_are_dropped_before_the_mac_and_new_ones_need_it() {
    use crate::wire::{ClusterKey, Keyring};
    let ring = Keyring::new(ClusterKey::from_hex("00112233445566778899aabbccddeeff").unwrap());
    let mut e = engine();
    e.set_keyring(Some(ring.clone()));
    let now = Instant::from_millis(0);
    e.start(now);
    let signed = |msg: &Message, tamper: bool| {
        let mut buf = [0u8; MAX_DATAGRAM_LEN];
        let n = msg.emit(&mut buf, Some(&ring)).unwrap();
        if tamper {
            buf[n - 1] ^= 1;
        }
        heapless::Vec::<u8, MAX_DATAGRAM_LEN>::from_slice(&buf[..n]).unwrap()
    };
    let mut msg = announce_from(2);
    msg.sequence = 5;
    assert_eq!(
        e.handle_datagram(
            now,
            IfaceId::FIRST,
            core::net::SocketAddr::new(ip(2), 7477),
            &signed(&msg, false)
        ),
        Ok(Received::Updated)
    );
    // An older round with a broken MAC cannot change anything: refused as stale, no MAC work.
    msg.sequence = 4;
    assert_eq!(
        e.handle_datagram(
            now,
            IfaceId::FIRST,
            core::net::SocketAddr::new(ip(2), 7477),
            &signed(&msg, true)
        ),
        Err(RxError::Stale)
    );
    assert_eq!(e.stats().rx_auth_failed, 0);
    // A newer round with a broken MAC is refused by the MAC and changes nothing.
    msg.sequence = 6;
    assert_eq!(
        e.handle_datagram(
            now,
            IfaceId::FIRST,
            core::net::SocketAddr::new(ip(2), 7477),
            &signed(&msg, true)
        ),
        Err(RxError::Wire(crate::wire::WireError::BadMac))
    );
    assert_eq!(
        e.table()
            .member(NodeId::new(2).unwrap())
            .unwrap()
            .sequence(),
        5
    );
    // An unsigned datagram is refused outright.
    assert_eq!(
        e.handle_datagram(
            now,
            IfaceId::FIRST,
            core::net::SocketAddr::new(ip(2), 7477),
            &bytes(&msg)
        ),
        Err(RxError::Wire(crate::wire::WireError::MissingAuth))
    );
    assert_eq!(e.stats().rx_auth_failed, 2);
}

#[test]
fn a_node_that_lost_its_id_knows_it() {
    let mut e = engine(); // node 1 at 10.0.0.1
    let now = Instant::from_millis(0);
    e.start(now);
    assert!(!e.lost_id_collision());
    // Another host claims id 1 from a lower address: it keeps the id.
    let mut rival = announce_from(1);
    rival.addrs[0].ip = IpAddr::V4(Ipv4Addr::new(9, 0, 0, 1));
    let src = rival.addrs[0].ip;
    assert_eq!(
        e.handle_datagram(
            now,
            IfaceId::FIRST,
            core::net::SocketAddr::new(src, 7477),
            &bytes(&rival)
        ),
        Ok(Received::Updated)
    );
    assert!(e.lost_id_collision());
    assert!(matches!(
        core::iter::from_fn(|| e.poll_event()).last(),
        Some(Event::Conflict {
            local_lost: true,
            ..
        })
    ));
    assert!(e.members().all(|m| m.state() != NodeState::Local));
}

/// An engine with 64 slots that has heard `members - 1` other nodes (10.0.0.2 upwards).
fn engine_in_a_cluster_of(members: u8, bandwidth: u32) -> (ArrayEngine<64>, Instant) {
    let mut config = Config::new(NodeId::new(1).unwrap(), 7);
    config.bandwidth = bandwidth;
    let ifaces = [InterfaceSpec::with_address(ip(1))];
    let mut e: ArrayEngine<64> = Engine::new(config, &ifaces, [NodeEntry::VACANT; 64], 3).unwrap();
    let now = Instant::from_millis(1_000);
    e.start(now);
    for d in 2..=members {
        e.handle_datagram(
            now,
            IfaceId::FIRST,
            core::net::SocketAddr::new(ip(d), 7477),
            &bytes(&announce_from(d)),
        )
        .unwrap();
    }
    let mut buf = [0u8; MAX_DATAGRAM_LEN];
    while e.poll_transmit(now, &mut buf).is_some() {}
    while e.poll_event().is_some() {}
    assert_eq!(e.group_size(), usize::from(members));
    (e, now)
}

#[test]
fn leaving_a_large_cluster_backs_off_then_sends_leave_and_never_spins() {
    let (mut e, heard) = engine_in_a_cluster_of(60, crate::config::DEFAULT_BANDWIDTH);
    let mut buf = [0u8; MAX_DATAGRAM_LEN];
    // The others would expire 5 x 1.232 s after they were heard: 0.16 s into the back-off,
    // before the LEAVE is due (0.41 s at the earliest). A leaving node expires nobody, so
    // that deadline must not hold `poll_timeout` in the past.
    let t0 = heard + Duration::from_millis(6_000);
    e.leave(t0);
    assert_eq!(e.phase(), Phase::Leaving);
    assert!(
        e.poll_transmit(t0, &mut buf).is_none(),
        "LEAVE waits its turn"
    );
    let mut now = t0;
    let mut leave = None;
    while e.phase() == Phase::Leaving {
        let next = e.poll_timeout().unwrap();
        assert!(next > now, "deadline {next:?} is not after {now:?}");
        now = next;
        e.handle_timeout(now);
        if let Some(tx) = e.poll_transmit(now, &mut buf) {
            leave = Some(Message::decode(&buf[..tx.len], None).unwrap());
        }
        assert!(
            now <= t0 + Duration::from_secs(2),
            "LEAVE later than max_leave_delay"
        );
    }
    assert_eq!(leave.map(|m| m.kind), Some(MessageKind::Leave));
    assert!(!e.stats().left_silently);
    assert_eq!(e.poll_timeout(), None);
}

#[test]
fn a_mass_shutdown_over_budget_stops_without_leave() {
    // 2 kbit/s: 60 members x ~62 bytes need ~15 s per round, longer than max_leave_delay.
    let (mut e, t0) = engine_in_a_cluster_of(60, 2_000);
    let mut buf = [0u8; MAX_DATAGRAM_LEN];
    e.leave(t0);
    for d in 2..=60 {
        let mut leave = announce_from(d);
        leave.kind = MessageKind::Leave;
        leave.sequence = 2;
        assert_eq!(
            e.handle_datagram(
                t0,
                IfaceId::FIRST,
                core::net::SocketAddr::new(ip(d), 7477),
                &bytes(&leave)
            ),
            Err(RxError::NotRunning)
        );
    }
    let mut now = t0;
    while let Some(next) = e.poll_timeout() {
        assert!(next > now, "deadline {next:?} is not after {now:?}");
        now = next;
        e.handle_timeout(now);
        assert!(e.poll_transmit(now, &mut buf).is_none(), "no LEAVE");
    }
    assert_eq!(e.phase(), Phase::Stopped);
    assert!(e.stats().left_silently);
}

#[test]
fn a_tombstone_lifetime_over_thirty_days_is_refused() {
    let mut config = Config::new(NodeId::new(1).unwrap(), 1);
    config.tombstone_lifetime = crate::config::MAX_TOMBSTONE_LIFETIME;
    let ifaces = [InterfaceSpec::with_address(ip(1))];
    assert!(Engine::new(config.clone(), &ifaces, [NodeEntry::VACANT; 2], 0).is_ok());
    config.tombstone_lifetime = config.tombstone_lifetime + Duration::from_millis(1);
    assert_eq!(
        Engine::new(config, &ifaces, [NodeEntry::VACANT; 2], 0).map(|_| ()),
        Err(ConfigError::BadTombstoneLifetime)
    );
}

#[test]
fn address_changes_that_cannot_be_announced_are_refused_and_change_nothing() {
    let mut e = engine();
    let now = Instant::from_millis(0);
    e.start(now);
    let mut buf = [0u8; MAX_DATAGRAM_LEN];
    while e.poll_transmit(now, &mut buf).is_some() {}
    let second = IfaceId::new(1).unwrap();
    assert_eq!(
        e.set_addresses(now, second, &[ip(2)]),
        Err(AddressError::NoSuchInterface(second))
    );
    let multicast = IpAddr::V4(Ipv4Addr::new(239, 0, 0, 1));
    assert_eq!(
        e.set_addresses(now, IfaceId::FIRST, &[ip(1), multicast]),
        Err(AddressError::BadAddress(multicast))
    );
    let seven: [IpAddr; 7] = core::array::from_fn(|i| ip(i as u8 + 1));
    assert_eq!(
        e.set_addresses(now, IfaceId::FIRST, &seven),
        Err(AddressError::TooManyAddresses(7))
    );
    // The same list again: nothing to say.
    assert_eq!(e.set_addresses(now, IfaceId::FIRST, &[ip(1)]), Ok(()));
    assert!(e.poll_transmit(now, &mut buf).is_none());
    assert_eq!(e.poll_event(), None);
    assert_eq!(e.announced_addresses(IfaceId::FIRST).len(), 1);
}

#[test]
fn a_new_address_is_announced_at_once_and_a_new_derived_id_says_goodbye_first() {
    let mut config = Config::from_address(7);
    config.interval = Duration::from_secs(1);
    let ifaces = [InterfaceSpec::with_address(ip(1))];
    let mut e: ArrayEngine<4> = Engine::new(config, &ifaces, [NodeEntry::VACANT; 4], 1).unwrap();
    assert_eq!(e.local_id(), NodeId::new(1));
    let t0 = Instant::from_millis(0);
    e.start(t0);
    let mut buf = [0u8; MAX_DATAGRAM_LEN];
    while e.poll_transmit(t0, &mut buf).is_some() {}
    let t1 = Instant::from_millis(300);
    e.set_addresses(t1, IfaceId::FIRST, &[ip(5)]).unwrap();
    assert_eq!(e.poll_event(), Some(Event::LocalChanged));
    assert_eq!(e.local_id(), NodeId::new(5));
    let tx = e.poll_transmit(t1, &mut buf).unwrap();
    let leave = Message::decode(&buf[..tx.len], None).unwrap();
    assert_eq!(leave.kind, MessageKind::Leave);
    assert_eq!(leave.origin.get(), 1);
    // It lists the old address and the one it is sent from.
    let ips: heapless::Vec<IpAddr, 6> = leave.addrs.iter().map(|a| a.ip).collect();
    assert_eq!(ips.as_slice(), &[ip(1), ip(5)]);
    let tx = e.poll_transmit(t1, &mut buf).unwrap();
    let hello = Message::decode(&buf[..tx.len], None).unwrap();
    assert_eq!(hello.kind, MessageKind::Announce);
    assert_eq!(hello.origin.get(), 5);
    assert!(!hello.join, "it knows the cluster already");
    assert_eq!(hello.sequence, leave.sequence + 1);
    assert!(e.poll_transmit(t1, &mut buf).is_none());
    // Its old identity stays as a tombstone: its own old messages are stale here too.
    assert_eq!(
        e.handle_datagram(
            t1,
            IfaceId::FIRST,
            core::net::SocketAddr::new(ip(1), 7477),
            &bytes(&announce_from(1))
        ),
        Err(RxError::Stale)
    );
    assert_eq!(
        e.members()
            .map(|m| m.id().get())
            .collect::<heapless::Vec<u16, 4>>(),
        [5]
    );
}

/// Found by the `engine_datagrams` fuzz target: two hosts in an id collision (node 9 at .5
/// and at .6); a message of the host at .6 that also lists .5 (the address moved to it) was
/// merged into the entry of .5, so both live entries of id 9 held .6: one host twice. The
/// message updates the entry of its first primary address, and .5 moves to it.
#[test]
fn a_message_overlapping_two_contenders_of_an_id_moves_the_address_not_duplicates_it() {
    let mut e = engine();
    let now = Instant::from_millis(0);
    e.start(now);
    let mut buf = [0u8; MAX_DATAGRAM_LEN];
    while e.poll_transmit(now, &mut buf).is_some() {}
    let from = |d| core::net::SocketAddr::new(ip(d), 7477);
    let id = NodeId::new(9).unwrap();

    for d in [5, 6] {
        let mut contender = announce_from(d);
        contender.origin = id;
        contender.incarnation = u64::from(d);
        let got = e.handle_datagram(now, IfaceId::FIRST, from(d), &bytes(&contender));
        assert_eq!(got, Ok(Received::Updated));
    }
    assert_eq!(e.table().same_id(id).len(), 2);
    assert_eq!(crate::testing::check_engine(&e), Ok(()));

    let mut moved = announce_from(6);
    moved.origin = id;
    moved.incarnation = 6;
    moved.sequence = 2;
    moved
        .addrs
        .push(NodeAddr::alias(ip(5), IfaceId::FIRST))
        .unwrap();
    let got = e.handle_datagram(now, IfaceId::FIRST, from(6), &bytes(&moved));
    assert_eq!(got, Ok(Received::Updated));
    assert_eq!(crate::testing::check_engine(&e), Ok(()));
    let same = e.table().same_id(id);
    assert_eq!(same.len(), 1, "{same:?}");
    assert_eq!(same[0].sequence(), 2);
    assert_eq!(same[0].addrs(), &moved.addrs[..]);
    assert_eq!(e.group_size(), 2);
}

#[test]
fn a_suspect_still_expires_after_this_node_lost_its_address_and_stopped_probing() {
    // Probes on, slow: node 2 stops announcing and is suspected at its expiry (the probes
    // decide); then this node loses its address and stops probing. The suspect must still
    // have a deadline (the fuzzer found a suspect left without one: a running engine with
    // nothing due) and expire.
    let mut config = Config::new(NodeId::new(1).unwrap(), 7);
    config.probe_interval = Duration::from_secs(30);
    let mut e = started_hearing_node_2(config);
    let mut buf = [0u8; MAX_DATAGRAM_LEN];
    let mut now = Instant::from_millis(0);
    let node2 = NodeId::new(2).unwrap();
    let mut suspected = false;
    let mut address_lost = None;
    for _ in 0..1_000 {
        while e.poll_transmit(now, &mut buf).is_some() {}
        while let Some(event) = e.poll_event() {
            suspected |= event == Event::Suspected(node2);
        }
        if suspected && address_lost.is_none() {
            e.set_addresses(now, IfaceId::FIRST, &[]).unwrap();
            address_lost = Some(now);
            while e.poll_transmit(now, &mut buf).is_some() {}
        }
        assert_eq!(crate::testing::check_engine(&e), Ok(()), "at {now:?}");
        if e.table().member(node2).is_none() {
            break;
        }
        let next = e.poll_timeout().expect("a deadline while node 2 is kept");
        now = now.max(next);
        e.handle_timeout(now);
    }
    let lost = address_lost.expect("node 2 was never suspected");
    assert!(e.table().member(node2).is_none(), "node 2 never expired");
    // Looked at again a probe interval on, not left to the next sweep for other reasons
    // (the tombstone of this node's own entry: 600 s).
    assert!(
        now <= lost + Duration::from_secs(31),
        "expired {now:?}, address lost {lost:?}"
    );
}

/// A frontend may run timers a little late to share a wake (omdiscd does, by a tenth of a
/// timer's period): a probe tick run late must not push the next one back, or a chain of
/// ticks (a suspicion) would be late by the sum of the delays.
#[test]
fn a_probe_tick_run_late_does_not_push_the_next_one_back() {
    let mut config = Config::new(NodeId::new(1).unwrap(), 7);
    config.probe_interval = Duration::from_millis(500);
    let mut e = started_hearing_node_2(config);
    let interval = Duration::from_millis(500);
    let mut due = e.timers.get(Timer::Probe).expect("probing runs");
    for _ in 0..5 {
        e.handle_timeout(due + Duration::from_millis(45));
        let next = e.timers.get(Timer::Probe).expect("probing runs");
        assert_eq!(next, due + interval, "one interval after the tick was due");
        due = next;
    }
    // Run more than an interval late (a suspended machine): the next tick is an interval
    // after the run, not a burst of catch-up ticks.
    let late = due + Duration::from_millis(1_700);
    e.handle_timeout(late);
    assert_eq!(e.timers.get(Timer::Probe), Some(late + interval));
}

/// An answered probe leaves its interval's timeout nothing to do: the node does not wake
/// for it, and the timeout is stopped once its moment has passed, as firing it would have.
#[test]
fn an_answered_probe_does_not_wake_the_node_for_its_timeout() {
    let mut config = Config::new(NodeId::new(1).unwrap(), 7);
    config.probe_interval = Duration::from_millis(500);
    let mut e = started_hearing_node_2(config);
    // Run until a probe is out (the first tick comes within one interval).
    let mut buf = [0u8; MAX_DATAGRAM_LEN];
    while e.swim.probe_nonce().is_none() {
        let now = e.poll_timeout().expect("a deadline");
        e.handle_timeout(now);
        while e.poll_transmit(now, &mut buf).is_some() {}
    }
    let timeout = e.timers.get(Timer::ProbeTimeout).expect("the probe waits");
    assert!(
        e.poll_timeout().is_some_and(|t| t <= timeout),
        "an unanswered probe's timeout is a deadline"
    );
    let nonce = e.swim.probe_nonce().expect("a probe");
    assert!(e.ack_received(nonce));
    let next = e.poll_timeout().expect("the next tick");
    assert_ne!(next, timeout, "answered: the timeout is left out");
    assert_eq!(Some(next), e.timers.next_except(Timer::ProbeTimeout));
    // A datagram after the timeout's moment retires it.
    let after = timeout + Duration::from_millis(1);
    assert!(after < next);
    let _ = e.handle_datagram(
        after,
        IfaceId::FIRST,
        core::net::SocketAddr::new(ip(2), 7477),
        &bytes(&announce_from(2)),
    );
    assert_eq!(e.timers.get(Timer::ProbeTimeout), None);
}

/// Only the periodic timers may be met late (a frontend's timer slack): the next
/// announcement or a probe tick, never expiry, and nothing while datagrams wait.
#[test]
fn only_periodic_deadlines_may_be_met_late() {
    let mut config = Config::new(NodeId::new(1).unwrap(), 7);
    config.probe_interval = Duration::from_millis(500);
    let mut e = started_hearing_node_2(config);
    let mut buf = [0u8; MAX_DATAGRAM_LEN];
    let now = Instant::from_millis(0);
    assert!(!e.poll_timeout_is_periodic(), "datagrams wait: at once");
    while e.poll_transmit(now, &mut buf).is_some() {}
    let next = e.poll_timeout().expect("a deadline");
    let periodic = [Timer::Announce, Timer::Probe]
        .into_iter()
        .any(|t| e.timers.get(t) == Some(next));
    assert_eq!(e.poll_timeout_is_periodic(), periodic);
    // An expiry before it is exact.
    e.timers.set(
        Timer::Sweep,
        Instant::from_millis(next.total_millis().saturating_sub(1).max(1)),
    );
    assert!(!e.poll_timeout_is_periodic());
    // An announcement first is periodic.
    e.timers.stop(Timer::Sweep);
    e.timers.set(Timer::Announce, Instant::from_millis(1));
    assert!(e.poll_timeout_is_periodic());
}
