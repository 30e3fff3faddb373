//! The bars and overlay every screen draws the same way: the title bar, the status bar with
//! its key hints, and the `?` help. Each lays out by priority, so a narrow terminal loses the
//! least important part whole, never the end of a number.

use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::style::{Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::Paragraph;

use crate::tui::chrome::Chrome;
use crate::tui::keys::LayerId;
use crate::tui::theme::Theme;

/// A part of a bar and how much it matters: lower numbers are dropped first.
pub struct Part {
    pub priority: u8,
    pub spans: Vec<Span<'static>>,
}

impl Part {
    pub fn new(priority: u8, spans: Vec<Span<'static>>) -> Part {
        Part { priority, spans }
    }

    pub fn text(priority: u8, text: impl Into<String>, style: Style) -> Part {
        Part::new(priority, vec![Span::styled(text.into(), style)])
    }

    fn width(&self) -> usize {
        self.spans.iter().map(Span::width).sum()
    }
}

/// The parts that fit in `width`, in their order: the least important (the rightmost among
/// equals) go first.
pub fn fit(mut parts: Vec<Part>, width: usize) -> Vec<Part> {
    while parts.iter().map(Part::width).sum::<usize>() > width && !parts.is_empty() {
        let lowest = parts.iter().map(|p| p.priority).min().unwrap_or(0);
        let at = parts
            .iter()
            .rposition(|p| p.priority == lowest)
            .unwrap_or(0);
        parts.remove(at);
    }
    parts
}

/// The parts that fit in `width`, as one line.
pub fn fitted_line(parts: Vec<Part>, width: usize) -> Line<'static> {
    Line::from(
        fit(parts, width)
            .into_iter()
            .flat_map(|p| p.spans)
            .collect::<Vec<_>>(),
    )
}

/// A bar: one line on the status colours.
pub fn bar(frame: &mut Frame, area: Rect, theme: &Theme, line: Line<'static>) {
    frame.render_widget(
        Paragraph::new(line).style(Style::new().bg(theme.status_bg)),
        area,
    );
}

/// The playback readout every replay's status bar starts with: play state and speed, then
/// where the playhead is.
pub fn playback_parts(playing: bool, speed: f64, at: String, style: Style) -> Vec<Part> {
    let play = if playing { "▶" } else { "⏸" };
    let speed = if speed >= 1.0 {
        format!("{speed:.0}")
    } else {
        format!("{speed}")
    };
    vec![
        Part::text(
            60,
            format!(" {play} {speed}×"),
            style.add_modifier(Modifier::BOLD),
        ),
        Part::text(90, at, style),
    ]
}

/// The title bar: " memento " then each part that fits, separated by bars.
/// `screen` (what is shown: a file, "workbench", "ablation") comes first, in bold.
pub fn title_bar(
    frame: &mut Frame,
    area: Rect,
    theme: &Theme,
    screen: impl Into<String>,
    parts: Vec<Part>,
) {
    let sep = || Span::styled(" │ ", Style::new().fg(theme.border));
    let mut all = vec![Part::new(
        u8::MAX,
        vec![Span::styled(" memento ", theme.title_style())],
    )];
    let bold = Style::new().fg(theme.text).add_modifier(Modifier::BOLD);
    let parts = std::iter::once(Part::text(9, screen, bold)).chain(parts);
    for mut part in parts {
        part.spans.insert(0, sep());
        all.push(part);
    }
    bar(frame, area, theme, fitted_line(all, area.width as usize));
}

/// The status bar: the screen's readout on the left (the notice first, when there is one),
/// then the active layers' key hints on the right. Hints go from the right as room runs out,
/// the help's last; then the readout's least important parts.
pub fn status_bar(
    frame: &mut Frame,
    area: Rect,
    chrome: &Chrome,
    layers: Vec<LayerId>,
    readout: Vec<Part>,
) {
    let theme = &chrome.theme;
    let base = Style::new().fg(theme.status_fg).bg(theme.status_bg);
    let mut left = Vec::new();
    if let Some(notice) = &chrome.notice {
        // A notice is words (where an export went, what failed): too long, it is shortened
        // rather than dropped.
        let room = (area.width as usize).saturating_sub(2).max(1);
        let mut text: String = notice.chars().take(room).collect();
        if text.chars().count() < notice.chars().count() {
            text.pop();
            text.push('…');
        }
        left.push(Part::text(200, format!(" {text} "), base.fg(theme.warning)));
    }
    // The readout's parts are joined by dots: each carries the dot before the next, and the
    // last one shown drops its own.
    let n = readout.len();
    left.extend(readout.into_iter().enumerate().map(|(i, mut p)| {
        if i + 1 < n {
            p.spans.push(Span::styled(" · ", base));
        }
        p
    }));
    let hints = chrome.hints(layers);
    let hint = |(key, label): &(String, String)| {
        vec![
            Span::styled(key.clone(), base.fg(theme.key).add_modifier(Modifier::BOLD)),
            Span::styled(format!(" {label}  "), base),
        ]
    };
    let width = area.width as usize;
    let mut left = fit(left, width);
    if let Some(last) = left.last_mut() {
        if last.spans.len() > 1 && last.spans.last().is_some_and(|s| s.content == " · ") {
            last.spans.pop();
        }
    }
    let used: usize = left.iter().map(Part::width).sum();
    let room = width - used.min(width);
    // The help hint stays as long as any does.
    let (help, others): (Vec<_>, Vec<_>) = hints.iter().partition(|(_, l)| l == "help");
    let mut shown: Vec<&(String, String)> = others;
    let help_width: usize = help
        .iter()
        .map(|h| hint(h).iter().map(Span::width).sum::<usize>())
        .sum();
    let width_of = |hs: &[&(String, String)]| -> usize {
        hs.iter()
            .map(|h| hint(h).iter().map(Span::width).sum::<usize>())
            .sum()
    };
    while !shown.is_empty() && width_of(&shown) + help_width > room {
        shown.pop();
    }
    if help_width <= room {
        shown.extend(help);
    }
    let hint_spans: Vec<Span> = shown.iter().flat_map(|h| hint(h)).collect();
    let hint_width: usize = hint_spans.iter().map(Span::width).sum();
    let mut spans: Vec<Span> = left.into_iter().flat_map(|p| p.spans).collect();
    spans.push(Span::styled(
        " ".repeat(room.saturating_sub(hint_width)),
        base,
    ));
    spans.extend(hint_spans);
    frame.render_widget(Paragraph::new(Line::from(spans)).style(base), area);
}

/// The help overlay, when it is open.
pub fn help(frame: &mut Frame, chrome: &Chrome) {
    if chrome.help {
        super::help::draw(frame, frame.area(), chrome);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fitting_drops_the_least_important_part_whole() {
        let parts = || {
            vec![
                Part::text(3, "abcd", Style::new()),
                Part::text(1, "efgh", Style::new()),
                Part::text(2, "ijkl", Style::new()),
                Part::text(1, "mnop", Style::new()),
            ]
        };
        let text = |ps: Vec<Part>| -> String {
            ps.into_iter()
                .flat_map(|p| p.spans)
                .map(|s| s.content.to_string())
                .collect()
        };
        assert_eq!(text(fit(parts(), 16)), "abcdefghijklmnop");
        assert_eq!(text(fit(parts(), 15)), "abcdefghijkl");
        assert_eq!(text(fit(parts(), 8)), "abcdijkl");
        assert_eq!(text(fit(parts(), 3)), "");
    }
}
