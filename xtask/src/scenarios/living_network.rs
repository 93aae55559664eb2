//! A living network (issue 12): addresses that change, an interface that comes late, goes
//! away and comes back, links that go down, storms of changes. Three `omdiscd` nodes on a
//! bridge at `--interval 0.5 --dead-after 3`; the network of one of them changes under its
//! running daemon, and every map must follow within the bounds below.

use std::net::Ipv4Addr;
use std::time::{Duration, Instant};

use super::{binaries_and_dir, step, step_within, Ctx, Scenario};
use crate::proc_stats;
use crate::testbed::{wait_until, Cluster, DaemonHosts};

/// The daemon arguments every node gets.
pub(super) const DAEMON_ARGS: &[&str] = &["--interval", "0.5", "--dead-after", "3"];
/// Nodes of each scenario.
const NODES: usize = 3;
/// The node whose network changes.
const CHANGED: usize = 2;
/// The three nodes.
const ALL: [usize; NODES] = [0, 1, 2];

/// A node that can serve again (address back, interface created again, address changed)
/// is in every map within this time (the issue: "within a second").
pub(super) const REJOIN_BOUND: Duration = Duration::from_secs(1);
/// A node whose address changed is listed under the new one (and the id it derives from
/// it) everywhere within this time, and the identity it had before is gone from every map
/// (its LEAVE, sent from the new address, not an expiry): one interval (0.5 s, randomised
/// up to 0.62 s) plus delivery; the engine announces at once, so about 0.1 s is typical.
pub(super) const ADDRESS_BOUND: Duration = Duration::from_secs(1);
/// Waits go on this long past a bound, so a failure says how late it was.
pub(super) const GRACE: Duration = Duration::from_secs(5);
/// Silent nodes have expired from every map by then (interval × dead-after + 1 s).
pub(super) const EXPIRY: Duration = Duration::from_millis(2_500);

/// `--node-id` of the node in the fixed-id scenario.
const FIXED_ID: u16 = 4242;

/// An address change with an id derived from the address.
pub(super) const ADDRESS_CHANGE: Scenario = Scenario {
    name: "address-change",
    about: "a node's address changes: every map shows its new id and address within 1 s, the old id is gone",
    timeout: Duration::from_secs(60),
    needs_daemon: true,
    run: address_change,
};

/// An address change with `--node-id`.
pub(super) const ADDRESS_CHANGE_FIXED_ID: Scenario = Scenario {
    name: "address-change-node-id",
    about: "with --node-id the id stays and every map shows the new address within 1 s",
    timeout: Duration::from_secs(60),
    needs_daemon: true,
    run: address_change_fixed_id,
};

/// Started before the interface has an address.
pub(super) const STARTED_BEFORE_ADDRESS: Scenario = Scenario {
    name: "started-before-address",
    about: "omdiscd on an interface without an address waits (one log line) and is in every map within 1 s of the address",
    timeout: Duration::from_secs(60),
    needs_daemon: true,
    run: started_before_address,
};

/// The interface is deleted and created again.
pub(super) const INTERFACE_RECREATED: Scenario = Scenario {
    name: "interface-recreated",
    about: "the interface is deleted (logged once) and created again: re-joined, in every map within 1 s",
    timeout: Duration::from_secs(60),
    needs_daemon: true,
    run: interface_recreated,
};

/// The interface goes down for 3 s and comes back.
pub(super) const LINK_DOWN_UP: Scenario = Scenario {
    name: "link-down-up",
    about: "the interface goes down for 3 s: back in every map within 1 s of coming up",
    timeout: Duration::from_secs(60),
    needs_daemon: true,
    run: link_down_up,
};

/// The only address goes and comes back.
pub(super) const ADDRESS_REMOVED_RETURNED: Scenario = Scenario {
    name: "address-removed-returned",
    about: "the only address is removed (the node leaves, keeps running) and returns: in every map within 1 s",
    timeout: Duration::from_secs(60),
    needs_daemon: true,
    run: address_removed_returned,
};

