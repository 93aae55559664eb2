//! The Debian package as a real service (issue 13): two throwaway Debian systems with
//! systemd as PID 1 ([`Container`]), each on a veth into a namespace of the test's own on
//! one bridge, get the `.deb` of `cargo xtask deb` and are driven as an administrator
//! would: `apt-get install`, the key recipe, `/etc/default/omdiscd`, `systemctl enable
//! --now`, `showmap`, `journalctl`, `systemctl reload` with a new key, `systemctl stop`,
//! `systemd-analyze security`, the packaged `/etc/default/omdiscd` (no `-i`) on both,
//! `apt-get purge`.
//!
//! Nothing reaches the host's network: each container sees `lo` and its veth only (checked).

use std::collections::BTreeSet;
use std::path::Path;
use std::thread;
use std::time::{Duration, Instant};

use super::{step, Ctx, Scenario};
use crate::deb::{self, Package};
use crate::ensure::{self, Tool};
use crate::project::Project;
use crate::report::duration;
use crate::testbed::{
    ip, sweep_stale_cgroups, wait_until, Bridge, Container, DebianRoot, Membership, Netns,
    RootSource,
};

/// Boots two containers with the package and drives the service.
pub(super) const DEBIAN_SERVICE: Scenario = Scenario {
    name: "debian-service",
    about: "the .deb in two systemd containers: install, start, ready, showmap, journal, reload with a new key, stop (LEAVE), security, the packaged defaults (no -i), purge",
    // A first run debootstraps the root and may install cargo-deb; cached runs take ~40 s.
    timeout: Duration::from_secs(900),
    needs_daemon: false,
    run: debian_service,
};

/// Where the containers' root is cached: `<target dir>/debian-root`.
pub(crate) fn root_cache(project: &Project) -> Result<std::path::PathBuf, String> {
    Ok(project.target_dir()?.join("debian-root"))
}

/// Makes (or finds) the containers' root ahead of the scenario: the `tools` stage runs
/// this in the background, so that a first run's debootstrap (network-bound) overlaps
/// the other stages. Returns what it did.
pub(crate) fn prepare_root(project: &Project) -> Result<String, String> {
    crate::background::wait_quietly("debian-packages");
    ensure::tools(TOOLS)?;
    let (root, source, took) = DebianRoot::ensure(&root_cache(project)?)?;
    Ok(format!(
        "{} {source:?} in {}",
        root.path().display(),
        duration(took)
    ))
}

/// What booting containers needs on the host.
pub(crate) const TOOLS: &[Tool] = &[
    Tool {
        command: "debootstrap",
        package: "debootstrap",
    },
    Tool {
        command: "systemd-nspawn",
        package: "systemd-container",
    },
    Tool {
        command: "zstd",
        package: "zstd",
    },
    Tool {
        command: "nsenter",
        package: "util-linux",
    },
];

/// The containers' interface (on the test's bridge) and addresses: node ids 3329 and 3330.
const IFNAME: &str = "eth0";
const ADDRESSES: [&str; 2] = ["10.77.13.1/24", "10.77.13.2/24"];
const IDS: [u16; 2] = [13 * 256 + 1, 13 * 256 + 2];
/// Where the host's `target/debian` appears inside (read-only).
const PACKAGE_DIR: &str = "/srv/omdisc";
/// The packaged key file.
const KEY_FILE: &str = "/etc/omdisc/cluster.key";
/// The README's key recipe (omdiscd(8), SYSTEMD SERVICE), run as written.
const KEY_RECIPE: &str =
    "openssl rand -hex 32 | install -m 600 -o omdisc -g omdisc /dev/stdin /etc/omdisc/cluster.key";
/// The same recipe's second half, for the other nodes.
const INSTALL_KEY: &str = "install -m 600 -o omdisc -g omdisc /dev/stdin /etc/omdisc/cluster.key";
/// `/etc/default/omdiscd` as the administrator edits it (faster announcements than the
/// default, so that expiry after the key roll would show within the test).
const OMDISCD_ARGS: &str =
    "-i eth0 --key-file /etc/omdisc/cluster.key --interval 0.5 --dead-after 3";
