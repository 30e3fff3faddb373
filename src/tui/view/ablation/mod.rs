//! The ablation view: a title bar, the tab bar, the tab's body and a status bar, with the help
//! over them. One file per tab; the colour scale and number formats are shared.

mod blocks;
mod channel;
mod items;
mod overview;
mod probe;
mod scale;

use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::{Color, Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Paragraph, Tabs};

use crate::tui::ablation::{AblationApp, Tab};
use crate::tui::theme::Theme;

/// What a frame learned about the layout, for the next key.
#[derive(Debug, Default)]
pub struct AblationCache {
    /// Rows in a page of the current list.
    pub page: usize,
}

impl AblationCache {
    pub fn settle(&self, app: &mut AblationApp) {
        app.page = self.page.max(1);
    }
}

pub fn draw(frame: &mut Frame, app: &AblationApp, cache: &mut AblationCache) {
    let theme = &app.theme;
    if !super::fits(frame, theme) {
        return;
    }
    let area = frame.area();
    let [title_area, tabs_area, body, status_area] = Layout::vertical([
        Constraint::Length(1),
        Constraint::Length(1),
        Constraint::Fill(1),
        Constraint::Length(1),
    ])
    .areas(area);
    title(frame, title_area, app);
    tabs(frame, tabs_area, app);
    cache.page = body.height.saturating_sub(4).max(1) as usize;
    match app.tab {
        Tab::Overview => overview::draw(frame, body, app),
        Tab::Blocks => blocks::draw(frame, body, app),
        Tab::Channel => channel::draw(frame, body, app),
        Tab::Items => items::draw(frame, body, app),
        Tab::Probe => probe::draw(frame, body, app),
    }
    status(frame, status_area, app);
    if app.help {
        super::help::draw(frame, area, &app.keymap, theme);
    }
}

fn title(frame: &mut Frame, area: Rect, app: &AblationApp) {
    let theme = &app.theme;
    let s = &app.summary;
    let sep = Span::styled(" │ ", Style::new().fg(theme.border));
    let line = Line::from(vec![
        Span::styled(" memento ", theme.title_style()),
        sep.clone(),
        Span::styled(
            "ablation",
            Style::new().fg(theme.text).add_modifier(Modifier::BOLD),
        ),
        sep.clone(),
        Span::styled(s.dir.display().to_string(), Style::new().fg(theme.text)),
        sep.clone(),
        Span::styled(s.settings.model.clone(), Style::new().fg(theme.text)),
        sep,
        Span::styled(
            format!("{} items · {} arms", s.items.len(), s.settings.arms.len()),
            Style::new().fg(theme.dim),
        ),
    ]);
    frame.render_widget(
        Paragraph::new(line).style(Style::new().bg(theme.status_bg)),
        area,
    );
}

fn tabs(frame: &mut Frame, area: Rect, app: &AblationApp) {
    let theme = &app.theme;
    let titles = Tab::ALL
        .iter()
        .enumerate()
        .map(|(i, t)| Line::from(format!("{} {}", i + 1, t.title())));
    let widget = Tabs::new(titles)
        .select(app.tab.index())
        .style(Style::new().fg(theme.dim))
        .highlight_style(
            Style::new()
                .fg(theme.title)
                .bg(theme.selection)
                .add_modifier(Modifier::BOLD),
        )
        .divider(Span::styled("│", Style::new().fg(theme.border)));
    frame.render_widget(widget, area);
}

fn status(frame: &mut Frame, area: Rect, app: &AblationApp) {
    let theme = &app.theme;
    let base = Style::new().fg(theme.status_fg).bg(theme.status_bg);
    let left = match &app.notice {
        Some(n) => Span::styled(format!(" {n} "), base.fg(theme.warning)),
        None => Span::styled(format!(" {} ", where_am_i(app)), base),
    };
    let mut hints = Vec::new();
    for &action in &app.keymap.hints {
        let keys = app.keymap.keys_for(action);
        let key = match action {
            crate::tui::keymap::Action::Up => "↑↓".to_string(),
            crate::tui::keymap::Action::NextTab => "tab 1-5".to_string(),
            _ => keys.first().cloned().unwrap_or_default(),
        };
        hints.push(Span::styled(
            key,
            base.fg(theme.key).add_modifier(Modifier::BOLD),
        ));
        hints.push(Span::styled(format!(" {}  ", action.hint()), base));
    }
    let room = (area.width as usize).saturating_sub(left.width());
    let hint_width: usize = hints.iter().map(Span::width).sum();
    let mut spans = vec![left];
    if hint_width <= room {
        spans.push(Span::styled(" ".repeat(room - hint_width), base));
        spans.extend(hints);
    } else if room >= 7 {
        spans.push(Span::styled(" ".repeat(room - 7), base));
        spans.push(Span::styled("? help ", base.fg(theme.key)));
    }
    frame.render_widget(Paragraph::new(Line::from(spans)).style(base), area);
}

/// The status bar's left part: what the current tab shows.
fn where_am_i(app: &AblationApp) -> String {
    let s = &app.summary;
    match app.tab {
        Tab::Overview => format!(
            "{} positions per arm",
            s.arms.first().map_or(0, |a| a.all.positions)
        ),
        Tab::Blocks | Tab::Channel => s.scope_name(app.scope),
        Tab::Items => format!(
            "item {}/{}",
            (app.item + 1).min(s.items.len()),
            s.items.len()
        ),
        Tab::Probe => match &s.probe {
            Some(p) => format!("series {}/{}", (app.probe_row + 1).min(p.len()), p.len()),
            None => "no probe.csv".into(),
        },
    }
}

/// Arms in a fixed order of theme colours (the full arm, the reference, first).
pub fn arm_color(theme: &Theme, index: usize) -> Color {
    let colors = [
        theme.series_full,
        theme.series_memento,
        theme.series_policy,
        theme.answer,
        theme.tag,
        theme.block,
    ];
    colors[index % colors.len()]
}

/// `n thing` or `n things`.
pub fn count(n: u64, thing: &str) -> String {
    if n == 1 {
        format!("1 {thing}")
    } else {
        format!("{n} {thing}s")
    }
}

/// A KL in nats, four decimals.
pub fn kl(value: f64) -> String {
    format!("{value:.4}")
}

/// A share as a percentage, one decimal.
pub fn percent(value: f64) -> String {
    format!("{:.1}%", 100.0 * value)
}

/// Up to `width` characters of `text`, with an ellipsis when cut.
pub fn clip(text: &str, width: usize) -> String {
    if text.chars().count() <= width {
        return text.to_string();
    }
    let mut out: String = text.chars().take(width.saturating_sub(1)).collect();
    out.push('…');
    out
}

/// A bordered block with the theme's title style.
pub fn panel(theme: &Theme, title: String) -> ratatui::widgets::Block<'static> {
    ratatui::widgets::Block::new()
        .borders(ratatui::widgets::Borders::ALL)
        .border_style(theme.border_style())
        .title(Span::styled(format!(" {title} "), theme.title_style()))
}

/// A chart's layer axis: the first and last layer, and the middle one when there is one.
pub fn layer_labels(first: f64, last: f64) -> Vec<Line<'static>> {
    let mut labels = vec![Line::from(format!("{first:.0}"))];
    let span = (last - first).round() as i64;
    if span >= 2 && span % 2 == 0 {
        labels.push(Line::from(format!("{:.0}", first + span as f64 / 2.0)));
    }
    labels.push(Line::from(format!("{last:.0}")));
    labels
}
