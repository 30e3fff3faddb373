//! The KV panel: a gauge of live entries against capacity, and a chart of occupancy over
//! the run under the full-context and memento policies, with the playhead marked.

use ratatui::Frame;

use crate::tui::theme::Theme;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::{Modifier, Style};
use ratatui::symbols::Marker;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Axis, Block, Borders, Chart, Dataset, Gauge, GraphType, Paragraph};

use super::chrome::{Part, fit, fitted_line};
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
    // The chart's legend and range, as much as fits beside the title (a narrow column gets
    // less); the legend is never drawn over the lines.
    let dim = Style::new().fg(theme.dim);
    let legend = Part::new(
        8,
        vec![
            Span::styled(" ━ full", Style::new().fg(theme.policy_colour("full"))),
            Span::styled(
                " ━ memento",
                Style::new().fg(theme.policy_colour("memento")),
            ),
            Span::styled(" ▼ eviction ", Style::new().fg(theme.evicted)),
        ],
    );
    let range = Part::text(
        5,
        format!(" live entries per step, 0–{} tok ", count(app.len())),
        dim,
    );
    let room = (area.width as usize).saturating_sub(title.chars().count() + 3);
    let caption = fitted_line(vec![legend, range], room);
    let outer = Block::new()
        .borders(Borders::ALL)
        .border_style(theme.border_style())
        .title(Span::styled(title, theme.title_style()))
        .title(caption.right_aligned());
    let inner = outer.inner(area);
    frame.render_widget(outer, area);
    if inner.height == 0 {
        return;
    }
    // The gauge first, then the eviction strip, then the comparison line, as rows allow.
    let (info_rows, strip_rows) = match inner.height {
        0 | 1 => (0, 0),
        2 => (0, 1),
        _ => (1, 1),
    };
    let [bar, info, strip, chart_area] = Layout::vertical([
        Constraint::Length(1),
        Constraint::Length(info_rows),
        Constraint::Length(strip_rows),
        Constraint::Fill(1),
    ])
    .areas(inner);
    gauge(frame, bar, app, theme, at);
    if info_rows > 0 {
        frame.render_widget(Paragraph::new(comparison(app, theme, at)), info);
    }
    let has_chart = chart_area.height >= 2;
    if strip_rows > 0 {
        // With no room for the chart, the strip carries its shape: the live entries per step
        // as bar heights, between the evictions.
        let line = if has_chart {
            eviction_strip(app, theme, strip.width)
        } else {
            occupancy_strip(app, theme, strip.width)
        };
        frame.render_widget(Paragraph::new(line), strip);
    }
    if has_chart {
        chart(frame, chart_area, app, theme, cache);
    }
}

/// The stream's own peak over the whole run (so far, in a live run): the gauge is scaled to
/// it, so an eviction of a few dozen entries moves the bar visibly.
fn run_scale(app: &App, at: &AtCursor) -> u64 {
    app.timeline.state().peak.max(at.state.peak).max(1)
}

/// The server's own KV usage (a fraction) last read at or before the cursor, in a remote run.
fn server_kv_usage(app: &App) -> Option<f64> {
    let limit = app.timeline.prompt_len() + app.cursor;
    app.timeline
        .markers()
        .iter()
        .rev()
        .filter(|m| m.label == crate::remote::SERVER_KV_MARKER && m.pos < limit.max(1))
        .find_map(|m| m.note.as_deref()?.parse().ok())
}

/// The live entries against the run's peak, with the context limit as text.
fn gauge(frame: &mut Frame, area: Rect, app: &App, theme: &Theme, at: &AtCursor) {
    let state = &at.state;
    let shape = app.timeline.shape();
    let capacity = shape.context_tokens.max(1);
    let scale = run_scale(app, at);
    let of_context = state.live as f64 / capacity as f64;
    let bold = Style::new().fg(theme.text).add_modifier(Modifier::BOLD);
    let label = fit(
        vec![
            Part::text(10, format!("live {} tok", count(state.live)), bold),
            Part::text(9, format!(" · peak {}", count(state.peak)), bold),
            Part::text(6, format!(" · bar = run peak {}", count(scale)), bold),
            Part::text(5, format!(" · {}", bytes(state.bytes)), bold),
            // A remote run: the server's own reading beside the reconstruction.
            Part::text(
                8,
                server_kv_usage(app)
                    .map(|u| format!(" · server {:.1}%", u * 100.0))
                    .unwrap_or_default(),
                bold,
            ),
            Part::text(
                7,
                format!(
                    " · context {} ({:.1}%)",
                    count(capacity),
                    of_context * 100.0
                ),
                bold,
            ),
        ],
        area.width as usize,
    );
    let label: String = label
        .into_iter()
        .flat_map(|p| p.spans)
        .map(|s| s.content.into_owned())
        .collect();
    let gauge = Gauge::default()
        .ratio((state.live as f64 / scale as f64).clamp(0.0, 1.0))
        .label(Span::styled(label, bold))
        .gauge_style(
            Style::new()
                .fg(theme.gauge_color(of_context))
                .bg(theme.gauge_empty),
        )
        .use_unicode(true);
    frame.render_widget(gauge, area);
}

