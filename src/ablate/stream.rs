//! The token stream an item's arms are compared on: generated once in memento mode, with
//! each token's place in the reasoning (block, memento, answer).

use std::path::Path;

use crate::engine::{Run, RunOptions, RunSummary};
use crate::model::{Model, ModelError, ModelTokenizer};
use crate::timeline::{Timeline, TokenSpan};
use crate::trace::{MemorySink, TraceWriter};

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
    ) -> Result<Stream, ModelError> {
        let mut run = Run::start(model, tokenizer, prompt, options, MemorySink::default())?;
        while run.step()?.is_some() {}
        let prompt_len = run.recorder().prompt_len();
        let ids = run.ids()[prompt_len as usize..].to_vec();
        let (sink, summary) = run.finish(None)?;
        let io = |e: std::io::Error| ModelError::Input(format!("writing the item's trace: {e}"));
        if let Some(path) = trace {
            let mut writer = TraceWriter::create(path).map_err(io)?;
            sink.replay_into(&mut writer).map_err(io)?;
        }
        let header = sink
            .header
            .clone()
            .ok_or_else(|| ModelError::Input("the run recorded no header".into()))?;
        let mut timeline = Timeline::new(header);
        for event in sink.events {
            timeline
                .push(event)
                .map_err(|e| ModelError::Input(format!("the generated stream: {e}")))?;
        }
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
