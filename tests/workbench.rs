//! The live workbench driven by actions, headless, on the real decode loop over the scripted
//! decoder (no weights, deterministic): every
//! decode control, recording, compare runs, and the views drawn into a test backend.

use std::path::Path;
use std::sync::Arc;
use std::sync::mpsc::Receiver;
use std::time::{Duration, Instant};

use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use memento::engine::scripted::ScriptShape;
use memento::live::{LiveMsg, ModeChoice, ScriptedEngine, Worker, WorkerState, partner_of};
use memento::structure::{Edge, SpanKind};
use memento::timeline::Timeline;
use memento::trace::{EndReason, Event, read_trace};
use memento::tui::chrome::{Effect, Keyed};
use memento::tui::history::History;
use memento::tui::keys::{Action, DecodeAction, NavAction};
use memento::tui::theme::Theme;
use memento::tui::view::compare::{first_divergence, recorded_rate};
use memento::tui::view::workbench::{WorkbenchCache, draw};
use memento::tui::workbench::{Focus, Workbench};
use ratatui::Terminal;
use ratatui::backend::TestBackend;

const PROMPT: &str = "What is 12 plus 5?";

struct Bench {
    wb: Workbench,
    worker: Worker,
    rx: Receiver<LiveMsg>,
    dir: tempfile::TempDir,
}

/// The scripted engine with `shape`, each decode step taking `delay`.
fn engine(shape: ScriptShape, delay: Duration) -> Box<ScriptedEngine> {
    Box::new(ScriptedEngine::new(shape, delay).expect("the scripted engine"))
}

fn bench_with(shape: ScriptShape, delay: Duration) -> Bench {
    let dir = tempfile::tempdir().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    let emit = Arc::new(move |m: LiveMsg| {
        let _ = tx.send(m);
    });
    let worker = Worker::spawn(engine(shape, delay), Some(dir.path().to_path_buf()), emit);
    let wb = Workbench::new("scripted".into(), History::in_memory(), Theme::dark());
    Bench {
        wb,
        worker,
        rx,
        dir,
    }
}

fn bench() -> Bench {
    bench_with(ScriptShape::default(), Duration::from_millis(1))
}

impl Bench {
    /// Carry out effects as the workbench screen does: commands go to the worker.
    fn carry_out(&mut self, effects: Vec<Effect>) -> Vec<Effect> {
        let mut rest = Vec::new();
        for effect in effects {
            match effect {
                Effect::Send(command) => self.worker.send(command),
                other => rest.push(other),
            }
        }
        rest
    }

    fn act(&mut self, action: impl Into<Action>) -> Vec<Effect> {
        let effects = self.wb.apply(action);
        self.carry_out(effects)
    }

    fn key(&mut self, key: &KeyEvent) -> Vec<Effect> {
        let effects = self.wb.key(key);
        self.carry_out(effects)
    }

    fn start(&mut self, prompt: &str, compare: bool, hold: bool) {
        let effects = self.wb.start(prompt.into(), compare, hold);
        self.carry_out(effects);
    }

    /// Apply worker messages until `done` holds (or fail after a while).
    fn until(&mut self, what: &str, done: impl Fn(&Workbench) -> bool) {
        let deadline = Instant::now() + Duration::from_secs(20);
        while !done(&self.wb) {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.rx.recv_timeout(left) {
                Ok(m) => self.wb.on_live(m),
                Err(_) => panic!("timed out waiting until {what}"),
            }
        }
    }

    /// Apply whatever arrives within `wait`.
    fn drain(&mut self, wait: Duration) {
        let deadline = Instant::now() + wait;
        while let Ok(m) = self
            .rx
            .recv_timeout(deadline.saturating_duration_since(Instant::now()))
        {
            self.wb.on_live(m);
        }
    }

    fn len(&self, stream: usize) -> u64 {
        self.wb.streams[stream].app.as_ref().map_or(0, |a| a.len())
    }

    /// Start `PROMPT` paused after prefill.
    fn start_held(&mut self, compare: bool) {
        self.start(PROMPT, compare, true);
        self.until("the session is paused after prefill", |wb| {
            wb.state == WorkerState::Paused && wb.apps().count() == if compare { 2 } else { 1 }
        });
    }

