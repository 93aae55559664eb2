//! The `loss` stage of `cargo xtask bench`: false removals and crash-detection times of the
//! loss-aware expiry against the fixed deadline (`k = 5`) at 0, 5, 10, 25 and 40 % loss.
//!
//! The study itself is the core's simulator test `loss_figures`
//! (`omdisc-core/tests/lossy_links.rs`, the same cluster and crash functions its behaviour
//! tests assert on), run in a release build; this stage reads its `loss-figure key=value
//! ...` lines, prints the table of docs/performance.md and draws the two curves,
//! [`FALSE_REMOVALS_SVG`] and [`DETECTION_SVG`].

use std::path::Path;

use crate::bench_model::core_test_output;
use crate::plot::LineChart;
use crate::project::Project;

/// The false-removal curve, relative to the project root.
pub const FALSE_REMOVALS_SVG: &str = "docs/loss-false-removals.svg";
/// The detection-time curves, relative to the project root.
pub const DETECTION_SVG: &str = "docs/loss-detection-time.svg";

/// One loss rate and detector of the study.
#[derive(Debug, Clone, PartialEq)]
pub struct LossRow {
    /// Random loss per datagram and receiver, per mille.
    pub loss_per_mille: u64,
    /// `adaptive` (loss-aware `k`) or `fixed` (`k = dead_after`).
    pub detector: String,
    /// Expiries of live nodes over the whole study.
    pub false_removals: u64,
    /// Observed peer pairs × hours.
    pub pair_hours: f64,
    /// Mean time from a crash to its removal at each observer, ms.
    pub detection_mean_ms: f64,
    /// Longest of those times, ms.
    pub detection_max_ms: f64,
    /// Mean of the intervals each observer waited.
    pub k_mean: f64,
    /// Largest of them.
    pub k_max: f64,
}

impl LossRow {
    /// False removals per peer pair and hour.
    pub fn per_pair_hour(&self) -> f64 {
        self.false_removals as f64 / self.pair_hours
    }

    /// The loss in percent.
    pub fn loss_percent(&self) -> f64 {
        self.loss_per_mille as f64 / 10.0
    }
}

/// Reads the `loss-figure key=value ...` lines of the study's output (other keys are
/// ignored, so the study may print more).
pub fn parse(output: &str) -> Result<Vec<LossRow>, String> {
    let mut rows = Vec::new();
    for line in output.lines() {
        let Some(fields) = line.strip_prefix("loss-figure ") else {
            continue;
        };
        let value = |key: &str| -> Result<&str, String> {
            fields
                .split_whitespace()
                .find_map(|f| f.strip_prefix(key)?.strip_prefix('='))
                .ok_or(format!("no {key}= in {line:?}"))
        };
        let number = |key: &str| -> Result<f64, String> {
            let v = value(key)?;
            v.parse::<f64>()
                .map_err(|_| format!("{key}={v} is not a number in {line:?}"))
        };
        rows.push(LossRow {
            loss_per_mille: number("loss_per_mille")? as u64,
            detector: value("detector")?.to_string(),
            false_removals: number("false_removals")? as u64,
            pair_hours: number("pair_hours")?,
            detection_mean_ms: number("detection_mean_ms")?,
            detection_max_ms: number("detection_max_ms")?,
            k_mean: number("k_mean")?,
            k_max: number("k_max")?,
        });
    }
    if rows.is_empty() {
        return Err("the study printed no `loss-figure` line".into());
    }
    Ok(rows)
}

/// The rows of one detector, by increasing loss.
fn of<'a>(rows: &'a [LossRow], detector: &'a str) -> impl Iterator<Item = &'a LossRow> + 'a {
    rows.iter().filter(move |r| r.detector == detector)
}

/// The legend name of each detector.
fn label(detector: &str) -> &str {
    match detector {
        "adaptive" => "loss-aware k",
        "fixed" => "fixed k = 5",
        other => other,
    }
}

/// False removals per pair-hour against loss, one series per detector.
pub fn false_removals_chart(rows: &[LossRow]) -> LineChart {
    let mut chart = LineChart::new(
        "Live nodes removed by mistake (10 nodes, defaults, simulator)",
        "random loss per datagram and receiver (%)",
        "false removals per peer pair and hour",
    );
    for detector in ["adaptive", "fixed"] {
        chart = chart.series(
            label(detector),
            of(rows, detector).map(|r| (r.loss_percent(), r.per_pair_hour())),
        );
    }
    chart
}

/// Crash-detection time against loss: mean and worst, one pair per detector.
pub fn detection_chart(rows: &[LossRow]) -> LineChart {
    let mut chart = LineChart::new(
        "Crash to removal at every observer (10 nodes, defaults, simulator)",
        "random loss per datagram and receiver (%)",
        "seconds from the crash to the removal",
    );
    for detector in ["adaptive", "fixed"] {
        let name = label(detector);
        chart = chart
            .series(
                &format!("{name}: worst"),
                of(rows, detector).map(|r| (r.loss_percent(), r.detection_max_ms / 1000.0)),
            )
            .series(
                &format!("{name}: mean"),
                of(rows, detector).map(|r| (r.loss_percent(), r.detection_mean_ms / 1000.0)),
            );
    }
    chart
}

