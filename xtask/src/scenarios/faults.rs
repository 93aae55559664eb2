//! Files and faults (issue 5).
//!
//! - `map-dir-faults`: the map directory (a 64 KiB tmpfs mounted on the node's own map
//!   directory, under the scenario's scratch directory) becomes read-only, later full. Each
//!   time the daemon logs one warning, keeps the last good map on disk, keeps running and
//!   serving the cluster, and writes the new map as soon as it can. A symlink planted at
//!   the map path of another node is replaced, not followed, and the map files are not
//!   writable by group or others.
//! - `sigkill-any-moment`: a node is killed with SIGKILL at 25 moments spread over its
//!   first 400 ms (start, first map, join answers, map rewrites); its map file is never
//!   torn, and a temporary file a kill left behind is removed at the next start.

use std::collections::HashSet;
use std::io::Write;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use nix::sys::signal::Signal;

use super::security::{FAST_ARGS, SETTLE};
use super::{binaries_and_dir, step, Ctx, Scenario};
use crate::testbed::DaemonHosts;
use crate::testbed::{run_bounded, wait_until, Cluster, Membership, Process, NODE_IF};

/// The map dir fails (read-only, then full) and recovers.
pub(super) const MAP_DIR_FAULTS: Scenario = Scenario {
    name: "map-dir-faults",
    about: "map dir read-only, then full: one warning each, last map kept, daemon runs on, writes again",
    timeout: Duration::from_secs(90),
    needs_daemon: true,
    run: map_dir_faults,
};

/// SIGKILL at many moments never leaves a torn map.
pub(super) const SIGKILL_ANY_MOMENT: Scenario = Scenario {
    name: "sigkill-any-moment",
    about: "25 SIGKILLs at moments spread over a node's first 400 ms never leave a torn map",
    timeout: Duration::from_secs(90),
    needs_daemon: true,
    run: sigkill_any_moment,
};

/// What the daemon logs when a map write fails (omdisc-std's map sink).
const WRITE_FAILED: &str = "keeping the last map written, will retry";
/// What it logs when writing works again.
const WRITTEN_AGAIN: &str = "map written again";
/// Size of the map dir's tmpfs.
const TMPFS_SIZE: &str = "64k";
/// Kill cycles of `sigkill-any-moment`.
const KILLS: u64 = 25;
/// The kills fall within this time after the start.
const KILL_WINDOW_MS: u64 = 400;

/// A tmpfs mounted on a directory of the scenario, unmounted on drop (also on failure).
struct TmpfsMount {
    path: PathBuf,
}

impl TmpfsMount {
    fn new(path: &Path) -> Result<TmpfsMount, String> {
        mount(&[
            "-t",
            "tmpfs",
            "-o",
            &format!("size={TMPFS_SIZE},mode=0755"),
            "omdisc-test",
            &path.display().to_string(),
        ])?;
        Ok(TmpfsMount {
            path: path.to_path_buf(),
        })
    }

    /// Remounts it read-only or read-write (the superblock: every mount namespace's copy
    /// of the mount, the daemon's included, follows).
    fn set_read_only(&self, read_only: bool) -> Result<(), String> {
        let mode = if read_only {
            "remount,ro"
        } else {
            "remount,rw"
        };
        mount(&["-o", mode, &self.path.display().to_string()])
    }
}

impl Drop for TmpfsMount {
    fn drop(&mut self) {
        let path = self.path.display().to_string();
        let unmounted = run_bounded(Command::new("umount").arg(&path), Duration::from_secs(10))
            .is_ok_and(|o| o.status.success());
        if !unmounted {
            let _ = run_bounded(
                Command::new("umount").args(["-l", &path]),
                Duration::from_secs(10),
            );
        }
    }
}

fn mount(args: &[&str]) -> Result<(), String> {
    let output = run_bounded(Command::new("mount").args(args), Duration::from_secs(10))?;
    if output.status.success() {
        Ok(())
    } else {
        Err(format!(
            "`mount {}` failed: {}",
            args.join(" "),
            String::from_utf8_lossy(&output.stderr).trim()
        ))
    }
}

