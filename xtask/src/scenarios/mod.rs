//! Namespace scenarios: plain functions, registered in [`SCENARIOS`], run one after another
//! by `cargo xtask test` (stage `scenarios`) or picked by name with `cargo xtask scenario`.
//! Each runs on its own thread with a timeout; on timeout everything it created is removed
//! through the testbed registry. After each one, none of its namespaces may remain.

mod bad_input;
mod boot_image;
mod booted_image;
mod collision;
mod daemon;
mod debian_service;
mod faults;
mod flood;
mod gateways;
mod hooks;
mod hostile;
mod ipv6;
mod key_roll;
mod living_gateway;
mod living_network;
mod lossy_links;
mod map_files;
mod map_watch;
mod membership;
mod no_relay;
mod packet_capture;
mod probe_scale;
mod prometheus;
mod replay;
mod routed;
mod routed_ipv6;
mod security;
mod smoltcp_bad_input;
mod smoltcp_burst;
mod smoltcp_interop;
mod smoltcp_ipv6;
mod smoltcp_key;
mod smoltcp_probes;
mod testbed_selftest;
mod unicast;
mod unicast_ipv6;
mod unicast_keyed;
mod unicast_nat;
mod unicast_no_route;
mod unicast_peers_file;
mod unicast_seed_down;
mod unicast_setup;
mod wire_tools;
mod wire_vectors;

pub(crate) use debian_service::{prepare_root as prepare_debian_root, TOOLS as DEBIAN_TOOLS};

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::mpsc;
use std::time::{Duration, Instant};

use crate::args::Args;
use crate::project::Project;
use crate::report::{duration, panic_text};
use crate::testbed::{self, registry, Binaries};

/// Sets the window of the scenarios that run for a while (soak tests such as `lossy-links`)
/// in whole seconds, whoever runs them.
pub const SOAK_SECS_VAR: &str = "OMDISC_SOAK_SECS";

/// How long the scenarios that run for a window run it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Soak {
    /// The window the issue names (`cargo xtask scenario NAME`).
    Full,
    /// A shorter one, so `cargo xtask test` (and any run with `CI=true`) stays fast.
    Short,
}

impl Soak {
    /// `Short` in `cargo xtask test`, or anywhere with `CI=true`; `Full` otherwise.
    fn for_run(in_test_stage: bool) -> Soak {
        let ci = std::env::var("CI").is_ok_and(|v| v == "true" || v == "1");
        if in_test_stage || ci {
            Soak::Short
        } else {
            Soak::Full
        }
    }
}

/// What a scenario gets: a directory of its own and the release binaries.
#[derive(Debug, Clone)]
pub struct Ctx {
    /// Scratch directory for logs and map directories (kept after the run for inspection).
    pub dir: PathBuf,
    binaries: Result<Binaries, String>,
    /// Full or short soak windows.
    pub soak: Soak,
}

impl Ctx {
    /// The window of a soak scenario: [`SOAK_SECS_VAR`] seconds if set, else `full` or
    /// `short` as [`Ctx::soak`] says. A set but bad value is an error.
    pub fn soak_window(&self, full: Duration, short: Duration) -> Result<Duration, String> {
        match std::env::var(SOAK_SECS_VAR) {
            Ok(text) => match text.parse::<u64>() {
                Ok(secs) if secs > 0 => Ok(Duration::from_secs(secs)),
                _ => Err(format!(
                    "{SOAK_SECS_VAR}={text:?}: expected a whole number of seconds, at least 1"
                )),
            },
            Err(_) => Ok(match self.soak {
                Soak::Full => full,
                Soak::Short => short,
            }),
        }
    }

    /// `omdiscd` and `showmap`, or why they could not be built.
    pub fn binaries(&self) -> Result<&Binaries, String> {
        self.binaries
            .as_ref()
            .map_err(|why| format!("omdisc-std binaries unavailable: {why}"))
    }
}

/// The binaries and the scenario's directory, or why the binaries are missing.
pub(crate) fn binaries_and_dir(ctx: &Ctx) -> Result<(&Binaries, &Path), String> {
    Ok((ctx.binaries()?, &ctx.dir))
}

/// Prints one timed step of a scenario.
pub(crate) fn step(what: &str, took: Duration) {
    if took.is_zero() {
        println!("    {what}");
    } else {
        println!("    {what}: {}", duration(took));
    }
}

/// Prints the timed step `what` (it took `took`) and fails if that is more than `bound`.
pub(crate) fn step_within(what: &str, took: Duration, bound: Duration) -> Result<(), String> {
    step(what, took);
    if took > bound {
        return Err(format!(
            "{what}: {:.2}s (bound {bound:?})",
            took.as_secs_f64()
        ));
    }
    Ok(())
}

/// One scenario.
pub struct Scenario {
    /// Name used on the command line.
    pub name: &'static str,
    /// What it shows, one line.
    pub about: &'static str,
    /// After this it fails and its namespaces and processes are removed.
    pub timeout: Duration,
    /// Whether it runs `omdiscd`/`showmap` (they are built first if any selected one does).
    pub needs_daemon: bool,
    /// The scenario: `Ok` with a short note of what it measured, or `Err` saying what failed.
    pub run: fn(&Ctx) -> Result<String, String>,
}

