//! Clusters across networks joined by real multicast routing (issue 4): two segments and a
//! router namespace running Debian's `smcrouted` with static (*,G) routes both ways. With
//! `-m 1` announcements stay on their own segment (the router does not forward a datagram
//! whose TTL would reach 0); with `-m 2` the same nodes, the same router, converge across.
//! A node with two interfaces and `-m` sends and receives on its first one only and
//! announces the second as an ALIAS.

use std::collections::BTreeSet;
use std::net::{IpAddr, Ipv4Addr};
use std::time::{Duration, Instant};

use super::gateways::{converge, still_converged, GROUP, INTERVAL, PORT};
use super::{binaries_and_dir, step, Ctx, Scenario};
use crate::testbed::DaemonHosts;
use crate::testbed::{
    addr_of, listen, node_id_in, GroupListener, Heard, Leg, MulticastRoute, MulticastRouter,
    Topology,
};

/// How long `-m 1` nodes run before their maps are checked: about seven announce intervals,
/// many times what `-m 2` needs to converge.
pub(super) const ISOLATION_WAIT: Duration = Duration::from_secs(2);
/// How long the listeners watch what crosses the router in each phase.
pub(super) const LISTEN_WINDOW: Duration = Duration::from_millis(1500);

/// `-m 2` converges over smcrouted, `-m 1` does not.
pub(super) const ROUTED_TTL: Scenario = Scenario {
    name: "routed-ttl",
    about: "two segments joined by smcrouted: -m 1 stays apart, -m 2 converges; -m with 2 -i: 2nd is an ALIAS",
    timeout: Duration::from_secs(90),
    needs_daemon: true,
    run: routed_ttl,
};

/// Addresses of the scenario.
const SIDE_A: [&str; 2] = ["10.74.1.11/24", "10.74.1.12/24"];
const SIDE_B: [&str; 2] = ["10.74.2.21/24", "10.74.2.22/24"];
const ROUTER: [&str; 2] = ["10.74.1.1/24", "10.74.2.1/24"];
/// The multi-homed node: its first interface on A, its second on B.
const MULTI: [&str; 2] = ["10.74.1.60/24", "10.74.2.60/24"];
const LISTENERS: [&str; 2] = ["10.74.1.250/24", "10.74.2.250/24"];

/// The hosts of the scenario and how each runs `omdiscd`.
struct Plan {
    side_a: Vec<usize>,
    side_b: Vec<usize>,
    multi: usize,
}

impl Plan {
    /// `(host, -i value)` of every node.
    fn nodes(&self) -> Vec<(usize, &'static str)> {
        let mut nodes: Vec<(usize, &str)> = self.side_a.iter().map(|&h| (h, "omdA")).collect();
        nodes.extend(self.side_b.iter().map(|&h| (h, "omdB")));
        nodes.push((self.multi, "mA,mB"));
        nodes
    }

    /// Hosts on segment A (the multi-homed node sends and receives there).
    fn observers_a(&self) -> Vec<usize> {
        let mut hosts = self.side_a.clone();
        hosts.push(self.multi);
        hosts
    }
}

/// Starts `omdiscd -i IFS -m TTL EXTRA --interval INTERVAL --dead-after 3` on each
/// `(host, IFS)`.
pub(super) fn start_with_ttl(
    topo: &mut Topology,
    nodes: &[(usize, &str)],
    ttl: &str,
    extra: &[&str],
) -> Result<(), String> {
    for &(h, interfaces) in nodes {
        let mut args = vec!["-i", interfaces, "-m", ttl];
        args.extend_from_slice(extra);
        args.extend_from_slice(&["--interval", INTERVAL, "--dead-after", "3"]);
        topo.start(h, &args)?;
    }
    Ok(())
}

