//! The live workbench: the prompt editor on top, the stream below it (the replay's panes)
//! or two streams side by side in a compare run, and the live readouts in the bars.

use ratatui::Frame;
use ratatui::layout::{Constraint, Flex, Layout, Rect};
use ratatui::style::{Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, BorderType, Borders, Clear, Paragraph, Wrap};

use super::compare::{self, ColumnInfo, StreamResult};
use super::{AtCursor, ViewCache, body, fits, help};
use crate::live::WorkerState;
use crate::timeline::Timeline;
use crate::tui::settings_panel::FIELDS;
use crate::tui::workbench::{Focus, LiveStream, Workbench};
use crate::units::{bytes, count};

/// Per-stream caches, kept between frames.
#[derive(Default)]
pub struct WorkbenchCache {
    pub streams: Vec<ViewCache>,
}

pub fn draw(frame: &mut Frame, wb: &Workbench, cache: &mut WorkbenchCache) {
    let theme = &wb.theme;
    if !fits(frame, theme) {
        return;
    }
    while cache.streams.len() < wb.streams.len() {
        cache.streams.push(ViewCache::default());
    }
    let area = frame.area();
    let editing = wb.focus == Focus::Editor;
    let editor_rows = if editing {
        (wb.editor.wrapped_height(area.width.saturating_sub(2)) as u16).clamp(1, 6)
    } else {
        1
    };
    let apps: Vec<_> = wb.apps().collect();
    let compare = apps.len() > 1;
    let [title_area, editor_area, body_area, ruler_area, status_area] = Layout::vertical([
        Constraint::Length(1),
        Constraint::Length(editor_rows + 2),
        Constraint::Fill(1),
        Constraint::Length(u16::from(compare)),
        Constraint::Length(1),
    ])
    .areas(area);
    title(frame, title_area, wb);
    let cursor = editor(frame, editor_area, wb);
    match apps.as_slice() {
        [] => welcome(frame, body_area, wb),
        [app] => {
            let at = AtCursor::new(app);
            body(frame, body_area, app, &at, &mut cache.streams[0]);
            if let Some(freed) = wb.streams[0].flashing() {
                flash(frame, body_area, wb, freed);
            }
        }
        [a, b, ..] => {
            let finished = wb.streams.iter().all(|s| s.summary.is_some());
            let [cols, summary_area] = Layout::vertical([
                Constraint::Fill(1),
                Constraint::Length(if finished { compare::SUMMARY_HEIGHT } else { 0 }),
            ])
            .areas(body_area);
            let infos: Vec<ColumnInfo> = wb
                .streams
                .iter()
                .map(|s| ColumnInfo {
                    label: s.label.clone(),
                    readout: readout(s, true),
                    flash: s.flashing(),
                })
                .collect();
            compare::columns(frame, cols, &apps, &infos, &mut cache.streams);
            compare::ruler(frame, ruler_area, a, b, theme);
            if finished {
                fn result<'a>(s: &'a LiveStream, app: &'a Timeline) -> StreamResult<'a> {
                    StreamResult {
                        label: &s.label,
                        timeline: app,
                        decode_tok_s: s.summary.as_ref().map(|x| x.decode_tok_s),
                    }
                }
                compare::summary(
                    frame,
                    summary_area,
                    &result(&wb.streams[0], &a.timeline),
                    &result(&wb.streams[1], &b.timeline),
                    theme,
                );
            }
        }
    }
    status(frame, status_area, wb);
    if wb.settings_panel.is_some() {
        settings(frame, body_area, wb);
    } else if let Some(pos) = cursor {
        frame.set_cursor_position(pos);
    }
    if wb.help {
        help::draw(frame, area, &wb.keymap, theme);
    }
}

fn state_label(state: WorkerState) -> (&'static str, &'static str) {
    match state {
        WorkerState::Idle => ("○", "ready"),
        WorkerState::Running => ("▶", "decoding"),
        WorkerState::Paused => ("⏸", "paused"),
        WorkerState::Finished => ("■", "finished"),
    }
}

