//! The memento list: every block reached so far with its length, its memento's length and
//! the compression between them; the selected memento's text below when there is room.

use ratatui::Frame;

use crate::tui::theme::Theme;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::{Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, List, ListItem, ListState, Paragraph, Wrap};

use super::AtCursor;
use crate::structure::BlockOutline;
use crate::tui::app::{App, Focus};
use crate::units::count;

pub fn draw(frame: &mut Frame, area: Rect, app: &App, theme: &Theme, at: &AtCursor) {
    let shown_to = app.timeline.prompt_len() + app.cursor;
    let blocks = &at.outline.blocks;
    let mementos = blocks.iter().filter(|b| b.memento_close.is_some()).count();
    let focused = app.focus == Focus::Mementos;
    let border = if focused {
        Style::new().fg(theme.title)
    } else {
        theme.border_style()
    };
    let outer = Block::new()
        .borders(Borders::ALL)
        .border_style(border)
        .title(Span::styled(
            format!(" Mementos {mementos}/{} ", blocks.len()),
            theme.title_style(),
        ));
    let inner = outer.inner(area);
    frame.render_widget(outer, area);
    if inner.height == 0 {
        return;
    }
    let show_text = inner.height >= 12;
    let [list_area, text_area] = if show_text {
        Layout::vertical([Constraint::Fill(1), Constraint::Length(inner.height / 2)]).areas(inner)
    } else {
        [inner, Rect::default()]
    };

    let items: Vec<ListItem> = blocks
        .iter()
        .map(|b| {
            let blk = b.content_tokens(shown_to);
            let mem_range = b.memento_content(shown_to);
            let mem = mem_range.as_ref().map_or(0, |r| r.end - r.start);
            let closed = b.memento_close.is_some();
            let content = b.content(shown_to);
            let is_evicted = at.is_evicted(&content);
            let (glyph, colour) = if is_evicted {
                ("✂", theme.evicted)
            } else if closed {
                ("●", theme.memento)
            } else if mem_range.is_some() {
                ("✎", theme.memento)
            } else {
                ("…", theme.block)
            };
            let ratio = if closed && mem > 0 && blk > 0 {
                format!("{:>5.1}×", blk as f64 / mem as f64)
            } else {
                "     -".into()
            };
            let memento = if mem_range.is_some() {
                format!("{mem:<5}")
            } else {
                "-    ".into()
            };
            // The eviction log: entries the block's eviction freed, once it has happened.
            let freed = app
                .timeline
                .evictions_at_cursors()
                .find(|(cursor, e)| e.block == b.index && *cursor <= app.cursor)
                .map_or(String::new(), |(_, e)| format!(" −{}", count(e.freed)));
            ListItem::new(Line::from(vec![
                Span::styled(format!("{glyph} "), Style::new().fg(colour)),
                Span::styled(format!("#{:<3}", b.index + 1), Style::new().fg(theme.text)),
                Span::styled(
                    format!("{blk:>6}",),
                    Style::new().fg(if is_evicted {
                        theme.evicted
                    } else {
                        theme.block
                    }),
                ),
                Span::styled("→", Style::new().fg(theme.dim)),
                Span::styled(memento, Style::new().fg(theme.memento)),
                Span::styled(ratio, Style::new().fg(theme.text)),
                Span::styled(freed, Style::new().fg(theme.evicted)),
            ]))
        })
        .collect();
    let selected = app.selected.min(blocks.len().saturating_sub(1));
    let mut state = ListState::default().with_selected((!blocks.is_empty()).then_some(selected));
    let header = Line::from(Span::styled(
        "    #   block→memento  ratio  freed",
        Style::new().fg(theme.dim),
    ));
    let [head_area, rows_area] =
        Layout::vertical([Constraint::Length(1), Constraint::Fill(1)]).areas(list_area);
    frame.render_widget(Paragraph::new(header), head_area);
    let list = List::new(items).highlight_style(
        Style::new()
            .bg(theme.selection)
            .add_modifier(Modifier::BOLD),
    );
    frame.render_stateful_widget(list, rows_area, &mut state);

    if show_text {
        if let Some(b) = blocks.get(selected) {
            let text = memento_text(app, b, shown_to);
            let title = format!(" memento {} ", b.index + 1);
            let para = Paragraph::new(Span::styled(text, Style::new().fg(theme.memento)))
                .wrap(Wrap { trim: true })
                .block(
                    Block::new()
                        .borders(Borders::TOP)
                        .border_style(theme.border_style())
                        .title(Span::styled(title, Style::new().fg(theme.dim))),
                );
            frame.render_widget(para, text_area);
        }
    }
}

/// The memento's text as far as the playhead has reached.
fn memento_text(app: &App, b: &BlockOutline, shown_to: u64) -> String {
    let p = app.timeline.prompt_len();
    match b.memento_content(shown_to) {
        Some(r) => {
            let from = r.start.saturating_sub(p) as usize;
            let to = r.end.min(shown_to).saturating_sub(p) as usize;
            let tokens = app.timeline.tokens();
            let mut text = tokens.text_between(from, to.max(from));
            // A closing tag still being spelled is structure to come, not memento text.
            if let Some(held) = super::reasoning::held_tag_start(&app.timeline, app.cursor as usize)
            {
                let start = if from < tokens.len() {
                    tokens.range(from).start
                } else {
                    tokens.all_text().len()
                };
                if held >= start {
                    let keep = (held - start).min(text.len());
                    text = &text[..keep];
                }
            }
            text.trim().to_string()
        }
        None => "(no memento yet)".into(),
    }
}
