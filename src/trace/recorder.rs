//! The recorder: tokens in, trace events out. It runs the segmenter and the KV accountant
//! over the stream and writes prompt, token, structure, evict, kv, snapshot, diagnostic and
//! end events to a sink. Importers, the synthetic generator and the live engine all record
//! through it, so every trace is built by the same rules.

use crate::kv::{Eviction, KvAccountant, KvReading};
use crate::structure::{Boundary, Edge, Segmenter, SegmenterConfig, SpanKind};

use super::open_spans::OpenSpans;
use super::schema::{
    Alternative, DiagnosticEvent, EndEvent, EndReason, Event, EvictEvent, Header, KvEvent,
    MarkerEvent, PromptEvent, RunState, SnapshotEvent, StructureEvent, TokenEvent,
};
use super::sink::EventSink;

#[derive(Debug, Clone, Copy)]
pub struct RecorderOptions {
    pub segmenter: SegmenterConfig,
    /// Write a snapshot every this many generated tokens (0 = never).
    pub snapshot_every: u32,
}

impl Default for RecorderOptions {
    fn default() -> Self {
        RecorderOptions {
            segmenter: SegmenterConfig::default(),
            snapshot_every: 256,
        }
    }
}

/// An engine's own time on a stream, in seconds.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct StageSeconds {
    pub prefill: f64,
    pub decode: f64,
}

/// One token as the recorder receives it.
#[derive(Debug, Clone, Default)]
pub struct TokenInput {
    pub text: String,
    pub id: Option<u32>,
    pub logprob: Option<f32>,
    pub top: Option<Vec<Alternative>>,
    pub scaffold: bool,
    /// The text is quoted data (an imported block or memento): never read as a tag.
    pub literal: bool,
    pub t: Option<f64>,
}

impl TokenInput {
    pub fn text(text: impl Into<String>) -> Self {
        TokenInput {
            text: text.into(),
            ..TokenInput::default()
        }
    }
}

/// What one step did: the spans it opened or closed, what it evicted, and the cache after.
#[derive(Debug, Clone)]
pub struct StepOutcome {
    pub pos: u64,
    pub boundaries: Vec<Boundary>,
    pub evictions: Vec<Eviction>,
    pub reading: KvReading,
}

pub struct Recorder<S: EventSink> {
    sink: S,
    segmenter: Segmenter,
    accountant: KvAccountant,
    seq: u64,
    prompt_len: u64,
    next_pos: u64,
    state: RunState,
    spans: OpenSpans,
    snapshot_every: u32,
    last_t: Option<f64>,
}

impl<S: EventSink> Recorder<S> {
    pub fn start(header: &Header, options: RecorderOptions, mut sink: S) -> std::io::Result<Self> {
        sink.header(header)?;
        Ok(Recorder {
            sink,
            segmenter: Segmenter::new(options.segmenter),
            accountant: KvAccountant::new(header.policy, Some(header.model.shape.clone())),
            seq: 0,
            prompt_len: 0,
            next_pos: 0,
            state: RunState::default(),
            spans: OpenSpans::default(),
            snapshot_every: options.snapshot_every,
            last_t: None,
        })
    }

    pub fn state(&self) -> &RunState {
        &self.state
    }

    pub fn accountant(&self) -> &KvAccountant {
        &self.accountant
    }

    pub fn segmenter(&self) -> &Segmenter {
        &self.segmenter
    }

    pub fn next_pos(&self) -> u64 {
        self.next_pos
    }

    pub fn prompt_len(&self) -> u64 {
        self.prompt_len
    }

    pub fn sink(&self) -> &S {
        &self.sink
    }

    /// Record the prompt, tokenised into `pieces` (text, id), as one prefill step.
    pub fn prompt(
        &mut self,
        text: &str,
        pieces: &[(String, Option<u32>)],
        t: Option<f64>,
    ) -> std::io::Result<StepOutcome> {
        self.prompt_quoting(text, pieces, &[], t)
    }

