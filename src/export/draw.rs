//! Drawing shared by the charts (the KV chart, the ablation plots): one picture drawn to SVG
//! text or to a PNG file, sizes, text that scales with the picture, a title strip, a boxed
//! legend, and thick lines that stay clean in bitmaps.

use std::io::BufWriter;
use std::ops::Range;
use std::path::Path;

use anyhow::{Context, anyhow, bail};
use plotters::chart::MeshStyle;
use plotters::coord::Shift;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

use super::font::{FAMILY, png_font};

/// Chart sizes accepted, in pixels per side.
pub const MIN_SIZE: (u32, u32) = (200, 150);
pub const MAX_SIZE: u32 = 8192;

pub(crate) const INK: RGBColor = RGBColor(40, 40, 40);
pub(crate) const GRID_LIGHT: RGBColor = RGBColor(238, 238, 238);
pub(crate) const GRID_BOLD: RGBColor = RGBColor(215, 215, 215);

/// Font sizes at scale 1.
pub(crate) const TITLE_SIZE: f64 = 22.0;
pub(crate) const LABEL_SIZE: f64 = 15.0;
pub(crate) const DESC_SIZE: f64 = 16.0;
const LEGEND_SIZE: f64 = 14.0;

/// What drawing on backend `DB` gives.
pub(crate) type Drawn<DB, T = ()> =
    Result<T, DrawingAreaErrorKind<<DB as DrawingBackend>::ErrorType>>;

/// A chart that draws itself on any plotters backend, so that one drawing serves SVG and PNG.
pub(crate) trait Picture {
    /// What it is, for errors: "the KV chart".
    const WHAT: &'static str;

    /// Draw on `root`, with its text or none (PNG without a font). `bitmap` is set for PNG,
    /// where thick lines are drawn with [`thick_path`]'s brush.
    fn draw<DB: DrawingBackend>(
        &self,
        root: &DrawingArea<DB, Shift>,
        text: bool,
        bitmap: bool,
    ) -> Result<(), DrawingAreaErrorKind<DB::ErrorType>>;
}

/// The picture as SVG text; its text is left to the viewer's sans-serif font, so no font file
/// is needed.
pub(crate) fn svg<P: Picture>(picture: &P, width: u32, height: u32) -> anyhow::Result<String> {
    check_size(width, height)?;
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (width, height)).into_drawing_area();
        draw_on(picture, &root, true, false)?;
    }
    Ok(svg)
}

/// The picture as a PNG file at `path`. Its text needs a font found at runtime (see
/// [`png_font`]); without one it is drawn with no text at all rather than failing.
pub(crate) fn png<P: Picture>(
    picture: &P,
    path: &Path,
    width: u32,
    height: u32,
) -> anyhow::Result<()> {
    check_size(width, height)?;
    let text = png_font().is_some();
    let mut pixels = vec![0u8; width as usize * height as usize * 3];
    {
        let root = BitMapBackend::with_buffer(&mut pixels, (width, height)).into_drawing_area();
        draw_on(picture, &root, text, true)?;
    }
    write_png(path, width, height, &pixels)
}

fn draw_on<P: Picture, DB: DrawingBackend>(
    picture: &P,
    root: &DrawingArea<DB, Shift>,
    text: bool,
    bitmap: bool,
) -> anyhow::Result<()> {
    let fail = |e: DrawingAreaErrorKind<DB::ErrorType>| anyhow!("drawing {}: {e}", P::WHAT);
    picture.draw(root, text, bitmap).map_err(fail)?;
    root.present().map_err(fail)
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

pub(crate) fn write_png(path: &Path, width: u32, height: u32, rgb: &[u8]) -> anyhow::Result<()> {
    let fail = || format!("{}: cannot write the PNG", path.display());
    let file = std::fs::File::create(path).with_context(fail)?;
    let mut encoder = png::Encoder::new(BufWriter::new(file), width, height);
    encoder.set_color(png::ColorType::Rgb);
    encoder.set_depth(png::BitDepth::Eight);
    let mut writer = encoder.write_header().with_context(fail)?;
    writer.write_image_data(rgb).with_context(fail)?;
    writer.finish().with_context(fail)
}

/// Sizes in plotters' font units and pixels, scaled with the picture.
pub(crate) struct Scale(pub f64);

impl Scale {
    pub fn of(width: u32, height: u32) -> Scale {
        Scale(
            (width as f64 / 1000.0)
                .min(height as f64 / 500.0)
                .clamp(0.5, 4.0),
        )
    }

    pub fn px(&self, base: f64) -> i32 {
        (base * self.0).round().max(1.0) as i32
    }

    pub fn font(&self, base: f64) -> TextStyle<'static> {
        (FAMILY, base * self.0).into_font().color(&INK)
    }
}

