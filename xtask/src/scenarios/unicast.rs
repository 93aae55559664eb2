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
use super::unicast_setup::{
    converged, gone_after, ids_within, multicast_sent, start_all, unicast_only, CONVERGE_BOUND,
    KILL_BOUND, UNICAST_ARGS,
};
use super::{binaries_and_dir, step, Ctx, Scenario};
use crate::testbed::{exec_in, node_id_in, Cluster, DaemonHosts, Topology};

/// A SIGTERM'd node is gone from every map within this time (LEAVE).
const LEAVE_BOUND: Duration = Duration::from_secs(1);

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

/// `--peer ADDR`: the address of host `seed` on the cluster's segment.
fn peer(cluster: &Cluster, seed: usize) -> [String; 2] {
    ["--peer".into(), cluster.address(seed).to_string()]
}

fn unicast_chain(ctx: &Ctx) -> Result<String, String> {
    let (binaries, dir) = binaries_and_dir(ctx)?;
    let mut cluster = Cluster::new(binaries, dir, [10, 77, 151], 4, UNICAST_ARGS)?;
    unicast_only(&mut cluster, 0, &[])?;
    for i in 1..cluster.len() {
        let [flag, seed] = peer(&cluster, i - 1);
        unicast_only(&mut cluster, i, &[&flag, &seed])?;
    }
    let all: Vec<usize> = (0..cluster.len()).collect();
    start_all(&mut cluster, &all)?;
    let took = converged(
        &mut cluster,
        &all,
        CONVERGE_BOUND,
        "4 maps list all 4 nodes (chain of seeds, no multicast), after the last start",
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
    let took = ids_within(
        &mut topo,
        &all,
        &ids,
        CONVERGE_BOUND,
        "4 maps list all 4 nodes across the router, after the last start",
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
    let [flag, seed] = peer(&cluster, 0);
    for i in [3, 4] {
        unicast_only(&mut cluster, i, &[&flag, &seed])?;
    }
    let all: Vec<usize> = (0..5).collect();
    start_all(&mut cluster, &all)?;
    let took = converged(
        &mut cluster,
        &all,
        CONVERGE_BOUND,
        "5 maps list all 5 (3 multicast, 2 unicast-only seeded on n1), after the last start",
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
    let left = gone_after(
        &mut cluster,
        node,
        Signal::SIGTERM,
        &others,
        LEAVE_BOUND,
        "SIGTERM'd unicast-only node gone from the 4 other maps",
    )?;
    let status = cluster
        .wait_exit(node, Duration::from_secs(5))
        .ok_or("the SIGTERM'd daemon did not exit within 5 s")?;
    if status.code() != Some(0) {
        return Err(format!("the SIGTERM'd daemon exited with {status}, not 0"));
    }
    cluster.start(node)?;
    let all = [0, 1, 2, 3, 4];
    converged(
        &mut cluster,
        &all,
        CONVERGE_BOUND,
        "restarted, back in all 5 maps",
    )?;
    let killed = gone_after(
        &mut cluster,
        node,
        Signal::SIGKILL,
        &others,
        KILL_BOUND,
        "SIGKILL'd unicast-only node gone from the 4 other maps",
    )?;
    Ok(format!(
        "SIGTERM: gone in {:.2}s; SIGKILL: gone in {:.2}s",
        left.as_secs_f64(),
        killed.as_secs_f64()
    ))
}
