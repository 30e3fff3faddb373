//! The decoder forward: embeddings, layers, final norm, LM head, with the KV store passed in.
//!
//! Projections, norms and the MLP run on candle ops; RoPE and attention run over the store's
//! host slots, so a store with evicted spans (gapped positions, compacted slots) is attended
//! exactly as it is.

use candle_core::Tensor;

use super::attention::{AttentionShape, attend, attend_candle};
use super::error::ModelError;
use super::weights::LayerWeights;
use super::{AttentionKernel, Model};
use crate::kv::KvStore;

/// Which rows of the chunk need logits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogitRows {
    /// Only the last token's (decoding, prefill).
    Last,
    /// Every token's (teacher forcing, tests).
    All,
    /// None: fill the cache only.
    None,
}

impl Model {
    /// Append `ids` at logical `positions` to `store` and return the requested logit rows.
    pub fn forward(
        &self,
        store: &mut KvStore,
        ids: &[u32],
        positions: &[u64],
        rows: LogitRows,
    ) -> Result<Vec<Vec<f32>>, ModelError> {
        let c = &self.config;
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        if ids.len() != positions.len() {
            return Err(ModelError::Input(format!(
                "{} tokens but {} positions",
                ids.len(),
                positions.len()
            )));
        }
        if let Some(&bad) = ids.iter().find(|&&id| id as usize >= c.vocab) {
            return Err(ModelError::Input(format!(
                "token id {bad} is outside the model's vocabulary of {} tokens",
                c.vocab
            )));
        }
        if let Some(&last) = positions.last() {
            let rope_last = store.rope_position_for(last);
            if rope_last as usize >= c.context {
                return Err(ModelError::Input(format!(
                    "position {rope_last} is beyond the model's context of {} tokens",
                    c.context
                )));
            }
        }
        let rope_positions = store.begin_append(positions).map_err(ModelError::Input)?;
        let t = ids.len();
        let ids_t = Tensor::new(ids, &self.device)?;
        let mut x = self.weights.embedding.index_select(&ids_t, 0)?;
        for (layer, w) in self.weights.layers.iter().enumerate() {
            x = self.layer(layer, w, &x, t, &rope_positions, store)?;
        }
        let x = match rows {
            LogitRows::None => return Ok(Vec::new()),
            LogitRows::Last => x.narrow(0, t - 1, 1)?,
            LogitRows::All => x,
        };
        let x = candle_nn::ops::rms_norm(&x, &self.weights.final_norm, c.rms_eps as f32)?;
        let logits = self.weights.lm_head.forward(&x)?;
        Ok(logits.to_vec2::<f32>()?)
    }

    fn layer(
        &self,
        layer: usize,
        w: &LayerWeights,
        x: &Tensor,
        t: usize,
        rope_positions: &[u64],
        store: &mut KvStore,
    ) -> Result<Tensor, ModelError> {
        let c = &self.config;
        let eps = c.rms_eps as f32;
        let h = candle_nn::ops::rms_norm(x, &w.attn_norm, eps)?;
        let mut q = w.q.forward(&h)?;
        let mut k = w.k.forward(&h)?;
        let v = w.v.forward(&h)?;
        if let (Some(qn), Some(kn)) = (&w.q_norm, &w.k_norm) {
            q = head_norm(&q, qn, t, c.heads, c.head_dim, eps)?;
            k = head_norm(&k, kn, t, c.kv_heads, c.head_dim, eps)?;
        }
        let mut q = q.flatten_all()?.to_vec1::<f32>()?;
        let mut k = k.flatten_all()?.to_vec1::<f32>()?;
        let v = v.flatten_all()?.to_vec1::<f32>()?;
        self.rope.apply(&mut q, rope_positions);
        self.rope.apply(&mut k, rope_positions);
        store.write_layer(layer, &k, &v);
        let mut att = vec![0f32; t * c.heads * c.head_dim];
        let shape = AttentionShape {
            heads: c.heads,
            kv_heads: c.kv_heads,
            head_dim: c.head_dim,
        };
        match self.attention {
            AttentionKernel::Host => attend(&q, t, &shape, store, layer, &mut att),
            AttentionKernel::CandleOps => attend_candle(&q, t, &shape, store, layer, &mut att)?,
        }
        let att = Tensor::from_vec(att, (t, c.heads * c.head_dim), &self.device)?;
        let x = (x + w.o.forward(&att)?)?;
        let h = candle_nn::ops::rms_norm(&x, &w.ffn_norm, eps)?;
        let gate = candle_nn::ops::silu(&w.gate.forward(&h)?)?;
        let mlp = w.down.forward(&(gate * w.up.forward(&h)?)?)?;
        Ok((x + mlp)?)
    }
}

/// RMS-normalise each head of `x` (`t × heads·d`) with the shared weight `w` (`d`).
fn head_norm(
    x: &Tensor,
    w: &Tensor,
    t: usize,
    heads: usize,
    d: usize,
    eps: f32,
) -> Result<Tensor, ModelError> {
    let y = candle_nn::ops::rms_norm(&x.reshape((t * heads, d))?, w, eps)?;
    Ok(y.reshape((t, heads * d))?.contiguous()?)
}

/// Index of the largest value (the greedy token).
pub fn argmax(row: &[f32]) -> u32 {
    let mut best = 0;
    for (i, &x) in row.iter().enumerate() {
        if x > row[best] {
            best = i;
        }
    }
    best as u32
}
