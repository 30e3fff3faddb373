//! The session picker's state: the recorded runs, newest first, and the one selected. Keys
//! in, state out; opening a run is an effect the screen carries out.

use std::path::PathBuf;

use super::chrome::{Chrome, Effect, Keyed, chrome_in_field};
use super::keys::{Action, AppAction, KeyMap, LayerId, PickAction};
use super::theme::Theme;
use crate::live::SessionSummary;

pub struct Picker {
    /// The directory listed, for the title bar.
    pub dir: PathBuf,
    pub sessions: Vec<SessionSummary>,
    pub selected: usize,
    pub chrome: Chrome,
    /// Rows in a page of the list, set by the view.
    pub page: usize,
}

impl Picker {
    pub fn new(dir: PathBuf, sessions: Vec<SessionSummary>, theme: Theme) -> Picker {
        Picker {
            dir,
            sessions,
            selected: 0,
            chrome: Chrome::new(theme, KeyMap::picker()),
            page: 10,
        }
    }

    pub fn selected(&self) -> Option<&SessionSummary> {
        self.sessions.get(self.selected)
    }

    fn pick(&mut self, action: PickAction) -> Vec<Effect> {
        let last = self.sessions.len().saturating_sub(1);
        let page = self.page.max(1);
        self.selected = match action {
            PickAction::Up => self.selected.saturating_sub(1),
            PickAction::Down => (self.selected + 1).min(last),
            PickAction::PageUp => self.selected.saturating_sub(page),
            PickAction::PageDown => (self.selected + page).min(last),
            PickAction::First => 0,
            PickAction::Last => last,
            PickAction::Open => {
                return self
                    .selected()
                    .map(|s| vec![Effect::OpenTrace(s.path().to_path_buf())])
                    .unwrap_or_default();
            }
        };
        Vec::new()
    }
}

impl Keyed for Picker {
    chrome_in_field!();

    fn layers(&self) -> Vec<LayerId> {
        vec![LayerId::Picker, LayerId::App]
    }

    fn act(&mut self, action: Action) -> Vec<Effect> {
        match action {
            Action::Pick(a) => self.pick(a),
            Action::App(AppAction::Back) => vec![Effect::Quit],
            _ => Vec::new(),
        }
    }
}
