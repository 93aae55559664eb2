//! What the benchmarks read about a running process from `/proc`: CPU time and memory.

/// Clock ticks per second of `/proc/PID/stat` times.
fn ticks_per_second() -> f64 {
    // SAFETY: sysconf has no preconditions.
    let ticks = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    if ticks > 0 {
        ticks as f64
    } else {
        100.0
    }
}

/// User + system CPU seconds used by `pid` so far.
pub fn cpu_seconds(pid: i32) -> Result<f64, String> {
    let path = format!("/proc/{pid}/stat");
    let stat = std::fs::read_to_string(&path).map_err(|e| format!("cannot read {path}: {e}"))?;
    // The command name (field 2) may hold spaces: count fields after its closing ')'.
    let rest = stat
        .rsplit_once(')')
        .map(|(_, rest)| rest)
        .ok_or(format!("unexpected {path}"))?;
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // After ')': state is field 3, so utime (14) and stime (15) are at 11 and 12.
    let field = |i: usize| -> Result<f64, String> {
        fields
            .get(i)
            .and_then(|v| v.parse::<f64>().ok())
            .ok_or(format!("unexpected {path}"))
    };
    Ok((field(11)? + field(12)?) / ticks_per_second())
}

/// A `kB` line of `/proc/PID/status` (e.g. `VmHWM`, `VmRSS`), in KiB.
pub fn status_kib(pid: i32, name: &str) -> Result<u64, String> {
    let path = format!("/proc/{pid}/status");
    let status = std::fs::read_to_string(&path).map_err(|e| format!("cannot read {path}: {e}"))?;
    status
        .lines()
        .find_map(|line| {
            let value = line.strip_prefix(name)?.strip_prefix(':')?;
            value.trim().trim_end_matches("kB").trim().parse().ok()
        })
        .ok_or(format!("no {name} in {path}"))
}

/// Peak resident set size of `pid` (`VmHWM`), in KiB.
pub fn peak_rss_kib(pid: i32) -> Result<u64, String> {
    status_kib(pid, "VmHWM")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn own_process_has_cpu_time_and_memory() {
        let pid = std::process::id() as i32;
        assert!(cpu_seconds(pid).unwrap() >= 0.0);
        assert!(peak_rss_kib(pid).unwrap() > 0);
        assert!(status_kib(pid, "NoSuchField").is_err());
    }
}
