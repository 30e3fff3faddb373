//! The live workbench's state: the prompt editor, the settings, and one stream per KV mode
//! being decoded (two in a compare run). Each stream is a replay [`App`] whose timeline
//! receives the worker's events as they are recorded, so the live views are the replay
//! views. Actions and worker messages in, state out; the decoding itself happens on the
//! worker's thread.

use std::path::PathBuf;

use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};

use super::app::{App, Effect};
use super::editor::{EditorAction, EditorOutcome, PromptEditor, editor_action};
use super::history::History;
use super::keymap::{Action, KeyMap};
use super::settings_panel::SettingsPanel;
use super::theme::Theme;
use crate::engine::{RunSummary, Timings};
use crate::live::{Command, LiveMsg, RunSettings, Worker, WorkerState};
use crate::task::ProblemDraw;
use crate::timeline::Timeline;
use crate::trace::Event;

/// How many tokens an eviction stays flashed on the KV panel.
pub const FLASH_TOKENS: u64 = 24;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Focus {
    Editor,
    View,
}

/// One decoded stream.
pub struct LiveStream {
    /// The KV mode, as a policy label.
    pub label: String,
    pub path: Option<PathBuf>,
    /// Created when the stream's header arrives.
    pub app: Option<App>,
    pub timings: Timings,
    pub summary: Option<RunSummary>,
    /// The last eviction: tokens generated when it happened, and entries freed.
    pub last_eviction: Option<(u64, u64)>,
}

impl LiveStream {
    /// True while the last eviction is recent enough to flash.
    pub fn flashing(&self) -> Option<u64> {
        // A finished stream has nothing more to flash: tokens count the flash down.
        if self.summary.is_some() {
            return None;
        }
        let (at, freed) = self.last_eviction?;
        let now = self.app.as_ref().map_or(0, |a| a.len());
        (now < at + FLASH_TOKENS).then_some(freed)
    }
}

pub struct Workbench {
    pub editor: PromptEditor,
    pub history: History,
    pub settings: RunSettings,
    /// Open while the user edits the settings.
    pub settings_panel: Option<SettingsPanel>,
    pub focus: Focus,
    pub streams: Vec<LiveStream>,
    /// The session shown; older sessions' late messages are ignored.
    pub run: u64,
    pub state: WorkerState,
    pub compare: bool,
    /// The prompt of the session shown.
    pub prompt: Option<String>,
    /// The model's name, for the title bar.
    pub model: String,
    /// A message for the status bar (errors, export paths).
    pub notice: Option<String>,
    /// Every error the worker reported (a trace that could not be created or written, a run
    /// that could not start or stopped on an error): the exit status reports them.
    pub errors: Vec<String>,
    pub help: bool,
    pub theme: Theme,
    pub keymap: KeyMap,
    /// Quit once the session finishes (scripts and benchmarks).
    pub exit_when_done: bool,
    /// Problems of the model's task, when it has one.
    pub problems: Option<ProblemDraw>,
    worker: Worker,
}

impl Workbench {
    pub fn new(worker: Worker, model: String, history: History, theme: Theme) -> Workbench {
        Workbench {
            editor: PromptEditor::new(),
            history,
            settings: RunSettings::default(),
            settings_panel: None,
            focus: Focus::Editor,
            streams: Vec::new(),
            run: 0,
            state: WorkerState::Idle,
            compare: false,
            prompt: None,
            model,
            notice: None,
            errors: Vec::new(),
            help: false,
            theme,
            keymap: KeyMap::workbench(),
            exit_when_done: false,
            problems: None,
            worker,
        }
    }

    /// Put the next problem of the model's task in the editor.
    pub fn draw_problem(&mut self) {
        let Some(draw) = self.problems.as_mut() else {
            self.notice = Some("this model names no task to draw problems from".into());
            return;
        };
        let p = draw.draw();
        self.editor.set_text(&p.prompt);
        self.focus = Focus::Editor;
        self.notice = Some(format!(
            "{} problem {}: enter runs it, ctrl-o compares, ctrl-t draws another",
            draw.task.name(),
            p.id
        ));
    }

    /// The streams whose header has arrived.
    pub fn apps(&self) -> impl Iterator<Item = &App> {
        self.streams.iter().filter_map(|s| s.app.as_ref())
    }

    pub fn apps_mut(&mut self) -> impl Iterator<Item = &mut App> {
        self.streams.iter_mut().filter_map(|s| s.app.as_mut())
    }

