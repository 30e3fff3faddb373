//! One stream's view state: a timeline and a playhead, with its scroll, selection and
//! inspector. Actions in, state out; no terminal, no I/O, so every control is testable
//! headless. The chrome around it (theme, help, keys) belongs to the screen.

use std::time::Duration;

use super::keys::{InspectAction, LayerId, NavAction, PlayAction};
use crate::structure::{BlockOutline, Edge, SpanKind};
use crate::timeline::Timeline;

/// Playback speeds, as multiples of real time (or of the default rate for untimed traces).
pub const SPEEDS: [f64; 11] = [
    0.25, 0.5, 1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 64.0, 128.0, 256.0,
];
/// The speed a replay starts at (4×): a block of a few hundred tokens plays in seconds.
pub const DEFAULT_SPEED: usize = 4;
/// Tokens per second at 1× for a trace with no timing.
pub const UNTIMED_RATE: f64 = 40.0;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Focus {
    Reasoning,
    Mementos,
}

pub struct App {
    pub timeline: Timeline,
    /// What the title bar names (usually the file).
    pub title: String,
    /// Tokens shown: 0 (only the prompt) to the trace's length.
    pub cursor: u64,
    pub playing: bool,
    speed_index: usize,
    /// Fractional tokens (untimed) or seconds (timed) carried between ticks.
    carry: f64,
    /// Reasoning pane: lines scrolled up from the playhead (0 = follow).
    pub scroll: usize,
    pub focus: Focus,
    /// Selected row in the memento list.
    pub selected: usize,
    /// The inspector: the token at the playhead, or the selected memento's block.
    pub inspect: bool,
    /// Rows the inspector is scrolled down, and rows in its page (set by the view).
    pub inspect_scroll: u16,
    pub inspect_page: u16,
    /// Lines in a page of the reasoning pane, set by the view.
    pub page: usize,
}

impl App {
    pub fn new(timeline: Timeline, title: String) -> App {
        App {
            timeline,
            title,
            cursor: 0,
            playing: false,
            speed_index: DEFAULT_SPEED,
            carry: 0.0,
            scroll: 0,
            focus: Focus::Reasoning,
            selected: 0,
            inspect: false,
            inspect_scroll: 0,
            inspect_page: 5,
            page: 10,
        }
    }

    pub fn speed(&self) -> f64 {
        SPEEDS[self.speed_index]
    }

    pub fn len(&self) -> u64 {
        self.timeline.len()
    }

    pub fn is_empty(&self) -> bool {
        self.timeline.is_empty()
    }

    /// The stream's own layers in effect: the inspector's while it is open.
    pub fn layers(&self) -> Vec<LayerId> {
        if self.inspect {
            vec![LayerId::Inspector]
        } else {
            Vec::new()
        }
    }

    pub fn play(&mut self, action: PlayAction) {
        match action {
            PlayAction::Toggle => {
                if self.cursor >= self.len() {
                    self.cursor = 0;
                }
                self.playing = !self.playing;
                self.carry = 0.0;
            }
            PlayAction::Faster => self.speed_index = (self.speed_index + 1).min(SPEEDS.len() - 1),
            PlayAction::Slower => self.speed_index = self.speed_index.saturating_sub(1),
        }
    }

    pub fn inspector(&mut self, action: InspectAction) {
        let page = self.inspect_page.max(1);
        match action {
            InspectAction::Close => {
                self.inspect = false;
                self.inspect_scroll = 0;
            }
            InspectAction::PageUp => self.inspect_scroll = self.inspect_scroll.saturating_sub(page),
            InspectAction::PageDown => {
                self.inspect_scroll = self.inspect_scroll.saturating_add(page)
            }
        }
    }

    pub fn nav(&mut self, action: NavAction) {
        match action {
            NavAction::StepForward => self.step_to(self.cursor + 1),
            NavAction::StepBack => self.step_to(self.cursor.saturating_sub(1)),
            NavAction::SpanEndForward => {
                let next = self.span_ends().into_iter().find(|&e| e > self.cursor);
                self.step_to(next.unwrap_or(self.len()));
            }
            NavAction::SpanEndBack => {
                let prev = self
                    .span_ends()
                    .into_iter()
                    .rev()
                    .find(|&e| e < self.cursor);
                self.step_to(prev.unwrap_or(0));
            }
            NavAction::NextBlock => {
                let next = self.block_stops().into_iter().find(|&s| s > self.cursor);
                self.step_to(next.unwrap_or(self.len()));
            }
            NavAction::PrevBlock => {
                let prev = self
                    .block_stops()
                    .into_iter()
                    .rev()
                    .find(|&s| s < self.cursor);
                self.step_to(prev.unwrap_or(0));
            }
            NavAction::Home => self.step_to(0),
            NavAction::End => self.step_to(self.len()),
            NavAction::Scrub(percent) => self.scrub(f64::from(percent) / 100.0),
            NavAction::Up => match self.focus {
                Focus::Reasoning => self.scroll += 1,
                Focus::Mementos => {
                    self.selected = self.selected.saturating_sub(1);
                    self.inspect_scroll = 0;
                }
            },
            NavAction::Down => match self.focus {
                Focus::Reasoning => self.scroll = self.scroll.saturating_sub(1),
                Focus::Mementos => {
                    self.selected = (self.selected + 1).min(self.rows_reached().saturating_sub(1));
                    self.inspect_scroll = 0;
                }
            },
            NavAction::PageUp => self.scroll += self.page.max(1),
            NavAction::PageDown => self.scroll = self.scroll.saturating_sub(self.page.max(1)),
            NavAction::Follow => self.scroll = 0,
            NavAction::FocusNext => {
                self.focus = match self.focus {
                    Focus::Reasoning => Focus::Mementos,
                    Focus::Mementos => Focus::Reasoning,
                }
            }
            NavAction::Select => {
                if self.focus == Focus::Mementos {
                    let p = self.timeline.prompt_len();
                    if let Some(block) = self.rows().get(self.selected) {
                        self.step_to(block.open.tag_to().saturating_sub(p));
                    }
                }
            }
            NavAction::Inspect => {
                self.inspect = true;
                self.inspect_scroll = 0;
            }
        }
    }

