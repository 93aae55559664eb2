//! Hooks and `showmap --watch` (issue 14): a recording hook on three nodes sees join,
//! change, leave and expire in order, each with its environment and the map on stdin, soon
//! after the map shows it, and `self` when its own address changes, while `showmap --watch
//! --format json` prints one line per membership change; and hooks that hang, fail or flood stderr leave announcements, map
//! writes and joins on time.

use std::collections::BTreeSet;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use serde_json::Value;

use super::gateways::{COMMON_ARGS, GRACE, GROUP, PORT};
use super::{binaries_and_dir, step, Ctx, Scenario};
use crate::testbed::{
    listen, node_id_in, wait_until, DaemonHosts, GroupListener, Leg, Process, Topology,
};

/// Announce interval of these scenarios (`COMMON_ARGS`' `--interval`).
const INTERVAL: f64 = 0.3;
/// A change shows in the maps within this time (join, leave, restart).
const CHANGE_BOUND: Duration = Duration::from_secs(1);
/// `interval × 1.23 × dead-after + 1 s`: a SIGKILL'd node is gone by then.
const EXPIRE_BOUND: Duration = Duration::from_millis(2_200);
/// n2's address after the change (a new node id).
const NEW_ADDRESS: &str = "10.77.40.22/24";
/// A hook records an event at most this long after the map shows it.
const HOOK_LAG: Duration = Duration::from_secs(1);

/// The recording hook.
pub(super) const HOOK_EVENTS: Scenario = Scenario {
    name: "hook-events",
    about: "a recording --hook on 3 nodes sees join, change, leave, expire in order, self on an address change; showmap --watch prints one JSON line per change",
    timeout: Duration::from_secs(60),
    needs_daemon: true,
    run: hook_events,
};

/// Hooks that misbehave.
pub(super) const HOOK_MISBEHAVING: Scenario = Scenario {
    name: "hook-misbehaving",
    about:
        "hooks that hang, exit 1 or flood stderr leave announcements, map writes and joins on time",
    timeout: Duration::from_secs(60),
    needs_daemon: true,
    run: hook_misbehaving,
};

/// Wall-clock seconds now (the hook scripts stamp their records with `date`).
fn wall_now() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64())
}

/// Writes an executable `#!/bin/sh` script.
fn script(path: &Path, body: &str) -> Result<PathBuf, String> {
    std::fs::write(path, format!("#!/bin/sh\n{body}\n"))
        .and_then(|()| std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o755)))
        .map_err(|e| format!("cannot write {}: {e}", path.display()))?;
    Ok(path.to_path_buf())
}

/// A hook that records `TIME ARGV1 EVENT NODE MEMBERS SELF GATEWAY ADDRS...` per run in
/// `LOG`, and its stdin in `LOG.N.json` (N counts from 1).
fn recording_hook(dir: &Path, label: &str) -> Result<(PathBuf, PathBuf), String> {
    let log = dir.join(format!("{label}.events"));
    let body = format!(
        "log={log}\nn=$(($(cat \"$log\" 2>/dev/null | wc -l) + 1))\ncat > \"$log.$n.json\"\n\
         echo \"$(date +%s.%N) $1 $OMDISC_EVENT $OMDISC_NODE_ID $OMDISC_MEMBERS $OMDISC_SELF_ID $OMDISC_GATEWAY $OMDISC_ADDRS\" >> \"$log\"",
        log = log.display()
    );
    let hook = script(&dir.join(format!("{label}-hook")), &body)?;
    Ok((hook, log))
}

/// One recorded hook run.
#[derive(Debug, Clone)]
struct Record {
    at: f64,
    event: String,
    node: u16,
    members: usize,
    gateway: bool,
    addrs: Vec<String>,
}

fn records(log: &Path) -> Result<Vec<Record>, String> {
    let text = std::fs::read_to_string(log).unwrap_or_default();
    text.lines()
        .map(|line| {
            let f: Vec<&str> = line.split(' ').collect();
            let bad = || format!("{}: bad record {line:?}", log.display());
            if f.len() < 7 || f[1] != f[2] {
                return Err(bad());
            }
            Ok(Record {
                at: f[0].parse().map_err(|_| bad())?,
                event: f[1].to_string(),
                node: f[3].parse().map_err(|_| bad())?,
                members: f[4].parse().map_err(|_| bad())?,
                gateway: f[6] == "1",
                addrs: f[7..]
                    .iter()
                    .filter(|a| !a.is_empty())
                    .map(|a| a.to_string())
                    .collect(),
            })
        })
        .collect()
}

