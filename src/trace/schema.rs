//! Trace format v1: a JSONL file whose first line is a [`Header`] and every other line one
//! [`Event`]. Documented in `docs/trace-format.md`; JSON Schema in
//! `docs/trace-format.schema.json`.

use serde::{Deserialize, Serialize};

use crate::kv::{EvictionReason, KvPolicy, KvShape};
use crate::structure::{Boundary, DiagnosticCode, Severity, SpanKind};

pub const FORMAT_NAME: &str = "memento-trace";
pub const FORMAT_MAJOR: u32 = 1;
/// 1: the header's `sampler`, the end reason `context_full`.
pub const FORMAT_MINOR: u32 = 1;

pub fn format_version() -> String {
    format!("{FORMAT_MAJOR}.{FORMAT_MINOR}")
}

/// The first line of a trace.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Header {
    /// Always `memento-trace`.
    pub format: String,
    /// `MAJOR.MINOR`. Readers refuse an unknown major version and accept newer minors.
    pub version: String,
    /// RFC 3339 creation time.
    pub created: String,
    /// The program that wrote the trace, e.g. `memento 0.1.0`.
    pub generator: String,
    pub model: ModelInfo,
    pub tokenizer: TokenizerInfo,
    /// The policy the recorded `kv` and `evict` events follow.
    pub policy: KvPolicy,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source: Option<SourceInfo>,
    /// Tokens between `snapshot` events.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub snapshot_every: Option<u32>,
    /// The sampler a decoded run used, as it took effect (absent in imported traces).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sampler: Option<SamplerInfo>,
}

/// The sampler settings in effect for a run, including those chosen for the user: a run
/// that says "greedy" but applied a repeat penalty says so here.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SamplerInfo {
    /// 0 = greedy.
    pub temperature: f32,
    /// 0 = off.
    pub top_k: u64,
    /// 1 = off.
    pub top_p: f32,
    /// 0 = off.
    pub min_p: f32,
    /// 1 = off.
    pub repeat_penalty: f32,
    /// Recent tokens the repeat penalty looks at.
    pub repeat_last_n: u64,
    pub seed: u64,
    /// The settings chosen automatically rather than by the user, with why, e.g.
    /// `{"repeat_penalty": "scaffolded"}`.
    #[serde(default, skip_serializing_if = "std::collections::BTreeMap::is_empty")]
    pub automatic: std::collections::BTreeMap<String, String>,
}

impl SamplerInfo {
    /// How tokens are drawn, in words: `greedy`, or `T 0.7 top-k 40 top-p 0.9 min-p 0.05`
    /// with only the filters that are on.
    pub fn sampling(temperature: f32, top_k: u64, top_p: f32, min_p: f32) -> String {
        if temperature == 0.0 {
            return "greedy".into();
        }
        let mut s = format!("T {temperature}");
        if top_k > 0 {
            s.push_str(&format!(" top-k {top_k}"));
        }
        if top_p < 1.0 {
            s.push_str(&format!(" top-p {top_p}"));
        }
        if min_p > 0.0 {
            s.push_str(&format!(" min-p {min_p}"));
        }
        s
    }

