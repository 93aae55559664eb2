//! Side by side with Ganglia: 16 hosts on one bridge run `omdiscd`, and 16 others on a
//! second bridge Ganglia's `gmond` (multicast mode), both clusters at once. For each: the
//! time until a newly started node is known to all 15 others, the time until a killed
//! (SIGKILL) node is dropped by all of them, and, over one idle window shared by both,
//! CPU seconds (scheduler runtime of all threads, and `/proc/PID/stat` ticks), wakes
//! (voluntary context switches) and peak RSS per daemon. Sharing the window matters: an
//! idle daemon's CPU is mostly the cost of its wakes, which swings by half between two
//! windows a minute apart on a virtual machine.
//!
//! Settings, chosen to be comparable: `omdiscd` with its defaults (announce every 1 s,
//! dropped after 5 missed, i.e. at most 5 × 1.232 = 6.2 s); `gmond` reduced to membership
//! — only the `heartbeat` metric, sent every 1 s (`time_threshold = 1`), `host_dmax = 6`,
//! `cleanup_threshold = 1` — because its defaults (heartbeat every 20 s, `host_dmax = 0`)
//! never drop a host. Both send only on the namespace's bridge leg (`mcast_if`, TTL 1);
//! gmond's state is read from its XML port (8649) inside each namespace.
//!
//! `ganglia-monitor` is installed with apt when missing, with service starts denied, so
//! the package cannot start a gmond on this machine's real interfaces.

use std::io::Read;
use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use nix::sys::signal::Signal;

use crate::ensure;
use crate::proc_stats;
use crate::project::Project;
use crate::testbed::DaemonHosts;
use crate::testbed::{in_namespace, wait_until, Binaries, Bridge, Cluster, Netns, Port, Process};

/// Hosts in the comparison.
const HOSTS: usize = 16;
/// Seconds of the idle window over which CPU time is measured.
const WINDOW: Duration = Duration::from_secs(30);
/// The slowest join or drop accepted before the comparison gives up.
const LIMIT: Duration = Duration::from_secs(90);
/// How often the observers' state is read.
const POLL: Duration = Duration::from_millis(25);
/// Subnet of the comparison (hosts .11 to .26).
const BASE: [u8; 3] = [10, 81, 0];
/// gmond's group and port (its defaults).
const GMOND_GROUP: &str = "239.2.11.71";
const GMOND_PORT: u16 = 8649;

/// What one daemon kind measured.
#[derive(Debug, Clone, Default)]
struct Figures {
    join: Duration,
    drop: Duration,
    /// CPU seconds per daemon over the window (exact: scheduler runtime of all threads).
    cpu_per_daemon: f64,
    /// The same from `/proc/PID/stat`'s clock ticks (sampled: each tick charges a whole
    /// 10 ms to whoever runs at that moment).
    cpu_ticks_per_daemon: f64,
    /// Voluntary context switches (sleeps and wakes) per daemon per second of the window.
    wakes_per_second: f64,
    peak_rss_kib: u64,
}

/// The daemons of one kind on the 16 hosts.
trait Daemons {
    fn start(&mut self, i: usize) -> Result<(), String>;
    fn kill(&mut self, i: usize) -> Result<(), String>;
    /// Whether host `observer` lists host `i`.
    fn knows(&mut self, observer: usize, i: usize) -> Result<bool, String>;
    fn pid(&self, i: usize) -> Option<i32>;
}

fn address(i: usize) -> Ipv4Addr {
    Ipv4Addr::new(BASE[0], BASE[1], BASE[2], 11 + i as u8)
}

