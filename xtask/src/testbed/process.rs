//! [`Process`]: a command running inside a namespace, ended (only that PID) on drop.

use std::fs::File;
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use nix::sys::prctl::set_pdeathsig;
use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;

use super::registry;

/// How long a dropped process gets between SIGTERM and SIGKILL.
const TERM_GRACE: Duration = Duration::from_secs(3);

/// A child started with `ip netns exec NS PROGRAM ARGS` (which execs PROGRAM, so the PID is
/// the program's own). Its stdout and stderr go to a log file. Dropping the guard sends
/// SIGTERM, then SIGKILL after a grace period, and reaps it. The child also gets SIGTERM if
/// the thread that started it dies (`PR_SET_PDEATHSIG`), so keep a `Process` on the thread
/// that spawned it.
#[derive(Debug)]
pub struct Process {
    child: Child,
    pid: i32,
    label: String,
    log: PathBuf,
    status: Option<ExitStatus>,
}

impl Process {
    /// Starts `program args` in namespace `ns`, logging to `log`.
    pub fn spawn_in(
        ns: &str,
        label: &str,
        program: &Path,
        args: &[String],
        log: &Path,
    ) -> Result<Process, String> {
        let mut command = Command::new("ip");
        command.args(["netns", "exec", ns]).arg(program).args(args);
        Self::spawn(command, label, log)
    }

    /// Starts `command` (already complete with its arguments), logging to `log`.
    pub fn spawn(mut command: Command, label: &str, log: &Path) -> Result<Process, String> {
        let file =
            File::create(log).map_err(|e| format!("cannot create {}: {e}", log.display()))?;
        let err_file = file
            .try_clone()
            .map_err(|e| format!("cannot share {}: {e}", log.display()))?;
        command.stdin(Stdio::null()).stdout(file).stderr(err_file);
        // SAFETY: the hook only makes the prctl system call, which is async-signal-safe
        // and touches no memory of the parent.
        unsafe {
            command.pre_exec(|| set_pdeathsig(Signal::SIGTERM).map_err(std::io::Error::from));
        }
        let shown = crate::project::show(&command);
        // Registered under the lock together with the spawn, so a concurrent cleanup sees it.
        let mut registry = registry::lock();
        let child = command
            .spawn()
            .map_err(|e| format!("cannot start `{shown}`: {e}"))?;
        let pid = i32::try_from(child.id()).map_err(|_| "PID out of range".to_string())?;
        registry.add_pid(pid);
        drop(registry);
        Ok(Process {
            child,
            pid,
            label: label.to_string(),
            log: log.to_path_buf(),
            status: None,
        })
    }

    /// The process ID.
    pub fn pid(&self) -> i32 {
        self.pid
    }

    /// What this process is (e.g. `n3 omdiscd`).
    pub fn label(&self) -> &str {
        &self.label
    }

    /// Sends `signal` if the process has not been reaped yet.
    pub fn signal(&mut self, signal: Signal) -> Result<(), String> {
        if self.try_exit().is_some() {
            return Err(format!(
                "{} (pid {}) has already exited",
                self.label, self.pid
            ));
        }
        if registry::lock().signal(self.pid, signal) {
            Ok(())
        } else {
            Err(format!("cannot signal {} (pid {})", self.label, self.pid))
        }
    }

    /// The exit status if it has exited (reaping it), without waiting.
    pub fn try_exit(&mut self) -> Option<ExitStatus> {
        if self.status.is_none() {
            let mut registry = registry::lock();
            let status = match self.child.try_wait() {
                Ok(status) => status,
                // Already reaped by a cleanup: it is gone, with an unknown status.
                Err(_) => Some(ExitStatus::from_raw(-1)),
            };
            if status.is_some() {
                registry.take_pid(self.pid);
                self.status = status;
            }
        }
        self.status
    }

    /// Waits up to `timeout` for the process to exit; its status, or `None` if still running.
    pub fn wait_exit(&mut self, timeout: Duration) -> Option<ExitStatus> {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(status) = self.try_exit() {
                return Some(status);
            }
            if Instant::now() >= deadline {
                return None;
            }
            std::thread::sleep(Duration::from_millis(5));
        }
    }

    /// What it wrote to stdout and stderr so far.
    pub fn output(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// The log file's path.
    pub fn log_path(&self) -> &Path {
        &self.log
    }

    /// Ends the process: SIGTERM, SIGKILL after `grace`; returns its exit status.
    pub fn stop(&mut self, grace: Duration) -> Option<ExitStatus> {
        if self.try_exit().is_none() {
            registry::lock().signal(self.pid, Signal::SIGTERM);
            if self.wait_exit(grace).is_none() {
                registry::lock().signal(self.pid, Signal::SIGKILL);
                self.wait_exit(Duration::from_secs(5));
            }
        }
        self.status
    }
}

impl Drop for Process {
    fn drop(&mut self) {
        self.stop(TERM_GRACE);
    }
}

/// A process that detached itself (a daemon that forked away from the child we started),
/// found through its pid file. It is signalled only while `/proc/PID/exe` is still its
/// program, so a recycled PID is never touched. Dropping the guard ends it (SIGTERM, then
/// SIGKILL); so does the registry's cleanup on Ctrl-C.
#[derive(Debug)]
pub struct Adopted {
    pid: i32,
    exe: PathBuf,
}

