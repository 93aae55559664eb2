//! The daemon's metrics in the Prometheus text exposition format (version 0.0.4), for
//! `--metrics-listen` ([`crate::http_metrics`]) and `--metrics-file` ([`MetricsFile`]).
//!
//! Names follow Prometheus conventions: prefix `omdisc_`, counters end in `_total`, base
//! units (seconds, bytes), one `# HELP` and `# TYPE` per family, and every label value of
//! a labelled counter present from the start (at 0), so `rate()` sees the first increase.
//!
//! | metric | type | what |
//! |---|---|---|
//! | `omdisc_info{version,node_id,group}` | gauge | always 1 |
//! | `omdisc_members` | gauge | nodes in the map, this one included |
//! | `omdisc_events_total{event}` | counter | membership events by kind (`join`, `leave`, `expire`, `change`, `conflict`, `conflict-end`, `self`, `table-full`, `overflow`, `suspect`, `seed-reached`, `seed-unreachable`) |
//! | `omdisc_events_dropped_total` | counter | events the engine's queue dropped (covered by `overflow`) |
//! | `omdisc_datagrams_received_total` | counter | datagrams received |
//! | `omdisc_datagrams_sent_total` | counter | datagrams sent (relayed copies included) |
//! | `omdisc_datagrams_relayed_total` | counter | relayed copies of other nodes' messages sent |
//! | `omdisc_datagrams_refused_total{reason}` | counter | received datagrams refused, by reason |
//! | `omdisc_unicast_datagrams_sent_total` | counter | of the datagrams sent, those sent by unicast to one peer |
//! | `omdisc_unicast_dropped_total` | counter | unicast datagrams not sent because the engine's unicast queue was full |
//! | `omdisc_seed_contacts_total` | counter | unicast JOIN announcements sent to seeds (first contacts and retries) |
//! | `omdisc_probes_sent_total{kind}` | counter | probes sent: `ping` (direct), `ping-req` (asking others), `relayed` (on another node's behalf) |
//! | `omdisc_probe_acks_received_total` | counter | acknowledgements of this node's probes, direct or indirect |
//! | `omdisc_suspicions_total` | counter | members suspected after their probes went unanswered |
//! | `omdisc_refutations_total` | counter | suspicions of this node that it refuted |
//! | `omdisc_confirmed_dead_total` | counter | members removed because a suspicion was confirmed (also `event="expire"`) |
//! | `omdisc_gossip_sent_total` | counter | gossip sent: member digests and failure notices |
//! | `omdisc_syncs_total{direction}` | counter | syncs (the members a summary of this map lacks) asked of a member that holds more (`asked`) and served to a member that asked (`served`) |
//! | `omdisc_send_failures_total` | counter | sends that failed |
//! | `omdisc_relay_dropped_total` | counter | messages not relayed because the relay queue was full |
//! | `omdisc_announce_interval_seconds` | gauge | this node's mean announce interval now (grows with the cluster under the budget) |
//! | `omdisc_cluster_announce_bytes_per_second` | gauge | estimate of the whole cluster's announce traffic (UDP/IP headers included) |
//! | `omdisc_announce_budget_bytes_per_second` | gauge | `--bandwidth` in bytes per second (0: no budget) |
//! | `omdisc_map_writes_total` | counter | map writes |
//! | `omdisc_map_write_failures_total` | counter | map writes that failed |
//! | `omdisc_conflicts` | gauge | hosts left out of the map by a node-id conflict now |
//! | `omdisc_hook_runs_total{result}` | counter | hook runs by result (`ok`, `failed`, `timeout`, `spawn-error`) |
//! | `omdisc_hook_events_collapsed_total` | counter | hook events covered by a `sync` instead of their own run |

use std::fmt::Write as _;
use std::io;
use std::net::IpAddr;
use std::path::{Path, PathBuf};

use omdisc_core::{Event, Stats};

use crate::daemon::DaemonCounters;
use crate::map_sink::replace_file;

/// The `Content-Type` of the exposition format.
pub const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

