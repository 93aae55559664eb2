//! Running the hook without ever waiting for it: one child at a time, spawned directly
//! (no shell) in a process group of its own, its stdin and stderr non-blocking pipes in the
//! daemon's poll set, reaped with `waitpid(WNOHANG)` when SIGCHLD arrives through the
//! daemon's signalfd (or on any later wake), killed with its whole group at the timeout.

use std::io::{self, Read, Write};
use std::os::fd::{AsFd, BorrowedFd};
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::path::PathBuf;
use std::process::{Child, ChildStderr, ChildStdin, Command, ExitStatus, Stdio};
use std::rc::Rc;
use std::time::Duration;

use nix::fcntl::{fcntl, FcntlArg, OFlag};
use nix::poll::PollFlags;
use nix::sys::signal::{killpg, Signal};
use nix::unistd::Pid;

use super::event::{HookJob, HookKind};
use super::queue::{HookQueue, Pending};
use crate::metrics::HookCounts;

/// `PATH` of a hook (its environment holds nothing else of the daemon's).
pub const HOOK_PATH_ENV: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";
/// Longest first line of a hook's stderr kept for the log.
pub const STDERR_LINE_LEN: usize = 256;
/// Most stderr bytes read per turn (the rest waits in the pipe for the next one).
const STDERR_READ_PER_WAKE: usize = 64 * 1024;
/// Once the first line of stderr is kept, the rest is read on a timer, this often, rather
/// than whenever the pipe is readable: a hook that floods stderr then blocks on the full
/// pipe (and is killed at its timeout) instead of keeping the loop busy, while one that
/// writes less than 640 KiB/s never notices.
pub const STDERR_DRAIN_PERIOD_MS: u64 = 100;
/// Shortest time between two warnings about failed hook runs, in milliseconds.
pub const FAILURE_LOG_PERIOD_MS: u64 = 10_000;

/// How a run ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RunOutcome {
    /// Exit status 0.
    Ok,
    /// Non-zero exit or a signal; the first line of its stderr.
    Failed(String, String),
    /// Still running at the timeout: killed with its process group.
    TimedOut,
    /// Could not be started.
    SpawnError(String),
}

/// The running hook.
#[derive(Debug)]
struct Running {
    child: Child,
    kind: HookKind,
    deadline_ms: u64,
    stdin: Option<ChildStdin>,
    input: Rc<str>,
    written: usize,
    stderr: Option<ChildStderr>,
    first_line: Vec<u8>,
    line_complete: bool,
    /// When stderr is read next, once the first line is complete.
    next_drain_ms: u64,
    killed: bool,
}

/// Warnings about failed runs: at most one per [`FAILURE_LOG_PERIOD_MS`], the next one
/// saying how many were not logged.
#[derive(Debug, Default)]
struct FailureWarnings {
    last_ms: Option<u64>,
    suppressed: u64,
}

impl FailureWarnings {
    fn warn(&mut self, now_ms: u64, message: &str) {
        if self
            .last_ms
            .is_some_and(|last| now_ms < last + FAILURE_LOG_PERIOD_MS)
        {
            self.suppressed += 1;
            log::debug!("{message}");
            return;
        }
        self.last_ms = Some(now_ms);
        if self.suppressed > 0 {
            log::warn!(
                "{message} ({} more hook failures in the last {} s were logged at debug level)",
                self.suppressed,
                FAILURE_LOG_PERIOD_MS / 1000
            );
            self.suppressed = 0;
        } else {
            log::warn!("{message}");
        }
    }
}

/// The hook of `--hook PATH`.
#[derive(Debug)]
pub struct HookRunner {
    path: PathBuf,
    timeout_ms: u64,
    queue: HookQueue,
    running: Option<Running>,
    counts: HookCounts,
    warnings: FailureWarnings,
}

impl HookRunner {
    /// A runner for the executable `path`, each run killed after `timeout`.
    pub fn new(path: PathBuf, timeout: Duration) -> HookRunner {
        HookRunner {
            path,
            timeout_ms: u64::try_from(timeout.as_millis()).unwrap_or(u64::MAX),
            queue: HookQueue::default(),
            running: None,
            counts: HookCounts::default(),
            warnings: FailureWarnings::default(),
        }
    }

