//! The daemon's main loop: drives the engine from the sockets, the clock and the signals,
//! and rewrites the map when the membership changes.
//!
//! One thread, one wait ([`crate::wait_set`]: an epoll set of the signal fd, the
//! rtnetlink socket and the multicast sockets, polled together with the fds of the hook
//! and the metrics endpoint, [`crate::integrations`], while there are any), with the next
//! deadline as timeout: an idle daemon sleeps until its next announcement, and a timer
//! shares a wake with a datagram when it can; under a stream of datagrams the daemon
//! paces its wakes so that each takes in full batches ([`crate::wake_pacer`]).
//! Network changes are read as they come and acted on once per turn
//! ([`NETWORK_SETTLE_MS`] after the first of them), however many the kernel reported: the legs are
//! compared with the kernel's view, sockets joined or closed, and the engine told.

use std::io;
use std::os::fd::AsFd;
use std::path::PathBuf;

use nix::poll::PollTimeout;
use nix::sys::signal::Signal;
use omdisc_core::{Destination, Event, IfaceId, Instant, RxError, MAX_DATAGRAM_LEN};

use crate::clock::Clock;
use crate::config::{DaemonConfig, MapTarget};
use crate::conflicts::{ConflictFile, IdConflict};
use crate::counter_report::{counter_line, CountersFile, SnapshotReason};
use crate::engine_slot::EngineSlot;
use crate::event_log;
use crate::failure_log::FailureLog;
use crate::integrations::Integrations;
use crate::interfaces;
use crate::key_file;
use crate::leg_log::LegLog;
use crate::legs::{LegChange, Legs};
use crate::map_sink::PublishOutcome;
use crate::map_writer::MapWriter;
use crate::netlink::NetlinkWatcher;
use crate::network_view::NetworkView;
use crate::refusal_log::{DebugLine, RefusalCounts, RefusalLog};
use crate::sd_notify::{self, Notifier, ServiceNotifier};
use crate::seeds::SeedList;
use crate::signals::{SignalHandler, SignalReceiver};
use crate::socket::{Datagram, LegSocket, ReceiveBatch, SocketPlan};
use crate::startup::{DaemonEngine, Prepared};
use crate::values::MAX_INTERFACES;
use crate::wait_set::{Ready, Source, WaitSet};
use crate::wake_pacer::{self, TimerSlack, WakePacer};

/// Datagrams fetched per `recvmmsg` call.
pub const RECEIVE_BATCH: usize = 32;
// The engine's relay queue must hold what one batch can ask to relay.
const _: () = assert!(omdisc_core::RELAY_QUEUE_LEN >= RECEIVE_BATCH);
// The batch's I/O vector is an array of MAX_BATCH entries.
const _: () = assert!(RECEIVE_BATCH <= crate::socket::MAX_BATCH);
/// Most `recvmmsg` calls per socket before timers and other sockets get their turn.
const BATCHES_PER_WAKE: usize = 8;
/// Shortest time between two looks at the network after changes, in milliseconds: a
/// storm of notifications is taken in one look per period.
pub const NETWORK_SETTLE_MS: u64 = 50;
/// Receive buffer per datagram: larger than any valid datagram, so a longer one is seen
/// as truncated instead of being silently cut to a valid-looking prefix.
const DATAGRAM_BUFFER: usize = MAX_DATAGRAM_LEN + 1;

