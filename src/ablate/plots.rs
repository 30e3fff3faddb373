//! Charts of a result directory, drawn from its files alone (like the report), each as SVG
//! and PNG beside them: mean KL per block index, free-running accuracy per arm, and the
//! implicit-channel map (layer × block, K and V). The drawing reuses the export module's.

use std::path::Path;

use anyhow::Context;
use std::ops::Range;

use plotters::coord::Shift;
use plotters::coord::ranged1d::{DefaultFormatting, KeyPointHint};
use plotters::coord::types::RangedCoordf64;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

use super::figures::{ChannelMap, Figures};
use crate::export::draw::{
    self, DESC_SIZE, Entry, INK, LABEL_SIZE, Mark, Picture, Scale, bare_axes, canvas, legend,
    legend_size, mesh_style, plot_builder, text_width, thick_path, title_strip,
};

/// The size [`write`] is usually given, in pixels.
pub const SIZE: (u32, u32) = crate::export::DEFAULT_SIZE;

/// The charts, by the name of their files.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Plot {
    KlPerBlock,
    AccuracyPerArm,
    ChannelHeatmap,
}

impl Plot {
    pub const ALL: [Plot; 3] = [Plot::KlPerBlock, Plot::AccuracyPerArm, Plot::ChannelHeatmap];

    /// The files' name without extension.
    pub fn stem(self) -> &'static str {
        match self {
            Plot::KlPerBlock => "kl_per_block",
            Plot::AccuracyPerArm => "accuracy_per_arm",
            Plot::ChannelHeatmap => "channel_heatmap",
        }
    }

    pub fn svg(self) -> String {
        format!("{}.svg", self.stem())
    }

    pub fn png(self) -> String {
        format!("{}.png", self.stem())
    }

    /// What the chart shows, in a few words (the report's alt text).
    pub fn title(self) -> &'static str {
        match self {
            Plot::KlPerBlock => "Mean KL per block index",
            Plot::AccuracyPerArm => "Free-running accuracy per arm",
            Plot::ChannelHeatmap => "Implicit channel by layer and block",
        }
    }
}

/// The charts `figures` give: the KL chart when a compared arm has a position in some block,
/// the accuracy chart when an answer has a reference, the channel map when a memento was
/// compared.
pub fn charts(figures: &Figures) -> Vec<Plot> {
    Plot::ALL
        .into_iter()
        .filter(|plot| match plot {
            Plot::KlPerBlock => KlChart::new(figures).is_some(),
            Plot::AccuracyPerArm => figures.accuracy.iter().any(|a| a.answered > 0),
            Plot::ChannelHeatmap => figures.channel.is_some(),
        })
        .collect()
}

/// Write each chart the result directory `dir`'s files give, as `<stem>.svg` and
/// `<stem>.png` (`size` pixels) into `dir`; returns the charts written.
pub fn write(dir: &Path, size: (u32, u32)) -> anyhow::Result<Vec<Plot>> {
    draw::check_size(size.0, size.1)?;
    let figures = Figures::read(dir)?;
    let written = charts(&figures);
    for &plot in &written {
        match plot {
            Plot::KlPerBlock => emit(&KlChart::new(&figures).expect("charted"), dir, plot, size)?,
            Plot::AccuracyPerArm => emit(&AccuracyChart::new(&figures), dir, plot, size)?,
            Plot::ChannelHeatmap => {
                let map = figures.channel.as_ref().expect("charted");
                emit(&Heatmap(map), dir, plot, size)?
            }
        }
    }
    Ok(written)
}

fn emit<P: Picture>(
    picture: &P,
    dir: &Path,
    plot: Plot,
    (width, height): (u32, u32),
) -> anyhow::Result<()> {
    let svg_path = dir.join(plot.svg());
    let svg = draw::svg(picture, width, height).with_context(|| svg_path.display().to_string())?;
    crate::export::write(&svg_path, &svg)?;
    let png_path = dir.join(plot.png());
    draw::png(picture, &png_path, width, height).with_context(|| png_path.display().to_string())
}

/// An arm's colour, the same in every chart and in the TUI: the shared palette's, by the
/// arm's policy name, else by `index`, its place in the run ([`crate::palette`]).
fn arm_colour(arm: &str, index: usize) -> RGBColor {
    rgb(crate::palette::Series::of(arm, index).rgb())
}

fn rgb(c: crate::palette::Rgb) -> RGBColor {
    RGBColor(c.0, c.1, c.2)
}

