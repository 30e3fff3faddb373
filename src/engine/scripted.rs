//! A decoder without weights: it makes a greedy run write a fixed token script, and keeps
//! only the logical positions of its cache, so tests drive the real [`super::Run`] (recording,
//! the policy's evictions, restart's recompute, the end of the stream) quickly and
//! deterministically. The logits at each position put a margin of 10 on the script's next
//! token (then on end of sequence once the script is spent).

use std::ops::Range;

use super::decoder::{Decoder, DecoderInfo};
use crate::kv::{KvMemory, KvShape};
use crate::model::{LogitRows, ModelError, ModelTokenizer};

pub struct ScriptedDecoder {
    script: Vec<u32>,
    vocab: usize,
    eos: u32,
    context: usize,
    /// Where the prompt ends: the script starts at this logical position.
    prompt_end: Option<u64>,
    positions: Vec<u64>,
    shape: KvShape,
}

impl ScriptedDecoder {
    /// A decoder that writes `text` as `tokenizer` spells it, then ends the sequence with
    /// `eos`.
    pub fn new(tokenizer: &ModelTokenizer, text: &str, eos: u32) -> Result<Self, ModelError> {
        let script = tokenizer.encode(text)?.into_iter().map(|p| p.1).collect();
        Ok(ScriptedDecoder {
            script,
            vocab: tokenizer.vocab_size(),
            eos,
            context: 1 << 16,
            prompt_end: None,
            positions: Vec::new(),
            shape: KvShape::preset("smollm2-135m").expect("a built-in shape"),
        })
    }

    /// Logits choosing what follows logical position `pos`.
    fn logits_after(&self, pos: u64) -> Vec<f32> {
        let next = self
            .prompt_end
            .and_then(|end| self.script.get((pos + 1).checked_sub(end)? as usize))
            .copied()
            .unwrap_or(self.eos);
        let mut logits = vec![0f32; self.vocab];
        logits[next as usize] = 10.0;
        logits
    }
}

impl Decoder for ScriptedDecoder {
    fn info(&self) -> DecoderInfo {
        DecoderInfo {
            name: "scripted".into(),
            shape: self.shape.clone(),
            vocab: self.vocab,
            context: self.context,
            eos: vec![self.eos],
            can_rerotate: true,
        }
    }

    fn set_rerotate(&mut self, _on: bool) {}

    fn forward(
        &mut self,
        ids: &[u32],
        positions: &[u64],
        rows: LogitRows,
    ) -> Result<Vec<Vec<f32>>, ModelError> {
        if ids.len() != positions.len() {
            return Err(ModelError::Input(format!(
                "{} tokens but {} positions",
                ids.len(),
                positions.len()
            )));
        }
        let last = self.positions.iter().copied().max();
        if let (Some(l), Some(&p)) = (last, positions.first()) {
            if p <= l {
                return Err(ModelError::Input(format!(
                    "KV append at position {p} after position {l}: positions must increase"
                )));
            }
        }
        self.positions.extend_from_slice(positions);
        self.positions.sort_unstable();
        // The first forward pass is the prompt's prefill.
        if self.prompt_end.is_none() {
            self.prompt_end = positions.last().map(|p| p + 1);
        }
        Ok(match rows {
            LogitRows::None => Vec::new(),
            LogitRows::Last => positions
                .last()
                .map(|&p| vec![self.logits_after(p)])
                .unwrap_or_default(),
            LogitRows::All => positions.iter().map(|&p| self.logits_after(p)).collect(),
        })
    }

    fn evict(&mut self, span: Range<u64>) -> usize {
        let before = self.positions.len();
        self.positions.retain(|p| !span.contains(p));
        before - self.positions.len()
    }

    fn truncate_from(&mut self, from: u64) {
        self.positions.retain(|&p| p < from);
    }

    fn cached(&self) -> usize {
        self.positions.len()
    }

    fn memory(&self) -> KvMemory {
        let bytes = self.positions.len() as u64 * self.shape.bytes_per_token();
        KvMemory {
            live_bytes: bytes,
            reserved_bytes: bytes,
        }
    }
}
