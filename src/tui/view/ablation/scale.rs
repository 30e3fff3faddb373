//! The colour scale of the heatmaps: eight steps from the theme's empty-gauge colour through
//! its memento series colour to its memento colour, and a legend that shows them with the
//! values at the ends.

use ratatui::style::{Color, Style};
use ratatui::text::{Line, Span};

use crate::tui::theme::Theme;

pub const LEVELS: usize = 8;

/// The step of `value` on a scale from 0 to `max`: 0 for zero, the top step for `max`.
pub fn level(value: f64, max: f64) -> usize {
    if max <= 0.0 || !value.is_finite() || value <= 0.0 {
        return 0;
    }
    let t = (value / max).clamp(0.0, 1.0);
    // Zero alone is the bottom step; any positive value is at least the first.
    ((t * (LEVELS - 1) as f64).ceil() as usize).clamp(1, LEVELS - 1)
}

/// The background colour of step `level`.
pub fn color(theme: &Theme, level: usize) -> Color {
    let stops = [theme.gauge_empty, theme.series_memento, theme.memento];
    let t = level.min(LEVELS - 1) as f64 / (LEVELS - 1) as f64;
    let scaled = t * (stops.len() - 1) as f64;
    let i = (scaled.floor() as usize).min(stops.len() - 2);
    let f = scaled - i as f64;
    match (stops[i], stops[i + 1]) {
        (Color::Rgb(r0, g0, b0), Color::Rgb(r1, g1, b1)) => {
            let mix = |a: u8, b: u8| (a as f64 + (b as f64 - a as f64) * f).round() as u8;
            Color::Rgb(mix(r0, r1), mix(g0, g1), mix(b0, b1))
        }
        // Named colours cannot be mixed: the nearer stop.
        (a, b) => {
            if f < 0.5 {
                a
            } else {
                b
            }
        }
    }
}

/// `low ▕steps▏ high`, each step `cell` columns wide.
pub fn legend(theme: &Theme, low: &str, high: &str, cell: usize) -> Line<'static> {
    let mut spans = vec![Span::styled(format!("{low} "), Style::new().fg(theme.dim))];
    for l in 0..LEVELS {
        spans.push(Span::styled(
            " ".repeat(cell.max(1)),
            Style::new().bg(color(theme, l)),
        ));
    }
    spans.push(Span::styled(format!(" {high}"), Style::new().fg(theme.dim)));
    Line::from(spans)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn zero_is_the_bottom_step_and_the_maximum_the_top() {
        assert_eq!(level(0.0, 2.0), 0);
        assert_eq!(level(2.0, 2.0), LEVELS - 1);
        assert_eq!(level(1e-9, 2.0), 1);
        assert_eq!(level(1.0, 0.0), 0);
        let theme = Theme::dark();
        assert_eq!(color(&theme, 0), theme.gauge_empty);
        assert_eq!(color(&theme, LEVELS - 1), theme.memento);
        assert_ne!(color(&theme, 3), color(&theme, 4));
    }
}