    /// Send `action` and wait until the worker has acted on it and paused again.
    fn control(&mut self, action: impl Into<Action>) {
        let run = self.wb.run;
        self.act(action);
        // The worker confirms with Running, then pauses when the goal is reached.
        self.until("the worker starts", |wb| {
            wb.state == WorkerState::Running && wb.run == run
        });
        self.until("the worker pauses", |wb| wb.state != WorkerState::Running);
    }
}

fn last_token_text(b: &Bench, stream: usize) -> String {
    let app = b.wb.streams[stream].app.as_ref().unwrap();
    let t = app.timeline.tokens();
    t.text(t.len() - 1).to_string()
}

#[test]
fn step_advances_exactly_one_token() {
    let mut b = bench();
    b.start_held(false);
    assert_eq!(b.len(0), 0, "prefill only");
    for expected in 1..=5 {
        b.control(DecodeAction::Step);
        b.drain(Duration::from_millis(30));
        assert_eq!(b.len(0), expected);
        assert_eq!(b.wb.state, WorkerState::Paused);
    }
}

#[test]
fn step_in_a_compare_run_advances_each_stream_once() {
    let mut b = bench();
    b.start_held(true);
    b.control(DecodeAction::Step);
    b.control(DecodeAction::Step);
    b.drain(Duration::from_millis(30));
    assert_eq!((b.len(0), b.len(1)), (2, 2));
}

#[test]
fn pause_holds() {
    let mut b = bench_with(
        ScriptShape {
            blocks: 40,
            ..ScriptShape::default()
        },
        Duration::from_millis(2),
    );
    b.start(PROMPT, false, false);
    b.until("a few tokens are decoded", |wb| {
        wb.apps().next().is_some_and(|a| a.len() >= 10)
    });
    b.act(DecodeAction::RunPause);
    b.until("the worker pauses", |wb| wb.state == WorkerState::Paused);
    let held = b.len(0);
    b.drain(Duration::from_millis(200));
    assert_eq!(b.len(0), held, "no token may arrive while paused");
    // Run resumes from where it stopped.
    b.act(DecodeAction::RunPause);
    b.until("decoding resumes", |wb| {
        wb.apps().next().unwrap().len() > held + 3
    });
}

#[test]
fn step_block_stops_at_the_blocks_end() {
    let mut b = bench();
    b.start_held(false);
    // Into the first block: <think>, newline, <|block_start|>, two words.
    for _ in 0..5 {
        b.control(DecodeAction::Step);
    }
    b.drain(Duration::from_millis(30));
    let before = b.len(0);
    b.control(DecodeAction::Block);
    b.drain(Duration::from_millis(50));
    assert_eq!(last_token_text(&b, 0), "<|block_end|>");
    let app = b.wb.streams[0].app.as_ref().unwrap();
    let closes: Vec<u64> = app
        .timeline
        .boundaries()
        .iter()
        .filter(|x| x.edge == Edge::Close && x.span == SpanKind::Block)
        .map(|x| x.at)
        .collect();
    assert_eq!(
        closes,
        vec![app.timeline.next_pos() - 1],
        "stopped at the first block end"
    );
    assert_eq!(
        b.len(0),
        before + 11,
        "the rest of the 12-word block and its end tag"
    );
    // The next step-block runs to the memento's end, which evicts the block.
    b.control(DecodeAction::Block);
    b.drain(Duration::from_millis(50));
    assert_eq!(last_token_text(&b, 0), "<|summary_end|>");
    let app = b.wb.streams[0].app.as_ref().unwrap();
    assert_eq!(app.timeline.evictions().len(), 1);
    assert!(b.wb.streams[0].flashing().is_some(), "the eviction flashes");
}

