//! One run's KV cache: a [`KvPool`] and the run's sequence in it, with the sequence's
//! operations in one place. A run alone owns a growable pool. Runs of a batch share the batch's
//! pool: each store then holds an empty stand-in, and the batch lends it the shared pool
//! ([`KvStore::swap_pool`]) for the run's own operations, and passes every sequence to
//! [`crate::model::Model::forward_batch`] together.

use std::ops::Range;

use super::KvDtype;
use super::pool::{KvMemory, KvPlacement, KvPool, Rerotate, SeqCache};

#[derive(Debug, Clone)]
pub struct KvStore {
    pool: KvPool,
    seq: SeqCache,
}

impl KvStore {
    /// f32 storage, [`KvPool::DEFAULT_PAGE_TOKENS`]-token pages.
    pub fn new(layers: usize, kv_heads: usize, head_dim: usize) -> KvStore {
        KvStore::with_chunk(layers, kv_heads, head_dim, KvPool::DEFAULT_PAGE_TOKENS)
    }

    /// f32 storage in pages of `chunk` tokens.
    pub fn with_chunk(layers: usize, kv_heads: usize, head_dim: usize, chunk: usize) -> KvStore {
        KvStore::with_dtype(KvDtype::F32, (layers, kv_heads, head_dim), chunk)
            .expect("f32 stores any head dim")
    }

    /// Storage in `dtype` (f32, f16 or q8_0) in pages of `page_tokens` tokens.
    pub fn with_dtype(
        dtype: KvDtype,
        shape: (usize, usize, usize),
        page_tokens: usize,
    ) -> Result<KvStore, String> {
        KvStore::with_dtype_in(&KvPlacement::Host, dtype, shape, page_tokens)
    }

    /// [`KvStore::with_dtype`] with the rows where `placement` says.
    pub fn with_dtype_in(
        placement: &KvPlacement,
        dtype: KvDtype,
        shape: (usize, usize, usize),
        page_tokens: usize,
    ) -> Result<KvStore, String> {
        let mut pool = KvPool::growable_in(placement, dtype, shape, page_tokens.max(1))?;
        let seq = pool.add_sequence();
        Ok(KvStore { pool, seq })
    }

    /// A sequence in the shared `pool`, for a run of a batch; the store holds an empty
    /// stand-in until the batch lends it the pool with [`KvStore::swap_pool`].
    pub fn in_shared(pool: &mut KvPool) -> KvStore {
        let seq = pool.add_sequence();
        let stand_in = KvPool::growable_in(
            &pool.placement(),
            pool.dtype(),
            (pool.layers(), 1, pool.row()),
            pool.page_tokens(),
        )
        .expect("the shared pool's type stores any row");
        KvStore {
            pool: stand_in,
            seq,
        }
    }

    /// Exchange the store's pool with `pool`: lend a batch's shared pool to a run, and take
    /// it back.
    pub fn swap_pool(&mut self, pool: &mut KvPool) {
        std::mem::swap(&mut self.pool, pool);
    }

    /// Give the sequence's pages back to `pool` (the pool it lives in) and start an empty
    /// sequence there: a preempted run's cache, to be recomputed.
    pub fn release_into(&mut self, pool: &mut KvPool) {
        let fresh = pool.add_sequence();
        let old = std::mem::replace(&mut self.seq, fresh);
        self.seq.set_rerotate(old.rerotates());
        pool.remove_sequence(&old);
    }

    /// The sequence, for a batched forward pass over the shared pool.
    pub fn sequence_mut(&mut self) -> &mut SeqCache {
        &mut self.seq
    }

    /// The pool and the sequence, for a forward pass.
    pub fn parts_mut(&mut self) -> (&mut KvPool, &mut SeqCache) {
        (&mut self.pool, &mut self.seq)
    }

    pub fn pool(&self) -> &KvPool {
        &self.pool
    }

    pub fn sequence(&self) -> &SeqCache {
        &self.seq
    }

    pub fn dtype(&self) -> KvDtype {
        self.pool.dtype()
    }

    /// Close position gaps on eviction by re-rotating later keys (off by default).
    pub fn set_rerotate(&mut self, on: bool) {
        self.seq.set_rerotate(on);
    }

    pub fn rerotates(&self) -> bool {
        self.seq.rerotates()
    }

    pub fn layers(&self) -> usize {
        self.pool.layers()
    }

    /// Values per slot per layer for K (and for V): kv_heads × head_dim.
    pub fn row(&self) -> usize {
        self.pool.row()
    }

    /// Slots held (live entries).
    pub fn len(&self) -> usize {
        self.seq.len()
    }

    pub fn is_empty(&self) -> bool {
        self.seq.is_empty()
    }

    pub fn peak_len(&self) -> usize {
        self.seq.peak_len()
    }

    /// Logical position of every slot, in slot order.
    pub fn logical_positions(&self) -> &[u64] {
        self.seq.logical_positions()
    }

    pub fn rope_positions(&self) -> &[u64] {
        self.seq.rope_positions()
    }

    pub fn hidden(&self) -> &[bool] {
        self.seq.hidden()
    }

    /// Entries removed so far.
    pub fn evicted_total(&self) -> u64 {
        self.seq.evicted_total()
    }

    /// The RoPE position a token at logical position `pos` takes when appended now.
    pub fn rope_position_for(&self, pos: u64) -> u64 {
        self.seq.rope_position_for(pos)
    }

