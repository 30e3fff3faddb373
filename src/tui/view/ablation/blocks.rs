//! The Blocks tab: mean KL per block index (positions in the block or in its memento) per
//! arm, as grouped bars and as numbers, for all items or one.

use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::{Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Bar, BarChart, BarGroup, Cell, Paragraph, Row, Table};

use super::overview::num;
use super::{arm_color, kl, panel};
use crate::tui::ablation::AblationApp;

/// Bars carry integers: KL in millionths of a nat.
const SCALE: f64 = 1e6;

pub fn draw(frame: &mut Frame, area: Rect, app: &AblationApp) {
    let theme = &app.chrome.theme;
    let s = &app.summary;
    let table = s.blocks(app.scope);
    let arms = s.arm_names();
    let block = panel(
        theme,
        format!(
            "Mean KL by block index · {} (↑↓ all items or one)",
            s.scope_name(app.scope)
        ),
    );
    let inner = block.inner(area);
    frame.render_widget(block, area);
    if table.blocks.is_empty() {
        frame.render_widget(
            Paragraph::new("no block closed here: no position belongs to a block or memento")
                .style(Style::new().fg(theme.dim)),
            inner,
        );
        return;
    }
    let numbers_height = (table.blocks.len() as u16 + 1).min(inner.height / 2);
    let [legend_area, chart_area, numbers_area] = Layout::vertical([
        Constraint::Length(1),
        Constraint::Fill(1),
        Constraint::Length(numbers_height),
    ])
    .areas(inner);

    let mut legend = Vec::new();
    for (i, arm) in arms.iter().enumerate() {
        legend.push(Span::styled(
            "■ ",
            Style::new().fg(arm_color(theme, arm, i)),
        ));
        legend.push(Span::styled(
            format!("{arm}  "),
            Style::new().fg(theme.text),
        ));
    }
    legend.push(Span::styled(
        "bars: mean KL, nats",
        Style::new().fg(theme.dim),
    ));
    frame.render_widget(Paragraph::new(Line::from(legend)), legend_area);

    // Bars as wide as the room allows, the groups a gap apart.
    let groups = table.blocks.len() as u16;
    let per_group = arms.len().max(1) as u16;
    let group_gap = 2;
    let room = chart_area
        .width
        .saturating_sub(group_gap * groups.saturating_sub(1));
    let bar_width = (room / groups.max(1) / per_group).clamp(1, 7);
    let mut chart = BarChart::default()
        .bar_width(bar_width)
        .bar_gap(0)
        .group_gap(group_gap)
        .value_style(Style::new().fg(theme.status_bg).bg(theme.text))
        .label_style(Style::new().fg(theme.text));
    for (b, per_arm) in table.blocks.iter().zip(&table.means) {
        let bars: Vec<Bar> = per_arm
            .iter()
            .enumerate()
            .map(|(i, agg)| {
                let color = arm_color(theme, &arms[i], i);
                Bar::default()
                    .value((agg.mean_kl * SCALE).round() as u64)
                    .text_value(if bar_width >= 6 {
                        format!("{:.3}", agg.mean_kl)
                    } else {
                        String::new()
                    })
                    .style(Style::new().fg(color))
                    .value_style(Style::new().fg(theme.status_bg).bg(color))
            })
            .collect();
        chart = chart.data(
            BarGroup::default()
                .label(Line::from(format!("block {}", b + 1)))
                .bars(&bars),
        );
    }
    frame.render_widget(chart, chart_area);
    if table.means.iter().flatten().all(|a| a.mean_kl == 0.0) {
        frame.render_widget(
            Paragraph::new("every arm's mean KL is 0 in these blocks and their mementos")
                .style(Style::new().fg(theme.dim)),
            chart_area,
        );
    }

    let text = Style::new().fg(theme.text);
    let rows = table.blocks.iter().zip(&table.means).map(|(b, per_arm)| {
        let mut cells = vec![Cell::from(format!("block {}", b + 1)).style(text)];
        cells.extend(
            per_arm
                .iter()
                .map(|agg| num(format!("{} ({})", kl(agg.mean_kl), agg.positions), text)),
        );
        Row::new(cells)
    });
    let mut widths = vec![Constraint::Length(9)];
    widths.extend(arms.iter().map(|_| Constraint::Length(15)));
    let header = Row::new(
        std::iter::once(Cell::from("")).chain(arms.iter().enumerate().map(|(i, a)| {
            Cell::from(Line::from(a.clone()).alignment(ratatui::layout::Alignment::Right))
                .style(Style::new().fg(arm_color(theme, a, i)))
        })),
    )
    .style(Style::new().add_modifier(Modifier::BOLD));
    frame.render_widget(
        Table::new(rows, widths).header(header).column_spacing(1),
        numbers_area,
    );
}
