//! Drawing the soft-wrapped buffer cell by cell, scrolled to the cursor.

use ratatui::buffer::Buffer;
use ratatui::layout::{Position, Rect};
use ratatui::style::Style;

use super::PromptEditor;
use super::layout::char_width;
use crate::tui::theme::Theme;

impl PromptEditor {
    /// Draws the buffer soft-wrapped into `area`, scrolled so the cursor is visible (on the
    /// last row when the text runs below the area, else from the top). Returns where the
    /// terminal cursor belongs when `focused`.
    pub fn render(
        &self,
        area: Rect,
        buf: &mut Buffer,
        theme: &Theme,
        focused: bool,
        placeholder: &str,
    ) -> Option<Position> {
        if area.width == 0 || area.height == 0 {
            return None;
        }
        let width = usize::from(area.width);
        let height = usize::from(area.height);
        let style = Style::new().fg(theme.text);
        if self.is_empty() {
            buf.set_stringn(
                area.x,
                area.y,
                placeholder,
                width,
                Style::new().fg(theme.dim),
            );
            return focused.then_some(Position::new(area.x, area.y));
        }
        let rows = self.layout(width);
        let (cursor_row, cursor_x) = self.cursor_in(&rows);
        // Editing, the view follows the cursor; otherwise it shows the prompt from its start,
        // with an ellipsis when there is more than fits.
        let scroll = if focused {
            (cursor_row + 1).saturating_sub(height)
        } else {
            0
        };
        for (y, row) in rows.iter().skip(scroll).take(height).enumerate() {
            let chars = self
                .lines
                .get(row.line)
                .and_then(|l| l.get(row.start..row.end))
                .unwrap_or_default();
            draw_row(buf, area, y as u16, chars, style);
        }
        if !focused && rows.len() > height {
            let last = area.y + area.height - 1;
            buf.set_string(area.right() - 1, last, "…", Style::new().fg(theme.dim));
            return None;
        }
        let x = cursor_x.min(width - 1) as u16;
        let y = (cursor_row - scroll) as u16;
        focused.then_some(Position::new(area.x + x, area.y + y))
    }
}

/// Draws one visual row cell by cell, so each char lands exactly where `layout` put it.
fn draw_row(buf: &mut Buffer, area: Rect, y: u16, chars: &[char], style: Style) {
    let mut x: u16 = 0;
    let mut last: Option<u16> = None;
    for &c in chars {
        let w = char_width(c) as u16;
        if w == 0 {
            // A combining mark joins the character before it in that character's cell.
            if let Some(cell) = last.and_then(|lx| buf.cell_mut((area.x + lx, area.y + y))) {
                let symbol = format!("{}{c}", cell.symbol());
                cell.set_symbol(&symbol);
            }
            continue;
        }
        if x + w > area.width {
            // Only a character wider than the whole area gets here; it cannot be shown.
            break;
        }
        if let Some(cell) = buf.cell_mut((area.x + x, area.y + y)) {
            cell.set_char(c).set_style(style);
        }
        // The cells a wide character covers must not draw anything of their own.
        for k in 1..w {
            if let Some(cell) = buf.cell_mut((area.x + x + k, area.y + y)) {
                cell.reset();
            }
        }
        last = Some(x);
        x += w;
    }
}