/// How many lines of `output` contain `what`.
fn lines_with(output: &str, what: &str) -> usize {
    output.lines().filter(|l| l.contains(what)).count()
}

/// Waits until `daemon`'s output holds `count` lines with `what`.
fn wait_for_lines(daemon: &Process, what: &str, count: usize) -> Result<(), String> {
    wait_until(SETTLE, Duration::from_millis(25), || {
        lines_with(&daemon.output(), what) >= count
    })
    .map(drop)
    .map_err(|_| {
        format!(
            "{} did not log {what:?} ({count} times expected): {}",
            daemon.label(),
            crate::testbed::tail(&daemon.output(), 3)
        )
    })
}

/// Fails if `daemon` exited.
fn still_running(daemon: &mut Process) -> Result<(), String> {
    match daemon.try_exit() {
        None => Ok(()),
        Some(status) => Err(format!(
            "{} exited ({status}): {}",
            daemon.label(),
            crate::testbed::tail(&daemon.output(), 3)
        )),
    }
}

/// Fails unless host `i`'s map on disk lists exactly `hosts`.
fn map_on_disk_is(cluster: &Cluster, i: usize, hosts: &[usize], what: &str) -> Result<(), String> {
    let map = cluster.map(i)?;
    if map.primaries() != cluster.expected(hosts).primaries() {
        return Err(format!(
            "{what}: {}'s map on disk is {map}, not {}",
            cluster.label(i),
            cluster.expected(hosts)
        ));
    }
    Ok(())
}

/// Fills the file system of `dir` with `dir/filler` until it is full; the filler's path.
fn fill(dir: &Path) -> Result<PathBuf, String> {
    let path = dir.join("filler");
    let mut file = std::fs::File::create(&path)
        .map_err(|e| format!("cannot create {}: {e}", path.display()))?;
    let chunk = [0u8; 4096];
    // 64 KiB hold at most 16 chunks: the bound is generous.
    for _ in 0..1024 {
        if file
            .write_all(&chunk)
            .and_then(|()| file.sync_all())
            .is_err()
        {
            return Ok(path);
        }
    }
    Err(format!("{} never filled up", dir.display()))
}

