//! The cluster key file (`--key-file`): one or two keys in hex, one per line; the first
//! signs, both verify (for rolling to a new key without a partition).
//!
//! The file must not be readable by group or others, and every key must be 32 to 128 hex
//! digits (`openssl rand -hex 32`). Blank lines and lines starting with `#` are ignored.
//! Any problem is refused with one line: a daemon asked to use a key never falls back to
//! running unauthenticated.

use std::fmt;
use std::fs::File;
use std::io::{self, Read};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use omdisc_core::wire::{ClusterKey, KeyError, Keyring};

/// Largest key file read (two 128-digit keys and comments fit easily).
const MAX_KEY_FILE_LEN: u64 = 4096;

/// Why a key file was refused. `Display` is one line and never shows key material.
#[derive(Debug)]
pub enum KeyFileError {
    /// The file cannot be opened or read.
    Unreadable {
        /// The key file.
        path: PathBuf,
        /// Why.
        error: io::Error,
    },
    /// Group or others may read the file.
    TooOpen {
        /// The key file.
        path: PathBuf,
        /// Its permission bits.
        mode: u32,
    },
    /// The file is larger than any key file.
    TooLarge(PathBuf),
    /// No key in the file.
    Empty(PathBuf),
    /// More than two keys.
    TooManyKeys(PathBuf),
    /// A key is malformed.
    BadKey {
        /// The key file.
        path: PathBuf,
        /// 1-based line number.
        line: usize,
        /// What is wrong.
        error: KeyError,
    },
}

impl fmt::Display for KeyFileError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            KeyFileError::Unreadable { path, error } => {
                write!(f, "cannot read key file {}: {error}", path.display())
            }
            KeyFileError::TooOpen { path, mode } => write!(
                f,
                "key file {} is readable by group or others (mode {:04o}); chmod 600 it",
                path.display(),
                mode & 0o7777
            ),
            KeyFileError::TooLarge(path) => write!(
                f,
                "key file {} is too large to be a key file",
                path.display()
            ),
            KeyFileError::Empty(path) => write!(f, "key file {} holds no key", path.display()),
            KeyFileError::TooManyKeys(path) => write!(
                f,
                "key file {} holds more than two keys (the first signs, both verify)",
                path.display()
            ),
            KeyFileError::BadKey { path, line, error } => {
                write!(f, "key file {} line {line}: {error}", path.display())
            }
        }
    }
}

impl std::error::Error for KeyFileError {}

/// SIGHUP: re-reads the key file at `path` (if one was given) and logs what happened.
/// `Some` with the new keys; `None` keeps the current ones (no file given, or the file is
/// now bad — a frontend never falls back to running unauthenticated).
pub fn reload_on_sighup(path: Option<&Path>) -> Option<Keyring> {
    let Some(path) = path else {
        log::info!("SIGHUP: no --key-file given, nothing to reload");
        return None;
    };
    match load_keyring(path) {
        Ok(keyring) => {
            let count = keyring.keys().len();
            log::info!(
                "SIGHUP: reloaded {} ({count} key{})",
                path.display(),
                if count == 1 { "" } else { "s" }
            );
            Some(keyring)
        }
        Err(error) => {
            log::warn!("SIGHUP: {error}; keeping the current keys");
            None
        }
    }
}

/// Reads and checks the key file at `path`.
pub fn load_keyring(path: &Path) -> Result<Keyring, KeyFileError> {
    let unreadable = |error: io::Error| KeyFileError::Unreadable {
        path: path.to_owned(),
        error,
    };
    let file = File::open(path).map_err(unreadable)?;
    let meta = file.metadata().map_err(unreadable)?;
    if !meta.is_file() {
        return Err(unreadable(io::Error::new(
            io::ErrorKind::InvalidInput,
            "not a regular file",
        )));
    }
    let mode = meta.permissions().mode();
    if mode & 0o044 != 0 {
        return Err(KeyFileError::TooOpen {
            path: path.to_owned(),
            mode,
        });
    }
    let mut text = String::new();
    file.take(MAX_KEY_FILE_LEN + 1)
        .read_to_string(&mut text)
        .map_err(unreadable)?;
    if text.len() as u64 > MAX_KEY_FILE_LEN {
        return Err(KeyFileError::TooLarge(path.to_owned()));
    }
    parse_keyring(path, &text)
}

