//! Soft-wrapping the buffer into screen rows, and display widths.

use unicode_width::UnicodeWidthChar;

use super::PromptEditor;

/// One screen row of the soft-wrapped buffer: chars `start..end` of logical line `line`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct VisualRow {
    pub(super) line: usize,
    pub(super) start: usize,
    pub(super) end: usize,
}

impl PromptEditor {
    /// Soft-wraps the buffer to `width` columns (char by char: an editor must show every
    /// character where the cursor expects it). A line whose last row is full, with the cursor
    /// at its end, gets an empty row for the cursor to sit on.
    pub(super) fn layout(&self, width: usize) -> Vec<VisualRow> {
        let mut rows = Vec::new();
        for (i, line) in self.lines.iter().enumerate() {
            let mut start = 0;
            let mut x = 0;
            for (j, &c) in line.iter().enumerate() {
                let w = char_width(c);
                if x + w > width && x > 0 {
                    rows.push(VisualRow {
                        line: i,
                        start,
                        end: j,
                    });
                    start = j;
                    x = 0;
                }
                x += w;
            }
            rows.push(VisualRow {
                line: i,
                start,
                end: line.len(),
            });
            if i == self.row && self.col >= line.len() && x >= width {
                rows.push(VisualRow {
                    line: i,
                    start: line.len(),
                    end: line.len(),
                });
            }
        }
        rows
    }

    /// The cursor's (visual row, display column) in `rows`.
    pub(super) fn cursor_in(&self, rows: &[VisualRow]) -> (usize, usize) {
        let line = self.current();
        let found = rows
            .iter()
            .enumerate()
            .rfind(|(_, r)| r.line == self.row && r.start <= self.col);
        match found {
            Some((i, r)) => {
                let before = line.get(r.start..self.col).unwrap_or_default();
                (i, display_width(before))
            }
            None => (0, 0),
        }
    }
}

/// Display width of a char; control chars never reach the buffer, but count them as nothing.
pub(super) fn char_width(c: char) -> usize {
    c.width().unwrap_or(0)
}

pub(super) fn display_width(chars: &[char]) -> usize {
    chars.iter().map(|&c| char_width(c)).sum()
}

/// The char index in `line` whose display column is nearest `goal` without passing it.
pub(super) fn col_at_display(line: &[char], goal: usize) -> usize {
    let mut x = 0;
    for (i, &c) in line.iter().enumerate() {
        x += char_width(c);
        if x > goal {
            return i;
        }
    }
    line.len()
}
