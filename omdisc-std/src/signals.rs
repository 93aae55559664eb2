//! Signals as readable events: SIGTERM, SIGINT, SIGUSR1 and SIGHUP are blocked and read
//! from a `signalfd` in the main loop, so no handler runs between two engine calls.

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
}

/// The signals the daemon handles, readable from a file descriptor.
#[derive(Debug)]
pub struct SignalReceiver {
    fd: SignalFd,
}

const HANDLED: [Signal; 4] = [
    Signal::SIGTERM,
    Signal::SIGINT,
    Signal::SIGUSR1,
    Signal::SIGHUP,
];

impl SignalReceiver {
    /// Blocks the handled signals in the calling thread (call before starting any other
    /// thread) and opens a nonblocking `signalfd` for them.
    pub fn install() -> io::Result<SignalReceiver> {
        let mut set = SigSet::empty();
        for signal in HANDLED {
            set.add(signal);
        }
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