/// Counters the daemon keeps beside the engine's own.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct DaemonCounters {
    /// Datagrams longer than any valid one (dropped).
    pub truncated: u64,
    /// Datagrams that arrived on another interface than the socket's. Always 0: each
    /// socket is bound to its interface (`SO_BINDTODEVICE`) and the kernel delivers it
    /// nothing else ([`crate::socket`]); kept so that the counters file and the metrics keep
    /// their names.
    pub wrong_interface: u64,
    /// Sends that failed.
    pub send_failed: u64,
    /// Map writes (both files counted once).
    pub map_writes: u64,
    /// Map writes that failed (the last good map stays).
    pub map_write_failures: u64,
    /// `recvmmsg` calls that returned at least one datagram.
    pub receive_calls: u64,
    /// Datagrams those calls returned.
    pub datagrams_received: u64,
    /// Waits that slept out a wake pause first (a stream of datagrams, counted by the
    /// [`WakePacer`]).
    pub wake_pauses: u64,
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
    engine: EngineSlot,
    /// One socket per active leg while it serves; socket `i` serves the engine's interface `i`.
    sockets: Vec<Option<LegSocket>>,
    send_failures: Vec<FailureLog>,
    socket_plan: SocketPlan,
    signals: SignalReceiver,
    network: NetworkView,
    watcher: NetlinkWatcher,
    legs: Legs,
    leg_log: LegLog,
    /// When the legs are compared with the network next (changes are waiting).
    network_check_at: Option<u64>,
    identity_failures: FailureLog,
    map: MapWriter,
    key_file: Option<PathBuf>,
    /// `--peer` and `--peers-file`: the file is read again on SIGHUP.
    seed_list: SeedList,
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
    /// The hook and the metrics.
    integrations: Integrations,
    /// Events of the current batch, handed to the integrations.
    event_batch: Vec<Event>,
    /// At most one wake per pause under a stream of datagrams.
    pacer: WakePacer,
    /// The long-lived fds the main loop waits on.
    wait_set: WaitSet,
    /// The slack of the engine's next deadline.
    timer_slack: TimerSlack,
}

impl std::fmt::Debug for Daemon {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Daemon")
            .field("engine", &self.engine)
            .field("legs", &self.legs)
            .field("sockets", &self.sockets)
            .field("counters", &self.counters)
            .finish_non_exhaustive()
    }
}

impl Daemon {
    /// A daemon over what [`crate::startup::prepare`] opened, reporting to systemd through
    /// `notifier`. The pid file stays with the caller, who removes it after [`Daemon::run`]
    /// returns. Fails only if the epoll set cannot be made (no fd left).
    pub fn new(
        prepared: Prepared,
        signals: SignalReceiver,
        notifier: Notifier,
    ) -> io::Result<Daemon> {
        let clock = Clock::start();
        let config: &DaemonConfig = &prepared.config;
        // `-i` takes at most MAX_INTERFACES names: the wait set's event array is sized for that.
        let active = config
            .active_interface_count()
            .min(prepared.legs.len())
            .min(MAX_INTERFACES);
        let wait_set = WaitSet::new()?;
        wait_set.watch(signals.as_fd(), Source::Signals)?;
        wait_set.watch(prepared.watcher.as_fd(), Source::Network)?;
        Ok(Daemon {
            engine: prepared.engine,
            sockets: (0..active).map(|_| None).collect(),
            send_failures: (0..active).map(|_| FailureLog::default()).collect(),
            socket_plan: SocketPlan {
                group: config.group,
                port: config.port,
                ttl: config.multicast_ttl(),
                multicast: config.multicast,
            },
            signals,
            leg_log: LegLog::new(prepared.legs.len(), config.group),
            network: prepared.network,
            watcher: prepared.watcher,
            legs: prepared.legs,
            network_check_at: None,
            identity_failures: FailureLog::default(),
            map: MapWriter::new(prepared.sink),
            key_file: config.key_file.clone(),
            seed_list: config.seeds.clone(),
            clock,
            batch: ReceiveBatch::new(RECEIVE_BATCH, DATAGRAM_BUFFER),
            transmit_buffer: Box::new([0; MAX_DATAGRAM_LEN]),
            counters: DaemonCounters::default(),
            refusals: RefusalLog::new(),
            counters_file: prepared.counters_file,
            counters_failures: FailureLog::default(),
            conflicts: match &config.map_target {
                MapTarget::Alpha(dir) => ConflictFile::alpha(dir),
                MapTarget::Live => ConflictFile::none(),
            },
            conflicts_dirty: true,
            service: ServiceNotifier::new(notifier, clock.now_millis()),
            integrations: prepared.integrations,
            event_batch: Vec::new(),
            pacer: WakePacer::new(wake_pacer::configured_pause()),
            wait_set,
            timer_slack: TimerSlack::default(),
        })
    }

    /// The engine, once one runs (for tests and statistics).
    pub fn engine(&self) -> Option<&DaemonEngine> {
        self.engine.engine()
    }

    /// The daemon's own counters.
    pub fn counters(&self) -> DaemonCounters {
        self.counters
    }

    fn now(&self) -> Instant {
        Instant::from_millis(self.clock.now_millis())
    }

