//! A node whose last address goes away leaves the cluster (LEAVE), keeps running, and joins
//! again when an address returns.

mod sim;

use omdisc_core::{Duration, Event, NodeId, Phase};
use sim::{addr, Link, Sim};

#[test]
fn no_address_left_means_out_of_the_cluster_until_one_returns() {
    let mut sim = Sim::new(51, Link::PERFECT);
    let mut hosts = Vec::new();
    for i in 0..4 {
        let ip = addr(1, i);
        let h =
            sim.add_host_from_address(&[(1, &[ip])], |c| c.interval = Duration::from_millis(500));
        sim.start(h);
        hosts.push(h);
    }
    sim.run_until_cond(5_000, Sim::converged)
        .expect("converges");
    sim.run_for(2_000);
    let lost = hosts[3];
    let id = sim.hosts[lost].engine.local_id().unwrap();
    let since = sim.now;
    let unsendable = sim.unsendable;
    sim.set_addresses(lost, 0, &[]);
    // It said LEAVE (with no address to send it from, the datagram was lost here) ...
    assert_eq!(sim.unsendable, unsendable + 1);
    let engine = &sim.hosts[lost].engine;
    assert_eq!(engine.local_id(), None);
    assert_eq!(engine.phase(), Phase::Running);
    assert!(
        !engine.members().any(|e| e.id() == id),
        "not in its own map"
    );
    assert_eq!(sim.events_since(lost, since), vec![Event::LocalChanged]);
    // ... and sends nothing more: the others expire it (3 × 615 ms after they last heard it,
    // and two suspicion rounds of 500 ms in which it answers no probe).
    let expired = sim
        .run_until_cond(3 * 616 + 2 * 500 + 10, |s| s.nobody_knows(id.get()))
        .expect("expired everywhere");
    assert!(expired >= 2 * 615, "{expired} ms");
    assert_eq!(sim.unsendable, unsendable + 1);
    // Running without an address, it loses the others too, and keeps running.
    sim.run_for(3_000);
    assert_eq!(sim.hosts[lost].engine.members().count(), 0);
    assert_eq!(sim.hosts[lost].engine.phase(), Phase::Running);
    // The address returns: it joins at once and learns everyone within the reply window.
    let back = sim.now;
    sim.set_addresses(lost, 0, &[addr(1, 3)]);
    assert_eq!(sim.hosts[lost].engine.local_id(), Some(id));
    sim.run_for(2);
    for peer in &hosts[..3] {
        assert!(sim.knows(*peer, id.get()), "host {peer}");
        assert!(sim.events_since(*peer, back).contains(&Event::Joined(id)));
    }
    sim.run_until_cond(250, Sim::converged)
        .expect("knows everyone within the reply window");
    assert_eq!(
        sim.events_since(lost, back).first(),
        Some(&Event::LocalChanged)
    );
}

#[test]
fn a_node_without_an_address_leaves_on_shutdown_silently() {
    let mut sim = Sim::new(52, Link::PERFECT);
    let a = sim.add_host_from_address(&[(1, &[addr(1, 1)])], |_| {});
    let b = sim.add_host_from_address(&[(1, &[addr(1, 2)])], |_| {});
    sim.start(a);
    sim.start(b);
    sim.run_for(1_000);
    sim.set_addresses(b, 0, &[]);
    let sent = sim.hosts[b].engine.stats().tx_datagrams;
    sim.leave(b);
    assert_eq!(sim.hosts[b].engine.phase(), Phase::Stopped);
    assert_eq!(sim.hosts[b].engine.stats().tx_datagrams, sent);
    assert_eq!(sim.hosts[b].engine.poll_timeout(), None);
    let id = NodeId::from_ip(addr(1, 2)).unwrap();
    assert!(sim.knows(a, id.get()), "expires later, like a crash");
}
