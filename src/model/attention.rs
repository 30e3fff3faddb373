//! Causal attention of new queries over the paged KV pool's live slots (CPU), for a batch of
//! sequences at once.
//!
//! A sequence's cache holds only live entries, so no eviction mask is needed: a query sees
//! every entry of its sequence up to its own. Entries are read in logical-position order,
//! whatever page they sit on, so a cache whose evictions moved slots between pages computes
//! exactly (bit for bit) what the full cache with those spans masked out computes: the
//! equivalence the tests prove. (With quantized matmuls, whose activations are rounded to 8
//! bits, a different summation order is not "equal within rounding": one flipped rounding moves
//! a logit by tenths.)

use std::sync::OnceLock;

use super::simd::{axpy, axpy_lanes, dot_lanes};
use crate::kv::{KvPool, KvRows};

pub struct AttentionShape {
    pub heads: usize,
    pub kv_heads: usize,
    pub head_dim: usize,
}

/// Slots a work unit covers, counted in visible entries. Fixed (not derived from the thread
/// count) so results do not depend on the machine.
const CHUNK: usize = 512;
/// Queries per work unit in prefill: each key and value row is loaded once for all of them.
const QUERY_TILE: usize = 16;

/// One sequence of a batch: its `t` new queries start at query row `first` of the batch, and
/// `entries` are the physical slots of the cache entries it attends to, in logical-position
/// order ([`crate::kv::SeqCache::attention_order`]); the last `t` are the new tokens'.
pub struct SeqQueries<'a> {
    pub first: usize,
    pub t: usize,
    pub entries: &'a [usize],
}

