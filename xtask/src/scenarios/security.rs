//! The cluster key (issue 5): keyed nodes list each other; a node with another key and a
//! node without a key never enter their maps. The refusals are counted (the daemons'
//! counters files), warned about at most once per 10 s, and the unkeyed daemon says once
//! that its cluster is unauthenticated.

use std::path::Path;
use std::time::{Duration, Instant};

use nix::sys::signal::Signal;

use super::map_watch::maps_hold;
use super::wire_tools::write_key_file;
use super::{binaries_and_dir, step, Ctx, Scenario};
use crate::testbed::Cluster;
use crate::testbed::DaemonHosts;

/// Test keys (32 bytes in hex); test material only.
pub(super) const KEY_A: &str = "7365637572697479207363656e6172696f206b65792041202d2d2d2d2d2d2d41";
/// See [`KEY_A`].
pub(super) const KEY_B: &str = "7365637572697479207363656e6172696f206b65792042202d2d2d2d2d2d2d42";

/// Announce fast, expire fast: an intruder would show within a fraction of the watch.
pub(super) const FAST_ARGS: &[&str] = &["--interval", "0.5", "--dead-after", "3"];
/// Time for a start or a change to show in the maps (generous; not a performance bound).
pub(super) const SETTLE: Duration = Duration::from_secs(5);
/// How long the intruders are watched: six announce intervals.
const WATCH: Duration = Duration::from_secs(3);
/// The warning about refused datagrams comes at most this often.
const WARN_INTERVAL: Duration = Duration::from_secs(10);
/// What the warning about refused datagrams starts with.
pub(super) const REFUSAL_WARNING: &str = "warn: refused ";

/// Keyed nodes see each other; another key and no key stay out.
pub(super) const KEYED_MEMBERSHIP: Scenario = Scenario {
    name: "key-keeps-out",
    about: "keyed nodes list each other; a node with another key or none never enters their maps",
    timeout: Duration::from_secs(60),
    needs_daemon: true,
    run: keyed_membership,
};

/// Gives hosts `hosts` of `cluster` the key file `dir/NAME.key` holding `keys`.
pub(super) fn give_keys(
    cluster: &mut Cluster,
    dir: &Path,
    hosts: &[usize],
    keys: &[&str],
) -> Result<(), String> {
    for &i in hosts {
        let path = write_key_file(&dir.join(format!("{}.key", cluster.label(i))), keys)?;
        cluster.set_own_args(i, &["--key-file", &path.display().to_string()]);
    }
    Ok(())
}

/// Stops `hosts` with SIGTERM and returns each one's output (their final counters are then
/// in their counters files).
pub(super) fn stop_all(cluster: &mut Cluster, hosts: &[usize]) -> Result<Vec<String>, String> {
    for &i in hosts {
        cluster.signal(i, Signal::SIGTERM)?;
    }
    let mut outputs = Vec::new();
    for &i in hosts {
        let status = cluster
            .wait_exit(i, Duration::from_secs(5))
            .ok_or_else(|| format!("{} did not exit on SIGTERM", cluster.label(i)))?;
        if status.code() != Some(0) {
            return Err(format!(
                "{} exited with {status}: {}",
                cluster.label(i),
                crate::testbed::tail(&cluster.daemon_output(i), 3)
            ));
        }
        outputs.push(cluster.daemon_output(i));
    }
    Ok(outputs)
}

/// How many rate-limited refusal warnings `output` holds; fails if there are more than
/// one per [`WARN_INTERVAL`] of `ran` (plus the first, which comes at once).
pub(super) fn refusal_warnings(output: &str, ran: Duration) -> Result<usize, String> {
    let warnings = output
        .lines()
        .filter(|l| l.contains(REFUSAL_WARNING))
        .count();
    let allowed = 1 + (ran.as_secs_f64() / WARN_INTERVAL.as_secs_f64()).ceil() as usize;
    if warnings > allowed {
        return Err(format!(
            "{warnings} refusal warnings in {:.1}s (at most {allowed} allowed)",
            ran.as_secs_f64()
        ));
    }
    Ok(warnings)
}

fn keyed_membership(ctx: &Ctx) -> Result<String, String> {
    let (binaries, dir) = binaries_and_dir(ctx)?;
    let mut cluster = Cluster::new(binaries, dir, [10, 77, 50], 5, FAST_ARGS)?;
    let (keyed, other_key, no_key) = ([0, 1, 2], 3, 4);
    give_keys(&mut cluster, dir, &keyed, &[KEY_A])?;
    give_keys(&mut cluster, dir, &[other_key], &[KEY_B])?;
    let started = Instant::now();
    for i in keyed {
        cluster.start(i)?;
    }
    let took = cluster.wait_for_maps(&keyed, &keyed, SETTLE)?;
    step("3 nodes with key A list each other", took);

    cluster.start(other_key)?;
    cluster.start(no_key)?;
    maps_hold(&mut cluster, &keyed, &keyed, WATCH)?;
    step(
        "a node with key B and a node without key stay out of the keyed maps",
        WATCH,
    );
    let lonely = cluster.map(other_key)?;
    if lonely.ids() != [cluster.id(other_key)] {
        return Err(format!(
            "the node with key B lists {lonely}; it should list only itself"
        ));
    }
    cluster.check_running(&[other_key, no_key])?;

    let ran = started.elapsed();
    let outputs = stop_all(&mut cluster, &[0, 1, 2, other_key, no_key])?;
    let mut refused = Vec::new();
    for (&i, output) in keyed.iter().zip(&outputs) {
        let auth = cluster.counters(i)?.get("refused-auth")?;
        if auth == 0 {
            return Err(format!(
                "{} counted no authentication failure",
                cluster.label(i)
            ));
        }
        let warnings = refusal_warnings(output, ran)?;
        let warned = output
            .lines()
            .any(|l| l.contains(REFUSAL_WARNING) && l.contains("failed authentication"));
        if warnings == 0 || !warned {
            return Err(format!(
                "{} refused {auth} datagrams without a warning about failed authentication",
                cluster.label(i)
            ));
        }
        if output.contains("unauthenticated") {
            return Err(format!(
                "keyed {} says it is unauthenticated",
                cluster.label(i)
            ));
        }
        refused.push(format!("{auth} ({warnings} warning)"));
    }
    let unkeyed = &outputs[4];
    let notices = unkeyed
        .lines()
        .filter(|l| l.contains("the cluster is unauthenticated"))
        .count();
    if notices != 1 {
        return Err(format!(
            "the daemon without key said {notices} times that the cluster is unauthenticated (once expected)"
        ));
    }
    step(
        &format!(
            "authentication failures counted per keyed node: {}",
            refused.join(", ")
        ),
        Duration::ZERO,
    );
    Ok(format!(
        "intruders kept out for {:.1}s; refused-auth {}",
        WATCH.as_secs_f64(),
        refused.join(", ")
    ))
}
