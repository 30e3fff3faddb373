//! The timeline: a stream of trace events folded into what the views need. A replay pushes a
//! file's events; a live run pushes events as the engine emits them. Either way the views
//! read the same timeline.

mod rate;
mod series;
mod tokens;

use std::ops::Range;
use std::path::Path;

pub use rate::decode_rate;
pub use series::PolicySeries;
pub use tokens::{TokenSpan, TokenStore};

use crate::kv::{KvPolicy, KvShape};
use crate::structure::{Boundary, Edge, Outline, SpanKind};
use crate::trace::{
    DiagnosticEvent, EndEvent, Event, EvictEvent, Header, MarkerEvent, OpenSpans, ReadWarning,
    RunState, TraceError, TraceFile, map_trace, stream_trace,
};

/// Seek points: the folded state is stored every this many tokens when the trace has no
/// snapshots of its own.
const CHECKPOINT_EVERY: u64 = 256;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}{message}", line.map(|l| format!("line {l}: ")).unwrap_or_default())]
pub struct TimelineError {
    pub line: Option<usize>,
    pub message: String,
}

/// One folded event, in order: an index into the store it went to, 8 bytes, as a long
/// trace has two of these a token.
#[derive(Debug, Clone, Copy)]
enum LogEntry {
    Token(u32),
    /// Index into `kv_live` and `kv_bytes`.
    Kv(u32),
    /// Index into `evictions`.
    Evict(u32),
    Structure(u32),
    Other,
}

#[derive(Debug, Clone)]
struct Checkpoint {
    log_index: usize,
    state: RunState,
    spans: OpenSpans,
}

#[derive(Debug, Clone)]
pub struct Timeline {
    pub header: Header,
    prompt_text: Option<String>,
    prompt_len: u64,
    tokens: TokenStore,
    boundaries: Vec<Boundary>,
    evictions: Vec<EvictEvent>,
    /// For each eviction, the tokens generated when it happened: the first cursor it is in
    /// effect at.
    eviction_cursors: Vec<u64>,
    kv_live: Vec<u64>,
    kv_bytes: Vec<u64>,
    markers: Vec<MarkerEvent>,
    diagnostics: Vec<DiagnosticEvent>,
    end: Option<EndEvent>,
    log: Vec<LogEntry>,
    checkpoints: Vec<Checkpoint>,
    last_checkpoint_tokens: u64,
    state: RunState,
    spans: OpenSpans,
    series: Vec<PolicySeries>,
    /// Where a file's snapshots disagree with the replayed state.
    pub inconsistencies: Vec<String>,
}

impl Timeline {
    pub fn new(header: Header) -> Self {
        let shape = header.model.shape.clone();
        let mask = header.policy.mask_delimiters;
        let mut policies = vec![
            KvPolicy::FULL,
            KvPolicy {
                mask_delimiters: mask,
                ..KvPolicy::MEMENTO
            },
        ];
        if !policies.contains(&header.policy) {
            policies.push(header.policy);
        }
        let series = policies
            .into_iter()
            .map(|p| PolicySeries::new(p, shape.clone()))
            .collect();
        Timeline {
            header,
            prompt_text: None,
            prompt_len: 0,
            tokens: TokenStore::default(),
            boundaries: Vec::new(),
            evictions: Vec::new(),
            eviction_cursors: Vec::new(),
            kv_live: Vec::new(),
            kv_bytes: Vec::new(),
            markers: Vec::new(),
            diagnostics: Vec::new(),
            end: None,
            log: Vec::new(),
            checkpoints: vec![Checkpoint {
                log_index: 0,
                state: RunState::default(),
                spans: OpenSpans::default(),
            }],
            last_checkpoint_tokens: 0,
            state: RunState::default(),
            spans: OpenSpans::default(),
            series,
            inconsistencies: Vec::new(),
        }
    }

    /// Build from a file, validating every event.
    pub fn from_file(file: TraceFile) -> Result<Timeline, TimelineError> {
        let mut timeline = Timeline::new(file.header);
        for (event, line) in file.events.into_iter().zip(file.lines) {
            timeline.push_at(event, Some(line))?;
        }
        timeline.settle();
        Ok(timeline)
    }

