//! The daemon's main loop: drives the engine from the sockets, the clock and the signals,
//! and rewrites the map when the membership changes.
//!
//! One thread, one `poll` over the signal fd and the sockets, with the engine's next
//! deadline as timeout: an idle daemon sleeps until its next announcement.

use std::io;
use std::os::fd::AsFd;
use std::path::PathBuf;

use nix::errno::Errno;
use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
use nix::sys::signal::Signal;
use omdisc_core::{IfaceId, Instant, RxError, MAX_DATAGRAM_LEN};

use crate::clock::Clock;
use crate::config::MapTarget;
use crate::conflicts::{ConflictFile, IdConflict};
use crate::counter_report::{counter_line, CountersFile, SnapshotReason};
use crate::event_log;
use crate::failure_log::FailureLog;
use crate::key_file;
use crate::map_sink::PublishOutcome;
use crate::map_writer::MapWriter;
use crate::refusal_log::{DebugLine, RefusalCounts, RefusalLog};
use crate::sd_notify::{self, Notifier, ServiceNotifier};
use crate::signals::{SignalHandler, SignalReceiver};
use crate::socket::{Datagram, MulticastSocket, ReceiveBatch};
use crate::startup::{DaemonEngine, Prepared};

/// Datagrams fetched per `recvmmsg` call.
pub const RECEIVE_BATCH: usize = 32;
// The engine's relay queue must hold what one batch can ask to relay.
const _: () = assert!(omdisc_core::engine::RELAY_QUEUE_LEN >= RECEIVE_BATCH);
/// Most `recvmmsg` calls per socket before timers and other sockets get their turn.
const BATCHES_PER_WAKE: usize = 8;
/// Receive buffer per datagram: larger than any valid datagram, so a longer one is seen
/// as truncated instead of being silently cut to a valid-looking prefix.
const DATAGRAM_BUFFER: usize = MAX_DATAGRAM_LEN + 1;

/// Counters the daemon keeps beside the engine's own.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct DaemonCounters {
    /// Datagrams longer than any valid one (dropped).
    pub truncated: u64,
    /// Datagrams that arrived on another interface than the socket's (dropped).
    pub wrong_interface: u64,
    /// Sends that failed.
    pub send_failed: u64,
    /// Map writes (both files counted once).
    pub map_writes: u64,
    /// `recvmmsg` calls that returned at least one datagram.
    pub receive_calls: u64,
    /// Datagrams those calls returned.
    pub datagrams_received: u64,
}

/// Logs a refused datagram at debug level, within the rate limit of [`RefusalLog`].
fn log_refusal(
    refusals: &mut RefusalLog,
    now: Instant,
    datagram: Datagram<'_>,
    reason: &dyn std::fmt::Display,
) {
    if !log::log_enabled!(log::Level::Debug) {
        return;
    }
    match refusals.debug_line(now.total_millis()) {
        DebugLine::Skip => return,
        DebugLine::WriteAfterSkipped(skipped) => log::debug!(
            "{skipped} more refused datagrams were not logged in the last second (at most {} lines a second)",
            crate::refusal_log::DEBUG_LINES_PER_SECOND
        ),
        DebugLine::Write => {}
    }
    log::debug!(
        "refused a datagram of {} bytes from {}: {reason}",
        datagram.payload.len(),
        datagram.source
    );
}

/// The running daemon.
pub struct Daemon {
    engine: DaemonEngine,
    sockets: Vec<MulticastSocket>,
    send_failures: Vec<FailureLog>,
    signals: SignalReceiver,
    map: MapWriter,
    key_file: Option<PathBuf>,
    clock: Clock,
    batch: ReceiveBatch,
    transmit_buffer: Box<[u8; MAX_DATAGRAM_LEN]>,
    counters: DaemonCounters,
    refusals: RefusalLog,
    /// `--counters-file`, written on SIGUSR1 and at stop.
    counters_file: Option<CountersFile>,
    counters_failures: FailureLog,
    /// Node-id conflicts beside the map, for `showmap` (alpha mode).
    conflicts: ConflictFile,
    conflicts_dirty: bool,
    /// What systemd is told (nothing outside a `Type=notify` unit).
    service: ServiceNotifier,
}

