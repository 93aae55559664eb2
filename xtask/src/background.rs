//! Slow preparations that `cargo xtask test` starts early and a later stage joins: downloads
//! (the nightly toolchain, the Debian root) and CPU-bound tool installs (`cargo install`).
//!
//! Steps run one after another in a *lane*, a thread of its own at a low CPU priority (a
//! nice value, inherited by every command it starts), so they use what the stages leave
//! idle (the scenarios mostly wait) and yield the CPU to them otherwise. Their commands
//! write to the lane's log file, never to the terminal. A stage calls [`wait`] for the step
//! it needs and then its own idempotent `ensure`, which finds the work done; a step that was
//! never started (`--only`, another subcommand) or that failed is then simply done, or
//! reported, in the foreground.

use std::collections::HashMap;
use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::{Condvar, Mutex, MutexGuard, OnceLock};
use std::time::{Duration, Instant};

use crate::project::show;
use crate::report::duration;

/// The work of a step: `Ok` with a short note, or `Err` with a one-line reason.
pub type Work = Box<dyn FnOnce(&Log) -> Result<String, String> + Send>;

/// One named piece of background work.
pub struct Step {
    /// What [`wait`] names it by.
    pub name: &'static str,
    /// The work.
    pub work: Work,
}

impl Step {
    /// A step named `name` doing `work`.
    pub fn new(
        name: &'static str,
        work: impl FnOnce(&Log) -> Result<String, String> + Send + 'static,
    ) -> Step {
        Step {
            name,
            work: Box::new(work),
        }
    }
}

/// Where a step stands.
#[derive(Debug, Clone)]
enum State {
    /// Queued in its lane.
    Queued,
    /// Under way.
    Running,
    /// Finished: its outcome, how long it ran, when it ended.
    Done {
        outcome: Result<String, String>,
        took: Duration,
        ended: Instant,
    },
}

/// Every step started in this process, and a signal when one changes.
struct Board {
    steps: Mutex<HashMap<&'static str, State>>,
    changed: Condvar,
    lanes: Mutex<Vec<std::thread::JoinHandle<()>>>,
}

fn board() -> &'static Board {
    static BOARD: OnceLock<Board> = OnceLock::new();
    BOARD.get_or_init(|| Board {
        steps: Mutex::new(HashMap::new()),
        changed: Condvar::new(),
        lanes: Mutex::new(Vec::new()),
    })
}

fn board_steps() -> MutexGuard<'static, HashMap<&'static str, State>> {
    board().steps.lock().unwrap_or_else(|e| e.into_inner())
}

fn set(name: &'static str, state: State) {
    board_steps().insert(name, state);
    board().changed.notify_all();
}

/// A lane's log file: the commands its steps run write here.
#[derive(Debug, Clone)]
pub struct Log {
    path: PathBuf,
}

impl Log {
    /// The log file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Appends a line to the log.
    pub fn line(&self, text: &str) {
        if let Ok(mut file) = self.open() {
            let _ = writeln!(file, "{text}");
        }
    }

    /// Runs `command` to completion with its output appended to the log (stdin empty); a
    /// non-zero exit is an error naming the command and the log.
    pub fn run(&self, command: &mut Command) -> Result<(), String> {
        let shown = show(command);
        self.line(&format!("$ {shown}"));
        let out = self.open()?;
        let err = out
            .try_clone()
            .map_err(|e| format!("cannot reopen {}: {e}", self.path.display()))?;
        let status = command
            .stdin(Stdio::null())
            .stdout(out)
            .stderr(err)
            .status()
            .map_err(|e| format!("cannot run `{shown}`: {e}"))?;
        if status.success() {
            Ok(())
        } else {
            Err(format!(
                "`{shown}` failed ({status}; log {})",
                self.path.display()
            ))
        }
    }

    fn open(&self) -> Result<File, String> {
        OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.path)
            .map_err(|e| format!("cannot open {}: {e}", self.path.display()))
    }
}

thread_local! {
    /// Set on a lane's thread.
    static IN_LANE: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

/// Whether the calling thread is a background lane (whose steps must not wait for other
/// steps of their own lane).
pub fn in_lane() -> bool {
    IN_LANE.with(std::cell::Cell::get)
}

/// Starts a lane: `steps` one after another on a new thread whose nice value is `nice`
/// (0 to 19; higher yields more), their commands writing to `log`. Prints what it started.
pub fn start_lane(lane: &str, nice: i32, log: PathBuf, steps: Vec<Step>) -> Result<(), String> {
    let names: Vec<&str> = steps.iter().map(|s| s.name).collect();
    for step in &steps {
        set(step.name, State::Queued);
    }
    let log = Log { path: log };
    println!(
        "    background lane {lane} (nice {nice}): {} (log {})",
        names.join(", "),
        log.path.display()
    );
    let spawned = std::thread::Builder::new()
        .name(format!("background-{lane}"))
        .spawn(move || {
            IN_LANE.with(|flag| flag.set(true));
            lower_priority(nice);
            for step in steps {
                let started = Instant::now();
                set(step.name, State::Running);
                log.line(&format!("=== {}", step.name));
                let outcome =
                    std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| (step.work)(&log)))
                        .unwrap_or_else(|panic| {
                            Err(format!(
                                "panicked: {}",
                                crate::report::panic_text(panic.as_ref())
                            ))
                        });
                let took = started.elapsed();
                log.line(&format!(
                    "=== {}: {outcome:?} in {}",
                    step.name,
                    duration(took)
                ));
                set(
                    step.name,
                    State::Done {
                        outcome,
                        took,
                        ended: Instant::now(),
                    },
                );
            }
        });
    match spawned {
        Ok(handle) => {
            board()
                .lanes
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .push(handle);
            Ok(())
        }
        Err(e) => {
            for name in names {
                board_steps().remove(name);
            }
            Err(format!("cannot start the background lane {lane}: {e}"))
        }
    }
}