    /// Joins the cluster on every leg that can serve (and waits for the others), serves
    /// it until SIGTERM or SIGINT, then sends LEAVE on every active interface and returns
    /// the signal. Errors are those of `poll`, the signal fd and the rtnetlink socket,
    /// which leave the daemon unable to work.
    pub fn run(&mut self) -> io::Result<Signal> {
        self.start();
        loop {
            if let Some(signal) = self.turn()? {
                return Ok(signal);
            }
        }
    }

    /// Takes the first look at the network: joins on every leg that can serve (and makes
    /// the engine). [`Daemon::run`] starts with it; a caller of [`Daemon::turn`] calls it
    /// once first.
    pub fn start(&mut self) {
        self.check_network(self.now());
    }

    /// One turn of the main loop: timers, sends, events, the map and the integrations,
    /// then one wait and what it found (signals, network changes, datagrams). Returns the
    /// signal that stopped the daemon (after it left the cluster), if one did. In steady
    /// state (no membership change, no network change, no signal) a turn allocates
    /// nothing (`tests/daemon_no_allocation.rs`).
    pub fn turn(&mut self) -> io::Result<Option<Signal>> {
        {
            let now = self.now();
            if let Some(engine) = self.engine.engine_mut() {
                if engine.poll_timeout().is_some_and(|t| t <= now) {
                    engine.handle_timeout(now);
                }
            }
            if self
                .network_check_at
                .is_some_and(|t| t <= now.total_millis())
            {
                self.check_network(now);
            }
            self.leg_log.write_summaries(now.total_millis(), &self.legs);
            self.flush_transmits(now);
            self.drain_events();
            self.update_map(now);
            self.integrations
                .service(now.total_millis(), self.engine.engine(), &self.counters);
            self.service.poll_watchdog(now.total_millis());

            let mut timeout = self.wait_timeout(now);
            if let Some(pause) = self.pacer.take_pause(std::time::Instant::now()) {
                // A stream of datagrams: let it gather in the socket buffer (the timers
                // are never late by more than the pause).
                std::thread::sleep(pause);
                self.counters.wake_pauses = self.pacer.pauses();
                timeout = timeout.map(|ms| ms.saturating_sub(pause.as_millis() as u64));
            }
            let ready = self.wait(timeout)?;
            let woke = std::time::Instant::now();
            if ready.signals {
                if let Some(signal) = self.handle_signals()? {
                    self.stop();
                    return Ok(Some(signal));
                }
            }
            let now = self.now();
            if ready.network && self.watcher.receive(&mut self.network)? {
                self.schedule_network_check(now.total_millis());
            }
            let (mut received, mut drained) = (0, true);
            for (index, ready) in ready.sockets.into_iter().enumerate() {
                if ready {
                    let (got, emptied) = self.receive_from(index, now);
                    received += got;
                    drained &= emptied;
                }
            }
            self.pacer.on_wake(woke, received, drained);
            self.warn_about_refusals(now);
        }
        Ok(None)
    }

    /// Takes a look at the network [`NETWORK_SETTLE_MS`] after the first change since the
    /// last look: the changes of one administrative step (an address replaced by another,
    /// an interface created and addressed) are taken together, and a storm costs at most
    /// one look per period.
    fn schedule_network_check(&mut self, now_ms: u64) {
        let at = now_ms.saturating_add(NETWORK_SETTLE_MS);
        self.network_check_at = Some(self.network_check_at.map_or(at, |t| t.min(at)));
    }

    /// Compares the legs with the network and acts on what changed: sockets joined or
    /// closed, the engine told, each change logged (within the leg's log budget).
    fn check_network(&mut self, now: Instant) {
        let now_ms = now.total_millis();
        self.network_check_at = None;
        let destinations = self
            .legs
            .route_destinations(self.engine.seeds(), self.socket_plan.port);
        let route = interfaces::first_route_source(&destinations);
        let changes = self.legs.update(&self.network, route);
        let mut resumed = Vec::new();
        for change in &changes {
            self.leg_log.log(now_ms, change, &self.legs);
            self.apply_to_socket(change);
            if let LegChange::Up { slot, .. } | LegChange::Resumed { slot, .. } = change {
                resumed.push(*slot);
            }
        }
        if !changes.is_empty() || self.engine.engine().is_none() {
            self.follow_legs(now, &resumed);
        }
    }

