//! IPv6 across a multicast router (issue 4): two IPv6-only segments joined by `smcrouted`
//! with static (*,G) routes for the site-local group `ff05::4d:74`. With `-m 1` (hop limit
//! 1) each segment keeps to itself; with `-m 2` the same nodes converge across the router.

use std::collections::BTreeSet;
use std::net::{IpAddr, Ipv6Addr};
use std::time::{Duration, Instant};

use super::gateways::{converge, still_converged};
use super::routed::{
    listeners_and_router, routed_segments, start_with_ttl, ISOLATION_WAIT, LISTEN_WINDOW,
};
use super::{binaries_and_dir, step, Ctx, Scenario};
use crate::testbed::DaemonHosts;
use crate::testbed::{addr_of, listen, node_id_in, Heard, Leg, Topology};

/// The site-local group of the scenario.
const GROUP_V6: Ipv6Addr = Ipv6Addr::new(0xff05, 0, 0, 0, 0, 0, 0x4d, 0x74);
const ROUTER: [&str; 2] = ["fd00:74:1::1/64", "fd00:74:2::1/64"];
const SIDE_A: [&str; 2] = ["fd00:74:1::a11/64", "fd00:74:1::a12/64"];
const SIDE_B: [&str; 2] = ["fd00:74:2::b21/64", "fd00:74:2::b22/64"];
const LISTENERS: [&str; 2] = ["fd00:74:1::fa/64", "fd00:74:2::fa/64"];

/// IPv6 over smcrouted.
pub(super) const ROUTED_IPV6: Scenario = Scenario {
    name: "routed-ipv6",
    about: "two IPv6-only segments joined by smcrouted on ff05::4d:74: -m 1 stays apart, -m 2 converges",
    timeout: Duration::from_secs(90),
    needs_daemon: true,
    run: routed_ipv6,
};

/// Datagrams listener `listener` heard from `fd00:74:SEGMENT::/48`.
fn heard_from(heard: &[Heard], listener: usize, segment: u16) -> usize {
    heard
        .iter()
        .filter(|h| h.listener == listener)
        .filter(
            |h| matches!(h.source, IpAddr::V6(v6) if v6.segments()[..3] == [0xfd00, 0x74, segment]),
        )
        .count()
}

fn routed_ipv6(ctx: &Ctx) -> Result<String, String> {
    let (binaries, dir) = binaries_and_dir(ctx)?;
    let mut topo = Topology::new(binaries, dir);
    let (router, [side_a, side_b]) = routed_segments(&mut topo, ROUTER, [&SIDE_A, &SIDE_B])?;
    let nodes: Vec<(usize, &str)> = side_a
        .iter()
        .map(|&h| (h, "omdA"))
        .chain(side_b.iter().map(|&h| (h, "omdB")))
        .collect();
    let listeners = [0, 1].map(|segment| Leg::v6(segment, "lst0", LISTENERS[segment]));
    let (sockets, mut smcroute) =
        listeners_and_router(&mut topo, router, GROUP_V6.into(), listeners)?;

    let all: Vec<usize> = nodes.iter().map(|n| n.0).collect();
    let ids_a: BTreeSet<u16> = SIDE_A.iter().map(|s| node_id_in(s)).collect();
    let ids_b: BTreeSet<u16> = SIDE_B.iter().map(|s| node_id_in(s)).collect();
    let all_ids: BTreeSet<u16> = ids_a.union(&ids_b).copied().collect();

    let group = GROUP_V6.to_string();
    start_with_ttl(&mut topo, &nodes, "1", &["--group", &group])?;
    let started = Instant::now();
    let heard = listen(&sockets, ISOLATION_WAIT)?;
    let waited = started.elapsed();
    topo.check_running(&all)?;
    for (observers, expected) in [(&side_a, &ids_a), (&side_b, &ids_b)] {
        for &h in observers {
            let ids = topo.map_json(h)?.ids();
            if ids != *expected {
                return Err(format!(
                    "with -m 1, {} lists {ids:?} after {:.1}s; only {expected:?} was expected",
                    topo.label(h),
                    waited.as_secs_f64()
                ));
            }
        }
    }
    let crossed = heard_from(&heard, 1, 1) + heard_from(&heard, 0, 2);
    let local = heard_from(&heard, 0, 1) + heard_from(&heard, 1, 2);
    if crossed > 0 || local == 0 {
        return Err(format!(
            "with -m 1: {crossed} datagrams crossed the router (expected none), {local} stayed local"
        ));
    }
    step(
        &format!("-m 1: each segment lists only itself after {:.1}s; {local} datagrams stayed local, 0 crossed", waited.as_secs_f64()),
        Duration::ZERO,
    );
    for &h in &all {
        topo.stop(h)?;
    }

    start_with_ttl(&mut topo, &nodes, "2", &["--group", &group])?;
    let took = converge(
        &mut topo,
        &all,
        &all_ids,
        "-m 2: all 4 maps list all 4 IPv6 nodes across the router",
    )?;
    let heard = listen(&sockets, LISTEN_WINDOW)?;
    let (ab, ba) = (heard_from(&heard, 1, 1), heard_from(&heard, 0, 2));
    if ab == 0 || ba == 0 {
        return Err(format!(
            "with -m 2: {ab} datagrams A->B and {ba} B->A in {LISTEN_WINDOW:?}"
        ));
    }
    for &h in &all {
        let json = topo.map_json(h)?;
        for address in SIDE_A.iter().chain(&SIDE_B) {
            let node = json.node(node_id_in(address)).ok_or(format!(
                "{}: no node {}",
                topo.label(h),
                node_id_in(address)
            ))?;
            if node.addresses_with_role("primary") != [IpAddr::V6(addr_of::<Ipv6Addr>(address))]
                || node.via.is_some()
            {
                return Err(format!(
                    "{}: node {} is {node:?}, expected {} heard directly",
                    topo.label(h),
                    node_id_in(address),
                    addr_of::<Ipv6Addr>(address)
                ));
            }
        }
    }
    step(
        &format!("-m 2: {ab} datagrams routed A->B, {ba} B->A in {LISTEN_WINDOW:?}"),
        Duration::ZERO,
    );
    std::thread::sleep(Duration::from_millis(1500));
    still_converged(&mut topo, &all, &all_ids)?;
    if !smcroute.is_running() {
        return Err(format!("smcrouted exited: {}", smcroute.output()));
    }
    Ok(format!(
        "-m 1: 0 datagrams crossed in {:.1}s; -m 2: converged in {:.2}s, {ab}/{ba} routed each way in {:.1}s",
        waited.as_secs_f64(),
        took.as_secs_f64(),
        LISTEN_WINDOW.as_secs_f64()
    ))
}