/// Waits for the background step `name` if one was started, printing how it went and how
/// long this waited; `None` when no such step was started. A failed step is only reported:
/// the caller's own `ensure` then does the work (or says why it cannot).
pub fn wait(name: &str) -> Option<Result<String, String>> {
    let asked = Instant::now();
    let (outcome, took, ended) = wait_quietly(name)?;
    let waited = if ended > asked {
        format!("waited {}", duration(ended - asked))
    } else {
        format!("ready {} before", duration(asked - ended))
    };
    match &outcome {
        Ok(note) => println!(
            "    {name}: done in the background in {} ({waited}){}",
            duration(took),
            if note.is_empty() {
                String::new()
            } else {
                format!(": {note}")
            }
        ),
        Err(why) => println!(
            "    {name}: failed in the background after {} ({waited}): {why}; trying here",
            duration(took)
        ),
    }
    Some(outcome)
}

/// [`wait`] without printing: the outcome, how long the step ran and when it ended.
pub fn wait_quietly(name: &str) -> Option<(Result<String, String>, Duration, Instant)> {
    let mut guard = board_steps();
    loop {
        match guard.get(name)? {
            State::Done {
                outcome,
                took,
                ended,
            } => return Some((outcome.clone(), *took, *ended)),
            State::Queued | State::Running => {
                guard = board()
                    .changed
                    .wait(guard)
                    .unwrap_or_else(|e| e.into_inner());
            }
        }
    }
}

/// Waits for every lane to finish (so no background work outlives the run), then prints
/// each step that ran, in the order they started: how it ended and how long it took.
pub fn wait_all() {
    let lanes = std::mem::take(&mut *board().lanes.lock().unwrap_or_else(|e| e.into_inner()));
    if lanes.is_empty() {
        return;
    }
    for lane in lanes {
        let _ = lane.join();
    }
    let mut done: Vec<(&'static str, Result<String, String>, Duration, Instant)> = board_steps()
        .iter()
        .filter_map(|(name, state)| match state {
            State::Done {
                outcome,
                took,
                ended,
            } => Some((*name, outcome.clone(), *took, *ended)),
            State::Queued | State::Running => None,
        })
        .collect();
    done.sort_by_key(|(_, _, took, ended)| *ended - *took);
    println!("\nbackground steps");
    for (name, outcome, took, _) in done {
        let (result, note) = match outcome {
            Ok(note) => ("ok", note),
            Err(why) => ("FAILED", why),
        };
        println!("  {name:<16} {result:<6} {:>8}  {note}", duration(took));
    }
}

/// Sets the calling thread's nice value (on Linux it is per thread, and the processes the
/// thread starts inherit it). Best effort: on failure the lane runs at normal priority.
fn lower_priority(nice: i32) {
    // SAFETY: setpriority only changes the scheduling priority of the calling thread
    // (`who` 0); it reads and writes no memory of ours.
    unsafe {
        nix::libc::setpriority(nix::libc::PRIO_PROCESS, 0, nice.clamp(0, 19));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_step_never_started_is_not_waited_for() {
        assert!(wait("background-test-never-started").is_none());
    }

    #[test]
    fn steps_run_in_order_and_their_outcomes_are_kept() {
        let log = std::env::temp_dir().join(format!("xtask-bg-test-{}.log", std::process::id()));
        start_lane(
            "test",
            19,
            log.clone(),
            vec![
                Step::new("background-test-a", |log| {
                    log.run(Command::new("sh").args(["-c", "echo from a"]))?;
                    Ok("a done".into())
                }),
                Step::new("background-test-b", |_| Err("b broke".into())),
            ],
        )
        .unwrap();
        assert_eq!(wait("background-test-b"), Some(Err("b broke".into())));
        assert_eq!(wait("background-test-a"), Some(Ok("a done".into())));
        let text = std::fs::read_to_string(&log).unwrap();
        assert!(text.contains("$ sh -c echo from a\nfrom a\n"), "{text}");
        let _ = std::fs::remove_file(&log);
    }
}
