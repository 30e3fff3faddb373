//! Block-masked attention with a backward pass, for training on the CPU.
//!
//! candle's fused softmax has no backward (candle issues #2168, #3569), and a dense additive
//! mask over `T × T` scores costs several full passes per op in autograd. This op computes
//! `softmax(q·kᵀ/√d)·v` over each query's visible keys only ([`RowVisibility`]), with
//! grouped-query heads, and its exact gradient: the backward recomputes each row's softmax
//! (nothing of size `T × T` is stored).
//!
//! Shapes: `q` is `(B, T, H, D)`, `k` and `v` are `(B, T, KVH, D)`, the output `(B, T, H, D)`;
//! all f32. Work is split into (row, KV head) units, each of which owns its slices of every
//! output and gradient, so the result does not depend on the thread count.

use std::sync::{Arc, Mutex, OnceLock};

use candle_core::{CpuStorage, CustomOp3, Layout, Shape, Tensor};

use super::visibility::RowVisibility;
#[cfg(target_arch = "x86_64")]
use crate::model::simd::has_avx2_fma;

/// The attention op for one batch; `rows[b]` says what row `b`'s queries see.
#[derive(Clone)]
pub struct MaskedAttention {
    pub rows: Arc<Vec<RowVisibility>>,
    pub heads: usize,
    pub kv_heads: usize,
    pub head_dim: usize,
}

/// The op as applied once: the softmax weights its forward pass computed, per unit, kept
/// for its backward pass (a few megabytes a layer, against recomputing every score).
#[derive(Clone)]
struct Applied {
    op: MaskedAttention,
    probs: Arc<Mutex<Option<Vec<Vec<f32>>>>>,
}

impl MaskedAttention {
    /// Apply to `q`, `k`, `v` (made contiguous here) with gradients tracked.
    pub fn forward(&self, q: &Tensor, k: &Tensor, v: &Tensor) -> candle_core::Result<Tensor> {
        let applied = Applied {
            op: self.clone(),
            probs: Arc::new(Mutex::new(None)),
        };
        q.contiguous()?
            .apply_op3(&k.contiguous()?, &v.contiguous()?, applied)
    }

    fn dims(&self) -> Dims {
        let t = self.rows.first().map_or(0, RowVisibility::len);
        Dims {
            b: self.rows.len(),
            t,
            h: self.heads,
            kvh: self.kv_heads,
            d: self.head_dim,
            group: self.heads / self.kv_heads.max(1),
            scale: 1.0 / (self.head_dim as f32).sqrt(),
        }
    }

    fn check(&self, q: &Layout, k: &Layout, v: &Layout) -> candle_core::Result<Dims> {
        let dims = self.dims();
        let want_q = [dims.b, dims.t, dims.h, dims.d];
        let want_kv = [dims.b, dims.t, dims.kvh, dims.d];
        if q.dims() != want_q || k.dims() != want_kv || v.dims() != want_kv {
            candle_core::bail!(
                "masked attention: q {:?}, k {:?}, v {:?}; expected q {want_q:?}, k and v {want_kv:?}",
                q.dims(),
                k.dims(),
                v.dims()
            );
        }
        if self.rows.iter().any(|r| r.len() != dims.t) {
            candle_core::bail!("masked attention: rows of different lengths");
        }
        if dims.kvh == 0 || dims.h % dims.kvh != 0 {
            candle_core::bail!(
                "masked attention: {} heads over {} KV heads",
                dims.h,
                dims.kvh
            );
        }
        Ok(dims)
    }
}

#[derive(Debug, Clone, Copy)]
struct Dims {
    b: usize,
    t: usize,
    h: usize,
    kvh: usize,
    d: usize,
    group: usize,
    scale: f32,
}

impl Dims {
    fn q_at(&self, b: usize, i: usize, h: usize) -> usize {
        ((b * self.t + i) * self.h + h) * self.d
    }

    fn kv_at(&self, b: usize, j: usize, kvh: usize) -> usize {
        ((b * self.t + j) * self.kvh + kvh) * self.d
    }
}

fn contiguous<'a>(s: &'a CpuStorage, l: &Layout) -> candle_core::Result<&'a [f32]> {
    let data = match s {
        CpuStorage::F32(d) => d.as_slice(),
        _ => candle_core::bail!("masked attention: f32 tensors only"),
    };
    match l.contiguous_offsets() {
        Some((a, b)) => Ok(&data[a..b]),
        None => candle_core::bail!("masked attention: contiguous tensors only"),
    }
}

