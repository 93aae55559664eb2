//! The peers file (`--peers-file`): the seeds this node contacts, one `ADDR[:PORT]` a line.
//!
//! Blank lines are skipped and `#` starts a comment (a whole line or the rest of one). Each
//! address is read as `--peer` reads its value ([`PeerAddr`]); the first line that is not
//! one refuses the whole file, with one line that names the file and the line number, so a
//! typo never silently drops a seed.

use std::fmt;
use std::fs::File;
use std::io::{self, Read};
use std::path::{Path, PathBuf};

use crate::values::{PeerAddr, PeerError};

/// Largest peers file read: far more lines than the engine takes seeds.
pub const MAX_PEERS_FILE_LEN: u64 = 64 * 1024;

/// Why a peers file was refused. `Display` is one line.
#[derive(Debug)]
pub enum PeersFileError {
    /// The file cannot be opened or read (or is not valid UTF-8).
    Unreadable {
        /// The peers file.
        path: PathBuf,
        /// Why.
        error: io::Error,
    },
    /// The file is larger than [`MAX_PEERS_FILE_LEN`].
    TooLarge(PathBuf),
    /// A line is not a peer address.
    BadLine {
        /// The peers file.
        path: PathBuf,
        /// 1-based line number.
        line: usize,
        /// The line's address, as written (comment and blanks removed).
        text: String,
        /// What is wrong with it.
        error: PeerError,
    },
}

impl fmt::Display for PeersFileError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PeersFileError::Unreadable { path, error } => {
                write!(f, "cannot read peers file {}: {error}", path.display())
            }
            PeersFileError::TooLarge(path) => write!(
                f,
                "peers file {} is larger than {MAX_PEERS_FILE_LEN} bytes",
                path.display()
            ),
            PeersFileError::BadLine {
                path,
                line,
                text,
                error,
            } => write!(
                f,
                "peers file {} line {line}: invalid peer {text:?}: {error}",
                path.display()
            ),
        }
    }
}

impl std::error::Error for PeersFileError {}

/// Reads the peers file at `path`: its peers in file order.
pub fn load_peers(path: &Path) -> Result<Vec<PeerAddr>, PeersFileError> {
    let unreadable = |error: io::Error| PeersFileError::Unreadable {
        path: path.to_owned(),
        error,
    };
    let file = File::open(path).map_err(unreadable)?;
    let mut text = String::new();
    file.take(MAX_PEERS_FILE_LEN + 1)
        .read_to_string(&mut text)
        .map_err(unreadable)?;
    if text.len() as u64 > MAX_PEERS_FILE_LEN {
        return Err(PeersFileError::TooLarge(path.to_owned()));
    }
    parse_peers(&text).map_err(|(line, text, error)| PeersFileError::BadLine {
        path: path.to_owned(),
        line,
        text,
        error,
    })
}

/// The peers of a peers file's `text`; the first bad line as (number, address, why).
pub fn parse_peers(text: &str) -> Result<Vec<PeerAddr>, (usize, String, PeerError)> {
    let mut peers = Vec::new();
    for (number, line) in text.lines().enumerate() {
        let address = line.split('#').next().unwrap_or("").trim();
        if address.is_empty() {
            continue;
        }
        let peer =
            PeerAddr::parse(address).map_err(|error| (number + 1, address.to_owned(), error))?;
        peers.push(peer);
    }
    Ok(peers)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn comments_blank_lines_and_ports() {
        let text = "# seeds of rack 1\n\n10.0.0.1\n  10.0.0.2:9000   # the old one\n[fd00::1]:7477\nfd00::2\n";
        let peers = parse_peers(text).unwrap();
        let written: Vec<String> = peers
            .iter()
            .map(|p| p.socket_addr(7477).to_string())
            .collect();
        assert_eq!(
            written,
            [
                "10.0.0.1:7477",
                "10.0.0.2:9000",
                "[fd00::1]:7477",
                "[fd00::2]:7477"
            ]
        );
        assert_eq!(parse_peers("").unwrap(), []);
        assert_eq!(parse_peers("# nothing\n   \n").unwrap(), []);
    }

    #[test]
    fn the_first_bad_line_is_named() {
        let error = parse_peers("10.0.0.1\n\n10.0.0.2 10.0.0.3\n10.0.0.x\n").unwrap_err();
        assert_eq!(error, (3, "10.0.0.2 10.0.0.3".into(), PeerError::Syntax));
        let error = parse_peers("239.255.77.77").unwrap_err();
        assert_eq!(error.2, PeerError::Multicast);
    }

    #[test]
    fn errors_name_the_file_and_the_line() {
        let dir = crate::test_dir::TempDir::new("peers-file");
        let path = dir.path().join("peers");
        std::fs::write(&path, "10.0.0.1\n10.0.0.1:0\n").unwrap();
        let error = load_peers(&path).unwrap_err().to_string();
        assert_eq!(
            error,
            format!(
                "peers file {} line 2: invalid peer \"10.0.0.1:0\": the port must be from 1 to 65535",
                path.display()
            )
        );
        std::fs::write(&path, vec![b'#'; MAX_PEERS_FILE_LEN as usize + 1]).unwrap();
        assert!(matches!(
            load_peers(&path),
            Err(PeersFileError::TooLarge(_))
        ));
        let missing = load_peers(&dir.path().join("missing"))
            .unwrap_err()
            .to_string();
        assert!(missing.starts_with("cannot read peers file"), "{missing}");
        assert!(!missing.contains('\n'));
    }
}