#[test]
fn stop_ends_the_stream_and_writes_the_trace() {
    let mut b = bench_with(
        ScriptShape {
            blocks: 40,
            ..ScriptShape::default()
        },
        Duration::from_millis(1),
    );
    b.start(PROMPT, false, false);
    b.until("tokens arrive", |wb| {
        wb.apps().next().is_some_and(|a| a.len() >= 30)
    });
    b.act(DecodeAction::Stop);
    b.until("the run finishes", |wb| wb.state == WorkerState::Finished);
    b.drain(Duration::from_millis(100));
    let shown = b.len(0);
    let summary = b.wb.streams[0].summary.clone().expect("a summary");
    assert_eq!(summary.end, EndReason::Stopped);
    let path = b.wb.streams[0].path.clone().expect("recorded");
    assert!(path.starts_with(b.dir.path()));
    let file = read_trace(&path).unwrap();
    let tokens = file
        .events
        .iter()
        .filter(|e| matches!(e, Event::Token(_)))
        .count() as u64;
    assert_eq!(tokens, shown, "the file holds every token the view showed");
    match file.events.last() {
        Some(Event::End(e)) => assert_eq!(e.reason, EndReason::Stopped),
        other => panic!("the trace must end with an end event, got {other:?}"),
    }
    // Nothing more arrives after a stop.
    b.drain(Duration::from_millis(100));
    assert_eq!(b.len(0), shown);
}

#[test]
fn restart_records_a_new_trace_and_keeps_the_old_one() {
    let mut b = bench();
    b.start_held(false);
    b.control(DecodeAction::Step);
    let first = b.wb.streams[0].path.clone().unwrap();
    let run = b.wb.run;
    b.act(DecodeAction::Restart);
    b.until("the new session runs", |wb| {
        wb.run > run && wb.state == WorkerState::Finished
    });
    let second = b.wb.streams[0].path.clone().unwrap();
    assert_ne!(first, second);
    for p in [&first, &second] {
        let f = read_trace(p).unwrap();
        assert!(
            matches!(f.events.last(), Some(Event::End(_))),
            "{}",
            p.display()
        );
    }
    assert_eq!(b.len(0), 93, "the restarted run decodes the whole script");
}

#[test]
fn compare_runs_full_and_memento_and_records_a_pair() {
    let mut b = bench();
    b.start(PROMPT, true, false);
    b.until("both streams finish", |wb| {
        wb.state == WorkerState::Finished && wb.streams.iter().all(|s| s.summary.is_some())
    });
    let labels: Vec<&str> = b.wb.streams.iter().map(|s| s.label.as_str()).collect();
    assert_eq!(labels, ["full", "memento"]);
    let [full, memento] = [0, 1].map(|i| b.wb.streams[i].app.as_ref().unwrap());
    assert_eq!(full.timeline.evictions().len(), 0);
    assert_eq!(memento.timeline.evictions().len(), 4);
    assert!(memento.timeline.state().peak < full.timeline.state().peak);
    // The fake's words follow the cache, so the streams split at the first word after the
    // first eviction, as a real model's would: <think>, a newline, a block of 12 words with
    // its two tags, a memento of 4 words with its two tags, a newline, <|block_start|>.
    assert_eq!(
        first_divergence(&full.timeline, &memento.timeline),
        Some(24)
    );
    let evicted_at = memento.timeline.evictions()[0].pos - memento.timeline.prompt_len();
    assert!(evicted_at < 24);
    let paths = b.wb.trace_paths();
    assert_eq!(partner_of(&paths[0]).as_deref(), Some(paths[1].as_path()));
    assert_eq!(partner_of(&paths[1]).as_deref(), Some(paths[0].as_path()));
    for (stream, p) in paths.iter().enumerate() {
        let f = read_trace(p).unwrap();
        assert!(matches!(f.events.last(), Some(Event::End(_))));
        // A replay of the pair reports the speed the live summary did: the engine's own
        // decode time is recorded, not just the clock shared by the two streams.
        let replayed = recorded_rate(&Timeline::from_file(f).unwrap()).unwrap();
        let live = b.wb.streams[stream].summary.as_ref().unwrap().decode_tok_s;
        assert!(
            (replayed - live).abs() < 1e-9 * live,
            "{replayed} vs {live}"
        );
    }
}

