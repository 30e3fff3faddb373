//! Two streams side by side: a column each (its reasoning and its KV gauge), a ruler
//! showing where the two token streams first differ, and once both have ended, a summary
//! (peak KV, speed, token counts, each answer). The live compare run and the replay of a
//! recorded pair draw through here.

use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::{Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Paragraph};

use super::{AtCursor, ViewCache, inspect, kv, mementos, reasoning_pane};
use crate::timeline::{Timeline, TokenSpan};
use crate::tui::app::{App, Focus};
use crate::tui::theme::Theme;
use crate::units::count;

/// What a column's header says besides the stream's own state.
pub struct ColumnInfo {
    pub label: String,
    /// Speeds and counts, already formatted.
    pub readout: String,
    /// Entries freed by an eviction that just happened.
    pub flash: Option<u64>,
}

/// The first generated token at which the streams differ (by id, else by text), or `None`
/// while they agree over their common length.
pub fn first_divergence(a: &Timeline, b: &Timeline) -> Option<u64> {
    let (ta, tb) = (a.tokens(), b.tokens());
    let n = ta.len().min(tb.len());
    (0..n)
        .find(|&i| match (ta.id(i), tb.id(i)) {
            (Some(x), Some(y)) => x != y,
            _ => ta.text(i) != tb.text(i),
        })
        .map(|i| i as u64)
}

pub fn columns(
    frame: &mut Frame,
    area: Rect,
    apps: &[&App],
    infos: &[ColumnInfo],
    caches: &mut [ViewCache],
) {
    let parts = Layout::horizontal(vec![Constraint::Fill(1); apps.len().max(1)]).split(area);
    for (i, app) in apps.iter().enumerate() {
        let info = infos.get(i);
        if let Some(cache) = caches.get_mut(i) {
            column(frame, parts[i], app, info, cache, i);
        }
    }
}

fn column(
    frame: &mut Frame,
    area: Rect,
    app: &App,
    info: Option<&ColumnInfo>,
    cache: &mut ViewCache,
    index: usize,
) {
    let theme = &app.theme;
    let at = AtCursor::new(app);
    let kv_height = (area.height * 3 / 10).clamp(4, 12);
    let [head, text, kv_area] = Layout::vertical([
        Constraint::Length(1),
        Constraint::Fill(1),
        Constraint::Length(kv_height),
    ])
    .areas(area);
    let colour = if index == 0 {
        theme.series_full
    } else {
        theme.series_memento
    };
    let label = info.map_or_else(|| app.title.clone(), |i| i.label.clone());
    let mut spans = vec![Span::styled(
        format!(" {label} "),
        Style::new()
            .fg(colour)
            .add_modifier(Modifier::BOLD | Modifier::REVERSED),
    )];
    // The flash goes before the readout so a narrow column never cuts it off.
    if let Some(freed) = info.and_then(|i| i.flash) {
        spans.push(Span::styled(
            format!(" ▼ evicted {} ", count(freed)),
            Style::new()
                .fg(theme.status_bg)
                .bg(theme.evicted)
                .add_modifier(Modifier::BOLD),
        ));
    }
    spans.push(Span::styled(
        format!(" {} ", info.map_or(String::new(), |i| i.readout.clone())),
        Style::new().fg(theme.text),
    ));
    frame.render_widget(
        Paragraph::new(Line::from(spans)).style(Style::new().bg(theme.status_bg)),
        head,
    );
    // With the memento list focused (tab), it opens under the reasoning, so what ↑↓ and i act
    // on is on screen.
    let [reasoning_area, list_area] = if app.focus == Focus::Mementos {
        Layout::vertical([Constraint::Fill(1), Constraint::Percentage(45)]).areas(text)
    } else {
        [text, Rect::default()]
    };
    reasoning_pane(frame, reasoning_area, app, &at, cache);
    if !list_area.is_empty() {
        mementos::draw(frame, list_area, app, &at);
    }
    kv::draw(frame, kv_area, app, &at, cache);
    if app.inspect {
        inspect::draw(frame, text, app, &at, cache);
    }
}