fn title(frame: &mut Frame, area: Rect, wb: &Workbench) {
    let theme = &wb.theme;
    let sep = Span::styled(" │ ", Style::new().fg(theme.border));
    let (glyph, word) = state_label(wb.state);
    let line = Line::from(vec![
        Span::styled(" memento ", theme.title_style()),
        sep.clone(),
        Span::styled(
            if wb.compare { "compare" } else { "workbench" },
            Style::new().fg(theme.text).add_modifier(Modifier::BOLD),
        ),
        sep.clone(),
        Span::styled(wb.model.clone(), Style::new().fg(theme.text)),
        sep.clone(),
        Span::styled(
            format!("{glyph} {word}"),
            Style::new().fg(theme.key).add_modifier(Modifier::BOLD),
        ),
        sep,
        Span::styled(wb.settings.summary(), Style::new().fg(theme.dim)),
    ]);
    frame.render_widget(
        Paragraph::new(line).style(Style::new().bg(theme.status_bg)),
        area,
    );
}

/// The prompt pane; returns where the terminal cursor goes while editing.
fn editor(frame: &mut Frame, area: Rect, wb: &Workbench) -> Option<ratatui::layout::Position> {
    let theme = &wb.theme;
    let focused = wb.focus == Focus::Editor;
    let border = if focused {
        Style::new().fg(theme.title)
    } else {
        theme.border_style()
    };
    let hint = if focused {
        " enter run · ctrl-o compare · alt-enter newline · ↑ history · esc done "
    } else {
        " e edit "
    };
    let block = Block::new()
        .borders(Borders::ALL)
        .border_style(border)
        .title(Span::styled(" Prompt ", theme.title_style()))
        .title(Line::from(Span::styled(hint, Style::new().fg(theme.dim))).right_aligned());
    let inner = block.inner(area);
    frame.render_widget(block, area);
    wb.editor
        .render(inner, frame.buffer_mut(), theme, focused)
        .filter(|_| focused && !wb.help)
}

fn welcome(frame: &mut Frame, area: Rect, wb: &Workbench) {
    let theme = &wb.theme;
    let key = |k: &str| {
        Span::styled(
            k.to_string(),
            Style::new().fg(theme.key).add_modifier(Modifier::BOLD),
        )
    };
    let text = |t: &str| Span::styled(t.to_string(), Style::new().fg(theme.text));
    let lines = vec![
        Line::from(text(
            "Type a prompt above and press enter: the model reasons in blocks, each closed by a memento, and the block's KV entries are evicted.",
        )),
        Line::from(""),
        Line::from(vec![
            key("enter"),
            text(" run in the mode below · "),
            key("ctrl-o"),
            text(" compare full context with it side by side"),
        ]),
        Line::from(vec![
            key("o"),
            text(" settings · "),
            key("space"),
            text(" run/pause · "),
            key("s"),
            text(" one token · "),
            key("b"),
            text(" to the block's end · "),
            key("?"),
            text(" every key"),
        ]),
        Line::from(""),
        Line::from(Span::styled(
            format!("next run: {}", wb.settings.summary()),
            Style::new().fg(theme.dim),
        )),
    ];
    let block = Block::new()
        .borders(Borders::ALL)
        .border_style(theme.border_style())
        .title(Span::styled(" Workbench ", theme.title_style()));
    frame.render_widget(
        Paragraph::new(lines).wrap(Wrap { trim: true }).block(block),
        area,
    );
}

/// Live numbers for one stream.
fn readout(s: &LiveStream, short: bool) -> String {
    let state = s
        .app
        .as_ref()
        .map(|a| a.timeline.state().clone())
        .unwrap_or_default();
    let t = &s.timings;
    if short {
        // A narrow column cuts the end off: the KV figures go first.
        format!(
            "KV {} pk {} · {:.1} tok/s · {} tok · {} blk",
            count(state.live),
            count(state.peak),
            t.decode_tok_s(),
            count(state.generated),
            state.blocks_closed,
        )
    } else {
        format!(
            "prefill {:.0} tok/s · decode {:.1} tok/s · {} tok · {} blocks · KV {} ({}) · peak {} ({})",
            t.prefill_tok_s(),
            t.decode_tok_s(),
            count(state.generated),
            state.blocks_closed,
            count(state.live),
            bytes(state.bytes),
            count(state.peak),
            bytes(state.peak_bytes)
        )
    }
}