/// One row: every eviction of the run at its place (▼, dimmer while still ahead of the
/// playhead), and the playhead (┃).
pub fn eviction_strip(app: &App, theme: &Theme, width: u16) -> Line<'static> {
    let width = width as usize;
    if width == 0 {
        return Line::default();
    }
    let len = app.len().max(1);
    let cell = |cursor: u64| ((cursor.min(len) as f64 / len as f64) * (width - 1) as f64) as usize;
    let mut cells: Vec<(char, Style)> = vec![('─', Style::new().fg(theme.border)); width];
    for (cursor, _) in app.timeline.evictions_at_cursors() {
        let style = if cursor <= app.cursor {
            Style::new().fg(theme.evicted).add_modifier(Modifier::BOLD)
        } else {
            Style::new().fg(theme.dim)
        };
        cells[cell(cursor)] = ('▼', style);
    }
    let at = cell(app.cursor);
    cells[at] = match cells[at] {
        ('▼', style) => ('▼', style.bg(theme.selection)),
        _ => (
            '┃',
            Style::new().fg(theme.cursor).add_modifier(Modifier::BOLD),
        ),
    };
    Line::from(
        cells
            .into_iter()
            .map(|(c, style)| Span::styled(c.to_string(), style))
            .collect::<Vec<_>>(),
    )
}

/// The live entries of the stream's own policy per step: the recorded readings, else the
/// simulated series of the trace's policy.
fn own_live(app: &App) -> &[u64] {
    let recorded = app.timeline.recorded_live();
    if !recorded.is_empty() {
        return recorded;
    }
    let policy = &app.timeline.header.policy;
    let series = app.timeline.series();
    series
        .iter()
        .find(|s| &s.policy == policy)
        .or(series.last())
        .map_or(&[], |s| s.live())
}

/// The KV chart in one row, for a panel with no room for the chart: each cell the fewest live
/// entries of its stretch of the run (so the cell after an eviction shows the drop) as a bar
/// height (▁ the run's least, █ its peak) in the
/// policy's colour, dim ahead of the playhead; the evictions (▼) and the playhead (┃) as on
/// [`eviction_strip`].
pub fn occupancy_strip(app: &App, theme: &Theme, width: u16) -> Line<'static> {
    const LEVELS: [char; 8] = ['▁', '▂', '▃', '▄', '▅', '▆', '▇', '█'];
    let mut line = eviction_strip(app, theme, width);
    let live = own_live(app);
    let width = line.spans.len();
    if live.is_empty() || width == 0 {
        return line;
    }
    // From the run's least to its peak, so an eviction of a few dozen entries shows as a step.
    let least = live.iter().copied().min().unwrap_or(0);
    let peak = live.iter().copied().max().unwrap_or(1);
    let range = (peak - least).max(1) as f64;
    let len = app.len().max(1);
    // Steps run prefill first when there is a prompt: step i is cursor i (else cursor i + 1).
    let offset = u64::from(app.timeline.prompt_len() == 0);
    let colour = theme.policy_colour(&app.timeline.header.policy.label());
    for (c, span) in line.spans.iter_mut().enumerate() {
        if span.content != "─" {
            continue;
        }
        // The cursors this cell stands for, as `eviction_strip` places them.
        let from = (c as f64 / (width - 1).max(1) as f64 * len as f64).ceil() as u64;
        let to = (((c + 1) as f64 / (width - 1).max(1) as f64) * len as f64).ceil() as u64;
        let steps = from.saturating_sub(offset) as usize..(to.saturating_sub(offset) as usize);
        let Some(fewest) = live
            .get(
                steps.start.min(live.len())
                    ..steps.end.clamp(steps.start.min(live.len()), live.len()),
            )
            .and_then(|s| s.iter().copied().min())
        else {
            continue;
        };
        let level =
            (((fewest - least) as f64 / range) * (LEVELS.len() - 1) as f64).round() as usize;
        let style = if from <= app.cursor {
            Style::new().fg(colour)
        } else {
            Style::new().fg(theme.dim)
        };
        *span = Span::styled(LEVELS[level].to_string(), style);
    }
    line
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
        format!("  ▼ {} (−{} entries)", evictions, count(at.state.evicted)),
        Style::new().fg(if evictions > 0 {
            theme.evicted
        } else {
            theme.dim
        }),
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
    // Where each eviction left the live count: marked on the stream's own line.
    let evictions: Vec<(f64, f64)> = app
        .timeline
        .evictions_at_cursors()
        .map(|(cursor, e)| (cursor as f64, e.live as f64))
        .collect();
    // The playhead goes under the lines, so a drop at the playhead stays in sight.
    let mut datasets = vec![
        Dataset::default()
            .marker(Marker::Braille)
            .graph_type(GraphType::Line)
            .style(Style::new().fg(theme.border))
            .data(&playhead),
    ];
    for (i, points) in cache.chart_points.iter().enumerate() {
        let label = series
            .get(i)
            .map_or_else(|| "trace".to_string(), |s| s.policy.label());
        datasets.push(
            Dataset::default()
                .marker(Marker::Braille)
                .graph_type(GraphType::Line)
                .style(Style::new().fg(theme.policy_colour(&label)))
                .data(points),
        );
    }
    datasets.push(
        Dataset::default()
            .marker(Marker::Dot)
            .graph_type(GraphType::Scatter)
            .style(Style::new().fg(theme.evicted).add_modifier(Modifier::BOLD))
            .data(&evictions),
    );
    let label = |s: String| Span::styled(s, Style::new().fg(theme.dim));
    let x_axis = Axis::default()
        .bounds([0.0, x_max])
        .style(Style::new().fg(theme.border));
    let y_axis = Axis::default()
        .bounds([0.0, y_max])
        .style(Style::new().fg(theme.border));
    // The y scale whenever there are rows for the lines; the x labels take a row of their own.
    let y_axis = if area.height >= 3 {
        y_axis.labels([label("0".into()), label(count(y_max as u64))])
    } else {
        y_axis
    };
    let x_axis = if area.height >= 6 {
        x_axis.labels([
            label("0".into()),
            label(format!("{} tok", count(app.len()))),
        ])
    } else {
        x_axis
    };
    let chart = Chart::new(datasets)
        .x_axis(x_axis)
        .y_axis(y_axis)
        .legend_position(None);
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
