//! The layers and the key maps of the three screens built from them.

use crossterm::event::{KeyCode, KeyModifiers};

use super::action::*;
use super::{KeyBinding as K, KeyMap, Layer, LayerId};
use crate::tui::editor::EditorAction;

fn layer(
    id: LayerId,
    title: &'static str,
    bindings: Vec<(K, Action)>,
    hints: Vec<Action>,
) -> Layer {
    Layer {
        id,
        title,
        bindings,
        hints,
        modal: false,
        typing: false,
    }
}

fn bind<A: Into<Action> + Copy>(pairs: &[(K, A)]) -> Vec<(K, Action)> {
    pairs.iter().map(|(k, a)| (*k, (*a).into())).collect()
}

/// ↑ and k for `up`, ↓ and j for `down`: every list moves the same way.
fn vertical<A: Copy>(up: A, down: A) -> [(K, A); 4] {
    [
        (K::plain(KeyCode::Up), up),
        (K::ch('k'), up),
        (K::plain(KeyCode::Down), down),
        (K::ch('j'), down),
    ]
}

/// ← and h for `left`, → and l for `right`.
fn horizontal<A: Copy>(left: A, right: A) -> [(K, A); 4] {
    [
        (K::plain(KeyCode::Left), left),
        (K::ch('h'), left),
        (K::plain(KeyCode::Right), right),
        (K::ch('l'), right),
    ]
}

/// pgup and pgdn.
fn pages<A: Copy>(up: A, down: A) -> [(K, A); 2] {
    [
        (K::plain(KeyCode::PageUp), up),
        (K::plain(KeyCode::PageDown), down),
    ]
}

fn help() -> Layer {
    use HelpAction::*;
    use KeyCode as C;
    let mut l = layer(
        LayerId::Help,
        "help",
        bind(&[
            (K::ch('?'), Close),
            (K::plain(C::Esc), Close),
            (K::ch('q'), Close),
            (K::plain(C::Enter), Close),
        ])
        .into_iter()
        .chain(bind(&vertical(Scroll(-1), Scroll(1))))
        .chain(bind(&pages(Scroll(-10), Scroll(10))))
        .collect(),
        vec![Close.into(), Scroll(1).into()],
    );
    l.modal = true;
    l
}

fn inspector() -> Layer {
    use InspectAction::*;
    layer(
        LayerId::Inspector,
        "inspector",
        bind(&[(K::plain(KeyCode::Esc), Close), (K::ch('i'), Close)])
            .into_iter()
            .chain(bind(&pages(PageUp, PageDown)))
            .collect(),
        vec![Close.into(), PageDown.into()],
    )
}

fn playback() -> Layer {
    use PlayAction::*;
    layer(
        LayerId::Playback,
        "playback",
        bind(&[
            (K::ch(' '), Toggle),
            (K::ch('+'), Faster),
            (K::ch('='), Faster),
            (K::ch('-'), Slower),
        ]),
        vec![Toggle.into()],
    )
}

fn nav(hints: Vec<Action>) -> Layer {
    use KeyCode as C;
    use NavAction::*;
    layer(
        LayerId::Nav,
        "move and view",
        bind(&[
            (K::ch('.'), StepForward),
            (K::ch('l'), StepForward),
            (K::ch(','), StepBack),
            (K::ch('h'), StepBack),
            (K::ch('>'), SpanEndForward),
            (K::ch('<'), SpanEndBack),
            (K::ch(']'), NextBlock),
            (K::ch('n'), NextBlock),
            (K::ch('['), PrevBlock),
            (K::ch('p'), PrevBlock),
            (K::plain(C::Home), Home),
            (K::ch('g'), Home),
            (K::plain(C::End), End),
            (K::ch('G'), End),
            (K::plain(C::Right), Scrub(1)),
            (K::plain(C::Left), Scrub(-1)),
            (K::with(C::Right, KeyModifiers::SHIFT), Scrub(10)),
            (K::with(C::Left, KeyModifiers::SHIFT), Scrub(-10)),
            (K::ch('f'), Follow),
            (K::plain(C::Tab), FocusNext),
            (K::plain(C::Enter), Select),
            (K::ch('i'), Inspect),
        ])
        .into_iter()
        .chain(bind(&vertical(Up, Down)))
        .chain(bind(&pages(PageUp, PageDown)))
        .collect(),
        hints,
    )
}

