//! Telling systemd how the service is doing: the `sd_notify(3)` protocol, one datagram of
//! `KEY=value` lines to the Unix socket named by `$NOTIFY_SOCKET`.
//!
//! Under a `Type=notify` unit the daemon reports `READY=1` once its sockets are joined and
//! the first map is written (or, when no interface can carry the cluster yet, at once with
//! a `STATUS=` that says what it waits for: see [`ServiceNotifier::on_waiting`]), `STATUS=` with the member count as it changes,
//! `RELOADING=1`/`READY=1` around a SIGHUP reload, `STOPPING=1` before its LEAVE, and
//! `WATCHDOG=1` at half the `WatchdogSec=` period. Outside systemd (`$NOTIFY_SOCKET`
//! unset) every call does nothing.
//!
//! [`Notifier`] is the protocol; [`ServiceNotifier`] decides what to send when, from what
//! the main loop tells it.

use std::io;
use std::os::linux::net::SocketAddrExt;
use std::os::unix::net::{SocketAddr, UnixDatagram};
use std::time::Duration;

/// Environment variable that names systemd's notification socket.
pub const NOTIFY_SOCKET_ENV: &str = "NOTIFY_SOCKET";
/// Environment variable with the watchdog period in microseconds (`WatchdogSec=`).
pub const WATCHDOG_USEC_ENV: &str = "WATCHDOG_USEC";
/// Environment variable with the PID the watchdog period is meant for.
pub const WATCHDOG_PID_ENV: &str = "WATCHDOG_PID";

/// A connection to systemd's notification socket, or none (not started by systemd).
#[derive(Debug, Default)]
pub struct Notifier {
    target: Option<(UnixDatagram, SocketAddr)>,
    watchdog: Option<Duration>,
}

/// Why `$NOTIFY_SOCKET` or `$WATCHDOG_USEC` cannot be used. `Display` is one line.
#[derive(Debug)]
pub enum NotifyError {
    /// `$NOTIFY_SOCKET` is not an absolute path or an `@abstract` name.
    BadSocketAddress(String),
    /// The datagram socket cannot be created.
    Socket(io::Error),
    /// `$WATCHDOG_USEC` is not a positive number of microseconds.
    BadWatchdog(String),
}

impl std::fmt::Display for NotifyError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            NotifyError::BadSocketAddress(value) => {
                write!(f, "${NOTIFY_SOCKET_ENV}={value:?} is not a socket address")
            }
            NotifyError::Socket(error) => {
                write!(f, "cannot open a socket for systemd notifications: {error}")
            }
            NotifyError::BadWatchdog(value) => {
                write!(f, "${WATCHDOG_USEC_ENV}={value:?} is not a watchdog period")
            }
        }
    }
}

impl std::error::Error for NotifyError {}

impl Notifier {
    /// A notifier that sends nothing.
    pub fn disabled() -> Notifier {
        Notifier::default()
    }

    /// The notifier systemd asked for in the environment, which it then removes (so that
    /// programs this process starts do not report in its name). No `$NOTIFY_SOCKET`: a
    /// disabled notifier. Call before starting threads.
    pub fn from_env() -> Result<Notifier, NotifyError> {
        let socket = std::env::var(NOTIFY_SOCKET_ENV).ok();
        let watchdog_usec = std::env::var(WATCHDOG_USEC_ENV).ok();
        let watchdog_pid = std::env::var(WATCHDOG_PID_ENV).ok();
        for name in [NOTIFY_SOCKET_ENV, WATCHDOG_USEC_ENV, WATCHDOG_PID_ENV] {
            std::env::remove_var(name);
        }
        Notifier::from_values(
            socket.as_deref(),
            watchdog_usec.as_deref(),
            watchdog_pid.as_deref(),
            std::process::id(),
        )
    }

