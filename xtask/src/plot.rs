//! Line charts as SVG files: the curves the benches draw into `docs/` (traffic or detection
//! time against cluster size, false removals against loss). One chart, several named
//! series, axis labels, linear or logarithmic axes; a bench builds one and writes it:
//!
//! ```no_run
//! use xtask::plot::LineChart;
//! LineChart::new("Announce traffic", "members", "bytes/s")
//!     .log_x()
//!     .series("aggregate", [(10.0, 620.0), (1_000.0, 16_000.0)])
//!     .series("per node", [(10.0, 62.0), (1_000.0, 16.0)])
//!     .write_svg(std::path::Path::new("docs/example.svg"))?;
//! # Ok::<(), String>(())
//! ```
//!
//! Drawn with `plotters`' SVG backend alone: text goes into the SVG as `<text>` elements in
//! a generic sans-serif font that the viewer renders, so nothing here needs system fonts,
//! fontconfig or a TrueType parser. The output depends only on the data, so a re-run on the
//! same figures leaves the file unchanged.

use std::ops::Range;
use std::path::Path;

use plotters::coord::ranged1d::ValueFormatter;
use plotters::coord::types::RangedCoordf64;
use plotters::coord::Shift;
use plotters::prelude::*;

/// Size of every chart, in SVG pixels.
const SIZE: (u32, u32) = (760, 460);
/// Font of all text (resolved by the SVG viewer).
const FONT: &str = "sans-serif";
/// Series colours, in order (Tableau 10: distinct on white, and for most colour-blind
/// readers); a chart with more series starts over.
const COLOURS: [RGBColor; 10] = [
    RGBColor(0x1f, 0x77, 0xb4),
    RGBColor(0xff, 0x7f, 0x0e),
    RGBColor(0x2c, 0xa0, 0x2c),
    RGBColor(0xd6, 0x27, 0x28),
    RGBColor(0x94, 0x67, 0xbd),
    RGBColor(0x8c, 0x56, 0x4b),
    RGBColor(0xe3, 0x77, 0xc2),
    RGBColor(0x7f, 0x7f, 0x7f),
    RGBColor(0xbc, 0xbd, 0x22),
    RGBColor(0x17, 0xbe, 0xcf),
];

/// How an axis maps values to positions.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scale {
    /// Evenly spaced values.
    Linear,
    /// Evenly spaced powers of ten; every value on the axis must be positive.
    Log,
}

/// Where the legend goes inside the plotting area.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Legend {
    /// Top left corner (the default).
    UpperLeft,
    /// Top right corner.
    UpperRight,
    /// Bottom left corner.
    LowerLeft,
    /// Bottom right corner.
    LowerRight,
}

/// One named curve: its points in drawing order.
#[derive(Debug, Clone, PartialEq)]
pub struct Series {
    /// The name in the legend.
    pub name: String,
    /// `(x, y)` points, joined by straight lines and marked.
    pub points: Vec<(f64, f64)>,
}

/// A line chart: a title, axis labels and scales, and the series drawn on it.
#[derive(Debug, Clone, PartialEq)]
pub struct LineChart {
    title: String,
    x_label: String,
    y_label: String,
    x_scale: Scale,
    y_scale: Scale,
    legend: Legend,
    series: Vec<Series>,
}

impl LineChart {
    /// An empty chart with linear axes.
    pub fn new(title: &str, x_label: &str, y_label: &str) -> LineChart {
        LineChart {
            title: title.into(),
            x_label: x_label.into(),
            y_label: y_label.into(),
            x_scale: Scale::Linear,
            y_scale: Scale::Linear,
            legend: Legend::UpperLeft,
            series: Vec::new(),
        }
    }

    /// A logarithmic x axis.
    pub fn log_x(mut self) -> LineChart {
        self.x_scale = Scale::Log;
        self
    }

    /// A logarithmic y axis.
    pub fn log_y(mut self) -> LineChart {
        self.y_scale = Scale::Log;
        self
    }

    /// Puts the legend in another corner.
    pub fn legend(mut self, at: Legend) -> LineChart {
        self.legend = at;
        self
    }

    /// Adds a series (drawn in the next colour; its name goes into the legend).
    pub fn series(mut self, name: &str, points: impl IntoIterator<Item = (f64, f64)>) -> LineChart {
        self.series.push(Series {
            name: name.into(),
            points: points.into_iter().collect(),
        });
        self
    }

    /// The series, in drawing order.
    pub fn all_series(&self) -> &[Series] {
        &self.series
    }

