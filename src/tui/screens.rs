//! The things the event loop can drive, each its state plus the caches its views keep: a
//! replayed trace, a replayed compare pair, the live workbench, and an ablation result
//! directory (which opens its items' traces in the replay). Exports happen here, the one
//! place in the TUI that writes files on the user's request, and traces opened from the
//! ablation view are read here.

use std::path::{Path, PathBuf};
use std::time::Duration;

use crossterm::event::Event;
use ratatui::Frame;

use super::ablation::AblationApp;
use super::app::App;
use super::chrome::{Effect, Keyed};
use super::pair::PairApp;
use super::picker::Picker;
use super::replay::Replay;
use super::runner::Screen;
use super::view::ablation::AblationCache;
use super::view::workbench::WorkbenchCache;
use super::view::{self, ViewCache};
use super::workbench::Workbench;
use crate::live::{LiveMsg, Worker, partner_of};
use crate::timeline::Timeline;

/// Export `timeline` beside its trace; a line saying where it went (or what failed).
pub fn export_beside(timeline: &Timeline, trace: Option<&Path>) -> String {
    let Some(trace) = trace else {
        return "nothing to export: this run has no trace file".into();
    };
    match crate::export::export_all(timeline, &crate::export::base_for_trace(trace)) {
        Ok(paths) => format!("exported {} (+ .kv.svg, .kv.png)", paths.markdown.display()),
        Err(e) => format!("export failed: {e:#}"),
    }
}

/// A key for a replayed screen (a trace, a pair, a trace opened from the ablation view);
/// true to quit it. An export's result goes to the status bar.
fn replay_input<S: Keyed>(state: &mut S, event: Event, export: impl Fn(&S) -> String) -> bool {
    let Event::Key(key) = event else {
        return false;
    };
    for effect in state.key(&key) {
        match effect {
            Effect::Quit => return true,
            Effect::Export => state.chrome_mut().notice = Some(export(state)),
            Effect::OpenTrace(_) | Effect::Send(_) => {}
        }
    }
    false
}

/// A replayed trace; `source` is its file, where exports go.
pub struct ReplayScreen {
    pub replay: Replay,
    pub source: Option<PathBuf>,
    cache: ViewCache,
}

impl ReplayScreen {
    pub fn new(replay: Replay, source: Option<PathBuf>) -> Self {
        ReplayScreen {
            replay,
            source,
            cache: ViewCache::default(),
        }
    }

    /// Read the trace at `path`; what failed, in words, when it cannot be read.
    fn read(path: PathBuf, theme: &crate::tui::theme::Theme) -> Result<ReplayScreen, String> {
        let timeline = read_timeline(&path)?;
        let replay = Replay::new(App::new(timeline, file_title(&path)), theme.clone());
        Ok(ReplayScreen::new(replay, Some(path)))
    }
}

impl Screen for ReplayScreen {
    fn draw(&mut self, frame: &mut Frame) {
        view::draw(frame, &self.replay, &mut self.cache);
        self.cache.settle(&mut self.replay.app);
    }

    fn input(&mut self, event: Event) -> bool {
        let source = self.source.clone();
        replay_input(&mut self.replay, event, |r| {
            export_beside(&r.app.timeline, source.as_deref())
        })
    }

    fn tick(&mut self, dt: Duration) -> bool {
        let app = &mut self.replay.app;
        let before = (app.cursor, app.playing);
        app.tick(dt);
        before != (app.cursor, app.playing)
    }

    fn animating(&self) -> bool {
        self.replay.app.playing
    }
}

pub struct PairScreen {
    pub pair: PairApp,
    pub sources: [PathBuf; 2],
    caches: Vec<ViewCache>,
}

impl PairScreen {
    pub fn new(pair: PairApp, sources: [PathBuf; 2]) -> Self {
        PairScreen {
            pair,
            sources,
            caches: Vec::new(),
        }
    }
}

impl Screen for PairScreen {
    fn draw(&mut self, frame: &mut Frame) {
        view::compare::draw_pair(frame, &self.pair, &mut self.caches);
        for (app, cache) in self.pair.apps.iter_mut().zip(&self.caches) {
            cache.settle(app);
        }
    }

