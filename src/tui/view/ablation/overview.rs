//! The Overview tab: the settings, each arm's means and accuracy with its 95% Wilson
//! interval, and the mean KL by span kind.

use ratatui::Frame;
use ratatui::layout::{Alignment, Constraint, Flex, Layout, Rect};
use ratatui::style::{Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Cell, Paragraph, Row, Table, Wrap};

use super::{arm_color, kl, panel, percent};
use crate::ablate::metrics::SpanKind;
use crate::tui::ablation::AblationApp;
use crate::tui::theme::Theme;

pub fn draw(frame: &mut Frame, area: Rect, app: &AblationApp) {
    let settings = Paragraph::new(settings_lines(app)).wrap(Wrap { trim: true });
    let settings_height = (settings.line_count(area.width) as u16).min(6);
    let arms = app.summary.arms.len() as u16;
    let [top, per_arm, spans] = Layout::vertical([
        Constraint::Length(settings_height),
        Constraint::Length(arms + 3),
        Constraint::Length(arms + 3),
    ])
    .areas(area);
    frame.render_widget(settings, top);
    arm_table(frame, per_arm, app);
    span_table(frame, spans, app);
}

/// The width of the arm column: the longest name.
pub fn arm_width(app: &AblationApp) -> u16 {
    app.summary
        .arm_names()
        .iter()
        .map(|a| a.chars().count())
        .max()
        .unwrap_or(0)
        .max(3) as u16
}

/// A right-aligned number.
pub fn num(text: String, style: Style) -> Cell<'static> {
    Cell::from(Line::from(text).alignment(Alignment::Right)).style(style)
}

fn header<'a>(theme: &Theme, names: impl IntoIterator<Item = (&'a str, bool)>) -> Row<'static> {
    Row::new(names.into_iter().map(|(name, right)| {
        let line = Line::from(name.to_string());
        Cell::from(if right {
            line.alignment(Alignment::Right)
        } else {
            line
        })
    }))
    .style(Style::new().fg(theme.title).add_modifier(Modifier::BOLD))
}

/// A setting's number as written, without float noise (0.699999988 is 0.7).
fn short(value: &serde_json::Value) -> String {
    match value.as_f64() {
        Some(x) => {
            let rounded = (x * 1000.0).round() / 1000.0;
            format!("{rounded}")
        }
        None => value.to_string(),
    }
}

fn settings_lines(app: &AblationApp) -> Vec<Line<'static>> {
    let theme = &app.chrome.theme;
    let s = &app.summary;
    let c = &s.settings;
    let key = |k: &str| Span::styled(format!("{k} "), Style::new().fg(theme.dim));
    let val = |v: String| Span::styled(v, Style::new().fg(theme.text));
    let dot = || Span::styled(" · ", Style::new().fg(theme.border));
    let seeds: Vec<String> = c.seeds.iter().map(u64::to_string).collect();
    let first = vec![
        key("model"),
        val(c.model.clone()),
        dot(),
        key("problems"),
        val(c.problems.clone()),
        dot(),
        key("arms"),
        val(c.arms.join(", ")),
        dot(),
        key("seeds"),
        val(seeds.join(", ")),
        dot(),
        key("up to"),
        val(format!("{} tokens", c.max_tokens)),
    ];
    let mut second = Vec::new();
    match &c.scaffold {
        Some(sc) => {
            second.push(key("scaffolded:"));
            second.push(val(format!(
                "blocks {}–{} tokens, at most {}, mementos {}–{}",
                short(&sc["min_block_tokens"]),
                short(&sc["max_block_tokens"]),
                short(&sc["max_blocks"]),
                short(&sc["min_memento_tokens"]),
                short(&sc["max_memento_tokens"]),
            )));
        }
        None => second.push(val("not scaffolded".into())),
    }
    for (name, field) in [
        ("temperature", "temperature"),
        ("top-p", "top_p"),
        ("repeat penalty", "repeat_penalty"),
    ] {
        if !c.sampler[field].is_null() {
            second.push(dot());
            second.push(key(name));
            second.push(val(short(&c.sampler[field])));
        }
    }
    second.push(dot());
    second.push(key("system"));
    second
        .push(val(c.system.as_deref().map_or("none".into(), |t| {
            format!("“{}”", super::clip(t, 40))
        })));
    let third = vec![
        val(format!("{} items", s.items.len())),
        dot(),
        val(format!(
            "{} tokens teacher-forced through every arm",
            s.tokens
        )),
        dot(),
        val(format!("{} blocks, {} mementos", s.blocks, s.mementos)),
    ];
    vec![Line::from(first), Line::from(second), Line::from(third)]
}

fn arm_table(frame: &mut Frame, area: Rect, app: &AblationApp) {
    let theme = &app.chrome.theme;
    let text = Style::new().fg(theme.text);
    let rows = app.summary.arms.iter().enumerate().map(|(i, f)| {
        let (lo, hi) = f.interval();
        let (accuracy, ci) = match f.accuracy() {
            Some(a) => (
                format!("{} ({}/{})", percent(a), f.right, f.judged),
                format!("{:.1}–{}", 100.0 * lo, percent(hi)),
            ),
            None => ("—".into(), "—".into()),
        };
        Row::new(vec![
            Cell::from(f.arm.clone()).style(Style::new().fg(arm_color(theme, &f.arm, i))),
            num(f.all.positions.to_string(), text),
            num(kl(f.all.mean_kl), text),
            num(percent(f.all.top1_agreement), text),
            num(format!("{:.3}", f.all.mean_logprob), text),
            num(accuracy, text),
            num(ci, text),
        ])
    });
    let table = Table::new(
        rows,
        [
            Constraint::Length(arm_width(app)),
            Constraint::Length(9),
            Constraint::Length(7),
            Constraint::Length(6),
            Constraint::Length(8),
            Constraint::Length(14),
            Constraint::Length(11),
        ],
    )
    .header(header(
        theme,
        [
            ("arm", false),
            ("positions", true),
            ("mean KL", true),
            ("top-1", true),
            ("logprob", true),
            ("accuracy", true),
            ("95% CI", true),
        ],
    ))
    .column_spacing(2)
    .flex(Flex::Start)
    .block(panel(
        theme,
        "Per arm · KL(full ‖ arm) in nats · top-1: agrees with the full arm".into(),
    ));
    frame.render_widget(table, area);
}

fn span_table(frame: &mut Frame, area: Rect, app: &AblationApp) {
    let theme = &app.chrome.theme;
    let text = Style::new().fg(theme.text);
    let dim = Style::new().fg(theme.dim);
    let rows = app
        .summary
        .arms
        .iter()
        .zip(&app.summary.spans)
        .enumerate()
        .map(|(i, (f, spans))| {
            let mut cells =
                vec![Cell::from(f.arm.clone()).style(Style::new().fg(arm_color(theme, &f.arm, i)))];
            for agg in spans {
                cells.push(if agg.positions == 0 {
                    num("—".into(), dim)
                } else {
                    num(format!("{} ({})", kl(agg.mean_kl), agg.positions), text)
                });
            }
            Row::new(cells)
        });
    let mut widths = vec![Constraint::Length(arm_width(app))];
    widths.extend([Constraint::Length(14); 4]);
    let mut names = vec![("arm", false)];
    names.extend(SpanKind::ALL.iter().map(|k| (k.name(), true)));
    let table = Table::new(rows, widths)
        .header(header(theme, names))
        .column_spacing(2)
        .flex(Flex::Start)
        .block(panel(theme, "Mean KL by span (positions)".into()));
    frame.render_widget(table, area);
}
