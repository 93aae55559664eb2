//! [`DebianRoot`]: a minimal Debian with systemd, for system containers ([`super::Container`]),
//! made once by `debootstrap` and cached under the target directory.
//!
//! The cache is a compressed tarball named after everything that shapes the root (suite,
//! variant, mirror, package list, preparation steps), so changing any of them makes a new
//! one; the unpacked directory beside it is what containers boot (read-only: they run with
//! `--volatile=overlay`). Cached runs reuse the directory, or unpack the tarball when the
//! directory is gone; older roots of other keys are removed. A lock file serialises two
//! xtask runs sharing one target directory.

use std::fs::{self, File};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use nix::fcntl::{Flock, FlockArg};

use super::exec::run_bounded;
use crate::report::duration;

/// The Debian release the containers run.
const SUITE: &str = "bookworm";
/// Where debootstrap fetches it (Debian's package archive).
const MIRROR: &str = "http://deb.debian.org/debian";
/// Packages added to `--variant=minbase`: systemd as PID 1 (and dbus for it), `ip`, `kill`
/// for the unit's `ExecReload`, and `openssl` for the README's key recipe.
const PACKAGES: &[&str] = &["systemd", "dbus", "iproute2", "procps", "openssl"];
/// Bumped when [`prepare`] changes what it does to a fresh root.
const PREPARATION: u32 = 1;
/// Longest a debootstrap may take (it downloads about 40 MB).
const DEBOOTSTRAP_TIMEOUT: Duration = Duration::from_secs(600);
/// Longest packing or unpacking the tarball may take.
const TAR_TIMEOUT: Duration = Duration::from_secs(300);
/// Marks a directory as completely unpacked.
const COMPLETE: &str = ".omdisc-root-complete";

/// An unpacked root, ready to boot.
#[derive(Debug, Clone)]
pub struct DebianRoot {
    dir: PathBuf,
    tarball: PathBuf,
}

/// How [`DebianRoot::ensure`] got the root.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RootSource {
    /// The unpacked directory was there.
    Cached,
    /// Unpacked from the cached tarball.
    Unpacked,
    /// Made by debootstrap (and cached).
    Debootstrapped,
}

impl DebianRoot {
    /// The root in `cache_dir` (created if needed), made or unpacked when missing. Returns
    /// it, how it was obtained and how long that took.
    pub fn ensure(cache_dir: &Path) -> Result<(DebianRoot, RootSource, Duration), String> {
        let started = Instant::now();
        fs::create_dir_all(cache_dir)
            .map_err(|e| format!("cannot create {}: {e}", cache_dir.display()))?;
        let _lock = lock(&cache_dir.join("lock"))?;
        let name = root_name();
        let root = DebianRoot {
            dir: cache_dir.join(&name),
            tarball: cache_dir.join(format!("{name}.tar.zst")),
        };
        remove_other_roots(cache_dir, &name);
        let source = if root.dir.join(COMPLETE).is_file() {
            RootSource::Cached
        } else if root.tarball.is_file() {
            root.unpack()?;
            RootSource::Unpacked
        } else {
            root.debootstrap(cache_dir)?;
            RootSource::Debootstrapped
        };
        Ok((root, source, started.elapsed()))
    }

    /// The directory to boot.
    pub fn path(&self) -> &Path {
        &self.dir
    }

    /// The cached tarball.
    pub fn tarball(&self) -> &Path {
        &self.tarball
    }

    fn unpack(&self) -> Result<(), String> {
        let partial = partial_dir(&self.dir);
        remove_dir(&partial)?;
        remove_dir(&self.dir)?;
        fs::create_dir_all(&partial)
            .map_err(|e| format!("cannot create {}: {e}", partial.display()))?;
        let mut tar = Command::new("tar");
        tar.args(["--zstd", "--numeric-owner", "--xattrs", "-xpf"])
            .arg(&self.tarball)
            .arg("-C")
            .arg(&partial);
        run_ok(&mut tar, TAR_TIMEOUT)?;
        self.complete(&partial)
    }