    /// Read and validate a trace file, its events streamed into the timeline as they are
    /// parsed (see [`stream_trace`]): memory holds the timeline, not the file's events.
    /// Errors: the file, the line and what is wrong, as the reader and [`Timeline::push`]
    /// report them.
    pub fn read(path: &Path) -> Result<(Timeline, Vec<ReadWarning>), TraceError> {
        let map = map_trace(path)?;
        let (mut timeline, warnings) =
            stream_trace(path, &map, Timeline::new, |timeline, event, line| {
                timeline.push_at(event, Some(line)).map_err(|e| e.message)
            })?;
        timeline.settle();
        Ok((timeline, warnings))
    }

    /// Build from events recorded in memory (a run or an import not read from a file).
    pub fn from_events(
        header: Header,
        events: impl IntoIterator<Item = Event>,
    ) -> Result<Timeline, TimelineError> {
        let mut timeline = Timeline::new(header);
        for event in events {
            timeline.push(event)?;
        }
        timeline.settle();
        Ok(timeline)
    }

    pub fn push(&mut self, event: Event) -> Result<(), TimelineError> {
        self.push_at(event, None)
    }

    /// Bring the simulated policies up to the last pushed position (done automatically at
    /// the end event and at every recorded KV reading).
    pub fn settle(&mut self) {
        let end = self.next_pos();
        for s in &mut self.series {
            s.advance_to(end);
        }
    }

    fn push_at(&mut self, event: Event, line: Option<usize>) -> Result<(), TimelineError> {
        let fail = |message: String| TimelineError { line, message };
        if self.end.is_some() {
            return Err(fail(format!(
                "{} event after the end event",
                event.type_name()
            )));
        }
        let entry = match event {
            Event::Prompt(p) => {
                if self.prompt_text.is_some() || !self.tokens.is_empty() {
                    return Err(fail(
                        "prompt event after the prompt or the first token".into(),
                    ));
                }
                self.prompt_len = p.tokens;
                for s in &mut self.series {
                    s.set_prompt_len(p.tokens);
                }
                self.prompt_text = Some(p.text);
                LogEntry::Other
            }
            Event::Token(t) => {
                let expected = self.next_pos();
                if t.pos != expected {
                    return Err(fail(format!(
                        "token event at position {}, expected {expected}: positions run on from the prompt without gaps",
                        t.pos
                    )));
                }
                for s in &mut self.series {
                    s.advance_to(t.pos);
                }
                let index = self.tokens.len() as u32;
                self.tokens.push(t, TokenSpan::from(self.spans.innermost()));
                self.state.generated += 1;
                LogEntry::Token(index)
            }
            Event::Structure(s) => {
                let b = s.boundary;
                self.spans.apply(&b).map_err(fail)?;
                match (b.span, b.edge) {
                    (SpanKind::Block, Edge::Close) => self.state.blocks_closed += 1,
                    (SpanKind::Summary, Edge::Close) => self.state.mementos_closed += 1,
                    _ => {}
                }
                self.state.open = self.spans.innermost();
                for series in &mut self.series {
                    series.boundary(&b);
                }
                self.boundaries.push(b);
                LogEntry::Structure(self.boundaries.len() as u32 - 1)
            }
            Event::Kv(k) => {
                if k.pos >= self.next_pos().max(1) {
                    return Err(fail(format!(
                        "kv event at position {}, past the last token",
                        k.pos
                    )));
                }
                for s in &mut self.series {
                    s.advance_to(k.pos + 1);
                }
                self.kv_live.push(k.live);
                self.kv_bytes.push(k.bytes);
                self.state.live = k.live;
                self.state.bytes = k.bytes;
                self.state.peak = self.state.peak.max(k.live);
                self.state.peak_bytes = self.state.peak_bytes.max(k.bytes);
                self.maybe_checkpoint();
                LogEntry::Kv(self.kv_live.len() as u32 - 1)
            }
            Event::Evict(e) => {
                if e.from > e.to || e.to > self.next_pos() {
                    return Err(fail(format!(
                        "evict event span [{}, {}) is not inside the positions written so far (0..{})",
                        e.from,
                        e.to,
                        self.next_pos()
                    )));
                }
                self.state.live = e.live;
                self.state.bytes = self.state.bytes.saturating_sub(e.freed_bytes);
                self.state.evicted += e.freed;
                self.state.evictions += 1;
                self.evictions.push(e);
                self.eviction_cursors.push(self.tokens.len() as u64);
                LogEntry::Evict(self.evictions.len() as u32 - 1)
            }
            Event::Marker(m) => {
                self.markers.push(m);
                LogEntry::Other
            }
            Event::Snapshot(s) => {
                if s.state != self.state {
                    self.inconsistencies.push(format!(
                        "{}snapshot at position {} disagrees with the replayed events",
                        line.map(|l| format!("line {l}: ")).unwrap_or_default(),
                        s.pos
                    ));
                }
                self.log.push(LogEntry::Other);
                self.checkpoints.push(Checkpoint {
                    log_index: self.log.len(),
                    state: self.state.clone(),
                    spans: self.spans.clone(),
                });
                self.last_checkpoint_tokens = self.state.generated;
                return Ok(());
            }
            Event::Diagnostic(d) => {
                self.diagnostics.push(d);
                LogEntry::Other
            }
            Event::End(e) => {
                self.settle();
                self.end = Some(e);
                LogEntry::Other
            }
        };
        self.log.push(entry);
        Ok(())
    }