    /// Record the prompt as [`Recorder::prompt`] does, where `literal[i]` marks piece `i` as
    /// quoted data, never read as a tag (a missing entry is `false`).
    pub fn prompt_quoting(
        &mut self,
        text: &str,
        pieces: &[(String, Option<u32>)],
        literal: &[bool],
        t: Option<f64>,
    ) -> std::io::Result<StepOutcome> {
        self.last_t = t.or(self.last_t);
        let ids: Option<Vec<u32>> = pieces.iter().map(|p| p.1).collect();
        let seq = self.next_seq();
        self.sink.event(&Event::Prompt(PromptEvent {
            seq,
            t,
            text: text.to_string(),
            tokens: pieces.len() as u64,
            ids: ids.filter(|ids| !ids.is_empty()),
        }))?;
        let mut boundaries = Vec::new();
        for (i, (piece, _)) in pieces.iter().enumerate() {
            let pos = self.next_pos;
            let found = if literal.get(i).copied().unwrap_or(false) {
                self.segmenter.push_literal(piece)
            } else {
                self.segmenter.push(pos, piece)
            };
            self.write_structure(&found)?;
            boundaries.extend(found);
            self.accountant.append(pos);
            self.next_pos += 1;
            self.write_diagnostics()?;
        }
        self.prompt_len = self.next_pos;
        let reading = self.write_kv()?;
        // Blocks completed inside the prompt are compacted after prefill, before the first
        // generated token (as the reference implementation does).
        let pos = self.next_pos.saturating_sub(1);
        let evictions = self.evict_for(pos, &boundaries)?;
        Ok(StepOutcome {
            pos,
            boundaries,
            evictions,
            reading,
        })
    }

    /// Record one generated token.
    pub fn token(&mut self, token: TokenInput) -> std::io::Result<StepOutcome> {
        self.last_t = token.t.or(self.last_t);
        let pos = self.next_pos;
        let seq = self.next_seq();
        let mut found = if token.literal {
            self.segmenter.push_literal(&token.text)
        } else {
            self.segmenter.push(pos, &token.text)
        };
        if token.scaffold {
            // A tag the runtime inserted marks its span as scaffolded.
            found.iter_mut().for_each(|b| b.scaffold = true);
        }
        self.sink.event(&Event::Token(TokenEvent {
            seq,
            t: token.t,
            pos,
            id: token.id,
            text: token.text,
            logprob: token.logprob,
            top: token.top,
            scaffold: token.scaffold,
        }))?;
        let (boundaries, evictions) = self.apply_boundaries(pos, found)?;
        self.accountant.append(pos);
        self.next_pos += 1;
        self.state.generated += 1;
        self.write_diagnostics()?;
        let reading = self.write_kv()?;
        if self.snapshot_every > 0 && self.state.generated % self.snapshot_every as u64 == 0 {
            self.write_snapshot()?;
        }
        Ok(StepOutcome {
            pos,
            boundaries,
            evictions,
            reading,
        })
    }

    /// Record a user bookmark at the current position.
    pub fn marker(&mut self, label: &str, note: Option<String>) -> std::io::Result<()> {
        let seq = self.next_seq();
        self.sink.event(&Event::Marker(MarkerEvent {
            seq,
            t: self.last_t,
            pos: self.next_pos.saturating_sub(1),
            label: label.to_string(),
            note,
        }))
    }

    /// Close every open span, write the end event, and hand back the sink. `spent` is the
    /// engine's own time on the stream, when an engine produced it.
    pub fn finish(
        mut self,
        reason: EndReason,
        t: Option<f64>,
        spent: Option<StageSeconds>,
    ) -> std::io::Result<(S, RunState)> {
        self.last_t = t.or(self.last_t);
        let end = self.next_pos;
        let found = self.segmenter.finish(end);
        self.apply_boundaries(end, found)?;
        self.write_diagnostics()?;
        self.state.open = None;
        let seq = self.next_seq();
        self.sink.event(&Event::End(EndEvent {
            seq,
            t: self.last_t,
            reason,
            prompt_tokens: self.prompt_len,
            prefill_seconds: spent.map(|s| s.prefill),
            decode_seconds: spent.map(|s| s.decode),
            totals: self.state.clone(),
        }))?;
        Ok((self.sink, self.state))
    }

    fn next_seq(&mut self) -> u64 {
        let seq = self.seq;
        self.seq += 1;
        seq
    }