/// Node 1 also runs a hook and serves and writes its metrics, under the packaged unit's
/// hardening: the hook records its event, node and user in the service's runtime directory.
const NODE1_EXTRA_ARGS: &str =
    " --hook /usr/local/lib/omdisc-hook --metrics-listen 9477 --metrics-file /run/omdisc/omdisc.prom";
/// Where node 1's hook is installed (as in `NODE1_EXTRA_ARGS`).
const HOOK_PATH: &str = "/usr/local/lib/omdisc-hook";
/// The hook node 1 runs.
const HOOK_SCRIPT: &str =
    "#!/bin/sh\\necho $1 $OMDISC_NODE_ID $(id -un) >> /run/omdisc/hook.log\\n";
/// `GET /metrics` from inside a container (bash's /dev/tcp: no HTTP client needed).
const GET_METRICS: &str = "bash -c 'exec 3<>/dev/tcp/127.0.0.1/9477 && printf \"GET /metrics HTTP/1.0\\r\\n\\r\\n\" >&3 && cat <&3'";
/// Without a LEAVE a node would only expire after 3 × 0.5 s: this bound shows the LEAVE.
const LEAVE_BOUND: Duration = Duration::from_secs(1);
/// Both maps list both nodes within this time after the second start.
const JOIN_BOUND: Duration = Duration::from_secs(3);
/// The same with the packaged defaults (announcements every second, not every 0.5 s).
const DEFAULT_JOIN_BOUND: Duration = Duration::from_secs(5);
/// The options line of the packaged `/etc/default/omdiscd`: no `-i`, so the service serves
/// on the interface of the route to the group.
const PACKAGED_ARGS: &str = "OMDISCD_ARGS=\"\"";
/// The watchdog period set on node 2 (a runtime drop-in): it must never fire.
const WATCHDOG_SEC: u64 = 3;
/// Highest `systemd-analyze security` exposure accepted ("OK" is below 5; ours is ~1).
const MAX_EXPOSURE: f64 = 2.0;
/// Files compared before installing and after purging (apt's and dpkg's own state aside).
const SNAPSHOT: &str = "find /etc /usr /var/lib /srv /opt -xdev | grep -v -e '^/var/lib/apt/' -e '^/var/lib/dpkg/' | sort";

/// One container on the bridge. The container is declared first so it is dropped (shut
/// down) before its namespace is deleted.
struct Node {
    container: Container,
    _netns: Netns,
    id: u16,
}

