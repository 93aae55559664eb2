//! [`DaemonHosts`]: what [`Cluster`](super::Cluster) and [`Topology`](super::Topology) have
//! in common — numbered hosts with an `omdiscd` slot each — and everything done with a
//! host's daemon, written once for both.

use std::path::Path;
use std::process::ExitStatus;
use std::time::Duration;

use nix::sys::signal::Signal;

use super::cluster::Binaries;
use super::counters::Counters;
use super::daemon_slot::DaemonSlot;
use super::membership::Membership;
use super::topology::MapJson;

/// Hosts numbered from 0, each with a daemon slot.
pub(crate) trait DaemonHosts {
    /// Host `i`'s daemon slot.
    fn slot(&self, i: usize) -> &DaemonSlot;

    /// Host `i`'s daemon slot, to start or signal its daemon.
    fn slot_mut(&mut self, i: usize) -> &mut DaemonSlot;

    /// The programs the hosts run.
    fn binaries(&self) -> &Binaries;

    /// What host `i`'s map holds, in a few words, for error messages.
    fn map_summary(&self, i: usize) -> Result<String, String>;

    /// `n1 has {..}; n2: (error)`: what the maps of `observers` hold, for error messages.
    fn describe_maps(&self, observers: &[usize]) -> String {
        observers
            .iter()
            .map(|&o| {
                let label = self.slot(o).label();
                match self.map_summary(o) {
                    Ok(summary) => format!("{label} has {summary}"),
                    Err(why) => format!("{label}: {why}"),
                }
            })
            .collect::<Vec<_>>()
            .join("; ")
    }

    /// Whether host `i`'s daemon is running (not exited).
    fn is_running(&mut self, i: usize) -> bool {
        self.slot_mut(i).is_running()
    }

    /// PID of host `i`'s daemon, if started.
    fn pid(&self, i: usize) -> Option<i32> {
        self.slot(i).pid()
    }

    /// Sends `signal` to host `i`'s daemon.
    fn signal(&mut self, i: usize, signal: Signal) -> Result<(), String> {
        self.slot_mut(i).process()?.signal(signal)
    }

    /// The counters host `i`'s daemon wrote last (after it stopped: its final ones).
    fn counters(&self, i: usize) -> Result<Counters, String> {
        self.slot(i).counters()
    }

    /// Asks host `i`'s daemon for its counters now (SIGUSR1, which also toggles its debug
    /// output).
    fn fresh_counters(&mut self, i: usize) -> Result<Counters, String> {
        self.slot_mut(i).fresh_counters()
    }

    /// Kills host `i`'s daemon with SIGKILL (no LEAVE) and waits for it to be gone.
    fn kill(&mut self, i: usize) -> Result<(), String> {
        let slot = self.slot_mut(i);
        let label = slot.label().to_string();
        slot.process()?.signal(Signal::SIGKILL)?;
        slot.wait_exit(Duration::from_secs(5))
            .map(|_| ())
            .ok_or_else(|| format!("{label} omdiscd did not die of SIGKILL"))
    }

    /// Host `i`'s map directory.
    fn map_dir(&self, i: usize) -> &Path {
        self.slot(i).map_dir()
    }

    /// Waits up to `timeout` for host `i`'s daemon to exit; its status.
    fn wait_exit(&mut self, i: usize, timeout: Duration) -> Option<ExitStatus> {
        self.slot_mut(i).wait_exit(timeout)
    }

    /// What host `i`'s current (or last) daemon printed.
    fn daemon_output(&self, i: usize) -> String {
        self.slot(i).output()
    }

    /// Fails if a daemon among `hosts` that was started has exited (with the last lines it
    /// printed).
    fn check_running(&mut self, hosts: &[usize]) -> Result<(), String> {
        hosts
            .iter()
            .try_for_each(|&i| self.slot_mut(i).check_running())
    }

    /// Host `i`'s map as `showmap --map-dir DIR` prints it.
    fn map_text(&self, i: usize) -> Result<String, String> {
        self.slot(i).showmap(self.binaries(), &[])
    }

    /// Host `i`'s map, parsed (every line must be a setpe map line).
    fn map(&self, i: usize) -> Result<Membership, String> {
        Membership::parse(&self.map_text(i)?)
    }

    /// Host `i`'s map as `showmap --map-dir DIR --json` prints it, parsed.
    fn map_json(&self, i: usize) -> Result<MapJson, String> {
        let text = self.slot(i).showmap(self.binaries(), &["--json"])?;
        MapJson::parse(&text).map_err(|why| format!("{}: {why}", self.slot(i).label()))
    }
}
