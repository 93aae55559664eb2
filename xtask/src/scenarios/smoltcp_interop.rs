//! The smoltcp frontend on a real wire (issue 6): `omdisc-tap` — an omdisc node on smoltcp
//! with its own MAC and IP on a TAP device — in a host namespace whose kernel bridges the
//! TAP onto the segment of three Linux `omdiscd` nodes.
//!
//! * `smoltcp-interop`: every Linux map lists the smoltcp node and the smoltcp node's map
//!   lists all three; SIGTERM makes it send LEAVE (gone from the Linux maps at once) and
//!   exit 0; started again it is back; SIGKILL'd, the Linux nodes expire it within
//!   `interval × dead-after` + 1 s.
//! * `smoltcp-expires-linux`: the smoltcp node drops a Linux node that sends LEAVE at once,
//!   and expires a SIGKILL'd one within `interval × dead-after` + 1 s.

use std::collections::BTreeMap;
use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use nix::sys::signal::Signal;

use super::{binaries_and_dir, step, step_within, Ctx, Scenario};
use crate::testbed::DaemonHosts;
use crate::testbed::{
    ip, node_id_of, tail, wait_until, Binaries, Bridge, Cluster, Membership, Netns, Port, Process,
};

/// Announce interval of every node, in seconds.
pub(super) const INTERVAL: f64 = 0.5;
/// Missed intervals before expiry.
pub(super) const DEAD_AFTER: u32 = 3;
/// The arguments every node gets, Linux and smoltcp alike.
pub(super) const COMMON_ARGS: &[&str] = &["--interval", "0.5", "--dead-after", "3"];
/// The smoltcp node's address on the segment.
pub(super) const TAP_IP: Ipv4Addr = Ipv4Addr::new(10, 77, 8, 50);
/// Its TAP device, and the bridge that joins it to the host's leg on the segment.
pub(super) const TAP_DEVICE: &str = "omtap0";
const HOST_BRIDGE: &str = "brtap";
/// The host's leg on the segment.
const HOST_LEG: &str = "omd0";

/// The smoltcp node and the Linux nodes list each other within this time of its start.
pub(super) const JOIN_BOUND: Duration = Duration::from_secs(2);
/// A node that sent LEAVE is gone from every map within this time.
pub(super) const LEAVE_BOUND: Duration = Duration::from_secs(1);
/// How long waits go on past a bound, so a failure can say how late it was.
pub(super) const GRACE: Duration = Duration::from_secs(5);
/// How often maps are looked at.
pub(super) const POLL: Duration = Duration::from_millis(25);

/// Join, leave, rejoin and expiry of the smoltcp node.
pub(super) const SMOLTCP_INTEROP: Scenario = Scenario {
    name: "smoltcp-interop",
    about: "omdisc-tap (smoltcp on a TAP) and 3 omdiscd nodes list each other; SIGTERM leaves at once, SIGKILL expires",
    timeout: Duration::from_secs(180),
    needs_daemon: true,
    run: smoltcp_interop,
};

/// The smoltcp node drops Linux nodes that leave or die.
pub(super) const SMOLTCP_EXPIRES_LINUX: Scenario = Scenario {
    name: "smoltcp-expires-linux",
    about: "omdisc-tap drops a SIGTERM'd omdiscd node at once and expires a SIGKILL'd one",
    timeout: Duration::from_secs(180),
    needs_daemon: true,
    run: smoltcp_expires_linux,
};

/// `interval × dead-after + 1 s`.
pub(super) fn expiry_bound() -> Duration {
    Duration::from_secs_f64(INTERVAL * f64::from(DEAD_AFTER) + 1.0)
}

/// A host namespace on the segment whose kernel bridges a TAP device to its leg; the
/// smoltcp node runs on the TAP. Field order is drop order: the node ends before its
/// namespace goes.
pub(super) struct TapHost {
    node: Option<Process>,
    _leg: Port,
    ns: Netns,
    program: PathBuf,
    label: String,
    address: String,
    /// Timer arguments, before the extra ones ([`COMMON_ARGS`] unless set).
    common_args: Vec<String>,
    map_dir: PathBuf,
    log_dir: PathBuf,
    starts: u32,
}

