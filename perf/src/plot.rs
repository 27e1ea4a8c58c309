//! SVG charts of what `compare` measured: latency CDFs and grouped bars. Pure functions of
//! already collected numbers (no server), so they can be tested on made-up data.
//!
//! Only plotters' SVG backend is linked: no bitmap or font backends and so no system
//! libraries. Text is laid out with plotters' rough metrics and drawn by the SVG viewer.

use std::fmt::Display;
use std::path::Path;

use hdrhistogram::Histogram;
use plotters::prelude::*;

/// The series' colours, in order (ringkv first, then etcd).
const COLOURS: [RGBColor; 4] = [
    RGBColor(31, 119, 180),
    RGBColor(255, 127, 14),
    RGBColor(44, 160, 44),
    RGBColor(214, 39, 40),
];

fn colour(i: usize) -> RGBColor {
    COLOURS[i % COLOURS.len()]
}

/// The height of the bar chart's legend band, in groups.
const LEGEND_BAND: f64 = 0.75;

/// The deepest percentile the latency chart shows: 99.999 %.
const MAX_NINES: f64 = 5.0;

#[derive(Debug, thiserror::Error)]
#[error("plot {path}: {message}")]
pub struct PlotError {
    pub path: String,
    pub message: String,
}

fn failed<E: Display>(path: &Path) -> impl Fn(E) -> PlotError + '_ {
    move |e| PlotError {
        path: path.display().to_string(),
        message: e.to_string(),
    }
}

/// Draws the series' names in a framed box at `position`.
fn legend<'a, DB: DrawingBackend + 'a, CT: CoordTranslate>(
    chart: &mut ChartContext<'a, DB, CT>,
    position: SeriesLabelPosition,
) -> Result<(), DrawingAreaErrorKind<DB::ErrorType>> {
    chart
        .configure_series_labels()
        .position(position)
        .background_style(WHITE.mix(0.9))
        .border_style(BLACK)
        .draw()
}

/// One line of a latency CDF: `(latency in ms, quantile in 0..=1)` points, by latency.
#[derive(Debug, Clone, PartialEq)]
pub struct Cdf {
    pub name: String,
    pub points: Vec<(f64, f64)>,
}

/// A histogram of nanoseconds as CDF points: each recorded value (ms) and the share of
/// samples at or below it, except that the maximum is put at 1 − 1/n, the deepest
/// percentile n samples resolve (1 itself is off a "nines" axis).
pub fn cdf_points(latency: &Histogram<u64>) -> Vec<(f64, f64)> {
    let total = latency.len();
    if total == 0 {
        return Vec::new();
    }
    let mut below = 0u64;
    latency
        .iter_recorded()
        .map(|v| {
            below += v.count_since_last_iteration();
            (
                latency.highest_equivalent(v.value_iterated_to()) as f64 / 1e6,
                below.min(total - 1) as f64 / total as f64,
            )
        })
        .collect()
}

/// The "nines" of a quantile: 0.9 → 1, 0.99 → 2, … (capped at [`MAX_NINES`]).
fn nines(quantile: f64) -> f64 {
    let tail = (1.0 - quantile).max(10f64.powf(-MAX_NINES));
    -tail.log10()
}

/// The percentile at `nines`, as a label: 0 → `0%`, 1 → `90%`, 3 → `99.9%`.
fn percentile_label(nines: f64) -> String {
    let percent = 100.0 * (1.0 - 10f64.powf(-nines));
    let digits = (nines.ceil() as i64 - 2).clamp(0, 6) as usize;
    format!("{percent:.digits$}%")
}

/// An axis number: two significant digits below 10 (no trailing zeros), whole above.
fn axis_label(x: f64) -> String {
    if x >= 10.0 || x <= 0.0 || !x.is_finite() {
        return format!("{x:.0}");
    }
    let digits = (1.0 - x.log10().floor()).clamp(0.0, 9.0) as usize;
    let text = format!("{x:.digits$}");
    if text.contains('.') {
        text.trim_end_matches('0').trim_end_matches('.').to_owned()
    } else {
        text
    }
}

