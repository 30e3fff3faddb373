//! The editor's text rules: word classes and word boundaries for word moves and deletes, and
//! the clean-up of pasted text.

use super::TAB;

/// Paste normalisation: `\r\n` and `\r` become `\n`, tabs become spaces, and other control
/// characters (escape sequences, bells) are dropped so they never reach the terminal.
pub(super) fn sanitize(text: &str) -> String {
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
pub(super) fn word_start(line: &[char], col: usize) -> usize {
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
pub(super) fn word_end(line: &[char], col: usize) -> usize {
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
