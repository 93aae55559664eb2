//! Probes over smoltcp (issue 15): two `omdisc-tap` nodes (smoltcp on TAP devices) and three
//! `omdiscd` nodes on one segment, with an announce interval of 1 s and a silence expiry of
//! 20 intervals. A SIGKILL'd `omdiscd` node, then a SIGKILL'd `omdisc-tap` node, must leave
//! every map, the smoltcp nodes' included, within [`KILL_BOUND`]: found by the probes (SWIM)
//! of both frontends, since silence alone would take 20 s.

use std::time::Duration;

use nix::sys::signal::Signal;

use super::smoltcp_interop::{expected_with, setup, wait_for_maps_of, TapHost, GRACE, JOIN_BOUND};
use super::{binaries_and_dir, step, step_within, Ctx, Scenario};
use crate::testbed::DaemonHosts;

/// Every node's timers: expiry by silence after 20 s.
const ARGS: &[&str] = &["--interval", "1", "--dead-after", "20"];
/// Silence expiry of [`ARGS`].
const SILENCE: Duration = Duration::from_secs(20);
/// A SIGKILL'd node is gone from every map within this time: under a third of [`SILENCE`],
/// so only the probes can meet it.
const KILL_BOUND: Duration = Duration::from_secs(6);
/// Address of the second smoltcp node (the first is at `TAP_IP`, .50).
const TAP2_ADDRESS: &str = "10.77.8.51/24";

/// Two smoltcp nodes and three Linux nodes find a SIGKILL'd node of either kind by probes.
pub(super) const SMOLTCP_PROBES: Scenario = Scenario {
    name: "smoltcp-probes",
    about: "2 omdisc-tap + 3 omdiscd nodes: a SIGKILL'd omdiscd node and a SIGKILL'd omdisc-tap node leave every map within 6 s by probes (silence: 20 s)",
    timeout: Duration::from_secs(180),
    needs_daemon: true,
    run: smoltcp_probes,
};

fn smoltcp_probes(ctx: &Ctx) -> Result<String, String> {
    let (mut cluster, mut tap, binaries) = setup(ctx, [10, 77, 8], ARGS)?;
    let (_, dir) = binaries_and_dir(ctx)?;
    let mut tap2 = TapHost::with_address(
        cluster.bridge(),
        &binaries.omdisc_tap,
        dir,
        "tap2",
        TAP2_ADDRESS,
    )?;
    let taps = [tap.ip()?, tap2.ip()?];
    for host in [&mut tap, &mut tap2] {
        host.set_common_args(ARGS);
        host.start(&[])?;
    }
    let everybody = expected_with(&cluster, &[0, 1, 2], &taps);
    let (linux, smoltcp) = wait_for_maps_of(
        &mut cluster,
        &mut [&mut tap, &mut tap2],
        &binaries,
        &[0, 1, 2],
        &everybody,
        JOIN_BOUND + GRACE,
    )?;
    step("the 5 maps list all 5 nodes", linux.max(smoltcp));

    // A Linux node dies: the other two and both smoltcp nodes drop it.
    cluster.signal(2, Signal::SIGKILL)?;
    cluster
        .wait_exit(2, Duration::from_secs(5))
        .ok_or("the SIGKILL'd omdiscd did not exit")?;
    let four = expected_with(&cluster, &[0, 1], &taps);
    let (linux, smoltcp) = wait_for_maps_of(
        &mut cluster,
        &mut [&mut tap, &mut tap2],
        &binaries,
        &[0, 1],
        &four,
        KILL_BOUND + GRACE,
    )?;
    step("SIGKILL'd omdiscd gone from the 2 Linux maps", linux);
    step_within(
        "SIGKILL'd omdiscd gone from every map, both smoltcp maps included",
        linux.max(smoltcp),
        KILL_BOUND,
    )?;
    let omdiscd_gone = linux.max(smoltcp);

    // A smoltcp node dies: the Linux nodes and the other smoltcp node drop it.
    tap2.process()?.signal(Signal::SIGKILL)?;
    tap2.process()?
        .wait_exit(Duration::from_secs(5))
        .ok_or("the SIGKILL'd omdisc-tap did not exit")?;
    let three = expected_with(&cluster, &[0, 1], &taps[..1]);
    let (linux, smoltcp) = wait_for_maps_of(
        &mut cluster,
        &mut [&mut tap],
        &binaries,
        &[0, 1],
        &three,
        KILL_BOUND + GRACE,
    )?;
    step("SIGKILL'd omdisc-tap gone from the 2 Linux maps", linux);
    step_within(
        "SIGKILL'd omdisc-tap gone from every map, the other smoltcp map included",
        linux.max(smoltcp),
        KILL_BOUND,
    )?;
    let tap_gone = linux.max(smoltcp);

    // The surviving smoltcp node probed and was answered (its counters, logged at exit).
    tap.process()?.signal(Signal::SIGTERM)?;
    tap.wait_left()?;
    let output = tap.process()?.output();
    let (sent, acks) =
        probe_counts(&output).ok_or("omdisc-tap logged no probe counters at exit")?;
    if sent == 0 || acks == 0 {
        return Err(format!(
            "omdisc-tap sent {sent} probes and got {acks} ACKs: it did not probe"
        ));
    }
    step(
        &format!("omdisc-tap sent {sent} probes, got {acks} ACKs"),
        Duration::ZERO,
    );
    Ok(format!(
        "SIGKILL'd omdiscd gone from all maps in {:.2}s, SIGKILL'd omdisc-tap in {:.2}s (bound {:.0}s; silence {:.0}s); omdisc-tap sent {sent} probes, {acks} ACKed",
        omdiscd_gone.as_secs_f64(),
        tap_gone.as_secs_f64(),
        KILL_BOUND.as_secs_f64(),
        SILENCE.as_secs_f64()
    ))
}

/// The probes sent and the ACKs received that `omdisc-tap` logged last
/// (`probes: N sent, M ACKs received, ...`).
fn probe_counts(output: &str) -> Option<(u64, u64)> {
    let line = output
        .lines()
        .rev()
        .filter(|l| l.contains(" ACKs received"))
        .find_map(|l| l.split("probes: ").nth(1))?;
    let mut words = line.split_whitespace();
    let sent = words.next()?.parse().ok()?;
    let acks = words.nth(1)?.parse().ok()?;
    Some((sent, acks))
}

#[cfg(test)]
mod tests {
    use super::probe_counts;

    #[test]
    fn the_probe_counters_are_read_from_the_exit_log() {
        let log = "[omdisc-tap] probes: 12 sent, 10 ACKs received, 1 indirect; 2 suspicions, 1 confirmed dead\n";
        assert_eq!(probe_counts(log), Some((12, 10)));
        assert_eq!(probe_counts("node 2 failed its probes: removed"), None);
    }
}