/// A cluster of three, converged.
fn converged(ctx: &Ctx, base: [u8; 3], fixed_id: bool) -> Result<Cluster, String> {
    let (binaries, dir) = binaries_and_dir(ctx)?;
    let mut cluster = Cluster::new(binaries, dir, base, NODES, DAEMON_ARGS)?;
    if fixed_id {
        cluster.set_node_id(CHANGED, FIXED_ID);
    }
    for i in ALL {
        cluster.start(i)?;
    }
    let took = cluster.wait_for_maps(&ALL, &ALL, Duration::from_secs(2) + GRACE)?;
    step("3 nodes converged", took);
    Ok(cluster)
}

/// Counts the lines of `output` that contain `needle`.
fn lines_with(output: &str, needle: &str) -> usize {
    output.lines().filter(|l| l.contains(needle)).count()
}

fn address_change(ctx: &Ctx) -> Result<String, String> {
    let mut cluster = converged(ctx, [10, 77, 41], false)?;
    let old_id = cluster.id(CHANGED);
    let logged_before = log_lengths(&cluster);
    let changed = Instant::now();
    cluster.change_address(CHANGED, Ipv4Addr::new(10, 77, 41, 42))?;
    let new_id = cluster.id(CHANGED);
    let shown = wait_for_listing(&mut cluster, new_id, ADDRESS_BOUND + GRACE)?;
    step_within(
        &format!("new id {new_id} with its new address in all 3 maps"),
        shown,
        ADDRESS_BOUND,
    )?;
    cluster.wait_for_maps(&ALL, &ALL, ADDRESS_BOUND + GRACE)?;
    let old_gone = changed.elapsed();
    step_within(
        &format!("old id {old_id} gone from all 3 maps"),
        old_gone,
        ADDRESS_BOUND,
    )?;
    let peers = [0, 1];
    let left = logged_since(
        &cluster,
        &logged_before,
        &peers,
        &format!("node {old_id} left"),
    );
    let expired = logged_since(
        &cluster,
        &logged_before,
        &peers,
        &format!("node {old_id} expired"),
    );
    if left != peers.len() || expired != 0 {
        return Err(format!(
            "the 2 peers logged {left} LEAVEs and {expired} expiries of node {old_id}, not 2 and 0"
        ));
    }
    step(
        &format!("both peers logged \"node {old_id} left\""),
        Duration::ZERO,
    );
    check_mospe(&cluster, CHANGED, new_id)?;
    Ok(format!(
        "id {old_id} -> {new_id}: new one everywhere in {:.2}s, old one left everywhere in {:.2}s",
        shown.as_secs_f64(),
        old_gone.as_secs_f64()
    ))
}

fn address_change_fixed_id(ctx: &Ctx) -> Result<String, String> {
    let mut cluster = converged(ctx, [10, 77, 42], true)?;
    let logged_before = log_lengths(&cluster);
    let changed = Instant::now();
    cluster.change_address(CHANGED, Ipv4Addr::new(10, 77, 42, 42))?;
    cluster.wait_for_maps(&ALL, &ALL, ADDRESS_BOUND + GRACE)?;
    let took = changed.elapsed();
    step_within(
        &format!("node {FIXED_ID} listed with 10.77.42.42 in all 3 maps"),
        took,
        ADDRESS_BOUND,
    )?;
    let conflicts = logged_since(&cluster, &logged_before, &ALL, "conflict");
    if conflicts != 0 {
        return Err(format!(
            "{conflicts} id conflicts logged: the new address was taken for another host"
        ));
    }
    check_mospe(&cluster, CHANGED, FIXED_ID)?;
    Ok(format!(
        "node {FIXED_ID} at its new address everywhere in {:.2}s, no conflict",
        took.as_secs_f64()
    ))
}

