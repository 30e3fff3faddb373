//! The implicit channel: how far a memento's KV entries, computed while its block was still
//! visible (memento arm), are from the same entries recomputed from the memento's text alone
//! (restart arm). Per layer, the mean cosine distance of K and of V over the memento's
//! positions.

use std::ops::Range;

use serde::{Deserialize, Serialize};

use crate::kv::KvStore;

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ChannelRow {
    pub item: String,
    /// The block whose memento this is.
    pub block: u32,
    pub layer: u32,
    /// Memento positions compared.
    pub positions: u64,
    /// Mean of 1 − cos(K_memento, K_restart) over the positions (all KV heads as one vector).
    pub k_distance: f64,
    pub v_distance: f64,
}

/// The K and V rows of `span` in `layer`, in position order and as f32 whatever the cache
/// stores, or `None` when any position of it is not cached.
pub fn rows(store: &KvStore, layer: usize, span: &Range<u64>) -> Option<(Vec<f32>, Vec<f32>)> {
    store.rows_f32(layer, span)
}

/// Per layer, (K distance, V distance) between the two stores over `span`; `None` when either
/// store lacks a position of it.
pub fn layer_distances(a: &KvStore, b: &KvStore, span: &Range<u64>) -> Option<Vec<(f64, f64)>> {
    let row = a.row();
    (0..a.layers())
        .map(|layer| {
            let (ka, va) = rows(a, layer, span)?;
            let (kb, vb) = rows(b, layer, span)?;
            let mean = |x: &[f32], y: &[f32]| {
                let n = x.len() / row;
                (0..n)
                    .map(|p| {
                        cosine_distance(&x[p * row..(p + 1) * row], &y[p * row..(p + 1) * row])
                    })
                    .sum::<f64>()
                    / n.max(1) as f64
            };
            Some((mean(&ka, &kb), mean(&va, &vb)))
        })
        .collect()
}

/// 1 − cos(x, y); 0 for identical vectors, and 0 when both are zero.
pub fn cosine_distance(x: &[f32], y: &[f32]) -> f64 {
    let (mut dot, mut nx, mut ny) = (0f64, 0f64, 0f64);
    for (&a, &b) in x.iter().zip(y) {
        let (a, b) = (a as f64, b as f64);
        dot += a * b;
        nx += a * a;
        ny += b * b;
    }
    if nx == 0.0 && ny == 0.0 {
        return 0.0;
    }
    let denominator = (nx * ny).sqrt();
    if denominator == 0.0 {
        return 1.0;
    }
    (1.0 - dot / denominator).max(0.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cosine_distance_of_a_vector_with_itself_and_its_opposite() {
        let x = [0.5f32, -1.0, 2.0];
        assert!(cosine_distance(&x, &x).abs() < 1e-12);
        let minus: Vec<f32> = x.iter().map(|v| -v).collect();
        assert!((cosine_distance(&x, &minus) - 2.0).abs() < 1e-12);
        assert!((cosine_distance(&[1.0, 0.0], &[0.0, 1.0]) - 1.0).abs() < 1e-12);
    }
}
