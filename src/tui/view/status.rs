//! The replay's title bar and status bar: what is replayed, where the playhead is, how
//! playback runs, and the active layers' keys.

use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::style::Style;

use super::chrome::{Part, playback_parts, status_bar, title_bar};
use crate::structure::SpanKind;
use crate::timeline::Timeline;
use crate::tui::app::App;
use crate::tui::chrome::Keyed;
use crate::tui::replay::Replay;
use crate::tui::theme::Theme;
use crate::units::count;

/// What tokenized a trace, in a few words.
pub fn tokenizer_label(timeline: &Timeline) -> String {
    match &timeline.header.tokenizer {
        crate::trace::TokenizerInfo::Estimate { .. } => "estimated tokens".to_string(),
        crate::trace::TokenizerInfo::HfJson { .. } => "tokenizer.json".to_string(),
        crate::trace::TokenizerInfo::Gguf { pre, .. } => format!("gguf/{pre}"),
        crate::trace::TokenizerInfo::Model { name, .. } => name.clone(),
    }
}

/// Why a recorded stream ended, or that it has not ended (yet).
pub fn ended_label(timeline: &Timeline) -> String {
    match timeline.end() {
        Some(end) => format!("ended: {}", end.reason.label()),
        None => "no end recorded".into(),
    }
}

pub fn title(frame: &mut Frame, area: Rect, app: &App, theme: &Theme) {
    let h = &app.timeline.header;
    let text = Style::new().fg(theme.text);
    let mut parts = vec![
        Part::text(
            5,
            format!("{} {}", h.model.shape.name, h.model.shape.dtype.name()),
            text,
        ),
        Part::text(8, format!("policy {}", h.policy.label()), text),
        Part::text(7, ended_label(&app.timeline), Style::new().fg(theme.key)),
        Part::text(
            2,
            tokenizer_label(&app.timeline),
            Style::new().fg(theme.dim),
        ),
    ];
    parts.extend(sampler_part(&app.timeline, theme));
    title_bar(frame, area, theme, app.title.clone(), parts);
}

/// The sampler as a title-bar part, when the trace records one.
pub fn sampler_part(timeline: &Timeline, theme: &Theme) -> Option<Part> {
    let sampler = timeline.header.sampler.as_ref()?;
    Some(Part::text(4, sampler.summary(), Style::new().fg(theme.dim)))
}

/// Where the playhead is, in words: the prompt, a block, a memento.
pub fn place(app: &App, state: &crate::trace::RunState) -> String {
    match state.open {
        Some(o) => match (o.kind, o.block) {
            (SpanKind::Block, Some(b)) => format!("block {}", b + 1),
            (SpanKind::Summary, Some(b)) => format!("memento {}", b + 1),
            (kind, _) => kind.label().to_string(),
        },
        None if app.cursor == 0 => "prompt".into(),
        None => "-".into(),
    }
}

pub fn status(frame: &mut Frame, area: Rect, replay: &Replay, at: &super::AtCursor) {
    let (app, theme) = (&replay.app, &replay.chrome.theme);
    let base = Style::new().fg(theme.status_fg).bg(theme.status_bg);
    let pct = if !app.is_empty() {
        app.cursor as f64 * 100.0 / app.len() as f64
    } else {
        100.0
    };
    let mut readout = playback_parts(
        app.playing,
        app.speed(),
        format!("tok {}/{} ({pct:.0}%)", count(app.cursor), count(app.len())),
        base,
    );
    readout.extend([Part::text(70, place(app, &at.state), base)]);
    if app.scroll > 0 {
        readout.push(Part::text(
            50,
            format!("scrolled {}", app.scroll),
            base.fg(theme.warning),
        ));
    }
    status_bar(frame, area, &replay.chrome, replay.layers(), readout);
}
