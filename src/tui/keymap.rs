//! Actions and the keys bound to them. The status-bar hints and the `?` help are generated
//! from this map, so they never drift from what the keys do.

use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Action {
    TogglePlay,
    StepForward,
    StepBack,
    StepBlockForward,
    StepBlockBack,
    NextBlock,
    PrevBlock,
    Home,
    End,
    ScrubForward,
    ScrubBack,
    ScrubForwardFar,
    ScrubBackFar,
    SpeedUp,
    SpeedDown,
    Up,
    Down,
    PageUp,
    PageDown,
    Follow,
    FocusNext,
    Select,
    ToggleTheme,
    ToggleHelp,
    Quit,
    /// Close the innermost open panel (the inspector), or quit when none is open.
    Back,
    /// Show the token at the playhead, or the selected memento's block.
    Inspect,
    /// Write the run as Markdown and its KV chart as SVG and PNG.
    Export,
    // The live workbench's decode controls.
    RunPause,
    DecodeStep,
    DecodeBlock,
    StopRun,
    RestartRun,
    CompareRun,
    EditPrompt,
    Settings,
    /// Put another problem of the model's task in the editor.
    NewProblem,
    // The ablation view's.
    NextTab,
    PrevTab,
    /// The tab of the digit pressed.
    GoTab,
    PrevLayer,
    NextLayer,
    OpenTrace,
}

impl Action {
    pub fn description(self) -> &'static str {
        match self {
            Action::TogglePlay => "play / pause",
            Action::StepForward => "step one token",
            Action::StepBack => "step back one token",
            Action::StepBlockForward => "to the next span end",
            Action::StepBlockBack => "to the last span end",
            Action::NextBlock => "next block",
            Action::PrevBlock => "previous block",
            Action::Home => "go to the start",
            Action::End => "go to the end",
            Action::ScrubForward => "scrub forward 1%",
            Action::ScrubBack => "scrub back 1%",
            Action::ScrubForwardFar => "scrub forward 10%",
            Action::ScrubBackFar => "scrub back 10%",
            Action::SpeedUp => "faster",
            Action::SpeedDown => "slower",
            Action::Up => "scroll up / previous row",
            Action::Down => "scroll down / next row",
            Action::PageUp => "scroll up a page",
            Action::PageDown => "scroll down a page",
            Action::Follow => "follow the playhead",
            Action::FocusNext => "switch pane",
            Action::Select => "jump to selected block",
            Action::ToggleTheme => "switch theme",
            Action::ToggleHelp => "help",
            Action::Quit => "quit",
            Action::Back => "close inspector / quit",
            Action::Inspect => "inspect token / memento",
            Action::Export => "export report and chart",
            Action::RunPause => "run / pause decoding",
            Action::DecodeStep => "decode one token",
            Action::DecodeBlock => "decode to the block's end",
            Action::StopRun => "stop (the trace is kept)",
            Action::RestartRun => "restart the run",
            Action::CompareRun => "compare full vs memento",
            Action::EditPrompt => "edit the prompt",
            Action::Settings => "settings: mode, sampler",
            Action::NewProblem => "draw another problem of the model's task",
            Action::NextTab => "next tab",
            Action::PrevTab => "previous tab",
            Action::GoTab => "go to a tab",
            Action::PrevLayer => "previous layer (channel)",
            Action::NextLayer => "next layer (channel)",
            Action::OpenTrace => "open the item's trace (q returns)",
        }
    }

    pub fn group(self) -> &'static str {
        match self {
            Action::TogglePlay | Action::SpeedUp | Action::SpeedDown => "playback",
            Action::StepForward
            | Action::StepBack
            | Action::StepBlockForward
            | Action::StepBlockBack
            | Action::NextBlock
            | Action::PrevBlock
            | Action::Home
            | Action::End
            | Action::ScrubForward
            | Action::ScrubBack
            | Action::ScrubForwardFar
            | Action::ScrubBackFar => "move",
            Action::Up
            | Action::Down
            | Action::PageUp
            | Action::PageDown
            | Action::Follow
            | Action::FocusNext
            | Action::Select => "view",
            Action::Inspect => "view",
            Action::RunPause
            | Action::DecodeStep
            | Action::DecodeBlock
            | Action::StopRun
            | Action::RestartRun
            | Action::CompareRun
            | Action::EditPrompt
            | Action::Settings
            | Action::NewProblem => "decode",
            Action::ToggleTheme
            | Action::ToggleHelp
            | Action::Quit
            | Action::Back
            | Action::Export => "app",
            Action::NextTab | Action::PrevTab | Action::GoTab => "tabs",
            Action::PrevLayer | Action::NextLayer | Action::OpenTrace => "view",
        }
    }

    /// The short label used in the status-bar hints.
    pub fn hint(self) -> &'static str {
        match self {
            Action::TogglePlay => "play",
            Action::StepForward => "step",
            Action::NextBlock => "block",
            Action::ToggleHelp => "help",
            Action::Quit => "quit",
            Action::RunPause => "run/pause",
            Action::DecodeStep => "step",
            Action::DecodeBlock => "block",
            Action::CompareRun => "compare",
            Action::EditPrompt => "prompt",
            Action::Settings => "settings",
            Action::NewProblem => "new problem",
            Action::Inspect => "inspect",
            Action::NextTab => "tabs",
            Action::Up => "select",
            Action::OpenTrace => "trace",
            _ => self.description(),
        }
    }
}

