//! The KV chart of a run: live KV entries after each step (x: tokens generated, y: live
//! entries) under full context and memento mode (and the trace's own policy when it is
//! neither), the live counts the trace recorded, and a mark at each eviction. The same
//! drawing goes to SVG (text drawn by the viewer) or to a PNG.

use std::io::BufWriter;
use std::path::Path;

use anyhow::{Context, anyhow, bail};
use plotters::coord::Shift;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

use super::font::{FAMILY, png_font};
use crate::timeline::Timeline;
use crate::units::count;

/// Chart sizes accepted, in pixels per side.
pub const MIN_SIZE: (u32, u32) = (200, 150);
pub const MAX_SIZE: u32 = 8192;

const FULL: RGBColor = RGBColor(31, 119, 180);
const MEMENTO: RGBColor = RGBColor(44, 160, 44);
const OWN: RGBColor = RGBColor(148, 103, 189);
const RECORDED: RGBColor = RGBColor(255, 127, 14);
const EVICTION: RGBColor = RGBColor(214, 39, 40);
const INK: RGBColor = RGBColor(40, 40, 40);

/// The chart as SVG text. It holds one `<polyline>` per series; its text is left to the
/// viewer's sans-serif font, so no font file is needed.
pub fn kv_chart_svg(timeline: &Timeline, width: u32, height: u32) -> anyhow::Result<String> {
    check_size(width, height)?;
    let chart = Chart::new(timeline);
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (width, height)).into_drawing_area();
        draw(&root, &chart, true, false).map_err(|e| anyhow!("drawing the KV chart: {e}"))?;
        root.present()
            .map_err(|e| anyhow!("drawing the KV chart: {e}"))?;
    }
    Ok(svg)
}

/// The chart as a PNG file at `path`. Its text needs a TrueType font, found at runtime
/// (`MEMENTO_FONT`, then well-known system fonts, then the usual font directories; see
/// [`png_font`]): when there is none, or `MEMENTO_FONT=none`, the chart is drawn without
/// any text (no title, legend, tick labels or axis names) rather than failing.
pub fn kv_chart_png(
    timeline: &Timeline,
    path: &Path,
    width: u32,
    height: u32,
) -> anyhow::Result<()> {
    check_size(width, height)?;
    let chart = Chart::new(timeline);
    let text = png_font().is_some();
    let mut pixels = vec![0u8; width as usize * height as usize * 3];
    {
        let root = BitMapBackend::with_buffer(&mut pixels, (width, height)).into_drawing_area();
        draw(&root, &chart, text, true).map_err(|e| anyhow!("drawing the KV chart: {e}"))?;
        root.present()
            .map_err(|e| anyhow!("drawing the KV chart: {e}"))?;
    }
    write_png(path, width, height, &pixels)
}

/// Refuse a chart smaller than [`MIN_SIZE`] or with a side over [`MAX_SIZE`] pixels.
pub fn check_size(width: u32, height: u32) -> anyhow::Result<()> {
    let (min_w, min_h) = MIN_SIZE;
    if !(min_w..=MAX_SIZE).contains(&width) || !(min_h..=MAX_SIZE).contains(&height) {
        bail!(
            "chart size {width}x{height}: expected {min_w} to {MAX_SIZE} pixels wide and {min_h} to {MAX_SIZE} high"
        );
    }
    Ok(())
}

fn write_png(path: &Path, width: u32, height: u32, rgb: &[u8]) -> anyhow::Result<()> {
    let fail = || format!("{}: cannot write the PNG", path.display());
    let file = std::fs::File::create(path).with_context(fail)?;
    let mut encoder = png::Encoder::new(BufWriter::new(file), width, height);
    encoder.set_color(png::ColorType::Rgb);
    encoder.set_depth(png::BitDepth::Eight);
    let mut writer = encoder.write_header().with_context(fail)?;
    writer.write_image_data(rgb).with_context(fail)?;
    writer.finish().with_context(fail)
}

struct Line {
    label: String,
    colour: RGBColor,
    /// Stroke width at scale 1.
    stroke: f64,
    points: Vec<(u64, u64)>,
}

/// What the chart shows, independent of where it is drawn.
struct Chart {
    title: String,
    lines: Vec<Line>,
    evictions: Vec<(u64, u64)>,
    x_max: u64,
    y_max: u64,
}

