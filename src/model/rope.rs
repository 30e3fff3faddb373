//! Rotary position embeddings at arbitrary (gapped) positions, with the context-extension
//! scalings that checkpoints declare.
//!
//! Unscaled angles are computed as candle's reference models compute them (f32 frequency
//! `1 / theta^(2i/d)`, f32 product with the position), so our logits agree with theirs. The
//! scalings follow HF transformers' `modeling_rope_utils.py` (linear, dynamic NTK, YaRN,
//! Llama 3) and llama.cpp's `rope_freqs` tensor (each frequency divided by its factor).

use super::config::RopeStyle;

/// How a checkpoint stretches RoPE beyond its pre-training context.
#[derive(Debug, Clone, PartialEq)]
pub enum RopeScaling {
    None,
    /// Position interpolation: every frequency divided by `factor`.
    Linear {
        factor: f32,
    },
    /// NTK-aware dynamic scaling (HF `dynamic`): once a forward reaches a sequence length
    /// `L > max_position`, the base becomes `theta · (factor·L/max_position − (factor−1))^(d/(d−2))`
    /// for that forward; keys already cached keep the rotation they were written with, as in HF.
    Dynamic {
        factor: f32,
        max_position: usize,
    },
    /// YaRN (HF `yarn`, llama.cpp `yarn`): frequencies blended between interpolated and
    /// extrapolated by a ramp over the dimensions whose wavelength falls between `beta_fast`
    /// and `beta_slow` rotations of the original context; cos and sin scaled by
    /// `attention_factor`.
    Yarn {
        factor: f32,
        original_context: usize,
        beta_fast: f32,
        beta_slow: f32,
        attention_factor: f32,
        /// Round the correction range outwards to whole dimensions (HF `truncate`, default true;
        /// llama.cpp always does).
        truncate: bool,
    },
    /// Llama 3.1's scaling (HF `llama3`): long wavelengths divided by `factor`, short ones kept,
    /// the band between smoothly blended.
    Llama3 {
        factor: f32,
        low_freq_factor: f32,
        high_freq_factor: f32,
        original_context: usize,
    },
}

#[derive(Debug, Clone)]
pub struct Rope {
    style: RopeStyle,
    head_dim: usize,
    theta: f32,
    /// Per-pair frequency divisors from a GGUF `rope_freqs.weight`, applied before any scaling.
    freq_factors: Option<Vec<f32>>,
    scaling: RopeScaling,
    /// The frequencies at lengths within the original context.
    freqs: Vec<f32>,
    /// Multiplies cos and sin (YaRN's attention factor; 1 otherwise).
    magnitude: f32,
}

impl Rope {
    /// Plain RoPE: `1 / theta^(2i/d)` for each of the `d/2` pairs.
    pub fn new(style: RopeStyle, head_dim: usize, theta: f32) -> Rope {
        Rope::scaled(style, head_dim, theta, None, RopeScaling::None)
    }

    /// The RoPE a model's config declares: its style, base, frequency factors and scaling.
    pub fn for_config(c: &super::config::ModelConfig) -> Rope {
        Rope::scaled(
            c.rope_style,
            c.head_dim,
            c.rope_theta,
            c.rope_freq_factors.clone(),
            c.rope_scaling.clone(),
        )
    }

    /// RoPE with per-pair frequency divisors (`freq_factors`, `head_dim/2` of them) and a scaling.
    pub fn scaled(
        style: RopeStyle,
        head_dim: usize,
        theta: f32,
        freq_factors: Option<Vec<f32>>,
        scaling: RopeScaling,
    ) -> Rope {
        let mut rope = Rope {
            style,
            head_dim,
            theta,
            freq_factors,
            scaling,
            freqs: Vec::new(),
            magnitude: 1.0,
        };
        rope.freqs = rope.freqs_for(0);
        rope.magnitude = match rope.scaling {
            RopeScaling::Yarn {
                attention_factor, ..
            } => attention_factor,
            _ => 1.0,
        };
        rope
    }

