//! Node-id conflicts beside the map: `omdiscd` writes the conflicts it sees now to
//! `DIR/om_conflicts` in alpha mode, and `showmap` reports them.
//!
//! The binary map (`om_config`) holds only members, and the host that lost a node-id
//! conflict is not one, so the map alone cannot say that two hosts claim one id. The file
//! is text, one conflict per line — `ID WINNER LOSER`, the contested id, the lowest address
//! of the host that keeps it and of the one left out — after `#` comment lines. It is
//! replaced atomically like the map, and removed when there is no conflict (also at start,
//! so a file left by an earlier run never reports a conflict that is over). In live mode
//! there is no such file: the kernel directory holds only `config` and `mospe`, and
//! conflicts are only logged.

use std::fmt;
use std::fs;
use std::io;
use std::net::IpAddr;
use std::path::{Path, PathBuf};

use omdisc_core::{Collision, NodeId};

use crate::failure_log::FailureLog;
use crate::map_sink::replace_file;

/// File name of the conflicts in alpha mode, beside `om_config`.
pub const ALPHA_CONFLICTS: &str = "om_conflicts";

/// Largest conflicts file read (a conflict line is under 100 bytes).
const MAX_FILE_LEN: u64 = 8 << 20;

/// One host left out of the map because another claims the same node id.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct IdConflict {
    /// The contested node id.
    pub id: NodeId,
    /// Lowest address of the host that keeps the id.
    pub winner: IpAddr,
    /// Lowest address of the host left out.
    pub loser: IpAddr,
}

impl fmt::Display for IdConflict {
    /// The sentence `showmap` prints.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "node id {} is claimed by two hosts: {} keeps it, {} is left out of the map (give one of them another id with --node-id)",
            self.id, self.winner, self.loser
        )
    }
}

impl From<Collision> for IdConflict {
    /// A conflict as the engine resolved it ([`omdisc_core::Engine::conflicts`]).
    fn from(c: Collision) -> IdConflict {
        IdConflict {
            id: c.id,
            winner: c.winner,
            loser: c.loser,
        }
    }
}

/// The file's text for `conflicts`.
pub fn render(conflicts: &[IdConflict]) -> String {
    let mut text = String::from(
        "# omdisc node-id conflicts, written by omdiscd: ID WINNER LOSER\n\
         # (the host at WINNER keeps the id; the host at LOSER is left out of the map)\n",
    );
    for c in conflicts {
        text.push_str(&format!("{} {} {}\n", c.id, c.winner, c.loser));
    }
    text
}

/// Why a conflicts file cannot be read. `Display` is one line.
#[derive(Debug)]
pub enum ConflictFileError {
    /// The file cannot be read.
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        error: io::Error,
    },
    /// A line is not `ID WINNER LOSER`.
    BadLine {
        /// The file.
        path: PathBuf,
        /// 1-based line number.
        line: usize,
    },
}

impl fmt::Display for ConflictFileError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ConflictFileError::Read { path, error } => {
                write!(f, "cannot read {}: {error}", path.display())
            }
            ConflictFileError::BadLine { path, line } => write!(
                f,
                "{} line {line} is not `ID WINNER-ADDRESS LOSER-ADDRESS`",
                path.display()
            ),
        }
    }
}

impl std::error::Error for ConflictFileError {}

/// A line of a conflicts file that is not `ID WINNER LOSER`. `Display` is one line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BadConflictLine {
    /// Its number, from 1.
    pub line: usize,
}

impl fmt::Display for BadConflictLine {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "line {} is not `ID WINNER-ADDRESS LOSER-ADDRESS`",
            self.line
        )
    }
}

impl std::error::Error for BadConflictLine {}

/// Parses the file's text; the error names the first bad line.
pub fn parse(text: &str) -> Result<Vec<IdConflict>, BadConflictLine> {
    let mut conflicts = Vec::new();
    for (number, raw) in text.lines().enumerate() {
        let line = raw.split('#').next().unwrap_or("").trim();
        if line.is_empty() {
            continue;
        }
        let fields: Vec<&str> = line.split_whitespace().collect();
        let parsed = match fields[..] {
            [id, winner, loser] => (|| {
                Some(IdConflict {
                    id: NodeId::new(id.parse().ok()?)?,
                    winner: winner.parse().ok()?,
                    loser: loser.parse().ok()?,
                })
            })(),
            _ => None,
        };
        conflicts.push(parsed.ok_or(BadConflictLine { line: number + 1 })?);
    }
    Ok(conflicts)
}