/// Integer ticks in `first..=last`, multiples of 1, 2, 5, 10, 20, … so that at most `most`
/// show.
fn ticks(first: u32, last: u32, most: usize) -> Vec<f64> {
    let mut step = 1u32;
    for k in 0.. {
        step = [1, 2, 5][k % 3] * 10u32.pow(k as u32 / 3);
        if (first..=last).filter(|v| v % step == 0).count() <= most.max(1) {
            break;
        }
    }
    let mut t: Vec<f64> = (first..=last)
        .filter(|v| v % step == 0)
        .map(f64::from)
        .collect();
    if t.is_empty() {
        t.push(f64::from(first));
    }
    t
}

/// An axis over `range` with ticks at `ticks` only. (plotters' own `with_key_points` over an
/// f64 range cannot have its labels formatted.)
struct Ticked {
    inner: RangedCoordf64,
    ticks: Vec<f64>,
}

fn ticked(range: Range<f64>, ticks: Vec<f64>) -> Ticked {
    Ticked {
        inner: range.into(),
        ticks,
    }
}

impl Ranged for Ticked {
    type FormatOption = DefaultFormatting;
    type ValueType = f64;

    fn map(&self, value: &f64, limit: (i32, i32)) -> i32 {
        self.inner.map(value, limit)
    }

    fn key_points<Hint: KeyPointHint>(&self, hint: Hint) -> Vec<f64> {
        // The ticks are the bold lines; no light lines between them.
        if hint.weight().allow_light_points() {
            Vec::new()
        } else {
            self.ticks.clone()
        }
    }

    fn range(&self) -> Range<f64> {
        self.inner.range()
    }
}

/// Decimals that tell apart ticks about `step` apart.
fn decimals(step: f64) -> usize {
    if step <= 0.0 || !step.is_finite() {
        return 2;
    }
    (-step.log10()).ceil().clamp(0.0, 8.0) as usize
}

/// A value in three significant digits (a colour scale's ends).
fn short(v: f64) -> String {
    if v == 0.0 {
        "0".into()
    } else if v.abs() < 1e-3 {
        format!("{v:.2e}")
    } else {
        let digits = (2 - v.abs().log10().floor() as i32).max(0) as usize;
        format!("{v:.digits$}")
    }
}

struct Series {
    label: String,
    colour: RGBColor,
    /// (block, 1-based; mean KL).
    points: Vec<(f64, f64)>,
}

/// Mean KL(full ‖ arm) per block index, a line with markers per compared arm. The full arm
/// is left out: it is the reference, 0 everywhere by definition.
struct KlChart {
    series: Vec<Series>,
    blocks: u32,
    y_max: f64,
}

impl KlChart {
    /// `None` when no compared arm has a position in any block.
    fn new(figures: &Figures) -> Option<KlChart> {
        let mut series = Vec::new();
        for (i, arm) in figures.arms.iter().enumerate() {
            if arm == "full" {
                continue;
            }
            let points: Vec<(f64, f64)> = figures
                .kl_by_block
                .iter()
                .filter(|(_, per_arm)| per_arm[i].positions > 0)
                .map(|(&block, per_arm)| (f64::from(block + 1), per_arm[i].mean_kl))
                .collect();
            if !points.is_empty() {
                series.push(Series {
                    label: arm.clone(),
                    colour: arm_colour(arm, i),
                    points,
                });
            }
        }
        if series.is_empty() {
            return None;
        }
        let blocks = figures.kl_by_block.keys().max().map_or(1, |b| b + 1);
        let top = series
            .iter()
            .flat_map(|s| &s.points)
            .map(|p| p.1)
            .fold(0.0, f64::max);
        // Headroom above the highest point; an all-zero chart still has a scale.
        let y_max = if top > 0.0 { top * 1.12 } else { 0.01 };
        Some(KlChart {
            series,
            blocks,
            y_max,
        })
    }
}

impl Picture for KlChart {
    const WHAT: &'static str = "the KL-per-block chart";