/// Parses the text of a key file (`path` only names it in errors).
pub fn parse_keyring(path: &Path, text: &str) -> Result<Keyring, KeyFileError> {
    let mut keyring: Option<Keyring> = None;
    for (number, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let bad_key = |error| KeyFileError::BadKey {
            path: path.to_owned(),
            line: number + 1,
            error,
        };
        let key = ClusterKey::from_hex(line).map_err(bad_key)?;
        match &mut keyring {
            None => keyring = Some(Keyring::new(key)),
            Some(ring) => ring
                .add_verify_key(key)
                .map_err(|_| KeyFileError::TooManyKeys(path.to_owned()))?,
        }
    }
    keyring.ok_or_else(|| KeyFileError::Empty(path.to_owned()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fs;
    use std::os::unix::fs::OpenOptionsExt;

    const KEY_A: &str = "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff";
    const KEY_B: &str = "ffeeddccbbaa99887766554433221100";

    fn write_key_file(tag: &str, text: &str, mode: u32) -> PathBuf {
        let path =
            std::env::temp_dir().join(format!("omdisc-key-test-{tag}-{}", std::process::id()));
        let _ = fs::remove_file(&path);
        let mut file = fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(mode)
            .open(&path)
            .unwrap();
        std::io::Write::write_all(&mut file, text.as_bytes()).unwrap();
        fs::set_permissions(&path, fs::Permissions::from_mode(mode)).unwrap();
        path
    }

    #[test]
    fn one_key_signs() {
        let path = write_key_file("one", &format!("{KEY_A}\n"), 0o600);
        let ring = load_keyring(&path).unwrap();
        assert_eq!(ring.keys().len(), 1);
        fs::remove_file(path).unwrap();
    }

    #[test]
    fn two_keys_with_comments_and_blank_lines() {
        let text = format!("# new key first\n{KEY_B}\n\n  {KEY_A}  \n");
        let ring = parse_keyring(Path::new("k"), &text).unwrap();
        assert_eq!(ring.keys().len(), 2);
        let b = ClusterKey::from_hex(KEY_B).unwrap();
        assert_eq!(ring.signing_key().id(), b.id());
    }

    #[test]
    fn three_keys_are_refused() {
        let text = format!("{KEY_A}\n{KEY_B}\n{KEY_A}\n");
        assert!(matches!(
            parse_keyring(Path::new("k"), &text),
            Err(KeyFileError::TooManyKeys(_))
        ));
    }

    #[test]
    fn short_and_non_hex_keys_are_refused_with_their_line() {
        let err = parse_keyring(Path::new("k"), "# c\n0011\n").unwrap_err();
        assert!(
            matches!(err, KeyFileError::BadKey { line: 2, .. }),
            "{err:?}"
        );
        let err = parse_keyring(Path::new("k"), &KEY_A.replace('a', "g")).unwrap_err();
        assert!(
            matches!(err, KeyFileError::BadKey { line: 1, .. }),
            "{err:?}"
        );
        assert!(!err.to_string().contains("0011223344"));
    }

    #[test]
    fn empty_file_is_refused() {
        assert!(matches!(
            parse_keyring(Path::new("k"), "\n# only a comment\n"),
            Err(KeyFileError::Empty(_))
        ));
    }

    #[test]
    fn group_or_world_readable_file_is_refused() {
        for mode in [0o640, 0o604, 0o644] {
            let path = write_key_file(&format!("open{mode:o}"), KEY_A, mode);
            let err = load_keyring(&path).unwrap_err();
            assert!(matches!(err, KeyFileError::TooOpen { .. }), "{mode:o}");
            assert!(err.to_string().contains("chmod 600"));
            fs::remove_file(path).unwrap();
        }
    }

    #[test]
    fn missing_file_is_unreadable() {
        let err = load_keyring(Path::new("/nonexistent/omdisc.key")).unwrap_err();
        assert!(matches!(err, KeyFileError::Unreadable { .. }));
        assert!(!err.to_string().contains('\n'));
    }
}