    fn input(&mut self, event: Event) -> bool {
        let sources = self.sources.clone();
        replay_input(&mut self.pair, event, |pair| {
            let notes: Vec<String> = pair
                .apps
                .iter()
                .zip(&sources)
                .map(|(app, source)| export_beside(&app.timeline, Some(source)))
                .collect();
            notes.join(" · ")
        })
    }

    fn tick(&mut self, dt: Duration) -> bool {
        let before: Vec<u64> = self.pair.apps.iter().map(|a| a.cursor).collect();
        let playing = self.pair.playing();
        self.pair.tick(dt);
        let after: Vec<u64> = self.pair.apps.iter().map(|a| a.cursor).collect();
        before != after || playing != self.pair.playing()
    }

    fn animating(&self) -> bool {
        self.pair.playing()
    }
}

pub struct WorkbenchScreen {
    pub wb: Workbench,
    worker: Worker,
    cache: WorkbenchCache,
}

impl WorkbenchScreen {
    pub fn new(wb: Workbench, worker: Worker) -> Self {
        WorkbenchScreen {
            wb,
            worker,
            cache: WorkbenchCache::default(),
        }
    }

    /// Carry out the workbench's effects; true to quit.
    pub fn carry_out(&mut self, effects: Vec<Effect>) -> bool {
        for effect in effects {
            match effect {
                Effect::Quit => return true,
                Effect::Export => self.export(),
                Effect::Send(command) => self.worker.send(command),
                Effect::OpenTrace(_) => {}
            }
        }
        false
    }

    fn export(&mut self) {
        let notes: Vec<String> = self
            .wb
            .streams
            .iter()
            .filter_map(|s| {
                s.app
                    .as_ref()
                    .map(|app| export_beside(&app.timeline, s.path.as_deref()))
            })
            .collect();
        self.wb.chrome.notice = Some(if notes.is_empty() {
            "nothing to export yet".into()
        } else {
            notes.join(" · ")
        });
    }
}

impl Screen for WorkbenchScreen {
    fn draw(&mut self, frame: &mut Frame) {
        view::workbench::draw(frame, &self.wb, &mut self.cache);
        for (stream, cache) in self.wb.streams.iter_mut().zip(&self.cache.streams) {
            if let Some(app) = stream.app.as_mut() {
                cache.settle(app);
            }
        }
    }

    fn input(&mut self, event: Event) -> bool {
        let effects = match event {
            Event::Key(key) => self.wb.key(&key),
            Event::Paste(text) => self.wb.paste(text),
            _ => Vec::new(),
        };
        self.carry_out(effects)
    }

    fn live(&mut self, msg: LiveMsg) -> bool {
        self.wb.on_live(msg);
        self.wb.exit_when_done && self.wb.state == crate::live::WorkerState::Finished
    }
}

fn file_title(path: &Path) -> String {
    path.file_name().map_or_else(
        || path.display().to_string(),
        |n| n.to_string_lossy().to_string(),
    )
}

fn read_timeline(path: &Path) -> Result<Timeline, String> {
    Timeline::read(path)
        .map(|(timeline, _)| timeline)
        .map_err(|e| format!("cannot open the trace {}: {e:#}", path.display()))
}

fn is_ctrl_c(event: &Event) -> bool {
    matches!(event, Event::Key(key) if key.code == crossterm::event::KeyCode::Char('c')
        && key.modifiers.contains(crossterm::event::KeyModifiers::CONTROL))
}

/// A trace (or pair) opened over a screen that lists them (the ablation view, the session
/// picker): while one is open it takes the frame and the keys; its quit keys come back to the
/// screen under it, and Ctrl-C quits both.
#[derive(Default)]
struct Overlay(Option<Box<dyn Screen>>);

impl Overlay {
    fn is_open(&self) -> bool {
        self.0.is_some()
    }

    /// Draw the open screen; false when none is open (the screen under it draws itself).
    fn draw(&mut self, frame: &mut Frame) -> bool {
        self.0.as_mut().map(|s| s.draw(frame)).is_some()
    }

