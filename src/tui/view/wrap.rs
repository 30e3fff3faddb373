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
    line: Vec<Span<'static>>,
    line_width: usize,
    /// The word being read, as styled runs.
    word: Vec<(String, Style)>,
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
                if self.line_width >= self.width {
                    self.break_line_soft();
                } else if !(self.line.is_empty() && self.soft) {
                    // A space that would start a wrapped line is dropped.
                    append(&mut self.line, ' ', style);
                    self.line_width += 1;
                }
            }
            c if c.is_control() => {}
            c => {
                match self.word.last_mut() {
                    Some((text, s)) if *s == style => text.push(c),
                    _ => self.word.push((c.to_string(), style)),
                }
                self.word_width += c.width().unwrap_or(0);
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
        let fits = self.word_width <= self.width - self.line_width;
        self.word_width = 0;
        for (text, style) in word {
            if fits {
                self.line_width += text.chars().map(|c| c.width().unwrap_or(0)).sum::<usize>();
                match self.line.last_mut() {
                    Some(last) if last.style == style => last.content.to_mut().push_str(&text),
                    _ => self.line.push(Span::styled(text, style)),
                }
                continue;
            }
            // Wider than a line: cut it where the line is full.
            for c in text.chars() {
                let cw = c.width().unwrap_or(0);
                if self.line_width + cw > self.width && self.line_width > 0 {
                    self.break_line_soft();
                }
                append(&mut self.line, c, style);
                self.line_width += cw;
            }
        }
    }

    fn break_line(&mut self) {
        self.lines.push(Line::from(std::mem::take(&mut self.line)));
        self.line_width = 0;
        self.soft = false;
    }

    fn break_line_soft(&mut self) {
        // The spaces that ended a wrapped line serve nothing.
        while let Some(last) = self.line.last_mut() {
            let trimmed = last.content.trim_end_matches(' ').len();
            last.content.to_mut().truncate(trimmed);
            if !last.content.is_empty() {
                break;
            }
            self.line.pop();
        }
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

fn append(line: &mut Vec<Span<'static>>, c: char, style: Style) {
    match line.last_mut() {
        Some(last) if last.style == style => last.content.to_mut().push(c),
        _ => line.push(Span::styled(c.to_string(), style)),
    }
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