fn debian_service(ctx: &Ctx) -> Result<String, String> {
    let project = Project::from_manifest_dir();
    crate::background::wait("debian-packages");
    ensure::tools(TOOLS)?;
    for stale in sweep_stale_cgroups() {
        println!("    removed cgroup {stale} left by an earlier, killed run");
    }
    let cache = root_cache(&project)?;
    // The root (network-bound on a first run) and the package (CPU-bound) at once.
    let started = Instant::now();
    let (package, root) = thread::scope(|s| {
        let root = s.spawn(|| {
            crate::background::wait("debian-root");
            DebianRoot::ensure(&cache)
        });
        let package = deb::build(&project);
        let root = root
            .join()
            .unwrap_or_else(|_| Err("preparing the root panicked".into()));
        (package, root)
    });
    let package = package?;
    let (root, source, root_took) = root?;
    let source = match source {
        RootSource::Cached => "cached",
        RootSource::Unpacked => "unpacked from its tarball",
        RootSource::Debootstrapped => "debootstrapped",
    };
    step(
        &format!(
            "package {} ({} KiB, lintian: {}); root {} ({source} in {})",
            package.path.display(),
            package.size / 1024,
            package.lintian,
            root.path().display(),
            duration(root_took)
        ),
        started.elapsed(),
    );

    let bridge = Bridge::new("sw")?;
    let started = Instant::now();
    let nodes = boot_nodes(ctx, &bridge, root.path(), &package)?;
    for node in &nodes {
        node.container.wait_running()?;
        only_the_test_network(&node.container)?;
        // systemd logs every notification it gets at debug level: the proof of what
        // omdiscd told it (see `notifications`).
        node.container.sh("systemd-analyze log-level debug")?;
    }
    let boot = started.elapsed();
    step(
        "2 containers booted, each seeing lo and its veth only",
        boot,
    );

    let result = drive(ctx, &nodes, &package);
    if result.is_err() {
        // For the post-mortem: each container's journal beside its console log.
        for (i, node) in nodes.iter().enumerate() {
            if let Ok(journal) = node.container.sh("journalctl -b --no-pager") {
                let _ = std::fs::write(ctx.dir.join(format!("n{}-journal.txt", i + 1)), journal);
            }
        }
    }
    let started = Instant::now();
    let mut shutdowns = Vec::new();
    for node in nodes {
        shutdowns.push(node.container.shutdown());
    }
    step("containers shut down (SIGRTMIN+3)", started.elapsed());
    let note = result?;
    for shutdown in shutdowns {
        shutdown?;
    }
    Ok(format!(
        "deb {} KiB; root {source} in {}; boot {}; {note}",
        package.size / 1024,
        duration(root_took),
        duration(boot)
    ))
}

/// Two namespaces on `bridge` with one container each.
fn boot_nodes(
    ctx: &Ctx,
    bridge: &Bridge,
    root: &Path,
    package: &Package,
) -> Result<Vec<Node>, String> {
    let deb_dir = package
        .path
        .parent()
        .ok_or("the package has no directory")?;
    let mut nodes = Vec::new();
    for (i, (address, id)) in ADDRESSES.iter().zip(IDS).enumerate() {
        let label = format!("n{}", i + 1);
        let netns = Netns::new(&label)?;
        bridge.attach(&netns, IFNAME, address, None)?;
        // As on an installed host: a default route (onto the test's bridge, which leads
        // nowhere), the route to the group a node without -i serves by.
        ip(&["-n", netns.name(), "route", "add", "default", "dev", IFNAME])?;
        let log = ctx.dir.join(format!("{label}-console.log"));
        let container = Container::boot(root, &netns, &label, &[(deb_dir, PACKAGE_DIR)], &log)?;
        nodes.push(Node {
            container,
            _netns: netns,
            id,
        });
    }
    Ok(nodes)
}

/// The container's interfaces are `lo` and the test's veth, nothing else.
fn only_the_test_network(container: &Container) -> Result<(), String> {
    let links = container.sh("ip -o link show")?;
    let names: BTreeSet<&str> = links
        .lines()
        .filter_map(|line| line.split(':').nth(1))
        .map(|name| name.trim().split('@').next().unwrap_or(""))
        .collect();
    if names != BTreeSet::from(["lo", IFNAME]) {
        return Err(format!(
            "{} sees interfaces {names:?}, not only lo and {IFNAME}",
            container.name()
        ));
    }
    Ok(())
}

