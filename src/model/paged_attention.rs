//! Causal attention of a batch's new queries through each sequence's page table, over a pool
//! held as device tensors ([`crate::kv::DeviceRows`]): the attention of the GPU path.
//!
//! A sequence's i-th live slot is on page `table[i / page_tokens]` at offset
//! `i % page_tokens` (src/kv/pages.rs keeps a sequence's slots dense: an eviction fills the holes
//! of its edge pages with its tail), and its new tokens are its last slots. So the j-th of `t` new
//! queries sees slots `0 .. len − t + j + 1`, whatever positions they hold: the cache keeps only
//! live entries, which is memento attention (DESIGN.md §1.2) with no mask.
//!
//! The CPU half is the reference: an exact softmax per (query, head) in f32. The CUDA half
//! (`kernels/paged_kv.cu`) splits each sequence's keys into partitions and merges them.

use candle_core::{CpuStorage, CustomOp3, Layout, Shape, WithDType, bail};

/// One forward's attention through the page tables: `q` `(rows, heads, head_dim)`, the pool's
/// `keys` and `values` `(layers, slots, kv_heads × head_dim)`; returns `(rows, heads, head_dim)` in
/// the pool's type.
#[derive(Debug, Clone)]
pub struct PagedAttention {
    pub layer: usize,
    pub heads: usize,
    pub kv_heads: usize,
    pub head_dim: usize,
    pub page_tokens: usize,
    pub scale: f32,
    /// `sequences × max_pages` page ids, each table padded with zeros.
    pub block_tables: Vec<u32>,
    pub max_pages: usize,
    /// Live slots of each sequence, its new tokens included.
    pub seq_lens: Vec<u32>,
    /// Query rows of sequence s are `q_starts[s] .. q_starts[s + 1]`.
    pub q_starts: Vec<u32>,
    /// The same tables on the GPU, uploaded once per step by [`PagedAttention::prepare`].
    #[cfg(feature = "cuda")]
    meta: Option<std::sync::Arc<crate::gpu::kernels::AttentionMeta>>,
}

/// One sequence of a paged attention call.
pub struct PagedSequence<'a> {
    /// Its page table: page ids in slot order.
    pub pages: &'a [u32],
    /// Live slots, new tokens included.
    pub len: usize,
    /// New tokens (query rows).
    pub new: usize,
}