/// The moments the scenario saw each change in the maps (wall clock).
struct Seen {
    join: f64,
    change: f64,
    leave: f64,
    rejoin: f64,
    expire: f64,
}

fn hook_events(ctx: &Ctx) -> Result<String, String> {
    let (binaries, dir) = binaries_and_dir(ctx)?;
    let mut topo = Topology::new(binaries, dir);
    let lan = topo.add_segment("lan")?;
    let side = topo.add_segment("side")?;
    let addresses = ["10.77.40.11/24", "10.77.40.12/24", "10.77.40.13/24"];
    let n1 = topo.add_host("n1", &[Leg::v4(lan, "omd0", addresses[0])])?;
    let n2 = topo.add_host("n2", &[Leg::v4(lan, "omd0", addresses[1])])?;
    let n3 = topo.add_host(
        "n3",
        &[
            Leg::v4(lan, "omd0", addresses[2]),
            Leg::v4(side, "omd1", "10.78.40.13/24"),
        ],
    )?;
    let ids: Vec<u16> = addresses.iter().map(|a| node_id_in(a)).collect();
    let mut logs = Vec::new();
    let mut hooks = Vec::new();
    for label in ["n1", "n2", "n3"] {
        let (hook, log) = recording_hook(dir, label)?;
        hooks.push(hook.display().to_string());
        logs.push(log);
    }
    let start = |topo: &mut Topology, h: usize, interfaces: &str| {
        let mut args = vec!["-i", interfaces, "--hook", hooks[h].as_str()];
        args.extend_from_slice(COMMON_ARGS);
        topo.start(h, &args)
    };
    let wait =
        |topo: &mut Topology, observers: &[usize], members: &[u16], bound: Duration, what: &str| {
            let set: BTreeSet<u16> = members.iter().copied().collect();
            let took = topo.wait_for_ids(observers, &set, bound + GRACE)?;
            step(what, took);
            if took > bound {
                return Err(format!(
                    "{what} took {:.2}s (bound {bound:?})",
                    took.as_secs_f64()
                ));
            }
            Ok(wall_now())
        };

    start(&mut topo, n1, "omd0")?;
    wait(
        &mut topo,
        &[n1],
        &ids[..1],
        Duration::from_secs(2),
        "n1 lists itself",
    )?;
    let watch_log = dir.join("watch.out");
    let map_dir = topo.map_dir(n1).display().to_string();
    let mut watch_command = Command::new(&binaries.showmap);
    watch_command.args(["--watch", "--format", "json", "--map-dir", &map_dir]);
    let watch = Process::spawn(watch_command, "showmap --watch", &watch_log)?;
    wait_until(Duration::from_secs(5), Duration::from_millis(10), || {
        !watch.output().is_empty()
    })
    .map_err(|_| "showmap --watch printed nothing within 5 s".to_string())?;

    start(&mut topo, n2, "omd0")?;
    wait(
        &mut topo,
        &[n1, n2],
        &ids[..2],
        CHANGE_BOUND * 2,
        "n2 joined",
    )?;
    start(&mut topo, n3, "omd0")?;
    let join = wait(
        &mut topo,
        &[n1, n2, n3],
        &ids,
        CHANGE_BOUND * 2,
        "n3 joined",
    )?;

    // A change of n3's addresses and gateway role: restarted at once with a second leg.
    topo.kill(n3)?;
    start(&mut topo, n3, "omd0,omd1")?;
    let changed = wait_until(CHANGE_BOUND + GRACE, Duration::from_millis(25), || {
        [n1, n2].iter().all(|&o| {
            topo.map_json(o)
                .is_ok_and(|m| m.node(ids[2]).is_some_and(|n| n.gateway))
        })
    })
    .map_err(|_| {
        format!(
            "n3's second leg never showed: {}",
            topo.describe_maps(&[n1, n2])
        )
    })?;
    step("n3 restarted as a gateway: shown as changed", changed);
    let change = wall_now();
    topo.stop(n3)?;
    let leave = wait(
        &mut topo,
        &[n1, n2],
        &ids[..2],
        CHANGE_BOUND,
        "n3 left (SIGTERM)",
    )?;
    start(&mut topo, n3, "omd0")?;
    let rejoin = wait(&mut topo, &[n1, n2], &ids, CHANGE_BOUND * 2, "n3 rejoined")?;
    // Its own map first, so that it announced to both before it dies.
    topo.wait_for_ids(
        &[n3],
        &ids.iter().copied().collect(),
        CHANGE_BOUND * 2 + GRACE,
    )?;
    topo.kill(n3)?;
    let expire = wait(
        &mut topo,
        &[n1, n2],
        &ids[..2],
        EXPIRE_BOUND,
        "n3 expired (SIGKILL)",
    )?;
    let seen = Seen {
        join,
        change,
        leave,
        rejoin,
        expire,
    };

    // Every hook record is there within HOOK_LAG of the moment the map showed it.
    let settled = wait_until(HOOK_LAG + GRACE, Duration::from_millis(25), || {
        [n1, n2].iter().all(|&o| {
            records(&logs[o]).is_ok_and(|r| r.iter().filter(|r| r.node == ids[2]).count() >= 5)
        })
    });
    if settled.is_err() {
        return Err(format!(
            "the hooks of n1 and n2 did not record 5 events about n3: {:?}, {:?}",
            records(&logs[n1]),
            records(&logs[n2])
        ));
    }
    let mut worst_lag = 0.0f64;
    for (o, other) in [(n1, ids[1]), (n2, ids[0])] {
        worst_lag = worst_lag.max(check_records(&logs[o], ids[2], other, &seen)?);
    }
    let own = records(&logs[n3])?;
    for id in [ids[0], ids[1]] {
        if !own.iter().any(|r| r.event == "join" && r.node == id) {
            return Err(format!("n3's hook never saw node {id} join: {own:?}"));
        }
    }
    step(
        &format!("n1 and n2 recorded join, change, leave, join, expire of n3 in order, each at most {worst_lag:.2}s after the map showed it"),
        Duration::ZERO,
    );

    drop(watch);
    let lines = check_watch(
        &std::fs::read_to_string(&watch_log).unwrap_or_default(),
        ids[2],
    )?;
    step(
        &format!("showmap --watch printed {lines} JSON lines: one per change"),
        Duration::ZERO,
    );

    // n2's own address (and so its id) changes under it: its hook runs `self`. The new
    // address is added first and becomes primary when the old one goes
    // (`promote_secondaries`, as systemd sets it).
    let promote = crate::testbed::exec_in(
        topo.namespace(n2),
        &["sysctl", "-qw", "net.ipv4.conf.omd0.promote_secondaries=1"],
    )?;
    if !promote.status.success() {
        return Err("sysctl promote_secondaries failed in n2".into());
    }
    topo.ip_in(n2, &["addr", "add", NEW_ADDRESS, "dev", "omd0"])?;
    topo.ip_in(n2, &["addr", "del", addresses[1], "dev", "omd0"])?;
    let changed_at = wall_now();
    let new_id = node_id_in(NEW_ADDRESS);
    let new_ip = NEW_ADDRESS
        .split('/')
        .next()
        .unwrap_or_default()
        .to_string();
    let is_self =
        |r: &Record| r.event == "self" && r.node == new_id && r.addrs == [new_ip.as_str()];
    wait_until(CHANGE_BOUND + GRACE, Duration::from_millis(25), || {
        records(&logs[n2]).is_ok_and(|r| r.iter().any(is_self))
    })
    .map_err(|_| {
        format!(
            "n2's hook never ran `self` for node {new_id} at {new_ip}: {:?}",
            records(&logs[n2])
        )
    })?;
    let own = records(&logs[n2])?;
    let lag = own
        .iter()
        .find(|r| is_self(r))
        .map_or(0.0, |r| r.at - changed_at);
    step(
        &format!("n2's address changed: its hook ran `self` (node {new_id}) {lag:.2}s later"),
        Duration::ZERO,
    );
    if lag > CHANGE_BOUND.as_secs_f64() {
        return Err(format!(
            "n2's `self` came {lag:.2}s after its address changed (bound {CHANGE_BOUND:?})"
        ));
    }
    Ok(format!(
        "hooks in order, at most {worst_lag:.2}s after the map; {lines} watch lines; self {lag:.2}s after an address change"
    ))
}

