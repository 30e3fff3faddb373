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
use ratatui::widgets::Tabs;

use super::chrome::{Part, status_bar, title_bar};
use crate::tui::ablation::{AblationApp, Tab};
use crate::tui::chrome::Keyed;
use crate::tui::theme::Theme;
use crate::units::plural;

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
    let theme = &app.chrome.theme;
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
    super::chrome::help(frame, &app.chrome);
}

fn title(frame: &mut Frame, area: Rect, app: &AblationApp) {
    let theme = &app.chrome.theme;
    let s = &app.summary;
    let text = Style::new().fg(theme.text);
    title_bar(
        frame,
        area,
        theme,
        "ablation",
        vec![
            Part::text(3, s.dir.display().to_string(), text),
            Part::text(5, s.settings.model.clone(), text),
            Part::text(
                7,
                format!(
                    "{} · {}",
                    plural(s.items.len() as u64, "item"),
                    plural(s.settings.arms.len() as u64, "arm")
                ),
                Style::new().fg(theme.dim),
            ),
        ],
    );
}

fn tabs(frame: &mut Frame, area: Rect, app: &AblationApp) {
    let theme = &app.chrome.theme;
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
    let theme = &app.chrome.theme;
    let base = Style::new().fg(theme.status_fg).bg(theme.status_bg);
    let readout = vec![Part::text(100, format!(" {} ", where_am_i(app)), base)];
    status_bar(frame, area, &app.chrome, app.layers(), readout);
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

/// An arm's colour: the theme's for a policy's name (full, memento, restart, keep-N), else
/// the shared palette's by its place, as the exported plots colour it.
pub fn arm_color(theme: &Theme, arm: &str, index: usize) -> Color {
    theme.series_colour(arm, index)
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
