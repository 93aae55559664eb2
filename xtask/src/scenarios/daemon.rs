//! The daemon as a system service (issue 3): detaching with a pid file, refusing a second
//! instance, SIGUSR1 debug toggling, and no busy loop when idle.

use std::process::Command;
use std::time::Duration;

use nix::sys::signal::Signal;

use super::{binaries_and_dir, step, Ctx, Scenario};
use crate::proc_stats;
use crate::testbed::DaemonHosts;
use crate::testbed::{run_bounded, wait_until, Adopted, Cluster, NODE_IF};

/// The daemon arguments every node gets.
const DAEMON_ARGS: &[&str] = &["--interval", "0.5", "--dead-after", "3"];
/// Bound for membership changes to show (generous: these scenarios test other things).
const CHANGE_WAIT: Duration = Duration::from_secs(5);

/// Without `-n`: detaches, writes its pid file, refuses a second start, ends on SIGTERM.
pub(super) const DAEMON_MODE: Scenario = Scenario {
    name: "daemon-mode",
    about: "without -n: detaches, pid file, second start refused, SIGTERM leaves and removes it",
    timeout: Duration::from_secs(60),
    needs_daemon: true,
    run: daemon_mode,
};

/// SIGUSR1 turns full debug output on, and off again.
pub(super) const SIGUSR1_DEBUG: Scenario = Scenario {
    name: "sigusr1-debug",
    about: "SIGUSR1 toggles full debug output on and off",
    timeout: Duration::from_secs(60),
    needs_daemon: true,
    run: sigusr1_debug,
};

/// An idle daemon sleeps between its deadlines.
pub(super) const IDLE_QUIET: Scenario = Scenario {
    name: "idle-quiet",
    about: "an idle daemon in a converged cluster barely wakes up and uses ~no CPU",
    timeout: Duration::from_secs(60),
    needs_daemon: true,
    run: idle_quiet,
};

fn daemon_mode(ctx: &Ctx) -> Result<String, String> {
    let (binaries, dir) = binaries_and_dir(ctx)?;
    let mut cluster = Cluster::new(binaries, dir, [10, 77, 6], 2, DAEMON_ARGS)?;
    cluster.start(0)?;
    let ns = cluster.namespace(1).to_string();
    let map_dir = cluster.map_dir(1).display().to_string();
    let pid_file = cluster.map_dir(1).join("omdiscd.pid");
    let pid_arg = pid_file.display().to_string();
    let start = || {
        let mut command = Command::new("ip");
        command
            .args(["netns", "exec", &ns])
            .arg(&binaries.omdiscd)
            .args(["-i", NODE_IF, "--map-dir", &map_dir, "--pid-file", &pid_arg])
            .args(DAEMON_ARGS);
        run_bounded(&mut command, Duration::from_secs(10))
    };

    let first = start()?;
    if !first.status.success() {
        return Err(format!(
            "omdiscd without -n exited with {}: {}",
            first.status,
            String::from_utf8_lossy(&first.stderr).trim()
        ));
    }
    let daemon = Adopted::from_pid_file(&pid_file, &binaries.omdiscd)?;
    let identified = run_bounded(
        Command::new("ip").args(["netns", "identify", &daemon.pid().to_string()]),
        Duration::from_secs(5),
    )?;
    if String::from_utf8_lossy(&identified.stdout).trim() != ns {
        return Err(format!(
            "the detached daemon (pid {}) is not in namespace {ns}",
            daemon.pid()
        ));
    }
    let took = cluster.wait_for_maps(&[0, 1], &[0, 1], CHANGE_WAIT)?;
    step("detached daemon in the cluster (both maps list both)", took);

    let second = start()?;
    let stderr = String::from_utf8_lossy(&second.stderr);
    let lines = stderr.lines().filter(|l| !l.trim().is_empty()).count();
    if second.status.success() || lines != 1 {
        return Err(format!(
            "a second start with the same pid file gave {} and {lines} stderr lines: {:?}",
            second.status,
            stderr.trim()
        ));
    }
    println!("    second start refused: {}", stderr.trim());
    if !daemon.is_running() {
        return Err("the first daemon died when a second one was started".into());
    }
    let still = std::fs::read_to_string(&pid_file).unwrap_or_default();
    if still.trim() != daemon.pid().to_string() {
        return Err(format!(
            "the pid file now holds {:?}, not the running daemon's PID",
            still.trim()
        ));
    }

    daemon.signal(Signal::SIGTERM)?;
    let gone = cluster.wait_for_maps(&[0], &[0], CHANGE_WAIT)?;
    step("SIGTERM'd detached daemon gone from the other map", gone);
    if !daemon.wait_gone(Duration::from_secs(5)) {
        return Err("the detached daemon did not end within 5 s of SIGTERM".into());
    }
    if pid_file.exists() {
        return Err(format!("{} remains after SIGTERM", pid_file.display()));
    }
    Ok(format!(
        "detached, pid file kept and removed, second start refused, gone in {:.2}s",
        gone.as_secs_f64()
    ))
}

/// Lines of `text` at debug or trace level (`omdiscd: debug(net): ...`).
fn debug_lines(text: &str) -> usize {
    text.lines()
        .filter(|l| l.contains(": debug") || l.contains(": trace"))
        .count()
}