    /// The frequencies a forward whose largest position is `max_pos` uses (only dynamic
    /// scaling depends on it).
    pub fn freqs_for(&self, max_pos: u64) -> Vec<f32> {
        let d = self.head_dim;
        let base = |theta: f32| -> Vec<f32> {
            let mut f: Vec<f32> = (0..d)
                .step_by(2)
                .map(|i| 1f32 / theta.powf(i as f32 / d as f32))
                .collect();
            if let Some(ff) = &self.freq_factors {
                for (f, k) in f.iter_mut().zip(ff) {
                    *f /= k;
                }
            }
            f
        };
        match &self.scaling {
            RopeScaling::None => base(self.theta),
            RopeScaling::Linear { factor } => base(self.theta).iter().map(|f| f / factor).collect(),
            RopeScaling::Dynamic {
                factor,
                max_position,
            } => {
                let len = (max_pos + 1).max(*max_position as u64) as f64;
                if len <= *max_position as f64 {
                    return base(self.theta);
                }
                let (factor, dim) = (*factor as f64, d as f64);
                let grown = self.theta as f64
                    * (factor * len / *max_position as f64 - (factor - 1.0))
                        .powf(dim / (dim - 2.0));
                base(grown as f32)
            }
            RopeScaling::Yarn {
                factor,
                original_context,
                beta_fast,
                beta_slow,
                truncate,
                ..
            } => {
                let extrapolated = base(self.theta);
                let dim = d as f64;
                let base_ln = (self.theta as f64).ln();
                // The dimension at which a frequency turns `rotations` times over the context.
                let correction = |rotations: f64| {
                    dim * (*original_context as f64 / (rotations * 2.0 * std::f64::consts::PI)).ln()
                        / (2.0 * base_ln)
                };
                let (mut low, mut high) =
                    (correction(*beta_fast as f64), correction(*beta_slow as f64));
                if *truncate {
                    low = low.floor();
                    high = high.ceil();
                }
                let (low, mut high) = (low.max(0.0), high.min(dim - 1.0));
                if low == high {
                    high += 0.001;
                }
                extrapolated
                    .iter()
                    .enumerate()
                    .map(|(j, &f)| {
                        let ramp = (((j as f64 - low) / (high - low)).clamp(0.0, 1.0)) as f32;
                        let keep = 1.0 - ramp;
                        (f / factor) * (1.0 - keep) + f * keep
                    })
                    .collect()
            }
            RopeScaling::Llama3 {
                factor,
                low_freq_factor,
                high_freq_factor,
                original_context,
            } => {
                let old = *original_context as f32;
                let low_wavelen = old / low_freq_factor;
                let high_wavelen = old / high_freq_factor;
                base(self.theta)
                    .iter()
                    .map(|&f| {
                        let wavelen = 2.0 * std::f32::consts::PI / f;
                        if wavelen < high_wavelen {
                            f
                        } else if wavelen > low_wavelen {
                            f / factor
                        } else {
                            let smooth = (old / wavelen - low_freq_factor)
                                / (high_freq_factor - low_freq_factor);
                            (1.0 - smooth) * f / factor + smooth * f
                        }
                    })
                    .collect()
            }
        }
    }

    /// Rotate `rows` (each `heads × head_dim` floats) so that row `r` sits at `positions[r]`.
    pub fn apply(&self, rows: &mut [f32], positions: &[u64]) {
        let freqs = self.chunk_freqs(positions);
        self.turn_rows(rows, positions, &freqs, 1.0);
    }

    /// The backward pass of [`Rope::apply`]: rotate row `r` back from `positions[r]` and scale
    /// by the same magnitude (the transpose of `m·R`).
    pub fn apply_inverse(&self, rows: &mut [f32], positions: &[u64]) {
        let freqs = self.chunk_freqs(positions);
        self.turn_rows(rows, positions, &freqs, -1.0);
    }

    /// The cosines and sines (each `positions.len() × head_dim/2`, magnitude included) that
    /// [`Rope::apply`] turns row `r` by: the tables of a tensor RoPE (the GPU path's).
    pub fn tables(&self, positions: &[u64]) -> (Vec<f32>, Vec<f32>) {
        let freqs = self.chunk_freqs(positions);
        let half = freqs.len();
        let mut cos = vec![0f32; positions.len() * half];
        let mut sin = vec![0f32; positions.len() * half];
        for ((&pos, c), s) in positions
            .iter()
            .zip(cos.chunks_exact_mut(half))
            .zip(sin.chunks_exact_mut(half))
        {
            angles(&freqs, pos as f32, self.magnitude, c, s);
        }
        (cos, sin)
    }