#[test]
fn the_settings_choose_the_mode_of_the_next_run() {
    let mut b = bench();
    b.wb.settings.mode = ModeChoice::Keep(1);
    b.wb.settings.max_tokens = 40;
    b.start(PROMPT, false, false);
    b.until("the run finishes", |wb| wb.state == WorkerState::Finished);
    b.drain(Duration::from_millis(50));
    let app = b.wb.streams[0].app.as_ref().unwrap();
    assert_eq!(app.timeline.header.policy.keep_last_n_blocks, 1);
    assert_eq!(app.len(), 40);
    assert_eq!(
        b.wb.streams[0].summary.as_ref().unwrap().end,
        EndReason::MaxTokens
    );
}

/// Restart mode goes through the run's recompute (the memento's entries rebuilt with the
/// block gone): the workbench shows the same evictions as memento mode and the trace records
/// the mode.
#[test]
fn a_restart_mode_run_evicts_and_recomputes_through_the_real_run() {
    let mut b = bench();
    b.wb.settings.mode = ModeChoice::Restart;
    b.start(PROMPT, false, false);
    b.until("the run finishes", |wb| wb.state == WorkerState::Finished);
    b.drain(Duration::from_millis(50));
    let app = b.wb.streams[0].app.as_ref().unwrap();
    assert!(app.timeline.header.policy.restart);
    assert_eq!(app.timeline.evictions().len(), 4);
    assert_eq!(app.len(), 93);
    let summary = b.wb.streams[0].summary.as_ref().unwrap();
    assert_eq!(summary.end, EndReason::Eos);
    // The decoder's own count of cached entries, not the recorder's.
    assert_eq!(summary.final_live_tokens, app.timeline.state().live);
    // Restart evicts each block with both its delimiters: 12 words and 2 tags.
    assert_eq!(summary.final_live_tokens, 32 + 93 - 4 * 14);
}

fn key(code: KeyCode) -> KeyEvent {
    KeyEvent::new(code, KeyModifiers::NONE)
}

#[test]
fn typing_a_prompt_and_pressing_enter_runs_it() {
    let mut b = bench();
    assert_eq!(b.wb.focus, Focus::Editor);
    for c in "Add 2 and 3.".chars() {
        b.key(&key(KeyCode::Char(c)));
    }
    // Keys that are controls in the view are text in the editor.
    assert_eq!(b.wb.editor.text(), "Add 2 and 3.");
    b.key(&key(KeyCode::Enter));
    assert_eq!(b.wb.focus, Focus::View);
    b.until("the run finishes", |wb| wb.state == WorkerState::Finished);
    assert_eq!(b.wb.prompt.as_deref(), Some("Add 2 and 3."));
    assert_eq!(b.wb.history.entries(), ["Add 2 and 3."]);
    // In the view, `s` is a control again: it starts the editor's prompt paused and steps.
    b.key(&key(KeyCode::Char('s')));
    b.until("one token of a new run", |wb| {
        wb.state == WorkerState::Paused && wb.apps().next().is_some_and(|a| a.len() == 1)
    });
}

#[test]
fn dropping_the_workbench_ends_the_trace() {
    let mut b = bench_with(
        ScriptShape {
            blocks: 100,
            ..ScriptShape::default()
        },
        Duration::from_millis(1),
    );
    b.start(PROMPT, false, false);
    b.until("tokens arrive", |wb| {
        wb.apps().next().is_some_and(|a| a.len() >= 5)
    });
    let path = b.wb.streams[0].path.clone().unwrap();
    // The screen owns the worker; dropping it (as quitting does) ends the session.
    drop(b.worker);
    let f = read_trace(&path).unwrap();
    match f.events.last() {
        Some(Event::End(e)) => assert_eq!(e.reason, EndReason::Stopped),
        other => panic!("no end event: {other:?}"),
    }
}

// ---- views ----

/// Fix what varies between runs (speeds, file names) so the screen is reproducible.
fn steady(b: &mut Bench) {
    for (i, s) in b.wb.streams.iter_mut().enumerate() {
        s.timings.prefill_seconds = 0.01;
        s.timings.decode_seconds = s.timings.generated as f64 / (100.0 + i as f64 * 20.0);
        if let Some(summary) = s.summary.as_mut() {
            summary.decode_tok_s = 100.0 + i as f64 * 20.0;
        }
        s.path = Some(Path::new(&format!("session-{}.trace.jsonl", s.label)).to_path_buf());
    }
}

