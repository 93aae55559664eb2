//! Hostile input (issue 5): a 5-second flood of random and hostile datagrams (see
//! [`Hostile`]) on the segment of a keyed cluster. Every daemon stays alive, its map never
//! lists anything but the members, and it stays responsive: a node that joins during the
//! flood appears in every map. Every class of hostile datagram is counted under its
//! refusal counter. Reported: the send rate achieved, what the daemons received, and the
//! CPU time they used during the flood (figures, not assertions: they depend on the
//! machine).

use std::collections::BTreeMap;
use std::net::Ipv4Addr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use nix::sys::signal::Signal;
use omdisc_core::testing::Rng;

use super::hostile::{Cast, Hostile};
use super::security::{give_keys, refusal_warnings, stop_all, FAST_ARGS, KEY_A, KEY_B, SETTLE};
use super::wire_tools::{GroupSender, SEND_BATCH};
use super::{binaries_and_dir, step, Ctx, Scenario};
use crate::proc_stats::cpu_time;
use crate::testbed::DaemonHosts;
use crate::testbed::{Cluster, Membership};

/// The cluster keeps its map and its responsiveness through a flood.
pub(super) const FLOOD: Scenario = Scenario {
    name: "flood-hostile",
    about: "a 5 s flood of random and hostile datagrams: daemons alive, maps intact, a join still shows",
    timeout: Duration::from_secs(90),
    needs_daemon: true,
    run: flood,
};

/// How long the flood lasts.
const FLOOD_TIME: Duration = Duration::from_secs(5);
/// Most datagrams each flood thread sends (it also stops after [`FLOOD_TIME`]).
const FLOOD_LIMIT: u64 = 2_000_000;
/// Threads sending the flood (the sending thread also pays for the delivery into every
/// namespace on the bridge, so one thread is held back by that work, not by the syscalls).
const FLOOD_THREADS: usize = 3;
/// Distinct datagrams prepared before the flood (sent round-robin).
const POOL: usize = 13 * 512;
/// When, into the flood, the joining node starts.
const JOIN_AT: Duration = Duration::from_millis(1500);
/// The receivers' hop limit (the daemon's default).
const HOP_LIMIT: u8 = 4;

/// What the flooder did.
#[derive(Debug, Default)]
struct FloodReport {
    sent: u64,
    failed: u64,
    elapsed: Duration,
    per_class: BTreeMap<Hostile, u64>,
}

impl FloodReport {
    /// The reports of several flood threads as one (the longest elapsed time).
    fn sum(reports: Vec<FloodReport>) -> FloodReport {
        let mut total = FloodReport::default();
        for report in reports {
            total.sent += report.sent;
            total.failed += report.failed;
            total.elapsed = total.elapsed.max(report.elapsed);
            for (class, count) in report.per_class {
                *total.per_class.entry(class).or_default() += count;
            }
        }
        total
    }
}

