//! The streaming segmenter: token texts in, span boundaries and diagnostics out.
//!
//! Tags are matched on the text, so a tag spelled by one special token and a tag split over
//! several ordinary tokens are found alike. Only a possible tag prefix is ever held back, so
//! memory stays bounded by the longest tag. Malformed structure is repaired with implicit
//! boundaries and reported as diagnostics; nothing here panics on any input.

use super::boundary::{Boundary, Edge, SpanKind, TagSpan};
use super::diagnostic::{Diagnostic, DiagnosticCode, Severity};
use super::tags::Tag;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SegmenterConfig {
    /// Track structure only after `<|im_start|>assistant` (the reference implementation's
    /// `require_assistant_section`), so tags quoted in a prompt never trigger anything.
    pub require_assistant_section: bool,
    /// The stream starts inside an assistant turn (the prompt was not fed to the segmenter).
    pub start_in_assistant: bool,
}

impl Default for SegmenterConfig {
    fn default() -> Self {
        SegmenterConfig {
            require_assistant_section: true,
            start_in_assistant: false,
        }
    }
}

impl SegmenterConfig {
    /// For a stream that is only the assistant's response.
    pub fn response_only() -> Self {
        SegmenterConfig {
            require_assistant_section: true,
            start_in_assistant: true,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Turn {
    /// Outside any assistant turn: tags are not tracked.
    Outside,
    /// After `<|im_start|>`, reading the role name up to the end of its line.
    ReadingRole(String),
    Assistant,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    Before,
    Inside,
    After,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Open {
    Nothing,
    Block(u32),
    Summary(Option<u32>),
}

/// One held-back byte of a possible tag, with where it came from.
#[derive(Debug, Clone, Copy)]
struct HeldByte {
    byte: u8,
    pos: u64,
    offset: u32,
}

#[derive(Debug, Clone)]
pub struct Segmenter {
    config: SegmenterConfig,
    turn: Turn,
    phase: Phase,
    open: Open,
    /// The last closed block still waiting for its memento.
    awaiting_memento: Option<u32>,
    next_block: u32,
    answer_open: bool,
    held: Vec<HeldByte>,
    out: Vec<Boundary>,
    diagnostics: Vec<Diagnostic>,
}

impl Segmenter {
    pub fn new(config: SegmenterConfig) -> Self {
        let turn = if config.start_in_assistant || !config.require_assistant_section {
            Turn::Assistant
        } else {
            Turn::Outside
        };
        Segmenter {
            config,
            turn,
            phase: Phase::Before,
            open: Open::Nothing,
            awaiting_memento: None,
            next_block: 0,
            answer_open: false,
            held: Vec::with_capacity(Tag::max_len()),
            out: Vec::new(),
            diagnostics: Vec::new(),
        }
    }

    /// Number of blocks opened so far.
    pub fn blocks_opened(&self) -> u32 {
        self.next_block
    }

    /// The block currently open, if any.
    pub fn open_block(&self) -> Option<u32> {
        match self.open {
            Open::Block(b) => Some(b),
            _ => None,
        }
    }

    /// The memento currently open, if any (with the block it summarises).
    pub fn open_memento(&self) -> Option<Option<u32>> {
        match self.open {
            Open::Summary(b) => Some(b),
            _ => None,
        }
    }

    /// True once the stream has passed `</think>` inside a tracked turn.
    pub fn in_answer(&self) -> bool {
        self.answer_open
    }

    /// Feed the token at logical position `pos` with its decoded text. Returns the boundaries
    /// this token completed, in stream order.
    pub fn push(&mut self, pos: u64, text: &str) -> Vec<Boundary> {
        for (offset, byte) in text.bytes().enumerate() {
            self.feed(HeldByte {
                byte,
                pos,
                offset: offset as u32,
            });
        }
        std::mem::take(&mut self.out)
    }

    /// Feed a token whose text is quoted data (an imported block, memento or problem): its
    /// bytes are text, never part of a tag. Bytes held back as a possible tag are released
    /// as text first, since a tag cannot run from structure into data.
    pub fn push_literal(&mut self, text: &str) -> Vec<Boundary> {
        for held in std::mem::take(&mut self.held) {
            self.text_byte(held.byte);
        }
        text.bytes().for_each(|b| self.text_byte(b));
        std::mem::take(&mut self.out)
    }

    /// End of stream at `end` (one past the last position): held text is plain text, and
    /// every open span is closed implicitly.
    pub fn finish(&mut self, end: u64) -> Vec<Boundary> {
        self.held.clear();
        self.resolve_role();
        if self.tracking() {
            self.end_turn(end, None);
        }
        std::mem::take(&mut self.out)
    }

    /// Diagnostics found since the last call.
    pub fn take_diagnostics(&mut self) -> Vec<Diagnostic> {
        std::mem::take(&mut self.diagnostics)
    }

    fn feed(&mut self, b: HeldByte) {
        if self.held.is_empty() {
            if b.byte == b'<' {
                self.held.push(b);
            } else {
                self.text_byte(b.byte);
            }
            return;
        }
        self.held.push(b);
        let candidate: Vec<u8> = self.held.iter().map(|h| h.byte).collect();
        // Held bytes are all ASCII, so this never fails for a live candidate.
        let Ok(candidate) = std::str::from_utf8(&candidate) else {
            self.release_held();
            return;
        };
        if let Some(tag) = Tag::from_text(candidate) {
            let first = self.held[0];
            let last = self.held[self.held.len() - 1];
            self.held.clear();
            let span = TagSpan {
                from: first.pos,
                to: last.pos + 1,
                from_byte: first.offset,
                to_byte: last.offset + 1,
            };
            self.tag(tag, span);
        } else if !Tag::could_complete(candidate) {
            self.release_held();
        }
    }

    /// The held bytes are not a tag: the first is text, the rest are fed again, since one of
    /// them may start a real tag.
    fn release_held(&mut self) {
        let held = std::mem::take(&mut self.held);
        self.text_byte(held[0].byte);
        for b in &held[1..] {
            self.feed(*b);
        }
    }

    fn text_byte(&mut self, byte: u8) {
        if let Turn::ReadingRole(role) = &mut self.turn {
            if byte == b'\n' {
                self.resolve_role();
            } else if role.len() < 64 {
                role.push(byte as char);
            }
        }
    }

    fn resolve_role(&mut self) {
        if let Turn::ReadingRole(role) = &self.turn {
            let is_assistant = role.trim() == "assistant";
            self.turn = if is_assistant {
                self.phase = Phase::Before;
                self.open = Open::Nothing;
                self.awaiting_memento = None;
                self.answer_open = false;
                Turn::Assistant
            } else {
                Turn::Outside
            };
        }
    }

    fn tracking(&self) -> bool {
        !self.config.require_assistant_section || self.turn == Turn::Assistant
    }

    fn tag(&mut self, tag: Tag, span: TagSpan) {
        self.resolve_role();
        match tag {
            Tag::ImStart => {
                if self.tracking() {
                    // A new turn begins: the assistant turn ends here.
                    self.end_turn(span.from, None);
                }
                if self.config.require_assistant_section {
                    self.turn = Turn::ReadingRole(String::new());
                }
                return;
            }
            Tag::ImEnd => {
                if self.tracking() {
                    self.end_turn(span.from, Some(span));
                }
                if self.config.require_assistant_section {
                    self.turn = Turn::Outside;
                }
                return;
            }
            _ => {}
        }
        if !self.tracking() {
            self.diag(
                span.to - 1,
                Severity::Info,
                DiagnosticCode::IgnoredOutsideAssistant,
                format!("{} outside the assistant section is ignored", tag.text()),
            );
            return;
        }
        match tag {
            Tag::ThinkOpen => self.think_open(span),
            Tag::ThinkClose => self.think_close(span),
            Tag::BlockStart => self.block_start(span),
            Tag::BlockEnd => self.block_end(span),
            Tag::SummaryStart => self.summary_start(span),
            Tag::SummaryEnd => self.summary_end(span),
            Tag::ImStart | Tag::ImEnd => {}
        }
    }

    fn think_open(&mut self, span: TagSpan) {
        if self.phase == Phase::Before && self.open == Open::Nothing {
            self.phase = Phase::Inside;
            self.emit(SpanKind::Think, Edge::Open, None, span.to - 1, Some(span));
        } else {
            self.diag(
                span.to - 1,
                Severity::Warning,
                DiagnosticCode::DuplicateThink,
                "a second <think> is ignored".into(),
            );
        }
    }

    fn think_close(&mut self, span: TagSpan) {
        if self.phase == Phase::After {
            self.stray(span, Tag::ThinkClose, "after the think span already closed");
            return;
        }
        self.close_open_spans(span.from, "</think>");
        if self.phase == Phase::Before {
            self.diag(
                span.to - 1,
                Severity::Info,
                DiagnosticCode::StrayTag,
                "</think> without <think>: the response so far is treated as thinking".into(),
            );
        }
        self.phase = Phase::After;
        self.emit(SpanKind::Think, Edge::Close, None, span.to - 1, Some(span));
        self.answer_open = true;
        self.emit(SpanKind::Answer, Edge::Open, None, span.to, None);
    }

    fn block_start(&mut self, span: TagSpan) {
        if self.phase == Phase::After {
            self.after_think(span, Tag::BlockStart);
            return;
        }
        match self.open {
            Open::Block(b) => {
                self.diag(
                    span.to - 1,
                    Severity::Warning,
                    DiagnosticCode::NestedBlock,
                    format!(
                        "block {} opened while block {} was open; block {} closed here",
                        self.next_block + 1,
                        b + 1,
                        b + 1
                    ),
                );
                self.emit(SpanKind::Block, Edge::Close, Some(b), span.from, None);
                self.block_without_memento(b, span.to - 1);
            }
            Open::Summary(b) => {
                self.diag(
                    span.to - 1,
                    Severity::Warning,
                    DiagnosticCode::UnclosedMemento,
                    format!("{} never ended; a new block starts here", memento_name(b)),
                );
                self.emit(SpanKind::Summary, Edge::Close, b, span.from, None);
            }
            Open::Nothing => {
                if let Some(b) = self.awaiting_memento.take() {
                    self.block_without_memento(b, span.to - 1);
                }
            }
        }
        if self.phase == Phase::Before {
            self.diag(
                span.to - 1,
                Severity::Warning,
                DiagnosticCode::BlockOutsideThink,
                format!("block {} opened before <think>", self.next_block + 1),
            );
        }
        let b = self.next_block;
        self.next_block += 1;
        self.open = Open::Block(b);
        self.awaiting_memento = None;
        self.emit(
            SpanKind::Block,
            Edge::Open,
            Some(b),
            span.to - 1,
            Some(span),
        );
    }

    fn block_end(&mut self, span: TagSpan) {
        if self.phase == Phase::After {
            self.after_think(span, Tag::BlockEnd);
            return;
        }
        match self.open {
            Open::Block(b) => {
                self.open = Open::Nothing;
                self.awaiting_memento = Some(b);
                self.emit(
                    SpanKind::Block,
                    Edge::Close,
                    Some(b),
                    span.to - 1,
                    Some(span),
                );
            }
            Open::Summary(_) => self.stray(span, Tag::BlockEnd, "inside a memento"),
            Open::Nothing => self.stray(span, Tag::BlockEnd, "with no open block"),
        }
    }

    fn summary_start(&mut self, span: TagSpan) {
        if self.phase == Phase::After {
            self.after_think(span, Tag::SummaryStart);
            return;
        }
        let block = match self.open {
            Open::Block(b) => {
                self.diag(
                    span.to - 1,
                    Severity::Warning,
                    DiagnosticCode::MementoInsideBlock,
                    format!(
                        "memento started while block {} was open; block {} closed here",
                        b + 1,
                        b + 1
                    ),
                );
                self.emit(SpanKind::Block, Edge::Close, Some(b), span.from, None);
                Some(b)
            }
            Open::Summary(_) => {
                self.stray(span, Tag::SummaryStart, "inside a memento");
                return;
            }
            Open::Nothing => match self.awaiting_memento.take() {
                Some(b) => Some(b),
                None => {
                    self.diag(
                        span.to - 1,
                        Severity::Warning,
                        DiagnosticCode::MementoWithoutBlock,
                        "memento with no block before it; it will evict nothing".into(),
                    );
                    None
                }
            },
        };
        self.awaiting_memento = None;
        self.open = Open::Summary(block);
        self.emit(
            SpanKind::Summary,
            Edge::Open,
            block,
            span.to - 1,
            Some(span),
        );
    }

    fn summary_end(&mut self, span: TagSpan) {
        if self.phase == Phase::After {
            self.after_think(span, Tag::SummaryEnd);
            return;
        }
        match self.open {
            Open::Summary(b) => {
                self.open = Open::Nothing;
                self.emit(SpanKind::Summary, Edge::Close, b, span.to - 1, Some(span));
            }
            Open::Block(_) => self.stray(span, Tag::SummaryEnd, "inside a block"),
            Open::Nothing => self.stray(span, Tag::SummaryEnd, "with no open memento"),
        }
    }

    /// The assistant turn ends before position `at` (at `<|im_end|>`, a new `<|im_start|>`,
    /// or the end of the stream).
    fn end_turn(&mut self, at: u64, im_end: Option<TagSpan>) {
        let why = if im_end.is_some() {
            "the turn ended"
        } else {
            "the stream ended"
        };
        self.close_open_spans(at, why);
        if let Some(b) = self.awaiting_memento.take() {
            self.block_without_memento(b, at.saturating_sub(1));
        }
        if self.phase == Phase::Inside {
            self.diag(
                at.saturating_sub(1),
                Severity::Info,
                DiagnosticCode::UnclosedThink,
                format!("the think span never closed before {why}"),
            );
            self.emit(SpanKind::Think, Edge::Close, None, at, None);
        }
        if self.answer_open {
            self.answer_open = false;
            match im_end {
                Some(span) => {
                    self.emit(SpanKind::Answer, Edge::Close, None, span.to - 1, Some(span))
                }
                None => self.emit(SpanKind::Answer, Edge::Close, None, at, None),
            }
        }
        self.phase = Phase::After;
    }

    /// Implicitly close an open block or memento before position `at`.
    fn close_open_spans(&mut self, at: u64, why: &str) {
        match self.open {
            Open::Block(b) => {
                self.diag(
                    at.saturating_sub(1),
                    Severity::Warning,
                    DiagnosticCode::UnclosedBlock,
                    format!("block {} was still open when {why}", b + 1),
                );
                self.emit(SpanKind::Block, Edge::Close, Some(b), at, None);
            }
            Open::Summary(b) => {
                self.diag(
                    at.saturating_sub(1),
                    Severity::Warning,
                    DiagnosticCode::UnclosedMemento,
                    format!(
                        "{} was still open when {why}; nothing is evicted",
                        memento_name(b)
                    ),
                );
                self.emit(SpanKind::Summary, Edge::Close, b, at, None);
            }
            Open::Nothing => {}
        }
        self.open = Open::Nothing;
    }

    fn block_without_memento(&mut self, block: u32, at: u64) {
        self.diag(
            at,
            Severity::Info,
            DiagnosticCode::BlockWithoutMemento,
            format!("block {} has no memento; it stays visible", block + 1),
        );
    }

    fn after_think(&mut self, span: TagSpan, tag: Tag) {
        self.diag(
            span.to - 1,
            Severity::Warning,
            DiagnosticCode::TagAfterThink,
            format!("{} after </think> is ignored", tag.text()),
        );
    }

    fn stray(&mut self, span: TagSpan, tag: Tag, context: &str) {
        self.diag(
            span.to - 1,
            Severity::Warning,
            DiagnosticCode::StrayTag,
            format!("stray {} {context} is ignored", tag.text()),
        );
    }

    fn diag(&mut self, at: u64, severity: Severity, code: DiagnosticCode, message: String) {
        self.diagnostics.push(Diagnostic {
            at,
            severity,
            code,
            message,
        });
    }

    fn emit(
        &mut self,
        span: SpanKind,
        edge: Edge,
        block: Option<u32>,
        at: u64,
        tag: Option<TagSpan>,
    ) {
        self.out.push(Boundary {
            span,
            edge,
            block,
            at,
            tag,
            scaffold: false,
        });
    }
}

fn memento_name(block: Option<u32>) -> String {
    match block {
        Some(b) => format!("memento {}", b + 1),
        None => "an orphan memento".into(),
    }
}