    /// An event for the open screen, else a key for `under`, whose effects are carried out:
    /// a trace it asks for is opened by `open` (what failed goes to its notice). True to quit.
    fn input<U: Keyed>(
        &mut self,
        event: Event,
        under: &mut U,
        open: impl Fn(&U, PathBuf) -> Result<Box<dyn Screen>, String>,
    ) -> bool {
        if let Some(screen) = &mut self.0 {
            if is_ctrl_c(&event) {
                return true;
            }
            if screen.input(event) {
                self.0 = None;
            }
            return false;
        }
        let Event::Key(key) = event else {
            return false;
        };
        for effect in under.key(&key) {
            match effect {
                Effect::Quit => return true,
                Effect::OpenTrace(path) => match open(under, path) {
                    Ok(screen) => {
                        self.0 = Some(screen);
                        under.chrome_mut().notice = None;
                    }
                    Err(e) => under.chrome_mut().notice = Some(e),
                },
                Effect::Export | Effect::Send(_) => {}
            }
        }
        false
    }

    fn tick(&mut self, dt: Duration) -> bool {
        self.0.as_mut().is_some_and(|s| s.tick(dt))
    }

    fn animating(&self) -> bool {
        self.0.as_ref().is_some_and(|s| s.animating())
    }
}

pub struct AblationScreen {
    pub app: AblationApp,
    cache: AblationCache,
    trace: Overlay,
}

impl AblationScreen {
    pub fn new(app: AblationApp) -> Self {
        AblationScreen {
            app,
            cache: AblationCache::default(),
            trace: Overlay::default(),
        }
    }

    /// True while an item's trace is open over the ablation view.
    pub fn replaying(&self) -> bool {
        self.trace.is_open()
    }
}

impl Screen for AblationScreen {
    fn draw(&mut self, frame: &mut Frame) {
        if !self.trace.draw(frame) {
            view::ablation::draw(frame, &self.app, &mut self.cache);
            self.cache.settle(&mut self.app);
        }
    }

    fn input(&mut self, event: Event) -> bool {
        self.trace.input(event, &mut self.app, |app, path| {
            let trace = ReplayScreen::read(path, &app.chrome.theme)?;
            Ok(Box::new(trace))
        })
    }

    fn tick(&mut self, dt: Duration) -> bool {
        self.trace.tick(dt)
    }

    fn animating(&self) -> bool {
        self.trace.animating()
    }
}

/// The session picker; a run opens over it (a compare run as its pair) and `q` comes back.
pub struct PickerScreen {
    pub picker: Picker,
    open: Overlay,
}

impl PickerScreen {
    pub fn new(picker: Picker) -> Self {
        PickerScreen {
            picker,
            open: Overlay::default(),
        }
    }

    /// True while a run is open over the list.
    pub fn replaying(&self) -> bool {
        self.open.is_open()
    }
}

/// The replay of the run whose trace is `path`: its pair for a compare run, at the end.
fn replay_of(picker: &Picker, path: PathBuf) -> Result<Box<dyn Screen>, String> {
    let theme = picker.chrome.theme.clone();
    let Some(partner) = partner_of(&path) else {
        let mut trace = ReplayScreen::read(path, &theme)?;
        trace.replay.app.cursor = trace.replay.app.len();
        return Ok(Box::new(trace));
    };
    // Full context on the left, as the workbench shows it.
    let mut sources = [path, partner];
    if sources[1].to_string_lossy().contains("-compare-full.") {
        sources.swap(0, 1);
    }
    let read = |p: &PathBuf| {
        read_timeline(p).map(|t| {
            let mut app = App::new(t, file_title(p));
            app.cursor = app.len();
            app
        })
    };
    let pair = [read(&sources[0])?, read(&sources[1])?];
    Ok(Box::new(PairScreen::new(
        PairApp::new(pair, theme),
        sources,
    )))
}

impl Screen for PickerScreen {
    fn draw(&mut self, frame: &mut Frame) {
        if !self.open.draw(frame) {
            view::picker::draw(frame, &mut self.picker);
        }
    }

    fn input(&mut self, event: Event) -> bool {
        self.open.input(event, &mut self.picker, replay_of)
    }

    fn tick(&mut self, dt: Duration) -> bool {
        self.open.tick(dt)
    }

    fn animating(&self) -> bool {
        self.open.animating()
    }
}
