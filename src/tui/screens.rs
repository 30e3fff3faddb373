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
use super::replay::Replay;
use super::runner::Screen;
use super::view::ablation::AblationCache;
use super::view::workbench::WorkbenchCache;
use super::view::{self, ViewCache};
use super::workbench::Workbench;
use crate::live::{LiveMsg, Worker};
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

/// A trace opened from the ablation view, replayed until quit.
struct OpenTrace {
    replay: Replay,
    source: PathBuf,
    cache: ViewCache,
}

pub struct AblationScreen {
    pub app: AblationApp,
    cache: AblationCache,
    trace: Option<OpenTrace>,
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
        let loaded = Timeline::read(&path).map(|(timeline, _)| timeline);
        match loaded {
            Ok(timeline) => {
                let title = path.file_name().map_or_else(
                    || path.display().to_string(),
                    |n| n.to_string_lossy().to_string(),
                );
                self.trace = Some(OpenTrace {
                    replay: Replay::new(App::new(timeline, title), self.app.chrome.theme.clone()),
                    source: path,
                    cache: ViewCache::default(),
                });
                self.app.chrome.notice = None;
            }
            Err(e) => self.app.chrome.notice = Some(format!("cannot open the trace: {e:#}")),
        }
    }
}

impl Screen for AblationScreen {
    fn draw(&mut self, frame: &mut Frame) {
        match &mut self.trace {
            Some(t) => {
                view::draw(frame, &t.replay, &mut t.cache);
                t.cache.settle(&mut t.replay.app);
            }
            None => {
                view::ablation::draw(frame, &self.app, &mut self.cache);
                self.cache.settle(&mut self.app);
            }
        }
    }

    fn input(&mut self, event: Event) -> bool {
        let Event::Key(key) = event else {
            return false;
        };
        if let Some(t) = &mut self.trace {
            // Ctrl-C quits everything; the trace's own quit keys come back here.
            let ctrl_c = key.code == crossterm::event::KeyCode::Char('c')
                && key
                    .modifiers
                    .contains(crossterm::event::KeyModifiers::CONTROL);
            if ctrl_c {
                return true;
            }
            let source = t.source.clone();
            if replay_input(&mut t.replay, Event::Key(key), |r| {
                export_beside(&r.app.timeline, Some(&source))
            }) {
                self.trace = None;
            }
            return false;
        }
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
        let Some(t) = &mut self.trace else {
            return false;
        };
        let app = &mut t.replay.app;
        let before = (app.cursor, app.playing);
        app.tick(dt);
        before != (app.cursor, app.playing)
    }

    fn animating(&self) -> bool {
        self.trace.as_ref().is_some_and(|t| t.replay.app.playing)
    }
}