/// Actions the replay's status bar shows, in order.
const REPLAY_HINTS: [Action; 5] = [
    Action::TogglePlay,
    Action::StepForward,
    Action::NextBlock,
    Action::ToggleHelp,
    Action::Quit,
];

/// Actions the ablation view's status bar shows, in order.
const ABLATION_HINTS: [Action; 5] = [
    Action::NextTab,
    Action::Up,
    Action::OpenTrace,
    Action::ToggleHelp,
    Action::Quit,
];

/// Actions the workbench's status bar shows, in order.
const WORKBENCH_HINTS: [Action; 8] = [
    Action::RunPause,
    Action::DecodeStep,
    Action::DecodeBlock,
    Action::CompareRun,
    Action::EditPrompt,
    Action::Settings,
    Action::ToggleHelp,
    Action::Quit,
];

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KeyBinding {
    pub code: KeyCode,
    pub modifiers: KeyModifiers,
}

impl KeyBinding {
    const fn plain(code: KeyCode) -> Self {
        KeyBinding {
            code,
            modifiers: KeyModifiers::NONE,
        }
    }

    const fn ch(c: char) -> Self {
        KeyBinding::plain(KeyCode::Char(c))
    }

    const fn with(code: KeyCode, modifiers: KeyModifiers) -> Self {
        KeyBinding { code, modifiers }
    }

    fn matches(&self, key: &KeyEvent) -> bool {
        // A typed character already carries its shift state ('>' is shift-.), as does
        // shift-tab.
        let relevant = match key.code {
            KeyCode::Char(_) | KeyCode::BackTab => key.modifiers - KeyModifiers::SHIFT,
            _ => key.modifiers,
        };
        self.code == key.code && self.modifiers == relevant
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
            other => format!("{other:?}").to_lowercase(),
        };
        let mut prefix = String::new();
        if self.modifiers.contains(KeyModifiers::CONTROL) {
            prefix.push_str("ctrl-");
        }
        if self.modifiers.contains(KeyModifiers::SHIFT) {
            prefix.push_str("shift-");
        }
        prefix + &base
    }
}

#[derive(Debug, Clone)]
pub struct KeyMap {
    bindings: Vec<(KeyBinding, Action)>,
    /// What the status bar shows.
    pub hints: Vec<Action>,
}

impl Default for KeyMap {
    /// The replay's keys.
    fn default() -> Self {
        KeyMap {
            bindings: navigation(true),
            hints: REPLAY_HINTS.to_vec(),
        }
    }
}