impl PagedAttention {
    /// The call for `sequences` (query rows in their order) in `layer`.
    ///
    /// Errors: a sequence with more new tokens than slots, or more slots than its pages hold.
    pub fn new(
        layer: usize,
        (heads, kv_heads, head_dim): (usize, usize, usize),
        page_tokens: usize,
        sequences: &[PagedSequence<'_>],
    ) -> Result<PagedAttention, String> {
        let max_pages = sequences.iter().map(|s| s.pages.len()).max().unwrap_or(0);
        let mut block_tables = vec![0u32; sequences.len() * max_pages.max(1)];
        let mut q_starts = vec![0u32];
        for (i, s) in sequences.iter().enumerate() {
            if s.new > s.len || s.len > s.pages.len() * page_tokens {
                return Err(format!(
                    "paged attention: {} new of {} slots on {} pages of {page_tokens}",
                    s.new,
                    s.len,
                    s.pages.len()
                ));
            }
            block_tables[i * max_pages..i * max_pages + s.pages.len()].copy_from_slice(s.pages);
            q_starts.push(q_starts[i] + s.new as u32);
        }
        Ok(PagedAttention {
            layer,
            heads,
            kv_heads,
            head_dim,
            page_tokens,
            scale: 1.0 / (head_dim as f32).sqrt(),
            block_tables,
            max_pages: max_pages.max(1),
            seq_lens: sequences.iter().map(|s| s.len as u32).collect(),
            q_starts,
            #[cfg(feature = "cuda")]
            meta: None,
        })
    }

    /// Upload the tables to `device` once, when it is a GPU, for every layer's call to share.
    pub fn prepare(&mut self, device: &candle_core::Device) -> candle_core::Result<()> {
        #[cfg(feature = "cuda")]
        if let candle_core::Device::Cuda(d) = device {
            let meta = crate::gpu::kernels::AttentionMeta::upload(self, d)?;
            self.meta = Some(std::sync::Arc::new(meta));
        }
        let _ = device;
        Ok(())
    }

    /// The uploaded tables, if [`PagedAttention::prepare`] ran on a GPU.
    #[cfg(feature = "cuda")]
    pub(crate) fn meta(&self) -> Option<&crate::gpu::kernels::AttentionMeta> {
        self.meta.as_deref()
    }

    /// Query rows in all.
    pub fn rows(&self) -> usize {
        *self.q_starts.last().unwrap_or(&0) as usize
    }

    /// The sequence of each query row.
    pub fn row_sequences(&self) -> Vec<u32> {
        let mut out = Vec::with_capacity(self.rows());
        for (s, w) in self.q_starts.windows(2).enumerate() {
            out.extend(std::iter::repeat_n(s as u32, (w[1] - w[0]) as usize));
        }
        out
    }

    /// Physical slot of sequence `s`'s i-th slot.
    fn slot(&self, s: usize, i: usize) -> usize {
        self.block_tables[s * self.max_pages + i / self.page_tokens] as usize * self.page_tokens
            + i % self.page_tokens
    }

    /// (slots) of the pool, with every shape checked.
    pub(crate) fn check(&self, q: &Layout, k: &Layout, v: &Layout) -> candle_core::Result<usize> {
        let (rows, heads, d) = q.shape().dims3()?;
        let (layers, slots, row) = k.shape().dims3()?;
        if k.shape() != v.shape() {
            bail!(
                "paged attention: keys {:?} but values {:?}",
                k.shape(),
                v.shape()
            )
        }
        if !(q.is_contiguous() && k.is_contiguous() && v.is_contiguous()) {
            bail!("paged attention needs contiguous tensors")
        }
        if rows != self.rows()
            || heads != self.heads
            || d != self.head_dim
            || row != self.kv_heads * self.head_dim
            || self.layer >= layers
            || self.kv_heads == 0
            || heads % self.kv_heads != 0
        {
            bail!(
                "paged attention: q {:?} and a pool of {:?} do not fit {} rows of {}×{} heads \
                 over {} KV heads in layer {}",
                q.shape(),
                k.shape(),
                self.rows(),
                self.heads,
                self.head_dim,
                self.kv_heads,
                self.layer
            )
        }
        if let Some(&bad) = self
            .block_tables
            .iter()
            .find(|&&p| (p as usize + 1) * self.page_tokens > slots)
        {
            bail!("paged attention: page {bad} outside a pool of {slots} slots")
        }
        Ok(slots)
    }

    /// The reference: per query row and head, an exact softmax over the slots it sees.
    fn reference<T: WithDType>(&self, q: &[T], k: &[T], v: &[T]) -> Vec<T> {
        let (heads, d) = (self.heads, self.head_dim);
        let group = heads / self.kv_heads;
        let row = self.kv_heads * d;
        let f = |x: &T| x.to_f64() as f32;
        let mut out = vec![T::zero(); self.rows() * heads * d];
        let mut scores = Vec::new();
        let mut acc = vec![0f32; d];
        for (r, &s) in self.row_sequences().iter().enumerate() {
            let s = s as usize;
            let t = (self.q_starts[s + 1] - self.q_starts[s]) as usize;
            let j = r - self.q_starts[s] as usize;
            let visible = self.seq_lens[s] as usize - t + j + 1;
            for h in 0..heads {
                let kvh = h / group;
                let qh = &q[(r * heads + h) * d..(r * heads + h + 1) * d];
                scores.clear();
                for i in 0..visible {
                    let at = self.slot(s, i) * row + kvh * d;
                    let dot: f32 = qh
                        .iter()
                        .zip(&k[at..at + d])
                        .map(|(a, b)| f(a) * f(b))
                        .sum();
                    scores.push(dot * self.scale);
                }
                let max = scores.iter().copied().fold(f32::NEG_INFINITY, f32::max);
                let mut sum = 0f32;
                acc.fill(0.0);
                for (i, sc) in scores.iter().enumerate() {
                    let p = (sc - max).exp();
                    sum += p;
                    let at = self.slot(s, i) * row + kvh * d;
                    for (a, x) in acc.iter_mut().zip(&v[at..at + d]) {
                        *a += p * f(x);
                    }
                }
                for (o, a) in out[(r * heads + h) * d..(r * heads + h + 1) * d]
                    .iter_mut()
                    .zip(&acc)
                {
                    *o = T::from_f64((a / sum) as f64);
                }
            }
        }
        out
    }
}

impl CustomOp3 for PagedAttention {
    fn name(&self) -> &'static str {
        "paged-attention"
    }