/// Every scenario, in the order they run.
pub const SCENARIOS: &[Scenario] = &[
    testbed_selftest::PING,
    testbed_selftest::PROCESS_GUARD,
    membership::CONVERGE_8,
    membership::SIGTERM_LEAVES,
    membership::SIGKILL_EXPIRES,
    membership::RESTART_REJOINS,
    bad_input::BAD_INPUT,
    map_files::TORN_MAP,
    security::KEYED_MEMBERSHIP,
    replay::REPLAY_AFTER_LEAVE,
    wire_vectors::WIRE_VECTORS_DAEMON,
    key_roll::KEY_ROLL,
    flood::FLOOD,
    faults::MAP_DIR_FAULTS,
    faults::SIGKILL_ANY_MOMENT,
    daemon::DAEMON_MODE,
    daemon::SIGUSR1_DEBUG,
    daemon::IDLE_QUIET,
    living_network::ADDRESS_CHANGE,
    living_network::ADDRESS_CHANGE_FIXED_ID,
    living_network::STARTED_BEFORE_ADDRESS,
    living_network::INTERFACE_RECREATED,
    living_network::LINK_DOWN_UP,
    living_network::ADDRESS_REMOVED_RETURNED,
    living_network::FLAP_STORM,
    living_gateway::GATEWAY_LEG_GONE,
    lossy_links::LOSSY_LINKS,
    gateways::GATEWAY_RELAY,
    gateways::GATEWAY_SIX_LEGS,
    gateways::GATEWAY_REDUNDANT,
    gateways::GATEWAY_RING,
    routed::ROUTED_TTL,
    routed_ipv6::ROUTED_IPV6,
    ipv6::IPV6_SEGMENTS,
    collision::COLLISION_ACROSS,
    no_relay::NO_RELAY,
    unicast::UNICAST_CHAIN,
    unicast::UNICAST_ROUTED,
    unicast::UNICAST_MIXED,
    unicast::UNICAST_LEAVE,
    unicast_ipv6::UNICAST_IPV6,
    unicast_no_route::UNICAST_NO_ROUTE,
    unicast_keyed::UNICAST_KEYED,
    unicast_peers_file::UNICAST_PEERS_FILE,
    unicast_seed_down::UNICAST_SEED_DOWN,
    unicast_nat::UNICAST_NAT,
    probe_scale::PROBE_30,
    hooks::HOOK_EVENTS,
    hooks::HOOK_MISBEHAVING,
    prometheus::METRICS_PROMETHEUS,
    smoltcp_interop::SMOLTCP_INTEROP,
    smoltcp_interop::SMOLTCP_EXPIRES_LINUX,
    smoltcp_probes::SMOLTCP_PROBES,
    smoltcp_key::SMOLTCP_KEY,
    smoltcp_burst::SMOLTCP_BURST,
    smoltcp_ipv6::SMOLTCP_IPV6,
    smoltcp_bad_input::SMOLTCP_BAD_INPUT,
    boot_image::BOOT_IMAGE,
    boot_image::BOOT_IMAGE_KEY,
    boot_image::MCU_IMAGE,
    boot_image::MCU_IMAGE_KEY,
    debian_service::DEBIAN_SERVICE,
];

/// `cargo xtask scenario [--list] NAME...`.
pub fn run(project: &Project, mut args: Args) -> ExitCode {
    if args.flag("--help") || args.flag("-h") {
        println!("usage: cargo xtask scenario --list | cargo xtask scenario NAME... | cargo xtask scenario --all");
        return ExitCode::SUCCESS;
    }
    if args.flag("--list") {
        for s in SCENARIOS {
            println!(
                "{:<24} {} (timeout {}s)",
                s.name,
                s.about,
                s.timeout.as_secs()
            );
        }
        return ExitCode::SUCCESS;
    }
    let all = args.flag("--all");
    let names = args.positionals();
    if let Err(why) = args.finish() {
        eprintln!("cargo xtask scenario: {why}");
        return ExitCode::from(2);
    }
    let mut picked = Vec::new();
    for name in &names {
        match SCENARIOS.iter().find(|s| s.name == name) {
            Some(s) => picked.push(s),
            None => {
                eprintln!("cargo xtask scenario: unknown scenario `{name}` (see --list)");
                return ExitCode::from(2);
            }
        }
    }
    if all {
        picked = SCENARIOS.iter().collect();
    }
    if picked.is_empty() {
        eprintln!("cargo xtask scenario: name one or more scenarios, or --all (see --list)");
        return ExitCode::from(2);
    }
    match run_scenarios(project, &picked, Soak::for_run(false)) {
        Ok(_) => ExitCode::SUCCESS,
        Err(why) => {
            eprintln!("cargo xtask scenario: {why}");
            ExitCode::FAILURE
        }
    }
}

