//! Where the map goes: alpha-mode files (`DIR/om_config`, `DIR/om_mospe`) written
//! atomically, or the openMosix kernel interface (`/proc/hpc/admin/{config,mospe}`).
//!
//! Alpha files are replaced, never rewritten in place: the bytes go to a fresh temporary
//! file in the same directory (created with `O_EXCL | O_NOFOLLOW`, mode 0644), are
//! `fsync`ed, and the temporary file is renamed over the final name. A reader sees the old
//! map or the new one, never a torn one, also if the daemon is killed mid-write; and a
//! symlink planted at the final path in a world-writable directory such as `/tmp` is
//! replaced, not followed.
//!
//! A failed write keeps the last good map on disk and is logged once, not every time
//! ([`FailureLog`]); [`crate::map_writer`] decides when to try again.

use std::fmt;
use std::fs::{self, File, OpenOptions, Permissions};
use std::io::{self, Write};
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use crate::failure_log::FailureLog;

/// File name of the map in alpha mode.
pub const ALPHA_CONFIG: &str = "om_config";
/// File name of this node's id in alpha mode.
pub const ALPHA_MOSPE: &str = "om_mospe";
/// File name of the map in the openMosix kernel directory.
pub const LIVE_CONFIG: &str = "config";
/// File name of this node's id in the openMosix kernel directory.
pub const LIVE_MOSPE: &str = "mospe";

/// Mode of the map files: readable by everyone, writable by the daemon only.
const FILE_MODE: u32 = 0o644;

/// Makes temporary names unique within this process.
static TEMP_COUNTER: AtomicU64 = AtomicU64::new(0);

/// The two files of a map.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MapPaths {
    /// The map (`om_config` / `config`).
    pub config: PathBuf,
    /// This node's id (`om_mospe` / `mospe`).
    pub mospe: PathBuf,
}

impl MapPaths {
    /// Alpha-mode paths in `dir`.
    pub fn alpha(dir: &Path) -> MapPaths {
        MapPaths {
            config: dir.join(ALPHA_CONFIG),
            mospe: dir.join(ALPHA_MOSPE),
        }
    }

    /// Live-mode paths in the kernel directory `dir` (normally `/proc/hpc/admin`).
    pub fn live(dir: &Path) -> MapPaths {
        MapPaths {
            config: dir.join(LIVE_CONFIG),
            mospe: dir.join(LIVE_MOSPE),
        }
    }
}

/// How bytes reach a path.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum WriteMethod {
    /// Temporary file + fsync + rename (regular files).
    Replace,
    /// One `write` into an existing file (kernel interface files cannot be renamed over).
    InPlace,
}

/// A map that could not be used as output. `Display` is one line.
#[derive(Debug)]
pub enum MapSinkError {
    /// The map directory does not exist.
    MissingDirectory(PathBuf),
    /// The map path is not a directory.
    NotADirectory(PathBuf),
    /// No file can be created in the map directory.
    NotWritable {
        /// The map directory.
        dir: PathBuf,
        /// Why.
        error: io::Error,
    },
    /// `--live` on a kernel without `/proc/hpc/admin`.
    NoOpenMosixKernel(PathBuf),
    /// A file could not be written.
    Write {
        /// The file.
        path: PathBuf,
        /// Why.
        error: io::Error,
    },
}

impl fmt::Display for MapSinkError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            MapSinkError::MissingDirectory(dir) => {
                write!(f, "map directory {} does not exist", dir.display())
            }
            MapSinkError::NotADirectory(dir) => {
                write!(f, "map directory {} is not a directory", dir.display())
            }
            MapSinkError::NotWritable { dir, error } => write!(
                f,
                "map directory {} cannot be written: {error}",
                dir.display()
            ),
            MapSinkError::NoOpenMosixKernel(dir) => write!(
                f,
                "--live: {} does not exist (no openMosix kernel); run without --live to write the map to files",
                dir.display()
            ),
            MapSinkError::Write { path, error } => {
                write!(f, "cannot write map file {}: {error}", path.display())
            }
        }
    }
}

impl std::error::Error for MapSinkError {}

/// What [`MapSink::publish`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PublishOutcome {
    /// Both files already held these bytes: nothing written.
    Unchanged,
    /// At least one file was written; both now hold the new bytes.
    Written,
    /// A write failed; the last good files stay.
    Failed,
}

/// The output of the map, with the last bytes written.
#[derive(Debug)]
pub struct MapSink {
    paths: MapPaths,
    method: WriteMethod,
    written_config: Option<Vec<u8>>,
    written_mospe: Option<Vec<u8>>,
    failures: FailureLog,
}

