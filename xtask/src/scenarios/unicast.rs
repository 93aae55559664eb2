//! Unicast peers (issue 15): where multicast does not pass, nodes given seeds
//! (`--peer`) find every member through them.
//!
//! - `unicast-chain`: four nodes on a segment whose hosts drop all multicast (nftables,
//!   input and output), each seeded only on the node started before it: every map lists
//!   all four, and no host sent a single multicast datagram;
//! - `unicast-routed`: two subnets joined by a plain router (IP forwarding, no multicast
//!   routing), one node seeded across: all four converge;
//! - `unicast-mixed`: a multicast segment of three nodes plus two unicast-only nodes
//!   seeded on one of them: five complete maps;
//! - `unicast-leave`: in that mixed cluster a unicast-only node stopped with SIGTERM
//!   leaves every map at once; killed with SIGKILL, it is found dead by the probes.
//!
//! Every node runs `--interval 0.5 --dead-after 3`.

use std::time::{Duration, Instant};

use nix::sys::signal::Signal;

use super::routed::routed_segments;
use super::{binaries_and_dir, step, step_within, Ctx, Scenario};
use crate::testbed::{
    drop_multicast, exec_in, multicast_dropped, node_id_in, tail, wait_until, Cluster, DaemonHosts,
    Topology,
};

/// Timers of every node of these scenarios.
pub(super) const UNICAST_ARGS: &[&str] = &["--interval", "0.5", "--dead-after", "3"];
/// Every map lists every node within this time after the last start (a join is visible
/// everywhere within a second; a chain takes a few round trips more).
pub(super) const CONVERGE_BOUND: Duration = Duration::from_secs(2);
/// A SIGTERM'd node is gone from every map within this time (LEAVE).
const LEAVE_BOUND: Duration = Duration::from_secs(1);
/// A SIGKILL'd unicast-only node is gone from every map within this time: the probes
/// (probe period, indirect probes, suspicion) at `--interval 0.5`, with room for a loaded
/// machine; the multicast expiry bound of the same timers is 2.5 s.
pub(super) const KILL_BOUND: Duration = Duration::from_secs(5);
/// How long waits go on past a bound, so a failure says how late it was.
pub(super) const GRACE: Duration = Duration::from_secs(5);

/// Four nodes, no multicast, a chain of seeds.
pub(super) const UNICAST_CHAIN: Scenario = Scenario {
    name: "unicast-chain",
    about:
        "4 nodes where multicast is dropped (nft), each seeded on the previous one, all converge",
    timeout: Duration::from_secs(60),
    needs_daemon: true,
    run: unicast_chain,
};

/// Two subnets, a plain router, one seed across.
pub(super) const UNICAST_ROUTED: Scenario = Scenario {
    name: "unicast-routed",
    about: "two subnets joined by a router without multicast routing converge by unicast",
    timeout: Duration::from_secs(60),
    needs_daemon: true,
    run: unicast_routed,
};

/// A multicast segment and two unicast-only nodes.
pub(super) const UNICAST_MIXED: Scenario = Scenario {
    name: "unicast-mixed",
    about: "3 multicast nodes and 2 unicast-only nodes seeded on one of them: 5 complete maps",
    timeout: Duration::from_secs(60),
    needs_daemon: true,
    run: unicast_mixed,
};

/// A unicast-only node stopped and killed.
pub(super) const UNICAST_LEAVE: Scenario = Scenario {
    name: "unicast-leave",
    about: "a unicast-only node: SIGTERM leaves all maps within 1 s, SIGKILL is probed out",
    timeout: Duration::from_secs(90),
    needs_daemon: true,
    run: unicast_leave,
};

/// The multicast datagrams the hosts of `namespaces` sent (dropped by their
/// [`drop_multicast`] rules), printed as a step: an error unless none, as from
/// `--no-multicast` nodes.
pub(super) fn multicast_sent(namespaces: &[&str]) -> Result<u64, String> {
    let mut sent = 0;
    let mut received = 0;
    for ns in namespaces {
        let (dropped_in, dropped_out) = multicast_dropped(ns)?;
        sent += dropped_out;
        received += dropped_in;
    }
    step(
        &format!("multicast datagrams the hosts sent: {sent}, received and dropped: {received}"),
        Duration::ZERO,
    );
    if sent != 0 {
        return Err(format!(
            "the --no-multicast nodes sent {sent} multicast datagrams"
        ));
    }
    Ok(sent)
}

