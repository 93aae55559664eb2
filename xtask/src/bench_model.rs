//! The protocol-level benchmark stages: the analytic model (`model`), the simulator's
//! measurements beside it (`sim`), and the criterion micro-benchmarks (`micro`). Each runs
//! a cargo target of `omdisc-core` and prints what it measured.

use std::process::Command;
use std::time::Duration;

use crate::project::{show, Project};
use crate::testbed::run_bounded;

/// Longest a cargo build-and-run of a benchmark target may take.
const CARGO_TIMEOUT: Duration = Duration::from_secs(40 * 60);

/// One row of the model (see `omdisc-core/benches/bandwidth_model.rs`).
#[derive(Debug, Clone, PartialEq)]
pub struct ModelRow {
    /// `plain`, `keyed`, or `sim` (the simulator's settings).
    pub key: String,
    /// Cluster size.
    pub nodes: usize,
    /// Deterministic interval `Td`, ms.
    pub td_ms: u64,
    /// Advertised interval, ms.
    pub advertised_ms: u64,
    /// Datagrams per second on the segment.
    pub datagrams_per_s: f64,
    /// Bytes per second on the segment (headers included).
    pub bytes_per_s: f64,
    /// Datagrams per second without a budget.
    pub unbounded_per_s: f64,
    /// Crash dropped by every node after at least this many ms...
    pub crash_min_ms: u64,
    /// ...and at most this many.
    pub crash_max_ms: u64,
}

/// The model's rows.
#[derive(Debug, Clone, Default)]
pub struct Model {
    /// Every `model ...` line of the model's output.
    pub rows: Vec<ModelRow>,
}

impl Model {
    /// Parses the `model KEY N Td A dg/s bytes/s unbounded crash_min crash_max newcomer`
    /// lines of the model's output.
    pub fn parse(output: &str) -> Result<Model, String> {
        let mut rows = Vec::new();
        for line in output.lines().filter(|l| l.starts_with("model ")) {
            let f: Vec<&str> = line.split_whitespace().collect();
            let bad = || format!("unexpected model line {line:?}");
            if f.len() != 11 {
                return Err(bad());
            }
            let num = |i: usize| f[i].parse::<f64>().map_err(|_| bad());
            rows.push(ModelRow {
                key: f[1].to_string(),
                nodes: num(2)? as usize,
                td_ms: num(3)? as u64,
                advertised_ms: num(4)? as u64,
                datagrams_per_s: num(5)?,
                bytes_per_s: num(6)?,
                unbounded_per_s: num(7)?,
                crash_min_ms: num(8)? as u64,
                crash_max_ms: num(9)? as u64,
            });
        }
        if rows.is_empty() {
            return Err("the model printed no `model` line".into());
        }
        Ok(Model { rows })
    }

    /// The row for `key` and `nodes`.
    pub fn row(&self, key: &str, nodes: usize) -> Option<&ModelRow> {
        self.rows.iter().find(|r| r.key == key && r.nodes == nodes)
    }

    /// One line: the largest cluster against its unbounded baseline.
    pub fn summary(&self) -> String {
        match self.rows.iter().filter(|r| r.key == "plain").max_by_key(|r| r.nodes) {
            Some(r) => format!(
                "{} nodes: Td {:.1} s, {:.0} datagrams/s on the segment = {:.0}x fewer than without a budget ({:.0}/s)",
                r.nodes,
                r.td_ms as f64 / 1000.0,
                r.datagrams_per_s,
                r.unbounded_per_s / r.datagrams_per_s,
                r.unbounded_per_s
            ),
            None => "no plain rows".into(),
        }
    }
}

/// Runs `cargo ARGS` in the project with output captured; its stdout, or an error with the
/// end of its stderr.
fn cargo_output(project: &Project, args: &[&str]) -> Result<String, String> {
    let mut command: Command = project.cargo();
    command.args(args);
    println!("$ {}", show(&command));
    let output = run_bounded(&mut command, CARGO_TIMEOUT)?;
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    if output.status.success() {
        Ok(stdout)
    } else {
        let stderr = String::from_utf8_lossy(&output.stderr);
        let tail: Vec<&str> = stderr.lines().rev().take(15).collect();
        Err(format!(
            "`{}` failed ({}): {}{}",
            show(&command),
            output.status,
            stdout
                .lines()
                .rev()
                .take(10)
                .collect::<Vec<_>>()
                .join(" | "),
            tail.into_iter().rev().collect::<Vec<_>>().join("\n")
        ))
    }
}

/// Runs the core's simulator test file `test` in a release build (`cargo test --release -p
/// omdisc-core --test TEST -- --nocapture ARGS`): what it printed. The simulator stages read
/// their figures from it.
pub(crate) fn core_test_output(
    project: &Project,
    test: &str,
    args: &[&str],
) -> Result<String, String> {
    let mut all = vec![
        "test",
        "--release",
        "-p",
        "omdisc-core",
        "--test",
        test,
        "--",
        "--nocapture",
    ];
    all.extend_from_slice(args);
    cargo_output(project, &all)
}

/// The analytic model: prints its tables, returns its rows.
pub fn run_model(project: &Project) -> Result<Model, String> {
    let output = cargo_output(
        project,
        &["bench", "-p", "omdisc-core", "--bench", "bandwidth_model"],
    )?;
    for line in output.lines().filter(|l| !l.starts_with("model ")) {
        println!("  {line}");
    }
    Model::parse(&output)
}

