//! RoPE and RMSNorm with backward passes.
//!
//! candle's fused `rope` and `rms_norm` cut gradients without a word (candle #2168, #3568);
//! its differentiable fallbacks take several full passes each. These compute the same
//! functions as the inference forward (the same [`Rope`] angles, the same normalisation) in
//! one pass, and their exact gradients in one more.

use std::sync::Arc;

use candle_core::{CpuStorage, CustomOp1, CustomOp2, Layout, Shape, Tensor};

use crate::model::Rope;

fn contiguous<'a>(s: &'a CpuStorage, l: &Layout, op: &str) -> candle_core::Result<&'a [f32]> {
    let data = match s {
        CpuStorage::F32(d) => d.as_slice(),
        _ => candle_core::bail!("{op}: f32 tensors only"),
    };
    match l.contiguous_offsets() {
        Some((a, b)) => Ok(&data[a..b]),
        None => candle_core::bail!("{op}: contiguous tensors only"),
    }
}

/// RoPE over `(B, T, heads, head_dim)` at per-token logical `positions` (`B·T` of them).
#[derive(Clone)]
pub struct RopeOp {
    pub rope: Arc<Rope>,
    pub positions: Arc<Vec<u64>>,
}

impl RopeOp {
    pub fn forward(&self, x: &Tensor) -> candle_core::Result<Tensor> {
        x.contiguous()?.apply_op1(self.clone())
    }

    fn check(&self, l: &Layout) -> candle_core::Result<()> {
        let dims = l.dims();
        if dims.len() != 4 || dims[0] * dims[1] != self.positions.len() {
            candle_core::bail!(
                "rope: shape {dims:?} for {} positions; expected (B, T, heads, head_dim)",
                self.positions.len()
            );
        }
        Ok(())
    }
}

impl CustomOp1 for RopeOp {
    fn name(&self) -> &'static str {
        "rope"
    }

    fn cpu_fwd(&self, s: &CpuStorage, l: &Layout) -> candle_core::Result<(CpuStorage, Shape)> {
        self.check(l)?;
        let mut x = contiguous(s, l, "rope")?.to_vec();
        self.rope.apply(&mut x, &self.positions);
        Ok((CpuStorage::F32(x), l.shape().clone()))
    }

    fn bwd(
        &self,
        arg: &Tensor,
        _res: &Tensor,
        grad: &Tensor,
    ) -> candle_core::Result<Option<Tensor>> {
        let mut g = grad.contiguous()?.flatten_all()?.to_vec1::<f32>()?;
        self.rope.apply_inverse(&mut g, &self.positions);
        Ok(Some(Tensor::from_vec(g, arg.shape(), arg.device())?))
    }
}

/// RMSNorm over the last dimension: `y = x / sqrt(mean(x²) + eps) · w`.
#[derive(Clone, Copy)]
pub struct RmsNormOp {
    pub eps: f32,
}

impl RmsNormOp {
    /// `x`: `(…, n)`, `w`: `(n)`.
    pub fn forward(&self, x: &Tensor, w: &Tensor) -> candle_core::Result<Tensor> {
        x.contiguous()?.apply_op2(&w.contiguous()?, *self)
    }

    fn inv_rms(&self, row: &[f32]) -> f32 {
        let ms = row.iter().map(|x| x * x).sum::<f32>() / row.len() as f32;
        1.0 / (ms + self.eps).sqrt()
    }
}

impl CustomOp2 for RmsNormOp {
    fn name(&self) -> &'static str {
        "rms-norm"
    }

    fn cpu_fwd(
        &self,
        s1: &CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
    ) -> candle_core::Result<(CpuStorage, Shape)> {
        let x = contiguous(s1, l1, "rms-norm")?;
        let w = contiguous(s2, l2, "rms-norm")?;
        let n = w.len();
        if n == 0 || l1.dims().last() != Some(&n) {
            candle_core::bail!("rms-norm: input {:?} with a weight of {n}", l1.dims());
        }
        let mut y = vec![0f32; x.len()];
        for (xr, yr) in x.chunks_exact(n).zip(y.chunks_exact_mut(n)) {
            let r = self.inv_rms(xr);
            for ((y, &x), &w) in yr.iter_mut().zip(xr).zip(w) {
                *y = x * r * w;
            }
        }
        Ok((CpuStorage::F32(y), l1.shape().clone()))
    }

    fn bwd(
        &self,
        x: &Tensor,
        w: &Tensor,
        _res: &Tensor,
        grad: &Tensor,
    ) -> candle_core::Result<(Option<Tensor>, Option<Tensor>)> {
        let xs = x.contiguous()?.flatten_all()?.to_vec1::<f32>()?;
        let ws = w.to_vec1::<f32>()?;
        let gs = grad.contiguous()?.flatten_all()?.to_vec1::<f32>()?;
        let n = ws.len();
        let mut dx = vec![0f32; xs.len()];
        let mut dw = vec![0f32; n];
        for ((xr, gr), dxr) in xs
            .chunks_exact(n)
            .zip(gs.chunks_exact(n))
            .zip(dx.chunks_exact_mut(n))
        {
            let r = self.inv_rms(xr);
            // dx = r·(w⊙g) − r³/n · x · Σ(w⊙g⊙x)
            let mut s = 0f32;
            for i in 0..n {
                s += ws[i] * gr[i] * xr[i];
                dw[i] += gr[i] * xr[i] * r;
            }
            let c = r * r * r * s / n as f32;
            for i in 0..n {
                dxr[i] = r * ws[i] * gr[i] - c * xr[i];
            }
        }
        Ok((
            Some(Tensor::from_vec(dx, x.shape(), x.device())?),
            Some(Tensor::from_vec(dw, w.shape(), w.device())?),
        ))
    }
}
