//! Figures of unicast membership and the probe protocol (docs/performance.md), from the
//! real engines in the simulator: 10, 100 and 1 000 members, with and without multicast,
//! at 0 % and 25 % random loss — crash detection (first and last map to drop a SIGKILL'd
//! node), false removals, traffic per member and in aggregate, join times.
//!
//! `cargo test --release -p omdisc-core --test swim_figures -- --ignored --nocapture`
//! prints one `swim-figure key=value ...` line per case. 10 000 members do not fit the
//! simulator (every engine holds a table of every member: 10 000 × 10 000 × 160 bytes), so
//! `swim_model_figures` gives the same figures for 10 000 (and, to check the model, 100
//! and 1 000) from a sampling model of the protocol: see its docs.

mod sim;
mod swim_record;

use omdisc_core::Event;
use sim::{addr, Link, Sim};
use swim_record::Figures;

/// Segment of the cluster.
const SEGMENT: usize = 1;

/// `n` nodes at the defaults on one segment; without multicast, the segment drops it and
/// every node is seeded with node 0. Runs until converged.
fn cluster(n: usize, multicast: bool, per_mille: u64, seed: u64) -> Option<Sim> {
    let mut sim = Sim::new(seed, Link::lossy(per_mille, 1));
    sim.capacity = n + 8;
    if !multicast {
        sim.no_multicast.insert(SEGMENT);
    }
    for i in 0..n {
        let seeds = if !multicast && i > 0 {
            vec![addr(SEGMENT, 0)]
        } else {
            Vec::new()
        };
        sim.start_host(SEGMENT, i, &seeds, |c| {
            c.multicast = multicast;
            c.dead_after = omdisc_core::DEFAULT_DEAD_AFTER;
        });
        // Started 2 ms apart, so that a thousand nodes are not one burst.
        sim.run_for(2);
    }
    sim.run_until_cond_every(120_000, 100, Sim::converged)?;
    Some(sim)
}

fn removals_since(sim: &Sim, since: omdisc_core::Instant) -> usize {
    (0..sim.hosts.len())
        .filter(|h| sim.hosts[*h].running)
        .map(|h| {
            sim.events_since(h, since)
                .iter()
                .filter(|e| matches!(e, Event::Expired(_) | Event::Left(_)))
                .count()
        })
        .sum()
}

/// How long the steady window is and how many crashes a case has, by size: long enough
/// for a false removal to show at 10 and 100 members; at 1 000, where every virtual
/// second costs about 260 000 deliveries with multicast, 30 s and 4 crashes.
pub fn plan(n: usize) -> (u64, usize) {
    match n {
        0..=10 => (300, 9),
        11..=100 => (120, 10),
        _ => (30, 4),
    }
}

/// The victim of crash number `c` among `n + 1` hosts (spread over the id range; never
/// host 0, the seed).
pub fn victim(c: usize, n: usize) -> usize {
    1 + (c * 7919) % n
}