impl TapHost {
    /// The host of the smoltcp node at [`TAP_IP`], labelled `tap`.
    pub(super) fn new(segment: &Bridge, program: &Path, dir: &Path) -> Result<TapHost, String> {
        Self::with_address(segment, program, dir, "tap", &format!("{TAP_IP}/24"))
    }

    /// Creates the namespace, its leg on `segment`, the TAP and the bridge between them, for
    /// a node at `address` (`ADDR/PREFIX`) whose files are named after `label`. No node runs
    /// yet.
    pub(super) fn with_address(
        segment: &Bridge,
        program: &Path,
        dir: &Path,
        label: &str,
        address: &str,
    ) -> Result<TapHost, String> {
        let ns = Netns::new(label)?;
        let leg = segment.attach_bare(&ns, HOST_LEG)?;
        let name = ns.name();
        ip(&[
            "-n",
            name,
            "link",
            "add",
            HOST_BRIDGE,
            "type",
            "bridge",
            "mcast_snooping",
            "0",
        ])?;
        ip(&["-n", name, "link", "set", HOST_BRIDGE, "up"])?;
        ip(&["-n", name, "link", "set", HOST_LEG, "master", HOST_BRIDGE])?;
        ip(&[
            "-n", name, "tuntap", "add", "dev", TAP_DEVICE, "mode", "tap",
        ])?;
        ip(&[
            "-n",
            name,
            "link",
            "set",
            TAP_DEVICE,
            "master",
            HOST_BRIDGE,
            "up",
        ])?;
        let map_dir = dir.join(label);
        std::fs::create_dir_all(&map_dir)
            .map_err(|e| format!("cannot create {}: {e}", map_dir.display()))?;
        Ok(TapHost {
            node: None,
            _leg: leg,
            ns,
            program: program.to_path_buf(),
            label: label.to_string(),
            address: address.to_string(),
            common_args: COMMON_ARGS.iter().map(|s| s.to_string()).collect(),
            map_dir,
            log_dir: dir.to_path_buf(),
            starts: 0,
        })
    }

    /// Gives the node `args` instead of [`COMMON_ARGS`] from its next start on.
    pub(super) fn set_common_args(&mut self, args: &[&str]) {
        self.common_args = args.iter().map(|s| s.to_string()).collect();
    }

    /// The node's IPv4 address.
    pub(super) fn ip(&self) -> Result<Ipv4Addr, String> {
        let addr = self.address.split('/').next().unwrap_or_default();
        addr.parse()
            .map_err(|e| format!("{}: not an IPv4 address: {e}", self.address))
    }