/// One line: how far the two streams agree, where they split, and the playhead.
pub fn ruler(frame: &mut Frame, area: Rect, a: &App, b: &App, theme: &Theme) {
    let split = first_divergence(&a.timeline, &b.timeline);
    let total = a.len().max(b.len()).max(1);
    let label = match split {
        Some(at) => format!(
            " streams agree for {} tokens, diverge at token {} ",
            count(at),
            count(at + 1)
        ),
        None => format!(
            " streams agree on all {} tokens so far ",
            count(a.len().min(b.len()))
        ),
    };
    let bar_width = (area.width as usize).saturating_sub(label.chars().count() + 1);
    let cell = |token: u64| (token as f64 / total as f64 * bar_width as f64) as usize;
    let split_cell = split.map(cell);
    let cursor_cell = cell(a.cursor.max(b.cursor)).min(bar_width.saturating_sub(1));
    let mut spans = vec![Span::styled(
        label,
        Style::new().fg(theme.text).bg(theme.status_bg),
    )];
    for c in 0..bar_width {
        let (glyph, style) = match split_cell {
            Some(s) if c == s.min(bar_width - 1) => (
                "╳",
                Style::new().fg(theme.warning).add_modifier(Modifier::BOLD),
            ),
            Some(s) if c > s => ("─", Style::new().fg(theme.warning)),
            _ => ("━", Style::new().fg(theme.gauge_ok)),
        };
        let style = if c == cursor_cell {
            style.bg(theme.selection)
        } else {
            style
        };
        spans.push(Span::styled(glyph, style));
    }
    frame.render_widget(Paragraph::new(Line::from(spans)), area);
}

/// What the end-of-run summary needs from each stream.
pub struct StreamResult<'a> {
    pub label: &'a str,
    pub timeline: &'a Timeline,
    pub decode_tok_s: Option<f64>,
}

/// The answer a stream gave: its answer span, else the tail of its text.
pub fn answer_of(timeline: &Timeline) -> String {
    let tokens = timeline.tokens();
    let answer: String = (0..tokens.len())
        .filter(|&i| tokens.span(i) == TokenSpan::Answer)
        .map(|i| tokens.text(i))
        .collect();
    let answer = answer.trim();
    if !answer.is_empty() {
        return answer.split_whitespace().collect::<Vec<_>>().join(" ");
    }
    let all = tokens.all_text().split_whitespace().collect::<Vec<_>>();
    let tail = all[all.len().saturating_sub(12)..].join(" ");
    if tail.is_empty() {
        "(nothing generated)".into()
    } else {
        format!("(no answer span) …{tail}")
    }
}

/// A recorded stream's decode speed, defined as the live run defines it: tokens generated
/// over the engine's decode time, as the end event records it. Traces without that time fall
/// back on the token timestamps.
pub fn recorded_rate(timeline: &Timeline) -> Option<f64> {
    if let Some(end) = timeline.end() {
        if let Some(seconds) = end.decode_seconds.filter(|s| *s > 0.0) {
            return Some(end.totals.generated as f64 / seconds);
        }
    }
    let n = timeline.len();
    let first = timeline.time_of(0)?;
    let last = timeline.time_of(n.checked_sub(1)?)?;
    (last > first).then(|| (n - 1) as f64 / (last - first))
}

pub const SUMMARY_HEIGHT: u16 = 6;

pub fn summary(frame: &mut Frame, area: Rect, a: &StreamResult, b: &StreamResult, theme: &Theme) {
    let block = Block::new()
        .borders(Borders::ALL)
        .border_style(Style::new().fg(theme.title))
        .title(Span::styled(" Summary ", theme.title_style()));
    let inner = block.inner(area);
    frame.render_widget(block, area);
    let dim = Style::new().fg(theme.dim);
    let bold = Style::new().fg(theme.text).add_modifier(Modifier::BOLD);
    let (pa, pb) = (a.timeline.state().peak, b.timeline.state().peak);
    let mut first = vec![
        Span::styled("peak KV ", dim),
        Span::styled(
            format!(
                "{} / {} = {:.2}×",
                count(pb),
                count(pa),
                pb as f64 / pa.max(1) as f64
            ),
            bold,
        ),
        Span::styled(format!(" ({} vs {})", b.label, a.label), dim),
    ];
    if let (Some(ra), Some(rb)) = (a.decode_tok_s, b.decode_tok_s) {
        if ra > 0.0 {
            first.push(Span::styled(" · decode ", dim));
            first.push(Span::styled(
                format!("{rb:.1} / {ra:.1} tok/s = {:.2}×", rb / ra),
                bold,
            ));
        }
    }
    first.push(Span::styled(" · tokens ", dim));
    first.push(Span::styled(
        format!("{} / {}", count(b.timeline.len()), count(a.timeline.len())),
        bold,
    ));
    let colours = [theme.series_full, theme.series_memento];
    let mut lines = vec![Line::from(first)];
    for (i, s) in [a, b].iter().enumerate() {
        lines.push(Line::from(vec![
            Span::styled(
                format!("{:<8}", s.label),
                Style::new().fg(colours[i]).add_modifier(Modifier::BOLD),
            ),
            Span::styled(answer_of(s.timeline), Style::new().fg(theme.answer)),
        ]));
    }
    frame.render_widget(
        Paragraph::new(lines).wrap(ratatui::widgets::Wrap { trim: true }),
        inner,
    );
}

