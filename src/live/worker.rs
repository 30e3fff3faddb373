//! The decode worker: a thread that owns the engine and runs one session at a time (one
//! stream, or two for a compare run) under commands from the UI. It steps between commands,
//! so pausing takes effect after at most one token per stream and decoding never waits on
//! the UI. Everything it records goes to the trace files and, as the same events, to the UI.

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::mpsc::{Receiver, RecvTimeoutError, Sender, TryRecvError};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use super::channel_sink::ChannelSink;
use super::engine::{ActiveRun, DecodeEngine, LiveSink};
use super::protocol::{Command, Emit, LiveBody, LiveMsg, StreamInfo, WorkerState};
use super::sessions::SessionPaths;
use super::settings::{ModeChoice, RunSettings};
use crate::structure::{Edge, SpanKind};
use crate::trace::{EndReason, Tee, TraceWriter};

/// The UI's handle on the worker thread. Dropping it stops the session (writing the end
/// events) and joins the thread.
pub struct Worker {
    commands: Sender<Command>,
    thread: Option<JoinHandle<()>>,
}

impl Worker {
    /// Start the thread. Traces are recorded into `sessions` (created if missing) when given.
    pub fn spawn(
        engine: Box<dyn DecodeEngine + Send>,
        sessions: Option<PathBuf>,
        emit: Emit,
    ) -> Worker {
        let (commands, rx) = std::sync::mpsc::channel();
        let thread = std::thread::Builder::new()
            .name("memento-decode".into())
            .spawn(move || {
                let mut w = WorkerLoop {
                    engine: engine.as_ref(),
                    emit,
                    sessions,
                    run: 0,
                    last: None,
                };
                w.serve(rx);
            })
            .expect("spawning the decode thread");
        Worker {
            commands,
            thread: Some(thread),
        }
    }

    pub fn send(&self, command: Command) {
        // A worker that has gone (it only exits on Shutdown) has nothing left to do.
        let _ = self.commands.send(command);
    }
}

impl Drop for Worker {
    fn drop(&mut self) {
        let _ = self.commands.send(Command::Shutdown);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Goal {
    Hold,
    Run,
    Tokens(u32),
    SpanEnd,
}

struct Session<'e> {
    run: u64,
    streams: Vec<Option<Box<dyn ActiveRun + 'e>>>,
    goal: Goal,
    /// The wall time between rounds when the run is paced (RunSettings::pace).
    interval: Option<Duration>,
    /// When the next paced round is due.
    due: Instant,
}

struct WorkerLoop<'e> {
    engine: &'e (dyn DecodeEngine + Send),
    emit: Emit,
    sessions: Option<PathBuf>,
    run: u64,
    last: Option<(String, RunSettings, bool)>,
}

impl<'e> WorkerLoop<'e> {
    fn serve(&mut self, rx: Receiver<Command>) {
        let mut session: Option<Session<'e>> = None;
        loop {
            let busy = session.as_ref().is_some_and(|s| s.goal != Goal::Hold);
            // A paced run waits for its next round, still listening for commands.
            let wait = session
                .as_ref()
                .filter(|_| busy)
                .map(|s| s.due.saturating_duration_since(Instant::now()))
                .filter(|d| !d.is_zero());
            let command = if let Some(wait) = wait {
                match rx.recv_timeout(wait) {
                    Ok(c) => Some(c),
                    Err(RecvTimeoutError::Timeout) => None,
                    Err(RecvTimeoutError::Disconnected) => Some(Command::Shutdown),
                }
            } else if busy {
                match rx.try_recv() {
                    Ok(c) => Some(c),
                    Err(TryRecvError::Empty) => None,
                    Err(TryRecvError::Disconnected) => Some(Command::Shutdown),
                }
            } else {
                Some(rx.recv().unwrap_or(Command::Shutdown))
            };
            if let Some(command) = command {
                if !self.handle(command, &mut session) {
                    return;
                }
                continue;
            }
            if let Some(s) = session.as_mut() {
                if let Some(interval) = s.interval {
                    s.due = Instant::now() + interval;
                }
                if self.round(s) {
                    session = None;
                }
            }
        }
    }

