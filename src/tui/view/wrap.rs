//! Word-wrap styled text into lines of a given width, so a pane can show exactly the lines
//! that end at the playhead.

use ratatui::style::Style;
use ratatui::text::{Line, Span};
use unicode_width::UnicodeWidthChar;

/// Wrap `(text, style)` runs to `width` columns. `\n` breaks lines; words move whole to the
/// next line when they do not fit, and words wider than the line are cut.
pub fn wrap(segments: &[(String, Style)], width: u16) -> Vec<Line<'static>> {
    let mut w = Wrapper::new(width.max(1) as usize);
    for (text, style) in segments {
        for c in text.chars() {
            w.push(c, *style);
        }
    }
    w.finish()
}

struct Wrapper {
    width: usize,
    lines: Vec<Line<'static>>,
    line: Vec<(char, Style)>,
    line_width: usize,
    word: Vec<(char, Style)>,
    word_width: usize,
    /// The current line began with a soft wrap (so leading spaces are dropped).
    soft: bool,
}

impl Wrapper {
    fn new(width: usize) -> Self {
        Wrapper {
            width,
            lines: Vec::new(),
            line: Vec::new(),
            line_width: 0,
            word: Vec::new(),
            word_width: 0,
            soft: false,
        }
    }

    fn push(&mut self, c: char, style: Style) {
        match c {
            '\n' => {
                self.flush_word();
                self.break_line();
            }
            '\r' => {}
            '\t' => {
                for _ in 0..4 {
                    self.push(' ', style);
                }
            }
            ' ' => {
                self.flush_word();
                if self.line_width < self.width {
                    // A space that would start a wrapped line is dropped.
                    if !(self.line.is_empty() && self.soft) {
                        self.line.push((' ', style));
                        self.line_width += 1;
                    }
                } else {
                    self.break_line_soft();
                }
            }
            c if c.is_control() => {}
            c => {
                let cw = c.width().unwrap_or(0);
                self.word.push((c, style));
                self.word_width += cw;
            }
        }
    }

    fn flush_word(&mut self) {
        if self.word.is_empty() {
            return;
        }
        if self.line_width + self.word_width > self.width && self.line_width > 0 {
            self.break_line_soft();
        }
        let word = std::mem::take(&mut self.word);
        self.word_width = 0;
        for (c, style) in word {
            let cw = c.width().unwrap_or(0);
            if self.line_width + cw > self.width && self.line_width > 0 {
                self.break_line_soft();
            }
            self.line.push((c, style));
            self.line_width += cw;
        }
    }

    fn break_line(&mut self) {
        let line = std::mem::take(&mut self.line);
        self.lines.push(to_line(line));
        self.line_width = 0;
        self.soft = false;
    }

    fn break_line_soft(&mut self) {
        self.break_line();
        self.soft = true;
    }

    fn finish(mut self) -> Vec<Line<'static>> {
        self.flush_word();
        if !self.line.is_empty() {
            self.break_line();
        }
        self.lines
    }
}

fn to_line(chars: Vec<(char, Style)>) -> Line<'static> {
    let mut spans: Vec<Span<'static>> = Vec::new();
    let mut text = String::new();
    let mut current: Option<Style> = None;
    for (c, style) in chars {
        if current != Some(style) {
            if let Some(s) = current {
                spans.push(Span::styled(std::mem::take(&mut text), s));
            }
            current = Some(style);
        }
        text.push(c);
    }
    if let Some(s) = current {
        spans.push(Span::styled(text, s));
    }
    Line::from(spans)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn plain(lines: &[Line]) -> Vec<String> {
        lines
            .iter()
            .map(|l| l.spans.iter().map(|s| s.content.as_ref()).collect())
            .collect()
    }

    fn seg(t: &str) -> Vec<(String, Style)> {
        vec![(t.to_string(), Style::new())]
    }

    #[test]
    fn wraps_at_word_boundaries() {
        let lines = wrap(&seg("the quick brown fox jumps"), 10);
        assert_eq!(plain(&lines), ["the quick", "brown fox", "jumps"]);
    }

    #[test]
    fn hard_breaks_and_long_words() {
        let lines = wrap(&seg("ab\ncdefghijklmn op"), 5);
        assert_eq!(plain(&lines), ["ab", "cdefg", "hijkl", "mn op"]);
    }

    #[test]
    fn words_keep_their_styles_across_runs() {
        let red = Style::new().fg(ratatui::style::Color::Red);
        let segs = vec![
            ("hel".to_string(), Style::new()),
            ("lo world".to_string(), red),
        ];
        let lines = wrap(&segs, 20);
        assert_eq!(lines[0].spans.len(), 2);
        assert_eq!(plain(&lines), ["hello world"]);
    }

    #[test]
    fn wide_characters_count_double() {
        let lines = wrap(&seg("漢字漢字漢字"), 5);
        assert_eq!(plain(&lines), ["漢字", "漢字", "漢字"]);
    }
}
