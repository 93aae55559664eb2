//! `cargo xtask demo`: a real cluster in network namespaces. Six hosts on one bridge
//! (10.77.0.11-16/24); four start, two join late, one is stopped with SIGTERM. Every map
//! change is printed as it happens, each node's `showmap` output once the step converged,
//! and how long each step took. Everything is removed at the end or on Ctrl-C.

use std::collections::BTreeMap;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use nix::sys::signal::Signal;

use crate::args::Args;
use crate::project::Project;
use crate::report::{duration, Report};
use crate::testbed::DaemonHosts;
use crate::testbed::{self, registry, Binaries, Cluster};

/// Hosts in the demo.
const NODES: usize = 6;
/// Started first; the rest join late.
const FIRST: usize = 4;
/// The host stopped at the end.
const LEAVER: usize = 2;
/// Announce interval and expiry of the demo's daemons.
const DAEMON_ARGS: &[&str] = &["--interval", "0.5", "--dead-after", "3"];
/// A step that has not converged by then fails.
const STEP_LIMIT: Duration = Duration::from_secs(15);

/// Runs the demo.
pub fn run(project: &Project, mut args: Args) -> ExitCode {
    if args.flag("--help") || args.flag("-h") {
        println!("usage: cargo xtask demo   (as root: creates network namespaces)");
        return ExitCode::SUCCESS;
    }
    if let Err(why) = args.finish() {
        eprintln!("cargo xtask demo: {why}");
        return ExitCode::from(2);
    }
    if let Err(why) = testbed::require_root("cargo xtask demo") {
        eprintln!("{why} (e.g. sudo -E cargo xtask demo)");
        return ExitCode::FAILURE;
    }
    registry::install_signal_cleanup();
    registry::sweep_stale_namespaces();
    let mut report = Report::new("cargo xtask demo", true);
    let mut binaries = None;
    report.stage("build omdiscd and showmap (release)", || {
        let built = Binaries::build(project)?;
        let note = format!("{}", built.omdiscd.display());
        binaries = Some(built);
        Ok(note)
    });
    let Some(binaries) = binaries else {
        return report.finish();
    };
    let mut cluster = None;
    report.stage("create 6 hosts on a bridge, 10.77.0.11-16/24", || {
        let dir = project.scratch_dir("demo")?;
        cluster = Some(Cluster::new(
            &binaries,
            &dir,
            [10, 77, 0],
            NODES,
            DAEMON_ARGS,
        )?);
        Ok(format!("logs and maps under {}", dir.display()))
    });
    let Some(mut cluster) = cluster else {
        return report.finish();
    };
    let first: Vec<usize> = (0..FIRST).collect();
    let all: Vec<usize> = (0..NODES).collect();
    let rest: Vec<usize> = all.iter().copied().filter(|&i| i != LEAVER).collect();

    report.stage("start n1-n4, until all 4 maps list 4 nodes", || {
        first.iter().try_for_each(|&i| cluster.start(i))?;
        converge(&mut cluster, &first, &first)
    });
    report.stage("start n5 and n6 late, until all 6 maps list 6", || {
        (FIRST..NODES).try_for_each(|i| cluster.start(i))?;
        converge(&mut cluster, &all, &all)
    });
    report.stage("SIGTERM n3, until the other 5 maps list 5", || {
        cluster.signal(LEAVER, Signal::SIGTERM)?;
        let note = converge(&mut cluster, &rest, &rest)?;
        match cluster.wait_exit(LEAVER, Duration::from_secs(5)) {
            Some(status) => Ok(format!("{note}; n3 exited: {status}")),
            None => Err("n3 did not exit within 5 s of SIGTERM".into()),
        }
    });
    report.stage("stop the daemons, remove the namespaces", || {
        drop(cluster);
        let left = testbed::leftover_namespaces()?;
        if left.is_empty() {
            Ok("nothing left in ip netns list".into())
        } else {
            Err(format!("still listed: {left:?}"))
        }
    });
    report.finish()
}

/// Prints every map change of `observers` until each lists exactly `members`; then prints
/// each observer's `showmap` output. Returns how long it took.
fn converge(
    cluster: &mut Cluster,
    observers: &[usize],
    members: &[usize],
) -> Result<String, String> {
    let started = Instant::now();
    let expected = cluster.expected(members).primaries();
    let mut last: BTreeMap<usize, String> = BTreeMap::new();
    loop {
        cluster.check_running(observers)?;
        let mut done = true;
        for &o in observers {
            let now = match cluster.map(o) {
                Ok(map) => {
                    done &= map.primaries() == expected;
                    format!("{} node(s): {:?}", map.len(), map.ids())
                }
                Err(_) => {
                    done = false;
                    "no map yet".to_string()
                }
            };
            if last.get(&o) != Some(&now) {
                println!(
                    "  +{:>6}  {} {now}",
                    duration(started.elapsed()),
                    cluster.label(o)
                );
                last.insert(o, now);
            }
        }
        if done {
            break;
        }
        if started.elapsed() > STEP_LIMIT {
            return Err(format!(
                "not converged after {STEP_LIMIT:?}: {}",
                cluster.describe_maps(observers)
            ));
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let took = started.elapsed();
    for &o in observers {
        println!(
            "\n  showmap --map-dir {}   ({} in {})",
            cluster.map_dir(o).display(),
            cluster.label(o),
            cluster.namespace(o)
        );
        for line in cluster.map_text(o)?.lines() {
            println!("    {line}");
        }
    }
    Ok(format!("converged in {}", duration(took)))
}
