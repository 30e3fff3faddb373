//! What the worker needs from a model: start a run that records into a sink, then step it.

use crate::engine::{Decoder, EngineError, Run, RunOptions, RunSummary, Step, Timings};
use crate::model::{Model, ModelTokenizer};
use crate::trace::{EndReason, EventSink};

/// Every run records into this: the trace file and the UI at once.
pub type LiveSink = Box<dyn EventSink + Send>;

pub trait DecodeEngine {
    fn name(&self) -> String;
    /// The device the model runs on, for the status bar (`cpu`, `cuda:0 NVIDIA H200`); `None`
    /// for an engine with no model of its own (scripted, remote).
    fn device(&self) -> Option<String> {
        None
    }
    /// True when the vocabulary has the memento tokens (scaffolding is then off by default).
    fn has_memento_tags(&self) -> bool;
    /// Record the header, prefill `prompt` and get ready to decode.
    fn start<'e>(
        &'e self,
        prompt: &str,
        options: RunOptions,
        sink: LiveSink,
    ) -> Result<Box<dyn ActiveRun + 'e>, EngineError>;
    /// [`DecodeEngine::start`] for stream `stream` of a session (0, or 1 for a compare run's
    /// second): an engine over two servers sends each stream to its own.
    fn start_stream<'e>(
        &'e self,
        prompt: &str,
        options: RunOptions,
        sink: LiveSink,
        stream: usize,
    ) -> Result<Box<dyn ActiveRun + 'e>, EngineError> {
        let _ = stream;
        self.start(prompt, options, sink)
    }
}

pub trait ActiveRun {
    /// Decode one token; `None` once the run has ended.
    fn step(&mut self) -> Result<Option<Step>, EngineError>;
    fn timings(&self) -> Timings;
    /// Write the end event and summarise.
    fn finish(self: Box<Self>, reason: Option<EndReason>) -> Result<RunSummary, EngineError>;
}

/// The real engine: weights loaded once, shared by every run (and both streams of a compare).
pub struct ModelEngine {
    pub model: Model,
    pub tokenizer: ModelTokenizer,
}

impl DecodeEngine for ModelEngine {
    fn name(&self) -> String {
        self.model.name()
    }

    fn device(&self) -> Option<String> {
        Some(crate::gpu::describe_device(self.model.device()))
    }

    fn has_memento_tags(&self) -> bool {
        self.tokenizer.has_memento_tags()
    }

    fn start<'e>(
        &'e self,
        prompt: &str,
        options: RunOptions,
        sink: LiveSink,
    ) -> Result<Box<dyn ActiveRun + 'e>, EngineError> {
        let run = Run::start(&self.model, &self.tokenizer, prompt, options, sink)?;
        Ok(Box::new(run))
    }
}

impl<S: EventSink, D: Decoder> ActiveRun for Run<'_, S, D> {
    fn step(&mut self) -> Result<Option<Step>, EngineError> {
        Run::step(self)
    }

    fn timings(&self) -> Timings {
        Run::timings(self)
    }

    fn finish(self: Box<Self>, reason: Option<EndReason>) -> Result<RunSummary, EngineError> {
        Run::finish(*self, reason).map(|(_, summary)| summary)
    }
}