    /// The chart as an SVG document.
    pub fn render(&self) -> Result<String, String> {
        let points = || self.series.iter().flat_map(|s| s.points.iter().copied());
        if points().next().is_none() {
            return Err(format!("chart {:?}: no points to draw", self.title));
        }
        if let Some((name, (x, y))) = self
            .series
            .iter()
            .flat_map(|s| s.points.iter().map(move |p| (&s.name, *p)))
            .find(|(_, (x, y))| !x.is_finite() || !y.is_finite())
        {
            return Err(format!(
                "chart {:?}, series {name:?}: point ({x}, {y}) is not finite",
                self.title
            ));
        }
        let x = axis_range(points().map(|p| p.0), self.x_scale, false)
            .map_err(|why| format!("chart {:?}, x axis: {why}", self.title))?;
        let y = axis_range(points().map(|p| p.1), self.y_scale, true)
            .map_err(|why| format!("chart {:?}, y axis: {why}", self.title))?;
        let mut svg = String::new();
        {
            let root = SVGBackend::with_string(&mut svg, SIZE).into_drawing_area();
            match (self.x_scale, self.y_scale) {
                (Scale::Linear, Scale::Linear) => self.draw(&root, linear(x), linear(y)),
                (Scale::Linear, Scale::Log) => self.draw(&root, linear(x), log(y)),
                (Scale::Log, Scale::Linear) => self.draw(&root, log(x), linear(y)),
                (Scale::Log, Scale::Log) => self.draw(&root, log(x), log(y)),
            }?;
            root.present().map_err(|e| e.to_string())?;
        }
        Ok(svg)
    }

    /// Renders the chart and writes it to `path` (whose directory must exist).
    pub fn write_svg(&self, path: &Path) -> Result<(), String> {
        let svg = self.render()?;
        std::fs::write(path, svg).map_err(|e| format!("cannot write {}: {e}", path.display()))
    }

    /// Draws axes, series and legend on `root` over the coordinates `x` × `y`.
    fn draw<DB, X, Y>(&self, root: &DrawingArea<DB, Shift>, x: X, y: Y) -> Result<(), String>
    where
        DB: DrawingBackend,
        X: Ranged<ValueType = f64> + ValueFormatter<f64>,
        Y: Ranged<ValueType = f64> + ValueFormatter<f64>,
    {
        let failed = |e: DrawingAreaErrorKind<DB::ErrorType>| e.to_string();
        root.fill(&WHITE).map_err(failed)?;
        let mut chart = ChartBuilder::on(root)
            .caption(&self.title, (FONT, 20))
            .margin(14)
            .x_label_area_size(44)
            .y_label_area_size(70)
            .build_cartesian_2d(x, y)
            .map_err(failed)?;
        chart
            .configure_mesh()
            .x_desc(&self.x_label)
            .y_desc(&self.y_label)
            .x_label_formatter(&|v| tick(*v))
            .y_label_formatter(&|v| tick(*v))
            .label_style((FONT, 13))
            .axis_desc_style((FONT, 15))
            .light_line_style(RGBColor(238, 238, 238))
            .max_light_lines(4)
            .draw()
            .map_err(failed)?;
        for (i, series) in self.series.iter().enumerate() {
            let colour = COLOURS[i % COLOURS.len()];
            let line = ShapeStyle::from(colour).stroke_width(2);
            chart
                .draw_series(LineSeries::new(series.points.iter().copied(), line))
                .map_err(failed)?
                .label(series.name.as_str())
                .legend(move |(x, y)| PathElement::new([(x, y), (x + 20, y)], line));
            chart
                .draw_series(
                    series
                        .points
                        .iter()
                        .map(|p| Circle::new(*p, 3, colour.filled())),
                )
                .map_err(failed)?;
        }
        chart
            .configure_series_labels()
            .position(match self.legend {
                Legend::UpperLeft => SeriesLabelPosition::UpperLeft,
                Legend::UpperRight => SeriesLabelPosition::UpperRight,
                Legend::LowerLeft => SeriesLabelPosition::LowerLeft,
                Legend::LowerRight => SeriesLabelPosition::LowerRight,
            })
            .label_font((FONT, 13))
            .background_style(WHITE.mix(0.85))
            .border_style(BLACK)
            .draw()
            .map_err(failed)?;
        Ok(())
    }
}

/// A linear axis over `range`.
fn linear(range: Range<f64>) -> RangedCoordf64 {
    range.into()
}

/// A logarithmic axis over `range` (positive).
fn log(range: Range<f64>) -> LogCoord<f64> {
    range.log_scale().into()
}

/// The span an axis shows for `values`. The x axis is exactly the data's; the y axis has
/// room above the highest point, and a linear one starts at zero (or below, for negative
/// values), so a flat series at zero lies on the axis and stays visible.
fn axis_range(
    values: impl Iterator<Item = f64>,
    scale: Scale,
    headroom: bool,
) -> Result<Range<f64>, String> {
    let (lo, hi) = values.fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), v| {
        (lo.min(v), hi.max(v))
    });
    match scale {
        Scale::Linear => {
            let lo = if headroom { lo.min(0.0) } else { lo };
            let hi = if headroom { hi + (hi - lo) * 0.08 } else { hi };
            Ok(if hi > lo { lo..hi } else { lo..lo + 1.0 })
        }
        Scale::Log => {
            if lo <= 0.0 {
                return Err(format!("{lo} cannot be shown on a logarithmic scale"));
            }
            let (lo, hi) = if headroom {
                (lo / 1.5, hi * 1.5)
            } else {
                (lo, hi)
            };
            Ok(if hi > lo { lo..hi } else { lo / 2.0..lo * 2.0 })
        }
    }
}

