//! Membership over a real segment (issue 3): nodes converge, leave on SIGTERM, expire after
//! SIGKILL, and come back at once when restarted. Bounds are the acceptance criteria, with
//! `--interval 0.5 --dead-after 3`.

use std::time::{Duration, Instant};

use nix::sys::signal::Signal;

use super::{binaries_and_dir, step, Ctx, Scenario};
use crate::testbed::Cluster;
use crate::testbed::DaemonHosts;

/// Announce interval used by these scenarios, in seconds.
const INTERVAL: f64 = 0.5;
/// Missed intervals before expiry.
const DEAD_AFTER: u32 = 3;
/// The daemon arguments every node gets.
const DAEMON_ARGS: &[&str] = &["--interval", "0.5", "--dead-after", "3"];

/// All nodes list all nodes within this time after the last one started.
const CONVERGE_BOUND: Duration = Duration::from_secs(2);
/// A SIGTERM'd node is gone from every map within this time.
const LEAVE_BOUND: Duration = Duration::from_secs(1);
/// A restarted node is in every map again within this time.
const REJOIN_BOUND: Duration = Duration::from_secs(1);
/// How long waits go on past a bound, so a failure can say how late it was.
const GRACE: Duration = Duration::from_secs(5);

/// `interval × dead-after + 1 s`: a SIGKILL'd node is gone from every map by then.
fn expiry_bound() -> Duration {
    Duration::from_secs_f64(INTERVAL * f64::from(DEAD_AFTER) + 1.0)
}

/// `interval × (dead-after − 2)`: a SIGKILL'd node is still listed until then, since it was
/// heard at most about one (jittered) interval before the kill. A slower machine only makes
/// the expiry later, so this bound does not depend on machine speed; it shows that
/// `--dead-after` is honoured rather than a node dropped at its first missed announcement.
fn earliest_expiry() -> Duration {
    Duration::from_secs_f64(INTERVAL * f64::from(DEAD_AFTER - 2))
}

/// Eight nodes on one segment converge.
pub(super) const CONVERGE_8: Scenario = Scenario {
    name: "converge-8",
    about: "8 nodes on one segment all list all 8 within 2 s of the last start",
    timeout: Duration::from_secs(60),
    needs_daemon: true,
    run: converge_8,
};

/// A node stopped with SIGTERM leaves every map at once and exits 0.
pub(super) const SIGTERM_LEAVES: Scenario = Scenario {
    name: "sigterm-leaves",
    about: "a SIGTERM'd node is gone from all maps within 1 s and exits 0",
    timeout: Duration::from_secs(60),
    needs_daemon: true,
    run: sigterm_leaves,
};

/// A node killed with SIGKILL expires after the configured intervals.
pub(super) const SIGKILL_EXPIRES: Scenario = Scenario {
    name: "sigkill-expires",
    about: "a SIGKILL'd node is gone from all maps within interval x dead-after + 1 s",
    timeout: Duration::from_secs(60),
    needs_daemon: true,
    run: sigkill_expires,
};

/// Restarted nodes are back at once, and a new incarnation is not expired with the old one.
pub(super) const RESTART_REJOINS: Scenario = Scenario {
    name: "restart-rejoins",
    about: "a restarted node (new incarnation) is back in all maps within 1 s and stays",
    timeout: Duration::from_secs(60),
    needs_daemon: true,
    run: restart_rejoins,
};

/// Starts every host, one after another.
fn start_all(cluster: &mut Cluster) -> Result<(), String> {
    (0..cluster.len()).try_for_each(|i| cluster.start(i))
}

/// A cluster of `count` nodes, all started and converged (within the acceptance bound).
fn converged_cluster(ctx: &Ctx, count: usize, base: [u8; 3]) -> Result<Cluster, String> {
    let (binaries, dir) = binaries_and_dir(ctx)?;
    let mut cluster = Cluster::new(binaries, dir, base, count, DAEMON_ARGS)?;
    start_all(&mut cluster)?;
    let all: Vec<usize> = (0..count).collect();
    let took = cluster.wait_for_maps(&all, &all, CONVERGE_BOUND + GRACE)?;
    step(&format!("{count} nodes converged"), took);
    if took > CONVERGE_BOUND {
        return Err(format!(
            "{count} nodes took {:.2}s to converge (bound {CONVERGE_BOUND:?})",
            took.as_secs_f64()
        ));
    }
    Ok(cluster)
}

fn converge_8(ctx: &Ctx) -> Result<String, String> {
    let (binaries, dir) = binaries_and_dir(ctx)?;
    let mut cluster = Cluster::new(binaries, dir, [10, 77, 1], 8, DAEMON_ARGS)?;
    let first_start = Instant::now();
    start_all(&mut cluster)?;
    step("8 daemons started", first_start.elapsed());
    let all: Vec<usize> = (0..8).collect();
    let took = cluster.wait_for_maps(&all, &all, CONVERGE_BOUND + GRACE)?;
    step("all 8 maps list all 8 nodes, after the last start", took);
    if took > CONVERGE_BOUND {
        return Err(format!(
            "converged {:.2}s after the last start (bound {CONVERGE_BOUND:?})",
            took.as_secs_f64()
        ));
    }
    // Acceptance 3: every map line parses as setpe and ids are the last two octets.
    for i in 0..8 {
        cluster
            .map(i)?
            .check_ids_follow_addresses()
            .map_err(|why| format!("{}: {why}", cluster.label(i)))?;
    }
    Ok(format!(
        "converged {:.2}s after the last start",
        took.as_secs_f64()
    ))
}

