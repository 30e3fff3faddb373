//! Replaying a recorded compare pair: two streams under one chrome and one set of controls,
//! so both playheads move together and the views stay aligned token for token.

use std::time::Duration;

use super::app::App;
use super::chrome::{Chrome, Effect, Keyed, chrome_in_field};
use super::keys::{Action, AppAction, InspectAction, KeyMap, LayerId, PlayAction};
use super::replay::replay_layers;
use super::theme::Theme;

pub struct PairApp {
    pub apps: [App; 2],
    pub chrome: Chrome,
}

impl PairApp {
    pub fn new(apps: [App; 2], theme: Theme) -> PairApp {
        PairApp {
            apps,
            chrome: Chrome::new(theme, KeyMap::replay()),
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

    pub fn tick(&mut self, dt: Duration) {
        for app in &mut self.apps {
            app.tick(dt);
        }
    }
}

impl Keyed for PairApp {
    chrome_in_field!();

    fn layers(&self) -> Vec<LayerId> {
        replay_layers(&self.apps)
    }

    fn act(&mut self, action: Action) -> Vec<Effect> {
        match action {
            Action::Play(PlayAction::Toggle) => {
                // One decision for both, so they never play out of step.
                let play = !self.playing();
                let restart = self.apps.iter().all(|a| a.at_end());
                for app in &mut self.apps {
                    if restart {
                        app.cursor = 0;
                    }
                    app.playing = play && app.cursor < app.len();
                }
            }
            Action::Play(a) => self.apps.iter_mut().for_each(|app| app.play(a)),
            Action::Nav(a) => self.apps.iter_mut().for_each(|app| app.nav(a)),
            Action::Inspect(a) => self.apps.iter_mut().for_each(|app| app.inspector(a)),
            Action::App(AppAction::Back) if self.apps.iter().any(|a| a.inspect) => {
                for app in &mut self.apps {
                    app.inspector(InspectAction::Close);
                }
            }
            Action::App(AppAction::Back) => return vec![Effect::Quit],
            _ => {}
        }
        Vec::new()
    }
}