/// One (row, KV head) unit's keys and values, with K and V also transposed (`d × t`) so that
/// a query's scores against a run of keys are computed eight keys to a register, with no
/// horizontal sums.
struct UnitKv {
    /// `t × d`
    k: Vec<f32>,
    v: Vec<f32>,
    /// `d × t`
    kt: Vec<f32>,
    vt: Vec<f32>,
}

impl UnitKv {
    fn gather(k: &[f32], v: &[f32], dims: &Dims, b: usize, kvh: usize) -> UnitKv {
        let (t, d) = (dims.t, dims.d);
        let mut out = UnitKv {
            k: vec![0f32; t * d],
            v: vec![0f32; t * d],
            kt: vec![0f32; t * d],
            vt: vec![0f32; t * d],
        };
        for j in 0..t {
            let at = dims.kv_at(b, j, kvh);
            out.k[j * d..(j + 1) * d].copy_from_slice(&k[at..at + d]);
            out.v[j * d..(j + 1) * d].copy_from_slice(&v[at..at + d]);
            for e in 0..d {
                out.kt[e * t + j] = k[at + e];
                out.vt[e * t + j] = v[at + e];
            }
        }
        out
    }
}

/// `out[j] = Σ_e x[e] · mt[e][j]` for `j` in `range` (written at `out[j - range.start + base]`).
#[inline(always)]
fn project(x: &[f32], mt: &[f32], t: usize, range: std::ops::Range<usize>, out: &mut [f32]) {
    let out = &mut out[..range.len()];
    out.fill(0.0);
    for (e, &xe) in x.iter().enumerate() {
        let col = &mt[e * t + range.start..e * t + range.end];
        for (o, &m) in out.iter_mut().zip(col) {
            *o = xe.mul_add(m, *o);
        }
    }
}

#[inline(always)]
fn add_scaled(acc: &mut [f32], w: f32, x: &[f32]) {
    for (a, &v) in acc.iter_mut().zip(x) {
        *a = w.mul_add(v, *a);
    }
}

/// Scores of query `q` over its visible keys into `p` (in key order), turned into
/// unnormalised softmax weights; returns their sum.
#[inline(always)]
fn weights(
    q: &[f32],
    kv: &UnitKv,
    t: usize,
    ranges: &[std::ops::Range<usize>],
    scale: f32,
    p: &mut Vec<f32>,
) -> f32 {
    let n: usize = ranges.iter().map(|r| r.len()).sum();
    p.resize(n, 0.0);
    let mut at = 0;
    for r in ranges {
        project(q, &kv.kt, t, r.clone(), &mut p[at..]);
        at += r.len();
    }
    let mut max = f32::NEG_INFINITY;
    for x in p.iter_mut() {
        *x *= scale;
        max = max.max(*x);
    }
    let mut sum = 0f32;
    for x in p.iter_mut() {
        *x = (*x - max).exp();
        sum += *x;
    }
    sum
}

/// The forward pass of one unit: every query of its row, for its group of heads. Returns the
/// outputs (`t × group × d`) and the normalised softmax weights, query by query.
#[inline(always)]
fn forward_unit(
    q: &[f32],
    kv: &UnitKv,
    dims: &Dims,
    vis: &RowVisibility,
    b: usize,
    kvh: usize,
) -> (Vec<f32>, Vec<f32>) {
    let (t, d) = (dims.t, dims.d);
    let mut out = vec![0f32; t * dims.group * d];
    let mut probs = Vec::new();
    let mut p = Vec::with_capacity(t);
    let mut ranges = Vec::new();
    for i in 0..t {
        ranges.clear();
        ranges.extend(vis.ranges(i));
        for g in 0..dims.group {
            let qa = dims.q_at(b, i, kvh * dims.group + g);
            let inv = 1.0 / weights(&q[qa..qa + d], kv, t, &ranges, dims.scale, &mut p);
            let o = &mut out[(i * dims.group + g) * d..][..d];
            let mut n = 0;
            for r in &ranges {
                for j in r.clone() {
                    p[n] *= inv;
                    add_scaled(o, p[n], &kv.v[j * d..(j + 1) * d]);
                    n += 1;
                }
            }
            probs.extend_from_slice(&p);
        }
    }
    (out, probs)
}

/// The gradients flowing into one unit.
struct UnitGrads<'a> {
    q: &'a [f32],
    /// The forward output and its gradient.
    o: &'a [f32],
    go: &'a [f32],
    /// The forward pass's weights, when kept.
    probs: Option<&'a [f32]>,
}