/// Starts 15 daemons, waits for the full mesh, starts the 16th: the time until all 15
/// list it.
fn join(daemons: &mut dyn Daemons) -> Result<Duration, String> {
    let first: Vec<usize> = (0..HOSTS - 1).collect();
    let late = HOSTS - 1;
    for &i in &first {
        daemons.start(i)?;
    }
    let mut error = None;
    let mesh = wait_until(LIMIT, POLL, || {
        first.iter().all(|&o| {
            first.iter().all(|&i| match daemons.knows(o, i) {
                Ok(k) => k,
                Err(e) => {
                    error = Some(e);
                    false
                }
            })
        })
    });
    if mesh.is_err() {
        return Err(format!(
            "15 hosts did not all know each other within {LIMIT:?}{}",
            error.map(|e| format!(" ({e})")).unwrap_or_default()
        ));
    }
    daemons.start(late)?;
    wait_until(LIMIT, POLL, || {
        first
            .iter()
            .all(|&o| daemons.knows(o, late).unwrap_or(false))
    })
    .map_err(|_| format!("the 16th host was not known everywhere within {LIMIT:?}"))
}

/// SIGKILLs the 16th daemon: the time until none of the 15 lists it.
fn drop_time(daemons: &mut dyn Daemons) -> Result<Duration, String> {
    let late = HOSTS - 1;
    daemons.kill(late)?;
    wait_until(LIMIT, POLL, || {
        (0..late).all(|o| !daemons.knows(o, late).unwrap_or(true))
    })
    .map_err(|_| format!("the killed host was still listed after {LIMIT:?}"))
}

/// CPU (exact and by ticks), wakes and peak RSS of one kind's daemons.
#[derive(Debug, Clone, Copy, Default)]
struct Usage {
    runtime: f64,
    ticks: f64,
    wakes: u64,
}

fn usage(pids: &[i32]) -> Result<Usage, String> {
    let mut total = Usage::default();
    for &p in pids {
        total.runtime += proc_stats::cpu_runtime(p)?.as_secs_f64();
        total.ticks += proc_stats::cpu_seconds(p)?;
        total.wakes += proc_stats::wakeups(p)?;
    }
    Ok(total)
}

/// The idle window, for both kinds at once (the same 30 s of the same machine): each
/// kind's CPU, wakes and peak RSS per daemon.
fn idle_window(kinds: [&dyn Daemons; 2]) -> Result<[Figures; 2], String> {
    let pids: Vec<Vec<i32>> = kinds
        .iter()
        .map(|daemons| (0..HOSTS).filter_map(|i| daemons.pid(i)).collect())
        .collect();
    let before: Vec<Usage> = pids.iter().map(|p| usage(p)).collect::<Result<_, _>>()?;
    std::thread::sleep(WINDOW);
    let after: Vec<Usage> = pids.iter().map(|p| usage(p)).collect::<Result<_, _>>()?;
    let figures = |k: usize| -> Result<Figures, String> {
        let (pids, before, after) = (&pids[k], before[k], after[k]);
        let count = pids.len().max(1) as f64;
        let peak_rss_kib = pids
            .iter()
            .map(|&p| proc_stats::peak_rss_kib(p))
            .collect::<Result<Vec<u64>, String>>()?
            .into_iter()
            .max()
            .unwrap_or(0);
        Ok(Figures {
            cpu_per_daemon: (after.runtime - before.runtime) / count,
            cpu_ticks_per_daemon: (after.ticks - before.ticks) / count,
            wakes_per_second: after.wakes.saturating_sub(before.wakes) as f64
                / count
                / WINDOW.as_secs_f64(),
            peak_rss_kib,
            ..Figures::default()
        })
    };
    Ok([figures(0)?, figures(1)?])
}

/// `omdiscd` on a [`Cluster`], maps read with `showmap`.
struct Omdiscd {
    cluster: Cluster,
}

