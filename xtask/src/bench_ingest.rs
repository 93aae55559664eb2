//! The ingest benchmark: datagrams per second taken in by `omdiscd`'s real receive path
//! (recvmmsg, decode, MAC verify, table update) against two baselines that only drain the
//! socket — `recvmmsg` batches and a `recv_from` loop — on the same veth path, with the
//! same sender, in one run; and the daemon's memory with 1 000 members.
//!
//! Topology: two namespaces joined by one veth pair (no bridge). The sender namespace holds
//! the addresses of 1 000 simulated nodes; `ingest_blast` (omdisc-std example) sends their
//! signed announcements, each one new, as fast as it can, for a bounded time. The receiver
//! namespace runs, in turn, `omdiscd -n --key-file K` and `ingest_drain` in both modes.
//! The sender is pinned to CPU 0 and the receiver to CPU 1.
//!
//! The daemon's rate comes from its own counters: SIGUSR1 makes it write them to its
//! `--counters-file` (and toggles debug output, so a second SIGUSR1 follows); two snapshots
//! `window` seconds apart give datagrams received per second. The drains count over the
//! same window on their clock.
//! The kernel's UDP counters of the receiver namespace (`/proc/net/snmp`) show how much the
//! socket buffer dropped, i.e. whether the receiver was the bottleneck.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use nix::sys::signal::Signal;

use crate::proc_stats;
use crate::project::{self, Project};
use crate::testbed::{exec_in, ip, Counters, Netns, Process};

/// Options of the ingest benchmark.
#[derive(Debug, Clone)]
pub struct IngestOptions {
    /// Measurement window per receiver, seconds.
    pub window: f64,
    /// Seconds of traffic before the window opens.
    pub warmup: f64,
    /// Rounds over the three receivers; each one's best round is reported.
    pub rounds: usize,
    /// Simulated sending nodes.
    pub nodes: usize,
    /// Record the daemon with `perf record -g` during its window and print the hottest
    /// symbols.
    pub profile: bool,
}

impl Default for IngestOptions {
    fn default() -> Self {
        IngestOptions {
            window: 5.0,
            warmup: 1.5,
            rounds: 3,
            nodes: 1000,
            profile: false,
        }
    }
}

const SENDER_IF: &str = "blast0";
const RECEIVER_IF: &str = "omd0";
const RECEIVER_IP: &str = "10.79.0.1/16";
/// First simulated node's address (10.79.1.1 = node 257); the others follow.
const FIRST_NODE: [u8; 4] = [10, 79, 1, 1];
/// A fixed benchmark key (the key file is written 0600 in the scratch directory).
const KEY_HEX: &str = "3c1e5a7b9d2f4061835a7c9e1b3d5f7092b4d6f8a1c3e5072941b6d8f0a2c4e6";

/// The three receivers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Receiver {
    Omdiscd,
    Recvmmsg,
    RecvFrom,
    /// `omdiscd --max-nodes 1100`: a table sized for the benchmark's cluster.
    OmdiscdSmallTable,
    /// `omdiscd` with wake pacing off (`OMDISC_WAKE_PAUSE_US=0`): a wake per readiness.
    OmdiscdUnpaced,
}

impl Receiver {
    /// The receivers of every round; the first three make the summary's figures.
    const ALL: [Receiver; 4] = [
        Receiver::Omdiscd,
        Receiver::Recvmmsg,
        Receiver::RecvFrom,
        Receiver::OmdiscdUnpaced,
    ];

    fn name(self) -> &'static str {
        match self {
            Receiver::Omdiscd => "omdiscd (decode + MAC + table)",
            Receiver::Recvmmsg => "baseline: recvmmsg drain",
            Receiver::RecvFrom => "baseline: recv_from loop",
            Receiver::OmdiscdSmallTable => "omdiscd --max-nodes 1100",
            Receiver::OmdiscdUnpaced => "omdiscd, wake pacing off",
        }
    }

    fn is_daemon(self) -> bool {
        matches!(
            self,
            Receiver::Omdiscd | Receiver::OmdiscdSmallTable | Receiver::OmdiscdUnpaced
        )
    }
}

