//! Span boundaries: what the segmenter emits and what the trace records as structure events.

use serde::{Deserialize, Serialize};

/// The kinds of span inside an assistant turn (DESIGN §1.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SpanKind {
    Think,
    Block,
    Summary,
    Answer,
}

impl SpanKind {
    pub fn label(self) -> &'static str {
        match self {
            SpanKind::Think => "think",
            SpanKind::Block => "block",
            SpanKind::Summary => "memento",
            SpanKind::Answer => "answer",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Edge {
    Open,
    Close,
}

/// Where a tag sits in the token stream: the logical positions of the tokens that spell it
/// (half-open `[from, to)`), and the byte offsets of the tag's first character inside token
/// `from` and one past its last character inside token `to - 1`. A tag that is one special
/// token has `to = from + 1`, `from_byte = 0` and `to_byte` = that token's length.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct TagSpan {
    pub from: u64,
    pub to: u64,
    pub from_byte: u32,
    pub to_byte: u32,
}

/// One open or close of a span.
///
/// `at` is the logical position of the token whose arrival completed this boundary. For a
/// boundary with a tag that is the tag's last token (`tag.to - 1`). An implicit boundary
/// (inserted to recover from malformed structure, or at the end of the stream) has no tag;
/// it takes effect before the token at `at`, so the span it closes ends at `at`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Boundary {
    pub span: SpanKind,
    pub edge: Edge,
    /// Block index (0-based) for blocks and mementos; the block a memento summarises.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub block: Option<u32>,
    pub at: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tag: Option<TagSpan>,
    /// Inserted by the runtime rather than written by the model (scaffolded mode).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub scaffold: bool,
}

impl Boundary {
    pub fn is_implicit(&self) -> bool {
        self.tag.is_none()
    }

    /// First position covered by this boundary's tag (or `at` when implicit).
    pub fn tag_from(&self) -> u64 {
        self.tag.map_or(self.at, |t| t.from)
    }

    /// One past the last position covered by this boundary's tag (or `at` when implicit).
    pub fn tag_to(&self) -> u64 {
        self.tag.map_or(self.at, |t| t.to)
    }

    pub fn name(&self) -> String {
        let edge = match self.edge {
            Edge::Open => "open",
            Edge::Close => "close",
        };
        match self.block {
            Some(b) => format!("{} {} {}", self.span.label(), b + 1, edge),
            None => format!("{} {}", self.span.label(), edge),
        }
    }
}
