//! Unicast and probes: nodes where multicast does not pass find each other through seeds,
//! a crash is found by the probe protocol in seconds whatever the announce interval, and a
//! lossy network removes no live member.

mod sim;

use std::net::{IpAddr, SocketAddr};

use omdisc_core::{Duration, Event, Instant, NodeId};
use sim::{addr, Link, Sim};

fn seed(ip: std::net::IpAddr) -> SocketAddr {
    SocketAddr::new(ip, omdisc_core::DEFAULT_PORT)
}

/// `n` unicast-only nodes on segment 1 (whose switch drops multicast), each seeded with
/// the previous one.
fn seed_chain(sim: &mut Sim, n: usize) -> Vec<usize> {
    sim.no_multicast.insert(1);
    let mut hosts = Vec::new();
    for i in 0..n {
        let seeds: &[IpAddr] = if i > 0 { &[addr(1, i - 1)] } else { &[] };
        hosts.push(sim.start_host(1, i, seeds, |c| c.multicast = false));
    }
    hosts
}

#[test]
fn nodes_where_multicast_is_dropped_converge_through_a_chain_of_seeds() {
    let mut sim = Sim::new(1, Link::PERFECT);
    seed_chain(&mut sim, 4);
    let took = sim
        .run_until_cond(5_000, Sim::converged)
        .expect("converges");
    assert!(took <= 1_000, "converged after {took} ms");
    // Nothing went to the group.
    assert!(
        sim.sent_per_segment.is_empty(),
        "{:?}",
        sim.sent_per_segment
    );
}

#[test]
fn a_chain_of_fifty_seeds_converges_and_stays_converged() {
    let mut sim = Sim::new(2, Link::PERFECT);
    seed_chain(&mut sim, 50);
    let took = sim
        .run_until_cond(10_000, Sim::converged)
        .expect("converges");
    assert!(took <= 3_000, "converged after {took} ms");
    sim.run_for(30_000);
    assert!(sim.converged(), "a member was lost");
}

#[test]
fn a_seed_that_never_answers_is_reported_once_and_retried() {
    let mut sim = Sim::new(3, Link::PERFECT);
    sim.no_multicast.insert(1);
    let h = sim.add_host(&[(1, addr(1, 0))], |c| c.multicast = false);
    let nobody = seed(addr(1, 99));
    let now = sim.now;
    sim.hosts[h].engine.set_seeds(now, &[nobody]).unwrap();
    sim.start(h);
    sim.run_for(60_000);
    let reports = sim.hosts[h]
        .events
        .iter()
        .filter(|(_, e)| *e == Event::SeedUnreachable(nobody))
        .count();
    assert_eq!(reports, 1);
    let contacts = sim.hosts[h].engine.stats().seed_contacts;
    assert!(
        (5..=10).contains(&contacts),
        "{contacts} contacts in a minute"
    );
    // The seed comes up: it is reached and reported so.
    let late = sim.add_host(&[(1, addr(1, 99))], |c| c.multicast = false);
    sim.start(late);
    sim.run_until_cond(70_000, Sim::converged)
        .expect("converges");
    assert!(sim.hosts[h]
        .events
        .iter()
        .any(|(_, e)| *e == Event::SeedReached(nobody)));
}

#[test]
fn a_multicast_segment_and_two_unicast_only_nodes_make_complete_maps() {
    let mut sim = Sim::new(4, Link::PERFECT);
    sim.no_multicast.insert(2);
    let mut hosts = Vec::new();
    for i in 0..3 {
        let h = sim.add_host(&[(1, addr(1, i))], |_| {});
        sim.start(h);
        hosts.push(h);
    }
    for i in 0..2 {
        hosts.push(sim.start_host(2, i, &[addr(1, 0)], |c| c.multicast = false));
    }
    let took = sim
        .run_until_cond(10_000, Sim::converged)
        .expect("converges");
    assert!(took <= 2_000, "converged after {took} ms");
    sim.run_for(20_000);
    assert!(sim.converged());
}

#[test]
fn a_unicast_only_node_that_leaves_is_gone_everywhere_at_once() {
    let mut sim = Sim::new(5, Link::PERFECT);
    let hosts = seed_chain(&mut sim, 10);
    sim.run_until_cond(5_000, Sim::converged)
        .expect("converges");
    let id = sim.hosts[hosts[4]].engine.node_id().get();
    sim.leave(hosts[4]);
    let took = sim
        .run_until_cond(5_000, |s| s.nobody_knows(id))
        .expect("everybody drops it");
    assert!(took <= 100, "gone after {took} ms");
    let left = Event::Left(NodeId::new(id).unwrap());
    assert!(sim.hosts[hosts[0]].events.iter().any(|(_, e)| *e == left));
}

