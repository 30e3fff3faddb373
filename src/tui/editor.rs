//! The prompt editor of the live workbench: a multi-line buffer with a cursor, the keys that
//! edit it, and its drawing (soft-wrapped, scrolled to the cursor). Pure state: the editor
//! layer of the key map turns keys into actions, the app feeds them to `apply` and acts on
//! the outcomes.

use ratatui::buffer::Buffer;
use ratatui::layout::{Position, Rect};
use ratatui::style::Style;
use unicode_width::UnicodeWidthChar;

use crate::tui::history::History;
use crate::tui::theme::Theme;

/// What a tab becomes: a literal tab has no fixed display width, so the cursor could not be
/// placed over it.
const TAB: &str = "    ";

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EditorAction {
    Insert(char),
    Paste(String),
    Newline,
    Backspace,
    Delete,
    DeleteWordBack,
    DeleteToLineStart,
    DeleteToLineEnd,
    Left,
    Right,
    Up,
    Down,
    WordLeft,
    WordRight,
    LineStart,
    LineEnd,
    HistoryPrev,
    HistoryNext,
    Submit,
    SubmitCompare,
    Leave,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EditorOutcome {
    /// The text changed.
    Edited,
    /// Only the cursor moved.
    Moved,
    Submit(String),
    SubmitCompare(String),
    Leave,
    Nothing,
}

/// A multi-line text buffer with a cursor. Lines are stored as chars so that the cursor column
/// is a char index; display columns come from unicode-width.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PromptEditor {
    /// Never empty: an empty buffer is one empty line.
    lines: Vec<Vec<char>>,
    row: usize,
    /// Char index into `lines[row]`, at most its length.
    col: usize,
    /// The display column up/down aim for, so passing through a short line does not lose it.
    goal: Option<usize>,
}

impl Default for PromptEditor {
    fn default() -> Self {
        PromptEditor {
            lines: vec![Vec::new()],
            row: 0,
            col: 0,
            goal: None,
        }
    }
}

/// One screen row of the soft-wrapped buffer: chars `start..end` of logical line `line`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct VisualRow {
    line: usize,
    start: usize,
    end: usize,
}

impl PromptEditor {
    pub fn new() -> Self {
        PromptEditor::default()
    }

    /// The lines joined with `\n`.
    pub fn text(&self) -> String {
        let mut text = String::new();
        for (i, line) in self.lines.iter().enumerate() {
            if i > 0 {
                text.push('\n');
            }
            text.extend(line.iter());
        }
        text
    }

    /// Replaces the text (normalised like a paste) and puts the cursor at its end.
    pub fn set_text(&mut self, text: &str) {
        let clean = sanitize(text);
        self.lines = clean.split('\n').map(|l| l.chars().collect()).collect();
        self.row = self.lines.len().saturating_sub(1);
        self.col = self.lines.last().map_or(0, Vec::len);
        self.goal = None;
        self.repair();
    }

    pub fn clear(&mut self) {
        *self = PromptEditor::default();
    }

    /// Nothing but whitespace: not worth submitting.
    pub fn is_blank(&self) -> bool {
        self.lines.iter().flatten().all(|c| c.is_whitespace())
    }

    pub fn is_empty(&self) -> bool {
        self.lines.iter().all(Vec::is_empty)
    }

    /// (row, column in chars).
    pub fn cursor(&self) -> (usize, usize) {
        (self.row, self.col)
    }

    pub fn line_count(&self) -> usize {
        self.lines.len()
    }

    /// Screen rows the text takes at `width` columns, for sizing the pane to its content.
    pub fn wrapped_height(&self, width: u16) -> usize {
        self.layout(usize::from(width.max(1))).len()
    }

