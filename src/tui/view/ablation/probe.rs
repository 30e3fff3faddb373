//! The Probe tab: when `probe.csv` is there, a row per arm, memento and role with the probe's
//! accuracy at every layer as coloured cells (0 to 100%) and the layer chosen on the
//! validation split, and for the selected row the accuracy per layer with its interval as a
//! chart.

use ratatui::Frame;
use ratatui::layout::{Constraint, Flex, Layout, Rect};
use ratatui::style::{Modifier, Style};
use ratatui::symbols::Marker;
use ratatui::text::{Line, Span};
use ratatui::widgets::{
    Axis, Cell, Chart, Dataset, GraphType, Paragraph, Row, Table, TableState, Wrap,
};

use super::overview::num;
use super::{arm_color, panel, percent, scale};
use crate::ablate::results::{PROBE, ProbeRow};
use crate::ablate::summary::ProbeSeries;
use crate::tui::ablation::AblationApp;

pub fn draw(frame: &mut Frame, area: Rect, app: &AblationApp) {
    let theme = &app.chrome.theme;
    let s = &app.summary;
    let Some(series) = s.probe.as_ref().filter(|p| !p.is_empty()) else {
        let block = panel(theme, "Probe".into());
        let inner = block.inner(area);
        frame.render_widget(block, area);
        let why = if s.probe.is_some() {
            format!("{PROBE} in {} has no rows.", s.dir.display())
        } else {
            format!(
                "No probe results: there is no {PROBE} in {}.",
                s.dir.display()
            )
        };
        let text = vec![
            Line::from(Span::styled(why, Style::new().fg(theme.text))),
            Line::from(""),
            Line::from(Span::styled(
                "The probe writes it (arm, memento, role, layer, test_samples, digits_correct, \
                 digits_total, accuracy, ci_low, ci_high); this tab shows it once it is there.",
                Style::new().fg(theme.dim),
            )),
        ];
        frame.render_widget(Paragraph::new(text).wrap(Wrap { trim: true }), inner);
        return;
    };
    let selected = app.probe_row.min(series.len() - 1);
    let table_height = (series.len() as u16 + 3).min(area.height / 2);
    let [table_area, chart_area] =
        Layout::vertical([Constraint::Length(table_height), Constraint::Fill(1)]).areas(area);
    table(frame, table_area, app, series, selected);
    chart(frame, chart_area, app, &series[selected]);
}

fn arm_index(app: &AblationApp, arm: &str) -> usize {
    let arms = app.summary.arm_names();
    arms.iter().position(|a| a == arm).unwrap_or(arms.len())
}

fn best_text(best: Option<&ProbeRow>) -> String {
    best.map_or("—".into(), |b| {
        format!(
            "L{} {} ({:.0}–{:.0}%)",
            b.layer,
            percent(b.accuracy),
            100.0 * b.ci_low,
            100.0 * b.ci_high
        )
    })
}

fn table(frame: &mut Frame, area: Rect, app: &AblationApp, series: &[ProbeSeries], at: usize) {
    let theme = &app.chrome.theme;
    let text = Style::new().fg(theme.text);
    let layers = series.iter().map(|s| s.layers.len()).max().unwrap_or(0);
    let rows = series.iter().map(|s| {
        let strip: Vec<Span> = s
            .layers
            .iter()
            .map(|r| {
                let bg = scale::color(theme, scale::level(r.accuracy, 1.0));
                Span::styled(" ", ratatui::style::Style::new().bg(bg))
            })
            .collect();
        Row::new(vec![
            Cell::from(s.arm.clone()).style(Style::new().fg(arm_color(
                theme,
                &s.arm,
                arm_index(app, &s.arm),
            ))),
            Cell::from(s.memento.to_string()).style(text),
            Cell::from(s.role.clone()).style(text),
            Cell::from(Line::from(strip)),
            num(best_text(s.best()), text),
        ])
    });
    // The probe's arms need not be among the run's (a run of `full` alone still probes).
    let arm_width = series
        .iter()
        .map(|s| s.arm.chars().count() as u16)
        .fold(super::overview::arm_width(app), u16::max);
    let widths = [
        Constraint::Length(arm_width),
        Constraint::Length(8),
        Constraint::Length(8),
        Constraint::Length(layers.max(9) as u16),
        Constraint::Length(22),
    ];
    let header = Row::new(vec![
        Cell::from("arm"),
        Cell::from("memento"),
        Cell::from("role"),
        Cell::from("per layer"),
        num("layer (by validation)".into(), Style::new()),
    ])
    .style(Style::new().fg(theme.title).add_modifier(Modifier::BOLD));
    let table = Table::new(rows, widths)
        .header(header)
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
            "Probe accuracy per layer (↑↓ select)".to_string(),
        ));
    let mut state = TableState::default().with_selected(Some(at));
    frame.render_stateful_widget(table, area, &mut state);
}

fn chart(frame: &mut Frame, area: Rect, app: &AblationApp, s: &ProbeSeries) {
    let theme = &app.chrome.theme;
    let color = arm_color(theme, &s.arm, arm_index(app, &s.arm));
    let points = |f: fn(&ProbeRow) -> f64| -> Vec<(f64, f64)> {
        s.layers.iter().map(|r| (r.layer as f64, f(r))).collect()
    };
    let accuracy = points(|r| r.accuracy);
    let low = points(|r| r.ci_low);
    let high = points(|r| r.ci_high);
    let first = s.layers.first().map_or(0, |r| r.layer) as f64;
    let last = s.layers.last().map_or(1, |r| r.layer) as f64;
    let x_labels = super::layer_labels(first, last);
    let dim = Style::new().fg(theme.dim);
    let datasets = vec![
        Dataset::default()
            .name("95% CI")
            .marker(Marker::Braille)
            .graph_type(GraphType::Line)
            .style(dim)
            .data(&low),
        Dataset::default()
            .marker(Marker::Braille)
            .graph_type(GraphType::Line)
            .style(dim)
            .data(&high),
        Dataset::default()
            .name("accuracy")
            .marker(Marker::Braille)
            .graph_type(GraphType::Line)
            .style(Style::new().fg(color))
            .data(&accuracy),
    ];
    let best = s.best();
    let title = format!(
        "{} · memento {} · {} · best {}{}",
        s.arm,
        s.memento,
        s.role,
        best_text(best),
        best.map_or(String::new(), |b| format!(
            " · digits {}/{} · n {}",
            b.digits_correct, b.digits_total, b.test_samples
        ))
    );
    let chart = Chart::new(datasets)
        .block(panel(theme, title))
        .x_axis(
            Axis::default()
                .title(Span::styled("layer", dim))
                .bounds([first, last.max(first + 1.0)])
                .labels(x_labels)
                .style(dim),
        )
        .y_axis(
            Axis::default()
                .bounds([0.0, 1.0])
                .labels(vec![
                    Line::from("0%"),
                    Line::from("50%"),
                    Line::from("100%"),
                ])
                .style(dim),
        );
    frame.render_widget(chart, area);
}