    /// The notifier for these environment values (`None`: unset); the watchdog applies
    /// only if `watchdog_pid` is unset or `own_pid`.
    pub fn from_values(
        socket: Option<&str>,
        watchdog_usec: Option<&str>,
        watchdog_pid: Option<&str>,
        own_pid: u32,
    ) -> Result<Notifier, NotifyError> {
        let Some(socket) = socket.filter(|s| !s.is_empty()) else {
            return Ok(Notifier::disabled());
        };
        let address = socket_address(socket)?;
        let datagram = UnixDatagram::unbound().map_err(NotifyError::Socket)?;
        // systemd reads its socket promptly; never let a full queue stall the main loop.
        datagram
            .set_nonblocking(true)
            .map_err(NotifyError::Socket)?;
        let for_us = watchdog_pid.is_none_or(|pid| pid.trim().parse::<u32>() == Ok(own_pid));
        let watchdog = match watchdog_usec {
            Some(usec) if for_us => Some(watchdog_period(usec)?),
            _ => None,
        };
        Ok(Notifier {
            target: Some((datagram, address)),
            watchdog,
        })
    }

    /// Whether notifications go anywhere.
    pub fn is_enabled(&self) -> bool {
        self.target.is_some()
    }

    /// The watchdog period systemd expects `WATCHDOG=1` within, if any.
    pub fn watchdog_period(&self) -> Option<Duration> {
        self.watchdog
    }

    /// Sends `KEY=value` lines. A failure is logged at debug level and otherwise ignored:
    /// the service keeps working when systemd does not listen.
    pub fn send(&self, message: &str) {
        let Some((socket, address)) = &self.target else {
            return;
        };
        if let Err(error) = socket.send_to_addr(message.as_bytes(), address) {
            log::debug!("systemd notification {message:?} not sent: {error}");
        }
    }
}

/// `/path` or `@abstract-name`.
fn socket_address(value: &str) -> Result<SocketAddr, NotifyError> {
    let bad = || NotifyError::BadSocketAddress(value.to_owned());
    if let Some(name) = value.strip_prefix('@') {
        SocketAddr::from_abstract_name(name.as_bytes()).map_err(|_| bad())
    } else if value.starts_with('/') {
        SocketAddr::from_pathname(value).map_err(|_| bad())
    } else {
        Err(bad())
    }
}

/// A positive number of microseconds.
fn watchdog_period(value: &str) -> Result<Duration, NotifyError> {
    match value.trim().parse::<u64>() {
        Ok(usec @ 1..) => Ok(Duration::from_micros(usec)),
        _ => Err(NotifyError::BadWatchdog(value.to_owned())),
    }
}

/// What the main loop reports to systemd: it calls the `on_*` methods at the moments they
/// name, and [`ServiceNotifier::poll_watchdog`] on every turn.
#[derive(Debug)]
pub struct ServiceNotifier {
    notifier: Notifier,
    ready: bool,
    reported_members: Option<usize>,
    waiting: Option<String>,
    next_watchdog_ms: Option<u64>,
}

impl ServiceNotifier {
    /// Reports through `notifier`, starting at `now_ms` (the daemon's clock).
    pub fn new(notifier: Notifier, now_ms: u64) -> ServiceNotifier {
        let next_watchdog_ms = notifier.watchdog_period().map(|_| now_ms);
        ServiceNotifier {
            notifier,
            ready: false,
            reported_members: None,
            waiting: None,
            next_watchdog_ms,
        }
    }

    /// Whether `READY=1` has been sent.
    pub fn is_ready(&self) -> bool {
        self.ready
    }

    /// The map of `members` nodes is on disk: the first time, the service is ready;
    /// afterwards `STATUS=` changes with the member count.
    pub fn on_map_written(&mut self, node_id: u16, members: usize) {
        if self.reported_members == Some(members) && self.ready {
            return;
        }
        self.reported_members = Some(members);
        self.waiting = None;
        let status = status_line(node_id, members);
        if self.ready {
            self.notifier.send(&format!("STATUS={status}"));
        } else {
            self.ready = true;
            self.notifier.send(&format!("READY=1\nSTATUS={status}"));
        }
    }

    /// No interface can carry the cluster yet (or any more): the daemon runs and waits,
    /// `status` says for what. The service is ready at once: it started as configured and
    /// joins by itself, so a boot does not wait (or fail) for a network that comes later.
    pub fn on_waiting(&mut self, status: &str) {
        if self.waiting.as_deref() == Some(status) && self.ready {
            return;
        }
        self.waiting = Some(status.to_owned());
        self.reported_members = None;
        if self.ready {
            self.notifier.send(&format!("STATUS={status}"));
        } else {
            self.ready = true;
            self.notifier.send(&format!("READY=1\nSTATUS={status}"));
        }
    }