/// What one run of one receiver measured.
#[derive(Debug, Clone, Default)]
struct Measurement {
    /// Datagrams per second the receiver took in during the window.
    taken_per_s: f64,
    /// Of those, the share the engine accepted as new (daemon only).
    accepted_share: Option<f64>,
    /// CPU seconds the receiver used per second of the window (1.0 = one core busy).
    cpu_share: f64,
    /// Datagrams per second the sender sent (whole run).
    sent_per_s: f64,
    /// Datagrams per second the kernel dropped at the full socket buffer (whole run).
    dropped_per_s: f64,
    /// Daemon only: peak RSS before the traffic and at the end (KiB), members at the end.
    memory: Option<(u64, u64, usize)>,
    /// Daemon only: datagrams per `recvmmsg` call, and wake pauses per second, in the window.
    batching: Option<(f64, f64)>,
}

/// The built programs.
struct Programs {
    omdiscd: PathBuf,
    showmap: PathBuf,
    blast: PathBuf,
    drain: PathBuf,
}

fn build(project: &Project) -> Result<Programs, String> {
    project::run(project.cargo().args([
        "build",
        "--release",
        "-p",
        "omdisc-std",
        "--bins",
        "--example",
        "ingest_blast",
        "--example",
        "ingest_drain",
    ]))?;
    let release = project.target_dir()?.join("release");
    let find = |path: PathBuf| {
        if path.is_file() {
            Ok(path)
        } else {
            Err(format!("the build made no {}", path.display()))
        }
    };
    Ok(Programs {
        omdiscd: find(release.join("omdiscd"))?,
        showmap: find(release.join("showmap"))?,
        blast: find(release.join("examples").join("ingest_blast"))?,
        drain: find(release.join("examples").join("ingest_drain"))?,
    })
}

/// The two namespaces and their veth pair (deleted with the namespaces).
struct Path2 {
    sender: Netns,
    receiver: Netns,
}

fn topology(nodes: usize, dir: &Path) -> Result<Path2, String> {
    let sender = Netns::new("blast")?;
    let receiver = Netns::new("ingest")?;
    let (s, r) = (sender.name(), receiver.name());
    ip(&[
        "-n",
        s,
        "link",
        "add",
        SENDER_IF,
        "type",
        "veth",
        "peer",
        "name",
        RECEIVER_IF,
        "netns",
        r,
    ])?;
    ip(&["-n", r, "addr", "add", RECEIVER_IP, "dev", RECEIVER_IF])?;
    ip(&["-n", r, "link", "set", RECEIVER_IF, "up"])?;
    // The simulated nodes' addresses, in one `ip -batch`.
    let first = u32::from(std::net::Ipv4Addr::from(FIRST_NODE));
    let batch: String = (0..nodes as u32)
        .map(|k| {
            format!(
                "addr add {}/16 dev {SENDER_IF}\n",
                std::net::Ipv4Addr::from(first + k)
            )
        })
        .collect();
    let batch_file = dir.join("sender-addresses.ip");
    std::fs::write(&batch_file, batch)
        .map_err(|e| format!("cannot write {}: {e}", batch_file.display()))?;
    ip(&["-n", s, "-batch", &batch_file.display().to_string()])?;
    ip(&["-n", s, "link", "set", SENDER_IF, "up"])?;
    Ok(Path2 { sender, receiver })
}

/// `taskset -c CPU ip netns exec NS PROGRAM ARGS` (taskset and ip both exec, so the PID is
/// the program's).
fn pinned(cpu: u32, ns: &str, program: &Path, args: &[String]) -> Command {
    let mut command = Command::new("taskset");
    command
        .args(["-c", &cpu.to_string(), "ip", "netns", "exec", ns])
        .arg(program)
        .args(args);
    command
}