/// Everything done to the booted nodes; a note of what was measured.
fn drive(ctx: &Ctx, nodes: &[Node], package: &Package) -> Result<String, String> {
    let [one, two] = nodes else {
        return Err("two nodes expected".into());
    };
    let file = package
        .path
        .file_name()
        .map(|f| f.to_string_lossy().into_owned())
        .ok_or("the package has no file name")?;

    // Install: the user exists, the unit is valid, nothing is started yet.
    let started = Instant::now();
    let mut before = Vec::new();
    for node in nodes {
        let c = &node.container;
        before.push(c.sh(SNAPSHOT)?);
        let install = format!("apt-get install -y -q {PACKAGE_DIR}/{file}");
        run_long(c, &install, Duration::from_secs(180))?;
        c.sh("getent passwd omdisc >/dev/null && omdiscd --version && showmap -V")?;
        let verify = c.exec("systemd-analyze verify --man=no omdiscd.service")?;
        let said = String::from_utf8_lossy(&verify.stderr).into_owned()
            + &String::from_utf8_lossy(&verify.stdout);
        if !verify.status.success() || !said.trim().is_empty() {
            return Err(format!(
                "systemd-analyze verify --man=no omdiscd.service: {}",
                said.trim()
            ));
        }
        let state = unit_state(c, "ActiveState")?;
        if state != "inactive" {
            return Err(format!(
                "{}: omdiscd is {state} right after installing",
                c.name()
            ));
        }
    }
    step(
        "installed on both: user omdisc, unit verified, not started by the installation",
        started.elapsed(),
    );

    // The key recipe on node 1, the same key on node 2; the options; the watchdog on node 2.
    one.container.sh(KEY_RECIPE)?;
    let key = one.container.sh(&format!("cat {KEY_FILE}"))?;
    let key = key.trim();
    two.container
        .sh(&format!("printf '%s\\n' {key} | {INSTALL_KEY}"))?;
    one.container.sh(&format!(
        "printf '{HOOK_SCRIPT}' > {HOOK_PATH} && chmod 755 {HOOK_PATH}"
    ))?;
    for (i, node) in nodes.iter().enumerate() {
        let c = &node.container;
        let extra = if i == 0 { NODE1_EXTRA_ARGS } else { "" };
        let mode = c.sh(&format!("stat -c '%a %U' {KEY_FILE}"))?;
        if mode.trim() != "600 omdisc" {
            return Err(format!(
                "{}: {KEY_FILE} is {}, not 600 omdisc",
                c.name(),
                mode.trim()
            ));
        }
        c.sh(&format!(
            "sed -i 's|^OMDISCD_ARGS=.*|OMDISCD_ARGS=\"{OMDISCD_ARGS}{extra}\"|' /etc/default/omdiscd"
        ))?;
    }
    two.container.sh(&format!(
        "mkdir -p /run/systemd/system/omdiscd.service.d && \
         printf '[Service]\\nWatchdogSec={WATCHDOG_SEC}s\\n' > /run/systemd/system/omdiscd.service.d/watchdog.conf && \
         systemctl daemon-reload"
    ))?;

    // Start: `systemctl start` of a Type=notify unit returns once READY=1 came.
    let mut ready = Vec::new();
    let mut last_start = Instant::now();
    for node in nodes {
        let started = Instant::now();
        last_start = started;
        node.container.sh("systemctl enable --now omdiscd")?;
        ready.push(started.elapsed());
        let state = unit_state(&node.container, "ActiveState")?;
        if state != "active" {
            return Err(format!(
                "{}: omdiscd is {state} after starting",
                node.container.name()
            ));
        }
    }
    let watchdog_since = last_start;
    let main_pid_two = unit_state(&two.container, "MainPID")?;
    wait_for_maps(nodes, &[one.id, two.id], JOIN_BOUND)?;
    let joined = last_start.elapsed();
    for node in nodes {
        let want = format!("node {}: 2 members", node.id);
        wait_for_status(&node.container, &want)?;
        // The map is world-readable: any user's plain `showmap` sees it.
        let map = Membership::parse(&node.container.sh("runuser -u nobody -- showmap")?)?;
        if map.ids() != [one.id, two.id] {
            return Err(format!(
                "{}: showmap as nobody lists {:?}",
                node.container.name(),
                map.ids()
            ));
        }
    }
    step(
        &format!(
            "started: ready in {} and {}; both plain showmaps list both {} after the second start began; status \"node N: 2 members\"",
            duration(ready[0]),
            duration(ready[1]),
            duration(joined)
        ),
        last_start.elapsed(),
    );

    // Under the unit's hardening node 1's hook ran as omdisc, and its metrics are served
    // and written.
    let hooked = format!("join {} omdisc", two.id);
    let mut said = String::new();
    let metrics = wait_until(Duration::from_secs(5), Duration::from_millis(50), || {
        let hook = one
            .container
            .sh("cat /run/omdisc/hook.log")
            .unwrap_or_default();
        let served = one.container.sh(GET_METRICS).unwrap_or_default();
        let file = one
            .container
            .sh("cat /run/omdisc/omdisc.prom")
            .unwrap_or_default();
        said = format!("hook.log: {hook:?}; GET /metrics: {served:?}; omdisc.prom: {file:?}");
        hook.lines().any(|l| l == hooked)
            && served.starts_with("HTTP/1.1 200 OK")
            && served.contains("omdisc_members 2\n")
            && file.contains("omdisc_members 2\n")
    });
    if metrics.is_err() {
        return Err(format!(
            "{}: hook or metrics not working under the unit: {said}",
            one.container.name()
        ));
    }
    step(
        "node 1's hook ran as omdisc, GET /metrics and the metrics file say 2 members",
        Duration::ZERO,
    );

    // The journal: the join at info, warnings alone with -p warning.
    let started = Instant::now();
    for (node, other) in [(one, two), (two, one)] {
        let log = node
            .container
            .sh("journalctl -u omdiscd -o cat --no-pager")?;
        let join = format!("node {} joined", other.id);
        if !log.contains(&join) {
            return Err(format!(
                "{}: no {join:?} in the journal: {log}",
                node.container.name()
            ));
        }
    }
    one.container.sh(&format!(
        "chmod 640 {KEY_FILE} && systemctl reload omdiscd; chmod 600 {KEY_FILE}"
    ))?;
    let warning = "keeping the current keys";
    let warnings = wait_for_journal(&one.container, "-p warning", warning)?;
    if let Some(line) = warnings
        .lines()
        .find(|l| !(l.starts_with("warn:") || l.starts_with("error:")))
    {
        return Err(format!(
            "journalctl -p warning shows a line below warning: {line:?}"
        ));
    }
    step(
        "journal: the join at info; -p warning shows the refused key reload and nothing below",
        started.elapsed(),
    );

    // Roll to a new key as omdiscd(8) says, each round on every node before the next:
    // old+new (old signs, both verify), new+old (new signs), new alone. The cluster stays.
    let started = Instant::now();
    let main_pid_one = unit_state(&one.container, "MainPID")?;
    let new_key = one.container.sh("openssl rand -hex 32")?;
    let new_key = new_key.trim();
    let rounds = [
        (format!("{key} {new_key}"), "2 keys", 1),
        (format!("{new_key} {key}"), "2 keys", 2),
        (new_key.to_string(), "1 key", 1),
    ];
    for (round, (keys, count, times)) in rounds.iter().enumerate() {
        for node in nodes {
            let c = &node.container;
            c.sh(&format!(
                "printf '%s\\n' {keys} | {INSTALL_KEY} && systemctl reload omdiscd"
            ))?;
            let reloaded = format!("SIGHUP: reloaded {KEY_FILE} ({count})");
            wait_for_journal_count(c, &reloaded, *times)
                .map_err(|e| format!("key roll round {}: {e}", round + 1))?;
        }
    }
    // Longer than the expiry (3 × 0.5 s): a node that no longer verified the other's
    // announcements would drop it.
    thread::sleep(Duration::from_secs(2));
    wait_for_maps(nodes, &[one.id, two.id], Duration::ZERO)?;
    for node in nodes {
        let c = &node.container;
        let log = c.sh("journalctl -t omdiscd -o cat --no-pager")?;
        if let Some(line) = log
            .lines()
            .find(|l| l.contains(" left") || l.contains("expired") || l.contains("refused"))
        {
            return Err(format!(
                "{}: the cluster broke during the key roll: {line}",
                c.name()
            ));
        }
    }
    if unit_state(&one.container, "MainPID")? != main_pid_one {
        return Err("systemctl reload restarted omdiscd instead of reloading it".into());
    }
    step(
        "key rolled in three systemctl reloads (old+new, new+old, new): both still list both, same PID",
        started.elapsed(),
    );

    // The watchdog on node 2 (WatchdogSec=3s) never fired.
    if let Some(rest) = Duration::from_secs(2 * WATCHDOG_SEC).checked_sub(watchdog_since.elapsed())
    {
        thread::sleep(rest);
    }
    let restarts = unit_state(&two.container, "NRestarts")?;
    if restarts != "0" || unit_state(&two.container, "MainPID")? != main_pid_two {
        return Err(format!("omdiscd on node 2 was restarted ({restarts} restarts) under WatchdogSec={WATCHDOG_SEC}s"));
    }

    // Stop node 2: gone from node 1's map within a second (its LEAVE).
    let started = Instant::now();
    two.container.sh("systemctl stop omdiscd")?;
    let left = wait_until(LEAVE_BOUND * 5, Duration::from_millis(10), || {
        one_map(&one.container).is_ok_and(|ids| ids == [one.id])
    })
    .map_err(|waited| {
        format!(
            "node 2 still in node 1's map {} after systemctl stop",
            duration(waited)
        )
    })?;
    if left > LEAVE_BOUND {
        return Err(format!(
            "node 2 left node 1's map {} after systemctl stop (bound {})",
            duration(left),
            duration(LEAVE_BOUND)
        ));
    }
    if two.container.exec("test -e /run/omdisc")?.status.success() {
        return Err("/run/omdisc is still there after the service stopped".into());
    }
    step(
        &format!("systemctl stop on node 2: gone from node 1's map after {}; watchdog ({WATCHDOG_SEC} s) never fired", duration(left)),
        started.elapsed(),
    );

    // What omdiscd told systemd, as systemd logged it.
    let told_one = notifications(&one.container)?;
    let told_two = notifications(&two.container)?;
    let two_members = format!("STATUS=node {}: 2 members", one.id);
    let reload = told_one
        .iter()
        .position(|n| n.starts_with("RELOADING=1, MONOTONIC_USEC="));
    let ready_again =
        reload.and_then(|at| told_one.iter().skip(at).find(|n| n.starts_with("READY=1")));
    if !told_one
        .iter()
        .any(|n| n.starts_with("READY=1, STATUS=node "))
        || ready_again.is_none()
        || !told_one.iter().any(|n| n.contains(&two_members))
    {
        return Err(format!("node 1 told systemd {told_one:?}: no READY=1 with the member count, or no RELOADING=1 followed by READY=1"));
    }
    let stopping = told_two.iter().any(|n| n.starts_with("STOPPING=1"));
    if !stopping || !told_two.iter().any(|n| n == "WATCHDOG=1") {
        return Err(format!(
            "node 2 told systemd {told_two:?}: no WATCHDOG=1 or no STOPPING=1"
        ));
    }
    step(
        "systemd got READY=1 and STATUS= with the member count, RELOADING=1 then READY=1, WATCHDOG=1, STOPPING=1",
        Duration::ZERO,
    );

    // The security score of the unit as installed.
    let security = one
        .container
        .sh("systemd-analyze security omdiscd.service --no-pager")?;
    let _ = std::fs::write(ctx.dir.join("security.txt"), &security);
    let exposure = exposure(&security)?;
    if exposure > MAX_EXPOSURE {
        return Err(format!(
            "systemd-analyze security omdiscd: exposure {exposure}, above {MAX_EXPOSURE}"
        ));
    }
    step(
        &format!("systemd-analyze security omdiscd: exposure {exposure} (at most {MAX_EXPOSURE})"),
        Duration::ZERO,
    );

    // The packaged defaults (no -i): both serve by the route and list both.
    let started = Instant::now();
    let default_joined = packaged_defaults(nodes, &file)?;
    step(
        &format!("packaged /etc/default/omdiscd ({PACKAGED_ARGS}, no -i) on both: both maps list both {} after the second start; node 2 stopped again", duration(default_joined)),
        started.elapsed(),
    );

    // Purge: node 2 stopped, node 1 still running; nothing of the package is left.
    let started = Instant::now();
    for (node, before) in nodes.iter().zip(&before) {
        let c = &node.container;
        run_long(c, "apt-get purge -y -q omdisc", Duration::from_secs(120))?;
        // The administrator's own hook is theirs to remove, not the package's.
        c.sh(&format!("rm -f {HOOK_PATH}"))?;
        let after = c.sh(SNAPSHOT)?;
        let before: BTreeSet<&str> = before.lines().collect();
        let added: Vec<&str> = after.lines().filter(|l| !before.contains(l)).collect();
        if !added.is_empty() {
            return Err(format!("{}: apt-get purge left {added:?}", c.name()));
        }
        let leftovers = c.exec("getent passwd omdisc || getent group omdisc || test -e /run/omdisc || pgrep -x omdiscd")?;
        if leftovers.status.success() {
            return Err(format!(
                "{}: after apt-get purge: {}",
                c.name(),
                String::from_utf8_lossy(&leftovers.stdout).trim()
            ));
        }
    }
    step(
        "apt-get purge (one stopped, one running): no file, unit, user, group or process left",
        started.elapsed(),
    );

    Ok(format!(
        "ready in {} and {}; maps complete {}; LEAVE seen {} after systemctl stop; exposure {exposure}; packaged defaults: maps complete {}",
        duration(ready[0]),
        duration(ready[1]),
        duration(joined),
        duration(left),
        duration(default_joined)
    ))
}

