//! What the daemon hands to other programs while it runs: the hook (`--hook`), the metrics
//! endpoint (`--metrics-listen`) and the metrics file (`--metrics-file`). The main loop
//! ([`crate::daemon`]) gives this module the engine's events, polls the file descriptors
//! it names, wakes it at its deadlines and lets it move on after every wake; nothing here
//! blocks the loop.
//!
//! Events come from the engine (`poll_event`) only: they are counted for the metrics and
//! turned into hook runs, never re-derived from the map.

use std::fmt;
use std::io;
use std::net::{IpAddr, SocketAddr};
use std::os::fd::BorrowedFd;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::rc::Rc;

use nix::poll::PollFlags;
use omdisc_core::map::MapNode;
use omdisc_core::Event;

use crate::config::DaemonConfig;
use crate::conflicts::IdConflict;
use crate::daemon::DaemonCounters;
use crate::failure_log::FailureLog;
use crate::hooks::{HookRunner, MapView};
use crate::http_metrics::MetricsServer;
use crate::metrics::{EventCounts, HookCounts, MetricsFile, Snapshot};
use crate::showmap::{self, LoadedMap};
use crate::startup::DaemonEngine;

/// Most file descriptors [`Integrations::poll_interest`] names: the metrics listener and
/// its connections, the hook's stdin and stderr.
pub const MAX_POLL_INTEREST: usize = 1 + crate::http_metrics::MAX_CONNECTIONS + 2;

/// Why an integration cannot start. `Display` is one line.
#[derive(Debug)]
pub enum IntegrationError {
    /// `--hook` names no executable regular file.
    Hook {
        /// The path given.
        path: PathBuf,
        /// What is wrong.
        why: String,
    },
    /// `--metrics-listen` cannot listen.
    Listen {
        /// The address given.
        address: SocketAddr,
        /// Why.
        error: io::Error,
    },
    /// `--metrics-file` cannot be written.
    MetricsFile {
        /// The path given.
        path: PathBuf,
        /// Why.
        error: io::Error,
    },
}

impl fmt::Display for IntegrationError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            IntegrationError::Hook { path, why } => {
                write!(f, "--hook {}: {why}", path.display())
            }
            IntegrationError::Listen { address, error } => {
                write!(f, "--metrics-listen {address}: cannot listen: {error}")
            }
            IntegrationError::MetricsFile { path, error } => {
                write!(f, "cannot write metrics file {}: {error}", path.display())
            }
        }
    }
}

impl std::error::Error for IntegrationError {}

/// Checks that `path` is an executable regular file (as far as its mode says).
fn check_executable(path: &Path) -> Result<(), IntegrationError> {
    let bad = |why: String| IntegrationError::Hook {
        path: path.to_owned(),
        why,
    };
    let meta = std::fs::metadata(path).map_err(|e| bad(e.to_string()))?;
    if !meta.is_file() {
        return Err(bad("not a regular file".into()));
    }
    if meta.permissions().mode() & 0o111 == 0 {
        return Err(bad("not executable".into()));
    }
    Ok(())
}

/// The hook and the metrics of a running daemon.
#[derive(Debug)]
pub struct Integrations {
    hook: Option<HookRunner>,
    server: Option<MetricsServer>,
    file: Option<MetricsFile>,
    file_failures: FailureLog,
    events: EventCounts,
    group: IpAddr,
}

impl Integrations {
    /// Checks the hook, binds the metrics endpoint and probes the metrics file of `config`.
    pub fn open(config: &DaemonConfig) -> Result<Integrations, IntegrationError> {
        let hook = match &config.hook {
            Some(hook) => {
                check_executable(&hook.path)?;
                Some(HookRunner::new(hook.path.clone(), hook.timeout))
            }
            None => None,
        };
        let server = match config.metrics_listen {
            Some(address) => Some(
                MetricsServer::bind(address)
                    .map_err(|error| IntegrationError::Listen { address, error })?,
            ),
            None => None,
        };
        let interval_ms = u64::try_from(config.interval.as_millis()).unwrap_or(u64::MAX);
        let file = match &config.metrics_file {
            Some(path) => Some(MetricsFile::create(path, interval_ms, "").map_err(|error| {
                IntegrationError::MetricsFile {
                    path: path.clone(),
                    error,
                }
            })?),
            None => None,
        };
        Ok(Integrations {
            hook,
            server,
            file,
            file_failures: FailureLog::default(),
            events: EventCounts::default(),
            group: config.group,
        })
    }