/// `Udp: InDatagrams ... RcvbufErrors` of the namespace.
fn udp_counters(ns: &str) -> Result<(u64, u64), String> {
    let output = exec_in(ns, &["cat", "/proc/net/snmp"])?;
    let text = String::from_utf8_lossy(&output.stdout);
    let mut udp = text.lines().filter(|l| l.starts_with("Udp:"));
    let (names, values) = (udp.next(), udp.next());
    let (Some(names), Some(values)) = (names, values) else {
        return Err("no Udp lines in /proc/net/snmp".into());
    };
    let pairs: Vec<(&str, &str)> = names
        .split_whitespace()
        .zip(values.split_whitespace())
        .collect();
    let get = |name: &str| {
        pairs
            .iter()
            .find(|(n, _)| *n == name)
            .and_then(|(_, v)| v.parse::<u64>().ok())
            .ok_or(format!("no Udp {name} in /proc/net/snmp"))
    };
    Ok((get("InDatagrams")?, get("RcvbufErrors")?))
}

/// The daemon's counters the benchmark reads.
#[derive(Debug, Clone, Copy)]
struct DaemonSnapshot {
    received: u64,
    accepted: u64,
    receive_calls: u64,
    wake_pauses: u64,
}

/// Makes the daemon write its counters (SIGUSR1, then SIGUSR1 again to turn debug output
/// back off); returns them with the moment the first signal was sent.
fn snapshot(
    daemon: &mut Process,
    counters_file: &Path,
) -> Result<(Instant, DaemonSnapshot), String> {
    let at = Instant::now();
    let counters = Counters::fresh(counters_file, Duration::from_secs(3), || {
        daemon.signal(Signal::SIGUSR1)
    })
    .map_err(|why| format!("omdiscd: {why}"))?;
    daemon.signal(Signal::SIGUSR1)?;
    Ok((
        at,
        DaemonSnapshot {
            received: counters.get("received")?,
            accepted: counters.get("new")?,
            receive_calls: counters.get("recvmmsg")?,
            wake_pauses: counters.get("wake-pauses")?,
        },
    ))
}

/// `perf record -F 1999 -g` of `pid` for `seconds`, into `DIR/TAG-perf.data`.
fn record(pid: i32, seconds: f64, dir: &Path, tag: &str) -> Result<(Process, PathBuf), String> {
    let perf_data = dir.join(format!("{tag}-perf.data"));
    let mut command = Command::new("perf");
    command
        .args(["record", "-F", "1999", "-g", "-p"])
        .arg(pid.to_string())
        .arg("-o")
        .arg(&perf_data)
        .args(["--", "sleep"])
        .arg(seconds.to_string());
    let perf = Process::spawn(command, "perf record", &dir.join(format!("{tag}-perf.log")))?;
    Ok((perf, perf_data))
}

/// Prints the hottest symbols of a `perf record` of `who` (and keeps the report).
fn print_profile(perf_data: &Path, who: &str) -> Result<(), String> {
    let mut command = Command::new("perf");
    command
        .args(["report", "--stdio", "--no-children", "--sort", "dso,symbol"])
        .args(["--percent-limit", "1", "-g", "none", "-i"])
        .arg(perf_data);
    let output = crate::testbed::run_bounded(&mut command, Duration::from_secs(120))?;
    let text = String::from_utf8_lossy(&output.stdout).into_owned();
    let report = perf_data.with_extension("txt");
    let _ = std::fs::write(&report, &text);
    println!(
        "  perf profile of {who}'s window (self time, >= 1 %; {}):",
        report.display()
    );
    for line in text
        .lines()
        .filter(|l| l.contains('%') && !l.starts_with('#'))
    {
        println!("    {}", line.trim());
    }
    Ok(())
}

fn sleep_until(t: Instant) {
    let now = Instant::now();
    if t > now {
        std::thread::sleep(t - now);
    }
}

/// The number in `text` after `key` (e.g. `": "` lines of the example programs).
fn rate_after(text: &str, key: &str) -> Option<f64> {
    let at = text.find(key)? + key.len();
    text[at..]
        .split(|c: char| !(c.is_ascii_digit() || c == '.'))
        .next()?
        .parse()
        .ok()
}

