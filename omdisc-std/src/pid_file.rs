//! The pid file: proves that one daemon runs, and names its process.
//!
//! The file is locked with `flock` for the daemon's whole life. A second daemon finds it
//! locked and refuses to start; a file left behind by a killed daemon is unlocked and
//! simply taken over. The lock travels through `fork`, so it can be taken before the
//! daemon detaches (errors still reach the terminal) and the pid written afterwards.

use std::fmt;
use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::os::unix::fs::{MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

use nix::errno::Errno;
use nix::fcntl::{Flock, FlockArg};

/// A held pid file. Dropping it releases the lock but leaves the file; call
/// [`PidFile::remove`] on a clean exit.
#[derive(Debug)]
pub struct PidFile {
    path: PathBuf,
    file: Flock<File>,
}

/// Why the pid file cannot be held. `Display` is one line.
#[derive(Debug)]
pub enum PidFileError {
    /// Another live process holds the lock.
    AlreadyRunning {
        /// The pid file.
        path: PathBuf,
        /// The pid written in it, if readable.
        pid: Option<u32>,
    },
    /// The file cannot be opened, locked or written.
    Io {
        /// The pid file.
        path: PathBuf,
        /// Why.
        error: io::Error,
    },
}

impl fmt::Display for PidFileError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PidFileError::AlreadyRunning {
                path,
                pid: Some(pid),
            } => write!(
                f,
                "another omdiscd (pid {pid}) is running: it holds {}",
                path.display()
            ),
            PidFileError::AlreadyRunning { path, pid: None } => {
                write!(f, "another omdiscd is running: it holds {}", path.display())
            }
            PidFileError::Io { path, error } => {
                write!(f, "cannot use pid file {}: {error}", path.display())
            }
        }
    }
}

impl std::error::Error for PidFileError {}

impl PidFile {
    /// Opens (creating it with mode 0644 if needed, never through a symlink) and locks
    /// `path`. Fails with [`PidFileError::AlreadyRunning`] if a live process holds it.
    pub fn acquire(path: &Path) -> Result<PidFile, PidFileError> {
        let io_error = |error: io::Error| PidFileError::Io {
            path: path.to_owned(),
            error,
        };
        // The holder may remove the file between our open and our lock: then we locked an
        // unlinked inode, so check and try again.
        for _ in 0..3 {
            let file = OpenOptions::new()
                .read(true)
                .write(true)
                .create(true)
                .truncate(false)
                .mode(0o644)
                .custom_flags(nix::libc::O_NOFOLLOW | nix::libc::O_CLOEXEC)
                .open(path)
                .map_err(io_error)?;
            let mut file = match Flock::lock(file, FlockArg::LockExclusiveNonblock) {
                Ok(locked) => locked,
                Err((mut file, Errno::EWOULDBLOCK)) => {
                    return Err(PidFileError::AlreadyRunning {
                        path: path.to_owned(),
                        pid: read_pid(&mut file),
                    })
                }
                Err((_, errno)) => return Err(io_error(errno.into())),
            };
            let held = file.metadata().map_err(io_error)?;
            match fs::symlink_metadata(path) {
                Ok(now) if now.dev() == held.dev() && now.ino() == held.ino() => {
                    return Ok(PidFile {
                        path: path.to_owned(),
                        file,
                    });
                }
                _ => {
                    let _ = file.seek(SeekFrom::Start(0));
                    continue;
                }
            }
        }
        Err(io_error(io::Error::other("the file keeps being replaced")))
    }

    /// Writes `pid` (decimal, newline) as the file's whole content.
    pub fn write_pid(&mut self, pid: u32) -> Result<(), PidFileError> {
        let path = self.path.clone();
        let io_error = |error: io::Error| PidFileError::Io { path, error };
        let file: &mut File = &mut self.file;
        file.set_len(0)
            .and_then(|()| file.seek(SeekFrom::Start(0)).map(drop))
            .and_then(|()| file.write_all(format!("{pid}\n").as_bytes()))
            .and_then(|()| file.sync_all())
            .map_err(io_error)
    }

    /// The pid file's path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Removes the file (still holding the lock, so no other daemon can be in between),
    /// then releases the lock.
    pub fn remove(self) -> Result<(), PidFileError> {
        fs::remove_file(&self.path).map_err(|error| PidFileError::Io {
            path: self.path.clone(),
            error,
        })
    }
}

fn read_pid(file: &mut File) -> Option<u32> {
    let mut text = String::new();
    file.seek(SeekFrom::Start(0)).ok()?;
    file.take(32).read_to_string(&mut text).ok()?;
    text.trim().parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn temp_path(tag: &str) -> PathBuf {
        std::env::temp_dir().join(format!("omdisc-pid-test-{tag}-{}.pid", std::process::id()))
    }

    #[test]
    fn second_holder_is_refused_with_the_first_pid() {
        let path = temp_path("second");
        let mut first = PidFile::acquire(&path).unwrap();
        first.write_pid(4242).unwrap();
        assert_eq!(fs::read_to_string(&path).unwrap(), "4242\n");
        let err = PidFile::acquire(&path).unwrap_err();
        assert!(matches!(
            err,
            PidFileError::AlreadyRunning {
                pid: Some(4242),
                ..
            }
        ));
        assert!(err.to_string().contains("pid 4242"));
        first.remove().unwrap();
        assert!(!path.exists());
    }

    #[test]
    fn stale_file_of_a_dead_daemon_is_taken_over() {
        let path = temp_path("stale");
        fs::write(&path, "999999\nlonger leftover text\n").unwrap();
        let mut pid_file = PidFile::acquire(&path).unwrap();
        pid_file.write_pid(7).unwrap();
        assert_eq!(fs::read_to_string(&path).unwrap(), "7\n");
        pid_file.remove().unwrap();
    }

    #[test]
    fn dropping_releases_the_lock() {
        let path = temp_path("drop");
        let first = PidFile::acquire(&path).unwrap();
        drop(first);
        let second = PidFile::acquire(&path).unwrap();
        second.remove().unwrap();
    }

    #[test]
    fn symlink_is_not_followed() {
        let path = temp_path("symlink");
        let target = temp_path("symlink-target");
        fs::write(&target, "keep").unwrap();
        let _ = fs::remove_file(&path);
        std::os::unix::fs::symlink(&target, &path).unwrap();
        let err = PidFile::acquire(&path).unwrap_err();
        assert!(matches!(err, PidFileError::Io { .. }));
        assert_eq!(fs::read_to_string(&target).unwrap(), "keep");
        fs::remove_file(&path).unwrap();
        fs::remove_file(&target).unwrap();
    }

    #[test]
    fn unwritable_location_is_an_io_error() {
        let err = PidFile::acquire(Path::new("/nonexistent-dir/omdiscd.pid")).unwrap_err();
        assert!(matches!(err, PidFileError::Io { .. }));
        assert!(!err.to_string().contains('\n'));
    }
}