/// Writes a latency CDF to `path` (SVG): x = latency in ms on a log scale, y = percentile on a
/// "nines" scale (0 %, 90 %, 99 %, 99.9 %, …) so the tail is as readable as the median. A
/// chart with no points at all still gets its axes and title.
pub fn latency_cdf(path: &Path, title: &str, series: &[Cdf]) -> Result<(), PlotError> {
    let err = failed(path);
    let usable: Vec<Vec<(f64, f64)>> = series
        .iter()
        .map(|s| {
            s.points
                .iter()
                .filter(|(ms, q)| ms.is_finite() && *ms > 0.0 && q.is_finite())
                .map(|&(ms, q)| (ms, nines(q.clamp(0.0, 1.0))))
                .collect()
        })
        .collect();
    let xs = || usable.iter().flatten().map(|p| p.0);
    let (mut lo, mut hi) = (xs().fold(f64::INFINITY, f64::min), xs().fold(0.0, f64::max));
    if !lo.is_finite() {
        (lo, hi) = (0.1, 10.0);
    }
    // The axis starts at a power of ten: plotters labels a log axis from the first one on, so
    // a range inside one decade (2 to 8 ms) would otherwise have no labels at all.
    let (lo, hi) = (
        10f64.powf((lo / 1.25).log10().floor()),
        hi.max(lo * 2.0) * 1.25,
    );
    let top = usable
        .iter()
        .flatten()
        .map(|p| p.1)
        .fold(1.0, f64::max)
        .ceil();

    let root = SVGBackend::new(path, (800, 500)).into_drawing_area();
    root.fill(&WHITE).map_err(&err)?;
    let mut chart = ChartBuilder::on(&root)
        .caption(title, ("sans-serif", 18))
        .margin(12)
        .x_label_area_size(45)
        .y_label_area_size(70)
        .build_cartesian_2d((lo..hi).log_scale(), 0.0..top)
        .map_err(&err)?;
    chart
        .configure_mesh()
        .x_desc("latency, ms (log scale)")
        .y_desc("percentile")
        .y_labels(top as usize + 1)
        .x_label_formatter(&|ms| axis_label(*ms))
        .y_label_formatter(&|n| percentile_label(*n))
        .draw()
        .map_err(&err)?;
    for (i, (s, points)) in series.iter().zip(usable).enumerate() {
        let style = colour(i).stroke_width(2);
        chart
            .draw_series(LineSeries::new(points, style))
            .map_err(&err)?
            .label(s.name.as_str())
            .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], style));
    }
    if !series.is_empty() {
        legend(&mut chart, SeriesLabelPosition::UpperLeft).map_err(&err)?;
    }
    root.present().map_err(&err)
}

/// One group of bars: a label and one value per series.
#[derive(Debug, Clone, PartialEq)]
pub struct BarGroup {
    pub label: String,
    pub values: Vec<f64>,
}