impl std::fmt::Debug for Daemon {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Daemon")
            .field("node_id", &self.engine.node_id())
            .field("sockets", &self.sockets)
            .field("counters", &self.counters)
            .finish_non_exhaustive()
    }
}

impl Daemon {
    /// A daemon over what [`crate::startup::prepare`] opened, reporting to systemd through
    /// `notifier`. The pid file stays with the caller, who removes it after [`Daemon::run`]
    /// returns.
    pub fn new(prepared: Prepared, signals: SignalReceiver, notifier: Notifier) -> Daemon {
        let clock = Clock::start();
        let send_failures = prepared
            .sockets
            .iter()
            .map(|_| FailureLog::default())
            .collect();
        Daemon {
            engine: prepared.engine,
            sockets: prepared.sockets,
            send_failures,
            signals,
            map: MapWriter::new(prepared.sink),
            key_file: prepared.config.key_file.clone(),
            clock,
            batch: ReceiveBatch::new(RECEIVE_BATCH, DATAGRAM_BUFFER),
            transmit_buffer: Box::new([0; MAX_DATAGRAM_LEN]),
            counters: DaemonCounters::default(),
            refusals: RefusalLog::new(),
            counters_file: prepared.counters_file,
            counters_failures: FailureLog::default(),
            conflicts: match &prepared.config.map_target {
                MapTarget::Alpha(dir) => ConflictFile::alpha(dir),
                MapTarget::Live => ConflictFile::none(),
            },
            conflicts_dirty: true,
            service: ServiceNotifier::new(notifier, clock.now_millis()),
        }
    }

    /// The engine (for tests and statistics).
    pub fn engine(&self) -> &DaemonEngine {
        &self.engine
    }

    /// The daemon's own counters.
    pub fn counters(&self) -> DaemonCounters {
        self.counters
    }

    fn now(&self) -> Instant {
        Instant::from_millis(self.clock.now_millis())
    }

    /// Announces this node and serves the cluster until SIGTERM or SIGINT; then sends
    /// LEAVE on every interface and returns the signal. Errors are those of `poll` and of
    /// the signal fd, which leave the daemon unable to work.
    pub fn run(&mut self) -> io::Result<Signal> {
        self.engine.start(self.now());
        loop {
            let now = self.now();
            if self.engine.poll_timeout().is_some_and(|t| t <= now) {
                self.engine.handle_timeout(now);
            }
            self.flush_transmits(now);
            self.drain_events();
            self.update_map(now);
            self.service.poll_watchdog(now.total_millis());

            let timeout = self.wait_timeout(now);
            let (signal_ready, sockets_ready) = self.wait(timeout)?;
            if signal_ready {
                if let Some(signal) = self.handle_signals()? {
                    self.stop();
                    return Ok(signal);
                }
            }
            let now = self.now();
            for (index, ready) in sockets_ready.into_iter().enumerate() {
                if ready {
                    self.receive_from(index, now);
                }
            }
            self.warn_about_refusals(now);
        }
    }

    /// Sends LEAVE on every active interface.
    fn stop(&mut self) {
        self.service.on_stopping();
        let now = self.now();
        self.engine.leave(now);
        self.flush_transmits(now);
        self.warn_about_refusals(now);
        log::info!("left the cluster; {}", self.counter_line());
        self.write_counters(SnapshotReason::Stop);
    }

    /// Writes the counters file (`--counters-file`), if there is one.
    fn write_counters(&mut self, reason: SnapshotReason) {
        if let Some(file) = &mut self.counters_file {
            let result = file.write(&self.engine.stats(), &self.counters, reason);
            match result {
                Ok(()) => self
                    .counters_failures
                    .succeeded("counters file written again"),
                Err(error) => self.counters_failures.failed(error),
            }
        }
    }

