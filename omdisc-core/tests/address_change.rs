//! A node whose address changes announces the new one at once. With an id derived from the
//! address, the peers see the old id leave (a LEAVE, not an expiry) and the new one join,
//! and keep the old id's tombstone so replays of it stay refused; with a fixed id the id
//! stays and only its addresses change. IPv6 alike.

mod sim;

use std::net::{IpAddr, Ipv6Addr};

use omdisc_core::{Config, Duration, Event, Instant, Message, NodeId, MAX_DATAGRAM_LEN};
use sim::{addr, HostId, Link, Sim};

fn fast(c: &mut Config) {
    c.interval = Duration::from_millis(500);
}

fn id(n: u16) -> NodeId {
    NodeId::new(n).unwrap()
}

/// Three hosts with address-derived ids on segment 1, at `ips`, converged and recorded.
fn cluster(seed: u64, ips: [IpAddr; 3]) -> Sim {
    let mut sim = Sim::new(seed, Link::PERFECT);
    sim.recorded = Some(Vec::new());
    for ip in ips {
        let h = sim.add_host_from_address(&[(1, &[ip])], fast);
        sim.start(h);
    }
    sim.run_until_cond(5_000, Sim::converged)
        .expect("converges");
    sim.run_for(2_000);
    sim
}

/// Whether `host`'s map holds `id` at address `ip`.
fn shows(sim: &Sim, host: HostId, id: NodeId, ip: IpAddr) -> bool {
    sim.hosts[host]
        .engine
        .table()
        .member(id)
        .is_some_and(|e| e.addrs().iter().any(|a| a.ip == ip))
}

/// The change seen from every other host: the old id left, the new one joined, nothing
/// expired; and the mover itself reported its own change and shows its new id.
fn assert_moved(
    sim: &Sim,
    mover: HostId,
    old: NodeId,
    new: NodeId,
    new_ip: IpAddr,
    since: Instant,
) {
    for peer in (0..sim.hosts.len()).filter(|h| *h != mover) {
        let events = sim.events_since(peer, since);
        assert!(shows(sim, peer, new, new_ip), "host {peer}: {events:?}");
        assert!(!sim.knows(peer, old.get()), "host {peer} still has {old}");
        assert!(
            events.contains(&Event::Left(old)),
            "host {peer}: {events:?}"
        );
        assert!(
            events.contains(&Event::Joined(new)),
            "host {peer}: {events:?}"
        );
        assert!(
            !events.iter().any(|e| matches!(e, Event::Expired(_))),
            "host {peer}: {events:?}"
        );
    }
    let engine = &sim.hosts[mover].engine;
    assert_eq!(engine.local_id(), Some(new));
    assert!(sim
        .events_since(mover, since)
        .contains(&Event::LocalChanged));
    assert!(sim.map_of(mover).contains(&new.get()));
    assert!(!sim.map_of(mover).contains(&old.get()));
}

#[test]
fn a_derived_id_follows_the_address_and_the_old_id_leaves_at_once() {
    let ips = [addr(1, 10), addr(1, 11), addr(1, 12)];
    let mut sim = cluster(41, ips);
    let (old, new_ip) = (NodeId::from_ip(ips[2]).unwrap(), addr(1, 42));
    let new = NodeId::from_ip(new_ip).unwrap();
    assert_eq!(sim.hosts[2].engine.local_id(), Some(old));
    let old_announcements: Vec<Vec<u8>> = sim
        .recorded
        .as_ref()
        .unwrap()
        .iter()
        .filter(|(_, src, bytes)| *src == ips[2] && bytes[3] == 1)
        .map(|(_, _, bytes)| bytes.clone())
        .collect();
    let since = sim.now;
    // The frontend saw the new address and then the old one go (`ip addr add; ip addr del`)
    // and passes the whole list after each change.
    sim.set_addresses(2, 0, &[ips[2], new_ip]);
    sim.set_addresses(2, 0, &[new_ip]);
    // At once: one delivery (1 ms) later every map has changed.
    sim.run_for(2);
    assert_moved(&sim, 2, old, new, new_ip, since);
    // The old identity's announcements, replayed, stay refused everywhere: the peers keep
    // its tombstone.
    for bytes in &old_announcements {
        sim.inject(1, ips[2], bytes);
    }
    sim.run_for(2_000);
    for peer in 0..3 {
        assert!(
            !sim.knows(peer, old.get()),
            "host {peer} took a replay of {old}"
        );
    }
    assert!(sim.converged());
}

#[test]
fn an_address_replaced_in_one_step_moves_the_id_too() {
    let ips = [addr(1, 10), addr(1, 11), addr(1, 12)];
    let mut sim = cluster(42, ips);
    let old = NodeId::from_ip(ips[1]).unwrap();
    let new_ip = addr(1, 77);
    let since = sim.now;
    sim.set_addresses(1, 0, &[new_ip]);
    sim.run_for(2);
    assert_moved(
        &sim,
        1,
        old,
        NodeId::from_ip(new_ip).unwrap(),
        new_ip,
        since,
    );
}

