//! What a run decodes with: the [`Decoder`] interface, apart from the decode loop itself
//! ([`super::Run`]), as serving engines keep the model runner apart from the engine loop. A
//! decoder owns a sequence's KV cache: it appends tokens and returns logits, and evicts or
//! rewinds spans of logical positions when the run's policy says so.
//!
//! [`ModelDecoder`] is the real one (our forward pass over a paged KV store);
//! [`super::scripted::ScriptedDecoder`] writes a fixed token script and keeps only positions,
//! so tests drive the real run (recording, policy, eviction, restart) without weights.

use std::ops::Range;

use crate::kv::{KvMemory, KvShape, KvStore};
use crate::model::{LogitRows, Model, ModelError};

/// What a run needs to know of its decoder before the first token.
#[derive(Debug, Clone, PartialEq)]
pub struct DecoderInfo {
    /// The model's display name (the trace header's).
    pub name: String,
    /// The KV shape the trace header records, storage type included.
    pub shape: KvShape,
    pub vocab: usize,
    /// Logical positions the model can address.
    pub context: usize,
    /// End-of-sequence ids.
    pub eos: Vec<u32>,
    /// Whether keys can be turned back by a fixed rotation after an eviction (no RoPE scaling
    /// that depends on the length).
    pub can_rerotate: bool,
}

pub trait Decoder {
    fn info(&self) -> DecoderInfo;
    /// Close position gaps on eviction by re-rotating keys (an experiment; off by default).
    fn set_rerotate(&mut self, on: bool);
    /// Append `ids` at logical `positions` (increasing, after every cached one) and return the
    /// logits of the requested rows (`vocab` values each).
    fn forward(
        &mut self,
        ids: &[u32],
        positions: &[u64],
        rows: LogitRows,
    ) -> Result<Vec<Vec<f32>>, ModelError>;
    /// Free every cached entry whose logical position is in `span`; returns how many.
    fn evict(&mut self, span: Range<u64>) -> usize;
    /// Drop every cached entry from logical position `from` on (to recompute them).
    fn truncate_from(&mut self, from: u64);
    /// Entries cached.
    fn cached(&self) -> usize;
    fn memory(&self) -> KvMemory;
}

/// The real decoder: a model and one sequence's KV store.
pub struct ModelDecoder<'m> {
    pub model: &'m Model,
    pub store: KvStore,
}

impl Decoder for ModelDecoder<'_> {
    fn info(&self) -> DecoderInfo {
        let name = self.model.name();
        DecoderInfo {
            shape: self
                .model
                .config
                .kv_shape(&name)
                .with_dtype(self.store.dtype()),
            name,
            vocab: self.model.config.vocab,
            context: self.model.config.context,
            eos: self.model.config.eos.clone(),
            can_rerotate: !self.model.rope().depends_on_length(),
        }
    }

    fn set_rerotate(&mut self, on: bool) {
        self.store.set_rerotate(on);
    }

    fn forward(
        &mut self,
        ids: &[u32],
        positions: &[u64],
        rows: LogitRows,
    ) -> Result<Vec<Vec<f32>>, ModelError> {
        self.model.forward(&mut self.store, ids, positions, rows)
    }

    fn evict(&mut self, span: Range<u64>) -> usize {
        self.model.evict(&mut self.store, span)
    }

    fn truncate_from(&mut self, from: u64) {
        self.store.truncate_from(from);
    }

    fn cached(&self) -> usize {
        self.store.len()
    }

    fn memory(&self) -> KvMemory {
        self.store.memory()
    }
}
