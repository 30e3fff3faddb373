//! A replayed trace: one stream under the replay's chrome. Keys in, effects out.

use super::app::App;
use super::chrome::{Chrome, Effect, Keyed, chrome_in_field};
use super::keys::{Action, AppAction, KeyMap, LayerId};
use super::theme::Theme;

pub struct Replay {
    pub chrome: Chrome,
    pub app: App,
}

impl Replay {
    pub fn new(app: App, theme: Theme) -> Replay {
        Replay {
            chrome: Chrome::new(theme, KeyMap::replay()),
            app,
        }
    }
}

/// The replay layers over `streams`' own (an open inspector): playback, moving, the app.
pub fn replay_layers<'a>(streams: impl IntoIterator<Item = &'a App>) -> Vec<LayerId> {
    let mut layers: Vec<LayerId> = streams.into_iter().flat_map(App::layers).collect();
    layers.dedup();
    layers.extend([LayerId::Playback, LayerId::Nav, LayerId::App]);
    layers
}

impl Keyed for Replay {
    chrome_in_field!();

    fn layers(&self) -> Vec<LayerId> {
        replay_layers([&self.app])
    }

    fn act(&mut self, action: Action) -> Vec<Effect> {
        match action {
            Action::Play(a) => self.app.play(a),
            Action::Nav(a) => self.app.nav(a),
            Action::Inspect(a) => self.app.inspector(a),
            // Nothing else is open to close.
            Action::App(AppAction::Back) => return vec![Effect::Quit],
            _ => {}
        }
        Vec::new()
    }
}