/// Two segments `swA` and `swB` joined by the router host `rt` (legs `r0` and `r1` at
/// `router`), and on each segment a host per address of `sides` (`a1`, `a2`, ... on leg
/// `omdA`; `b1`, ... on `omdB`) whose default route is the router. Returns the router and
/// each side's hosts.
pub(super) fn routed_segments(
    topo: &mut Topology,
    router: [&'static str; 2],
    sides: [&[&'static str]; 2],
) -> Result<(usize, [Vec<usize>; 2]), String> {
    let segments = [topo.add_segment("swA")?, topo.add_segment("swB")?];
    let leg = |segment: usize, ifname, address: &'static str| -> Leg<'static> {
        if address.contains(':') {
            Leg::v6(segments[segment], ifname, address)
        } else {
            Leg::v4(segments[segment], ifname, address)
        }
    };
    let rt = topo.add_host("rt", &[leg(0, "r0", router[0]), leg(1, "r1", router[1])])?;
    let mut hosts = [Vec::new(), Vec::new()];
    for (side, (label, ifname)) in [("a", "omdA"), ("b", "omdB")].into_iter().enumerate() {
        let gateway = addr_of::<IpAddr>(router[side]);
        let family = if gateway.is_ipv4() { "-4" } else { "-6" };
        for (i, address) in sides[side].iter().enumerate() {
            let h = topo.add_host(&format!("{label}{}", i + 1), &[leg(side, ifname, address)])?;
            let via = gateway.to_string();
            topo.ip_in(h, &[family, "route", "add", "default", "via", &via])?;
            hosts[side].push(h);
        }
    }
    Ok((rt, hosts))
}

/// Whether `source` is on segment `10.74.S.0/24`.
/// A passive listener on each of the two segments (hosts `l0`, `l1` on `listeners`' legs),
/// and `smcrouted` in the `router` host routing `group` both ways between its legs `r0`
/// and `r1`.
pub(super) fn listeners_and_router(
    topo: &mut Topology,
    router: usize,
    group: IpAddr,
    listeners: [Leg<'_>; 2],
) -> Result<(Vec<GroupListener>, MulticastRouter), String> {
    let mut sockets = Vec::new();
    for (i, leg) in listeners.into_iter().enumerate() {
        let h = topo.add_host(&format!("l{i}"), &[leg])?;
        sockets.push(GroupListener::open(topo.namespace(h), "lst0", group, PORT)?);
    }
    let routes = [("r0", "r1"), ("r1", "r0")].map(|(from, to)| MulticastRoute {
        inbound: from.into(),
        group,
        outbound: vec![to.into()],
    });
    let router =
        MulticastRouter::start(topo.namespace(router), &topo.dir().join("router"), &routes)?;
    Ok((sockets, router))
}

fn on_segment(source: IpAddr, segment: u8) -> bool {
    matches!(source, IpAddr::V4(v4) if v4.octets()[..3] == [10, 74, segment])
}

/// Datagrams listener `listener` heard from sources on segment `segment`.
fn heard_from(heard: &[Heard], listener: usize, segment: u8) -> usize {
    heard
        .iter()
        .filter(|h| h.listener == listener && on_segment(h.source, segment))
        .count()
}

fn routed_ttl(ctx: &Ctx) -> Result<String, String> {
    let (binaries, dir) = binaries_and_dir(ctx)?;
    let mut topo = Topology::new(binaries, dir);
    let (router, [side_a, side_b]) = routed_segments(&mut topo, ROUTER, [&SIDE_A, &SIDE_B])?;
    let mut plan = Plan {
        side_a,
        side_b,
        multi: 0,
    };
    plan.multi = topo.add_host(
        "m",
        &[Leg::v4(0, "mA", MULTI[0]), Leg::v4(1, "mB", MULTI[1])],
    )?;
    let listeners = [0, 1].map(|segment| Leg::v4(segment, "lst0", LISTENERS[segment]));
    let (sockets, mut smcroute) = listeners_and_router(&mut topo, router, GROUP.into(), listeners)?;
    step(
        "smcrouted runs in the router namespace with (*,G) routes r0<->r1",
        Duration::ZERO,
    );

    let ids_a: BTreeSet<u16> = SIDE_A
        .iter()
        .chain(&MULTI[..1])
        .map(|s| node_id_in(s))
        .collect();
    let ids_b: BTreeSet<u16> = SIDE_B.iter().map(|s| node_id_in(s)).collect();
    let all_ids: BTreeSet<u16> = ids_a.union(&ids_b).copied().collect();
    let all_nodes: Vec<usize> = plan.nodes().iter().map(|n| n.0).collect();

    // Phase 1: TTL 1. Each segment only knows itself; nothing crossed the router.
    start_with_ttl(&mut topo, &plan.nodes(), "1", &[])?;
    let started = Instant::now();
    let heard = listen(&sockets, ISOLATION_WAIT)?;
    let waited = started.elapsed();
    topo.check_running(&all_nodes)?;
    for (observers, expected) in [(plan.observers_a(), &ids_a), (plan.side_b.clone(), &ids_b)] {
        for h in observers {
            let ids = topo.map_json(h)?.ids();
            if ids != *expected {
                return Err(format!(
                    "with -m 1, {} lists {ids:?} after {:.1}s; only its own segment {expected:?} was expected",
                    topo.label(h),
                    waited.as_secs_f64()
                ));
            }
        }
    }
    let (crossed_ab, crossed_ba) = (heard_from(&heard, 1, 1), heard_from(&heard, 0, 2));
    let (local_a, local_b) = (heard_from(&heard, 0, 1), heard_from(&heard, 1, 2));
    if crossed_ab + crossed_ba > 0 || local_a == 0 || local_b == 0 {
        return Err(format!(
            "with -m 1: {crossed_ab} datagrams from A reached B and {crossed_ba} from B reached A (expected none); {local_a} and {local_b} stayed local"
        ));
    }
    step(
        &format!(
            "-m 1: each segment lists only itself after {:.1}s; {local_a}+{local_b} datagrams stayed local, 0 crossed",
            waited.as_secs_f64()
        ),
        Duration::ZERO,
    );
    for h in &all_nodes {
        topo.stop(*h)?;
    }

    // Phase 2: TTL 2, same router: everyone lists everyone.
    start_with_ttl(&mut topo, &plan.nodes(), "2", &[])?;
    let took = converge(
        &mut topo,
        &all_nodes,
        &all_ids,
        "-m 2: all 5 maps list all 5 nodes across the router",
    )?;
    let heard = listen(&sockets, LISTEN_WINDOW)?;
    let (crossed_ab, crossed_ba) = (heard_from(&heard, 1, 1), heard_from(&heard, 0, 2));
    let multi_b = addr_of::<IpAddr>(MULTI[1]);
    let from_second_leg = heard.iter().filter(|h| h.source == multi_b).count();
    if crossed_ab == 0 || crossed_ba == 0 || from_second_leg > 0 {
        return Err(format!(
            "with -m 2 over {LISTEN_WINDOW:?}: {crossed_ab} datagrams A->B, {crossed_ba} B->A (expected some each way), {from_second_leg} sent from m's second interface (expected none)"
        ));
    }
    if heard.iter().any(|h| h.hops > 0) {
        return Err("with -m, a datagram was relayed by a node (hops > 0)".into());
    }
    step(
        &format!("-m 2: {crossed_ab} datagrams routed A->B, {crossed_ba} B->A in {LISTEN_WINDOW:?}; none from m's 2nd interface, none relayed"),
        Duration::ZERO,
    );

    // The multi-homed node: primary on its first interface, second as ALIAS, no gateway.
    let multi_id = node_id_in(MULTI[0]);
    for &h in plan.side_a.iter().chain(&plan.side_b) {
        let label = topo.label(h).to_string();
        let map = topo.map(h)?;
        let entry = map
            .get(multi_id)
            .ok_or(format!("{label}: no node {multi_id} in {map}"))?;
        if entry.primary != Some(addr_of::<Ipv4Addr>(MULTI[0]))
            || entry.aliases != [addr_of::<IpAddr>(MULTI[1])]
        {
            return Err(format!(
                "{label}: node {multi_id} should be `{multi_id} {} 1` plus `{multi_id} {} ALIAS`: {:?}",
                addr_of::<IpAddr>(MULTI[0]),
                addr_of::<IpAddr>(MULTI[1]),
                topo.map_text(h)?
            ));
        }
        let json = topo.map_json(h)?;
        if json.nodes.iter().any(|n| n.via.is_some() || n.gateway) {
            return Err(format!(
                "{label}: with -m no node is a gateway and none is heard via one: {}",
                json.raw
            ));
        }
    }
    std::thread::sleep(Duration::from_millis(1500));
    still_converged(&mut topo, &all_nodes, &all_ids)?;
    if !smcroute.is_running() {
        return Err(format!("smcrouted exited: {}", smcroute.output()));
    }
    let routes = topo.ip_in(router, &["mroute", "show"])?;
    step(
        &format!(
            "router holds {} (S,G) routes; maps steady 1.5 s later",
            routes.lines().filter(|l| l.contains("Iif")).count()
        ),
        Duration::ZERO,
    );
    Ok(format!(
        "-m 1: 0 datagrams crossed in {:.1}s; -m 2: converged in {:.2}s, {crossed_ab}/{crossed_ba} datagrams routed each way in {:.1}s",
        waited.as_secs_f64(),
        took.as_secs_f64(),
        LISTEN_WINDOW.as_secs_f64()
    ))
}
