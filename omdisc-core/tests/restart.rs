//! A restarted node (new incarnation) is taken back at once; old sequence numbers are ignored.

mod sim;

use omdisc_core::{Config, Duration, NodeId};
use sim::{addr, Link, Sim};

#[test]
fn restarted_node_with_new_incarnation_is_back_at_once() {
    let mut sim = Sim::new(14, Link::PERFECT);
    let fast = |c: &mut Config| c.interval = Duration::from_millis(500);
    for i in 0..5 {
        let h = sim.add_host(&[(1, addr(1, i))], fast);
        sim.start(h);
    }
    sim.run_until_cond(5_000, Sim::converged)
        .expect("converges");
    sim.run_for(2_000);
    // Crash host 3 and start a new incarnation on the same address.
    sim.kill(3);
    sim.run_for(100);
    let id = NodeId::from_ip(addr(1, 3)).unwrap();
    let mut config = Config::new(id, 1_000_000);
    config.interval = Duration::from_millis(500);
    let again = sim.add_host_with(&[(1, addr(1, 3))], config);
    sim.start(again);
    sim.run_for(2);
    for h in [0, 1, 2, 4] {
        let entry = sim.hosts[h].engine.table().member(id).unwrap();
        assert_eq!(entry.incarnation(), 1_000_000, "host {h}");
    }
    // The new incarnation learns the cluster from the join answers.
    sim.run_until_cond(300, |s| s.map_of(again).len() == 5)
        .expect("learns everyone");
}

#[test]
fn an_older_incarnation_cannot_replace_a_newer_one() {
    let mut sim = Sim::new(15, Link::PERFECT);
    let a = sim.add_host(&[(1, addr(1, 0))], |c| c.incarnation = 500);
    let b = sim.add_host(&[(1, addr(1, 1))], |_| {});
    sim.start(a);
    sim.start(b);
    sim.run_for(500);
    // Capture one of a's announcements, restart a with a newer incarnation, then replay.
    let id = sim.hosts[a].engine.node_id();
    let mut buf = [0u8; omdisc_core::MAX_DATAGRAM_LEN];
    sim.hosts[a]
        .engine
        .handle_timeout(sim.now + Duration::from_secs(5));
    let tx = sim.hosts[a]
        .engine
        .poll_transmit(sim.now, &mut buf)
        .unwrap();
    let old = buf[..tx.len].to_vec();
    sim.kill(a);
    let mut config = Config::new(id, 900);
    config.interval = Duration::from_secs(1);
    let a2 = sim.add_host_with(&[(1, addr(1, 0))], config);
    sim.start(a2);
    sim.run_for(50);
    sim.inject(1, addr(1, 0), &old);
    sim.run_for(50);
    assert_eq!(
        sim.hosts[b]
            .engine
            .table()
            .member(id)
            .unwrap()
            .incarnation(),
        900
    );
    assert!(sim.hosts[b].engine.stats().rx_stale >= 1);
}