    /// One line: `greedy · repeat 1.20 (auto: scaffolded) · seed 0`.
    pub fn summary(&self) -> String {
        let auto = |name: &str| {
            self.automatic
                .get(name)
                .map_or(String::new(), |why| format!(" (auto: {why})"))
        };
        let mut parts = vec![SamplerInfo::sampling(
            self.temperature,
            self.top_k,
            self.top_p,
            self.min_p,
        )];
        if self.repeat_penalty != 1.0 {
            parts.push(format!(
                "repeat {:.2}{}",
                self.repeat_penalty,
                auto("repeat_penalty")
            ));
        }
        parts.push(format!("seed {}", self.seed));
        parts.join(" · ")
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ModelInfo {
    pub name: String,
    /// The shape KV bytes are computed for.
    pub shape: KvShape,
}

/// Where token counts came from.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum TokenizerInfo {
    /// No tokenizer: each tag is one token; any other run of n characters is max(1, ⌊n/4⌋).
    Estimate { rule: String },
    /// A Hugging Face `tokenizer.json`.
    HfJson { path: String, vocab_size: u64 },
    /// Rebuilt from a GGUF file's metadata.
    Gguf {
        path: String,
        pre: String,
        vocab_size: u64,
    },
    /// The model's own tokenizer, tokens produced by decoding.
    Model { name: String, vocab_size: u64 },
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SourceKind {
    Import,
    Synthetic,
    Engine,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SourceInfo {
    pub kind: SourceKind,
    /// Importer format, e.g. `segments-json`, `openmementos-jsonl`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub format: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path: Option<String>,
    /// Row (0-based) in a multi-row source.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub row: Option<u64>,
    /// The source's own identifier (a task id, a problem source).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub seed: Option<u64>,
    /// The reference answer, when the source gives one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub answer: Option<String>,
}

/// Every line after the header. `seq` numbers events from 0; `t` is seconds since the run
/// started (absent in imported traces, which have no timing).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Event {
    Prompt(PromptEvent),
    Token(TokenEvent),
    Structure(StructureEvent),
    Kv(KvEvent),
    Evict(EvictEvent),
    Marker(MarkerEvent),
    Snapshot(SnapshotEvent),
    Diagnostic(DiagnosticEvent),
    End(EndEvent),
}

impl Event {
    pub fn seq(&self) -> u64 {
        match self {
            Event::Prompt(e) => e.seq,
            Event::Token(e) => e.seq,
            Event::Structure(e) => e.seq,
            Event::Kv(e) => e.seq,
            Event::Evict(e) => e.seq,
            Event::Marker(e) => e.seq,
            Event::Snapshot(e) => e.seq,
            Event::Diagnostic(e) => e.seq,
            Event::End(e) => e.seq,
        }
    }

    pub fn type_name(&self) -> &'static str {
        match self {
            Event::Prompt(_) => "prompt",
            Event::Token(_) => "token",
            Event::Structure(_) => "structure",
            Event::Kv(_) => "kv",
            Event::Evict(_) => "evict",
            Event::Marker(_) => "marker",
            Event::Snapshot(_) => "snapshot",
            Event::Diagnostic(_) => "diagnostic",
            Event::End(_) => "end",
        }
    }
}

/// The prompt, prefilled as one step at positions `0..tokens`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PromptEvent {
    pub seq: u64,
    #[serde(
        default,
        with = "super::float::opt_f64",
        skip_serializing_if = "Option::is_none"
    )]
    pub t: Option<f64>,
    pub text: String,
    pub tokens: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ids: Option<Vec<u32>>,
}

/// One generated (or imported) token.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TokenEvent {
    pub seq: u64,
    #[serde(
        default,
        with = "super::float::opt_f64",
        skip_serializing_if = "Option::is_none"
    )]
    pub t: Option<f64>,
    /// Logical position (prompt included).
    pub pos: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<u32>,
    pub text: String,
    #[serde(
        default,
        with = "super::float::opt_f32",
        skip_serializing_if = "Option::is_none"
    )]
    pub logprob: Option<f32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub top: Option<Vec<Alternative>>,
    /// Inserted by the runtime (scaffolded mode), not sampled.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub scaffold: bool,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Alternative {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<u32>,
    pub text: String,
    /// The model's own log-probability (log-softmax of the logits).
    #[serde(with = "super::float::f32_value")]
    pub logprob: f32,
    /// The log-probability the sampler saw, after its repeat penalty and the tokens it
    /// masked (before temperature and truncation); absent when they changed nothing.
    #[serde(
        default,
        with = "super::float::opt_f32",
        skip_serializing_if = "Option::is_none"
    )]
    pub sampled_logprob: Option<f32>,
}

/// A span opens or closes; see [`Boundary`] for the fields.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StructureEvent {
    pub seq: u64,
    #[serde(
        default,
        with = "super::float::opt_f64",
        skip_serializing_if = "Option::is_none"
    )]
    pub t: Option<f64>,
    #[serde(flatten)]
    pub boundary: Boundary,
}