/// How much each host's daemon has printed so far (see [`logged_since`]).
fn log_lengths(cluster: &Cluster) -> Vec<usize> {
    ALL.iter()
        .map(|&i| cluster.daemon_output(i).len())
        .collect()
}

/// Lines containing `needle` that the daemons of `hosts` printed since `before`
/// ([`log_lengths`]).
fn logged_since(cluster: &Cluster, before: &[usize], hosts: &[usize], needle: &str) -> usize {
    hosts
        .iter()
        .map(|&i| {
            let output = cluster.daemon_output(i);
            let from = before.get(i).copied().unwrap_or(0).min(output.len());
            lines_with(output.get(from..).unwrap_or(""), needle)
        })
        .sum()
}

/// Waits until every map lists node `id` with host `CHANGED`'s address now.
fn wait_for_listing(cluster: &mut Cluster, id: u16, timeout: Duration) -> Result<Duration, String> {
    let address = Some(cluster.address(CHANGED));
    wait_until(timeout, Duration::from_millis(25), || {
        ALL.iter().all(|&o| {
            cluster
                .map(o)
                .is_ok_and(|m| m.get(id).is_some_and(|n| n.primary == address))
        })
    })
    .map_err(|_| {
        format!(
            "node {id} is not listed at {address:?} everywhere: {}",
            cluster.describe_maps(&ALL)
        )
    })
}

/// `showmap` on host `i` names `id` as its own node (`om_mospe`).
fn check_mospe(cluster: &Cluster, i: usize, id: u16) -> Result<(), String> {
    let text = cluster.map_text(i)?;
    let own = format!("this node is {id},");
    if text.contains(&own) {
        Ok(())
    } else {
        Err(format!(
            "{}'s map does not say \"{own}\": {}",
            cluster.label(i),
            text.lines().next().unwrap_or("")
        ))
    }
}

fn started_before_address(ctx: &Ctx) -> Result<String, String> {
    let (binaries, dir) = binaries_and_dir(ctx)?;
    let mut cluster = Cluster::new(binaries, dir, [10, 77, 43], NODES, DAEMON_ARGS)?;
    cluster.set_address_present(CHANGED, false)?;
    for i in ALL {
        cluster.start(i)?;
    }
    cluster.wait_for_maps(&[0, 1], &[0, 1], Duration::from_secs(2) + GRACE)?;
    std::thread::sleep(Duration::from_secs(1));
    cluster.check_running(&[CHANGED])?;
    let waiting = lines_with(&cluster.daemon_output(CHANGED), "waiting");
    if waiting != 1 {
        return Err(format!(
            "the daemon without an address logged {waiting} waiting lines, not 1: {}",
            cluster.daemon_output(CHANGED)
        ));
    }
    step(
        "daemon without an address runs and said once that it waits",
        Duration::ZERO,
    );
    let added = Instant::now();
    cluster.set_address_present(CHANGED, true)?;
    cluster.wait_for_maps(&ALL, &ALL, REJOIN_BOUND + GRACE)?;
    let took = added.elapsed();
    step_within(
        "joined, in all 3 maps after the address appeared",
        took,
        REJOIN_BOUND,
    )?;
    Ok(format!(
        "in every map {:.2}s after its address appeared",
        took.as_secs_f64()
    ))
}

fn interface_recreated(ctx: &Ctx) -> Result<String, String> {
    let mut cluster = converged(ctx, [10, 77, 44], false)?;
    cluster.delete_interface(CHANGED)?;
    let gone = cluster.wait_for_maps(&[0, 1], &[0, 1], EXPIRY + GRACE)?;
    step("deleted interface's node gone from the 2 other maps", gone);
    std::thread::sleep(Duration::from_secs(1));
    cluster.check_running(&[CHANGED])?;
    let output = cluster.daemon_output(CHANGED);
    let gone_lines = lines_with(&output, "does not exist");
    if gone_lines != 1 {
        return Err(format!(
            "the deletion was logged {gone_lines} times, not once: {output}"
        ));
    }
    let created = Instant::now();
    cluster.create_interface(CHANGED)?;
    cluster.wait_for_maps(&ALL, &ALL, REJOIN_BOUND + GRACE)?;
    let took = created.elapsed();
    step_within(
        "re-joined, in all 3 maps after the interface came back",
        took,
        REJOIN_BOUND,
    )?;
    Ok(format!(
        "back in every map {:.2}s after the interface was created again",
        took.as_secs_f64()
    ))
}