    fn maybe_checkpoint(&mut self) {
        if self.state.generated >= self.last_checkpoint_tokens + CHECKPOINT_EVERY {
            self.checkpoints.push(Checkpoint {
                log_index: self.log.len() + 1,
                state: self.state.clone(),
                spans: self.spans.clone(),
            });
            self.last_checkpoint_tokens = self.state.generated;
        }
    }

    // ---- reading ----

    pub fn prompt_text(&self) -> Option<&str> {
        self.prompt_text.as_deref()
    }

    pub fn prompt_len(&self) -> u64 {
        self.prompt_len
    }

    pub fn tokens(&self) -> &TokenStore {
        &self.tokens
    }

    /// Tokens generated (prompt excluded).
    pub fn len(&self) -> u64 {
        self.tokens.len() as u64
    }

    pub fn is_empty(&self) -> bool {
        self.tokens.is_empty()
    }

    /// The logical position of generated token `i`.
    pub fn pos_of(&self, i: u64) -> u64 {
        self.prompt_len + i
    }

    /// One past the last position written.
    pub fn next_pos(&self) -> u64 {
        self.prompt_len + self.tokens.len() as u64
    }

    pub fn boundaries(&self) -> &[Boundary] {
        &self.boundaries
    }

    pub fn evictions(&self) -> &[EvictEvent] {
        &self.evictions
    }

    /// Each eviction with the cursor it takes effect at (tokens generated when it happened),
    /// in order.
    pub fn evictions_at_cursors(&self) -> impl Iterator<Item = (u64, &EvictEvent)> {
        self.eviction_cursors.iter().copied().zip(&self.evictions)
    }

    pub fn markers(&self) -> &[MarkerEvent] {
        &self.markers
    }

    pub fn diagnostics(&self) -> &[DiagnosticEvent] {
        &self.diagnostics
    }

    pub fn end(&self) -> Option<&EndEvent> {
        self.end.as_ref()
    }

    pub fn shape(&self) -> &KvShape {
        &self.header.model.shape
    }

    pub fn outline(&self) -> Outline {
        Outline::from_boundaries(self.prompt_len, &self.boundaries, self.next_pos())
    }

    /// The outline as it stood once `cursor` tokens were generated: spans not yet closed
    /// at that point are open, and nothing later is known.
    pub fn outline_at(&self, cursor: u64) -> Outline {
        let end = self.pos_of(cursor.min(self.len()));
        let known = self.boundaries.partition_point(|b| b.at < end);
        Outline::from_boundaries(self.prompt_len, &self.boundaries[..known], end)
    }

