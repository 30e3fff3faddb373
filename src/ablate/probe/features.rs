//! What the probe reads: a memento's KV entries, per layer, pooled over its positions into
//! one K‖V vector (the mean K row, then the mean V row, all KV heads together).

use std::ops::Range;

use crate::ablate::channel::rows;
use crate::kv::KvStore;

/// Per layer, the mean K row followed by the mean V row over the logical positions `span`;
/// `None` when the cache lacks any of them.
pub fn pooled_kv(store: &KvStore, span: &Range<u64>) -> Option<Vec<Vec<f32>>> {
    let row = store.row();
    let n = (span.end - span.start) as usize;
    if n == 0 {
        return None;
    }
    (0..store.layers())
        .map(|layer| {
            let (k, v) = rows(store, layer, span)?;
            let mut pooled = vec![0f32; 2 * row];
            for p in 0..n {
                for (i, x) in k[p * row..(p + 1) * row].iter().enumerate() {
                    pooled[i] += x;
                }
                for (i, x) in v[p * row..(p + 1) * row].iter().enumerate() {
                    pooled[row + i] += x;
                }
            }
            pooled.iter_mut().for_each(|x| *x /= n as f32);
            Some(pooled)
        })
        .collect()
}