    /// The address the metrics are served on, if they are.
    pub fn metrics_address(&self) -> Option<SocketAddr> {
        self.server.as_ref().and_then(|s| s.local_addr().ok())
    }

    /// Takes the events of one batch (the engine has applied them all): counts them and
    /// queues the hook runs, each with the map as it is now.
    pub fn on_events(&mut self, events: &[Event], engine: &DaemonEngine) {
        for event in events {
            self.events.count(event);
        }
        let Some(hook) = &mut self.hook else {
            return;
        };
        if events.is_empty() {
            return;
        }
        let view = MapView {
            engine,
            members: member_count(engine),
            map_json: map_json(engine),
        };
        for event in events {
            if let Some(job) = view.job_for(event) {
                hook.enqueue(job);
            }
        }
    }

    /// The file descriptors to poll and for what: at most [`MAX_POLL_INTEREST`], nothing
    /// allocated.
    pub fn poll_interest(&self) -> impl Iterator<Item = (BorrowedFd<'_>, PollFlags)> {
        let server = self.server.iter().flat_map(MetricsServer::poll_interest);
        let hook = self.hook.iter().flat_map(HookRunner::poll_interest);
        server.chain(hook)
    }

    /// The earliest deadline (a hook's timeout, a slow metrics client, the next metrics
    /// file write), in the daemon's milliseconds.
    pub fn next_deadline_ms(&self) -> Option<u64> {
        [
            self.hook.as_ref().and_then(HookRunner::deadline_ms),
            self.server
                .as_ref()
                .and_then(MetricsServer::next_deadline_ms),
            self.file.as_ref().map(MetricsFile::due_at_ms),
        ]
        .into_iter()
        .flatten()
        .min()
    }

    /// Moves everything on after a wake: the hook, the metrics clients, the metrics file.
    /// `engine` is `None` while the daemon waits for an address (no member yet).
    pub fn service(
        &mut self,
        now_ms: u64,
        engine: Option<&DaemonEngine>,
        counters: &DaemonCounters,
    ) {
        // O(n): counted only when a sync run or the metrics are rendered.
        let members = || engine.map_or(0, member_count);
        if let Some(hook) = &mut self.hook {
            hook.service(now_ms, || {
                engine.map(|engine| {
                    MapView {
                        engine,
                        members: members(),
                        map_json: map_json(engine),
                    }
                    .sync()
                })
            });
        }
        let (group, events) = (self.group, self.events);
        let hooks = self
            .hook
            .as_ref()
            .map(HookRunner::counts)
            .unwrap_or_default();
        let snapshot = || snapshot(engine, counters, members(), group, events, hooks).render();
        if let Some(server) = &mut self.server {
            server.service(now_ms, snapshot);
        }
        if let Some(file) = &mut self.file {
            if let Some(result) = file.write_if_due(now_ms, snapshot) {
                match result {
                    Ok(()) => self.file_failures.succeeded(format_args!(
                        "metrics file {} written again",
                        file.path().display()
                    )),
                    Err(error) => self.file_failures.failed(format_args!(
                        "cannot write metrics file {}: {error}",
                        file.path().display()
                    )),
                }
            }
        }
    }

    /// At daemon stop: a running hook's process group gets SIGTERM.
    pub fn stop(&mut self) {
        if let Some(hook) = &mut self.hook {
            hook.stop();
        }
    }

    /// The metrics now.
    pub fn snapshot(&self, engine: Option<&DaemonEngine>, counters: &DaemonCounters) -> Snapshot {
        let members = engine.map_or(0, member_count);
        let hooks = self
            .hook
            .as_ref()
            .map(HookRunner::counts)
            .unwrap_or_default();
        snapshot(engine, counters, members, self.group, self.events, hooks)
    }
}