impl Adopted {
    /// Adopts the process whose PID is in `pid_file`, which must be running `exe`.
    pub fn from_pid_file(pid_file: &Path, exe: &Path) -> Result<Adopted, String> {
        let text = std::fs::read_to_string(pid_file)
            .map_err(|e| format!("cannot read pid file {}: {e}", pid_file.display()))?;
        let pid: i32 = text.trim().parse().map_err(|_| {
            format!(
                "pid file {} holds {:?}, not a PID",
                pid_file.display(),
                text.trim()
            )
        })?;
        let mut registry = registry::lock();
        if !runs(pid, exe) {
            return Err(format!(
                "pid {pid} from {} is not a running {}",
                pid_file.display(),
                exe.display()
            ));
        }
        registry.add_adopted(pid, exe);
        Ok(Adopted {
            pid,
            exe: exe.to_path_buf(),
        })
    }

    /// The process ID.
    pub fn pid(&self) -> i32 {
        self.pid
    }

    /// Whether it still runs its program.
    pub fn is_running(&self) -> bool {
        runs(self.pid, &self.exe)
    }

    /// Sends `signal` if it still runs its program.
    pub fn signal(&self, signal: Signal) -> Result<(), String> {
        let _registry = registry::lock();
        if runs(self.pid, &self.exe) && kill(Pid::from_raw(self.pid), signal).is_ok() {
            Ok(())
        } else {
            Err(format!(
                "pid {} no longer runs {}",
                self.pid,
                self.exe.display()
            ))
        }
    }

    /// Waits up to `timeout` for it to end; whether it did.
    pub fn wait_gone(&self, timeout: Duration) -> bool {
        let deadline = Instant::now() + timeout;
        while self.is_running() {
            if Instant::now() >= deadline {
                return false;
            }
            std::thread::sleep(Duration::from_millis(5));
        }
        true
    }
}

impl Drop for Adopted {
    fn drop(&mut self) {
        if registry::lock().take_adopted(self.pid) {
            end_adopted(self.pid, &self.exe, TERM_GRACE);
        }
    }
}

/// Whether `pid` is alive (not a zombie) and runs `exe`.
fn runs(pid: i32, exe: &Path) -> bool {
    let running = std::fs::read_link(format!("/proc/{pid}/exe"))
        .is_ok_and(|p| p.starts_with(exe) || p == exe);
    let zombie = std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .map(|stat| {
            stat.rsplit(')')
                .next()
                .unwrap_or("")
                .trim_start()
                .starts_with('Z')
        })
        .unwrap_or(true);
    running && !zombie
}

/// SIGTERM, then SIGKILL after `grace`, to a process that still runs `exe`.
pub(super) fn end_adopted(pid: i32, exe: &Path, grace: Duration) {
    for signal in [Signal::SIGTERM, Signal::SIGKILL] {
        if !runs(pid, exe) {
            return;
        }
        let _ = kill(Pid::from_raw(pid), signal);
        let deadline = Instant::now() + grace;
        while runs(pid, exe) && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(5));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn log_file(name: &str) -> PathBuf {
        std::env::temp_dir().join(format!(
            "xtask-process-test-{}-{name}.log",
            std::process::id()
        ))
    }

    #[test]
    fn output_goes_to_the_log_and_the_status_is_kept() {
        let log = log_file("echo");
        let mut command = Command::new("sh");
        command.args(["-c", "echo hello; echo oops >&2; exit 4"]);
        let mut process = Process::spawn(command, "sh", &log).unwrap();
        let status = process.wait_exit(Duration::from_secs(10)).unwrap();
        assert_eq!(status.code(), Some(4));
        assert_eq!(process.output(), "hello\noops\n");
        assert!(
            !registry::lock().has_pid(process.pid()),
            "reaped PIDs leave the registry"
        );
        let _ = std::fs::remove_file(log);
    }

    #[test]
    fn drop_ends_a_running_process() {
        let log = log_file("sleep");
        let mut command = Command::new("sleep");
        command.arg("30");
        let process = Process::spawn(command, "sleep", &log).unwrap();
        let pid = process.pid();
        assert!(registry::lock().has_pid(pid));
        let started = Instant::now();
        drop(process);
        assert!(started.elapsed() < TERM_GRACE, "SIGTERM was enough");
        assert!(!registry::lock().has_pid(pid));
        assert!(!Path::new(&format!("/proc/{pid}")).exists() || is_other_process(pid));
        let _ = std::fs::remove_file(log);
    }

    /// The PID was recycled by an unrelated process (not a zombie of ours).
    fn is_other_process(pid: i32) -> bool {
        std::fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|s| !s.contains("(sleep)"))
    }

    #[test]
    fn signalling_an_exited_process_is_an_error() {
        let log = log_file("true");
        let mut process = Process::spawn(Command::new("true"), "true", &log).unwrap();
        process.wait_exit(Duration::from_secs(10)).unwrap();
        assert!(process
            .signal(Signal::SIGTERM)
            .unwrap_err()
            .contains("already exited"));
        let _ = std::fs::remove_file(log);
    }
}
