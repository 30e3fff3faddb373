//! Causal attention of new queries over the KV store's live slots (CPU).
//!
//! The store holds only live entries, so no eviction mask is needed: a query sees every slot
//! before it. Slots the store marks hidden are skipped, which is how the equivalence tests
//! build their "full cache with the span masked out" reference; the work is split over
//! visible entries, so both compute the same sums in the same order.

use std::sync::OnceLock;

use super::simd::{axpy, axpy_lanes, dot_lanes};
use crate::kv::KvStore;

pub struct AttentionShape {
    pub heads: usize,
    pub kv_heads: usize,
    pub head_dim: usize,
}

/// Slots a work unit covers, counted in visible entries. Fixed (not derived from the thread
/// count) so results do not depend on the machine, and counted over visible entries so a store
/// with hidden slots computes exactly what the same store with those slots evicted computes.
const CHUNK: usize = 512;
/// Queries per work unit in prefill: each key and value row is loaded once for all of them.
const QUERY_TILE: usize = 16;

/// `q`: `t × heads × head_dim`, already rotated; the store already holds this layer's K and V
/// for the `t` new tokens (its last `t` slots). Writes `t × heads × head_dim` into `out`.
///
/// Work is cut into (KV head, query tile, slot chunk) units, so one pass over a chunk's keys
/// and values serves every query head that shares them (grouped-query attention) and every
/// query of the tile, and a single decoding query still spreads over all cores. Each unit
/// returns a partial softmax (max, sum, weighted values) per row; the partials are merged in
/// chunk order.
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
    let total = keys.len() / row;
    let base = total - t;
    let group = shape.heads / shape.kv_heads;
    let scale = 1.0 / (d as f32).sqrt();
    let visible = VisibleSlots::new(store.hidden(), total);
    let layer = LayerView {
        q,
        t,
        heads: shape.heads,
        group,
        d,
        row,
        keys,
        values,
        scale,
        visible: &visible,
        base,
    };
    let tiles = t.div_ceil(QUERY_TILE);
    let mut units = Vec::new();
    for kv in 0..shape.kv_heads {
        for tile in 0..tiles {
            let last = ((tile + 1) * QUERY_TILE).min(t) - 1;
            for chunk in 0..layer.limit(last).div_ceil(CHUNK) {
                units.push((kv, tile, chunk));
            }
        }
    }
    // On candle's pool, whose workers also run the matmuls: a second pool would compete with
    // them for the cores.
    let done: Vec<OnceLock<Partial>> = units.iter().map(|_| OnceLock::new()).collect();
    candle_core::utils::barrier_pool().execute_chunked(units.len(), |range| {
        for u in range {
            let _ = done[u].set(layer.unit(units[u]));
        }
    });
    let partials: Vec<Partial> = done
        .into_iter()
        .map(|p| p.into_inner().expect("every unit ran"))
        .collect();
    // Merge each row's chunks in order: rescale to the largest max, then normalise.
    let mut merged_max = vec![f32::NEG_INFINITY; t * shape.heads];
    for p in &partials {
        for (r, &(i, h)) in p.rows.iter().enumerate() {
            let m = &mut merged_max[i * shape.heads + h];
            *m = m.max(p.max[r]);
        }
    }
    let mut merged_sum = vec![0f32; t * shape.heads];
    out.fill(0.0);
    for p in &partials {
        for (r, &(i, h)) in p.rows.iter().enumerate() {
            if p.sum[r] == 0.0 {
                continue;
            }
            let item = i * shape.heads + h;
            let w = (p.max[r] - merged_max[item]).exp();
            merged_sum[item] += w * p.sum[r];
            axpy(
                &mut out[item * d..(item + 1) * d],
                w,
                &p.acc[r * d..(r + 1) * d],
            );
        }
    }
    for (o, &z) in out.chunks_mut(d).zip(&merged_sum) {
        let inv = 1.0 / z;
        for x in o.iter_mut() {
            *x *= inv;
        }
    }
}

/// What every work unit of one layer's attention reads.
struct LayerView<'a> {
    q: &'a [f32],
    t: usize,
    heads: usize,
    group: usize,
    d: usize,
    row: usize,
    keys: &'a [f32],
    values: &'a [f32],
    scale: f32,
    visible: &'a VisibleSlots,
    base: usize,
}

