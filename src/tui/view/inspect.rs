//! The inspector (`i`): with the reasoning focused, the token at the playhead with its
//! log-probability and the alternatives the model weighed; with the memento list focused,
//! the selected memento's block, its evicted text marked as such, and the KV entries its
//! eviction freed.

use ratatui::Frame;

use crate::tui::theme::Theme;
use ratatui::layout::{Flex, Rect};
use ratatui::style::{Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, BorderType, Borders, Clear, Paragraph, Wrap};

use super::{AtCursor, ViewCache};
use crate::structure::BlockOutline;
use crate::timeline::TokenSpan;
use crate::tui::app::{App, Focus};
use crate::units::count;

pub fn draw(
    frame: &mut Frame,
    area: Rect,
    app: &App,
    theme: &Theme,
    at: &AtCursor,
    cache: &mut ViewCache,
) {
    let (title, lines) = match app.focus {
        Focus::Reasoning => token_lines(app, theme),
        Focus::Mementos => memento_lines(app, theme, at),
    };
    let width = area.width.min(64).max(area.width.min(30));
    let text = Paragraph::new(lines).wrap(Wrap { trim: false });
    // Sized by the rows the text wraps to; what does not fit scrolls (page keys).
    let rows = u16::try_from(text.line_count(width.saturating_sub(2))).unwrap_or(u16::MAX);
    let height = rows
        .saturating_add(2)
        .clamp(5, area.height.max(5))
        .min(area.height);
    let shown = height.saturating_sub(2);
    cache.inspect_max_scroll = rows.saturating_sub(shown);
    cache.inspect_page = shown.saturating_sub(1).max(1);
    let scroll = app.inspect_scroll.min(cache.inspect_max_scroll);
    let title = if cache.inspect_max_scroll > 0 {
        let last = (scroll + shown).min(rows);
        format!(" {title} · rows {}–{last}/{rows} · i closes ", scroll + 1)
    } else {
        format!(" {title} · i closes ")
    };
    let popup = super::popup(area, width, height, Flex::End, Flex::Start);
    frame.render_widget(Clear, popup);
    let block = Block::new()
        .borders(Borders::ALL)
        .border_type(BorderType::Rounded)
        .border_style(Style::new().fg(theme.title))
        .title(Span::styled(title, theme.title_style()))
        .style(Style::new().bg(theme.status_bg));
    let inner = block.inner(popup);
    frame.render_widget(block, popup);
    frame.render_widget(text.scroll((scroll, 0)), inner);
}

/// A token's text made visible: spaces and newlines shown, control characters escaped.
fn visible(text: &str) -> String {
    text.chars()
        .map(|c| match c {
            ' ' => "␣".to_string(),
            '\n' => "⏎".to_string(),
            '\t' => "⇥".to_string(),
            c if c.is_control() => c.escape_default().to_string(),
            c => c.to_string(),
        })
        .collect()
}

