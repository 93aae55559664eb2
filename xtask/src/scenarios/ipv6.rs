//! IPv6-only networks (issue 4): nodes on `--group ff02::…` (link-local scope) discover each
//! other, with node ids from the last two bytes of their addresses, and a gateway relays
//! between two IPv6-only links (a link-local group never crosses a router, so this is how
//! such a cluster spans networks). `showmap --json` carries the IPv6 addresses; the setpe
//! text, which is IPv4-only, says for every node what it cannot show.

use std::collections::BTreeSet;
use std::net::{IpAddr, Ipv6Addr};
use std::time::Duration;

use super::gateways::{converge, still_converged, INTERVAL};
use super::{binaries_and_dir, step, Ctx, Scenario};
use crate::testbed::DaemonHosts;
use crate::testbed::{addr_of, node_id_in, Leg, Membership, Topology};

/// The link-local-scope group of the scenario.
const GROUP_V6: &str = "ff02::4d:4d";
/// Nodes on link A, on link B, and the gateway's two legs.
const SIDE_A: [&str; 2] = ["fd00:75:1::a11/64", "fd00:75:1::a12/64"];
const SIDE_B: [&str; 1] = ["fd00:75:2::b21/64"];
const GATEWAY: [&str; 2] = ["fd00:75:1::c1/64", "fd00:75:2::c1/64"];

/// Two IPv6-only links, a gateway, `ff02::` group.
pub(super) const IPV6_SEGMENTS: Scenario = Scenario {
    name: "ipv6-segments",
    about: "IPv6-only links on group ff02::4d:4d with a gateway: ids from the last two bytes, JSON has IPv6, setpe says what it cannot show",
    timeout: Duration::from_secs(60),
    needs_daemon: true,
    run: ipv6_segments,
};

fn ipv6_segments(ctx: &Ctx) -> Result<String, String> {
    let (binaries, dir) = binaries_and_dir(ctx)?;
    let mut topo = Topology::new(binaries, dir);
    let a = topo.add_segment("swA")?;
    let b = topo.add_segment("swB")?;
    let mut plan = Vec::new();
    let mut homes = Vec::new();
    for (i, address) in SIDE_A.iter().enumerate() {
        let h = topo.add_host(&format!("a{}", i + 1), &[Leg::v6(a, "omdA", address)])?;
        plan.push((h, "omdA"));
        homes.push((h, *address));
    }
    for (i, address) in SIDE_B.iter().enumerate() {
        let h = topo.add_host(&format!("b{}", i + 1), &[Leg::v6(b, "omdB", address)])?;
        plan.push((h, "omdB"));
        homes.push((h, *address));
    }
    let gateway = topo.add_host(
        "gw",
        &[
            Leg::v6(a, "omdA", GATEWAY[0]),
            Leg::v6(b, "omdB", GATEWAY[1]),
        ],
    )?;
    plan.push((gateway, "omdA,omdB"));
    homes.push((gateway, GATEWAY[0]));
    for h in 0..topo.len() {
        let v4 = topo.ip_in(h, &["-4", "addr", "show"])?;
        if v4
            .lines()
            .any(|l| l.contains("inet ") && !l.contains("inet 127."))
        {
            return Err(format!(
                "{} has an IPv4 address besides loopback",
                topo.label(h)
            ));
        }
    }

    for &(h, interfaces) in &plan {
        topo.start(
            h,
            &[
                "-i",
                interfaces,
                "--group",
                GROUP_V6,
                "--interval",
                INTERVAL,
                "--dead-after",
                "3",
            ],
        )?;
    }
    let all: Vec<usize> = plan.iter().map(|p| p.0).collect();
    let ids: BTreeSet<u16> = homes
        .iter()
        .map(|(_, address)| node_id_in(address))
        .collect();
    let took = converge(
        &mut topo,
        &all,
        &ids,
        "4 maps list all 4 IPv6-only nodes across the gateway",
    )?;

    let gateway_id = node_id_in(GATEWAY[0]);
    for &(h, own) in &homes {
        let label = topo.label(h).to_string();
        let json = topo.map_json(h)?;
        if json.node_id != Some(node_id_in(own)) {
            return Err(format!(
                "{label} at {own} says it is node {:?}, not {} (last two bytes)",
                json.node_id,
                node_id_in(own)
            ));
        }
        // Every node at its own IPv6 address.
        for &(_, address) in &homes {
            let id = node_id_in(address);
            let node = json
                .node(id)
                .ok_or(format!("{label}: JSON lacks node {id}"))?;
            let primaries = node.addresses_with_role("primary");
            let gateway_leg_here = id == gateway_id && h != gateway;
            if !gateway_leg_here && primaries != [IpAddr::V6(addr_of::<Ipv6Addr>(address))] {
                return Err(format!(
                    "{label}: node {id} has primary addresses {primaries:?}, expected {}",
                    addr_of::<Ipv6Addr>(address)
                ));
            }
        }
        // The gateway: primary on this side's link, the other leg as an IPv6 alias.
        let gw = json
            .node(gateway_id)
            .ok_or(format!("{label}: JSON lacks the gateway {gateway_id}"))?;
        let legs: BTreeSet<IpAddr> = gw.addresses.iter().map(|(ip, _)| *ip).collect();
        let expected: BTreeSet<IpAddr> = GATEWAY
            .iter()
            .map(|g| IpAddr::V6(addr_of::<Ipv6Addr>(g)))
            .collect();
        if !gw.gateway || legs != expected || gw.addresses_with_role("alias").len() != 1 {
            return Err(format!(
                "{label}: gateway {gateway_id} should be a gateway with both legs, one an alias: {:?}",
                gw
            ));
        }
        if h != gateway {
            for &(other, address) in &homes {
                let far = plan.iter().find(|p| p.0 == other).map(|p| p.1)
                    != plan.iter().find(|p| p.0 == h).map(|p| p.1);
                let id = node_id_in(address);
                let via = json.node(id).and_then(|n| n.via);
                if other != gateway && far && via != Some(gateway_id) {
                    return Err(format!(
                        "{label}: node {id} on the other link has via={via:?}, expected {gateway_id}"
                    ));
                }
            }
        }

        // The setpe text: no map line can hold IPv6; the header says so for every node.
        let text = topo.map_text(h)?;
        let map = Membership::parse(&text).map_err(|why| format!("{label}: {why}"))?;
        if !map.is_empty() {
            return Err(format!(
                "{label}: an IPv6-only map has setpe lines: {map}\n{text}"
            ));
        }
        for id in &ids {
            let says = text.lines().any(|l| {
                l.starts_with('#')
                    && l.contains(&format!("node {id} has no IPv4 address"))
                    && l.contains("setpe cannot show it")
            });
            if !says {
                return Err(format!(
                    "{label}: showmap does not say that node {id} cannot be shown in setpe:\n{text}"
                ));
            }
        }
    }
    step(
        "ids are the last two bytes; JSON carries the IPv6 addresses, gateway and via; setpe text explains",
        Duration::ZERO,
    );
    std::thread::sleep(Duration::from_millis(1500));
    still_converged(&mut topo, &all, &ids)?;
    Ok(format!(
        "4 IPv6-only nodes on {GROUP_V6} converged across a gateway in {:.2}s",
        took.as_secs_f64()
    ))
}