impl LayerView<'_> {
    fn unit(&self, unit: (usize, usize, usize)) -> Partial {
        #[cfg(target_arch = "x86_64")]
        if super::simd::has_avx2_fma() {
            // SAFETY: the CPU has the features `unit_avx2` is compiled for.
            return unsafe {
                match self.d {
                    64 => self.unit_avx2::<8>(unit),
                    128 => self.unit_avx2::<16>(unit),
                    _ => self.unit_avx2::<0>(unit),
                }
            };
        }
        self.unit_body::<0>(unit)
    }

    /// The same code compiled with AVX2 and FMA; with `B > 0` (head dim `8 * B`) the dot
    /// products and the weighted sum of values use the register kernels of `simd::avx2`.
    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx2,fma")]
    unsafe fn unit_avx2<const B: usize>(&self, unit: (usize, usize, usize)) -> Partial {
        self.unit_body::<B>(unit)
    }

    /// Visible entries up to and including query `i`'s own slot.
    #[inline(always)]
    fn limit(&self, i: usize) -> usize {
        self.visible.count_up_to(self.base + i + 1)
    }

    /// `B > 0` only when called from `unit_avx2`.
    #[inline(always)]
    fn unit_body<const B: usize>(&self, (kv, tile, chunk): (usize, usize, usize)) -> Partial {
        let d = self.d;
        let queries = tile * QUERY_TILE..((tile + 1) * QUERY_TILE).min(self.t);
        let span = chunk * CHUNK..((chunk + 1) * CHUNK).min(self.limit(queries.end - 1));
        let n = span.len();
        let rows: Vec<(usize, usize)> = queries
            .clone()
            .flat_map(|i| (kv * self.group..(kv + 1) * self.group).map(move |h| (i, h)))
            .collect();
        let key = |j: usize| {
            let s = self.visible.slot(span.start + j);
            &self.keys[s * self.row + kv * d..s * self.row + (kv + 1) * d]
        };
        let value = |j: usize| {
            let s = self.visible.slot(span.start + j);
            &self.values[s * self.row + kv * d..s * self.row + (kv + 1) * d]
        };
        // Entries of the span each row may see: a prefix (causality, counted in visible
        // entries).
        let seen: Vec<usize> = rows
            .iter()
            .map(|&(i, _)| self.limit(i).clamp(span.start, span.end) - span.start)
            .collect();
        let mut scores = vec![f32::NEG_INFINITY; rows.len() * n];
        for (r, &(i, h)) in rows.iter().enumerate() {
            let qh = &self.q[(i * self.heads + h) * d..(i * self.heads + h + 1) * d];
            let out = &mut scores[r * n..r * n + seen[r]];
            #[cfg(target_arch = "x86_64")]
            if B > 0 {
                let mut j = 0;
                while j + 4 <= out.len() {
                    // SAFETY: B > 0 only inside `unit_avx2`, compiled for AVX2 and FMA.
                    let dots = unsafe {
                        super::simd::avx2::dot4::<B>(
                            qh,
                            [key(j), key(j + 1), key(j + 2), key(j + 3)],
                        )
                    };
                    for (x, dot) in out[j..j + 4].iter_mut().zip(dots) {
                        *x = dot * self.scale;
                    }
                    j += 4;
                }
                for (jj, x) in out.iter_mut().enumerate().skip(j) {
                    // SAFETY: as above.
                    *x = unsafe { super::simd::avx2::dot1::<B>(qh, key(jj)) } * self.scale;
                }
                continue;
            }
            for (j, x) in out.iter_mut().enumerate() {
                *x = dot_lanes(qh, key(j)) * self.scale;
            }
        }
        let mut max = vec![f32::NEG_INFINITY; rows.len()];
        let mut sum = vec![0f32; rows.len()];
        for (r, row_scores) in scores.chunks_mut(n).enumerate() {
            max[r] = row_scores.iter().fold(f32::NEG_INFINITY, |m, &x| m.max(x));
            if max[r] == f32::NEG_INFINITY {
                continue;
            }
            for x in row_scores.iter_mut() {
                *x = (*x - max[r]).exp();
                sum[r] += *x;
            }
        }
        let mut acc = vec![0f32; rows.len() * d];
        for (r, a) in acc.chunks_exact_mut(d).enumerate() {
            let weights = &scores[r * n..r * n + seen[r]];
            #[cfg(target_arch = "x86_64")]
            if B > 0 {
                let terms = weights.iter().enumerate().map(|(j, &w)| (w, value(j)));
                // SAFETY: B > 0 only inside `unit_avx2`, compiled for AVX2 and FMA.
                unsafe { super::simd::avx2::weighted_sum::<B>(a, terms) };
                continue;
            }
            for (j, &w) in weights.iter().enumerate() {
                if w > 0.0 {
                    axpy_lanes(a, w, value(j));
                }
            }
        }
        Partial {
            rows,
            max,
            sum,
            acc,
        }
    }
}