fn link_down_up(ctx: &Ctx) -> Result<String, String> {
    let mut cluster = converged(ctx, [10, 77, 45], false)?;
    cluster.set_interface_up(CHANGED, false)?;
    std::thread::sleep(Duration::from_secs(3));
    let up = Instant::now();
    cluster.set_interface_up(CHANGED, true)?;
    cluster.wait_for_maps(&ALL, &ALL, REJOIN_BOUND + GRACE)?;
    let took = up.elapsed();
    step_within(
        "back in all 3 maps after the link came up",
        took,
        REJOIN_BOUND,
    )?;
    cluster.check_running(&ALL)?;
    Ok(format!(
        "back in every map {:.2}s after link up",
        took.as_secs_f64()
    ))
}

fn address_removed_returned(ctx: &Ctx) -> Result<String, String> {
    let mut cluster = converged(ctx, [10, 77, 46], false)?;
    let removed = Instant::now();
    cluster.set_address_present(CHANGED, false)?;
    // Out of the cluster, its own map is empty at once (under its last id).
    wait_until(ADDRESS_BOUND + GRACE, Duration::from_millis(25), || {
        cluster.map(CHANGED).is_ok_and(|m| m.is_empty())
    })
    .map_err(|_| {
        format!(
            "the node without an address still has a map: {}",
            cluster.describe_maps(&[CHANGED])
        )
    })?;
    step_within(
        "own map empty after the last address went",
        removed.elapsed(),
        ADDRESS_BOUND,
    )?;
    check_mospe(&cluster, CHANGED, cluster.id(CHANGED))?;
    // Its LEAVE had no address to be sent from: the others expire it.
    cluster.wait_for_maps(&[0, 1], &[0, 1], EXPIRY + GRACE)?;
    let gone = removed.elapsed();
    step_within(
        "node without an address gone from the 2 other maps",
        gone,
        EXPIRY,
    )?;
    cluster.check_running(&[CHANGED])?;
    let returned = Instant::now();
    cluster.set_address_present(CHANGED, true)?;
    cluster.wait_for_maps(&ALL, &ALL, REJOIN_BOUND + GRACE)?;
    let took = returned.elapsed();
    step_within(
        "back in all 3 maps after the address returned",
        took,
        REJOIN_BOUND,
    )?;
    Ok(format!(
        "own map empty at once, gone from the others in {:.2}s, back {:.2}s after the address returned",
        gone.as_secs_f64(),
        took.as_secs_f64()
    ))
}

/// Flap storm: the changed node's interface goes down and up 20 times a second for 10 s,
/// then 1 000 address changes (500 added, 500 removed) in one burst.
pub(super) const FLAP_STORM: Scenario = Scenario {
    name: "flap-storm",
    about: "20 link flaps/s for 10 s, then 1 000 address events: bounded CPU and log lines, correct maps after",
    timeout: Duration::from_secs(120),
    needs_daemon: true,
    run: flap_storm,
};