    fn draw<DB: DrawingBackend>(
        &self,
        root: &DrawingArea<DB, Shift>,
        text: bool,
        bitmap: bool,
    ) -> Result<(), DrawingAreaErrorKind<DB::ErrorType>> {
        let (s, plot_root) = canvas(root, "Mean KL(full ‖ arm) per block index", text)?;
        let entries: Vec<Entry> = self
            .series
            .iter()
            .map(|l| Entry {
                label: &l.label,
                colour: l.colour,
                mark: Mark::LineDot,
            })
            .collect();
        // The legend sits right of the plot, where no line can run under it.
        let legend_w = if text {
            legend_size(&entries, &s).0 + s.px(16.0)
        } else {
            0
        };
        let places = decimals(self.y_max / 6.0);
        let y_fmt = |v: &f64| format!("{v:.places$}");
        let x = ticked(0.5..f64::from(self.blocks) + 0.5, ticks(1, self.blocks, 12));
        let widest_y = y_fmt(&self.y_max);
        let mut plot = plot_builder(&plot_root, &s, text, &widest_y, s.px(24.0) + legend_w)
            .build_cartesian_2d(x, 0.0..self.y_max)?;
        let block_fmt = |v: &f64| format!("{v:.0}");
        let mut mesh = plot.configure_mesh();
        mesh_style(&mut mesh, &s, text);
        mesh.y_labels(6);
        if text {
            mesh.x_desc("block (its positions and its memento's)")
                .y_desc("mean KL, nats")
                .x_label_formatter(&block_fmt)
                .y_label_formatter(&y_fmt);
        }
        mesh.draw()?;
        if !text {
            bare_axes(root, plot.plotting_area().get_pixel_range())?;
        }

        // Arms often coincide (keep-N equals full until N blocks have closed): each is
        // nudged sideways a little so none hides another.
        let n = self.series.len() as f64;
        let nudge = |i: usize| (i as f64 - (n - 1.0) / 2.0) * (0.24 / n.max(2.0));
        let area = plot.plotting_area();
        let r = s.px(4.0);
        for (i, line) in self.series.iter().enumerate() {
            let points: Vec<(f64, f64)> = line
                .points
                .iter()
                .map(|&(x, y)| (x + nudge(i), y))
                .collect();
            if points.len() > 1 {
                let pixels = points.iter().map(|p| area.map_coordinate(p)).collect();
                thick_path(root, pixels, line.colour, s.px(2.5) as u32, bitmap)?;
            }
            for &p in &points {
                area.draw(&Circle::new(p, r, line.colour.filled()))?;
            }
        }
        if text {
            let (x, y) = area.get_pixel_range();
            legend(root, &entries, (x.end + s.px(16.0), y.start), &s)?;
        }
        Ok(())
    }
}

struct Bar {
    label: String,
    colour: RGBColor,
    /// Percentages: the rate and its 95% Wilson interval.
    rate: f64,
    lo: f64,
    hi: f64,
}

/// Free-running accuracy per arm: a bar per arm with answers to judge, with its 95% Wilson
/// interval and its count under it.
struct AccuracyChart {
    bars: Vec<Bar>,
}

impl AccuracyChart {
    fn new(figures: &Figures) -> AccuracyChart {
        let bars = figures
            .accuracy
            .iter()
            .enumerate()
            .filter_map(|(i, a)| {
                let rate = a.rate()?;
                let (lo, hi) = a.interval();
                Some(Bar {
                    label: format!("{} · {}/{}", a.arm, a.correct, a.answered),
                    colour: arm_colour(&a.arm, i),
                    rate: 100.0 * rate,
                    lo: 100.0 * lo,
                    hi: 100.0 * hi,
                })
            })
            .collect();
        AccuracyChart { bars }
    }
}

impl Picture for AccuracyChart {
    const WHAT: &'static str = "the accuracy chart";

    fn draw<DB: DrawingBackend>(
        &self,
        root: &DrawingArea<DB, Shift>,
        text: bool,
        _bitmap: bool,
    ) -> Result<(), DrawingAreaErrorKind<DB::ErrorType>> {
        let title = "Free-running accuracy per arm, with 95% Wilson intervals";
        let (s, plot_root) = canvas(root, title, text)?;
        let mut builder = plot_builder(&plot_root, &s, text, "100%", s.px(24.0));
        // Room for the value written above a whisker that reaches 100%.
        builder.margin_top(s.px(LABEL_SIZE * 1.6 + 8.0));
        let k = self.bars.len();
        let centres: Vec<f64> = (0..k).map(|i| i as f64).collect();
        let x = ticked(-0.5..k as f64 - 0.5, centres);
        let mut plot = builder.build_cartesian_2d(x, 0.0..100.0)?;
        let arm_fmt = |v: &f64| {
            let i = v.round().max(0.0) as usize;
            self.bars.get(i).map_or(String::new(), |b| b.label.clone())
        };
        let percent = |v: &f64| format!("{v:.0}%");
        let mut mesh = plot.configure_mesh();
        mesh_style(&mut mesh, &s, text);
        mesh.disable_x_mesh().y_labels(6);
        if text {
            mesh.x_desc("arm · correct / answers with a reference")
                .y_desc("correct")
                .x_label_formatter(&arm_fmt)
                .y_label_formatter(&percent);
        }
        mesh.draw()?;
        if !text {
            bare_axes(root, plot.plotting_area().get_pixel_range())?;
        }

        let half = 0.3_f64.min(0.3 * 8.0 / k.max(1) as f64);
        plot.draw_series(self.bars.iter().enumerate().map(|(i, b)| {
            let x = i as f64;
            Rectangle::new([(x - half, 0.0), (x + half, b.rate)], b.colour.filled())
        }))?;
        let whisker = INK.stroke_width(s.px(1.5) as u32);
        let cap = half / 3.0;
        for (i, b) in self.bars.iter().enumerate() {
            let x = i as f64;
            plot.draw_series([
                PathElement::new(vec![(x, b.lo), (x, b.hi)], whisker),
                PathElement::new(vec![(x - cap, b.lo), (x + cap, b.lo)], whisker),
                PathElement::new(vec![(x - cap, b.hi), (x + cap, b.hi)], whisker),
            ])?;
        }
        if text {
            let area = plot.plotting_area();
            let style = s.font(LABEL_SIZE).pos(Pos::new(HPos::Center, VPos::Bottom));
            for (i, b) in self.bars.iter().enumerate() {
                let (px, py) = area.map_coordinate(&(i as f64, b.hi));
                let value = format!("{:.1}%", b.rate);
                root.draw(&Text::new(value, (px, py - s.px(6.0)), style.clone()))?;
            }
        }
        Ok(())
    }
}

