//! The loss curves of a training, drawn from its log alone: the training loss of every update
//! (and its running mean), the held-out loss at each evaluation, and a rule where each stage
//! begins; written as `loss.svg` and `loss.png` beside the log.

use std::path::Path;

use plotters::coord::Shift;
use plotters::prelude::*;

use super::TrainError;
use super::checkpoint::read_log;
use super::run::LogLine;
use crate::export::draw::{
    self, Entry, Mark, Picture, bare_axes, canvas, legend, legend_size, mesh_style, plot_builder,
    thick_path,
};

pub const SVG: &str = "loss.svg";
pub const PNG: &str = "loss.png";
const SIZE: (u32, u32) = crate::export::DEFAULT_SIZE;

const RAW: RGBColor = RGBColor(174, 199, 232);
const MEAN: RGBColor = RGBColor(31, 119, 180);
const HELDOUT: RGBColor = RGBColor(255, 127, 14);
const RULE: RGBColor = RGBColor(150, 150, 150);

pub struct LossChart {
    /// (step, loss) of every update.
    train: Vec<(f64, f64)>,
    /// A running mean over the last few updates.
    mean: Vec<(f64, f64)>,
    heldout: Vec<(f64, f64)>,
    /// (first step of the stage, its mode) for every stage after the first.
    stages: Vec<(f64, String)>,
    steps: f64,
    y_max: f64,
}

impl LossChart {
    pub fn from_log(lines: &[LogLine]) -> Option<LossChart> {
        let mut train = Vec::new();
        let mut heldout = Vec::new();
        let mut stages: Vec<(f64, String)> = Vec::new();
        let mut stage = 0;
        for l in lines {
            match l {
                LogLine::Step {
                    step,
                    stage: s,
                    mode,
                    loss,
                    ..
                } => {
                    if *s != stage {
                        if stage != 0 {
                            stages.push((*step as f64 - 0.5, mode.clone()));
                        }
                        stage = *s;
                    }
                    train.push((*step as f64, *loss));
                }
                LogLine::Eval {
                    step, heldout_loss, ..
                } => heldout.push((*step as f64, *heldout_loss)),
            }
        }
        if train.is_empty() {
            return None;
        }
        let window = (train.len() / 50).clamp(1, 50);
        let mean = train
            .iter()
            .enumerate()
            .map(|(i, &(x, _))| {
                let from = (i + 1).saturating_sub(window);
                let part = &train[from..=i];
                (x, part.iter().map(|p| p.1).sum::<f64>() / part.len() as f64)
            })
            .collect();
        let steps = train.last().map_or(1.0, |p| p.0).max(1.0);
        let y_max = train
            .iter()
            .chain(&heldout)
            .map(|p| p.1)
            .fold(0.0, f64::max)
            .max(1e-3)
            * 1.05;
        Some(LossChart {
            train,
            mean,
            heldout,
            stages,
            steps,
            y_max,
        })
    }
}

impl Picture for LossChart {
    const WHAT: &'static str = "the loss curves";

    fn draw<DB: DrawingBackend>(
        &self,
        root: &DrawingArea<DB, Shift>,
        text: bool,
        bitmap: bool,
    ) -> Result<(), DrawingAreaErrorKind<DB::ErrorType>> {
        let (s, plot_root) = canvas(root, "Training loss (nats per assistant token)", text)?;
        let mut entries = vec![
            Entry {
                label: "train, each update",
                colour: RAW,
                mark: Mark::Line,
            },
            Entry {
                label: "train, running mean",
                colour: MEAN,
                mark: Mark::Line,
            },
        ];
        if !self.heldout.is_empty() {
            entries.push(Entry {
                label: "held-out",
                colour: HELDOUT,
                mark: Mark::LineDot,
            });
        }
        let legend_w = if text {
            legend_size(&entries, &s).0 + s.px(16.0)
        } else {
            0
        };
        let y_fmt = |v: &f64| format!("{v:.2}");
        let mut plot = plot_builder(
            &plot_root,
            &s,
            text,
            &y_fmt(&self.y_max),
            s.px(24.0) + legend_w,
        )
        .build_cartesian_2d(0.0..self.steps, 0.0..self.y_max)?;
        let x_fmt = |v: &f64| format!("{v:.0}");
        let mut mesh = plot.configure_mesh();
        mesh_style(&mut mesh, &s, text);
        mesh.y_labels(6).x_labels(8);
        if text {
            mesh.x_desc("update")
                .y_desc("loss")
                .x_label_formatter(&x_fmt)
                .y_label_formatter(&y_fmt);
        }
        mesh.draw()?;
        if !text {
            bare_axes(root, plot.plotting_area().get_pixel_range())?;
        }
        let area = plot.plotting_area();
        for (x, mode) in &self.stages {
            let top = area.map_coordinate(&(*x, self.y_max));
            let bottom = area.map_coordinate(&(*x, 0.0));
            root.draw(&PathElement::new(vec![top, bottom], RULE.stroke_width(1)))?;
            if text {
                let style = s.font(14.0);
                root.draw(&Text::new(
                    format!("stage: {mode}"),
                    (top.0 + s.px(6.0), top.1 + s.px(4.0)),
                    style,
                ))?;
            }
        }
        let pixels = |pts: &[(f64, f64)]| pts.iter().map(|p| area.map_coordinate(p)).collect();
        thick_path(root, pixels(&self.train), RAW, 1, bitmap)?;
        thick_path(root, pixels(&self.mean), MEAN, s.px(2.5) as u32, bitmap)?;
        if self.heldout.len() > 1 {
            thick_path(
                root,
                pixels(&self.heldout),
                HELDOUT,
                s.px(2.0) as u32,
                bitmap,
            )?;
        }
        for &p in &self.heldout {
            area.draw(&Circle::new(p, s.px(3.5), HELDOUT.filled()))?;
        }
        if text {
            let (x, y) = area.get_pixel_range();
            legend(root, &entries, (x.end + s.px(16.0), y.start), &s)?;
        }
        Ok(())
    }
}

/// Draw the curves of the training in `out` (nothing when it has no update yet).
pub fn write(out: &Path) -> Result<(), TrainError> {
    let lines = read_log(out)?;
    let Some(chart) = LossChart::from_log(&lines) else {
        return Ok(());
    };
    let fail = |e: anyhow::Error| TrainError::File {
        path: out.to_path_buf(),
        message: format!("drawing the loss curves: {e:#}"),
    };
    let svg = draw::svg(&chart, SIZE.0, SIZE.1).map_err(fail)?;
    crate::export::write(&out.join(SVG), &svg).map_err(fail)?;
    draw::png(&chart, &out.join(PNG), SIZE.0, SIZE.1).map_err(fail)
}
