//! The `?` overlay: every binding, generated from the keymap.

use ratatui::Frame;
use ratatui::layout::{Constraint, Flex, Layout, Rect};
use ratatui::style::{Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, BorderType, Borders, Clear, Paragraph};

use crate::tui::keymap::KeyMap;
use crate::tui::theme::Theme;

pub fn draw(frame: &mut Frame, area: Rect, keymap: &KeyMap, theme: &Theme) {
    let rows = keymap.help_rows();
    let key_width = rows
        .iter()
        .map(|r| r.1.chars().count())
        .max()
        .unwrap_or(4)
        .min(16);
    let text_width = rows.iter().map(|r| r.2.chars().count()).max().unwrap_or(10);
    let column_width = (key_width + text_width + 2) as u16;
    let mut lines: Vec<Line> = Vec::new();
    let mut group = "";
    for (g, keys, what) in &rows {
        if *g != group {
            lines.push(Line::from(Span::styled(g.to_string(), theme.title_style())));
            group = g;
        }
        lines.push(Line::from(vec![
            Span::styled(
                format!(" {keys:<key_width$} "),
                Style::new().fg(theme.key).add_modifier(Modifier::BOLD),
            ),
            Span::styled(what.to_string(), Style::new().fg(theme.text)),
        ]));
    }
    // One column when it fits, otherwise two side by side.
    let available = area.height.saturating_sub(2) as usize;
    let columns = if lines.len() <= available { 1 } else { 2 };
    let per_column = lines.len().div_ceil(columns);
    let width = (column_width * columns as u16 + 2 + (columns as u16 - 1) * 2).min(area.width);
    let height = (per_column as u16 + 2).min(area.height);
    let popup = super::popup(area, width, height, Flex::Center, Flex::Center);
    frame.render_widget(Clear, popup);
    let block = Block::new()
        .borders(Borders::ALL)
        .border_type(BorderType::Double)
        .border_style(Style::new().fg(theme.title))
        .title(Span::styled(
            " keys · ? or esc closes ",
            theme.title_style(),
        ))
        .style(Style::new().bg(theme.status_bg));
    let inner = block.inner(popup);
    frame.render_widget(block, popup);
    let parts = Layout::horizontal(vec![Constraint::Fill(1); columns])
        .spacing(2)
        .split(inner);
    for (i, chunk) in lines.chunks(per_column).enumerate() {
        frame.render_widget(Paragraph::new(chunk.to_vec()), parts[i]);
    }
}