/// Puts the package's own `/etc/default/omdiscd` (from the `.deb` `file`) back on both
/// nodes, restarts node 1 and starts node 2 (stopped before), waits for both maps to list
/// both and stops node 2 again; how long the maps took after the second start.
fn packaged_defaults(nodes: &[Node], file: &str) -> Result<Duration, String> {
    let ids: Vec<u16> = nodes.iter().map(|n| n.id).collect();
    for node in nodes {
        let c = &node.container;
        c.sh(&format!(
            "dpkg-deb --fsys-tarfile {PACKAGE_DIR}/{file} | tar -xO --wildcards '*etc/default/omdiscd' > /etc/default/omdiscd"
        ))?;
        let defaults = c.sh("cat /etc/default/omdiscd")?;
        let args: Vec<&str> = defaults
            .lines()
            .filter(|l| l.starts_with("OMDISCD_ARGS="))
            .collect();
        if args != [PACKAGED_ARGS] {
            return Err(format!(
                "{}: the packaged /etc/default/omdiscd sets {args:?}, not {PACKAGED_ARGS}",
                c.name()
            ));
        }
    }
    let mut last_start = Instant::now();
    for node in nodes {
        last_start = Instant::now();
        node.container.sh("systemctl restart omdiscd")?;
    }
    let joined = wait_for_maps(nodes, &ids, DEFAULT_JOIN_BOUND)
        .map(|_| last_start.elapsed())
        .map_err(|e| format!("with the packaged /etc/default/omdiscd: {e}"))?;
    if let Some(two) = nodes.get(1) {
        two.container.sh("systemctl stop omdiscd")?;
    }
    Ok(joined)
}

