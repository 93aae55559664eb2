//! Crash detection at scale (issue 15): 30 nodes with the announce budget shrunk to
//! `--bandwidth 1000`, so their announce interval stretches as a ~4 000-node cluster's
//! would (`--interval 1 --dead-after 3`). Expiry by silence then takes tens of seconds (52 s
//! measured before the probes); the probes (SWIM) find a SIGKILL'd node in roughly constant
//! time: it must leave every map within 10 s, and nobody else may.
//!
//! Before the kill, every map must stay complete for [`STRETCH`] on end from convergence:
//! the 30 nodes, started together, stretch their announce intervals from 1 s to the budget's
//! ~19 s meanwhile, and no live node may be expired on the way (1 033 `expired` lines in the
//! first 31.6 s before the engine stretched in steps). From start to end, the only node any
//! daemon logs as expired is the SIGKILL'd one.

use std::time::{Duration, Instant};

use nix::sys::signal::Signal;

use super::map_watch::maps_hold;
use super::unicast_setup::{converged, gone_after, start_all};
use super::{binaries_and_dir, step, Ctx, Scenario};
use crate::testbed::{node_id_of, Cluster, DaemonHosts};

/// Nodes of the cluster.
const NODES: usize = 30;
/// The shrunk budget and the timers of the measurement.
const ARGS: &[&str] = &[
    "--bandwidth",
    "1000",
    "--interval",
    "1",
    "--dead-after",
    "3",
];
/// A SIGKILL'd node is gone from every map within this time.
const KILL_BOUND: Duration = Duration::from_secs(10);
/// Time for 30 nodes to converge (not the bound under test).
const SETTLE: Duration = Duration::from_secs(10);
/// The maps must stay complete this long after convergence, before the kill: the stretch to
/// the budget's interval (about 25 s) and a few rounds at ~19 s.
const STRETCH: Duration = Duration::from_secs(60);

/// 30 nodes, a tight budget, one SIGKILL.
pub(super) const PROBE_30: Scenario = Scenario {
    name: "probe-30",
    about: "30 nodes at --bandwidth 1000: no live node expired while the intervals stretch; a SIGKILL'd node leaves every map within 10 s (52 s by expiry)",
    timeout: Duration::from_secs(180),
    needs_daemon: true,
    run: probe_30,
};

fn probe_30(ctx: &Ctx) -> Result<String, String> {
    let (binaries, dir) = binaries_and_dir(ctx)?;
    let mut cluster = Cluster::new(binaries, dir, [10, 77, 156], NODES, ARGS)?;
    let started = Instant::now();
    let all: Vec<usize> = (0..NODES).collect();
    start_all(&mut cluster, &all)?;
    step("30 daemons started", started.elapsed());
    let took = converged(
        &mut cluster,
        &all,
        SETTLE,
        "30 maps list all 30 nodes, after the last start",
    )?;
    maps_hold(&mut cluster, &all, &all, STRETCH)
        .map_err(|e| format!("a live node left a map while the intervals stretched: {e}"))?;
    let flaps = expiries(&cluster, &all, None);
    if flaps != 0 {
        return Err(format!(
            "{flaps} expiries of live nodes logged in the {STRETCH:?} after convergence"
        ));
    }
    step(
        &format!("all 30 maps complete for {STRETCH:?} on end, no node expired"),
        STRETCH,
    );
    let victim = NODES - 1;
    let others: Vec<usize> = (0..victim).collect();
    let gone = gone_after(
        &mut cluster,
        victim,
        Signal::SIGKILL,
        &others,
        KILL_BOUND,
        "SIGKILL'd node gone from the 29 other maps (and nobody else)",
    )?;
    let victim_id = node_id_of(cluster.address(victim));
    let flaps = expiries(&cluster, &others, Some(victim_id));
    if flaps != 0 {
        return Err(format!(
            "{flaps} expiries of live nodes logged from start to end"
        ));
    }
    Ok(format!(
        "30 nodes converged in {:.2}s, no live node expired from start to end ({}s); SIGKILL'd node gone from all maps in {:.2}s",
        took.as_secs_f64(),
        started.elapsed().as_secs(),
        gone.as_secs_f64()
    ))
}

/// `expired` log lines of the daemons of `all` so far, of nodes other than `except`.
fn expiries(cluster: &Cluster, all: &[usize], except: Option<u16>) -> usize {
    let skip = except.map(|id| format!("node {id} expired ("));
    all.iter()
        .map(|&i| {
            let out = cluster.daemon_output(i);
            let total = out.matches(" expired (").count();
            total - skip.as_ref().map_or(0, |s| out.matches(s.as_str()).count())
        })
        .sum()
}