    /// Apply one command; false to exit the thread.
    fn handle(&mut self, command: Command, session: &mut Option<Session<'e>>) -> bool {
        let set_goal = |session: &mut Option<Session<'e>>, goal: Goal, emit: &Emit| {
            if let Some(s) = session.as_mut() {
                s.goal = goal;
                let state = if goal == Goal::Hold {
                    WorkerState::Paused
                } else {
                    WorkerState::Running
                };
                emit(LiveMsg::new(s.run, LiveBody::State { state }));
            }
        };
        match command {
            Command::Start {
                prompt,
                settings,
                compare,
                hold,
            } => {
                self.end(session.take(), EndReason::Stopped);
                self.last = Some((prompt.clone(), settings.clone(), compare));
                *session = self.start(&prompt, &settings, compare, hold);
            }
            Command::Restart => {
                self.end(session.take(), EndReason::Stopped);
                if let Some((prompt, settings, compare)) = self.last.clone() {
                    *session = self.start(&prompt, &settings, compare, false);
                }
            }
            Command::Run => set_goal(session, Goal::Run, &self.emit),
            Command::Pause => set_goal(session, Goal::Hold, &self.emit),
            Command::Step => set_goal(session, Goal::Tokens(1), &self.emit),
            Command::StepBlock => set_goal(session, Goal::SpanEnd, &self.emit),
            Command::Stop => self.end(session.take(), EndReason::Stopped),
            Command::Shutdown => {
                self.end(session.take(), EndReason::Stopped);
                return false;
            }
        }
        true
    }

    fn start(
        &mut self,
        prompt: &str,
        settings: &RunSettings,
        compare: bool,
        hold: bool,
    ) -> Option<Session<'e>> {
        self.run += 1;
        let run = self.run;
        let modes: Vec<ModeChoice> = if compare {
            settings.compare_modes().to_vec()
        } else {
            vec![settings.mode]
        };
        let labels: Vec<String> = modes.iter().map(|m| m.label()).collect();
        let paths = match &self.sessions {
            Some(dir) => {
                if let Err(e) = std::fs::create_dir_all(dir) {
                    let message = format!(
                        "{}: cannot create the sessions directory: {e}",
                        dir.display()
                    );
                    self.abort(run, Vec::new(), message);
                    return None;
                }
                SessionPaths::new(dir, &labels)
                    .paths
                    .into_iter()
                    .map(Some)
                    .collect()
            }
            None => vec![None; labels.len()],
        };
        (self.emit)(LiveMsg::new(
            run,
            LiveBody::Started {
                prompt: prompt.to_string(),
                streams: labels
                    .iter()
                    .zip(&paths)
                    .map(|(label, path)| StreamInfo {
                        label: label.clone(),
                        path: path.clone(),
                    })
                    .collect(),
            },
        ));
        let mut streams = Vec::new();
        for (stream, (mode, path)) in modes.iter().zip(&paths).enumerate() {
            let channel = ChannelSink::new(run, stream, Arc::clone(&self.emit));
            let sink: LiveSink = match path {
                Some(p) => match TraceWriter::create_new(p) {
                    Ok(w) => Box::new(Tee(w, channel)),
                    Err(e) => {
                        let message = format!("{}: cannot create the trace: {e}", p.display());
                        self.abort(run, streams, message);
                        return None;
                    }
                },
                None => Box::new(channel),
            };
            let options = settings.options(*mode, self.engine.has_memento_tags());
            match self.engine.start_stream(prompt, options, sink, stream) {
                Ok(r) => {
                    (self.emit)(LiveMsg::new(
                        run,
                        LiveBody::Progress {
                            stream,
                            timings: r.timings(),
                        },
                    ));
                    streams.push(Some(r));
                }
                Err(e) => {
                    self.abort(run, streams, e.to_string());
                    return None;
                }
            }
        }
        let goal = if hold { Goal::Hold } else { Goal::Run };
        let state = if hold {
            WorkerState::Paused
        } else {
            WorkerState::Running
        };
        (self.emit)(LiveMsg::new(run, LiveBody::State { state }));
        Some(Session {
            run,
            streams,
            goal,
            interval: (settings.pace > 0)
                .then(|| Duration::from_secs_f64(1.0 / f64::from(settings.pace))),
            due: Instant::now(),
        })
    }

    /// A session that could not start: say why, and end the streams already started.
    fn abort(&self, run: u64, streams: Vec<Option<Box<dyn ActiveRun + 'e>>>, message: String) {
        (self.emit)(LiveMsg::new(run, LiveBody::Error { message }));
        self.end(
            Some(Session {
                run,
                streams,
                goal: Goal::Hold,
                interval: None,
                due: Instant::now(),
            }),
            EndReason::Error,
        );
        (self.emit)(LiveMsg::new(
            run,
            LiveBody::State {
                state: WorkerState::Finished,
            },
        ));
    }

    /// One token in every live stream. True when the session has ended.
    fn round(&mut self, s: &mut Session<'e>) -> bool {
        let mut span_closed = false;
        for (stream, slot) in s.streams.iter_mut().enumerate() {
            let Some(active) = slot.as_mut() else {
                continue;
            };
            match active.step() {
                Ok(Some(step)) => {
                    span_closed |= step.boundaries.iter().any(|b| {
                        b.edge == Edge::Close
                            && matches!(b.span, SpanKind::Block | SpanKind::Summary)
                    });
                    (self.emit)(LiveMsg::new(
                        s.run,
                        LiveBody::Progress {
                            stream,
                            timings: active.timings(),
                        },
                    ));
                }
                Ok(None) => {
                    if let Some(done) = slot.take() {
                        self.finish_stream(s.run, stream, done, None);
                    }
                }
                Err(e) => {
                    (self.emit)(LiveMsg::new(
                        s.run,
                        LiveBody::Error {
                            message: e.to_string(),
                        },
                    ));
                    if let Some(done) = slot.take() {
                        self.finish_stream(s.run, stream, done, Some(EndReason::Error));
                    }
                }
            }
        }
        if s.streams.iter().all(Option::is_none) {
            (self.emit)(LiveMsg::new(
                s.run,
                LiveBody::State {
                    state: WorkerState::Finished,
                },
            ));
            return true;
        }
        let reached = match s.goal {
            Goal::Tokens(n) if n <= 1 => true,
            Goal::Tokens(n) => {
                s.goal = Goal::Tokens(n - 1);
                false
            }
            Goal::SpanEnd => span_closed,
            Goal::Run | Goal::Hold => false,
        };
        if reached {
            s.goal = Goal::Hold;
            (self.emit)(LiveMsg::new(
                s.run,
                LiveBody::State {
                    state: WorkerState::Paused,
                },
            ));
        }
        false
    }

    fn finish_stream(
        &self,
        run: u64,
        stream: usize,
        active: Box<dyn ActiveRun + 'e>,
        reason: Option<EndReason>,
    ) {
        match active.finish(reason) {
            Ok(summary) => {
                // A run that stopped on an error (non-finite logits) says why on screen.
                let failure = summary.failure.clone();
                (self.emit)(LiveMsg::new(
                    run,
                    LiveBody::StreamEnded {
                        stream,
                        summary: Box::new(summary),
                    },
                ));
                if let Some(message) = failure {
                    (self.emit)(LiveMsg::new(run, LiveBody::Error { message }));
                }
            }
            Err(e) => (self.emit)(LiveMsg::new(
                run,
                LiveBody::Error {
                    message: e.to_string(),
                },
            )),
        }
    }

    /// End every stream still running.
    fn end(&self, session: Option<Session<'e>>, reason: EndReason) {
        let Some(s) = session else {
            return;
        };
        let any = s.streams.iter().any(Option::is_some);
        for (stream, slot) in s.streams.into_iter().enumerate() {
            if let Some(active) = slot {
                self.finish_stream(s.run, stream, active, Some(reason));
            }
        }
        if any {
            (self.emit)(LiveMsg::new(
                s.run,
                LiveBody::State {
                    state: WorkerState::Finished,
                },
            ));
        }
    }
}
