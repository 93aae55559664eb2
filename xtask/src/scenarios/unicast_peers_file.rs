//! `--peers-file` re-read on SIGHUP (issue 15): a unicast-only node whose peers file names
//! no seed stays alone; a bad file sent with SIGHUP keeps the seeds in use and says so in
//! one line; the file naming a member, sent with SIGHUP, brings the node in within the join
//! bound, and the seed's first answer is logged once.

use std::path::Path;
use std::time::{Duration, Instant};

use nix::sys::signal::Signal;

use super::unicast_setup::{unicast_only, wait_for_line, CONVERGE_BOUND, UNICAST_ARGS};
use super::{binaries_and_dir, step, step_within, Ctx, Scenario};
use crate::testbed::{Cluster, DaemonHosts};

/// How long a log line may take to show in the daemon's output.
const LOG_WAIT: Duration = Duration::from_secs(3);
/// How long the lone node is watched.
const ALONE: Duration = Duration::from_secs(1);

/// The peers file re-read on SIGHUP.
pub(super) const UNICAST_PEERS_FILE: Scenario = Scenario {
    name: "unicast-peers-file",
    about:
        "--peers-file re-read on SIGHUP: a bad file keeps the seeds (one line), a good one joins",
    timeout: Duration::from_secs(60),
    needs_daemon: true,
    run: unicast_peers_file,
};

fn write(path: &Path, text: &str) -> Result<(), String> {
    let temporary = path.with_extension("new");
    std::fs::write(&temporary, text)
        .and_then(|()| std::fs::rename(&temporary, path))
        .map_err(|e| format!("cannot write {}: {e}", path.display()))
}

fn unicast_peers_file(ctx: &Ctx) -> Result<String, String> {
    let (binaries, dir) = binaries_and_dir(ctx)?;
    let mut cluster = Cluster::new(binaries, dir, [10, 77, 158], 2, UNICAST_ARGS)?;
    let (member, node) = (0, 1);
    let peers = dir.join("peers");
    write(&peers, "# no seed yet\n")?;
    let peers_arg = peers.display().to_string();
    unicast_only(&mut cluster, member, &[])?;
    unicast_only(&mut cluster, node, &["--peers-file", &peers_arg])?;
    cluster.start(member)?;
    cluster.start(node)?;
    cluster.wait_for_maps(&[member], &[member], Duration::from_secs(5))?;
    cluster.wait_for_maps(&[node], &[node], Duration::from_secs(5))?;
    std::thread::sleep(ALONE);
    for i in [member, node] {
        if cluster.map(i)?.len() != 1 {
            return Err(format!("{} is not alone without seeds", cluster.label(i)));
        }
    }
    step("without a seed each node lists only itself", ALONE);

    write(&peers, "# a typo\n10.77.158.x\n")?;
    cluster.signal(node, Signal::SIGHUP)?;
    wait_for_line(
        &cluster,
        node,
        "line 2: invalid peer \"10.77.158.x\"",
        LOG_WAIT,
    )?;
    wait_for_line(&cluster, node, "keeping the current seeds", LOG_WAIT)?;
    step(
        "bad peers file on SIGHUP: one line, the seeds kept",
        Duration::ZERO,
    );

    let seed = cluster.address(member);
    write(&peers, &format!("# the first member\n{seed}\n"))?;
    let sent = Instant::now();
    cluster.signal(node, Signal::SIGHUP)?;
    cluster.wait_for_maps(&[member, node], &[member, node], CONVERGE_BOUND + LOG_WAIT)?;
    let took = sent.elapsed();
    step_within(
        "after SIGHUP with a seed, both maps list both",
        took,
        CONVERGE_BOUND,
    )?;
    let line = format!("seed {seed}:7477 answered");
    wait_for_line(&cluster, node, &line, LOG_WAIT)?;
    std::thread::sleep(ALONE);
    let answered = cluster.daemon_output(node).matches(&line).count();
    if answered != 1 {
        return Err(format!(
            "the seed's answer was logged {answered} times, not once"
        ));
    }
    cluster.check_running(&[member, node])?;
    Ok(format!(
        "bad file kept the seeds; the good one joined in {:.2}s; seed answer logged once",
        took.as_secs_f64()
    ))
}
