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
/// A member that announces once and never answers ARP (it crashed before anyone asked).
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

/// The ghost's announcement, as the other hosts receive it.
fn ghost_announces(port: &support::HubPort) {
    announce_from(port, GHOST, GHOST_ID);
}

/// An announcement of node `origin` at `ip` from a host that is no node.
fn announce_from(port: &support::HubPort, ip: [u8; 4], origin: u16) {
    let ip = IpAddr::V4(Ipv4Addr::from(ip));
    let payload = support::announcement(origin, ip, 1);
    port.broadcast(udp_frame(ip, DEFAULT_GROUP, DEFAULT_PORT, &payload));
}

fn kinds_to(host: &Host, to: Ipv4Address) -> Vec<MessageKind> {
    kinds_in(&host.port.sent(), to)
}

/// The kinds of the datagrams to `to` among `frames`.
fn kinds_in(frames: &[Vec<u8>], to: Ipv4Address) -> Vec<MessageKind> {
    udp_datagrams(frames, DEFAULT_PORT)
        .into_iter()
        .filter(|(dst, _)| *dst == to)
        .map(|(_, p)| Message::decode(&p, None).unwrap().kind)
        .collect()
}

fn group_announcements(host: &Host) -> usize {
    let group = match DEFAULT_GROUP {
        smoltcp::wire::IpAddress::Ipv4(g) => g,
        #[allow(unreachable_patterns)]
        _ => unreachable!(),
    };
    kinds_to(host, group)
        .into_iter()
        .filter(|k| *k == MessageKind::Announce)
        .count()
}

fn suspected(host: &Host, who: NodeId) -> bool {
    host.events.iter().any(|(_, e)| *e == Event::Suspected(who))
}

#[test]
fn a_probe_stuck_on_arp_holds_up_no_announcement_and_is_dropped_after_the_wait() {
    let start = Instant::from_secs(10);
    let (mut hosts, wire) = hosts(&[A], start);
    run_until(&mut hosts, start, start + secs(0.5), |_| false);
    ghost_announces(&wire);
    let end = start + secs(10.0);
    run_until(&mut hosts, start + secs(0.5), end, |_| false);

    let host = &hosts[0];
    let ghost = Ipv4Address::from(GHOST);
    // It was probed: the PING waited for an ARP answer that never came.
    assert!(
        arp_requests(&host.port.sent()).contains(&ghost),
        "the ghost was never probed"
    );
    assert!(
        kinds_to(host, ghost).is_empty(),
        "nothing can reach a host that never answered ARP"
    );
    let counters = host.node.counters();
    assert!(
        counters.unicast_stuck >= 1,
        "the stuck PING was never dropped: {counters:?}"
    );
    // About one announcement a second for 10 s (one socket would have stopped at the first
    // PING to the ghost).
    let announced = group_announcements(host);
    assert!(
        announced >= 9,
        "only {announced} group announcements in 10 s"
    );
    // The probes removed the ghost, long before its silence would have (20 s).
    assert!(suspected(host, id(GHOST)));
    assert_eq!(host.member_ids(), [id(A).get()]);
}

#[test]
fn live_members_are_still_probed_and_answered_while_a_socket_waits_for_a_ghost() {
    let start = Instant::from_secs(10);
    let (mut hosts, wire, converged) = converged(&[A, B, C], start);
    let all = [id(A).get(), id(B).get(), id(C).get()];
    let before: Vec<usize> = hosts.iter().map(|h| h.port.sent().len()).collect();
    ghost_announces(&wire);
    run_until(&mut hosts, converged, converged + secs(20.0), |_| false);

    for (host, before) in hosts.iter().zip(before) {
        for other in [A, B, C] {
            assert!(
                !suspected(host, id(other)),
                "node {} suspected live node {}",
                host.node.node_id(),
                id(other)
            );
        }
        assert!(
            suspected(host, id(GHOST)),
            "{} never suspected the ghost",
            host.node.node_id()
        );
        assert_eq!(host.member_ids(), all, "at {}", host.node.node_id());
        let counters = host.node.counters();
        assert!(counters.unicast_stuck >= 1, "{counters:?}");
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
}

#[test]
fn a_crashed_member_is_removed_by_probes_well_before_its_silence_expires() {
    let start = Instant::from_secs(10);
    let (mut hosts, _, converged) = converged(&[A, B, C], start);
    let all = [id(A).get(), id(B).get(), id(C).get()];
    // Let the probes go round once, so every node knows every MAC.
    run_until(&mut hosts, converged, converged + secs(3.0), |_| false);
    let crash = converged + secs(3.0);
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
    let (mut hosts, wire) = hosts(&[A], start);
    run_until(&mut hosts, start, start + secs(0.5), |_| false);
    let ghosts = UNICAST_SOCKETS as u8 + 2;
    for i in 0..ghosts {
        announce_from(&wire, [10, 77, 1, 90 + i], 256 + 90 + u16::from(i));
    }
    let end = start + secs(10.0);
    run_until(&mut hosts, start + secs(0.5), end, |_| false);

    let host = &hosts[0];
    let counters = host.node.counters();
    assert!(counters.unicast_stuck >= u64::from(ghosts), "{counters:?}");
    assert!(counters.unicast_dropped >= 1, "{counters:?}");
    let announced = group_announcements(host);
    assert!(
        announced >= 9,
        "only {announced} group announcements in 10 s"
    );
    assert_eq!(
        host.member_ids(),
        [id(A).get()],
        "the ghosts were never removed"
    );
}
