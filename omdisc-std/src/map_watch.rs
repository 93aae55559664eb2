//! `showmap --watch`: print the map again whenever it changes, woken by inotify on the
//! map's directory (no polling loop).
//!
//! `omdiscd` replaces its files by renaming a temporary file over them, which inotify
//! reports as `IN_MOVED_TO` in the directory; a file written in place (`-f FILE` written by
//! another program) shows as `IN_CLOSE_WRITE`. Watching the directory, not the file, also
//! sees a map that does not exist yet and one that is replaced. After each batch of events
//! for the map's files the map is read again and printed only if the output differs from
//! the last one printed: one output per membership change, however many files a change
//! rewrote.

use std::ffi::OsString;
use std::fmt;
use std::io;
use std::path::PathBuf;

use nix::sys::inotify::{AddWatchFlags, InitFlags, Inotify};

use crate::conflicts::ALPHA_CONFLICTS;
use crate::map_sink::{ALPHA_CONFIG, ALPHA_MOSPE};
use crate::showmap::{MapSource, ShowmapError};

/// What the watch does with one reading of the map.
#[derive(Debug)]
pub enum Reading {
    /// The map as text to print (the caller renders it in its format).
    Map(String),
    /// The map file does not exist (yet, or any more): print nothing, wait.
    Missing,
    /// The map cannot be read or shown: one line for stderr.
    Failed(String),
}

/// Why the watch cannot go on. `Display` is one line.
#[derive(Debug)]
pub enum WatchError {
    /// `--live`: the kernel's files under `/proc` raise no inotify events.
    Live,
    /// inotify could not be set up on the directory.
    Setup {
        /// The watched directory.
        dir: PathBuf,
        /// Why.
        error: io::Error,
    },
    /// Reading the events failed.
    Read(io::Error),
    /// The watched directory was removed or moved away.
    DirectoryGone(PathBuf),
}

impl fmt::Display for WatchError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            WatchError::Live => f.write_str(
                "--watch cannot watch --live: files under /proc raise no inotify events",
            ),
            WatchError::Setup { dir, error } => {
                write!(f, "cannot watch {}: {error}", dir.display())
            }
            WatchError::Read(error) => write!(f, "cannot read inotify events: {error}"),
            WatchError::DirectoryGone(dir) => {
                write!(
                    f,
                    "{} was removed or moved: nothing left to watch",
                    dir.display()
                )
            }
        }
    }
}

impl std::error::Error for WatchError {}

/// The directory to watch and the names in it that make up the map.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WatchTarget {
    /// The map's directory.
    pub dir: PathBuf,
    /// File names in `dir` whose change means the map may have changed.
    pub names: Vec<OsString>,
}

impl WatchTarget {
    /// What to watch for `source` (already resolved: not [`MapSource::Default`]).
    pub fn of(source: &MapSource) -> Result<WatchTarget, WatchError> {
        match source {
            MapSource::Dir(dir) => Ok(WatchTarget {
                dir: dir.clone(),
                names: [ALPHA_CONFIG, ALPHA_MOSPE, ALPHA_CONFLICTS]
                    .map(OsString::from)
                    .to_vec(),
            }),
            MapSource::File(file) => {
                let dir = match file.parent() {
                    Some(p) if !p.as_os_str().is_empty() => p.to_owned(),
                    _ => PathBuf::from("."),
                };
                let names = file
                    .file_name()
                    .map(|n| vec![n.to_owned()])
                    .unwrap_or_default();
                Ok(WatchTarget { dir, names })
            }
            MapSource::Live | MapSource::Default => Err(WatchError::Live),
        }
    }
}