/// A tick label: whole numbers grouped by thousands (`65 535`), small values with up
/// to three significant digits (`0.25`).
fn tick(v: f64) -> String {
    let a = v.abs();
    if a >= 10.0 || a == 0.0 {
        let digits = format!("{:.0}", a);
        let mut grouped = String::new();
        for (i, c) in digits.chars().enumerate() {
            if i > 0 && (digits.len() - i) % 3 == 0 {
                grouped.push(' ');
            }
            grouped.push(c);
        }
        if v < 0.0 {
            format!("-{grouped}")
        } else {
            grouped
        }
    } else {
        let decimals = (2 - a.log10().floor() as i32).clamp(0, 6) as usize;
        let text = format!("{v:.decimals$}");
        let text = text.trim_end_matches('0').trim_end_matches('.');
        text.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Whether `svg` has a `<text>` element reading `text` (plotters writes each on its own
    /// line).
    fn has_text(svg: &str, text: &str) -> bool {
        svg.contains(&format!(">\n{text}\n</text>"))
    }

    fn two_series() -> LineChart {
        LineChart::new("False removals", "loss (%)", "per pair-hour")
            .series("adaptive", [(0.0, 0.0), (25.0, 0.0), (40.0, 0.0)])
            .series("fixed k=5", [(0.0, 0.0), (25.0, 1.4), (40.0, 13.5)])
    }

    #[test]
    fn the_svg_names_every_series_and_both_axes() {
        let svg = two_series().render().unwrap();
        assert!(svg.starts_with("<svg"), "{}", &svg[..60]);
        assert!(svg.trim_end().ends_with("</svg>"));
        for text in [
            "False removals",
            "loss (%)",
            "per pair-hour",
            "adaptive",
            "fixed k=5",
        ] {
            assert!(has_text(&svg, text), "{text} missing");
        }
        // One polyline per series (the legend's samples are short paths too).
        assert!(svg.matches("<polyline").count() >= 2);
    }

    #[test]
    fn a_log_axis_takes_decades_and_refuses_zero() {
        let chart = LineChart::new("Traffic", "members", "bytes/s")
            .log_x()
            .log_y()
            .series("aggregate", [(10.0, 620.0), (65_535.0, 16_000.0)]);
        let svg = chart.render().unwrap();
        assert!(has_text(&svg, "1 000"), "a decade tick");
        let zero = LineChart::new("t", "x", "y")
            .log_x()
            .series("s", [(0.0, 1.0), (10.0, 2.0)]);
        let why = zero.render().unwrap_err();
        assert!(
            why.contains("x axis") && why.contains("logarithmic"),
            "{why}"
        );
    }

    #[test]
    fn an_empty_or_broken_chart_is_a_clear_error() {
        let empty = LineChart::new("Nothing", "x", "y").series("s", []);
        assert!(empty.render().unwrap_err().contains("no points"));
        let nan = LineChart::new("t", "x", "y").series("bad", [(1.0, f64::NAN)]);
        let why = nan.render().unwrap_err();
        assert!(
            why.contains("\"bad\"") && why.contains("not finite"),
            "{why}"
        );
    }

    #[test]
    fn names_are_escaped_and_output_is_reproducible() {
        let chart = LineChart::new("a < b & c", "x", "y").series("k<5 & more", [(1.0, 1.0)]);
        let svg = chart.render().unwrap();
        assert!(svg.contains("k&lt;5 &amp; more"));
        assert_eq!(svg, chart.render().unwrap());
    }

    #[test]
    fn the_file_is_written_and_a_bad_path_says_which() {
        let dir = std::env::temp_dir().join(format!("xtask-plot-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("chart.svg");
        two_series().write_svg(&path).unwrap();
        let written = std::fs::read_to_string(&path).unwrap();
        assert!(has_text(&written, "fixed k=5"));
        std::fs::remove_dir_all(&dir).unwrap();
        let why = two_series()
            .write_svg(&dir.join("missing/chart.svg"))
            .unwrap_err();
        assert!(why.contains("missing/chart.svg"), "{why}");
    }

    #[test]
    fn ticks_read_like_the_tables() {
        assert_eq!(tick(65_535.0), "65 535");
        assert_eq!(tick(1_000.0), "1 000");
        assert_eq!(tick(100.0), "100");
        assert_eq!(tick(0.0), "0");
        assert_eq!(tick(2.5), "2.5");
        assert_eq!(tick(0.25), "0.25");
        assert_eq!(tick(-1_500.0), "-1 500");
    }

    #[test]
    fn ranges_leave_room_above_and_start_linear_y_at_zero() {
        let y = axis_range([2.0, 10.0].into_iter(), Scale::Linear, true).unwrap();
        assert_eq!(y.start, 0.0);
        assert!(y.end > 10.0);
        let x = axis_range([2.0, 10.0].into_iter(), Scale::Linear, false).unwrap();
        assert_eq!(x, 2.0..10.0);
        let flat = axis_range([0.0, 0.0].into_iter(), Scale::Linear, true).unwrap();
        assert!(flat.end > flat.start);
    }
}
