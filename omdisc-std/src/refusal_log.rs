//! Logging refused datagrams without letting a flood flood the log.
//!
//! Every refused datagram is counted (the engine's [`Stats`] and the daemon's
//! [`DaemonCounters`]). On top of the counters:
//!
//! - at debug level, at most [`DEBUG_LINES_PER_SECOND`] lines a second name a refused
//!   datagram and why; a line then says how many more were not logged;
//! - at warning level, at most one line every [`WARN_INTERVAL_MS`] sums up the hostile or
//!   misconfigured traffic since the previous warning: authentication failures (with the
//!   last sender and reason), malformed, oversize, spoofed-source and over-hop-limit
//!   datagrams. Stale and duplicate datagrams are normal (reordering, several paths) and
//!   only counted.
//!
//! The first refusal warns at once; refusals that arrive while a warning is not allowed yet
//! are reported when [`RefusalLog::next_warning_at`] comes, so a burst is never left
//! unreported.

use std::net::SocketAddr;

use omdisc_core::Stats;

use crate::daemon::DaemonCounters;

/// Shortest time between two warnings about refused datagrams, in milliseconds.
pub const WARN_INTERVAL_MS: u64 = 10_000;
/// Most debug lines about single refused datagrams per second.
pub const DEBUG_LINES_PER_SECOND: u32 = 20;

/// The refusals a warning reports, as running totals.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RefusalCounts {
    /// No MAC, an unknown key, or a MAC that does not verify.
    pub auth: u64,
    /// Failed a length or field check.
    pub malformed: u64,
    /// Longer than any valid datagram.
    pub oversize: u64,
    /// Sent directly from an address the message does not claim.
    pub spoofed: u64,
    /// Relayed more often than the hop limit allows.
    pub hop_limit: u64,
}

impl RefusalCounts {
    /// The totals from the engine's and the daemon's counters.
    pub fn from_counters(stats: &Stats, daemon: &DaemonCounters) -> RefusalCounts {
        RefusalCounts {
            auth: stats.rx_auth_failed,
            malformed: stats.rx_malformed,
            oversize: daemon.truncated,
            spoofed: stats.rx_spoofed,
            hop_limit: stats.rx_hop_limit,
        }
    }

    /// All of them.
    pub fn total(&self) -> u64 {
        self.auth
            .saturating_add(self.malformed)
            .saturating_add(self.oversize)
            .saturating_add(self.spoofed)
            .saturating_add(self.hop_limit)
    }

    /// What was added since `earlier`.
    fn since(&self, earlier: &RefusalCounts) -> RefusalCounts {
        RefusalCounts {
            auth: self.auth.saturating_sub(earlier.auth),
            malformed: self.malformed.saturating_sub(earlier.malformed),
            oversize: self.oversize.saturating_sub(earlier.oversize),
            spoofed: self.spoofed.saturating_sub(earlier.spoofed),
            hop_limit: self.hop_limit.saturating_sub(earlier.hop_limit),
        }
    }
}

/// Whether to write a debug line about one refused datagram.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DebugLine {
    /// Write it.
    Write,
    /// Write it, after a line saying that this many were not logged in the last second.
    WriteAfterSkipped(u64),
    /// Skip it: this second's lines are used up.
    Skip,
}

/// Rate limits for the refused-datagram log (see the module docs).
#[derive(Debug, Default)]
pub struct RefusalLog {
    reported: RefusalCounts,
    last_warning: Option<u64>,
    pending: bool,
    last_auth_failure: Option<String>,
    debug_second: u64,
    debug_lines: u32,
    debug_skipped: u64,
}

impl RefusalLog {
    /// Nothing reported yet.
    pub fn new() -> RefusalLog {
        RefusalLog::default()
    }

    /// Whether a debug line about one more refused datagram may be written at `now_ms`.
    pub fn debug_line(&mut self, now_ms: u64) -> DebugLine {
        let second = now_ms / 1_000;
        let mut skipped = 0;
        if second != self.debug_second {
            skipped = std::mem::take(&mut self.debug_skipped);
            self.debug_second = second;
            self.debug_lines = 0;
        }
        if self.debug_lines >= DEBUG_LINES_PER_SECOND {
            self.debug_skipped = self.debug_skipped.saturating_add(1);
            return DebugLine::Skip;
        }
        self.debug_lines += 1;
        match skipped {
            0 => DebugLine::Write,
            n => DebugLine::WriteAfterSkipped(n),
        }
    }

    /// Remembers the last datagram that failed authentication, for the next warning.
    pub fn auth_failed(&mut self, source: SocketAddr, reason: &dyn std::fmt::Display) {
        self.last_auth_failure = Some(format!("last from {source}: {reason}"));
    }