impl KeyMap {
    /// The live workbench: decode controls, then the replay's moves over what was decoded.
    pub fn workbench() -> Self {
        use KeyCode::*;
        let b = |k: KeyBinding, a: Action| (k, a);
        let mut bindings = vec![
            b(KeyBinding::ch(' '), Action::RunPause),
            b(KeyBinding::ch('s'), Action::DecodeStep),
            b(KeyBinding::ch('b'), Action::DecodeBlock),
            b(KeyBinding::ch('x'), Action::StopRun),
            b(KeyBinding::ch('r'), Action::RestartRun),
            b(KeyBinding::ch('c'), Action::CompareRun),
            b(KeyBinding::ch('e'), Action::EditPrompt),
            b(KeyBinding::plain(Char('/')), Action::EditPrompt),
            b(KeyBinding::ch('o'), Action::Settings),
            b(KeyBinding::ch('d'), Action::NewProblem),
            b(
                KeyBinding::with(Char('t'), KeyModifiers::CONTROL),
                Action::NewProblem,
            ),
        ];
        bindings.extend(navigation(false));
        KeyMap {
            bindings,
            hints: WORKBENCH_HINTS.to_vec(),
        }
    }
}

impl KeyMap {
    /// The ablation view: tabs, rows, the channel's layers, and opening an item's trace.
    pub fn ablation() -> Self {
        use KeyCode::*;
        let b = |k: KeyBinding, a: Action| (k, a);
        let mut bindings = vec![
            b(KeyBinding::plain(Tab), Action::NextTab),
            b(KeyBinding::plain(BackTab), Action::PrevTab),
        ];
        for digit in ['1', '2', '3', '4', '5'] {
            bindings.push(b(KeyBinding::ch(digit), Action::GoTab));
        }
        bindings.extend([
            b(KeyBinding::plain(Up), Action::Up),
            b(KeyBinding::ch('k'), Action::Up),
            b(KeyBinding::plain(Down), Action::Down),
            b(KeyBinding::ch('j'), Action::Down),
            b(KeyBinding::plain(PageUp), Action::PageUp),
            b(KeyBinding::plain(PageDown), Action::PageDown),
            b(KeyBinding::plain(Left), Action::PrevLayer),
            b(KeyBinding::ch('h'), Action::PrevLayer),
            b(KeyBinding::plain(Right), Action::NextLayer),
            b(KeyBinding::ch('l'), Action::NextLayer),
            b(KeyBinding::plain(Enter), Action::OpenTrace),
            b(KeyBinding::ch('t'), Action::ToggleTheme),
            b(KeyBinding::ch('?'), Action::ToggleHelp),
            b(KeyBinding::ch('q'), Action::Quit),
            b(KeyBinding::plain(Esc), Action::Quit),
            b(
                KeyBinding::with(Char('c'), KeyModifiers::CONTROL),
                Action::Quit,
            ),
        ]);
        KeyMap {
            bindings,
            hints: ABLATION_HINTS.to_vec(),
        }
    }
}