    /// Opens, reopens or closes the socket of the leg a change is about.
    fn apply_to_socket(&mut self, change: &LegChange) {
        let plan = self.socket_plan;
        let (slot, interface) = match change {
            LegChange::Up { slot, leg, .. } => (*slot, Some(&leg.interface)),
            // IPv4 sends from the interface's primary address (IP_MULTICAST_IF): a new one
            // needs a new socket.
            LegChange::Addresses { slot, leg } if plan.group.is_ipv4() => {
                (*slot, Some(&leg.interface))
            }
            LegChange::Gone { slot, .. } => (*slot, None),
            _ => return,
        };
        let Some(socket) = self.sockets.get_mut(slot) else {
            return; // an alias leg (-m): announced, no socket
        };
        if let Some(closing) = socket.take() {
            self.wait_set.forget(closing.as_fd());
        }
        if let Some(interface) = interface {
            let opened = LegSocket::open(interface, plan).map_err(|e| e.to_string());
            let watched = opened.and_then(|opened| {
                self.wait_set
                    .watch(opened.as_fd(), Source::Socket(slot))
                    .map(|()| opened)
                    .map_err(|e| format!("cannot wait on the socket of {}: {e}", interface.name))
            });
            match watched {
                Ok(opened) => *socket = Some(opened),
                Err(error) => log::error!(
                    "{error}; trying again at the next change of {}",
                    interface.name
                ),
            }
        }
    }

    /// Hands the legs' addresses to the engine (making it, once the first leg serves), and
    /// tells it which legs (`resumed`) are up again: after a link down, or on an interface
    /// created again, it announces at once.
    fn follow_legs(&mut self, now: Instant, resumed: &[usize]) {
        let addresses: Vec<Vec<std::net::IpAddr>> = (0..self.legs.len())
            .map(|slot| {
                self.legs
                    .held(slot)
                    .map(|leg| leg.addresses.clone())
                    .unwrap_or_default()
            })
            .collect();
        match self.engine.follow(now, &addresses) {
            Ok(started) => {
                self.identity_failures
                    .succeeded("the engine took the interfaces' addresses again");
                if started {
                    self.map.mark_dirty();
                    self.conflicts_dirty = true;
                } else {
                    for slot in resumed {
                        self.engine.resume(now, *slot);
                    }
                }
            }
            Err(error) => self.identity_failures.failed(error),
        }
        if !self.engine.is_present() {
            self.service.on_waiting(&self.waiting_status());
        }
    }

    /// `STATUS=` while this node is out of the cluster (no leg has an address).
    fn waiting_status(&self) -> String {
        let source = self
            .legs
            .source(0)
            .map(ToString::to_string)
            .unwrap_or_default();
        format!("waiting for {source}")
    }

    /// Sends LEAVE on every active interface.
    fn stop(&mut self) {
        self.service.on_stopping();
        self.integrations.stop();
        let now = self.now();
        if let Some(engine) = self.engine.engine_mut() {
            engine.leave(now);
        }
        self.flush_transmits(now);
        self.warn_about_refusals(now);
        log::info!("left the cluster; {}", self.counter_line());
        self.write_counters(SnapshotReason::Stop);
    }

    /// Writes the counters file (`--counters-file`), if there is one.
    fn write_counters(&mut self, reason: SnapshotReason) {
        let stats = self.engine_stats();
        if let Some(file) = &mut self.counters_file {
            let result = file.write(&stats, &self.counters, reason);
            match result {
                Ok(()) => self
                    .counters_failures
                    .succeeded("counters file written again"),
                Err(error) => self.counters_failures.failed(error),
            }
        }
    }

    /// The engine's counters (zero before it runs).
    fn engine_stats(&self) -> omdisc_core::Stats {
        self.engine.engine().map(|e| e.stats()).unwrap_or_default()
    }

    /// The counters as one `name=value` line (see [`crate::counter_report`]).
    fn counter_line(&self) -> String {
        counter_line(&self.engine_stats(), &self.counters)
    }

    /// Writes the rate-limited warning about refused datagrams, if one is due.
    fn warn_about_refusals(&mut self, now: Instant) {
        let totals = RefusalCounts::from_counters(&self.engine_stats(), &self.counters);
        if let Some(warning) = self.refusals.update(now.total_millis(), totals) {
            log::warn!("{warning}");
        }
    }

