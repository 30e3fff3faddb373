//! The KV chart of a run: live KV entries after each step (x: tokens generated, y: live
//! entries) under full context and memento mode (and the trace's own policy when it is
//! neither), the live counts the trace recorded, and a mark at each eviction. The same
//! drawing goes to SVG (text drawn by the viewer) or to a PNG.

use std::path::Path;

use plotters::coord::Shift;
use plotters::prelude::*;

use super::draw::{
    Entry, Mark, Picture, bare_axes, canvas, legend, mesh_style, plot_builder, thick_path,
};
use crate::palette;
use crate::timeline::Timeline;
use crate::units::count;

// The shared palette's colours (crate::palette), so a series looks the same here as in the TUI.
const fn rgb(c: palette::Rgb) -> RGBColor {
    RGBColor(c.0, c.1, c.2)
}
const FULL: RGBColor = rgb(palette::FULL);
const MEMENTO: RGBColor = rgb(palette::MEMENTO);
const OWN: RGBColor = rgb(palette::POLICY);
const RECORDED: RGBColor = rgb(palette::RECORDED);
const EVICTION: RGBColor = rgb(palette::EVICTION);

/// The chart as SVG text. It holds one `<polyline>` per series; its text is left to the
/// viewer's sans-serif font, so no font file is needed.
pub fn kv_chart_svg(timeline: &Timeline, width: u32, height: u32) -> anyhow::Result<String> {
    super::draw::svg(&Chart::new(timeline), width, height)
}

/// The chart as a PNG file at `path`. Its text needs a TrueType font, found at runtime
/// (`MEMENTO_FONT`, then well-known system fonts, then the usual font directories; see
/// [`super::png_font`]): when there is none, or `MEMENTO_FONT=none`, the chart is drawn
/// without any text (no title, legend, tick labels or axis names) rather than failing.
pub fn kv_chart_png(
    timeline: &Timeline,
    path: &Path,
    width: u32,
    height: u32,
) -> anyhow::Result<()> {
    super::draw::png(&Chart::new(timeline), path, width, height)
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
        // Recorded readings come one per step, like the simulated ones. When they equal a
        // simulated series exactly, a second line would sit hidden under the first: the
        // legend says so on that line instead.
        let recorded = timeline.recorded_live();
        let same = timeline
            .series()
            .iter()
            .position(|s| !recorded.is_empty() && s.live() == recorded);
        if let Some(i) = same {
            lines[i].label.push_str(" = recorded");
        } else if !recorded.is_empty() {
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

impl Picture for Chart {
    const WHAT: &'static str = "the KV chart";

    fn draw<DB: DrawingBackend>(
        &self,
        root: &DrawingArea<DB, Shift>,
        text: bool,
        bitmap: bool,
    ) -> Result<(), DrawingAreaErrorKind<DB::ErrorType>> {
        let chart = self;
        let (s, plot_root) = canvas(root, &chart.title, text)?;
        let mut plot = plot_builder(&plot_root, &s, text, &count(chart.y_max), s.px(24.0))
            .build_cartesian_2d(0..chart.x_max, 0..chart.y_max)?;

        let thousands = |v: &u64| count(*v);
        let mut mesh = plot.configure_mesh();
        mesh_style(&mut mesh, &s, text);
        mesh.x_labels(8).y_labels(6);
        if text {
            mesh.x_desc("tokens generated")
                .y_desc("live KV entries")
                .x_label_formatter(&thousands)
                .y_label_formatter(&thousands);
        }
        mesh.draw()?;
        if !text {
            bare_axes(root, plot.plotting_area().get_pixel_range())?;
        }

        let area = plot.plotting_area();
        for line in &chart.lines {
            let pixels = per_column(line.points.iter().map(|p| area.map_coordinate(p)));
            let width = (line.stroke * s.0).round().max(1.0) as u32;
            thick_path(root, pixels, line.colour, width, bitmap)?;
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
            // In the plot's top-left corner, where the lines start low.
            let mut entries: Vec<Entry> = chart
                .lines
                .iter()
                .map(|l| Entry {
                    label: &l.label,
                    colour: l.colour,
                    mark: Mark::Line,
                })
                .collect();
            if !chart.evictions.is_empty() {
                entries.push(Entry {
                    label: "eviction",
                    colour: EVICTION,
                    mark: Mark::Dot,
                });
            }
            let area = plot.plotting_area().strip_coord_spec();
            legend(&area, &entries, (s.px(12.0), s.px(10.0)), &s)?;
        }
        Ok(())
    }
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
}
