//! AdamW with global-norm gradient clipping, and the warmup + cosine schedule.
//!
//! candle-nn's AdamW keeps its moments private, so a training could not be checkpointed and
//! resumed exactly; this one's state is plain vectors that go into the checkpoint. The update
//! is PyTorch's `AdamW` (decoupled weight decay, bias-corrected moments).

use std::collections::HashMap;
use std::path::Path;

use candle_core::backprop::GradStore;
use candle_core::{Device, Tensor, Var};
use serde::{Deserialize, Serialize};

use super::TrainError;

#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct AdamWConfig {
    pub beta1: f64,
    pub beta2: f64,
    pub eps: f64,
    /// Decoupled weight decay, applied to matrices (embeddings included), not to norms or
    /// biases.
    pub weight_decay: f64,
    /// Clip the global gradient norm to this (0 = off).
    pub clip: f64,
}

impl Default for AdamWConfig {
    fn default() -> Self {
        AdamWConfig {
            beta1: 0.9,
            beta2: 0.95,
            eps: 1e-8,
            weight_decay: 0.1,
            clip: 1.0,
        }
    }
}

pub struct AdamW {
    pub config: AdamWConfig,
    /// Updates taken so far.
    pub t: u64,
    m: Vec<Vec<f32>>,
    v: Vec<Vec<f32>>,
}

/// What one update saw.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct UpdateStats {
    /// The global gradient norm before clipping.
    pub grad_norm: f64,
}

impl AdamW {
    pub fn new(params: &[(String, Var)], config: AdamWConfig) -> AdamW {
        let zeros = || {
            params
                .iter()
                .map(|(_, p)| vec![0f32; p.elem_count()])
                .collect()
        };
        AdamW {
            config,
            t: 0,
            m: zeros(),
            v: zeros(),
        }
    }

    /// One update of every parameter at learning rate `lr`. A parameter without a gradient
    /// is an error: it means an op on its path cut the graph.
    pub fn step(
        &mut self,
        params: &[(String, Var)],
        grads: &GradStore,
        lr: f64,
    ) -> Result<UpdateStats, TrainError> {
        let mut gs = Vec::with_capacity(params.len());
        for (name, p) in params {
            let g = grads.get(p).ok_or_else(|| {
                TrainError::Config(format!("parameter `{name}` received no gradient"))
            })?;
            gs.push(g.flatten_all()?.to_vec1::<f32>()?);
        }
        let norm = gs
            .iter()
            .flat_map(|g| g.iter())
            .map(|&x| f64::from(x) * f64::from(x))
            .sum::<f64>()
            .sqrt();
        let c = self.config;
        let scale = if c.clip > 0.0 && norm > c.clip {
            (c.clip / (norm + 1e-6)) as f32
        } else {
            1.0
        };
        self.t += 1;
        let (b1, b2) = (c.beta1 as f32, c.beta2 as f32);
        let bc1 = 1.0 - c.beta1.powi(self.t as i32);
        let bc2 = 1.0 - c.beta2.powi(self.t as i32);
        let step_size = (lr / bc1) as f32;
        let bc2_sqrt = bc2.sqrt() as f32;
        for (i, (_, p)) in params.iter().enumerate() {
            let mut w = p.as_tensor().flatten_all()?.to_vec1::<f32>()?;
            let decay = if p.rank() >= 2 {
                1.0 - (lr * c.weight_decay) as f32
            } else {
                1.0
            };
            let (m, v) = (&mut self.m[i], &mut self.v[i]);
            for (((w, &g), m), v) in w.iter_mut().zip(&gs[i]).zip(m.iter_mut()).zip(v.iter_mut()) {
                let g = g * scale;
                *m = b1 * *m + (1.0 - b1) * g;
                *v = b2 * *v + (1.0 - b2) * g * g;
                let denom = v.sqrt() / bc2_sqrt + c.eps as f32;
                *w = *w * decay - step_size * *m / denom;
            }
            p.set(&Tensor::from_vec(w, p.shape(), &Device::Cpu)?)?;
        }
        Ok(UpdateStats { grad_norm: norm })
    }

    /// Write the moments to `path` (safetensors, `m.NAME` and `v.NAME`).
    pub fn save(&self, params: &[(String, Var)], path: &Path) -> Result<(), TrainError> {
        let mut map = HashMap::new();
        for (i, (name, p)) in params.iter().enumerate() {
            map.insert(
                format!("m.{name}"),
                Tensor::from_slice(&self.m[i], p.shape(), &Device::Cpu)?,
            );
            map.insert(
                format!("v.{name}"),
                Tensor::from_slice(&self.v[i], p.shape(), &Device::Cpu)?,
            );
        }
        candle_core::safetensors::save(&map, path).map_err(|e| TrainError::File {
            path: path.to_path_buf(),
            message: format!("cannot write: {e}"),
        })
    }