/// Prints the table of docs/performance.md.
fn print_table(rows: &[LossRow]) {
    println!(
        "  {:>5}  {:<9}  {:>14}  {:>13}  {:>14}  {:>15}  {:>12}",
        "loss",
        "detector",
        "false removals",
        "per pair-hour",
        "detection mean",
        "detection worst",
        "k mean (max)"
    );
    for r in rows {
        println!(
            "  {:>4.0}%  {:<9}  {:>14}  {:>13.4}  {:>13.1}s  {:>14.1}s  {:>7.1} ({:.0})",
            r.loss_percent(),
            r.detector,
            r.false_removals,
            r.per_pair_hour(),
            r.detection_mean_ms / 1000.0,
            r.detection_max_ms / 1000.0,
            r.k_mean,
            r.k_max
        );
    }
    if let Some(r) = rows.first() {
        println!(
            "  (false removals over {:.0} pair-hours per row; detection over every observer of 5 crashes)",
            r.pair_hours
        );
    }
}

/// One line for the report: what the adaptive detector costs and saves at 25 % loss.
fn summary(rows: &[LossRow]) -> String {
    let adaptive: u64 = of(rows, "adaptive").map(|r| r.false_removals).sum();
    let at = |detector: &'static str| of(rows, detector).find(|r| r.loss_per_mille == 250);
    let mut line = format!("loss-aware k: {adaptive} false removals over all loss rates");
    if let (Some(a), Some(f)) = (at("adaptive"), at("fixed")) {
        line += &format!(
            "; at 25 %: {} vs {} for fixed k = 5, detection mean {:.1} s (worst {:.1} s) vs {:.1} s",
            a.false_removals,
            f.false_removals,
            a.detection_mean_ms / 1000.0,
            a.detection_max_ms / 1000.0,
            f.detection_mean_ms / 1000.0
        );
    }
    line + &format!("; drew {FALSE_REMOVALS_SVG}, {DETECTION_SVG}")
}

/// Runs the study, prints its table, draws its curves.
pub fn run(project: &Project) -> Result<String, String> {
    let output = core_test_output(
        project,
        "lossy_links",
        &["--ignored", "--exact", "loss_figures"],
    )?;
    let rows = parse(&output)?;
    print_table(&rows);
    draw(project.root(), &rows)?;
    Ok(summary(&rows))
}

/// Writes both charts under `root`.
fn draw(root: &Path, rows: &[LossRow]) -> Result<(), String> {
    false_removals_chart(rows).write_svg(&root.join(FALSE_REMOVALS_SVG))?;
    detection_chart(rows).write_svg(&root.join(DETECTION_SVG))
}

#[cfg(test)]
mod tests {
    use super::*;

    const OUTPUT: &str = "running 1 test\n\
        loss-figure loss_per_mille=0 detector=adaptive false_removals=0 pair_hours=90 per_pair_hour=0.0000 detection_mean_ms=5600 detection_max_ms=6100 k_mean=5.0 k_max=5\n\
        loss-figure loss_per_mille=0 detector=fixed false_removals=0 pair_hours=90 per_pair_hour=0.0000 detection_mean_ms=5600 detection_max_ms=6100 k_mean=5.0 k_max=5\n\
        loss-figure loss_per_mille=250 detector=adaptive false_removals=0 pair_hours=90 per_pair_hour=0.0000 detection_mean_ms=18500 detection_max_ms=25200 k_mean=15.7 k_max=22 extra=1\n\
        loss-figure loss_per_mille=250 detector=fixed false_removals=126 pair_hours=90 per_pair_hour=1.4000 detection_mean_ms=5200 detection_max_ms=6100 k_mean=5.0 k_max=5\n\
        test loss_figures ... ok\n";

    #[test]
    fn the_study_lines_are_read_by_key() {
        let rows = parse(OUTPUT).unwrap();
        assert_eq!(rows.len(), 4);
        let fixed = &rows[3];
        assert_eq!(
            (fixed.loss_per_mille, fixed.detector.as_str()),
            (250, "fixed")
        );
        assert_eq!(fixed.false_removals, 126);
        assert!((fixed.per_pair_hour() - 1.4).abs() < 1e-9);
        assert_eq!(rows[2].k_max, 22.0);
        assert!(parse("nothing").is_err());
        let why = parse("loss-figure loss_per_mille=x").unwrap_err();
        assert!(why.contains("loss_per_mille=x"), "{why}");
    }

    #[test]
    fn both_charts_carry_both_detectors() {
        let rows = parse(OUTPUT).unwrap();
        let removals = false_removals_chart(&rows);
        assert_eq!(removals.all_series().len(), 2);
        assert_eq!(removals.all_series()[1].points, [(0.0, 0.0), (25.0, 1.4)]);
        let detection = detection_chart(&rows);
        let names: Vec<&str> = detection
            .all_series()
            .iter()
            .map(|s| s.name.as_str())
            .collect();
        assert_eq!(
            names,
            [
                "loss-aware k: worst",
                "loss-aware k: mean",
                "fixed k = 5: worst",
                "fixed k = 5: mean"
            ]
        );
        assert_eq!(detection.all_series()[0].points[1], (25.0, 25.2));
        assert!(removals.render().is_ok() && detection.render().is_ok());
        assert!(summary(&rows).contains("at 25 %: 0 vs 126"));
    }
}
