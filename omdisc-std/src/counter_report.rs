//! The daemon's counters as one log line, written on every SIGUSR1 and when the daemon
//! stops:
//!
//! ```text
//! counters: received=120 recvmmsg=97 new=14 duplicate=3 own=0 refused-auth=100
//! refused-malformed=2 refused-oversize=1 refused-stale=0 refused-spoofed=0
//! refused-hop-limit=0 refused-table-full=0 refused-wrong-interface=0 refused-inactive=0
//! sent=31 send-failed=0 map-writes=5 expired=0 left=1
//! ```
//!
//! (one line in the log). Every field is `name=count`, so scripts (and the namespace tests)
//! can pick the counters out; the names are stable.

use omdisc_core::Stats;

use crate::daemon::DaemonCounters;

/// Every counter as `(name, value)`, in the order of the line.
pub fn counters(stats: &Stats, daemon: &DaemonCounters) -> [(&'static str, u64); 22] {
    [
        ("received", daemon.datagrams_received),
        ("recvmmsg", daemon.receive_calls),
        ("new", stats.rx_accepted),
        ("duplicate", stats.rx_duplicate),
        ("own", stats.rx_own),
        ("refused-auth", stats.rx_auth_failed),
        ("refused-malformed", stats.rx_malformed),
        ("refused-oversize", daemon.truncated),
        ("refused-stale", stats.rx_stale),
        ("refused-spoofed", stats.rx_spoofed),
        ("refused-hop-limit", stats.rx_hop_limit),
        ("refused-table-full", stats.rx_table_full),
        ("refused-wrong-interface", daemon.wrong_interface),
        ("refused-inactive", stats.rx_inactive_iface),
        ("sent", stats.tx_datagrams),
        ("send-failed", daemon.send_failed),
        ("map-writes", daemon.map_writes),
        ("expired", stats.expired),
        ("left", stats.left),
        ("relayed", stats.tx_relayed),
        ("relay-dropped", stats.relay_dropped),
        ("replays-answered", stats.replays_answered),
    ]
}

/// `counters: received=N recvmmsg=N ...` (see the module docs).
pub fn counter_line(stats: &Stats, daemon: &DaemonCounters) -> String {
    let fields: Vec<String> = counters(stats, daemon)
        .iter()
        .map(|(name, value)| format!("{name}={value}"))
        .collect();
    format!("counters: {}", fields.join(" "))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_counter_is_a_name_value_pair() {
        let stats = Stats {
            rx_auth_failed: 7,
            rx_stale: 2,
            ..Stats::default()
        };
        let daemon = DaemonCounters {
            truncated: 3,
            datagrams_received: 12,
            ..DaemonCounters::default()
        };
        let line = counter_line(&stats, &daemon);
        assert!(
            line.starts_with("counters: received=12 recvmmsg=0 "),
            "{line}"
        );
        assert!(line.contains(" refused-auth=7 "), "{line}");
        assert!(line.contains(" refused-oversize=3 "), "{line}");
        assert!(line.contains(" refused-stale=2 "), "{line}");
        assert!(!line.contains('\n'));
        let fields = line.trim_start_matches("counters: ").split(' ').count();
        assert_eq!(fields, counters(&stats, &daemon).len());
    }
}