/// Most CPU the flapping daemon may use for the whole storm (10 s of flaps and the burst
/// of address events): a tenth of a core on average, with room for a loaded machine.
const STORM_CPU_BOUND: Duration = Duration::from_millis(1_500);
/// Most log lines the flapping daemon may write during the storm: 40 for the link and
/// address changes (their own lines are rate-limited), plus what the probe protocol may
/// say while the node's link is down and its probes fail: at most one suspicion and one
/// removal or re-join line per probe interval (500 ms) over the 10 s storm. The count
/// does not grow with the flap rate. (A node whose own link is down still suspects the
/// members it cannot reach; not suspecting then, Lifeguard's local health, would take
/// these lines away.)
const STORM_LOG_LINES_BOUND: usize = 40 + 2 * 20;
/// After the storm, every map is right within this time.
const AFTER_STORM_BOUND: Duration = Duration::from_secs(2);

fn flap_storm(ctx: &Ctx) -> Result<String, String> {
    let mut cluster = converged(ctx, [10, 77, 47], false)?;
    let pid = cluster.pid(CHANGED).ok_or("no daemon pid")?;
    let cpu_before = proc_stats::cpu_time(pid)?;
    let lines_before = cluster.daemon_output(CHANGED).lines().count();

    let started = Instant::now();
    let mut flaps = 0;
    while started.elapsed() < Duration::from_secs(10) {
        let cycle = Instant::now();
        cluster.set_interface_up(CHANGED, false)?;
        std::thread::sleep(Duration::from_millis(15));
        cluster.set_interface_up(CHANGED, true)?;
        flaps += 1;
        std::thread::sleep(Duration::from_millis(50).saturating_sub(cycle.elapsed()));
    }
    step(&format!("{flaps} link flaps"), started.elapsed());
    let burst = Instant::now();
    address_burst(&cluster, CHANGED)?;
    step("1 000 address events", burst.elapsed());

    let settled = cluster.wait_for_maps(&ALL, &ALL, AFTER_STORM_BOUND + GRACE)?;
    step_within(
        "all 3 maps right after the storm",
        settled,
        AFTER_STORM_BOUND,
    )?;
    cluster.check_running(&ALL)?;
    let cpu = proc_stats::cpu_time(pid)?.saturating_sub(cpu_before);
    let lines = cluster
        .daemon_output(CHANGED)
        .lines()
        .count()
        .saturating_sub(lines_before);
    step(
        &format!(
            "the flapping daemon used {:.3}s of CPU and wrote {lines} log lines",
            cpu.as_secs_f64()
        ),
        Duration::ZERO,
    );
    if flaps < 150 {
        return Err(format!(
            "only {flaps} flaps in 10 s: the storm was too slow to count"
        ));
    }
    if cpu > STORM_CPU_BOUND {
        return Err(format!(
            "the daemon used {:.2}s of CPU in the storm (bound {:.2}s)",
            cpu.as_secs_f64(),
            STORM_CPU_BOUND.as_secs_f64()
        ));
    }
    if lines > STORM_LOG_LINES_BOUND {
        return Err(format!(
            "the daemon wrote {lines} log lines in the storm (bound {STORM_LOG_LINES_BOUND})"
        ));
    }
    Ok(format!(
        "{flaps} flaps + 1 000 address events: {:.2}s CPU, {lines} log lines, maps right {:.2}s after",
        cpu.as_secs_f64(),
        settled.as_secs_f64()
    ))
}

/// 500 `/32` addresses added to host `i`'s interface, then removed, in one `ip -batch`.
fn address_burst(cluster: &Cluster, i: usize) -> Result<(), String> {
    let mut batch = String::new();
    for verb in ["add", "del"] {
        for k in 0..500u32 {
            let address = Ipv4Addr::new(10, 78, (k / 250) as u8, (k % 250 + 1) as u8);
            batch.push_str(&format!(
                "addr {verb} {address}/32 dev {}\n",
                crate::testbed::NODE_IF
            ));
        }
    }
    let file = std::env::temp_dir().join(format!("omdisc-burst-{}.batch", std::process::id()));
    std::fs::write(&file, batch).map_err(|e| format!("cannot write {}: {e}", file.display()))?;
    let result = cluster.ip_batch(i, &file);
    let _ = std::fs::remove_file(&file);
    result
}
