//! With redundant gateways a remote node is heard over several equally short paths. Once
//! the cluster has converged, which path a node was heard on must stay put while that path
//! keeps working: a map whose `via` flips between equal gateways every few rounds is
//! rewritten (and its membership reported as changed) with nothing having changed.
//!
//! Found by the `gateway-redundant` namespace scenario (issue 4): every ordinary node logged
//! a "changed" event for remote nodes every second or so, and rewrote its map each time.

mod sim;

use omdisc_core::{Duration, Event};
use sim::{addr, Link, Sim};

fn fast(c: &mut omdisc_core::Config) {
    c.interval = Duration::from_millis(300);
}

#[test]
fn a_converged_cluster_behind_two_gateways_keeps_its_paths() {
    let mut sim = Sim::new(
        21,
        Link {
            loss_per_mille: 0,
            delay_ms: 1,
            jitter_ms: 5,
        },
    );
    let mut ordinary = Vec::new();
    for i in 0..3 {
        ordinary.push(sim.add_host(&[(1, addr(1, i))], fast));
        ordinary.push(sim.add_host(&[(2, addr(2, i + 10))], fast));
    }
    let g1 = sim.add_host(&[(1, addr(1, 200)), (2, addr(2, 200))], fast);
    let g2 = sim.add_host(&[(1, addr(1, 201)), (2, addr(2, 201))], fast);
    for h in ordinary.iter().copied().chain([g1, g2]) {
        sim.start(h);
    }
    sim.run_until_cond(5_000, Sim::converged)
        .expect("converges");
    sim.run_for(2_000);
    let settled = sim.now;
    sim.run_for(10_000);
    assert!(sim.converged());

    // A path may still switch when its gateway happened to miss rounds (with jitter a
    // gateway sometimes hears a round relayed by the other one first, and relays it back
    // instead of onward), but not round after round: at most one switch and back per
    // remote node.
    let mut report = Vec::new();
    for h in ordinary.iter().copied().chain([g1, g2]) {
        let mut changes = std::collections::BTreeMap::new();
        for (at, e) in &sim.hosts[h].events {
            if let (true, Event::Changed(id)) = (*at > settled, e) {
                *changes.entry(id.get()).or_insert(0) += 1;
            }
        }
        report.push((sim.hosts[h].engine.node_id().get(), changes));
    }
    assert!(
        report
            .iter()
            .all(|(_, changes)| changes.values().all(|n| *n <= 2)),
        "(node, changed events by remote node) in 10 s (33 rounds) of a steady cluster: {report:?}"
    );
}