/// Reads `path`; a missing file means no conflict.
pub fn read(path: &Path) -> Result<Vec<IdConflict>, ConflictFileError> {
    let read_error = |error| ConflictFileError::Read {
        path: path.to_owned(),
        error,
    };
    let meta = match fs::metadata(path) {
        Ok(meta) => meta,
        Err(error) if error.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(error) => return Err(read_error(error)),
    };
    if meta.len() > MAX_FILE_LEN {
        return Err(read_error(io::Error::new(
            io::ErrorKind::InvalidData,
            "file too large for a conflicts file",
        )));
    }
    let text = fs::read_to_string(path).map_err(read_error)?;
    parse(&text).map_err(|BadConflictLine { line }| ConflictFileError::BadLine {
        path: path.to_owned(),
        line,
    })
}

/// Where the daemon keeps the conflicts file, and what it last wrote.
#[derive(Debug)]
pub struct ConflictFile {
    path: Option<PathBuf>,
    written: Option<Vec<IdConflict>>,
    failures: FailureLog,
}

impl ConflictFile {
    /// `DIR/om_conflicts` (alpha mode).
    pub fn alpha(dir: &Path) -> ConflictFile {
        ConflictFile {
            path: Some(dir.join(ALPHA_CONFLICTS)),
            written: None,
            failures: FailureLog::default(),
        }
    }

    /// No file (live mode): conflicts are only logged.
    pub fn none() -> ConflictFile {
        ConflictFile {
            path: None,
            written: None,
            failures: FailureLog::default(),
        }
    }

    /// Makes the file say `conflicts` (sorted here): replaced atomically if it changed,
    /// removed when there is none. A failure is logged once per series and retried at the
    /// next publish.
    pub fn publish(&mut self, mut conflicts: Vec<IdConflict>) {
        let Some(path) = &self.path else {
            return;
        };
        conflicts.sort();
        if self.written.as_ref() == Some(&conflicts) {
            return;
        }
        let result = if conflicts.is_empty() {
            match fs::remove_file(path) {
                Err(error) if error.kind() != io::ErrorKind::NotFound => Err(error),
                _ => Ok(()),
            }
        } else {
            replace_file(path, render(&conflicts).as_bytes())
        };
        match result {
            Ok(()) => {
                self.failures
                    .succeeded(format_args!("{} updated again", path.display()));
                self.written = Some(conflicts);
            }
            Err(error) => {
                self.failures
                    .failed(format_args!("cannot update {}: {error}", path.display()));
                self.written = None;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_dir::TempDir;

    fn conflict(id: u16, winner: &str, loser: &str) -> IdConflict {
        IdConflict {
            id: NodeId::new(id).unwrap(),
            winner: winner.parse().unwrap(),
            loser: loser.parse().unwrap(),
        }
    }

    #[test]
    fn rendered_conflicts_parse_back() {
        let list = vec![
            conflict(1287, "10.1.5.7", "10.2.5.7"),
            conflict(17, "fd00::11", "fd00:1::11"),
        ];
        let text = render(&list);
        assert!(text.starts_with('#'));
        assert!(text.contains("\n1287 10.1.5.7 10.2.5.7\n"));
        assert_eq!(parse(&text), Ok(list));
        assert_eq!(parse(""), Ok(Vec::new()));
    }

    #[test]
    fn bad_lines_are_named() {
        assert_eq!(parse("# c\n1 10.0.0.1\n"), Err(BadConflictLine { line: 2 }));
        assert_eq!(
            parse("0 10.0.0.1 10.0.0.2\n"),
            Err(BadConflictLine { line: 1 })
        );
        assert_eq!(parse("1 10.0.0.1 x\n"), Err(BadConflictLine { line: 1 }));
        assert_eq!(
            parse("1 10.0.0.1 10.0.0.2 4\n"),
            Err(BadConflictLine { line: 1 })
        );
    }

    #[test]
    fn the_sentence_names_both_hosts_and_the_way_out() {
        let text = conflict(1287, "10.1.5.7", "10.2.5.7").to_string();
        assert!(text.contains("node id 1287"), "{text}");
        assert!(text.contains("10.1.5.7 keeps it"), "{text}");
        assert!(text.contains("10.2.5.7 is left out"), "{text}");
        assert!(text.contains("--node-id"), "{text}");
    }

    #[test]
    fn the_file_is_written_removed_and_read_back() {
        let dir = TempDir::new("conflicts");
        let path = dir.path().join(ALPHA_CONFLICTS);
        fs::write(&path, "9 10.0.0.9 10.1.0.9\n").unwrap();
        let mut file = ConflictFile::alpha(dir.path());
        // The first publish removes what an earlier run left.
        file.publish(Vec::new());
        assert!(!path.exists());
        let list = vec![conflict(1287, "10.1.5.7", "10.2.5.7")];
        file.publish(list.clone());
        assert_eq!(read(&path).unwrap(), list);
        file.publish(Vec::new());
        assert!(!path.exists());
        assert_eq!(read(&path).unwrap(), Vec::new());
        fs::write(&path, "garbage\n").unwrap();
        let error = read(&path).unwrap_err().to_string();
        assert!(error.contains("line 1") && !error.contains('\n'), "{error}");
    }
}
