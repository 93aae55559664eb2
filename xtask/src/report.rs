//! Running named stages one after another: each prints what it did and how long it took,
//! a failure (or panic) is recorded without stopping the rest unless asked, and a summary
//! table with the total ends the run and decides the exit code.

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::process::ExitCode;
use std::time::{Duration, Instant};

/// How a stage ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// It ran and passed; the text says what it found (may be empty).
    Passed(String),
    /// It ran and failed; the text says why in one line.
    Failed(String),
    /// Not run: another issue still has to build it, or the run stopped early.
    NotRun(String),
}

/// One finished stage for the summary.
#[derive(Debug)]
struct Record {
    name: String,
    outcome: Outcome,
    took: Duration,
}

/// The stages of one xtask run and their outcomes.
#[derive(Debug)]
pub struct Report {
    title: String,
    records: Vec<Record>,
    fail_fast: bool,
    started: Instant,
}

impl Report {
    /// Starts a report; with `fail_fast`, stages after the first failure are not run.
    pub fn new(title: &str, fail_fast: bool) -> Self {
        Report {
            title: title.to_string(),
            records: Vec::new(),
            fail_fast,
            started: Instant::now(),
        }
    }

    /// Whether any stage has failed so far.
    pub fn failed(&self) -> bool {
        self.records
            .iter()
            .any(|r| matches!(r.outcome, Outcome::Failed(_)))
    }

    /// Runs `stage` under `name`, printing its start, its end and its duration. A panic inside
    /// counts as a failure. Returns whether it passed.
    pub fn stage(&mut self, name: &str, stage: impl FnOnce() -> Result<String, String>) -> bool {
        if self.fail_fast && self.failed() {
            self.record(
                name,
                Outcome::NotRun("an earlier stage failed".into()),
                Duration::ZERO,
            );
            return false;
        }
        println!("\n==> {name}");
        let started = Instant::now();
        let outcome = match catch_unwind(AssertUnwindSafe(stage)) {
            Ok(Ok(note)) => Outcome::Passed(note),
            Ok(Err(why)) => Outcome::Failed(why),
            Err(panic) => Outcome::Failed(format!("panicked: {}", panic_text(panic.as_ref()))),
        };
        let took = started.elapsed();
        let passed = matches!(outcome, Outcome::Passed(_));
        match &outcome {
            Outcome::Passed(note) => println!("<== {name}: ok in {}  {note}", duration(took)),
            Outcome::Failed(why) => println!("<== {name}: FAILED in {}: {why}", duration(took)),
            Outcome::NotRun(_) => {}
        }
        self.record(name, outcome, took);
        passed
    }

    fn record(&mut self, name: &str, outcome: Outcome, took: Duration) {
        self.records.push(Record {
            name: name.to_string(),
            outcome,
            took,
        });
    }

    /// Prints the summary table and returns the run's exit code (failure if any stage failed).
    pub fn finish(self) -> ExitCode {
        let width = self
            .records
            .iter()
            .map(|r| r.name.len())
            .max()
            .unwrap_or(0)
            .max(5);
        println!("\n{} summary", self.title);
        println!("{:<width$}  {:<7}  {:>8}  note", "stage", "result", "time");
        for record in &self.records {
            let (result, note) = match &record.outcome {
                Outcome::Passed(note) => ("ok", note.as_str()),
                Outcome::Failed(why) => ("FAILED", why.as_str()),
                Outcome::NotRun(why) => ("not run", why.as_str()),
            };
            println!(
                "{:<width$}  {result:<7}  {:>8}  {note}",
                record.name,
                duration(record.took)
            );
        }
        let sum: Duration = self.records.iter().map(|r| r.took).sum();
        println!(
            "{:<width$}  {:<7}  {:>8}  wall clock; the stages' own times add up to {}",
            "total",
            "",
            duration(self.started.elapsed()),
            duration(sum)
        );
        let count = |f: fn(&Outcome) -> bool| self.records.iter().filter(|r| f(&r.outcome)).count();
        let passed = count(|o| matches!(o, Outcome::Passed(_)));
        let failed = count(|o| matches!(o, Outcome::Failed(_)));
        let not_run = count(|o| matches!(o, Outcome::NotRun(_)));
        println!("{} took {}", self.title, duration(self.started.elapsed()));
        // Last line in the plain `N passed, N failed, N skipped` form CI log readers know.
        println!("stages: {passed} passed, {failed} failed, {not_run} skipped");
        if failed == 0 {
            ExitCode::SUCCESS
        } else {
            ExitCode::FAILURE
        }
    }
}

/// The message of a caught panic.
pub fn panic_text(panic: &(dyn std::any::Any + Send)) -> String {
    if let Some(s) = panic.downcast_ref::<&str>() {
        s.to_string()
    } else if let Some(s) = panic.downcast_ref::<String>() {
        s.clone()
    } else {
        "(no message)".to_string()
    }
}

/// A duration for people: `0.42s`, `12.3s`, `2m05s`.
pub fn duration(d: Duration) -> String {
    let secs = d.as_secs_f64();
    if secs < 10.0 {
        format!("{secs:.2}s")
    } else if secs < 60.0 {
        format!("{secs:.1}s")
    } else {
        format!("{}m{:02}s", d.as_secs() / 60, d.as_secs() % 60)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_read_naturally() {
        assert_eq!(duration(Duration::from_millis(420)), "0.42s");
        assert_eq!(duration(Duration::from_millis(12_345)), "12.3s");
        assert_eq!(duration(Duration::from_secs(125)), "2m05s");
    }

    #[test]
    fn a_failing_stage_fails_the_run_but_later_stages_still_run() {
        let mut report = Report::new("t", false);
        assert!(!report.stage("a", || Err("broken".into())));
        let mut ran = false;
        assert!(report.stage("b", || {
            ran = true;
            Ok(String::new())
        }));
        assert!(ran);
        assert!(report.failed());
        assert_eq!(report.finish(), ExitCode::FAILURE);
    }

    #[test]
    fn fail_fast_skips_the_rest() {
        let mut report = Report::new("t", true);
        report.stage("a", || Err("broken".into()));
        let mut ran = false;
        report.stage("b", || {
            ran = true;
            Ok(String::new())
        });
        assert!(!ran);
        assert!(matches!(report.records[1].outcome, Outcome::NotRun(_)));
    }

    #[test]
    fn a_panicking_stage_is_a_failure() {
        let mut report = Report::new("t", false);
        assert!(!report.stage("a", || panic!("boom")));
        assert_eq!(
            report.records[0].outcome,
            Outcome::Failed("panicked: boom".into())
        );
    }
}
