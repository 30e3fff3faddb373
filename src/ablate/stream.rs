//! The token stream an item's arms are compared on: generated once in memento mode, with
//! each token's place in the reasoning (block, memento, answer).

use std::path::Path;

use crate::engine::{EngineError, Run, RunOptions, RunSummary};
use crate::model::{Model, ModelTokenizer};
use crate::timeline::{Timeline, TokenSpan};
use crate::trace::{MemorySink, Tee, TraceWriter};

use super::metrics::SpanKind;

pub struct Stream {
    pub prompt: String,
    /// Every generated token, runtime-inserted ones included.
    pub ids: Vec<u32>,
    /// Each token's span and block.
    pub spans: Vec<(SpanKind, Option<u32>)>,
    pub prompt_len: u64,
    pub summary: RunSummary,
}

impl Stream {
    /// Decode `prompt` under `options` (memento mode) and keep the tokens. The trace is
    /// written to `trace` when given.
    pub fn generate(
        model: &Model,
        tokenizer: &ModelTokenizer,
        prompt: &str,
        options: RunOptions,
        trace: Option<&Path>,
    ) -> Result<Stream, EngineError> {
        // The trace file is written event by event, as every run's is.
        let writer = trace
            .map(TraceWriter::create)
            .transpose()
            .map_err(EngineError::TraceWrite)?;
        let mut run = Run::start(
            model,
            tokenizer,
            prompt,
            options,
            Tee(writer, MemorySink::default()),
        )?;
        while run.step()?.is_some() {}
        let prompt_len = run.recorder().prompt_len();
        let ids = run.ids()[prompt_len as usize..].to_vec();
        let (Tee(_, sink), summary) = run.finish(None)?;
        let header = sink
            .header
            .ok_or_else(|| EngineError::Request("the run recorded no header".into()))?;
        let timeline = Timeline::from_events(header, sink.events)
            .map_err(|e| EngineError::Request(format!("the generated stream: {e}")))?;
        let tokens = timeline.tokens();
        let spans = (0..tokens.len())
            .map(|i| match tokens.span(i) {
                TokenSpan::Block(b) => (SpanKind::Block, Some(b)),
                TokenSpan::Memento(b) => (SpanKind::Memento, b),
                TokenSpan::Answer => (SpanKind::Answer, None),
                TokenSpan::Think | TokenSpan::Outside => (SpanKind::Other, None),
            })
            .collect();
        Ok(Stream {
            prompt: prompt.to_string(),
            ids,
            spans,
            prompt_len,
            summary,
        })
    }

    pub fn blocks(&self) -> u64 {
        self.summary.blocks_closed
    }
}
