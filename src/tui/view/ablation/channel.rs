//! The Channel tab: for each layer (across) and block index (down), the mean cosine distance
//! between a memento's KV entries in the memento arm (computed with its block visible) and in
//! the restart arm (recomputed from its text alone), K and V each on its own colour scale,
//! with the values at the layer under the cursor.

use ratatui::Frame;
use ratatui::buffer::Buffer;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::{Modifier, Style};
use ratatui::symbols::Marker;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Axis, Block, Borders, Chart, Dataset, GraphType, Paragraph};

use super::{panel, scale};
use crate::ablate::summary::ChannelGrid;
use crate::ablate::tables::Distances;
use crate::tui::ablation::AblationApp;
use crate::tui::theme::Theme;

/// Columns of a row's label ("block 12") and of the value at the cursor.
const LABEL: u16 = 9;
const VALUE: u16 = 9;

pub fn draw(frame: &mut Frame, area: Rect, app: &AblationApp) {
    let theme = &app.chrome.theme;
    let s = &app.summary;
    let grid = s.channel(app.scope);
    let block = panel(
        theme,
        format!(
            "Implicit channel · {}: {} (↑↓ all items or one · ←→ layer)",
            s.scope_name(app.scope),
            super::count(grid.mementos as u64, "memento")
        ),
    );
    let inner = block.inner(area);
    frame.render_widget(block, area);
    if grid.layers.is_empty() {
        frame.render_widget(
            Paragraph::new("no channel rows here: no memento was closed and compared")
                .style(Style::new().fg(theme.dim)),
            inner,
        );
        return;
    }
    // Each map: the axis, the mean over all mementos, a row per block index, the legend.
    let height = grid.blocks.len() as u16 + 3;
    let [about, k_area, _, v_area, _, rest] = Layout::vertical([
        Constraint::Length(1),
        Constraint::Length(height),
        Constraint::Length(1),
        Constraint::Length(height),
        Constraint::Length(1),
        Constraint::Fill(1),
    ])
    .areas(inner);
    frame.render_widget(
        Paragraph::new(
            "1 − cos(memento arm's KV, restart arm's recomputed KV) · all: every memento",
        )
        .style(Style::new().fg(theme.dim)),
        about,
    );
    let cursor = app.layer.min(grid.layers.len() - 1);
    let (k_max, v_max) = grid.max();
    let buf = frame.buffer_mut();
    heatmap(buf, k_area, theme, grid, cursor, "K", k_max, |d| d.k);
    heatmap(buf, v_area, theme, grid, cursor, "V", v_max, |d| d.v);
    if rest.height >= 6 {
        profile(frame, rest, theme, grid);
    }
}

/// The mean over every memento, K and V, as lines across the layers.
fn profile(frame: &mut Frame, area: Rect, theme: &Theme, grid: &ChannelGrid) {
    let k: Vec<(f64, f64)> = grid
        .per_layer
        .iter()
        .map(|(l, d)| (*l as f64, d.k))
        .collect();
    let v: Vec<(f64, f64)> = grid
        .per_layer
        .iter()
        .map(|(l, d)| (*l as f64, d.v))
        .collect();
    let (k_max, v_max) = grid.max();
    let top = k_max.max(v_max).max(1e-12);
    let first = *grid.layers.first().unwrap_or(&0) as f64;
    let last = *grid.layers.last().unwrap_or(&1) as f64;
    let dim = Style::new().fg(theme.dim);
    let chart = Chart::new(vec![
        Dataset::default()
            .name("K")
            .marker(Marker::Braille)
            .graph_type(GraphType::Line)
            .style(Style::new().fg(theme.series_full))
            .data(&k),
        Dataset::default()
            .name("V")
            .marker(Marker::Braille)
            .graph_type(GraphType::Line)
            .style(Style::new().fg(theme.series_memento))
            .data(&v),
    ])
    .block(
        Block::new()
            .borders(Borders::TOP)
            .border_style(theme.border_style())
            .title(Line::from(vec![
                Span::styled(" all: mean distance per layer · ", theme.title_style()),
                Span::styled("━ K", Style::new().fg(theme.series_full)),
                Span::styled(" · ", theme.title_style()),
                Span::styled("━ V ", Style::new().fg(theme.series_memento)),
            ])),
    )
    .x_axis(
        Axis::default()
            .title(Span::styled("layer", dim))
            .bounds([first, last.max(first + 1.0)])
            .labels(super::layer_labels(first, last))
            .style(dim),
    )
    .y_axis(
        Axis::default()
            .bounds([0.0, top])
            .labels(vec![Line::from("0"), Line::from(format!("{top:.4}"))])
            .style(dim),
    );
    frame.render_widget(chart, area);
}