/// Runs a long command (apt-get) that must succeed.
fn run_long(container: &Container, script: &str, timeout: Duration) -> Result<(), String> {
    let output = container.exec_for(script, timeout)?;
    if output.status.success() {
        Ok(())
    } else {
        Err(format!(
            "{}: `{script}` failed ({}): {}",
            container.name(),
            output.status,
            crate::testbed::tail(&String::from_utf8_lossy(&output.stderr), 5)
        ))
    }
}

/// `systemctl show -p PROPERTY --value omdiscd`.
fn unit_state(container: &Container, property: &str) -> Result<String, String> {
    Ok(container
        .sh(&format!("systemctl show -p {property} --value omdiscd"))?
        .trim()
        .to_string())
}

/// The node ids of a plain `showmap` on `container`.
fn one_map(container: &Container) -> Result<Vec<u16>, String> {
    Ok(Membership::parse(&container.sh("showmap")?)?.ids())
}

/// Waits until every node's plain `showmap` lists exactly `ids`; how long it took.
fn wait_for_maps(nodes: &[Node], ids: &[u16], bound: Duration) -> Result<Duration, String> {
    wait_until(bound, Duration::from_millis(20), || {
        nodes
            .iter()
            .all(|n| one_map(&n.container).is_ok_and(|m| m == ids))
    })
    .map_err(|waited| {
        let maps: Vec<String> = nodes
            .iter()
            .map(|n| format!("{}: {:?}", n.id, one_map(&n.container)))
            .collect();
        format!(
            "maps did not list {ids:?} within {}: {}",
            duration(waited),
            maps.join("; ")
        )
    })
}