    /// A reload (SIGHUP) starts; `monotonic_usec` is `CLOCK_MONOTONIC` now, which systemd
    /// 253 and later want beside `RELOADING=1`.
    pub fn on_reload_started(&mut self, monotonic_usec: u64) {
        self.notifier
            .send(&format!("RELOADING=1\nMONOTONIC_USEC={monotonic_usec}"));
    }

    /// The reload is over (whether the new key was taken or refused: the log says which);
    /// the status shows the member count again.
    pub fn on_reload_finished(&mut self, node_id: u16, members: usize) {
        self.reported_members = Some(members);
        let status = status_line(node_id, members);
        self.notifier.send(&format!("READY=1\nSTATUS={status}"));
    }

    /// The daemon is about to send LEAVE and exit.
    pub fn on_stopping(&mut self) {
        self.notifier.send("STOPPING=1\nSTATUS=leaving the cluster");
    }

    /// When the next `WATCHDOG=1` is due (the daemon's clock), if the watchdog is on.
    pub fn watchdog_due_ms(&self) -> Option<u64> {
        self.next_watchdog_ms
    }

    /// Sends `WATCHDOG=1` if it is due, then schedules the next at half the period.
    pub fn poll_watchdog(&mut self, now_ms: u64) {
        let (Some(due), Some(period)) = (self.next_watchdog_ms, self.notifier.watchdog_period())
        else {
            return;
        };
        if now_ms >= due {
            self.notifier.send("WATCHDOG=1");
            let half = u64::try_from(period.as_millis() / 2).unwrap_or(u64::MAX);
            self.next_watchdog_ms = Some(now_ms.saturating_add(half.max(1)));
        }
    }
}

/// `CLOCK_MONOTONIC` now in microseconds, for [`ServiceNotifier::on_reload_started`].
pub fn monotonic_usec() -> u64 {
    nix::time::clock_gettime(nix::time::ClockId::CLOCK_MONOTONIC)
        .map(|t| {
            let usec = i128::from(t.tv_sec()) * 1_000_000 + i128::from(t.tv_nsec()) / 1_000;
            u64::try_from(usec).unwrap_or(0)
        })
        .unwrap_or(0)
}

