//! Detaching from the terminal: fork, `setsid`, fork, `chdir /`, stdio to `/dev/null`.
//!
//! The original process waits until the daemon reports that it is ready (its pid file
//! written) or why it failed, over a pipe, and only then exits: with 0 when the daemon
//! runs, or with the daemon's one-line error and 1. So `omdiscd && next-step` is
//! reliable, and a pid file exists when the starting command returns.

use std::fmt;
use std::fs::{File, OpenOptions};
use std::io::{self, Read, Write};
use std::os::fd::OwnedFd;
use std::process;

use nix::fcntl::OFlag;
use nix::sys::stat::{umask, Mode};
use nix::sys::wait::waitpid;
use nix::unistd::{chdir, dup2_stderr, dup2_stdin, dup2_stdout, fork, pipe2, setsid, ForkResult};

use crate::cli::{print_error_line, EXIT_FAILURE};

/// Readiness message on the pipe: the daemon runs.
const READY: u8 = b'R';
/// Failure message on the pipe: an error line follows.
const FAILED: u8 = b'E';

/// The detached daemon's end of the startup pipe.
#[derive(Debug)]
pub struct Detached {
    pipe: File,
}

impl Detached {
    /// Tells the waiting parent that the daemon runs; the parent exits 0.
    pub fn ready(mut self) {
        let _ = self.pipe.write_all(&[READY]);
    }

    /// Hands a one-line error to the waiting parent, which prints it and exits 1.
    pub fn failed(mut self, message: &str) {
        let mut bytes = vec![FAILED];
        bytes.extend_from_slice(message.as_bytes());
        let _ = self.pipe.write_all(&bytes);
    }
}

/// A step of detaching that failed. One line.
#[derive(Debug)]
pub struct DaemonizeError {
    step: &'static str,
    error: io::Error,
}

impl fmt::Display for DaemonizeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "cannot become a daemon ({}): {}", self.step, self.error)
    }
}

impl std::error::Error for DaemonizeError {}

/// Detaches the process. Returns in the daemon only; the calling process waits for
/// [`Detached::ready`] or [`Detached::failed`] and exits.
///
/// Must be called while the process has a single thread.
pub fn daemonize(program: &str) -> Result<Detached, DaemonizeError> {
    let failed = |step: &'static str| {
        move |errno: nix::errno::Errno| DaemonizeError {
            step,
            error: errno.into(),
        }
    };
    let (read_end, write_end) = pipe2(OFlag::O_CLOEXEC).map_err(failed("pipe"))?;
    match fork_process().map_err(failed("fork"))? {
        ForkResult::Parent { child } => {
            drop(write_end);
            // The intermediate child exits at once; reap it so it is no zombie.
            let _ = waitpid(child, None);
            wait_for_daemon(program, read_end)
        }
        ForkResult::Child => {}
    }
    drop(read_end);
    setsid().map_err(failed("setsid"))?;
    // Fork again so the daemon is no session leader and can never get a terminal.
    match fork_process().map_err(failed("second fork"))? {
        ForkResult::Parent { .. } => process::exit(0),
        ForkResult::Child => {}
    }
    chdir("/").map_err(failed("chdir /"))?;
    umask(Mode::from_bits_truncate(0o022));
    redirect_stdio().map_err(|error| DaemonizeError {
        step: "redirect stdio to /dev/null",
        error,
    })?;
    Ok(Detached {
        pipe: File::from(write_end),
    })
}

#[allow(unsafe_code)]
fn fork_process() -> nix::Result<ForkResult> {
    // SAFETY: `daemonize` is documented to run while the process has one thread, so the
    // child inherits no lock held by another thread and may run ordinary Rust code.
    unsafe { fork() }
}

fn redirect_stdio() -> io::Result<()> {
    let null = OpenOptions::new()
        .read(true)
        .write(true)
        .open("/dev/null")?;
    let null = OwnedFd::from(null);
    dup2_stdin(&null)?;
    dup2_stdout(&null)?;
    dup2_stderr(&null)?;
    Ok(())
}

/// The original process: waits for the daemon's report and exits accordingly.
fn wait_for_daemon(program: &str, read_end: OwnedFd) -> ! {
    let mut report = Vec::new();
    let _ = File::from(read_end).read_to_end(&mut report);
    match report.split_first() {
        Some((&READY, _)) => process::exit(0),
        Some((&FAILED, message)) => {
            print_error_line(program, &String::from_utf8_lossy(message));
            process::exit(EXIT_FAILURE)
        }
        _ => {
            print_error_line(
                program,
                "the daemon exited during startup (see the system log)",
            );
            process::exit(EXIT_FAILURE)
        }
    }
}
