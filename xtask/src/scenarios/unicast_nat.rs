//! A seed behind NAT (issue 15, a documented limit): every direct datagram must come from
//! an address its sender announces. Two subnets joined by a router that masquerades what
//! leaves subnet B and forwards UDP to the cluster port on its A address to the seed on B
//! (nftables in the router's namespace). A newcomer on A seeded on that forwarded address
//! gets the seed's answers from the router's address: it refuses them (and warns, rate
//! limited), logs once that the seed does not answer, keeps retrying and stays alone in
//! its map, never adding the seed; both daemons run on. (The seed, which hears the
//! newcomer's JOINs from their true address, adds it and probes it out again at each retry.)

use std::net::Ipv4Addr;
use std::time::{Duration, Instant};

use super::routed::routed_segments;
use super::unicast_setup::{wait_for_line, UNICAST_ARGS};
use super::wire_tools::PORT;
use super::{binaries_and_dir, step, Ctx, Scenario};
use crate::testbed::{addr_of, exec_in, node_id_in, wait_until, DaemonHosts, Topology};

/// The router's legs: its A address is the seed's forwarded one.
const ROUTER: [&str; 2] = ["10.77.170.1/24", "10.77.171.1/24"];
/// The newcomer (A) and the seed (B).
const NEWCOMER: &str = "10.77.170.11/24";
const SEED: &str = "10.77.171.12/24";
/// How long the newcomer is watched: past the fourth contact (7 s) with room.
const WATCH: Duration = Duration::from_secs(10);

/// A seed reached through NAT.
pub(super) const UNICAST_NAT: Scenario = Scenario {
    name: "unicast-nat",
    about: "a seed behind NAT (masquerade, forwarded port): the newcomer refuses its translated answers, stays alone, logs the seed silent once, runs on",
    timeout: Duration::from_secs(60),
    needs_daemon: true,
    run: unicast_nat,
};

fn unicast_nat(ctx: &Ctx) -> Result<String, String> {
    let (binaries, dir) = binaries_and_dir(ctx)?;
    let mut topo = Topology::new(binaries, dir);
    let (router, [a, b]) = routed_segments(&mut topo, ROUTER, [&[NEWCOMER], &[SEED]])?;
    let (newcomer, seed) = (a[0], b[0]);
    let ns = topo.namespace(router).to_string();
    let nat = format!(
        "add table ip nat; \
         add chain ip nat pre {{ type nat hook prerouting priority -100 ; }} ; \
         add chain ip nat post {{ type nat hook postrouting priority 100 ; }} ; \
         add rule ip nat pre iif r0 udp dport {PORT} dnat to {} ; \
         add rule ip nat post oif r0 masquerade",
        addr_of::<Ipv4Addr>(SEED)
    );
    for command in [
        vec!["sysctl", "-qw", "net.ipv4.ip_forward=1"],
        vec!["nft", nat.as_str()],
    ] {
        let output = exec_in(&ns, &command)?;
        if !output.status.success() {
            return Err(format!(
                "{} failed in the router: {}",
                command[0],
                String::from_utf8_lossy(&output.stderr).trim()
            ));
        }
    }
    let forwarded = addr_of::<Ipv4Addr>(ROUTER[0]).to_string();
    let mut args = vec!["-i", "omdB", "--no-multicast"];
    args.extend_from_slice(UNICAST_ARGS);
    topo.start(seed, &args)?;
    let mut args = vec!["-i", "omdA", "--no-multicast", "--peer", &forwarded];
    args.extend_from_slice(UNICAST_ARGS);
    let started = Instant::now();
    topo.start(newcomer, &args)?;

    // The seed hears the newcomer (the forwarded port works) ...
    let newcomer_id = node_id_in(NEWCOMER);
    wait_until(WATCH, Duration::from_millis(25), || {
        topo.map_json(seed)
            .is_ok_and(|m| m.ids().contains(&newcomer_id))
    })
    .map_err(|_| "the seed never heard the newcomer through the forwarded port".to_string())?;
    // ... but the newcomer refuses what comes back from the router's address.
    let silent = format!("warn: seed {forwarded}:{PORT} does not answer");
    wait_for_line(&topo, newcomer, &silent, WATCH)?;
    wait_for_line(
        &topo,
        newcomer,
        "from a source address they do not claim",
        WATCH,
    )?;
    let own = [newcomer_id].into_iter().collect();
    while started.elapsed() < WATCH {
        let ids = topo.map_json(newcomer)?.ids();
        if ids != own {
            return Err(format!("the newcomer lists {ids:?}, not itself alone"));
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    let count = topo.daemon_output(newcomer).matches(&silent).count();
    if count != 1 {
        return Err(format!("{silent:?} was logged {count} times, not once"));
    }
    topo.check_running(&[newcomer, seed])?;
    step(
        "seed behind NAT: its translated answers refused, the newcomer alone, the seed's silence logged once, both running",
        started.elapsed(),
    );
    Ok(format!(
        "newcomer stayed alone for {}s; translated datagrams refused",
        WATCH.as_secs()
    ))
}