/// One case: join, steady traffic and false removals over `steady_s`, then `crashes`
/// crashes one after another (each waited for up to 120 s, then 2 s of calm).
pub fn case(n: usize, multicast: bool, per_mille: u64, steady_s: u64, crashes: usize) -> Figures {
    let wall = std::time::Instant::now();
    let mut figures = Figures::new("engines", n, multicast, per_mille);
    let seed = n as u64 * 7 + per_mille + u64::from(multicast);
    let Some(mut sim) = cluster(n, multicast, per_mille, seed) else {
        figures.converged = false;
        return figures;
    };
    // Join: a new node (seeded on node 0 without multicast) until every map lists it, and
    // until its own map is complete.
    let seeds = if multicast {
        vec![]
    } else {
        vec![addr(SEGMENT, 0)]
    };
    let newcomer = sim.start_host(SEGMENT, n, &seeds, |c| c.multicast = multicast);
    let id = sim.hosts[newcomer].engine.node_id().get();
    let everywhere = sim
        .run_until_cond_every(60_000, 5, |s| {
            (0..s.hosts.len())
                .filter(|h| s.hosts[*h].running)
                .all(|h| s.knows(h, id))
        })
        .unwrap_or(u64::MAX);
    let complete = sim
        .run_until_cond_every(60_000, 5, |s| {
            s.hosts[newcomer].engine.members().count() == n + 1
        })
        .map_or(u64::MAX, |t| t.saturating_add(everywhere));
    figures.join_everywhere_ms = everywhere;
    figures.join_complete_ms = complete;
    // Steady state: traffic and false removals.
    sim.run_for(5_000);
    let since = sim.now;
    let before: Vec<(u64, u64)> = sim.sent_by_host.clone();
    sim.run_for(steady_s * 1_000);
    figures.steady_s = steady_s;
    figures.false_removals = removals_since(&sim, since);
    let bytes: u64 = sim
        .sent_by_host
        .iter()
        .zip(&before)
        .map(|(after, before)| after.1 - before.1)
        .sum();
    let members = sim.hosts.iter().filter(|h| h.running).count() as f64;
    figures.aggregate_bytes_s = bytes as f64 / steady_s as f64;
    figures.per_member_bytes_s = figures.aggregate_bytes_s / members;
    // Crashes.
    let mut crashed = Vec::new();
    for c in 0..crashes {
        let victim = victim(c, n);
        if !sim.hosts[victim].running {
            continue;
        }
        let vid = sim.hosts[victim].engine.node_id();
        crashed.push(vid);
        let start = sim.now;
        sim.kill(victim);
        figures.crashes += 1;
        if sim
            .run_until_cond_every(120_000, 20, |s| s.nobody_knows(vid.get()))
            .is_none()
        {
            figures.undetected += 1;
            continue;
        }
        let times: Vec<u64> = (0..sim.hosts.len())
            .filter(|h| sim.hosts[*h].running)
            .filter_map(|h| {
                sim.hosts[h]
                    .events
                    .iter()
                    .find(|(at, e)| *at >= start && *e == Event::Expired(vid))
                    .map(|(at, _)| (*at - start).total_millis())
            })
            .collect();
        figures.detected(&times);
        sim.run_for(2_000);
    }
    // Removals of live members while the crashes were found.
    figures.live_removed = (0..sim.hosts.len())
        .filter(|h| sim.hosts[*h].running)
        .map(|h| {
            sim.events_since(h, since)
                .iter()
                .filter(|e| match e {
                    Event::Expired(id) | Event::Left(id) => !crashed.contains(id),
                    _ => false,
                })
                .count()
        })
        .sum();
    figures.finish(wall);
    figures
}

#[test]
#[ignore = "figures for the docs: cargo test --release -p omdisc-core --test swim_figures -- --ignored --nocapture"]
fn swim_figures() {
    for (n, multicast, per_mille) in swim_record::selected(&[10, 100, 1_000]) {
        let (steady_s, crashes) = plan(n);
        case(n, multicast, per_mille, steady_s, crashes).report();
    }
}

/// The probe protocol at sizes the simulator cannot hold, as a sampling model with the
/// engine's parameters (500 ms probe interval, 200 ms probe timeout, 3 indirect probes,
/// gossip fan-out 3, suspicion rounds from the miss rate as `swim.rs` computes them):
///
/// * every interval each live member probes one member; a member's probers in one interval
///   are drawn as the round-robin walks of the others give them (each prober's walk visits
///   it once every n − 1 intervals, at a uniformly random phase);
/// * a probe of a live member fails with `q = f² (1 − (1 − f)²)³`, `f = 1 − (1 − p)²`, each
///   datagram lost with probability p (the same legs as the engine's PING, retry and three
///   PING-REQs); a crashed member's probes always fail;
/// * a prober that sees a failure suspects; it re-probes each interval and declares the
///   member dead after `rounds` more failures; any success clears its suspicion;
/// * the death is then known to every member at once with multicast, or spreads by push
///   gossip (each new holder sends it to 3 random members, each copy lost with p, 1 ms a
///   hop) plus piggybacking (every probe and answer carries it to a random member for
///   log2(n) + 2 intervals) without.
///
/// False removals count declared deaths of live members over the steady window, sampled:
/// `members × window / interval` probe rounds, each a Bernoulli run of `rounds + 1`
/// failures in a row.
#[test]
#[ignore = "figures for the docs: cargo test --release -p omdisc-core --test swim_figures -- --ignored --nocapture"]
fn swim_model_figures() {
    for (n, multicast, per_mille) in swim_record::selected(&[100, 1_000, 10_000]) {
        model(n, multicast, per_mille).report();
    }
}

