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

    /// Bytes of weight (and bias) one forward reads.
    pub fn bytes(&self) -> u64 {
        let dense = |t: &Tensor| (t.elem_count() * t.dtype().size_in_bytes()) as u64;
        let weight = match &self.weight {
            Weight::Quantized(QMatMul::QTensor(q)) => q.storage_size_in_bytes() as u64,
            Weight::Quantized(QMatMul::Tensor(t) | QMatMul::TensorF16(t)) => dense(t),
            // Q4_1 blocks: 32 values in 16 bytes of nibbles plus an f16 scale and minimum.
            Weight::Q4_1(w) => (w.n() * w.k() / 32 * 20) as u64,
            Weight::Dense(t) => dense(t),
        };
        weight + self.bias.as_ref().map_or(0, dense)
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
