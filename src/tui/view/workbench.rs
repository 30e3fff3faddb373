//! The live workbench: the prompt editor on top, the stream below it (the replay's panes)
//! or two streams side by side in a compare run, and the live readouts in the bars.

use ratatui::Frame;
use ratatui::layout::{Constraint, Flex, Layout, Rect};
use ratatui::style::{Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, BorderType, Borders, Clear, Paragraph, Wrap};

use super::chrome::{Part, status_bar, title_bar};
use super::compare::{self, ColumnInfo, StreamResult};
use super::{AtCursor, ViewCache, body, fits};
use crate::live::WorkerState;
use crate::timeline::Timeline;
use crate::tui::chrome::Keyed;
use crate::tui::keys::LayerId;
use crate::tui::settings_panel::FIELDS;
use crate::tui::workbench::{Focus, LiveStream, Workbench};
use crate::units::{bytes, count, plural};

/// Per-stream caches, kept between frames.
#[derive(Default)]
pub struct WorkbenchCache {
    pub streams: Vec<ViewCache>,
}

pub fn draw(frame: &mut Frame, wb: &Workbench, cache: &mut WorkbenchCache) {
    let theme = &wb.chrome.theme;
    if !fits(frame, theme) {
        return;
    }
    while cache.streams.len() < wb.streams.len() {
        cache.streams.push(ViewCache::default());
    }
    let area = frame.area();
    let editing = wb.focus == Focus::Editor;
    // While a run is shown the prompt keeps two rows, from its start: enough to say what
    // was asked without taking the stream's room.
    let wrapped = wb.editor.wrapped_height(area.width.saturating_sub(2)) as u16;
    let editor_rows = if editing {
        wrapped.clamp(1, 6)
    } else {
        wrapped.clamp(1, 2)
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
            body(frame, body_area, app, theme, &at, &mut cache.streams[0]);
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
                    readout: readout(s),
                    ended: s.end_reason().map(|r| r.label().to_string()),
                    flash: s.flashing(),
                })
                .collect();
            compare::columns(frame, cols, &apps, theme, &infos, &mut cache.streams);
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
    super::chrome::help(frame, &wb.chrome);
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
    let theme = &wb.chrome.theme;
    let text = Style::new().fg(theme.text);
    let (glyph, word) = state_label(wb.state);
    let mut state = format!("{glyph} {word}");
    let ends: Vec<String> = wb
        .streams
        .iter()
        .filter_map(|s| {
            s.end_reason()
                .map(|r| format!("{}: {}", s.label, r.label()))
        })
        .collect();
    if !ends.is_empty() {
        state = format!("{state} ({})", ends.join(", "));
    }
    title_bar(
        frame,
        area,
        theme,
        if wb.compare { "compare" } else { "workbench" },
        vec![
            Part::text(5, wb.model.clone(), text),
            Part::text(
                8,
                state,
                Style::new().fg(theme.key).add_modifier(Modifier::BOLD),
            ),
            Part::text(
                4,
                wb.settings.summary_with(wb.effective_sampler()),
                Style::new().fg(theme.dim),
            ),
        ],
    );
}

/// The prompt pane; returns where the terminal cursor goes while editing.
fn editor(frame: &mut Frame, area: Rect, wb: &Workbench) -> Option<ratatui::layout::Position> {
    let theme = &wb.chrome.theme;
    let focused = wb.focus == Focus::Editor;
    let border = if focused {
        Style::new().fg(theme.title)
    } else {
        theme.border_style()
    };
    // The keys that reach the editor now, from its layer.
    let layers = if focused {
        vec![LayerId::Editor]
    } else {
        vec![LayerId::Decode]
    };
    let hints = wb.chrome.keys.hints(&layers);
    let hints: Vec<String> = hints
        .iter()
        .filter(|(_, h)| focused || h == "prompt")
        .map(|(k, h)| format!("{k} {h}"))
        .collect();
    let hint = format!(" {} ", hints.join(" · "));
    let block = Block::new()
        .borders(Borders::ALL)
        .border_style(border)
        .title(Span::styled(" Prompt ", theme.title_style()))
        .title(Line::from(Span::styled(hint, Style::new().fg(theme.dim))).right_aligned());
    let inner = block.inner(area);
    frame.render_widget(block, area);
    let placeholder = format!(
        "Type a prompt · {}",
        wb.chrome
            .keys
            .hints(&[LayerId::Editor])
            .iter()
            .filter(|(_, h)| h != "done")
            .map(|(k, h)| format!("{k} {h}"))
            .collect::<Vec<_>>()
            .join(" · ")
    );
    wb.editor
        .render(inner, frame.buffer_mut(), theme, focused, &placeholder)
        .filter(|_| focused && !wb.chrome.help)
}

