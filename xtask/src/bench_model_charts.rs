//! The curves of the `model` stage of `cargo xtask bench`, drawn from the model's rows
//! ([`Model`]) into docs/: announce traffic against cluster size ([`TRAFFIC_SVG`]) and
//! crash-detection time against cluster size ([`CRASH_SVG`]), both on logarithmic axes.
//!
//! Each chart is one builder chain; another detector or transport is one more
//! `.series(name, points)` line in [`crash_chart`] or [`traffic_chart`].

use std::path::Path;

use crate::bench_model::{Model, ModelRow};
use crate::plot::LineChart;

/// The traffic curves, relative to the project root.
pub const TRAFFIC_SVG: &str = "docs/announce-traffic.svg";
/// The crash-detection curves, relative to the project root.
pub const CRASH_SVG: &str = "docs/crash-detection-time.svg";

/// The model's rows for `key` (`plain`, `keyed`), by size.
fn rows<'a>(model: &'a Model, key: &'a str) -> impl Iterator<Item = &'a ModelRow> + 'a {
    model.rows.iter().filter(move |r| r.key == key)
}

/// `f` of each row of `key`, against the cluster size.
fn curve(model: &Model, key: &str, f: impl Fn(&ModelRow) -> f64) -> Vec<(f64, f64)> {
    rows(model, key).map(|r| (r.nodes as f64, f(r))).collect()
}

/// Bytes per second on the segment and sent by each node, against the cluster size
/// (UDP/IPv4 headers included), with the unbudgeted aggregate for comparison.
pub fn traffic_chart(model: &Model) -> LineChart {
    // Every announcement of a row has the same size on the wire (the model prints rates
    // rounded, so the ratio is rounded back to whole bytes).
    let bytes_per_datagram = |r: &ModelRow| (r.bytes_per_s / r.datagrams_per_s).round();
    LineChart::new(
        "Announce traffic at the defaults (128 kbit/s budget; analytic model)",
        "members (log)",
        "bytes/s, UDP/IPv4 headers included (log)",
    )
    .log_x()
    .log_y()
    .series(
        "aggregate without a budget (plain)",
        curve(model, "plain", |r| {
            r.unbounded_per_s * bytes_per_datagram(r)
        }),
    )
    .series("aggregate, plain", curve(model, "plain", |r| r.bytes_per_s))
    .series(
        "aggregate, with a key",
        curve(model, "keyed", |r| r.bytes_per_s),
    )
    .series(
        "per node, plain",
        curve(model, "plain", |r| r.bytes_per_s / r.nodes as f64),
    )
    .series(
        "per node, with a key",
        curve(model, "keyed", |r| r.bytes_per_s / r.nodes as f64),
    )
}

/// Seconds from a crash until the other nodes have dropped the node, against the cluster
/// size: the model's earliest and latest removal at the defaults (multicast expiry,
/// `(dead_after − 1) × A` to `dead_after × A`).
pub fn crash_chart(model: &Model) -> LineChart {
    let seconds = |ms: u64| ms as f64 / 1000.0;
    LineChart::new(
        "Crash detection at the defaults (analytic model)",
        "members (log)",
        "seconds from the crash to the removal (log)",
    )
    .log_x()
    .log_y()
    .series(
        "multicast expiry: latest (dead_after × A), with a key",
        curve(model, "keyed", |r| seconds(r.crash_max_ms)),
    )
    .series(
        "multicast expiry: latest (dead_after × A)",
        curve(model, "plain", |r| seconds(r.crash_max_ms)),
    )
    .series(
        "multicast expiry: earliest ((dead_after − 1) × A)",
        curve(model, "plain", |r| seconds(r.crash_min_ms)),
    )
}

/// Writes both charts under `root`; one line naming them.
pub fn draw(root: &Path, model: &Model) -> Result<String, String> {
    traffic_chart(model).write_svg(&root.join(TRAFFIC_SVG))?;
    crash_chart(model).write_svg(&root.join(CRASH_SVG))?;
    Ok(format!("drew {TRAFFIC_SVG}, {CRASH_SVG}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn model() -> Model {
        Model::parse(
            "model plain 10 1000 1232 10.0 620 10 4928 6160 200\n\
             model plain 1000 3875 4772 258.1 16000 1000 19088 23860 3875\n\
             model keyed 10 1000 1232 10.0 790 10 4928 6160 200\n\
             model keyed 1000 4937 6079 202.6 16002 1000 24316 30395 4937\n\
             model sim 10 1000 1232 10.0 0 0 2464 3696 0\n",
        )
        .unwrap()
    }

    #[test]
    fn traffic_is_per_node_and_aggregate_against_members() {
        let chart = traffic_chart(&model());
        let series = chart.all_series();
        assert_eq!(series.len(), 5);
        assert_eq!(series[0].points, [(10.0, 620.0), (1000.0, 62_000.0)]);
        assert_eq!(series[1].points, [(10.0, 620.0), (1000.0, 16_000.0)]);
        assert_eq!(series[3].points, [(10.0, 62.0), (1000.0, 16.0)]);
        assert!(series.iter().all(|s| s.points.len() == 2), "no sim rows");
        assert!(chart.render().is_ok());
    }

    #[test]
    fn crash_detection_is_in_seconds_from_the_plain_and_keyed_bounds() {
        let chart = crash_chart(&model());
        let series = chart.all_series();
        assert_eq!(series[1].points, [(10.0, 6.16), (1000.0, 23.86)]);
        assert_eq!(series[2].points, [(10.0, 4.928), (1000.0, 19.088)]);
        assert_eq!(series[0].points[1], (1000.0, 30.395));
        assert!(chart.render().is_ok());
    }
}
