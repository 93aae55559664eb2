//! Log levels the systemd journal understands, on standard error.
//!
//! systemd connects a service's standard error to the journal and says so in
//! `$JOURNAL_STREAM` (`DEVICE:INODE` of that stream). When standard error is that stream,
//! each line starts with its `sd-daemon(3)` priority (`<3>` error … `<7>` debug), which
//! journald strips and records, so `journalctl -p warning -u omdiscd` shows warnings and
//! errors only. On a terminal or in a file the lines stay as they are.

use std::os::fd::AsFd;
use std::os::unix::fs::MetadataExt;
use std::sync::OnceLock;

use log::Level;

/// Environment variable systemd sets to the `DEVICE:INODE` of the journal stream.
pub const JOURNAL_STREAM_ENV: &str = "JOURNAL_STREAM";

/// Whether standard error is the journal stream systemd named (checked once per process).
pub fn stderr_is_journal() -> bool {
    static IS_JOURNAL: OnceLock<bool> = OnceLock::new();
    *IS_JOURNAL.get_or_init(|| {
        let Ok(stream) = std::env::var(JOURNAL_STREAM_ENV) else {
            return false;
        };
        let Some((device, inode)) = stderr_device_and_inode() else {
            return false;
        };
        names_stream(&stream, device, inode)
    })
}

/// `DEVICE:INODE` as systemd writes it (both decimal) names this device and inode.
fn names_stream(value: &str, device: u64, inode: u64) -> bool {
    let Some((dev, ino)) = value.trim().split_once(':') else {
        return false;
    };
    dev.parse() == Ok(device) && ino.parse() == Ok(inode)
}

fn stderr_device_and_inode() -> Option<(u64, u64)> {
    let fd = std::io::stderr().as_fd().try_clone_to_owned().ok()?;
    let meta = std::fs::File::from(fd).metadata().ok()?;
    Some((meta.dev(), meta.ino()))
}

/// The `sd-daemon(3)` prefix of a line at `level`.
pub fn priority_prefix(level: Level) -> &'static str {
    match level {
        Level::Error => "<3>",
        Level::Warn => "<4>",
        Level::Info => "<6>",
        Level::Debug | Level::Trace => "<7>",
    }
}

/// The prefix of an error line written before logging starts: `<3>` in the journal,
/// nothing elsewhere.
pub fn error_prefix() -> &'static str {
    if stderr_is_journal() {
        priority_prefix(Level::Error)
    } else {
        ""
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_stream_matches_only_its_own_device_and_inode() {
        assert!(names_stream("8:1234", 8, 1234));
        assert!(names_stream("8:1234\n", 8, 1234));
        assert!(!names_stream("8:1235", 8, 1234));
        assert!(!names_stream("9:1234", 8, 1234));
        assert!(!names_stream("", 8, 1234));
        assert!(!names_stream("8-1234", 8, 1234));
    }

    #[test]
    fn warnings_and_errors_rank_above_info() {
        assert_eq!(priority_prefix(Level::Error), "<3>");
        assert_eq!(priority_prefix(Level::Warn), "<4>");
        assert_eq!(priority_prefix(Level::Info), "<6>");
        assert_eq!(priority_prefix(Level::Trace), "<7>");
    }
}
