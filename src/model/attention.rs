//! Causal attention of new queries over the KV store's live slots (CPU).
//!
//! The store holds only live entries, so no eviction mask is needed: a query sees every slot
//! before it. Slots the store marks hidden are skipped, which is how the equivalence tests
//! build their "full cache with the span masked out" reference.

use rayon::prelude::*;

use super::simd::{axpy, dot};
use crate::kv::KvStore;

pub struct AttentionShape {
    pub heads: usize,
    pub kv_heads: usize,
    pub head_dim: usize,
}

/// `q`: `t × heads × head_dim`, already rotated; the store already holds this layer's K and V
/// for the `t` new tokens (its last `t` slots). Writes `t × heads × head_dim` into `out`.
pub fn attend(
    q: &[f32],
    t: usize,
    shape: &AttentionShape,
    store: &KvStore,
    layer: usize,
    out: &mut [f32],
) {
    let d = shape.head_dim;
    let row = store.row();
    let keys = store.keys(layer);
    let values = store.values(layer);
    let hidden = store.hidden();
    let total = keys.len() / row;
    let base = total - t;
    let group = shape.heads / shape.kv_heads;
    let scale = 1.0 / (d as f32).sqrt();
    out.par_chunks_mut(d).enumerate().for_each(|(item, o)| {
        let (i, h) = (item / shape.heads, item % shape.heads);
        let kv = (h / group) * d;
        let qh = &q[item * d..(item + 1) * d];
        let visible = base + i + 1;
        let mut scores = Vec::with_capacity(visible);
        let mut max = f32::NEG_INFINITY;
        for s in 0..visible {
            if hidden[s] {
                scores.push(f32::NEG_INFINITY);
                continue;
            }
            let k = &keys[s * row + kv..s * row + kv + d];
            let x = dot(qh, k) * scale;
            max = max.max(x);
            scores.push(x);
        }
        let mut sum = 0f32;
        for x in &mut scores {
            *x = (*x - max).exp();
            sum += *x;
        }
        o.fill(0.0);
        for (s, &w) in scores.iter().enumerate() {
            if w != 0.0 {
                axpy(o, w, &values[s * row + kv..s * row + kv + d]);
            }
        }
        let inv = 1.0 / sum;
        for x in o.iter_mut() {
            *x *= inv;
        }
    });
}

/// The same attention through candle tensor ops, in the order candle's reference models use
/// (`q·kᵀ / √d`, mask, softmax, `·v`). It copies the layer's cache into tensors, so it is slow
/// for long contexts; it exists so our forward can be compared with those models op for op.
pub fn attend_candle(
    q: &[f32],
    t: usize,
    shape: &AttentionShape,
    store: &KvStore,
    layer: usize,
    out: &mut [f32],
) -> candle_core::Result<()> {
    use candle_core::{Device, Tensor};
    let dev = Device::Cpu;
    let (h, kvh, d) = (shape.heads, shape.kv_heads, shape.head_dim);
    let slots = store.keys(layer).len() / store.row();
    let base = slots - t;
    let to_heads = |data: &[f32], n: usize, heads: usize| -> candle_core::Result<Tensor> {
        Tensor::from_slice(data, (1, n, heads, d), &dev)?
            .transpose(1, 2)?
            .contiguous()
    };
    let repeat = |x: Tensor| -> candle_core::Result<Tensor> {
        let rep = h / kvh;
        if rep == 1 {
            return Ok(x);
        }
        Tensor::cat(&vec![&x; rep], 2)?.reshape((1, h, slots, d))
    };
    let q = to_heads(q, t, h)?;
    let k = repeat(to_heads(store.keys(layer), slots, kvh)?)?;
    let v = repeat(to_heads(store.values(layer), slots, kvh)?)?;
    let att = (q.matmul(&k.t()?)? / (d as f64).sqrt())?;
    let hidden = store.hidden();
    let masked: Vec<u8> = (0..t)
        .flat_map(|i| (0..slots).map(move |s| u8::from(s > base + i || hidden[s])))
        .collect();
    let att = if masked.contains(&1) {
        let mask = Tensor::from_slice(&masked, (t, slots), &dev)?.broadcast_as(att.shape())?;
        let neg = Tensor::new(f32::NEG_INFINITY, &dev)?.broadcast_as(att.shape())?;
        mask.where_cond(&neg, &att)?
    } else {
        att
    };
    let att = candle_nn::ops::softmax_last_dim(&att)?;
    let y = att
        .matmul(&v.contiguous()?)?
        .transpose(1, 2)?
        .reshape((t * h * d,))?;
    out.copy_from_slice(&y.to_vec1::<f32>()?);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Attention written out in full, in f64, as the reference.
    fn naive(q: &[f32], k: &[f32], v: &[f32], slots: usize, shape: &AttentionShape) -> Vec<f32> {
        let (h, kvh, d) = (shape.heads, shape.kv_heads, shape.head_dim);
        let mut out = vec![0f32; h * d];
        for head in 0..h {
            let kv = head / (h / kvh);
            let scores: Vec<f64> = (0..slots)
                .map(|s| {
                    (0..d)
                        .map(|j| q[head * d + j] as f64 * k[s * kvh * d + kv * d + j] as f64)
                        .sum::<f64>()
                        / (d as f64).sqrt()
                })
                .collect();
            let m = scores.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
            let z: f64 = scores.iter().map(|x| (x - m).exp()).sum();
            for j in 0..d {
                let acc: f64 = (0..slots)
                    .map(|s| (scores[s] - m).exp() / z * v[s * kvh * d + kv * d + j] as f64)
                    .sum();
                out[head * d + j] = acc as f32;
            }
        }
        out
    }

    #[test]
    fn decode_attention_matches_the_formula() {
        let shape = AttentionShape {
            heads: 6,
            kv_heads: 2,
            head_dim: 16,
        };
        for slots in [1usize, 4, 5, 9, 40] {
            let mut store = KvStore::new(1, 2, 16);
            let row = 32;
            let k: Vec<f32> = (0..slots * row)
                .map(|i| ((i * 37) % 101) as f32 / 50.0 - 1.0)
                .collect();
            let v: Vec<f32> = (0..slots * row)
                .map(|i| ((i * 53) % 103) as f32 / 50.0 - 1.0)
                .collect();
            let q: Vec<f32> = (0..6 * 16)
                .map(|i| ((i * 11) % 29) as f32 / 14.0 - 1.0)
                .collect();
            store
                .begin_append(&(0..slots as u64).collect::<Vec<_>>())
                .unwrap();
            store.write_layer(0, &k, &v);
            let mut out = vec![0f32; 6 * 16];
            attend(&q, 1, &shape, &store, 0, &mut out);
            let want = naive(&q, &k, &v, slots, &shape);
            let err = out
                .iter()
                .zip(&want)
                .fold(0f32, |m, (a, b)| m.max((a - b).abs()));
            assert!(err < 1e-5, "{slots} slots: error {err}");
        }
    }
}