    /// Milliseconds until the engine's deadline (with its slack, [`TimerSlack`]), the map
    /// retry, a due warning about refused datagrams, the watchdog or a look at the network,
    /// whichever is first.
    fn wait_timeout(&mut self, now: Instant) -> Option<u64> {
        let deadline = self
            .engine
            .engine()
            .and_then(|e| Some((e.poll_timeout()?, e.poll_timeout_is_periodic())));
        let engine = deadline.map(|(t, periodic)| {
            self.timer_slack
                .wake_at(t.total_millis(), now.total_millis(), periodic)
        });
        [
            engine,
            self.map.retry_at_ms(),
            self.refusals.next_warning_at(),
            self.service.watchdog_due_ms(),
            self.network_check_at,
            self.leg_log.next_summary_at(),
            self.integrations.next_deadline_ms(),
        ]
        .into_iter()
        .flatten()
        .min()
        .map(|t| t.saturating_sub(now.total_millis()))
    }

    /// Sleeps until a signal, a network change, a datagram, an fd of the integrations or
    /// the timeout.
    fn wait(&self, timeout_ms: Option<u64>) -> io::Result<Ready> {
        let timeout = match timeout_ms {
            None => PollTimeout::NONE,
            Some(ms) => PollTimeout::try_from(ms).unwrap_or(PollTimeout::MAX),
        };
        // The hook's pipes and the metrics clients: `Integrations::service` looks at them
        // after every wake.
        self.wait_set
            .wait(self.integrations.poll_interest(), timeout)
    }

    fn reload_key(&mut self) {
        self.service.on_reload_started(sd_notify::monotonic_usec());
        if let Some(keyring) = key_file::reload_on_sighup(self.key_file.as_deref()) {
            self.engine.set_keyring(Some(keyring));
        }
        // The status keeps counting the members of the map on disk.
        match self.engine.engine() {
            Some(engine) if engine.local_id().is_some() => self
                .service
                .on_reload_finished(engine.node_id().get(), self.map.node_count()),
            _ => self.service.on_waiting(&self.waiting_status()),
        }
    }

    fn log_state(&self) {
        let netlink = self.watcher.counters();
        match self.engine.engine() {
            Some(engine) => log::debug!(
                "node {}: {} members; engine {:?}; daemon {:?}; netlink {netlink:?}",
                engine.node_id(),
                engine.members().count(),
                engine.stats(),
                self.counters
            ),
            None => log::debug!(
                "{}; daemon {:?}; netlink {netlink:?}",
                self.waiting_status(),
                self.counters
            ),
        }
    }

    /// Drains up to [`BATCHES_PER_WAKE`] batches from socket `index` into the engine.
    /// Returns the datagrams taken in, and whether the socket was left empty (a batch came
    /// back short, or the receive failed) rather than at the batch limit.
    fn receive_from(&mut self, index: usize, now: Instant) -> (usize, bool) {
        let Some(iface) = IfaceId::new(index) else {
            return (0, true);
        };
        let mut taken = 0;
        for _ in 0..BATCHES_PER_WAKE {
            let (Some(Some(socket)), Some(engine)) =
                (self.sockets.get(index), self.engine.engine_mut())
            else {
                return (taken, true);
            };
            let counters = &mut self.counters;
            let refusals = &mut self.refusals;
            let result = self.batch.receive(socket, |datagram: Datagram<'_>| {
                if datagram.truncated {
                    counters.truncated += 1;
                    log_refusal(refusals, now, datagram, &"longer than any valid datagram");
                    return;
                }
                if let Err(error) =
                    engine.handle_datagram(now, iface, datagram.source, datagram.payload)
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
                Ok(received) if received < self.batch.batch_size() => {
                    return (taken + received, true)
                }
                Ok(received) => taken += received,
                Err(error) => {
                    let name = self
                        .sockets
                        .get(index)
                        .and_then(Option::as_ref)
                        .map_or("?", |s| s.interface_name());
                    log::debug!("receive on {name} failed: {error}");
                    return (taken, true);
                }
            }
        }
        (taken, false)
    }

    /// Sends everything the engine has queued.
    fn flush_transmits(&mut self, now: Instant) {
        if let Some(engine) = self.engine.engine_mut() {
            send_queued(
                engine,
                now,
                &self.sockets,
                &mut self.transmit_buffer,
                &mut self.send_failures,
                &mut self.counters,
            );
        }
    }