    /// Queues a run for `job` (a `sync` covers what waits before it).
    pub fn enqueue(&mut self, job: HookJob) {
        if job.kind == HookKind::Sync {
            self.queue.push_sync();
        } else {
            self.queue.push(job);
        }
    }

    /// Runs by result, and events collapsed into a `sync`.
    pub fn counts(&self) -> HookCounts {
        HookCounts {
            collapsed: self.queue.collapsed(),
            ..self.counts
        }
    }

    /// Whether a run is going on or waiting.
    pub fn is_busy(&self) -> bool {
        self.running.is_some() || !self.queue.is_empty()
    }

    /// The run's pipes to poll: stdin while input is left, stderr while open.
    /// At most two; nothing is allocated.
    pub fn poll_interest(&self) -> impl Iterator<Item = (BorrowedFd<'_>, PollFlags)> {
        let running = self.running.as_ref();
        let stdin = running
            .and_then(|running| running.stdin.as_ref())
            .map(|stdin| (stdin.as_fd(), PollFlags::POLLOUT));
        let stderr = running
            .filter(|running| !running.line_complete)
            .and_then(|running| running.stderr.as_ref())
            .map(|stderr| (stderr.as_fd(), PollFlags::POLLIN));
        stdin.into_iter().chain(stderr)
    }

    /// When the running hook times out or its stderr is read next, in the daemon's
    /// milliseconds.
    pub fn deadline_ms(&self) -> Option<u64> {
        let running = self.running.as_ref()?;
        let timeout = (!running.killed).then_some(running.deadline_ms);
        let drain =
            (running.stderr.is_some() && running.line_complete).then_some(running.next_drain_ms);
        timeout.into_iter().chain(drain).min()
    }

    /// Moves the running hook on (feeds stdin, reads stderr, reaps it, kills it at its
    /// deadline) and starts the next run when none is going on. `sync_job` makes the job
    /// of a `sync` from the map as it is now (`None` while there is no map: the `sync`
    /// waits). Never blocks. Returns the outcome of a run that ended, if one did.
    pub fn service(
        &mut self,
        now_ms: u64,
        sync_job: impl FnOnce() -> Option<HookJob>,
    ) -> Option<RunOutcome> {
        let outcome = self.service_running(now_ms);
        if self.running.is_none() {
            let job = match self.queue.pop() {
                Some(Pending::Event(job)) => Some(job),
                Some(Pending::Sync) => {
                    let job = sync_job();
                    if job.is_none() {
                        self.queue.push_front(Pending::Sync);
                    }
                    job
                }
                None => None,
            };
            if let Some(job) = job {
                if let Some(failed) = self.spawn(now_ms, &job) {
                    return Some(failed);
                }
            }
        }
        outcome
    }

    /// At daemon stop: the running hook's process group gets SIGTERM (the daemon does not
    /// wait for it); queued events are dropped.
    pub fn stop(&mut self) {
        if let Some(running) = self.running.take() {
            let _ = killpg(pid_of(&running.child), Signal::SIGTERM);
            log::info!(
                "hook {} ({}) still running at stop: sent SIGTERM to its process group",
                self.path.display(),
                running.kind.name()
            );
        }
        if !self.queue.is_empty() {
            log::info!("{} hook events not run at stop", self.queue.len());
        }
    }

    fn spawn(&mut self, now_ms: u64, job: &HookJob) -> Option<RunOutcome> {
        let mut command = Command::new(&self.path);
        command
            .arg(job.kind.name())
            .env_clear()
            .env("PATH", HOOK_PATH_ENV)
            .envs(job.environment())
            .current_dir("/")
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            // Its own process group, so a timeout kills what it started too.
            .process_group(0);
        let spawned = command.spawn().and_then(|mut child| {
            let stdin = child.stdin.take();
            let stderr = child.stderr.take();
            if let Some(stdin) = &stdin {
                set_nonblocking(stdin.as_fd())?;
            }
            if let Some(stderr) = &stderr {
                set_nonblocking(stderr.as_fd())?;
            }
            Ok((child, stdin, stderr))
        });
        match spawned {
            Ok((child, stdin, stderr)) => {
                log::debug!(
                    "hook {} {} started (pid {})",
                    self.path.display(),
                    job.kind.name(),
                    child.id()
                );
                self.running = Some(Running {
                    child,
                    kind: job.kind,
                    deadline_ms: now_ms.saturating_add(self.timeout_ms),
                    stdin,
                    input: job.map_json.clone(),
                    written: 0,
                    stderr,
                    first_line: Vec::new(),
                    line_complete: false,
                    next_drain_ms: now_ms,
                    killed: false,
                });
                None
            }
            Err(error) => {
                self.counts.spawn_error += 1;
                let message = format!(
                    "cannot run hook {} ({}): {error}",
                    self.path.display(),
                    job.kind.name()
                );
                self.warnings.warn(now_ms, &message);
                Some(RunOutcome::SpawnError(error.to_string()))
            }
        }
    }