/// Checks one observer's records: `other` joined; `node` joined, changed (as a gateway
/// with its second address), left, joined and expired, in this order, with the members
/// after each and the map on stdin; each within [`HOOK_LAG`] of when the map showed it.
/// Returns the largest lag.
fn check_records(log: &Path, node: u16, other: u16, seen: &Seen) -> Result<f64, String> {
    let all = records(log)?;
    if !all.iter().any(|r| r.event == "join" && r.node == other) {
        return Err(format!(
            "{}: no join of node {other}: {all:?}",
            log.display()
        ));
    }
    let about: Vec<&Record> = all.iter().filter(|r| r.node == node).collect();
    let kinds: Vec<&str> = about.iter().map(|r| r.event.as_str()).collect();
    if kinds != ["join", "change", "leave", "join", "expire"] {
        return Err(format!(
            "{}: events about node {node} are {kinds:?}",
            log.display()
        ));
    }
    let expected = [
        (3, seen.join),
        (3, seen.change),
        (2, seen.leave),
        (3, seen.rejoin),
        (2, seen.expire),
    ];
    let mut worst = 0.0f64;
    for (record, (members, shown)) in about.iter().zip(expected) {
        if record.members != members {
            return Err(format!(
                "{}: {record:?} should count {members} members",
                log.display()
            ));
        }
        // Recorded before the scenario saw the map (it polls), or at most HOOK_LAG after.
        let lag = record.at - shown;
        worst = worst.max(lag);
        if lag > HOOK_LAG.as_secs_f64() {
            return Err(format!(
                "{}: the {} of node {node} was recorded {lag:.2}s after the map showed it (bound {HOOK_LAG:?})",
                log.display(),
                record.event
            ));
        }
    }
    let change = about[1];
    if !change.gateway || change.addrs != ["10.77.40.13", "10.78.40.13"] {
        return Err(format!(
            "{}: the change should name a gateway at 10.77.40.13 10.78.40.13: {change:?}",
            log.display()
        ));
    }
    // The map on stdin of the leave: valid JSON, two nodes, not node.
    let index = all
        .iter()
        .position(|r| r.event == "leave" && r.node == node)
        .unwrap_or(0);
    let stdin_path = PathBuf::from(format!("{}.{}.json", log.display(), index + 1));
    let stdin = std::fs::read_to_string(&stdin_path).unwrap_or_default();
    let map: Value = serde_json::from_str(&stdin).map_err(|e| {
        format!(
            "{}: stdin of the leave is not JSON ({e}): {stdin:?}",
            stdin_path.display()
        )
    })?;
    let listed: Vec<u64> = map["nodes"]
        .as_array()
        .map(|nodes| nodes.iter().filter_map(|n| n["id"].as_u64()).collect())
        .unwrap_or_default();
    if map["node_count"] != 2 || listed.contains(&u64::from(node)) {
        return Err(format!(
            "{}: stdin of the leave should be the map without {node}: {stdin}",
            stdin_path.display()
        ));
    }
    Ok(worst)
}