impl MapSink {
    /// Alpha mode in `dir`: checks that the directory exists and that a file can be created
    /// in it (a probe file, removed again), and removes temporary files that an earlier run
    /// killed mid-write left behind.
    pub fn alpha(dir: &Path) -> Result<MapSink, MapSinkError> {
        match fs::metadata(dir) {
            Ok(meta) if meta.is_dir() => {}
            Ok(_) => return Err(MapSinkError::NotADirectory(dir.to_owned())),
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                return Err(MapSinkError::MissingDirectory(dir.to_owned()))
            }
            Err(error) => {
                return Err(MapSinkError::Write {
                    path: dir.to_owned(),
                    error,
                })
            }
        }
        remove_stale_temporaries(dir);
        let paths = MapPaths::alpha(dir);
        let (probe, file) =
            create_temporary(&paths.config).map_err(|error| MapSinkError::NotWritable {
                dir: dir.to_owned(),
                error,
            })?;
        drop(file);
        let _ = fs::remove_file(probe);
        Ok(MapSink::new(paths, WriteMethod::Replace))
    }

    /// Live mode: the kernel interface in `dir` (normally [`crate::config::LIVE_DIR`]) must
    /// exist.
    pub fn live(dir: &Path) -> Result<MapSink, MapSinkError> {
        if !dir.is_dir() {
            return Err(MapSinkError::NoOpenMosixKernel(dir.to_owned()));
        }
        Ok(MapSink::new(MapPaths::live(dir), WriteMethod::InPlace))
    }

    fn new(paths: MapPaths, method: WriteMethod) -> MapSink {
        MapSink {
            paths,
            method,
            written_config: None,
            written_mospe: None,
            failures: FailureLog::default(),
        }
    }

    /// The files this sink writes.
    pub fn paths(&self) -> &MapPaths {
        &self.paths
    }

    /// Writes the map (`config` first, then `mospe`), skipping files that already hold
    /// these bytes. The first failure of a series is logged as a warning, later ones at
    /// debug level.
    pub fn publish(&mut self, mospe: &[u8], config: &[u8]) -> PublishOutcome {
        match self.write_changed(mospe, config) {
            Ok(wrote) => {
                self.failures.succeeded(format_args!(
                    "map written again to {}",
                    self.paths.config.display()
                ));
                if wrote {
                    PublishOutcome::Written
                } else {
                    PublishOutcome::Unchanged
                }
            }
            Err(error) => {
                self.failures.failed(format_args!(
                    "{error}; keeping the last map written, will retry"
                ));
                PublishOutcome::Failed
            }
        }
    }

    fn write_changed(&mut self, mospe: &[u8], config: &[u8]) -> Result<bool, MapSinkError> {
        let mut wrote = false;
        if self.written_config.as_deref() != Some(config) {
            write_file(&self.paths.config, config, self.method)?;
            self.written_config = Some(config.to_vec());
            wrote = true;
        }
        if self.written_mospe.as_deref() != Some(mospe) {
            write_file(&self.paths.mospe, mospe, self.method)?;
            self.written_mospe = Some(mospe.to_vec());
            wrote = true;
        }
        Ok(wrote)
    }
}

fn write_file(path: &Path, bytes: &[u8], method: WriteMethod) -> Result<(), MapSinkError> {
    let result = match method {
        WriteMethod::Replace => replace_file(path, bytes),
        WriteMethod::InPlace => write_in_place(path, bytes),
    };
    result.map_err(|error| MapSinkError::Write {
        path: path.to_owned(),
        error,
    })
}

/// Replaces `path` with a file holding `bytes`, atomically.
pub fn replace_file(path: &Path, bytes: &[u8]) -> io::Result<()> {
    let (temporary, mut file) = create_temporary(path)?;
    let result = (|| {
        file.write_all(bytes)?;
        file.sync_all()?;
        drop(file);
        fs::rename(&temporary, path)?;
        sync_parent(path);
        Ok(())
    })();
    if result.is_err() {
        let _ = fs::remove_file(&temporary);
    }
    result
}

/// Writes `bytes` into the existing file `path` with one `write` (kernel interface files).
fn write_in_place(path: &Path, bytes: &[u8]) -> io::Result<()> {
    let mut file = OpenOptions::new()
        .write(true)
        .truncate(true)
        .custom_flags(nix::libc::O_NOFOLLOW)
        .open(path)?;
    let written = file.write(bytes)?;
    if written != bytes.len() {
        return Err(io::Error::new(
            io::ErrorKind::WriteZero,
            format!("kernel accepted {written} of {} bytes", bytes.len()),
        ));
    }
    Ok(())
}

