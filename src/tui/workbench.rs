//! The live workbench's state: the prompt editor, the settings, and one stream per KV mode
//! being decoded (two in a compare run). Each stream is a replay [`App`] whose timeline
//! receives the worker's events as they are recorded, so the live views are the replay
//! views. Actions and worker messages in, state and effects out: commands for the worker
//! are effects the screen sends, so the state machine is tested without threads.

use std::path::PathBuf;

use super::app::App;
use super::chrome::{Chrome, Effect, Keyed, chrome_in_field};
use super::editor::{EditorAction, EditorOutcome, PromptEditor};
use super::history::History;
use super::keys::{Action, DecodeAction, KeyMap, LayerId, SettingsAction};
use super::settings_panel::SettingsPanel;
use super::theme::Theme;
use crate::engine::{RunSummary, Timings};
use crate::live::{Command, LiveBody, LiveMsg, RunSettings, WorkerState};
use crate::structure::DiagnosticCode;
use crate::task::ProblemDraw;
use crate::timeline::Timeline;
use crate::trace::{EndReason, Event};

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
    /// Why the stream ended, once it has.
    pub fn end_reason(&self) -> Option<EndReason> {
        self.summary.as_ref().map(|s| s.end)
    }

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
    pub chrome: Chrome,
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
    /// Every error the worker reported (a trace that could not be created or written, a run
    /// that could not start or stopped on an error): the exit status reports them.
    pub errors: Vec<String>,
    /// Quit once the session finishes (scripts and benchmarks).
    pub exit_when_done: bool,
    /// Problems of the model's task, when it has one.
    pub problems: Option<ProblemDraw>,
    /// The engine's CPU threads and why, e.g. `1 thread (auto: 2 cores, 1 busy)`, shown under
    /// the settings (they are fixed for the process: `--threads`).
    pub threads: Option<String>,
    /// The device the engine's model runs on, shown beside its decode speed.
    pub device: Option<String>,
}

impl Workbench {
    /// The sampler the shown run applied, from its first stream's header (automatic choices
    /// resolved and marked); None before a run's header arrives.
    pub fn effective_sampler(&self) -> Option<&crate::trace::SamplerInfo> {
        self.streams
            .iter()
            .find_map(|s| s.app.as_ref()?.timeline.header.sampler.as_ref())
    }

    pub fn new(model: String, history: History, theme: Theme) -> Workbench {
        Workbench {
            chrome: Chrome::new(theme, KeyMap::workbench()),
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
            threads: None,
            device: None,
            errors: Vec::new(),
            exit_when_done: false,
            problems: None,
        }
    }

    fn notice(&mut self, text: impl Into<String>) {
        self.chrome.notice = Some(text.into());
    }

