//! [`Container`]: a throwaway Debian booted with systemd as PID 1 (`systemd-nspawn --boot`)
//! inside a network namespace the test made, driven with `nsenter`.
//!
//! It works on a host whose PID 1 is not systemd (no `machinectl`, no `systemctl -M`):
//!
//! - the root is shared read-only, every container writes to its own tmpfs overlay
//!   (`--volatile=overlay`), so a container leaves nothing behind;
//! - its only network is the namespace given (`--network-namespace-path`): the veth the
//!   test attached to its bridge, never the host's interfaces;
//! - each `systemd-nspawn` starts in cgroups of its own (in every mounted hierarchy:
//!   `unified` and the named `systemd` one on a hybrid host), or two containers collide;
//! - it is ready once its PID 1 is `systemd` and `/run/systemd/private` exists, after which
//!   `systemctl is-system-running --wait` can be asked;
//! - commands run in all its namespaces with `nsenter -t PID1 -a`;
//! - it stops with SIGRTMIN+3 to its PID 1 (a killed nspawn would orphan the container);
//!   whatever is left in its cgroups is killed, and the cgroups are removed.
//!
//! Cgroups are named like namespaces (`omdt-PID-N-LABEL`), so those of a killed earlier run
//! are found and removed by [`sweep_stale_cgroups`].

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;

use super::exec::run_bounded;
use super::netns::{Netns, NETNS_PREFIX};
use super::process::Process;
use super::registry;
use super::wait::wait_until;

/// Longest a container may take to start systemd.
const BOOT_TIMEOUT: Duration = Duration::from_secs(60);
/// Longest an orderly shutdown may take before the container is killed.
const SHUTDOWN_TIMEOUT: Duration = Duration::from_secs(20);
/// `PATH` of commands run inside.
const INSIDE_PATH: &str = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";
/// Cgroup hierarchies an nspawn launcher gets a cgroup of its own in, when mounted.
const CGROUP_HIERARCHIES: &[&str] = &["/sys/fs/cgroup/unified", "/sys/fs/cgroup/systemd"];
/// The root of a host with only the unified hierarchy.
const CGROUP_ROOT: &str = "/sys/fs/cgroup";

/// Distinguishes containers created by this process.
static NEXT: AtomicU32 = AtomicU32::new(1);

/// A booted system container. Dropping it shuts it down (see the module docs).
#[derive(Debug)]
pub struct Container {
    name: String,
    nspawn: Process,
    init_pid: i32,
    cgroups: Vec<PathBuf>,
}