fn screen(b: &Bench, width: u16, height: u16) -> String {
    let mut terminal = Terminal::new(TestBackend::new(width, height)).unwrap();
    let mut cache = WorkbenchCache::default();
    terminal.draw(|f| draw(f, &b.wb, &mut cache)).unwrap();
    let buf = terminal.backend().buffer().clone();
    (0..height)
        .map(|y| (0..width).map(|x| buf[(x, y)].symbol()).collect::<String>())
        .collect::<Vec<_>>()
        .join("\n")
}

/// A single run paused right after its first eviction.
fn after_first_eviction() -> Bench {
    let mut b = bench();
    b.start_held(false);
    b.control(DecodeAction::Block);
    b.control(DecodeAction::Block);
    b.drain(Duration::from_millis(50));
    b.wb.editor.set_text(PROMPT);
    steady(&mut b);
    b
}

fn compare_finished() -> Bench {
    let mut b = bench();
    b.wb.editor.set_text(PROMPT);
    b.start(PROMPT, true, false);
    b.until("both streams finish", |wb| {
        wb.state == WorkerState::Finished && wb.streams.iter().all(|s| s.summary.is_some())
    });
    steady(&mut b);
    b
}

/// An engine with a model names its device beside the decode speed in the status bar (the
/// scripted engine has none, so the snapshots show only the speed).
#[test]
fn the_status_bar_names_the_device_beside_the_decode_speed() {
    let mut b = after_first_eviction();
    let status = |b: &Bench| screen(b, 160, 48).lines().last().unwrap().to_string();
    assert!(status(&b).contains(" decode 100.0 tok/s"), "{}", status(&b));
    b.wb.device = Some("cuda:0 NVIDIA H200".into());
    assert!(
        status(&b).contains("cuda:0 NVIDIA H200 decode 100.0 tok/s"),
        "{}",
        status(&b)
    );
}

#[test]
fn snapshot_workbench_80x24() {
    let b = after_first_eviction();
    insta::assert_snapshot!(screen(&b, 80, 24));
}

#[test]
fn snapshot_workbench_160x48() {
    let b = after_first_eviction();
    insta::assert_snapshot!(screen(&b, 160, 48));
}

#[test]
fn snapshot_compare_80x24() {
    let b = compare_finished();
    insta::assert_snapshot!(screen(&b, 80, 24));
}

#[test]
fn snapshot_compare_160x48() {
    let b = compare_finished();
    insta::assert_snapshot!(screen(&b, 160, 48));
}

#[test]
fn snapshot_settings_and_empty_workbench_80x24() {
    let mut b = bench();
    assert!(screen(&b, 80, 24).contains("Type a prompt"));
    b.wb.focus = Focus::View;
    b.act(DecodeAction::Settings);
    b.key(&key(KeyCode::Down));
    b.key(&key(KeyCode::Right));
    assert_eq!(b.wb.settings.scaffold, memento::live::ScaffoldChoice::On);
    insta::assert_snapshot!(screen(&b, 80, 24));
}

#[test]
fn inspecting_a_token_and_a_memento() {
    let mut b = after_first_eviction();
    b.act(NavAction::Inspect);
    let s = screen(&b, 100, 30);
    assert!(s.contains("token 22 of 22"), "{s}");
    assert!(s.contains("<|summary_end|>"), "{s}");
    assert!(s.contains("alternatives"), "{s}");
    // The memento list: the selected memento's block, marked evicted, with entries freed.
    b.act(NavAction::FocusNext);
    let s = screen(&b, 120, 36);
    assert!(s.contains("block 1 · i closes"), "{s}");
    assert!(s.contains("freed 12 KV entries"), "{s}");
}