/// Moving through a stream and viewing it, shared by the replay and the workbench. The
/// workbench has no playback speed: its stream plays as fast as the model decodes.
fn navigation(playback: bool) -> Vec<(KeyBinding, Action)> {
    use KeyCode::*;
    let b = |k: KeyBinding, a: Action| (k, a);
    let mut bindings = Vec::new();
    if playback {
        bindings.push(b(KeyBinding::ch(' '), Action::TogglePlay));
    }
    bindings.extend([
        b(KeyBinding::ch('.'), Action::StepForward),
        b(KeyBinding::ch('l'), Action::StepForward),
        b(KeyBinding::ch(','), Action::StepBack),
        b(KeyBinding::ch('h'), Action::StepBack),
        b(KeyBinding::ch('>'), Action::StepBlockForward),
        b(KeyBinding::ch('<'), Action::StepBlockBack),
        b(KeyBinding::ch(']'), Action::NextBlock),
        b(KeyBinding::ch('n'), Action::NextBlock),
        b(KeyBinding::ch('['), Action::PrevBlock),
        b(KeyBinding::ch('p'), Action::PrevBlock),
        b(KeyBinding::plain(Home), Action::Home),
        b(KeyBinding::ch('g'), Action::Home),
        b(KeyBinding::plain(End), Action::End),
        b(KeyBinding::ch('G'), Action::End),
        b(KeyBinding::plain(Right), Action::ScrubForward),
        b(KeyBinding::plain(Left), Action::ScrubBack),
        b(
            KeyBinding::with(Right, KeyModifiers::SHIFT),
            Action::ScrubForwardFar,
        ),
        b(
            KeyBinding::with(Left, KeyModifiers::SHIFT),
            Action::ScrubBackFar,
        ),
        b(KeyBinding::plain(Up), Action::Up),
        b(KeyBinding::ch('k'), Action::Up),
        b(KeyBinding::plain(Down), Action::Down),
        b(KeyBinding::ch('j'), Action::Down),
        b(KeyBinding::plain(PageUp), Action::PageUp),
        b(KeyBinding::plain(PageDown), Action::PageDown),
        b(KeyBinding::ch('f'), Action::Follow),
        b(KeyBinding::plain(Tab), Action::FocusNext),
        b(KeyBinding::plain(Enter), Action::Select),
        b(KeyBinding::ch('i'), Action::Inspect),
        b(KeyBinding::ch('w'), Action::Export),
        b(KeyBinding::ch('t'), Action::ToggleTheme),
        b(KeyBinding::ch('?'), Action::ToggleHelp),
        b(KeyBinding::ch('q'), Action::Quit),
    ]);
    if playback {
        bindings.extend([
            b(KeyBinding::ch('+'), Action::SpeedUp),
            b(KeyBinding::ch('='), Action::SpeedUp),
            b(KeyBinding::ch('-'), Action::SpeedDown),
            // In the workbench, esc leaves the prompt editor instead.
            b(KeyBinding::plain(Esc), Action::Back),
        ]);
    }
    bindings.push(b(
        KeyBinding::with(Char('c'), KeyModifiers::CONTROL),
        Action::Quit,
    ));
    bindings
}

impl KeyMap {
    pub fn action_for(&self, key: &KeyEvent) -> Option<Action> {
        self.bindings
            .iter()
            .find(|(k, _)| k.matches(key))
            .map(|(_, a)| *a)
    }

    /// Every key bound to `action`, as labels.
    pub fn keys_for(&self, action: Action) -> Vec<String> {
        self.bindings
            .iter()
            .filter(|(_, a)| *a == action)
            .map(|(k, _)| k.label())
            .collect()
    }

    /// (group, keys, description) for each action, in binding order.
    pub fn help_rows(&self) -> Vec<(&'static str, String, &'static str)> {
        let mut seen = Vec::new();
        let mut rows = Vec::new();
        for (_, action) in &self.bindings {
            if seen.contains(action) {
                continue;
            }
            seen.push(*action);
            rows.push((
                action.group(),
                self.keys_for(*action).join(" "),
                action.description(),
            ));
        }
        rows.sort_by_key(|r| {
            ["decode", "playback", "tabs", "move", "view", "app"]
                .iter()
                .position(|g| *g == r.0)
        });
        rows
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shifted_characters_match_without_naming_shift() {
        let map = KeyMap::default();
        let gt = KeyEvent::new(KeyCode::Char('>'), KeyModifiers::SHIFT);
        assert_eq!(map.action_for(&gt), Some(Action::StepBlockForward));
        let ctrl_c = KeyEvent::new(KeyCode::Char('c'), KeyModifiers::CONTROL);
        assert_eq!(map.action_for(&ctrl_c), Some(Action::Quit));
        let c = KeyEvent::new(KeyCode::Char('c'), KeyModifiers::NONE);
        assert_eq!(map.action_for(&c), None);
        // Terminals send shift-tab as BackTab, with or without the shift flag.
        let ablation = KeyMap::ablation();
        for modifiers in [KeyModifiers::NONE, KeyModifiers::SHIFT] {
            let back = KeyEvent::new(KeyCode::BackTab, modifiers);
            assert_eq!(ablation.action_for(&back), Some(Action::PrevTab));
        }
    }

    #[test]
    fn help_lists_every_action_once() {
        let rows = KeyMap::default().help_rows();
        assert_eq!(rows.len(), 28);
        assert!(rows.iter().any(|r| r.1 == "space" && r.2 == "play / pause"));
    }
}