/// Waits up to `timeout` until host `i`'s daemon output holds `text`; how many times it
/// holds it then.
pub(super) fn wait_for_line(
    hosts: &impl DaemonHosts,
    i: usize,
    text: &str,
    timeout: Duration,
) -> Result<usize, String> {
    wait_until(timeout, Duration::from_millis(25), || {
        hosts.daemon_output(i).contains(text)
    })
    .map_err(|_| {
        format!(
            "{} never logged {text:?}: {}",
            hosts.slot(i).label(),
            tail(&hosts.daemon_output(i), 4)
        )
    })?;
    Ok(hosts.daemon_output(i).matches(text).count())
}

/// `--no-multicast --peer ADDR` (the seed's address on the cluster's segment).
fn seeded_on(cluster: &Cluster, seed: usize) -> Vec<String> {
    vec![
        "--no-multicast".into(),
        "--peer".into(),
        cluster.address(seed).to_string(),
    ]
}

/// Gives host `i` its own arguments (`--no-multicast --peer ...`).
fn set_args(cluster: &mut Cluster, i: usize, args: &[String]) {
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    cluster.set_own_args(i, &args);
}

fn unicast_chain(ctx: &Ctx) -> Result<String, String> {
    let (binaries, dir) = binaries_and_dir(ctx)?;
    let mut cluster = Cluster::new(binaries, dir, [10, 77, 151], 4, UNICAST_ARGS)?;
    for i in 0..cluster.len() {
        drop_multicast(cluster.namespace(i))?;
    }
    cluster.set_own_args(0, &["--no-multicast"]);
    for i in 1..cluster.len() {
        let args = seeded_on(&cluster, i - 1);
        set_args(&mut cluster, i, &args);
    }
    let all: Vec<usize> = (0..cluster.len()).collect();
    for &i in &all {
        cluster.start(i)?;
    }
    let took = cluster.wait_for_maps(&all, &all, CONVERGE_BOUND + GRACE)?;
    step_within(
        "4 maps list all 4 nodes (chain of seeds, no multicast), after the last start",
        took,
        CONVERGE_BOUND,
    )?;
    let namespaces: Vec<&str> = all.iter().map(|&i| cluster.namespace(i)).collect();
    multicast_sent(&namespaces)?;
    Ok(format!(
        "chain of 4 converged {:.2}s after the last start, no multicast",
        took.as_secs_f64()
    ))
}

fn unicast_routed(ctx: &Ctx) -> Result<String, String> {
    let (binaries, dir) = binaries_and_dir(ctx)?;
    let mut topo = Topology::new(binaries, dir);
    let sides: [&[&str]; 2] = [
        &["10.77.152.11/24", "10.77.152.12/24"],
        &["10.77.153.11/24", "10.77.153.12/24"],
    ];
    let (router, hosts) = routed_segments(&mut topo, ["10.77.152.1/24", "10.77.153.1/24"], sides)?;
    let forwarding = exec_in(
        topo.namespace(router),
        &["sysctl", "-qw", "net.ipv4.ip_forward=1"],
    )?;
    if !forwarding.status.success() {
        return Err("cannot turn IP forwarding on in the router".into());
    }
    let [a, b] = hosts;
    let interface = |h: usize| if a.contains(&h) { "omdA" } else { "omdB" };
    let seed = "10.77.152.11";
    let started = Instant::now();
    let all: Vec<usize> = a.iter().chain(&b).copied().collect();
    for &h in &all {
        let mut args = vec!["-i", interface(h)];
        args.extend_from_slice(UNICAST_ARGS);
        if b.contains(&h) {
            args.extend_from_slice(&["--peer", seed]);
        }
        topo.start(h, &args)?;
    }
    step(
        "4 daemons started (subnet B seeded on a1)",
        started.elapsed(),
    );
    let ids = sides
        .iter()
        .flat_map(|s| s.iter())
        .map(|a| node_id_in(a))
        .collect();
    let took = topo.wait_for_ids(&all, &ids, CONVERGE_BOUND + GRACE)?;
    step_within(
        "4 maps list all 4 nodes across the router, after the last start",
        took,
        CONVERGE_BOUND,
    )?;
    Ok(format!(
        "two subnets converged by unicast in {:.2}s",
        took.as_secs_f64()
    ))
}

