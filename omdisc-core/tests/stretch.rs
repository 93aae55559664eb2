//! Nodes started together under a small bandwidth budget stretch their announce interval
//! from the configured one to the budget's (about 19 s for 30 nodes at 1 000 bit/s) without
//! any live node expiring anywhere on the way: a node's next announcement always comes
//! within the interval its last one advertised.

mod sim;

use omdisc_core::{Duration, Event};
use sim::{addr, Link, Sim};

/// Starts `n` nodes together at `--bandwidth bandwidth --interval 1 --dead-after 3`, runs
/// `secs` of simulated time, and returns how many `Expired` events all of them logged.
fn false_expiries(n: usize, bandwidth: u32, secs: u64, seed: u64, probes: bool) -> usize {
    let mut sim = Sim::new(seed, Link::PERFECT);
    for i in 0..n {
        let h = sim.add_host(&[(1, addr(1, i))], |c| {
            c.interval = Duration::from_secs(1);
            c.dead_after = 3;
            c.bandwidth = bandwidth;
            if !probes {
                c.probe_interval = Duration::ZERO;
            }
        });
        sim.start(h);
    }
    sim.run_for(secs * 1000);
    assert!(sim.converged(), "{n} nodes converge");
    let stretched = sim.hosts[0].engine.announce_interval();
    assert!(
        stretched > Duration::from_secs(5),
        "the budget stretches the interval: {stretched}"
    );
    sim.hosts
        .iter()
        .flat_map(|h| &h.events)
        .filter(|(_, e)| matches!(e, Event::Expired(_)))
        .count()
}

#[test]
fn thirty_nodes_started_together_never_expire_a_live_node() {
    for seed in [1, 2, 3] {
        assert_eq!(false_expiries(30, 1000, 300, seed, true), 0, "seed {seed}");
        assert_eq!(
            false_expiries(30, 1000, 300, seed, false),
            0,
            "seed {seed}, no probes"
        );
    }
}

#[test]
fn two_hundred_nodes_started_together_never_expire_a_live_node() {
    assert_eq!(false_expiries(200, 8000, 300, 7, false), 0);
}
