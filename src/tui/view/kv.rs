//! The KV panel: a gauge of live entries against capacity, and a chart of occupancy over
//! the run under the full-context and memento policies, with the playhead marked.

use ratatui::Frame;

use crate::tui::theme::Theme;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::{Modifier, Style};
use ratatui::symbols::Marker;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Axis, Block, Borders, Chart, Dataset, Gauge, GraphType, Paragraph};

use super::{AtCursor, ViewCache};
use crate::tui::app::App;
use crate::units::{bytes, count};

pub fn draw(
    frame: &mut Frame,
    area: Rect,
    app: &App,
    theme: &Theme,
    at: &AtCursor,
    cache: &mut ViewCache,
) {
    let title = " KV cache ";
    // The chart's caption, as long as fits beside the title (a narrow column gets less).
    let tokens = count(app.len());
    let room = (area.width as usize).saturating_sub(title.chars().count() + 3);
    let caption = [
        format!(" chart: live entries per step, 0–{tokens} tok "),
        format!(" live per step, 0–{tokens} tok "),
        format!(" 0–{tokens} tok "),
    ]
    .into_iter()
    .find(|c| c.chars().count() <= room)
    .unwrap_or_default();
    let outer = Block::new()
        .borders(Borders::ALL)
        .border_style(theme.border_style())
        .title(Span::styled(title, theme.title_style()))
        .title(Line::from(Span::styled(caption, Style::new().fg(theme.dim))).right_aligned());
    let inner = outer.inner(area);
    frame.render_widget(outer, area);
    if inner.height == 0 {
        return;
    }
    let state = &at.state;
    let shape = app.timeline.shape();
    let capacity = shape.context_tokens.max(1);
    let capacity_bytes = shape.bytes_for(
        capacity,
        shape
            .sliding_window
            .map_or(capacity, |w| w.window.min(capacity)),
    );
    let fraction = state.live as f64 / capacity as f64;
    let colour = theme.gauge_color(fraction);
    let wide = inner.width >= 100;
    let label = if wide {
        format!(
            "live {} / {} tok ({:.1}%) · {} / {} · peak {} tok ({})",
            count(state.live),
            count(capacity),
            fraction * 100.0,
            bytes(state.bytes),
            bytes(capacity_bytes),
            count(state.peak),
            bytes(state.peak_bytes)
        )
    } else {
        format!(
            "{}/{} tok · {} · peak {}",
            count(state.live),
            count(capacity),
            bytes(state.bytes),
            count(state.peak)
        )
    };
    let rows = if inner.height >= 4 { 2 } else { 1 };
    let [gauge_area, chart_area] =
        Layout::vertical([Constraint::Length(rows), Constraint::Fill(1)]).areas(inner);
    let [bar, info] =
        Layout::vertical([Constraint::Length(1), Constraint::Length(rows - 1)]).areas(gauge_area);
    let gauge = Gauge::default()
        .ratio(fraction.clamp(0.0, 1.0))
        .label(Span::styled(
            label,
            Style::new().fg(theme.text).add_modifier(Modifier::BOLD),
        ))
        .gauge_style(Style::new().fg(colour).bg(theme.gauge_empty))
        .use_unicode(true);
    frame.render_widget(gauge, bar);
    if rows > 1 {
        frame.render_widget(Paragraph::new(comparison(app, theme, at)), info);
    }
    if chart_area.height >= 3 {
        chart(frame, chart_area, app, theme, cache);
    }
}

/// One line comparing the policies at the playhead.
fn comparison(app: &App, theme: &Theme, at: &AtCursor) -> Line<'static> {
    let series = app.timeline.series();
    let step = step_index(app);
    let live = |i: usize| {
        series
            .get(i)
            .and_then(|s| s.live().get(step).copied())
            .unwrap_or(0)
    };
    let (full, memento) = (live(0), live(1));
    let evictions = at.state.evictions;
    let mut spans = vec![
        Span::styled("full ", Style::new().fg(theme.series_full)),
        Span::styled(count(full), Style::new().fg(theme.text)),
        Span::styled("  memento ", Style::new().fg(theme.series_memento)),
        Span::styled(count(memento), Style::new().fg(theme.text)),
    ];
    if full > 0 {
        spans.push(Span::styled(
            format!("  ({:.2}×)", memento as f64 / full as f64),
            Style::new().fg(theme.dim),
        ));
    }
    spans.push(Span::styled(
        format!("  evictions {evictions}"),
        Style::new().fg(theme.dim),
    ));
    Line::from(spans)
}