/// Reads the map through `read` once, then again after every change of `target`'s files,
/// handing each reading that differs from the previous one to `emit` (the first reading
/// always). Returns when `emit` returns `false` (e.g. stdout was closed), or with the error
/// that ends the watch.
pub fn watch(
    target: &WatchTarget,
    mut read: impl FnMut() -> Reading,
    mut emit: impl FnMut(&Reading) -> bool,
) -> Result<(), WatchError> {
    let inotify = Inotify::init(InitFlags::IN_CLOEXEC).map_err(|e| WatchError::Setup {
        dir: target.dir.clone(),
        error: e.into(),
    })?;
    let flags = AddWatchFlags::IN_MOVED_TO
        | AddWatchFlags::IN_CLOSE_WRITE
        | AddWatchFlags::IN_DELETE
        | AddWatchFlags::IN_MOVED_FROM
        | AddWatchFlags::IN_DELETE_SELF
        | AddWatchFlags::IN_MOVE_SELF
        | AddWatchFlags::IN_ONLYDIR;
    inotify
        .add_watch(target.dir.as_path(), flags)
        .map_err(|e| WatchError::Setup {
            dir: target.dir.clone(),
            error: e.into(),
        })?;
    let mut last: Option<String> = None;
    let mut report = |reading: Reading, last: &mut Option<String>| -> bool {
        let key = match &reading {
            Reading::Map(text) => format!("map:{text}"),
            Reading::Missing => "missing".to_owned(),
            Reading::Failed(line) => format!("failed:{line}"),
        };
        if last.as_deref() == Some(key.as_str()) {
            return true;
        }
        *last = Some(key);
        emit(&reading)
    };
    if !report(read(), &mut last) {
        return Ok(());
    }
    loop {
        // Blocks until the kernel reports events: no polling.
        let events = inotify
            .read_events()
            .map_err(|e| WatchError::Read(e.into()))?;
        let mut relevant = false;
        for event in &events {
            if event.mask.intersects(
                AddWatchFlags::IN_DELETE_SELF
                    | AddWatchFlags::IN_MOVE_SELF
                    | AddWatchFlags::IN_IGNORED,
            ) {
                return Err(WatchError::DirectoryGone(target.dir.clone()));
            }
            if event.mask.contains(AddWatchFlags::IN_Q_OVERFLOW) {
                relevant = true;
            }
            if let Some(name) = &event.name {
                relevant |= target.names.iter().any(|n| n == name);
            }
        }
        if relevant && !report(read(), &mut last) {
            return Ok(());
        }
    }
}

/// A reading of `source` rendered by `render` (a missing map file is [`Reading::Missing`]).
pub fn read_map(
    source: &MapSource,
    render: impl FnOnce(&crate::showmap::LoadedMap) -> Result<String, ShowmapError>,
) -> Reading {
    match crate::showmap::load(source).and_then(|map| render(&map)) {
        Ok(text) => Reading::Map(text),
        Err(ShowmapError::Read { error, .. }) if error.kind() == io::ErrorKind::NotFound => {
            Reading::Missing
        }
        Err(error) => Reading::Failed(error.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_dir::TempDir;
    use std::sync::mpsc;
    use std::time::Duration;

    #[test]
    fn targets_are_the_map_directory_or_the_files_parent() {
        let dir = WatchTarget::of(&MapSource::Dir("/run/omdisc".into())).unwrap();
        assert_eq!(dir.dir, PathBuf::from("/run/omdisc"));
        assert!(dir.names.iter().any(|n| n == "om_config"));
        let file = WatchTarget::of(&MapSource::File("map".into())).unwrap();
        assert_eq!(
            (file.dir, file.names),
            (PathBuf::from("."), vec![OsString::from("map")])
        );
        assert!(matches!(
            WatchTarget::of(&MapSource::Live),
            Err(WatchError::Live)
        ));
    }

    #[test]
    fn a_rename_into_the_directory_wakes_the_watch_and_equal_maps_print_once() {
        let dir = TempDir::new("watch");
        let path = dir.path().to_owned();
        let target = WatchTarget::of(&MapSource::Dir(path.clone())).unwrap();
        let (sender, receiver) = mpsc::channel::<String>();
        let read_dir = path.clone();
        let watcher = std::thread::spawn(move || {
            let read = || match std::fs::read_to_string(read_dir.join("om_config")) {
                Ok(text) => Reading::Map(text),
                Err(_) => Reading::Missing,
            };
            watch(&target, read, |reading| {
                let line = match reading {
                    Reading::Map(text) => text.clone(),
                    Reading::Missing => "missing".into(),
                    Reading::Failed(line) => line.clone(),
                };
                let done = line == "stop";
                sender.send(line).is_ok() && !done
            })
        });
        let next = || receiver.recv_timeout(Duration::from_secs(10)).unwrap();
        assert_eq!(next(), "missing");
        let replace = |text: &str| {
            let temp = path.join(".om_config.tmp");
            std::fs::write(&temp, text).unwrap();
            std::fs::rename(&temp, path.join("om_config")).unwrap();
        };
        replace("one");
        assert_eq!(next(), "one");
        // The same bytes again, and an unrelated file: nothing printed.
        replace("one");
        std::fs::write(path.join("unrelated"), "x").unwrap();
        replace("two");
        assert_eq!(next(), "two");
        replace("stop");
        assert_eq!(next(), "stop");
        watcher.join().unwrap().unwrap();
    }
}