/// Help, theme, export and quit; `back` binds esc to close-else-quit (the replays).
fn app(back: bool) -> Layer {
    use AppAction::*;
    let mut bindings = bind(&[
        (K::ch('w'), Export),
        (K::ch('t'), CycleTheme),
        (K::ch('?'), Help),
        (K::ch('q'), Quit),
        // Resolved before any layer; bound here so the help lists it.
        (K::ctrl('c'), Quit),
    ]);
    if back {
        bindings.push((K::plain(KeyCode::Esc), Back.into()));
    }
    layer(
        LayerId::App,
        "app",
        bindings,
        vec![Help.into(), Quit.into()],
    )
}

/// The app's keys on a screen with nothing to export (esc quits it).
fn app_without_export() -> Layer {
    let mut app = app(true);
    app.bindings
        .retain(|(_, a)| *a != Action::App(AppAction::Export));
    app
}

fn decode() -> Layer {
    use DecodeAction::*;
    layer(
        LayerId::Decode,
        "decode",
        bind(&[
            (K::ch(' '), RunPause),
            (K::ch('s'), Step),
            (K::ch('b'), Block),
            (K::ch('x'), Stop),
            (K::ch('r'), Restart),
            (K::ch('c'), Compare),
            (K::ch('e'), EditPrompt),
            (K::ch('/'), EditPrompt),
            (K::ch('o'), Settings),
            (K::ch('d'), NewProblem),
            (K::ctrl('t'), NewProblem),
        ]),
        [RunPause, Step, Block, Compare, EditPrompt, Settings]
            .map(Action::from)
            .to_vec(),
    )
}

fn editor() -> Layer {
    use EditorAction::*;
    use KeyCode as C;
    let m = |code, modifiers| K::with(code, modifiers);
    let (_alt, ctrl, shift) = (
        KeyModifiers::ALT,
        KeyModifiers::CONTROL,
        KeyModifiers::SHIFT,
    );
    let bindings: Vec<(K, Action)> = [
        (K::plain(C::Enter), Submit),
        (K::ctrl('o'), SubmitCompare),
        (K::alt(C::Enter), Newline),
        (m(C::Enter, shift), Newline),
        (m(C::Enter, ctrl), Newline),
        // In raw mode a line feed (ctrl-j) is its own key, distinct from enter.
        (K::ctrl('j'), Newline),
        (K::plain(C::Up), Up),
        (K::plain(C::Down), Down),
        (K::ctrl('p'), HistoryPrev),
        (K::ctrl('n'), HistoryNext),
        (K::plain(C::Left), Left),
        (K::plain(C::Right), Right),
        (K::alt(C::Left), WordLeft),
        (m(C::Left, ctrl), WordLeft),
        // Alt-arrows arrive as alt-b / alt-f from terminals that speak readline.
        (K::alt(C::Char('b')), WordLeft),
        (K::alt(C::Right), WordRight),
        (m(C::Right, ctrl), WordRight),
        (K::alt(C::Char('f')), WordRight),
        (K::plain(C::Home), LineStart),
        (K::ctrl('a'), LineStart),
        (K::plain(C::End), LineEnd),
        (K::ctrl('e'), LineEnd),
        (K::plain(C::Backspace), Backspace),
        // Some terminals send backspace as ^H.
        (K::ctrl('h'), Backspace),
        (K::plain(C::Delete), Delete),
        (K::ctrl('w'), DeleteWordBack),
        (K::alt(C::Backspace), DeleteWordBack),
        (m(C::Backspace, ctrl), DeleteWordBack),
        (K::ctrl('u'), DeleteToLineStart),
        (K::ctrl('k'), DeleteToLineEnd),
        (K::plain(C::Esc), Leave),
        (K::plain(C::Tab), Leave),
    ]
    .into_iter()
    .map(|(k, a)| (k, Action::Edit(a)))
    .collect();
    let mut l = layer(
        LayerId::Editor,
        "prompt editor",
        bindings,
        [Submit, SubmitCompare, Newline, Up, Leave]
            .map(Action::Edit)
            .to_vec(),
    );
    l.typing = true;
    l
}

