//! The `?` overlay: every layer's keys, generated from the screen's key map, in as many
//! columns as the terminal fits, scrolled by ↑↓ when they still do not fit.

use ratatui::Frame;
use ratatui::layout::{Constraint, Flex, Layout, Rect};
use ratatui::style::{Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, BorderType, Borders, Clear, Paragraph};

use crate::tui::chrome::Chrome;
use crate::tui::keys::LayerId;

/// What the stream views draw, for the help's legend.
const GLYPHS: [(&str, &str); 8] = [
    ("…", "memento list: block open, no memento yet"),
    ("✎", "memento list: memento being written"),
    ("●", "memento list: memento written"),
    ("✂", "block evicted (its KV entries freed)"),
    ("−N", "KV entries an eviction freed"),
    ("▼", "an eviction (KV strip and chart)"),
    ("┃", "the playhead"),
    ("╳", "where two streams diverge"),
];

/// The widest a key column gets; longer key lists wrap onto the next row.
const KEY_WIDTH: usize = 18;

pub fn draw(frame: &mut Frame, area: Rect, chrome: &Chrome) {
    let theme = &chrome.theme;
    let rows = chrome.keys.help_rows();
    let key_width = rows
        .iter()
        .map(|r| r.keys.chars().count())
        .max()
        .unwrap_or(4)
        .min(KEY_WIDTH);
    let glyphs = chrome.keys.has_layer(LayerId::Nav);
    let text_width = rows
        .iter()
        .map(|r| r.what.chars().count())
        .chain(
            GLYPHS
                .iter()
                .filter(|_| glyphs)
                .map(|(_, w)| w.chars().count()),
        )
        .max()
        .unwrap_or(10);
    let column_width = key_width + text_width + 3;
    let key_style = Style::new().fg(theme.key).add_modifier(Modifier::BOLD);
    let mut lines: Vec<Line> = Vec::new();
    let mut group = "";
    for row in &rows {
        if row.group != group {
            lines.push(Line::from(Span::styled(row.group, theme.title_style())));
            group = row.group;
        }
        // A long key list takes as many rows as it needs, never cut.
        let mut keys = wrap_keys(&row.keys, key_width).into_iter();
        let first = keys.next().unwrap_or_default();
        lines.push(Line::from(vec![
            Span::styled(format!(" {first:<key_width$} "), key_style),
            Span::styled(row.what.clone(), Style::new().fg(theme.text)),
        ]));
        for more in keys {
            lines.push(Line::from(Span::styled(format!(" {more}"), key_style)));
        }
    }
    // Screens that show a stream also explain its glyphs.
    if glyphs {
        lines.push(Line::from(Span::styled("glyphs", theme.title_style())));
        for (glyph, what) in GLYPHS {
            lines.push(Line::from(vec![
                Span::styled(format!(" {glyph:<key_width$} "), key_style),
                Span::styled(what, Style::new().fg(theme.text)),
            ]));
        }
    }
    let inner_height = area.height.saturating_sub(2).max(1) as usize;
    let fit_columns = ((area.width as usize).saturating_sub(2) / (column_width + 2)).max(1);
    let columns = lines.len().div_ceil(inner_height).clamp(1, fit_columns);
    let per_column = lines.len().div_ceil(columns);
    let scroll_max = per_column.saturating_sub(inner_height);
    let scroll = (chrome.help_scroll as usize).min(scroll_max);
    let width = ((column_width + 2) * columns + 2).min(area.width as usize) as u16;
    let height = (per_column.min(inner_height) + 2).min(area.height as usize) as u16;
    let popup = super::popup(area, width, height, Flex::Center, Flex::Center);
    frame.render_widget(Clear, popup);
    let close = chrome.keys.help_close_keys();
    let mut title = format!(
        " keys · {} closes ",
        close[..close.len().min(2)].join(" or ")
    );
    if scroll_max > 0 {
        title.push_str(&format!("· ↑↓ more ({}/{}) ", scroll, scroll_max));
    }
    let block = Block::new()
        .borders(Borders::ALL)
        .border_type(BorderType::Double)
        .border_style(Style::new().fg(theme.title))
        .title(Span::styled(title, theme.title_style()))
        .style(Style::new().bg(theme.status_bg));
    let inner = block.inner(popup);
    frame.render_widget(block, popup);
    let parts = Layout::horizontal(vec![Constraint::Fill(1); columns])
        .spacing(2)
        .split(inner);
    for (i, chunk) in lines.chunks(per_column).enumerate() {
        let shown: Vec<Line> = chunk.iter().skip(scroll).cloned().collect();
        frame.render_widget(Paragraph::new(shown), parts[i]);
    }
}

/// Key labels split into rows of at most `width` characters, at the spaces between keys.
fn wrap_keys(keys: &str, width: usize) -> Vec<String> {
    let mut rows = vec![String::new()];
    for key in keys.split(' ') {
        let row = rows.last_mut().expect("one row at least");
        if !row.is_empty() && row.chars().count() + 1 + key.chars().count() > width {
            rows.push(key.to_string());
        } else {
            if !row.is_empty() {
                row.push(' ');
            }
            row.push_str(key);
        }
    }
    rows
}
