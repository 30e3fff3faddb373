//! One key chord and how it reads in the help and the status bar.

use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KeyBinding {
    pub code: KeyCode,
    pub modifiers: KeyModifiers,
}

impl KeyBinding {
    pub const fn plain(code: KeyCode) -> Self {
        KeyBinding {
            code,
            modifiers: KeyModifiers::NONE,
        }
    }

    pub const fn ch(c: char) -> Self {
        KeyBinding::plain(KeyCode::Char(c))
    }

    pub const fn ctrl(c: char) -> Self {
        KeyBinding::with(KeyCode::Char(c), KeyModifiers::CONTROL)
    }

    pub const fn alt(code: KeyCode) -> Self {
        KeyBinding::with(code, KeyModifiers::ALT)
    }

    pub const fn with(code: KeyCode, modifiers: KeyModifiers) -> Self {
        KeyBinding { code, modifiers }
    }

    pub fn matches(&self, key: &KeyEvent) -> bool {
        // A typed character already carries its shift state ('>' is shift-.), as does
        // shift-tab.
        let relevant = match key.code {
            KeyCode::Char(_) | KeyCode::BackTab => key.modifiers - KeyModifiers::SHIFT,
            _ => key.modifiers,
        };
        let code = match (key.code, self.code) {
            // Ctrl-letters arrive in either case, depending on the terminal.
            (KeyCode::Char(c), KeyCode::Char(_)) if relevant.contains(KeyModifiers::CONTROL) => {
                KeyCode::Char(c.to_ascii_lowercase())
            }
            (code, _) => code,
        };
        self.code == code && self.modifiers == relevant
    }

    pub fn label(&self) -> String {
        let base = match self.code {
            KeyCode::Char(' ') => "space".to_string(),
            KeyCode::Char(c) => c.to_string(),
            KeyCode::Left => "←".into(),
            KeyCode::Right => "→".into(),
            KeyCode::Up => "↑".into(),
            KeyCode::Down => "↓".into(),
            KeyCode::PageUp => "pgup".into(),
            KeyCode::PageDown => "pgdn".into(),
            KeyCode::Home => "home".into(),
            KeyCode::End => "end".into(),
            KeyCode::Enter => "enter".into(),
            KeyCode::Tab => "tab".into(),
            KeyCode::BackTab => "shift-tab".into(),
            KeyCode::Esc => "esc".into(),
            KeyCode::Backspace => "backspace".into(),
            KeyCode::Delete => "delete".into(),
            other => format!("{other:?}").to_lowercase(),
        };
        let mut prefix = String::new();
        if self.modifiers.contains(KeyModifiers::CONTROL) {
            prefix.push_str("ctrl-");
        }
        if self.modifiers.contains(KeyModifiers::ALT) {
            prefix.push_str("alt-");
        }
        if self.modifiers.contains(KeyModifiers::SHIFT) {
            prefix.push_str("shift-");
        }
        prefix + &base
    }
}
