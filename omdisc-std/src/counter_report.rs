//! The daemon's counters as one log line, written on every SIGUSR1 and when the daemon
//! stops:
//!
//! ```text
//! counters: received=120 recvmmsg=97 new=14 duplicate=3 own=0 refused-auth=100
//! refused-malformed=2 refused-oversize=1 refused-stale=0 refused-spoofed=0
//! refused-hop-limit=0 refused-table-full=0 refused-wrong-interface=0 refused-inactive=0
//! sent=31 send-failed=0 map-writes=5 expired=0 left=1 relayed=0 relay-dropped=0
//! replays-answered=0 sent-unicast=4 seed-contacts=1 probes=12 probe-acks=12
//! probe-requests=0 suspicions=0 refutations=0 refused-not-member=0
//! refused-unexpected-ack=0 wake-pauses=0
//! ```
//!
//! (one line in the log). Every field is `name=count`; the names are stable.
//!
//! With `--counters-file PATH` the same counters are also written as JSON, atomically, at
//! start, on every SIGUSR1 and when the daemon stops, for scripts and the namespace tests:
//!
//! ```text
//! {"reason":"SIGUSR1","sequence":3,"counters":{"received":120,"recvmmsg":97,...}}
//! ```
//!
//! `reason` is `start`, `SIGUSR1` or `stop`; `sequence` counts the writes of this run (0 at
//! start), so a reader can tell a fresh snapshot from the previous one.

use std::fmt;
use std::io;
use std::path::{Path, PathBuf};

use omdisc_core::Stats;
use serde_json::{json, Map, Value};

use crate::daemon::DaemonCounters;
use crate::map_sink::replace_file;

/// Every counter as `(name, value)`, in the order of the line.
pub fn counters(stats: &Stats, daemon: &DaemonCounters) -> [(&'static str, u64); 32] {
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
        ("sent-unicast", stats.tx_unicast),
        ("seed-contacts", stats.seed_contacts),
        ("probes", stats.probes_sent),
        ("probe-acks", stats.acks_received),
        ("probe-requests", stats.indirect_probes_sent),
        ("suspicions", stats.suspicions),
        ("refutations", stats.refutations),
        ("refused-not-member", stats.rx_not_member),
        ("refused-unexpected-ack", stats.rx_unexpected_ack),
        ("wake-pauses", daemon.wake_pauses),
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

/// Why the counters file was written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SnapshotReason {
    /// The daemon started (all counters 0).
    Start,
    /// SIGUSR1.
    Signal,
    /// The daemon is stopping.
    Stop,
}

impl SnapshotReason {
    fn as_str(self) -> &'static str {
        match self {
            SnapshotReason::Start => "start",
            SnapshotReason::Signal => "SIGUSR1",
            SnapshotReason::Stop => "stop",
        }
    }
}

/// The counters as the JSON document of the counters file.
pub fn counters_json(
    stats: &Stats,
    daemon: &DaemonCounters,
    reason: SnapshotReason,
    sequence: u64,
) -> Value {
    let counters: Map<String, Value> = counters(stats, daemon)
        .iter()
        .map(|(name, value)| ((*name).to_owned(), Value::from(*value)))
        .collect();
    json!({ "reason": reason.as_str(), "sequence": sequence, "counters": counters })
}

/// A counters file that cannot be written. `Display` is one line.
#[derive(Debug)]
pub struct CountersFileError {
    /// The file.
    pub path: PathBuf,
    /// Why.
    pub error: io::Error,
}

impl fmt::Display for CountersFileError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "cannot write counters file {}: {}",
            self.path.display(),
            self.error
        )
    }
}

impl std::error::Error for CountersFileError {}

/// `--counters-file PATH`: where the snapshots go, and how many were written.
#[derive(Debug)]
pub struct CountersFile {
    path: PathBuf,
    sequence: u64,
}

impl CountersFile {
    /// Writes the start snapshot (all counters 0) to `path`, so a path that cannot be written
    /// is refused before the daemon starts.
    pub fn create(path: &Path) -> Result<CountersFile, CountersFileError> {
        let mut file = CountersFile {
            path: path.to_owned(),
            sequence: 0,
        };
        file.write(
            &Stats::default(),
            &DaemonCounters::default(),
            SnapshotReason::Start,
        )?;
        Ok(file)
    }

    /// Replaces the file with a snapshot of the counters.
    pub fn write(
        &mut self,
        stats: &Stats,
        daemon: &DaemonCounters,
        reason: SnapshotReason,
    ) -> Result<(), CountersFileError> {
        let mut text = counters_json(stats, daemon, reason, self.sequence).to_string();
        text.push('\n');
        replace_file(&self.path, text.as_bytes()).map_err(|error| CountersFileError {
            path: self.path.clone(),
            error,
        })?;
        self.sequence += 1;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_counter_is_a_name_value_pair() {
        let mut stats = Stats::default();
        stats.rx_auth_failed = 7;
        stats.rx_stale = 2;
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

    #[test]
    fn the_file_holds_every_counter_by_name_and_counts_its_writes() {
        let dir = crate::test_dir::TempDir::new("counters");
        let path = dir.path().join("counters.json");
        let mut file = CountersFile::create(&path).unwrap();
        let read = || -> Value { serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap() };
        assert_eq!(read()["reason"], "start");
        assert_eq!(read()["sequence"], 0);
        let mut stats = Stats::default();
        stats.rx_auth_failed = 7;
        let daemon = DaemonCounters {
            receive_calls: 2,
            ..DaemonCounters::default()
        };
        file.write(&stats, &daemon, SnapshotReason::Signal).unwrap();
        let json = read();
        assert_eq!(json["reason"], "SIGUSR1");
        assert_eq!(json["sequence"], 1);
        assert_eq!(json["counters"]["refused-auth"], 7);
        assert_eq!(json["counters"]["recvmmsg"], 2);
        let names = json["counters"].as_object().unwrap().len();
        assert_eq!(names, counters(&stats, &daemon).len());
    }

    #[test]
    fn a_file_that_cannot_be_written_is_refused_in_one_line() {
        let error = CountersFile::create(Path::new("/nonexistent-dir/counters.json")).unwrap_err();
        let text = error.to_string();
        assert!(text.starts_with("cannot write counters file /nonexistent-dir/counters.json"));
        assert!(!text.contains('\n'));
    }
}
