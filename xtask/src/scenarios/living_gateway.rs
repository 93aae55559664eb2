//! A gateway whose legs come and go one at a time (issue 12): while one leg has no address,
//! the others keep serving and relaying, and the leg is back within a second of its address.
//! Three segments with one node each and a gateway on all three, at `--interval 0.5
//! --dead-after 3`.

use std::collections::BTreeSet;
use std::net::IpAddr;
use std::time::{Duration, Instant};

use super::gateways::still_converged;
use super::living_network::{ADDRESS_BOUND, DAEMON_ARGS, EXPIRY, GRACE, REJOIN_BOUND};
use super::{binaries_and_dir, step, step_within, Ctx, Scenario};
use crate::testbed::{node_id_in, DaemonHosts, Leg, Topology};

/// The gateway's leg that goes and comes back, on the third segment.
const GONE_LEG: &str = "gw2";
/// Its address.
const GONE_ADDRESS: &str = "10.79.2.60/24";
/// Longer than the expiry time: what is still listed then is kept alive by announcements.
const STEADY_WAIT: Duration = Duration::from_millis(2_500);

/// A gateway leg without an address.
pub(super) const GATEWAY_LEG_GONE: Scenario = Scenario {
    name: "gateway-leg-gone",
    about: "a gateway's third leg loses its address: the other two keep relaying (nothing else expires); back in every map within 1 s",
    timeout: Duration::from_secs(60),
    needs_daemon: true,
    run: gateway_leg_gone,
};

fn gateway_leg_gone(ctx: &Ctx) -> Result<String, String> {
    let (binaries, dir) = binaries_and_dir(ctx)?;
    let mut topo = Topology::new(binaries, dir);
    for label in ["swA", "swB", "swC"] {
        topo.add_segment(label)?;
    }
    let nodes = ["10.79.0.11/24", "10.79.1.12/24", "10.79.2.13/24"];
    let mut hosts = Vec::new();
    for (segment, address) in nodes.iter().enumerate() {
        let label = format!("n{}", segment + 1);
        hosts.push(topo.add_host(&label, &[Leg::v4(segment, "omd0", address)])?);
    }
    let legs = ["10.79.0.60/24", "10.79.1.60/24", GONE_ADDRESS];
    let gateway = topo.add_host(
        "gw",
        &[
            Leg::v4(0, "gw0", legs[0]),
            Leg::v4(1, "gw1", legs[1]),
            Leg::v4(2, GONE_LEG, legs[2]),
        ],
    )?;
    for (&h, ifname) in hosts
        .iter()
        .zip(["omd0"; 3])
        .chain([(&gateway, "gw0,gw1,gw2")])
    {
        let mut args = vec!["-i", ifname];
        args.extend_from_slice(DAEMON_ARGS);
        topo.start(h, &args)?;
    }
    let [a, b, c] = [hosts[0], hosts[1], hosts[2]];
    let everyone = [a, b, c, gateway];
    let gateway_id = node_id_in(legs[0]);
    let all_ids: BTreeSet<u16> = nodes
        .iter()
        .copied()
        .map(node_id_in)
        .chain([gateway_id])
        .collect();
    let took = topo.wait_for_ids(&everyone, &all_ids, Duration::from_secs(2) + GRACE)?;
    step("3 segments and the gateway converged", took);
    let logged_before: Vec<usize> = everyone
        .iter()
        .map(|&h| topo.daemon_output(h).len())
        .collect();

    let removed = Instant::now();
    topo.ip_in(gateway, &["addr", "del", GONE_ADDRESS, "dev", GONE_LEG])?;
    let gone_alias: IpAddr = crate::testbed::addr_of(GONE_ADDRESS);
    let alias_gone = wait_for_alias(&mut topo, &[a, b], gateway_id, gone_alias, false)?;
    step_within(
        &format!("the gateway's alias {gone_alias} gone from the 2 other segments' maps"),
        alias_gone,
        ADDRESS_BOUND,
    )?;
    let still: BTreeSet<u16> = all_ids
        .iter()
        .copied()
        .filter(|&id| id != node_id_in(nodes[2]))
        .collect();
    topo.wait_for_ids(&[a, b, gateway], &still, EXPIRY + GRACE)?;
    topo.wait_for_ids(
        &[c],
        &BTreeSet::from([node_id_in(nodes[2])]),
        EXPIRY + GRACE,
    )?;
    step(
        "the cut-off segment's node expired on the others, and they on it",
        removed.elapsed(),
    );
    std::thread::sleep(STEADY_WAIT);
    still_converged(&mut topo, &[a, b, gateway], &still)?;
    let spurious: usize = everyone
        .iter()
        .zip(&logged_before)
        .filter(|(&h, _)| h != c)
        .map(|(&h, &from)| {
            let output = topo.daemon_output(h);
            output
                .get(from.min(output.len())..)
                .unwrap_or("")
                .lines()
                .filter(|l| l.ends_with(" left") || l.contains(" expired (stopped announcing)"))
                .filter(|l| !l.contains(&format!("node {} ", node_id_in(nodes[2]))))
                .count()
        })
        .sum();
    if spurious != 0 {
        return Err(format!(
            "{spurious} nodes other than the cut-off one left or expired while the gateway's other legs served"
        ));
    }
    step(
        &format!("{STEADY_WAIT:?} later the two other segments still relay through the gateway"),
        Duration::ZERO,
    );

    let back = Instant::now();
    topo.ip_in(gateway, &["addr", "add", GONE_ADDRESS, "dev", GONE_LEG])?;
    topo.wait_for_ids(&everyone, &all_ids, REJOIN_BOUND + GRACE)?;
    let rejoined = back.elapsed();
    step_within(
        "the leg back: all 4 maps whole again",
        rejoined,
        REJOIN_BOUND,
    )?;
    let alias_back = wait_for_alias(&mut topo, &[a, b], gateway_id, gone_alias, true)?;
    step("the alias back in the 2 other segments' maps", alias_back);
    Ok(format!(
        "alias gone in {:.2}s, nothing else expired, whole again {:.2}s after the address returned",
        alias_gone.as_secs_f64(),
        rejoined.as_secs_f64()
    ))
}

/// Waits until the maps of `observers` list (`listed`) or no longer list `alias` as an
/// address of node `id`; the time it took.
fn wait_for_alias(
    topo: &mut Topology,
    observers: &[usize],
    id: u16,
    alias: IpAddr,
    listed: bool,
) -> Result<Duration, String> {
    crate::testbed::wait_until(ADDRESS_BOUND + GRACE, Duration::from_millis(25), || {
        observers.iter().all(|&o| {
            topo.map_json(o).is_ok_and(|m| {
                m.node(id)
                    .is_some_and(|n| n.addresses.iter().any(|(ip, _)| *ip == alias) == listed)
            })
        })
    })
    .map_err(|_| {
        let verb = if listed { "lists" } else { "still lists" };
        format!(
            "not every map {verb} {alias} for node {id}: {}",
            topo.describe_maps(observers)
        )
    })
}