fn flood(ctx: &Ctx) -> Result<String, String> {
    let (binaries, dir) = binaries_and_dir(ctx)?;
    // Hosts 0-2: keyed members; 3: joins during the flood; 4: the flooder's namespace.
    let mut cluster = Cluster::new(binaries, dir, [10, 77, 53], 5, FAST_ARGS)?;
    let (members, joiner, flooder) = ([0, 1, 2], 3, 4);
    give_keys(&mut cluster, dir, &[0, 1, 2, joiner], &[KEY_A])?;
    for i in members {
        cluster.start(i)?;
    }
    cluster.wait_for_maps(&members, &members, SETTLE)?;
    let flooder_ip = Ipv4Addr::new(10, 77, 53, 15);
    let cast = Cast::new(
        KEY_A,
        KEY_B,
        (cluster.id(0), Ipv4Addr::new(10, 77, 53, 11)),
        (cluster.id(flooder), flooder_ip),
        HOP_LIMIT,
    )?;
    let pool = prepare(&cast);
    let sender = GroupSender::open(cluster.namespace(flooder), flooder_ip)?;
    let pids: Vec<i32> = members
        .iter()
        .map(|&i| cluster.pid(i).ok_or("a member has no pid"))
        .collect::<Result<_, _>>()?;
    let cpu_before = pids
        .iter()
        .map(|&p| cpu_time(p))
        .collect::<Result<Vec<_>, _>>()?;

    // One daemon floods its log at debug level, within the per-second cap.
    let debug_node = 1;
    cluster.signal(debug_node, Signal::SIGUSR1)?;
    let started = Instant::now();
    let stop = AtomicBool::new(false);
    let (reports, watched) = std::thread::scope(|scope| {
        let flooding: Vec<_> = (0..FLOOD_THREADS)
            .map(|_| scope.spawn(|| send_flood(&sender, &pool, &stop)))
            .collect();
        let watched = watch_during_flood(&mut cluster, &members, joiner, flooder);
        stop.store(true, Ordering::SeqCst);
        let reports: Result<Vec<FloodReport>, _> = flooding.into_iter().map(|t| t.join()).collect();
        (reports, watched)
    });
    let report = reports
        .map(FloodReport::sum)
        .map_err(|_| "a flood thread panicked".to_string())?;
    cluster.signal(debug_node, Signal::SIGUSR1)?;
    let debug_for = started.elapsed();
    let cpu_after = pids
        .iter()
        .map(|&p| cpu_time(p))
        .collect::<Result<Vec<_>, _>>()?;
    let join_took = watched?;
    let rate = report.sent as f64 / report.elapsed.as_secs_f64().max(1e-3);
    step(
        &format!(
            "flood: {} datagrams in {:.2}s = {:.0}/s ({} send errors)",
            report.sent,
            report.elapsed.as_secs_f64(),
            rate,
            report.failed
        ),
        Duration::ZERO,
    );
    step(
        &format!("node joining {JOIN_AT:?} into the flood listed by all 4"),
        join_took,
    );
    let cpu: Vec<String> = cpu_before
        .iter()
        .zip(&cpu_after)
        .map(|(b, a)| format!("{:.2}s", (a.saturating_sub(*b)).as_secs_f64()))
        .collect();
    step(
        &format!("daemon CPU time during the flood: {}", cpu.join(", ")),
        Duration::ZERO,
    );

    let all = [0, 1, 2, joiner];
    cluster.wait_for_maps(&all, &all, SETTLE)?;
    let ran = started.elapsed();
    let outputs = stop_all(&mut cluster, &all)?;
    let mut received = Vec::new();
    for (&i, output) in members.iter().zip(&outputs) {
        let counters = cluster.counters(i)?;
        let counter = |name: &str| counters.get(name);
        for (class, sent) in &report.per_class {
            if *sent > 0 && counter(class.counter())? == 0 {
                return Err(format!(
                    "{} counted no {} although {sent} {class:?} datagrams were sent",
                    cluster.label(i),
                    class.counter()
                ));
            }
        }
        refusal_warnings(output, ran).map_err(|why| format!("{}: {why}", cluster.label(i)))?;
        // Several datagrams wait during a flood: the daemon must take them in batches.
        let (got, calls) = (counter("received")?, counter("recvmmsg")?);
        if got <= calls {
            return Err(format!(
                "{} received {got} datagrams in {calls} recvmmsg calls: no batching",
                cluster.label(i)
            ));
        }
        received.push(format!(
            "{} received {} in {} recvmmsg calls (refused: auth {}, malformed {}, oversize {}, spoofed {}, hop-limit {})",
            cluster.label(i),
            got,
            calls,
            counter("refused-auth")?,
            counter("refused-malformed")?,
            counter("refused-oversize")?,
            counter("refused-spoofed")?,
            counter("refused-hop-limit")?,
        ));
    }
    for line in &received {
        step(line, Duration::ZERO);
    }
    let debug_lines = debug_lines_within_cap(&outputs[debug_node], debug_for)?;
    step(
        &format!("debug on during the flood: {debug_lines} lines about refused datagrams"),
        Duration::ZERO,
    );
    Ok(format!(
        "{:.0} datagrams/s for {:.1}s; join shown after {:.2}s; daemon CPU {}",
        rate,
        report.elapsed.as_secs_f64(),
        join_took.as_secs_f64(),
        cpu.join("/")
    ))
}

/// Most debug lines about single refused datagrams per second (omdisc-std's
/// `refusal_log::DEBUG_LINES_PER_SECOND`).
const DEBUG_LINES_PER_SECOND: f64 = 20.0;

/// With debug output on for `period` during the flood, the lines naming single refused
/// datagrams stay within the per-second cap, and the skipped ones are summed up.
fn debug_lines_within_cap(output: &str, period: Duration) -> Result<usize, String> {
    let lines = output
        .lines()
        .filter(|l| l.contains("refused a datagram of"))
        .count();
    let cap = (DEBUG_LINES_PER_SECOND * (period.as_secs_f64().ceil() + 1.0)) as usize;
    if lines == 0 || lines > cap {
        return Err(format!(
            "{lines} debug lines about refused datagrams in {:.1}s (1 to {cap} expected)",
            period.as_secs_f64()
        ));
    }
    if !output.contains("more refused datagrams were not logged") {
        return Err("no debug line says how many refused datagrams were not logged".into());
    }
    Ok(lines)
}