    /// Start decoding `prompt` (in full context and the chosen mode side by side when
    /// `compare`), paused after prefill when `hold`.
    pub fn start(&mut self, prompt: String, compare: bool, hold: bool) {
        if prompt.trim().is_empty() {
            self.notice = Some("type a prompt first (e edits it)".into());
            self.focus = Focus::Editor;
            return;
        }
        if self.editor.is_blank() {
            self.editor.set_text(&prompt);
        }
        self.notice = None;
        self.focus = Focus::View;
        self.worker.send(Command::Start {
            prompt,
            settings: self.settings.clone(),
            compare,
            hold,
        });
        // Until the worker confirms, the old session's controls must not apply.
        self.state = WorkerState::Running;
    }

    /// A key, routed by what has focus.
    pub fn key(&mut self, key: &KeyEvent) -> Effect {
        let ctrl_c =
            key.code == KeyCode::Char('c') && key.modifiers.contains(KeyModifiers::CONTROL);
        if ctrl_c {
            return Effect::Quit;
        }
        if self.help {
            self.help = false;
            return Effect::None;
        }
        if let Some(panel) = self.settings_panel.as_mut() {
            match key.code {
                KeyCode::Up | KeyCode::Char('k') => panel.up(),
                KeyCode::Down | KeyCode::Char('j') => panel.down(),
                KeyCode::Left | KeyCode::Char('h') | KeyCode::Char('-') => {
                    panel.field().adjust(&mut self.settings, false)
                }
                KeyCode::Right | KeyCode::Char('l') | KeyCode::Char('+') => {
                    panel.field().adjust(&mut self.settings, true)
                }
                KeyCode::Esc | KeyCode::Enter | KeyCode::Char('o') | KeyCode::Char('q') => {
                    self.settings_panel = None
                }
                _ => {}
            }
            return Effect::None;
        }
        match self.focus {
            Focus::Editor => match editor_action(key) {
                Some(action) => self.edit(action),
                None => match key.code {
                    // Tab leaves the editor, like esc.
                    KeyCode::Tab => {
                        self.focus = Focus::View;
                        Effect::None
                    }
                    // A key the editor leaves alone that draws a problem (ctrl-t) works here
                    // too; plain keys such as `d` were typed above.
                    _ if self.keymap.action_for(key) == Some(Action::NewProblem) => {
                        self.update(Action::NewProblem)
                    }
                    _ => Effect::None,
                },
            },
            Focus::View => match self.keymap.action_for(key) {
                Some(action) => self.update(action),
                None => Effect::None,
            },
        }
    }

    /// A bracketed paste: text for the editor (which gets focus).
    pub fn paste(&mut self, text: String) {
        if self.settings_panel.is_none() && !self.help {
            self.focus = Focus::Editor;
            self.edit(EditorAction::Paste(text));
        }
    }

    pub fn edit(&mut self, action: EditorAction) -> Effect {
        match self.editor.apply(action, &mut self.history) {
            EditorOutcome::Submit(p) => self.start(p, false, false),
            EditorOutcome::SubmitCompare(p) => self.start(p, true, false),
            EditorOutcome::Leave => self.focus = Focus::View,
            _ => {}
        }
        if let Some(e) = self.history.take_error() {
            self.notice = Some(e.to_string());
        }
        Effect::None
    }

    /// Whether a session exists that decode controls can act on.
    fn has_session(&self) -> bool {
        matches!(self.state, WorkerState::Running | WorkerState::Paused)
    }

    /// Make sure a session exists (starting the editor's prompt paused if none does), then
    /// send `command`.
    fn control(&mut self, command: Command) {
        if !self.has_session() {
            let prompt = self.editor.text();
            if prompt.trim().is_empty() {
                self.notice = Some("type a prompt first (e edits it)".into());
                self.focus = Focus::Editor;
                return;
            }
            if let Some(e) = self.history.push(&prompt).err() {
                self.notice = Some(e.to_string());
            }
            self.start(prompt, self.compare, true);
        }
        self.worker.send(command);
    }