    /// Reserve slots for tokens at `positions`; see [`SeqCache::begin_append`].
    pub fn begin_append(&mut self, positions: &[u64]) -> Result<Vec<u64>, String> {
        self.seq.begin_append(&mut self.pool, positions)
    }

    /// Write one layer's K and V rows for the slots reserved by the last `begin_append`.
    pub fn write_layer(&mut self, layer: usize, k: &[f32], v: &[f32]) {
        self.seq.write_layer(&mut self.pool, layer, k, v);
    }

    /// Slots holding logical positions in `span`.
    pub fn count_in(&self, span: &Range<u64>) -> usize {
        self.seq.count_in(span)
    }

    /// `layer`'s K and V rows for `span`, in position order, as f32.
    pub fn rows_f32(&self, layer: usize, span: &Range<u64>) -> Option<(Vec<f32>, Vec<f32>)> {
        self.seq.rows_f32(&self.pool, layer, span)
    }

    /// Free every slot whose logical position is in `span`; see [`SeqCache::evict`].
    pub fn evict(&mut self, span: Range<u64>, rerotate: Option<Rerotate<'_>>) -> usize {
        self.seq.evict(&mut self.pool, span, rerotate)
    }

    /// Drop every slot from logical position `from` on (a rewind), e.g. to recompute them.
    pub fn truncate_from(&mut self, from: u64) {
        self.seq.truncate_from(&mut self.pool, from)
    }

    /// Hide the slots in `span` from attention without freeing them.
    pub fn mask(&mut self, span: Range<u64>) {
        self.seq.mask(span)
    }

    pub fn memory(&self) -> KvMemory {
        self.seq.memory(&self.pool)
    }

    /// Bytes of one page across all layers, K and V: the most reserved exceeds live by.
    pub fn page_bytes(&self) -> u64 {
        self.pool.page_bytes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn filled(store: &mut KvStore, positions: &[u64]) {
        store.begin_append(positions).unwrap();
        for layer in 0..store.layers() {
            let rows: Vec<f32> = positions
                .iter()
                .flat_map(|&p| std::iter::repeat_n(p as f32, store.row()))
                .collect();
            store.write_layer(layer, &rows, &rows);
        }
    }

    #[test]
    fn eviction_compacts_and_keeps_positions() {
        let mut s = KvStore::with_chunk(2, 1, 2, 4);
        filled(&mut s, &(0..10).collect::<Vec<_>>());
        assert_eq!(s.evict(3..7, None), 4);
        // The tail filled the holes: slot order no longer follows position, and each slot
        // keeps its own positions.
        assert_eq!(s.logical_positions(), &[0, 1, 2, 9, 8, 7]);
        assert_eq!(s.rope_positions(), &[0, 1, 2, 9, 8, 7]);
        assert_eq!(s.rows_f32(1, &(0..10)).map(|r| r.0), None);
        assert_eq!(s.rows_f32(1, &(7..10)).unwrap().0, [7., 7., 8., 8., 9., 9.]);
        assert_eq!(s.rope_position_for(10), 10);
    }

    #[test]
    fn a_later_rewind_finds_slots_the_tail_moved() {
        let mut s = KvStore::with_chunk(2, 1, 2, 4);
        filled(&mut s, &(0..10).collect::<Vec<_>>());
        s.evict(3..7, None);
        s.truncate_from(8);
        assert_eq!(s.logical_positions(), &[0, 1, 2, 7]);
        assert_eq!(s.evicted_total(), 4, "a rewind is not an eviction");
        filled(&mut s, &[8, 9]);
        assert_eq!(s.rows_f32(0, &(7..10)).unwrap().1, [7., 7., 8., 8., 9., 9.]);
        assert!(s.begin_append(&[9]).unwrap_err().contains("must increase"));
    }

    #[test]
    fn appends_must_move_forward() {
        let mut s = KvStore::new(1, 1, 2);
        filled(&mut s, &[0, 1, 2]);
        assert!(s.begin_append(&[2]).unwrap_err().contains("must increase"));
    }

    #[test]
    fn reserved_memory_follows_live_within_a_chunk() {
        let mut s = KvStore::with_chunk(3, 2, 4, 16);
        filled(&mut s, &(0..200).collect::<Vec<_>>());
        s.evict(10..180, None);
        let m = s.memory();
        assert!(m.reserved_bytes >= m.live_bytes);
        assert!(m.reserved_bytes - m.live_bytes <= s.page_bytes(), "{m:?}");
    }

    #[test]
    fn rerotate_compacts_rope_positions() {
        let mut s = KvStore::with_chunk(1, 1, 2, 4);
        s.set_rerotate(true);
        filled(&mut s, &(0..6).collect::<Vec<_>>());
        let turned = std::cell::Cell::new(0);
        let turn = |rows: &mut [f32], delta: u64| {
            turned.set(turned.get() + rows.len());
            assert_eq!(delta, 2);
        };
        s.evict(1..3, Some(&turn));
        assert_eq!(turned.get(), 3 * 2, "the three later keys turn back");
        assert_eq!(s.logical_positions(), &[0, 5, 4, 3]);
        assert_eq!(s.rope_positions(), &[0, 3, 2, 1]);
        assert_eq!(s.rope_position_for(6), 4);
    }
}
