//! The process-wide list of namespaces and child processes the testbed created, so that
//! they can all be removed at once: on Ctrl-C/SIGTERM, after a scenario timed out, and
//! (for namespaces) by a later run when this one was killed outright.
//!
//! Guards register what they create and unregister when they remove it; whoever takes an
//! entry out of the registry is the one who removes it, so nothing is removed twice. A PID
//! stays registered until its process is reaped, and signals are only sent under the
//! registry lock to registered PIDs: a recycled PID is never signalled.

use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard, Once};
use std::time::{Duration, Instant};

use nix::sys::signal::{kill, Signal};
use nix::sys::wait::{waitpid, WaitPidFlag, WaitStatus};
use nix::unistd::Pid;
use signal_hook::consts::{SIGINT, SIGTERM};

use super::exec::ip;
use super::netns::NETNS_PREFIX;

/// What is alive right now.
#[derive(Debug, Default)]
pub struct Registry {
    namespaces: Vec<String>,
    pids: Vec<i32>,
    adopted: Vec<(i32, PathBuf)>,
}

static REGISTRY: Mutex<Registry> = Mutex::new(Registry {
    namespaces: Vec::new(),
    pids: Vec::new(),
    adopted: Vec::new(),
});

/// Locks the registry (a panic elsewhere while holding it does not make it unusable).
pub fn lock() -> MutexGuard<'static, Registry> {
    REGISTRY
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

impl Registry {
    /// Records a namespace about to be created.
    pub fn add_namespace(&mut self, name: &str) {
        self.namespaces.push(name.to_string());
    }

    /// Takes a namespace out; true if it was there (the caller must then delete it).
    pub fn take_namespace(&mut self, name: &str) -> bool {
        take(&mut self.namespaces, |n| n == name)
    }

    /// Records a started child process.
    pub fn add_pid(&mut self, pid: i32) {
        self.pids.push(pid);
    }

    /// Whether `pid` is registered (started by us and not reaped yet).
    pub fn has_pid(&self, pid: i32) -> bool {
        self.pids.contains(&pid)
    }

    /// Takes a PID out once its process has been reaped.
    pub fn take_pid(&mut self, pid: i32) -> bool {
        take(&mut self.pids, |p| *p == pid)
    }

    /// Sends `signal` to `pid` if it is registered (our unreaped child); true if sent.
    /// (`None`: only check that it could be signalled.)
    pub fn signal(&self, pid: i32, signal: impl Into<Option<Signal>>) -> bool {
        self.has_pid(pid) && kill(Pid::from_raw(pid), signal).is_ok()
    }

    /// Records a process we caused but that is not our child (a daemon that detached
    /// itself), with its program: it is only ever signalled while it still runs `exe`.
    pub fn add_adopted(&mut self, pid: i32, exe: &Path) {
        self.adopted.push((pid, exe.to_path_buf()));
    }

    /// Takes an adopted process out (its guard ended it).
    pub fn take_adopted(&mut self, pid: i32) -> bool {
        take(&mut self.adopted, |(p, _)| *p == pid)
    }

    /// Names of the registered namespaces.
    pub fn namespaces(&self) -> &[String] {
        &self.namespaces
    }

    /// Registered PIDs (children and adopted processes).
    pub fn pids(&self) -> Vec<i32> {
        self.pids
            .iter()
            .copied()
            .chain(self.adopted.iter().map(|(p, _)| *p))
            .collect()
    }
}

fn take<T>(list: &mut Vec<T>, matches: impl Fn(&T) -> bool) -> bool {
    match list.iter().position(matches) {
        Some(i) => {
            list.remove(i);
            true
        }
        None => false,
    }
}

