//! Layered key maps. A screen owns a stack of layers (help, settings, inspector, editor,
//! decode, playback, navigation, tabs, app); the layers in effect at a moment are the ones
//! its state activates, innermost first. A key goes to the first active layer that binds it;
//! an editor layer types the printable characters it does not bind, and a modal layer (help,
//! settings) keeps every key it does not bind. The `?` help, the status-bar hints and the
//! editor's placeholder are all generated from the layers, so none can name a key that does
//! something else.

mod action;
mod binding;
mod layers;

use crossterm::event::{KeyCode, KeyEvent, KeyEventKind, KeyModifiers};

pub use action::{
    Action, AppAction, DecodeAction, HelpAction, InspectAction, NavAction, PickAction, PlayAction,
    SettingsAction, TabAction,
};
pub use binding::KeyBinding;

use crate::tui::editor::EditorAction;

/// Which layer: the order here is innermost first.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LayerId {
    Help,
    Settings,
    Inspector,
    Editor,
    Decode,
    Playback,
    Nav,
    Tabs,
    Picker,
    App,
}

pub struct Layer {
    pub id: LayerId,
    /// The heading of the layer's keys in the help.
    pub title: &'static str,
    bindings: Vec<(KeyBinding, Action)>,
    /// What the status bar shows while the layer is active, in order.
    hints: Vec<Action>,
    /// Keys the layer does not bind go no further.
    modal: bool,
    /// Printable characters the layer does not bind are typed.
    typing: bool,
}

/// One row of the help: a layer's heading, the keys, and what they do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HelpRow {
    pub group: &'static str,
    pub keys: String,
    pub what: String,
}

pub struct KeyMap {
    layers: Vec<Layer>,
}

/// The character a key types, if it types one: plain or shifted characters, and AltGr
/// characters, which arrive as ctrl+alt ('@', '{', '€').
fn typed(key: &KeyEvent) -> Option<char> {
    let KeyCode::Char(c) = key.code else {
        return None;
    };
    let ctrl = key.modifiers.contains(KeyModifiers::CONTROL);
    let alt = key.modifiers.contains(KeyModifiers::ALT);
    let altgr = ctrl && alt && !c.is_ascii_alphanumeric();
    ((!ctrl && !alt) || altgr)
        .then_some(c)
        .filter(|c| !c.is_control())
}

fn is_ctrl_c(key: &KeyEvent) -> bool {
    key.modifiers.contains(KeyModifiers::CONTROL)
        && matches!(key.code, KeyCode::Char('c') | KeyCode::Char('C'))
}

