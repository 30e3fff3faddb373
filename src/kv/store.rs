//! The KV store the engine decodes against: per-layer keys and values in explicit slots.
//!
//! Slots are token-major (`slot × kv_heads × head_dim`) so that appending is a push and
//! evicting a span is one move of the rows after it. Every slot remembers its logical position
//! (the trace's position) and its RoPE position. By default the two are equal: survivors keep
//! their rotation and new tokens continue at their logical position, gaps included (DESIGN
//! §1.2). With `rerotate`, an eviction instead closes the gap: later keys are rotated back and
//! new tokens take compacted RoPE positions (an experiment knob).
//!
//! Memory is reserved in chunks of `chunk` tokens and given back after evictions, so the bytes
//! the process holds follow the live count to within one chunk.

use std::ops::Range;

/// Rotates `rows` keys of one layer back by `delta` positions (RoPE's inverse at distance
/// `delta`); supplied by the model, which knows its RoPE layout.
pub type Rerotate<'a> = &'a dyn Fn(&mut [f32], u64);

#[derive(Debug, Clone)]
pub struct KvStore {
    layers: usize,
    row: usize,
    chunk: usize,
    keys: Vec<Vec<f32>>,
    values: Vec<Vec<f32>>,
    logical: Vec<u64>,
    rope: Vec<u64>,
    /// Slots hidden from attention but still held: the masked reference the equivalence tests
    /// compare eviction against.
    hidden: Vec<bool>,
    rerotate: bool,
    evicted: u64,
    peak_slots: usize,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KvMemory {
    pub live_bytes: u64,
    pub reserved_bytes: u64,
}

impl KvStore {
    pub const DEFAULT_CHUNK: usize = 256;

    pub fn new(layers: usize, kv_heads: usize, head_dim: usize) -> KvStore {
        KvStore::with_chunk(layers, kv_heads, head_dim, KvStore::DEFAULT_CHUNK)
    }

    pub fn with_chunk(layers: usize, kv_heads: usize, head_dim: usize, chunk: usize) -> KvStore {
        KvStore {
            layers,
            row: kv_heads * head_dim,
            chunk: chunk.max(1),
            keys: vec![Vec::new(); layers],
            values: vec![Vec::new(); layers],
            logical: Vec::new(),
            rope: Vec::new(),
            hidden: Vec::new(),
            rerotate: false,
            evicted: 0,
            peak_slots: 0,
        }
    }

    /// Close position gaps on eviction by re-rotating later keys (off by default).
    pub fn set_rerotate(&mut self, on: bool) {
        self.rerotate = on;
    }

    pub fn rerotates(&self) -> bool {
        self.rerotate
    }

    pub fn layers(&self) -> usize {
        self.layers
    }

    /// Floats per slot per layer for K (and for V): kv_heads × head_dim.
    pub fn row(&self) -> usize {
        self.row
    }

    /// Slots held (live entries).
    pub fn len(&self) -> usize {
        self.logical.len()
    }

    pub fn is_empty(&self) -> bool {
        self.logical.is_empty()
    }

    pub fn peak_len(&self) -> usize {
        self.peak_slots
    }

    pub fn logical_positions(&self) -> &[u64] {
        &self.logical
    }

    pub fn rope_positions(&self) -> &[u64] {
        &self.rope
    }

    pub fn hidden(&self) -> &[bool] {
        &self.hidden
    }

    /// Entries removed so far.
    pub fn evicted_total(&self) -> u64 {
        self.evicted
    }

    /// The RoPE position a token at logical position `pos` takes when appended now.
    pub fn rope_position_for(&self, pos: u64) -> u64 {
        if self.rerotate {
            pos - self.evicted
        } else {
            pos
        }
    }

    /// Reserve slots for tokens at `positions` (strictly increasing, after every held slot);
    /// each layer then fills them with [`KvStore::write_layer`]. Returns their RoPE positions.
    pub fn begin_append(&mut self, positions: &[u64]) -> Result<Vec<u64>, String> {
        let mut last = self.logical.last().copied();
        for &p in positions {
            if last.is_some_and(|l| p <= l) {
                return Err(format!(
                    "KV append at position {p} after position {}: positions must increase",
                    last.unwrap_or_default()
                ));
            }
            last = Some(p);
        }
        let rope: Vec<u64> = positions
            .iter()
            .map(|&p| self.rope_position_for(p))
            .collect();
        let want = self.logical.len() + positions.len();
        let floats = self.chunked(want) * self.row;
        for layer in 0..self.layers {
            reserve_to(&mut self.keys[layer], floats);
            reserve_to(&mut self.values[layer], floats);
        }
        self.logical.extend_from_slice(positions);
        self.rope.extend_from_slice(&rope);
        self.hidden.resize(self.logical.len(), false);
        self.peak_slots = self.peak_slots.max(self.logical.len());
        Ok(rope)
    }

    /// Write one layer's K and V rows for the slots reserved by the last `begin_append`.
    pub fn write_layer(&mut self, layer: usize, k: &[f32], v: &[f32]) {
        debug_assert_eq!(k.len(), v.len());
        self.keys[layer].extend_from_slice(k);
        self.values[layer].extend_from_slice(v);
        debug_assert!(self.keys[layer].len() <= self.logical.len() * self.row);
    }

