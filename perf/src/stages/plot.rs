//! Percentile plots as PNG: latency (µs, log scale) against the percentile
//! on the usual HdrHistogram axis `1/(1-q)` (log scale: 90%, 99%, 99.9% are
//! equally spaced), one line per histogram.
//!
//! Text needs a TrueType font (plotters' `ab_glyph` backend reads no system
//! fonts): the first of [`FONT_CANDIDATES`] that exists (Debian's
//! fonts-dejavu-core), or `--font`. Without one the plot is drawn without
//! any text and a warning says so.

use anyhow::{anyhow, Context, Result};
use hdrhistogram::Histogram;
use plotters::prelude::*;
use plotters::style::FontStyle;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

/// Fonts tried in order.
pub const FONT_CANDIDATES: [&str; 3] = [
    "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf",
    "/usr/share/fonts/dejavu/DejaVuSans.ttf",
    "/usr/share/fonts/TTF/DejaVuSans.ttf",
];
/// Image size, pixels.
pub const WIDTH: u32 = 1000;
/// Image size, pixels.
pub const HEIGHT: u32 = 620;
/// Points per line.
const POINTS: u32 = 400;
/// Largest `1/(1-q)` drawn (p99.9999).
const X_MAX_LIMIT: f64 = 1e6;
/// Family name the font is registered under.
const FAMILY: &str = "sans-serif";
/// Line colours, cycled.
const COLOURS: [RGBColor; 8] = [
    RGBColor(31, 119, 180),
    RGBColor(255, 127, 14),
    RGBColor(44, 160, 44),
    RGBColor(214, 39, 40),
    RGBColor(148, 103, 189),
    RGBColor(140, 86, 75),
    RGBColor(227, 119, 194),
    RGBColor(23, 190, 207),
];

/// The font registered for text, once per process: `Ok(path)` or why none.
static FONT: OnceLock<std::result::Result<PathBuf, String>> = OnceLock::new();

/// Registers the font for all later plots: `explicit`, else the first
/// candidate found. Returns the font used, or why there is none.
pub fn init_font(explicit: Option<&Path>) -> std::result::Result<PathBuf, String> {
    FONT.get_or_init(|| {
        let path = match explicit {
            Some(p) => p.to_path_buf(),
            None => FONT_CANDIDATES
                .iter()
                .map(PathBuf::from)
                .find(|p| p.is_file())
                .ok_or_else(|| {
                    format!(
                        "no TrueType font found (tried {}); install fonts-dejavu-core or pass --font",
                        FONT_CANDIDATES.join(", ")
                    )
                })?,
        };
        let bytes = std::fs::read(&path).map_err(|e| format!("{}: {e}", path.display()))?;
        // Leaked once per process: plotters keeps a 'static reference.
        let bytes: &'static [u8] = Box::leak(bytes.into_boxed_slice());
        plotters::style::register_font(FAMILY, FontStyle::Normal, bytes)
            .map_err(|_| format!("{} is not a usable TrueType font", path.display()))?;
        Ok(path)
    })
    .clone()
}

/// `1/(1-q)` as a percentile label: 1 → "0%", 10 → "90%", 1000 → "99.9%".
pub fn percentile_label(x: f64) -> String {
    if x < 1.5 {
        return "0%".into();
    }
    let percent = 100.0 * (1.0 - 1.0 / x);
    // One decimal per power of ten past 100 (99.9% at 1000).
    let mut decimals = 0usize;
    let mut threshold = 10f64.powf(2.5);
    while x >= threshold && decimals < 6 {
        decimals += 1;
        threshold *= 10.0;
    }
    format!("{percent:.decimals$}%")
}

/// A µs value as an axis label.
pub fn micros_label(us: f64) -> String {
    if us >= 1e6 {
        format!("{:.0} s", us / 1e6)
    } else if us >= 1e3 {
        format!("{:.0} ms", us / 1e3)
    } else {
        format!("{us:.0} µs")
    }
}

/// The x range end: the smallest power of 10 at or above the largest count
/// (the deepest percentile the data resolves), 100..=[`X_MAX_LIMIT`].
fn x_max(series: &[(String, &Histogram<u64>)]) -> f64 {
    let count = series
        .iter()
        .map(|(_, h)| h.len())
        .max()
        .unwrap_or(1)
        .max(1);
    10f64
        .powf((count as f64).log10().ceil())
        .clamp(100.0, X_MAX_LIMIT)
}

/// The y range end: the power of 10 above the largest value (at least 10).
fn y_max(series: &[(String, &Histogram<u64>)]) -> f64 {
    let max = series
        .iter()
        .map(|(_, h)| h.max())
        .max()
        .unwrap_or(1)
        .max(1);
    10f64.powf(((max as f64).log10() + 1e-9).ceil()).max(10.0)
}

/// The points of one line: `(1/(1-q), value at q)`.
fn line(histogram: &Histogram<u64>, x_end: f64) -> Vec<(f64, f64)> {
    (0..=POINTS)
        .map(|i| {
            let x = x_end.powf(f64::from(i) / f64::from(POINTS));
            let q = (1.0 - 1.0 / x).clamp(0.0, 1.0);
            (x, histogram.value_at_quantile(q).max(1) as f64)
        })
        .collect()
}

/// Draws `series` (empty histograms are left out) to `path`.
pub fn draw(path: &Path, title: &str, series: &[(String, &Histogram<u64>)]) -> Result<()> {
    draw_with(path, title, series, init_font(None).is_ok())
}

