//! The stderr logger: `omdisc-tap: LEVEL: message`, one line per record, and the SIGUSR1
//! switch between default and full debug output.

use std::io::Write;

use log::{Level, LevelFilter, Log, Metadata, Record};

/// Level while debug output is off.
pub const DEFAULT_LEVEL: LevelFilter = LevelFilter::Info;
/// Level while debug output is on.
pub const DEBUG_LEVEL: LevelFilter = LevelFilter::Debug;

struct StderrLogger;

impl Log for StderrLogger {
    fn enabled(&self, metadata: &Metadata<'_>) -> bool {
        // smoltcp's own debug output is not ours to show.
        metadata.level() <= log::max_level() && !metadata.target().starts_with("smoltcp")
    }

    fn log(&self, record: &Record<'_>) {
        if self.enabled(record.metadata()) {
            let line = format_line(record.level(), &record.args().to_string());
            let _ = writeln!(std::io::stderr().lock(), "{}: {line}", crate::PROGRAM);
        }
    }

    fn flush(&self) {}
}

fn format_line(level: Level, message: &str) -> String {
    format!(
        "{}: {}",
        level.as_str().to_ascii_lowercase(),
        message.replace('\n', " ")
    )
}

/// Installs the logger at [`DEFAULT_LEVEL`].
pub fn init() {
    if log::set_logger(&StderrLogger).is_ok() {
        log::set_max_level(DEFAULT_LEVEL);
    }
}

/// Switches between default and debug output; returns whether debug output is now on.
pub fn toggle_debug() -> bool {
    let debug = log::max_level() < DEBUG_LEVEL;
    log::set_max_level(if debug { DEBUG_LEVEL } else { DEFAULT_LEVEL });
    debug
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_are_one_line_with_their_level() {
        assert_eq!(format_line(Level::Warn, "a\nb"), "warn: a b");
    }
}