    pub fn update(&mut self, action: Action) -> Effect {
        if super::app::help_swallows(&mut self.help, action) {
            return Effect::None;
        }
        match action {
            Action::RunPause => match self.state {
                WorkerState::Running => self.worker.send(Command::Pause),
                WorkerState::Paused => self.worker.send(Command::Run),
                WorkerState::Idle | WorkerState::Finished => self.control(Command::Run),
            },
            Action::DecodeStep => self.control(Command::Step),
            Action::DecodeBlock => self.control(Command::StepBlock),
            Action::StopRun => self.worker.send(Command::Stop),
            Action::RestartRun => {
                if self.run > 0 {
                    self.worker.send(Command::Restart);
                    self.state = WorkerState::Running;
                }
            }
            Action::CompareRun => {
                let prompt = self
                    .prompt
                    .clone()
                    .filter(|_| self.editor.is_blank())
                    .unwrap_or_else(|| self.editor.text());
                self.start(prompt, true, false);
            }
            Action::EditPrompt => self.focus = Focus::Editor,
            Action::Settings => self.settings_panel = Some(SettingsPanel::default()),
            Action::NewProblem => self.draw_problem(),
            Action::ToggleHelp => self.help = true,
            Action::Quit => return Effect::Quit,
            Action::Export => return Effect::Export,
            Action::ToggleTheme => {
                let next = if self.theme.name == "dark" {
                    Theme::light()
                } else {
                    Theme::dark()
                };
                self.theme = next.clone();
                for app in self.apps_mut() {
                    app.theme = next.clone();
                }
            }
            // Moving and viewing apply to every stream, so a compare run stays aligned.
            other => {
                for app in self.apps_mut() {
                    app.update(other);
                }
            }
        }
        Effect::None
    }

    /// A message from the worker.
    pub fn on_live(&mut self, msg: LiveMsg) {
        match msg {
            LiveMsg::Started {
                run,
                prompt,
                streams,
            } => {
                self.run = run;
                // The last session's final state no longer applies.
                self.state = WorkerState::Running;
                self.compare = streams.len() > 1;
                self.prompt = Some(prompt);
                self.notice = None;
                self.streams = streams
                    .into_iter()
                    .map(|s| LiveStream {
                        label: s.label,
                        path: s.path,
                        app: None,
                        timings: Timings::default(),
                        summary: None,
                        last_eviction: None,
                    })
                    .collect();
            }
            LiveMsg::Header {
                run,
                stream,
                header,
            } if run == self.run => {
                if let Some(s) = self.streams.get_mut(stream) {
                    let mut app =
                        App::new(Timeline::new(*header), s.label.clone(), self.theme.clone());
                    app.keymap = KeyMap::workbench();
                    s.app = Some(app);
                }
            }
            LiveMsg::Event { run, stream, event } if run == self.run => {
                let Some(s) = self.streams.get_mut(stream) else {
                    return;
                };
                let Some(app) = s.app.as_mut() else {
                    return;
                };
                let old_len = app.len();
                if let Event::Evict(e) = event.as_ref() {
                    s.last_eviction = Some((old_len, e.freed));
                }
                if let Err(e) = app.timeline.push(*event) {
                    self.notice = Some(format!("stream {}: {e}", s.label));
                }
                app.follow_live(old_len);
            }
            LiveMsg::Progress {
                run,
                stream,
                timings,
            } if run == self.run => {
                if let Some(s) = self.streams.get_mut(stream) {
                    s.timings = timings;
                }
            }
            LiveMsg::StreamEnded {
                run,
                stream,
                summary,
            } if run == self.run => {
                if let Some(s) = self.streams.get_mut(stream) {
                    s.timings.decode_seconds = summary.decode_seconds;
                    s.summary = Some(*summary);
                }
            }
            // A run that fails before it starts (its trace cannot be created) reports its state
            // and error under a run number the workbench has not seen yet.
            LiveMsg::State { run, state } if run >= self.run => {
                self.run = run;
                self.state = state;
            }
            LiveMsg::Error { run, message } => {
                self.errors.push(message.clone());
                if run >= self.run {
                    self.run = run;
                    self.notice = Some(message);
                }
            }
            _ => {}
        }
    }

    /// The trace paths of the session shown.
    pub fn trace_paths(&self) -> Vec<PathBuf> {
        self.streams.iter().filter_map(|s| s.path.clone()).collect()
    }

    /// The traces of the session shown that were recorded whole: the file reads back and ends
    /// with its end event. A trace that could not be created, was cut short by a write error
    /// or holds only a header is not claimed.
    pub fn recorded_paths(&self) -> Vec<PathBuf> {
        self.trace_paths()
            .into_iter()
            .filter(|p| crate::trace::is_whole_trace(p))
            .collect()
    }
}