/// Event kinds as the `event` label names them, in [`EventCounts`] order.
pub const EVENT_KINDS: [&str; 12] = [
    "join",
    "leave",
    "expire",
    "change",
    "conflict",
    "conflict-end",
    "self",
    "table-full",
    "overflow",
    "suspect",
    "seed-reached",
    "seed-unreachable",
];

/// Membership events counted by kind.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct EventCounts([u64; EVENT_KINDS.len()]);

impl EventCounts {
    /// Counts `event`.
    pub fn count(&mut self, event: &Event) {
        let index = match event {
            Event::Joined(_) => 0,
            Event::Left(_) => 1,
            Event::Expired(_) => 2,
            Event::Changed(_) => 3,
            Event::Conflict { .. } => 4,
            Event::ConflictEnded { .. } => 5,
            Event::LocalChanged => 6,
            Event::TableFull(_) => 7,
            Event::Overflow => 8,
            Event::Suspected(_) => 9,
            Event::SeedReached(_) => 10,
            Event::SeedUnreachable(_) => 11,
            _ => return,
        };
        if let Some(slot) = self.0.get_mut(index) {
            *slot += 1;
        }
    }

    /// How many events of kind `name` ([`EVENT_KINDS`]) were counted.
    pub fn get(&self, name: &str) -> u64 {
        EVENT_KINDS
            .iter()
            .position(|k| *k == name)
            .and_then(|i| self.0.get(i).copied())
            .unwrap_or(0)
    }
}

/// Hook runs by result.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct HookCounts {
    /// Exited 0.
    pub ok: u64,
    /// Exited non-zero or was killed by a signal it did not get from the daemon.
    pub failed: u64,
    /// Killed by the daemon after `--hook-timeout`.
    pub timeout: u64,
    /// Could not be started.
    pub spawn_error: u64,
    /// Events covered by a `sync` instead of a run of their own.
    pub collapsed: u64,
}

/// Everything the metrics show, taken at one moment.
#[derive(Debug, Clone, PartialEq)]
pub struct Snapshot {
    /// This node's id (none while the daemon waits for an address).
    pub node_id: Option<u16>,
    /// The multicast group.
    pub group: IpAddr,
    /// Members of the map.
    pub members: usize,
    /// Hosts left out by node-id conflicts.
    pub conflicts: usize,
    /// The engine's counters.
    pub stats: Stats,
    /// Events the engine's queue dropped.
    pub events_dropped: u64,
    /// The daemon's own counters.
    pub daemon: DaemonCounters,
    /// Events by kind.
    pub events: EventCounts,
    /// Hook runs.
    pub hooks: HookCounts,
    /// Mean announce interval now, in seconds.
    pub announce_interval_seconds: f64,
    /// Cluster announce traffic estimate, bytes per second.
    pub cluster_bytes_per_second: f64,
    /// The budget, bytes per second (0: none).
    pub budget_bytes_per_second: f64,
}

impl Snapshot {
    /// The cluster's announce traffic when `members` nodes announce `average_size` bytes
    /// every `interval_seconds`.
    pub fn cluster_rate(members: usize, average_size: u32, interval_seconds: f64) -> f64 {
        if interval_seconds <= 0.0 {
            return 0.0;
        }
        members as f64 * f64::from(average_size) / interval_seconds
    }