/// Waits for the unit's status text to be `want`.
fn wait_for_status(container: &Container, want: &str) -> Result<(), String> {
    let mut last = String::new();
    wait_until(Duration::from_secs(5), Duration::from_millis(50), || {
        last = unit_state(container, "StatusText").unwrap_or_default();
        last == want
    })
    .map(drop)
    .map_err(|_| format!("{}: status {last:?}, not {want:?}", container.name()))
}

/// Waits until `journalctl OPTIONS -u omdiscd` shows a line containing `text`; that output.
fn wait_for_journal(container: &Container, options: &str, text: &str) -> Result<String, String> {
    let script = format!("journalctl {options} -u omdiscd -o cat --no-pager");
    let mut log = String::new();
    wait_until(Duration::from_secs(5), Duration::from_millis(50), || {
        log = container.sh(&script).unwrap_or_default();
        log.contains(text)
    })
    .map(|_| log.clone())
    .map_err(|_| format!("{}: no {text:?} in `{script}`: {log}", container.name()))
}

/// Waits until the journal holds `count` lines containing `text`.
fn wait_for_journal_count(container: &Container, text: &str, count: usize) -> Result<(), String> {
    let mut seen = 0;
    wait_until(Duration::from_secs(5), Duration::from_millis(50), || {
        let log = container
            .sh("journalctl -u omdiscd -o cat --no-pager")
            .unwrap_or_default();
        seen = log.lines().filter(|l| l.contains(text)).count();
        seen >= count
    })
    .map(drop)
    .map_err(|_| format!("{}: {seen} journal lines with {text:?}", container.name()))
}

