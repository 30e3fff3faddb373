//! Findings about malformed structure: reported, recovered from, never fatal.

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Severity {
    Info,
    Warning,
    /// The run cannot go on (the engine's own findings, such as non-finite logits).
    Error,
}

/// What went wrong, as a stable machine-readable code.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DiagnosticCode {
    /// A `<|block_start|>` while a block was already open.
    NestedBlock,
    /// A block still open when its think span, its turn or the stream ended.
    UnclosedBlock,
    /// A memento still open when its think span, its turn or the stream ended.
    UnclosedMemento,
    /// A `<|summary_start|>` with no completed block waiting for a memento.
    MementoWithoutBlock,
    /// A `<|summary_start|>` while a block was still open (its `<|block_end|>` is missing).
    MementoInsideBlock,
    /// A closed block followed by something other than its memento: it stays visible.
    BlockWithoutMemento,
    /// The think span was still open when the turn or the stream ended.
    UnclosedThink,
    /// A block or memento tag after `</think>`.
    TagAfterThink,
    /// A close tag with nothing open, or a tag that makes no sense where it appears.
    StrayTag,
    /// A second `<think>`.
    DuplicateThink,
    /// A block opened before any `<think>`.
    BlockOutsideThink,
    /// A MEMENTO tag outside the assistant section, ignored by the assistant-section rule.
    IgnoredOutsideAssistant,
    /// The model's logits held NaN or an infinity: its weights or arithmetic are broken, and
    /// the run stopped rather than sample from them.
    NonFiniteLogits,
    /// A remote stream with no MEMENTO tag at all: the server dropped special tokens (it was
    /// not asked to keep them, or ignored the request) or the model does not write them.
    NoStructureTags,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Diagnostic {
    pub at: u64,
    pub severity: Severity,
    pub code: DiagnosticCode,
    pub message: String,
}