/// Prefix of temporary files for `final_name`: `.om_config.` etc.
fn temporary_prefix(final_name: &str) -> String {
    format!(".{final_name}.")
}

/// Creates a new temporary file next to `path` that no one else can have prepared.
fn create_temporary(path: &Path) -> io::Result<(PathBuf, File)> {
    let dir = path.parent().unwrap_or(Path::new("."));
    let name = path
        .file_name()
        .and_then(|n| n.to_str())
        .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "map path has no file name"))?;
    loop {
        let counter = TEMP_COUNTER.fetch_add(1, Ordering::Relaxed);
        let temporary = dir.join(format!(
            "{}{}.{counter}.tmp",
            temporary_prefix(name),
            std::process::id()
        ));
        match OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(FILE_MODE)
            .custom_flags(nix::libc::O_NOFOLLOW | nix::libc::O_CLOEXEC)
            .open(&temporary)
        {
            Ok(file) => {
                // The umask may have narrowed the mode; readers need 0644.
                file.set_permissions(Permissions::from_mode(FILE_MODE))?;
                return Ok((temporary, file));
            }
            // Someone holds this name (e.g. planted it): take the next one.
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists && counter < 1_000_000 => {}
            Err(e) => return Err(e),
        }
    }
}

/// Makes a rename durable; failure only costs durability, not atomicity.
fn sync_parent(path: &Path) {
    if let Some(dir) = path.parent() {
        if let Ok(dir) = File::open(dir) {
            let _ = dir.sync_all();
        }
    }
}