/// Checks `showmap --watch --format json` output: one JSON document per line, one line per
/// membership change of n1's map: 1, 2, 3 nodes, node changed to a gateway, 2, 3, 2.
fn check_watch(text: &str, node: u16) -> Result<usize, String> {
    let mut states = Vec::new();
    for line in text.lines() {
        let map: Value = serde_json::from_str(line).map_err(|e| {
            format!("showmap --watch printed a line that is not JSON ({e}): {line:?}")
        })?;
        let gateway = map["nodes"]
            .as_array()
            .and_then(|nodes| nodes.iter().find(|n| n["id"] == node))
            .map(|n| n["gateway"] == true);
        states.push((map["node_count"].as_u64().unwrap_or(0), gateway));
    }
    let expected = [
        (1, None),
        (2, None),
        (3, Some(false)),
        (3, Some(true)),
        (2, None),
        (3, Some(false)),
        (2, None),
    ];
    if states != expected {
        return Err(format!(
            "showmap --watch printed {} lines with (node_count, node {node} gateway) {states:?}, expected {expected:?}",
            states.len()
        ));
    }
    Ok(states.len())
}

/// Largest gap between two announcements of one node that passes on a loaded machine:
/// the protocol's longest gap (1.23 × interval) plus 0.3 s of scheduling slack.
fn max_announce_gap() -> Duration {
    Duration::from_secs_f64(1.23 * INTERVAL + 0.3)
}