impl Daemons for Omdiscd {
    fn start(&mut self, i: usize) -> Result<(), String> {
        self.cluster.start(i)
    }
    fn kill(&mut self, i: usize) -> Result<(), String> {
        self.cluster.signal(i, Signal::SIGKILL)
    }
    /// From the observer's log (`-n`: stderr), which it writes in the same loop turn as
    /// the map: reading 15 logs is as quick as reading 15 gmond XML ports, where running
    /// 15 `showmap`s per poll would add ~0.1 s to the measured times.
    fn knows(&mut self, observer: usize, i: usize) -> Result<bool, String> {
        if observer == i {
            return Ok(self.cluster.is_running(i));
        }
        let id = self.cluster.id(i);
        let log = self.cluster.daemon_output(observer);
        let joined = log.rfind(&format!("node {id} joined"));
        let gone = [format!("node {id} expired"), format!("node {id} left")]
            .iter()
            .filter_map(|needle| log.rfind(needle.as_str()))
            .max();
        Ok(match (joined, gone) {
            (Some(j), Some(g)) => j > g,
            (Some(_), None) => true,
            (None, _) => false,
        })
    }
    fn pid(&self, i: usize) -> Option<i32> {
        self.cluster.pid(i)
    }
}

/// One gmond host: namespace, bridge leg, config, and the daemon once started.
struct GmondHost {
    daemon: Option<Process>,
    _port: Port,
    ns: Netns,
    config: PathBuf,
}

struct Gmond {
    hosts: Vec<GmondHost>,
    _bridge: Bridge,
    dir: PathBuf,
}

/// gmond's configuration for one host: membership only, on `ifname` only.
fn gmond_config(ifname: &str) -> String {
    format!(
        r#"globals {{
  daemonize = no
  setuid = no
  debug_level = 0
  max_udp_msg_len = 1472
  mute = no
  deaf = no
  allow_extra_data = yes
  host_dmax = 6
  host_tmax = 20
  cleanup_threshold = 1
  gexec = no
  send_metadata_interval = 0
}}
cluster {{
  name = "omdisc-bench"
}}
udp_send_channel {{
  mcast_join = {GMOND_GROUP}
  mcast_if = {ifname}
  port = {GMOND_PORT}
  ttl = 1
}}
udp_recv_channel {{
  mcast_join = {GMOND_GROUP}
  mcast_if = {ifname}
  port = {GMOND_PORT}
  bind = {GMOND_GROUP}
}}
tcp_accept_channel {{
  bind = 127.0.0.1
  port = {GMOND_PORT}
}}
modules {{
  module {{
    name = "core_metrics"
  }}
}}
collection_group {{
  collect_once = yes
  time_threshold = 1
  metric {{
    name = "heartbeat"
  }}
}}
"#
    )
}

impl Gmond {
    fn new(dir: &Path) -> Result<Gmond, String> {
        let bridge = Bridge::new("gsw")?;
        let mut hosts = Vec::new();
        for i in 0..HOSTS {
            let ns = Netns::new(&format!("g{}", i + 1))?;
            let port = bridge.attach(
                &ns,
                crate::testbed::NODE_IF,
                &format!("{}/24", address(i)),
                None,
            )?;
            // A multicast route, as gmond's send channel needs one without a default route.
            crate::testbed::ip(&[
                "-n",
                ns.name(),
                "route",
                "add",
                "224.0.0.0/4",
                "dev",
                crate::testbed::NODE_IF,
            ])?;
            let config = dir.join(format!("gmond-{}.conf", i + 1));
            std::fs::write(&config, gmond_config(crate::testbed::NODE_IF))
                .map_err(|e| format!("cannot write {}: {e}", config.display()))?;
            hosts.push(GmondHost {
                daemon: None,
                _port: port,
                ns,
                config,
            });
        }
        Ok(Gmond {
            hosts,
            _bridge: bridge,
            dir: dir.to_path_buf(),
        })
    }
}