    /// Read the moments written by [`AdamW::save`]; `t` comes from the checkpoint's state.
    pub fn load(
        params: &[(String, Var)],
        config: AdamWConfig,
        t: u64,
        path: &Path,
    ) -> Result<AdamW, TrainError> {
        let bad = |message: String| TrainError::File {
            path: path.to_path_buf(),
            message,
        };
        let mut found = candle_core::safetensors::load(path, &Device::Cpu)
            .map_err(|e| bad(format!("not a readable optimizer state: {e}")))?;
        let mut take = |key: String, n: usize| -> Result<Vec<f32>, TrainError> {
            let t = found
                .remove(&key)
                .ok_or_else(|| bad(format!("`{key}` is missing")))?;
            let v = t.flatten_all()?.to_vec1::<f32>()?;
            if v.len() != n {
                return Err(bad(format!("`{key}` has {} values, expected {n}", v.len())));
            }
            Ok(v)
        };
        let mut m = Vec::with_capacity(params.len());
        let mut v = Vec::with_capacity(params.len());
        for (name, p) in params {
            m.push(take(format!("m.{name}"), p.elem_count())?);
            v.push(take(format!("v.{name}"), p.elem_count())?);
        }
        Ok(AdamW { config, t, m, v })
    }
}

/// Linear warmup to `peak`, then a cosine decay to `min` at `total` steps.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Schedule {
    pub peak: f64,
    pub min: f64,
    pub warmup: u64,
    pub total: u64,
}

impl Schedule {
    /// The learning rate of update `step` (0-based).
    pub fn lr(&self, step: u64) -> f64 {
        if self.warmup > 0 && step < self.warmup {
            return self.peak * (step + 1) as f64 / self.warmup as f64;
        }
        let span = self.total.saturating_sub(self.warmup).max(1);
        let progress = ((step - self.warmup.min(step)) as f64 / span as f64).min(1.0);
        self.min + (self.peak - self.min) * 0.5 * (1.0 + (std::f64::consts::PI * progress).cos())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_schedule_warms_up_then_decays_to_its_floor() {
        let s = Schedule {
            peak: 1e-3,
            min: 1e-4,
            warmup: 10,
            total: 110,
        };
        assert!((s.lr(0) - 1e-4).abs() < 1e-12);
        assert!((s.lr(9) - 1e-3).abs() < 1e-12);
        assert!((s.lr(10) - 1e-3).abs() < 1e-12);
        assert!((s.lr(60) - 5.5e-4).abs() < 1e-9);
        assert!((s.lr(110) - 1e-4).abs() < 1e-12);
        assert!(s.lr(30) > s.lr(40));
    }

    #[test]
    fn one_update_matches_the_adamw_formula() {
        let p = Var::from_slice(&[1.0f32, -2.0], 2, &Device::Cpu).unwrap();
        let params = vec![("w".to_string(), p.clone())];
        let loss = (p.as_tensor() * 3.0).unwrap().sum_all().unwrap();
        let grads = loss.backward().unwrap();
        let config = AdamWConfig {
            weight_decay: 0.0,
            clip: 0.0,
            ..AdamWConfig::default()
        };
        let mut opt = AdamW::new(&params, config);
        opt.step(&params, &grads, 0.1).unwrap();
        // First step: m̂ = g, v̂ = g², so each weight moves by lr · g/(|g| + eps) = 0.1.
        let w = p.as_tensor().to_vec1::<f32>().unwrap();
        assert!(
            (w[0] - 0.9).abs() < 1e-6 && (w[1] + 2.1).abs() < 1e-6,
            "{w:?}"
        );
    }

    #[test]
    fn clipping_bounds_the_update_and_reports_the_norm() {
        let p = Var::from_slice(&[0.0f32; 4], 4, &Device::Cpu).unwrap();
        let params = vec![("w".to_string(), p.clone())];
        let loss = (p.as_tensor() * 10.0).unwrap().sum_all().unwrap();
        let grads = loss.backward().unwrap();
        let mut opt = AdamW::new(&params, AdamWConfig::default());
        let stats = opt.step(&params, &grads, 0.01).unwrap();
        assert!((stats.grad_norm - 20.0).abs() < 1e-9);
    }
}