    pub fn apply(&mut self, action: EditorAction, history: &mut History) -> EditorOutcome {
        use EditorAction as A;
        self.repair();
        let keeps_goal = matches!(action, A::Up | A::Down);
        let outcome = match action {
            A::Insert(c) => self.edit(history, |e| e.insert_str(c.encode_utf8(&mut [0; 4]))),
            A::Paste(text) => self.edit(history, |e| e.insert_str(&text)),
            A::Newline => self.edit(history, |e| e.insert_str("\n")),
            A::Backspace => self.edit(history, PromptEditor::backspace),
            A::Delete => self.edit(history, PromptEditor::delete),
            A::DeleteWordBack => self.edit(history, PromptEditor::delete_word_back),
            A::DeleteToLineStart => self.edit(history, PromptEditor::delete_to_line_start),
            A::DeleteToLineEnd => self.edit(history, PromptEditor::delete_to_line_end),
            A::Left => moved(self.left()),
            A::Right => moved(self.right()),
            A::WordLeft => moved(self.word_left()),
            A::WordRight => moved(self.word_right()),
            A::LineStart => moved(self.set_col(0)),
            A::LineEnd => moved(self.set_col(self.current().len())),
            // Past the first or last line the arrows walk the history, like a shell's.
            A::Up if self.row == 0 => self.recall(history.prev(&self.text())),
            A::Down if self.row + 1 >= self.lines.len() => self.recall(history.next()),
            A::Up => moved(self.vertical(-1)),
            A::Down => moved(self.vertical(1)),
            A::HistoryPrev => self.recall(history.prev(&self.text())),
            A::HistoryNext => self.recall(history.next()),
            A::Submit | A::SubmitCompare if self.is_blank() => EditorOutcome::Nothing,
            A::Submit | A::SubmitCompare => {
                // The text stays: the user often edits the prompt and runs it again.
                let text = self.text();
                if let Err(e) = history.push(&text) {
                    history.note_error(e);
                }
                if action == A::Submit {
                    EditorOutcome::Submit(text)
                } else {
                    EditorOutcome::SubmitCompare(text)
                }
            }
            A::Leave => EditorOutcome::Leave,
        };
        if !keeps_goal {
            self.goal = None;
        }
        outcome
    }

    /// Runs an edit; an edited recalled entry becomes the user's draft, so browsing stops.
    fn edit(&mut self, history: &mut History, f: impl FnOnce(&mut Self) -> bool) -> EditorOutcome {
        if f(self) {
            history.reset_navigation();
            EditorOutcome::Edited
        } else {
            EditorOutcome::Nothing
        }
    }

    fn recall(&mut self, entry: Option<String>) -> EditorOutcome {
        match entry {
            Some(text) => {
                self.set_text(&text);
                EditorOutcome::Edited
            }
            None => EditorOutcome::Nothing,
        }
    }

    /// Restores the invariants (a line exists, the cursor is inside the text) so that no
    /// operation has to trust them.
    fn repair(&mut self) {
        if self.lines.is_empty() {
            self.lines.push(Vec::new());
        }
        self.row = self.row.min(self.lines.len() - 1);
        self.col = self.col.min(self.current().len());
    }

    fn current(&self) -> &[char] {
        self.lines.get(self.row).map_or(&[], Vec::as_slice)
    }

    fn set_col(&mut self, col: usize) -> bool {
        let changed = self.col != col;
        self.col = col;
        changed
    }

    /// Inserts normalised text at the cursor and leaves the cursor after it.
    fn insert_str(&mut self, text: &str) -> bool {
        let clean = sanitize(text);
        if clean.is_empty() {
            return false;
        }
        let Some(line) = self.lines.get_mut(self.row) else {
            return false;
        };
        let tail = line.split_off(self.col.min(line.len()));
        let mut pieces = clean.split('\n');
        line.extend(pieces.next().unwrap_or_default().chars());
        let mut row = self.row;
        for piece in pieces {
            row += 1;
            self.lines.insert(row, piece.chars().collect());
        }
        if let Some(last) = self.lines.get_mut(row) {
            self.col = last.len();
            last.extend(tail);
        }
        self.row = row;
        true
    }

    fn backspace(&mut self) -> bool {
        if self.col == 0 {
            return self.join_with_previous();
        }
        let Some(line) = self.lines.get_mut(self.row) else {
            return false;
        };
        let at = self.col.min(line.len());
        if at == 0 {
            return false;
        }
        line.remove(at - 1);
        self.col = at - 1;
        true
    }

    fn delete(&mut self) -> bool {
        let Some(line) = self.lines.get_mut(self.row) else {
            return false;
        };
        if self.col < line.len() {
            line.remove(self.col);
            true
        } else {
            self.join_with_next()
        }
    }

    fn delete_word_back(&mut self) -> bool {
        if self.col == 0 {
            return self.join_with_previous();
        }
        let start = word_start(self.current(), self.col);
        self.delete_before(start)
    }