/// The XML state of the gmond listening on 127.0.0.1:8649 in namespace `ns` (read from a
/// thread that enters the namespace, so no helper process is needed).
fn gmond_xml(ns: &str) -> Result<String, String> {
    let label = ns.to_owned();
    in_namespace(ns, move || {
        let address = std::net::SocketAddr::from(([127, 0, 0, 1], GMOND_PORT));
        let mut stream = std::net::TcpStream::connect_timeout(&address, Duration::from_secs(2))
            .map_err(|e| format!("gmond XML port in {label}: {e}"))?;
        stream
            .set_read_timeout(Some(Duration::from_secs(2)))
            .map_err(|e| e.to_string())?;
        let mut xml = String::new();
        stream
            .read_to_string(&mut xml)
            .map_err(|e| format!("gmond XML in {label}: {e}"))?;
        Ok(xml)
    })
}

impl Daemons for Gmond {
    fn start(&mut self, i: usize) -> Result<(), String> {
        let gmond = ensure::find_command("gmond").ok_or("gmond is not installed")?;
        let host = &mut self.hosts[i];
        let args = vec!["-c".to_string(), host.config.display().to_string()];
        host.daemon = Some(Process::spawn_in(
            host.ns.name(),
            &format!("g{} gmond", i + 1),
            &gmond,
            &args,
            &self.dir.join(format!("gmond-{}.log", i + 1)),
        )?);
        Ok(())
    }
    fn kill(&mut self, i: usize) -> Result<(), String> {
        self.hosts[i]
            .daemon
            .as_mut()
            .ok_or("not started")?
            .signal(Signal::SIGKILL)
    }
    fn knows(&mut self, observer: usize, i: usize) -> Result<bool, String> {
        let xml = gmond_xml(self.hosts[observer].ns.name())?;
        Ok(xml.contains(&format!("IP=\"{}\"", address(i))))
    }
    fn pid(&self, i: usize) -> Option<i32> {
        self.hosts[i].daemon.as_ref().map(Process::pid)
    }
}

/// Installs `ganglia-monitor` if `gmond` is missing, never letting the package start a
/// service (a `policy-rc.d` that denies starts is put in place for the install when none
/// is there), then checks that no gmond runs outside our namespaces.
fn install_gmond() -> Result<String, String> {
    if ensure::find_command("gmond").is_some() {
        return Ok("gmond present".into());
    }
    let policy = Path::new("/usr/sbin/policy-rc.d");
    let ours = !policy.exists();
    if ours {
        std::fs::write(
            policy,
            "#!/bin/sh\n# omdisc bench: no service starts during install\nexit 101\n",
        )
        .map_err(|e| format!("cannot write {}: {e}", policy.display()))?;
        std::fs::set_permissions(policy, std::os::unix::fs::PermissionsExt::from_mode(0o755))
            .map_err(|e| format!("cannot chmod {}: {e}", policy.display()))?;
    }
    let result = ensure::tools(&[ensure::Tool {
        command: "gmond",
        package: "ganglia-monitor",
    }]);
    if ours {
        let _ = std::fs::remove_file(policy);
    }
    let note = result?;
    if let Some(pid) = running_gmond_in_root_namespace() {
        return Err(format!(
            "a gmond (pid {pid}) runs in this machine's own network namespace after the install: stop it (e.g. `systemctl stop ganglia-monitor`) before benchmarking"
        ));
    }
    Ok(note)
}

/// A gmond process in the root network namespace, if any.
fn running_gmond_in_root_namespace() -> Option<i32> {
    let root = std::fs::read_link("/proc/1/ns/net").ok()?;
    std::fs::read_dir("/proc")
        .ok()?
        .flatten()
        .find_map(|entry| {
            let pid: i32 = entry.file_name().to_str()?.parse().ok()?;
            let comm = std::fs::read_to_string(entry.path().join("comm")).ok()?;
            let net = std::fs::read_link(entry.path().join("ns/net")).ok()?;
            (comm.trim() == "gmond" && net == root).then_some(pid)
        })
}

