//! "Warn once": an operation that keeps failing (a send on one interface, a map write) is
//! logged as a warning the first time, at debug level while it goes on, and at info level
//! when it works again, so a lasting fault does not flood the log.

use std::fmt::Display;

/// Whether an operation is in a failure series, and its log lines.
#[derive(Debug, Default)]
pub struct FailureLog {
    failing: bool,
}

impl FailureLog {
    /// The operation failed: a warning if it worked before, else a debug line.
    pub fn failed(&mut self, message: impl Display) {
        if self.failing {
            log::debug!("{message}");
        } else {
            self.failing = true;
            log::warn!("{message} (further failures logged at debug level)");
        }
    }

    /// The operation worked: `message` at info level if it was failing. `message` is only
    /// formatted then (pass `format_args!`).
    pub fn succeeded(&mut self, message: impl Display) {
        if self.failing {
            self.failing = false;
            log::info!("{message}");
        }
    }

    /// Whether the last attempt failed.
    pub fn is_failing(&self) -> bool {
        self.failing
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_series_starts_with_a_failure_and_ends_with_a_success() {
        let mut log = FailureLog::default();
        log.succeeded("not logged: nothing failed");
        assert!(!log.is_failing());
        log.failed("cannot send");
        log.failed("cannot send");
        assert!(log.is_failing());
        log.succeeded(format_args!("sending on {} works again", "veth0"));
        assert!(!log.is_failing());
    }
}