fn welcome(frame: &mut Frame, area: Rect, wb: &Workbench) {
    let theme = &wb.chrome.theme;
    let text = |t: &str| Span::styled(t.to_string(), Style::new().fg(theme.text));
    let dim = |t: &str| Span::styled(t.to_string(), Style::new().fg(theme.dim));
    // The keys are the layers' own, so the hints name what each key does where it is pressed.
    let keys = |layers: &[LayerId]| -> Line<'static> {
        let mut spans = Vec::new();
        for (i, (k, h)) in wb.chrome.keys.hints(layers).into_iter().enumerate() {
            if i > 0 {
                spans.push(dim(" · "));
            }
            spans.push(Span::styled(
                k,
                Style::new().fg(theme.key).add_modifier(Modifier::BOLD),
            ));
            spans.push(text(&format!(" {h}")));
        }
        Line::from(spans)
    };
    let view = [LayerId::Decode, LayerId::Nav, LayerId::App];
    let mut lines = vec![
        Line::from(text(
            "Type a prompt above and press enter: the model reasons in blocks, each closed by a memento, and the block's KV entries are evicted.",
        )),
        Line::from(""),
    ];
    if wb.focus == Focus::Editor {
        lines.push(Line::from(dim("while typing:")));
        lines.push(keys(&[LayerId::Editor]));
        lines.push(Line::from(dim("then, out of the editor:")));
    }
    lines.push(keys(&view));
    lines.push(Line::from(""));
    lines.push(Line::from(Span::styled(
        format!("next run: {}", wb.settings.summary()),
        Style::new().fg(theme.dim),
    )));
    let block = Block::new()
        .borders(Borders::ALL)
        .border_style(theme.border_style())
        .title(Span::styled(" Workbench ", theme.title_style()));
    frame.render_widget(
        Paragraph::new(lines).wrap(Wrap { trim: true }).block(block),
        area,
    );
}

/// Live numbers for one column of a compare run, most important first.
fn readout(s: &LiveStream) -> Vec<String> {
    let state = s
        .app
        .as_ref()
        .map(|a| a.timeline.state().clone())
        .unwrap_or_default();
    vec![
        format!("KV {}", count(state.live)),
        format!("pk {}", count(state.peak)),
        format!("{} tok", count(state.generated)),
        format!("{:.1} tok/s", s.timings.decode_tok_s()),
        plural(state.blocks_closed, "block"),
    ]
}

/// The single stream's numbers, by priority: the KV figures last to go. The decode speed
/// names the device it was measured on, when the engine has one.
fn readout_parts(s: &LiveStream, device: Option<&str>, style: Style) -> Vec<Part> {
    let state = s
        .app
        .as_ref()
        .map(|a| a.timeline.state().clone())
        .unwrap_or_default();
    let t = &s.timings;
    vec![
        Part::text(
            80,
            match device {
                Some(d) => format!(" {d} decode {:.1} tok/s", t.decode_tok_s()),
                None => format!(" decode {:.1} tok/s", t.decode_tok_s()),
            },
            style,
        ),
        Part::text(85, format!("{} tok", count(state.generated)), style),
        Part::text(70, plural(state.blocks_closed, "block"), style),
        Part::text(
            95,
            format!("KV {} ({})", count(state.live), bytes(state.bytes)),
            style,
        ),
        Part::text(
            90,
            format!("peak {} ({})", count(state.peak), bytes(state.peak_bytes)),
            style,
        ),
        Part::text(
            40,
            format!("prefill {:.0} tok/s ", t.prefill_tok_s()),
            style,
        ),
    ]
}

fn status(frame: &mut Frame, area: Rect, wb: &Workbench) {
    let theme = &wb.chrome.theme;
    let base = Style::new().fg(theme.status_fg).bg(theme.status_bg);
    let mut readout = Vec::new();
    if wb.chrome.notice.is_some() {
    } else if let [single] = wb.streams.as_slice() {
        readout = readout_parts(single, wb.device.as_deref(), base);
    } else if wb.streams.len() > 1 && wb.state == WorkerState::Finished {
        let names: Vec<String> = wb
            .trace_paths()
            .iter()
            .filter_map(|p| p.file_name().map(|n| n.to_string_lossy().to_string()))
            .collect();
        readout.push(Part::text(
            30,
            format!(" recorded {} ", names.join(" + ")),
            base,
        ));
    }
    status_bar(frame, area, &wb.chrome, wb.layers(), readout);
}

/// The eviction flash over the KV panel's top border.
fn flash(frame: &mut Frame, body: Rect, wb: &Workbench, freed: u64) {
    let theme = &wb.chrome.theme;
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
    let theme = &wb.chrome.theme;
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
    if let Some(threads) = &wb.threads {
        lines.push(Line::from(vec![
            Span::styled(format!(" {:<15}", "threads"), Style::new().fg(theme.dim)),
            Span::styled(format!("  {threads}"), Style::new().fg(theme.dim)),
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