    /// Put the next problem of the model's task in the editor.
    pub fn draw_problem(&mut self) {
        let Some(draw) = self.problems.as_mut() else {
            self.notice("this model names no task to draw problems from");
            return;
        };
        let p = draw.draw();
        let name = draw.task.name();
        self.editor.set_text(&p.prompt);
        self.focus = Focus::Editor;
        let keys = |a: Action| self.chrome.keys.keys_for(&a).join("/");
        let text = format!(
            "{name} problem {}: {} runs it, {} compares, {} draws another",
            p.id,
            keys(EditorAction::Submit.into()),
            keys(EditorAction::SubmitCompare.into()),
            self.chrome
                .keys
                .keys_for(&DecodeAction::NewProblem.into())
                .last()
                .cloned()
                .unwrap_or_default(),
        );
        self.notice(text);
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
    #[must_use = "the effects carry the start command to the worker"]
    pub fn start(&mut self, prompt: String, compare: bool, hold: bool) -> Vec<Effect> {
        if prompt.trim().is_empty() {
            self.notice("type a prompt first (e edits it)");
            self.focus = Focus::Editor;
            return Vec::new();
        }
        if self.editor.is_blank() {
            self.editor.set_text(&prompt);
        }
        self.chrome.notice = None;
        self.focus = Focus::View;
        // Until the worker confirms, the old session's controls must not apply.
        self.state = WorkerState::Running;
        vec![Effect::Send(Command::Start {
            prompt,
            settings: self.settings.clone(),
            compare,
            hold,
        })]
    }

    /// A bracketed paste: text for the editor (which gets focus).
    pub fn paste(&mut self, text: String) -> Vec<Effect> {
        if self.settings_panel.is_some() || self.chrome.help {
            return Vec::new();
        }
        self.focus = Focus::Editor;
        self.edit(EditorAction::Paste(text))
    }

    pub fn edit(&mut self, action: EditorAction) -> Vec<Effect> {
        let effects = match self.editor.apply(action, &mut self.history) {
            EditorOutcome::Submit(p) => self.start(p, false, false),
            EditorOutcome::SubmitCompare(p) => self.start(p, true, false),
            EditorOutcome::Leave => {
                self.focus = Focus::View;
                Vec::new()
            }
            _ => Vec::new(),
        };
        if let Some(e) = self.history.take_error() {
            self.notice(e.to_string());
        }
        effects
    }

    /// Whether a session exists that decode controls can act on.
    fn has_session(&self) -> bool {
        matches!(self.state, WorkerState::Running | WorkerState::Paused)
    }

    /// Make sure a session exists (starting the editor's prompt paused if none does), then
    /// send `command`.
    fn control(&mut self, command: Command) -> Vec<Effect> {
        let mut effects = Vec::new();
        if !self.has_session() {
            let prompt = self.editor.text();
            if prompt.trim().is_empty() {
                self.notice("type a prompt first (e edits it)");
                self.focus = Focus::Editor;
                return effects;
            }
            if let Some(e) = self.history.push(&prompt).err() {
                self.notice(e.to_string());
            }
            effects = self.start(prompt, self.compare, true);
        }
        effects.push(Effect::Send(command));
        effects
    }

    fn decode(&mut self, action: DecodeAction) -> Vec<Effect> {
        let send = |c| vec![Effect::Send(c)];
        match action {
            DecodeAction::RunPause => match self.state {
                WorkerState::Running => send(Command::Pause),
                WorkerState::Paused => send(Command::Run),
                WorkerState::Idle | WorkerState::Finished => self.control(Command::Run),
            },
            DecodeAction::Step => self.control(Command::Step),
            DecodeAction::Block => self.control(Command::StepBlock),
            DecodeAction::Stop => send(Command::Stop),
            DecodeAction::Restart if self.run > 0 => {
                self.state = WorkerState::Running;
                send(Command::Restart)
            }
            DecodeAction::Restart => Vec::new(),
            DecodeAction::Compare => {
                let prompt = self
                    .prompt
                    .clone()
                    .filter(|_| self.editor.is_blank())
                    .unwrap_or_else(|| self.editor.text());
                self.start(prompt, true, false)
            }
            DecodeAction::EditPrompt => {
                self.focus = Focus::Editor;
                Vec::new()
            }
            DecodeAction::Settings => {
                self.settings_panel = Some(SettingsPanel::default());
                Vec::new()
            }
            DecodeAction::NewProblem => {
                self.draw_problem();
                Vec::new()
            }
        }
    }

    fn settings_key(&mut self, action: SettingsAction) {
        let Some(panel) = self.settings_panel.as_mut() else {
            return;
        };
        match action {
            SettingsAction::Up => panel.up(),
            SettingsAction::Down => panel.down(),
            SettingsAction::Less => panel.field().adjust(&mut self.settings, false),
            SettingsAction::More => panel.field().adjust(&mut self.settings, true),
            SettingsAction::Close => self.settings_panel = None,
        }
    }

    /// A message from the worker. Messages of an older session than the one shown are
    /// dropped; a run that fails before it starts (its trace cannot be created) reports its
    /// state and error under a run number the workbench has not seen yet.
    pub fn on_live(&mut self, msg: LiveMsg) {
        let LiveMsg { run, body } = msg;
        if let LiveBody::Error { message } = &body {
            // Every error counts for the exit status, even an older session's.
            self.errors.push(message.clone());
        }
        if run < self.run {
            return;
        }
        let current = run == self.run;
        match body {
            LiveBody::Started { prompt, streams } => {
                self.run = run;
                // The last session's final state no longer applies.
                self.state = WorkerState::Running;
                self.compare = streams.len() > 1;
                self.prompt = Some(prompt);
                self.chrome.notice = None;
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
            LiveBody::Header { stream, header } => {
                if let Some(s) = self.streams.get_mut(stream).filter(|_| current) {
                    s.app = Some(App::new(Timeline::new(*header), s.label.clone()));
                }
            }
            LiveBody::Event { stream, event } => {
                let Some(s) = self.streams.get_mut(stream).filter(|_| current) else {
                    return;
                };
                let Some(app) = s.app.as_mut() else {
                    return;
                };
                let old_len = app.len();
                match event.as_ref() {
                    Event::Evict(e) => s.last_eviction = Some((old_len, e.freed)),
                    // The engine's own findings (a remote stream with no tags at all, logits
                    // gone NaN) are said on screen, not only in the trace.
                    Event::Diagnostic(d)
                        if matches!(
                            d.code,
                            DiagnosticCode::NoStructureTags | DiagnosticCode::NonFiniteLogits
                        ) =>
                    {
                        self.chrome.notice = Some(format!("{}: {}", s.label, d.message));
                    }
                    _ => {}
                }
                if let Err(e) = app.timeline.push(*event) {
                    self.chrome.notice = Some(format!("stream {}: {e}", s.label));
                }
                app.follow_live(old_len);
            }
            LiveBody::Progress { stream, timings } => {
                if let Some(s) = self.streams.get_mut(stream).filter(|_| current) {
                    s.timings = timings;
                }
            }
            LiveBody::StreamEnded { stream, summary } => {
                if let Some(s) = self.streams.get_mut(stream).filter(|_| current) {
                    s.timings.decode_seconds = summary.decode_seconds;
                    s.summary = Some(*summary);
                }
            }
            LiveBody::State { state } => {
                self.run = run;
                self.state = state;
            }
            LiveBody::Error { message } => {
                self.run = run;
                self.chrome.notice = Some(message);
            }
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

impl Keyed for Workbench {
    chrome_in_field!();

    fn layers(&self) -> Vec<LayerId> {
        if self.settings_panel.is_some() {
            return vec![LayerId::Settings];
        }
        let mut layers = Vec::new();
        match self.focus {
            Focus::Editor => layers.push(LayerId::Editor),
            Focus::View if self.apps().any(|a| a.inspect) => layers.push(LayerId::Inspector),
            Focus::View => {}
        }
        layers.extend([LayerId::Decode, LayerId::Nav, LayerId::App]);
        layers
    }

    fn act(&mut self, action: Action) -> Vec<Effect> {
        match action {
            Action::Decode(a) => return self.decode(a),
            Action::Edit(a) => return self.edit(a),
            Action::Settings(a) => self.settings_key(a),
            // Moving and viewing apply to every stream, so a compare run stays aligned.
            Action::Nav(a) => self.apps_mut().for_each(|app| app.nav(a)),
            Action::Inspect(a) => self.apps_mut().for_each(|app| app.inspector(a)),
            _ => {}
        }
        Vec::new()
    }
}
