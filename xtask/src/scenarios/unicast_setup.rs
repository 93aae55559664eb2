//! What the unicast scenarios (issue 15: `unicast*`, `probe-30`) share: their timers and
//! bounds, a unicast-only host, the timed waits for convergence and for a stopped node
//! to leave the maps, the count of multicast datagrams sent, and waits for log lines.

use std::collections::BTreeSet;
use std::time::Duration;

use nix::sys::signal::Signal;

use super::{step, step_within};
use crate::testbed::{
    drop_multicast, multicast_dropped, tail, wait_until, Cluster, DaemonHosts, Topology,
};

/// Timers of every node of these scenarios.
pub(super) const UNICAST_ARGS: &[&str] = &["--interval", "0.5", "--dead-after", "3"];
/// Every map lists every node within this time after the last start (a join is visible
/// everywhere within a second; a chain takes a few round trips more).
pub(super) const CONVERGE_BOUND: Duration = Duration::from_secs(2);
/// A SIGKILL'd unicast-only node is gone from every map within this time: the probes
/// (probe period, indirect probes, suspicion) at `--interval 0.5`, with room for a loaded
/// machine; the multicast expiry bound of the same timers is 2.5 s.
pub(super) const KILL_BOUND: Duration = Duration::from_secs(5);
/// How long waits go on past a bound, so a failure says how late it was.
pub(super) const GRACE: Duration = Duration::from_secs(5);

/// Makes host `i` unicast-only from its next start: its host drops every multicast
/// datagram ([`drop_multicast`]) and its daemon runs `--no-multicast` with `extra` (seeds,
/// key file, ...).
pub(super) fn unicast_only(cluster: &mut Cluster, i: usize, extra: &[&str]) -> Result<(), String> {
    drop_multicast(cluster.namespace(i))?;
    let mut args = vec!["--no-multicast"];
    args.extend_from_slice(extra);
    cluster.set_own_args(i, &args);
    Ok(())
}

/// Starts the daemons of `hosts` in order.
pub(super) fn start_all(cluster: &mut Cluster, hosts: &[usize]) -> Result<(), String> {
    hosts.iter().try_for_each(|&i| cluster.start(i))
}

/// Waits until the maps of `hosts` list exactly `hosts`, prints the step `what` and fails
/// past `bound`; the time it took.
pub(super) fn converged(
    cluster: &mut Cluster,
    hosts: &[usize],
    bound: Duration,
    what: &str,
) -> Result<Duration, String> {
    let took = cluster.wait_for_maps(hosts, hosts, bound + GRACE)?;
    step_within(what, took, bound)?;
    Ok(took)
}

/// Sends `signal` to host `node`'s daemon, then as [`converged`] for `others`: the time
/// until `node` was gone from their maps.
pub(super) fn gone_after(
    cluster: &mut Cluster,
    node: usize,
    signal: Signal,
    others: &[usize],
    bound: Duration,
    what: &str,
) -> Result<Duration, String> {
    cluster.signal(node, signal)?;
    converged(cluster, others, bound, what)
}

/// As [`converged`] for a [`Topology`]: until the maps of `hosts` list exactly `ids`.
pub(super) fn ids_within(
    topo: &mut Topology,
    hosts: &[usize],
    ids: &BTreeSet<u16>,
    bound: Duration,
    what: &str,
) -> Result<Duration, String> {
    let took = topo.wait_for_ids(hosts, ids, bound + GRACE)?;
    step_within(what, took, bound)?;
    Ok(took)
}

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
