//! What keys do, one enum per layer, so each screen's update matches only the actions of
//! the layers it has. Actions carry their data (`Tab(Go(3))`, `Edit(Insert('a'))`).

use crate::tui::editor::EditorAction;

/// Every screen's own keys: help, theme, export and quit.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AppAction {
    Help,
    CycleTheme,
    /// Write the run as Markdown and its KV chart as SVG and PNG.
    Export,
    Quit,
    /// Close the innermost open overlay; with none open, quit a replay.
    Back,
}

/// A recorded stream's playback.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PlayAction {
    Toggle,
    Faster,
    Slower,
}

/// Moving the playhead through a stream and viewing it; the replay and the workbench share
/// them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum NavAction {
    StepForward,
    StepBack,
    SpanEndForward,
    SpanEndBack,
    NextBlock,
    PrevBlock,
    Home,
    End,
    /// Move by this many percent of the stream (negative: back).
    Scrub(i8),
    Up,
    Down,
    PageUp,
    PageDown,
    Follow,
    FocusNext,
    Select,
    /// Open the inspector: the token at the playhead, or the selected memento's block.
    Inspect,
}

/// The inspector, while it is open.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum InspectAction {
    Close,
    PageUp,
    PageDown,
}

/// The live workbench's decode controls.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DecodeAction {
    RunPause,
    Step,
    Block,
    Stop,
    Restart,
    Compare,
    EditPrompt,
    Settings,
    /// Put another problem of the model's task in the editor.
    NewProblem,
}

/// The settings panel, while it is open.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SettingsAction {
    Up,
    Down,
    Less,
    More,
    Close,
}

/// The ablation view's tabs and rows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TabAction {
    Next,
    Prev,
    /// The tab of this number, from 1.
    Go(u8),
    Up,
    Down,
    PageUp,
    PageDown,
    PrevLayer,
    NextLayer,
    OpenTrace,
}

/// The session picker's list.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PickAction {
    Up,
    Down,
    PageUp,
    PageDown,
    First,
    Last,
    /// Replay the selected run (a compare run as its pair).
    Open,
}

/// The help overlay, while it is open.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum HelpAction {
    Close,
    /// Scroll by this many rows (negative: up).
    Scroll(i8),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    App(AppAction),
    Play(PlayAction),
    Nav(NavAction),
    Inspect(InspectAction),
    Decode(DecodeAction),
    Edit(EditorAction),
    Settings(SettingsAction),
    Tab(TabAction),
    Pick(PickAction),
    Help(HelpAction),
}

macro_rules! into_action {
    ($($t:ident => $v:ident),*) => {$(
        impl From<$t> for Action {
            fn from(a: $t) -> Action {
                Action::$v(a)
            }
        }
    )*};
}
into_action!(AppAction => App, PlayAction => Play, NavAction => Nav, InspectAction => Inspect,
    DecodeAction => Decode, EditorAction => Edit, SettingsAction => Settings, TabAction => Tab,
    HelpAction => Help, PickAction => Pick);