    /// Write structure events for `found`, let the accountant act on them, and write the
    /// evictions it decides.
    fn apply_boundaries(
        &mut self,
        pos: u64,
        found: Vec<Boundary>,
    ) -> std::io::Result<(Vec<Boundary>, Vec<Eviction>)> {
        self.write_structure(&found)?;
        let evictions = self.evict_for(pos, &found)?;
        Ok((found, evictions))
    }

    fn write_structure(&mut self, found: &[Boundary]) -> std::io::Result<()> {
        for boundary in found {
            let seq = self.next_seq();
            self.sink.event(&Event::Structure(StructureEvent {
                seq,
                t: self.last_t,
                boundary: boundary.clone(),
            }))?;
            // The segmenter only emits balanced structure; anything else is a bug to surface.
            self.spans
                .apply(boundary)
                .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidData, e))?;
            match (boundary.span, boundary.edge) {
                (SpanKind::Block, Edge::Close) => self.state.blocks_closed += 1,
                (SpanKind::Summary, Edge::Close) => self.state.mementos_closed += 1,
                _ => {}
            }
        }
        self.state.open = self.spans.innermost();
        Ok(())
    }

    fn evict_for(&mut self, pos: u64, found: &[Boundary]) -> std::io::Result<Vec<Eviction>> {
        let mut evictions = Vec::new();
        for boundary in found {
            for eviction in self.accountant.observe(boundary) {
                self.write_eviction(pos, &eviction)?;
                evictions.push(eviction);
            }
        }
        Ok(evictions)
    }

    fn write_eviction(&mut self, pos: u64, e: &Eviction) -> std::io::Result<()> {
        self.state.evictions += 1;
        self.state.evicted = self.accountant.evicted_total();
        self.state.live = self.accountant.live();
        self.state.bytes = self.accountant.live_bytes();
        let seq = self.next_seq();
        self.sink.event(&Event::Evict(EvictEvent {
            seq,
            t: self.last_t,
            pos,
            block: e.block,
            from: e.span.start,
            to: e.span.end,
            freed: e.freed,
            freed_bytes: e.freed_bytes,
            live: self.accountant.live(),
            reason: e.reason,
            recompute: e.recompute.as_ref().map(|r| [r.start, r.end]),
        }))
    }

    fn write_kv(&mut self) -> std::io::Result<KvReading> {
        let reading = self.accountant.reading();
        self.state.live = reading.live;
        self.state.bytes = reading.bytes;
        self.state.peak = self.accountant.peak_live();
        self.state.peak_bytes = self.accountant.peak_bytes();
        self.state.evicted = self.accountant.evicted_total();
        let seq = self.next_seq();
        self.sink.event(&Event::Kv(KvEvent {
            seq,
            t: self.last_t,
            pos: reading.pos,
            live: reading.live,
            bytes: reading.bytes,
        }))?;
        Ok(reading)
    }

    fn write_snapshot(&mut self) -> std::io::Result<()> {
        let seq = self.next_seq();
        self.sink.event(&Event::Snapshot(SnapshotEvent {
            seq,
            t: self.last_t,
            pos: self.next_pos.saturating_sub(1),
            state: self.state.clone(),
        }))
    }

    /// Record a finding of the engine's own (not the segmenter's) at position `at`.
    pub fn diagnostic(
        &mut self,
        at: u64,
        severity: crate::structure::Severity,
        code: crate::structure::DiagnosticCode,
        message: String,
        t: Option<f64>,
    ) -> std::io::Result<()> {
        if t.is_some() {
            self.last_t = t;
        }
        let seq = self.next_seq();
        self.sink.event(&Event::Diagnostic(DiagnosticEvent {
            seq,
            t: self.last_t,
            at,
            severity,
            code,
            message,
        }))
    }

    fn write_diagnostics(&mut self) -> std::io::Result<()> {
        for d in self.segmenter.take_diagnostics() {
            let seq = self.next_seq();
            self.sink.event(&Event::Diagnostic(DiagnosticEvent {
                seq,
                t: self.last_t,
                at: d.at,
                severity: d.severity,
                code: d.code,
                message: d.message,
            }))?;
        }
        Ok(())
    }
}
