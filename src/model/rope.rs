//! Rotary position embeddings at arbitrary (gapped) positions.
//!
//! Angles are computed as candle's reference models compute them (f32 frequency
//! `1 / theta^(2i/d)`, f32 product with the position), so our logits agree with theirs.

use super::config::RopeStyle;

#[derive(Debug, Clone)]
pub struct Rope {
    style: RopeStyle,
    head_dim: usize,
    freqs: Vec<f32>,
}

impl Rope {
    pub fn new(style: RopeStyle, head_dim: usize, theta: f32) -> Rope {
        let freqs = (0..head_dim)
            .step_by(2)
            .map(|i| 1f32 / theta.powf(i as f32 / head_dim as f32))
            .collect();
        Rope {
            style,
            head_dim,
            freqs,
        }
    }

    /// Rotate `rows` (each `heads × head_dim` floats) so that row `r` sits at `positions[r]`.
    pub fn apply(&self, rows: &mut [f32], positions: &[u64]) {
        let row = rows.len() / positions.len().max(1);
        let mut cos = vec![0f32; self.freqs.len()];
        let mut sin = vec![0f32; self.freqs.len()];
        for (r, &pos) in positions.iter().enumerate() {
            self.angles(pos as f32, &mut cos, &mut sin);
            for head in rows[r * row..(r + 1) * row].chunks_exact_mut(self.head_dim) {
                self.rotate(head, &cos, &sin);
            }
        }
    }

    /// Undo [`Rope::apply`]: rotate row `r` back from `positions[r]`. Rotations are
    /// orthogonal, so this is also the backward pass of `apply` (training).
    pub fn apply_inverse(&self, rows: &mut [f32], positions: &[u64]) {
        let row = rows.len() / positions.len().max(1);
        let mut cos = vec![0f32; self.freqs.len()];
        let mut sin = vec![0f32; self.freqs.len()];
        for (r, &pos) in positions.iter().enumerate() {
            self.angles(pos as f32, &mut cos, &mut sin);
            for s in sin.iter_mut() {
                *s = -*s;
            }
            for head in rows[r * row..(r + 1) * row].chunks_exact_mut(self.head_dim) {
                self.rotate(head, &cos, &sin);
            }
        }
    }

    /// Rotate every head in `rows` back by `delta` positions.
    pub fn unrotate(&self, rows: &mut [f32], delta: u64) {
        let mut cos = vec![0f32; self.freqs.len()];
        let mut sin = vec![0f32; self.freqs.len()];
        self.angles(-(delta as f32), &mut cos, &mut sin);
        for head in rows.chunks_exact_mut(self.head_dim) {
            self.rotate(head, &cos, &sin);
        }
    }

    fn angles(&self, pos: f32, cos: &mut [f32], sin: &mut [f32]) {
        for ((f, c), s) in self.freqs.iter().zip(cos.iter_mut()).zip(sin.iter_mut()) {
            let a = pos * f;
            *c = a.cos();
            *s = a.sin();
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
}