/// [`draw`], with or without any text.
fn draw_with(
    path: &Path,
    title: &str,
    series: &[(String, &Histogram<u64>)],
    text: bool,
) -> Result<()> {
    let series: Vec<(String, &Histogram<u64>)> = series
        .iter()
        .filter(|(_, h)| !h.is_empty())
        .cloned()
        .collect();
    let (x_end, y_end) = (x_max(&series), y_max(&series));
    let root = BitMapBackend::new(path, (WIDTH, HEIGHT)).into_drawing_area();
    let err = |e: &dyn std::fmt::Display| anyhow!("drawing {}: {e}", path.display());
    root.fill(&WHITE).map_err(|e| err(&e))?;
    let mut builder = ChartBuilder::on(&root);
    builder.margin(20);
    if text {
        builder
            .caption(title, (FAMILY, 22))
            .x_label_area_size(50)
            .y_label_area_size(80);
    } else {
        builder.x_label_area_size(5).y_label_area_size(5);
    }
    let mut chart = builder
        .build_cartesian_2d((1f64..x_end).log_scale(), (1f64..y_end).log_scale())
        .map_err(|e| err(&e))?;
    if text {
        chart
            .configure_mesh()
            .x_desc("percentile")
            .y_desc("latency")
            .x_label_formatter(&|x| percentile_label(*x))
            .y_label_formatter(&|y| micros_label(*y))
            .label_style((FAMILY, 14))
            .draw()
            .map_err(|e| err(&e))?;
    } else {
        // plotters' mesh always measures its labels, which needs a font:
        // draw the decade grid and the frame as plain lines instead.
        let grid = RGBColor(200, 200, 200);
        let decades = |end: f64| {
            std::iter::successors(Some(1f64), |v| Some(v * 10.0)).take_while(move |v| *v <= end)
        };
        let mut lines: Vec<Vec<(f64, f64)>> = decades(x_end)
            .map(|x| vec![(x, 1.0), (x, y_end)])
            .chain(decades(y_end).map(|y| vec![(1.0, y), (x_end, y)]))
            .collect();
        lines.push(vec![(1.0, y_end), (1.0, 1.0), (x_end, 1.0)]);
        for points in lines {
            chart
                .draw_series(LineSeries::new(points, grid.stroke_width(1)))
                .map_err(|e| err(&e))?;
        }
    }
    for (i, (name, histogram)) in series.iter().enumerate() {
        let colour = COLOURS[i % COLOURS.len()];
        let drawn = chart
            .draw_series(LineSeries::new(
                line(histogram, x_end),
                colour.stroke_width(2),
            ))
            .map_err(|e| err(&e))?;
        if text {
            drawn
                .label(format!("{name} (n={})", histogram.len()))
                .legend(move |(x, y)| {
                    PathElement::new(vec![(x, y), (x + 20, y)], colour.stroke_width(2))
                });
        }
    }
    if text && !series.is_empty() {
        chart
            .configure_series_labels()
            .position(SeriesLabelPosition::LowerRight)
            .label_font((FAMILY, 14))
            .background_style(WHITE.mix(0.85))
            .border_style(BLACK)
            .draw()
            .map_err(|e| err(&e))?;
    }
    root.present().map_err(|e| err(&e))?;
    drop(chart);
    drop(root);
    let len = std::fs::metadata(path)
        .with_context(|| format!("{} was not written", path.display()))?
        .len();
    anyhow::ensure!(len > 0, "{} is empty", path.display());
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels() {
        assert_eq!(percentile_label(1.0), "0%");
        assert_eq!(percentile_label(10.0), "90%");
        assert_eq!(percentile_label(100.0), "99%");
        assert_eq!(percentile_label(1000.0), "99.9%");
        assert_eq!(percentile_label(10000.0), "99.99%");
        assert_eq!(micros_label(5.0), "5 µs");
        assert_eq!(micros_label(2000.0), "2 ms");
        assert_eq!(micros_label(3e6), "3 s");
    }

    #[test]
    fn ranges_cover_the_data() {
        let mut h = super::super::hlog::new_histogram();
        for v in 1..=2500u64 {
            h.record(v).expect("in range");
        }
        let series = vec![("x".to_string(), &h)];
        assert_eq!(x_max(&series), 10_000.0);
        assert_eq!(y_max(&series), 10_000.0);
        let points = line(&h, 10_000.0);
        assert_eq!(points.first().map(|p| p.0), Some(1.0));
        assert!(points.windows(2).all(|w| w[0].1 <= w[1].1), "monotonic");
    }

    #[test]
    fn draws_a_png() {
        let mut h = super::super::hlog::new_histogram();
        for v in [10u64, 20, 30, 1000, 50_000] {
            h.record(v).expect("in range");
        }
        let dir = crate::scratch::TempDir::new().expect("temp dir");
        let path = dir.path().join("p.png");
        draw(&path, "test", &[("total".into(), &h)]).expect("draw");
        let bytes = std::fs::read(&path).expect("read");
        assert_eq!(&bytes[..8], b"\x89PNG\r\n\x1a\n");
        assert!(bytes.len() > 5_000, "{} bytes", bytes.len());
        let plain = dir.path().join("plain.png");
        draw_with(&plain, "test", &[("total".into(), &h)], false).expect("draw");
        let with_lines = std::fs::metadata(&plain).expect("written").len();
        let blank = dir.path().join("blank.png");
        draw_with(&blank, "test", &[], false).expect("draw");
        let without = std::fs::metadata(&blank).expect("written").len();
        assert!(with_lines > without, "the line is drawn without text too");
    }
}
