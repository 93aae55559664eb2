//! Probes over smoltcp: a direct datagram to a member that never answers ARP holds up
//! neither the group announcements nor the datagrams to live members, is dropped after a
//! bounded wait and counted; and a crashed member is found by probes long before it would
//! expire by silence.

#![cfg(feature = "probes")]

mod support;

use std::net::{IpAddr, Ipv4Addr};

use omdisc_core::{Event, Message, MessageKind, NodeId};
use omdisc_smoltcp::{Settings, DEFAULT_GROUP, DEFAULT_PORT, UNICAST_SOCKETS};
use smoltcp::time::Instant;
use smoltcp::wire::Ipv4Address;
use support::{
    arp_requests, node, run_until, secs, settings_v4, udp_datagrams, udp_frame, Host, Hub,
};

const A: [u8; 4] = [10, 77, 1, 11];
const B: [u8; 4] = [10, 77, 1, 12];
const C: [u8; 4] = [10, 77, 1, 13];
/// A member that announces once, to one host, and never answers (it crashed).
const GHOST: [u8; 4] = [10, 77, 1, 99];
const GHOST_ID: u16 = 355;

fn id(ip: [u8; 4]) -> NodeId {
    NodeId::new(u16::from(ip[2]) * 256 + u16::from(ip[3])).unwrap()
}

/// Settings whose silence expiry is far away (20 intervals of 1 s): a member removed
/// within a few seconds was removed by the probes.
fn patient(ip: [u8; 4], seed: u64) -> Settings {
    let mut settings = settings_v4(ip, seed);
    settings.engine.dead_after = 20;
    settings.engine.max_dead_after = 20;
    settings
}

fn hosts(addresses: &[[u8; 4]], start: Instant) -> (Vec<Host>, support::HubPort) {
    let hub = Hub::new();
    let hosts = addresses
        .iter()
        .enumerate()
        .map(|(i, ip)| {
            let mut port = Hub::port(&hub);
            let node = node(patient(*ip, i as u64 + 1), &mut port, start);
            Host::new(node, port, start)
        })
        .collect();
    (hosts, Hub::port(&hub))
}

/// The hosts at `addresses`, driven until every map lists all of them; and when that was.
fn converged(addresses: &[[u8; 4]], start: Instant) -> (Vec<Host>, support::HubPort, Instant) {
    let (mut hosts, wire) = hosts(addresses, start);
    let all: Vec<u16> = addresses.iter().map(|ip| id(*ip).get()).collect();
    let at = run_until(&mut hosts, start, start + secs(5.0), |h| {
        h.iter().all(|h| h.member_ids() == all)
    })
    .expect("no convergence");
    (hosts, wire, at)
}

/// The ghost's announcement, received by `host` alone (another host's frames did not
/// reach it: a lossy link), so only that host knows the ghost's Ethernet address.
fn ghost_announces_to(host: &Host) {
    announce_to(host, GHOST, GHOST_ID);
}

/// An announcement of node `origin` at `ip` from a host that is no node, received by
/// `host` alone.
fn announce_to(host: &Host, ip: [u8; 4], origin: u16) {
    let ip = IpAddr::V4(Ipv4Addr::from(ip));
    let payload = support::announcement(origin, ip, 1);
    host.port
        .inject(udp_frame(ip, DEFAULT_GROUP, DEFAULT_PORT, &payload));
}

/// The kinds of the datagrams to `to` among `frames`.
fn kinds_in(frames: &[Vec<u8>], to: Ipv4Address) -> Vec<MessageKind> {
    udp_datagrams(frames, DEFAULT_PORT)
        .into_iter()
        .filter(|(dst, _)| *dst == to)
        .map(|(_, p)| Message::decode(&p, None).unwrap().kind)
        .collect()
}

fn group_announcements(frames: &[Vec<u8>]) -> usize {
    let group = match DEFAULT_GROUP {
        smoltcp::wire::IpAddress::Ipv4(g) => g,
        #[allow(unreachable_patterns)]
        _ => unreachable!(),
    };
    kinds_in(frames, group)
        .into_iter()
        .filter(|k| *k == MessageKind::Announce)
        .count()
}

fn suspected(host: &Host, who: NodeId) -> bool {
    host.events.iter().any(|(_, e)| *e == Event::Suspected(who))
}

#[test]
fn members_are_learned_from_their_datagrams_so_probes_need_no_arp() {
    let start = Instant::from_secs(10);
    let five = [A, B, C, [10, 77, 1, 14], [10, 77, 1, 15]];
    let (mut hosts, _, converged) = converged(&five, start);
    run_until(&mut hosts, converged, converged + secs(10.0), |_| false);
    for host in &hosts {
        let stats = host.node.engine().stats();
        assert!(stats.probes_sent >= 15, "{stats:?}");
        assert_eq!(stats.acks_received, stats.probes_sent, "{stats:?}");
        assert_eq!(stats.suspicions, 0, "{stats:?}");
        assert!(arp_requests(&host.port.sent()).is_empty());
        let counters = host.node.counters();
        assert_eq!((counters.unicast_dropped, counters.unicast_stuck), (0, 0));
    }
}

