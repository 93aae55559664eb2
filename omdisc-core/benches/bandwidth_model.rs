//! The analytic model of the announce traffic, from the engine's own formulas
//! ([`deterministic_interval`], [`advertised_interval`]), for clusters of 10 to 65 535
//! nodes: what the whole segment carries (every host receives all of it), how often each
//! node announces, and how long a crash goes unnoticed. `cargo xtask bench` prints it next
//! to the simulator's measurements; `cargo bench -p omdisc-core --bench bandwidth_model`
//! prints it alone.
//!
//! The model: every member announces once per `Td` on average (the simulator confirms it:
//! 257.5 datagrams/s measured for 1 000 nodes against 1 000 / 3.875 s = 258.1 modelled),
//! so the segment carries `N / Td` datagrams per second; a node that crashes is dropped by
//! the others `dead_after × A` after its last announcement, where `A` is the advertised
//! interval (the longest gap), i.e. between `(dead_after − 1) × A` and `dead_after × A`
//! after the crash. A new node announces at once, so it is in every table one delivery
//! after it starts, at any size; the others' answers reach it within the reply window
//! (200 ms, or `Td` in a cluster large enough for the budget to bind).
//!
//! Output lines starting with `model` are parsed by xtask: `model KEY N Td_ms A_ms
//! datagrams_per_s bytes_per_s unbounded_datagrams_per_s crash_min_ms crash_max_ms
//! newcomer_ms`.

use omdisc_core::testing::{advertised_interval, deterministic_interval};
use omdisc_core::{Config, NodeEntry, NodeId};

/// Cluster sizes of the model.
const SIZES: [usize; 5] = [10, 100, 1_000, 10_000, 65_535];
/// One IPv4 address per announcement: 28-byte header + 6-byte address entry + UDP/IPv4
/// headers (28), and with a cluster key the 17-byte trailer.
const SIZE_PLAIN: u32 = 28 + 6 + 28;
const SIZE_KEYED: u32 = SIZE_PLAIN + 17;

fn main() {
    // The daemon's defaults: 1 s interval, dead after 5, 128 kbit/s budget.
    let config = Config::new(NodeId::MIN, 1);
    let dead_after = u64::from(config.dead_after);
    println!(
        "analytic model (omdiscd defaults: --interval 1 --dead-after 5 --bandwidth {}), every host receives the whole segment's traffic",
        config.bandwidth
    );
    for (key, size) in [("plain", SIZE_PLAIN), ("keyed", SIZE_KEYED)] {
        println!("\n{key} announcements ({size} bytes on the wire, UDP/IPv4 headers included)");
        println!(
            "{:>6} {:>9} {:>9} {:>12} {:>10} {:>9}  {:>16} {:>16} {:>13}",
            "nodes",
            "Td",
            "advert.",
            "datagrams/s",
            "bytes/s",
            "bit/s",
            "no budget: dg/s",
            "crash dropped",
            "newcomer map"
        );
        for n in SIZES {
            let td = deterministic_interval(&config, n, size);
            let advertised = advertised_interval(td);
            let td_s = td.total_millis() as f64 / 1000.0;
            let datagrams = n as f64 / td_s;
            let bytes = datagrams * f64::from(size);
            let unbounded = n as f64 / (config.interval.total_millis() as f64 / 1000.0);
            let a = advertised.total_millis();
            let (crash_min, crash_max) = ((dead_after - 1) * a, dead_after * a);
            let newcomer = if td > config.interval {
                td
            } else {
                config.reply_window
            };
            println!(
                "{n:>6} {:>8.3}s {:>8.3}s {datagrams:>12.1} {bytes:>10.0} {:>9.0}  {unbounded:>16.0} {:>7.1}–{:>6.1}s {:>12.3}s",
                td_s,
                a as f64 / 1000.0,
                bytes * 8.0,
                crash_min as f64 / 1000.0,
                crash_max as f64 / 1000.0,
                newcomer.total_millis() as f64 / 1000.0,
            );
            println!(
                "model {key} {n} {} {a} {datagrams:.1} {bytes:.0} {unbounded:.0} {crash_min} {crash_max} {}",
                td.total_millis(),
                newcomer.total_millis()
            );
        }
    }
    // For the simulator's comparison: its engines expire after 3 missed intervals
    // (`SIM_DEAD_AFTER` in tests/sim).
    let mut sim = Config::new(NodeId::MIN, 1);
    sim.dead_after = 3;
    for n in [2, 10, 100, 1_000] {
        let td = deterministic_interval(&sim, n, SIZE_PLAIN);
        let a = advertised_interval(td).total_millis();
        println!(
            "model sim {n} {} {a} {:.1} 0 0 {} {} 0",
            td.total_millis(),
            n as f64 * 1000.0 / td.total_millis() as f64,
            u64::from(sim.dead_after - 1) * a,
            u64::from(sim.dead_after) * a
        );
    }
    let entry = std::mem::size_of::<NodeEntry>();
    println!(
        "\nnode table: {entry} bytes per entry; the daemon's 65 535 + 1 024 entries take {:.1} MiB",
        (entry * (65_535 + 1024)) as f64 / (1 << 20) as f64
    );
}
