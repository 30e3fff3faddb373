//! What the UI and the decode worker say to each other: commands one way, messages the other.
//! Every message travels in a `{run, body}` envelope, so a receiver checks the run number in
//! one place and drops an older session's late messages.

use std::path::PathBuf;
use std::sync::Arc;

use super::settings::RunSettings;
use crate::engine::{RunSummary, Timings};
use crate::trace::{Event, Header};

/// How the worker reports to the UI.
pub type Emit = Arc<dyn Fn(LiveMsg) + Send + Sync>;

#[derive(Debug, Clone)]
pub enum Command {
    /// Start a new session (ending any current one). `hold` starts it paused after prefill.
    Start {
        prompt: String,
        settings: RunSettings,
        compare: bool,
        hold: bool,
    },
    Run,
    Pause,
    /// Decode one token (in each stream of a compare run), then pause.
    Step,
    /// Decode until a block or memento closes, then pause.
    StepBlock,
    /// End the session here; the traces get their end event.
    Stop,
    /// Start the last session's prompt and settings again.
    Restart,
    Shutdown,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WorkerState {
    /// No session yet.
    Idle,
    Running,
    Paused,
    Finished,
}

#[derive(Debug, Clone)]
pub struct StreamInfo {
    /// The KV mode, as a policy label.
    pub label: String,
    /// Where its trace is recorded.
    pub path: Option<PathBuf>,
}

/// One message from the worker: the session it belongs to, and what happened.
#[derive(Debug, Clone)]
pub struct LiveMsg {
    pub run: u64,
    pub body: LiveBody,
}

impl LiveMsg {
    pub fn new(run: u64, body: LiveBody) -> LiveMsg {
        LiveMsg { run, body }
    }
}

#[derive(Debug, Clone)]
pub enum LiveBody {
    Started {
        prompt: String,
        streams: Vec<StreamInfo>,
    },
    Header {
        stream: usize,
        header: Box<Header>,
    },
    Event {
        stream: usize,
        event: Box<Event>,
    },
    Progress {
        stream: usize,
        timings: Timings,
    },
    StreamEnded {
        stream: usize,
        summary: Box<RunSummary>,
    },
    State {
        state: WorkerState,
    },
    Error {
        message: String,
    },
}