/// Sends SIGUSR1 to n1 and returns how many debug lines it has printed then; n3 then
/// leaves (SIGTERM) and joins again, and n1's map follows.
fn toggle_then_leave_and_join(cluster: &mut Cluster) -> Result<usize, String> {
    cluster.signal(0, Signal::SIGUSR1)?;
    std::thread::sleep(Duration::from_millis(200));
    let lines = debug_lines(&cluster.daemon_output(0));
    cluster.signal(2, Signal::SIGTERM)?;
    cluster
        .wait_exit(2, CHANGE_WAIT)
        .ok_or("n3 did not exit on SIGTERM")?;
    cluster.wait_for_maps(&[0], &[0, 1], CHANGE_WAIT)?;
    cluster.start(2)?;
    cluster.wait_for_maps(&[0], &[0, 1, 2], CHANGE_WAIT)?;
    Ok(lines)
}

fn sigusr1_debug(ctx: &Ctx) -> Result<String, String> {
    let (binaries, dir) = binaries_and_dir(ctx)?;
    let mut cluster = Cluster::new(binaries, dir, [10, 77, 8], 3, DAEMON_ARGS)?;
    cluster.start(0)?;
    cluster.start(1)?;
    cluster.wait_for_maps(&[0, 1], &[0, 1], CHANGE_WAIT)?;
    // Default output: a join and a few intervals produce no debug lines.
    cluster.start(2)?;
    cluster.wait_for_maps(&[0], &[0, 1, 2], CHANGE_WAIT)?;
    std::thread::sleep(Duration::from_millis(500));
    let quiet = debug_lines(&cluster.daemon_output(0));
    if quiet > 0 {
        return Err(format!(
            "{quiet} debug lines before SIGUSR1 (default output has none)"
        ));
    }
    // Full debug: membership changes (a leave and a join) are logged at debug level.
    let toggled = toggle_then_leave_and_join(&mut cluster)?;
    let on = wait_until(CHANGE_WAIT, Duration::from_millis(20), || {
        debug_lines(&cluster.daemon_output(0)) >= toggled + 2
    });
    let with_debug = debug_lines(&cluster.daemon_output(0)) - toggled;
    if on.is_err() {
        return Err(format!(
            "full debug output logged {with_debug} debug line(s) for a leave and a join"
        ));
    }
    step(
        &format!("debug on: {with_debug} debug lines for a leave and a join"),
        Duration::ZERO,
    );
    // Off again: the same changes log nothing at debug level.
    let after_off = toggle_then_leave_and_join(&mut cluster)?;
    std::thread::sleep(Duration::from_millis(500));
    let later = debug_lines(&cluster.daemon_output(0));
    if later != after_off {
        return Err(format!(
            "{} debug lines after the second SIGUSR1",
            later - after_off
        ));
    }
    cluster.check_running(&[0, 1, 2])?;
    Ok(format!(
        "{with_debug} debug lines while on, none before or after"
    ))
}

/// CPU ticks (user + system) and voluntary context switches of `pid` so far.
fn activity(pid: i32) -> Result<(u64, u64), String> {
    Ok((
        proc_stats::cpu_ticks(pid)?,
        proc_stats::status_value(pid, "voluntary_ctxt_switches")?,
    ))
}

/// Observation window for the idle check.
const IDLE_WINDOW: Duration = Duration::from_secs(3);
/// At most this many CPU ticks (1/100 s each) in the window: 10 % of one core. A busy
/// loop uses all of it, whatever the machine.
const MAX_IDLE_TICKS: u64 = 30;
/// At most this many wakeups in the window. With three nodes at a 0.5 s interval the
/// daemon has ~6 announces to receive and 2 to send per second; a loop that polls on a
/// short timer wakes hundreds or thousands of times.
const MAX_IDLE_WAKEUPS: u64 = 150;

fn idle_quiet(ctx: &Ctx) -> Result<String, String> {
    let (binaries, dir) = binaries_and_dir(ctx)?;
    let mut cluster = Cluster::new(binaries, dir, [10, 77, 9], 3, DAEMON_ARGS)?;
    for i in 0..3 {
        cluster.start(i)?;
    }
    cluster.wait_for_maps(&[0, 1, 2], &[0, 1, 2], CHANGE_WAIT)?;
    let pid = cluster.pid(0).ok_or("n1 has no daemon")?;
    let (ticks_before, wakeups_before) = activity(pid)?;
    std::thread::sleep(IDLE_WINDOW);
    let (ticks_after, wakeups_after) = activity(pid)?;
    cluster.check_running(&[0, 1, 2])?;
    let ticks = ticks_after - ticks_before;
    let wakeups = wakeups_after - wakeups_before;
    println!("    in {IDLE_WINDOW:?}: {ticks} CPU ticks, {wakeups} voluntary wakeups");
    if ticks > MAX_IDLE_TICKS || wakeups > MAX_IDLE_WAKEUPS {
        return Err(format!(
            "idle daemon used {ticks} ticks (max {MAX_IDLE_TICKS}) and woke {wakeups} times (max {MAX_IDLE_WAKEUPS}) in {IDLE_WINDOW:?}"
        ));
    }
    Ok(format!(
        "{ticks} CPU ticks and {wakeups} wakeups in {}s",
        IDLE_WINDOW.as_secs()
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_lines_are_recognised_by_their_level() {
        let log = "omdiscd: info: map /x/sigusr1-debug/om_config\n\
                   omdiscd: debug(net): got 3\n\
                   omdiscd: trace(map): wrote\n";
        assert_eq!(debug_lines(log), 2);
    }
}