/// Removes `.om_config.*.tmp` / `.om_mospe.*.tmp` left by a daemon killed mid-write.
/// Unlinking never follows a symlink, so this is safe in a shared directory.
fn remove_stale_temporaries(dir: &Path) {
    let Ok(entries) = fs::read_dir(dir) else {
        return;
    };
    let prefixes = [
        temporary_prefix(ALPHA_CONFIG),
        temporary_prefix(ALPHA_MOSPE),
    ];
    for entry in entries.flatten() {
        let name = entry.file_name();
        let Some(name) = name.to_str() else { continue };
        let ours = prefixes.iter().any(|p| name.starts_with(p.as_str())) && name.ends_with(".tmp");
        let is_file = entry.file_type().map(|t| t.is_file()).unwrap_or(false);
        if ours && is_file {
            let _ = fs::remove_file(entry.path());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_dir::TempDir;
    use std::os::unix::fs::symlink;

    fn names_in(dir: &Path) -> Vec<String> {
        let mut names: Vec<String> = fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        names.sort();
        names
    }

    #[test]
    fn publish_writes_both_files_with_mode_0644_and_no_leftovers() {
        let dir = TempDir::new("publish");
        let mut sink = MapSink::alpha(dir.path()).unwrap();
        assert_eq!(sink.publish(b"\x01\x00", b"map-1"), PublishOutcome::Written);
        assert_eq!(fs::read(dir.path().join("om_config")).unwrap(), b"map-1");
        assert_eq!(fs::read(dir.path().join("om_mospe")).unwrap(), b"\x01\x00");
        let mode = fs::metadata(dir.path().join("om_config"))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o644);
        assert_eq!(names_in(dir.path()), ["om_config", "om_mospe"]);
    }

    #[test]
    fn unchanged_map_is_not_rewritten() {
        let dir = TempDir::new("unchanged");
        let mut sink = MapSink::alpha(dir.path()).unwrap();
        sink.publish(b"1", b"map");
        let inode = |name: &str| {
            use std::os::unix::fs::MetadataExt;
            fs::metadata(dir.path().join(name)).unwrap().ino()
        };
        let before = (inode("om_config"), inode("om_mospe"));
        assert_eq!(sink.publish(b"1", b"map"), PublishOutcome::Unchanged);
        assert_eq!((inode("om_config"), inode("om_mospe")), before);
        assert_eq!(sink.publish(b"1", b"map-2"), PublishOutcome::Written);
        assert_ne!(inode("om_config"), before.0);
        assert_eq!(inode("om_mospe"), before.1);
    }

    #[test]
    fn planted_symlink_is_replaced_not_followed() {
        let dir = TempDir::new("symlink");
        let victim = dir.path().join("victim");
        fs::write(&victim, b"precious").unwrap();
        symlink(&victim, dir.path().join("om_config")).unwrap();
        let mut sink = MapSink::alpha(dir.path()).unwrap();
        assert_eq!(sink.publish(b"1", b"map"), PublishOutcome::Written);
        assert_eq!(fs::read(&victim).unwrap(), b"precious");
        let meta = fs::symlink_metadata(dir.path().join("om_config")).unwrap();
        assert!(meta.file_type().is_file());
        assert_eq!(fs::read(dir.path().join("om_config")).unwrap(), b"map");
    }

    #[test]
    fn planted_temporary_name_is_skipped() {
        let dir = TempDir::new("planted-temp");
        let victim = dir.path().join("victim");
        fs::write(&victim, b"precious").unwrap();
        let next = TEMP_COUNTER.load(Ordering::Relaxed);
        for counter in next..next + 8 {
            let name = format!(".om_config.{}.{counter}.tmp", std::process::id());
            symlink(&victim, dir.path().join(name)).unwrap();
        }
        replace_file(&dir.path().join("om_config"), b"map").unwrap();
        assert_eq!(fs::read(&victim).unwrap(), b"precious");
        assert_eq!(fs::read(dir.path().join("om_config")).unwrap(), b"map");
    }

    #[test]
    fn stale_temporaries_are_removed_at_start() {
        let dir = TempDir::new("stale");
        fs::write(dir.path().join(".om_config.999.0.tmp"), b"torn").unwrap();
        fs::write(dir.path().join(".om_mospe.999.3.tmp"), b"torn").unwrap();
        fs::write(dir.path().join("unrelated"), b"keep").unwrap();
        MapSink::alpha(dir.path()).unwrap();
        assert_eq!(names_in(dir.path()), ["unrelated"]);
    }

    #[test]
    fn missing_and_non_directory_map_dirs_are_rejected() {
        let dir = TempDir::new("missing");
        let err = MapSink::alpha(&dir.path().join("nope")).unwrap_err();
        assert!(matches!(err, MapSinkError::MissingDirectory(_)));
        fs::write(dir.path().join("file"), b"").unwrap();
        let err = MapSink::alpha(&dir.path().join("file")).unwrap_err();
        assert!(matches!(err, MapSinkError::NotADirectory(_)));
        assert!(!err.to_string().contains('\n'));
    }

    #[test]
    fn unwritable_map_dir_is_named_in_the_error() {
        let err = MapSink::alpha(Path::new("/proc")).unwrap_err();
        assert!(matches!(err, MapSinkError::NotWritable { .. }), "{err:?}");
        assert!(err
            .to_string()
            .starts_with("map directory /proc cannot be written"));
    }

    #[test]
    fn live_mode_needs_the_kernel_directory() {
        let dir = TempDir::new("live");
        let err = MapSink::live(&dir.path().join("proc/hpc/admin")).unwrap_err();
        assert!(matches!(err, MapSinkError::NoOpenMosixKernel(_)));
        assert!(err.to_string().contains("--live"));
    }

    #[test]
    fn live_mode_writes_into_existing_files() {
        let dir = TempDir::new("live-write");
        fs::write(dir.path().join("config"), b"").unwrap();
        fs::write(dir.path().join("mospe"), b"").unwrap();
        let mut sink = MapSink::live(dir.path()).unwrap();
        assert_eq!(sink.publish(b"7", b"map"), PublishOutcome::Written);
        assert_eq!(fs::read(dir.path().join("config")).unwrap(), b"map");
        assert_eq!(fs::read(dir.path().join("mospe")).unwrap(), b"7");
    }

    #[test]
    fn failed_write_keeps_last_map_until_a_later_publish_works() {
        let dir = TempDir::new("retry");
        let mut sink = MapSink::alpha(dir.path()).unwrap();
        assert_eq!(sink.publish(b"1", b"good"), PublishOutcome::Written);
        // A directory at the final name makes the rename fail, whoever runs the test.
        let config = dir.path().join("om_config");
        fs::remove_file(&config).unwrap();
        fs::create_dir(&config).unwrap();
        fs::write(config.join("keep"), b"").unwrap();
        assert_eq!(sink.publish(b"1", b"new"), PublishOutcome::Failed);
        assert_eq!(sink.publish(b"1", b"new"), PublishOutcome::Failed);
        assert!(names_in(dir.path()).iter().all(|n| !n.ends_with(".tmp")));
        fs::remove_dir_all(&config).unwrap();
        assert_eq!(sink.publish(b"1", b"new"), PublishOutcome::Written);
        assert_eq!(fs::read(&config).unwrap(), b"new");
        assert_eq!(sink.publish(b"1", b"new"), PublishOutcome::Unchanged);
    }
}
