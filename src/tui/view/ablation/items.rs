//! The Items tab: every item with its tokens, blocks, each arm's mean KL and answers (✓ right,
//! ✗ wrong, · no reference), and for the selected one its prompt, the KL at each position
//! under each arm, and the command that replays its trace (Enter opens it here).

use ratatui::Frame;
use ratatui::layout::{Constraint, Flex, Layout, Rect};
use ratatui::style::{Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Cell, Paragraph, Row, Sparkline, Table, TableState, Wrap};

use super::overview::num;
use super::{arm_color, clip, count, kl, panel};
use crate::ablate::results::AnswerRow;
use crate::ablate::summary::ItemView;
use crate::tui::ablation::AblationApp;
use crate::tui::theme::Theme;

/// Sparkline bars carry integers: KL in millionths of a nat.
const SCALE: f64 = 1e6;

pub fn draw(frame: &mut Frame, area: Rect, app: &AblationApp) {
    let theme = &app.chrome.theme;
    let s = &app.summary;
    if s.items.is_empty() {
        let block = panel(theme, "Items".into());
        let inner = block.inner(area);
        frame.render_widget(block, area);
        frame.render_widget(
            Paragraph::new("no finished item yet").style(Style::new().fg(theme.dim)),
            inner,
        );
        return;
    }
    // The list as tall as its items, up to two fifths; the selected item below.
    let list_height = (s.items.len() as u16 + 3).min((area.height * 2 / 5).max(5));
    let [list_area, detail_area] =
        Layout::vertical([Constraint::Length(list_height), Constraint::Fill(1)]).areas(area);
    list(frame, list_area, app);
    let selected = app.item.min(s.items.len() - 1);
    detail(frame, detail_area, app, &s.items[selected]);
}

/// ✓, ✗, or · without a reference.
fn mark(a: &AnswerRow) -> &'static str {
    match a.correct {
        Some(true) => "✓",
        Some(false) => "✗",
        None => "·",
    }
}

fn list(frame: &mut Frame, area: Rect, app: &AblationApp) {
    let theme = &app.chrome.theme;
    let s = &app.summary;
    let text = Style::new().fg(theme.text);
    let seeds = s.settings.seeds.len().max(1);
    let rows = s.items.iter().map(|item| {
        let r = &item.result;
        let mut cells = vec![
            Cell::from(r.item.clone()).style(text),
            num(r.tokens.to_string(), text),
            num(r.blocks.to_string(), text),
        ];
        for (arm, answers) in item.arms.iter().zip(&item.answers) {
            let value = arm.as_ref().map_or("—".into(), |a| kl(a.all.mean_kl));
            let marks: String = answers.iter().map(mark).collect();
            cells.push(num(format!("{value} {marks:<seeds$}"), text));
        }
        Row::new(cells)
    });
    let id_width = s
        .items
        .iter()
        .map(|i| i.result.item.chars().count())
        .max()
        .unwrap_or(4)
        .clamp(4, 24) as u16;
    let mut widths = vec![
        Constraint::Length(id_width),
        Constraint::Length(6),
        Constraint::Length(6),
    ];
    let arm_width = (7 + seeds) as u16;
    widths.extend(s.arm_names().iter().map(|_| Constraint::Length(arm_width)));
    let mut header = vec![
        Cell::from("item"),
        num("tokens".into(), Style::new()),
        num("blocks".into(), Style::new()),
    ];
    header.extend(s.arm_names().iter().enumerate().map(|(i, a)| {
        num(
            clip(a, arm_width as usize),
            Style::new().fg(arm_color(theme, a, i)),
        )
    }));
    let table = Table::new(rows, widths)
        .header(Row::new(header).style(Style::new().fg(theme.title).add_modifier(Modifier::BOLD)))
        .column_spacing(2)
        .flex(Flex::Start)
        .row_highlight_style(
            Style::new()
                .bg(theme.selection)
                .add_modifier(Modifier::BOLD),
        )
        .highlight_symbol("▸ ")
        .block(panel(
            theme,
            "Items · mean KL and answers per arm (✓ right ✗ wrong · no reference)".into(),
        ));
    let mut state = TableState::default().with_selected(Some(app.item.min(s.items.len() - 1)));
    frame.render_stateful_widget(table, area, &mut state);
}