/// [`POOL`] datagrams, the classes in turn.
fn prepare(cast: &Cast) -> Vec<(Hostile, Vec<u8>)> {
    let mut rng = Rng::new(0x5ec_f100d);
    (0..POOL)
        .map(|i| {
            let class = Hostile::ALL[i % Hostile::ALL.len()];
            (class, class.make(cast, &mut rng))
        })
        .collect()
}

/// Sends the pool round-robin as fast as the socket takes it, for at most [`FLOOD_TIME`]
/// and [`FLOOD_LIMIT`] datagrams, or until `stop`.
fn send_flood(sender: &GroupSender, pool: &[(Hostile, Vec<u8>)], stop: &AtomicBool) -> FloodReport {
    let mut report = FloodReport::default();
    let mut sent_per_slot = vec![0u64; pool.len()];
    let datagrams: Vec<&[u8]> = pool.iter().map(|(_, bytes)| bytes.as_slice()).collect();
    let started = Instant::now();
    'flood: while report.sent + report.failed < FLOOD_LIMIT {
        for (index, chunk) in datagrams.chunks(SEND_BATCH).enumerate() {
            let sent = sender.send_batch(chunk);
            let first = index * SEND_BATCH;
            for count in &mut sent_per_slot[first..first + sent] {
                *count += 1;
            }
            report.sent += sent as u64;
            report.failed += (chunk.len() - sent) as u64;
        }
        if started.elapsed() >= FLOOD_TIME || stop.load(Ordering::SeqCst) {
            break 'flood;
        }
    }
    report.elapsed = started.elapsed();
    for ((class, _), count) in pool.iter().zip(sent_per_slot) {
        *report.per_class.entry(*class).or_default() += count;
    }
    report
}

/// While the flood runs: the members' maps list exactly the members (and the joiner once
/// it is everywhere), never the flooder; the joiner, started [`JOIN_AT`] into the flood,
/// must be listed by all within the flood. Returns how long the join took to show.
fn watch_during_flood(
    cluster: &mut Cluster,
    members: &[usize],
    joiner: usize,
    flooder: usize,
) -> Result<Duration, String> {
    let started = Instant::now();
    let before = cluster.expected(members).primaries();
    let with_joiner: Vec<usize> = members.iter().copied().chain([joiner]).collect();
    let after = cluster.expected(&with_joiner).primaries();
    let mut join_started = None;
    let mut join_shown = None;
    while started.elapsed() < FLOOD_TIME {
        if join_started.is_none() && started.elapsed() >= JOIN_AT {
            cluster.start(joiner)?;
            join_started = Some(Instant::now());
        }
        let observers: Vec<usize> = if join_started.is_some() {
            with_joiner.clone()
        } else {
            members.to_vec()
        };
        cluster.check_running(&observers)?;
        let mut maps: Vec<Membership> = Vec::new();
        for &o in &observers {
            match cluster.map(o) {
                Ok(map) => maps.push(map),
                // The joiner writes its first map a moment after it starts.
                Err(_) if o == joiner => maps.push(Membership::default()),
                Err(why) => return Err(why),
            }
        }
        for (map, &o) in maps.iter().zip(&observers) {
            if map.contains(cluster.id(flooder)) {
                return Err(format!("{} lists the flooder: {map}", cluster.label(o)));
            }
            let now = map.primaries();
            let allowed = now == before && o != joiner || now == after;
            let joiner_partial = o == joiner && now.iter().all(|(id, a)| after.get(id) == Some(a));
            if !allowed && !joiner_partial {
                return Err(format!(
                    "after {:.2}s of flood {}'s map is {map}",
                    started.elapsed().as_secs_f64(),
                    cluster.label(o)
                ));
            }
        }
        if join_shown.is_none() && maps.iter().all(|m| m.primaries() == after) {
            join_shown = join_started.map(|t| t.elapsed());
        }
        std::thread::sleep(super::map_watch::WATCH_POLL);
    }
    join_shown.ok_or_else(|| {
        format!(
            "the node that joined {JOIN_AT:?} into the flood was not listed by all 4 before the flood ended: {}",
            cluster.describe_maps(&with_joiner)
        )
    })
}