    pub fn style(&self) -> RopeStyle {
        self.style
    }

    /// Rotate every head in `rows` back by `delta` positions (no magnitude change: the keys
    /// already carry it).
    pub fn unrotate(&self, rows: &mut [f32], delta: u64) {
        let mut cos = vec![0f32; self.freqs.len()];
        let mut sin = vec![0f32; self.freqs.len()];
        angles(&self.freqs, -(delta as f32), 1.0, &mut cos, &mut sin);
        for head in rows.chunks_exact_mut(self.head_dim) {
            self.rotate(head, &cos, &sin);
        }
    }

    /// Whether keys written at different lengths carry different frequencies (dynamic scaling),
    /// so that turning them back by a fixed delta would be wrong.
    pub fn depends_on_length(&self) -> bool {
        matches!(self.scaling, RopeScaling::Dynamic { .. })
    }

    fn chunk_freqs(&self, positions: &[u64]) -> std::borrow::Cow<'_, [f32]> {
        match self.scaling {
            RopeScaling::Dynamic { .. } => {
                let max = positions.iter().copied().max().unwrap_or(0);
                std::borrow::Cow::Owned(self.freqs_for(max))
            }
            _ => std::borrow::Cow::Borrowed(&self.freqs),
        }
    }

    fn turn_rows(&self, rows: &mut [f32], positions: &[u64], freqs: &[f32], direction: f32) {
        let row = rows.len() / positions.len().max(1);
        let mut cos = vec![0f32; freqs.len()];
        let mut sin = vec![0f32; freqs.len()];
        for (r, &pos) in positions.iter().enumerate() {
            angles(freqs, pos as f32, self.magnitude, &mut cos, &mut sin);
            if direction < 0.0 {
                for s in sin.iter_mut() {
                    *s = -*s;
                }
            }
            for head in rows[r * row..(r + 1) * row].chunks_exact_mut(self.head_dim) {
                self.rotate(head, &cos, &sin);
            }
        }
    }

    fn rotate(&self, head: &mut [f32], cos: &[f32], sin: &[f32]) {
        let half = self.head_dim / 2;
        for i in 0..half {
            let (a, b) = match self.style {
                RopeStyle::Interleaved => (2 * i, 2 * i + 1),
                RopeStyle::Halves => (i, i + half),
            };
            let (x0, x1) = (head[a], head[b]);
            head[a] = x0 * cos[i] - x1 * sin[i];
            head[b] = x0 * sin[i] + x1 * cos[i];
        }
    }
}