fn hook_misbehaving(ctx: &Ctx) -> Result<String, String> {
    let (binaries, dir) = binaries_and_dir(ctx)?;
    let mut topo = Topology::new(binaries, dir);
    let lan = topo.add_segment("lan")?;
    let hooks = [
        ("hangs", script(&dir.join("hangs"), "sleep 3600")?),
        (
            "fails",
            script(
                &dir.join("fails"),
                "echo 'omdisc-test: failing on purpose' >&2\necho more >&2\nexit 1",
            )?,
        ),
        (
            "floods",
            script(&dir.join("floods"), "exec yes omdisc-test-flood >&2")?,
        ),
    ];
    let addresses = [
        "10.77.41.11/24",
        "10.77.41.12/24",
        "10.77.41.13/24",
        "10.77.41.14/24",
    ];
    let mut hosts = Vec::new();
    for (i, address) in addresses.iter().enumerate() {
        hosts.push(topo.add_host(&format!("m{}", i + 1), &[Leg::v4(lan, "omd0", address)])?);
    }
    let listener_host = topo.add_host("lst", &[Leg::v4(lan, "lst0", "10.77.41.250/24")])?;
    let ids: Vec<u16> = addresses.iter().map(|a| node_id_in(a)).collect();
    for (h, (_, hook)) in hooks.iter().enumerate() {
        let hook = hook.display().to_string();
        let mut args = vec!["-i", "omd0", "--hook", hook.as_str(), "--hook-timeout", "2"];
        args.extend_from_slice(COMMON_ARGS);
        topo.start(hosts[h], &args)?;
    }
    let hooked = &hosts[..3];
    let three: BTreeSet<u16> = ids[..3].iter().copied().collect();
    let took = topo.wait_for_ids(hooked, &three, CHANGE_BOUND * 2 + GRACE)?;
    step("3 nodes with misbehaving hooks converged", took);
    if took > CHANGE_BOUND * 2 {
        return Err(format!(
            "converging took {:.2}s (bound {:?})",
            took.as_secs_f64(),
            CHANGE_BOUND * 2
        ));
    }

    // Announcements while the hooks hang, fail and flood (each join ran them).
    let socket = GroupListener::open(topo.namespace(listener_host), "lst0", GROUP.into(), PORT)?;
    let window = Duration::from_secs(3);
    let heard = listen(&[socket], window)?;
    let mut worst = Duration::ZERO;
    for &id in &ids[..3] {
        let times: Vec<Instant> = heard
            .iter()
            .filter(|h| h.key.origin == id && h.key.kind == 1)
            .map(|h| h.at)
            .collect();
        let least = (window.as_secs_f64() / (1.23 * INTERVAL)) as usize - 1;
        if times.len() < least {
            return Err(format!(
                "node {id} announced {} times in {window:?} (at least {least} expected)",
                times.len()
            ));
        }
        let gap = times
            .windows(2)
            .map(|w| w[1] - w[0])
            .max()
            .unwrap_or_default();
        worst = worst.max(gap);
        if gap > max_announce_gap() {
            return Err(format!(
                "node {id} was silent for {:.2}s while its hook misbehaved (bound {:?})",
                gap.as_secs_f64(),
                max_announce_gap()
            ));
        }
    }
    step(
        &format!(
            "announcements on time: longest gap {:.2}s",
            worst.as_secs_f64()
        ),
        Duration::ZERO,
    );

    // A join and a leave show in every map on time.
    let mut args = vec!["-i", "omd0"];
    args.extend_from_slice(COMMON_ARGS);
    topo.start(hosts[3], &args)?;
    let all: BTreeSet<u16> = ids.iter().copied().collect();
    let joined = topo.wait_for_ids(&hosts, &all, CHANGE_BOUND + GRACE)?;
    step("a fourth node is in every map", joined);
    topo.stop(hosts[3])?;
    let left = topo.wait_for_ids(hooked, &three, CHANGE_BOUND + GRACE)?;
    step("and gone from every map after SIGTERM", left);
    for (what, took) in [("the join", joined), ("the leave", left)] {
        if took > CHANGE_BOUND {
            return Err(format!(
                "{what} took {:.2}s to show in the maps (bound {CHANGE_BOUND:?})",
                took.as_secs_f64()
            ));
        }
    }
    topo.check_running(hooked)?;

    // What the daemons said about their hooks.
    let expect = [
        (0, "killed with its process group", usize::MAX),
        (
            1,
            "exited with 1 (stderr: omdisc-test: failing on purpose)",
            1,
        ),
        (2, "killed with its process group", usize::MAX),
    ];
    for (h, text, most) in expect {
        let output = topo.daemon_output(hosts[h]);
        let count = output.lines().filter(|l| l.contains(text)).count();
        if count == 0 || count > most {
            return Err(format!(
                "{} ({} hook) logged {count} lines with {text:?} (1 to {most} expected; failures are rate-limited): {}",
                topo.label(hosts[h]),
                hooks[h].0,
                crate::testbed::tail(&output, 5)
            ));
        }
    }
    step(
        "hangs and floods killed at the timeout, the failure logged once with its stderr",
        Duration::ZERO,
    );
    Ok(format!(
        "longest announce gap {:.2}s, join {:.2}s, leave {:.2}s",
        worst.as_secs_f64(),
        joined.as_secs_f64(),
        left.as_secs_f64()
    ))
}
