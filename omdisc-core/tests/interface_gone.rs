//! An interface that goes away takes only its leg out: a gateway's other legs keep relaying
//! and their peers see the alias go; the network behind the gone leg expires the gateway.
//! When the interface comes back, the gateway joins there again at once and that network
//! is whole again within a second.

mod sim;

use omdisc_core::{Config, Duration, Event, NodeId};
use sim::{addr, HostId, Link, Sim};

fn fast(c: &mut Config) {
    c.interval = Duration::from_millis(500);
}

fn lists(sim: &Sim, observer: HostId, id: NodeId, ip: std::net::IpAddr) -> bool {
    sim.hosts[observer]
        .engine
        .table()
        .member(id)
        .is_some_and(|e| e.addrs().iter().any(|a| a.ip == ip))
}

#[test]
fn a_gateway_leg_that_goes_away_and_comes_back() {
    let mut sim = Sim::new(71, Link::PERFECT);
    // Network 3 reaches the others only through the gateway's leg (no router either).
    sim.no_router.insert(3);
    let a = sim.add_host(&[(1, addr(1, 1))], fast);
    let b = sim.add_host(&[(2, addr(2, 2))], fast);
    let c = sim.add_host(&[(3, addr(3, 3))], fast);
    let legs = [addr(1, 60), addr(2, 60), addr(3, 60)];
    let g = sim.add_host_from_address(&[(1, &legs[..1]), (2, &legs[1..2]), (3, &legs[2..])], fast);
    for h in [a, b, c, g] {
        sim.start(h);
    }
    sim.run_until_cond(5_000, Sim::converged)
        .expect("converges");
    sim.run_for(2_000);
    let gid = sim.hosts[g].engine.local_id().unwrap();
    assert_eq!(gid, NodeId::from_ip(legs[0]).unwrap());
    let since = sim.now;

    // Interface 3 is deleted.
    sim.set_addresses(g, 2, &[]);
    assert_eq!(sim.hosts[g].engine.local_id(), Some(gid), "id kept");
    assert!(sim.hosts[g].engine.is_gateway(), "two legs still relay");
    sim.run_for(2);
    for peer in [a, b] {
        assert!(
            !lists(&sim, peer, gid, legs[2]),
            "host {peer} still lists the gone leg"
        );
        assert!(lists(&sim, peer, gid, legs[1 - peer.min(1)]));
        assert_eq!(sim.events_since(peer, since), vec![Event::Changed(gid)]);
    }
    // The two remaining networks still hear each other: a newcomer behind leg 2 shows on
    // network 1 at once.
    let d = sim.add_host(&[(2, addr(2, 4))], fast);
    sim.start(d);
    sim.run_for(5);
    let d_id = sim.hosts[d].engine.node_id().get();
    assert!(sim.knows(a, d_id), "relayed from network 2 to network 1");
    // Network 3 hears nothing of the others any more and expires them (like a link down;
    // the gateway it probes, after two suspicion rounds of 500 ms).
    sim.run_for(3 * 616 + 2 * 500 + 10);
    assert_eq!(sim.map_of(c), vec![sim.hosts[c].engine.node_id().get()]);

    // The interface is back (same address): JOIN there at once, whole again within 1 s.
    let back = sim.now;
    sim.set_addresses(g, 2, &[legs[2]]);
    sim.run_for(2);
    assert!(sim.knows(c, gid.get()));
    let took = sim
        .run_until_cond(1_000, Sim::converged)
        .expect("whole again within a second");
    assert!(took < 1_000, "{took} ms");
    for peer in [a, b] {
        assert!(lists(&sim, peer, gid, legs[2]));
    }
    assert!(sim.events_since(g, back).contains(&Event::LocalChanged));
}

#[test]
fn a_gateway_whose_first_leg_goes_takes_the_id_of_the_next() {
    let mut sim = Sim::new(72, Link::PERFECT);
    let a = sim.add_host(&[(1, addr(1, 1))], fast);
    let b = sim.add_host(&[(2, addr(2, 2))], fast);
    let legs = [addr(1, 60), addr(2, 61)];
    let g = sim.add_host_from_address(&[(1, &legs[..1]), (2, &legs[1..])], fast);
    for h in [a, b, g] {
        sim.start(h);
    }
    sim.run_until_cond(5_000, Sim::converged)
        .expect("converges");
    let (old, new) = (
        NodeId::from_ip(legs[0]).unwrap(),
        NodeId::from_ip(legs[1]).unwrap(),
    );
    let since = sim.now;
    sim.set_addresses(g, 0, &[]);
    assert_eq!(sim.hosts[g].engine.local_id(), Some(new));
    assert!(!sim.hosts[g].engine.is_gateway());
    sim.run_for(2);
    // Network 2 sees the old id leave and the new one join at once; network 1 can no longer
    // be told and expires the old id.
    let events = sim.events_since(b, since);
    assert!(events.contains(&Event::Left(old)), "{events:?}");
    assert!(events.contains(&Event::Joined(new)), "{events:?}");
    assert!(sim.knows(b, new.get()) && !sim.knows(b, old.get()));
    sim.run_for(3 * 616 + 10);
    assert!(!sim.knows(a, old.get()));
}