fn map_dir_faults(ctx: &Ctx) -> Result<String, String> {
    let (binaries, dir) = binaries_and_dir(ctx)?;
    let mut cluster = Cluster::new(binaries, dir, [10, 77, 54], 3, FAST_ARGS)?;
    let (writer, planted, other) = (0, 1, 2);
    let tmpfs = TmpfsMount::new(cluster.map_dir(writer))?;

    // A symlink planted at another node's map paths, pointing at files it must not touch.
    let precious = dir.join("precious");
    std::fs::write(&precious, b"precious\n").map_err(|e| e.to_string())?;
    for name in ["om_config", "om_mospe"] {
        let link = cluster.map_dir(planted).join(name);
        let _ = std::fs::remove_file(&link);
        std::os::unix::fs::symlink(&precious, &link)
            .map_err(|e| format!("cannot plant {}: {e}", link.display()))?;
    }

    // The writer runs outside the cluster's defaults: its pid file (held open for writing)
    // must not be on the tmpfs, or the tmpfs could not be remounted read-only.
    let map_dir = cluster.map_dir(writer).display().to_string();
    let pid_file = dir.join("writer.pid").display().to_string();
    let args: Vec<String> = [
        "-n",
        "-i",
        NODE_IF,
        "--map-dir",
        &map_dir,
        "--pid-file",
        &pid_file,
    ]
    .iter()
    .chain(FAST_ARGS)
    .map(|s| s.to_string())
    .collect();
    let mut daemon = Process::spawn_in(
        cluster.namespace(writer),
        "n1 omdiscd",
        &binaries.omdiscd,
        &args,
        &dir.join("n1-writer.log"),
    )?;
    for i in [planted, other] {
        cluster.start(i)?;
    }
    let all = [writer, planted, other];
    cluster.wait_for_maps(&all, &all, SETTLE)?;
    check_map_files(cluster.map_dir(planted), &precious)?;
    check_map_files(cluster.map_dir(writer), &precious)?;
    step(
        "planted symlinks replaced, not followed; map files 0644",
        Duration::ZERO,
    );

    // Read-only: a membership change cannot be written.
    tmpfs.set_read_only(true)?;
    cluster.signal(other, Signal::SIGTERM)?;
    cluster.wait_for_maps(&[planted], &[writer, planted], SETTLE)?;
    wait_for_lines(&daemon, WRITE_FAILED, 1)?;
    // Several retries (every 0.5 s) go by; they must not log again.
    std::thread::sleep(Duration::from_millis(1500));
    still_running(&mut daemon)?;
    map_on_disk_is(&cluster, writer, &all, "map dir read-only")?;
    let warnings = lines_with(&daemon.output(), WRITE_FAILED);
    if warnings != 1 {
        return Err(format!(
            "{warnings} warnings about the read-only map dir (one expected)"
        ));
    }
    let line = daemon
        .output()
        .lines()
        .find(|l| l.contains(WRITE_FAILED))
        .unwrap_or_default()
        .to_string();
    step(
        &format!("read-only: one line ({})", line.trim()),
        Duration::ZERO,
    );
    tmpfs.set_read_only(false)?;
    let back = cluster.wait_for_maps(&[writer], &[writer, planted], SETTLE)?;
    wait_for_lines(&daemon, WRITTEN_AGAIN, 1)?;
    step("writable again: new map written", back);

    // Full: the next change cannot be written either.
    let filler = fill(cluster.map_dir(writer))?;
    cluster.start(other)?;
    cluster.wait_for_maps(&[planted], &all, SETTLE)?;
    wait_for_lines(&daemon, WRITE_FAILED, 2)?;
    std::thread::sleep(Duration::from_millis(1500));
    still_running(&mut daemon)?;
    map_on_disk_is(&cluster, writer, &[writer, planted], "map dir full")?;
    let warnings = lines_with(&daemon.output(), WRITE_FAILED);
    if warnings != 2 {
        return Err(format!(
            "{warnings} warnings after the map dir filled up (2 expected: one per failure)"
        ));
    }
    step("full: one more line, last map kept", Duration::ZERO);
    std::fs::remove_file(&filler).map_err(|e| e.to_string())?;
    let back = cluster.wait_for_maps(&[writer], &all, SETTLE)?;
    wait_for_lines(&daemon, WRITTEN_AGAIN, 2)?;
    step("space again: new map written", back);
    check_map_files(cluster.map_dir(writer), &precious)?;
    leftover_temporaries(cluster.map_dir(writer))
        .is_empty()
        .then_some(())
        .ok_or("temporary files left in the map dir")?;

    for i in [planted, other] {
        cluster.signal(i, Signal::SIGTERM)?;
        cluster.wait_exit(i, Duration::from_secs(5));
    }
    let status = daemon.stop(Duration::from_secs(5));
    if status.and_then(|s| s.code()) != Some(0) {
        return Err(format!("the writer ended with {status:?} on SIGTERM"));
    }
    drop(cluster);
    drop(tmpfs);
    Ok("read-only and full map dir: one warning each, last map kept, rewritten after".into())
}

/// The map files in `dir` are regular files with mode 0644, and `precious` is untouched.
fn check_map_files(dir: &Path, precious: &Path) -> Result<(), String> {
    if std::fs::read(precious).map_err(|e| e.to_string())? != b"precious\n" {
        return Err(format!(
            "{} was written through a symlink",
            precious.display()
        ));
    }
    for name in ["om_config", "om_mospe"] {
        let path = dir.join(name);
        let meta =
            std::fs::symlink_metadata(&path).map_err(|e| format!("{}: {e}", path.display()))?;
        if !meta.file_type().is_file() {
            return Err(format!("{} is not a regular file", path.display()));
        }
        let mode = meta.permissions().mode() & 0o777;
        if mode != 0o644 {
            return Err(format!("{} has mode {mode:o}, not 644", path.display()));
        }
    }
    Ok(())
}