/// Index into the per-step series for the playhead.
fn step_index(app: &App) -> usize {
    if app.timeline.prompt_len() > 0 {
        app.cursor as usize
    } else {
        (app.cursor as usize).saturating_sub(1)
    }
}

fn chart(frame: &mut Frame, area: Rect, app: &App, theme: &Theme, cache: &mut ViewCache) {
    let series = app.timeline.series();
    let buckets = (area.width as usize * 2).max(8);
    let offset = if app.timeline.prompt_len() > 0 {
        0.0
    } else {
        1.0
    };
    let key: Vec<usize> = series
        .iter()
        .map(|s| s.live().len())
        .chain([buckets])
        .collect();
    if cache.chart_key != key {
        cache.chart_points = series
            .iter()
            .map(|s| downsample(s.live(), buckets, offset))
            .collect();
        cache.chart_key = key;
    }
    let y_max = series
        .iter()
        .flat_map(|s| s.live().iter().copied())
        .max()
        .unwrap_or(1)
        .max(1) as f64
        * 1.05;
    let x_max = (app.len() as f64).max(1.0);
    let x = app.cursor as f64;
    let playhead = [(x, 0.0), (x, y_max)];
    let colours = [theme.series_full, theme.series_memento, theme.series_policy];
    let names = ["full", "memento", "trace"];
    let mut datasets: Vec<Dataset> = cache
        .chart_points
        .iter()
        .enumerate()
        .map(|(i, points)| {
            let name = if i == 2 {
                app.timeline.header.policy.label()
            } else {
                names[i].to_string()
            };
            Dataset::default()
                .name(name)
                .marker(Marker::Braille)
                .graph_type(GraphType::Line)
                .style(Style::new().fg(colours[i.min(2)]))
                .data(points)
        })
        .collect();
    datasets.push(
        Dataset::default()
            .marker(Marker::Braille)
            .graph_type(GraphType::Line)
            .style(Style::new().fg(theme.cursor))
            .data(&playhead),
    );
    let label = |s: String| Span::styled(s, Style::new().fg(theme.dim));
    // Axis labels take rows; a short chart keeps them all for the lines.
    let roomy = area.height >= 7;
    let x_axis = Axis::default()
        .bounds([0.0, x_max])
        .style(Style::new().fg(theme.border));
    let y_axis = Axis::default()
        .bounds([0.0, y_max])
        .style(Style::new().fg(theme.border));
    let (x_axis, y_axis) = if roomy {
        (
            x_axis.labels([
                label("0".into()),
                label(format!("{} tok", count(app.len()))),
            ]),
            y_axis.labels([label("0".into()), label(count(y_max as u64))]),
        )
    } else {
        (x_axis, y_axis)
    };
    let chart = Chart::new(datasets)
        .x_axis(x_axis)
        .y_axis(y_axis)
        .legend_position(Some(ratatui::widgets::LegendPosition::TopLeft))
        .hidden_legend_constraints((Constraint::Ratio(1, 2), Constraint::Ratio(1, 1)));
    frame.render_widget(chart, area);
}

/// At most `buckets` points, keeping each bucket's maximum so peaks survive.
fn downsample(values: &[u64], buckets: usize, offset: f64) -> Vec<(f64, f64)> {
    if values.len() <= buckets {
        return values
            .iter()
            .enumerate()
            .map(|(i, v)| (i as f64 + offset, *v as f64))
            .collect();
    }
    let per = values.len() as f64 / buckets as f64;
    (0..buckets)
        .map(|b| {
            let from = (b as f64 * per) as usize;
            let to = (((b + 1) as f64 * per) as usize).clamp(from + 1, values.len());
            let max = values[from..to].iter().copied().max().unwrap_or(0);
            (from as f64 + offset, max as f64)
        })
        .collect()
}
