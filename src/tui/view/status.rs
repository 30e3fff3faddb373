//! The title bar and the status bar: where the playhead is, how playback runs, and the main
//! keys (from the keymap).

use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::style::{Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::Paragraph;

use crate::structure::SpanKind;
use crate::tui::app::App;
use crate::units::count;

pub fn title(frame: &mut Frame, area: Rect, app: &App) {
    let theme = &app.theme;
    let h = &app.timeline.header;
    let tokenizer = match &h.tokenizer {
        crate::trace::TokenizerInfo::Estimate { .. } => "estimated tokens".to_string(),
        crate::trace::TokenizerInfo::HfJson { .. } => "tokenizer.json".to_string(),
        crate::trace::TokenizerInfo::Gguf { pre, .. } => format!("gguf/{pre}"),
        crate::trace::TokenizerInfo::Model { name, .. } => name.clone(),
    };
    let sep = Span::styled(" │ ", Style::new().fg(theme.border));
    let line = Line::from(vec![
        Span::styled(" memento ", theme.title_style()),
        sep.clone(),
        Span::styled(
            app.title.clone(),
            Style::new().fg(theme.text).add_modifier(Modifier::BOLD),
        ),
        sep.clone(),
        Span::styled(
            format!("{} {}", h.model.shape.name, h.model.shape.dtype.name()),
            Style::new().fg(theme.text),
        ),
        sep.clone(),
        Span::styled(
            format!("policy {}", h.policy.label()),
            Style::new().fg(theme.text),
        ),
        sep,
        Span::styled(tokenizer, Style::new().fg(theme.dim)),
    ]);
    frame.render_widget(
        Paragraph::new(line).style(Style::new().bg(theme.status_bg)),
        area,
    );
}

pub fn status(frame: &mut Frame, area: Rect, app: &App, at: &super::AtCursor) {
    let theme = &app.theme;
    let base = Style::new().fg(theme.status_fg).bg(theme.status_bg);
    let state = &at.state;
    let play = if app.playing { "▶" } else { "⏸" };
    let pct = if !app.is_empty() {
        app.cursor as f64 * 100.0 / app.len() as f64
    } else {
        100.0
    };
    let place = match state.open {
        Some(o) => match (o.kind, o.block) {
            (SpanKind::Block, Some(b)) => format!("block {}", b + 1),
            (SpanKind::Summary, Some(b)) => format!("memento {}", b + 1),
            (kind, _) => kind.label().to_string(),
        },
        None if app.cursor == 0 => "prompt".into(),
        None => "-".into(),
    };
    let mut left = vec![
        Span::styled(
            format!(" {play} {}× ", fmt_speed(app.speed())),
            base.add_modifier(Modifier::BOLD),
        ),
        Span::styled(
            format!(
                "tok {}/{} ({pct:.0}%) ",
                count(app.cursor),
                count(app.len())
            ),
            base,
        ),
        Span::styled(format!("· {place} "), base),
    ];
    if app.scroll > 0 {
        left.push(Span::styled(
            format!("· scrolled {} ", app.scroll),
            base.fg(theme.warning),
        ));
    }
    let mut hints = Vec::new();
    for &action in &app.keymap.hints {
        if let Some(key) = app.keymap.keys_for(action).first() {
            hints.push(Span::styled(
                key.clone(),
                base.fg(theme.key).add_modifier(Modifier::BOLD),
            ));
            hints.push(Span::styled(format!(" {}  ", action.hint()), base));
        }
    }
    let left_width: usize = left.iter().map(|s| s.width()).sum();
    let hint_width: usize = hints.iter().map(|s| s.width()).sum();
    let room = (area.width as usize).saturating_sub(left_width);
    let mut spans = left;
    if hint_width <= room {
        spans.push(Span::styled(" ".repeat(room - hint_width), base));
        spans.extend(hints);
    } else {
        // Narrow: drop hints from the right until they fit, keeping help last.
        let help = app
            .keymap
            .keys_for(crate::tui::keymap::Action::ToggleHelp)
            .first()
            .cloned()
            .unwrap_or_default();
        let short = format!("{help} help ");
        if short.len() <= room {
            spans.push(Span::styled(" ".repeat(room - short.len()), base));
            spans.push(Span::styled(short, base.fg(theme.key)));
        }
    }
    frame.render_widget(Paragraph::new(Line::from(spans)).style(base), area);
}

fn fmt_speed(s: f64) -> String {
    if s >= 1.0 {
        format!("{s:.0}")
    } else {
        format!("{s}")
    }
}
