//! A node started before its network has an address waits quietly, and joins within one
//! delivery of the address appearing (learning everyone within the reply window).

mod sim;

use omdisc_core::{Duration, Event, NodeId};
use sim::{addr, Link, Sim};

#[test]
fn a_node_started_without_an_address_joins_when_one_appears() {
    let mut sim = Sim::new(61, Link::PERFECT);
    for i in 0..5 {
        let h = sim.add_host_from_address(&[(1, &[addr(1, i)])], |c| {
            c.interval = Duration::from_millis(500)
        });
        sim.start(h);
    }
    let late = sim.add_host_from_address(&[(1, &[])], |c| c.interval = Duration::from_millis(500));
    sim.start(late);
    assert_eq!(sim.hosts[late].engine.local_id(), None);
    sim.run_for(3_000);
    // Nothing sent, nothing heard, nothing in its map; it only waits.
    assert_eq!(sim.hosts[late].engine.stats().tx_datagrams, 0);
    assert_eq!(sim.hosts[late].engine.members().count(), 0);
    assert_eq!(sim.hosts[late].engine.poll_timeout(), None);
    assert!(sim.hosts[late].events.is_empty());
    let ip = addr(1, 9);
    let id = NodeId::from_ip(ip).unwrap();
    let at = sim.now;
    sim.set_addresses(late, 0, &[ip]);
    assert_eq!(sim.hosts[late].engine.local_id(), Some(id));
    assert_eq!(sim.events_since(late, at), vec![Event::LocalChanged]);
    sim.run_for(2);
    for peer in 0..5 {
        assert!(sim.knows(peer, id.get()), "host {peer}");
    }
    sim.run_until_cond(250, Sim::converged)
        .expect("learns everyone within the reply window");
}

#[test]
fn an_address_whose_derived_id_is_zero_keeps_the_node_out() {
    let mut sim = Sim::new(62, Link::PERFECT);
    let a = sim.add_host_from_address(&[(1, &[addr(1, 1)])], |_| {});
    sim.start(a);
    let zero = std::net::IpAddr::V4(std::net::Ipv4Addr::new(10, 1, 0, 0));
    let b = sim.add_host_from_address(&[(1, &[zero])], |_| {});
    sim.start(b);
    sim.run_for(2_000);
    assert_eq!(sim.hosts[b].engine.local_id(), None);
    assert_eq!(sim.hosts[b].engine.stats().tx_datagrams, 0);
    assert_eq!(sim.map_of(a).len(), 1);
    // A usable address: in.
    sim.set_addresses(b, 0, &[addr(1, 2)]);
    sim.run_for(2);
    assert!(sim.knows(a, NodeId::from_ip(addr(1, 2)).unwrap().get()));
}
