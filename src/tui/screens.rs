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

pub struct ReplayScreen<'a> {
    pub replay: &'a mut Replay,
    pub source: Option<PathBuf>,
    cache: ViewCache,
}

impl<'a> ReplayScreen<'a> {
    pub fn new(replay: &'a mut Replay, source: Option<PathBuf>) -> Self {
        ReplayScreen {
            replay,
            source,
            cache: ViewCache::default(),
        }
    }
}

impl Screen for ReplayScreen<'_> {
    fn draw(&mut self, frame: &mut Frame) {
        view::draw(frame, self.replay, &mut self.cache);
        self.cache.settle(&mut self.replay.app);
    }

    fn input(&mut self, event: Event) -> bool {
        let source = self.source.clone();
        replay_input(self.replay, event, |r| {
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

/// A trace opened over another screen (the ablation view, the session picker), replayed until
/// quit.
struct OpenTrace {
    replay: Replay,
    source: PathBuf,
    cache: ViewCache,
}

impl OpenTrace {
    /// Read the trace at `path`; what failed, in words, when it cannot be read.
    fn read(path: PathBuf, theme: &crate::tui::theme::Theme) -> Result<OpenTrace, String> {
        let timeline = read_timeline(&path)?;
        Ok(OpenTrace {
            replay: Replay::new(App::new(timeline, file_title(&path)), theme.clone()),
            source: path,
            cache: ViewCache::default(),
        })
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

impl Screen for OpenTrace {
    fn draw(&mut self, frame: &mut Frame) {
        view::draw(frame, &self.replay, &mut self.cache);
        self.cache.settle(&mut self.replay.app);
    }

    fn input(&mut self, event: Event) -> bool {
        let source = self.source.clone();
        replay_input(&mut self.replay, event, |r| {
            export_beside(&r.app.timeline, Some(&source))
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

fn is_ctrl_c(event: &Event) -> bool {
    matches!(event, Event::Key(key) if key.code == crossterm::event::KeyCode::Char('c')
        && key.modifiers.contains(crossterm::event::KeyModifiers::CONTROL))
}

/// A screen opened over another: its quit keys come back, Ctrl-C quits everything. True to
/// quit the screen under it too.
fn input_over(opened: &mut Option<Box<dyn Screen>>, event: Event) -> bool {
    let Some(screen) = opened else {
        return false;
    };
    if is_ctrl_c(&event) {
        return true;
    }
    if screen.input(event) {
        *opened = None;
    }
    false
}

pub struct AblationScreen {
    pub app: AblationApp,
    cache: AblationCache,
    trace: Option<Box<dyn Screen>>,
}

impl AblationScreen {
    pub fn new(app: AblationApp) -> Self {
        AblationScreen {
            app,
            cache: AblationCache::default(),
            trace: None,
        }
    }

    /// True while an item's trace is open over the ablation view.
    pub fn replaying(&self) -> bool {
        self.trace.is_some()
    }

    fn open(&mut self, path: PathBuf) {
        match OpenTrace::read(path, &self.app.chrome.theme) {
            Ok(trace) => {
                self.trace = Some(Box::new(trace));
                self.app.chrome.notice = None;
            }
            Err(e) => self.app.chrome.notice = Some(e),
        }
    }
}

impl Screen for AblationScreen {
    fn draw(&mut self, frame: &mut Frame) {
        match &mut self.trace {
            Some(t) => t.draw(frame),
            None => {
                view::ablation::draw(frame, &self.app, &mut self.cache);
                self.cache.settle(&mut self.app);
            }
        }
    }

    fn input(&mut self, event: Event) -> bool {
        if self.trace.is_some() {
            return input_over(&mut self.trace, event);
        }
        let Event::Key(key) = event else {
            return false;
        };
        for effect in self.app.key(&key) {
            match effect {
                Effect::Quit => return true,
                Effect::OpenTrace(path) => self.open(path),
                Effect::Export | Effect::Send(_) => {}
            }
        }
        false
    }

    fn tick(&mut self, dt: Duration) -> bool {
        self.trace.as_mut().is_some_and(|t| t.tick(dt))
    }

    fn animating(&self) -> bool {
        self.trace.as_ref().is_some_and(|t| t.animating())
    }
}

/// The session picker; a run opens over it (a compare run as its pair) and `q` comes back.
pub struct PickerScreen {
    pub picker: Picker,
    open: Option<Box<dyn Screen>>,
}

impl PickerScreen {
    pub fn new(picker: Picker) -> Self {
        PickerScreen { picker, open: None }
    }

    /// True while a run is open over the list.
    pub fn replaying(&self) -> bool {
        self.open.is_some()
    }

    fn open(&mut self, path: PathBuf) {
        let theme = self.picker.chrome.theme.clone();
        let opened: Result<Box<dyn Screen>, String> = match partner_of(&path) {
            Some(partner) => {
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
                read(&sources[0]).and_then(|a| {
                    let b = read(&sources[1])?;
                    Ok(
                        Box::new(PairScreen::new(PairApp::new([a, b], theme), sources))
                            as Box<dyn Screen>,
                    )
                })
            }
            None => OpenTrace::read(path, &theme).map(|mut t| {
                t.replay.app.cursor = t.replay.app.len();
                Box::new(t) as Box<dyn Screen>
            }),
        };
        match opened {
            Ok(screen) => {
                self.open = Some(screen);
                self.picker.chrome.notice = None;
            }
            Err(e) => self.picker.chrome.notice = Some(e),
        }
    }
}

impl Screen for PickerScreen {
    fn draw(&mut self, frame: &mut Frame) {
        match &mut self.open {
            Some(screen) => screen.draw(frame),
            None => view::picker::draw(frame, &mut self.picker),
        }
    }

    fn input(&mut self, event: Event) -> bool {
        if self.open.is_some() {
            return input_over(&mut self.open, event);
        }
        let Event::Key(key) = event else {
            return false;
        };
        for effect in self.picker.key(&key) {
            match effect {
                Effect::Quit => return true,
                Effect::OpenTrace(path) => self.open(path),
                Effect::Export | Effect::Send(_) => {}
            }
        }
        false
    }

    fn tick(&mut self, dt: Duration) -> bool {
        self.open.as_mut().is_some_and(|s| s.tick(dt))
    }

    fn animating(&self) -> bool {
        self.open.as_ref().is_some_and(|s| s.animating())
    }
}
