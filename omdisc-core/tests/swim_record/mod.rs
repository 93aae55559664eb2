//! The figures of one probe-protocol case (engines in the simulator, or the model), which
//! cases a run was asked for, and where their rows go: a `swim-figure key=value ...` line
//! and a row of the docs/performance.md table on stdout, and the same line in
//! docs/swim-figures.txt (one line per case, replaced when the case is run again), which
//! `cargo xtask bench --only model` draws into docs/swim-crash-detection.svg.

#![allow(dead_code)] // the figures test and the model check use different parts

use std::path::PathBuf;

/// The record of the last measured figures, relative to the workspace root.
pub const RECORD: &str = "docs/swim-figures.txt";

/// The cases selected by `OMDISC_SWIM_SIZES` (comma-separated; else `default_sizes`),
/// `OMDISC_SWIM_MULTICAST` (`yes` or `no`; else both) and `OMDISC_SWIM_LOSS` (`0` or
/// `25` percent; else both): `(members, multicast, loss per mille)`.
pub fn selected(default_sizes: &[usize]) -> Vec<(usize, bool, u64)> {
    let var = |name: &str| std::env::var(name).ok().filter(|v| !v.is_empty());
    let sizes: Vec<usize> = var("OMDISC_SWIM_SIZES").map_or_else(
        || default_sizes.to_vec(),
        |s| {
            s.split(',')
                .map(|n| n.trim().parse().expect("OMDISC_SWIM_SIZES: numbers"))
                .collect()
        },
    );
    let multicast: Vec<bool> = match var("OMDISC_SWIM_MULTICAST").as_deref() {
        None => vec![true, false],
        Some("yes") => vec![true],
        Some("no") => vec![false],
        Some(other) => panic!("OMDISC_SWIM_MULTICAST: yes or no, not {other:?}"),
    };
    let loss: Vec<u64> = match var("OMDISC_SWIM_LOSS").as_deref() {
        None => vec![0, 250],
        Some("0") => vec![0],
        Some("25") => vec![250],
        Some(other) => panic!("OMDISC_SWIM_LOSS: 0 or 25, not {other:?}"),
    };
    let mut cases = Vec::new();
    for &n in &sizes {
        for &m in &multicast {
            for &l in &loss {
                cases.push((n, m, l));
            }
        }
    }
    cases
}

/// What one case measured. Times in virtual ms; `u64::MAX`: did not happen in time.
#[derive(Clone, Debug)]
pub struct Figures {
    /// `engines` (the simulator) or `model`.
    pub source: &'static str,
    pub members: usize,
    pub multicast: bool,
    pub per_mille: u64,
    pub converged: bool,
    pub join_everywhere_ms: u64,
    pub join_complete_ms: u64,
    pub steady_s: u64,
    pub false_removals: usize,
    pub per_member_bytes_s: f64,
    pub aggregate_bytes_s: f64,
    pub crashes: usize,
    pub undetected: usize,
    /// Per crash found: when the first map dropped it, and when the last did.
    pub first: Vec<u64>,
    pub last: Vec<u64>,
    pub live_removed: usize,
    pub wall_s: f64,
    pub peak_rss_mb: u64,
}

/// Median and largest of `v`; 0 for none.
pub fn median_max(v: &[u64]) -> (u64, u64) {
    let mut v = v.to_vec();
    v.sort_unstable();
    (
        v.get(v.len() / 2).copied().unwrap_or(0),
        v.last().copied().unwrap_or(0),
    )
}

impl Figures {
    pub fn new(source: &'static str, members: usize, multicast: bool, per_mille: u64) -> Self {
        Figures {
            source,
            members,
            multicast,
            per_mille,
            converged: true,
            join_everywhere_ms: 0,
            join_complete_ms: 0,
            steady_s: 0,
            false_removals: 0,
            per_member_bytes_s: 0.0,
            aggregate_bytes_s: 0.0,
            crashes: 0,
            undetected: 0,
            first: Vec::new(),
            last: Vec::new(),
            live_removed: 0,
            wall_s: 0.0,
            peak_rss_mb: 0,
        }
    }

    /// A crash was found: `times` are when each map dropped it (ms after the crash).
    pub fn detected(&mut self, times: &[u64]) {
        self.first.push(times.iter().copied().min().unwrap_or(0));
        self.last.push(times.iter().copied().max().unwrap_or(0));
    }

    /// The case ended: its wall time since `started`, and the process's peak RSS so far.
    pub fn finish(&mut self, started: std::time::Instant) {
        self.wall_s = started.elapsed().as_secs_f64();
        self.peak_rss_mb = std::fs::read_to_string("/proc/self/status")
            .ok()
            .and_then(|s| {
                s.lines()
                    .find(|l| l.starts_with("VmHWM:"))
                    .and_then(|l| l.split_whitespace().nth(1)?.parse::<u64>().ok())
            })
            .map_or(0, |kb| kb / 1024);
    }