    fn service_running(&mut self, now_ms: u64) -> Option<RunOutcome> {
        let running = self.running.as_mut()?;
        feed_stdin(running);
        if !running.line_complete || now_ms >= running.next_drain_ms {
            drain_stderr(running);
            running.next_drain_ms = now_ms + STDERR_DRAIN_PERIOD_MS;
        }
        match running.child.try_wait() {
            Ok(Some(status)) => {
                let running = self.running.take()?;
                Some(self.finished(now_ms, running, status))
            }
            Ok(None) => {
                if !running.killed && now_ms >= running.deadline_ms {
                    running.killed = true;
                    // Its stdin is of no use any more; closing it may end it sooner.
                    running.stdin = None;
                    let _ = killpg(pid_of(&running.child), Signal::SIGKILL);
                }
                None
            }
            Err(error) => {
                log::warn!("cannot wait for hook {}: {error}", self.path.display());
                self.running = None;
                None
            }
        }
    }

    fn finished(&mut self, now_ms: u64, mut running: Running, status: ExitStatus) -> RunOutcome {
        drain_stderr(&mut running);
        let name = running.kind.name();
        if running.killed {
            self.counts.timeout += 1;
            let message = format!(
                "hook {} {name} still running after {} s: killed with its process group",
                self.path.display(),
                self.timeout_ms as f64 / 1000.0
            );
            self.warnings.warn(now_ms, &message);
            return RunOutcome::TimedOut;
        }
        if status.success() {
            self.counts.ok += 1;
            log::debug!("hook {} {name} done", self.path.display());
            return RunOutcome::Ok;
        }
        self.counts.failed += 1;
        let line = String::from_utf8_lossy(&running.first_line)
            .trim()
            .chars()
            .map(|c| if c.is_control() { '?' } else { c })
            .collect::<String>();
        let how = match (status.code(), status.signal()) {
            (Some(code), _) => format!("exited with {code}"),
            (None, Some(signal)) => format!("was killed by signal {signal}"),
            _ => status.to_string(),
        };
        let said = if line.is_empty() {
            "no stderr".to_owned()
        } else {
            format!("stderr: {line}")
        };
        self.warnings.warn(
            now_ms,
            &format!("hook {} {name} {how} ({said})", self.path.display()),
        );
        RunOutcome::Failed(how, line)
    }
}

fn pid_of(child: &Child) -> Pid {
    Pid::from_raw(i32::try_from(child.id()).unwrap_or(i32::MAX))
}

fn set_nonblocking(fd: BorrowedFd<'_>) -> io::Result<()> {
    let flags = OFlag::from_bits_truncate(fcntl(fd, FcntlArg::F_GETFL)?);
    fcntl(fd, FcntlArg::F_SETFL(flags | OFlag::O_NONBLOCK))?;
    Ok(())
}

/// Writes as much of the input as the pipe takes; closes stdin when all is written or the
/// hook closed its end (it need not read it).
fn feed_stdin(running: &mut Running) {
    let Some(stdin) = running.stdin.as_mut() else {
        return;
    };
    let input = running.input.as_bytes();
    while running.written < input.len() {
        match stdin.write(input.get(running.written..).unwrap_or(&[])) {
            Ok(0) => break,
            Ok(n) => running.written += n,
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => return,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            // EPIPE: the hook does not read its stdin.
            Err(_) => break,
        }
    }
    running.stdin = None;
}