    /// At column 0 this joins with the line above, so repeating it keeps deleting.
    fn delete_to_line_start(&mut self) -> bool {
        if self.col == 0 {
            return self.join_with_previous();
        }
        self.delete_before(0)
    }

    /// At the end of a line this joins the next one, as emacs's kill-line does.
    fn delete_to_line_end(&mut self) -> bool {
        let Some(line) = self.lines.get_mut(self.row) else {
            return false;
        };
        if self.col >= line.len() {
            return self.join_with_next();
        }
        line.truncate(self.col);
        true
    }

    /// Deletes the chars from `start` up to the cursor.
    fn delete_before(&mut self, start: usize) -> bool {
        let Some(line) = self.lines.get_mut(self.row) else {
            return false;
        };
        let end = self.col.min(line.len());
        let start = start.min(end);
        line.drain(start..end);
        self.col = start;
        start != end
    }

    fn join_with_previous(&mut self) -> bool {
        if self.row == 0 || self.row >= self.lines.len() {
            return false;
        }
        let line = self.lines.remove(self.row);
        self.row -= 1;
        if let Some(prev) = self.lines.get_mut(self.row) {
            self.col = prev.len();
            prev.extend(line);
        }
        true
    }

    fn join_with_next(&mut self) -> bool {
        if self.row + 1 >= self.lines.len() {
            return false;
        }
        let next = self.lines.remove(self.row + 1);
        if let Some(line) = self.lines.get_mut(self.row) {
            line.extend(next);
        }
        true
    }

    fn left(&mut self) -> bool {
        if self.col == 0 {
            if self.row == 0 {
                return false;
            }
            self.row -= 1;
            self.col = self.current().len();
            return true;
        }
        // Step over combining marks too, so the cursor never sits inside a character.
        let line = self.current();
        let mut col = self.col - 1;
        while col > 0 && line.get(col).is_some_and(|&c| char_width(c) == 0) {
            col -= 1;
        }
        self.col = col;
        true
    }

    fn right(&mut self) -> bool {
        let line = self.current();
        if self.col >= line.len() {
            if self.row + 1 >= self.lines.len() {
                return false;
            }
            self.row += 1;
            self.col = 0;
            return true;
        }
        let mut col = self.col + 1;
        while line.get(col).is_some_and(|&c| char_width(c) == 0) {
            col += 1;
        }
        self.col = col;
        true
    }

    fn word_left(&mut self) -> bool {
        if self.col == 0 {
            return self.left();
        }
        let col = word_start(self.current(), self.col);
        self.set_col(col)
    }

    fn word_right(&mut self) -> bool {
        if self.col >= self.current().len() {
            return self.right();
        }
        let col = word_end(self.current(), self.col);
        self.set_col(col)
    }

    /// Moves one line up (-1) or down (1), aiming at the goal display column.
    fn vertical(&mut self, step: isize) -> bool {
        let Some(row) = self.row.checked_add_signed(step) else {
            return false;
        };
        let Some(line) = self.lines.get(row) else {
            return false;
        };
        let goal = match self.goal {
            Some(goal) => goal,
            None => display_width(self.current().get(..self.col).unwrap_or_default()),
        };
        self.goal = Some(goal);
        self.col = col_at_display(line, goal);
        self.row = row;
        true
    }

    /// Soft-wraps the buffer to `width` columns (char by char: an editor must show every
    /// character where the cursor expects it). A line whose last row is full, with the cursor
    /// at its end, gets an empty row for the cursor to sit on.
    fn layout(&self, width: usize) -> Vec<VisualRow> {
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
    fn cursor_in(&self, rows: &[VisualRow]) -> (usize, usize) {
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

fn moved(changed: bool) -> EditorOutcome {
    if changed {
        EditorOutcome::Moved
    } else {
        EditorOutcome::Nothing
    }
}

/// Display width of a char; control chars never reach the buffer, but count them as nothing.
fn char_width(c: char) -> usize {
    c.width().unwrap_or(0)
}

fn display_width(chars: &[char]) -> usize {
    chars.iter().map(|&c| char_width(c)).sum()
}

/// The char index in `line` whose display column is nearest `goal` without passing it.
fn col_at_display(line: &[char], goal: usize) -> usize {
    let mut x = 0;
    for (i, &c) in line.iter().enumerate() {
        x += char_width(c);
        if x > goal {
            return i;
        }
    }
    line.len()
}

/// Paste normalisation: `\r\n` and `\r` become `\n`, tabs become spaces, and other control
/// characters (escape sequences, bells) are dropped so they never reach the terminal.
fn sanitize(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\r' => {
                chars.next_if_eq(&'\n');
                out.push('\n');
            }
            '\n' => out.push('\n'),
            '\t' => out.push_str(TAB),
            c if c.is_control() => {}
            c => out.push(c),
        }
    }
    out
}

