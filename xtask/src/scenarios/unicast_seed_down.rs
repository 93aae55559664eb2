//! Seeds that are down (issue 15): "retried with back-off, logged once, never fatal". A
//! unicast-only node starts seeded on a host whose daemon is not running yet and on an
//! address where no host is at all. In [`WATCH`] the engine contacts each seed at 0, 1, 3
//! and 7 s (back-off from 1 s, doubling), and warns at the fourth contact: each seed's
//! "does not answer" line is written once, the contacts are fewer than one a second, and
//! the daemon keeps running alone. When the first seed's daemon starts (seeded on the
//! node) both maps list both within the join bound and the seed's answer is logged once;
//! neither seed's silence is logged again.

use std::time::{Duration, Instant};

use super::unicast_setup::{
    converged, unicast_only, wait_for_line, CONVERGE_BOUND, GRACE, UNICAST_ARGS,
};
use super::wire_tools::PORT;
use super::{binaries_and_dir, step, Ctx, Scenario};
use crate::testbed::{Cluster, DaemonHosts};

/// How long the node runs with both seeds down: past four retries of each.
const WATCH: Duration = Duration::from_secs(10);
/// An address on the segment where no host is.
const NOBODY: &str = "10.77.163.99";

/// A seed down, then up.
pub(super) const UNICAST_SEED_DOWN: Scenario = Scenario {
    name: "unicast-seed-down",
    about: "seeds that are down: each logged once, never fatal; the seed that comes up joins",
    timeout: Duration::from_secs(60),
    needs_daemon: true,
    run: unicast_seed_down,
};

fn unicast_seed_down(ctx: &Ctx) -> Result<String, String> {
    let (binaries, dir) = binaries_and_dir(ctx)?;
    let mut cluster = Cluster::new(binaries, dir, [10, 77, 163], 2, UNICAST_ARGS)?;
    let (node, seed) = (0, 1);
    let seed_address = cluster.address(seed).to_string();
    let node_address = cluster.address(node).to_string();
    unicast_only(
        &mut cluster,
        node,
        &["--peer", &seed_address, "--peer", NOBODY],
    )?;
    unicast_only(&mut cluster, seed, &["--peer", &node_address])?;
    let started = Instant::now();
    cluster.start(node)?;
    let silent: Vec<String> = [seed_address.as_str(), NOBODY]
        .iter()
        .map(|a| format!("warn: seed {a}:{PORT} does not answer"))
        .collect();
    for line in &silent {
        wait_for_line(&cluster, node, line, WATCH)?;
    }
    std::thread::sleep(WATCH.saturating_sub(started.elapsed()));
    cluster.check_running(&[node])?;
    let once = |cluster: &Cluster| -> Result<(), String> {
        let output = cluster.daemon_output(node);
        for line in &silent {
            let count = output.matches(line.as_str()).count();
            if count != 1 {
                return Err(format!("{line:?} was logged {count} times, not once"));
            }
        }
        Ok(())
    };
    once(&cluster)?;
    // SIGUSR1 twice: the counters now, debug output on and off again.
    let contacts = cluster.fresh_counters(node)?.get("seed-contacts")?;
    cluster.fresh_counters(node)?;
    if !(2 * 3..=2 * 5).contains(&contacts) {
        return Err(format!(
            "{contacts} contacts of the 2 silent seeds in {WATCH:?}: 4 each with back-off (0, 1, 3, 7 s)"
        ));
    }
    let alone = cluster.map(node)?;
    if alone.len() != 1 {
        return Err(format!("with its seeds down the node lists {alone}"));
    }
    step(
        &format!("2 seeds down: each logged once, {contacts} contacts (back-off), the daemon runs on alone"),
        started.elapsed(),
    );

    cluster.start(seed)?;
    let took = converged(
        &mut cluster,
        &[node, seed],
        CONVERGE_BOUND,
        "the seed's daemon started: both maps list both",
    )?;
    let answered = format!("seed {seed_address}:{PORT} answered");
    wait_for_line(&cluster, node, &answered, GRACE)?;
    std::thread::sleep(Duration::from_secs(1));
    let count = cluster.daemon_output(node).matches(&answered).count();
    if count != 1 {
        return Err(format!("{answered:?} was logged {count} times, not once"));
    }
    once(&cluster)?;
    cluster.check_running(&[node, seed])?;
    Ok(format!(
        "2 seeds down for {}s: one line each, never fatal; the seed up joined in {:.2}s",
        WATCH.as_secs(),
        took.as_secs_f64()
    ))
}