/// Three multicast nodes (`n1`-`n3`) and two unicast-only ones (`n4`, `n5`: their hosts
/// drop multicast, they are seeded on `n1`), started and converged within the bound.
fn mixed_cluster(ctx: &Ctx, base: [u8; 3]) -> Result<(Cluster, Duration), String> {
    let (binaries, dir) = binaries_and_dir(ctx)?;
    let mut cluster = Cluster::new(binaries, dir, base, 5, UNICAST_ARGS)?;
    for i in [3, 4] {
        drop_multicast(cluster.namespace(i))?;
        let args = seeded_on(&cluster, 0);
        set_args(&mut cluster, i, &args);
    }
    let all: Vec<usize> = (0..5).collect();
    for &i in &all {
        cluster.start(i)?;
    }
    let took = cluster.wait_for_maps(&all, &all, CONVERGE_BOUND + GRACE)?;
    step_within(
        "5 maps list all 5 (3 multicast, 2 unicast-only seeded on n1), after the last start",
        took,
        CONVERGE_BOUND,
    )?;
    Ok((cluster, took))
}

fn unicast_mixed(ctx: &Ctx) -> Result<String, String> {
    let (mut cluster, took) = mixed_cluster(ctx, [10, 77, 154])?;
    // Nobody drops out once the answers to the joins are over.
    std::thread::sleep(Duration::from_secs(2));
    let all: Vec<usize> = (0..5).collect();
    for &i in &all {
        let map = cluster.map(i)?;
        if map.primaries() != cluster.expected(&all).primaries() {
            return Err(format!(
                "{} lost a node after converging: {map}",
                cluster.label(i)
            ));
        }
    }
    cluster.check_running(&all)?;
    Ok(format!(
        "5 complete maps in {:.2}s, stable for 2 s",
        took.as_secs_f64()
    ))
}

fn unicast_leave(ctx: &Ctx) -> Result<String, String> {
    let (mut cluster, _) = mixed_cluster(ctx, [10, 77, 155])?;
    let node = 4;
    let others = [0, 1, 2, 3];
    cluster.signal(node, Signal::SIGTERM)?;
    let left = cluster.wait_for_maps(&others, &others, LEAVE_BOUND + GRACE)?;
    step_within(
        "SIGTERM'd unicast-only node gone from the 4 other maps",
        left,
        LEAVE_BOUND,
    )?;
    let status = cluster
        .wait_exit(node, Duration::from_secs(5))
        .ok_or("the SIGTERM'd daemon did not exit within 5 s")?;
    if status.code() != Some(0) {
        return Err(format!("the SIGTERM'd daemon exited with {status}, not 0"));
    }
    cluster.start(node)?;
    let all = [0, 1, 2, 3, 4];
    let back = cluster.wait_for_maps(&all, &all, CONVERGE_BOUND + GRACE)?;
    step_within("restarted, back in all 5 maps", back, CONVERGE_BOUND)?;
    cluster.signal(node, Signal::SIGKILL)?;
    let killed = cluster.wait_for_maps(&others, &others, KILL_BOUND + GRACE)?;
    step_within(
        "SIGKILL'd unicast-only node gone from the 4 other maps",
        killed,
        KILL_BOUND,
    )?;
    Ok(format!(
        "SIGTERM: gone in {:.2}s; SIGKILL: gone in {:.2}s",
        left.as_secs_f64(),
        killed.as_secs_f64()
    ))
}