fn detail(frame: &mut Frame, area: Rect, app: &AblationApp, item: &ItemView) {
    let theme = &app.chrome.theme;
    let r = &item.result;
    let block = panel(
        theme,
        format!(
            "{} · {} · {} · {}",
            r.item,
            count(r.tokens, "token"),
            count(r.blocks, "block"),
            count(r.mementos, "memento")
        ),
    );
    let inner = block.inner(area);
    frame.render_widget(block, area);
    if inner.height == 0 || inner.width < 20 {
        return;
    }
    let dim = Style::new().fg(theme.dim);
    let text = Style::new().fg(theme.text);
    let arms = app.summary.arm_names().len() as u16;
    // Always the prompt, the arms' rows and the replay command; the figures per span when
    // there is room.
    let needed = 2 + arms + 2;
    let table_rows = if inner.height >= needed + arms + 2 {
        arms + 2
    } else {
        0
    };
    // The replay command whole, on two lines if it needs them, so it can be copied.
    let trace = item.trace.display().to_string();
    let hint_text = format!("enter opens the trace · memento replay {trace}");
    let hint_height = if hint_text.chars().count() > inner.width as usize {
        2
    } else {
        1
    };
    let [head, sparks, spans, _, hint] = Layout::vertical([
        Constraint::Length(2),
        Constraint::Length(arms),
        Constraint::Length(table_rows),
        Constraint::Fill(1),
        Constraint::Length(hint_height),
    ])
    .areas(inner);
    let width = inner.width as usize;
    let head_lines = vec![
        Line::from(vec![
            Span::styled("prompt ", dim),
            Span::styled(
                clip(&r.prompt.replace('\n', " "), width.saturating_sub(7)),
                text,
            ),
        ]),
        Line::from(vec![
            Span::styled("reference ", dim),
            Span::styled(r.reference.clone().unwrap_or_else(|| "none".into()), text),
            Span::styled(
                "   KL per position (one scale) · mean · answers by seed",
                dim,
            ),
        ]),
    ];
    frame.render_widget(Paragraph::new(head_lines), head);
    spark_rows(frame, sparks, app, item);
    if table_rows > 0 {
        span_table(frame, spans, app, item);
    }
    let hint_line = if item.trace.exists() {
        Line::from(vec![
            Span::styled(
                "enter",
                Style::new().fg(theme.key).add_modifier(Modifier::BOLD),
            ),
            Span::styled(" opens the trace · ", dim),
            Span::styled(format!("memento replay {trace}"), text),
        ])
    } else {
        Line::from(Span::styled(
            format!("no trace at {trace}"),
            Style::new().fg(theme.warning),
        ))
    };
    frame.render_widget(Paragraph::new(hint_line).wrap(Wrap { trim: false }), hint);
}

/// Per arm: its name, the KL at each position as a sparkline, the mean, the answers.
fn spark_rows(frame: &mut Frame, area: Rect, app: &AblationApp, item: &ItemView) {
    let theme = &app.chrome.theme;
    let dim = Style::new().fg(theme.dim);
    let text = Style::new().fg(theme.text);
    // One scale for every arm's sparkline, so their heights compare.
    let max = item.kl.iter().flatten().fold(0.0f64, |m, &v| m.max(v));
    let label = super::overview::arm_width(app) + 1;
    let value = 8u16;
    let spark_width = area
        .width
        .saturating_sub(label + value + answers_width(item) as u16 + 2)
        .max(1);
    for (i, arm) in app.summary.arm_names().iter().enumerate() {
        if i as u16 >= area.height {
            break;
        }
        let color = arm_color(theme, arm, i);
        let row = Rect::new(area.x, area.y + i as u16, area.width, 1);
        let [name_area, spark_area, value_area, answers_area] = Layout::horizontal([
            Constraint::Length(label),
            Constraint::Length(spark_width),
            Constraint::Length(value + 1),
            Constraint::Fill(1),
        ])
        .areas(row);
        frame.render_widget(
            Paragraph::new(arm.clone()).style(Style::new().fg(color)),
            name_area,
        );
        let series = &item.kl[i];
        if series.is_empty() {
            frame.render_widget(Paragraph::new("(no positions)").style(dim), spark_area);
        } else {
            let data = buckets(series, spark_width as usize);
            frame.render_widget(
                Sparkline::default()
                    .data(&data)
                    .max((max * SCALE).round().max(1.0) as u64)
                    .style(Style::new().fg(color).bg(theme.gauge_empty)),
                spark_area,
            );
        }
        let mean = item.arms[i]
            .as_ref()
            .map_or("—".into(), |a| kl(a.all.mean_kl));
        frame.render_widget(Paragraph::new(format!(" {mean}")).style(text), value_area);
        frame.render_widget(
            Paragraph::new(answers_line(theme, &item.answers[i])),
            answers_area,
        );
    }
}