    /// Keys of `layer`, slot-major; during a forward, the slots written so far.
    pub fn keys(&self, layer: usize) -> &[f32] {
        &self.keys[layer]
    }

    pub fn values(&self, layer: usize) -> &[f32] {
        &self.values[layer]
    }

    /// Slot indices holding logical positions in `span`.
    pub fn slots_of(&self, span: &Range<u64>) -> Range<usize> {
        let from = self.logical.partition_point(|&p| p < span.start);
        let to = self.logical.partition_point(|&p| p < span.end);
        from..to.max(from)
    }

    /// Free every slot whose logical position is in `span` and compact the store. `rerotate`
    /// (required when the knob is on) turns later keys back by the number of slots removed.
    /// Returns the count of entries freed.
    pub fn evict(&mut self, span: Range<u64>, rerotate: Option<Rerotate<'_>>) -> usize {
        let slots = self.slots_of(&span);
        let n = slots.len();
        if n == 0 {
            return 0;
        }
        for layer in 0..self.layers {
            let rows = slots.start * self.row..slots.end * self.row;
            self.keys[layer].drain(rows.clone());
            self.values[layer].drain(rows);
        }
        self.logical.drain(slots.clone());
        self.rope.drain(slots.clone());
        self.hidden.drain(slots.clone());
        self.evicted += n as u64;
        if self.rerotate {
            if let Some(turn) = rerotate {
                let after = slots.start;
                for layer in 0..self.layers {
                    let tail = &mut self.keys[layer][after * self.row..];
                    turn(tail, n as u64);
                }
                for p in &mut self.rope[after..] {
                    *p -= n as u64;
                }
            }
        }
        self.release_spare();
        n
    }

    /// Drop every slot from logical position `from` on (a rewind), e.g. to recompute them.
    pub fn truncate_from(&mut self, from: u64) {
        let at = self.logical.partition_point(|&p| p < from);
        for layer in 0..self.layers {
            self.keys[layer].truncate(at * self.row);
            self.values[layer].truncate(at * self.row);
        }
        self.logical.truncate(at);
        self.rope.truncate(at);
        self.hidden.truncate(at);
        self.release_spare();
    }

    /// Hide the slots in `span` from attention without freeing them.
    pub fn mask(&mut self, span: Range<u64>) {
        let slots = self.slots_of(&span);
        for h in &mut self.hidden[slots] {
            *h = true;
        }
    }

    pub fn clear(&mut self) {
        self.truncate_from(0);
        self.evicted = 0;
    }

    pub fn memory(&self) -> KvMemory {
        let live = (self.logical.len() * self.row * 2 * self.layers * 4) as u64;
        let reserved: usize = self
            .keys
            .iter()
            .chain(self.values.iter())
            .map(|v| v.capacity() * 4)
            .sum();
        KvMemory {
            live_bytes: live,
            reserved_bytes: reserved as u64,
        }
    }

    /// Bytes of one chunk across all layers, K and V.
    pub fn chunk_bytes(&self) -> u64 {
        (self.chunk * self.row * 2 * self.layers * 4) as u64
    }

    fn chunked(&self, slots: usize) -> usize {
        slots.div_ceil(self.chunk) * self.chunk
    }

    fn release_spare(&mut self) {
        let keep = self.chunked(self.logical.len()) * self.row;
        for v in self.keys.iter_mut().chain(self.values.iter_mut()) {
            if v.capacity() > keep {
                v.shrink_to(keep);
            }
        }
    }
}

/// Grow capacity to exactly `floats` when short, so reservations stay chunk-sized.
fn reserve_to(v: &mut Vec<f32>, floats: usize) {
    if v.capacity() < floats {
        v.reserve_exact(floats - v.len());
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
        assert_eq!(s.logical_positions(), &[0, 1, 2, 7, 8, 9]);
        assert_eq!(s.rope_positions(), &[0, 1, 2, 7, 8, 9]);
        assert_eq!(s.keys(1), &[0., 0., 1., 1., 2., 2., 7., 7., 8., 8., 9., 9.]);
        assert_eq!(s.rope_position_for(10), 10);
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
        assert!(m.reserved_bytes - m.live_bytes <= s.chunk_bytes(), "{m:?}");
    }

    #[test]
    fn rerotate_compacts_rope_positions() {
        let mut s = KvStore::with_chunk(1, 1, 2, 4);
        s.set_rerotate(true);
        filled(&mut s, &(0..6).collect::<Vec<_>>());
        let turned = std::cell::Cell::new(0);
        let turn = |rows: &mut [f32], delta: u64| {
            turned.set(rows.len());
            assert_eq!(delta, 2);
        };
        s.evict(1..3, Some(&turn));
        assert_eq!(turned.get(), 3 * 2);
        assert_eq!(s.rope_positions(), &[0, 1, 2, 3]);
        assert_eq!(s.logical_positions(), &[0, 3, 4, 5]);
        assert_eq!(s.rope_position_for(6), 4);
    }
}