/// Word classes for word moves: a run of one class is a word, so `foo.bar` is three stops.
fn class(c: char) -> u8 {
    if c.is_whitespace() {
        0
    } else if c.is_alphanumeric() || c == '_' {
        1
    } else {
        2
    }
}

/// Where the word before `col` starts: back over whitespace, then over one run of a class.
fn word_start(line: &[char], col: usize) -> usize {
    let before = line.get(..col).unwrap_or(line);
    let spaces = before.iter().rev().take_while(|&&c| class(c) == 0).count();
    let rest = before.get(..before.len() - spaces).unwrap_or_default();
    let word = match rest.last() {
        Some(&last) => rest
            .iter()
            .rev()
            .take_while(|&&c| class(c) == class(last))
            .count(),
        None => 0,
    };
    rest.len() - word
}

/// Where the word after `col` ends: forward over whitespace, then over one run of a class.
fn word_end(line: &[char], col: usize) -> usize {
    let after = line.get(col..).unwrap_or_default();
    let spaces = after.iter().take_while(|&&c| class(c) == 0).count();
    let rest = after.get(spaces..).unwrap_or_default();
    let word = match rest.first() {
        Some(&first) => rest
            .iter()
            .take_while(|&&c| class(c) == class(first))
            .count(),
        None => 0,
    };
    col.min(line.len()) + spaces + word
}

#[cfg(test)]
mod tests {
    use super::*;
    use EditorAction as A;
    use crossterm::event::{KeyCode, KeyEvent, KeyEventKind, KeyModifiers};

    fn typed(text: &str) -> (PromptEditor, History) {
        let mut e = PromptEditor::new();
        let mut h = History::in_memory();
        for c in text.chars() {
            let action = if c == '\n' { A::Newline } else { A::Insert(c) };
            e.apply(action, &mut h);
        }
        (e, h)
    }

    fn run(e: &mut PromptEditor, h: &mut History, actions: &[A]) {
        for a in actions {
            e.apply(a.clone(), h);
        }
    }

    /// The editor layer's meaning of a key.
    fn key(code: KeyCode, modifiers: KeyModifiers) -> Option<EditorAction> {
        editor_key(&KeyEvent::new(code, modifiers))
    }

    fn editor_key(key: &KeyEvent) -> Option<EditorAction> {
        use crate::tui::keys::{Action, KeyMap, LayerId};
        match KeyMap::workbench().resolve(key, &[LayerId::Editor]) {
            Some(Action::Edit(a)) => Some(a),
            _ => None,
        }
    }

    /// The visible text of each row of `buf`, skipping the cells that wide chars cover.
    fn rows(buf: &Buffer) -> Vec<String> {
        let area = buf.area;
        (area.y..area.bottom())
            .map(|y| {
                let mut s = String::new();
                let mut x = area.x;
                while x < area.right() {
                    let symbol = buf.cell((x, y)).map_or(" ", |c| c.symbol());
                    s.push_str(symbol);
                    x += unicode_width::UnicodeWidthStr::width(symbol).max(1) as u16;
                }
                s.trim_end().to_string()
            })
            .collect()
    }

    fn draw(e: &PromptEditor, width: u16, height: u16) -> (Vec<String>, Option<Position>) {
        let area = Rect::new(0, 0, width, height);
        let mut buf = Buffer::empty(area);
        let at = e.render(
            area,
            &mut buf,
            &Theme::dark(),
            true,
            "Type a prompt · enter run",
        );
        (rows(&buf), at)
    }

    #[test]
    fn typing_and_moving() {
        let (mut e, mut h) = typed("hello");
        assert_eq!(e.text(), "hello");
        assert_eq!(e.cursor(), (0, 5));
        assert_eq!(e.apply(A::Left, &mut h), EditorOutcome::Moved);
        assert_eq!(e.apply(A::Insert('!'), &mut h), EditorOutcome::Edited);
        assert_eq!(e.text(), "hell!o");
        run(&mut e, &mut h, &[A::LineStart]);
        assert_eq!(e.apply(A::Left, &mut h), EditorOutcome::Nothing);
        run(&mut e, &mut h, &[A::LineEnd, A::Newline, A::Insert('x')]);
        assert_eq!(e.text(), "hell!o\nx");
        // Left and right wrap across lines.
        run(&mut e, &mut h, &[A::Left, A::Left]);
        assert_eq!(e.cursor(), (0, 6));
        run(&mut e, &mut h, &[A::Right]);
        assert_eq!(e.cursor(), (1, 0));
    }