    fn cpu_fwd(
        &self,
        q: &CpuStorage,
        ql: &Layout,
        k: &CpuStorage,
        kl: &Layout,
        v: &CpuStorage,
        vl: &Layout,
    ) -> candle_core::Result<(CpuStorage, Shape)> {
        let slots = self.check(ql, kl, vl)?;
        let span = slots * self.kv_heads * self.head_dim;
        let layer_of = |l: &Layout| l.start_offset() + self.layer * span;
        let (qo, ko, vo) = (ql.start_offset(), layer_of(kl), layer_of(vl));
        let n = self.rows() * self.heads * self.head_dim;
        let out = match (q, k, v) {
            (CpuStorage::F32(q), CpuStorage::F32(k), CpuStorage::F32(v)) => CpuStorage::F32(
                self.reference(&q[qo..qo + n], &k[ko..ko + span], &v[vo..vo + span]),
            ),
            (CpuStorage::F16(q), CpuStorage::F16(k), CpuStorage::F16(v)) => CpuStorage::F16(
                self.reference(&q[qo..qo + n], &k[ko..ko + span], &v[vo..vo + span]),
            ),
            (CpuStorage::BF16(q), CpuStorage::BF16(k), CpuStorage::BF16(v)) => CpuStorage::BF16(
                self.reference(&q[qo..qo + n], &k[ko..ko + span], &v[vo..vo + span]),
            ),
            _ => bail!("paged attention: q and the pool must share one of f32, f16, bf16"),
        };
        Ok((out, ql.shape().clone()))
    }