fn token_lines(app: &App, theme: &Theme) -> (String, Vec<Line<'static>>) {
    let label = Style::new().fg(theme.dim);
    let value = Style::new().fg(theme.text).add_modifier(Modifier::BOLD);
    if app.cursor == 0 {
        let text = "The playhead is at the prompt: step forward (. or l) to a token.";
        return ("token".into(), vec![Line::from(Span::styled(text, label))]);
    }
    let i = (app.cursor - 1) as usize;
    let tokens = app.timeline.tokens();
    let span = match tokens.span(i) {
        TokenSpan::Outside => "outside the reasoning".to_string(),
        TokenSpan::Think => "thinking".to_string(),
        TokenSpan::Block(b) => format!("block {}", b + 1),
        TokenSpan::Memento(Some(b)) => format!("memento {}", b + 1),
        TokenSpan::Memento(None) => "memento".to_string(),
        TokenSpan::Answer => "answer".to_string(),
    };
    let mut lines = vec![
        Line::from(vec![
            Span::styled("text ", label),
            Span::styled(format!("{} ", visible(tokens.text(i))), value),
            Span::styled(
                tokens.id(i).map_or(String::new(), |id| format!(" id {id}")),
                label,
            ),
        ]),
        Line::from(vec![
            Span::styled("in ", label),
            Span::styled(span, Style::new().fg(theme.text)),
            Span::styled(
                format!(" · position {}", app.timeline.pos_of(i as u64)),
                label,
            ),
            Span::styled(
                if tokens.scaffold(i) {
                    " · inserted by the runtime"
                } else {
                    ""
                },
                Style::new().fg(theme.tag),
            ),
        ]),
    ];
    match tokens.logprob(i) {
        Some(lp) => lines.push(Line::from(vec![
            Span::styled("logprob ", label),
            Span::styled(format!("{lp:.3}"), value),
            Span::styled(format!(" (p {:.1}%)", 100.0 * lp.exp()), label),
        ])),
        None => lines.push(Line::from(Span::styled("no logprob recorded", label))),
    }
    match tokens.top(i) {
        Some(top) if !top.is_empty() => {
            let penalized = top.iter().any(|a| a.sampled_logprob.is_some());
            lines.push(Line::from(Span::styled(
                if penalized {
                    "alternatives · model p → p the sampler saw (after its penalty and masks)"
                } else {
                    "alternatives · model p"
                },
                label,
            )));
            let chosen = tokens.id(i);
            for alt in top {
                let p = alt.logprob.exp();
                let bar = "█".repeat((p * 16.0).round().clamp(0.0, 16.0) as usize);
                let mark = alt.id.is_some() && alt.id == chosen;
                let style = if mark {
                    Style::new().fg(theme.memento).add_modifier(Modifier::BOLD)
                } else {
                    Style::new().fg(theme.text)
                };
                lines.push(Line::from(vec![
                    Span::styled(if mark { " ▸ " } else { "   " }, style),
                    Span::styled(format!("{:<14}", visible(&alt.text)), style),
                    Span::styled(format!("{:>7.3} {:>5.1}% ", alt.logprob, 100.0 * p), label),
                    match alt.sampled_logprob {
                        Some(sp) => Span::styled(
                            format!("→ {:>5.1}% ", 100.0 * sp.exp()),
                            Style::new().fg(theme.warning),
                        ),
                        None => Span::raw(""),
                    },
                    Span::styled(bar, Style::new().fg(theme.series_memento)),
                ]));
            }
        }
        _ => lines.push(Line::from(Span::styled("no alternatives recorded", label))),
    }
    (format!("token {} of {}", i + 1, count(app.len())), lines)
}

fn memento_lines(app: &App, theme: &Theme, at: &AtCursor) -> (String, Vec<Line<'static>>) {
    let label = Style::new().fg(theme.dim);
    let Some(block) = at.outline.blocks.get(app.selected) else {
        return (
            "memento".into(),
            vec![Line::from(Span::styled("No block reached yet.", label))],
        );
    };
    let end = app.timeline.pos_of(app.cursor);
    let content = block.content(end);
    let evicted = at.is_evicted(&content);
    let freed = freed_by(app, at, block);
    let mut lines = vec![Line::from(vec![
        Span::styled(
            format!("{} tokens · ", count(content.end - content.start)),
            label,
        ),
        match (evicted, freed) {
            (true, Some(f)) => Span::styled(
                format!("evicted: its memento freed {} KV entries", count(f)),
                Style::new().fg(theme.evicted).add_modifier(Modifier::BOLD),
            ),
            (true, None) => Span::styled("evicted", Style::new().fg(theme.evicted)),
            (false, _) => Span::styled("in the KV cache", Style::new().fg(theme.block)),
        },
    ])];
    match block.memento_content(end) {
        Some(m) => {
            lines.push(Line::from(Span::styled(
                format!("memento · {} tokens", count(m.end - m.start)),
                label,
            )));
            lines.push(Line::from(Span::styled(
                text_of(app, &m).trim().to_string(),
                Style::new().fg(theme.memento),
            )));
        }
        None => lines.push(Line::from(Span::styled("no memento yet", label))),
    }
    lines.push(Line::from(Span::styled(
        if evicted {
            "block text (evicted: no longer in the KV cache)"
        } else {
            "block text"
        },
        label,
    )));
    let style = if evicted {
        Style::new()
            .fg(theme.evicted)
            .add_modifier(Modifier::CROSSED_OUT)
    } else {
        Style::new().fg(theme.block)
    };
    for line in text_of(app, &content).trim().lines() {
        lines.push(Line::from(Span::styled(line.to_string(), style)));
    }
    (format!("block {}", block.index + 1), lines)
}

/// The text of generated positions `range` (prompt positions are left out).
fn text_of(app: &App, range: &std::ops::Range<u64>) -> String {
    let p = app.timeline.prompt_len();
    let from = range.start.saturating_sub(p) as usize;
    let to = (range.end.saturating_sub(p) as usize).min(app.timeline.tokens().len());
    app.timeline.tokens().text_between(from, to).to_string()
}

/// Entries freed by the eviction that removed `block`, if one has.
fn freed_by(app: &App, at: &AtCursor, block: &BlockOutline) -> Option<u64> {
    let content = block.content(at.outline.end);
    app.timeline
        .evictions()
        .iter()
        .find(|e| e.block == block.index || (e.from <= content.start && content.end <= e.to))
        .map(|e| e.freed)
}