/// The backward pass of one unit: dq for its heads (`t × group × d`), dk and dv for its KV
/// head (`t × d` each).
#[inline(always)]
fn backward_unit(
    g_in: &UnitGrads,
    kv: &UnitKv,
    dims: &Dims,
    vis: &RowVisibility,
    b: usize,
    kvh: usize,
) -> (Vec<f32>, Vec<f32>, Vec<f32>) {
    let (t, d) = (dims.t, dims.d);
    let mut dq = vec![0f32; t * dims.group * d];
    let mut dk = vec![0f32; t * d];
    let mut dv = vec![0f32; t * d];
    let mut p = Vec::with_capacity(t);
    let mut dp = vec![0f32; t];
    let mut ranges = Vec::new();
    let mut kept = 0;
    for i in 0..t {
        ranges.clear();
        ranges.extend(vis.ranges(i));
        let n_keys: usize = ranges.iter().map(|r| r.len()).sum();
        for g in 0..dims.group {
            let qa = dims.q_at(b, i, kvh * dims.group + g);
            let (qi, doi) = (&g_in.q[qa..qa + d], &g_in.go[qa..qa + d]);
            let p: &[f32] = match g_in.probs {
                Some(all) => {
                    kept += n_keys;
                    &all[kept - n_keys..kept]
                }
                None => {
                    let inv = 1.0 / weights(qi, kv, t, &ranges, dims.scale, &mut p);
                    p.iter_mut().for_each(|x| *x *= inv);
                    &p
                }
            };
            // D = dO·O = Σ p_j (dO·v_j)
            let delta: f32 = doi
                .iter()
                .zip(&g_in.o[qa..qa + d])
                .map(|(a, b)| a * b)
                .sum();
            let mut at = 0;
            for r in &ranges {
                project(doi, &kv.vt, t, r.clone(), &mut dp[at..]);
                at += r.len();
            }
            let dqi = &mut dq[(i * dims.group + g) * d..][..d];
            let mut n = 0;
            for r in &ranges {
                for j in r.clone() {
                    let pj = p[n];
                    let ds = pj * (dp[n] - delta) * dims.scale;
                    n += 1;
                    add_scaled(dqi, ds, &kv.k[j * d..(j + 1) * d]);
                    add_scaled(&mut dk[j * d..(j + 1) * d], ds, qi);
                    add_scaled(&mut dv[j * d..(j + 1) * d], pj, doi);
                }
            }
        }
    }
    (dq, dk, dv)
}