/// Runs the comparison and prints its table.
pub fn run(project: &Project) -> Result<String, String> {
    println!("  {}", install_gmond()?);
    let binaries = Binaries::build(project)?;
    let dir = project.scratch_dir("bench-gmond")?;
    // Both clusters run at once, each on its own bridge: the idle window is the same 30 s
    // for both, so the machine's moods (other guests, frequency) touch both alike.
    let cluster = Cluster::new(&binaries, &dir, BASE, HOSTS, &[])?;
    let mut ours = Omdiscd { cluster };
    let mut theirs = Gmond::new(&dir)?;
    let ours_join = join(&mut ours)?;
    let theirs_join = join(&mut theirs)?;
    let [mut omdiscd, mut gmond] = idle_window([&ours, &theirs])?;
    omdiscd.join = ours_join;
    gmond.join = theirs_join;
    omdiscd.drop = drop_time(&mut ours)?;
    gmond.drop = drop_time(&mut theirs)?;
    drop((ours, theirs));
    println!(
        "  16 hosts on one bridge per daemon, both clusters at once; one idle window of {} s for both; logs in {}",
        WINDOW.as_secs(),
        dir.display()
    );
    println!(
        "  {:<10} {:>16} {:>20} {:>22} {:>14} {:>14} {:>16}",
        "daemon",
        "join seen by all",
        "SIGKILL dropped by all",
        "CPU s/daemon/30 s",
        "peak RSS",
        "wakes/s",
        "CPU by ticks"
    );
    for (name, f) in [("omdiscd", &omdiscd), ("gmond", &gmond)] {
        println!(
            "  {name:<10} {:>15.2}s {:>19.2}s {:>22.4} {:>10.1} MiB {:>14.1} {:>16.3}",
            f.join.as_secs_f64(),
            f.drop.as_secs_f64(),
            f.cpu_per_daemon,
            f.peak_rss_kib as f64 / 1024.0,
            f.wakes_per_second,
            f.cpu_ticks_per_daemon
        );
    }
    // omdiscd / gmond per column (below 1: omdiscd uses less time, CPU or memory).
    let columns = [
        ("join", omdiscd.join.as_secs_f64(), gmond.join.as_secs_f64()),
        ("drop", omdiscd.drop.as_secs_f64(), gmond.drop.as_secs_f64()),
        ("CPU", omdiscd.cpu_per_daemon, gmond.cpu_per_daemon),
        (
            "RSS",
            omdiscd.peak_rss_kib as f64,
            gmond.peak_rss_kib as f64,
        ),
    ];
    let ratios: Vec<String> = columns
        .iter()
        .map(|(name, ours, theirs)| {
            let verdict = if ours <= theirs {
                "ahead or equal"
            } else {
                "BEHIND"
            };
            format!("{name} {:.2} ({verdict})", ours / theirs.max(1e-9))
        })
        .collect();
    println!("  omdiscd / gmond: {}", ratios.join(", "));
    Ok(format!(
        "omdiscd/gmond {}; join {:.2} s vs gmond {:.2} s; SIGKILL dropped {:.2} s vs {:.2} s; CPU {:.4} vs {:.4} s per daemon per {} s; peak RSS {:.1} vs {:.1} MiB; wakes {:.1} vs {:.1} a second",
        ratios.join(", "),
        omdiscd.join.as_secs_f64(),
        gmond.join.as_secs_f64(),
        omdiscd.drop.as_secs_f64(),
        gmond.drop.as_secs_f64(),
        omdiscd.cpu_per_daemon,
        gmond.cpu_per_daemon,
        WINDOW.as_secs(),
        omdiscd.peak_rss_kib as f64 / 1024.0,
        gmond.peak_rss_kib as f64 / 1024.0,
        omdiscd.wakes_per_second,
        gmond.wakes_per_second
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gmond_config_stays_on_the_given_interface() {
        let config = gmond_config("omd0");
        assert_eq!(config.matches("mcast_if = omd0").count(), 2);
        assert!(config.contains("ttl = 1"));
        assert!(config.contains("host_dmax = 6"));
        assert!(config.contains("bind = 127.0.0.1"));
    }
}