    /// Logs membership events, notes whether the map changed, and hands the batch to the
    /// hook and the metrics.
    fn drain_events(&mut self) {
        let Some(engine) = self.engine.engine_mut() else {
            return;
        };
        self.event_batch.clear();
        while let Some(event) = engine.poll_event() {
            self.event_batch.push(event);
            if event.changes_map() {
                self.map.mark_dirty();
                self.conflicts_dirty = true;
            }
            event_log::log_event(
                event,
                engine.members(),
                " and writes an empty map: set another id with --node-id",
            );
        }
        self.integrations.on_events(&self.event_batch, engine);
    }

    /// Rewrites the conflicts file (alpha mode) after membership or conflict events (the
    /// engine reports the end of a conflict too). O(n) when it runs.
    fn update_conflicts(&mut self) {
        let Some(engine) = self.engine.engine() else {
            return;
        };
        if self.conflicts_dirty {
            self.conflicts_dirty = false;
            let now = engine.conflicts().map(IdConflict::from).collect();
            self.conflicts.publish(now);
        }
    }

    /// Rewrites the map if it changed, or retries a failed write when its time has come.
    fn update_map(&mut self, now: Instant) {
        self.update_conflicts();
        let Some(engine) = self.engine.engine() else {
            return;
        };
        let outcome = self.map.update(now.total_millis(), engine);
        match outcome {
            Some(PublishOutcome::Written) => self.counters.map_writes += 1,
            Some(PublishOutcome::Failed) => self.counters.map_write_failures += 1,
            _ => {}
        }
        if let Some(PublishOutcome::Written | PublishOutcome::Unchanged) = outcome {
            if engine.local_id().is_some() {
                self.service
                    .on_map_written(engine.node_id().get(), self.map.node_count());
            } else {
                self.service.on_waiting(&self.waiting_status());
            }
        }
    }
}

/// Adds `fd` to a poll set; where it is, unless the set was full.
/// Sends everything `engine` has queued, each datagram on its interface's socket (dropped
/// if that leg has none now): to the group, or by unicast to one peer. A leg whose group
/// sends fail is warned about once (and again when it works); a unicast send that fails is
/// counted and logged at debug level.
fn send_queued(
    engine: &mut DaemonEngine,
    now: Instant,
    sockets: &[Option<LegSocket>],
    buffer: &mut [u8; MAX_DATAGRAM_LEN],
    failures: &mut [FailureLog],
    counters: &mut DaemonCounters,
) {
    while let Some(transmit) = engine.poll_transmit(now, buffer) {
        let index = transmit.iface.index();
        let Some(Some(socket)) = sockets.get(index) else {
            log::debug!(
                "no socket for interface {} now; datagram dropped",
                transmit.iface
            );
            continue;
        };
        let payload = buffer.get(..transmit.len).unwrap_or(&[]);
        let result = match transmit.to {
            Destination::Group => socket.send(payload),
            Destination::Peer(peer) => {
                // One peer that cannot be reached says nothing about the leg: the engine
                // reports a seed that does not answer, and probes find a dead member.
                if let Err(error) = socket.send_to(payload, peer) {
                    counters.send_failed += 1;
                    log::debug!(
                        "cannot send to {peer} on {}: {error}",
                        socket.interface_name()
                    );
                }
                continue;
            }
        };
        if let Some(failures) = failures.get_mut(index) {
            match result {
                Ok(()) => failures.succeeded(format_args!(
                    "sending on {} works again",
                    socket.interface_name()
                )),
                Err(error) => {
                    counters.send_failed += 1;
                    failures.failed(format_args!(
                        "cannot send on {}: {error}",
                        socket.interface_name()
                    ));
                }
            }
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
        if self.seed_list.file().is_some() {
            if let Some(seeds) = self.seed_list.reload_on_sighup() {
                let now = self.now();
                if let Err(error) = self.engine.replace_seeds(now, seeds) {
                    log::warn!(
                        "SIGHUP: the engine refused the seeds ({error}); keeping the current ones"
                    );
                }
                // A leg without -i on a unicast-only node follows the route to the seeds.
                self.schedule_network_check(now.total_millis());
            }
        }
        self.reload_key();
    }
}
