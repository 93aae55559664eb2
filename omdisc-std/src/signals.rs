//! Signals as readable events: SIGTERM, SIGINT, SIGUSR1, SIGHUP and SIGCHLD are blocked and read
//! from a `signalfd` in the main loop, so no handler runs between two engine calls.
//!
//! Block the signals early ([`block_handled_signals`]), so one that arrives during startup
//! waits instead of killing the process, and open the `signalfd` ([`SignalReceiver::open`])
//! in the process that reads it, after daemonising (a blocked signal stays pending across
//! `fork` and is then read from the daemon's `signalfd`).

use std::io;
use std::os::fd::{AsFd, BorrowedFd};

use nix::sys::signal::{SigSet, Signal};
use nix::sys::signalfd::{SfdFlags, SignalFd};

/// What a received signal asks the daemon to do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SignalRequest {
    /// SIGTERM or SIGINT: leave the cluster and exit.
    Stop(Signal),
    /// SIGUSR1: toggle full debug output.
    ToggleDebug,
    /// SIGHUP: re-read the key file.
    Reload,
    /// SIGCHLD: a child (the hook) changed state; reap it without waiting.
    ChildExited,
}

/// A program that takes requests by signal (`omdiscd`, `omdisc-tap`): what it does on
/// SIGUSR1 and SIGHUP; [`SignalHandler::handle_signals`] does the rest.
pub trait SignalHandler {
    /// Where the signals are read.
    fn signal_receiver(&self) -> &SignalReceiver;

    /// SIGUSR1 has just switched full debug output on (`true`) or off.
    fn debug_toggled(&mut self, on: bool);

    /// SIGHUP: re-read the key file.
    fn reload(&mut self);

    /// Handles every pending signal: SIGUSR1 toggles the debug output
    /// ([`crate::logging::toggle_debug`]), SIGHUP reloads. Returns the signal that asks to
    /// stop (SIGTERM, SIGINT), if one came, after logging it.
    fn handle_signals(&mut self) -> io::Result<Option<Signal>> {
        while let Some(request) = self.signal_receiver().next_request()? {
            match request {
                SignalRequest::Stop(signal) => {
                    log::info!("{signal} received: leaving the cluster");
                    return Ok(Some(signal));
                }
                SignalRequest::ToggleDebug => {
                    let on = crate::logging::toggle_debug();
                    self.debug_toggled(on);
                }
                SignalRequest::Reload => self.reload(),
                // A child (the hook) is reaped by whoever started it, after this wake.
                SignalRequest::ChildExited => {}
            }
        }
        Ok(None)
    }
}

/// The signals the daemon handles, readable from a file descriptor.
#[derive(Debug)]
pub struct SignalReceiver {
    fd: SignalFd,
}

const HANDLED: [Signal; 5] = [
    Signal::SIGTERM,
    Signal::SIGINT,
    Signal::SIGUSR1,
    Signal::SIGHUP,
    Signal::SIGCHLD,
];

fn handled_set() -> SigSet {
    let mut set = SigSet::empty();
    for signal in HANDLED {
        set.add(signal);
    }
    set
}

/// Blocks the handled signals in the calling thread (call before starting any other
/// thread): from now on they wait, pending, for the [`SignalReceiver`].
pub fn block_handled_signals() -> io::Result<()> {
    handled_set().thread_block()?;
    Ok(())
}

impl SignalReceiver {
    /// Blocks the handled signals (if not done yet) and opens a nonblocking `signalfd` for
    /// them. Signals that arrived while blocked are read from it too.
    pub fn open() -> io::Result<SignalReceiver> {
        let set = handled_set();
        set.thread_block()?;
        let fd = SignalFd::with_flags(&set, SfdFlags::SFD_NONBLOCK | SfdFlags::SFD_CLOEXEC)?;
        Ok(SignalReceiver { fd })
    }

    /// The next pending request, or `None` when no signal waits.
    pub fn next_request(&self) -> io::Result<Option<SignalRequest>> {
        loop {
            let Some(info) = self.fd.read_signal()? else {
                return Ok(None);
            };
            let Ok(signal) = Signal::try_from(info.ssi_signo as i32) else {
                continue;
            };
            let request = match signal {
                Signal::SIGTERM | Signal::SIGINT => SignalRequest::Stop(signal),
                Signal::SIGUSR1 => SignalRequest::ToggleDebug,
                Signal::SIGHUP => SignalRequest::Reload,
                Signal::SIGCHLD => SignalRequest::ChildExited,
                _ => continue,
            };
            return Ok(Some(request));
        }
    }
}

impl AsFd for SignalReceiver {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }
}