impl Container {
    /// Boots `root` in namespace `netns`, with `binds` (host path, container path) mounted
    /// read-only; the console goes to `log`. Returns once systemd runs as its PID 1 and
    /// listens on its private socket (use [`Container::wait_running`] for the boot to end).
    pub fn boot(
        root: &Path,
        netns: &Netns,
        label: &str,
        binds: &[(&Path, &str)],
        log: &Path,
    ) -> Result<Container, String> {
        let name = format!(
            "{NETNS_PREFIX}{}-{}-{label}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        );
        let cgroups = create_cgroups(&name)?;
        let mut command = Command::new("sh");
        command.arg("-c").arg(launcher_script(&cgroups)).arg("sh");
        command
            .arg("systemd-nspawn")
            .arg("--directory")
            .arg(root)
            .args([
                "--volatile=overlay",
                "--boot",
                "--register=no",
                "--keep-unit",
            ])
            .arg(format!(
                "--network-namespace-path=/run/netns/{}",
                netns.name()
            ))
            .arg(format!("--machine={name}"));
        for (host, inside) in binds {
            command.arg(format!("--bind-ro={}:{inside}", host.display()));
        }
        let nspawn = match Process::spawn(command, &format!("{label} systemd-nspawn"), log) {
            Ok(nspawn) => nspawn,
            Err(why) => {
                remove_cgroups(&cgroups);
                return Err(why);
            }
        };
        let mut container = Container {
            name,
            nspawn,
            init_pid: 0,
            cgroups,
        };
        container.init_pid = container.wait_for_systemd()?;
        Ok(container)
    }

    /// The machine name (also its hostname and its cgroups' name).
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The PID of its systemd, as the host sees it.
    pub fn init_pid(&self) -> i32 {
        self.init_pid
    }

    /// Waits for PID 1 of the container to be `systemd` with its private socket.
    fn wait_for_systemd(&mut self) -> Result<i32, String> {
        let mut init = None;
        let found = wait_until(BOOT_TIMEOUT, Duration::from_millis(20), || {
            if self.nspawn.try_exit().is_some() {
                return true;
            }
            init = children(self.nspawn.pid())
                .into_iter()
                .find(|&pid| comm(pid).as_deref() == Some("systemd"))
                .filter(|&pid| {
                    Path::new(&format!("/proc/{pid}/root/run/systemd/private")).exists()
                });
            init.is_some()
        });
        match (init, found) {
            (Some(pid), Ok(_)) => Ok(pid),
            _ => Err(format!(
                "{}: systemd did not start as PID 1 within {}s: {}",
                self.name,
                BOOT_TIMEOUT.as_secs(),
                super::tail(&self.nspawn.output(), 5)
            )),
        }
    }

    /// `systemctl is-system-running --wait`: the boot is over. Fails unless the state is
    /// `running` or `degraded` (then naming the failed units); returns the state.
    pub fn wait_running(&self) -> Result<String, String> {
        let output = self.exec_for("systemctl is-system-running --wait", BOOT_TIMEOUT)?;
        let state = String::from_utf8_lossy(&output.stdout).trim().to_string();
        match state.as_str() {
            "running" => Ok(state),
            "degraded" => {
                let failed = self.sh("systemctl --failed --no-legend --plain")?;
                println!(
                    "    {}: degraded; failed units: {}",
                    self.name,
                    failed.trim()
                );
                Ok(state)
            }
            _ => Err(format!("{}: system state {state:?} after boot", self.name)),
        }
    }

    /// Runs `script` with `sh -c` in all the container's namespaces, with a clean
    /// environment, within `timeout`; its output, whatever its exit status.
    pub fn exec_for(&self, script: &str, timeout: Duration) -> Result<Output, String> {
        let mut command = Command::new("nsenter");
        command
            .args(["-t", &self.init_pid.to_string(), "-a"])
            .args(["env", "-i", INSIDE_PATH, "LANG=C.UTF-8"])
            .arg("DEBIAN_FRONTEND=noninteractive")
            .args(["sh", "-c", script]);
        run_bounded(&mut command, timeout)
    }

    /// Runs `script` (see [`Container::exec_for`]) within [`super::COMMAND_TIMEOUT`];
    /// its output, whatever its exit status.
    pub fn exec(&self, script: &str) -> Result<Output, String> {
        self.exec_for(script, super::COMMAND_TIMEOUT)
    }

    /// Runs `script`, which must succeed; its standard output.
    pub fn sh(&self, script: &str) -> Result<String, String> {
        let output = self.exec(script)?;
        if output.status.success() {
            Ok(String::from_utf8_lossy(&output.stdout).into_owned())
        } else {
            Err(format!(
                "{}: `{script}` failed ({}): {}{}",
                self.name,
                output.status,
                String::from_utf8_lossy(&output.stdout).trim(),
                String::from_utf8_lossy(&output.stderr).trim()
            ))
        }
    }

    /// Shuts the container down in order (SIGRTMIN+3 to its systemd); how long it took.
    pub fn shutdown(mut self) -> Result<Duration, String> {
        let started = Instant::now();
        let orderly = self.stop();
        let took = started.elapsed();
        if orderly {
            Ok(took)
        } else {
            Err(format!(
                "{} did not shut down within {}s and was killed",
                self.name,
                SHUTDOWN_TIMEOUT.as_secs()
            ))
        }
    }

    /// Stops the container; true if it shut down in order. Kills what is left in its
    /// cgroups and removes them either way.
    fn stop(&mut self) -> bool {
        let mut orderly = true;
        if self.nspawn.try_exit().is_none() {
            // Only while it is still nspawn's child systemd (never a reused PID).
            if children(self.nspawn.pid()).contains(&self.init_pid)
                && comm(self.init_pid).as_deref() == Some("systemd")
            {
                // SIGRTMIN+3 asks systemd to power off. nix's `Signal` has no real-time
                // signals, so this one call goes to libc (through nix's re-export).
                // SAFETY: kill has no memory-safety preconditions.
                unsafe { nix::libc::kill(self.init_pid, nix::libc::SIGRTMIN() + 3) };
            }
            orderly = self.nspawn.wait_exit(SHUTDOWN_TIMEOUT).is_some();
            if !orderly {
                self.nspawn.stop(Duration::from_secs(1));
            }
        }
        kill_cgroups(&self.cgroups);
        remove_cgroups(&self.cgroups);
        let _ = std::fs::remove_dir_all(format!("/run/systemd/nspawn/propagate/{}", self.name));
        orderly
    }
}

impl Drop for Container {
    fn drop(&mut self) {
        self.stop();
    }
}

/// `sh -c` script that moves the shell into each cgroup, then execs its arguments.
fn launcher_script(cgroups: &[PathBuf]) -> String {
    let mut script: String = cgroups
        .iter()
        .map(|c| format!("echo $$ > {}/cgroup.procs && ", c.display()))
        .collect();
    script.push_str("exec \"$@\"");
    script
}

/// The hierarchies a launcher needs a cgroup in: `unified` and `systemd` on a hybrid host,
/// the root on a unified-only one.
fn cgroup_hierarchies() -> Vec<PathBuf> {
    let mounted: Vec<PathBuf> = CGROUP_HIERARCHIES
        .iter()
        .map(PathBuf::from)
        .filter(|h| h.join("cgroup.procs").is_file())
        .collect();
    if mounted.is_empty() {
        vec![PathBuf::from(CGROUP_ROOT)]
    } else {
        mounted
    }
}

fn create_cgroups(name: &str) -> Result<Vec<PathBuf>, String> {
    let mut created = Vec::new();
    for hierarchy in cgroup_hierarchies() {
        let cgroup = hierarchy.join(name);
        if let Err(e) = std::fs::create_dir(&cgroup) {
            remove_cgroups(&created);
            return Err(format!("cannot create cgroup {}: {e}", cgroup.display()));
        }
        created.push(cgroup);
    }
    Ok(created)
}

/// Kills every process left in `cgroups` (`cgroup.kill` where the kernel has it).
fn kill_cgroups(cgroups: &[PathBuf]) {
    for cgroup in cgroups {
        if std::fs::write(cgroup.join("cgroup.kill"), "1").is_ok() {
            continue;
        }
        for dir in subtree(cgroup) {
            let procs = std::fs::read_to_string(dir.join("cgroup.procs")).unwrap_or_default();
            for pid in procs.lines().filter_map(|l| l.trim().parse::<i32>().ok()) {
                // The PID is in our cgroup.
                let _ = kill(Pid::from_raw(pid), Signal::SIGKILL);
            }
        }
    }
}

/// Removes `cgroups` and the cgroups systemd made below them, deepest first, once empty.
fn remove_cgroups(cgroups: &[PathBuf]) {
    for cgroup in cgroups {
        let mut dirs = subtree(cgroup);
        dirs.reverse();
        for dir in dirs {
            let _ = wait_until(Duration::from_secs(2), Duration::from_millis(20), || {
                std::fs::remove_dir(&dir).is_ok() || !dir.exists()
            });
        }
    }
}

/// `cgroup` and every cgroup below it, parents before children.
fn subtree(cgroup: &Path) -> Vec<PathBuf> {
    let mut dirs = vec![cgroup.to_path_buf()];
    let mut next = 0;
    while let Some(dir) = dirs.get(next).cloned() {
        next += 1;
        if let Ok(entries) = std::fs::read_dir(&dir) {
            dirs.extend(
                entries
                    .flatten()
                    .filter(|e| e.file_type().is_ok_and(|t| t.is_dir()))
                    .map(|e| e.path()),
            );
        }
    }
    dirs
}

/// Removes the cgroups of containers whose xtask run no longer exists (killed outright),
/// killing what is left in them. Returns their names.
pub fn sweep_stale_cgroups() -> Vec<String> {
    let mut stale = Vec::new();
    for hierarchy in cgroup_hierarchies() {
        let Ok(entries) = std::fs::read_dir(&hierarchy) else {
            continue;
        };
        for entry in entries.flatten() {
            let name = entry.file_name().to_string_lossy().into_owned();
            let owner_gone = registry::owner_pid(&name)
                .is_some_and(|pid| !Path::new(&format!("/proc/{pid}")).exists());
            if owner_gone {
                let cgroup = [entry.path()];
                kill_cgroups(&cgroup);
                remove_cgroups(&cgroup);
                if !stale.contains(&name) {
                    stale.push(name);
                }
            }
        }
    }
    stale
}

/// The children of `pid` (all its threads').
fn children(pid: i32) -> Vec<i32> {
    let Ok(tasks) = std::fs::read_dir(format!("/proc/{pid}/task")) else {
        return Vec::new();
    };
    tasks
        .flatten()
        .filter_map(|task| std::fs::read_to_string(task.path().join("children")).ok())
        .flat_map(|text| {
            text.split_whitespace()
                .filter_map(|p| p.parse().ok())
                .collect::<Vec<i32>>()
        })
        .collect()
}

/// The command name of `pid`.
fn comm(pid: i32) -> Option<String> {
    std::fs::read_to_string(format!("/proc/{pid}/comm"))
        .ok()
        .map(|c| c.trim().to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_launcher_joins_every_cgroup_then_execs() {
        let script = launcher_script(&[
            PathBuf::from("/sys/fs/cgroup/unified/omdt-1-1-a"),
            PathBuf::from("/sys/fs/cgroup/systemd/omdt-1-1-a"),
        ]);
        assert_eq!(
            script,
            "echo $$ > /sys/fs/cgroup/unified/omdt-1-1-a/cgroup.procs && \
             echo $$ > /sys/fs/cgroup/systemd/omdt-1-1-a/cgroup.procs && exec \"$@\""
        );
    }

    #[test]
    fn a_subtree_lists_parents_before_children() {
        let base = std::env::temp_dir().join(format!("omdisc-subtree-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&base);
        std::fs::create_dir_all(base.join("a/b")).unwrap();
        std::fs::create_dir_all(base.join("c")).unwrap();
        let dirs = subtree(&base);
        assert_eq!(dirs.len(), 4);
        assert_eq!(dirs[0], base);
        let a = dirs.iter().position(|d| d.ends_with("a")).unwrap();
        let b = dirs.iter().position(|d| d.ends_with("a/b")).unwrap();
        assert!(a < b);
        std::fs::remove_dir_all(&base).unwrap();
    }

    #[test]
    fn this_process_has_children_and_a_name() {
        let mut child = Command::new("sleep").arg("5").spawn().unwrap();
        let me = i32::try_from(std::process::id()).unwrap();
        let kids = children(me);
        let pid = i32::try_from(child.id()).unwrap();
        let _ = child.kill();
        let _ = child.wait();
        assert!(kids.contains(&pid), "{kids:?}");
        assert!(comm(me).is_some());
    }
}
