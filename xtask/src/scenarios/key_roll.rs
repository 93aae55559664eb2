//! Key rotation (issue 5): a cluster on key A rolls to key B with SIGHUP, one node at a
//! time, and no map ever loses a member. The roll has three rounds, each applied node by
//! node with a pause longer than the expiry time after every SIGHUP (so a node that could
//! not be verified would be seen expiring):
//!
//! 1. `A, B` — A still signs, B is accepted too;
//! 2. `B, A` — B signs, A is still accepted (from nodes not switched yet);
//! 3. `B` — A is retired.
//!
//! Afterwards a node on key A stays out, and one on key B joins. On the way, a key file
//! that cannot be used (group-readable) is refused on SIGHUP and the node keeps its keys.

use std::os::unix::fs::PermissionsExt;
use std::time::Duration;

use nix::sys::signal::Signal;

use super::map_watch::maps_hold;
use super::security::{give_keys, stop_all, KEY_A, KEY_B, SETTLE};
use super::wire_tools::write_key_file;
use super::{binaries_and_dir, step, Ctx, Scenario};
use crate::testbed::Cluster;
use crate::testbed::DaemonHosts;

/// The cluster rolls from key A to key B without losing a member.
pub(super) const KEY_ROLL: Scenario = Scenario {
    name: "key-roll-sighup",
    about:
        "a 3-node cluster rolls from key A to key B by SIGHUP, node by node, never losing a member",
    timeout: Duration::from_secs(90),
    needs_daemon: true,
    run: key_roll,
};

/// Fast rounds: a node that cannot be verified expires after 3 × 1.23 × 0.25 s ≈ 0.92 s.
const ROLL_ARGS: &[&str] = &["--interval", "0.25", "--dead-after", "3"];
/// Watched after each SIGHUP: longer than the expiry time.
const PAUSE: Duration = Duration::from_millis(1200);

fn key_roll(ctx: &Ctx) -> Result<String, String> {
    let (binaries, dir) = binaries_and_dir(ctx)?;
    let mut cluster = Cluster::new(binaries, dir, [10, 77, 52], 4, ROLL_ARGS)?;
    let members = [0, 1, 2];
    give_keys(&mut cluster, dir, &members, &[KEY_A])?;
    for i in members {
        cluster.start(i)?;
    }
    let took = cluster.wait_for_maps(&members, &members, SETTLE)?;
    step("3 nodes on key A", took);

    let mut polls = 0;
    let rounds: [(&str, &[&str]); 3] = [
        ("A, B (A signs)", &[KEY_A, KEY_B]),
        ("B, A (B signs)", &[KEY_B, KEY_A]),
        ("B only", &[KEY_B]),
    ];
    for (what, keys) in rounds {
        for i in members {
            let path = dir.join(format!("{}.key", cluster.label(i)));
            write_key_file(&path, keys)?;
            cluster.signal(i, Signal::SIGHUP)?;
            polls += maps_hold(&mut cluster, &members, &members, PAUSE).map_err(|why| {
                format!("round {what}, after {}'s SIGHUP: {why}", cluster.label(i))
            })?;
        }
        step(
            &format!("round {what}: all 3 reloaded, maps whole"),
            PAUSE * 3,
        );
    }

    // A key file that cannot be used is refused on SIGHUP; the node keeps its keys.
    let path = dir.join(format!("{}.key", cluster.label(0)));
    write_key_file(&path, &[KEY_A])?;
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o640))
        .map_err(|e| format!("cannot chmod {}: {e}", path.display()))?;
    cluster.signal(0, Signal::SIGHUP)?;
    polls += maps_hold(&mut cluster, &members, &members, PAUSE)
        .map_err(|why| format!("after a refused key file: {why}"))?;
    if !cluster
        .daemon_output(0)
        .contains("keeping the current keys")
    {
        return Err("a group-readable key file on SIGHUP was not refused with a warning".into());
    }
    step(
        "group-readable key file refused on SIGHUP, keys kept",
        PAUSE,
    );

    // The roll is over: a node with key A stays out, a node with key B joins.
    let newcomer = 3;
    give_keys(&mut cluster, dir, &[newcomer], &[KEY_A])?;
    cluster.start(newcomer)?;
    polls += maps_hold(&mut cluster, &members, &members, PAUSE)
        .map_err(|why| format!("a node on the retired key A: {why}"))?;
    cluster.signal(newcomer, Signal::SIGTERM)?;
    cluster
        .wait_exit(newcomer, Duration::from_secs(5))
        .ok_or("the node on key A did not exit")?;
    give_keys(&mut cluster, dir, &[newcomer], &[KEY_B])?;
    cluster.start(newcomer)?;
    let all = [0, 1, 2, 3];
    let joined = cluster.wait_for_maps(&all, &all, SETTLE)?;
    step("retired key A stays out, key B joins", PAUSE + joined);

    let outputs = stop_all(&mut cluster, &all)?;
    for (i, output) in outputs.iter().take(3).enumerate() {
        let reloads = output.matches("SIGHUP: reloaded").count();
        if reloads != 3 {
            return Err(format!(
                "{} logged {reloads} key reloads, 3 expected",
                cluster.label(i)
            ));
        }
    }
    Ok(format!(
        "3 rounds x 3 SIGHUPs, maps checked {polls} times, never short of a member"
    ))
}