    /// Starts `omdisc-tap` (a previous run must have ended), after removing the map the
    /// previous run left, so only the new run's map can satisfy a wait.
    pub(super) fn start(&mut self, extra_args: &[String]) -> Result<(), String> {
        for file in ["om_config", "om_mospe"] {
            let path = self.map_dir.join(file);
            match std::fs::remove_file(&path) {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => return Err(format!("cannot remove {}: {e}", path.display())),
            }
        }
        self.starts += 1;
        let mut args: Vec<String> = [
            "--tap",
            TAP_DEVICE,
            "--ip",
            &self.address,
            "--map-dir",
            &self.map_dir.display().to_string(),
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        args.extend(self.common_args.iter().cloned());
        args.extend(extra_args.iter().cloned());
        let log = self
            .log_dir
            .join(format!("{}-{}.log", self.label, self.starts));
        self.node = Some(Process::spawn_in(
            self.ns.name(),
            "omdisc-tap",
            &self.program,
            &args,
            &log,
        )?);
        Ok(())
    }

    pub(super) fn process(&mut self) -> Result<&mut Process, String> {
        self.node
            .as_mut()
            .ok_or_else(|| "omdisc-tap was never started".to_string())
    }

    /// Waits for the node to exit after SIGTERM: status 0, having said that it sent LEAVE.
    pub(super) fn wait_left(&mut self) -> Result<(), String> {
        let process = self.process()?;
        let status = process
            .wait_exit(Duration::from_secs(5))
            .ok_or("omdisc-tap did not exit within 5 s of SIGTERM")?;
        if status.code() != Some(0) {
            return Err(format!(
                "omdisc-tap exited with {status} on SIGTERM, not 0: {}",
                tail(&process.output(), 3)
            ));
        }
        if !process.output().contains("sent LEAVE") {
            return Err("omdisc-tap did not report sending LEAVE".into());
        }
        Ok(())
    }

    /// Fails with its last lines if the node has exited.
    pub(super) fn check_running(&mut self) -> Result<(), String> {
        let process = self.process()?;
        match process.try_exit() {
            Some(status) => Err(format!(
                "omdisc-tap exited ({status}): {}",
                tail(&process.output(), 3)
            )),
            None => Ok(()),
        }
    }

    /// The smoltcp node's map, as `showmap --map-dir` prints it, parsed.
    pub(super) fn map(&self, binaries: &Binaries) -> Result<Membership, String> {
        let dir = self.map_dir.display().to_string();
        Membership::parse(&binaries.showmap(&["--map-dir", &dir])?)
    }

    /// Where the smoltcp node writes its map.
    pub(super) fn map_dir(&self) -> &Path {
        &self.map_dir
    }
}

/// What all maps must list: `linux` hosts of `cluster`, and the smoltcp node if `with_tap`.
pub(super) fn expected(
    cluster: &Cluster,
    linux: &[usize],
    with_tap: bool,
) -> BTreeMap<u16, Option<Ipv4Addr>> {
    let taps: &[Ipv4Addr] = if with_tap { &[TAP_IP] } else { &[] };
    expected_with(cluster, linux, taps)
}

/// What all maps must list: `linux` hosts of `cluster`, and smoltcp nodes at `taps`.
pub(super) fn expected_with(
    cluster: &Cluster,
    linux: &[usize],
    taps: &[Ipv4Addr],
) -> BTreeMap<u16, Option<Ipv4Addr>> {
    let mut nodes = cluster.expected(linux).primaries();
    for &tap in taps {
        nodes.insert(node_id_of(tap), Some(tap));
    }
    nodes
}

/// Waits until every Linux map in `linux` lists exactly the `linux` hosts (the smoltcp node,
/// stopped, is gone from them); how long that took.
pub(super) fn gone_from_linux(
    cluster: &mut Cluster,
    tap: &mut TapHost,
    binaries: &Binaries,
    linux: &[usize],
    timeout: Duration,
) -> Result<Duration, String> {
    let only_linux = expected(cluster, linux, false);
    let (took, _) = wait_for_all(cluster, tap, binaries, linux, &only_linux, false, timeout)?;
    Ok(took)
}

/// Waits until every Linux map in `linux` and the smoltcp node's map (if it runs) list
/// exactly `nodes`. Returns when each side got there, or an error saying what they had.
pub(super) fn wait_for_all(
    cluster: &mut Cluster,
    tap: &mut TapHost,
    binaries: &Binaries,
    linux: &[usize],
    nodes: &BTreeMap<u16, Option<Ipv4Addr>>,
    tap_running: bool,
    timeout: Duration,
) -> Result<(Duration, Option<Duration>), String> {
    let taps: &mut [&mut TapHost] = if tap_running { &mut [tap] } else { &mut [] };
    let (linux_took, taps_took) = wait_for_maps_of(cluster, taps, binaries, linux, nodes, timeout)?;
    Ok((linux_took, tap_running.then_some(taps_took)))
}

/// Waits until every Linux map in `linux` and the map of every smoltcp node of `taps` (all
/// running) list exactly `nodes`. Returns when the Linux maps and the last smoltcp map got
/// there (zero without `taps`), or an error saying what they had.
pub(super) fn wait_for_maps_of(
    cluster: &mut Cluster,
    taps: &mut [&mut TapHost],
    binaries: &Binaries,
    linux: &[usize],
    nodes: &BTreeMap<u16, Option<Ipv4Addr>>,
    timeout: Duration,
) -> Result<(Duration, Duration), String> {
    let started = Instant::now();
    let mut linux_done = None;
    let mut taps_done: Vec<Option<Duration>> = vec![None; taps.len()];
    let mut failed = None;
    let _ = wait_until(timeout, POLL, || {
        let alive = cluster
            .check_running(linux)
            .and_then(|()| taps.iter_mut().try_for_each(|tap| tap.check_running()));
        if let Err(why) = alive {
            failed = Some(why);
            return true;
        }
        if linux_done.is_none()
            && linux
                .iter()
                .all(|&o| cluster.map(o).is_ok_and(|m| m.primaries() == *nodes))
        {
            linux_done = Some(started.elapsed());
        }
        for (tap, done) in taps.iter().zip(taps_done.iter_mut()) {
            if done.is_none() && tap.map(binaries).is_ok_and(|m| m.primaries() == *nodes) {
                *done = Some(started.elapsed());
            }
        }
        linux_done.is_some() && taps_done.iter().all(Option::is_some)
    });
    if let Some(why) = failed {
        return Err(why);
    }
    match linux_done {
        Some(linux_took) if taps_done.iter().all(Option::is_some) => Ok((
            linux_took,
            taps_done.into_iter().flatten().max().unwrap_or_default(),
        )),
        _ => {
            let tap_maps: Vec<String> = taps
                .iter()
                .map(|tap| match tap.map(binaries) {
                    Ok(map) => format!("{} has {map}", tap.label),
                    Err(why) => format!("{}: {why}", tap.label),
                })
                .collect();
            Err(format!(
                "after {:.2}s not every map lists exactly {nodes:?}: {}; smoltcp nodes: {}",
                started.elapsed().as_secs_f64(),
                cluster.describe_maps(linux),
                tap_maps.join("; ")
            ))
        }
    }
}

/// Three converged Linux nodes on segment `base`, and the smoltcp host (no node yet).
pub(super) fn setup(
    ctx: &Ctx,
    base: [u8; 3],
    daemon_args: &[&str],
) -> Result<(Cluster, TapHost, Binaries), String> {
    let (binaries, dir) = binaries_and_dir(ctx)?;
    let program = &binaries.omdisc_tap;
    let mut cluster = Cluster::new(binaries, dir, base, 3, daemon_args)?;
    for i in 0..3 {
        cluster.start(i)?;
    }
    let took = cluster.wait_for_maps(&[0, 1, 2], &[0, 1, 2], GRACE)?;
    step("3 Linux nodes converged", took);
    let tap = TapHost::new(cluster.bridge(), program, dir)?;
    Ok((cluster, tap, binaries.clone()))
}

/// Starts the smoltcp node and waits for everybody to list everybody, within [`JOIN_BOUND`].
pub(super) fn join(
    cluster: &mut Cluster,
    tap: &mut TapHost,
    binaries: &Binaries,
    what: &str,
    extra_args: &[String],
) -> Result<Duration, String> {
    let linux = [0, 1, 2];
    let everybody = expected(cluster, &linux, true);
    tap.start(extra_args)?;
    let (linux_took, tap_took) = wait_for_all(
        cluster,
        tap,
        binaries,
        &linux,
        &everybody,
        true,
        JOIN_BOUND + GRACE,
    )?;
    let tap_took = tap_took.unwrap_or_default();
    step(
        &format!("{what}: every Linux map lists the smoltcp node"),
        linux_took,
    );
    step(
        &format!("{what}: the smoltcp node's map lists all 3"),
        tap_took,
    );
    let took = linux_took.max(tap_took);
    if took > JOIN_BOUND {
        return Err(format!(
            "{what}: maps complete {:.2}s after the smoltcp node started (bound {JOIN_BOUND:?})",
            took.as_secs_f64()
        ));
    }
    Ok(took)
}

fn smoltcp_interop(ctx: &Ctx) -> Result<String, String> {
    let (mut cluster, mut tap, binaries) = setup(ctx, [10, 77, 8], COMMON_ARGS)?;
    let linux = [0, 1, 2];
    let joined = join(&mut cluster, &mut tap, &binaries, "start", &[])?;
    for i in linux {
        cluster
            .map(i)?
            .check_ids_follow_addresses()
            .map_err(|why| format!("{}: {why}", cluster.label(i)))?;
    }

    // SIGTERM: LEAVE, gone from every Linux map at once, exit 0.
    tap.process()?.signal(Signal::SIGTERM)?;
    let left = gone_from_linux(
        &mut cluster,
        &mut tap,
        &binaries,
        &linux,
        LEAVE_BOUND + GRACE,
    )?;
    tap.wait_left()?;
    step_within(
        "SIGTERM: smoltcp node gone from the 3 Linux maps",
        left,
        LEAVE_BOUND,
    )?;

    // Started again (a new incarnation): back everywhere.
    let rejoined = join(&mut cluster, &mut tap, &binaries, "restart", &[])?;

    // SIGKILL: no LEAVE; the Linux nodes expire it.
    tap.process()?.signal(Signal::SIGKILL)?;
    tap.process()?
        .wait_exit(Duration::from_secs(5))
        .ok_or("omdisc-tap did not die on SIGKILL")?;
    let bound = expiry_bound();
    let expired = gone_from_linux(&mut cluster, &mut tap, &binaries, &linux, bound + GRACE)?;
    step_within(
        "SIGKILL: smoltcp node expired from the 3 Linux maps",
        expired,
        bound,
    )?;
    Ok(format!(
        "joined in {:.2}s (rejoined {:.2}s); LEAVE took {:.2}s; expired {:.2}s after SIGKILL (bound {:.1}s)",
        joined.as_secs_f64(),
        rejoined.as_secs_f64(),
        left.as_secs_f64(),
        expired.as_secs_f64(),
        bound.as_secs_f64()
    ))
}

fn smoltcp_expires_linux(ctx: &Ctx) -> Result<String, String> {
    let (mut cluster, mut tap, binaries) = setup(ctx, [10, 77, 8], COMMON_ARGS)?;
    join(&mut cluster, &mut tap, &binaries, "start", &[])?;

    // n3 stops with SIGTERM: its LEAVE reaches the smoltcp node too.
    cluster.signal(2, Signal::SIGTERM)?;
    let two = expected(&cluster, &[0, 1], true);
    let (_, left) = wait_for_all(
        &mut cluster,
        &mut tap,
        &binaries,
        &[0, 1],
        &two,
        true,
        LEAVE_BOUND + GRACE,
    )?;
    let left = left.unwrap_or_default();
    step_within(
        "SIGTERM'd Linux node gone from the smoltcp map",
        left,
        LEAVE_BOUND,
    )?;

    // n2 is SIGKILL'd: the smoltcp node expires it.
    cluster.signal(1, Signal::SIGKILL)?;
    cluster
        .wait_exit(1, Duration::from_secs(5))
        .ok_or("the SIGKILL'd daemon did not exit")?;
    let one = expected(&cluster, &[0], true);
    let bound = expiry_bound();
    let (_, expired) = wait_for_all(
        &mut cluster,
        &mut tap,
        &binaries,
        &[0],
        &one,
        true,
        bound + GRACE,
    )?;
    let expired = expired.unwrap_or_default();
    step_within(
        "SIGKILL'd Linux node expired from the smoltcp map",
        expired,
        bound,
    )?;
    Ok(format!(
        "LEAVE of a Linux node took {:.2}s, expiry of a SIGKILL'd one {:.2}s (bound {:.1}s)",
        left.as_secs_f64(),
        expired.as_secs_f64(),
        bound.as_secs_f64()
    ))
}
