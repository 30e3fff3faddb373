//! Drawing: a pure function of the app state (plus caches that only save work).

mod help;
pub mod highlight;
mod kv;
mod mementos;
mod reasoning;
mod status;
mod wrap;

use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::Style;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Paragraph};

pub use reasoning::reasoning_lines;
pub use wrap::wrap;

use super::app::{App, Focus};
use highlight::{CodeIndex, Highlights};

/// The smallest terminal the layout supports.
pub const MIN_WIDTH: u16 = 40;
pub const MIN_HEIGHT: u16 = 12;

/// Work saved between frames. Dropping it changes nothing but speed.
#[derive(Default)]
pub struct ViewCache {
    pub code: CodeIndex,
    pub highlights: Highlights,
    /// The largest scroll the reasoning pane can use, from the last frame.
    pub max_scroll: usize,
    /// Lines in the reasoning pane, from the last frame.
    pub page: usize,
    chart_key: Vec<usize>,
    chart_points: Vec<Vec<(f64, f64)>>,
}

pub fn draw(frame: &mut Frame, app: &App, cache: &mut ViewCache) {
    let area = frame.area();
    let theme = &app.theme;
    frame.render_widget(Block::new().style(Style::new().fg(theme.text)), area);
    if area.width < MIN_WIDTH || area.height < MIN_HEIGHT {
        let msg = format!(
            "terminal too small: {}×{}, need {MIN_WIDTH}×{MIN_HEIGHT}",
            area.width, area.height
        );
        frame.render_widget(
            Paragraph::new(msg).style(Style::new().fg(theme.warning)),
            area,
        );
        return;
    }
    let kv_height = (area.height * 3 / 10).clamp(7, 16);
    let [title, main, kv_area, status_area] = Layout::vertical([
        Constraint::Length(1),
        Constraint::Fill(1),
        Constraint::Length(kv_height),
        Constraint::Length(1),
    ])
    .areas(area);
    status::title(frame, title, app);
    let list_width = if area.width >= 110 {
        44
    } else if area.width >= 60 {
        area.width * 2 / 5
    } else {
        0
    };
    let [text_area, list_area] =
        Layout::horizontal([Constraint::Fill(1), Constraint::Length(list_width)]).areas(main);
    reasoning_pane(frame, text_area, app, cache);
    if list_width > 0 {
        mementos::draw(frame, list_area, app);
    }
    kv::draw(frame, kv_area, app, cache);
    status::status(frame, status_area, app);
    if app.help {
        help::draw(frame, area, app);
    }
}

fn reasoning_pane(frame: &mut Frame, area: Rect, app: &App, cache: &mut ViewCache) {
    let theme = &app.theme;
    let focused = app.focus == Focus::Reasoning;
    let border = if focused {
        Style::new().fg(theme.title)
    } else {
        theme.border_style()
    };
    let block = Block::new()
        .borders(Borders::ALL)
        .border_style(border)
        .title(Span::styled(" Reasoning ", theme.title_style()));
    let inner = block.inner(area);
    frame.render_widget(block, area);
    let height = inner.height as usize;
    let (lines, max_scroll) = reasoning_lines(
        &app.timeline,
        app.cursor,
        theme,
        cache,
        inner.width,
        height,
        app.scroll,
    );
    cache.max_scroll = max_scroll;
    cache.page = height.saturating_sub(1).max(1);
    frame.render_widget(Paragraph::new(lines), inner);
    if app.timeline.is_empty() && app.timeline.prompt_text().is_none() {
        let empty = Line::from(Span::styled("(empty trace)", Style::new().fg(theme.dim)));
        frame.render_widget(Paragraph::new(empty), inner);
    }
}
