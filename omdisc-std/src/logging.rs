//! The logger of the Linux programs (`omdiscd`, `omdisc-tap`): stderr in the foreground,
//! syslog (facility daemon) when detached; and the SIGUSR1 switch between default and full
//! debug output. Under systemd, stderr lines carry the journal's priority prefix instead of
//! the program name ([`crate::journal`]).
//!
//! Debug categories are the `log` targets of the messages (the core's `net`, `map`,
//! `relay`, ...); the stderr logger shows the category of debug and trace lines. smoltcp's
//! own log lines (its internals, under `omdisc-tap`) are not shown.

use std::ffi::CStr;
use std::io::Write;

use log::{Level, LevelFilter, Log, Metadata, Record};
use nix::syslog::{openlog, syslog, Facility, LogFlags, Priority, Severity};

use crate::journal;

/// Level while debug output is off.
pub const DEFAULT_LEVEL: LevelFilter = LevelFilter::Info;
/// Level while debug output is on (SIGUSR1).
pub const DEBUG_LEVEL: LevelFilter = LevelFilter::Trace;

/// Identity of syslog lines (the daemon is the only program that detaches).
const SYSLOG_IDENT: &CStr = c"omdiscd";

/// `log` targets whose lines are not shown: smoltcp's internals.
const HIDDEN_TARGET: &str = "smoltcp";

/// Where log lines go.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogDestination {
    /// Standard error, `PROGRAM: LEVEL: message`.
    Stderr,
    /// The system log, facility `daemon`, with the pid.
    Syslog,
}

struct Logger {
    program: &'static str,
    destination: LogDestination,
    /// Stderr is systemd's journal stream: `<N>` priority prefixes.
    journal: bool,
}

impl Log for Logger {
    fn enabled(&self, metadata: &Metadata<'_>) -> bool {
        metadata.level() <= log::max_level() && !is_hidden(metadata.target())
    }

    fn log(&self, record: &Record<'_>) {
        if !self.enabled(record.metadata()) {
            return;
        }
        let line = format_line(record.level(), record.target(), &record.args().to_string());
        match self.destination {
            LogDestination::Stderr if self.journal => {
                let prefix = journal::priority_prefix(record.level());
                let _ = writeln!(std::io::stderr().lock(), "{prefix}{line}");
            }
            LogDestination::Stderr => {
                let _ = writeln!(std::io::stderr().lock(), "{}: {line}", self.program);
            }
            LogDestination::Syslog => {
                let priority = Priority::new(severity(record.level()), Facility::LOG_DAEMON);
                let _ = syslog(priority, line.as_str());
            }
        }
    }

    fn flush(&self) {}
}

/// Whether lines of `target` are left out.
fn is_hidden(target: &str) -> bool {
    target.starts_with(HIDDEN_TARGET)
}

/// `LEVEL: message`, or `LEVEL(category): message` for debug and trace lines.
fn format_line(level: Level, target: &str, message: &str) -> String {
    let level_name = level.as_str().to_ascii_lowercase();
    let message = message.replace('\n', " ");
    if level >= Level::Debug {
        let category = target.rsplit("::").next().unwrap_or(target);
        format!("{level_name}({category}): {message}")
    } else {
        format!("{level_name}: {message}")
    }
}

fn severity(level: Level) -> Severity {
    match level {
        Level::Error => Severity::LOG_ERR,
        Level::Warn => Severity::LOG_WARNING,
        Level::Info => Severity::LOG_INFO,
        Level::Debug | Level::Trace => Severity::LOG_DEBUG,
    }
}

/// Installs the logger of `program` at [`DEFAULT_LEVEL`]. Only the first call in a process
/// has effect.
pub fn init(program: &'static str, destination: LogDestination) {
    if destination == LogDestination::Syslog {
        let _ = openlog(Some(SYSLOG_IDENT), LogFlags::LOG_PID, Facility::LOG_DAEMON);
    }
    let journal = destination == LogDestination::Stderr && journal::stderr_is_journal();
    let logger = Box::new(Logger {
        program,
        destination,
        journal,
    });
    if log::set_boxed_logger(logger).is_ok() {
        log::set_max_level(DEFAULT_LEVEL);
    }
}

/// Switches between default and full debug output; returns whether debug output is now on.
pub fn toggle_debug() -> bool {
    let debug = log::max_level() < DEBUG_LEVEL;
    log::set_max_level(if debug { DEBUG_LEVEL } else { DEFAULT_LEVEL });
    debug
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_lines_show_their_category() {
        assert_eq!(
            format_line(Level::Debug, "omdisc_core::net", "got 3"),
            "debug(net): got 3"
        );
        assert_eq!(format_line(Level::Warn, "omdiscd", "x"), "warn: x");
    }

    #[test]
    fn lines_never_span_lines() {
        assert_eq!(format_line(Level::Info, "t", "a\nb"), "info: a b");
    }

    #[test]
    fn smoltcp_internals_are_hidden() {
        assert!(is_hidden("smoltcp::iface"));
        assert!(!is_hidden("omdisc_smoltcp"));
        assert!(!is_hidden("omdisc_core::net"));
    }

    #[test]
    fn toggle_switches_between_the_two_levels() {
        log::set_max_level(DEFAULT_LEVEL);
        assert!(toggle_debug());
        assert_eq!(log::max_level(), DEBUG_LEVEL);
        assert!(!toggle_debug());
        assert_eq!(log::max_level(), DEFAULT_LEVEL);
    }
}
