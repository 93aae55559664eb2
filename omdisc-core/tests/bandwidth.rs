//! The aggregate announce bandwidth stays within the budget at any cluster size (RFC 3550
//! style intervals), while joins and crashes are still detected — measured in the simulator
//! on 2 to 1 000 real engines.

mod sim;

use omdisc_core::Duration;
use sim::{addr, Link, Sim};

const BUDGET: u32 = 128_000;

struct Figures {
    nodes: usize,
    datagrams_per_s: f64,
    bits_per_s: f64,
    interval_ms: u64,
    join_ms: u64,
    crash_ms: u64,
}

/// Starts `n` nodes staggered over two seconds, lets them settle, then measures the steady
/// aggregate rate over eight intervals, a join and a crash.
fn measure(n: usize, seed: u64) -> Figures {
    let mut sim = Sim::new(
        seed,
        Link {
            loss_per_mille: 0,
            delay_ms: 1,
            jitter_ms: 2,
        },
    );
    sim.capacity = n + 16;
    let config = |c: &mut omdisc_core::Config| {
        c.interval = Duration::from_secs(1);
        c.bandwidth = BUDGET;
    };
    let hosts: Vec<_> = (0..n)
        .map(|i| sim.add_host(&[(1, addr(1, i))], config))
        .collect();
    for h in &hosts {
        sim.start(*h);
        sim.run_for((2_000 / n as u64).max(1));
    }
    sim.run_until_cond_every(120_000, 10, Sim::converged)
        .expect("converges");
    let td = omdisc_core::testing::deterministic_interval(
        sim.hosts[0].engine.config(),
        n,
        sim.hosts[0].engine.average_announce_size(),
    );
    // Settle for two intervals, then measure eight. (The run is deterministic: same seed,
    // same figures.)
    sim.run_for(2 * td.total_millis());
    let (d0, b0) = (sim.sent_per_segment[&1], sim.bytes_per_segment[&1]);
    let window = 8 * td.total_millis();
    sim.run_for(window);
    let datagrams = sim.sent_per_segment[&1] - d0;
    let bytes = sim.bytes_per_segment[&1] - b0 + 28 * datagrams; // UDP/IPv4 headers
    let secs = window as f64 / 1000.0;
    assert!(sim.converged(), "{n} nodes: map not whole while measuring");

    // A join: known by every node after one delivery.
    let newcomer = sim.add_host(&[(1, addr(1, n + 5))], config);
    sim.start(newcomer);
    let new_id = sim.hosts[newcomer].engine.node_id().get();
    let join_ms = sim
        .run_until_cond(10_000, |s| (0..n).all(|h| s.knows(h, new_id)))
        .expect("join seen everywhere");

    // A crash: detected by every node within dead_after advertised intervals.
    let victim = hosts[n / 2];
    let victim_id = sim.hosts[victim].engine.node_id().get();
    sim.kill(victim);
    let crash_ms = sim
        .run_until_cond_every(600_000, 10, |s| s.nobody_knows(victim_id))
        .expect("crash detected");
    Figures {
        nodes: n,
        datagrams_per_s: datagrams as f64 / secs,
        bits_per_s: bytes as f64 * 8.0 / secs,
        interval_ms: td.total_millis(),
        join_ms,
        crash_ms,
    }
}

#[test]
fn aggregate_announce_bandwidth_stays_within_budget_from_2_to_1000_nodes() {
    println!("nodes  Td(ms)  datagrams/s  bits/s   join(ms)  crash(ms)");
    for (n, seed) in [(2, 1), (10, 2), (100, 3), (1000, 4)] {
        let f = measure(n, seed);
        println!(
            "{:>5}  {:>6}  {:>11.1}  {:>7.0}  {:>8}  {:>9}",
            f.nodes, f.interval_ms, f.datagrams_per_s, f.bits_per_s, f.join_ms, f.crash_ms
        );
        // The budget holds (5 % slack for the randomisation over eight intervals)...
        assert!(
            f.bits_per_s <= f64::from(BUDGET) * 1.05,
            "{n} nodes: {:.0} bit/s over the {BUDGET} bit/s budget",
            f.bits_per_s
        );
        // ...small clusters keep the configured 1 s interval...
        if n <= 100 {
            assert_eq!(f.interval_ms, 1000);
            assert!(
                f.datagrams_per_s >= n as f64 * 0.7,
                "{n} nodes announce too rarely"
            );
        } else {
            assert!(f.interval_ms > 1000);
        }
        // ...a join is known everywhere after one delivery...
        assert!(f.join_ms <= 5, "{n} nodes: join took {} ms", f.join_ms);
        // ...and a crash is detected within dead_after (3) advertised intervals (checked
        // every 10 ms of virtual time).
        let bound =
            3 * omdisc_core::testing::advertised_interval(Duration::from_millis(f.interval_ms))
                .total_millis();
        assert!(
            f.crash_ms <= bound + 10,
            "{n} nodes: crash took {} ms (bound {bound})",
            f.crash_ms
        );
    }
}