/// Ends every registered process (SIGTERM, then SIGKILL after `grace`), reaps it, and deletes
/// every registered namespace. Returns what was removed, for the log.
pub fn cleanup_all(grace: Duration) -> (usize, usize) {
    let mut registry = lock();
    let pids = registry.pids.clone();
    for &pid in &pids {
        registry.signal(pid, Signal::SIGTERM);
    }
    let deadline = Instant::now() + grace;
    let mut alive = pids.clone();
    while !alive.is_empty() && Instant::now() < deadline {
        alive.retain(|&pid| !reaped(pid, Some(WaitPidFlag::WNOHANG)));
        std::thread::sleep(Duration::from_millis(20));
    }
    for &pid in &alive {
        registry.signal(pid, Signal::SIGKILL);
        reaped(pid, None);
    }
    registry.pids.clear();
    let adopted = std::mem::take(&mut registry.adopted);
    for (pid, exe) in &adopted {
        super::process::end_adopted(*pid, exe, grace);
    }
    let namespaces = std::mem::take(&mut registry.namespaces);
    drop(registry);
    for name in &namespaces {
        let _ = ip(&["netns", "del", name]);
    }
    (pids.len() + adopted.len(), namespaces.len())
}

/// `waitpid(pid, flags)`: true once the process is reaped (or was already).
fn reaped(pid: i32, flags: Option<WaitPidFlag>) -> bool {
    !matches!(
        waitpid(Pid::from_raw(pid), flags),
        Ok(WaitStatus::StillAlive)
    )
}

/// Installs (once) a handler thread that, on SIGINT or SIGTERM, removes everything
/// registered and exits with 128 + the signal number.
pub fn install_signal_cleanup() {
    static INSTALLED: Once = Once::new();
    INSTALLED.call_once(|| {
        let signals = signal_hook::iterator::Signals::new([SIGINT, SIGTERM]);
        let Ok(mut signals) = signals else {
            eprintln!("xtask: cannot install the Ctrl-C cleanup handler");
            return;
        };
        std::thread::spawn(move || {
            if let Some(signal) = signals.forever().next() {
                eprintln!("\nxtask: signal {signal}: removing test namespaces and processes");
                let (processes, namespaces) = cleanup_all(Duration::from_secs(1));
                eprintln!(
                    "xtask: ended {processes} process(es), deleted {namespaces} namespace(s)"
                );
                std::process::exit(128 + signal);
            }
        });
    });
}

/// Deletes namespaces with our prefix whose creating process no longer exists (left behind
/// when an earlier run was killed with SIGKILL). Returns their names.
pub fn sweep_stale_namespaces() -> Vec<String> {
    let Ok(output) = ip(&["netns", "list"]) else {
        return Vec::new();
    };
    let stale: Vec<String> = output
        .lines()
        .filter_map(|line| line.split_whitespace().next())
        .filter(|name| owner_pid(name).is_some_and(|pid| !process_exists(pid)))
        .map(str::to_string)
        .collect();
    for name in &stale {
        let _ = ip(&["netns", "del", name]);
    }
    stale
}

/// The PID in a namespace name made by [`super::Netns`] (`omdt-PID-...`).
pub fn owner_pid(name: &str) -> Option<u32> {
    name.strip_prefix(NETNS_PREFIX)?
        .split('-')
        .next()?
        .parse()
        .ok()
}

fn process_exists(pid: u32) -> bool {
    std::path::Path::new(&format!("/proc/{pid}")).exists()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn owner_pid_is_read_from_our_names_only() {
        assert_eq!(owner_pid("omdt-4242-3-sw"), Some(4242));
        assert_eq!(owner_pid("omdt-x-3-sw"), None);
        assert_eq!(owner_pid("other-4242-3"), None);
    }

    #[test]
    fn entries_are_taken_once() {
        let mut registry = Registry::default();
        registry.add_namespace("a");
        registry.add_pid(7);
        assert!(registry.take_namespace("a"));
        assert!(!registry.take_namespace("a"));
        assert!(registry.has_pid(7));
        assert!(registry.take_pid(7));
        assert!(!registry.take_pid(7));
        assert!(
            !registry.signal(7, None),
            "an unregistered PID is never signalled"
        );
    }
}