impl Chart {
    fn new(timeline: &Timeline) -> Chart {
        // Step i of a series is after the prefill and i tokens, or after token i + 1 when
        // there is no prompt.
        let first_x = u64::from(timeline.prompt_len() == 0);
        let steps = |live: &[u64]| -> Vec<(u64, u64)> {
            live.iter()
                .enumerate()
                .map(|(i, &v)| (i as u64 + first_x, v))
                .collect()
        };
        let mut lines = Vec::new();
        for (i, s) in timeline.series().iter().enumerate() {
            let (label, colour) = match i {
                0 => ("full context".to_string(), FULL),
                1 => (s.policy.label(), MEMENTO),
                _ => (format!("{} (simulated)", s.policy.label()), OWN),
            };
            lines.push(Line {
                label,
                colour,
                stroke: 2.5,
                points: steps(s.live()),
            });
        }
        // Recorded readings come one per step, like the simulated ones.
        if !timeline.recorded_live().is_empty() {
            lines.push(Line {
                label: format!("recorded ({})", timeline.header.policy.label()),
                colour: RECORDED,
                // Thinner, on top: it often traces a simulated series exactly.
                stroke: 1.2,
                points: steps(timeline.recorded_live()),
            });
        }
        let evictions: Vec<(u64, u64)> = timeline
            .evictions()
            .iter()
            .map(|e| ((e.pos + 1).saturating_sub(timeline.prompt_len()), e.live))
            .collect();
        let all = lines.iter().flat_map(|l| &l.points).chain(&evictions);
        let x_max = all.clone().map(|p| p.0).max().unwrap_or(0).max(1);
        let y_top = all.map(|p| p.1).max().unwrap_or(0).max(1);
        // Headroom above the highest line.
        let y_max = y_top + y_top.div_ceil(12);
        Chart {
            title: title(timeline),
            lines,
            evictions,
            x_max,
            y_max,
        }
    }
}

fn title(timeline: &Timeline) -> String {
    let mut title = "Peak live KV".to_string();
    if let [full, memento, rest @ ..] = timeline.series() {
        let (f, m) = (full.peak_live(), memento.peak_live());
        title.push_str(&format!(
            ": full context {} · {} {}",
            count(f),
            memento.policy.label(),
            count(m)
        ));
        if f > 0 {
            title.push_str(&format!(" ({:.2}× full)", m as f64 / f as f64));
        }
        for s in rest {
            title.push_str(&format!(" · {} {}", s.policy.label(), count(s.peak_live())));
        }
    }
    title
}

/// A polyline in pixels with at most four points per pixel column (its first, highest,
/// lowest and last, in drawing order): peaks and drops survive, a 200k-token run stays a
/// small file, and no two neighbours coincide.
fn per_column(pixels: impl IntoIterator<Item = (i32, i32)>) -> Vec<(i32, i32)> {
    let mut out = Vec::new();
    let mut column: Vec<(i32, i32)> = Vec::new();
    for p in pixels {
        if column.last().is_some_and(|c| c.0 != p.0) {
            keep_extremes(&column, &mut out);
            column.clear();
        }
        column.push(p);
    }
    keep_extremes(&column, &mut out);
    out
}

fn keep_extremes(column: &[(i32, i32)], out: &mut Vec<(i32, i32)>) {
    if column.is_empty() {
        return;
    }
    let top = (0..column.len()).min_by_key(|&i| column[i].1);
    let bottom = (0..column.len()).max_by_key(|&i| column[i].1);
    let mut keep = vec![0, column.len() - 1];
    keep.extend(top);
    keep.extend(bottom);
    keep.sort_unstable();
    keep.dedup();
    for i in keep {
        if out.last() != Some(&column[i]) {
            out.push(column[i]);
        }
    }
}

/// Pixel offsets that together cover a disc `width` pixels across.
fn brush(width: u32) -> Vec<(i32, i32)> {
    let width = width.max(1) as i32;
    let (lo, hi) = (-(width - 1) / 2, width / 2);
    let centre = (lo + hi) as f64 / 2.0;
    let radius = width as f64 / 2.0;
    let mut offsets = Vec::new();
    for dy in lo..=hi {
        for dx in lo..=hi {
            let (x, y) = (dx as f64 - centre, dy as f64 - centre);
            if x * x + y * y <= radius * radius {
                offsets.push((dx, dy));
            }
        }
    }
    offsets
}

