//! `--no-relay` (issue 14): a host on two segments announces its other leg as an alias on
//! each, but relays nothing, so the segments stay apart while both see its aliases.

use std::collections::BTreeSet;
use std::net::IpAddr;
use std::time::Duration;

use super::gateways::{converge, start_all, COMMON_ARGS};
use super::{binaries_and_dir, map_watch, step, Ctx, Scenario};
use crate::testbed::{addr_of, node_id_in, DaemonHosts, Leg, Topology};

/// A host with two legs and `--no-relay`.
pub(super) const NO_RELAY: Scenario = Scenario {
    name: "no-relay",
    about: "--no-relay on a two-legged host keeps two segments apart while both see its aliases",
    timeout: Duration::from_secs(60),
    needs_daemon: true,
    run: no_relay,
};

/// How long the segments are watched for a node from the other side.
const APART_WATCH: Duration = Duration::from_millis(1500);

fn no_relay(ctx: &Ctx) -> Result<String, String> {
    let (binaries, dir) = binaries_and_dir(ctx)?;
    let mut topo = Topology::new(binaries, dir);
    let a = topo.add_segment("a")?;
    let b = topo.add_segment("b")?;
    let (a_addr, b_addr, m_a, m_b) = (
        "10.77.43.11/24",
        "10.78.43.12/24",
        "10.77.43.50/24",
        "10.78.43.50/24",
    );
    let a1 = topo.add_host("a1", &[Leg::v4(a, "omd0", a_addr)])?;
    let b1 = topo.add_host("b1", &[Leg::v4(b, "omd0", b_addr)])?;
    let m = topo.add_host("m", &[Leg::v4(a, "omda", m_a), Leg::v4(b, "omdb", m_b)])?;
    start_all(&mut topo, &[(a1, "omd0"), (b1, "omd0")])?;
    let mut args = vec!["-i", "omda,omdb", "--no-relay"];
    args.extend_from_slice(COMMON_ARGS);
    topo.start(m, &args)?;
    let m_id = node_id_in(m_a);
    let side_a = BTreeSet::from([node_id_in(a_addr), m_id]);
    let side_b = BTreeSet::from([node_id_in(b_addr), m_id]);
    let both = BTreeSet::from([node_id_in(a_addr), node_id_in(b_addr), m_id]);
    converge(&mut topo, &[a1], &side_a, "a1 lists itself and the host")?;
    converge(&mut topo, &[b1], &side_b, "b1 lists itself and the host")?;
    converge(&mut topo, &[m], &both, "the host lists both sides")?;
    for (observer, primary, alias) in [(a1, m_a, m_b), (b1, m_b, m_a)] {
        let map = topo.map_json(observer)?;
        let node = map.node(m_id).ok_or("the host is not listed")?;
        let (primary, alias): (IpAddr, IpAddr) =
            (addr_of::<IpAddr>(primary), addr_of::<IpAddr>(alias));
        if node.gateway
            || node.addresses_with_role("primary") != [primary]
            || node.addresses_with_role("alias") != [alias]
        {
            return Err(format!(
                "{} lists the host as {node:?}, expected primary {primary}, alias {alias}, no gateway",
                topo.label(observer)
            ));
        }
    }
    step(
        "each side lists the host's other leg as an ALIAS, not as a gateway",
        Duration::ZERO,
    );
    for (observer, other, side) in [
        (a1, node_id_in(b_addr), &side_a),
        (b1, node_id_in(a_addr), &side_b),
    ] {
        let started = std::time::Instant::now();
        while started.elapsed() < APART_WATCH {
            topo.check_running(&[a1, b1, m])?;
            let ids = topo.map_json(observer)?.ids();
            if ids.contains(&other) || ids != *side {
                return Err(format!(
                    "{} lists {ids:?}: node {other} crossed the host",
                    topo.label(observer)
                ));
            }
            std::thread::sleep(map_watch::WATCH_POLL);
        }
    }
    step(
        &format!("neither side heard of the other in {APART_WATCH:?}"),
        Duration::ZERO,
    );
    Ok("segments apart, aliases on both".into())
}