/// Name prefixes of scenario groups that `cargo xtask test` runs as stages of their own
/// (see [`group_stage`]); the `scenarios` stage runs all the others.
pub const OWN_STAGE_PREFIXES: &[&str] = &["boot-image", "mcu-image", "smoltcp", "debian"];

/// The `scenarios` stage of `cargo xtask test`: every scenario not in an own-stage group.
pub fn stage(project: &Project) -> Result<String, String> {
    let picked: Vec<&'static Scenario> = SCENARIOS
        .iter()
        .filter(|s| !OWN_STAGE_PREFIXES.iter().any(|p| s.name.starts_with(p)))
        .collect();
    run_scenarios(project, &picked, Soak::for_run(true))
}

/// A stage that runs the scenarios whose name starts with `prefix`; fails if there are none.
pub fn group_stage(project: &Project, prefix: &str) -> Result<String, String> {
    let picked: Vec<&'static Scenario> = SCENARIOS
        .iter()
        .filter(|s| s.name.starts_with(prefix))
        .collect();
    if picked.is_empty() {
        return Err(format!("no scenario is named {prefix}*"));
    }
    run_scenarios(project, &picked, Soak::for_run(true))
}

/// Runs `picked` in order, with `soak` windows, printing each result and a table; fails if
/// any failed.
pub fn run_scenarios(
    project: &Project,
    picked: &[&'static Scenario],
    soak: Soak,
) -> Result<String, String> {
    testbed::require_root("the namespace scenarios")?;
    registry::install_signal_cleanup();
    for stale in registry::sweep_stale_namespaces() {
        println!("removed namespace {stale} left by an earlier, killed run");
    }
    let binaries = if picked.iter().any(|s| s.needs_daemon) {
        Binaries::build(project)
    } else {
        Err("not built (no selected scenario needs them)".to_string())
    };
    let base = project.scratch_dir("scenarios")?;
    let mut results = Vec::new();
    for scenario in picked {
        let dir = base.join(scenario.name);
        std::fs::create_dir_all(&dir)
            .map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
        let ctx = Ctx {
            dir,
            binaries: binaries.clone(),
            soak,
        };
        println!("\n--- scenario {}: {}", scenario.name, scenario.about);
        let started = Instant::now();
        let outcome = run_one(scenario, ctx).and_then(|note| no_leftovers().map(|()| note));
        let took = started.elapsed();
        match &outcome {
            Ok(note) => println!("--- {}: ok in {}  {note}", scenario.name, duration(took)),
            Err(why) => println!("--- {}: FAILED in {}: {why}", scenario.name, duration(took)),
        }
        results.push((scenario.name, outcome, took));
    }
    println!("\nscenario results (logs under {}):", base.display());
    for (name, outcome, took) in &results {
        let result = if outcome.is_ok() { "ok" } else { "FAILED" };
        println!("  {name:<24} {result:<6} {:>8}", duration(*took));
    }
    let failed: Vec<&str> = results
        .iter()
        .filter(|r| r.1.is_err())
        .map(|r| r.0)
        .collect();
    let passed = results.len() - failed.len();
    println!("scenarios: {passed} passed, {} failed", failed.len());
    if failed.is_empty() {
        Ok(format!("{passed} scenarios passed"))
    } else {
        Err(format!(
            "{} of {} scenarios failed: {}",
            failed.len(),
            results.len(),
            failed.join(", ")
        ))
    }
}

/// Runs one scenario on its own thread, bounded by its timeout.
fn run_one(scenario: &'static Scenario, ctx: Ctx) -> Result<String, String> {
    let (sender, receiver) = mpsc::channel();
    let spawned = std::thread::Builder::new()
        .name(scenario.name.to_string())
        .spawn(move || {
            let outcome = std::panic::catch_unwind(|| (scenario.run)(&ctx))
                .unwrap_or_else(|panic| Err(format!("panicked: {}", panic_text(panic.as_ref()))));
            let _ = sender.send(outcome);
        });
    if let Err(e) = spawned {
        return Err(format!("cannot start a thread: {e}"));
    }
    match receiver.recv_timeout(scenario.timeout) {
        Ok(outcome) => outcome,
        Err(_) => {
            let (processes, namespaces) = registry::cleanup_all(Duration::from_secs(1));
            // Its guards now fail fast; give the thread a moment to unwind.
            let _ = receiver.recv_timeout(Duration::from_secs(10));
            Err(format!(
                "timed out after {}s (ended {processes} processes, deleted {namespaces} namespaces)",
                scenario.timeout.as_secs()
            ))
        }
    }
}

/// Fails (and cleans up) if namespaces or processes of this run are still around.
pub fn no_leftovers() -> Result<(), String> {
    let namespaces = testbed::leftover_namespaces()?;
    let pids = registry::lock().pids();
    if namespaces.is_empty() && pids.is_empty() {
        return Ok(());
    }
    registry::cleanup_all(Duration::from_secs(1));
    Err(format!(
        "left behind: namespaces {namespaces:?}, processes {pids:?} (now removed)"
    ))
}