/// Sizes in plotters' font units and pixels, scaled with the picture.
struct Scale(f64);

impl Scale {
    fn of(width: u32, height: u32) -> Scale {
        Scale(
            (width as f64 / 1000.0)
                .min(height as f64 / 500.0)
                .clamp(0.5, 4.0),
        )
    }

    fn px(&self, base: f64) -> i32 {
        (base * self.0).round().max(1.0) as i32
    }

    fn font(&self, base: f64) -> TextStyle<'static> {
        (FAMILY, base * self.0).into_font().color(&INK)
    }
}

/// Rough width of `text` at `size`, for laying out without a font (SVG text is sized by
/// the viewer).
fn text_width(text: &str, size: f64) -> i32 {
    (text.chars().count() as f64 * size * 0.5).ceil() as i32
}

/// Draw `chart` on `root`, with its text or none. `brushed` draws thick lines as several
/// one-pixel lines side by side: plotters' thick bitmap lines put spikes at sharp turns.
fn draw<DB: DrawingBackend>(
    root: &DrawingArea<DB, Shift>,
    chart: &Chart,
    text: bool,
    brushed: bool,
) -> Result<(), DrawingAreaErrorKind<DB::ErrorType>> {
    let (width, height) = root.dim_in_pixel();
    let s = Scale::of(width, height);
    let (title_size, label_size, desc_size) = (22.0, 15.0, 16.0);
    root.fill(&WHITE)?;

    let plot_root = if text {
        let title_h = s.px(title_size * 1.8);
        let (top, rest) = root.split_vertically(title_h);
        // A long title (three policies) shrinks to fit the width; title glyphs run about a
        // tenth wider than the estimate.
        let natural = 1.1 * text_width(&chart.title, s.0 * title_size).max(1) as f64;
        let shrink = (0.92 * width as f64 / natural).min(1.0);
        let style = s
            .font(title_size * shrink)
            .pos(Pos::new(HPos::Center, VPos::Center));
        top.draw(&Text::new(
            chart.title.clone(),
            (width as i32 / 2, title_h / 2 + s.px(2.0)),
            style,
        ))?;
        rest
    } else {
        root.clone()
    };

    let y_labels_w = text_width(&count(chart.y_max), s.0 * label_size);
    let mut builder = ChartBuilder::on(&plot_root);
    builder
        .margin_top(s.px(8.0))
        .margin_right(s.px(24.0))
        .margin_left(s.px(8.0))
        .margin_bottom(s.px(8.0));
    if text {
        builder
            .x_label_area_size(s.px(label_size * 1.4 + desc_size * 1.6 + 8.0))
            .y_label_area_size(y_labels_w + s.px(desc_size * 1.6 + 14.0));
    }
    let mut plot = builder.build_cartesian_2d(0..chart.x_max, 0..chart.y_max)?;

    let thousands = |v: &u64| count(*v);
    let mut mesh = plot.configure_mesh();
    mesh.light_line_style(RGBColor(238, 238, 238))
        .bold_line_style(RGBColor(215, 215, 215))
        .axis_style(INK)
        .x_labels(8)
        .y_labels(6);
    if text {
        mesh.x_desc("tokens generated")
            .y_desc("live KV entries")
            .label_style(s.font(label_size))
            .axis_desc_style(s.font(desc_size))
            .x_label_formatter(&thousands)
            .y_label_formatter(&thousands);
    }
    mesh.draw()?;
    if !text {
        // No label areas, so no axes from the mesh: draw them in the plot.
        let axes = vec![(0, chart.y_max), (0, 0), (chart.x_max, 0)];
        plot.draw_series(std::iter::once(PathElement::new(axes, INK.stroke_width(1))))?;
    }

    let area = plot.plotting_area();
    for line in &chart.lines {
        let pixels = per_column(line.points.iter().map(|p| area.map_coordinate(p)));
        let width = (line.stroke * s.0).round().max(1.0) as u32;
        if brushed {
            for (dx, dy) in brush(width) {
                let shifted = pixels.iter().map(|&(x, y)| (x + dx, y + dy));
                root.draw(&PathElement::new(shifted.collect::<Vec<_>>(), line.colour))?;
            }
        } else {
            root.draw(&PathElement::new(pixels, line.colour.stroke_width(width)))?;
        }
    }
    // Smaller marks when evictions crowd together.
    let spacing = area.dim_in_pixel().0 as f64 / chart.evictions.len().max(1) as f64;
    let r = (3.5 * s.0).min(spacing / 4.0).max(1.5).round() as i32;
    plot.draw_series(
        chart
            .evictions
            .iter()
            .map(|&p| Circle::new(p, r, EVICTION.filled())),
    )?;

    if text {
        legend(&plot.plotting_area().strip_coord_spec(), chart, &s)?;
    }
    Ok(())
}