#[test]
fn a_probe_stuck_on_arp_holds_up_no_announcement_and_is_dropped_after_the_wait() {
    let start = Instant::from_secs(10);
    let (mut hosts, _, converged) = converged(&[A, B], start);
    let before = hosts[0].port.sent().len();
    // B hears the ghost and, when it does not answer, asks A to probe it: A never heard
    // the ghost, so its PING waits for ARP.
    ghost_announces_to(&hosts[1]);
    let end = converged + secs(10.0);
    run_until(&mut hosts, converged, end, |_| false);

    let a = &hosts[0];
    let ghost = Ipv4Address::from(GHOST);
    let sent = &a.port.sent()[before..];
    assert!(
        arp_requests(sent).contains(&ghost),
        "A never tried to probe the ghost"
    );
    assert!(
        kinds_in(sent, ghost).is_empty(),
        "nothing can reach a host that never answered ARP"
    );
    let counters = a.node.counters();
    assert!(
        counters.unicast_stuck >= 1,
        "the stuck PING was never dropped: {counters:?}"
    );
    // About one announcement a second (one socket would have stopped at the PING).
    let announced = group_announcements(sent);
    assert!(
        announced >= 9,
        "only {announced} group announcements in 10 s"
    );
    // B's probes removed the ghost, long before its silence would have (20 s), and nobody
    // suspected a live node.
    assert!(suspected(&hosts[1], id(GHOST)));
    for host in &hosts {
        assert_eq!(host.member_ids(), [id(A).get(), id(B).get()]);
        assert!(!suspected(host, id(A)) && !suspected(host, id(B)));
    }
}

#[test]
fn live_members_are_still_probed_and_answered_while_a_socket_waits_for_a_ghost() {
    let start = Instant::from_secs(10);
    let (mut hosts, _, converged) = converged(&[A, B, C], start);
    let all = [id(A).get(), id(B).get(), id(C).get()];
    let before: Vec<usize> = hosts.iter().map(|h| h.port.sent().len()).collect();
    ghost_announces_to(&hosts[1]);
    run_until(&mut hosts, converged, converged + secs(20.0), |_| false);

    assert!(
        suspected(&hosts[1], id(GHOST)),
        "B never suspected the ghost"
    );
    for (host, before) in hosts.iter().zip(before) {
        for other in [A, B, C] {
            assert!(
                !suspected(host, id(other)),
                "node {} suspected live node {}",
                host.node.node_id(),
                id(other)
            );
        }
        assert_eq!(host.member_ids(), all, "at {}", host.node.node_id());
        // Live members got PINGs and ACKs while the ghost held a socket.
        for other in [A, B, C]
            .into_iter()
            .filter(|o| id(*o) != host.node.node_id())
        {
            let kinds = kinds_in(&host.port.sent()[before..], Ipv4Address::from(other));
            assert!(kinds.contains(&MessageKind::Ping), "{kinds:?}");
            assert!(kinds.contains(&MessageKind::Ack), "{kinds:?}");
        }
    }
    // A and C were asked to probe the ghost: their PINGs waited for ARP, then were dropped.
    for host in [&hosts[0], &hosts[2]] {
        let counters = host.node.counters();
        assert!(counters.unicast_stuck >= 1, "{counters:?}");
    }
}

#[test]
fn a_crashed_member_is_removed_by_probes_well_before_its_silence_expires() {
    let start = Instant::from_secs(10);
    let (mut hosts, _, converged) = converged(&[A, B, C], start);
    let all = [id(A).get(), id(B).get(), id(C).get()];
    let crash = converged + secs(3.0);
    run_until(&mut hosts, converged, crash, |_| false);
    hosts[2].running = false;
    let removed = run_until(&mut hosts, crash, crash + secs(30.0), |h| {
        h[..2].iter().all(|h| h.member_ids() == all[..2])
    })
    .expect("the crashed node stayed in the maps");
    println!("crashed member removed by probes after {}", removed - crash);
    // Silence alone would take 20 intervals (20 s).
    assert!(
        removed - crash < secs(5.0),
        "removed after {}",
        removed - crash
    );
    for host in &hosts[..2] {
        assert!(suspected(host, id(C)));
        assert!(host.events.iter().any(|(_, e)| *e == Event::Expired(id(C))));
    }
}

#[test]
fn more_ghosts_than_sockets_cost_dropped_direct_datagrams_not_announcements() {
    let start = Instant::from_secs(10);
    let (mut hosts, _, converged) = converged(&[A, B], start);
    let before = hosts[0].port.sent().len();
    let ghosts = UNICAST_SOCKETS as u8 + 2;
    for i in 0..ghosts {
        announce_to(&hosts[1], [10, 77, 1, 90 + i], 256 + 90 + u16::from(i));
    }
    run_until(&mut hosts, converged, converged + secs(10.0), |_| false);

    let a = &hosts[0];
    let counters = a.node.counters();
    assert!(counters.unicast_stuck >= u64::from(ghosts), "{counters:?}");
    assert!(counters.unicast_dropped >= 1, "{counters:?}");
    let announced = group_announcements(&a.port.sent()[before..]);
    assert!(
        announced >= 9,
        "only {announced} group announcements in 10 s"
    );
    for host in &hosts {
        assert_eq!(host.member_ids(), [id(A).get(), id(B).get()]);
    }
}
