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

#[test]
fn when_the_winner_leaves_the_loser_takes_the_id() {
    let mut sim = Sim::new(13, Link::PERFECT);
    let ip = |a, b, c, d| IpAddr::V4(Ipv4Addr::new(a, b, c, d));
    let low = sim.add_host(&[(1, ip(10, 1, 5, 7))], |_| {});
    let high = sim.add_host(&[(1, ip(10, 2, 5, 7))], |_| {});
    let watcher = sim.add_host(&[(1, ip(10, 1, 0, 1))], |_| {});
    for h in [low, high, watcher] {
        sim.start(h);
    }
    sim.run_for(3_000);
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
