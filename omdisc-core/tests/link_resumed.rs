//! A link that comes back up: the node announces at once (JOIN), so the peers that expired
//! it take it back and it has them back within the reply window; a flapping link costs at
//! most one such round per interval.

mod sim;

use omdisc_core::{Config, Duration, Event, IfaceId, Message, MAX_DATAGRAM_LEN};
use sim::{addr, Link, Sim};

fn fast(c: &mut Config) {
    c.interval = Duration::from_millis(500);
}

#[test]
fn a_link_back_up_announces_at_once_and_relearns_the_map() {
    let mut sim = Sim::new(81, Link::PERFECT);
    let hosts: Vec<_> = (0..4)
        .map(|i| sim.add_host(&[(1, addr(1, i))], fast))
        .collect();
    for h in &hosts {
        sim.start(*h);
    }
    sim.run_until_cond(5_000, Sim::converged)
        .expect("converges");
    let flapping = hosts[3];
    let id = sim.hosts[flapping].engine.node_id();
    let segment = sim.set_link_down(flapping, 0);
    // Down for 4.5 s: everyone expires everyone across the dead link (3 × 615 ms, then two
    // suspicion rounds of 500 ms without an answer to the probes: 3.8 s).
    sim.run_for(4_500);
    assert!(hosts[..3].iter().all(|h| !sim.knows(*h, id.get())));
    assert_eq!(sim.map_of(flapping), vec![id.get()]);

    let back = sim.now;
    sim.resume_link(flapping, 0, segment);
    // One delivery later every peer has it again ...
    sim.run_for(2);
    for peer in &hosts[..3] {
        assert!(sim.knows(*peer, id.get()), "host {peer}");
        assert_eq!(sim.events_since(*peer, back), vec![Event::Joined(id)]);
    }
    // ... and their answers to the JOIN give it the whole map within the reply window.
    let took = sim
        .run_until_cond(250, Sim::converged)
        .expect("has the map back within the reply window");
    assert!(took <= 210, "{took} ms");
}

#[test]
fn a_flapping_link_costs_at_most_one_round_per_interval() {
    let mut sim = Sim::new(82, Link::PERFECT);
    let a = sim.add_host(&[(1, addr(1, 1))], fast);
    let b = sim.add_host(&[(1, addr(1, 2))], fast);
    sim.start(a);
    sim.start(b);
    sim.run_for(2_000);
    let mut buf = [0u8; MAX_DATAGRAM_LEN];
    let iface = IfaceId::FIRST;
    let engine = &mut sim.hosts[b].engine;
    let t0 = sim.now;
    // No timer runs between these calls: only interface_resumed can queue a datagram.
    engine.interface_resumed(t0, iface);
    let tx = engine
        .poll_transmit(t0, &mut buf)
        .expect("announces at once");
    let msg = Message::decode(&buf[..tx.len], None).expect("decodes");
    assert!(msg.join, "asks for quick answers");
    assert!(engine.poll_transmit(t0, &mut buf).is_none(), "one round");
    for ms in (50..500).step_by(50) {
        let at = t0 + Duration::from_millis(ms);
        engine.interface_resumed(at, iface);
        assert!(
            engine.poll_transmit(at, &mut buf).is_none(),
            "again at +{ms} ms"
        );
    }
    let next = t0 + Duration::from_millis(500);
    engine.interface_resumed(next, iface);
    assert!(
        engine.poll_transmit(next, &mut buf).is_some(),
        "one interval later"
    );
}

#[test]
fn a_link_back_without_an_address_or_before_start_sends_nothing() {
    let mut sim = Sim::new(83, Link::PERFECT);
    let a = sim.add_host(&[(1, addr(1, 1))], fast);
    let mut buf = [0u8; MAX_DATAGRAM_LEN];
    let now = sim.now;
    let engine = &mut sim.hosts[a].engine;
    engine.interface_resumed(now, IfaceId::FIRST);
    assert!(engine.poll_transmit(now, &mut buf).is_none(), "not started");
    sim.start(a);
    sim.run_for(1_000);
    sim.set_addresses(a, 0, &[]);
    let now = sim.now;
    let engine = &mut sim.hosts[a].engine;
    let sent = engine.stats().tx_datagrams;
    engine.interface_resumed(now, IfaceId::FIRST);
    assert!(engine.poll_transmit(now, &mut buf).is_none(), "no address");
    assert_eq!(engine.stats().tx_datagrams, sent);
}
