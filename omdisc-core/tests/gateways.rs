//! Gateways relay between networks, announce their other legs as aliases, and redundant
//! gateways (or a ring of networks) never loop: every message crosses each segment a
//! bounded number of times.

mod sim;

use omdisc_core::{AddrRole, Duration};
use sim::{addr, Link, Sim};

fn fast(c: &mut omdisc_core::Config) {
    c.interval = Duration::from_millis(500);
}

#[test]
fn two_segments_joined_by_two_gateways_converge_without_a_relay_storm() {
    let mut sim = Sim::new(
        7,
        Link {
            loss_per_mille: 0,
            delay_ms: 1,
            jitter_ms: 5,
        },
    );
    for i in 0..6 {
        let h = sim.add_host(&[(1, addr(1, i))], fast);
        sim.start(h);
        let h = sim.add_host(&[(2, addr(2, i + 10))], fast);
        sim.start(h);
    }
    let g1 = sim.add_host(&[(1, addr(1, 200)), (2, addr(2, 200))], fast);
    let g2 = sim.add_host(&[(1, addr(1, 201)), (2, addr(2, 201))], fast);
    sim.start(g1);
    sim.start(g2);
    sim.run_until_cond(5_000, Sim::converged)
        .expect("converges");
    sim.run_for(10_000);
    assert!(sim.converged());

    // Every message of every origin crossed onto each segment at most three times: once from
    // its sender (or relayed by each of the two gateways), never in a loop.
    let worst = sim.copies.values().copied().max().unwrap();
    assert!(worst <= 2, "a message crossed one segment {worst} times");
    // And relaying happened: segment 2 saw segment-1 announcements.
    let seg1_origin = sim.hosts[0].engine.node_id().get();
    assert!(sim
        .copies
        .keys()
        .any(|(o, _, _, _, seg)| *o == seg1_origin && *seg == 2));
    let relayed: u64 = [g1, g2]
        .iter()
        .map(|g| sim.hosts[*g].engine.stats().tx_relayed)
        .sum();
    assert!(relayed > 0);
}

#[test]
fn a_ring_of_three_networks_and_three_gateways_converges_loop_free() {
    let mut sim = Sim::new(
        8,
        Link {
            loss_per_mille: 0,
            delay_ms: 1,
            jitter_ms: 5,
        },
    );
    for seg in 1..=3 {
        for i in 0..4 {
            let h = sim.add_host(&[(seg, addr(seg, i))], fast);
            sim.start(h);
        }
    }
    for (a, b) in [(1, 2), (2, 3), (3, 1)] {
        let g = sim.add_host(&[(a, addr(a, 100 + b)), (b, addr(b, 100 + a))], fast);
        sim.start(g);
    }
    sim.run_until_cond(5_000, Sim::converged)
        .expect("converges");
    sim.run_for(10_000);
    assert!(sim.converged());
    // In a ring a message reaches a segment directly and around the ring: at most twice
    // per segment (the duplicate check stops it there).
    let worst = sim.copies.values().copied().max().unwrap();
    assert!(worst <= 2, "a message crossed one segment {worst} times");
}

#[test]
fn gateway_legs_appear_as_aliases_and_remote_nodes_name_their_gateway() {
    let mut sim = Sim::new(9, Link::PERFECT);
    let a = sim.add_host(&[(1, addr(1, 1))], fast);
    let b = sim.add_host(&[(2, addr(2, 2))], fast);
    let g = sim.add_host(&[(1, addr(1, 50)), (2, addr(2, 50))], fast);
    for h in [a, b, g] {
        sim.start(h);
    }
    sim.run_until_cond(5_000, Sim::converged)
        .expect("converges");
    let gid = sim.hosts[g].engine.node_id();
    let seen_by_a = sim.hosts[a].engine.table().member(gid).unwrap();
    assert!(seen_by_a.is_gateway());
    let primary: Vec<_> = seen_by_a
        .addrs()
        .iter()
        .filter(|x| x.role == AddrRole::Primary)
        .map(|x| x.ip)
        .collect();
    let alias: Vec<_> = seen_by_a
        .addrs()
        .iter()
        .filter(|x| x.role == AddrRole::Alias)
        .map(|x| x.ip)
        .collect();
    assert_eq!(primary, vec![addr(1, 50)]);
    assert_eq!(alias, vec![addr(2, 50)]);
    let b_seen_by_a = sim.hosts[a]
        .engine
        .table()
        .member(sim.hosts[b].engine.node_id())
        .unwrap();
    assert_eq!(b_seen_by_a.via(), Some(gid));
    assert_eq!(b_seen_by_a.hops(), 1);
}

