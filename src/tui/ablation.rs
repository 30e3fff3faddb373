//! The ablation view's state: a loaded result directory's summary, the tab shown and what is
//! selected in each. Keys in, state out; no terminal, no I/O (opening a trace is an effect the
//! screen carries out).

use super::chrome::{Chrome, Effect, Keyed, chrome_in_field};
use super::keys::{Action, AppAction, KeyMap, LayerId, TabAction};
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
    pub chrome: Chrome,
    /// Rows in a page of the current list, set by the view.
    pub page: usize,
}

impl AblationApp {
    pub fn new(summary: Summary, theme: Theme) -> AblationApp {
        AblationApp {
            summary,
            tab: Tab::Overview,
            item: 0,
            scope: Scope::All,
            layer: 0,
            probe_row: 0,
            chrome: Chrome::new(theme, KeyMap::ablation()),
            page: 10,
        }
    }

    fn tabs(&mut self, action: TabAction) -> Vec<Effect> {
        let tabs = Tab::ALL.len();
        match action {
            TabAction::Next => self.tab = Tab::ALL[(self.tab.index() + 1) % tabs],
            TabAction::Prev => self.tab = Tab::ALL[(self.tab.index() + tabs - 1) % tabs],
            TabAction::Go(n) => self.tab = Tab::ALL[(n as usize).clamp(1, tabs) - 1],
            TabAction::Up => self.move_row(-1),
            TabAction::Down => self.move_row(1),
            TabAction::PageUp => self.move_row(-(self.page.max(1) as isize)),
            TabAction::PageDown => self.move_row(self.page.max(1) as isize),
            TabAction::PrevLayer => self.layer = self.layer.saturating_sub(1),
            TabAction::NextLayer => {
                let layers = self.summary.channel(self.scope).layers.len();
                self.layer = (self.layer + 1).min(layers.saturating_sub(1));
            }
            TabAction::OpenTrace => return self.open_trace(),
        }
        if matches!(action, TabAction::Next | TabAction::Prev | TabAction::Go(_)) {
            self.chrome.notice = None;
        }
        Vec::new()
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

    fn open_trace(&mut self) -> Vec<Effect> {
        match self.current_item() {
            Some(i) => vec![Effect::OpenTrace(self.summary.items[i].trace.clone())],
            None => {
                self.chrome.notice = Some("choose an item first (Items tab, 4)".into());
                Vec::new()
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

impl Keyed for AblationApp {
    chrome_in_field!();

    fn layers(&self) -> Vec<LayerId> {
        vec![LayerId::Tabs, LayerId::App]
    }

    fn act(&mut self, action: Action) -> Vec<Effect> {
        match action {
            Action::Tab(a) => self.tabs(a),
            Action::App(AppAction::Back) => vec![Effect::Quit],
            _ => Vec::new(),
        }
    }
}