/// One unit's share of a softmax: per (query, head) row, the max score, the sum of
/// `exp(score - max)`, and the values weighted by those terms.
struct Partial {
    rows: Vec<(usize, usize)>,
    max: Vec<f32>,
    sum: Vec<f32>,
    acc: Vec<f32>,
}

/// The store's slots that attention may read, in order: all of them, or those not hidden.
enum VisibleSlots {
    All,
    Listed(Vec<usize>),
}

impl VisibleSlots {
    fn new(hidden: &[bool], total: usize) -> VisibleSlots {
        if hidden[..total].iter().any(|&h| h) {
            VisibleSlots::Listed((0..total).filter(|&s| !hidden[s]).collect())
        } else {
            VisibleSlots::All
        }
    }

    /// The slot of the `e`-th visible entry.
    fn slot(&self, e: usize) -> usize {
        match self {
            VisibleSlots::All => e,
            VisibleSlots::Listed(slots) => slots[e],
        }
    }

    /// Visible entries among the first `slots` slots.
    fn count_up_to(&self, slots: usize) -> usize {
        match self {
            VisibleSlots::All => slots,
            VisibleSlots::Listed(list) => list.partition_point(|&s| s < slots),
        }
    }
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

    /// Prefill over several chunks and query tiles, with hidden slots: every query against the
    /// formula over the slots it may see.
    #[test]
    fn chunked_prefill_with_hidden_slots_matches_the_formula() {
        let shape = AttentionShape {
            heads: 4,
            kv_heads: 2,
            head_dim: 8,
        };
        let (slots, t, row) = (1200usize, 20usize, 16usize);
        let mut store = KvStore::new(1, 2, 8);
        let k: Vec<f32> = (0..slots * row)
            .map(|i| ((i * 37) % 101) as f32 / 50.0 - 1.0)
            .collect();
        let v: Vec<f32> = (0..slots * row)
            .map(|i| ((i * 53) % 103) as f32 / 50.0 - 1.0)
            .collect();
        let q: Vec<f32> = (0..t * 4 * 8)
            .map(|i| ((i * 11) % 29) as f32 / 14.0 - 1.0)
            .collect();
        store
            .begin_append(&(0..slots as u64).collect::<Vec<_>>())
            .unwrap();
        store.write_layer(0, &k, &v);
        store.mask(100..700);
        let mut out = vec![0f32; t * 4 * 8];
        attend(&q, t, &shape, &store, 0, &mut out);
        for i in 0..t {
            let seen: Vec<usize> = (0..slots - t + i + 1)
                .filter(|s| !(100..700).contains(s))
                .collect();
            let pick = |data: &[f32]| -> Vec<f32> {
                seen.iter()
                    .flat_map(|&s| data[s * row..(s + 1) * row].to_vec())
                    .collect()
            };
            let want = naive(
                &q[i * 32..(i + 1) * 32],
                &pick(&k),
                &pick(&v),
                seen.len(),
                &shape,
            );
            let err = out[i * 32..(i + 1) * 32]
                .iter()
                .zip(&want)
                .fold(0f32, |m, (a, b)| m.max((a - b).abs()));
            assert!(err < 1e-5, "query {i}: error {err}");
        }
    }
}