    /// The case's key in the record.
    fn key(&self) -> String {
        format!(
            "source={} members={} multicast={} loss_pct={}",
            self.source,
            self.members,
            if self.multicast { "yes" } else { "no" },
            self.per_mille / 10
        )
    }

    /// The `swim-figure` line (also the record's line).
    pub fn line(&self) -> String {
        let (first_median, first_max) = median_max(&self.first);
        let (all_median, all_max) = median_max(&self.last);
        format!(
            "{} converged={} detect_first_median_ms={first_median} detect_first_max_ms={first_max} \
             detect_all_median_ms={all_median} detect_all_max_ms={all_max} crashes={} undetected={} \
             join_everywhere_ms={} join_complete_ms={} false_removals={} steady_s={} live_removed={} \
             per_member_bytes_s={:.0} aggregate_bytes_s={:.0} wall_s={:.1} peak_rss_mb={} date={}",
            self.key(),
            self.converged,
            self.crashes,
            self.undetected,
            self.join_everywhere_ms,
            self.join_complete_ms,
            self.false_removals,
            self.steady_s,
            self.live_removed,
            self.per_member_bytes_s,
            self.aggregate_bytes_s,
            self.wall_s,
            self.peak_rss_mb,
            today(),
        )
    }

    /// The row of the docs/performance.md table (the model's: crash columns only).
    pub fn row(&self) -> String {
        let s = |ms: u64| {
            if ms == u64::MAX {
                "—".to_string()
            } else {
                format!("{:.1} s", ms as f64 / 1000.0)
            }
        };
        let (first_median, first_max) = median_max(&self.first);
        let (all_median, all_max) = median_max(&self.last);
        let found = |v: u64| {
            if self.first.is_empty() {
                "—".to_string()
            } else {
                s(v)
            }
        };
        if !self.converged {
            return format!(
                "| {} | {} | {} % | did not converge in 120 s | | | | | | | | |",
                self.members,
                if self.multicast { "yes" } else { "no" },
                self.per_mille / 10,
            );
        }
        let case = format!(
            "| {} | {} | {} % |",
            self.members,
            if self.multicast { "yes" } else { "no" },
            self.per_mille / 10,
        );
        let crashes = format!(
            " {} / {} | {} / {} | {} of {} |",
            found(first_median),
            found(first_max),
            found(all_median),
            found(all_max),
            self.undetected,
            self.crashes,
        );
        if self.source == "model" {
            // The model gives the crash columns only.
            return format!("{case}{crashes}");
        }
        format!(
            "{case} {} | {} |{crashes} {} in {} s | {} | {:.0} | {:.0} |",
            s(self.join_everywhere_ms),
            s(self.join_complete_ms),
            self.false_removals,
            self.steady_s,
            self.live_removed,
            self.per_member_bytes_s,
            self.aggregate_bytes_s,
        )
    }

    /// Prints the line and the row, and puts the line in the record.
    pub fn report(&self) {
        let line = self.line();
        println!("swim-figure {line}");
        println!("swim-row {}", self.row());
        if let Err(e) = record(&self.key(), &line) {
            println!("swim-figure: {RECORD} not written: {e}");
        }
    }
}

/// Replaces the record's line for `key` by `line` (lines sorted).
fn record(key: &str, line: &str) -> std::io::Result<()> {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("..")
        .join(RECORD);
    let old = std::fs::read_to_string(&path).unwrap_or_default();
    let prefix = format!("{key} ");
    let mut lines: Vec<&str> = old
        .lines()
        .filter(|l| !l.starts_with('#') && !l.starts_with(&prefix) && !l.trim().is_empty())
        .collect();
    lines.push(line);
    lines.sort_by_key(|l| sort_key(l));
    let mut text = String::from(
        "# Probe-protocol figures (docs/performance.md), one line per case, written by\n\
         # cargo test --release -p omdisc-core --test swim_figures -- --ignored --nocapture\n",
    );
    for l in lines {
        text.push_str(l);
        text.push('\n');
    }
    std::fs::write(path, text)
}

/// Source, size, multicast, loss: the record's order.
fn sort_key(line: &str) -> (String, usize, String, u64) {
    let field = |name: &str| {
        line.split_whitespace()
            .find_map(|f| f.strip_prefix(name)?.strip_prefix('='))
            .unwrap_or("")
            .to_string()
    };
    (
        field("source"),
        field("members").parse().unwrap_or(0),
        field("multicast"),
        field("loss_pct").parse().unwrap_or(0),
    )
}

/// Today's date (UTC), as YYYY-MM-DD.
fn today() -> String {
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    // Civil date from days since 1970-01-01 (Howard Hinnant's algorithm).
    let z = (secs / 86_400) as i64 + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1_460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!("{year:04}-{month:02}-{day:02}")
}