    /// The metrics as exposition text.
    pub fn render(&self) -> String {
        let mut out = String::with_capacity(4096);
        let s = &self.stats;
        let version = env!("CARGO_PKG_VERSION");
        family(
            &mut out,
            "omdisc_info",
            "gauge",
            "Build and identity of this omdiscd: always 1.",
        );
        let _ = writeln!(
            out,
            "omdisc_info{{version=\"{version}\",node_id=\"{}\",group=\"{}\"}} 1",
            self.node_id.map(|id| id.to_string()).unwrap_or_default(),
            self.group
        );
        gauge(
            &mut out,
            "omdisc_members",
            "Nodes in the map, this one included.",
            self.members as f64,
        );
        family(
            &mut out,
            "omdisc_events_total",
            "counter",
            "Membership events by kind.",
        );
        for kind in EVENT_KINDS {
            let _ = writeln!(
                out,
                "omdisc_events_total{{event=\"{kind}\"}} {}",
                self.events.get(kind)
            );
        }
        counter(
            &mut out,
            "omdisc_events_dropped_total",
            "Events dropped by the engine's full queue (covered by an overflow event).",
            self.events_dropped,
        );
        counter(
            &mut out,
            "omdisc_datagrams_received_total",
            "Datagrams received on the group port.",
            self.daemon.datagrams_received,
        );
        counter(
            &mut out,
            "omdisc_datagrams_sent_total",
            "Datagrams sent, relayed copies included.",
            s.tx_datagrams,
        );
        counter(
            &mut out,
            "omdisc_datagrams_relayed_total",
            "Relayed copies of other nodes' messages sent.",
            s.tx_relayed,
        );
        family(
            &mut out,
            "omdisc_datagrams_refused_total",
            "counter",
            "Received datagrams refused, by reason.",
        );
        let refused = [
            ("auth", s.rx_auth_failed),
            ("malformed", s.rx_malformed),
            ("oversize", self.daemon.truncated),
            ("stale", s.rx_stale),
            ("spoofed", s.rx_spoofed),
            ("hop-limit", s.rx_hop_limit),
            ("table-full", s.rx_table_full),
            ("wrong-interface", self.daemon.wrong_interface),
            ("inactive-interface", s.rx_inactive_iface),
            ("not-member", s.rx_not_member),
            ("unexpected-ack", s.rx_unexpected_ack),
        ];
        for (reason, value) in refused {
            let _ = writeln!(
                out,
                "omdisc_datagrams_refused_total{{reason=\"{reason}\"}} {value}"
            );
        }
        self.render_unicast(&mut out);
        counter(
            &mut out,
            "omdisc_send_failures_total",
            "Sends that failed.",
            self.daemon.send_failed,
        );
        counter(
            &mut out,
            "omdisc_relay_dropped_total",
            "Messages not relayed because the relay queue was full.",
            s.relay_dropped,
        );
        gauge(
            &mut out,
            "omdisc_announce_interval_seconds",
            "Mean interval between this node's announcements now.",
            self.announce_interval_seconds,
        );
        gauge(
            &mut out,
            "omdisc_cluster_announce_bytes_per_second",
            "Estimated announce traffic of the whole cluster, UDP/IP headers included.",
            self.cluster_bytes_per_second,
        );
        gauge(
            &mut out,
            "omdisc_announce_budget_bytes_per_second",
            "Budget of the cluster's announce traffic (--bandwidth); 0 means none.",
            self.budget_bytes_per_second,
        );
        counter(
            &mut out,
            "omdisc_map_writes_total",
            "Map writes.",
            self.daemon.map_writes,
        );
        counter(
            &mut out,
            "omdisc_map_write_failures_total",
            "Map writes that failed (the last good map stays).",
            self.daemon.map_write_failures,
        );
        gauge(
            &mut out,
            "omdisc_conflicts",
            "Hosts left out of the map by a node-id conflict now.",
            self.conflicts as f64,
        );
        family(
            &mut out,
            "omdisc_hook_runs_total",
            "counter",
            "Hook runs by result.",
        );
        let h = &self.hooks;
        for (result, value) in [
            ("ok", h.ok),
            ("failed", h.failed),
            ("timeout", h.timeout),
            ("spawn-error", h.spawn_error),
        ] {
            let _ = writeln!(out, "omdisc_hook_runs_total{{result=\"{result}\"}} {value}");
        }
        counter(
            &mut out,
            "omdisc_hook_events_collapsed_total",
            "Hook events covered by a sync run instead of their own.",
            h.collapsed,
        );
        out
    }
}

