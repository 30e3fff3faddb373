//! Live decoding for the workbench: a background worker that runs one prompt (or the same
//! prompt twice, in full context and with memento eviction) step by step under commands, and
//! sends every trace event it records to the UI while writing it to the sessions directory.
//! The worker drives any [`DecodeEngine`]: the real model, or the scripted decoder (no
//! weights) for tests.

mod channel_sink;
mod engine;
mod protocol;
mod scripted;
mod session_index;
mod sessions;
mod settings;
mod worker;

pub use channel_sink::ChannelSink;
pub use engine::{ActiveRun, DecodeEngine, LiveSink, ModelEngine};
pub use protocol::{Command, Emit, LiveBody, LiveMsg, StreamInfo, WorkerState};
pub use scripted::ScriptedEngine;
pub use session_index::{SessionSummary, StreamSummary, list_sessions, no_runs_yet, sessions_in};
pub use sessions::{SessionPaths, partner_of, sessions_dir};
pub use settings::{ModeChoice, RunSettings, ScaffoldChoice};
pub use worker::Worker;
