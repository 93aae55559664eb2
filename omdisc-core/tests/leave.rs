//! A node that stops gracefully disappears from every map at the next delivery.

mod sim;

use omdisc_core::{Duration, Event, NodeId};
use sim::{addr, Link, Sim};

#[test]
fn leaving_node_is_gone_from_every_table_at_the_next_delivery() {
    let mut sim = Sim::new(3, Link::PERFECT);
    for i in 0..32 {
        let h = sim.add_host(&[(1, addr(1, i))], |c| {
            c.interval = Duration::from_millis(500)
        });
        sim.start(h);
    }
    sim.run_until_cond(5_000, Sim::converged)
        .expect("converges");
    let leaver = 5;
    let id = sim.hosts[leaver].engine.node_id().get();
    sim.leave(leaver);
    // The link delay is 1 ms: one delivery later the node is gone everywhere.
    sim.run_for(1);
    assert!(sim.nobody_knows(id));
    assert!(sim.converged());
    let left = Event::Left(NodeId::new(id).unwrap());
    for (i, h) in sim.hosts.iter().enumerate() {
        if i != leaver {
            assert!(
                h.events.iter().any(|(_, e)| *e == left),
                "host {i} saw no Left"
            );
        }
    }
}

#[test]
fn a_stale_announcement_after_leave_does_not_bring_the_node_back() {
    let mut sim = Sim::new(
        4,
        Link {
            loss_per_mille: 0,
            delay_ms: 1,
            jitter_ms: 40,
        },
    );
    for i in 0..4 {
        let h = sim.add_host(&[(1, addr(1, i))], |c| {
            c.interval = Duration::from_millis(100)
        });
        sim.start(h);
    }
    sim.run_until_cond(5_000, Sim::converged)
        .expect("converges");
    let id = sim.hosts[0].engine.node_id().get();
    // The jitter reorders: announcements sent before the LEAVE may arrive after it.
    sim.run_for(95);
    sim.leave(0);
    sim.run_for(200);
    assert!(sim.nobody_knows(id));
}