fn sigterm_leaves(ctx: &Ctx) -> Result<String, String> {
    let mut cluster = converged_cluster(ctx, 4, [10, 77, 2])?;
    let leaver = 3;
    let pid_file = cluster.map_dir(leaver).join("omdiscd.pid");
    let had_pid_file = pid_file.exists();
    cluster.signal(leaver, Signal::SIGTERM)?;
    let gone = cluster.wait_for_maps(&[0, 1, 2], &[0, 1, 2], LEAVE_BOUND + GRACE)?;
    step("SIGTERM'd node gone from the 3 other maps", gone);
    let status = cluster
        .wait_exit(leaver, Duration::from_secs(5))
        .ok_or("the SIGTERM'd daemon did not exit within 5 s")?;
    if gone > LEAVE_BOUND {
        return Err(format!(
            "the SIGTERM'd node stayed {:.2}s in the maps (bound {LEAVE_BOUND:?})",
            gone.as_secs_f64()
        ));
    }
    if status.code() != Some(0) {
        return Err(format!(
            "the SIGTERM'd daemon exited with {status}, not 0: {}",
            cluster.daemon_output(leaver)
        ));
    }
    if had_pid_file && pid_file.exists() {
        return Err(format!(
            "{} is still there after SIGTERM",
            pid_file.display()
        ));
    }
    Ok(format!(
        "gone from all maps in {:.2}s, exit 0",
        gone.as_secs_f64()
    ))
}

fn sigkill_expires(ctx: &Ctx) -> Result<String, String> {
    let mut cluster = converged_cluster(ctx, 4, [10, 77, 3])?;
    let victim = 3;
    cluster.signal(victim, Signal::SIGKILL)?;
    let bound = expiry_bound();
    let gone = cluster.wait_for_maps(&[0, 1, 2], &[0, 1, 2], bound + GRACE)?;
    step("SIGKILL'd node expired from the 3 other maps", gone);
    if gone > bound {
        return Err(format!(
            "the SIGKILL'd node stayed {:.2}s in the maps (bound {bound:?})",
            gone.as_secs_f64()
        ));
    }
    if gone < earliest_expiry() {
        return Err(format!(
            "the SIGKILL'd node was dropped after {:.2}s, before {} missed intervals could pass",
            gone.as_secs_f64(),
            DEAD_AFTER - 1
        ));
    }
    Ok(format!(
        "expired from all maps in {:.2}s (bound {:.1}s)",
        gone.as_secs_f64(),
        bound.as_secs_f64()
    ))
}

fn restart_rejoins(ctx: &Ctx) -> Result<String, String> {
    let mut cluster = converged_cluster(ctx, 4, [10, 77, 4])?;
    let all = [0, 1, 2, 3];
    let node = 3;

    // Graceful stop, then start again: gone, then back everywhere.
    cluster.signal(node, Signal::SIGTERM)?;
    cluster.wait_for_maps(&[0, 1, 2], &[0, 1, 2], LEAVE_BOUND + GRACE)?;
    cluster
        .wait_exit(node, Duration::from_secs(5))
        .ok_or("the SIGTERM'd daemon did not exit")?;
    cluster.start(node)?;
    let back = cluster.wait_for_maps(&all, &all, REJOIN_BOUND + GRACE)?;
    step("restarted node back in all 4 maps (its own included)", back);
    if back > REJOIN_BOUND {
        return Err(format!(
            "after a restart the node took {:.2}s to be back (bound {REJOIN_BOUND:?})",
            back.as_secs_f64()
        ));
    }

    // Crash and restart at once: the new incarnation must be taken, and must not be expired
    // with the old one's silence.
    cluster.signal(node, Signal::SIGKILL)?;
    cluster
        .wait_exit(node, Duration::from_secs(5))
        .ok_or("the SIGKILL'd daemon did not exit")?;
    cluster.start(node)?;
    let again = cluster.wait_for_maps(&all, &all, REJOIN_BOUND + GRACE)?;
    step("node restarted right after SIGKILL listed by all 4", again);
    if again > REJOIN_BOUND {
        return Err(format!(
            "after a crash and restart the node took {:.2}s to be back (bound {REJOIN_BOUND:?})",
            again.as_secs_f64()
        ));
    }
    std::thread::sleep(expiry_bound());
    for i in all {
        let map = cluster.map(i)?;
        if map.primaries() != cluster.expected(&all).primaries() {
            return Err(format!(
                "{} lost a node after the old incarnation's expiry time: {map}",
                cluster.label(i)
            ));
        }
    }
    cluster.check_running(&all)?;
    Ok(format!(
        "back in {:.2}s after SIGTERM+start, {:.2}s after SIGKILL+start",
        back.as_secs_f64(),
        again.as_secs_f64()
    ))
}