#[test]
fn compare_shows_the_memento_list_on_tab_and_the_inspector_scrolls_long_blocks() {
    let mut b = compare_finished();
    let before = screen(&b, 120, 36);
    assert!(!before.contains("Mementos"), "{before}");
    b.act(NavAction::FocusNext);
    let s = screen(&b, 120, 36);
    assert_eq!(
        s.matches("Mementos 4/4").count(),
        2,
        "a list in each column:\n{s}"
    );
    // At 80×24 a block's text is taller than the room for the inspector: it scrolls.
    b.act(NavAction::Inspect);
    let s = screen(&b, 80, 24);
    assert!(s.contains("· rows 1–"), "{s}");
    // The open inspector's layer takes pgdn.
    b.key(&key(KeyCode::PageDown));
    let s = screen(&b, 80, 24);
    assert!(s.contains(" · rows ") && !s.contains("rows 1–"), "{s}");
    insta::assert_snapshot!("compare_inspector_scrolled_80x24", s);
}

#[test]
fn a_model_with_a_task_draws_its_problems_into_the_editor() {
    use memento::task::{ProblemDraw, Split, Task, WalkConfig};
    let mut b = bench();
    let task = Task::TollWalk(WalkConfig::default());
    b.wb.problems = Some(ProblemDraw::new(task.clone(), Some(5)));
    b.wb.draw_problem();
    let first = task.problem(Split::Heldout, 5, 0).prompt;
    assert_eq!(b.wb.editor.text(), first);
    assert_eq!(b.wb.focus, Focus::Editor);
    // ctrl-t in the editor draws the next one.
    b.key(&KeyEvent::new(KeyCode::Char('t'), KeyModifiers::CONTROL));
    assert_eq!(
        b.wb.editor.text(),
        task.problem(Split::Heldout, 5, 1).prompt
    );
    // So does `d` in the view.
    b.wb.focus = Focus::View;
    b.key(&KeyEvent::new(KeyCode::Char('d'), KeyModifiers::NONE));
    assert_eq!(
        b.wb.editor.text(),
        task.problem(Split::Heldout, 5, 2).prompt
    );
    assert!(b.wb.chrome.notice.as_deref().unwrap().contains("toll-walk"));
    // Enter runs the problem drawn.
    b.key(&KeyEvent::new(KeyCode::Enter, KeyModifiers::NONE));
    b.until("the drawn problem runs", |wb| wb.prompt.is_some());
    assert_eq!(
        b.wb.prompt.as_deref(),
        Some(task.problem(Split::Heldout, 5, 2).prompt.as_str())
    );
    // Without a task, the key says so and leaves the editor alone.
    let mut plain = bench();
    plain.wb.editor.set_text(PROMPT);
    plain.act(DecodeAction::NewProblem);
    assert_eq!(plain.wb.editor.text(), PROMPT);
    assert!(
        plain
            .wb
            .chrome
            .notice
            .as_deref()
            .unwrap()
            .contains("no task")
    );
}

/// A sessions directory that cannot be created: the run does not pretend to decode, the error
/// is kept for the exit status, and no recording is claimed.
#[test]
fn a_recording_that_cannot_happen_is_reported_and_not_claimed() {
    let dir = tempfile::tempdir().unwrap();
    let blocked = dir.path().join("a-file");
    std::fs::write(&blocked, b"not a directory").unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    let emit = Arc::new(move |m: LiveMsg| {
        let _ = tx.send(m);
    });
    let worker = Worker::spawn(
        engine(ScriptShape::default(), Duration::from_millis(1)),
        Some(blocked.join("sessions")),
        emit,
    );
    let wb = Workbench::new("scripted".into(), History::in_memory(), Theme::dark());
    let mut b = Bench {
        wb,
        worker,
        rx,
        dir,
    };
    b.start(PROMPT, false, false);
    b.until("the error arrives", |wb| !wb.errors.is_empty());
    b.drain(Duration::from_millis(200));
    assert!(b.wb.errors[0].contains("sessions"), "{:?}", b.wb.errors);
    assert_ne!(b.wb.state, WorkerState::Running);
    assert!(b.wb.recorded_paths().is_empty());
}

/// A trace cut short (a header only: the disk filled) is not claimed as recorded.
#[test]
fn only_whole_traces_are_claimed() {
    let mut b = bench();
    b.start_held(false);
    b.act(DecodeAction::Stop);
    b.until("the stream ends", |wb| wb.streams[0].summary.is_some());
    b.drain(Duration::from_millis(200));
    let recorded = b.wb.recorded_paths();
    assert_eq!(recorded.len(), 1);
    let text = std::fs::read_to_string(&recorded[0]).unwrap();
    let header = text.lines().next().unwrap().to_string() + "\n";
    std::fs::write(&recorded[0], header).unwrap();
    assert!(b.wb.recorded_paths().is_empty());
}