    /// After live events arrived: a playhead that was at the end stays at the end.
    pub fn follow_live(&mut self, old_len: u64) {
        if self.cursor >= old_len && !self.playing {
            self.cursor = self.len();
            self.follow_selection();
        }
    }

    /// True when the playhead is at the newest token.
    pub fn at_end(&self) -> bool {
        self.cursor >= self.len()
    }

    /// Advance playback by `dt` of wall time.
    pub fn tick(&mut self, dt: Duration) {
        if !self.playing {
            return;
        }
        let len = self.len();
        if self.cursor >= len {
            self.playing = false;
            return;
        }
        let dt = dt.as_secs_f64() * self.speed();
        if self.timeline.tokens().timed() {
            // Real time: show every token whose timestamp the play clock has passed.
            let start = self.cursor_time();
            self.carry += dt;
            let until = start + self.carry;
            let mut next = self.cursor;
            while next < len && self.timeline.time_of(next).is_none_or(|t| t <= until) {
                next += 1;
            }
            if next > self.cursor {
                self.carry = until - self.timeline.time_of(next - 1).unwrap_or(until);
                self.cursor = next;
            }
        } else {
            self.carry += dt * UNTIMED_RATE;
            let whole = self.carry.floor();
            self.carry -= whole;
            self.cursor = (self.cursor + whole as u64).min(len);
        }
        if self.cursor >= len {
            self.playing = false;
        }
        self.follow_selection();
    }

    fn cursor_time(&self) -> f64 {
        if self.cursor == 0 {
            0.0
        } else {
            self.timeline.time_of(self.cursor - 1).unwrap_or(0.0)
        }
    }

    /// Move the playhead (pausing playback), and follow it.
    fn step_to(&mut self, cursor: u64) {
        self.playing = false;
        self.carry = 0.0;
        self.cursor = cursor.min(self.len());
        self.scroll = 0;
        self.follow_selection();
    }

    fn scrub(&mut self, fraction: f64) {
        let delta = ((self.len() as f64 * fraction.abs()).round() as u64).max(1);
        let playing = self.playing;
        if fraction > 0.0 {
            self.step_to(self.cursor + delta);
        } else {
            self.step_to(self.cursor.saturating_sub(delta));
        }
        self.playing = playing && self.cursor < self.len();
    }

    /// Keep the memento list's selection on the latest memento written (or the latest block
    /// while none has one yet).
    fn follow_selection(&mut self) {
        if self.focus == Focus::Mementos {
            return;
        }
        let rows = self.rows();
        self.selected = rows
            .iter()
            .rposition(|b| b.memento_open.is_some())
            .unwrap_or(rows.len().saturating_sub(1));
    }

    /// Token counts (cursor values) where each block's content starts; blocks inside the
    /// prompt start at 0.
    pub fn block_starts(&self) -> Vec<u64> {
        let p = self.timeline.prompt_len();
        self.timeline
            .boundaries()
            .iter()
            .filter(|b| b.span == SpanKind::Block && b.edge == Edge::Open)
            .map(|b| b.tag_to().saturating_sub(p))
            .collect()
    }

    /// Where `]` and `[` stop: one token into each block, so the block shows its first token
    /// rather than an empty "block · 0 tok" (a block still empty at the end of the stream is
    /// stopped at where it opens).
    pub fn block_stops(&self) -> Vec<u64> {
        let len = self.len();
        let mut stops: Vec<u64> = self
            .block_starts()
            .into_iter()
            .map(|s| (s + 1).min(len))
            .collect();
        stops.dedup();
        stops
    }

    /// Cursor values right after a block or memento ends.
    pub fn span_ends(&self) -> Vec<u64> {
        let p = self.timeline.prompt_len();
        self.timeline
            .boundaries()
            .iter()
            .filter(|b| {
                matches!(b.span, SpanKind::Block | SpanKind::Summary)
                    && b.edge == Edge::Close
                    && b.at >= p
            })
            .map(|b| {
                if b.is_implicit() {
                    b.at - p
                } else {
                    b.at + 1 - p
                }
            })
            .collect()
    }

    /// The memento list's rows: the blocks the playhead has reached, as the view lists them.
    fn rows(&self) -> Vec<BlockOutline> {
        self.timeline.outline_at(self.cursor).blocks
    }

    pub fn rows_reached(&self) -> usize {
        self.rows().len()
    }
}
