//! A projection `y = x · Wᵀ (+ b)`, over quantized or dense weights.

use candle_core::quantized::QMatMul;
use candle_core::{Module, Tensor};

use super::error::ModelError;
use super::q4_1::Q4_1Matrix;

pub enum Weight {
    /// Any GGUF tensor type, through candle's quantized matmul.
    Quantized(QMatMul),
    /// GGUF Q4_1 through our SIMD kernel (candle's Q4_1 CPU path is scalar).
    Q4_1(Q4_1Matrix),
    /// A dense `(out, in)` matrix.
    Dense(Tensor),
}

pub struct Linear {
    weight: Weight,
    bias: Option<Tensor>,
}

impl Linear {
    pub fn new(weight: Weight, bias: Option<Tensor>) -> Linear {
        Linear { weight, bias }
    }

    /// `x`: `(t, in)` → `(t, out)`.
    pub fn forward(&self, x: &Tensor) -> Result<Tensor, ModelError> {
        let y = match &self.weight {
            Weight::Quantized(m) => m.forward(x)?,
            Weight::Dense(w) => x.matmul(&w.t()?)?,
            Weight::Q4_1(w) => {
                let (rows, _) = x.dims2()?;
                let input = x.flatten_all()?.to_vec1::<f32>()?;
                let mut out = vec![0f32; rows * w.n()];
                w.matmul(&input, rows, &mut out);
                Tensor::from_vec(out, (rows, w.n()), x.device())?
            }
        };
        Ok(match &self.bias {
            Some(b) => y.broadcast_add(b)?,
            None => y,
        })
    }
}