/// Rough width of `text` at `size`, for laying out without a font (SVG text is sized by
/// the viewer).
pub(crate) fn text_width(text: &str, size: f64) -> i32 {
    (text.chars().count() as f64 * size * 0.5).ceil() as i32
}

/// Clear `root` for a picture and, with text, draw `title` across its top; returns the
/// picture's scale and the area left for the plot.
pub(crate) fn canvas<DB: DrawingBackend>(
    root: &DrawingArea<DB, Shift>,
    title: &str,
    text: bool,
) -> Drawn<DB, (Scale, DrawingArea<DB, Shift>)> {
    let (width, height) = root.dim_in_pixel();
    let s = Scale::of(width, height);
    root.fill(&WHITE)?;
    let area = if text {
        title_strip(root, title, TITLE_SIZE, &s)?
    } else {
        root.clone()
    };
    Ok((s, area))
}

/// A chart builder on `area` with the charts' margins, `right` pixels on the right, and with
/// text, room for a row of x tick labels, y tick labels as wide as `widest_y` and both axis
/// names.
pub(crate) fn plot_builder<'a, 'b, DB: DrawingBackend>(
    area: &'a DrawingArea<DB, Shift>,
    s: &Scale,
    text: bool,
    widest_y: &str,
    right: i32,
) -> ChartBuilder<'a, 'b, DB> {
    let mut builder = ChartBuilder::on(area);
    builder
        .margin_top(s.px(8.0))
        .margin_right(right)
        .margin_left(s.px(8.0))
        .margin_bottom(s.px(8.0));
    if text {
        let y_labels_w = text_width(widest_y, s.0 * LABEL_SIZE);
        builder
            .x_label_area_size(s.px(LABEL_SIZE * 1.4 + DESC_SIZE * 1.6 + 8.0))
            .y_label_area_size(y_labels_w + s.px(DESC_SIZE * 1.6 + 14.0));
    }
    builder
}

/// Draw `title` centred in a strip across the top of `root`, at font size `size` (at scale
/// 1); returns the area below it. Drawn as a plain text element: plotters' captions measure
/// their text, which needs a registered font even in SVG.
pub(crate) fn title_strip<DB: DrawingBackend>(
    root: &DrawingArea<DB, Shift>,
    title: &str,
    size: f64,
    s: &Scale,
) -> Result<DrawingArea<DB, Shift>, DrawingAreaErrorKind<DB::ErrorType>> {
    let width = root.dim_in_pixel().0;
    let title_h = s.px(size * 1.8);
    let (top, rest) = root.split_vertically(title_h);
    // A long title shrinks to fit the width; title glyphs run about a tenth wider than the
    // estimate.
    let natural = 1.1 * text_width(title, s.0 * size).max(1) as f64;
    let shrink = (0.92 * width as f64 / natural).min(1.0);
    let style = s
        .font(size * shrink)
        .pos(Pos::new(HPos::Center, VPos::Center));
    top.draw(&Text::new(
        title.to_string(),
        (width as i32 / 2, title_h / 2 + s.px(2.0)),
        style,
    ))?;
    Ok(rest)
}

/// The charts' grid, axes and label fonts.
pub(crate) fn mesh_style<X: Ranged, Y: Ranged, DB: DrawingBackend>(
    mesh: &mut MeshStyle<'_, '_, X, Y, DB>,
    s: &Scale,
    text: bool,
) {
    mesh.light_line_style(GRID_LIGHT)
        .bold_line_style(GRID_BOLD)
        .axis_style(INK);
    if text {
        mesh.label_style(s.font(LABEL_SIZE))
            .axis_desc_style(s.font(DESC_SIZE));
    }
}