    fn debootstrap(&self, cache_dir: &Path) -> Result<(), String> {
        let partial = partial_dir(&self.dir);
        remove_dir(&partial)?;
        let log = cache_dir.join("debootstrap.log");
        println!(
            "    debootstrap {SUITE} (minbase + {}) into {} (log {})",
            PACKAGES.join(","),
            partial.display(),
            log.display()
        );
        let started = Instant::now();
        let mut debootstrap = Command::new("debootstrap");
        debootstrap
            .args([
                "--variant=minbase",
                &format!("--include={}", PACKAGES.join(",")),
            ])
            .arg(SUITE)
            .arg(&partial)
            .arg(MIRROR);
        let output = run_bounded(&mut debootstrap, DEBOOTSTRAP_TIMEOUT).inspect_err(|_| {
            // Killed at its time limit: its trap did not unmount what it mounted.
            unmount_below(&partial);
        })?;
        let text = String::from_utf8_lossy(&output.stdout).into_owned()
            + &String::from_utf8_lossy(&output.stderr);
        let _ = fs::write(&log, &text);
        if !output.status.success() {
            let last = text.lines().last().unwrap_or("").trim().to_string();
            return Err(format!(
                "debootstrap failed ({}): {last} (log {})",
                output.status,
                log.display()
            ));
        }
        println!("    debootstrap took {}", duration(started.elapsed()));
        prepare(&partial)?;
        let packed = self.tarball.with_extension("zst.partial");
        let mut tar = Command::new("tar");
        tar.args(["--zstd", "--numeric-owner", "--xattrs", "-C"])
            .arg(&partial)
            .arg("-cpf")
            .arg(&packed)
            .arg(".");
        run_ok(&mut tar, TAR_TIMEOUT)?;
        fs::rename(&packed, &self.tarball)
            .map_err(|e| format!("cannot rename {}: {e}", packed.display()))?;
        self.complete(&partial)
    }

    /// Moves a finished `partial` directory into place and marks it complete.
    fn complete(&self, partial: &Path) -> Result<(), String> {
        remove_dir(&self.dir)?;
        fs::rename(partial, &self.dir)
            .map_err(|e| format!("cannot rename {}: {e}", partial.display()))?;
        fs::write(self.dir.join(COMPLETE), root_name())
            .map_err(|e| format!("cannot mark {} complete: {e}", self.dir.display()))
    }
}

/// What a fresh root needs before it is booted: no copy of this host's `/etc/hostname`
/// (each container is named after its machine), and no package downloads or index files
/// (the containers never fetch packages; the tarball stays small).
fn prepare(root: &Path) -> Result<(), String> {
    let hostname = root.join("etc/hostname");
    if hostname.exists() {
        fs::remove_file(&hostname)
            .map_err(|e| format!("cannot remove {}: {e}", hostname.display()))?;
    }
    for dir in ["var/cache/apt/archives", "var/lib/apt/lists"] {
        let dir = root.join(dir);
        let Ok(entries) = fs::read_dir(&dir) else {
            continue;
        };
        for entry in entries.flatten() {
            let path = entry.path();
            if path.is_file() && !path.ends_with("lock") {
                fs::remove_file(&path)
                    .map_err(|e| format!("cannot remove {}: {e}", path.display()))?;
            }
        }
    }
    Ok(())
}

/// `SUITE-minbase-HASH`, the hash covering everything that shapes the root.
fn root_name() -> String {
    let recipe = format!(
        "{SUITE} minbase {MIRROR} {} preparation {PREPARATION}",
        PACKAGES.join(",")
    );
    format!("{SUITE}-minbase-{:016x}", fnv1a(recipe.as_bytes()))
}

/// FNV-1a, 64 bits: a stable name for a recipe (not a security measure).
fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |hash, &byte| {
        (hash ^ u64::from(byte)).wrapping_mul(0x0000_0100_0000_01b3)
    })
}

fn partial_dir(dir: &Path) -> PathBuf {
    dir.with_extension("partial")
}

/// Removes roots and tarballs of other recipes (and unfinished ones) from `cache_dir`.
fn remove_other_roots(cache_dir: &Path, keep: &str) {
    let Ok(entries) = fs::read_dir(cache_dir) else {
        return;
    };
    let prefix = format!("{SUITE}-minbase-");
    for entry in entries.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        let ours = name == keep || name == format!("{keep}.tar.zst");
        if name.starts_with(&prefix) && !ours {
            let path = entry.path();
            println!("    removing the old root {}", path.display());
            let _ = if path.is_dir() {
                unmount_below(&path);
                fs::remove_dir_all(&path)
            } else {
                fs::remove_file(&path)
            };
        }
    }
}

