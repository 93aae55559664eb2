//! A node that stops announcing expires after the configured number of missed intervals,
//! and not before.

mod sim;

use omdisc_core::{Duration, Event, NodeId};
use sim::{addr, Link, Sim};

#[test]
fn silent_node_expires_after_dead_after_intervals() {
    for dead_after in [2u16, 3, 5] {
        let mut sim = Sim::new(5, Link::PERFECT);
        for i in 0..6 {
            let h = sim.add_host(&[(1, addr(1, i))], |c| {
                c.interval = Duration::from_millis(500);
                c.dead_after = dead_after;
                // Expiry alone: the probes would find the crash first.
                c.probe_interval = Duration::ZERO;
            });
            sim.start(h);
        }
        sim.run_until_cond(5_000, Sim::converged)
            .expect("converges");
        sim.run_for(2_000);
        let id = sim.hosts[2].engine.node_id();
        sim.kill(2);
        // Every observer expires it exactly `dead_after` advertised intervals after it last
        // heard it; the advertised interval is the longest gap between announcements.
        let entry = sim.hosts[0].engine.table().member(id).unwrap().clone();
        let advertised = entry.interval().total_millis();
        assert_eq!(advertised, 616, "0.5 s x 1.5 / (e - 3/2)");
        let deadline = entry.expires_at(sim.hosts[0].engine.detector());
        assert_eq!(
            (deadline - entry.last_seen()).total_millis(),
            advertised * u64::from(dead_after)
        );
        assert!(sim.now - entry.last_seen() <= omdisc_core::Duration::from_millis(advertised));
        sim.run_until(omdisc_core::Instant::from_millis(
            deadline.total_millis() - 1,
        ));
        assert!(
            !sim.nobody_knows(id.get()),
            "dead_after {dead_after}: expired too early"
        );
        sim.run_until(deadline);
        assert!(
            sim.nobody_knows(id.get()),
            "dead_after {dead_after}: not expired at the deadline"
        );
        let id = id.get();
        let expired = Event::Expired(NodeId::new(id).unwrap());
        assert!(sim.hosts[0].events.iter().any(|(_, e)| *e == expired));
    }
}

#[test]
fn a_node_back_after_expiry_rejoins() {
    let mut sim = Sim::new(6, Link::PERFECT);
    for i in 0..3 {
        let h = sim.add_host(&[(1, addr(1, i))], |c| {
            c.interval = Duration::from_millis(200)
        });
        sim.start(h);
    }
    sim.run_until_cond(5_000, Sim::converged)
        .expect("converges");
    // A partition: host 1 hears nothing and is heard by nobody for a while.
    sim.hosts[1].running = false;
    sim.run_for(2_000);
    assert!(!sim.map_of(0).contains(&sim.hosts[1].engine.node_id().get()));
    sim.hosts[1].running = true;
    sim.run_until_cond(1_000, Sim::converged)
        .expect("back after the partition");
}