/// Steps in a colour bar.
const COLOUR_STEPS: u32 = 32;

/// Viridis at `t` in 0..=1 (dark blue to yellow): ordered and readable in grey.
fn viridis(t: f64) -> RGBColor {
    const STOPS: [(u8, u8, u8); 9] = [
        (68, 1, 84),
        (71, 45, 123),
        (59, 82, 139),
        (44, 114, 142),
        (33, 145, 140),
        (40, 174, 128),
        (94, 201, 98),
        (173, 220, 48),
        (253, 231, 37),
    ];
    let x = t.clamp(0.0, 1.0) * (STOPS.len() - 1) as f64;
    let i = (x.floor() as usize).min(STOPS.len() - 2);
    let f = x - i as f64;
    let (a, b) = (STOPS[i], STOPS[i + 1]);
    let mix = |p: u8, q: u8| (p as f64 + (q as f64 - p as f64) * f).round() as u8;
    RGBColor(mix(a.0, b.0), mix(a.1, b.1), mix(a.2, b.2))
}

/// The implicit-channel map: layer × block, K and V side by side, each with its own colour
/// scale (V distances run several times K's).
struct Heatmap<'a>(&'a ChannelMap);

impl Picture for Heatmap<'_> {
    const WHAT: &'static str = "the channel map";

    fn draw<DB: DrawingBackend>(
        &self,
        root: &DrawingArea<DB, Shift>,
        text: bool,
        _bitmap: bool,
    ) -> Result<(), DrawingAreaErrorKind<DB::ErrorType>> {
        let title =
            "Implicit channel: mean cosine distance of memento KV, memento arm vs restart arm";
        let (s, plot_root) = canvas(root, title, text)?;
        let half = plot_root.dim_in_pixel().0 / 2;
        let (left, right) = plot_root.split_horizontally(half);
        let k: Vec<(u32, u32, f64)> = self.0.cells().map(|(b, l, k, _)| (b, l, k)).collect();
        let v: Vec<(u32, u32, f64)> = self.0.cells().map(|(b, l, _, v)| (b, l, v)).collect();
        panel(root, &left, self.0, "K", &k, text, &s)?;
        panel(root, &right, self.0, "V", &v, text, &s)
    }
}