#[test]
fn keys_reach_the_innermost_open_layer_and_the_welcome_names_only_keys_that_work() {
    let mut b = bench();
    // The editor has focus at first: `?` and `q` type, and the welcome says how to get out.
    let welcome = screen(&b, 120, 36);
    assert!(welcome.contains("while typing:"), "{welcome}");
    assert!(welcome.contains("esc done"), "{welcome}");
    b.key(&key(KeyCode::Char('?')));
    b.key(&key(KeyCode::Char('q')));
    assert_eq!(b.wb.editor.text(), "?q");
    assert!(!b.wb.chrome.help);
    b.key(&key(KeyCode::Esc));
    assert_eq!(b.wb.focus, Focus::View);
    b.key(&key(KeyCode::Char('?')));
    assert!(b.wb.chrome.help, "out of the editor, ? opens the help");
    let help = screen(&b, 160, 48);
    for group in ["prompt editor", "settings panel", "inspector", "decode"] {
        assert!(help.contains(group), "the help lacks {group}:\n{help}");
    }
    b.key(&key(KeyCode::Esc));
    assert!(!b.wb.chrome.help);
    // With a stream shown, the inspector is a layer over the view: esc closes it.
    b.start_held(false);
    b.key(&key(KeyCode::Char('i')));
    assert!(b.wb.apps().all(|a| a.inspect));
    let open = screen(&b, 160, 48);
    assert!(open.contains("esc close"), "{open}");
    b.key(&key(KeyCode::Esc));
    assert!(b.wb.apps().all(|a| !a.inspect));
    // The settings panel takes every key while open; esc closes it.
    b.key(&key(KeyCode::Char('o')));
    assert!(b.wb.settings_panel.is_some());
    b.key(&key(KeyCode::Char('s')));
    assert_eq!(
        b.wb.state,
        WorkerState::Paused,
        "s is not a decode step here"
    );
    b.key(&key(KeyCode::Esc));
    assert!(b.wb.settings_panel.is_none());
}

/// Every workbench screen at 80×24, 120×36 and 200×60: each snapshot kept, and the numbers
/// that matter present whole.
#[test]
fn every_workbench_screen_at_every_size_keeps_its_numbers_whole() {
    let sizes = [(80, 24), (120, 36), (200, 60)];
    let single = after_first_eviction();
    let compare = compare_finished();
    // The chat prompt is 32 tokens of the organism's vocabulary; after the first memento 22
    // tokens are generated and the 12 of the block evicted: 32 + 22 − 12 = 42 live, 42 × 45 KiB.
    let prompt = single.wb.streams[0]
        .app
        .as_ref()
        .unwrap()
        .timeline
        .prompt_len();
    assert_eq!(prompt, 32);
    for (w, h) in sizes {
        let s = screen(&single, w, h);
        for number in ["KV 42 (1.8 MiB)", "live 42 tok", "▼ 1 (−"] {
            assert!(s.contains(number), "{w}×{h} lacks {number}:\n{s}");
        }
        insta::assert_snapshot!(format!("single_{w}x{h}"), s);
        let s = screen(&compare, w, h);
        // Full: 32 + 93 = 125 at the end. Memento: its peak, 80, is just before the fourth
        // memento closes (32 + 84 written − 3 blocks × 12 evicted); 77 live at the end
        // (125 − 4 × 12).
        for number in ["80 / 125 = 0.64×", "KV 77", "pk 80", "ended: end of answer"] {
            assert!(s.contains(number), "{w}×{h} lacks {number}:\n{s}");
        }
        insta::assert_snapshot!(format!("compare_{w}x{h}"), s);
    }
    let mut b = bench();
    b.act(DecodeAction::Settings);
    for (w, h) in sizes {
        let s = screen(&b, w, h);
        assert!(s.contains("max tokens") && s.contains("256"), "{s}");
        insta::assert_snapshot!(format!("settings_{w}x{h}"), s);
    }
    b.key(&key(KeyCode::Esc));
    b.key(&key(KeyCode::Esc));
    b.act(memento::tui::keys::AppAction::Help);
    for (w, h) in sizes {
        let s = screen(&b, w, h);
        assert!(s.contains("keys · ? or esc closes"), "{s}");
        insta::assert_snapshot!(format!("help_{w}x{h}"), s);
    }
}

