//! The probe protocol's crash detection against cluster size, drawn into
//! [`SWIM_SVG`] from the last measured figures in [`RECORD`] (written by
//! `cargo test --release -p omdisc-core --test swim_figures -- --ignored`): per case of
//! multicast yes/no and 0/25 % loss, the median and the worst time until every map had
//! dropped a crash — the engines in the simulator where they ran, the model beyond. A case
//! where a crash stayed in some map for 120 s draws its worst at 120 s and no median.

use std::path::Path;

use crate::plot::{Legend, LineChart};

/// The record of the probe-protocol figures, relative to the project root.
pub const RECORD: &str = "docs/swim-figures.txt";
/// The chart, relative to the project root.
pub const SWIM_SVG: &str = "docs/swim-crash-detection.svg";

/// How long a crash is waited for; a case with a crash still in some map then draws its
/// worst here.
const HORIZON_MS: u64 = 120_000;

/// One case of the record.
#[derive(Debug, Clone, PartialEq)]
pub struct SwimRow {
    /// `engines` or `model`.
    pub source: String,
    /// Cluster size.
    pub members: usize,
    /// Whether the segment carried multicast.
    pub multicast: bool,
    /// Random loss of every datagram, percent.
    pub loss_pct: u64,
    /// Until every map dropped a crash: the median, ms...
    pub all_median_ms: u64,
    /// ...and the worst.
    pub all_max_ms: u64,
    /// Crashes still in some map after 120 s.
    pub undetected: u64,
}

/// Parses the record's `key=value` lines (`#` lines are comments; a case whose cluster
/// did not converge is left out).
pub fn parse(text: &str) -> Result<Vec<SwimRow>, String> {
    let mut rows = Vec::new();
    for line in text
        .lines()
        .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
    {
        if line.contains("converged=false") {
            // A cluster that never converged has no crash figures.
            continue;
        }
        let field = |name: &str| {
            line.split_whitespace()
                .find_map(|f| f.strip_prefix(name)?.strip_prefix('='))
                .ok_or_else(|| format!("{RECORD}: no {name} in {line:?}"))
        };
        let number = |name: &str| -> Result<u64, String> {
            field(name)?
                .parse()
                .map_err(|_| format!("{RECORD}: {name} is not a number in {line:?}"))
        };
        rows.push(SwimRow {
            source: field("source")?.to_string(),
            members: number("members")? as usize,
            multicast: field("multicast")? == "yes",
            loss_pct: number("loss_pct")?,
            all_median_ms: number("detect_all_median_ms")?,
            all_max_ms: number("detect_all_max_ms")?,
            undetected: number("undetected")?,
        });
    }
    if rows.is_empty() {
        return Err(format!("{RECORD} has no figures"));
    }
    Ok(rows)
}

/// `f` of the rows of one case against the size: the engines' rows, and the model's for
/// sizes the engines did not run.
fn curve(
    rows: &[SwimRow],
    multicast: bool,
    loss_pct: u64,
    f: impl Fn(&SwimRow) -> Option<u64>,
) -> Vec<(f64, f64)> {
    let case: Vec<&SwimRow> = rows
        .iter()
        .filter(|r| r.multicast == multicast && r.loss_pct == loss_pct)
        .collect();
    let mut points: Vec<(f64, f64)> = case
        .iter()
        .filter(|r| {
            r.source == "engines"
                || !case
                    .iter()
                    .any(|e| e.source == "engines" && e.members == r.members)
        })
        .filter_map(|r| Some((r.members as f64, f(r)?.max(1) as f64 / 1000.0)))
        .collect();
    points.sort_by(|a, b| a.0.total_cmp(&b.0));
    points
}

/// The chart of `rows`.
pub fn chart(rows: &[SwimRow]) -> LineChart {
    let mut chart = LineChart::new(
        "Crash detection by probes: until every map dropped it (engines; model at 10 000)",
        "members (log)",
        "seconds from the crash (log)",
    )
    .log_x()
    .log_y()
    .legend(Legend::UpperLeft);
    for multicast in [true, false] {
        for loss in [0, 25] {
            let name = format!(
                "{}, {loss} % loss",
                if multicast {
                    "multicast"
                } else {
                    "unicast only"
                }
            );
            chart = chart
                .series(
                    &format!("{name}: worst"),
                    curve(rows, multicast, loss, |r| {
                        Some(if r.undetected > 0 {
                            HORIZON_MS
                        } else {
                            r.all_max_ms
                        })
                    }),
                )
                .series(
                    &format!("{name}: median"),
                    curve(rows, multicast, loss, |r| {
                        (r.undetected == 0).then_some(r.all_median_ms)
                    }),
                );
        }
    }
    chart.series(
        "the 10 s bound",
        rows.iter()
            .map(|r| r.members as f64)
            .fold(Vec::new(), |mut xs: Vec<f64>, x| {
                if !xs.contains(&x) {
                    xs.push(x);
                }
                xs
            })
            .into_iter()
            .map(|x| (x, 10.0)),
    )
}

/// Draws [`SWIM_SVG`] from [`RECORD`] under `root`; one line naming it.
pub fn draw(root: &Path) -> Result<String, String> {
    let path = root.join(RECORD);
    let text = std::fs::read_to_string(&path).map_err(|e| format!("{}: {e}", path.display()))?;
    let rows = parse(&text)?;
    chart(&rows).write_svg(&root.join(SWIM_SVG))?;
    Ok(format!(
        "drew {SWIM_SVG} from {} cases of {RECORD}",
        rows.len()
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    const RECORD_TEXT: &str = "# comment\n\
        source=engines members=10 multicast=yes loss_pct=0 detect_all_median_ms=1900 detect_all_max_ms=2900 undetected=0\n\
        source=engines members=100 multicast=yes loss_pct=0 detect_all_median_ms=2000 detect_all_max_ms=6000 undetected=0\n\
        source=model members=100 multicast=yes loss_pct=0 detect_all_median_ms=2100 detect_all_max_ms=6200 undetected=0\n\
        source=model members=10000 multicast=yes loss_pct=0 detect_all_median_ms=9000 detect_all_max_ms=20000 undetected=0\n\
        source=engines members=1000 multicast=no loss_pct=0 detect_all_median_ms=0 detect_all_max_ms=0 undetected=3\n";

    #[test]
    fn the_engines_rows_come_first_and_the_model_fills_the_sizes_they_lack() {
        let rows = parse(RECORD_TEXT).unwrap();
        assert_eq!(rows.len(), 5);
        let chart = chart(&rows);
        let series = chart.all_series();
        assert_eq!(series[0].name, "multicast, 0 % loss: worst");
        assert_eq!(
            series[0].points,
            [(10.0, 2.9), (100.0, 6.0), (10_000.0, 20.0)]
        );
        assert_eq!(series[1].points[1], (100.0, 2.0));
        // A case with crashes never found: its worst at the horizon, no median.
        assert_eq!(series[4].points, [(1000.0, 120.0)]);
        assert!(series[5].points.is_empty());
        assert!(chart.render().is_ok());
    }

    #[test]
    fn a_line_without_a_figure_is_an_error() {
        let err = parse("source=engines members=10\n").unwrap_err();
        assert!(err.contains("no multicast"), "{err}");
    }
}