    /// Recorded live tokens after each step (prefill first, when there is a prompt).
    pub fn recorded_live(&self) -> &[u64] {
        &self.kv_live
    }

    pub fn recorded_bytes(&self) -> &[u64] {
        &self.kv_bytes
    }

    /// The simulated series: full context first, memento second, then the trace's own
    /// policy when it is neither.
    pub fn series(&self) -> &[PolicySeries] {
        &self.series
    }

    /// Everything folded so far.
    pub fn state(&self) -> &RunState {
        &self.state
    }

    /// The state after `cursor` generated tokens (0 = after the prompt), from the nearest
    /// checkpoint, never replaying from the start.
    pub fn state_at(&self, cursor: u64) -> RunState {
        let at = self
            .checkpoints
            .partition_point(|c| c.state.generated <= cursor)
            .max(1)
            - 1;
        let checkpoint = &self.checkpoints[at];
        let mut state = checkpoint.state.clone();
        let mut spans = checkpoint.spans.clone();
        for entry in &self.log[checkpoint.log_index.min(self.log.len())..] {
            match *entry {
                LogEntry::Token(i) if i as u64 >= cursor => break,
                LogEntry::Token(_) => state.generated += 1,
                LogEntry::Kv(i) => {
                    let (live, bytes) = (self.kv_live[i as usize], self.kv_bytes[i as usize]);
                    state.live = live;
                    state.bytes = bytes;
                    state.peak = state.peak.max(live);
                    state.peak_bytes = state.peak_bytes.max(bytes);
                }
                LogEntry::Evict(i) => {
                    let e = &self.evictions[i as usize];
                    state.live = e.live;
                    state.bytes = state.bytes.saturating_sub(e.freed_bytes);
                    state.evicted += e.freed;
                    state.evictions += 1;
                }
                LogEntry::Structure(i) => {
                    let b = &self.boundaries[i as usize];
                    // Validated when pushed.
                    let _ = spans.apply(b);
                    match (b.span, b.edge) {
                        (SpanKind::Block, Edge::Close) => state.blocks_closed += 1,
                        (SpanKind::Summary, Edge::Close) => state.mementos_closed += 1,
                        _ => {}
                    }
                }
                LogEntry::Other => {}
            }
        }
        state.open = spans.innermost();
        state
    }

    /// Evicted position ranges in effect once `cursor` tokens have been generated.
    pub fn evicted_at(&self, cursor: u64) -> Vec<Range<u64>> {
        let last = if cursor == 0 {
            self.prompt_len.saturating_sub(1)
        } else {
            self.pos_of(cursor - 1)
        };
        let mut spans: Vec<Range<u64>> = self
            .evictions
            .iter()
            .filter(|e| e.pos <= last)
            .map(|e| e.from..e.to)
            .collect();
        spans.sort_by_key(|r| r.start);
        spans
    }

    /// Seconds since start at generated token `i`, when the trace is timed.
    pub fn time_of(&self, i: u64) -> Option<f64> {
        self.tokens.time(i as usize)
    }
}

/// Folds recorded events straight into a timeline as a recorder emits them (an import counted
/// on the fly), holding no events of its own.
#[derive(Debug, Default)]
pub struct TimelineSink {
    timeline: Option<Timeline>,
}

impl TimelineSink {
    /// The timeline, settled; `None` when no header arrived.
    pub fn finish(self) -> Option<Timeline> {
        self.timeline.map(|mut t| {
            t.settle();
            t
        })
    }
}

impl crate::trace::EventSink for TimelineSink {
    fn header(&mut self, header: &Header) -> std::io::Result<()> {
        self.timeline = Some(Timeline::new(header.clone()));
        Ok(())
    }

    fn event(&mut self, event: &Event) -> std::io::Result<()> {
        let timeline = self
            .timeline
            .as_mut()
            .ok_or_else(|| std::io::Error::other("an event before the header"))?;
        timeline
            .push(event.clone())
            .map_err(|e| std::io::Error::other(e.to_string()))
    }
}