/// Kills one of `hosts` and returns (first, last) time in ms until a map dropped it.
fn crash_detection(sim: &mut Sim, victim: usize, limit_ms: u64) -> (u64, u64) {
    let id = sim.hosts[victim].engine.node_id();
    let start = sim.now;
    sim.kill(victim);
    sim.run_until_cond_every(limit_ms, 50, |s| s.nobody_knows(id.get()))
        .expect("every map drops the crashed node");
    let removed: Vec<u64> = sim
        .hosts
        .iter()
        .filter(|h| h.running)
        .filter_map(|h| {
            h.events
                .iter()
                .find(|(at, e)| *at >= start && *e == Event::Expired(id))
                .map(|(at, _)| (*at - start).total_millis())
        })
        .collect();
    (
        removed.iter().copied().min().unwrap_or(0),
        removed.iter().copied().max().unwrap_or(0),
    )
}

#[test]
fn probes_remove_a_crashed_node_within_seconds_when_announcements_are_slow() {
    // 30 nodes with a 1000 bit/s budget announce about every 30 s: expiry alone takes
    // minutes (52 s measured in namespaces); the probes take seconds.
    let mut sim = Sim::new(6, Link::PERFECT);
    for i in 0..30 {
        let h = sim.add_host(&[(1, addr(1, i))], |c| c.bandwidth = 1_000);
        sim.start(h);
    }
    sim.run_until_cond(5_000, Sim::converged)
        .expect("converges");
    sim.run_for(60_000);
    assert!(sim.converged(), "a live node was removed");
    let (first, last) = crash_detection(&mut sim, 7, 20_000);
    assert!(last <= 10_000, "removed between {first} and {last} ms");
}

#[test]
fn a_lossy_network_removes_no_live_member() {
    let mut sim = Sim::new(7, Link::lossy(250, 2));
    sim.no_multicast.insert(1);
    for i in 0..20 {
        let seeds: &[IpAddr] = if i > 0 { &[addr(1, 0)] } else { &[] };
        sim.start_host(1, i, seeds, |c| c.multicast = false);
    }
    sim.run_until_cond(20_000, Sim::converged)
        .expect("converges");
    let since = sim.now;
    sim.run_for(120_000);
    for (i, h) in sim.hosts.iter().enumerate() {
        let removals: Vec<Event> = sim
            .events_since(i, since)
            .into_iter()
            .filter(|e| matches!(e, Event::Expired(_) | Event::Left(_)))
            .collect();
        assert!(removals.is_empty(), "host {i} removed {removals:?}");
        assert_eq!(h.engine.members().count(), 20);
    }
    let (_, last) = crash_detection(&mut sim, 3, 30_000);
    assert!(last <= 10_000, "removed after {last} ms at 25 % loss");
}

#[test]
fn a_replayed_death_notice_does_not_remove_a_live_member() {
    let mut sim = Sim::new(8, Link::PERFECT);
    sim.recorded = Some(Vec::new());
    let hosts = seed_chain(&mut sim, 6);
    sim.run_until_cond(5_000, Sim::converged)
        .expect("converges");
    // Node 5 crashes and is declared dead; the notices are captured.
    let victim = hosts[5];
    let id = sim.hosts[victim].engine.node_id().get();
    sim.kill(victim);
    sim.run_until_cond(20_000, |s| s.nobody_knows(id))
        .expect("removed");
    let notices: Vec<(std::net::IpAddr, Vec<u8>)> = sim
        .recorded
        .take()
        .unwrap()
        .into_iter()
        .filter(|(_, _, b)| b.get(3) == Some(&6))
        .map(|(_, src, b)| (src, b))
        .collect();
    assert!(!notices.is_empty(), "death notices were sent");
    // It restarts (a new incarnation) and rejoins; the old notices, replayed, change
    // nothing.
    sim.start_host(1, 5, &[addr(1, 0)], |c| c.multicast = false);
    sim.run_until_cond(5_000, Sim::converged).expect("rejoins");
    for (src, bytes) in &notices {
        sim.inject(1, *src, bytes);
    }
    sim.run_for(1_000);
    assert!(sim.converged(), "a replayed notice removed a live node");
    let _ = Instant::ZERO;
    let _ = Duration::ZERO;
}

