//! Two streams side by side: a column each (its reasoning and its KV gauge), a ruler
//! showing where the two token streams first differ, and once both have ended, a summary
//! (peak KV, speed, token counts, each answer). The live compare run and the replay of a
//! recorded pair draw through here.

use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::{Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Paragraph};

use super::chrome::{Part, bar, fitted_line, playback_parts, status_bar, title_bar};
use super::{AtCursor, ViewCache, inspect, kv, mementos, reasoning_pane};
use crate::timeline::{Timeline, TokenSpan};
use crate::tui::app::{App, Focus};
use crate::tui::chrome::Keyed;
use crate::tui::pair::PairApp;
use crate::tui::theme::Theme;
use crate::units::{count, plural};

/// What a column's header says besides the stream's own state.
pub struct ColumnInfo {
    pub label: String,
    /// Numbers, already formatted, most important first (a narrow column drops the last).
    pub readout: Vec<String>,
    /// Why the stream ended, once it has.
    pub ended: Option<String>,
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
    theme: &Theme,
    infos: &[ColumnInfo],
    caches: &mut [ViewCache],
) {
    let parts = Layout::horizontal(vec![Constraint::Fill(1); apps.len().max(1)]).split(area);
    for (i, app) in apps.iter().enumerate() {
        let info = infos.get(i);
        if let Some(cache) = caches.get_mut(i) {
            column(frame, parts[i], app, theme, info, cache);
        }
    }
}