fn model(n: usize, multicast: bool, per_mille: u64) -> Figures {
    let wall = std::time::Instant::now();
    let mut rng = omdisc_core::testing::Rng::new(n as u64 * 31 + per_mille);
    let p = per_mille as f64 / 1000.0;
    let interval = 500u64;
    let f = 1.0 - (1.0 - p) * (1.0 - p);
    let ok = (1.0 - f) * (1.0 - f);
    let q = f * f * (1.0 - ok).powi(3);
    // Rounds as the engine computes them (10^-12 per probe, 2..=12).
    let mut rounds = 0u32;
    let mut prob = q;
    while prob > 1e-12 && rounds < 12 {
        prob *= q;
        rounds += 1;
    }
    let rounds = rounds.max(2);
    let uniform = |rng: &mut omdisc_core::testing::Rng| rng.next_u64() as f64 / u64::MAX as f64;
    // Crash detection: 200 crashes.
    let mut first = Vec::new();
    let mut all = Vec::new();
    for _ in 0..200 {
        // Each other member's walk reaches the victim at a random interval of its lap; in
        // each interval the probers are those whose phase comes up. The first of them to
        // probe starts a suspicion that ends `rounds` intervals later; its probe lands at a
        // uniform point of the interval, and the failure is judged at the interval's end.
        let lap = (n - 1) as u64;
        let mut start = u64::MAX;
        for _ in 0..(n - 1).min(64) {
            // The nearest probers dominate: sampling 64 of them is exact enough for the
            // minimum (each phase uniform over the lap).
            let phase = rng.below(lap.max(1));
            start = start.min(phase);
        }
        let start = if n - 1 > 64 {
            // The minimum of n − 1 uniform phases over a lap of n − 1 intervals is about
            // geometric with mean 1: draw it so.
            let mut k = 0;
            while uniform(&mut rng) > 1.0 - (-1.0f64).exp() && k < 100 {
                k += 1;
            }
            k
        } else {
            start
        };
        let offset = rng.below(interval);
        let declared = start * interval + (interval - offset) + u64::from(rounds) * interval;
        first.push(declared);
        all.push(
            declared
                + if multicast {
                    1
                } else {
                    spread_time(n, p, interval, &mut rng)
                },
        );
    }
    // False removals over 10 minutes of every member probing.
    let window_s = 600u64;
    let probes = n as u64 * window_s * 1000 / interval;
    let expected = probes as f64 * q.powi(rounds as i32 + 1);
    let mut figures = Figures::new("model", n, multicast, per_mille);
    figures.crashes = first.len();
    figures.first = first;
    figures.last = all;
    figures.false_removals = expected.round() as usize;
    figures.steady_s = window_s;
    // Traffic: per member and interval a PING and an ACK of about 120 bytes with UDP/IP
    // headers and one gossip entry, plus the retry and PING-REQs after a failure.
    figures.per_member_bytes_s = 2.0 * 120.0 * (1000.0 / interval as f64) * (1.0 + f * 2.0);
    figures.aggregate_bytes_s = figures.per_member_bytes_s * n as f64;
    figures.finish(wall);
    figures
}

/// Time for a death notice to reach every member by push gossip (fan-out 3 on first
/// receipt, 1 ms a hop) and piggybacking (one random member per member per half interval
/// for log2(n) + 2 intervals), each copy lost with `p`.
fn spread_time(n: usize, p: f64, interval: u64, rng: &mut omdisc_core::testing::Rng) -> u64 {
    let mut informed = vec![false; n];
    let mut when = vec![u64::MAX; n];
    informed[0] = true;
    when[0] = 0;
    let mut frontier = vec![0usize];
    let mut t = 0;
    // Push gossip in hops of 1 ms.
    while !frontier.is_empty() {
        t += 1;
        let mut next = Vec::new();
        for _ in &frontier {
            for _ in 0..3 {
                let to = rng.below(n as u64) as usize;
                if rng.below(1000) < (p * 1000.0) as u64 || informed[to] {
                    continue;
                }
                informed[to] = true;
                when[to] = t;
                next.push(to);
            }
        }
        frontier = next;
    }
    // Piggybacking: every informed member sends it to a random member twice an interval,
    // for log2(n) + 2 intervals after it learned it.
    let rounds = (usize::BITS - n.leading_zeros()) as u64 + 2;
    let mut step = 0;
    while informed.iter().any(|i| !i) && step < 200 {
        step += 1;
        let now = t + step * interval / 2;
        for from in 0..n {
            if !informed[from] || when[from] + rounds * interval < now || when[from] >= now {
                continue;
            }
            let to = rng.below(n as u64) as usize;
            if informed[to] || rng.below(1000) < (p * 1000.0) as u64 {
                continue;
            }
            informed[to] = true;
            when[to] = now;
        }
    }
    when.iter()
        .copied()
        .filter(|w| *w != u64::MAX)
        .max()
        .unwrap_or(0)
}