fn angles(freqs: &[f32], pos: f32, magnitude: f32, cos: &mut [f32], sin: &mut [f32]) {
    for ((f, c), s) in freqs.iter().zip(cos.iter_mut()).zip(sin.iter_mut()) {
        let a = pos * f;
        *c = a.cos() * magnitude;
        *s = a.sin() * magnitude;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unrotate_inverts_apply() {
        for style in [RopeStyle::Interleaved, RopeStyle::Halves] {
            let rope = Rope::new(style, 8, 10_000.0);
            let orig: Vec<f32> = (0..16).map(|i| (i as f32 * 0.37).sin()).collect();
            let mut x = orig.clone();
            rope.apply(&mut x, &[40, 40]);
            rope.unrotate(&mut x, 40);
            for (a, b) in x.iter().zip(&orig) {
                assert!((a - b).abs() < 1e-4, "{a} vs {b}");
            }
        }
    }

    #[test]
    fn position_zero_is_identity() {
        let rope = Rope::new(RopeStyle::Halves, 4, 10_000.0);
        let mut x = vec![1.0, 2.0, 3.0, 4.0];
        rope.apply(&mut x, &[0]);
        assert_eq!(x, vec![1.0, 2.0, 3.0, 4.0]);
    }

    /// The three branches of HF's `_compute_llama3_parameters`, for head_dim 16, theta 500000,
    /// factor 8, low 1, high 4 and an original context of 64, where every branch is taken.
    #[test]
    fn llama3_scaling_takes_each_branch() {
        let plain = Rope::new(RopeStyle::Halves, 16, 500_000.0).freqs_for(0);
        let rope = Rope::scaled(
            RopeStyle::Halves,
            16,
            500_000.0,
            None,
            RopeScaling::Llama3 {
                factor: 8.0,
                low_freq_factor: 1.0,
                high_freq_factor: 4.0,
                original_context: 64,
            },
        );
        let scaled = rope.freqs_for(0);
        let two_pi = 2.0 * std::f32::consts::PI;
        for (p, s) in plain.iter().zip(&scaled) {
            let wavelen = two_pi / p;
            if wavelen < 16.0 {
                assert_eq!(p, s);
            } else if wavelen > 64.0 {
                assert!(
                    (s - p / 8.0).abs() <= 1e-9 * p.abs().max(1.0),
                    "{s} vs {}",
                    p / 8.0
                );
            } else {
                assert!(
                    *s < *p && *s > p / 8.0,
                    "{s} not between {} and {p}",
                    p / 8.0
                );
            }
        }
        assert!(plain.iter().zip(&scaled).any(|(p, s)| p == s));
        assert!(
            plain
                .iter()
                .zip(&scaled)
                .any(|(p, s)| (s - p / 8.0).abs() < 1e-12)
        );
    }

    #[test]
    fn freq_factors_divide_each_frequency() {
        let plain = Rope::new(RopeStyle::Interleaved, 8, 10_000.0).freqs_for(0);
        let factors = vec![1.0, 2.0, 4.0, 1000.0];
        let rope = Rope::scaled(
            RopeStyle::Interleaved,
            8,
            10_000.0,
            Some(factors.clone()),
            RopeScaling::None,
        );
        for ((p, s), k) in plain.iter().zip(rope.freqs_for(0)).zip(&factors) {
            assert_eq!(s, p / k);
        }
    }

    #[test]
    fn yarn_keeps_fast_dimensions_and_interpolates_slow_ones() {
        let plain = Rope::new(RopeStyle::Halves, 64, 1_000_000.0).freqs_for(0);
        let rope = Rope::scaled(
            RopeStyle::Halves,
            64,
            1_000_000.0,
            None,
            RopeScaling::Yarn {
                factor: 4.0,
                original_context: 32_768,
                beta_fast: 32.0,
                beta_slow: 1.0,
                attention_factor: 1.0 + 0.1 * 4f32.ln(),
                truncate: true,
            },
        );
        let f = rope.freqs_for(0);
        assert_eq!(f[0], plain[0], "the fastest pair is extrapolated");
        assert!(
            (f[31] - plain[31] / 4.0).abs() < 1e-12,
            "the slowest is interpolated"
        );
        // A rotated unit vector grows by the attention factor.
        let mut x = vec![0f32; 64];
        x[0] = 1.0;
        rope.apply(&mut x, &[3]);
        let norm = (x.iter().map(|v| v * v).sum::<f32>()).sqrt();
        assert!((norm - (1.0 + 0.1 * 4f32.ln())).abs() < 1e-5, "{norm}");
        let mut back = x.clone();
        rope.apply_inverse(&mut back, &[3]);
        assert!((back[0] - (1.0 + 0.1 * 4f32.ln()).powi(2)).abs() < 1e-4);
    }

    #[test]
    fn dynamic_scaling_only_past_the_context() {
        let rope = Rope::scaled(
            RopeStyle::Halves,
            8,
            10_000.0,
            None,
            RopeScaling::Dynamic {
                factor: 2.0,
                max_position: 100,
            },
        );
        let plain = Rope::new(RopeStyle::Halves, 8, 10_000.0).freqs_for(0);
        assert_eq!(rope.freqs_for(99), plain);
        let grown = rope.freqs_for(199);
        // L = 200: base · (2·200/100 − 1)^(8/6) = base · 3^(4/3).
        let theta = 10_000f64 * 3f64.powf(4.0 / 3.0);
        assert!((grown[1] as f64 - 1.0 / theta.powf(2.0 / 8.0)).abs() < 1e-6);
        assert!(rope.depends_on_length());
    }
}