#[test]
fn an_address_deleted_then_another_added_still_sends_the_old_ids_leave() {
    let ips = [addr(1, 10), addr(1, 11), addr(1, 12)];
    let mut sim = cluster(43, ips);
    let old = NodeId::from_ip(ips[0]).unwrap();
    let since = sim.now;
    // `ip addr del` first: no address left. Its LEAVE cannot get out (the address it must
    // come from is gone), so the peers still have the node ...
    sim.set_addresses(0, 0, &[]);
    assert_eq!(sim.hosts[0].engine.local_id(), None);
    sim.run_for(100);
    assert!(sim.knows(1, old.get()));
    // ... until the new address comes: then the old identity's LEAVE goes out again, from
    // the new address, and the old id leaves at once.
    let new_ip = addr(1, 99);
    sim.set_addresses(0, 0, &[new_ip]);
    sim.run_for(2);
    assert_moved(
        &sim,
        0,
        old,
        NodeId::from_ip(new_ip).unwrap(),
        new_ip,
        since,
    );
}

#[test]
fn a_fixed_id_stays_and_only_its_address_changes() {
    let mut sim = Sim::new(44, Link::PERFECT);
    let fixed = id(4242);
    for i in 0..3 {
        let h = sim.add_host(&[(1, addr(1, i))], fast);
        sim.start(h);
    }
    let mover = sim.add_host(&[(1, addr(1, 12))], |c| {
        fast(c);
        c.node_id = fixed;
    });
    sim.start(mover);
    sim.run_until_cond(5_000, Sim::converged)
        .expect("converges");
    sim.run_for(2_000);
    let since = sim.now;
    let new_ip = addr(1, 42);
    sim.set_addresses(mover, 0, &[new_ip]);
    sim.run_for(2);
    for peer in 0..3 {
        assert!(shows(&sim, peer, fixed, new_ip), "host {peer}");
        assert!(!shows(&sim, peer, fixed, addr(1, 12)), "host {peer}");
        // Matched by id and incarnation: the same node, changed; never left or joined.
        assert_eq!(sim.events_since(peer, since), vec![Event::Changed(fixed)]);
    }
    assert_eq!(sim.hosts[mover].engine.local_id(), Some(fixed));
    assert_eq!(sim.events_since(mover, since), vec![Event::LocalChanged]);
    // Stays so: nothing expires, nothing flaps.
    sim.run_for(5_000);
    for peer in 0..3 {
        assert_eq!(sim.events_since(peer, since), vec![Event::Changed(fixed)]);
    }
    assert!(sim.converged());
}

#[test]
fn ipv6_addresses_move_the_same_way() {
    let v6 = |last: u16| IpAddr::V6(Ipv6Addr::new(0xfd00, 0x77, 0, 0, 0, 0, 1, last));
    let mut sim = cluster(45, [v6(10), v6(11), v6(12)]);
    let old = NodeId::from_ip(v6(12)).unwrap();
    let since = sim.now;
    sim.set_addresses(2, 0, &[v6(0x42)]);
    sim.run_for(2);
    assert_moved(
        &sim,
        2,
        old,
        NodeId::from_ip(v6(0x42)).unwrap(),
        v6(0x42),
        since,
    );
}

#[test]
fn an_address_a_crashed_node_held_is_taken_with_its_id_at_once() {
    let ips = [addr(1, 10), addr(1, 11), addr(1, 12)];
    let mut sim = cluster(45, ips);
    let taken = NodeId::from_ip(ips[2]).unwrap();
    // Host 2 crashes (no LEAVE) and DHCP gives its address to host 1 before host 1 has
    // expired it: the entry that still lists the address is stale, and host 1 takes the id
    // without a conflict with it.
    sim.kill(2);
    sim.run_for(100);
    assert!(sim.knows(1, taken.get()));
    let since = sim.now;
    sim.set_addresses(1, 0, &[ips[2]]);
    sim.run_for(2);
    let engine = &sim.hosts[1].engine;
    assert_eq!(engine.local_id(), Some(taken));
    assert!(!engine.lost_id_collision());
    assert!(sim.map_of(1).contains(&taken.get()));
    let events = sim.events_since(1, since);
    assert!(
        !events
            .iter()
            .any(|e| matches!(e, Event::Conflict { .. } | Event::Expired(_))),
        "{events:?}"
    );
}

#[test]
fn its_own_earlier_identity_coming_back_is_not_taken_for_a_peer() {
    let ips = [addr(1, 10), addr(1, 11), addr(1, 12)];
    let mut sim = cluster(46, ips);
    let old = NodeId::from_ip(ips[2]).unwrap();
    let announcement = sim
        .recorded
        .as_ref()
        .unwrap()
        .iter()
        .rev()
        .find(|(_, src, bytes)| *src == ips[2] && bytes[3] == 1)
        .map(|(_, _, bytes)| bytes.clone())
        .unwrap();
    // A new primary address before the old one: a new id, the old address kept.
    sim.set_addresses(2, 0, &[addr(1, 42), ips[2]]);
    sim.run_for(2);
    assert_ne!(sim.hosts[2].engine.local_id(), Some(old));
    // Its old identity's announcement comes back relayed (a loop through a gateway, or a
    // replay), newer than the old identity's tombstone: it is its own, not a peer's.
    let mut msg = Message::decode(&announcement, None).unwrap();
    assert_eq!(msg.origin, old);
    msg.sequence += 100;
    msg.hops = 1;
    msg.relayer = Some(id(99));
    let mut buf = [0u8; MAX_DATAGRAM_LEN];
    let len = msg.emit(&mut buf, None).unwrap();
    sim.inject(1, addr(1, 99), &buf[..len]);
    sim.run_for(2);
    assert!(
        !sim.hosts[2].engine.members().any(|e| e.id() == old),
        "took its own earlier identity for a peer: {:?}",
        sim.map_of(2)
    );
}
