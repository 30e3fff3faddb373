//! Replaying a recorded compare pair: two replay apps under one set of controls, so both
//! playheads move together and the views stay aligned token for token.

use std::time::Duration;

use super::app::{App, Effect};
use super::keymap::{Action, KeyMap};
use super::theme::Theme;

pub struct PairApp {
    pub apps: [App; 2],
    pub help: bool,
    pub theme: Theme,
    pub keymap: KeyMap,
}

impl PairApp {
    pub fn new(mut apps: [App; 2], theme: Theme) -> PairApp {
        for app in &mut apps {
            app.theme = theme.clone();
        }
        PairApp {
            apps,
            help: false,
            theme,
            keymap: KeyMap::default(),
        }
    }

    /// The longer stream's length: the shared playhead runs to it.
    pub fn len(&self) -> u64 {
        self.apps[0].len().max(self.apps[1].len())
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    pub fn playing(&self) -> bool {
        self.apps.iter().any(|a| a.playing)
    }

    pub fn update(&mut self, action: Action) -> Effect {
        if super::app::help_swallows(&mut self.help, action) {
            return Effect::None;
        }
        match action {
            Action::ToggleHelp => {
                self.help = true;
                Effect::None
            }
            Action::TogglePlay => {
                // One decision for both, so they never play out of step.
                let play = !self.playing();
                let restart = self.apps.iter().all(|a| a.at_end());
                for app in &mut self.apps {
                    if restart {
                        app.cursor = 0;
                    }
                    app.playing = play && app.cursor < app.len();
                }
                Effect::None
            }
            other => {
                let mut effect = Effect::None;
                for app in &mut self.apps {
                    let e = app.update(other);
                    if e != Effect::None {
                        effect = e;
                    }
                }
                if other == Action::ToggleTheme {
                    self.theme = self.apps[0].theme.clone();
                }
                effect
            }
        }
    }

    pub fn tick(&mut self, dt: Duration) {
        for app in &mut self.apps {
            app.tick(dt);
        }
    }
}