    /// Call with the current totals after datagrams were handled, and when
    /// [`next_warning_at`](Self::next_warning_at) has come. Returns the warning to log, if
    /// the totals grew and the previous warning is at least [`WARN_INTERVAL_MS`] old;
    /// otherwise a warning stays due for later.
    pub fn update(&mut self, now_ms: u64, totals: RefusalCounts) -> Option<String> {
        let new = totals.since(&self.reported);
        if new.total() == 0 {
            self.pending = false;
            return None;
        }
        if self
            .last_warning
            .is_some_and(|at| now_ms.saturating_sub(at) < WARN_INTERVAL_MS)
        {
            self.pending = true;
            return None;
        }
        let period = match self.last_warning {
            Some(at) => format!(
                " in the last {:.1} s",
                now_ms.saturating_sub(at) as f64 / 1000.0
            ),
            None => String::new(),
        };
        self.reported = totals;
        self.last_warning = Some(now_ms);
        self.pending = false;
        let detail = self.last_auth_failure.take();
        Some(warning(&new, &period, detail.as_deref()))
    }

    /// When a due warning may be written, if one is due.
    pub fn next_warning_at(&self) -> Option<u64> {
        if !self.pending {
            return None;
        }
        self.last_warning
            .map(|at| at.saturating_add(WARN_INTERVAL_MS))
    }
}

/// `refused 7 datagrams in the last 10.0 s: 5 failed authentication (last from ...), 2 malformed`.
fn warning(new: &RefusalCounts, period: &str, auth_detail: Option<&str>) -> String {
    let total = new.total();
    let mut parts = Vec::new();
    if new.auth > 0 {
        match auth_detail {
            Some(detail) => parts.push(format!("{} failed authentication ({detail})", new.auth)),
            None => parts.push(format!("{} failed authentication", new.auth)),
        }
    }
    for (count, what) in [
        (new.malformed, "malformed"),
        (new.oversize, "oversize"),
        (new.spoofed, "from a source address they do not claim"),
        (new.hop_limit, "over the hop limit"),
    ] {
        if count > 0 {
            parts.push(format!("{count} {what}"));
        }
    }
    format!(
        "refused {total} datagram{}{period}: {}; at most one such warning every {} s, details at debug level (SIGUSR1)",
        if total == 1 { "" } else { "s" },
        parts.join(", "),
        WARN_INTERVAL_MS / 1000
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn auth(n: u64) -> RefusalCounts {
        RefusalCounts {
            auth: n,
            ..RefusalCounts::default()
        }
    }

    #[test]
    fn the_first_refusal_warns_at_once_with_the_last_sender() {
        let mut log = RefusalLog::new();
        assert_eq!(log.update(5, RefusalCounts::default()), None);
        log.auth_failed("10.0.0.9:7477".parse().unwrap(), &"bad MAC");
        let line = log.update(10, auth(1)).unwrap();
        assert!(
            line.starts_with(
                "refused 1 datagram: 1 failed authentication (last from 10.0.0.9:7477: bad MAC)"
            ),
            "{line}"
        );
        assert_eq!(log.next_warning_at(), None);
    }

    #[test]
    fn a_burst_gives_one_warning_per_interval_with_the_count_since_the_last() {
        let mut log = RefusalLog::new();
        assert!(log.update(0, auth(1)).is_some());
        // 10 000 more within the interval: no line, but one is due at the interval's end.
        for n in 2..=10_001 {
            assert_eq!(log.update(n / 2, auth(n)), None);
        }
        assert_eq!(log.next_warning_at(), Some(WARN_INTERVAL_MS));
        let malformed = RefusalCounts {
            malformed: 3,
            ..auth(10_001)
        };
        let line = log.update(WARN_INTERVAL_MS, malformed).unwrap();
        assert!(
            line.starts_with("refused 10003 datagrams in the last 10.0 s: 10000 failed authentication, 3 malformed;"),
            "{line}"
        );
        assert_eq!(log.next_warning_at(), None);
        assert_eq!(log.update(WARN_INTERVAL_MS + 1, malformed), None);
        assert_eq!(log.next_warning_at(), None);
    }

    #[test]
    fn a_due_warning_is_written_when_its_time_comes() {
        let mut log = RefusalLog::new();
        log.update(0, auth(1));
        log.update(1, auth(2));
        assert!(log.next_warning_at().is_some());
        // No refusal since: the one held back is reported at the due time.
        let line = log.update(WARN_INTERVAL_MS + 5, auth(2)).unwrap();
        assert!(
            line.contains("refused 1 datagram in the last 10.0 s"),
            "{line}"
        );
    }

    #[test]
    fn debug_lines_are_capped_per_second_and_the_skipped_are_counted() {
        let mut log = RefusalLog::new();
        let written = (0..100)
            .filter(|_| log.debug_line(1_500) != DebugLine::Skip)
            .count();
        assert_eq!(written, DEBUG_LINES_PER_SECOND as usize);
        assert_eq!(log.debug_line(2_000), DebugLine::WriteAfterSkipped(80));
        assert_eq!(log.debug_line(2_001), DebugLine::Write);
    }

    #[test]
    fn counts_come_from_engine_and_daemon_counters() {
        let mut stats = Stats::default();
        stats.rx_auth_failed = 1;
        stats.rx_malformed = 2;
        stats.rx_spoofed = 3;
        stats.rx_hop_limit = 4;
        stats.rx_stale = 100;
        let daemon = DaemonCounters {
            truncated: 5,
            ..DaemonCounters::default()
        };
        let counts = RefusalCounts::from_counters(&stats, &daemon);
        assert_eq!(counts.total(), 15);
    }
}
