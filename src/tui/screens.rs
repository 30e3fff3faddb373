//! The things the event loop can drive, each its state plus the caches its views keep: a
//! replayed trace, a replayed compare pair, the live workbench, and an ablation result
//! directory (which opens its items' traces in the replay). Exports happen here, the one
//! place in the TUI that writes files on the user's request, and traces opened from the
//! ablation view are read here.

use std::path::{Path, PathBuf};
use std::time::Duration;

use crossterm::event::Event;
use ratatui::Frame;

use super::ablation::{AblationApp, AblationEffect};
use super::app::{App, Effect};
use super::pair::PairApp;
use super::runner::Screen;
use super::view::ablation::AblationCache;
use super::view::workbench::WorkbenchCache;
use super::view::{self, ViewCache};
use super::workbench::Workbench;
use crate::live::LiveMsg;
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

pub struct ReplayScreen<'a> {
    pub app: &'a mut App,
    pub source: Option<PathBuf>,
    cache: ViewCache,
}

impl<'a> ReplayScreen<'a> {
    pub fn new(app: &'a mut App, source: Option<PathBuf>) -> Self {
        ReplayScreen {
            app,
            source,
            cache: ViewCache::default(),
        }
    }
}

impl Screen for ReplayScreen<'_> {
    fn draw(&mut self, frame: &mut Frame) {
        view::draw(frame, self.app, &mut self.cache);
        self.cache.settle(self.app);
    }

    fn input(&mut self, event: Event) -> bool {
        let Event::Key(key) = event else {
            return false;
        };
        match self.app.keymap.action_for(&key).map(|a| self.app.update(a)) {
            Some(Effect::Quit) => true,
            Some(Effect::Export) => {
                self.app.title = export_beside(&self.app.timeline, self.source.as_deref());
                false
            }
            _ => false,
        }
    }

    fn tick(&mut self, dt: Duration) -> bool {
        let before = (self.app.cursor, self.app.playing);
        self.app.tick(dt);
        before != (self.app.cursor, self.app.playing)
    }

    fn animating(&self) -> bool {
        self.app.playing
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
        let Event::Key(key) = event else {
            return false;
        };
        match self
            .pair
            .keymap
            .action_for(&key)
            .map(|a| self.pair.update(a))
        {
            Some(Effect::Quit) => true,
            Some(Effect::Export) => {
                for (app, source) in self.pair.apps.iter_mut().zip(&self.sources) {
                    app.title = export_beside(&app.timeline, Some(source));
                }
                false
            }
            _ => false,
        }
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
    cache: WorkbenchCache,
}

impl WorkbenchScreen {
    pub fn new(wb: Workbench) -> Self {
        WorkbenchScreen {
            wb,
            cache: WorkbenchCache::default(),
        }
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
        self.wb.notice = Some(if notes.is_empty() {
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
        let effect = match event {
            Event::Key(key) => self.wb.key(&key),
            Event::Paste(text) => {
                self.wb.paste(text);
                Effect::None
            }
            _ => Effect::None,
        };
        match effect {
            Effect::Quit => true,
            Effect::Export => {
                self.export();
                false
            }
            Effect::None => false,
        }
    }

    fn live(&mut self, msg: LiveMsg) -> bool {
        self.wb.on_live(msg);
        self.wb.exit_when_done && self.wb.state == crate::live::WorkerState::Finished
    }
}

/// A trace opened from the ablation view, replayed until quit.
struct OpenTrace {
    app: App,
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
                    app: App::new(timeline, title, self.app.theme.clone()),
                    source: path,
                    cache: ViewCache::default(),
                });
                self.app.notice = None;
            }
            Err(e) => self.app.notice = Some(format!("cannot open the trace: {e:#}")),
        }
    }
}

impl Screen for AblationScreen {
    fn draw(&mut self, frame: &mut Frame) {
        match &mut self.trace {
            Some(t) => {
                view::draw(frame, &t.app, &mut t.cache);
                t.cache.settle(&mut t.app);
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
            match t.app.keymap.action_for(&key).map(|a| t.app.update(a)) {
                Some(Effect::Quit) => self.trace = None,
                Some(Effect::Export) => {
                    t.app.title = export_beside(&t.app.timeline, Some(&t.source));
                }
                _ => {}
            }
            return false;
        }
        match self.app.key(&key) {
            AblationEffect::Quit => true,
            AblationEffect::OpenTrace(path) => {
                self.open(path);
                false
            }
            AblationEffect::None => false,
        }
    }

    fn tick(&mut self, dt: Duration) -> bool {
        let Some(t) = &mut self.trace else {
            return false;
        };
        let before = (t.app.cursor, t.app.playing);
        t.app.tick(dt);
        before != (t.app.cursor, t.app.playing)
    }

    fn animating(&self) -> bool {
        self.trace.as_ref().is_some_and(|t| t.app.playing)
    }
}
