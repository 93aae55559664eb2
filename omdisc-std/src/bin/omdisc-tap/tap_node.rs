//! The running program: a [`Node`] on the TAP device, driven from one `poll` over the TAP's
//! file descriptor and a signalfd, with the node's wait as timeout; membership changes go to
//! stderr and, with `--map-dir`, to the map files.

use std::io;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd};
use std::path::PathBuf;
use std::time::Instant as StdInstant;

use nix::errno::Errno;
use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
use nix::sys::signal::Signal;

use omdisc_smoltcp::Node;
use omdisc_std::event_log;
use omdisc_std::growing_table::GrowingTable;
use omdisc_std::key_file;
use omdisc_std::map_writer::MapWriter;
use omdisc_std::signals::{SignalHandler, SignalReceiver};
use smoltcp::phy::TunTapInterface;
use smoltcp::time::{Duration, Instant};

/// How long the node keeps trying to put its LEAVE on the wire when stopped.
const LEAVE_TRIES: usize = 50;
/// Pause between two LEAVE tries.
const LEAVE_PAUSE: Duration = Duration::from_millis(10);

/// The node table of `omdisc-tap`: on the heap, growing as nodes come up to the daemon's
/// default capacity.
pub type Table = GrowingTable;

/// The program's state.
pub struct TapNode {
    /// The smoltcp node, created at `origin`.
    pub node: Node<'static, Table>,
    /// The TAP device it runs on.
    pub device: TunTapInterface,
    /// SIGTERM, SIGINT, SIGUSR1 and SIGHUP.
    pub signals: SignalReceiver,
    /// The map files, with `--map-dir`.
    pub map: Option<MapWriter>,
    /// The key file, re-read on SIGHUP.
    pub key_file: Option<PathBuf>,
    /// The instant the node's clock counts from.
    pub origin: StdInstant,
}

impl TapNode {
    /// Serves the cluster until SIGTERM or SIGINT, then leaves it and returns the signal.
    pub fn run(&mut self) -> io::Result<Signal> {
        loop {
            let now = self.now();
            let delay = self.node.poll(now, &mut self.device);
            self.drain_events();
            self.update_map(now);
            let timeout = self.wait_timeout(now, delay);
            if self.wait(timeout)? {
                if let Some(signal) = self.handle_signals()? {
                    self.leave();
                    return Ok(signal);
                }
            }
        }
    }

    /// The node's clock: smoltcp time since the program started.
    fn now(&self) -> Instant {
        let micros = self.origin.elapsed().as_micros();
        Instant::from_micros(i64::try_from(micros).unwrap_or(i64::MAX))
    }

    /// Sends LEAVE, retrying briefly while the TAP has no room.
    fn leave(&mut self) {
        for _ in 0..LEAVE_TRIES {
            let now = self.now();
            if self.node.leave(now, &mut self.device).is_ok() {
                log::info!("sent LEAVE: node {} left the cluster", self.node.node_id());
                self.log_counters();
                return;
            }
            std::thread::sleep(LEAVE_PAUSE.into());
        }
        log::warn!("could not put LEAVE on the wire; the others will expire this node");
    }

    fn log_counters(&self) {
        let stats = self.node.engine().stats();
        let counters = self.node.counters();
        log::info!(
            "received {} frames, {} datagrams ({} new, {} duplicate, {} refused); sent {} datagrams ({} direct; {} direct dropped: {} no socket free, {} next hop silent), {} IGMP reports",
            counters.rx_frames,
            stats.rx_datagrams,
            stats.rx_accepted,
            stats.rx_duplicate,
            stats.rx_malformed
                + stats.rx_auth_failed
                + stats.rx_stale
                + stats.rx_spoofed
                + stats.rx_hop_limit
                + stats.rx_table_full
                + stats.rx_inactive_iface,
            stats.tx_datagrams,
            stats.tx_unicast,
            counters.unicast_dropped + counters.unicast_stuck,
            counters.unicast_dropped,
            counters.unicast_stuck,
            counters.igmp_reports
        );
        log::info!(
            "probes: {} sent, {} ACKs received, {} indirect; {} suspicions, {} confirmed dead",
            stats.probes_sent,
            stats.acks_received,
            stats.indirect_probes_sent,
            stats.suspicions,
            stats.confirmed_dead
        );
    }

    /// The poll timeout: the node's wait or a map retry, whichever is sooner.
    fn wait_timeout(&self, now: Instant, delay: Option<Duration>) -> Option<Duration> {
        let retry = self
            .map
            .as_ref()
            .and_then(MapWriter::retry_at_ms)
            .map(|at| Duration::from_millis(at.saturating_sub(now.total_millis() as u64)));
        match (delay, retry) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// Sleeps until a frame, a signal or the timeout; returns whether a signal is waiting.
    fn wait(&self, timeout: Option<Duration>) -> io::Result<bool> {
        let timeout = match timeout {
            None => PollTimeout::NONE,
            // Round up, so the node is not woken a fraction of a millisecond early.
            Some(d) => {
                PollTimeout::try_from(d.total_micros().div_ceil(1000)).unwrap_or(PollTimeout::MAX)
            }
        };
        let raw = self.device.as_raw_fd();
        // SAFETY: `raw` is the TAP's descriptor, owned by `self.device`, which outlives this
        // borrow (it ends with this function); nothing closes it meanwhile.
        #[allow(unsafe_code)]
        let tap = unsafe { BorrowedFd::borrow_raw(raw) };
        let mut fds = [
            PollFd::new(self.signals.as_fd(), PollFlags::POLLIN),
            PollFd::new(tap, PollFlags::POLLIN),
        ];
        match poll(&mut fds, timeout) {
            Ok(_) | Err(Errno::EINTR) => {}
            Err(errno) => return Err(errno.into()),
        }
        Ok(fds[0]
            .revents()
            .is_some_and(|r| r.contains(PollFlags::POLLIN)))
    }

    /// Logs membership events and notes that the map changed.
    fn drain_events(&mut self) {
        while let Some(event) = self.node.poll_event() {
            if event.changes_map() {
                if let Some(map) = &mut self.map {
                    map.mark_dirty();
                }
            }
            event_log::log_event(
                event,
                self.node.engine().members(),
                " and writes an empty map: give it another address",
            );
        }
    }

    fn update_map(&mut self, now: Instant) {
        if let Some(map) = &mut self.map {
            map.update(now.total_millis() as u64, self.node.engine());
        }
    }
}

impl SignalHandler for TapNode {
    fn signal_receiver(&self) -> &SignalReceiver {
        &self.signals
    }

    fn debug_toggled(&mut self, on: bool) {
        log::info!("SIGUSR1: debug output {}", if on { "on" } else { "off" });
        if on {
            self.log_counters();
        }
    }

    fn reload(&mut self) {
        if let Some(keyring) = key_file::reload_on_sighup(self.key_file.as_deref()) {
            self.node.set_keyring(Some(keyring));
        }
    }
}