/// The same loops compiled for AVX2 and FMA, when the CPU has them.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
unsafe fn forward_unit_avx2(
    q: &[f32],
    kv: &UnitKv,
    dims: &Dims,
    vis: &RowVisibility,
    b: usize,
    kvh: usize,
) -> (Vec<f32>, Vec<f32>) {
    forward_unit(q, kv, dims, vis, b, kvh)
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
unsafe fn backward_unit_avx2(
    g_in: &UnitGrads,
    kv: &UnitKv,
    dims: &Dims,
    vis: &RowVisibility,
    b: usize,
    kvh: usize,
) -> (Vec<f32>, Vec<f32>, Vec<f32>) {
    backward_unit(g_in, kv, dims, vis, b, kvh)
}

fn run_forward(
    q: &[f32],
    kv: &UnitKv,
    dims: &Dims,
    vis: &RowVisibility,
    b: usize,
    kvh: usize,
) -> (Vec<f32>, Vec<f32>) {
    #[cfg(target_arch = "x86_64")]
    if has_avx2_fma() {
        // SAFETY: the CPU has AVX2 and FMA (checked).
        return unsafe { forward_unit_avx2(q, kv, dims, vis, b, kvh) };
    }
    forward_unit(q, kv, dims, vis, b, kvh)
}

fn run_backward(
    g_in: &UnitGrads,
    kv: &UnitKv,
    dims: &Dims,
    vis: &RowVisibility,
    b: usize,
    kvh: usize,
) -> (Vec<f32>, Vec<f32>, Vec<f32>) {
    #[cfg(target_arch = "x86_64")]
    if has_avx2_fma() {
        // SAFETY: the CPU has AVX2 and FMA (checked).
        return unsafe { backward_unit_avx2(g_in, kv, dims, vis, b, kvh) };
    }
    backward_unit(g_in, kv, dims, vis, b, kvh)
}

impl CustomOp3 for Applied {
    fn name(&self) -> &'static str {
        "masked-attention"
    }

    fn cpu_fwd(
        &self,
        s1: &CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
        s3: &CpuStorage,
        l3: &Layout,
    ) -> candle_core::Result<(CpuStorage, Shape)> {
        let dims = self.op.check(l1, l2, l3)?;
        let (q, k, v) = (
            contiguous(s1, l1)?,
            contiguous(s2, l2)?,
            contiguous(s3, l3)?,
        );
        let units = dims.b * dims.kvh;
        type Parts = (Vec<f32>, Vec<f32>);
        let done: Vec<OnceLock<Parts>> = (0..units).map(|_| OnceLock::new()).collect();
        candle_core::utils::barrier_pool().execute_chunked(units, |range| {
            for unit in range {
                let (b, kvh) = (unit / dims.kvh, unit % dims.kvh);
                let kv = UnitKv::gather(k, v, &dims, b, kvh);
                let _ = done[unit].set(run_forward(q, &kv, &dims, &self.op.rows[b], b, kvh));
            }
        });
        let mut out = vec![0f32; dims.b * dims.t * dims.h * dims.d];
        let mut probs = Vec::with_capacity(units);
        for (unit, part) in done.into_iter().enumerate() {
            let (part, p) = part.into_inner().expect("every unit ran");
            probs.push(p);
            let (b, kvh) = (unit / dims.kvh, unit % dims.kvh);
            for i in 0..dims.t {
                let from = &part[i * dims.group * dims.d..][..dims.group * dims.d];
                let at = dims.q_at(b, i, kvh * dims.group);
                out[at..at + dims.group * dims.d].copy_from_slice(from);
            }
        }
        *self.probs.lock().expect("not poisoned") = Some(probs);
        Ok((
            CpuStorage::F32(out),
            Shape::from((dims.b, dims.t, dims.h, dims.d)),
        ))
    }

    fn bwd(
        &self,
        q: &Tensor,
        k: &Tensor,
        v: &Tensor,
        out: &Tensor,
        grad_out: &Tensor,
    ) -> candle_core::Result<(Option<Tensor>, Option<Tensor>, Option<Tensor>)> {
        let dims = self.op.check(q.layout(), k.layout(), v.layout())?;
        let flat = |t: &Tensor| t.contiguous()?.flatten_all()?.to_vec1::<f32>();
        let (q_d, k_d, v_d) = (flat(q)?, flat(k)?, flat(v)?);
        let (o_d, go_d) = (flat(out)?, flat(grad_out)?);
        // A second backward through the same graph recomputes the weights.
        let probs = self.probs.lock().expect("not poisoned").take();
        let units = dims.b * dims.kvh;
        // Per unit: dq for its heads (t × group × d), dk and dv for its KV head (t × d each).
        type Parts = (Vec<f32>, Vec<f32>, Vec<f32>);
        let done: Vec<OnceLock<Parts>> = (0..units).map(|_| OnceLock::new()).collect();
        candle_core::utils::barrier_pool().execute_chunked(units, |range| {
            for unit in range {
                let (b, kvh) = (unit / dims.kvh, unit % dims.kvh);
                let kv = UnitKv::gather(&k_d, &v_d, &dims, b, kvh);
                let g_in = UnitGrads {
                    q: &q_d,
                    o: &o_d,
                    go: &go_d,
                    probs: probs.as_ref().map(|p| p[unit].as_slice()),
                };
                let parts = run_backward(&g_in, &kv, &dims, &self.op.rows[b], b, kvh);
                let _ = done[unit].set(parts);
            }
        });
        let n_q = dims.b * dims.t * dims.h * dims.d;
        let n_kv = dims.b * dims.t * dims.kvh * dims.d;
        let (mut dq, mut dk, mut dv) = (vec![0f32; n_q], vec![0f32; n_kv], vec![0f32; n_kv]);
        for (unit, part) in done.into_iter().enumerate() {
            let (pq, pk, pv) = part.into_inner().expect("every unit ran");
            let (b, kvh) = (unit / dims.kvh, unit % dims.kvh);
            let d = dims.d;
            for i in 0..dims.t {
                let at = dims.q_at(b, i, kvh * dims.group);
                dq[at..at + dims.group * d]
                    .copy_from_slice(&pq[i * dims.group * d..(i + 1) * dims.group * d]);
                let at = dims.kv_at(b, i, kvh);
                dk[at..at + d].copy_from_slice(&pk[i * d..(i + 1) * d]);
                dv[at..at + d].copy_from_slice(&pv[i * d..(i + 1) * d]);
            }
        }
        let dev = q.device();
        Ok((
            Some(Tensor::from_vec(dq, q.shape(), dev)?),
            Some(Tensor::from_vec(dk, k.shape(), dev)?),
            Some(Tensor::from_vec(dv, v.shape(), dev)?),
        ))
    }
}