impl KeyMap {
    fn active<'a>(&'a self, active: &'a [LayerId]) -> impl Iterator<Item = &'a Layer> + 'a {
        self.layers.iter().filter(move |l| active.contains(&l.id))
    }

    /// What `key` does with `active` layers in effect. Ctrl-C always quits.
    pub fn resolve(&self, key: &KeyEvent, active: &[LayerId]) -> Option<Action> {
        if key.kind == KeyEventKind::Release {
            return None;
        }
        if is_ctrl_c(key) {
            return Some(Action::App(AppAction::Quit));
        }
        for layer in self.active(active) {
            if let Some((_, action)) = layer.bindings.iter().find(|(k, _)| k.matches(key)) {
                return Some(action.clone());
            }
            if layer.typing {
                if let Some(c) = typed(key) {
                    return Some(Action::Edit(EditorAction::Insert(c)));
                }
            }
            if layer.modal {
                return None;
            }
        }
        None
    }

    /// Whether `binding` reaches `target` with `active` layers: no layer before it takes it.
    fn reaches(&self, binding: &KeyBinding, target: LayerId, active: &[LayerId]) -> bool {
        let key = KeyEvent::new(binding.code, binding.modifiers);
        for layer in self.active(active) {
            if layer.id == target {
                return true;
            }
            let takes = layer.modal
                || layer.bindings.iter().any(|(k, _)| k.matches(&key))
                || (layer.typing && typed(&key).is_some());
            if takes {
                return false;
            }
        }
        false
    }

    /// The status bar's hints with `active` layers: (key, label), innermost layer first, each
    /// with a key that reaches it now (a hint whose keys all type into the editor is left
    /// out).
    pub fn hints(&self, active: &[LayerId]) -> Vec<(String, String)> {
        let mut out: Vec<(String, String)> = Vec::new();
        for layer in self.active(active) {
            for action in &layer.hints {
                let key = layer
                    .bindings
                    .iter()
                    .filter(|(_, a)| a == action)
                    .find(|(k, _)| self.reaches(k, layer.id, active));
                if let Some((k, _)) = key {
                    let hint = action.hint();
                    if !out.iter().any(|(_, h)| *h == hint) {
                        out.push((k.label(), hint));
                    }
                }
            }
        }
        out
    }

    /// Every key bound to `action` in any layer, as labels.
    pub fn keys_for(&self, action: &Action) -> Vec<String> {
        self.layers
            .iter()
            .flat_map(|l| &l.bindings)
            .filter(|(_, a)| a == action)
            .map(|(k, _)| k.label())
            .collect()
    }

    /// The help: every layer but the help's own, in order, one row per distinct description.
    pub fn help_rows(&self) -> Vec<HelpRow> {
        let mut rows: Vec<HelpRow> = Vec::new();
        for layer in self.layers.iter().filter(|l| l.id != LayerId::Help) {
            let start = rows.len();
            for (key, action) in &layer.bindings {
                let what = action.description();
                match rows[start..].iter_mut().find(|r| r.what == what) {
                    Some(row) => {
                        row.keys.push(' ');
                        row.keys.push_str(&key.label());
                    }
                    None => rows.push(HelpRow {
                        group: layer.title,
                        keys: key.label(),
                        what,
                    }),
                }
            }
            if layer.typing {
                rows.push(HelpRow {
                    group: layer.title,
                    keys: "other keys".into(),
                    what: "type".into(),
                });
            }
        }
        rows
    }

    /// Whether the screen has this layer at all.
    pub fn has_layer(&self, id: LayerId) -> bool {
        self.layers.iter().any(|l| l.id == id)
    }

    /// The help's heading keys: what closes it.
    pub fn help_close_keys(&self) -> Vec<String> {
        self.keys_for(&Action::Help(HelpAction::Close))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(code: KeyCode, modifiers: KeyModifiers) -> KeyEvent {
        KeyEvent::new(code, modifiers)
    }

    #[test]
    fn shifted_characters_match_without_naming_shift() {
        let map = KeyMap::replay();
        let on = [LayerId::Playback, LayerId::Nav, LayerId::App];
        let gt = key(KeyCode::Char('>'), KeyModifiers::SHIFT);
        assert_eq!(
            map.resolve(&gt, &on),
            Some(Action::Nav(NavAction::SpanEndForward))
        );
        let ctrl_c = key(KeyCode::Char('c'), KeyModifiers::CONTROL);
        assert_eq!(
            map.resolve(&ctrl_c, &on),
            Some(Action::App(AppAction::Quit))
        );
        let c = key(KeyCode::Char('c'), KeyModifiers::NONE);
        assert_eq!(map.resolve(&c, &on), None);
        // Terminals send shift-tab as BackTab, with or without the shift flag.
        let ablation = KeyMap::ablation();
        for modifiers in [KeyModifiers::NONE, KeyModifiers::SHIFT] {
            let back = key(KeyCode::BackTab, modifiers);
            assert_eq!(
                ablation.resolve(&back, &[LayerId::Tabs, LayerId::App]),
                Some(Action::Tab(TabAction::Prev))
            );
        }
    }

    #[test]
    fn the_innermost_active_layer_takes_the_key() {
        let map = KeyMap::replay();
        let esc = key(KeyCode::Esc, KeyModifiers::NONE);
        let base = [LayerId::Playback, LayerId::Nav, LayerId::App];
        assert_eq!(map.resolve(&esc, &base), Some(Action::App(AppAction::Back)));
        let inspecting = [
            LayerId::Inspector,
            LayerId::Playback,
            LayerId::Nav,
            LayerId::App,
        ];
        assert_eq!(
            map.resolve(&esc, &inspecting),
            Some(Action::Inspect(InspectAction::Close))
        );
        // Help is modal: keys it does not bind do nothing.
        let step = key(KeyCode::Char('.'), KeyModifiers::NONE);
        assert_eq!(map.resolve(&step, &[LayerId::Help]), None);
        assert_eq!(
            map.resolve(&esc, &[LayerId::Help]),
            Some(Action::Help(HelpAction::Close))
        );
    }

    #[test]
    fn the_editor_types_what_it_does_not_bind_and_lets_control_keys_through() {
        let map = KeyMap::workbench();
        let on = [LayerId::Editor, LayerId::Decode, LayerId::Nav, LayerId::App];
        for c in ['?', 'q', 't', 'o', 'd', 'é'] {
            assert_eq!(
                map.resolve(&key(KeyCode::Char(c), KeyModifiers::NONE), &on),
                Some(Action::Edit(EditorAction::Insert(c)))
            );
        }
        // AltGr characters type too.
        assert_eq!(
            map.resolve(
                &key(
                    KeyCode::Char('@'),
                    KeyModifiers::CONTROL | KeyModifiers::ALT
                ),
                &on
            ),
            Some(Action::Edit(EditorAction::Insert('@')))
        );
        assert_eq!(
            map.resolve(&key(KeyCode::Char('T'), KeyModifiers::CONTROL), &on),
            Some(Action::Decode(DecodeAction::NewProblem))
        );
        assert_eq!(
            map.resolve(&key(KeyCode::Enter, KeyModifiers::ALT), &on),
            Some(Action::Edit(EditorAction::Newline))
        );
        // Hints name only keys that reach their layer: `?` and `q` type, so help is not
        // hinted and quit is hinted by ctrl-c.
        let hints = map.hints(&on);
        assert!(hints.iter().any(|(k, h)| k == "enter" && h == "run"));
        assert!(!hints.iter().any(|(_, h)| h == "help"));
        assert!(hints.iter().any(|(k, h)| k == "ctrl-c" && h == "quit"));
        let viewing = [LayerId::Decode, LayerId::Nav, LayerId::App];
        assert!(
            map.hints(&viewing)
                .iter()
                .any(|(k, h)| k == "?" && h == "help")
        );
    }

    #[test]
    fn help_lists_every_layer_of_the_screen_once_per_action() {
        let rows = KeyMap::workbench().help_rows();
        for group in [
            "prompt editor",
            "settings panel",
            "inspector",
            "decode",
            "move and view",
            "app",
        ] {
            assert!(rows.iter().any(|r| r.group == group), "{group} missing");
        }
        let whats: Vec<_> = rows.iter().map(|r| (r.group, r.what.clone())).collect();
        let mut unique = whats.clone();
        unique.dedup();
        assert_eq!(whats.len(), unique.len());
        let tabs = KeyMap::ablation().help_rows();
        assert!(
            tabs.iter()
                .any(|r| r.keys == "1 2 3 4 5" && r.what == "go to that tab")
        );
    }
}
