//! `cargo xtask bench`: the performance figures of docs/performance.md, each beside its
//! baseline, in one run.
//!
//! | stage | what | baseline |
//! |---|---|---|
//! | `model` | analytic announce traffic and crash detection, 10 to 65 535 nodes (engine formulas), drawn as SVG; the probe protocol's crash detection drawn from docs/swim-figures.txt | the same cluster without a budget |
//! | `sim` | the simulator's 2 to 1 000 real engines (core test `bandwidth`, release) | the model |
//! | `loss` | the simulator's 10 nodes at 0 to 40 % loss: false removals, crash detection (core test `lossy_links`, release) | the fixed deadline `k = 5` |
//! | `micro` | criterion: codec, MAC, table update, map render at 1 000 nodes (ns/op) | — |
//! | `ingest` | datagrams/s taken in by `omdiscd` on a veth path, and its peak RSS with 1 000 members | a bare `recvmmsg` drain and a `recv_from` loop, same path, same run |
//! | `gmond` | 16 nodes: join and crash detection times, CPU and RSS (only with `--peer gmond`) | Ganglia's `gmond` in the same topology |
//!
//! Benchmarks are not part of `cargo xtask test`. The namespace stages need root.

use std::process::ExitCode;

use crate::args::Args;
use crate::bench_gmond;
use crate::bench_ingest::{self, IngestOptions};
use crate::bench_loss;
use crate::bench_model;
use crate::bench_model_charts;
use crate::bench_swim_chart;
use crate::project::Project;
use crate::report::Report;
use crate::testbed::{self, registry};

/// The stages, in order (`gmond` runs only with `--peer gmond`).
const STAGES: &[&str] = &["model", "sim", "loss", "micro", "ingest", "gmond"];

const USAGE: &str = "usage: cargo xtask bench [--only STAGE,...] [--peer gmond] [--window SECS] [--rounds N] [--nodes N] [--quick] [--profile]
  stages: model, sim, loss, micro, ingest (root), gmond (root; needs --peer gmond)
  --window SECS  ingest measurement window per receiver (default 5)
  --rounds N     ingest rounds; each receiver's best is reported (default 3)
  --nodes N      ingest: simulated sending nodes, 1 to 60000 (default 1000)
  --quick        shorter criterion runs (1 s warm-up, 2 s measurement)
  --profile      perf record omdiscd during its ingest window; print the hottest symbols";

/// The value of option `name` (`default` when absent), which must parse and lie in `range`.
fn in_range<T>(
    value: Option<String>,
    name: &str,
    range: std::ops::RangeInclusive<T>,
    unit: &str,
    default: T,
) -> Result<T, String>
where
    T: std::str::FromStr + PartialOrd + std::fmt::Display,
{
    let Some(text) = value else {
        return Ok(default);
    };
    text.parse::<T>()
        .ok()
        .filter(|v| range.contains(v))
        .ok_or(format!(
            "{name} {text}: expected {} to {}{}{unit}",
            range.start(),
            range.end(),
            if unit.is_empty() { "" } else { " " }
        ))
}

/// Runs the benchmarks.
pub fn run(project: &Project, mut args: Args) -> ExitCode {
    if args.flag("--help") || args.flag("-h") {
        println!("{USAGE}");
        return ExitCode::SUCCESS;
    }
    let parsed = (|| -> Result<_, String> {
        let only = args.list("--only")?;
        let peer = args.value("--peer")?;
        let window = in_range(
            args.value("--window")?,
            "--window",
            1.0..=120.0,
            "seconds",
            5.0,
        )?;
        let rounds = in_range(args.value("--rounds")?, "--rounds", 1..=10, "", 3)?;
        let nodes = in_range(
            args.value("--nodes")?,
            "--nodes",
            1..=60_000,
            "",
            IngestOptions::default().nodes,
        )?;
        let quick = args.flag("--quick");
        let profile = args.flag("--profile");
        for stage in &only {
            if !STAGES.contains(&stage.as_str()) {
                return Err(format!(
                    "unknown stage `{stage}` (stages: {})",
                    STAGES.join(", ")
                ));
            }
        }
        match peer.as_deref() {
            None | Some("gmond") => {}
            Some(other) => return Err(format!("--peer {other}: only gmond is supported")),
        }
        Ok((only, peer.is_some(), window, rounds, nodes, quick, profile))
    })();
    let (only, with_gmond, window, rounds, nodes, quick, profile) = match parsed.and_then(|p| {
        args.finish()?;
        Ok(p)
    }) {
        Ok(p) => p,
        Err(why) => {
            eprintln!("cargo xtask bench: {why}\n{USAGE}");
            return ExitCode::from(2);
        }
    };
    let selected = |stage: &str| {
        if only.is_empty() {
            stage != "gmond" || with_gmond
        } else {
            only.iter().any(|s| s == stage) && (stage != "gmond" || with_gmond)
        }
    };
    if (selected("ingest") || selected("gmond")) && !crate::ensure::is_root() {
        eprintln!("cargo xtask bench: the ingest and gmond stages create network namespaces: run as root, or pick stages with --only model,sim,loss,micro");
        return ExitCode::FAILURE;
    }
    registry::install_signal_cleanup();
    if selected("ingest") || selected("gmond") {
        registry::sweep_stale_namespaces();
    }

    let mut report = Report::new("cargo xtask bench", false);
    let mut model = None;
    if selected("model") || selected("sim") {
        report.stage("model: announce traffic for 10 to 65 535 nodes", || {
            let m = bench_model::run_model(project)?;
            let drawn = bench_model_charts::draw(project.root(), &m)?;
            let swim = bench_swim_chart::draw(project.root())?;
            let summary = format!("{}; {drawn}; {swim}", m.summary());
            model = Some(m);
            Ok(summary)
        });
    }
    if selected("sim") {
        report.stage("sim: 2 to 1 000 engines in the simulator (release)", || {
            bench_model::run_simulator(project, model.as_ref())
        });
    }
    if selected("loss") {
        report.stage(
            "loss: 10 nodes at 0 to 40 % loss in the simulator (release)",
            || bench_loss::run(project),
        );
    }
    if selected("micro") {
        report.stage("micro: criterion, 1 000 members", || {
            bench_model::run_criterion(project, quick)
        });
    }
    if selected("ingest") {
        report.stage(
            "ingest: omdiscd vs recvmmsg and recv_from baselines",
            || {
                bench_ingest::run(
                    project,
                    &IngestOptions {
                        window,
                        rounds,
                        nodes,
                        profile,
                        ..IngestOptions::default()
                    },
                )
            },
        );
    }
    if selected("gmond") {
        report.stage("gmond: 16 nodes, omdiscd vs Ganglia gmond", || {
            bench_gmond::run(project)
        });
    }
    if selected("ingest") || selected("gmond") {
        report.stage("no namespace left", || {
            let left = testbed::leftover_namespaces()?;
            if left.is_empty() {
                Ok("nothing of ours in ip netns list".into())
            } else {
                Err(format!("still listed: {left:?}"))
            }
        });
    }
    report.finish()
}
