//! The ablation view's state: a loaded result directory's summary, the tab shown and what is
//! selected in each. Keys in, state out; no terminal, no I/O (opening a trace is an effect the
//! screen carries out).

use std::path::PathBuf;

use crossterm::event::{KeyCode, KeyEvent};

use super::app::help_swallows;
use super::keymap::{Action, KeyMap};
use super::theme::Theme;
use crate::ablate::summary::{Scope, Summary};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tab {
    Overview,
    Blocks,
    Channel,
    Items,
    Probe,
}

impl Tab {
    pub const ALL: [Tab; 5] = [
        Tab::Overview,
        Tab::Blocks,
        Tab::Channel,
        Tab::Items,
        Tab::Probe,
    ];

    pub fn title(self) -> &'static str {
        match self {
            Tab::Overview => "Overview",
            Tab::Blocks => "Blocks",
            Tab::Channel => "Channel",
            Tab::Items => "Items",
            Tab::Probe => "Probe",
        }
    }

    pub fn index(self) -> usize {
        Tab::ALL.iter().position(|&t| t == self).unwrap_or(0)
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AblationEffect {
    None,
    Quit,
    /// Open this trace in the replay view; quitting it comes back here.
    OpenTrace(PathBuf),
}

pub struct AblationApp {
    pub summary: Summary,
    pub tab: Tab,
    /// The Items tab's selected item.
    pub item: usize,
    /// What the Blocks and Channel tabs cover: all items or one.
    pub scope: Scope,
    /// The Channel tab's layer under the cursor (an index into the grid's layers).
    pub layer: usize,
    /// The Probe tab's selected series.
    pub probe_row: usize,
    pub help: bool,
    pub theme: Theme,
    themes: Vec<Theme>,
    pub keymap: KeyMap,
    /// A one-line message in the status bar (what failed, where something is).
    pub notice: Option<String>,
    /// Rows in a page of the current list, set by the view.
    pub page: usize,
}

impl AblationApp {
    pub fn new(summary: Summary, theme: Theme) -> AblationApp {
        let mut themes = vec![Theme::dark(), Theme::light()];
        if !themes.iter().any(|t| t.name == theme.name) {
            themes.push(theme.clone());
        }
        AblationApp {
            summary,
            tab: Tab::Overview,
            item: 0,
            scope: Scope::All,
            layer: 0,
            probe_row: 0,
            help: false,
            theme,
            themes,
            keymap: KeyMap::ablation(),
            notice: None,
            page: 10,
        }
    }

    /// Apply a key.
    pub fn key(&mut self, key: &KeyEvent) -> AblationEffect {
        let Some(action) = self.keymap.action_for(key) else {
            return AblationEffect::None;
        };
        if action == Action::GoTab {
            if let KeyCode::Char(c) = key.code {
                if help_swallows(&mut self.help, action) {
                    return AblationEffect::None;
                }
                let n = c.to_digit(10).unwrap_or(1) as usize;
                self.tab = Tab::ALL[n.clamp(1, Tab::ALL.len()) - 1];
                self.notice = None;
            }
            return AblationEffect::None;
        }
        self.update(action)
    }

    pub fn update(&mut self, action: Action) -> AblationEffect {
        if help_swallows(&mut self.help, action) {
            return AblationEffect::None;
        }
        let tabs = Tab::ALL.len();
        match action {
            Action::NextTab => self.tab = Tab::ALL[(self.tab.index() + 1) % tabs],
            Action::PrevTab => self.tab = Tab::ALL[(self.tab.index() + tabs - 1) % tabs],
            Action::Up => self.move_row(-1),
            Action::Down => self.move_row(1),
            Action::PageUp => self.move_row(-(self.page.max(1) as isize)),
            Action::PageDown => self.move_row(self.page.max(1) as isize),
            Action::PrevLayer => self.layer = self.layer.saturating_sub(1),
            Action::NextLayer => {
                let layers = self.summary.channel(self.scope).layers.len();
                self.layer = (self.layer + 1).min(layers.saturating_sub(1));
            }
            Action::OpenTrace => return self.open_trace(),
            Action::ToggleTheme => {
                let at = self
                    .themes
                    .iter()
                    .position(|t| t.name == self.theme.name)
                    .unwrap_or(0);
                self.theme = self.themes[(at + 1) % self.themes.len()].clone();
            }
            Action::ToggleHelp => self.help = true,
            Action::Quit => return AblationEffect::Quit,
            _ => {}
        }
        if matches!(action, Action::NextTab | Action::PrevTab) {
            self.notice = None;
        }
        AblationEffect::None
    }

    /// The item whose trace Enter opens: the selected one in the Items tab, or the one the
    /// Blocks or Channel tab shows.
    pub fn current_item(&self) -> Option<usize> {
        match (self.tab, self.scope) {
            (Tab::Items, _) => (self.item < self.summary.items.len()).then_some(self.item),
            (Tab::Blocks | Tab::Channel, Scope::Item(i)) => Some(i),
            _ => None,
        }
    }

    fn open_trace(&mut self) -> AblationEffect {
        match self.current_item() {
            Some(i) => AblationEffect::OpenTrace(self.summary.items[i].trace.clone()),
            None => {
                self.notice = Some("choose an item first (Items tab, 4)".into());
                AblationEffect::None
            }
        }
    }

    fn move_row(&mut self, by: isize) {
        let step = |at: usize, len: usize| -> usize {
            (at as isize + by).clamp(0, len.saturating_sub(1) as isize) as usize
        };
        let items = self.summary.items.len();
        match self.tab {
            Tab::Overview => {}
            Tab::Items => self.item = step(self.item, items),
            Tab::Blocks | Tab::Channel => {
                // 0 is all items, then each item.
                let at = match self.scope {
                    Scope::All => 0,
                    Scope::Item(i) => i + 1,
                };
                self.scope = match step(at, items + 1) {
                    0 => Scope::All,
                    n => Scope::Item(n - 1),
                };
            }
            Tab::Probe => {
                let rows = self.summary.probe.as_ref().map_or(0, Vec::len);
                self.probe_row = step(self.probe_row, rows);
            }
        }
    }
}