/// Detaches every mount at or below `dir`, deepest first: a debootstrap killed at its time
/// limit leaves the `proc` it mounted in the partial root, and under a mount nothing can be
/// removed (`Operation not permitted`).
fn unmount_below(dir: &Path) {
    let Ok(mounts) = fs::read_to_string("/proc/mounts") else {
        return;
    };
    let mut points: Vec<PathBuf> = mounts
        .lines()
        .filter_map(|line| line.split_whitespace().nth(1))
        .map(PathBuf::from)
        .filter(|point| point.starts_with(dir))
        .collect();
    points.sort_by_key(|point| std::cmp::Reverse(point.components().count()));
    for point in points {
        println!(
            "    unmounting {} (left by a killed debootstrap)",
            point.display()
        );
        let mut umount = Command::new("umount");
        umount.arg("--lazy").arg(&point);
        if let Err(why) = run_ok(&mut umount, Duration::from_secs(20)) {
            println!("    {why}");
        }
    }
}

fn remove_dir(dir: &Path) -> Result<(), String> {
    unmount_below(dir);
    match fs::remove_dir_all(dir) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(format!("cannot remove {}: {e}", dir.display())),
    }
}

fn run_ok(command: &mut Command, timeout: Duration) -> Result<(), String> {
    let shown = crate::project::show(command);
    let output = run_bounded(command, timeout)?;
    if output.status.success() {
        Ok(())
    } else {
        Err(format!(
            "`{shown}` failed ({}): {}",
            output.status,
            String::from_utf8_lossy(&output.stderr).trim()
        ))
    }
}

/// An exclusive `flock` on `path`, held until the file is dropped.
fn lock(path: &Path) -> Result<Flock<File>, String> {
    let file = File::create(path).map_err(|e| format!("cannot create {}: {e}", path.display()))?;
    Flock::lock(file, FlockArg::LockExclusive)
        .map_err(|(_, e)| format!("cannot lock {}: {e}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_root_name_is_stable_and_names_the_suite() {
        assert_eq!(root_name(), root_name());
        assert!(root_name().starts_with("bookworm-minbase-"));
        assert_eq!(fnv1a(b""), 0xcbf2_9ce4_8422_2325);
        assert_ne!(fnv1a(b"systemd,dbus"), fnv1a(b"systemd,dbus,openssl"));
    }

    #[test]
    fn a_directory_with_a_mount_left_inside_is_removed() {
        if !nix::unistd::geteuid().is_root() {
            return; // mounting needs root; `cargo xtask test` runs as root
        }
        let dir = std::env::temp_dir().join(format!("omdisc-root-mount-{}", std::process::id()));
        let proc_dir = dir.join("partial/proc");
        fs::create_dir_all(&proc_dir).unwrap();
        let mounted = Command::new("mount")
            .args(["-t", "tmpfs", "omdisc-test", proc_dir.to_str().unwrap()])
            .status()
            .unwrap();
        assert!(mounted.success());
        fs::write(proc_dir.join("file"), "x").unwrap();
        remove_dir(&dir).unwrap();
        assert!(!dir.exists());
        let mounts = fs::read_to_string("/proc/mounts").unwrap();
        assert!(!mounts.contains(dir.to_str().unwrap()), "{mounts}");
    }

    #[test]
    fn preparation_removes_the_hosts_name_and_the_package_files() {
        let root = std::env::temp_dir().join(format!("omdisc-root-test-{}", std::process::id()));
        let _ = fs::remove_dir_all(&root);
        for dir in ["etc", "var/cache/apt/archives", "var/lib/apt/lists"] {
            fs::create_dir_all(root.join(dir)).unwrap();
        }
        fs::write(root.join("etc/hostname"), "buildhost\n").unwrap();
        fs::write(root.join("var/cache/apt/archives/x_1_all.deb"), "").unwrap();
        fs::write(root.join("var/lib/apt/lists/lock"), "").unwrap();
        fs::write(root.join("var/lib/apt/lists/deb_Packages"), "").unwrap();
        prepare(&root).unwrap();
        assert!(!root.join("etc/hostname").exists());
        assert!(!root.join("var/cache/apt/archives/x_1_all.deb").exists());
        assert!(!root.join("var/lib/apt/lists/deb_Packages").exists());
        assert!(root.join("var/lib/apt/lists/lock").exists());
        fs::remove_dir_all(&root).unwrap();
    }
}
