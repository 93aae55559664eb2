//! The smoltcp frontend on an IPv6 group (issue 6: MLD joins): two `omdisc-tap` nodes and an
//! `omdiscd` node, IPv6 only, on group `ff05::4d`, list each other; a node that leaves is
//! dropped by the others at once. IPv6 nodes have no setpe line, so maps are read with
//! `showmap --json`.

use std::collections::BTreeSet;
use std::path::Path;
use std::time::{Duration, Instant};

use nix::sys::signal::Signal;

use super::smoltcp_interop::{TapHost, COMMON_ARGS, GRACE, JOIN_BOUND, LEAVE_BOUND, POLL};
use super::{binaries_and_dir, step_within, Ctx, Scenario};
use crate::testbed::{wait_until, Binaries, Bridge, MapJson, Netns, Process};

/// The IPv6 group (the smoltcp nodes get the shared interval options from [`TapHost`]).
const GROUP: &[&str] = &["--group", "ff05::4d"];
/// The Linux node (id 0x11 = 17) and the two smoltcp nodes (ids 81 and 82).
const LINUX_V6: &str = "fd00:77::11/64";
const TAP_V6: [&str; 2] = ["fd00:77::51/64", "fd00:77::52/64"];
const IDS: [u16; 3] = [17, 81, 82];

/// IPv6 interop.
pub(super) const SMOLTCP_IPV6: Scenario = Scenario {
    name: "smoltcp-ipv6",
    about: "2 omdisc-tap and 1 omdiscd node on IPv6 group ff05::4d list each other; LEAVE drops at once",
    timeout: Duration::from_secs(120),
    needs_daemon: true,
    run: smoltcp_ipv6,
};

/// The ids in the map written to `dir` (empty if there is none yet).
fn ids_in(binaries: &Binaries, dir: &Path) -> BTreeSet<u16> {
    let dir = dir.display().to_string();
    binaries
        .showmap(&["--map-dir", &dir, "--json"])
        .and_then(|json| MapJson::parse(&json))
        .map(|map| map.ids())
        .unwrap_or_default()
}

fn smoltcp_ipv6(ctx: &Ctx) -> Result<String, String> {
    let (binaries, dir) = binaries_and_dir(ctx)?;
    let program = &binaries.omdisc_tap;
    let segment = Bridge::new("sw")?;

    let linux = Netns::new("v6n1")?;
    let _leg = segment.attach(&linux, "omd0", "10.77.12.11/24", Some(LINUX_V6))?;
    let linux_dir = dir.join("v6n1");
    std::fs::create_dir_all(&linux_dir)
        .map_err(|e| format!("cannot create {}: {e}", linux_dir.display()))?;
    let mut daemon_args: Vec<String> = ["-n", "-i", "omd0", "--map-dir"]
        .iter()
        .map(|s| s.to_string())
        .collect();
    daemon_args.push(linux_dir.display().to_string());
    daemon_args.extend(GROUP.iter().chain(COMMON_ARGS).map(|s| s.to_string()));
    let mut daemon = Process::spawn_in(
        linux.name(),
        "v6n1 omdiscd",
        &binaries.omdiscd,
        &daemon_args,
        &dir.join("v6n1.log"),
    )?;

    let mut taps = Vec::new();
    for (i, address) in TAP_V6.iter().enumerate() {
        let label = format!("v6tap{}", i + 1);
        taps.push(TapHost::with_address(
            &segment, program, dir, &label, address,
        )?);
    }
    let extra: Vec<String> = GROUP.iter().map(|s| s.to_string()).collect();
    let started = Instant::now();
    for tap in &mut taps {
        tap.start(&extra)?;
    }
    let all: BTreeSet<u16> = IDS.into_iter().collect();
    let everyone_sees = |expected: &BTreeSet<u16>, taps: &[TapHost], with_linux: bool| {
        (!with_linux || ids_in(binaries, &linux_dir) == *expected)
            && taps
                .iter()
                .all(|t| ids_in(binaries, t.map_dir()) == *expected)
    };
    let joined = wait_until(JOIN_BOUND + GRACE, POLL, || {
        everyone_sees(&all, &taps, true)
    });
    for tap in &mut taps {
        tap.check_running()?;
    }
    let joined = joined.map_err(|_| {
        format!(
            "after {:.2}s: omdiscd has {:?}, the smoltcp nodes {:?} and {:?}",
            started.elapsed().as_secs_f64(),
            ids_in(binaries, &linux_dir),
            ids_in(binaries, taps[0].map_dir()),
            ids_in(binaries, taps[1].map_dir())
        )
    })?;
    if daemon.try_exit().is_some() {
        return Err(format!("omdiscd exited: {}", daemon.output()));
    }
    step_within("all 3 IPv6 maps list all 3 nodes", joined, JOIN_BOUND)?;

    // The second smoltcp node leaves: the other two drop it at once.
    taps[1].process()?.signal(Signal::SIGTERM)?;
    let remaining: BTreeSet<u16> = [17, 81].into_iter().collect();
    let left = wait_until(LEAVE_BOUND + GRACE, POLL, || {
        everyone_sees(&remaining, &taps[..1], true)
    })
    .map_err(|_| {
        format!(
            "after LEAVE: omdiscd has {:?}, the first smoltcp node {:?}",
            ids_in(binaries, &linux_dir),
            ids_in(binaries, taps[0].map_dir())
        )
    })?;
    step_within(
        "SIGTERM'd smoltcp node gone from the other 2 maps",
        left,
        LEAVE_BOUND,
    )?;
    Ok(format!(
        "IPv6 maps complete in {:.2}s; LEAVE took {:.2}s",
        joined.as_secs_f64(),
        left.as_secs_f64()
    ))
}