/// Writes grouped horizontal bars to `path` (SVG): one group per entry of `groups` (label
/// above it), one bar per series, each bar's value at its end and, on the first series' bar,
/// its ratio to the second series' (`×1.36`, as in the Markdown table). `digits` is the values' decimals. Negative, NaN or
/// missing values are drawn as zero.
pub fn grouped_bars(
    path: &Path,
    title: &str,
    x_desc: &str,
    series: &[&str],
    groups: &[BarGroup],
    digits: usize,
) -> Result<(), PlotError> {
    let err = failed(path);
    let value = |g: &BarGroup, s: usize| {
        g.values
            .get(s)
            .copied()
            .filter(|v| v.is_finite() && *v > 0.0)
            .unwrap_or(0.0)
    };
    let max = groups
        .iter()
        .flat_map(|g| (0..series.len()).map(move |s| value(g, s)))
        .fold(0.0, f64::max);
    // Room right of the longest bar for its label.
    let right = if max > 0.0 { max * 1.3 } else { 1.0 };
    let rows = groups.len().max(1);
    // Each group is one unit of y: its label on top, then the bars, top to bottom; the
    // legend has a band of its own above them.
    let bar = 0.7 / series.len().max(1) as f64;
    let row_height = 24 + 22 * series.len().max(1) as u32;
    let height = 110 + ((rows as f64 + LEGEND_BAND) * f64::from(row_height)) as u32;

    let root = SVGBackend::new(path, (900, height)).into_drawing_area();
    root.fill(&WHITE).map_err(&err)?;
    let mut chart = ChartBuilder::on(&root)
        .caption(title, ("sans-serif", 18))
        .margin(12)
        .x_label_area_size(45)
        .y_label_area_size(10)
        .build_cartesian_2d(0.0..right, 0.0..rows as f64 + LEGEND_BAND)
        .map_err(&err)?;
    chart
        .configure_mesh()
        .x_desc(x_desc)
        .x_label_formatter(&|x| axis_label(*x))
        .y_labels(0)
        .disable_y_mesh()
        .draw()
        .map_err(&err)?;
    let text = ("sans-serif", 13).into_font();
    for (i, group) in groups.iter().enumerate() {
        let top = (rows - i) as f64;
        chart
            .draw_series([Text::new(
                group.label.clone(),
                (0.0, top - 0.04),
                text.clone(),
            )])
            .map_err(&err)?;
    }
    for (s, name) in series.iter().enumerate() {
        let style = colour(s).filled();
        let bars = groups.iter().enumerate().map(|(i, g)| {
            let y = (rows - i) as f64 - 0.25 - s as f64 * bar;
            Rectangle::new([(0.0, y), (value(g, s), y - bar * 0.9)], style)
        });
        chart
            .draw_series(bars)
            .map_err(&err)?
            .label(*name)
            .legend(move |(x, y)| Rectangle::new([(x, y - 5), (x + 12, y + 5)], style));
        let labels = groups.iter().enumerate().map(|(i, g)| {
            let y = (rows - i) as f64 - 0.25 - s as f64 * bar;
            let v = value(g, s);
            let mut label = format!("{v:.digits$}");
            let second = value(g, 1);
            if s == 0 && series.len() > 1 && second > 0.0 {
                label = format!("{label} (×{:.2})", v / second);
            }
            Text::new(label, (v + right * 0.005, y - bar * 0.15), text.clone())
        });
        chart.draw_series(labels).map_err(&err)?;
    }
    if !series.is_empty() {
        legend(&mut chart, SeriesLabelPosition::UpperRight).map_err(&err)?;
    }
    root.present().map_err(&err)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::new_histogram;

    fn svg(path: &Path) -> String {
        let text = std::fs::read_to_string(path).expect("plot written");
        assert!(text.starts_with("<svg"), "{}", &text[..text.len().min(200)]);
        assert!(text.trim_end().ends_with("</svg>"));
        text
    }

    fn group(label: &str, values: &[f64]) -> BarGroup {
        BarGroup {
            label: label.into(),
            values: values.to_vec(),
        }
    }

    fn dir(name: &str) -> std::path::PathBuf {
        let dir =
            std::env::temp_dir().join(format!("ringkv-perf-plot-{}-{name}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("temp dir");
        dir
    }

    #[test]
    fn cdf_of_a_histogram() {
        let mut latency = new_histogram();
        for ms in 1..=100u64 {
            latency.record(ms * 1_000_000).expect("in bounds");
        }
        let points = cdf_points(&latency);
        assert_eq!(points.len(), 100);
        assert!((points[49].0 - 50.0).abs() < 0.1, "{:?}", points[49]);
        assert_eq!(points[49].1, 0.5);
        assert_eq!(
            points.last().map(|p| p.1),
            Some(0.99),
            "the maximum at 1 - 1/n"
        );
        assert!(cdf_points(&new_histogram()).is_empty());
    }

    #[test]
    fn percentile_axis() {
        assert_eq!(nines(0.0), 0.0);
        assert!((nines(0.99) - 2.0).abs() < 1e-9);
        assert_eq!(nines(1.0), MAX_NINES);
        assert_eq!(percentile_label(0.0), "0%");
        assert_eq!(percentile_label(1.0), "90%");
        assert_eq!(percentile_label(2.0), "99%");
        assert_eq!(percentile_label(3.0), "99.9%");
        assert_eq!(axis_label(12.34), "12");
        assert_eq!(axis_label(1.5), "1.5");
        assert_eq!(axis_label(0.25), "0.25");
        assert_eq!(axis_label(0.002), "0.002");
        assert_eq!(axis_label(2.0), "2");
        assert_eq!(axis_label(0.0), "0");
    }

    #[test]
    fn latency_chart_has_both_lines() {
        let dir = dir("cdf");
        let path = dir.join("put-latency.svg");
        let line = |name: &str, scale: f64| Cdf {
            name: name.into(),
            points: (1..=1000)
                .map(|i| (i as f64 * scale / 100.0, i as f64 / 1000.0))
                .collect(),
        };
        latency_cdf(
            &path,
            "put — latency",
            &[line("ringkv", 1.0), line("etcd", 2.0)],
        )
        .expect("drawn");
        let text = svg(&path);
        assert!(text.contains("ringkv") && text.contains("etcd"));
        assert!(text.contains("99.9%"), "the tail is on the axis");
        let _ = std::fs::remove_dir_all(dir);
    }

    #[test]
    fn latency_chart_of_nothing_or_one_point() {
        let dir = dir("cdf-empty");
        let path = dir.join("empty.svg");
        latency_cdf(&path, "nothing", &[]).expect("no series");
        svg(&path);
        let one = |name: &str, points| Cdf {
            name: name.into(),
            points,
        };
        let degenerate = [
            one("ringkv", vec![(3.0, 1.0)]),
            one("etcd", Vec::new()),
            one("bad", vec![(0.0, 0.5), (f64::NAN, 0.5), (-1.0, 2.0)]),
        ];
        latency_cdf(&path, "one point", &degenerate).expect("degenerate series");
        let text = svg(&path);
        assert!(text.contains("ringkv") && text.contains("etcd"));
        assert!(text.contains(">\n1\n</text>"), "an x label below 3 ms");
        let _ = std::fs::remove_dir_all(dir);
    }

    #[test]
    fn bars_have_both_series_and_ratios() {
        let dir = dir("bars");
        let path = dir.join("throughput.svg");
        let groups = [
            group("put 16 conns × 256 clients", &[18033.0, 13225.0]),
            group("watch <fanout> & more", &[830.0, 1000.0]),
        ];
        grouped_bars(
            &path,
            "throughput",
            "req/s",
            &["ringkv", "etcd"],
            &groups,
            0,
        )
        .expect("drawn");
        let text = svg(&path);
        assert!(text.contains("ringkv") && text.contains("etcd"));
        assert!(text.contains("18033") && text.contains("×1.36"), "{text}");
        assert!(
            text.contains("&lt;fanout&gt; &amp; more"),
            "labels are escaped"
        );
        let _ = std::fs::remove_dir_all(dir);
    }

    #[test]
    fn bars_of_nothing_or_odd_values() {
        let dir = dir("bars-empty");
        let path = dir.join("empty.svg");
        grouped_bars(&path, "none", "req/s", &["ringkv", "etcd"], &[], 0).expect("no groups");
        svg(&path);
        grouped_bars(&path, "no series", "req/s", &[], &[], 0).expect("no series");
        svg(&path);
        let odd = [
            group("zeros", &[0.0, 0.0]),
            group("odd", &[f64::NAN, -3.0]),
            group("short", &[]),
        ];
        grouped_bars(&path, "odd", "req/s", &["ringkv", "etcd"], &odd, 3).expect("odd values");
        let text = svg(&path);
        assert!(text.contains("ringkv") && text.contains("etcd"));
        let _ = std::fs::remove_dir_all(dir);
    }

    #[test]
    fn unwritable_path_is_an_error() {
        let path = Path::new("/nonexistent-dir/ringkv-perf/x.svg");
        assert!(latency_cdf(path, "x", &[]).is_err());
        let groups = [group("x", &[1.0])];
        assert!(grouped_bars(path, "x", "req/s", &["ringkv"], &groups, 0).is_err());
    }
}
