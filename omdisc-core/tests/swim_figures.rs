//! Figures of unicast membership and the probe protocol (docs/performance.md), from the
//! real engines in the simulator: 10, 100 and 1 000 members, with and without multicast,
//! at 0 % and 25 % random loss — crash detection (first and last map to drop a SIGKILL'd
//! node), false removals, traffic per member and in aggregate, join times.
//!
//! `cargo test --release -p omdisc-core --test swim_figures -- --ignored --nocapture`
//! prints per case a `swim-figure key=value ...` line and the docs table's row
//! (`swim-row`), and keeps the line in docs/swim-figures.txt (`swim_record`); pick cases
//! with `OMDISC_SWIM_SIZES=1000 OMDISC_SWIM_MULTICAST=yes OMDISC_SWIM_LOSS=25`. 10 000
//! members do not fit the simulator (every engine holds a table of every member: 10 000 ×
//! 10 000 × 160 bytes = 16 GB), so `swim_model_figures` gives the crash figures for 10 000
//! (and, to compare, 100 and 1 000) from a model of the protocol (`swim_model`);
//! `model_agrees_with_the_engines` holds the model to the engines at 30 members.

mod sim;
mod swim_model;
mod swim_record;

use omdisc_core::Event;
use sim::{addr, Link, Sim};
use swim_model::Model;
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
    if let Some(ms) = sim.run_until_cond_every(120_000, 100, Sim::converged) {
        // How long the cluster took to form: every map complete, from the last start.
        eprintln!(
            "swim-converged members={n} multicast={} loss_pct={} after_ms={ms}",
            if multicast { "yes" } else { "no" },
            per_mille / 10,
        );
    } else {
        // How far it got: the maps that hold every member, and the most a map lacks.
        let running = sim.running_ids().len();
        let sizes: Vec<usize> = (0..n).map(|h| sim.map_of(h).len()).collect();
        let complete = sizes.iter().filter(|&&s| s == running).count();
        let most_lacking = running - sizes.iter().copied().min().unwrap_or(0);
        eprintln!(
            "swim-unconverged members={n} multicast={} loss_pct={} complete_maps={complete} \
             most_lacking={most_lacking} after_s=120",
            if multicast { "yes" } else { "no" },
            per_mille / 10
        );
        return None;
    }
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

/// The probe protocol's crash detection at sizes the simulator cannot hold, from the model
/// (`swim_model`): 200 crashes a row, the victims spread over the id range as in `case`.
#[test]
#[ignore = "figures for the docs: cargo test --release -p omdisc-core --test swim_figures -- --ignored --nocapture"]
fn swim_model_figures() {
    for (n, multicast, per_mille) in swim_record::selected(&[100, 1_000, 10_000]) {
        let (steady_s, crashes) = plan(n);
        model_case(n, multicast, per_mille, (steady_s, crashes), 200 / crashes).report();
    }
}

/// The model of `n` members plus the newcomer (as the engines have), run as `case` runs
/// the engines (a steady window of `steady_s`, then `crashes` crashes one after another)
/// `runs` times over.
fn model_case(
    n: usize,
    multicast: bool,
    per_mille: u64,
    (steady_s, crashes): (u64, usize),
    runs: usize,
) -> Figures {
    let wall = std::time::Instant::now();
    let mut figures = Figures::new("model", n, multicast, per_mille);
    let mut model = Model::new(n + 1, multicast, per_mille, n as u64 * 31 + per_mille);
    for _ in 0..runs {
        // The members have run through the join, 5 s and the steady window before the
        // first crash, and each crash and 2 s more before the next.
        let mut warm = n as u64 * swim_model::START_GAP + (5 + steady_s) * 1_000;
        for c in 0..crashes {
            let dropped = model.crash(victim(c, n), warm);
            figures.crashes += 1;
            let times: Vec<u64> = dropped.iter().copied().flatten().collect();
            warm += times.iter().max().copied().unwrap_or(swim_model::HORIZON) + 2_000;
            if times.len() < dropped.len() {
                figures.undetected += 1;
                continue;
            }
            figures.detected(&times);
        }
    }
    figures.finish(wall);
    figures
}

/// The model against the engines at 30 members, multicast and 25 % loss (the case with
/// every mechanism: suspicion rounds, missed group copies, stale notices, re-floods):
/// the medians of the first and of the last map to drop a crash within 1 s, and the
/// engines' worst within the model's range.
#[test]
fn model_agrees_with_the_engines() {
    let (n, multicast, per_mille) = (30, true, 250);
    let engines = case(n, multicast, per_mille, 10, 20);
    let model = model_case(n, multicast, per_mille, (10, 20), 20);
    let (e_first, e_first_max) = swim_record::median_max(&engines.first);
    let (e_last, e_last_max) = swim_record::median_max(&engines.last);
    let (m_first, m_first_max) = swim_record::median_max(&model.first);
    let (m_last, m_last_max) = swim_record::median_max(&model.last);
    let report = format!(
        "engines first {e_first}/{e_first_max} last {e_last}/{e_last_max} ms, \
         model first {m_first}/{m_first_max} last {m_last}/{m_last_max} ms"
    );
    println!("{report}");
    assert_eq!(engines.undetected, 0, "{report}");
    assert!(e_first.abs_diff(m_first) <= 1_000, "{report}");
    assert!(e_last.abs_diff(m_last) <= 1_000, "{report}");
    assert!(e_first_max <= m_first_max + 1_000, "{report}");
    assert!(e_last_max <= m_last_max + 1_000, "{report}");
}