/// The simulator's table (`omdisc-core/tests/bandwidth.rs`, release build), each row with
/// the model's datagram rate and crash bounds for the same size.
pub fn run_simulator(project: &Project, model: Option<&Model>) -> Result<String, String> {
    let output = core_test_output(project, "bandwidth", &[])?;
    println!(
        "  {:>5}  {:>6}  {:>11}  {:>8}  {:>8}  {:>9}  | model: {:>11} {:>6}  {:>15}",
        "nodes",
        "Td(ms)",
        "datagrams/s",
        "bit/s",
        "join(ms)",
        "crash(ms)",
        "datagrams/s",
        "ratio",
        "crash bound(ms)"
    );
    let mut rows = 0;
    let mut worst_ratio: f64 = 0.0;
    for line in output.lines() {
        let f: Vec<&str> = line.split_whitespace().collect();
        if f.len() != 6 || f[0].parse::<usize>().is_err() {
            continue;
        }
        let nodes: usize = f[0].parse().map_err(|_| format!("bad line {line:?}"))?;
        let rate: f64 = f[2].parse().map_err(|_| format!("bad line {line:?}"))?;
        let (model_rate, bound) = match model.and_then(|m| m.row("sim", nodes)) {
            Some(r) => (
                format!("{:>11.1}", r.datagrams_per_s),
                format!("{}–{}", r.crash_min_ms, r.crash_max_ms),
            ),
            None => ("-".into(), "-".into()),
        };
        let ratio = model
            .and_then(|m| m.row("sim", nodes))
            .map(|r| rate / r.datagrams_per_s);
        if let Some(ratio) = ratio {
            worst_ratio = worst_ratio.max((ratio - 1.0).abs());
        }
        println!(
            "  {:>5}  {:>6}  {:>11}  {:>8}  {:>8}  {:>9}  | model: {model_rate} {:>6}  {bound:>15}",
            f[0],
            f[1],
            f[2],
            f[3],
            f[4],
            f[5],
            ratio.map_or("-".into(), |r| format!("{r:.3}"))
        );
        rows += 1;
    }
    if rows == 0 {
        return Err("the simulator printed no table".into());
    }
    Ok(format!(
        "{rows} sizes simulated; measured datagram rates within {:.1} % of the model",
        worst_ratio * 100.0
    ))
}

/// One criterion result: the benchmark's name and its median estimate, in ns.
fn criterion_results(output: &str) -> Vec<(String, f64)> {
    let mut results = Vec::new();
    let mut previous = "";
    for line in output.lines() {
        if let Some(at) = line.find("time:") {
            let name = line[..at].trim();
            let name = if name.is_empty() {
                previous.trim()
            } else {
                name
            };
            let values: Vec<&str> = line[at..]
                .split(['[', ']'])
                .nth(1)
                .unwrap_or("")
                .split_whitespace()
                .collect();
            // [low unit median unit high unit]
            if let (Some(value), Some(unit)) = (values.get(2), values.get(3)) {
                let scale = match *unit {
                    "ps" => 0.001,
                    "ns" => 1.0,
                    "µs" | "us" => 1_000.0,
                    "ms" => 1_000_000.0,
                    "s" => 1_000_000_000.0,
                    _ => f64::NAN,
                };
                if let Ok(v) = value.parse::<f64>() {
                    results.push((name.to_string(), v * scale));
                }
            }
        }
        previous = line;
    }
    results
}

/// The criterion benches of `omdisc-core`: ns per operation.
pub fn run_criterion(project: &Project, quick: bool) -> Result<String, String> {
    let mut args = vec![
        "bench",
        "-p",
        "omdisc-core",
        "--bench",
        "codec",
        "--bench",
        "engine",
        "--",
    ];
    if quick {
        args.extend(["--warm-up-time", "1", "--measurement-time", "2"]);
    }
    let output = cargo_output(project, &args)?;
    for line in output.lines().filter(|l| l.contains("allocations")) {
        println!("  {line}");
    }
    let results = criterion_results(&output);
    if results.is_empty() {
        return Err("criterion printed no result".into());
    }
    println!("  {:<24} {:>12} {:>14}", "benchmark", "ns/op", "ops/s");
    for (name, ns) in &results {
        println!("  {name:<24} {ns:>12.1} {:>14.0}", 1e9 / ns);
    }
    Ok(format!(
        "{} benchmarks, no allocation in the core",
        results.len()
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn criterion_lines_are_read_in_ns() {
        let out = "codec/encode            time:   [20.1 ns 20.5 ns 20.9 ns]\n\
                   table/refresh+verify\n                        time:   [1.10 µs 1.20 µs 1.30 µs]\n";
        assert_eq!(
            criterion_results(out),
            [
                ("codec/encode".to_string(), 20.5),
                ("table/refresh+verify".to_string(), 1200.0)
            ]
        );
    }

    #[test]
    fn model_lines_are_parsed() {
        let m = Model::parse("x\nmodel plain 1000 3875 4771 258.1 16000 1000 19084 23855 3875\n")
            .unwrap();
        let r = m.row("plain", 1000).unwrap();
        assert_eq!((r.td_ms, r.crash_max_ms), (3875, 23855));
        assert!(Model::parse("nothing").is_err());
        assert!(Model::parse("model plain 1").is_err());
    }
}