    /// The counters as one `name=value` line (see [`crate::counter_report`]).
    fn counter_line(&self) -> String {
        counter_line(&self.engine.stats(), &self.counters)
    }

    /// Writes the rate-limited warning about refused datagrams, if one is due.
    fn warn_about_refusals(&mut self, now: Instant) {
        let totals = RefusalCounts::from_counters(&self.engine.stats(), &self.counters);
        if let Some(warning) = self.refusals.update(now.total_millis(), totals) {
            log::warn!("{warning}");
        }
    }

    /// Milliseconds until the engine's deadline, the map retry or a due warning about
    /// refused datagrams, whichever is first.
    fn wait_timeout(&self, now: Instant) -> Option<u64> {
        let engine = self.engine.poll_timeout().map(|t| t.total_millis());
        [
            engine,
            self.map.retry_at_ms(),
            self.refusals.next_warning_at(),
            self.service.watchdog_due_ms(),
        ]
        .into_iter()
        .flatten()
        .min()
        .map(|t| t.saturating_sub(now.total_millis()))
    }

    /// Sleeps until a signal, a datagram or the timeout. Returns which fds are readable.
    fn wait(&self, timeout_ms: Option<u64>) -> io::Result<(bool, Vec<bool>)> {
        let readable = PollFlags::POLLIN;
        let mut fds = Vec::with_capacity(1 + self.sockets.len());
        fds.push(PollFd::new(self.signals.as_fd(), readable));
        for socket in &self.sockets {
            fds.push(PollFd::new(socket.as_fd(), readable));
        }
        let timeout = match timeout_ms {
            None => PollTimeout::NONE,
            Some(ms) => PollTimeout::try_from(ms).unwrap_or(PollTimeout::MAX),
        };
        match poll(&mut fds, timeout) {
            Ok(_) => {}
            Err(Errno::EINTR) => return Ok((false, vec![false; self.sockets.len()])),
            Err(errno) => return Err(errno.into()),
        }
        let is_ready = |fd: &PollFd<'_>| {
            fd.revents().is_some_and(|r| {
                r.intersects(PollFlags::POLLIN | PollFlags::POLLERR | PollFlags::POLLHUP)
            })
        };
        let signal_ready = fds.first().is_some_and(is_ready);
        let sockets_ready = fds.iter().skip(1).map(is_ready).collect();
        Ok((signal_ready, sockets_ready))
    }

    fn reload_key(&mut self) {
        self.service.on_reload_started(sd_notify::monotonic_usec());
        if let Some(keyring) = key_file::reload_on_sighup(self.key_file.as_deref()) {
            self.engine.set_keyring(Some(keyring));
        }
        // The status keeps counting the members of the map on disk.
        self.service
            .on_reload_finished(self.engine.node_id().get(), self.map.node_count());
    }

    fn log_state(&self) {
        let stats = self.engine.stats();
        log::debug!(
            "node {}: {} members; engine {stats:?}; daemon {:?}",
            self.engine.node_id(),
            self.engine.members().count(),
            self.counters
        );
    }

    /// Drains up to [`BATCHES_PER_WAKE`] batches from socket `index` into the engine.
    fn receive_from(&mut self, index: usize, now: Instant) {
        let Some(iface) = IfaceId::new(index) else {
            return;
        };
        for _ in 0..BATCHES_PER_WAKE {
            let Some(socket) = self.sockets.get(index) else {
                return;
            };
            let expected_index = socket.interface_index();
            let engine = &mut self.engine;
            let counters = &mut self.counters;
            let refusals = &mut self.refusals;
            let result = self.batch.receive(socket, |datagram: Datagram<'_>| {
                if datagram.truncated {
                    counters.truncated += 1;
                    log_refusal(refusals, now, datagram, &"longer than any valid datagram");
                    return;
                }
                if datagram.ingress_index.is_some_and(|i| i != expected_index) {
                    counters.wrong_interface += 1;
                    return;
                }
                if let Err(error) =
                    engine.handle_datagram(now, iface, datagram.source.ip(), datagram.payload)
                {
                    if let RxError::Wire(wire) = error {
                        if wire.is_auth_failure() {
                            refusals.auth_failed(datagram.source, &wire);
                        }
                    }
                    log_refusal(refusals, now, datagram, &error);
                }
            });
            if let Ok(received @ 1..) = result {
                self.counters.receive_calls += 1;
                self.counters.datagrams_received += received as u64;
                // Relays wait in a bounded queue (RELAY_QUEUE_LEN >= RECEIVE_BATCH): send
                // after every batch so a burst is never dropped.
                self.flush_transmits(now);
            }
            match result {
                Ok(received) if received < self.batch.batch_size() => return,
                Ok(_) => {}
                Err(error) => {
                    let name = self.sockets.get(index).map_or("?", |s| s.interface_name());
                    log::debug!("receive on {name} failed: {error}");
                    return;
                }
            }
        }
    }

    /// Sends everything the engine has queued.
    fn flush_transmits(&mut self, now: Instant) {
        while let Some(transmit) = self.engine.poll_transmit(now, &mut self.transmit_buffer) {
            let index = transmit.iface.index();
            let Some(socket) = self.sockets.get(index) else {
                log::debug!(
                    "no socket for interface {}; datagram dropped",
                    transmit.iface
                );
                continue;
            };
            let payload = self.transmit_buffer.get(..transmit.len).unwrap_or(&[]);
            let result = socket.send(payload);
            if let Some(failures) = self.send_failures.get_mut(index) {
                match result {
                    Ok(()) => failures.succeeded(format_args!(
                        "sending on {} works again",
                        socket.interface_name()
                    )),
                    Err(error) => {
                        self.counters.send_failed += 1;
                        failures.failed(format_args!(
                            "cannot send on {}: {error}",
                            socket.interface_name()
                        ));
                    }
                }
            }
        }
    }

    /// Logs membership events and notes whether the map changed.
    fn drain_events(&mut self) {
        while let Some(event) = self.engine.poll_event() {
            if event.changes_map() {
                self.map.mark_dirty();
                self.conflicts_dirty = true;
            }
            event_log::log_event(
                event,
                self.engine.members(),
                " and writes an empty map: set another id with --node-id",
            );
        }
    }

    /// Rewrites the conflicts file (alpha mode) after membership or conflict events (the
    /// engine reports the end of a conflict too). O(n) when it runs.
    fn update_conflicts(&mut self) {
        if self.conflicts_dirty {
            self.conflicts_dirty = false;
            let now = self.engine.conflicts().map(IdConflict::from).collect();
            self.conflicts.publish(now);
        }
    }

    /// Rewrites the map if it changed, or retries a failed write when its time has come.
    fn update_map(&mut self, now: Instant) {
        self.update_conflicts();
        let outcome = self.map.update(now.total_millis(), &self.engine);
        if outcome == Some(PublishOutcome::Written) {
            self.counters.map_writes += 1;
        }
        if let Some(PublishOutcome::Written | PublishOutcome::Unchanged) = outcome {
            self.service
                .on_map_written(self.engine.node_id().get(), self.map.node_count());
        }
    }
}

impl SignalHandler for Daemon {
    fn signal_receiver(&self) -> &SignalReceiver {
        &self.signals
    }

    fn debug_toggled(&mut self, on: bool) {
        if on {
            log::info!("SIGUSR1: full debug output on; {}", self.counter_line());
            self.log_state();
        } else {
            log::info!("SIGUSR1: debug output off; {}", self.counter_line());
        }
        self.write_counters(SnapshotReason::Signal);
    }

    fn reload(&mut self) {
        self.reload_key();
    }
}