    #[test]
    fn multi_byte_and_wide_chars() {
        let (mut e, mut h) = typed("é漢字😀x");
        assert_eq!(e.cursor(), (0, 5));
        run(&mut e, &mut h, &[A::Left, A::Left, A::Backspace]);
        assert_eq!(e.text(), "é漢😀x");
        assert_eq!(e.cursor(), (0, 2));
        run(&mut e, &mut h, &[A::Delete]);
        assert_eq!(e.text(), "é漢x");
        // A combining accent travels with its letter.
        e.set_text("e\u{301}z");
        run(&mut e, &mut h, &[A::Left, A::Left]);
        assert_eq!(e.cursor(), (0, 0));
        run(&mut e, &mut h, &[A::Right]);
        assert_eq!(e.cursor(), (0, 2));
    }

    #[test]
    fn paste_normalises_line_ends_tabs_and_controls() {
        let (mut e, mut h) = typed("hello world");
        run(&mut e, &mut h, &[A::WordLeft, A::Left]);
        assert_eq!(e.cursor(), (0, 5));
        run(
            &mut e,
            &mut h,
            &[A::Paste("X\r\nY\rZ\tW\u{7}\u{1b}".into())],
        );
        assert_eq!(e.text(), "helloX\nY\nZ    W world");
        assert_eq!(e.cursor(), (2, 6));
        assert_eq!(
            e.apply(A::Paste("\u{1b}\u{0}".into()), &mut h),
            EditorOutcome::Nothing
        );
        e.set_text("a\r\nb");
        assert_eq!(e.text(), "a\nb");
        assert_eq!(e.cursor(), (1, 1));
    }

    #[test]
    fn backspace_and_delete_join_lines() {
        let (mut e, mut h) = typed("ab\ncd");
        run(&mut e, &mut h, &[A::LineStart, A::Backspace]);
        assert_eq!(e.text(), "abcd");
        assert_eq!(e.cursor(), (0, 2));
        run(&mut e, &mut h, &[A::Newline, A::Up, A::LineEnd, A::Delete]);
        assert_eq!(e.text(), "abcd");
        assert_eq!(e.cursor(), (0, 2));
        run(&mut e, &mut h, &[A::LineEnd]);
        assert_eq!(e.apply(A::Delete, &mut h), EditorOutcome::Nothing);
        run(&mut e, &mut h, &[A::LineStart]);
        assert_eq!(e.apply(A::Backspace, &mut h), EditorOutcome::Nothing);
    }

    #[test]
    fn word_and_line_deletes() {
        let (mut e, mut h) = typed("foo bar.baz  ");
        run(&mut e, &mut h, &[A::DeleteWordBack]);
        assert_eq!(e.text(), "foo bar.");
        run(&mut e, &mut h, &[A::DeleteWordBack]);
        assert_eq!(e.text(), "foo bar");
        run(&mut e, &mut h, &[A::DeleteWordBack]);
        assert_eq!(e.text(), "foo ");
        run(&mut e, &mut h, &[A::Newline, A::DeleteWordBack]);
        assert_eq!(e.text(), "foo ");

        let (mut e, mut h) = typed("one two\nthree four");
        run(&mut e, &mut h, &[A::WordLeft, A::DeleteToLineStart]);
        assert_eq!(e.text(), "one two\nfour");
        run(&mut e, &mut h, &[A::DeleteToLineStart]);
        assert_eq!(e.text(), "one twofour");
        assert_eq!(e.cursor(), (0, 7));
        run(&mut e, &mut h, &[A::WordLeft, A::DeleteToLineEnd]);
        assert_eq!(e.text(), "one ");
        run(&mut e, &mut h, &[A::WordLeft, A::WordRight]);
        assert_eq!(e.cursor(), (0, 3));
    }