/// The `STATUS=` text: `node 257: 3 members`.
pub fn status_line(node_id: u16, members: usize) -> String {
    let plural = if members == 1 { "" } else { "s" };
    format!("node {node_id}: {members} member{plural}")
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::net::UnixDatagram;
    use std::path::PathBuf;

    /// A fake systemd: a bound datagram socket in a fresh directory.
    struct FakeSystemd {
        socket: UnixDatagram,
        dir: PathBuf,
    }

    impl FakeSystemd {
        fn new(tag: &str) -> FakeSystemd {
            let dir = std::env::temp_dir()
                .join(format!("omdisc-notify-test-{tag}-{}", std::process::id()));
            let _ = std::fs::remove_dir_all(&dir);
            std::fs::create_dir_all(&dir).unwrap();
            let socket = UnixDatagram::bind(dir.join("notify")).unwrap();
            socket.set_nonblocking(true).unwrap();
            FakeSystemd { socket, dir }
        }

        fn path(&self) -> String {
            self.dir.join("notify").display().to_string()
        }

        fn received(&self) -> Vec<String> {
            let mut buf = [0u8; 512];
            let mut messages = Vec::new();
            while let Ok(len) = self.socket.recv(&mut buf) {
                messages.push(String::from_utf8_lossy(&buf[..len]).into_owned());
            }
            messages
        }
    }

    impl Drop for FakeSystemd {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.dir);
        }
    }

    #[test]
    fn without_notify_socket_nothing_is_sent_and_nothing_fails() {
        let notifier = Notifier::from_values(None, Some("1000000"), None, 1).unwrap();
        assert!(!notifier.is_enabled());
        assert_eq!(notifier.watchdog_period(), None);
        let mut service = ServiceNotifier::new(notifier, 0);
        service.on_map_written(1, 1);
        service.poll_watchdog(10);
        assert!(service.is_ready());
    }

    #[test]
    fn bad_addresses_and_periods_are_one_line_errors() {
        for socket in ["relative/path", "x"] {
            let error = Notifier::from_values(Some(socket), None, None, 1).unwrap_err();
            assert!(matches!(error, NotifyError::BadSocketAddress(_)), "{error}");
        }
        for usec in ["0", "-5", "soon"] {
            let error = Notifier::from_values(Some("/run/x"), Some(usec), None, 1).unwrap_err();
            assert!(error.to_string().contains("WATCHDOG_USEC"), "{error}");
            assert!(!error.to_string().contains('\n'));
        }
    }

    #[test]
    fn abstract_socket_names_are_accepted() {
        let notifier = Notifier::from_values(Some("@omdisc-test"), None, None, 1).unwrap();
        assert!(notifier.is_enabled());
    }

    #[test]
    fn watchdog_applies_only_to_its_pid() {
        let mine = Notifier::from_values(Some("/run/x"), Some("4000000"), Some("77"), 77);
        assert_eq!(
            mine.unwrap().watchdog_period(),
            Some(Duration::from_secs(4))
        );
        let other = Notifier::from_values(Some("/run/x"), Some("4000000"), Some("78"), 77);
        assert_eq!(other.unwrap().watchdog_period(), None);
    }

    #[test]
    fn waiting_for_the_network_is_ready_with_a_status_saying_so() {
        let systemd = FakeSystemd::new("waiting");
        let notifier = Notifier::from_values(Some(&systemd.path()), None, None, 1).unwrap();
        let mut service = ServiceNotifier::new(notifier, 0);
        service.on_waiting("waiting for interface eth0");
        service.on_waiting("waiting for interface eth0");
        assert!(service.is_ready());
        service.on_map_written(257, 1);
        service.on_waiting("waiting for interface eth0");
        assert_eq!(
            systemd.received(),
            [
                "READY=1\nSTATUS=waiting for interface eth0",
                "STATUS=node 257: 1 member",
                "STATUS=waiting for interface eth0"
            ]
        );
    }

    #[test]
    fn ready_once_then_status_only_when_the_count_changes() {
        let systemd = FakeSystemd::new("ready");
        let notifier = Notifier::from_values(Some(&systemd.path()), None, None, 1).unwrap();
        let mut service = ServiceNotifier::new(notifier, 0);
        assert!(!service.is_ready());
        service.on_map_written(257, 1);
        service.on_map_written(257, 1);
        service.on_map_written(257, 2);
        assert_eq!(
            systemd.received(),
            [
                "READY=1\nSTATUS=node 257: 1 member",
                "STATUS=node 257: 2 members"
            ]
        );
    }

    #[test]
    fn reload_and_stop_are_bracketed() {
        let systemd = FakeSystemd::new("reload");
        let notifier = Notifier::from_values(Some(&systemd.path()), None, None, 1).unwrap();
        let mut service = ServiceNotifier::new(notifier, 0);
        service.on_map_written(3, 2);
        service.on_reload_started(123_456);
        service.on_reload_finished(3, 2);
        service.on_map_written(3, 2);
        service.on_map_written(3, 1);
        service.on_stopping();
        assert_eq!(
            systemd.received(),
            [
                "READY=1\nSTATUS=node 3: 2 members",
                "RELOADING=1\nMONOTONIC_USEC=123456",
                "READY=1\nSTATUS=node 3: 2 members",
                "STATUS=node 3: 1 member",
                "STOPPING=1\nSTATUS=leaving the cluster",
            ]
        );
    }

    #[test]
    fn watchdog_pings_at_half_the_period() {
        let systemd = FakeSystemd::new("watchdog");
        let notifier =
            Notifier::from_values(Some(&systemd.path()), Some("2000000"), None, 1).unwrap();
        let mut service = ServiceNotifier::new(notifier, 5_000);
        assert_eq!(service.watchdog_due_ms(), Some(5_000));
        service.poll_watchdog(5_000);
        assert_eq!(service.watchdog_due_ms(), Some(6_000));
        service.poll_watchdog(5_999);
        service.poll_watchdog(6_000);
        assert_eq!(systemd.received(), ["WATCHDOG=1", "WATCHDOG=1"]);
    }

    #[test]
    fn a_missing_listener_is_not_an_error() {
        let notifier =
            Notifier::from_values(Some("/nonexistent/omdisc/notify"), None, None, 1).unwrap();
        notifier.send("READY=1");
    }
}