/// The item's figures per arm and span, as its summary line records them.
fn span_table(frame: &mut Frame, area: Rect, app: &AblationApp, item: &ItemView) {
    let theme = &app.chrome.theme;
    let text = Style::new().fg(theme.text);
    let dim = Style::new().fg(theme.dim);
    let agg = |a: &crate::ablate::metrics::Aggregate| {
        if a.positions == 0 {
            num("—".into(), dim)
        } else {
            num(kl(a.mean_kl), text)
        }
    };
    let rows = app
        .summary
        .arm_names()
        .iter()
        .zip(&item.arms)
        .enumerate()
        .map(|(i, (name, arm))| {
            let mut cells =
                vec![Cell::from(name.clone()).style(Style::new().fg(arm_color(theme, name, i)))];
            match arm {
                Some(a) => cells.extend([
                    agg(&a.all),
                    agg(&a.block),
                    agg(&a.memento),
                    agg(&a.answer),
                    num(super::percent(a.all.top1_agreement), text),
                    num(format!("{}/{}", a.correct, a.answered), text),
                ]),
                None => cells.push(Cell::from("not in this item's summary").style(dim)),
            }
            Row::new(cells)
        });
    let widths = [
        Constraint::Length(super::overview::arm_width(app)),
        Constraint::Length(7),
        Constraint::Length(7),
        Constraint::Length(7),
        Constraint::Length(7),
        Constraint::Length(6),
        Constraint::Length(7),
    ];
    let header = Row::new(
        ["arm", "all", "block", "memento", "answer", "top-1", "right"]
            .into_iter()
            .enumerate()
            .map(|(i, h)| {
                if i == 0 {
                    Cell::from(h)
                } else {
                    num(h.into(), Style::new())
                }
            }),
    )
    .style(Style::new().fg(theme.title).add_modifier(Modifier::BOLD));
    let [title, table] = Layout::vertical([Constraint::Length(1), Constraint::Fill(1)]).areas(area);
    frame.render_widget(
        Paragraph::new("mean KL by span for this item, top-1 agreement, answers right").style(dim),
        title,
    );
    frame.render_widget(
        Table::new(rows, widths)
            .header(header)
            .column_spacing(2)
            .flex(Flex::Start),
        table,
    );
}

/// Columns the answers of the widest arm take.
fn answers_width(item: &ItemView) -> usize {
    item.answers
        .iter()
        .map(|answers| {
            answers
                .iter()
                .map(|a| answer_text(a).chars().count() + 3)
                .sum::<usize>()
        })
        .max()
        .unwrap_or(0)
        .min(30)
}

fn answer_text(a: &AnswerRow) -> String {
    clip(a.answer.as_deref().unwrap_or("—"), 8)
}

fn answers_line(theme: &Theme, answers: &[AnswerRow]) -> Line<'static> {
    let mut spans = Vec::new();
    for a in answers {
        let color = match a.correct {
            Some(true) => theme.gauge_ok,
            Some(false) => theme.gauge_danger,
            None => theme.dim,
        };
        spans.push(Span::styled(answer_text(a), Style::new().fg(theme.text)));
        spans.push(Span::styled(
            format!(" {}  ", mark(a)),
            Style::new().fg(color),
        ));
    }
    Line::from(spans)
}

/// `values` in `width` buckets, each its largest value (so a spike shows), as integers.
fn buckets(values: &[f64], width: usize) -> Vec<u64> {
    let n = values.len();
    let m = width.max(1).min(n);
    (0..m)
        .map(|b| {
            // With no more buckets than values, every bucket holds at least one.
            let top = values[b * n / m..(b + 1) * n / m]
                .iter()
                .fold(0.0f64, |t, &v| t.max(v));
            (top * SCALE).round() as u64
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buckets_keep_each_span_s_largest_value() {
        let values = [0.0, 1.0, 0.5, 0.25, 2.0, 0.0];
        assert_eq!(buckets(&values, 3), [1_000_000, 500_000, 2_000_000]);
        // Fewer values than columns: one bar each.
        assert_eq!(buckets(&values[..2], 10), [0, 1_000_000]);
    }
}
