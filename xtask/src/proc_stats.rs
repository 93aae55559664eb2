//! What xtask reads about a running process from `/proc`: CPU time, memory and wakeups
//! (for the benchmarks, and for the scenarios that bound a daemon's CPU use).

use std::time::Duration;

use nix::unistd::{sysconf, SysconfVar};

/// Clock ticks per second of `/proc/PID/stat` times (100 on Linux).
pub fn ticks_per_second() -> u64 {
    sysconf(SysconfVar::CLK_TCK)
        .ok()
        .flatten()
        .and_then(|ticks| u64::try_from(ticks).ok())
        .filter(|&ticks| ticks > 0)
        .unwrap_or(100)
}

/// User + system CPU time used by `pid` so far, in clock ticks.
pub fn cpu_ticks(pid: i32) -> Result<u64, String> {
    let path = format!("/proc/{pid}/stat");
    let stat = std::fs::read_to_string(&path).map_err(|e| format!("cannot read {path}: {e}"))?;
    // The command name (field 2) may hold spaces: count fields after its closing ')'.
    let rest = stat
        .rsplit_once(')')
        .map(|(_, rest)| rest)
        .ok_or(format!("unexpected {path}"))?;
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // After ')': state is field 3, so utime (14) and stime (15) are at 11 and 12.
    let field = |i: usize| -> Result<u64, String> {
        fields
            .get(i)
            .and_then(|v| v.parse::<u64>().ok())
            .ok_or(format!("unexpected {path}"))
    };
    Ok(field(11)? + field(12)?)
}

/// User + system CPU time used by `pid` so far.
pub fn cpu_time(pid: i32) -> Result<Duration, String> {
    let ticks = cpu_ticks(pid)?;
    Ok(Duration::from_nanos(
        ticks.saturating_mul(1_000_000_000) / ticks_per_second(),
    ))
}

/// User + system CPU seconds used by `pid` so far.
pub fn cpu_seconds(pid: i32) -> Result<f64, String> {
    Ok(cpu_time(pid)?.as_secs_f64())
}

/// A number of `/proc/PID/status` (e.g. `VmHWM` in KiB, `voluntary_ctxt_switches`).
pub fn status_value(pid: i32, name: &str) -> Result<u64, String> {
    let path = format!("/proc/{pid}/status");
    let status = std::fs::read_to_string(&path).map_err(|e| format!("cannot read {path}: {e}"))?;
    status_field(&status, name).ok_or(format!("no {name} in {path}"))
}

/// The number after `NAME:` in the text of a `status` file (a `kB` unit dropped).
fn status_field(status: &str, name: &str) -> Option<u64> {
    status.lines().find_map(|line| {
        let value = line.strip_prefix(name)?.strip_prefix(':')?;
        value.trim().trim_end_matches("kB").trim().parse().ok()
    })
}

/// The sum over `pid`'s threads of a number read from `/proc/PID/task/TID/FILE` by
/// `read` (`None`: the file is not as expected). A thread that ended since the listing is
/// not counted.
fn sum_over_threads(
    pid: i32,
    file: &str,
    read: impl Fn(&str) -> Option<u64>,
) -> Result<u64, String> {
    let path = format!("/proc/{pid}/task");
    let entries = std::fs::read_dir(&path).map_err(|e| format!("cannot read {path}: {e}"))?;
    let mut total = 0u64;
    for tid in entries.filter_map(|e| e.ok()?.file_name().to_str()?.parse::<i32>().ok()) {
        let path = format!("/proc/{pid}/task/{tid}/{file}");
        let Ok(text) = std::fs::read_to_string(&path) else {
            continue;
        };
        let value = read(&text).ok_or(format!("unexpected {path}"))?;
        total = total.saturating_add(value);
    }
    Ok(total)
}

/// Time all of `pid`'s threads spent on a CPU so far, to the nanosecond (the first field
/// of `/proc/PID/task/TID/schedstat`; `/proc/PID/stat` counts whole clock ticks).
pub fn cpu_runtime(pid: i32) -> Result<Duration, String> {
    let ns = sum_over_threads(pid, "schedstat", |text| {
        text.split_whitespace().next()?.parse().ok()
    })?;
    Ok(Duration::from_nanos(ns))
}

/// Voluntary context switches of all of `pid`'s threads so far: how often they slept
/// and woke.
pub fn wakeups(pid: i32) -> Result<u64, String> {
    sum_over_threads(pid, "status", |text| {
        status_field(text, "voluntary_ctxt_switches")
    })
}

/// Peak resident set size of `pid` (`VmHWM`), in KiB.
pub fn peak_rss_kib(pid: i32) -> Result<u64, String> {
    status_value(pid, "VmHWM")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn own_process_has_cpu_time_memory_and_wakeups() {
        let pid = std::process::id() as i32;
        assert!(cpu_seconds(pid).unwrap() >= 0.0);
        assert_eq!(
            cpu_time(pid).unwrap().as_millis() / 10,
            u128::from(cpu_ticks(pid).unwrap()) * 1000 / u128::from(ticks_per_second()) / 10
        );
        assert!(peak_rss_kib(pid).unwrap() > 0);
        assert!(status_value(pid, "voluntary_ctxt_switches").is_ok());
        assert!(cpu_runtime(pid).unwrap() > Duration::ZERO);
        assert!(wakeups(pid).is_ok());
        assert!(status_value(pid, "NoSuchField").is_err());
    }
}