/// One half of the channel map: the cells of `values` (block, layer, distance) on `area`
/// and its colour bar, min at the bottom and max at the top.
fn panel<DB: DrawingBackend>(
    root: &DrawingArea<DB, Shift>,
    area: &DrawingArea<DB, Shift>,
    map: &ChannelMap,
    name: &str,
    values: &[(u32, u32, f64)],
    text: bool,
    s: &Scale,
) -> Result<(), DrawingAreaErrorKind<DB::ErrorType>> {
    let lo = values.iter().map(|c| c.2).fold(f64::INFINITY, f64::min);
    let hi = values.iter().map(|c| c.2).fold(f64::NEG_INFINITY, f64::max);
    let (lo_text, hi_text) = (short(lo), short(hi));
    let (bar_gap, bar_w) = (s.px(14.0), s.px(16.0));
    let bar_labels_w = if text {
        text_width(&lo_text, s.0 * LABEL_SIZE).max(text_width(&hi_text, s.0 * LABEL_SIZE))
            + s.px(8.0)
    } else {
        0
    };
    let area = if text {
        &title_strip(area, &format!("{name} distance"), DESC_SIZE, s)?
    } else {
        area
    };
    let right = bar_gap + bar_w + bar_labels_w + s.px(12.0);
    let mut builder = plot_builder(area, s, text, &map.layers.to_string(), right);
    let x = ticked(0.5..f64::from(map.blocks) + 0.5, ticks(1, map.blocks, 10));
    let top = map.layers.max(1) - 1;
    let y = ticked(-0.5..f64::from(top) + 0.5, ticks(0, top, 12));
    let mut plot = builder.build_cartesian_2d(x, y)?;
    let whole = |v: &f64| format!("{v:.0}");
    let mut mesh = plot.configure_mesh();
    mesh_style(&mut mesh, s, text);
    mesh.disable_mesh();
    if text {
        mesh.x_desc("block (its memento; mean over items)")
            .y_desc("layer")
            .x_label_formatter(&whole)
            .y_label_formatter(&whole);
    }
    mesh.draw()?;
    if !text {
        bare_axes(root, plot.plotting_area().get_pixel_range())?;
    }
    let span = hi - lo;
    let t = |v: f64| if span > 0.0 { (v - lo) / span } else { 0.5 };
    plot.draw_series(values.iter().map(|&(b, l, v)| {
        // Block b (0-based) is drawn at b + 1.
        let (x, y) = (f64::from(b) + 1.0, f64::from(l));
        Rectangle::new(
            [(x - 0.5, y - 0.5), (x + 0.5, y + 0.5)],
            viridis(t(v)).filled(),
        )
    }))?;

    let (px, py) = plot.plotting_area().get_pixel_range();
    let (x0, x1) = (px.end + bar_gap, px.end + bar_gap + bar_w);
    let h = (py.end - py.start) as f64;
    let steps = COLOUR_STEPS;
    for i in 0..steps {
        let y_at = |j: u32| py.end - (h * f64::from(j) / f64::from(steps)).round() as i32;
        let c = viridis((f64::from(i) + 0.5) / f64::from(steps));
        root.draw(&Rectangle::new(
            [(x0, y_at(i + 1)), (x1, y_at(i))],
            c.filled(),
        ))?;
    }
    root.draw(&Rectangle::new(
        [(x0, py.start), (x1, py.end)],
        INK.stroke_width(1),
    ))?;
    if text {
        let at = |v: VPos| s.font(LABEL_SIZE).pos(Pos::new(HPos::Left, v));
        root.draw(&Text::new(
            hi_text,
            (x1 + s.px(6.0), py.start),
            at(VPos::Top),
        ))?;
        root.draw(&Text::new(
            lo_text,
            (x1 + s.px(6.0), py.end),
            at(VPos::Bottom),
        ))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::collections::HashSet;

    use super::*;
    use crate::ablate::channel::ChannelRow;
    use crate::ablate::metrics::{PositionRow, SpanKind};
    use crate::ablate::results::{
        ANSWERS, AnswerRow, CHANNEL, CONFIG, ITEMS, ItemResult, POSITIONS, ResultDir,
    };

    const ARMS: [&str; 4] = ["full", "memento", "restart", "keep1"];
    const BLOCKS: u32 = 3;
    const LAYERS: u32 = 4;

    fn write_csv<R: serde::Serialize>(path: &Path, rows: &[R]) {
        let mut w = csv::Writer::from_path(path).unwrap();
        for r in rows {
            w.serialize(r).unwrap();
        }
        w.flush().unwrap();
    }

    /// A result directory of two items with known rows: every arm has positions in blocks
    /// 0..3 (and some outside any block), every block a memento in every layer.
    /// `references`: whether the answers have reference answers.
    fn fixture(dir: &Path, references: bool) {
        let config =
            serde_json::json!({"arms": ARMS, "model": "test", "problems": "test", "seeds": [1, 2]});
        std::fs::write(dir.join(CONFIG), config.to_string()).unwrap();
        // Both items finished, so a `ResultDir` opened on the directory keeps their rows.
        let items: String = ["a", "b"]
            .iter()
            .map(|item| {
                let done = ItemResult {
                    item: item.to_string(),
                    prompt: "?".into(),
                    reference: None,
                    tokens: 10,
                    blocks: u64::from(BLOCKS),
                    mementos: u64::from(BLOCKS),
                    arms: Vec::new(),
                };
                serde_json::to_string(&done).unwrap() + "\n"
            })
            .collect();
        std::fs::write(dir.join(ITEMS), items).unwrap();
        let mut positions = Vec::new();
        for item in ["a", "b"] {
            for (i, arm) in ARMS.iter().enumerate() {
                for block in [None, Some(0), Some(1), Some(2)] {
                    for k in 0..2u32 {
                        let kl = match block {
                            _ if i == 0 => 0.0,
                            Some(b) => 0.01 * f64::from(i as u32 * (b + 1) + k),
                            None => 5.0,
                        };
                        positions.push(PositionRow {
                            item: item.into(),
                            arm: arm.to_string(),
                            index: k,
                            span: if block.is_some() {
                                SpanKind::Block
                            } else {
                                SpanKind::Other
                            },
                            block,
                            kl,
                            top1_agrees: true,
                            ..PositionRow::default()
                        });
                    }
                }
            }
        }
        write_csv(&dir.join(POSITIONS), &positions);
        let mut channel = Vec::new();
        for (n, item) in ["a", "b"].iter().enumerate() {
            for block in 0..BLOCKS {
                for layer in 0..LAYERS {
                    channel.push(ChannelRow {
                        item: item.to_string(),
                        block,
                        layer,
                        positions: 4,
                        k_distance: 0.001 * f64::from(layer + block) + 0.0001 * n as f64,
                        v_distance: 0.01 * f64::from(layer * block),
                    });
                }
            }
        }
        write_csv(&dir.join(CHANNEL), &channel);
        let mut answers = Vec::new();
        for (i, arm) in ARMS.iter().enumerate() {
            for seed in 0..4u64 {
                answers.push(AnswerRow {
                    item: "a".into(),
                    arm: arm.to_string(),
                    seed,
                    answer: Some("7".into()),
                    reference: references.then(|| "7".into()),
                    // Arm i gets i of 4 right.
                    correct: references.then_some(seed < i as u64),
                    tokens: 10,
                    peak_kv: 20,
                });
            }
        }
        write_csv(&dir.join(ANSWERS), &answers);
    }

    fn svg_of(dir: &Path, plot: Plot) -> String {
        let text = std::fs::read_to_string(dir.join(plot.svg())).unwrap();
        roxmltree::Document::parse(&text).expect("the SVG is XML");
        text
    }

    /// The SVG of `plot` for the fixture's directory, with every answer judged.
    fn drawn(plot: Plot) -> String {
        let dir = tempfile::tempdir().unwrap();
        fixture(dir.path(), true);
        write(dir.path(), SIZE).unwrap();
        svg_of(dir.path(), plot)
    }

    fn elements<'a>(doc: &'a roxmltree::Document, tag: &str) -> Vec<roxmltree::Node<'a, 'a>> {
        doc.descendants().filter(|n| n.has_tag_name(tag)).collect()
    }

    fn texts(doc: &roxmltree::Document) -> Vec<String> {
        elements(doc, "text")
            .iter()
            .map(|n| n.text().unwrap_or("").trim().to_string())
            .collect()
    }

    /// Assert that each of `labels` is the whole text of some `<text>` element.
    fn has_texts(doc: &roxmltree::Document, labels: &[&str]) {
        let texts = texts(doc);
        for label in labels {
            assert!(
                texts.iter().any(|t| t == label),
                "no {label:?} in {texts:?}"
            );
        }
    }

    fn colour(c: RGBColor) -> String {
        format!("#{:02X}{:02X}{:02X}", c.0, c.1, c.2)
    }

    /// Decode a PNG: its size and RGB pixels.
    fn decode_png(path: &Path) -> ((u32, u32), Vec<u8>) {
        let file = std::fs::File::open(path).unwrap();
        let mut reader = png::Decoder::new(std::io::BufReader::new(file))
            .read_info()
            .unwrap();
        let mut buf = vec![0; reader.output_buffer_size().unwrap()];
        let frame = reader.next_frame(&mut buf).unwrap();
        assert_eq!(frame.color_type, png::ColorType::Rgb);
        buf.truncate(frame.buffer_size());
        ((frame.width, frame.height), buf)
    }

    #[test]
    fn every_chart_is_written_as_svg_and_png() {
        let dir = tempfile::tempdir().unwrap();
        fixture(dir.path(), true);
        let written = write(dir.path(), (900, 450)).unwrap();
        assert_eq!(written, Plot::ALL);
        for plot in Plot::ALL {
            svg_of(dir.path(), plot);
            let (size, pixels) = decode_png(&dir.path().join(plot.png()));
            assert_eq!(size, (900, 450), "{plot:?}");
            let colours: HashSet<&[u8]> = pixels.chunks(3).collect();
            assert!(colours.len() > 8, "{plot:?}: {} colours", colours.len());
        }
    }

    #[test]
    fn the_kl_chart_has_a_line_with_markers_per_compared_arm() {
        let text = drawn(Plot::KlPerBlock);
        let doc = roxmltree::Document::parse(&text).unwrap();
        // One polyline through the three blocks per arm but the reference.
        let lines: Vec<_> = elements(&doc, "polyline")
            .into_iter()
            .filter(|n| n.attribute("points").unwrap().split_whitespace().count() == 3)
            .collect();
        let strokes: HashSet<&str> = lines.iter().filter_map(|n| n.attribute("stroke")).collect();
        let expected: HashSet<String> = (1..ARMS.len())
            .map(|i| colour(arm_colour(ARMS[i], i)))
            .collect();
        assert_eq!(lines.len(), 3);
        assert_eq!(
            strokes,
            expected.iter().map(String::as_str).collect::<HashSet<_>>()
        );
        // A marker per block and arm, and one per arm in the legend.
        assert_eq!(elements(&doc, "circle").len(), 3 * BLOCKS as usize + 3);
        has_texts(
            &doc,
            &[
                "memento",
                "restart",
                "keep1",
                "mean KL, nats",
                "1",
                "2",
                "3",
            ],
        );
        assert!(
            !texts(&doc).iter().any(|t| t == "full"),
            "the reference is left out"
        );
        // Markers stand higher for higher means: restart's block 3 (0.06, 0.07) is above
        // memento's block 1 (0.01, 0.02).
        let cy_of = |arm: usize, block: usize| {
            let fill = colour(arm_colour(ARMS[arm], arm));
            let mut ys: Vec<(f64, f64)> = elements(&doc, "circle")
                .iter()
                .filter(|n| n.attribute("fill") == Some(fill.as_str()))
                .map(|n| {
                    let num = |a| n.attribute(a).unwrap().parse::<f64>().unwrap();
                    (num("cx"), num("cy"))
                })
                .collect();
            ys.sort_by(|a, b| a.0.total_cmp(&b.0));
            // Left to right: blocks 1, 2, 3, then the legend's marker right of the plot.
            ys[block].1
        };
        assert!(cy_of(2, 2) < cy_of(1, 0));
    }

    #[test]
    fn the_kl_series_are_the_tables_means() {
        let dir = tempfile::tempdir().unwrap();
        fixture(dir.path(), true);
        let figures = Figures::read(dir.path()).unwrap();
        let chart = KlChart::new(&figures).unwrap();
        let labels: Vec<&str> = chart.series.iter().map(|s| s.label.as_str()).collect();
        assert_eq!(labels, ["memento", "restart", "keep1"]);
        // restart (arm 2) in block 2 (0-based 1): KL 0.01 * (2 * 2 + k), k = 0, 1, in two
        // items: mean 0.045.
        let (x, y) = chart.series[1].points[1];
        assert_eq!(x, 2.0);
        assert!((y - 0.045).abs() < 1e-12, "{y}");
        assert_eq!(chart.blocks, BLOCKS);
    }

    #[test]
    fn the_accuracy_chart_has_a_bar_and_interval_per_arm() {
        let text = drawn(Plot::AccuracyPerArm);
        let doc = roxmltree::Document::parse(&text).unwrap();
        let bar_fills: HashSet<String> = (0..ARMS.len())
            .map(|i| colour(arm_colour(ARMS[i], i)))
            .collect();
        let bars = elements(&doc, "rect")
            .iter()
            .filter(|n| bar_fills.contains(n.attribute("fill").unwrap_or("")))
            .count();
        assert_eq!(bars, ARMS.len());
        // A whisker and two caps per bar.
        let whiskers = elements(&doc, "polyline")
            .iter()
            .filter(|n| n.attribute("stroke") == Some(colour(INK).as_str()))
            .count();
        assert!(whiskers >= 3 * ARMS.len(), "{whiskers}");
        has_texts(
            &doc,
            &[
                "full · 0/4",
                "memento · 1/4",
                "restart · 2/4",
                "keep1 · 3/4",
                "75.0%",
                "100%",
            ],
        );
    }

    #[test]
    fn the_channel_map_has_a_cell_per_block_and_layer_in_each_panel() {
        let text = drawn(Plot::ChannelHeatmap);
        let doc = roxmltree::Document::parse(&text).unwrap();
        // The background, the cells of both panels, and each colour bar's steps and frame.
        let rects = elements(&doc, "rect").len();
        let cells = (LAYERS * BLOCKS * 2) as usize;
        assert_eq!(rects, 1 + cells + 2 * (COLOUR_STEPS as usize + 1));
        // Each scale runs from its own minimum to its own maximum: K from 0.00005 (block 1,
        // layer 0, mean over the items) to 0.00505; V from 0 to 0.06.
        has_texts(
            &doc,
            &[
                "K distance",
                "V distance",
                "5.00e-5",
                "0.00505",
                "0",
                "0.0600",
            ],
        );
    }

    #[test]
    fn charts_without_data_are_not_written() {
        let dir = tempfile::tempdir().unwrap();
        fixture(dir.path(), false);
        std::fs::remove_file(dir.path().join(CHANNEL)).unwrap();
        assert_eq!(write(dir.path(), SIZE).unwrap(), [Plot::KlPerBlock]);
        for plot in [Plot::AccuracyPerArm, Plot::ChannelHeatmap] {
            assert!(!dir.path().join(plot.svg()).exists());
            assert!(!dir.path().join(plot.png()).exists());
        }
        // With no rows at all, nothing.
        let empty = tempfile::tempdir().unwrap();
        std::fs::copy(dir.path().join(CONFIG), empty.path().join(CONFIG)).unwrap();
        assert_eq!(write(empty.path(), SIZE).unwrap(), []);
    }

    #[test]
    fn the_report_links_the_charts_there_are() {
        let dir = tempfile::tempdir().unwrap();
        fixture(dir.path(), false);
        let results = crate::ablate::results::Results::load(dir.path()).unwrap();
        let md = crate::ablate::report::render(&results);
        assert!(md.contains("\n![Mean KL per block index](kl_per_block.svg)\n"));
        assert!(md.contains("\n![Implicit channel by layer and block](channel_heatmap.svg)\n"));
        // No reference answers: no accuracy chart to link.
        assert!(!md.contains("accuracy_per_arm"));
        // Each link follows its own section's table.
        let section = |heading: &str| md.split(heading).nth(1).unwrap().split("\n## ").next();
        assert!(
            section("## Mean KL by block index")
                .unwrap()
                .contains("kl_per_block.svg")
        );
    }

    #[test]
    fn errors_name_the_file() {
        let dir = tempfile::tempdir().unwrap();
        fixture(dir.path(), true);
        // A directory where the PNG should go.
        std::fs::create_dir(dir.path().join(Plot::AccuracyPerArm.png())).unwrap();
        let err = format!("{:#}", write(dir.path(), SIZE).unwrap_err());
        assert!(err.contains("accuracy_per_arm.png"), "{err}");
        let err = format!("{:#}", write(dir.path(), (10, 10)).unwrap_err());
        assert!(err.contains("10x10"), "{err}");
    }

    #[test]
    fn ticks_stay_few_and_round() {
        assert_eq!(ticks(1, 1, 12), [1.0]);
        assert_eq!(ticks(1, 4, 12), [1.0, 2.0, 3.0, 4.0]);
        assert_eq!(ticks(0, 29, 12), [0.0, 5.0, 10.0, 15.0, 20.0, 25.0]);
        assert_eq!(ticks(1, 30, 12).len(), 6);
        assert_eq!(short(0.075_72), "0.0757");
        assert_eq!(short(0.000_28), "2.80e-4");
        assert_eq!(short(1.5), "1.50");
        assert_eq!(decimals(0.04), 2);
        assert_eq!(viridis(0.0), RGBColor(68, 1, 84));
        assert_eq!(viridis(1.0), RGBColor(253, 231, 37));
    }

    /// Without a font every chart is still written: SVG text needs none, and PNGs go without
    /// text. In a child process, since the font is looked up once per process.
    #[test]
    fn charts_are_drawn_without_a_font() {
        let out = std::process::Command::new(std::env::current_exe().unwrap())
            .args([
                "--exact",
                "ablate::plots::tests::without_a_font",
                "--include-ignored",
            ])
            .env("MEMENTO_FONT", "none")
            .output()
            .unwrap();
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(out.status.success(), "{stdout}");
        assert!(stdout.contains("1 passed"), "{stdout}");
    }

    #[test]
    #[ignore = "run by charts_are_drawn_without_a_font, with MEMENTO_FONT=none"]
    fn without_a_font() {
        if std::env::var("MEMENTO_FONT").as_deref() != Ok("none") {
            return;
        }
        assert_eq!(crate::export::png_font(), None);
        let dir = tempfile::tempdir().unwrap();
        fixture(dir.path(), true);
        assert_eq!(write(dir.path(), (600, 300)).unwrap(), Plot::ALL);
        for plot in Plot::ALL {
            let text = svg_of(dir.path(), plot);
            let doc = roxmltree::Document::parse(&text).unwrap();
            assert!(texts(&doc).len() > 5, "{plot:?}");
            let (size, pixels) = decode_png(&dir.path().join(plot.png()));
            assert_eq!(size, (600, 300));
            let colours: HashSet<&[u8]> = pixels.chunks(3).collect();
            assert!(colours.len() > 4, "{plot:?}");
        }
    }

    /// Writes the report and the charts of a real result directory named by
    /// `MEMENTO_PLOTS_DIR` into it, for looking at.
    #[test]
    #[ignore = "needs a result directory in MEMENTO_PLOTS_DIR"]
    fn plots_of_a_real_run() {
        let dir = std::path::PathBuf::from(std::env::var("MEMENTO_PLOTS_DIR").unwrap());
        let config = crate::ablate::results::read_config(&dir);
        let results = ResultDir::open(&dir, &config).unwrap();
        crate::ablate::report::write(&results).unwrap();
        let written = write(&dir, SIZE).unwrap();
        eprintln!("{written:?}");
    }
}