    #[test]
    fn up_and_down_keep_the_preferred_column() {
        let (mut e, mut h) = typed("abcdef\nab\nabcdef");
        run(&mut e, &mut h, &[A::Left]);
        assert_eq!(e.cursor(), (2, 5));
        run(&mut e, &mut h, &[A::Up]);
        assert_eq!(e.cursor(), (1, 2));
        run(&mut e, &mut h, &[A::Up]);
        assert_eq!(e.cursor(), (0, 5));
        run(&mut e, &mut h, &[A::Down, A::Down]);
        assert_eq!(e.cursor(), (2, 5));
        // Display columns, not chars: column 4 is after the second wide char.
        let (mut e, mut h) = typed("漢字x\nabcde");
        run(&mut e, &mut h, &[A::Left, A::Up]);
        assert_eq!(e.cursor(), (0, 2));
    }

    #[test]
    fn arrows_walk_history_past_the_first_and_last_line() {
        let mut h = History::in_memory();
        h.push("one").unwrap();
        h.push("two\nlines").unwrap();
        let mut e = PromptEditor::new();
        run(&mut e, &mut h, &[A::Insert('d')]);
        assert_eq!(e.apply(A::Up, &mut h), EditorOutcome::Edited);
        assert_eq!(e.text(), "two\nlines");
        assert_eq!(e.cursor(), (1, 5));
        // Inside a multi-line entry the arrows move first.
        assert_eq!(e.apply(A::Up, &mut h), EditorOutcome::Moved);
        run(&mut e, &mut h, &[A::Up]);
        assert_eq!(e.text(), "one");
        assert_eq!(e.apply(A::Up, &mut h), EditorOutcome::Nothing);
        run(&mut e, &mut h, &[A::Down]);
        assert_eq!(e.text(), "two\nlines");
        run(&mut e, &mut h, &[A::Down]);
        assert_eq!(e.text(), "d");
        assert_eq!(e.apply(A::Down, &mut h), EditorOutcome::Nothing);
        // Ctrl-p / ctrl-n walk history from any line.
        let (mut e, _) = typed("a\nb");
        run(&mut e, &mut h, &[A::Up, A::HistoryPrev]);
        assert_eq!(e.text(), "two\nlines");
        run(&mut e, &mut h, &[A::HistoryNext]);
        assert_eq!(e.text(), "a\nb");
    }

    #[test]
    fn editing_a_recalled_entry_makes_it_the_draft() {
        let mut h = History::in_memory();
        h.push("one").unwrap();
        h.push("two").unwrap();
        let mut e = PromptEditor::new();
        run(&mut e, &mut h, &[A::Up, A::Up, A::Insert('!')]);
        assert_eq!(e.text(), "one!");
        assert!(!h.is_browsing());
        run(&mut e, &mut h, &[A::Up]);
        assert_eq!(e.text(), "two");
        run(&mut e, &mut h, &[A::Down]);
        assert_eq!(e.text(), "one!");
    }

