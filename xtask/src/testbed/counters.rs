//! The counters an `omdiscd` writes as JSON with `--counters-file` (omdisc-std's
//! `counter_report`): at start, on every SIGUSR1 and when it stops. Read with serde_json;
//! asking for a counter the daemon does not write is an error, not a 0.

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

use serde::Deserialize;

use super::wait::wait_until;

/// How often a snapshot wait looks at the file.
const SNAPSHOT_POLL: Duration = Duration::from_millis(10);

/// One snapshot of a daemon's counters.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Counters {
    /// Why it was written: `start`, `SIGUSR1` or `stop`.
    pub reason: String,
    /// Writes of this run before this one.
    pub sequence: u64,
    counters: BTreeMap<String, u64>,
}

impl Counters {
    /// Parses the file's text.
    pub fn parse(text: &str) -> Result<Counters, String> {
        serde_json::from_str(text).map_err(|e| format!("not a counters file: {e}"))
    }

    /// Reads the file at `path`.
    pub fn read(path: &Path) -> Result<Counters, String> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
        Counters::parse(&text).map_err(|why| format!("{}: {why}", path.display()))
    }

    /// Counter `name`; an error if the daemon wrote no such counter.
    pub fn get(&self, name: &str) -> Result<u64, String> {
        self.counters.get(name).copied().ok_or_else(|| {
            format!(
                "the daemon writes no counter {name:?} (it writes {})",
                self.counters.keys().cloned().collect::<Vec<_>>().join(", ")
            )
        })
    }

    /// Calls `ask` (e.g. sends SIGUSR1), then waits up to `timeout` for a snapshot newer than
    /// the one the file at `path` holds now.
    pub fn fresh(
        path: &Path,
        timeout: Duration,
        ask: impl FnOnce() -> Result<(), String>,
    ) -> Result<Counters, String> {
        let before = Counters::read(path).ok().map(|c| c.sequence);
        ask()?;
        let mut latest = None;
        wait_until(timeout, SNAPSHOT_POLL, || {
            latest = Counters::read(path)
                .ok()
                .filter(|c| before.is_none_or(|b| c.sequence > b));
            latest.is_some()
        })
        .map_err(|_| format!("no new counters in {} within {timeout:?}", path.display()))?;
        latest.ok_or_else(|| "no counters".to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const FILE: &str =
        r#"{"reason":"stop","sequence":3,"counters":{"received":12,"refused-auth":7,"sent":3}}"#;

    #[test]
    fn counters_are_read_by_name() {
        let counters = Counters::parse(FILE).unwrap();
        assert_eq!(counters.reason, "stop");
        assert_eq!(counters.sequence, 3);
        assert_eq!(counters.get("received"), Ok(12));
        assert_eq!(counters.get("refused-auth"), Ok(7));
    }

    #[test]
    fn an_unknown_counter_is_an_error() {
        let counters = Counters::parse(FILE).unwrap();
        let error = counters.get("refused-stale").unwrap_err();
        assert!(
            error.contains("refused-stale") && error.contains("received"),
            "{error}"
        );
    }

    #[test]
    fn anything_but_a_counters_file_is_refused() {
        assert!(Counters::parse("counters: received=1").is_err());
        assert!(Counters::parse(r#"{"reason":"stop","sequence":1}"#).is_err());
        assert!(Counters::parse(r#"{"reason":"stop","sequence":1,"counters":{"a":-1}}"#).is_err());
    }
}