impl Snapshot {
    /// The unicast, seed and probe counters.
    fn render_unicast(&self, out: &mut String) {
        let s = &self.stats;
        counter(
            out,
            "omdisc_unicast_datagrams_sent_total",
            "Of the datagrams sent, those sent by unicast to one peer.",
            s.tx_unicast,
        );
        counter(
            out,
            "omdisc_unicast_dropped_total",
            "Unicast datagrams not sent because the unicast queue was full.",
            s.unicast_dropped,
        );
        counter(
            out,
            "omdisc_seed_contacts_total",
            "Unicast JOIN announcements sent to seeds, first contacts and retries.",
            s.seed_contacts,
        );
        family(
            out,
            "omdisc_probes_sent_total",
            "counter",
            "Probes sent: ping (direct), ping-req (asking others to probe), relayed (for another node).",
        );
        for (kind, value) in [
            ("ping", s.probes_sent),
            ("ping-req", s.indirect_probes_sent),
            ("relayed", s.indirect_probes_relayed),
        ] {
            let _ = writeln!(out, "omdisc_probes_sent_total{{kind=\"{kind}\"}} {value}");
        }
        counter(
            out,
            "omdisc_probe_acks_received_total",
            "Acknowledgements of this node's probes, direct or indirect.",
            s.acks_received,
        );
        counter(
            out,
            "omdisc_suspicions_total",
            "Members suspected after their probes went unanswered.",
            s.suspicions,
        );
        counter(
            out,
            "omdisc_refutations_total",
            "Suspicions of this node that it refuted.",
            s.refutations,
        );
        counter(
            out,
            "omdisc_confirmed_dead_total",
            "Members removed because a suspicion was confirmed (also counted as expire events).",
            s.confirmed_dead,
        );
        counter(
            out,
            "omdisc_gossip_sent_total",
            "Gossip sent: member digests and failure notices.",
            s.gossip_sent,
        );
        family(
            out,
            "omdisc_syncs_total",
            "counter",
            "Syncs asked of a member that holds more (asked) and served to one that asked (served).",
        );
        for (direction, value) in [("asked", s.syncs_asked), ("served", s.syncs_served)] {
            let _ = writeln!(
                out,
                "omdisc_syncs_total{{direction=\"{direction}\"}} {value}"
            );
        }
    }
}

/// `# HELP` and `# TYPE` of a family.
fn family(out: &mut String, name: &str, kind: &str, help: &str) {
    let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} {kind}");
}

fn counter(out: &mut String, name: &str, help: &str, value: u64) {
    family(out, name, "counter", help);
    let _ = writeln!(out, "{name} {value}");
}

fn gauge(out: &mut String, name: &str, help: &str, value: f64) {
    family(out, name, "gauge", help);
    let _ = writeln!(out, "{name} {value}");
}

/// `--metrics-file PATH`: the metrics replaced atomically (temporary file, fsync, rename)
/// once per interval, for node_exporter's textfile collector (whose `*.prom` glob never
/// matches the temporary `.tmp` name).
#[derive(Debug)]
pub struct MetricsFile {
    path: PathBuf,
    period_ms: u64,
    next_at_ms: u64,
}

/// Shortest period between two writes of the metrics file.
pub const MIN_FILE_PERIOD_MS: u64 = 1_000;

impl MetricsFile {
    /// A file at `path` written every `interval_ms` (at least [`MIN_FILE_PERIOD_MS`]),
    /// first at once. Checks now that the path can be written (a probe write of `probe`).
    pub fn create(path: &Path, interval_ms: u64, probe: &str) -> io::Result<MetricsFile> {
        replace_file(path, probe.as_bytes())?;
        Ok(MetricsFile {
            path: path.to_owned(),
            period_ms: interval_ms.max(MIN_FILE_PERIOD_MS),
            next_at_ms: 0,
        })
    }

    /// The file's path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// When the next write is due, in the daemon's milliseconds.
    pub fn due_at_ms(&self) -> u64 {
        self.next_at_ms
    }