    #[cfg(feature = "cuda")]
    fn cuda_fwd(
        &self,
        q: &candle_core::CudaStorage,
        ql: &Layout,
        k: &candle_core::CudaStorage,
        kl: &Layout,
        v: &candle_core::CudaStorage,
        vl: &Layout,
    ) -> candle_core::Result<(candle_core::CudaStorage, Shape)> {
        let slots = self.check(ql, kl, vl)?;
        let out = crate::gpu::kernels::paged_attention(self, slots, q, ql, k, kl, v, vl)?;
        Ok((out, ql.shape().clone()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use candle_core::{DType, Device, Tensor};

    /// A sequence whose slots sit on scattered pages attends exactly as the same rows laid
    /// out densely: the page table is the only thing that locates them.
    #[test]
    fn scattered_pages_equal_a_dense_layout() {
        let (heads, kv_heads, d, pt) = (4, 2, 8, 4);
        let row = kv_heads * d;
        let len = 10;
        let dense_pages: Vec<u32> = vec![0, 1, 2];
        let scattered: Vec<u32> = vec![5, 1, 3];
        let values: Vec<f32> = (0..len * row)
            .map(|i| ((i * 37 % 101) as f32 / 50.0) - 1.0)
            .collect();
        let pool = |pages: &[u32]| {
            let mut k = vec![0f32; 6 * pt * row];
            let mut v = vec![0f32; 6 * pt * row];
            for i in 0..len {
                let slot = pages[i / pt] as usize * pt + i % pt;
                k[slot * row..(slot + 1) * row].copy_from_slice(&values[i * row..(i + 1) * row]);
                v[slot * row..(slot + 1) * row]
                    .copy_from_slice(&values[(len - 1 - i) * row..(len - i) * row]);
            }
            (
                Tensor::from_vec(k, (1, 6 * pt, row), &Device::Cpu).unwrap(),
                Tensor::from_vec(v, (1, 6 * pt, row), &Device::Cpu).unwrap(),
            )
        };
        let q: Vec<f32> = (0..3 * heads * d)
            .map(|i| (i as f32 * 0.31).sin())
            .collect();
        let q = Tensor::from_vec(q, (3, heads, d), &Device::Cpu).unwrap();
        let run = |pages: &[u32]| {
            let (k, v) = pool(pages);
            let op = PagedAttention::new(
                0,
                (heads, kv_heads, d),
                pt,
                &[PagedSequence { pages, len, new: 3 }],
            )
            .unwrap();
            q.apply_op3_no_bwd(&k, &v, &op)
                .unwrap()
                .flatten_all()
                .unwrap()
                .to_vec1::<f32>()
                .unwrap()
        };
        let (a, b) = (run(&dense_pages), run(&scattered));
        assert_eq!(a, b);
        // The first new query (slot 7) sees 8 slots, the last all 10: they differ.
        assert_ne!(a[..heads * d], a[2 * heads * d..]);
    }

    /// Against a plain softmax(q·kᵀ/√d)·v over the visible rows, for two sequences in one call,
    /// grouped heads, and f16 storage.
    #[test]
    fn matches_plain_attention_for_a_batch() {
        let (heads, kv_heads, d, pt) = (6, 2, 4, 2);
        let row = kv_heads * d;
        let slots = 16;
        let k: Vec<f32> = (0..slots * row)
            .map(|i| ((i * 13 % 29) as f32 / 14.0) - 1.0)
            .collect();
        let v: Vec<f32> = (0..slots * row)
            .map(|i| ((i * 7 % 23) as f32 / 11.0) - 1.0)
            .collect();
        let tables: [Vec<u32>; 2] = [vec![3, 0], vec![7, 2, 5]];
        let seqs = [
            PagedSequence {
                pages: &tables[0],
                len: 3,
                new: 1,
            },
            PagedSequence {
                pages: &tables[1],
                len: 5,
                new: 2,
            },
        ];
        let q: Vec<f32> = (0..3 * heads * d).map(|i| (i as f32 * 0.7).cos()).collect();
        let op = PagedAttention::new(0, (heads, kv_heads, d), pt, &seqs).unwrap();
        let to = |x: &[f32], shape: (usize, usize, usize)| {
            Tensor::from_vec(x.to_vec(), shape, &Device::Cpu).unwrap()
        };
        let got = to(&q, (3, heads, d))
            .to_dtype(DType::F16)
            .unwrap()
            .apply_op3_no_bwd(
                &to(&k, (1, slots, row)).to_dtype(DType::F16).unwrap(),
                &to(&v, (1, slots, row)).to_dtype(DType::F16).unwrap(),
                &op,
            )
            .unwrap()
            .to_dtype(DType::F32)
            .unwrap()
            .flatten_all()
            .unwrap()
            .to_vec1::<f32>()
            .unwrap();
        // (sequence, query row, slots seen)
        for (s, r, seen) in [(0usize, 0usize, 3usize), (1, 1, 4), (1, 2, 5)] {
            for h in 0..heads {
                let kvh = h / 3;
                let qh = &q[(r * heads + h) * d..(r * heads + h + 1) * d];
                let slot = |i: usize| tables[s][i / pt] as usize * pt + i % pt;
                let scores: Vec<f32> = (0..seen)
                    .map(|i| {
                        let at = slot(i) * row + kvh * d;
                        qh.iter()
                            .zip(&k[at..at + d])
                            .map(|(a, b)| a * b)
                            .sum::<f32>()
                            / (d as f32).sqrt()
                    })
                    .collect();
                let max = scores.iter().copied().fold(f32::MIN, f32::max);
                let z: f32 = scores.iter().map(|s| (s - max).exp()).sum();
                for c in 0..d {
                    let want: f32 = (0..seen)
                        .map(|i| (scores[i] - max).exp() / z * v[slot(i) * row + kvh * d + c])
                        .sum();
                    let have = got[(r * heads + h) * d + c];
                    assert!(
                        (have - want).abs() < 2e-2,
                        "row {r} head {h}: {have} vs {want}"
                    );
                }
            }
        }
    }

    #[test]
    fn refuses_what_does_not_fit() {
        let e = PagedAttention::new(
            0,
            (2, 1, 4),
            4,
            &[PagedSequence {
                pages: &[0],
                len: 5,
                new: 1,
            }],
        )
        .unwrap_err();
        assert!(e.contains("1 pages of 4"), "{e}");
        let op = PagedAttention::new(
            0,
            (2, 1, 4),
            4,
            &[PagedSequence {
                pages: &[9],
                len: 2,
                new: 1,
            }],
        )
        .unwrap();
        let q = Tensor::zeros((1, 2, 4), DType::F32, &Device::Cpu).unwrap();
        let kv = Tensor::zeros((1, 8, 4), DType::F32, &Device::Cpu).unwrap();
        let e = q.apply_op3_no_bwd(&kv, &kv, &op).unwrap_err().to_string();
        assert!(e.contains("page 9 outside a pool of 8 slots"), "{e}");
    }
}