/// `q`: `rows × heads × head_dim` for the whole batch, already rotated; the pool already holds
/// this layer's K and V for every sequence's new tokens. Writes `rows × heads × head_dim` into
/// `out`.
///
/// Work is cut into (sequence, KV head, query tile, slot chunk) units, so one pass over a
/// chunk's keys and values serves every query head that shares them (grouped-query attention)
/// and every query of the tile, and one decoding query still spreads over all cores. Each unit
/// returns a partial softmax (max, sum, weighted values) per row; the partials are merged in
/// chunk order.
pub fn attend(
    q: &[f32],
    batch: &[SeqQueries<'_>],
    shape: &AttentionShape,
    pool: &KvPool,
    layer: usize,
    out: &mut [f32],
) {
    let d = shape.head_dim;
    let group = shape.heads / shape.kv_heads;
    let scale = 1.0 / (d as f32).sqrt();
    let views: Vec<LayerView> = batch
        .iter()
        .map(|s| LayerView {
            q: &q[s.first * shape.heads * d..(s.first + s.t) * shape.heads * d],
            t: s.t,
            heads: shape.heads,
            group,
            d,
            row: pool.row(),
            keys: pool.keys(layer),
            values: pool.values(layer),
            entries: s.entries,
            scale,
            base: s.entries.len() - s.t,
        })
        .collect();
    let mut units = Vec::new();
    for (seq, view) in views.iter().enumerate() {
        for kv in 0..shape.kv_heads {
            for tile in 0..view.t.div_ceil(QUERY_TILE) {
                let last = ((tile + 1) * QUERY_TILE).min(view.t) - 1;
                for chunk in 0..view.limit(last).div_ceil(CHUNK) {
                    units.push((seq, (kv, tile, chunk)));
                }
            }
        }
    }
    // On candle's pool, whose workers also run the matmuls: a second pool would compete with
    // them for the cores.
    let done: Vec<OnceLock<Partial>> = units.iter().map(|_| OnceLock::new()).collect();
    candle_core::utils::barrier_pool().execute_chunked(units.len(), |range| {
        for u in range {
            let (seq, unit) = units[u];
            let _ = done[u].set(views[seq].unit(unit));
        }
    });
    let mut partials: Vec<Vec<Partial>> = batch.iter().map(|_| Vec::new()).collect();
    for (p, (seq, _)) in done.into_iter().zip(&units) {
        partials[*seq].push(p.into_inner().expect("every unit ran"));
    }
    for (s, partials) in batch.iter().zip(&partials) {
        let rows = s.first * shape.heads * d..(s.first + s.t) * shape.heads * d;
        merge(partials, s.t, shape, &mut out[rows]);
    }
}

/// Merge each row's chunks in order: rescale to the largest max, then normalise.
fn merge(partials: &[Partial], t: usize, shape: &AttentionShape, out: &mut [f32]) {
    let d = shape.head_dim;
    let mut merged_max = vec![f32::NEG_INFINITY; t * shape.heads];
    for p in partials {
        for (r, &(i, h)) in p.rows.iter().enumerate() {
            let m = &mut merged_max[i * shape.heads + h];
            *m = m.max(p.max[r]);
        }
    }
    let mut merged_sum = vec![0f32; t * shape.heads];
    out.fill(0.0);
    for p in partials {
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
    keys: &'a KvRows,
    values: &'a KvRows,
    entries: &'a [usize],
    scale: f32,
    /// Entries before the first new token's.
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
        self.base + i + 1
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
        let slots = &self.entries[span.clone()];
        let keys = RowSource::new(self.keys, slots, self.row, kv * d, d);
        let values = RowSource::new(self.values, slots, self.row, kv * d, d);
        let key = |j: usize| keys.row(j);
        let value = |j: usize| values.row(j);
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

/// One KV head's rows of a unit's slots as f32: borrowed from f32 storage, converted once
/// into a scratch buffer from f16 or q8_0.
enum RowSource<'a> {
    Borrowed {
        data: &'a [f32],
        starts: Vec<usize>,
        d: usize,
    },
    Converted {
        data: Vec<f32>,
        d: usize,
    },
}

impl<'a> RowSource<'a> {
    /// Values `from..from + d` of each physical slot in `slots` (rows of `row` values).
    fn new(rows: &'a KvRows, slots: &[usize], row: usize, from: usize, d: usize) -> Self {
        match rows.as_f32() {
            Some(data) => RowSource::Borrowed {
                data,
                starts: slots.iter().map(|&s| s * row + from).collect(),
                d,
            },
            None => {
                let mut data = vec![0f32; slots.len() * d];
                rows.gather(slots, row, from, d, &mut data);
                RowSource::Converted { data, d }
            }
        }
    }

    #[inline(always)]
    fn row(&self, j: usize) -> &[f32] {
        match self {
            RowSource::Borrowed { data, starts, d } => &data[starts[j]..starts[j] + d],
            RowSource::Converted { data, d } => &data[j * d..(j + 1) * d],
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

/// The same attention through candle tensor ops, in the order candle's reference models use
/// (`q·kᵀ / √d`, mask, softmax, `·v`). It copies the layer's cache into tensors, so it is slow
/// for long contexts; it exists so our forward can be compared with those models op for op.
/// `q` and `out` hold this sequence's `seq.t` query rows only.
pub fn attend_candle(
    q: &[f32],
    seq: &SeqQueries<'_>,
    shape: &AttentionShape,
    pool: &KvPool,
    layer: usize,
    out: &mut [f32],
) -> candle_core::Result<()> {
    use candle_core::{Device, Tensor};
    let dev = Device::Cpu;
    let (h, kvh, d) = (shape.heads, shape.kv_heads, shape.head_dim);
    let t = seq.t;
    let slots = seq.entries.len();
    let base = slots - t;
    let row = pool.row();
    let gather = |rows: &KvRows| {
        let mut all = vec![0f32; slots * row];
        for (out, &s) in all.chunks_exact_mut(row).zip(seq.entries) {
            rows.read(s, row, 0, out);
        }
        all
    };
    let (keys, values) = (gather(pool.keys(layer)), gather(pool.values(layer)));
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
    let k = repeat(to_heads(&keys, slots, kvh)?)?;
    let v = repeat(to_heads(&values, slots, kvh)?)?;
    let att = (q.matmul(&k.t()?)? / (d as f64).sqrt())?;
    let masked: Vec<u8> = (0..t)
        .flat_map(|i| (0..slots).map(move |s| u8::from(s > base + i)))
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
    use crate::kv::{KvDtype, KvStore};

    /// Attention for one store's last `t` slots.
    fn attend_one(q: &[f32], t: usize, shape: &AttentionShape, store: &KvStore, out: &mut [f32]) {
        let entries = store.sequence().attention_order(store.pool());
        let seq = SeqQueries {
            first: 0,
            t,
            entries: &entries,
        };
        attend(q, &[seq], shape, store.pool(), 0, out);
    }

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
            attend_one(&q, 1, &shape, &store, &mut out);
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
        attend_one(&q, t, &shape, &store, &mut out);
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

    fn filled_store(dtype: KvDtype, slots: usize, seed: usize) -> (KvStore, Vec<f32>, Vec<f32>) {
        let row = 2 * 64;
        let k: Vec<f32> = (0..slots * row)
            .map(|i| (((i + seed) * 37) % 101) as f32 / 50.0 - 1.0)
            .collect();
        let v: Vec<f32> = (0..slots * row)
            .map(|i| (((i + seed) * 53) % 103) as f32 / 50.0 - 1.0)
            .collect();
        let mut store = KvStore::with_dtype(dtype, (1, 2, 64), 16).unwrap();
        store
            .begin_append(&(0..slots as u64).collect::<Vec<_>>())
            .unwrap();
        store.write_layer(0, &k, &v);
        (store, k, v)
    }

    /// A batch of sequences in one pool, each of its own length, attends exactly as each
    /// alone.
    #[test]
    fn a_batch_attends_as_its_sequences_alone() {
        let shape = AttentionShape {
            heads: 6,
            kv_heads: 2,
            head_dim: 64,
        };
        let row = 128;
        let lengths = [3usize, 700, 40];
        let mut pool = KvPool::growable(KvDtype::F16, (1, 2, 64), 16).unwrap();
        let mut seqs: Vec<_> = lengths.iter().map(|_| pool.add_sequence()).collect();
        // Interleaved appends, so the sequences' pages mix in the pool.
        let mut alone = Vec::new();
        for (i, &n) in lengths.iter().enumerate() {
            let (store, k, v) = filled_store(KvDtype::F16, n, i);
            for p in 0..n {
                seqs[i].begin_append(&mut pool, &[p as u64]).unwrap();
                seqs[i].write_layer(
                    &mut pool,
                    0,
                    &k[p * row..(p + 1) * row],
                    &v[p * row..(p + 1) * row],
                );
            }
            alone.push(store);
        }
        let q: Vec<f32> = (0..3 * 6 * 64)
            .map(|i| ((i * 11) % 29) as f32 / 14.0 - 1.0)
            .collect();
        let entries: Vec<Vec<usize>> = seqs.iter().map(|s| s.attention_order(&pool)).collect();
        let batch: Vec<SeqQueries> = entries
            .iter()
            .enumerate()
            .map(|(i, entries)| SeqQueries {
                first: i,
                t: 1,
                entries,
            })
            .collect();
        let mut out = vec![0f32; 3 * 6 * 64];
        attend(&q, &batch, &shape, &pool, 0, &mut out);
        for (i, store) in alone.iter().enumerate() {
            let mut one = vec![0f32; 6 * 64];
            attend_one(&q[i * 384..(i + 1) * 384], 1, &shape, store, &mut one);
            assert_eq!(&out[i * 384..(i + 1) * 384], &one[..], "sequence {i}");
        }
    }

    /// f16 and q8_0 storage against the f32 formula: within what their rounding allows.
    #[test]
    fn reduced_precision_storage_stays_near_the_formula() {
        let shape = AttentionShape {
            heads: 4,
            kv_heads: 2,
            head_dim: 64,
        };
        for (dtype, bound) in [
            (KvDtype::F32, 1e-5),
            (KvDtype::F16, 2e-3),
            (KvDtype::Q8, 2e-2),
        ] {
            let (store, k, v) = filled_store(dtype, 300, 5);
            let q: Vec<f32> = (0..4 * 64)
                .map(|i| ((i * 11) % 29) as f32 / 14.0 - 1.0)
                .collect();
            let mut out = vec![0f32; 4 * 64];
            attend_one(&q, 1, &shape, &store, &mut out);
            let want = naive(&q, &k, &v, 300, &shape);
            let err = out
                .iter()
                .zip(&want)
                .fold(0f32, |m, (a, b)| m.max((a - b).abs()));
            assert!(err < bound, "{dtype:?}: error {err}");
        }
    }
}