fn status(frame: &mut Frame, area: Rect, wb: &Workbench) {
    let theme = &wb.theme;
    let base = Style::new().fg(theme.status_fg).bg(theme.status_bg);
    let mut spans = Vec::new();
    if let Some(notice) = &wb.notice {
        spans.push(Span::styled(format!(" {notice} "), base.fg(theme.warning)));
    } else if let [single] = wb.streams.as_slice() {
        spans.push(Span::styled(format!(" {} ", readout(single, false)), base));
    } else if wb.streams.len() > 1 && wb.state == WorkerState::Finished {
        let names: Vec<String> = wb
            .trace_paths()
            .iter()
            .filter_map(|p| p.file_name().map(|n| n.to_string_lossy().to_string()))
            .collect();
        spans.push(Span::styled(
            format!(" recorded {} ", names.join(" + ")),
            base,
        ));
    }
    let used: usize = spans.iter().map(|s| s.width()).sum();
    let mut hints = Vec::new();
    if wb.focus == Focus::View {
        for &action in &wb.keymap.hints {
            if let Some(key) = wb.keymap.keys_for(action).first() {
                hints.push(Span::styled(
                    key.clone(),
                    base.fg(theme.key).add_modifier(Modifier::BOLD),
                ));
                hints.push(Span::styled(format!(" {}  ", action.hint()), base));
            }
        }
    }
    let room = (area.width as usize).saturating_sub(used);
    // Drop hints from the right until they fit.
    while hints.iter().map(|s| s.width()).sum::<usize>() > room && hints.len() >= 2 {
        hints.truncate(hints.len() - 2);
    }
    let hint_width: usize = hints.iter().map(|s| s.width()).sum();
    spans.push(Span::styled(
        " ".repeat(room.saturating_sub(hint_width)),
        base,
    ));
    spans.extend(hints);
    frame.render_widget(Paragraph::new(Line::from(spans)).style(base), area);
}

/// The eviction flash over the KV panel's top border.
fn flash(frame: &mut Frame, body: Rect, wb: &Workbench, freed: u64) {
    let theme = &wb.theme;
    let kv_height = (body.height * 3 / 10).clamp(7, 16);
    let text = format!(" ▼ evicted {} entries ", count(freed));
    let width = text.chars().count() as u16;
    if body.width < width + 14 || body.height < kv_height {
        return;
    }
    let area = Rect::new(body.x + 12, body.y + body.height - kv_height, width, 1);
    frame.render_widget(
        Paragraph::new(Span::styled(
            text,
            Style::new()
                .fg(theme.status_bg)
                .bg(theme.evicted)
                .add_modifier(Modifier::BOLD),
        )),
        area,
    );
}

fn settings(frame: &mut Frame, area: Rect, wb: &Workbench) {
    let theme = &wb.theme;
    let Some(panel) = wb.settings_panel else {
        return;
    };
    let mut lines = Vec::new();
    for (i, field) in FIELDS.iter().enumerate() {
        let selected = i == panel.row;
        let style = if selected {
            Style::new()
                .fg(theme.text)
                .bg(theme.selection)
                .add_modifier(Modifier::BOLD)
        } else {
            Style::new().fg(theme.text)
        };
        lines.push(Line::from(vec![
            Span::styled(
                format!(" {:<15}", field.label()),
                Style::new().fg(theme.dim),
            ),
            Span::styled(
                format!(
                    "{}{}{}",
                    if selected { "◂ " } else { "  " },
                    field.value(&wb.settings),
                    if selected { " ▸" } else { "" }
                ),
                style,
            ),
        ]));
    }
    lines.push(Line::from(""));
    lines.push(Line::from(Span::styled(
        " ↑↓ field · ←→ change · enter done · for the next run",
        Style::new().fg(theme.dim),
    )));
    let width = 58.min(area.width);
    let height = (lines.len() as u16 + 2).min(area.height);
    let popup = super::popup(area, width, height, Flex::Center, Flex::Center);
    frame.render_widget(Clear, popup);
    let block = Block::new()
        .borders(Borders::ALL)
        .border_type(BorderType::Double)
        .border_style(Style::new().fg(theme.title))
        .title(Span::styled(" Settings ", theme.title_style()))
        .style(Style::new().bg(theme.status_bg));
    frame.render_widget(Paragraph::new(lines).block(block), popup);
}
