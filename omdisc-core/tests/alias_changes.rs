//! Addresses that are added beside the primary one, or a gateway's other leg that changes
//! its address, show in the peers' maps at once (as aliases), with the id unchanged.

mod sim;

use omdisc_core::{AddrRole, Config, Duration, Event};
use sim::{addr, Link, Sim};

fn fast(c: &mut Config) {
    c.interval = Duration::from_millis(500);
}

#[test]
fn a_secondary_address_appears_and_goes_at_once() {
    let mut sim = Sim::new(81, Link::PERFECT);
    let a = sim.add_host(&[(1, addr(1, 1))], fast);
    let b = sim.add_host_from_address(&[(1, &[addr(1, 2)])], fast);
    sim.start(a);
    sim.start(b);
    sim.run_until_cond(5_000, Sim::converged)
        .expect("converges");
    sim.run_for(1_000);
    let id = sim.hosts[b].engine.local_id().unwrap();
    let since = sim.now;
    let secondary = addr(1, 200);
    sim.set_addresses(b, 0, &[addr(1, 2), secondary]);
    assert_eq!(
        sim.hosts[b].engine.local_id(),
        Some(id),
        "the first address keeps the id"
    );
    sim.run_for(2);
    let seen = sim.hosts[a].engine.table().member(id).unwrap().clone();
    let ips: Vec<_> = seen.addrs().iter().map(|x| x.ip).collect();
    assert_eq!(ips, vec![addr(1, 2), secondary]);
    assert_eq!(sim.events_since(a, since), vec![Event::Changed(id)]);
    sim.set_addresses(b, 0, &[addr(1, 2)]);
    sim.run_for(2);
    let seen = sim.hosts[a].engine.table().member(id).unwrap();
    assert_eq!(seen.addrs().len(), 1);
    assert_eq!(
        sim.events_since(b, since),
        vec![Event::LocalChanged, Event::LocalChanged]
    );
}

#[test]
fn a_gateways_other_leg_changing_address_changes_its_alias() {
    let mut sim = Sim::new(82, Link::PERFECT);
    let a = sim.add_host(&[(1, addr(1, 1))], fast);
    let b = sim.add_host(&[(2, addr(2, 2))], fast);
    let g = sim.add_host_from_address(&[(1, &[addr(1, 60)]), (2, &[addr(2, 60)])], fast);
    for h in [a, b, g] {
        sim.start(h);
    }
    sim.run_until_cond(5_000, Sim::converged)
        .expect("converges");
    sim.run_for(1_000);
    let id = sim.hosts[g].engine.local_id().unwrap();
    let since = sim.now;
    sim.set_addresses(g, 1, &[addr(2, 61)]);
    assert_eq!(sim.hosts[g].engine.local_id(), Some(id));
    sim.run_for(2);
    let on_1 = sim.hosts[a].engine.table().member(id).unwrap();
    let roles: Vec<_> = on_1.addrs().iter().map(|x| (x.ip, x.role)).collect();
    assert_eq!(
        roles,
        vec![
            (addr(1, 60), AddrRole::Primary),
            (addr(2, 61), AddrRole::Alias)
        ]
    );
    let on_2 = sim.hosts[b].engine.table().member(id).unwrap();
    let roles: Vec<_> = on_2.addrs().iter().map(|x| (x.ip, x.role)).collect();
    assert_eq!(
        roles,
        vec![
            (addr(2, 61), AddrRole::Primary),
            (addr(1, 60), AddrRole::Alias)
        ]
    );
    for peer in [a, b] {
        assert_eq!(sim.events_since(peer, since), vec![Event::Changed(id)]);
    }
}
