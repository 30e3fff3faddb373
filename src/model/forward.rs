//! The decoder forward: embeddings, layers, final norm, LM head, with the KV store passed in.
//!
//! Projections, norms and the MLP run on candle ops; RoPE and attention run over the store's
//! host slots, so a store with evicted spans (gapped positions, compacted slots) is attended
//! exactly as it is.

use candle_core::Tensor;

use super::attention::{AttentionShape, SeqQueries, attend, attend_candle};
use super::error::ModelError;
use super::weights::LayerWeights;
use super::{AttentionKernel, Model};
use crate::kv::{KvPool, KvStore, SeqCache};

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

/// One sequence's share of a batched forward pass: `ids` at logical `positions`, appended to
/// `seq`'s cache in the pool.
pub struct BatchInput<'a> {
    pub seq: &'a mut SeqCache,
    pub ids: &'a [u32],
    pub positions: &'a [u64],
    pub rows: LogitRows,
}

/// Tokens per sequence a forward pass on the tensor path takes at once: a longer prefill goes
/// in rounds, which bounds paged attention's scratch (rows × heads × partitions × head_dim
/// floats; a whole 32k-token prompt at once would want tens of GB).
pub const TENSOR_CHUNK: usize = 512;

/// Where one sequence's rows sit in a batch, and what it needs per layer.
pub(super) struct BatchRows {
    pub(super) first: usize,
    pub(super) t: usize,
    pub(super) rope: Vec<u64>,
    /// The cache entries its queries read, in position order (the host path's).
    pub(super) entries: Vec<usize>,
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
        let (pool, seq) = store.parts_mut();
        let mut batch = [BatchInput {
            seq,
            ids,
            positions,
            rows,
        }];
        Ok(self.forward_batch(pool, &mut batch)?.remove(0))
    }

    /// One forward pass for a batch of sequences sharing `pool`: the projections and the MLP
    /// run once over every sequence's rows (one pass over the weights), attention runs per
    /// sequence through its own pages. Returns each sequence's requested logit rows, in order.
    ///
    /// Errors: a bad id or position, or a pool that cannot hold the new tokens (then no
    /// sequence's cache changes).
    pub fn forward_batch(
        &self,
        pool: &mut KvPool,
        batch: &mut [BatchInput<'_>],
    ) -> Result<Vec<Vec<Vec<f32>>>, ModelError> {
        if pool.tensors().is_some() && batch.iter().any(|b| b.ids.len() > TENSOR_CHUNK) {
            return self.forward_in_chunks(pool, batch);
        }
        self.forward_batch_once(pool, batch)
    }

    /// [`Model::forward_batch`] on the tensor path in rounds of at most [`TENSOR_CHUNK`] tokens
    /// per sequence: the same result (each round appends to the caches what causal attention
    /// would have seen), with attention's scratch bounded. On an error every sequence's new
    /// tokens are dropped again.
    fn forward_in_chunks(
        &self,
        pool: &mut KvPool,
        batch: &mut [BatchInput<'_>],
    ) -> Result<Vec<Vec<Vec<f32>>>, ModelError> {
        let longest = batch.iter().map(|b| b.ids.len()).max().unwrap_or(0);
        let mut out: Vec<Vec<Vec<f32>>> = batch.iter().map(|_| Vec::new()).collect();
        for round in 0..longest.div_ceil(TENSOR_CHUNK) {
            let mut part: Vec<BatchInput<'_>> = batch
                .iter_mut()
                .map(|b| {
                    let n = b.ids.len();
                    let (from, to) = (
                        (round * TENSOR_CHUNK).min(n),
                        ((round + 1) * TENSOR_CHUNK).min(n),
                    );
                    let rows = match b.rows {
                        LogitRows::All => LogitRows::All,
                        LogitRows::Last if from < to && to == n => LogitRows::Last,
                        _ => LogitRows::None,
                    };
                    BatchInput {
                        seq: &mut *b.seq,
                        ids: &b.ids[from..to],
                        positions: &b.positions[from..to],
                        rows,
                    }
                })
                .collect();
            let done = self.forward_batch_once(pool, &mut part);
            drop(part);
            match done {
                Ok(rows) => {
                    for (o, r) in out.iter_mut().zip(rows) {
                        o.extend(r);
                    }
                }
                Err(e) => {
                    for b in batch.iter_mut() {
                        if let Some(&from) = b.positions.first() {
                            b.seq.truncate_from(pool, from);
                        }
                    }
                    return Err(e);
                }
            }
        }
        Ok(out)
    }

    fn forward_batch_once(
        &self,
        pool: &mut KvPool,
        batch: &mut [BatchInput<'_>],
    ) -> Result<Vec<Vec<Vec<f32>>>, ModelError> {
        let c = &self.config;
        if let Some(fault) = pool.take_fault() {
            return Err(ModelError::Device(fault));
        }
        let tensors = pool.tensors().is_some();
        for input in batch.iter() {
            self.check_input(input)?;
            if tensors && input.seq.hidden().iter().any(|&h| h) {
                return Err(ModelError::Input(
                    "a cache with masked spans is attended on the host pool only".into(),
                ));
            }
        }
        let mut placed: Vec<BatchRows> = Vec::with_capacity(batch.len());
        let mut first = 0;
        for (i, input) in batch.iter_mut().enumerate() {
            match input.seq.begin_append(pool, input.positions) {
                Ok(rope) => {
                    placed.push(BatchRows {
                        first,
                        t: input.ids.len(),
                        rope,
                        entries: if tensors {
                            Vec::new()
                        } else {
                            input.seq.attention_order(pool)
                        },
                    });
                    first += input.ids.len();
                }
                Err(message) => {
                    for earlier in &mut batch[..i] {
                        if let Some(&from) = earlier.positions.first() {
                            earlier.seq.truncate_from(pool, from);
                        }
                    }
                    return Err(ModelError::Input(message));
                }
            }
        }
        let total = first;
        let ids: Vec<u32> = batch.iter().flat_map(|b| b.ids.iter().copied()).collect();
        if ids.is_empty() {
            return Ok(batch.iter().map(|_| Vec::new()).collect());
        }
        let ids_t = Tensor::new(ids.as_slice(), &self.device)?;
        let mut x = self.weights.embedding.index_select(&ids_t, 0)?;
        if let Some(rows) = pool.tensors() {
            let step = self.tensor_step(pool, batch, &placed)?;
            for (layer, w) in self.weights.layers.iter().enumerate() {
                x = self.layer_tensors(layer, w, &x, &step, rows)?;
            }
        } else {
            for (layer, w) in self.weights.layers.iter().enumerate() {
                x = self.layer(layer, w, &x, total, batch, &placed, pool)?;
            }
        }
        // The rows that need logits, through the final norm and LM head together.
        let mut wanted: Vec<u32> = Vec::new();
        let mut counts = Vec::with_capacity(batch.len());
        for (input, rows) in batch.iter().zip(&placed) {
            let picked: Vec<usize> = match (input.rows, rows.t) {
                (_, 0) | (LogitRows::None, _) => Vec::new(),
                (LogitRows::Last, t) => vec![rows.first + t - 1],
                (LogitRows::All, t) => (rows.first..rows.first + t).collect(),
            };
            counts.push(picked.len());
            wanted.extend(picked.into_iter().map(|r| r as u32));
        }
        let mut logits = if wanted.is_empty() {
            Vec::new()
        } else {
            let x = x.index_select(&Tensor::new(wanted.as_slice(), &self.device)?, 0)?;
            let x = candle_nn::ops::rms_norm(&x, &self.weights.final_norm, c.rms_eps as f32)?;
            self.weights
                .lm_head
                .forward(&x)?
                .to_dtype(candle_core::DType::F32)?
                .to_vec2::<f32>()?
        }
        .into_iter();
        Ok(counts
            .into_iter()
            .map(|n| logits.by_ref().take(n).collect())
            .collect())
    }

    fn check_input(&self, input: &BatchInput<'_>) -> Result<(), ModelError> {
        let c = &self.config;
        if input.ids.len() != input.positions.len() {
            return Err(ModelError::Input(format!(
                "{} tokens but {} positions",
                input.ids.len(),
                input.positions.len()
            )));
        }
        if let Some(&bad) = input.ids.iter().find(|&&id| id as usize >= c.vocab) {
            return Err(ModelError::Input(format!(
                "token id {bad} is outside the model's vocabulary of {} tokens",
                c.vocab
            )));
        }
        if let Some(&last) = input.positions.last() {
            let rope_last = input.seq.rope_position_for(last);
            if rope_last as usize >= c.context {
                return Err(ModelError::Input(format!(
                    "position {rope_last} is beyond the model's context of {} tokens",
                    c.context
                )));
            }
        }
        Ok(())
    }

    #[allow(clippy::too_many_arguments)]
    fn layer(
        &self,
        layer: usize,
        w: &LayerWeights,
        x: &Tensor,
        total: usize,
        batch: &[BatchInput<'_>],
        placed: &[BatchRows],
        pool: &mut KvPool,
    ) -> Result<Tensor, ModelError> {
        let c = &self.config;
        let eps = c.rms_eps as f32;
        let h = candle_nn::ops::rms_norm(x, &w.attn_norm, eps)?;
        let mut q = w.q.forward(&h)?;
        let mut k = w.k.forward(&h)?;
        let v = w.v.forward(&h)?;
        if let (Some(qn), Some(kn)) = (&w.q_norm, &w.k_norm) {
            q = head_norm(&q, qn, total, c.heads, c.head_dim, eps)?;
            k = head_norm(&k, kn, total, c.kv_heads, c.head_dim, eps)?;
        }
        // The host kernels work in f32 (a half-precision model on a GPU whose shape the paged
        // kernels do not serve comes here too).
        let host = |t: &Tensor| -> Result<Vec<f32>, ModelError> {
            Ok(t.flatten_all()?
                .to_dtype(candle_core::DType::F32)?
                .to_vec1::<f32>()?)
        };
        let (mut q, mut k, v) = (host(&q)?, host(&k)?, host(&v)?);
        let (qw, kw) = (c.heads * c.head_dim, c.kv_heads * c.head_dim);
        for (input, rows) in batch.iter().zip(placed) {
            let (from, to) = (rows.first, rows.first + rows.t);
            self.rope.apply(&mut q[from * qw..to * qw], &rows.rope);
            self.rope.apply(&mut k[from * kw..to * kw], &rows.rope);
            input
                .seq
                .write_layer(pool, layer, &k[from * kw..to * kw], &v[from * kw..to * kw]);
        }
        let mut att = vec![0f32; total * qw];
        let shape = AttentionShape {
            heads: c.heads,
            kv_heads: c.kv_heads,
            head_dim: c.head_dim,
        };
        let queries: Vec<SeqQueries> = batch
            .iter()
            .zip(placed)
            .filter(|(_, rows)| rows.t > 0)
            .map(|(_, rows)| SeqQueries {
                first: rows.first,
                t: rows.t,
                entries: &rows.entries,
            })
            .collect();
        match self.attention {
            // A host pool under the paged kernel (a pool made before the switch): the host
            // kernel is the one that reads host rows.
            AttentionKernel::Host | AttentionKernel::Paged => {
                attend(&q, &queries, &shape, pool, layer, &mut att)
            }
            AttentionKernel::CandleOps => {
                for s in &queries {
                    let rows = s.first * qw..(s.first + s.t) * qw;
                    attend_candle(&q[rows.clone()], s, &shape, pool, layer, &mut att[rows])?;
                }
            }
        }
        let att = Tensor::from_vec(att, (total, qw), &self.device)?.to_dtype(x.dtype())?;
        let x = (x + w.o.forward(&att)?)?;
        let h = candle_nn::ops::rms_norm(&x, &w.ffn_norm, eps)?;
        let gate = candle_nn::ops::silu(&w.gate.forward(&h)?)?;
        let mlp = w.down.forward(&(gate * w.up.forward(&h)?)?)?;
        Ok((x + mlp)?)
    }
}

/// RMS-normalise each head of `x` (`t × heads·d`) with the shared weight `w` (`d`).
pub(super) fn head_norm(
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