fn measure(
    receiver: Receiver,
    programs: &Programs,
    path: &Path2,
    dir: &Path,
    key_file: &Path,
    options: &IngestOptions,
    round: usize,
) -> Result<Measurement, String> {
    let (s, r) = (path.sender.name(), path.receiver.name());
    let tag = format!("{receiver:?}-{round}").to_lowercase();
    let map_dir = dir.join(format!("map-{tag}"));
    std::fs::create_dir_all(&map_dir)
        .map_err(|e| format!("cannot create {}: {e}", map_dir.display()))?;
    let key = key_file.display().to_string();
    let counters_file = dir.join(format!("{tag}-counters.json"));
    let receiver_args: Vec<String> = match receiver {
        Receiver::Omdiscd | Receiver::OmdiscdSmallTable | Receiver::OmdiscdUnpaced => {
            let mut args: Vec<String> = vec![
                "-n".into(),
                "-i".into(),
                RECEIVER_IF.into(),
                "--map-dir".into(),
                map_dir.display().to_string(),
                "--key-file".into(),
                key.clone(),
                "--counters-file".into(),
                counters_file.display().to_string(),
            ];
            if receiver == Receiver::OmdiscdSmallTable {
                args.extend(["--max-nodes".into(), "1100".into()]);
            }
            args
        }
        Receiver::Recvmmsg | Receiver::RecvFrom => vec![
            "--interface".into(),
            RECEIVER_IF.into(),
            "--mode".into(),
            if receiver == Receiver::Recvmmsg {
                "recvmmsg"
            } else {
                "recv_from"
            }
            .into(),
            "--warmup".into(),
            options.warmup.to_string(),
            "--window".into(),
            options.window.to_string(),
        ],
    };
    let daemon = receiver.is_daemon();
    let program = if daemon {
        &programs.omdiscd
    } else {
        &programs.drain
    };
    let (in_before, drops_before) = udp_counters(r)?;
    let mut command = pinned(1, r, program, &receiver_args);
    if receiver == Receiver::OmdiscdUnpaced {
        command.env("OMDISC_WAKE_PAUSE_US", "0");
    }
    let mut receiving = Process::spawn(
        command,
        &format!("{tag} receiver"),
        &dir.join(format!("{tag}-receiver.log")),
    )?;
    std::thread::sleep(Duration::from_millis(700));
    let rss_idle = if daemon {
        Some(proc_stats::peak_rss_kib(receiving.pid())?)
    } else {
        None
    };
    let seconds = options.warmup + options.window + 1.0;
    let blast_args: Vec<String> = vec![
        "--interface".into(),
        SENDER_IF.into(),
        "--first-ip".into(),
        std::net::Ipv4Addr::from(FIRST_NODE).to_string(),
        "--nodes".into(),
        options.nodes.to_string(),
        "--seconds".into(),
        seconds.to_string(),
        "--key-file".into(),
        key,
    ];
    let started = Instant::now();
    let mut sender = Process::spawn(
        pinned(0, s, &programs.blast, &blast_args),
        &format!("{tag} sender"),
        &dir.join(format!("{tag}-sender.log")),
    )?;
    let mut measurement = Measurement::default();
    // The receiver's CPU time over the window, read from xtask's side (the drains count
    // from their first datagram, a few ms after the sender starts).
    let window_start = started + Duration::from_secs_f64(options.warmup);
    let window_end = window_start + Duration::from_secs_f64(options.window);
    let pid = receiving.pid();
    let cpu_thread = std::thread::spawn(move || -> Result<f64, String> {
        sleep_until(window_start);
        let (t0, c0) = (Instant::now(), proc_stats::cpu_seconds(pid)?);
        sleep_until(window_end);
        let (t1, c1) = (Instant::now(), proc_stats::cpu_seconds(pid)?);
        Ok((c1 - c0) / (t1 - t0).as_secs_f64())
    });
    // The drain is profiled too, to compare where the kernel time goes.
    let mut drain_perf = None;
    if options.profile && receiver == Receiver::Recvmmsg {
        sleep_until(window_start);
        drain_perf = Some(record(pid, options.window, dir, &tag)?);
    }
    if daemon {
        sleep_until(started + Duration::from_secs_f64(options.warmup));
        let mut perf = if options.profile {
            Some(record(receiving.pid(), options.window, dir, &tag)?)
        } else {
            None
        };
        let (t0, before) = snapshot(&mut receiving, &counters_file)?;
        sleep_until(t0 + Duration::from_secs_f64(options.window));
        let (t1, after) = snapshot(&mut receiving, &counters_file)?;
        if let Some((perf, perf_data)) = &mut perf {
            perf.wait_exit(Duration::from_secs(30));
            print_profile(perf_data, "omdiscd")?;
        }
        let taken = after.received.saturating_sub(before.received);
        let seconds = (t1 - t0).as_secs_f64();
        measurement.taken_per_s = taken as f64 / seconds;
        measurement.accepted_share =
            Some(after.accepted.saturating_sub(before.accepted) as f64 / taken.max(1) as f64);
        let calls = after.receive_calls.saturating_sub(before.receive_calls);
        let pauses = after.wake_pauses.saturating_sub(before.wake_pauses);
        measurement.batching = Some((taken as f64 / calls.max(1) as f64, pauses as f64 / seconds));
    }
    if let Some((mut perf, perf_data)) = drain_perf {
        perf.wait_exit(Duration::from_secs(30));
        print_profile(&perf_data, "the recvmmsg drain")?;
    }
    measurement.cpu_share = cpu_thread
        .join()
        .unwrap_or_else(|_| Err("the CPU reader panicked".into()))?;
    let sent = sender
        .wait_exit(Duration::from_secs_f64(seconds + 20.0))
        .ok_or("the sender did not stop in time")?;
    let sender_output = sender.output();
    if !sent.success() {
        return Err(format!(
            "ingest_blast failed ({sent}): {}",
            sender_output.trim()
        ));
    }
    measurement.sent_per_s = rate_after(&sender_output, "s: ").unwrap_or(0.0);
    match receiver {
        Receiver::Omdiscd | Receiver::OmdiscdSmallTable | Receiver::OmdiscdUnpaced => {
            let peak = proc_stats::peak_rss_kib(receiving.pid())?;
            let members = Command::new(&programs.showmap)
                .args(["--map-dir", &map_dir.display().to_string(), "--json"])
                .output()
                .map(|o| String::from_utf8_lossy(&o.stdout).matches("\"id\"").count())
                .unwrap_or(0);
            measurement.memory = rss_idle.map(|idle| (idle, peak, members));
            receiving.stop(Duration::from_secs(5));
        }
        _ => {
            let status = receiving
                .wait_exit(Duration::from_secs(20))
                .ok_or("the drain did not stop after its window")?;
            let output = receiving.output();
            if !status.success() {
                return Err(format!("ingest_drain failed ({status}): {}", output.trim()));
            }
            measurement.taken_per_s = rate_after(&output, "s: ")
                .ok_or(format!("unexpected ingest_drain output {output:?}"))?;
        }
    }
    let elapsed = started.elapsed().as_secs_f64();
    let (_in_after, drops_after) = udp_counters(r)?;
    let _ = in_before;
    measurement.dropped_per_s = drops_after.saturating_sub(drops_before) as f64 / elapsed;
    Ok(measurement)
}

