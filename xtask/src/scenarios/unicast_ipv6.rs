//! Unicast seeds over IPv6 (issue 15): four IPv6-only hosts on a segment whose hosts drop
//! every multicast UDP datagram (nftables, input and output), seeded in a chain by IPv6
//! addresses — `--peer [ADDR]:PORT`, `--peer ADDR` (the default port) and a peers file, the
//! last without `-i` — converge with every node at its own IPv6 address, and not one
//! multicast datagram is sent; a SIGKILL'd node is found dead by the probes.

use std::collections::BTreeSet;
use std::net::{IpAddr, Ipv6Addr};
use std::time::Duration;

use super::unicast_setup::{ids_within, multicast_sent, CONVERGE_BOUND, KILL_BOUND, UNICAST_ARGS};
use super::wire_tools::PORT;
use super::{binaries_and_dir, step, Ctx, Scenario};
use crate::testbed::{addr_of, drop_multicast, node_id_in, DaemonHosts, Leg, Topology};

/// A site-local group: the cluster's family is IPv6 (nothing is sent to it).
const GROUP_V6: &str = "ff05::4d:78";
/// The hosts' addresses, `n1` to `n4`.
const HOSTS: [&str; 4] = [
    "fd00:77:160::11/64",
    "fd00:77:160::12/64",
    "fd00:77:160::13/64",
    "fd00:77:160::14/64",
];
/// The hosts' interface.
const IFNAME: &str = "omd0";

/// IPv6 seeds, no multicast.
pub(super) const UNICAST_IPV6: Scenario = Scenario {
    name: "unicast-ipv6",
    about: "4 IPv6-only nodes where multicast is dropped (nft), seeded by IPv6 addresses (--peer, peers file): all converge, SIGKILL is probed out",
    timeout: Duration::from_secs(60),
    needs_daemon: true,
    run: unicast_ipv6,
};

/// The address of host `i`, without its prefix length.
fn address(i: usize) -> Ipv6Addr {
    addr_of(HOSTS[i])
}

fn unicast_ipv6(ctx: &Ctx) -> Result<String, String> {
    let (binaries, dir) = binaries_and_dir(ctx)?;
    let mut topo = Topology::new(binaries, dir);
    let segment = topo.add_segment("sw")?;
    let mut hosts = Vec::new();
    for (i, host) in HOSTS.iter().enumerate() {
        let h = topo.add_host(&format!("n{}", i + 1), &[Leg::v6(segment, IFNAME, host)])?;
        drop_multicast(topo.namespace(h))?;
        hosts.push(h);
    }
    // n2 names n1 with a port, n3 names n2 without one, n4's peers file names n3.
    let peers_file = dir.join("n4.peers");
    std::fs::write(
        &peers_file,
        format!("# n3, IPv6 with a port\n[{}]:{PORT}\n", address(2)),
    )
    .map_err(|e| format!("cannot write {}: {e}", peers_file.display()))?;
    let seeds: [Vec<String>; 4] = [
        vec![],
        vec!["--peer".into(), format!("[{}]:{PORT}", address(0))],
        vec!["--peer".into(), address(1).to_string()],
        vec!["--peers-file".into(), peers_file.display().to_string()],
    ];
    for (&h, seed) in hosts.iter().zip(&seeds) {
        // n4 names no interface: it serves on the one of its route to its seed.
        let mut args = if h == hosts[3] {
            vec![]
        } else {
            vec!["-i", IFNAME]
        };
        args.extend_from_slice(&["--group", GROUP_V6, "--no-multicast"]);
        args.extend_from_slice(UNICAST_ARGS);
        args.extend(seed.iter().map(String::as_str));
        topo.start(h, &args)?;
    }
    let ids: BTreeSet<u16> = HOSTS.iter().map(|a| node_id_in(a)).collect();
    let took = ids_within(
        &mut topo,
        &hosts,
        &ids,
        CONVERGE_BOUND,
        "4 maps list all 4 IPv6 nodes (chain of IPv6 seeds, no multicast), after the last start",
    )?;
    for &h in &hosts {
        let json = topo.map_json(h)?;
        for (i, host) in HOSTS.iter().enumerate() {
            let id = node_id_in(host);
            let primaries = json
                .node(id)
                .map(|n| n.addresses_with_role("primary"))
                .unwrap_or_default();
            if primaries != [IpAddr::V6(address(i))] {
                return Err(format!(
                    "{} lists node {id} at {primaries:?}, not at {}",
                    topo.label(h),
                    address(i)
                ));
            }
        }
    }
    step(
        "every map has every node at its IPv6 address",
        Duration::ZERO,
    );
    let namespaces: Vec<&str> = hosts.iter().map(|&h| topo.namespace(h)).collect();
    let sent = multicast_sent(&namespaces)?;

    let victim = hosts[1];
    let others: Vec<usize> = hosts.iter().copied().filter(|&h| h != victim).collect();
    let left: BTreeSet<u16> = others.iter().map(|&h| node_id_in(HOSTS[h])).collect();
    topo.kill(victim)?;
    let gone = ids_within(
        &mut topo,
        &others,
        &left,
        KILL_BOUND,
        "SIGKILL'd n2 (a seed) gone from the 3 other maps",
    )?;
    topo.check_running(&others)?;
    Ok(format!(
        "IPv6 chain converged in {:.2}s ({sent} multicast sent); SIGKILL'd seed gone in {:.2}s",
        took.as_secs_f64(),
        gone.as_secs_f64()
    ))
}
