//! What every screen shares around its streams: the theme (and the themes `t` cycles
//! through), the help overlay, the status-bar notice and the key map. One chrome per screen;
//! the streams under it (one in a replay, two in a compare) only hold their own view state.
//! Keys are dispatched here once for every screen: the chrome resolves a key through the
//! screen's active layers, applies the actions it owns (help, theme) and hands the rest to
//! the screen.

use std::path::PathBuf;

use crossterm::event::KeyEvent;

use super::keys::{Action, AppAction, HelpAction, KeyMap, LayerId};
use super::theme::Theme;
use crate::live::Command;

/// What a screen asks its runner to do after an action: the I/O and the thread messages the
/// pure state never does itself.
#[derive(Debug, Clone)]
pub enum Effect {
    Quit,
    /// Write the exports of what is shown.
    Export,
    /// Open this trace over the screen; quitting it comes back.
    OpenTrace(PathBuf),
    /// Send this command to the decode worker.
    Send(Command),
}

pub struct Chrome {
    pub theme: Theme,
    /// The built-in themes and the one the user gave, in the order `t` cycles them.
    themes: Vec<Theme>,
    pub help: bool,
    /// Rows the help is scrolled down (the view keeps it in range).
    pub help_scroll: u16,
    /// One line for the status bar: what failed, where an export went.
    pub notice: Option<String>,
    pub keys: KeyMap,
}

impl Chrome {
    pub fn new(theme: Theme, keys: KeyMap) -> Chrome {
        let mut themes = vec![Theme::dark(), Theme::light()];
        match themes.iter().position(|t| t.name == theme.name) {
            Some(i) => themes[i] = theme.clone(),
            None => themes.push(theme.clone()),
        }
        Chrome {
            theme,
            themes,
            help: false,
            help_scroll: 0,
            notice: None,
            keys,
        }
    }

    /// The names of the themes `t` cycles through, in order.
    pub fn theme_names(&self) -> Vec<&str> {
        self.themes.iter().map(|t| t.name.as_str()).collect()
    }

    pub fn cycle_theme(&mut self) {
        let at = self
            .themes
            .iter()
            .position(|t| t.name == self.theme.name)
            .unwrap_or(0);
        self.theme = self.themes[(at + 1) % self.themes.len()].clone();
    }

    /// The layers in effect: the help alone while it is open, else the screen's.
    pub fn active(&self, screen: Vec<LayerId>) -> Vec<LayerId> {
        if self.help {
            vec![LayerId::Help]
        } else {
            screen
        }
    }

    /// The status bar's (key, label) hints for the screen's layers.
    pub fn hints(&self, screen: Vec<LayerId>) -> Vec<(String, String)> {
        self.keys.hints(&self.active(screen))
    }
}

/// The accessors of [`Keyed`] for a screen that keeps its chrome in a field named `chrome`.
macro_rules! chrome_in_field {
    () => {
        fn chrome(&self) -> &$crate::tui::chrome::Chrome {
            &self.chrome
        }

        fn chrome_mut(&mut self) -> &mut $crate::tui::chrome::Chrome {
            &mut self.chrome
        }
    };
}
pub(crate) use chrome_in_field;

/// A screen's state, as the chrome dispatches to it.
pub trait Keyed {
    fn chrome(&self) -> &Chrome;
    fn chrome_mut(&mut self) -> &mut Chrome;
    /// The screen's layers in effect now, innermost first (the help aside).
    fn layers(&self) -> Vec<LayerId>;
    /// Apply an action the chrome does not own.
    fn act(&mut self, action: Action) -> Vec<Effect>;

    /// Apply a key.
    fn key(&mut self, key: &KeyEvent) -> Vec<Effect>
    where
        Self: Sized,
    {
        let active = self.chrome().active(self.layers());
        match self.chrome().keys.resolve(key, &active) {
            Some(action) => self.apply(action),
            None => Vec::new(),
        }
    }

    /// Apply an action: the chrome's own here, the rest by the screen. While the help is
    /// open, only closing it or quitting does anything.
    fn apply(&mut self, action: impl Into<Action>) -> Vec<Effect>
    where
        Self: Sized,
    {
        let action = action.into();
        let chrome = self.chrome_mut();
        match action {
            Action::App(AppAction::Quit) => return vec![Effect::Quit],
            Action::Help(HelpAction::Close) | Action::App(AppAction::Back) if chrome.help => {
                chrome.help = false
            }
            Action::Help(HelpAction::Scroll(by)) => {
                chrome.help_scroll = chrome.help_scroll.saturating_add_signed(by.into())
            }
            _ if chrome.help => {}
            Action::App(AppAction::Help) => {
                chrome.help = true;
                chrome.help_scroll = 0;
            }
            Action::App(AppAction::CycleTheme) => chrome.cycle_theme(),
            Action::App(AppAction::Export) => return vec![Effect::Export],
            other => return self.act(other),
        }
        Vec::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn t_cycles_the_built_in_themes_and_the_users_own() {
        let mut mine = Theme::dark();
        mine.name = "mine".into();
        let mut chrome = Chrome::new(mine, KeyMap::replay());
        assert_eq!(chrome.theme_names(), ["dark", "light", "mine"]);
        let mut seen = Vec::new();
        for _ in 0..3 {
            chrome.cycle_theme();
            seen.push(chrome.theme.name.clone());
        }
        assert_eq!(
            seen,
            ["dark", "light", "mine"],
            "the user's theme comes back"
        );
        // A built-in name given as the start is not listed twice.
        assert_eq!(
            Chrome::new(Theme::light(), KeyMap::replay()).theme_names(),
            ["dark", "light"]
        );
    }
}
