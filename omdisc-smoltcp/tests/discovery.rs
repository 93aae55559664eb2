//! Nodes on one simulated Ethernet segment find each other, see a leaver go at once and
//! expire a silent node, over smoltcp end to end.

mod support;

use omdisc_core::Event;
use omdisc_smoltcp::Settings;
use smoltcp::time::Instant;
use support::{node, run_until, secs, settings_v4, Host, Hub};

const A: [u8; 4] = [10, 77, 1, 11];
const B: [u8; 4] = [10, 77, 1, 12];
const C: [u8; 4] = [10, 77, 1, 13];

fn cluster(addresses: &[[u8; 4]], now: Instant) -> Vec<Host> {
    cluster_with(addresses, now, |_| {})
}

/// A cluster whose settings `adjust` changes.
fn cluster_with(addresses: &[[u8; 4]], now: Instant, adjust: impl Fn(&mut Settings)) -> Vec<Host> {
    let hub = Hub::new();
    addresses
        .iter()
        .enumerate()
        .map(|(i, ip)| {
            let mut port = Hub::port(&hub);
            let mut settings = settings_v4(*ip, i as u64 + 1);
            adjust(&mut settings);
            let node = node(settings, &mut port, now);
            Host::new(node, port, now)
        })
        .collect()
}

fn all_see(hosts: &[Host], ids: &[u16]) -> bool {
    hosts
        .iter()
        .filter(|h| h.running)
        .all(|h| h.member_ids() == ids)
}

#[test]
fn two_nodes_discover_each_other_well_under_a_second() {
    let start = Instant::from_secs(100);
    let mut hosts = cluster(&[A, B], start);
    let converged = run_until(&mut hosts, start, start + secs(10.0), |h| {
        all_see(h, &[267, 268])
    })
    .expect("the two nodes never listed each other");
    assert!(
        converged - start < secs(0.5),
        "took {} of simulated time",
        converged - start
    );
    for host in &hosts {
        let other = if host.node.node_id().get() == 267 {
            268
        } else {
            267
        };
        assert!(host
            .events
            .iter()
            .any(|(_, e)| *e == Event::Joined(omdisc_core::NodeId::new(other).unwrap())));
    }
}

#[test]
fn a_node_that_leaves_is_dropped_at_once() {
    let start = Instant::from_secs(0);
    let mut hosts = cluster(&[A, B, C], start);
    let converged = run_until(&mut hosts, start, start + secs(10.0), |h| {
        all_see(h, &[267, 268, 269])
    })
    .expect("no convergence");

    // C leaves; leave() completes once LEAVE is on the wire.
    let mut tries = 0;
    let leaver = &mut hosts[2];
    while leaver.node.leave(converged, &mut leaver.port).is_err() {
        tries += 1;
        assert!(tries < 10, "leave never completed");
    }
    leaver.running = false;
    let gone = run_until(&mut hosts, converged, converged + secs(10.0), |h| {
        all_see(h, &[267, 268])
    })
    .expect("the leaver stayed in the maps");
    assert_eq!(gone, converged, "LEAVE should take effect without waiting");
    for host in &hosts[..2] {
        assert!(host
            .events
            .iter()
            .any(|(_, e)| *e == Event::Left(omdisc_core::NodeId::new(269).unwrap())));
    }
}

#[test]
fn a_silent_node_expires_after_dead_after_intervals() {
    let start = Instant::from_secs(0);
    // Without probes, which would find the crash sooner (tests/probes.rs).
    let mut hosts = cluster_with(&[A, B], start, |s| {
        s.engine.probe_interval = omdisc_core::Duration::ZERO;
    });
    let converged = run_until(&mut hosts, start, start + secs(10.0), |h| {
        all_see(h, &[267, 268])
    })
    .expect("no convergence");
    hosts[1].running = false; // crashed: no LEAVE
    let seen = hosts[0]
        .node
        .engine()
        .members()
        .find(|e| e.id().get() == 268)
        .cloned()
        .unwrap();
    let expired = run_until(&mut hosts, converged, converged + secs(30.0), |h| {
        h[0].member_ids() == [267]
    })
    .expect("the silent node never expired");
    // Silent for dead-after (5) of the intervals it advertised, counted from when it was
    // last heard: to the millisecond, since the node asks to be polled at the deadline.
    let deadline = seen.last_seen().total_millis() + seen.interval().total_millis() * 5;
    assert_eq!(expired.total_millis() as u64, deadline);
    assert!(
        expired - converged >= secs(5.0),
        "expired after {}",
        expired - converged
    );
    assert!(hosts[0]
        .events
        .iter()
        .any(|(_, e)| *e == Event::Expired(omdisc_core::NodeId::new(268).unwrap())));
}