/// The peak comparison counts both streams over the tokens both generated, and over each
/// whole run: a stream that ran on is not charged for its extra length at equal length.
#[test]
fn the_peak_ratio_at_equal_length_stops_at_the_shorter_stream() {
    use memento::tui::view::compare::PeakComparison;
    let b = compare_finished();
    let full = &b.wb.streams[0].app.as_ref().unwrap().timeline;
    let memento = &b.wb.streams[1].app.as_ref().unwrap().timeline;
    let same = PeakComparison::new(full, memento);
    assert_eq!(same.equal_tokens, full.len().min(memento.len()));
    assert_eq!(same.whole, (full.state().peak, memento.state().peak));
    // Cut the memento stream short: at equal length the full stream's peak is taken only
    // up to there, while the whole-run ratio keeps all of it.
    let mut short = Timeline::new(memento.header.clone());
    let recorded = std::fs::read_dir(b.dir.path())
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.to_string_lossy().ends_with("-memento.trace.jsonl"))
        .unwrap();
    let file = read_trace(&recorded).unwrap();
    let mut tokens = 0;
    for e in file.events {
        if matches!(e, Event::Token(_)) {
            tokens += 1;
            if tokens > 30 {
                break;
            }
        }
        short.push(e).unwrap();
    }
    let cut = PeakComparison::new(full, &short);
    assert_eq!(cut.equal_tokens, 30);
    assert_eq!(cut.equal.0, full.state_at(30).peak);
    assert!(cut.equal.0 < cut.whole.0, "{cut:?}");
    assert!(cut.equal_ratio() > cut.whole_ratio(), "{cut:?}");
}

/// Item 4 of the workbench issue: a "greedy" run that a repeat penalty steers says so. Before
/// a run the title gives the settings (`repeat auto`); once the run's header arrives it gives
/// the sampler as applied, the automatic penalty resolved and marked.
#[test]
fn the_title_shows_the_sampler_as_the_run_applied_it() {
    let mut b = bench();
    b.wb.settings.scaffold = memento::live::ScaffoldChoice::On;
    let before = screen(&b, 160, 48);
    assert!(before.contains("greedy · repeat auto · seed 0"), "{before}");
    b.start_held(false);
    let during = screen(&b, 160, 48);
    assert!(
        during.contains("greedy · repeat 1.20 (auto: scaffolded) · seed 0"),
        "{during}"
    );
    b.wb.settings.repeat_penalty = Some(1.0);
    b.start(PROMPT, false, true);
    b.until("the next run's header", |wb| {
        wb.effective_sampler()
            .is_some_and(|s| s.repeat_penalty == 1.0)
    });
    let set = screen(&b, 160, 48);
    assert!(set.contains("greedy · seed 0 · max 256"), "{set}");
}

/// The engine's own findings reach the screen: a remote stream with no tags at all says so in
/// the notice line, not only in its trace.
#[test]
fn an_engine_warning_is_said_on_screen() {
    use memento::live::LiveBody;
    use memento::structure::{DiagnosticCode, Severity};
    use memento::trace::DiagnosticEvent;
    let mut b = bench();
    b.start_held(false);
    let warning = DiagnosticEvent {
        seq: 1000,
        t: None,
        at: 40,
        severity: Severity::Warning,
        code: DiagnosticCode::NoStructureTags,
        message: "300 tokens and not one MEMENTO tag".into(),
    };
    b.wb.on_live(LiveMsg::new(
        b.wb.run,
        LiveBody::Event {
            stream: 0,
            event: Box::new(Event::Diagnostic(warning)),
        },
    ));
    let notice = b.wb.chrome.notice.clone().unwrap_or_default();
    assert!(notice.contains("not one MEMENTO tag"), "{notice}");
    assert!(screen(&b, 120, 36).contains("not one MEMENTO tag"));
}