/// Temporary map files (`.om_config.*.tmp`, `.om_mospe.*.tmp`) in `dir`.
fn leftover_temporaries(dir: &Path) -> Vec<String> {
    std::fs::read_dir(dir)
        .map(|entries| {
            entries
                .flatten()
                .filter_map(|e| e.file_name().into_string().ok())
                .filter(|n| n.starts_with(".om_") && n.ends_with(".tmp"))
                .collect()
        })
        .unwrap_or_default()
}

fn sigkill_any_moment(ctx: &Ctx) -> Result<String, String> {
    let (binaries, dir) = binaries_and_dir(ctx)?;
    let mut cluster = Cluster::new(binaries, dir, [10, 77, 55], 5, FAST_ARGS)?;
    let victim = 0;
    let others = [1, 2, 3, 4];
    for i in others {
        cluster.start(i)?;
    }
    cluster.wait_for_maps(&others, &others, SETTLE)?;
    let all = [0, 1, 2, 3, 4];
    let known = cluster.expected(&all);
    let map_dir = cluster.map_dir(victim).to_path_buf();
    let config = map_dir.join("om_config");
    let mut versions = HashSet::new();
    let mut leftovers = 0;
    let mut had_map = false;
    for k in 0..KILLS {
        cluster.start(victim)?;
        // Moments spread over the window, in an order that is not monotonic.
        let delay = (k * 167) % KILL_WINDOW_MS;
        std::thread::sleep(Duration::from_millis(delay));
        cluster.signal(victim, Signal::SIGKILL)?;
        cluster
            .wait_exit(victim, Duration::from_secs(5))
            .ok_or("a SIGKILL'd daemon did not exit")?;
        leftovers += usize::from(!leftover_temporaries(&map_dir).is_empty());
        if !config.exists() {
            if had_map {
                return Err(format!("kill {k} after {delay} ms: om_config is gone"));
            }
            continue;
        }
        had_map = true;
        let bytes = std::fs::read(&config).map_err(|e| e.to_string())?;
        let map = cluster
            .map(victim)
            .map_err(|why| format!("kill {k} after {delay} ms: {why}"))?;
        check_known(&map, &known, cluster.id(victim))
            .map_err(|why| format!("kill {k} after {delay} ms: {why}"))?;
        versions.insert(bytes);
    }
    if !had_map {
        return Err("no kill came late enough to find a map".into());
    }
    step(
        &format!(
            "{KILLS} kills: {} distinct complete maps seen, {leftovers} left a temporary file",
            versions.len()
        ),
        Duration::ZERO,
    );
    cluster.start(victim)?;
    cluster.wait_for_maps(&all, &all, SETTLE)?;
    // The running daemon may be between creating and renaming a temporary file right now;
    // a leftover is one that is still there a moment later under the same name.
    let first = leftover_temporaries(&map_dir);
    std::thread::sleep(Duration::from_millis(300));
    let remaining: Vec<String> = leftover_temporaries(&map_dir)
        .into_iter()
        .filter(|name| first.contains(name))
        .collect();
    if !remaining.is_empty() {
        return Err(format!("temporary files survived a restart: {remaining:?}"));
    }
    Ok(format!(
        "{KILLS} kills, {} distinct maps, all complete; {leftovers} temporary files, removed at the next start",
        versions.len()
    ))
}

/// A map after a kill: only known nodes with their addresses, and the node itself.
fn check_known(map: &Membership, known: &Membership, own: u16) -> Result<(), String> {
    let known = known.primaries();
    for (id, address) in map.primaries() {
        if known.get(&id) != Some(&address) {
            return Err(format!("map lists an unknown node {id}: {map}"));
        }
    }
    if !map.contains(own) {
        return Err(format!("map lacks the node itself: {map}"));
    }
    Ok(())
}
