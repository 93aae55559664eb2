//! Unicast-only nodes without `-i` on hosts with no route to any multicast group
//! (issue 15): a `--no-multicast` node needs no multicast route. Three hosts on one segment
//! with only their link routes (no default route: `ip route get 239.255.77.77` fails) run
//! `omdiscd --no-multicast` without `-i`, in a chain of seeds; the third host has a second
//! interface on another network, created first (the lower index), which must not be taken:
//! a node without `-i` serves on the interface of its route to a seed. A fourth host, with
//! a default route, runs a multicast node without `-i` (on the interface of its route to
//! the group) seeded on the first. All four converge at their cluster addresses, and the
//! unicast-only ones send no multicast datagram.

use std::collections::BTreeSet;
use std::time::Duration;

use super::unicast_setup::{ids_within, multicast_sent, CONVERGE_BOUND, UNICAST_ARGS};
use super::{binaries_and_dir, step, Ctx, Scenario};
use crate::testbed::{addr_of, drop_multicast, node_id_in, DaemonHosts, Leg, Topology};

/// The cluster's segment: `n1` to `n4`.
const CLUSTER: [&str; 4] = [
    "10.77.161.11/24",
    "10.77.161.12/24",
    "10.77.161.13/24",
    "10.77.161.14/24",
];
/// `n3`'s other network, on its first interface.
const OTHER: &str = "10.77.162.13/24";

/// `--no-multicast` without `-i` and without a multicast route.
pub(super) const UNICAST_NO_ROUTE: Scenario = Scenario {
    name: "unicast-no-route",
    about: "--no-multicast without -i on hosts with no route to the group: serves on the route to a seed, all converge",
    timeout: Duration::from_secs(60),
    needs_daemon: true,
    run: unicast_no_route,
};

fn unicast_no_route(ctx: &Ctx) -> Result<String, String> {
    let (binaries, dir) = binaries_and_dir(ctx)?;
    let mut topo = Topology::new(binaries, dir);
    let cluster = topo.add_segment("sw")?;
    let other = topo.add_segment("swO")?;
    let n1 = topo.add_host("n1", &[Leg::v4(cluster, "omd0", CLUSTER[0])])?;
    let n2 = topo.add_host("n2", &[Leg::v4(cluster, "omd0", CLUSTER[1])])?;
    let n3 = topo.add_host(
        "n3",
        &[
            Leg::v4(other, "oth0", OTHER),
            Leg::v4(cluster, "omd0", CLUSTER[2]),
        ],
    )?;
    let n4 = topo.add_host("n4", &[Leg::v4(cluster, "omd0", CLUSTER[3])])?;
    let unicast_only = [n1, n2, n3];
    for &h in &unicast_only {
        drop_multicast(topo.namespace(h))?;
        if topo.ip_in(h, &["route", "get", "239.255.77.77"]).is_ok() {
            return Err(format!(
                "{} has a route to the group: {}",
                topo.label(h),
                topo.ip_in(h, &["route", "show"])?
            ));
        }
    }
    step("n1-n3 have no route to 239.255.77.77", Duration::ZERO);
    drop_multicast(topo.namespace(n4))?;
    topo.ip_in(n4, &["route", "add", "default", "dev", "omd0"])?;
    let seed_of = |h: usize| addr_of::<std::net::Ipv4Addr>(CLUSTER[h]).to_string();
    let seeds = [None, Some(seed_of(0)), Some(seed_of(1)), Some(seed_of(0))];
    let hosts = [n1, n2, n3, n4];
    for (&h, seed) in hosts.iter().zip(&seeds) {
        let mut args = if h == n4 {
            vec![]
        } else {
            vec!["--no-multicast"]
        };
        args.extend_from_slice(UNICAST_ARGS);
        if let Some(seed) = seed {
            args.extend(["--peer", seed.as_str()]);
        }
        topo.start(h, &args)?;
    }
    let ids: BTreeSet<u16> = CLUSTER.iter().map(|a| node_id_in(a)).collect();
    let took = ids_within(
        &mut topo,
        &hosts,
        &ids,
        CONVERGE_BOUND,
        "4 maps list all 4 at their cluster addresses (no -i; n1-n3 no multicast route), after the last start",
    )?;
    let namespaces: Vec<&str> = unicast_only.iter().map(|&h| topo.namespace(h)).collect();
    multicast_sent(&namespaces)?;
    topo.check_running(&hosts)?;
    Ok(format!(
        "3 unicast-only nodes without -i or a multicast route and a multicast one without -i converged in {:.2}s",
        took.as_secs_f64()
    ))
}