/// The metrics of `engine` (none while the daemon waits for an address) and the daemon
/// now.
fn snapshot(
    engine: Option<&DaemonEngine>,
    counters: &DaemonCounters,
    members: usize,
    group: IpAddr,
    events: EventCounts,
    hooks: HookCounts,
) -> Snapshot {
    let mut snapshot = Snapshot {
        node_id: None,
        group,
        members,
        conflicts: 0,
        stats: omdisc_core::Stats::default(),
        events_dropped: 0,
        daemon: *counters,
        events,
        hooks,
        announce_interval_seconds: 0.0,
        cluster_bytes_per_second: 0.0,
        budget_bytes_per_second: 0.0,
    };
    if let Some(engine) = engine {
        let config = engine.config();
        let group_size = engine.group_size();
        let average = engine.average_announce_size();
        let interval = engine.announce_interval().total_millis() as f64 / 1000.0;
        snapshot.node_id = Some(engine.node_id().get());
        snapshot.conflicts = engine.conflicts().count();
        snapshot.stats = engine.stats();
        snapshot.events_dropped = engine.events_dropped();
        snapshot.announce_interval_seconds = interval;
        snapshot.cluster_bytes_per_second = Snapshot::cluster_rate(group_size, average, interval);
        snapshot.budget_bytes_per_second = f64::from(config.bandwidth) / 8.0;
    }
    snapshot
}

/// Members of the map as it is written (none while this node lost its id). O(n).
fn member_count(engine: &DaemonEngine) -> usize {
    if engine.lost_id_collision() {
        0
    } else {
        engine.members().count()
    }
}

/// The engine's map as `showmap --json` prints it (empty while this node lost its id, as
/// the map files are), newline-ended.
pub fn map_json(engine: &DaemonEngine) -> Rc<str> {
    let nodes: Vec<MapNode> = if engine.lost_id_collision() {
        Vec::new()
    } else {
        engine.members().map(MapNode::from_entry).collect()
    };
    let map = LoadedMap {
        own_id: Some(engine.node_id()),
        nodes,
        conflicts: engine.conflicts().map(IdConflict::from).collect(),
    };
    let mut text = showmap::render_json(&map).to_string();
    text.push('\n');
    Rc::from(text)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cli::parse_omdiscd_args;
    use crate::test_dir::TempDir;

    fn config(args: &[&str]) -> DaemonConfig {
        DaemonConfig::from_args(parse_omdiscd_args(args).unwrap()).unwrap()
    }

    #[test]
    fn a_hook_must_be_an_executable_file() {
        let dir = TempDir::new("integrations-hook");
        let plain = dir.path().join("plain");
        std::fs::write(&plain, "#!/bin/sh\n").unwrap();
        let path = plain.to_str().unwrap();
        let error = Integrations::open(&config(&["--hook", path])).unwrap_err();
        assert_eq!(error.to_string(), format!("--hook {path}: not executable"));
        let dir_path = dir.path().to_str().unwrap();
        let error = Integrations::open(&config(&["--hook", dir_path])).unwrap_err();
        assert!(error.to_string().ends_with("not a regular file"), "{error}");
        let missing = format!("{dir_path}/missing");
        let error = Integrations::open(&config(&["--hook", &missing])).unwrap_err();
        assert!(error.to_string().contains("No such file"), "{error}");
        std::fs::set_permissions(&plain, std::fs::Permissions::from_mode(0o755)).unwrap();
        assert!(Integrations::open(&config(&["--hook", path])).is_ok());
    }

    #[test]
    fn the_metrics_endpoint_and_file_are_checked_at_start() {
        let holder = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let taken = holder.local_addr().unwrap().to_string();
        let error = Integrations::open(&config(&["--metrics-listen", &taken])).unwrap_err();
        assert!(
            error
                .to_string()
                .starts_with(&format!("--metrics-listen {taken}: cannot listen")),
            "{error}"
        );
        drop(holder);
        let open = Integrations::open(&config(&["--metrics-listen", &taken])).unwrap();
        assert_eq!(open.metrics_address().unwrap().to_string(), taken);
        let error =
            Integrations::open(&config(&["--metrics-file", "/nonexistent-dir/omdisc.prom"]))
                .unwrap_err();
        assert!(error
            .to_string()
            .starts_with("cannot write metrics file /nonexistent-dir/omdisc.prom"));
        assert!(!error.to_string().contains('\n'));
    }
}
