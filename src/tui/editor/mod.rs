//! The prompt editor of the live workbench: a multi-line buffer with a cursor, the keys that
//! edit it, and its drawing (soft-wrapped, scrolled to the cursor). Pure state: the editor
//! layer of the key map turns keys into actions, the app feeds them to `apply` and acts on
//! the outcomes. The buffer and its edits are here; `layout.rs` soft-wraps it, `draw.rs` draws
//! it, `words.rs` holds the text rules (word classes, paste clean-up).

mod draw;
mod layout;
mod words;

use crate::tui::history::History;
use layout::{char_width, col_at_display, display_width};
use words::{sanitize, word_end, word_start};

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
}

fn moved(changed: bool) -> EditorOutcome {
    if changed {
        EditorOutcome::Moved
    } else {
        EditorOutcome::Nothing
    }
}

#[cfg(test)]
mod tests;
