//! Drawing: a pure function of the app state (plus caches that only save work).

pub mod ablation;
mod chrome;
pub mod compare;
mod help;
pub mod highlight;
mod inspect;
mod kv;
mod mementos;
pub mod picker;
mod reasoning;
mod status;
pub mod workbench;
mod wrap;

use ratatui::Frame;

use crate::tui::theme::Theme;
use ratatui::layout::{Constraint, Flex, Layout, Rect};
use ratatui::style::Style;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Paragraph};

pub use reasoning::reasoning_lines;
pub use wrap::wrap;

use super::app::{App, Focus};
use super::replay::Replay;
use highlight::{CodeIndex, Highlights};

/// The smallest terminal the layout supports.
pub const MIN_WIDTH: u16 = 40;
pub const MIN_HEIGHT: u16 = 12;

/// What every pane needs about the playhead, computed once per frame.
pub struct AtCursor {
    pub state: crate::trace::RunState,
    /// The structure as far as the playhead has reached.
    pub outline: crate::structure::Outline,
    /// Evicted position ranges in effect at the playhead, sorted.
    pub evicted: Vec<std::ops::Range<u64>>,
}

impl AtCursor {
    pub fn new(app: &App) -> AtCursor {
        AtCursor {
            state: app.timeline.state_at(app.cursor),
            outline: app.timeline.outline_at(app.cursor),
            evicted: app.timeline.evicted_at(app.cursor),
        }
    }

    /// True when all of `range` has been evicted.
    pub fn is_evicted(&self, range: &std::ops::Range<u64>) -> bool {
        range.start < range.end
            && self
                .evicted
                .iter()
                .any(|r| r.start <= range.start && range.end <= r.end)
    }
}

/// Work saved between frames. Dropping it changes nothing but speed.
#[derive(Default)]
pub struct ViewCache {
    pub code: CodeIndex,
    pub highlights: Highlights,
    /// The largest scroll the reasoning pane can use, from the last frame.
    pub max_scroll: usize,
    /// Lines in the reasoning pane, from the last frame.
    pub page: usize,
    /// The largest scroll the inspector can use, and its rows, from the last frame.
    pub inspect_max_scroll: u16,
    pub inspect_page: u16,
    chart_key: Vec<usize>,
    chart_points: Vec<Vec<(f64, f64)>>,
}

impl ViewCache {
    /// After a frame: keep `app`'s scrolling within what was drawn, and tell it the page sizes.
    pub fn settle(&self, app: &mut App) {
        app.scroll = app.scroll.min(self.max_scroll);
        app.page = self.page;
        app.inspect_scroll = app.inspect_scroll.min(self.inspect_max_scroll);
        app.inspect_page = self.inspect_page;
    }
}

/// A replayed trace: the title bar, the stream's panes and the status bar.
pub fn draw(frame: &mut Frame, replay: &Replay, cache: &mut ViewCache) {
    let area = frame.area();
    let (app, theme) = (&replay.app, &replay.chrome.theme);
    if !fits(frame, theme) {
        return;
    }
    let [title, body_area, status_area] = Layout::vertical([
        Constraint::Length(1),
        Constraint::Fill(1),
        Constraint::Length(1),
    ])
    .areas(area);
    let at = AtCursor::new(app);
    status::title(frame, title, app, theme);
    body(frame, body_area, app, theme, &at, cache);
    status::status(frame, status_area, replay, &at);
    chrome::help(frame, &replay.chrome);
}

/// A `width`×`height` box inside `area`, placed by `across` and `down` (centre, start, end).
pub fn popup(area: Rect, width: u16, height: u16, across: Flex, down: Flex) -> Rect {
    let [column] = Layout::horizontal([Constraint::Length(width.min(area.width))])
        .flex(across)
        .areas(area);
    let [popup] = Layout::vertical([Constraint::Length(height.min(area.height))])
        .flex(down)
        .areas(column);
    popup
}

/// Whether the terminal is big enough; if not, says so and returns false.
pub fn fits(frame: &mut Frame, theme: &crate::tui::theme::Theme) -> bool {
    let area = frame.area();
    frame.render_widget(
        Block::new().style(Style::new().fg(theme.text).bg(theme.background)),
        area,
    );
    if area.width < MIN_WIDTH || area.height < MIN_HEIGHT {
        let msg = format!(
            "terminal too small: {}×{}, need {MIN_WIDTH}×{MIN_HEIGHT}",
            area.width, area.height
        );
        frame.render_widget(
            Paragraph::new(msg).style(Style::new().fg(theme.warning)),
            area,
        );
        return false;
    }
    true
}

/// One stream's panes: the reasoning and the memento list above the KV panel, with the
/// inspector over them when it is open.
pub fn body(
    frame: &mut Frame,
    area: Rect,
    app: &App,
    theme: &Theme,
    at: &AtCursor,
    cache: &mut ViewCache,
) {
    let kv_height = (area.height * 3 / 10).clamp(7, 16);
    let [main, kv_area] =
        Layout::vertical([Constraint::Fill(1), Constraint::Length(kv_height)]).areas(area);
    let list_width = if area.width >= 110 {
        44
    } else if area.width >= 60 {
        area.width * 2 / 5
    } else {
        0
    };
    let [text_area, list_area] =
        Layout::horizontal([Constraint::Fill(1), Constraint::Length(list_width)]).areas(main);
    reasoning_pane(frame, text_area, app, theme, at, cache);
    if list_width > 0 {
        mementos::draw(frame, list_area, app, theme, at);
    }
    kv::draw(frame, kv_area, app, theme, at, cache);
    if app.inspect {
        inspect::draw(frame, main, app, theme, at, cache);
    }
}

pub fn reasoning_pane(
    frame: &mut Frame,
    area: Rect,
    app: &App,
    theme: &Theme,
    at: &AtCursor,
    cache: &mut ViewCache,
) {
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
        at,
        theme,
        cache,
        inner.width,
        height,
        app.scroll,
    );
    cache.max_scroll = max_scroll;
    cache.page = height.saturating_sub(1).max(1);
    // The lines are already wrapped to the width: write them straight into the buffer.
    let buf = frame.buffer_mut();
    for (row, line) in lines.iter().enumerate() {
        buf.set_line(inner.x, inner.y + row as u16, line, inner.width);
    }
    if app.timeline.is_empty() && app.timeline.prompt_text().is_none() {
        let empty = Line::from(Span::styled("(empty trace)", Style::new().fg(theme.dim)));
        frame.render_widget(Paragraph::new(empty), inner);
    }
}
