//! [`Netns`]: a network namespace that exists as long as its guard.

use std::fs::File;
use std::sync::atomic::{AtomicU32, Ordering};

use nix::sched::{setns, CloneFlags};

use super::exec::ip;
use super::registry;

/// Prefix of every namespace the testbed creates; the creator's PID follows it.
pub const NETNS_PREFIX: &str = "omdt-";

/// Distinguishes namespaces created by this process.
static NEXT: AtomicU32 = AtomicU32::new(1);

/// Moves the calling thread into network namespace `ns` (as made by `ip netns add`); the
/// rest of the process stays where it is.
fn enter(ns: &str) -> Result<(), String> {
    let path = format!("/run/netns/{ns}");
    let file = File::open(&path).map_err(|e| format!("cannot open {path}: {e}"))?;
    setns(&file, CloneFlags::CLONE_NEWNET).map_err(|e| format!("cannot enter {path}: {e}"))
}

/// Runs `f` on a thread of its own inside network namespace `ns`; sockets it creates stay
/// in that namespace, whichever thread uses them afterwards.
pub fn in_namespace<T: Send + 'static>(
    ns: &str,
    f: impl FnOnce() -> Result<T, String> + Send + 'static,
) -> Result<T, String> {
    let ns = ns.to_owned();
    std::thread::spawn(move || {
        enter(&ns)?;
        f()
    })
    .join()
    .map_err(|_| "a namespace thread panicked".to_string())?
}

/// A named network namespace with `lo` up. Dropping the guard deletes it (its veth ends go
/// with it); deletion also happens on Ctrl-C through the [`registry`].
#[derive(Debug)]
pub struct Netns {
    name: String,
}

impl Netns {
    /// Creates `omdt-PID-N-LABEL` (`label` says what it is, e.g. `sw` or `n3`).
    pub fn new(label: &str) -> Result<Netns, String> {
        let name = unique_name(
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed),
            label,
        );
        // Registered first, so a Ctrl-C during creation still removes it.
        registry::lock().add_namespace(&name);
        let netns = Netns { name };
        ip(&["netns", "add", &netns.name])?;
        ip(&["-n", &netns.name, "link", "set", "lo", "up"])?;
        Ok(netns)
    }

    /// The namespace's name (for `ip -n NAME` and `ip netns exec NAME`).
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Deletes the namespace now, reporting a failure (drop ignores them).
    pub fn delete(self) -> Result<(), String> {
        let name = self.name.clone();
        std::mem::forget(self);
        if registry::lock().take_namespace(&name) {
            ip(&["netns", "del", &name])?;
        }
        Ok(())
    }
}

impl Drop for Netns {
    fn drop(&mut self) {
        if registry::lock().take_namespace(&self.name) {
            if let Err(why) = ip(&["netns", "del", &self.name]) {
                eprintln!("xtask: {why}");
            }
        }
    }
}

/// `omdt-PID-SEQ-LABEL`.
fn unique_name(pid: u32, seq: u32, label: &str) -> String {
    format!("{NETNS_PREFIX}{pid}-{seq}-{label}")
}

/// Our namespaces that `ip netns list` still shows (those of this process).
pub fn leftover_namespaces() -> Result<Vec<String>, String> {
    let own = format!("{NETNS_PREFIX}{}-", std::process::id());
    Ok(ip(&["netns", "list"])?
        .lines()
        .filter_map(|line| line.split_whitespace().next())
        .filter(|name| name.starts_with(&own))
        .map(str::to_string)
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_carry_the_pid_and_are_unique() {
        assert_eq!(unique_name(4242, 7, "sw"), "omdt-4242-7-sw");
        assert_eq!(registry::owner_pid(&unique_name(4242, 7, "n1")), Some(4242));
        assert_ne!(unique_name(1, 1, "a"), unique_name(1, 2, "a"));
    }
}