#[allow(clippy::too_many_arguments)]
fn heatmap(
    buf: &mut Buffer,
    area: Rect,
    theme: &Theme,
    grid: &ChannelGrid,
    cursor: usize,
    title: &str,
    max: f64,
    value: impl Fn(&Distances) -> f64,
) {
    if area.height < 3 {
        return;
    }
    let layers = grid.layers.len() as u16;
    let cell = (area.width.saturating_sub(LABEL + VALUE) / layers.max(1)).clamp(1, 4);
    let x0 = area.x + LABEL;
    let title_style = theme.title_style();
    let dim = Style::new().fg(theme.dim);
    let text = Style::new().fg(theme.text);
    // The title, the layer axis and the cursor.
    let mut y = area.y;
    buf.set_stringn(area.x, y, title, LABEL as usize, title_style);
    buf.set_stringn(area.x + 2, y, "layer", (LABEL - 3) as usize, dim);
    let tick = if cell >= 2 { 5 } else { 10 };
    let mut free_from = x0;
    for (i, layer) in grid.layers.iter().enumerate() {
        let x = x0 + i as u16 * cell;
        if layer % tick == 0 && x >= free_from {
            let label = layer.to_string();
            buf.set_stringn(x, y, &label, (x0 + layers * cell - x) as usize, dim);
            free_from = x + label.len() as u16 + 1;
        }
    }
    let cursor_x = x0 + cursor as u16 * cell;
    buf.set_string(
        cursor_x,
        y,
        "▼",
        Style::new().fg(theme.key).add_modifier(Modifier::BOLD),
    );
    let value_x = x0 + layers * cell + 1;
    buf.set_stringn(
        value_x,
        y,
        format!("L{}", grid.layers[cursor]),
        (VALUE - 1) as usize,
        Style::new().fg(theme.key),
    );
    y += 1;
    // The mean over every memento first, then each block index.
    let mut rows: Vec<(String, Vec<Option<f64>>)> = vec![(
        "all".into(),
        grid.layers
            .iter()
            .map(|l| grid.per_layer.get(l).map(&value))
            .collect(),
    )];
    for b in &grid.blocks {
        rows.push((
            format!("block {}", b + 1),
            grid.layers
                .iter()
                .map(|l| grid.cells.get(&(*b, *l)).map(&value))
                .collect(),
        ));
    }
    // Rows above the legend's; when they do not all fit, the last says how many are left.
    let room = (area.y + area.height - 1).saturating_sub(y) as usize;
    let (shown, more) = if rows.len() <= room {
        (rows.len(), 0)
    } else {
        let shown = room.saturating_sub(1);
        (shown, rows.len() - shown)
    };
    for (label, values) in rows.iter().take(shown) {
        buf.set_stringn(area.x, y, label, (LABEL - 1) as usize, text);
        for (i, v) in values.iter().enumerate() {
            let x = x0 + i as u16 * cell;
            match v {
                Some(v) => {
                    let bg = scale::color(theme, scale::level(*v, max));
                    buf.set_string(x, y, " ".repeat(cell as usize), Style::new().bg(bg));
                }
                None => {
                    buf.set_string(x, y, "·", dim);
                }
            }
        }
        let at = values[cursor].map_or("—".to_string(), |v| format!("{v:.5}"));
        buf.set_stringn(value_x, y, at, (VALUE - 1) as usize, text);
        y += 1;
    }
    if more > 0 {
        buf.set_stringn(
            area.x,
            y,
            format!("+{more} more rows: a taller terminal shows them"),
            area.width as usize,
            Style::new().fg(theme.warning),
        );
        y += 1;
    }
    // The legend: the scale's steps with its ends.
    buf.set_stringn(area.x, y, "scale", (LABEL - 1) as usize, dim);
    let legend = scale::legend(theme, "0", &format!("{max:.5} (max)"), 2);
    buf.set_line(x0, y, &legend, area.width.saturating_sub(LABEL));
}
