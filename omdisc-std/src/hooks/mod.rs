//! `--hook PATH`: run an executable on every membership event, safely.
//!
//! - [`event`]: the engine's events as hook events (`argv[1]`, `OMDISC_*` environment) and
//!   the job of one run, with the map after the event as `showmap --json` prints it;
//! - [`queue`]: the bounded queue of events waiting for the hook, which collapses into one
//!   `sync` when full;
//! - [`runner`]: one hook process at a time, never waited for.
//!
//! What a hook may rely on: runs come one at a time, in event order; every event is
//! either delivered or covered by a later `sync` with the whole map; the hook runs
//! directly (never through a shell) as the daemon's user, with an environment of its own
//! (`PATH` and the `OMDISC_*` variables), in `/`, in a process group of its own that is
//! killed (SIGKILL) after `--hook-timeout`. Peer-supplied data reaches it only as validated
//! ids and addresses, in the environment and in the JSON on stdin.

pub mod event;
pub mod queue;
pub mod runner;

pub use event::{HookJob, HookKind, MapView};
pub use runner::{HookRunner, RunOutcome};
