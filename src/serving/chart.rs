//! The serving chart: for each KV budget, the pages in use and the requests running over the
//! run's time, full context against memento mode (the palette's blue and green), the budget
//! drawn as a grey line. Memory binds where the full-context line sits on the budget while
//! memento mode runs more requests at once.

use std::path::Path;

use plotters::prelude::*;

use crate::engine::batch::BatchSnapshot;
use crate::palette::Rgb;

/// One mode's run under one budget.
pub struct Series<'a> {
    pub label: &'a str,
    pub colour: Rgb,
    pub snapshots: &'a [BatchSnapshot],
}

/// One budget's row of the chart.
pub struct BudgetRow<'a> {
    pub pages: usize,
    pub series: Vec<Series<'a>>,
}

/// A panel: what it shows, the budget line to draw (0: none), and the value of a snapshot.
type Panel = (&'static str, usize, fn(&BatchSnapshot) -> f64);

fn rgb(c: Rgb) -> RGBColor {
    RGBColor(c.0, c.1, c.2)
}

/// Draw the rows as an SVG at `path`. Captions, axis labels and the legend need a system font
/// for their layout ([`crate::export::png_font`]); without one the chart is drawn without text.
pub fn write_svg(path: &Path, rows: &[BudgetRow<'_>]) -> anyhow::Result<()> {
    let text = crate::export::png_font().is_some();
    let height = 300 * rows.len().max(1) as u32;
    let root = SVGBackend::new(path, (1100, height)).into_drawing_area();
    root.fill(&WHITE)?;
    let cells = root.split_evenly((rows.len().max(1), 2));
    for (r, row) in rows.iter().enumerate() {
        let end = row
            .series
            .iter()
            .flat_map(|s| s.snapshots.last().map(|x| x.t))
            .fold(1e-3, f64::max);
        let panels: [Panel; 2] = [
            ("KV pages in use", row.pages, |s| s.used_pages as f64),
            ("requests running", 0, |s| s.running as f64),
        ];
        for (c, (what, budget, value)) in panels.iter().enumerate() {
            let top = row
                .series
                .iter()
                .flat_map(|s| s.snapshots.iter().map(value))
                .fold(*budget as f64, f64::max)
                .max(1.0)
                * 1.08;
            let mut builder = ChartBuilder::on(&cells[r * 2 + c]);
            builder.margin(10);
            if text {
                builder
                    .caption(
                        format!("{what} · budget {} pages", row.pages),
                        ("sans-serif", 16),
                    )
                    .x_label_area_size(32)
                    .y_label_area_size(48);
            }
            let mut chart = builder.build_cartesian_2d(0.0..end, 0.0..top)?;
            let mut mesh = chart.configure_mesh();
            mesh.light_line_style(WHITE);
            if text {
                mesh.x_desc("seconds");
            } else {
                mesh.disable_x_axis().disable_y_axis();
            }
            mesh.draw()?;
            if *budget > 0 {
                chart.draw_series(std::iter::once(PathElement::new(
                    vec![(0.0, *budget as f64), (end, *budget as f64)],
                    ShapeStyle::from(&RGBColor(150, 150, 150)).stroke_width(1),
                )))?;
            }
            for s in &row.series {
                let colour = rgb(s.colour);
                chart
                    .draw_series(std::iter::once(PathElement::new(
                        s.snapshots
                            .iter()
                            .map(|x| (x.t, value(x)))
                            .collect::<Vec<_>>(),
                        ShapeStyle::from(&colour).stroke_width(2),
                    )))?
                    .label(s.label)
                    .legend(move |(x, y)| {
                        PathElement::new([(x, y), (x + 16, y)], colour.stroke_width(2))
                    });
            }
            if text {
                chart
                    .configure_series_labels()
                    .background_style(WHITE.mix(0.8))
                    .border_style(BLACK)
                    .draw()?;
            }
        }
    }
    root.present()?;
    Ok(())
}