/// A boxed legend in the plot's top-left corner, where the lines start low.
fn legend<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    chart: &Chart,
    s: &Scale,
) -> Result<(), DrawingAreaErrorKind<DB::ErrorType>> {
    let size = 14.0;
    let mut entries: Vec<(&str, RGBColor, bool)> = chart
        .lines
        .iter()
        .map(|l| (l.label.as_str(), l.colour, true))
        .collect();
    if !chart.evictions.is_empty() {
        entries.push(("eviction", EVICTION, false));
    }
    let (pad, row, swatch) = (s.px(8.0), s.px(size * 1.45), s.px(26.0));
    let widest = entries
        .iter()
        .map(|e| text_width(e.0, s.0 * size))
        .max()
        .unwrap_or(0);
    let (x0, y0) = (s.px(12.0), s.px(10.0));
    let x1 = x0 + pad * 3 + swatch + widest;
    let y1 = y0 + pad * 2 + row * entries.len() as i32;
    area.draw(&Rectangle::new(
        [(x0, y0), (x1, y1)],
        WHITE.mix(0.9).filled(),
    ))?;
    area.draw(&Rectangle::new(
        [(x0, y0), (x1, y1)],
        RGBColor(200, 200, 200).stroke_width(1),
    ))?;
    for (i, (label, colour, is_line)) in entries.into_iter().enumerate() {
        let cy = y0 + pad + row * i as i32 + row / 2;
        let sx = x0 + pad;
        if is_line {
            // A filled bar rather than a path, so the lines stay the only polylines.
            let h = s.px(1.5);
            area.draw(&Rectangle::new(
                [(sx, cy - h), (sx + swatch, cy + h)],
                colour.filled(),
            ))?;
        } else {
            area.draw(&Circle::new(
                (sx + swatch / 2, cy),
                s.px(3.5),
                colour.filled(),
            ))?;
        }
        let style = s.font(size).pos(Pos::new(HPos::Left, VPos::Center));
        area.draw(&Text::new(
            label.to_string(),
            (sx + swatch + pad, cy),
            style,
        ))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn columns_keep_peaks_and_ends() {
        // Ten points per column, rising and falling.
        let pixels: Vec<(i32, i32)> = (0..1000).map(|i| (i / 10, (i * 37) % 101)).collect();
        let kept = per_column(pixels.iter().copied());
        assert!(kept.len() <= 400);
        assert_eq!(kept.first(), pixels.first());
        assert_eq!(kept.last(), pixels.last());
        assert_eq!(
            kept.iter().map(|p| p.1).max(),
            pixels.iter().map(|p| p.1).max()
        );
        assert_eq!(
            kept.iter().map(|p| p.1).min(),
            pixels.iter().map(|p| p.1).min()
        );
        assert!(kept.windows(2).all(|w| w[0] != w[1] && w[0].0 <= w[1].0));
    }

    #[test]
    fn brushes_cover_the_width() {
        assert_eq!(brush(1), vec![(0, 0)]);
        assert_eq!(brush(2).len(), 4);
        assert_eq!(brush(3).len(), 9);
        assert_eq!(brush(4).len(), 12);
    }

    #[test]
    fn sizes_out_of_range_are_refused() {
        assert!(check_size(100, 600).is_err());
        assert!(check_size(1200, 100_000).is_err());
        assert!(check_size(1200, 600).is_ok());
    }
}
