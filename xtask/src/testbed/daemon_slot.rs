//! One host's `omdiscd`: its map directory, its numbered log files and the daemon process
//! (one at a time, restartable). Shared by [`Cluster`](super::Cluster) (one bridge) and
//! [`Topology`](super::Topology) (several), which own the namespaces and links.

use std::path::{Path, PathBuf};
use std::process::ExitStatus;
use std::time::Duration;

use nix::sys::signal::Signal;

use super::cluster::{tail, Binaries};
use super::counters::Counters;
use super::process::Process;

/// How long a daemon may take to write its counters after SIGUSR1.
const COUNTERS_WAIT: Duration = Duration::from_secs(3);

/// A host's daemon slot.
#[derive(Debug)]
pub(crate) struct DaemonSlot {
    daemon: Option<Process>,
    label: String,
    map_dir: PathBuf,
    starts: u32,
    /// The counters file of the current (or last) start.
    counters_file: Option<PathBuf>,
}

impl DaemonSlot {
    /// A slot for host `label` whose map directory `map_dir` is created now.
    pub(crate) fn new(label: &str, map_dir: PathBuf) -> Result<DaemonSlot, String> {
        std::fs::create_dir_all(&map_dir)
            .map_err(|e| format!("cannot create {}: {e}", map_dir.display()))?;
        Ok(DaemonSlot {
            daemon: None,
            label: label.to_string(),
            map_dir,
            starts: 0,
            counters_file: None,
        })
    }

    /// The host's label.
    pub(crate) fn label(&self) -> &str {
        &self.label
    }

    /// The daemon's map directory.
    pub(crate) fn map_dir(&self) -> &Path {
        &self.map_dir
    }

    /// `-n --map-dir DIR --pid-file DIR/omdiscd.pid`: the arguments every test daemon gets.
    pub(crate) fn base_args(&self) -> Vec<String> {
        vec![
            "-n".into(),
            "--map-dir".into(),
            self.map_dir.display().to_string(),
            "--pid-file".into(),
            self.map_dir.join("omdiscd.pid").display().to_string(),
        ]
    }

    /// Starts `omdiscd ARGS` in namespace `ns`, logging to `LOG_DIR/LABEL-N.log` and writing
    /// its counters to `LOG_DIR/LABEL-N.counters.json`.
    pub(crate) fn start(
        &mut self,
        ns: &str,
        binaries: &Binaries,
        args: &[String],
        log_dir: &Path,
    ) -> Result<(), String> {
        if self.is_running() {
            return Err(format!("{} is already running", self.label));
        }
        self.starts += 1;
        let log = log_dir.join(format!("{}-{}.log", self.label, self.starts));
        let counters = log_dir.join(format!("{}-{}.counters.json", self.label, self.starts));
        let mut args = args.to_vec();
        args.extend(["--counters-file".into(), counters.display().to_string()]);
        let label = format!("{} omdiscd", self.label);
        self.counters_file = Some(counters);
        self.daemon = Some(Process::spawn_in(
            ns,
            &label,
            &binaries.omdiscd,
            &args,
            &log,
        )?);
        Ok(())
    }

    /// The counters the current (or last) daemon wrote last: after it stopped, its final
    /// ones.
    pub(crate) fn counters(&self) -> Result<Counters, String> {
        let path = self.counters_path()?;
        Counters::read(path).map_err(|why| format!("{}: {why}", self.label))
    }

    /// Asks the running daemon for its counters (SIGUSR1, which also toggles its debug
    /// output) and returns the snapshot it writes.
    pub(crate) fn fresh_counters(&mut self) -> Result<Counters, String> {
        let path = self.counters_path()?.to_path_buf();
        let process = self.process()?;
        Counters::fresh(&path, COUNTERS_WAIT, || process.signal(Signal::SIGUSR1))
            .map_err(|why| format!("{}: {why}", self.label))
    }

    fn counters_path(&self) -> Result<&Path, String> {
        self.counters_file
            .as_deref()
            .ok_or_else(|| format!("{} was never started", self.label))
    }

    /// Whether the daemon is running (not exited).
    pub(crate) fn is_running(&mut self) -> bool {
        self.daemon.as_mut().is_some_and(|p| p.try_exit().is_none())
    }

    /// The daemon process, if it was ever started.
    pub(crate) fn process(&mut self) -> Result<&mut Process, String> {
        let label = &self.label;
        self.daemon
            .as_mut()
            .ok_or_else(|| format!("{label} was never started"))
    }

    /// The daemon's PID, if started.
    pub(crate) fn pid(&self) -> Option<i32> {
        self.daemon.as_ref().map(Process::pid)
    }

    /// Waits up to `timeout` for the daemon to exit; its status.
    pub(crate) fn wait_exit(&mut self, timeout: Duration) -> Option<ExitStatus> {
        self.daemon.as_mut()?.wait_exit(timeout)
    }

    /// What the current (or last) daemon printed.
    pub(crate) fn output(&self) -> String {
        self.daemon
            .as_ref()
            .map(Process::output)
            .unwrap_or_default()
    }

    /// Fails if a daemon that was started has exited (with the last lines it printed).
    pub(crate) fn check_running(&mut self) -> Result<(), String> {
        if let Some(status) = self.daemon.as_mut().and_then(Process::try_exit) {
            return Err(format!(
                "{} omdiscd exited ({status}); it printed: {}",
                self.label,
                tail(&self.output(), 3)
            ));
        }
        Ok(())
    }

    /// `showmap --map-dir DIR ARGS` for this host.
    pub(crate) fn showmap(&self, binaries: &Binaries, args: &[&str]) -> Result<String, String> {
        let dir = self.map_dir.display().to_string();
        let mut all = vec!["--map-dir", dir.as_str()];
        all.extend_from_slice(args);
        binaries.showmap(&all)
    }
}
