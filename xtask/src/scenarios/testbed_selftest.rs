//! Self-tests of the testbed itself: namespaces on a bridge reach each other, counters
//! count, guards remove everything.

use std::time::Duration;

use nix::sys::signal::Signal;

use super::{Ctx, Scenario};
use crate::testbed::{exec_in, ip, wait_until, Bridge, Netns, Process};

/// Two hosts on a bridge ping each other (IPv4 both ways, IPv6 once).
pub(super) const PING: Scenario = Scenario {
    name: "netns-ping",
    about: "two namespaces on a bridge ping each other; counters move; all removed after",
    timeout: Duration::from_secs(30),
    needs_daemon: false,
    run: ping,
};

/// A process in a namespace is ended by its guard, and only that process.
pub(super) const PROCESS_GUARD: Scenario = Scenario {
    name: "netns-process",
    about: "a process started in a namespace runs there and is ended by its guard",
    timeout: Duration::from_secs(30),
    needs_daemon: false,
    run: process_guard,
};

fn ping(_: &Ctx) -> Result<String, String> {
    let names;
    let frames_to_b;
    {
        let bridge = Bridge::new("sw")?;
        let a = Netns::new("a")?;
        let b = Netns::new("b")?;
        bridge.attach(&a, "omd0", "10.77.9.1/24", Some("fd77:9::1/64"))?;
        let port_b = bridge.attach(&b, "omd0", "10.77.9.2/24", Some("fd77:9::2/64"))?;
        names = [
            bridge.namespace().to_string(),
            a.name().to_string(),
            b.name().to_string(),
        ];
        let before = port_b.bridge_stats()?;
        ping_once(&a, "10.77.9.2")?;
        ping_once(&b, "10.77.9.1")?;
        ping_once(&a, "fd77:9::2")?;
        frames_to_b = port_b.bridge_stats()?.since(&before).tx_packets;
        // Delivered to b: at least one echo request per ping (2 with IPv6) and a's reply.
        if frames_to_b < 3 {
            return Err(format!(
                "the bridge port of b counted only {frames_to_b} frames to b"
            ));
        }
        let from_b = port_b.host_stats()?.tx_packets;
        if from_b < 3 {
            return Err(format!("b's interface counted only {from_b} frames sent"));
        }
    }
    let listed = ip(&["netns", "list"])?;
    let left: Vec<&String> = names
        .iter()
        .filter(|n| listed.contains(n.as_str()))
        .collect();
    if !left.is_empty() {
        return Err(format!(
            "namespaces still listed after their guards dropped: {left:?}"
        ));
    }
    Ok(format!(
        "pings answered, {frames_to_b} frames counted to b, 3 namespaces removed"
    ))
}

fn ping_once(from: &Netns, to: &str) -> Result<(), String> {
    let output = exec_in(from.name(), &["ping", "-c", "1", "-W", "1", to])?;
    if output.status.success() {
        println!("    {} -> {to}: answered", from.name());
        Ok(())
    } else {
        Err(format!(
            "ping from {} to {to} failed: {}",
            from.name(),
            String::from_utf8_lossy(&output.stdout).trim()
        ))
    }
}

fn process_guard(ctx: &Ctx) -> Result<String, String> {
    let ns = Netns::new("proc")?;
    let log = ctx.dir.join("sleep.log");
    let mut sleeper = Process::spawn_in(
        ns.name(),
        "sleep",
        "sleep".as_ref(),
        &["30".to_string()],
        &log,
    )?;
    let pid = sleeper.pid();
    // `ip netns exec` enters the namespace, then execs the program under the same PID.
    let comm = || std::fs::read_to_string(format!("/proc/{pid}/comm")).unwrap_or_default();
    wait_until(Duration::from_secs(5), Duration::from_millis(5), || {
        comm().trim() == "sleep"
    })
    .map_err(|_| {
        format!(
            "pid {pid} is still {:?}, not the program itself",
            comm().trim()
        )
    })?;
    let netns_of = |pid: &str| {
        std::fs::read_link(format!("/proc/{pid}/ns/net"))
            .map_err(|e| format!("cannot read netns of {pid}: {e}"))
    };
    if netns_of("self")? == netns_of(&pid.to_string())? {
        return Err(format!("pid {pid} runs in our own network namespace"));
    }
    if sleeper.try_exit().is_some() {
        return Err("sleep exited early".into());
    }
    let status = sleeper
        .stop(Duration::from_secs(3))
        .ok_or("sleep did not end")?;
    use std::os::unix::process::ExitStatusExt;
    if status.signal() != Some(Signal::SIGTERM as i32) {
        return Err(format!("sleep ended with {status}, not by SIGTERM"));
    }
    drop(sleeper);
    ns.delete()?;
    Ok(format!(
        "pid {pid} ran in its namespace and ended on SIGTERM"
    ))
}