/// A recorded pair, replayed side by side.
pub fn draw_pair(frame: &mut Frame, pair: &crate::tui::pair::PairApp, caches: &mut Vec<ViewCache>) {
    let theme = &pair.theme;
    if !super::fits(frame, theme) {
        return;
    }
    while caches.len() < 2 {
        caches.push(ViewCache::default());
    }
    let area = frame.area();
    let [a, b] = [&pair.apps[0], &pair.apps[1]];
    let ended =
        a.timeline.end().is_some() && b.timeline.end().is_some() && a.at_end() && b.at_end();
    let [title_area, cols, summary_area, ruler_area, status_area] = Layout::vertical([
        Constraint::Length(1),
        Constraint::Fill(1),
        Constraint::Length(if ended { SUMMARY_HEIGHT } else { 0 }),
        Constraint::Length(1),
        Constraint::Length(1),
    ])
    .areas(area);
    let sep = Span::styled(" │ ", Style::new().fg(theme.border));
    let title = Line::from(vec![
        Span::styled(" memento ", theme.title_style()),
        sep.clone(),
        Span::styled(
            "compare replay",
            Style::new().fg(theme.text).add_modifier(Modifier::BOLD),
        ),
        sep.clone(),
        Span::styled(
            format!("{}  ·  {}", a.title, b.title),
            Style::new().fg(theme.text),
        ),
        sep,
        Span::styled(
            a.timeline.header.model.name.clone(),
            Style::new().fg(theme.dim),
        ),
    ]);
    frame.render_widget(
        Paragraph::new(title).style(Style::new().bg(theme.status_bg)),
        title_area,
    );
    let infos: Vec<ColumnInfo> = [a, b]
        .iter()
        .map(|app| {
            let state = app.timeline.state_at(app.cursor);
            ColumnInfo {
                label: app.timeline.header.policy.label(),
                // A narrow column cuts the end off: the KV figures go first.
                readout: format!(
                    "KV {} pk {} · tok {}/{} · {} blk",
                    count(state.live),
                    count(state.peak),
                    count(app.cursor),
                    count(app.len()),
                    state.blocks_closed,
                ),
                flash: None,
            }
        })
        .collect();
    columns(frame, cols, &[a, b], &infos, caches);
    if ended {
        fn result<'r>(app: &'r App, label: &'r str) -> StreamResult<'r> {
            StreamResult {
                label,
                timeline: &app.timeline,
                decode_tok_s: recorded_rate(&app.timeline),
            }
        }
        summary(
            frame,
            summary_area,
            &result(a, &infos[0].label),
            &result(b, &infos[1].label),
            theme,
        );
    }
    ruler(frame, ruler_area, a, b, theme);
    let base = Style::new().fg(theme.status_fg).bg(theme.status_bg);
    let play = if pair.playing() { "▶" } else { "⏸" };
    let mut spans = vec![Span::styled(
        format!(
            " {play} {}× · tok {}/{} ",
            a.speed(),
            count(a.cursor.max(b.cursor)),
            count(pair.len())
        ),
        base.add_modifier(Modifier::BOLD),
    )];
    for &action in &pair.keymap.hints {
        if let Some(key) = pair.keymap.keys_for(action).first() {
            spans.push(Span::styled(
                key.clone(),
                base.fg(theme.key).add_modifier(Modifier::BOLD),
            ));
            spans.push(Span::styled(format!(" {}  ", action.hint()), base));
        }
    }
    frame.render_widget(Paragraph::new(Line::from(spans)).style(base), status_area);
    if pair.help {
        super::help::draw(frame, area, &pair.keymap, theme);
    }
}