fn settings() -> Layer {
    use KeyCode as C;
    use SettingsAction::*;
    let mut l = layer(
        LayerId::Settings,
        "settings panel",
        [
            vertical(Up, Down).as_slice(),
            horizontal(Less, More).as_slice(),
        ]
        .concat()
        .into_iter()
        .chain([(K::ch('-'), Less), (K::ch('+'), More)])
        .map(|(k, a)| (k, a.into()))
        .chain(bind(&[
            (K::plain(C::Esc), Close),
            (K::plain(C::Enter), Close),
            (K::ch('o'), Close),
            (K::ch('q'), Close),
        ]))
        .collect(),
        vec![Down.into(), More.into(), Close.into()],
    );
    l.modal = true;
    l
}

fn tabs() -> Layer {
    use KeyCode as C;
    use TabAction::*;
    let mut bindings = bind(&[(K::plain(C::Tab), Next), (K::plain(C::BackTab), Prev)]);
    for (n, digit) in ['1', '2', '3', '4', '5'].into_iter().enumerate() {
        bindings.push((K::ch(digit), Go(n as u8 + 1).into()));
    }
    bindings.extend(bind(&vertical(Up, Down)));
    bindings.extend(bind(&pages(PageUp, PageDown)));
    bindings.extend(bind(&horizontal(PrevLayer, NextLayer)));
    bindings.push((K::plain(C::Enter), OpenTrace.into()));
    layer(
        LayerId::Tabs,
        "tabs and rows",
        bindings,
        vec![Next.into(), Down.into(), OpenTrace.into()],
    )
}

fn picker() -> Layer {
    use KeyCode as C;
    use PickAction::*;
    layer(
        LayerId::Picker,
        "sessions",
        bind(&vertical(Up, Down))
            .into_iter()
            .chain(bind(&pages(PageUp, PageDown)))
            .chain(bind(&[
                (K::plain(C::Home), First),
                (K::ch('g'), First),
                (K::plain(C::End), Last),
                (K::ch('G'), Last),
                (K::plain(C::Enter), Open),
                (K::ch('l'), Open),
                (K::plain(C::Right), Open),
            ]))
            .collect(),
        vec![Down.into(), Open.into()],
    )
}

impl KeyMap {
    /// A replayed trace or pair: playback, moving and viewing, and the app's keys.
    pub fn replay() -> KeyMap {
        use NavAction::*;
        KeyMap {
            layers: vec![
                help(),
                inspector(),
                playback(),
                nav(vec![StepForward.into(), NextBlock.into(), Inspect.into()]),
                app(true),
            ],
        }
    }

    /// The live workbench: the editor and the settings panel over the decode controls, then
    /// the replay's moves over what was decoded (its stream plays as fast as the model
    /// decodes, so there is no playback layer).
    pub fn workbench() -> KeyMap {
        KeyMap {
            layers: vec![
                help(),
                settings(),
                inspector(),
                editor(),
                decode(),
                nav(Vec::new()),
                app(false),
            ],
        }
    }

    /// The ablation view: tabs, rows, the channel's layers, and opening an item's trace.
    pub fn ablation() -> KeyMap {
        KeyMap {
            layers: vec![help(), tabs(), app_without_export()],
        }
    }

    /// The session picker: the recorded runs, newest first, and replaying one.
    pub fn picker() -> KeyMap {
        KeyMap {
            layers: vec![help(), picker(), app_without_export()],
        }
    }
}