/// Cache occupancy after the step that processed position `pos`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct KvEvent {
    pub seq: u64,
    #[serde(
        default,
        with = "super::float::opt_f64",
        skip_serializing_if = "Option::is_none"
    )]
    pub t: Option<f64>,
    pub pos: u64,
    pub live: u64,
    pub bytes: u64,
}

/// A span left the cache during the step that processed position `pos`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EvictEvent {
    pub seq: u64,
    #[serde(
        default,
        with = "super::float::opt_f64",
        skip_serializing_if = "Option::is_none"
    )]
    pub t: Option<f64>,
    pub pos: u64,
    pub block: u32,
    /// Evicted logical positions, half-open `[from, to)`.
    pub from: u64,
    pub to: u64,
    /// Entries freed.
    pub freed: u64,
    pub freed_bytes: u64,
    /// Live entries right after the eviction.
    pub live: u64,
    pub reason: EvictionReason,
    /// Restart only: memento positions recomputed without the block.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub recompute: Option<[u64; 2]>,
}

/// A user bookmark.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MarkerEvent {
    pub seq: u64,
    #[serde(
        default,
        with = "super::float::opt_f64",
        skip_serializing_if = "Option::is_none"
    )]
    pub t: Option<f64>,
    pub pos: u64,
    pub label: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
}

/// The cumulative state after the step that processed position `pos`, so a reader can seek
/// without replaying from the start.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SnapshotEvent {
    pub seq: u64,
    #[serde(
        default,
        with = "super::float::opt_f64",
        skip_serializing_if = "Option::is_none"
    )]
    pub t: Option<f64>,
    pub pos: u64,
    #[serde(flatten)]
    pub state: RunState,
}

/// Counters that summarise a run up to some step.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RunState {
    /// Tokens generated (prompt excluded).
    pub generated: u64,
    pub live: u64,
    pub bytes: u64,
    pub peak: u64,
    pub peak_bytes: u64,
    /// Entries evicted so far.
    pub evicted: u64,
    pub blocks_closed: u64,
    pub mementos_closed: u64,
    pub evictions: u64,
    /// The innermost span open after this step.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub open: Option<OpenSpan>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct OpenSpan {
    pub kind: SpanKind,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub block: Option<u32>,
}

/// Malformed structure found by the segmenter.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DiagnosticEvent {
    pub seq: u64,
    #[serde(
        default,
        with = "super::float::opt_f64",
        skip_serializing_if = "Option::is_none"
    )]
    pub t: Option<f64>,
    pub at: u64,
    pub severity: Severity,
    pub code: DiagnosticCode,
    pub message: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EndReason {
    /// The model emitted end-of-sequence.
    Eos,
    /// The token limit was reached.
    MaxTokens,
    /// The model's context was full: no position was left for another token.
    ContextFull,
    /// The user stopped the run.
    Stopped,
    /// An imported or generated transcript ended.
    Complete,
    Error,
}

impl EndReason {
    /// Why the stream ended, in words for the views and reports.
    pub fn label(self) -> &'static str {
        match self {
            EndReason::Eos => "end of answer",
            EndReason::MaxTokens => "max tokens",
            EndReason::ContextFull => "context full",
            EndReason::Stopped => "stopped",
            EndReason::Complete => "complete",
            EndReason::Error => "error",
        }
    }
}

/// The last event of a complete trace, with totals.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EndEvent {
    pub seq: u64,
    #[serde(
        default,
        with = "super::float::opt_f64",
        skip_serializing_if = "Option::is_none"
    )]
    pub t: Option<f64>,
    pub reason: EndReason,
    pub prompt_tokens: u64,
    /// Seconds the engine spent prefilling and decoding this stream. The clock between tokens
    /// cannot stand in for them when two streams take turns on one engine (a compare run).
    #[serde(
        default,
        with = "super::float::opt_f64",
        skip_serializing_if = "Option::is_none"
    )]
    pub prefill_seconds: Option<f64>,
    #[serde(
        default,
        with = "super::float::opt_f64",
        skip_serializing_if = "Option::is_none"
    )]
    pub decode_seconds: Option<f64>,
    #[serde(flatten)]
    pub totals: RunState,
}