/// Runs the ingest benchmark and prints its table; the summary line has the ratio.
pub fn run(project: &Project, options: &IngestOptions) -> Result<String, String> {
    let programs = build(project)?;
    let dir = project.scratch_dir("bench-ingest")?;
    let key_file = dir.join("cluster.key");
    std::fs::write(&key_file, format!("{KEY_HEX}\n"))
        .map_err(|e| format!("cannot write {}: {e}", key_file.display()))?;
    std::fs::set_permissions(
        &key_file,
        std::os::unix::fs::PermissionsExt::from_mode(0o600),
    )
    .map_err(|e| format!("cannot chmod {}: {e}", key_file.display()))?;
    let path = topology(options.nodes, &dir)?;
    println!(
        "  {} simulated nodes send signed announcements over one veth pair; window {} s after {} s of warm-up; {} rounds; logs in {}",
        options.nodes,
        options.window,
        options.warmup,
        options.rounds,
        dir.display()
    );
    let mut best: Vec<Option<Measurement>> = vec![None; Receiver::ALL.len()];
    for round in 1..=options.rounds {
        for (i, receiver) in Receiver::ALL.into_iter().enumerate() {
            let m = measure(receiver, &programs, &path, &dir, &key_file, options, round)?;
            println!(
                "  round {round}: {:<32} {:>9.0} datagrams/s taken in, {:>4.0} % of a core = {:.2} µs/datagram (sender {:.0}/s, socket-buffer drops {:.0}/s{})",
                receiver.name(),
                m.taken_per_s,
                m.cpu_share * 100.0,
                m.cpu_share * 1e6 / m.taken_per_s.max(1.0),
                m.sent_per_s,
                m.dropped_per_s,
                m.accepted_share
                    .map(|a| format!(", {:.1} % accepted as new", a * 100.0))
                    .unwrap_or_default()
            );
            if let Some((per_call, pauses)) = m.batching {
                println!(
                    "           omdiscd took {per_call:.1} datagrams per recvmmsg call, paused {pauses:.0} wakes/s"
                );
            }
            if let Some((idle, peak, members)) = m.memory {
                println!(
                    "           omdiscd peak RSS {:.1} MiB before the traffic, {:.1} MiB with {members} members",
                    idle as f64 / 1024.0,
                    peak as f64 / 1024.0
                );
            }
            if best[i]
                .as_ref()
                .is_none_or(|b| m.taken_per_s > b.taken_per_s)
            {
                best[i] = Some(m);
            }
        }
    }
    // The same traffic into a daemon whose table is sized for it: the memory difference.
    let small = measure(
        Receiver::OmdiscdSmallTable,
        &programs,
        &path,
        &dir,
        &key_file,
        options,
        1,
    )?;
    let small_memory = small.memory.map(|(idle, peak, members)| {
        println!(
            "  {:<32} {:>9.0} datagrams/s taken in, peak RSS {:.1} MiB before the traffic, {:.1} MiB with {members} members",
            Receiver::OmdiscdSmallTable.name(),
            small.taken_per_s,
            idle as f64 / 1024.0,
            peak as f64 / 1024.0
        );
        peak
    });
    drop(path);
    let rate = |i: usize| best[i].as_ref().map_or(0.0, |m| m.taken_per_s);
    // What one core could take in at the measured CPU cost per datagram.
    let capacity = |i: usize| {
        best[i]
            .as_ref()
            .map_or(0.0, |m| m.taken_per_s / m.cpu_share.max(1e-6))
    };
    let (daemon, mmsg, from) = (rate(0), rate(1), rate(2));
    println!(
        "\n  best of {} rounds (capacity = datagrams/s per CPU-second used: what one busy core would take in):",
        options.rounds
    );
    for (i, receiver) in Receiver::ALL.into_iter().enumerate() {
        println!(
            "  {:<32} {:>9.0} datagrams/s  {:>6.1} % of recvmmsg | capacity {:>9.0}/s  {:>6.1} % of recvmmsg",
            receiver.name(),
            rate(i),
            100.0 * rate(i) / mmsg.max(1.0),
            capacity(i),
            100.0 * capacity(i) / capacity(1).max(1.0)
        );
    }
    let memory = best[0]
        .as_ref()
        .and_then(|m| m.memory)
        .map(|(idle, peak, members)| {
            format!(
                "; peak RSS {:.1} MiB idle, {:.1} MiB with {members} members ({:.1} MiB with --max-nodes 1100)",
                idle as f64 / 1024.0,
                peak as f64 / 1024.0,
                small_memory.unwrap_or(0) as f64 / 1024.0
            )
        })
        .unwrap_or_default();
    Ok(format!(
        "omdiscd {daemon:.0}/s = {:.1} % of recvmmsg ({mmsg:.0}/s), recv_from {from:.0}/s = {:.1} %; per CPU-second {:.1} % and {:.1} % (omdiscd with wake pacing off {:.1} %){memory}",
        100.0 * daemon / mmsg.max(1.0),
        100.0 * from / mmsg.max(1.0),
        100.0 * capacity(0) / capacity(1).max(1.0),
        100.0 * capacity(2) / capacity(1).max(1.0),
        100.0 * capacity(3) / capacity(1).max(1.0)
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rates_are_read_from_the_programs_lines() {
        assert_eq!(
            rate_after("drained 10 datagrams in 5.000 s: 2/s\n", "s: "),
            Some(2.0)
        );
        assert_eq!(
            rate_after(
                "sent 9 datagrams from 3 nodes in 1.500 s: 6/s (0 failed)",
                "s: "
            ),
            Some(6.0)
        );
    }
}