impl Action {
    /// What the help says the action does.
    pub fn description(&self) -> String {
        use Action as A;
        let s = match self {
            A::App(a) => match a {
                AppAction::Help => "help: every key",
                AppAction::CycleTheme => "next theme",
                AppAction::Export => "export report and KV chart",
                AppAction::Quit => "quit",
                AppAction::Back => "close the open panel, else quit",
            },
            A::Play(a) => match a {
                PlayAction::Toggle => "play / pause",
                PlayAction::Faster => "faster",
                PlayAction::Slower => "slower",
            },
            A::Nav(a) => match a {
                NavAction::StepForward => "step one token",
                NavAction::StepBack => "step back one token",
                NavAction::SpanEndForward => "to the next block or memento end",
                NavAction::SpanEndBack => "to the last block or memento end",
                NavAction::NextBlock => "next block",
                NavAction::PrevBlock => "previous block",
                NavAction::Home => "go to the start",
                NavAction::End => "go to the end",
                NavAction::Scrub(p) => {
                    let way = if *p >= 0 { "forward" } else { "back" };
                    return format!("scrub {way} {}%", p.unsigned_abs());
                }
                NavAction::Up => "scroll up / previous memento",
                NavAction::Down => "scroll down / next memento",
                NavAction::PageUp => "scroll up a page",
                NavAction::PageDown => "scroll down a page",
                NavAction::Follow => "follow the playhead",
                NavAction::FocusNext => "switch pane (reasoning / mementos)",
                NavAction::Select => "jump to the selected memento's block",
                NavAction::Inspect => "inspect the token or memento",
            },
            A::Inspect(a) => match a {
                InspectAction::Close => "close the inspector",
                InspectAction::PageUp => "scroll the inspector up",
                InspectAction::PageDown => "scroll the inspector down",
            },
            A::Decode(a) => match a {
                DecodeAction::RunPause => "run / pause decoding",
                DecodeAction::Step => "decode one token",
                DecodeAction::Block => "decode to the block's end",
                DecodeAction::Stop => "stop (the trace is kept)",
                DecodeAction::Restart => "restart the run",
                DecodeAction::Compare => "compare full vs memento",
                DecodeAction::EditPrompt => "edit the prompt",
                DecodeAction::Settings => "settings: mode, sampler",
                DecodeAction::NewProblem => "draw another problem of the model's task",
            },
            A::Edit(a) => match a {
                EditorAction::Insert(_) => "type",
                EditorAction::Paste(_) => "paste",
                EditorAction::Newline => "new line",
                EditorAction::Backspace => "delete back",
                EditorAction::Delete => "delete forward",
                EditorAction::DeleteWordBack => "delete the word before",
                EditorAction::DeleteToLineStart => "delete to the line's start",
                EditorAction::DeleteToLineEnd => "delete to the line's end",
                EditorAction::Left => "cursor left",
                EditorAction::Right => "cursor right",
                EditorAction::Up => "line up / older prompt",
                EditorAction::Down => "line down / newer prompt",
                EditorAction::WordLeft => "word left",
                EditorAction::WordRight => "word right",
                EditorAction::LineStart => "line start",
                EditorAction::LineEnd => "line end",
                EditorAction::HistoryPrev => "older prompt",
                EditorAction::HistoryNext => "newer prompt",
                EditorAction::Submit => "run the prompt",
                EditorAction::SubmitCompare => "run it full vs memento",
                EditorAction::Leave => "leave the editor",
            },
            A::Settings(a) => match a {
                SettingsAction::Up => "previous field",
                SettingsAction::Down => "next field",
                SettingsAction::Less => "lower the value",
                SettingsAction::More => "raise the value",
                SettingsAction::Close => "close the settings",
            },
            A::Tab(a) => match a {
                TabAction::Next => "next tab",
                TabAction::Prev => "previous tab",
                TabAction::Go(_) => "go to that tab",
                TabAction::Up => "previous row",
                TabAction::Down => "next row",
                TabAction::PageUp => "a page up",
                TabAction::PageDown => "a page down",
                TabAction::PrevLayer => "previous layer (channel)",
                TabAction::NextLayer => "next layer (channel)",
                TabAction::OpenTrace => "open the item's trace (q returns)",
            },
            A::Pick(a) => match a {
                PickAction::Up => "newer run",
                PickAction::Down => "older run",
                PickAction::PageUp => "a page up",
                PickAction::PageDown => "a page down",
                PickAction::First => "the newest run",
                PickAction::Last => "the oldest run",
                PickAction::Open => "replay the run (q comes back here)",
            },
            A::Help(HelpAction::Close) => "close the help",
            A::Help(HelpAction::Scroll(_)) => "scroll the help",
        };
        s.to_string()
    }

    /// The short label the status bar shows beside the key.
    pub fn hint(&self) -> String {
        use Action as A;
        let s = match self {
            A::App(AppAction::Help) => "help",
            A::App(AppAction::Quit) => "quit",
            A::App(AppAction::Export) => "export",
            A::App(AppAction::Back) => "back",
            A::Play(PlayAction::Toggle) => "play",
            A::Nav(NavAction::StepForward) => "step",
            A::Nav(NavAction::NextBlock) => "block",
            A::Nav(NavAction::Inspect) => "inspect",
            A::Inspect(InspectAction::Close) => "close",
            A::Inspect(InspectAction::PageDown) => "scroll",
            A::Decode(DecodeAction::RunPause) => "run/pause",
            A::Decode(DecodeAction::Step) => "step",
            A::Decode(DecodeAction::Block) => "block",
            A::Decode(DecodeAction::Compare) => "compare",
            A::Decode(DecodeAction::EditPrompt) => "prompt",
            A::Decode(DecodeAction::Settings) => "settings",
            A::Decode(DecodeAction::NewProblem) => "new problem",
            A::Edit(EditorAction::Submit) => "run",
            A::Edit(EditorAction::SubmitCompare) => "compare",
            A::Edit(EditorAction::Newline) => "newline",
            A::Edit(EditorAction::Up) => "history",
            A::Edit(EditorAction::Leave) => "done",
            A::Settings(SettingsAction::Down) => "field",
            A::Settings(SettingsAction::More) => "change",
            A::Settings(SettingsAction::Close) => "done",
            A::Tab(TabAction::Next) => "tabs",
            A::Tab(TabAction::Down) => "select",
            A::Tab(TabAction::OpenTrace) => "trace",
            A::Pick(PickAction::Down) => "select",
            A::Pick(PickAction::Open) => "replay",
            A::Help(HelpAction::Close) => "close",
            A::Help(HelpAction::Scroll(_)) => "scroll",
            other => return other.description(),
        };
        s.to_string()
    }
}