    #[test]
    fn a_failed_history_write_still_submits_and_is_kept_for_the_app() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("h.jsonl");
        let mut h = History::load(&path).unwrap();
        std::fs::create_dir(&path).unwrap();
        let mut e = PromptEditor::new();
        e.set_text("go");
        assert_eq!(
            e.apply(A::Submit, &mut h),
            EditorOutcome::Submit("go".into())
        );
        assert!(h.take_error().is_some());
        assert_eq!(h.entries(), ["go".to_string()]);
    }

    #[test]
    fn submit_records_history_and_keeps_the_text() {
        let (mut e, mut h) = typed("  \n ");
        assert_eq!(e.apply(A::Submit, &mut h), EditorOutcome::Nothing);
        assert!(h.entries().is_empty());
        e.set_text("why?");
        assert_eq!(
            e.apply(A::Submit, &mut h),
            EditorOutcome::Submit("why?".into())
        );
        assert_eq!(e.text(), "why?");
        run(&mut e, &mut h, &[A::Insert('!')]);
        assert_eq!(
            e.apply(A::SubmitCompare, &mut h),
            EditorOutcome::SubmitCompare("why?!".into())
        );
        assert_eq!(h.entries(), ["why?".to_string(), "why?!".to_string()]);
        // The newest entry is already on screen, so up goes straight to the one before.
        run(&mut e, &mut h, &[A::Up]);
        assert_eq!(e.text(), "why?");
        assert_eq!(e.apply(A::Leave, &mut h), EditorOutcome::Leave);
    }

    #[test]
    fn key_mapping() {
        use KeyCode::*;
        let none = KeyModifiers::NONE;
        let ctrl = KeyModifiers::CONTROL;
        let alt = KeyModifiers::ALT;
        assert_eq!(key(Char('a'), none), Some(A::Insert('a')));
        assert_eq!(key(Char('A'), KeyModifiers::SHIFT), Some(A::Insert('A')));
        assert_eq!(key(Enter, none), Some(A::Submit));
        assert_eq!(key(Enter, alt), Some(A::Newline));
        assert_eq!(key(Enter, KeyModifiers::SHIFT), Some(A::Newline));
        assert_eq!(key(Char('j'), ctrl), Some(A::Newline));
        assert_eq!(key(Char('o'), ctrl), Some(A::SubmitCompare));
        assert_eq!(key(Esc, none), Some(A::Leave));
        assert_eq!(key(Char('c'), ctrl), None);
        assert_eq!(key(Tab, none), Some(A::Leave));
        assert_eq!(key(Char('p'), ctrl), Some(A::HistoryPrev));
        assert_eq!(key(Char('n'), ctrl), Some(A::HistoryNext));
        assert_eq!(key(Up, none), Some(A::Up));
        assert_eq!(key(Down, none), Some(A::Down));
        assert_eq!(key(Char('w'), ctrl), Some(A::DeleteWordBack));
        assert_eq!(key(Backspace, alt), Some(A::DeleteWordBack));
        assert_eq!(key(Char('u'), ctrl), Some(A::DeleteToLineStart));
        assert_eq!(key(Char('k'), ctrl), Some(A::DeleteToLineEnd));
        assert_eq!(key(Char('a'), ctrl), Some(A::LineStart));
        assert_eq!(key(Char('e'), ctrl), Some(A::LineEnd));
        assert_eq!(key(Home, none), Some(A::LineStart));
        assert_eq!(key(End, none), Some(A::LineEnd));
        assert_eq!(key(Left, alt), Some(A::WordLeft));
        assert_eq!(key(Right, ctrl), Some(A::WordRight));
        assert_eq!(key(Char('b'), alt), Some(A::WordLeft));
        assert_eq!(key(Char('@'), ctrl | alt), Some(A::Insert('@')));
        let mut release = KeyEvent::new(Char('a'), none);
        release.kind = KeyEventKind::Release;
        assert_eq!(editor_key(&release), None);
    }

    #[test]
    fn renders_soft_wrapped_with_the_cursor_after_the_wrap() {
        let (e, _) = typed("abcdefghijklmno");
        let (rows, at) = draw(&e, 10, 3);
        assert_eq!(rows, ["abcdefghij", "klmno", ""]);
        assert_eq!(at, Some(Position::new(5, 1)));
        // A line exactly as wide as the area puts the cursor on a row of its own.
        let (e, _) = typed("abcdefghij");
        let (rows, at) = draw(&e, 10, 3);
        assert_eq!(rows, ["abcdefghij", "", ""]);
        assert_eq!(at, Some(Position::new(0, 1)));
        assert_eq!(e.wrapped_height(10), 2);
        // Hard lines each start a row.
        let (e, _) = typed("ab\ncd");
        assert_eq!(
            draw(&e, 10, 2),
            (vec!["ab".into(), "cd".into()], Some(Position::new(2, 1)))
        );
    }

    #[test]
    fn renders_wide_chars_at_display_columns() {
        // Five wide chars fill 10 columns; at width 9 the fifth moves down.
        let (mut e, mut h) = typed("漢字漢字漢字");
        let (rows, at) = draw(&e, 10, 2);
        assert_eq!(rows, ["漢字漢字漢", "字"]);
        assert_eq!(at, Some(Position::new(2, 1)));
        let (rows, at) = draw(&e, 9, 2);
        assert_eq!(rows, ["漢字漢字", "漢字"]);
        assert_eq!(at, Some(Position::new(4, 1)));
        run(
            &mut e,
            &mut h,
            &[A::LineStart, A::Right, A::Right, A::Right],
        );
        assert_eq!(draw(&e, 9, 2).1, Some(Position::new(6, 0)));
        let (e, _) = typed("é😀x");
        let (rows, at) = draw(&e, 10, 1);
        assert_eq!(rows, ["é😀x"]);
        assert_eq!(at, Some(Position::new(4, 0)));
    }

    #[test]
    fn out_of_focus_a_long_prompt_shows_from_its_start_with_an_ellipsis() {
        let (e, _) = typed("alpha beta gamma delta epsilon zeta eta theta iota kappa");
        let area = Rect::new(0, 0, 16, 2);
        let mut buf = Buffer::empty(area);
        assert_eq!(e.render(area, &mut buf, &Theme::dark(), false, ""), None);
        let shown = rows(&buf);
        assert!(shown[0].starts_with("alpha beta"), "{shown:?}");
        assert!(shown[1].ends_with('…'), "{shown:?}");
        // Focused, it follows the cursor at the end.
        let (rows_focused, _) = draw(&e, 16, 2);
        assert!(rows_focused[1].contains("kappa"), "{rows_focused:?}");
    }

    #[test]
    fn placeholder_when_empty() {
        let e = PromptEditor::new();
        let (rows, at) = draw(&e, 20, 2);
        assert_eq!(rows, ["Type a prompt · ente", ""]);
        assert_eq!(at, Some(Position::new(0, 0)));
        let area = Rect::new(0, 0, 20, 1);
        let mut buf = Buffer::empty(area);
        assert_eq!(e.render(area, &mut buf, &Theme::dark(), false, ""), None);
        let (typed, _) = typed(" ");
        assert_eq!(draw(&typed, 20, 1).0, [""]);
    }

    #[test]
    fn scrolls_to_keep_the_cursor_visible() {
        let (mut e, mut h) = typed("l0\nl1\nl2\nl3\nl4");
        let (rows, at) = draw(&e, 10, 2);
        assert_eq!(rows, ["l3", "l4"]);
        assert_eq!(at, Some(Position::new(2, 1)));
        run(&mut e, &mut h, &[A::Up, A::Up, A::Up, A::Up]);
        let (rows, at) = draw(&e, 10, 2);
        assert_eq!(rows, ["l0", "l1"]);
        assert_eq!(at, Some(Position::new(2, 0)));
        run(&mut e, &mut h, &[A::Down, A::Down]);
        assert_eq!(
            draw(&e, 10, 2),
            (vec!["l1".into(), "l2".into()], Some(Position::new(2, 1)))
        );
        // A zero-sized area draws nothing.
        let mut buf = Buffer::empty(Rect::new(0, 0, 0, 0));
        assert_eq!(
            e.render(Rect::new(0, 0, 0, 0), &mut buf, &Theme::dark(), true, ""),
            None
        );
    }

    fn any_action() -> impl proptest::strategy::Strategy<Value = EditorAction> {
        use proptest::prelude::*;
        let simple = [
            A::Newline,
            A::Backspace,
            A::Delete,
            A::DeleteWordBack,
            A::DeleteToLineStart,
            A::DeleteToLineEnd,
            A::Left,
            A::Right,
            A::Up,
            A::Down,
            A::WordLeft,
            A::WordRight,
            A::LineStart,
            A::LineEnd,
            A::HistoryPrev,
            A::HistoryNext,
            A::Submit,
        ];
        prop_oneof![
            proptest::sample::select(simple.to_vec()),
            proptest::sample::select(vec!['a', ' ', '.', 'é', '漢', '😀', '\u{301}', '\t', '\r'])
                .prop_map(A::Insert),
            "[a 漢\r\n\t\u{1b}\u{301}]{0,12}".prop_map(A::Paste),
        ]
    }

    proptest::proptest! {
        #[test]
        fn any_keys_keep_the_cursor_inside_and_render_without_panics(
            actions in proptest::collection::vec(any_action(), 0..60),
            width in 0u16..12,
            height in 0u16..5,
        ) {
            let mut e = PromptEditor::new();
            let mut h = History::in_memory();
            for a in actions {
                e.apply(a, &mut h);
                let (row, col) = e.cursor();
                proptest::prop_assert!(row < e.line_count());
                proptest::prop_assert!(col <= e.current().len());
                let area = Rect::new(1, 1, width, height);
                let mut buf = Buffer::empty(Rect::new(0, 0, 14, 7));
                if let Some(at) = e.render(area, &mut buf, &Theme::dark(), true, "") {
                    proptest::prop_assert!(area.contains(at));
                }
            }
            let text = e.text();
            proptest::prop_assert!(!text.contains(['\r', '\t', '\u{1b}']), "{:?}", text);
        }
    }
}
