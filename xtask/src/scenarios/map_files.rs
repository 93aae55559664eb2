//! Map files under churn (issue 3): a reader that reads the map files as fast as it can
//! while nodes join and leave never sees a torn, partial or missing file, and a SIGKILL
//! of the writer leaves a complete map behind.

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use nix::sys::signal::Signal;

use super::{binaries_and_dir, step, Ctx, Scenario};
use crate::testbed::DaemonHosts;
use crate::testbed::{Binaries, Cluster, Membership};

/// Membership churns while a reader loop checks every version of the map it sees.
pub(super) const TORN_MAP: Scenario = Scenario {
    name: "map-never-torn",
    about: "a reader loop never sees a torn or missing map while membership churns",
    timeout: Duration::from_secs(120),
    needs_daemon: true,
    run: map_never_torn,
};

/// Join/leave cycles of each churning node.
const CYCLES: usize = 4;
/// Upper bound of one membership change becoming visible to the observer.
const CHANGE_WAIT: Duration = Duration::from_secs(6);
/// The reader stops after this even if the churn has not finished.
const READER_LIMIT: Duration = Duration::from_secs(90);

/// What the reader saw.
#[derive(Debug, Default)]
struct Seen {
    reads: u64,
    configs: HashSet<Vec<u8>>,
    mospes: HashSet<Vec<u8>>,
    missing: Vec<String>,
}

fn map_never_torn(ctx: &Ctx) -> Result<String, String> {
    let (binaries, dir) = binaries_and_dir(ctx)?;
    let mut cluster = Cluster::new(
        binaries,
        dir,
        [10, 77, 5],
        4,
        &["--interval", "0.5", "--dead-after", "3"],
    )?;
    for i in 0..cluster.len() {
        cluster.start(i)?;
    }
    let all = [0, 1, 2, 3];
    cluster.wait_for_maps(&all, &all, CHANGE_WAIT)?;

    let observer_dir = cluster.map_dir(0).to_path_buf();
    let stop = Arc::new(AtomicBool::new(false));
    let reader = {
        let stop = Arc::clone(&stop);
        let dir = observer_dir.clone();
        std::thread::spawn(move || read_until_stopped(&dir, &stop))
    };
    let churn = churn(&mut cluster);
    stop.store(true, Ordering::SeqCst);
    let seen = reader
        .join()
        .map_err(|_| "the reader thread panicked".to_string())?;
    churn?;
    step(
        &format!("{} reads, {} distinct maps", seen.reads, seen.configs.len()),
        Duration::ZERO,
    );

    if let Some(first) = seen.missing.first() {
        return Err(format!(
            "{} reads found a map file missing or unreadable, first: {first}",
            seen.missing.len()
        ));
    }
    if seen.configs.len() < 2 {
        return Err(format!(
            "the reader saw only {} version(s) of om_config during the churn",
            seen.configs.len()
        ));
    }
    if seen.mospes.len() != 1 {
        return Err(format!(
            "om_mospe had {} different contents; the own id never changes",
            seen.mospes.len()
        ));
    }
    let known = cluster.expected(&all);
    let snapshot = dir.join("snapshot-om_config");
    for config in &seen.configs {
        check_snapshot(binaries, &snapshot, config, &known, cluster.id(0))?;
    }

    // A SIGKILL at any moment leaves a complete map: kill the observer and read its map.
    cluster.signal(0, Signal::SIGKILL)?;
    cluster
        .wait_exit(0, Duration::from_secs(5))
        .ok_or("the SIGKILL'd daemon did not exit")?;
    let after_kill = cluster
        .map(0)
        .map_err(|why| format!("map after SIGKILL: {why}"))?;
    if !after_kill.contains(cluster.id(0)) {
        return Err(format!(
            "map after SIGKILL lacks its own node: {after_kill}"
        ));
    }
    Ok(format!(
        "{} reads, {} distinct maps, all complete",
        seen.reads,
        seen.configs.len()
    ))
}

/// Nodes 1..3 leave (SIGTERM) and rejoin in turn, each change awaited on the observer.
fn churn(cluster: &mut Cluster) -> Result<(), String> {
    let started = Instant::now();
    for _ in 0..CYCLES {
        for node in 1..cluster.len() {
            let others: Vec<usize> = (0..cluster.len()).filter(|&i| i != node).collect();
            cluster.signal(node, Signal::SIGTERM)?;
            cluster
                .wait_exit(node, Duration::from_secs(5))
                .ok_or("a SIGTERM'd daemon did not exit")?;
            cluster.wait_for_maps(&[0], &others, CHANGE_WAIT)?;
            cluster.start(node)?;
            let all: Vec<usize> = (0..cluster.len()).collect();
            cluster.wait_for_maps(&[0], &all, CHANGE_WAIT)?;
        }
    }
    step(
        &format!("{} leave/join cycles", CYCLES * (cluster.len() - 1)),
        started.elapsed(),
    );
    Ok(())
}

/// Reads `om_config` and `om_mospe` in a tight loop, keeping each distinct content.
fn read_until_stopped(dir: &Path, stop: &AtomicBool) -> Seen {
    let config = dir.join("om_config");
    let mospe = dir.join("om_mospe");
    let started = Instant::now();
    let mut seen = Seen::default();
    while !stop.load(Ordering::SeqCst) && started.elapsed() < READER_LIMIT {
        for (path, versions) in [(&config, &mut seen.configs), (&mospe, &mut seen.mospes)] {
            match std::fs::read(path) {
                Ok(bytes) => {
                    if !versions.contains(&bytes) {
                        versions.insert(bytes);
                    }
                }
                Err(e) => seen.missing.push(format!("{}: {e}", path.display())),
            }
        }
        seen.reads += 1;
    }
    seen
}

/// A version of the map must be one showmap accepts, listing only known nodes (with their
/// addresses) and always the observer itself.
fn check_snapshot(
    binaries: &Binaries,
    path: &PathBuf,
    bytes: &[u8],
    known: &Membership,
    own: u16,
) -> Result<(), String> {
    std::fs::write(path, bytes).map_err(|e| format!("cannot write {}: {e}", path.display()))?;
    let text = binaries
        .showmap(&["-f", &path.display().to_string()])
        .map_err(|why| {
            format!(
                "a version of om_config ({} bytes) seen by the reader is not a valid map: {why}",
                bytes.len()
            )
        })?;
    let map = Membership::parse(&text)?;
    let known = known.primaries();
    for (id, address) in map.primaries() {
        if known.get(&id) != Some(&address) {
            return Err(format!(
                "a version of the map lists an unknown node {id} ({address:?}): {map}"
            ));
        }
    }
    if !map.contains(own) {
        return Err(format!(
            "a version of the map lacks the observer itself: {map}"
        ));
    }
    Ok(())
}