#[test]
fn a_crash_at_the_end_of_the_table_is_probed_after_the_cluster_grew() {
    // Nodes started one after another begin their probe walks while their tables hold the
    // first few nodes; the walks must still reach the last node of the table soon after
    // the cluster formed. Walks that kept the start their first lap took in a small table
    // stayed in its low part for hundreds of intervals: at 500 members a crash of the last
    // node went unprobed until its announcements expired (10 s), at 1 000 for 20 s.
    let n = 500;
    let mut sim = Sim::new(9, Link::lossy(0, 1));
    sim.capacity = n + 8;
    for i in 0..n {
        sim.start_host(1, i, &[], |c| {
            c.dead_after = omdisc_core::DEFAULT_DEAD_AFTER
        });
        sim.run_for(2);
    }
    sim.run_until_cond_every(30_000, 100, Sim::converged)
        .expect("converges");
    sim.run_for(3_000);
    let confirmed = |sim: &Sim| -> u64 {
        sim.hosts
            .iter()
            .map(|h| h.engine.stats().confirmed_dead)
            .sum()
    };
    let before = confirmed(&sim);
    let (first, last) = crash_detection(&mut sim, n - 1, 60_000);
    assert!(
        confirmed(&sim) > before,
        "no prober found the crash: removed by expiry between {first} and {last} ms"
    );
    assert!(last <= 5_000, "removed between {first} and {last} ms");
}

/// A converged cluster's counts agree, and a crash makes them differ for less than the
/// quiet time a sync waits for (the crash leaves every map within it): neither costs a
/// sync.
#[test]
fn neither_a_converged_cluster_nor_a_crash_asks_for_a_sync() {
    let n = 100;
    let mut sim = Sim::new(13, Link::lossy(0, 1));
    sim.capacity = n + 8;
    seed_chain(&mut sim, n);
    sim.run_until_cond_every(20_000, 100, Sim::converged)
        .expect("converges");
    sim.run_for(30_000);
    sim.kill(n / 2);
    sim.run_for(60_000);
    assert!(sim.converged());
    let asked: u64 = sim.hosts.iter().map(|h| h.engine.stats().syncs_asked).sum();
    assert_eq!(asked, 0);
}

/// Two members that missed each other's join (unicast between them lost while the cluster
/// formed) find each other by a sync once they can reach each other: each holds one member
/// fewer than the others say they hold, and after the quiet time asks one of them. Without
/// syncs they would wait for a digest entry naming the other, one in 300 per PING or ACK (a
/// minute or more).
#[test]
fn members_that_missed_each_others_join_find_each_other_by_a_sync() {
    let n = 300;
    let mut sim = Sim::new(17, Link::lossy(0, 1));
    sim.capacity = n + 8;
    let (a, b) = (n / 3, 2 * n / 3);
    sim.block_pair(addr(1, a), addr(1, b), true);
    seed_chain(&mut sim, n);
    sim.run_for(8_000);
    let id = |sim: &Sim, h: usize| sim.hosts[h].engine.node_id().get();
    let (id_a, id_b) = (id(&sim, a), id(&sim, b));
    assert!(!sim.knows(a, id_b) && !sim.knows(b, id_a));
    for h in (0..n).filter(|h| *h != a && *h != b) {
        assert_eq!(sim.map_of(h).len(), n, "host {h}");
    }
    let asked = |sim: &Sim| {
        [a, b]
            .iter()
            .map(|h| sim.hosts[*h].engine.stats().syncs_asked)
            .sum::<u64>()
    };
    assert_eq!(asked(&sim), 0, "not before the count was quiet for 10 s");
    sim.block_pair(addr(1, a), addr(1, b), false);
    let took = sim
        .run_until_cond_every(30_000, 100, Sim::converged)
        .expect("they find each other");
    // The quiet time ends about 10 s after the cluster formed; the sync takes a moment.
    assert!(took <= 6_000, "found each other after {took} ms");
    assert!(asked(&sim) >= 1);
    let served: u64 = sim
        .hosts
        .iter()
        .map(|h| h.engine.stats().syncs_served)
        .sum();
    let parts: u64 = sim
        .hosts
        .iter()
        .map(|h| h.engine.stats().sync_parts_sent)
        .sum();
    assert!(served >= 1);
    // Only the buckets of the member each lacks: about 300 / 32 members, two datagrams.
    assert!(parts <= 4 * served, "{parts} parts for {served} syncs");
}
