//! Two hosts whose addresses share the last two octets claim the same node id: every node
//! resolves it the same way (the lower address keeps the id) and reports the conflict.

mod sim;

use omdisc_core::{Duration, Event};
use sim::{Link, Sim};
use std::net::{IpAddr, Ipv4Addr};

#[test]
fn id_collision_is_resolved_the_same_way_on_every_node() {
    let mut sim = Sim::new(
        12,
        Link {
            loss_per_mille: 0,
            delay_ms: 1,
            jitter_ms: 10,
        },
    );
    let ip = |a, b, c, d| IpAddr::V4(Ipv4Addr::new(a, b, c, d));
    let fast = |c: &mut omdisc_core::Config| c.interval = Duration::from_millis(300);
    // 10.1.5.7 and 10.2.5.7 both derive node id 5*256+7 = 1287.
    let low = sim.add_host(&[(1, ip(10, 1, 5, 7))], fast);
    let high = sim.add_host(&[(2, ip(10, 2, 5, 7))], fast);
    let mut others = Vec::new();
    for seg in 1..=2u8 {
        for i in 1..=3 {
            others.push(sim.add_host(&[(usize::from(seg), ip(10, seg, 0, 10 * seg + i))], fast));
        }
    }
    let g = sim.add_host(&[(1, ip(10, 1, 0, 99)), (2, ip(10, 2, 0, 99))], fast);
    for h in [low, high, g].into_iter().chain(others.iter().copied()) {
        sim.start(h);
    }
    sim.run_for(5_000);

    for (i, host) in sim.hosts.iter().enumerate() {
        // Every node holds id 1287 for 10.1.5.7, the lower address.
        let holder = host
            .engine
            .table()
            .member(omdisc_core::NodeId::new(1287).unwrap());
        let holder_ip = holder.map(|e| e.addrs()[0].ip);
        assert_eq!(holder_ip, Some(ip(10, 1, 5, 7)), "host {i}");
        // And every node reported the same conflict.
        let conflict = host.events.iter().find_map(|(_, e)| match e {
            Event::Conflict {
                id, winner, loser, ..
            } => Some((id.get(), *winner, *loser)),
            _ => None,
        });
        assert_eq!(
            conflict,
            Some((1287, ip(10, 1, 5, 7), ip(10, 2, 5, 7))),
            "host {i} reported no (or another) conflict"
        );
    }
    // The loser knows it lost.
    assert!(sim.hosts[high].events.iter().any(|(_, e)| matches!(
        e,
        Event::Conflict {
            local_lost: true,
            ..
        }
    )));
    assert!(!sim.hosts[low].events.iter().any(|(_, e)| matches!(
        e,
        Event::Conflict {
            local_lost: true,
            ..
        }
    )));
}

/// 10.1.5.7 (`low`), 10.2.5.7 (`high`, both id 1287) and 10.1.0.1 (`watcher`) on one
/// segment, started and settled for 3 s: `(sim, low, high, watcher)`.
fn contenders_and_a_watcher(seed: u64) -> (Sim, usize, usize, usize) {
    let mut sim = Sim::new(seed, Link::PERFECT);
    let ip = |a, b, c, d| IpAddr::V4(Ipv4Addr::new(a, b, c, d));
    let low = sim.add_host(&[(1, ip(10, 1, 5, 7))], |_| {});
    let high = sim.add_host(&[(1, ip(10, 2, 5, 7))], |_| {});
    let watcher = sim.add_host(&[(1, ip(10, 1, 0, 1))], |_| {});
    for h in [low, high, watcher] {
        sim.start(h);
    }
    sim.run_for(3_000);
    (sim, low, high, watcher)
}

#[test]
fn when_the_winner_leaves_the_loser_takes_the_id() {
    let (mut sim, low, _high, watcher) = contenders_and_a_watcher(13);
    let ip = |a, b, c, d| IpAddr::V4(Ipv4Addr::new(a, b, c, d));
    let id = omdisc_core::NodeId::new(1287).unwrap();
    assert_eq!(
        sim.hosts[watcher]
            .engine
            .table()
            .member(id)
            .unwrap()
            .addrs()[0]
            .ip,
        ip(10, 1, 5, 7)
    );
    sim.leave(low);
    sim.run_for(10);
    assert_eq!(
        sim.hosts[watcher]
            .engine
            .table()
            .member(id)
            .unwrap()
            .addrs()[0]
            .ip,
        ip(10, 2, 5, 7)
    );
}

#[test]
fn every_node_lists_the_conflict_and_reports_its_end_when_the_loser_stops() {
    let (mut sim, low, high, watcher) = contenders_and_a_watcher(14);
    let ip = |a, b, c, d| IpAddr::V4(Ipv4Addr::new(a, b, c, d));
    let id = omdisc_core::NodeId::new(1287).unwrap();
    for h in [low, high, watcher] {
        let conflicts: Vec<_> = sim.hosts[h].engine.conflicts().collect();
        assert_eq!(conflicts.len(), 1, "host {h}: {conflicts:?}");
        assert_eq!(
            (conflicts[0].id, conflicts[0].winner, conflicts[0].loser),
            (id, ip(10, 1, 5, 7), ip(10, 2, 5, 7)),
            "host {h}"
        );
    }
    assert!(sim.hosts[high].engine.lost_id_collision());

    // The loser stops: no membership changes (it was never in a map), but the conflict ends.
    sim.leave(high);
    sim.run_for(10);
    for h in [low, watcher] {
        assert_eq!(sim.hosts[h].engine.conflicts().count(), 0, "host {h}");
        let ended = sim.hosts[h].events.iter().find_map(|(_, e)| match e {
            Event::ConflictEnded { id, loser, local } => Some((*id, *loser, *local)),
            _ => None,
        });
        assert_eq!(ended, Some((id, ip(10, 2, 5, 7), false)), "host {h}");
    }
}

#[test]
fn the_loser_hears_its_conflict_end_when_the_winner_stops() {
    let (mut sim, low, high, _watcher) = contenders_and_a_watcher(15);
    let ip = |a, b, c, d| IpAddr::V4(Ipv4Addr::new(a, b, c, d));
    assert!(sim.hosts[high].engine.lost_id_collision());
    // The winner crashes: the loser expires it and takes its own id back.
    sim.kill(low);
    sim.run_for(10_000);
    assert!(!sim.hosts[high].engine.lost_id_collision());
    assert_eq!(sim.hosts[high].engine.conflicts().count(), 0);
    assert!(sim.hosts[high].events.iter().any(|(_, e)| matches!(
        e,
        Event::ConflictEnded { local: true, loser, .. } if *loser == ip(10, 2, 5, 7)
    )));
}
