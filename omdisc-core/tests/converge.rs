//! Nodes on one segment find each other: at once on a perfect link, and despite loss and
//! reordering.

mod sim;

use omdisc_core::Duration;
use sim::{addr, Link, Sim};

fn cluster(sim: &mut Sim, n: usize) {
    for i in 0..n {
        let h = sim.add_host(&[(1, addr(1, i))], |c| {
            c.interval = Duration::from_millis(500)
        });
        sim.start(h);
    }
}

#[test]
fn thirty_two_nodes_converge_within_one_reply_window() {
    let mut sim = Sim::new(1, Link::PERFECT);
    cluster(&mut sim, 32);
    let took = sim
        .run_until_cond(5_000, Sim::converged)
        .expect("converges");
    // Joins are answered within the 200 ms reply window, well before the first periodic
    // announcement (400..500 ms).
    assert!(took <= 250, "took {took} ms of virtual time");
    assert_eq!(sim.map_of(0).len(), 32);
}

#[test]
fn a_late_node_is_known_everywhere_at_once_and_learns_everyone() {
    let mut sim = Sim::new(2, Link::PERFECT);
    cluster(&mut sim, 8);
    sim.run_until_cond(5_000, Sim::converged)
        .expect("converges");
    sim.run_for(3_000);
    let late = sim.add_host(&[(1, addr(1, 100))], |c| {
        c.interval = Duration::from_millis(500)
    });
    sim.start(late);
    let took = sim
        .run_until_cond(5_000, Sim::converged)
        .expect("converges");
    assert!(took <= 250, "took {took} ms");
    assert_eq!(sim.map_of(late).len(), 9);
}

#[test]
fn thirty_two_nodes_converge_despite_loss_and_reordering() {
    let link = Link {
        loss_per_mille: 100,
        delay_ms: 2,
        jitter_ms: 30,
    };
    for seed in 0..5 {
        let mut sim = Sim::new(seed, link);
        cluster(&mut sim, 32);
        // With 10 % loss a node may miss a join and its answers, but it hears every node's
        // periodic announcement within a few intervals.
        sim.run_until_cond(10_000, Sim::converged)
            .unwrap_or_else(|| panic!("seed {seed} did not converge"));
        // And the map stays whole: no false expiry at dead_after = 3 with 10 % loss is not
        // guaranteed, but every node must be back within an interval.
        sim.run_for(5_000);
        sim.run_until_cond(2_000, Sim::converged)
            .unwrap_or_else(|| panic!("seed {seed} lost convergence"));
    }
}

#[test]
fn same_seed_gives_the_same_run() {
    let run = |seed| {
        let mut sim = Sim::new(
            seed,
            Link {
                loss_per_mille: 50,
                delay_ms: 1,
                jitter_ms: 20,
            },
        );
        cluster(&mut sim, 10);
        sim.run_for(3_000);
        (sim.delivered, sim.sent_per_segment.clone())
    };
    assert_eq!(run(9), run(9));
}