fn column(
    frame: &mut Frame,
    area: Rect,
    app: &App,
    theme: &Theme,
    info: Option<&ColumnInfo>,
    cache: &mut ViewCache,
) {
    let at = AtCursor::new(app);
    let kv_height = (area.height * 3 / 10).clamp(4, 12);
    let [head, text, kv_area] = Layout::vertical([
        Constraint::Length(1),
        Constraint::Fill(1),
        Constraint::Length(kv_height),
    ])
    .areas(area);
    let label = info.map_or_else(|| app.title.clone(), |i| i.label.clone());
    let mut parts = vec![Part::text(
        100,
        format!(" {label} "),
        Style::new()
            .fg(theme.policy_colour(&label))
            .add_modifier(Modifier::BOLD | Modifier::REVERSED),
    )];
    if let Some(freed) = info.and_then(|i| i.flash) {
        parts.push(Part::text(
            90,
            format!(" ▼ evicted {} ", count(freed)),
            Style::new()
                .fg(theme.status_bg)
                .bg(theme.evicted)
                .add_modifier(Modifier::BOLD),
        ));
    }
    if let Some(ended) = info.and_then(|i| i.ended.clone()) {
        parts.push(Part::text(
            60,
            format!(" {ended} "),
            Style::new().fg(theme.key).add_modifier(Modifier::BOLD),
        ));
    }
    if let Some(i) = info {
        for (n, number) in i.readout.iter().enumerate() {
            parts.push(Part::text(
                70u8.saturating_sub(5 * n as u8),
                if n == 0 {
                    format!(" {number}")
                } else {
                    format!(" · {number}")
                },
                Style::new().fg(theme.text),
            ));
        }
    }
    bar(frame, head, theme, fitted_line(parts, head.width as usize));
    // With the memento list focused (tab), it opens under the reasoning, so what ↑↓ and i act
    // on is on screen.
    let [reasoning_area, list_area] = if app.focus == Focus::Mementos {
        Layout::vertical([Constraint::Fill(1), Constraint::Percentage(45)]).areas(text)
    } else {
        [text, Rect::default()]
    };
    reasoning_pane(frame, reasoning_area, app, theme, &at, cache);
    if !list_area.is_empty() {
        mementos::draw(frame, list_area, app, theme, &at);
    }
    kv::draw(frame, kv_area, app, theme, &at, cache);
    if app.inspect {
        inspect::draw(frame, text, app, theme, &at, cache);
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
        None if a.timeline.end().is_some() && b.timeline.end().is_some() => format!(
            " streams agree on all {} tokens they share ",
            count(a.len().min(b.len()))
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
        // The playhead is its own glyph, so it shows on any terminal and theme.
        let (glyph, style) = if c == cursor_cell {
            (
                "┃",
                Style::new().fg(theme.cursor).add_modifier(Modifier::BOLD),
            )
        } else {
            (glyph, style)
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

/// Generated-token ranges that spell a structure tag (`<think>`, `<|summary_start|>`, …).
fn tag_ranges(timeline: &Timeline) -> Vec<std::ops::Range<u64>> {
    let p = timeline.prompt_len();
    timeline
        .boundaries()
        .iter()
        .filter(|b| b.tag.is_some() && b.tag_to() > p)
        .map(|b| b.tag_from().saturating_sub(p)..b.tag_to() - p)
        .collect()
}

/// The answer a stream gave: its answer span, else the tail of its text, with the structure
/// tags left out (they are structure, not words).
pub fn answer_of(timeline: &Timeline) -> String {
    let tokens = timeline.tokens();
    let tags = tag_ranges(timeline);
    let words = |i: &usize| !tags.iter().any(|r| r.contains(&(*i as u64)));
    let answer: String = (0..tokens.len())
        .filter(|&i| tokens.span(i) == TokenSpan::Answer)
        .filter(words)
        .map(|i| tokens.text(i))
        .collect();
    let answer = answer.trim();
    if !answer.is_empty() {
        return answer.split_whitespace().collect::<Vec<_>>().join(" ");
    }
    let text: String = (0..tokens.len())
        .filter(words)
        .map(|i| tokens.text(i))
        .collect();
    let all = text.split_whitespace().collect::<Vec<_>>();
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
    crate::timeline::decode_rate(timeline)
}

/// The peak-KV comparison of two streams (`a` the reference, full context): over the tokens
/// both generated, so a stream that ran longer is not charged for its extra length, and over
/// each whole run.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct PeakComparison {
    /// Generated tokens both streams have: the shorter stream's length.
    pub equal_tokens: u64,
    /// Peak live KV entries of (a, b) up to `equal_tokens`.
    pub equal: (u64, u64),
    /// Peak live KV entries of (a, b) over each whole run.
    pub whole: (u64, u64),
}

impl PeakComparison {
    pub fn new(a: &Timeline, b: &Timeline) -> PeakComparison {
        let n = a.len().min(b.len());
        PeakComparison {
            equal_tokens: n,
            equal: (a.state_at(n).peak, b.state_at(n).peak),
            whole: (a.state().peak, b.state().peak),
        }
    }

    /// b's peak over a's, at equal length.
    pub fn equal_ratio(&self) -> f64 {
        self.equal.1 as f64 / self.equal.0.max(1) as f64
    }

    /// b's peak over a's, over the whole runs.
    pub fn whole_ratio(&self) -> f64 {
        self.whole.1 as f64 / self.whole.0.max(1) as f64
    }
}

pub const SUMMARY_HEIGHT: u16 = 7;

pub fn summary(frame: &mut Frame, area: Rect, a: &StreamResult, b: &StreamResult, theme: &Theme) {
    let block = Block::new()
        .borders(Borders::ALL)
        .border_style(Style::new().fg(theme.title))
        .title(Span::styled(" Summary ", theme.title_style()));
    let inner = block.inner(area);
    frame.render_widget(block, area);
    let dim = Style::new().fg(theme.dim);
    let bold = Style::new().fg(theme.text).add_modifier(Modifier::BOLD);
    let peaks = PeakComparison::new(a.timeline, b.timeline);
    let width = inner.width as usize;
    let mut lines = Vec::new();
    lines.push(fitted_line(
        vec![
            Part::new(
                9,
                vec![
                    Span::styled("peak KV ", dim),
                    Span::styled(
                        format!("{}/{}", b.label, a.label),
                        Style::new().fg(theme.text),
                    ),
                ],
            ),
            Part::new(
                10,
                vec![
                    Span::styled(" at equal length ", dim),
                    Span::styled(
                        format!(
                            "{} / {} = {:.2}×",
                            count(peaks.equal.1),
                            count(peaks.equal.0),
                            peaks.equal_ratio()
                        ),
                        bold,
                    ),
                ],
            ),
            Part::text(3, format!(" ({} tok)", count(peaks.equal_tokens)), dim),
            Part::new(
                7,
                vec![
                    Span::styled(" · whole run ", dim),
                    Span::styled(
                        format!(
                            "{} / {} = {:.2}×",
                            count(peaks.whole.1),
                            count(peaks.whole.0),
                            peaks.whole_ratio()
                        ),
                        bold,
                    ),
                ],
            ),
        ],
        width,
    ));
    let mut second = vec![
        Part::text(6, "tokens ", dim),
        Part::text(
            6,
            format!("{} / {}", count(b.timeline.len()), count(a.timeline.len())),
            bold,
        ),
    ];
    if let (Some(ra), Some(rb)) = (a.decode_tok_s, b.decode_tok_s) {
        if ra > 0.0 {
            second.push(Part::text(4, " · decode ", dim));
            second.push(Part::text(
                4,
                format!("{rb:.1} / {ra:.1} tok/s = {:.2}×", rb / ra),
                bold,
            ));
        }
    }
    lines.push(fitted_line(second, width));
    // Each stream gets the same rows for its answer, so a long one never hides the other.
    let rows_each = (inner.height as usize).saturating_sub(2) / 2;
    for s in [a, b] {
        let segments = [
            (
                format!("{:<8}", s.label),
                Style::new()
                    .fg(theme.policy_colour(s.label))
                    .add_modifier(Modifier::BOLD),
            ),
            (
                format!("{} · ", super::status::ended_label(s.timeline)),
                Style::new().fg(theme.key),
            ),
            (answer_of(s.timeline), Style::new().fg(theme.answer)),
        ];
        let mut wrapped = super::wrap(&segments, inner.width);
        if wrapped.len() > rows_each {
            wrapped.truncate(rows_each.max(1));
            if let Some(last) = wrapped.last_mut() {
                last.spans.push(Span::styled("…", dim));
            }
        }
        lines.extend(wrapped);
    }
    frame.render_widget(Paragraph::new(lines), inner);
}

/// A recorded pair, replayed side by side.
pub fn draw_pair(frame: &mut Frame, pair: &PairApp, caches: &mut Vec<ViewCache>) {
    let theme = &pair.chrome.theme;
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
    let text = Style::new().fg(theme.text);
    let end_of = |app: &App| {
        app.timeline
            .end()
            .map_or("running".to_string(), |e| e.reason.label().to_string())
    };
    title_bar(
        frame,
        title_area,
        theme,
        "compare replay",
        vec![
            Part::text(
                8,
                format!(
                    "{}: {} · {}: {}",
                    a.timeline.header.policy.label(),
                    end_of(a),
                    b.timeline.header.policy.label(),
                    end_of(b)
                ),
                Style::new().fg(theme.key),
            ),
            Part::text(4, format!("{}  ·  {}", a.title, b.title), text),
            Part::text(
                3,
                a.timeline.header.model.name.clone(),
                Style::new().fg(theme.dim),
            ),
        ]
        .into_iter()
        .chain(super::status::sampler_part(&a.timeline, theme))
        .collect(),
    );
    let infos: Vec<ColumnInfo> = [a, b]
        .iter()
        .map(|app| {
            let state = app.timeline.state_at(app.cursor);
            ColumnInfo {
                label: app.timeline.header.policy.label(),
                // A narrow column cuts the end off: the KV figures go first.
                readout: vec![
                    format!("KV {}", count(state.live)),
                    format!("pk {}", count(state.peak)),
                    format!("tok {}/{}", count(app.cursor), count(app.len())),
                    plural(state.blocks_closed, "block"),
                ],
                ended: app
                    .timeline
                    .end()
                    .filter(|_| app.at_end())
                    .map(|e| e.reason.label().to_string()),
                flash: None,
            }
        })
        .collect();
    columns(frame, cols, &[a, b], theme, &infos, caches);
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
    let readout = playback_parts(
        pair.playing(),
        a.speed(),
        format!(
            "tok {}/{}",
            count(a.cursor.max(b.cursor)),
            count(pair.len())
        ),
        base,
    );
    status_bar(frame, status_area, &pair.chrome, pair.layers(), readout);
    super::chrome::help(frame, &pair.chrome);
}
