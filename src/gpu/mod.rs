//! The GPU path: which device runs a model ([`DeviceChoice`]), and, in a build with the `cuda`
//! feature, the launchers of our own paged-KV kernels (`kernels/paged_kv.cu`).
//!
//! The kernels are reached through candle custom ops ([`crate::kv::DeviceRows`]'s writes and
//! slot copies, [`crate::model::PagedAttention`]), whose CPU halves run the same layout on the
//! CPU: the reference each kernel is checked against, and what CPU builds test.

mod choice;
#[cfg(feature = "cuda")]
pub(crate) mod kernels;

pub use choice::{DeviceChoice, describe_device};

/// Head dims the paged attention kernel is built for (`kernels/paged_kv.cu`).
pub const HEAD_DIMS: [usize; 3] = [32, 64, 128];
/// Query heads per KV head it serves (`MAX_GROUP` there).
pub const MAX_GROUP: usize = 8;

/// Whether the GPU's paged attention serves a model of this shape; a model it does not keeps
/// its KV cache and attention on the host even when its weights are on a GPU.
pub fn paged_kernels_serve(head_dim: usize, heads: usize, kv_heads: usize) -> bool {
    HEAD_DIMS.contains(&head_dim)
        && kv_heads > 0
        && heads % kv_heads == 0
        && heads / kv_heads <= MAX_GROUP
}

/// Multiprocessors of an H100/H200 (132): the blocks an attention launch should offer.
const MULTIPROCESSORS: usize = 132;

/// Keys per attention partition: the largest of 64, 128, 256 and 512 that still gives about
/// four blocks per multiprocessor. A decode at batch 1 (few rows × KV heads) then spreads its
/// keys over the GPU; a prefill chunk, with many rows, takes large partitions, which keeps the
/// scratch small.
pub fn part_keys(rows: usize, kv_heads: usize, longest: usize) -> usize {
    let blocks = |keys: usize| rows * kv_heads * longest.div_ceil(keys).max(1);
    [512, 256, 128]
        .into_iter()
        .find(|&keys| blocks(keys) >= 4 * MULTIPROCESSORS)
        .unwrap_or(64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decode_at_batch_one_takes_small_partitions_and_prefill_large_ones() {
        // Qwen3-8B (8 KV heads), one decoding row at 1k tokens: 8 × 16 = 128 blocks at most.
        assert_eq!(part_keys(1, 8, 1024), 64);
        // 64 decoding sequences at 4k: 64 × 8 × 8 = 4096 blocks with 512-key partitions.
        assert_eq!(part_keys(64, 8, 4096), 512);
        // A 512-row prefill chunk: large partitions.
        assert_eq!(part_keys(512, 8, 600), 512);
        assert_eq!(part_keys(4, 8, 8192), 256);
    }

    #[test]
    fn the_kernels_serve_the_shapes_they_are_built_for() {
        assert!(paged_kernels_serve(128, 32, 8));
        assert!(paged_kernels_serve(64, 9, 3));
        assert!(!paged_kernels_serve(80, 32, 8));
        assert!(!paged_kernels_serve(128, 64, 4));
        assert!(!paged_kernels_serve(128, 6, 4));
    }
}