/// Reads what waits on stderr (at most [`STDERR_READ_PER_WAKE`] bytes), keeping the first
/// line; closes it at end of file.
fn drain_stderr(running: &mut Running) {
    let Some(stderr) = running.stderr.as_mut() else {
        return;
    };
    let mut chunk = [0u8; 4096];
    let mut read = 0;
    while read < STDERR_READ_PER_WAKE {
        match stderr.read(&mut chunk) {
            Ok(0) => {
                running.stderr = None;
                return;
            }
            Ok(n) => {
                read += n;
                let bytes = chunk.get(..n).unwrap_or(&[]);
                if !running.line_complete {
                    let end = bytes.iter().position(|&b| b == b'\n');
                    let take = end.unwrap_or(bytes.len());
                    let room = STDERR_LINE_LEN.saturating_sub(running.first_line.len());
                    running
                        .first_line
                        .extend_from_slice(bytes.get(..take.min(room)).unwrap_or(&[]));
                    running.line_complete =
                        end.is_some() || running.first_line.len() >= STDERR_LINE_LEN;
                }
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(_) => return,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_dir::TempDir;
    use omdisc_core::NodeId;
    use std::os::unix::fs::PermissionsExt;
    use std::time::Instant;

    fn job(kind: HookKind, id: u16) -> HookJob {
        HookJob {
            kind,
            node_id: NodeId::new(id).unwrap(),
            addrs: vec!["10.77.1.12".parse().unwrap(), "10.88.1.12".parse().unwrap()],
            gateway: true,
            members: 3,
            self_id: NodeId::new(257).unwrap(),
            map_json: format!("{{\"node_count\":{id}}}\n").into(),
        }
    }

    fn script(dir: &TempDir, name: &str, body: &str) -> PathBuf {
        let path = dir.path().join(name);
        std::fs::write(&path, format!("#!/bin/sh\n{body}\n")).unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
        path
    }

    /// Services `runner` until `count` runs ended (or 10 s), as the daemon's loop would.
    fn run_until(runner: &mut HookRunner, count: usize) -> Vec<RunOutcome> {
        let start = Instant::now();
        let mut outcomes = Vec::new();
        while outcomes.len() < count && start.elapsed() < Duration::from_secs(10) {
            let now = start.elapsed().as_millis() as u64;
            if let Some(outcome) = runner.service(now, || Some(job(HookKind::Sync, 257))) {
                outcomes.push(outcome);
            }
            std::thread::sleep(Duration::from_millis(2));
        }
        outcomes
    }

    #[test]
    fn runs_get_the_event_the_environment_and_the_map_in_order() {
        let dir = TempDir::new("hook-env");
        let log = dir.path().join("log");
        let hook = script(
            &dir,
            "hook",
            &format!(
                "echo \"$1 $OMDISC_EVENT $OMDISC_NODE_ID [$OMDISC_ADDRS] $OMDISC_GATEWAY $OMDISC_MEMBERS $OMDISC_SELF_ID $(cat) home=${{HOME:-unset}}\" >> {}",
                log.display()
            ),
        );
        let mut runner = HookRunner::new(hook, Duration::from_secs(5));
        runner.enqueue(job(HookKind::Join, 12));
        runner.enqueue(job(HookKind::Leave, 13));
        assert_eq!(run_until(&mut runner, 2), [RunOutcome::Ok, RunOutcome::Ok]);
        assert_eq!(
            std::fs::read_to_string(&log).unwrap(),
            "join join 12 [10.77.1.12 10.88.1.12] 1 3 257 {\"node_count\":12} home=unset\n\
             leave leave 13 [10.77.1.12 10.88.1.12] 1 3 257 {\"node_count\":13} home=unset\n"
        );
        assert_eq!(runner.counts().ok, 2);
        assert!(!runner.is_busy());
    }

    #[test]
    fn a_failure_is_counted_with_its_first_stderr_line() {
        let dir = TempDir::new("hook-fail");
        let hook = script(
            &dir,
            "hook",
            "echo 'first line' >&2; echo second >&2; exit 3",
        );
        let mut runner = HookRunner::new(hook, Duration::from_secs(5));
        runner.enqueue(job(HookKind::Expire, 12));
        assert_eq!(
            run_until(&mut runner, 1),
            [RunOutcome::Failed(
                "exited with 3".into(),
                "first line".into()
            )]
        );
        assert_eq!(runner.counts().failed, 1);
    }

    #[test]
    fn a_hook_that_hangs_is_killed_with_its_process_group_at_the_timeout() {
        let dir = TempDir::new("hook-hang");
        let child_pid = |id: u16| dir.path().join(format!("child.{id}.pid"));
        // A background child in the same group that would outlive the hook.
        let hook = script(
            &dir,
            "hook",
            &format!(
                "sleep 60 & echo $! > {}/child.$OMDISC_NODE_ID.pid; sleep 60",
                dir.path().display()
            ),
        );
        let mut runner = HookRunner::new(hook, Duration::from_millis(300));
        runner.enqueue(job(HookKind::Join, 12));
        runner.enqueue(job(HookKind::Join, 13));
        let started = Instant::now();
        let outcomes = run_until(&mut runner, 1);
        assert_eq!(outcomes, [RunOutcome::TimedOut]);
        assert!(started.elapsed() < Duration::from_secs(5));
        let pid: i32 = std::fs::read_to_string(child_pid(12))
            .unwrap()
            .trim()
            .parse()
            .unwrap();
        let gone = |pid: i32| {
            std::fs::read_to_string(format!("/proc/{pid}/stat")).map_or(true, |s| {
                s.rsplit(')')
                    .next()
                    .unwrap_or("")
                    .trim_start()
                    .starts_with('Z')
            })
        };
        let deadline = Instant::now() + Duration::from_secs(5);
        while !gone(pid) && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(10));
        }
        assert!(
            gone(pid),
            "the hook's background child survived: {:?}",
            std::fs::read_to_string(format!("/proc/{pid}/stat"))
        );
        // The next event runs after the killed one.
        assert!(runner.is_busy());
        runner.stop();
        assert_eq!(runner.counts().timeout, 1);
    }

    #[test]
    fn after_the_first_line_a_flood_on_stderr_is_read_on_a_timer_only() {
        let dir = TempDir::new("hook-flood");
        let hook = script(&dir, "hook", "exec yes flooding >&2");
        let mut runner = HookRunner::new(hook, Duration::from_millis(500));
        runner.enqueue(job(HookKind::Join, 12));
        let start = Instant::now();
        runner.service(0, || Some(job(HookKind::Sync, 257)));
        assert_eq!(
            runner.poll_interest().count(),
            2,
            "stdin and stderr at first"
        );
        // Until the first line is in, stderr is polled; then only the timer reads it.
        while start.elapsed() < Duration::from_secs(5) {
            let now = start.elapsed().as_millis() as u64;
            runner.service(now, || Some(job(HookKind::Sync, 257)));
            if runner.running.as_ref().is_some_and(|r| r.line_complete) {
                break;
            }
            std::thread::sleep(Duration::from_millis(2));
        }
        let now = start.elapsed().as_millis() as u64;
        assert_eq!(runner.poll_interest().count(), 0);
        assert!(runner.deadline_ms().unwrap() <= now + STDERR_DRAIN_PERIOD_MS);
        let outcomes = run_until(&mut runner, 1);
        assert_eq!(outcomes, [RunOutcome::TimedOut]);
    }

    #[test]
    fn a_missing_program_is_a_spawn_error_and_the_queue_goes_on() {
        let dir = TempDir::new("hook-missing");
        let mut runner = HookRunner::new(dir.path().join("nope"), Duration::from_secs(1));
        runner.enqueue(job(HookKind::Join, 12));
        runner.enqueue(job(HookKind::Join, 13));
        let outcomes = run_until(&mut runner, 2);
        assert!(
            matches!(
                outcomes.as_slice(),
                [RunOutcome::SpawnError(_), RunOutcome::SpawnError(_)]
            ),
            "{outcomes:?}"
        );
        assert_eq!(runner.counts().spawn_error, 2);
    }

    #[test]
    fn a_hook_that_ignores_a_large_stdin_is_not_waited_for() {
        let dir = TempDir::new("hook-stdin");
        let hook = script(&dir, "hook", "exit 0");
        let mut runner = HookRunner::new(hook, Duration::from_secs(5));
        let mut big = job(HookKind::Join, 12);
        big.map_json = "x".repeat(1 << 20).into();
        runner.enqueue(big);
        assert_eq!(run_until(&mut runner, 1), [RunOutcome::Ok]);
    }
}