    /// Writes `text` if a write is due at `now_ms`; `Some` with the outcome then.
    pub fn write_if_due(
        &mut self,
        now_ms: u64,
        text: impl FnOnce() -> String,
    ) -> Option<io::Result<()>> {
        if now_ms < self.next_at_ms {
            return None;
        }
        self.next_at_ms = now_ms + self.period_ms;
        Some(replace_file(&self.path, text().as_bytes()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn snapshot() -> Snapshot {
        let mut events = EventCounts::default();
        events.count(&Event::Joined(omdisc_core::NodeId::new(5).unwrap()));
        events.count(&Event::Joined(omdisc_core::NodeId::new(6).unwrap()));
        events.count(&Event::Overflow);
        let mut stats = Stats::default();
        stats.rx_auth_failed = 4;
        stats.tx_datagrams = 10;
        stats.tx_unicast = 7;
        stats.indirect_probes_sent = 2;
        stats.rx_not_member = 1;
        events.count(&Event::SeedUnreachable("10.0.0.1:7477".parse().unwrap()));
        Snapshot {
            node_id: Some(257),
            group: "239.255.77.77".parse().unwrap(),
            members: 3,
            conflicts: 0,
            stats,
            events_dropped: 0,
            daemon: DaemonCounters {
                datagrams_received: 12,
                ..DaemonCounters::default()
            },
            events,
            hooks: HookCounts {
                ok: 2,
                ..HookCounts::default()
            },
            announce_interval_seconds: 1.0,
            cluster_bytes_per_second: Snapshot::cluster_rate(3, 80, 1.0),
            budget_bytes_per_second: 16_000.0,
        }
    }

    #[test]
    fn every_sample_has_help_and_type_and_counters_end_in_total() {
        let text = snapshot().render();
        let mut declared: Vec<(String, String)> = Vec::new();
        for line in text.lines() {
            if let Some(rest) = line.strip_prefix("# TYPE ") {
                let (name, kind) = rest.split_once(' ').unwrap();
                assert!(
                    (kind == "counter") == name.ends_with("_total"),
                    "{name} is a {kind}"
                );
                assert!(
                    text.contains(&format!("# HELP {name} ")),
                    "{name} has no HELP"
                );
                declared.push((name.to_owned(), kind.to_owned()));
            } else if !line.starts_with('#') {
                let name = line.split(['{', ' ']).next().unwrap();
                assert!(
                    declared.iter().any(|(n, _)| n == name),
                    "{line} has no TYPE"
                );
                let value = line.rsplit(' ').next().unwrap();
                assert!(value.parse::<f64>().is_ok(), "{line}");
            }
        }
        assert!(declared.len() >= 18, "{declared:?}");
    }

    #[test]
    fn the_values_are_the_snapshots() {
        let text = snapshot().render();
        for line in [
            "omdisc_info{version=\"",
            "omdisc_members 3\n",
            "omdisc_events_total{event=\"join\"} 2\n",
            "omdisc_events_total{event=\"leave\"} 0\n",
            "omdisc_events_total{event=\"overflow\"} 1\n",
            "omdisc_events_total{event=\"seed-unreachable\"} 1\n",
            "omdisc_events_total{event=\"suspect\"} 0\n",
            "omdisc_unicast_datagrams_sent_total 7\n",
            "omdisc_probes_sent_total{kind=\"ping-req\"} 2\n",
            "omdisc_probes_sent_total{kind=\"ping\"} 0\n",
            "omdisc_datagrams_refused_total{reason=\"not-member\"} 1\n",
            "omdisc_datagrams_received_total 12\n",
            "omdisc_datagrams_sent_total 10\n",
            "omdisc_datagrams_refused_total{reason=\"auth\"} 4\n",
            "omdisc_cluster_announce_bytes_per_second 240\n",
            "omdisc_announce_budget_bytes_per_second 16000\n",
            "omdisc_hook_runs_total{result=\"ok\"} 2\n",
            "omdisc_hook_runs_total{result=\"timeout\"} 0\n",
        ] {
            assert!(text.contains(line), "no {line:?} in\n{text}");
        }
        assert!(text.contains(",node_id=\"257\",group=\"239.255.77.77\"} 1\n"));
    }

    #[test]
    fn the_file_is_written_once_per_period() {
        let dir = crate::test_dir::TempDir::new("metrics");
        let path = dir.path().join("omdisc.prom");
        let mut file = MetricsFile::create(&path, 200, "").unwrap();
        assert_eq!(
            file.write_if_due(0, || "a\n".into()).map(|r| r.is_ok()),
            Some(true)
        );
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "a\n");
        assert!(file.write_if_due(999, || "b\n".into()).is_none());
        assert_eq!(file.due_at_ms(), MIN_FILE_PERIOD_MS);
        assert!(file.write_if_due(1_000, || "b\n".into()).is_some());
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "b\n");
        assert!(MetricsFile::create(Path::new("/nonexistent-dir/x.prom"), 1, "").is_err());
    }
}