/// The notifications systemd got from omdiscd, oldest first, as its debug log has them
/// (`omdiscd.service: Got notification message from PID 97 (READY=1, STATUS=...)`).
fn notifications(container: &Container) -> Result<Vec<String>, String> {
    let log = container.sh("journalctl -u omdiscd -o cat --no-pager")?;
    Ok(log
        .lines()
        .filter_map(|line| line.split_once("Got notification message from PID "))
        .filter_map(|(_, rest)| rest.split_once(" ("))
        .map(|(_, tags)| tags.trim_end_matches(')').to_string())
        .collect())
}

/// The overall exposure in `systemd-analyze security` output
/// (`→ Overall exposure level for omdiscd.service: 1.1 OK :-)`).
fn exposure(output: &str) -> Result<f64, String> {
    output
        .lines()
        .find_map(|line| line.split_once("Overall exposure level for omdiscd.service:"))
        .and_then(|(_, rest)| rest.split_whitespace().next())
        .and_then(|number| number.parse().ok())
        .ok_or_else(|| format!("no exposure level in: {}", crate::testbed::tail(output, 3)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_exposure_is_read_from_the_last_line() {
        let output = "  NAME  DESCRIPTION  EXPOSURE\n✗ UMask=  world-readable  0.1\n\n\
                      → Overall exposure level for omdiscd.service: 1.1 OK :-)\n";
        assert_eq!(exposure(output), Ok(1.1));
        assert!(exposure("nothing").is_err());
    }
}
