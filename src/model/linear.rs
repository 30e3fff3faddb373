//! A projection `y = x · Wᵀ (+ b)`, over quantized or dense weights.

use candle_core::quantized::QMatMul;
use candle_core::{Module, Tensor};

use super::error::ModelError;

pub enum Weight {
    /// Any GGUF tensor type, through candle's quantized matmul.
    Quantized(QMatMul),
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
        };
        Ok(match &self.bias {
            Some(b) => y.broadcast_add(b)?,
            None => y,
        })
    }
}