/// Left and bottom axes around a plot whose pixel range is `(x, y)`: without text a chart
/// has no label areas, so the mesh draws no axes.
pub(crate) fn bare_axes<DB: DrawingBackend>(
    root: &DrawingArea<DB, Shift>,
    (x, y): (Range<i32>, Range<i32>),
) -> Result<(), DrawingAreaErrorKind<DB::ErrorType>> {
    let corners = vec![(x.start, y.start), (x.start, y.end), (x.end, y.end)];
    root.draw(&PathElement::new(corners, INK.stroke_width(1)))
}

/// Pixel offsets that together cover a disc `width` pixels across.
pub(crate) fn brush(width: u32) -> Vec<(i32, i32)> {
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

/// A polyline through `pixels` (in `root`'s pixels), `width` wide. In a bitmap it is drawn as
/// several one-pixel lines side by side: plotters' thick bitmap lines put spikes at sharp
/// turns. In SVG it stays one `<polyline>`.
pub(crate) fn thick_path<DB: DrawingBackend>(
    root: &DrawingArea<DB, Shift>,
    pixels: Vec<(i32, i32)>,
    colour: RGBColor,
    width: u32,
    bitmap: bool,
) -> Result<(), DrawingAreaErrorKind<DB::ErrorType>> {
    if bitmap {
        for (dx, dy) in brush(width) {
            let shifted = pixels.iter().map(|&(x, y)| (x + dx, y + dy));
            root.draw(&PathElement::new(shifted.collect::<Vec<_>>(), colour))?;
        }
        Ok(())
    } else {
        root.draw(&PathElement::new(pixels, colour.stroke_width(width)))
    }
}

/// How a legend entry is marked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Mark {
    Line,
    Dot,
    /// A line with a dot on it: a series drawn with markers.
    LineDot,
}

pub(crate) struct Entry<'a> {
    pub label: &'a str,
    pub colour: RGBColor,
    pub mark: Mark,
}

/// Padding, row height and swatch width of a legend.
fn legend_metrics(s: &Scale) -> (i32, i32, i32) {
    (s.px(8.0), s.px(LEGEND_SIZE * 1.45), s.px(26.0))
}

/// The width and height of the legend [`legend`] draws.
pub(crate) fn legend_size(entries: &[Entry], s: &Scale) -> (i32, i32) {
    let (pad, row, swatch) = legend_metrics(s);
    // A fifth over the estimate: a label must not touch the box's edge.
    let widest = entries
        .iter()
        .map(|e| text_width(e.label, s.0 * LEGEND_SIZE) * 6 / 5)
        .max()
        .unwrap_or(0);
    (
        pad * 3 + swatch + widest,
        pad * 2 + row * entries.len() as i32,
    )
}

/// A boxed legend with its top-left corner at `(x0, y0)` in `area`'s pixels.
pub(crate) fn legend<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    entries: &[Entry],
    (x0, y0): (i32, i32),
    s: &Scale,
) -> Result<(), DrawingAreaErrorKind<DB::ErrorType>> {
    let (pad, row, swatch) = legend_metrics(s);
    let (w, h) = legend_size(entries, s);
    let (x1, y1) = (x0 + w, y0 + h);
    area.draw(&Rectangle::new(
        [(x0, y0), (x1, y1)],
        WHITE.mix(0.9).filled(),
    ))?;
    area.draw(&Rectangle::new(
        [(x0, y0), (x1, y1)],
        RGBColor(200, 200, 200).stroke_width(1),
    ))?;
    for (i, entry) in entries.iter().enumerate() {
        let cy = y0 + pad + row * i as i32 + row / 2;
        let sx = x0 + pad;
        if entry.mark != Mark::Dot {
            // A filled bar rather than a path, so the series stay the only polylines.
            let h = s.px(1.5);
            area.draw(&Rectangle::new(
                [(sx, cy - h), (sx + swatch, cy + h)],
                entry.colour.filled(),
            ))?;
        }
        if entry.mark != Mark::Line {
            area.draw(&Circle::new(
                (sx + swatch / 2, cy),
                s.px(3.5),
                entry.colour.filled(),
            ))?;
        }
        let style = s.font(LEGEND_SIZE).pos(Pos::new(HPos::Left, VPos::Center));
        area.draw(&Text::new(
            entry.label.to_string(),
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