#[test]
fn routed_mode_uses_only_the_first_interface_and_announces_the_rest_as_aliases() {
    let mut sim = Sim::new(10, Link::PERFECT);
    let a = sim.add_host(&[(1, addr(1, 1))], fast);
    let b = sim.add_host(&[(2, addr(2, 2))], fast);
    let m = sim.add_host(&[(1, addr(1, 60)), (2, addr(2, 60))], |c| {
        fast(c);
        c.forwarding = omdisc_core::Forwarding::Routed;
    });
    for h in [a, b, m] {
        sim.start(h);
    }
    sim.run_for(3_000);
    let mid = sim.hosts[m].engine.node_id();
    // Without multicast routing in the simulator, segment 2 never hears of m or a.
    assert!(sim.map_of(b).iter().all(|id| *id != mid.get()));
    let seen = sim.hosts[a].engine.table().member(mid).unwrap();
    assert!(!seen.is_gateway());
    assert!(seen
        .addrs()
        .iter()
        .any(|x| x.role == AddrRole::Alias && x.ip == addr(2, 60)));
    assert_eq!(sim.hosts[m].engine.stats().tx_relayed, 0);
}

#[test]
fn an_isolated_host_keeps_its_networks_apart_while_both_see_its_aliases() {
    let mut sim = Sim::new(12, Link::PERFECT);
    let a = sim.add_host(&[(1, addr(1, 1))], fast);
    let b = sim.add_host(&[(2, addr(2, 2))], fast);
    let m = sim.add_host(&[(1, addr(1, 60)), (2, addr(2, 60))], |c| {
        fast(c);
        c.forwarding = omdisc_core::Forwarding::Isolated;
    });
    for h in [a, b, m] {
        sim.start(h);
    }
    sim.run_for(3_000);
    let mid = sim.hosts[m].engine.node_id();
    let (a_id, b_id) = (
        sim.hosts[a].engine.node_id().get(),
        sim.hosts[b].engine.node_id().get(),
    );
    assert!(!sim.map_of(a).contains(&b_id), "a hears of b");
    assert!(!sim.map_of(b).contains(&a_id), "b hears of a");
    let m_map = sim.map_of(m);
    assert!(m_map.contains(&a_id) && m_map.contains(&b_id));
    for (observer, primary, alias) in [(a, addr(1, 60), addr(2, 60)), (b, addr(2, 60), addr(1, 60))]
    {
        let seen = sim.hosts[observer].engine.table().member(mid).unwrap();
        assert!(!seen.is_gateway());
        assert!(seen
            .addrs()
            .iter()
            .any(|x| x.role == AddrRole::Primary && x.ip == primary));
        assert!(seen
            .addrs()
            .iter()
            .any(|x| x.role == AddrRole::Alias && x.ip == alias));
    }
    assert_eq!(sim.hosts[m].engine.stats().tx_relayed, 0);
}

#[test]
fn hop_limit_bounds_a_chain_of_gateways() {
    // Segments 1-2-3-4-5-6 in a chain; with hop_limit 2 a node on segment 1 is known on
    // segments 2 and 3 only.
    let mut sim = Sim::new(11, Link::PERFECT);
    let limit = |c: &mut omdisc_core::Config| {
        fast(c);
        c.hop_limit = 2;
    };
    // Distinct last octets everywhere: ids are the last two octets.
    let first = sim.add_host(&[(1, addr(1, 1))], limit);
    let mut ends = Vec::new();
    for seg in 2..=6 {
        ends.push(sim.add_host(&[(seg, addr(seg, seg))], limit));
    }
    for seg in 1..6 {
        let g = sim.add_host(
            &[
                (seg, addr(seg, 100 + seg)),
                (seg + 1, addr(seg + 1, 110 + seg)),
            ],
            limit,
        );
        sim.start(g);
    }
    sim.start(first);
    for h in &ends {
        sim.start(*h);
    }
    sim.run_for(3_000);
    let id = sim.hosts[first].engine.node_id().get();
    let knows: Vec<bool> = ends.iter().map(|h| sim.map_of(*h).contains(&id)).collect();
    // Segment 2 hears it relayed once, segment 3 twice; beyond that the hop limit stops it.
    assert_eq!(knows, vec![true, true, false, false, false]);
}
