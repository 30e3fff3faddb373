//! The decoder layer over a pool of device tensors ([`crate::kv::DeviceRows`]): the GPU path.
//! Everything stays on the model's device (projections, norms, RoPE, the KV write, paged
//! attention, the MLP); the host sends ids and page tables and reads back logits. On the CPU
//! the same code runs the kernels' CPU halves: the reference the GPU is checked against, and
//! what the CPU tests prove equal to the host path.

use candle_core::{DType, Tensor};

use super::error::ModelError;
use super::forward::{BatchInput, BatchRows};
use super::paged_attention::{PagedAttention, PagedSequence};
use super::weights::LayerWeights;
use super::{Model, RopeStyle};
use crate::kv::{DeviceRows, KvPool, StepSlots};

/// What every layer of one tensor forward shares: RoPE tables per row, the rows' slots, and
/// the page tables attention reads.
pub(super) struct TensorStep {
    cos: Tensor,
    sin: Tensor,
    slots: StepSlots,
    attention: PagedAttention,
}

impl Model {
    /// Build the step's shared inputs, or say why this batch cannot take the tensor path.
    pub(super) fn tensor_step(
        &self,
        pool: &KvPool,
        batch: &[BatchInput<'_>],
        placed: &[BatchRows],
    ) -> Result<TensorStep, ModelError> {
        let c = &self.config;
        let mut cos = Vec::new();
        let mut sin = Vec::new();
        let mut slots = Vec::new();
        for (input, rows) in batch.iter().zip(placed) {
            let (c, s) = self.rope.tables(&rows.rope);
            cos.extend(c);
            sin.extend(s);
            slots.extend(input.seq.pending_slots().iter().map(|&s| s as u32));
        }
        let total = slots.len();
        let half = c.head_dim / 2;
        let table = |v: Vec<f32>| -> Result<Tensor, ModelError> {
            Ok(Tensor::from_vec(v, (total, half), &self.device)?)
        };
        let sequences: Vec<PagedSequence> = batch
            .iter()
            .zip(placed)
            .map(|(input, rows)| PagedSequence {
                pages: pool.page_table(input.seq),
                len: input.seq.len(),
                new: rows.t,
            })
            .collect();
        let mut attention = PagedAttention::new(
            0,
            (c.heads, c.kv_heads, c.head_dim),
            pool.page_tokens(),
            &sequences,
        )
        .map_err(ModelError::Input)?;
        attention.prepare(&self.device)?;
        Ok(TensorStep {
            cos: table(cos)?,
            sin: table(sin)?,
            slots: StepSlots::new(slots, &self.device)?,
            attention,
        })
    }

    /// One decoder layer for the batch's `total` rows `x` (`(total, hidden)`), writing the
    /// rows' K and V into the pool's tensors.
    pub(super) fn layer_tensors(
        &self,
        layer: usize,
        w: &LayerWeights,
        x: &Tensor,
        step: &TensorStep,
        rows: &DeviceRows,
    ) -> Result<Tensor, ModelError> {
        let c = &self.config;
        let eps = c.rms_eps as f32;
        let total = step.slots.len();
        let h = candle_nn::ops::rms_norm(x, &w.attn_norm, eps)?;
        let mut q = w.q.forward(&h)?;
        let mut k = w.k.forward(&h)?;
        let v = w.v.forward(&h)?;
        if let (Some(qn), Some(kn)) = (&w.q_norm, &w.k_norm) {
            q = super::forward::head_norm(&q, qn, total, c.heads, c.head_dim, eps)?;
            k = super::forward::head_norm(&k, kn, total, c.kv_heads, c.head_dim, eps)?;
        }
        let q = self.rotate(&q, c.heads, step)?;
        let k = self.rotate(&k, c.kv_heads, step)?;
        rows.write_step(
            layer,
            &step.slots,
            &k.reshape((total, c.kv_heads * c.head_dim))?,
            &v,
        )?;
        let mut op = step.attention.clone();
        op.layer = layer;
        let att = q
            .to_dtype(rows.dtype())?
            .apply_op3_no_bwd(rows.keys(), rows.values(), &op)?
            .to_dtype(x.dtype())?
            .reshape((total, c.heads * c.head_dim))?;
        let x = (x + w.o.forward(&att)?)?;
        let h = candle_nn::ops::rms_norm(&x, &w.ffn_norm, eps)?;
        let gate = candle_nn::ops::silu(&w.gate.forward(&h)?)?;
        let mlp = w.down.forward(&(gate * w.up.forward(&h)?)?)?;
        Ok((x + mlp)?)
    }

    /// RoPE on `x` (`(total, heads × head_dim)`) at each row's position; returns
    /// `(total, heads, head_dim)`, contiguous.
    fn rotate(&self, x: &Tensor, heads: usize, step: &TensorStep) -> Result<Tensor, ModelError> {
        let total = step.slots.len();
        let d = self.config.head_dim;
        // candle's RoPE takes (batch, heads, tokens, dim) with one table row per token.
        let x = x
            .reshape((1, total, heads, d))?
            .transpose(1, 2)?
            .contiguous()?;
        // In f32 whatever the model's type: bf16 angles would lose the position's low digits
        // at long contexts.
        let dtype = x.dtype();
        let x = x.to_dtype(DType::F32)?;
        let y = match self.rope.style() {
            RopeStyle::Halves => candle_nn::rotary_emb::rope(&x, &step.cos, &step.sin)?,
            RopeStyle::Interleaved => candle_nn::rotary_emb::rope_i(&x, &step.cos, &step.sin)?,
        };
        Ok(y.to_dtype(dtype)?
            .transpose(1, 2)?
            .reshape((total, heads, d))?
            .contiguous()?)
    }
}
