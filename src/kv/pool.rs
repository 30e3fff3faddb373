//! The paged KV pool the engine decodes against: K and V rows of every layer in fixed-size
//! pages shared by all sequences ([`KvPool`]), and what each sequence keeps beside its page
//! table ([`SeqCache`]): every slot's logical position (the trace's) and RoPE position.
//!
//! Positions follow DESIGN.md §1.2: survivors of an eviction keep their rotation and new
//! tokens continue at their logical position, gaps included. With `rerotate` (an experiment
//! knob), an eviction instead turns later keys back and new tokens take compacted RoPE
//! positions.
//!
//! Eviction returns whole pages to the pool and fills the holes the span's partial edge pages
//! leave with the sequence's last slots ([`super::pages`]), so its cost follows the span, not
//! the cache behind it. Slot order then no longer follows position; attention reads every slot
//! with its own position, and a prefill's new tokens are always the sequence's last slots.

use std::ops::Range;

use candle_core::Device;

use super::KvDtype;
use super::device_rows::DeviceRows;
use super::pages::{PageId, PagePool, PoolError, SeqId, Slot};
use super::rows::{KvRows, Q8_BLOCK, row_bytes};

/// Where a pool keeps its K and V rows.
#[derive(Debug, Clone, Default)]
pub enum KvPlacement {
    /// Host memory ([`KvRows`]: f32, f16 or q8_0), attended by the CPU kernel.
    #[default]
    Host,
    /// candle tensors on a device ([`DeviceRows`]: f32, f16 or bf16), attended by the paged
    /// kernels: the GPU path, or on the CPU its reference.
    Tensors(Device),
}

/// Rotates one layer's key rows back by `delta` positions (RoPE's inverse at distance
/// `delta`); supplied by the model, which knows its RoPE layout.
pub type Rerotate<'a> = &'a dyn Fn(&mut [f32], u64);

/// Bytes a sequence's cache holds: `live` for its tokens, `reserved` for its pages.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KvMemory {
    pub live_bytes: u64,
    pub reserved_bytes: u64,
}

#[derive(Debug, Clone)]
pub struct KvPool {
    pages: PagePool,
    dtype: KvDtype,
    layers: usize,
    row: usize,
    keys: Vec<KvRows>,
    values: Vec<KvRows>,
    /// The rows, when they live in device tensors (then `keys` and `values` are empty).
    tensors: Option<DeviceRows>,
    /// The first device failure of a pool operation that cannot return one (an eviction's
    /// copies): the next forward pass reports it.
    fault: Option<String>,
    /// A pool that grows when a sequence needs more pages (one run's own cache), rather than
    /// refusing (a serving budget).
    growable: bool,
    next_seq: SeqId,
}

impl KvPool {
    /// Tokens per page: vLLM's default block size.
    pub const DEFAULT_PAGE_TOKENS: usize = 16;

    /// A pool of `pages` pages of `page_tokens` tokens: a fixed budget.
    pub fn with_budget(
        dtype: KvDtype,
        shape: (usize, usize, usize),
        pages: usize,
        page_tokens: usize,
    ) -> Result<KvPool, String> {
        KvPool::with_budget_in(&KvPlacement::Host, dtype, shape, pages, page_tokens)
    }

    /// [`KvPool::with_budget`] with its rows where `placement` says.
    pub fn with_budget_in(
        placement: &KvPlacement,
        dtype: KvDtype,
        (layers, kv_heads, head_dim): (usize, usize, usize),
        pages: usize,
        page_tokens: usize,
    ) -> Result<KvPool, String> {
        let row = kv_heads * head_dim;
        let slots = pages * page_tokens;
        let (keys, values, tensors) = match placement {
            KvPlacement::Host => {
                dtype.check_storage(head_dim)?;
                let rows = || -> Vec<KvRows> {
                    (0..layers)
                        .map(|_| KvRows::new(dtype, slots, row))
                        .collect()
                };
                (rows(), rows(), None)
            }
            KvPlacement::Tensors(device) => (
                Vec::new(),
                Vec::new(),
                Some(DeviceRows::new(device, dtype, layers, slots, row)?),
            ),
        };
        Ok(KvPool {
            pages: PagePool::new(pages, page_tokens),
            dtype,
            layers,
            row,
            keys,
            values,
            tensors,
            fault: None,
            growable: false,
            next_seq: 0,
        })
    }

    /// An empty pool that grows as its sequences need pages.
    pub fn growable(
        dtype: KvDtype,
        shape: (usize, usize, usize),
        page_tokens: usize,
    ) -> Result<KvPool, String> {
        KvPool::growable_in(&KvPlacement::Host, dtype, shape, page_tokens)
    }

    /// [`KvPool::growable`] with its rows where `placement` says.
    pub fn growable_in(
        placement: &KvPlacement,
        dtype: KvDtype,
        shape: (usize, usize, usize),
        page_tokens: usize,
    ) -> Result<KvPool, String> {
        let mut pool = KvPool::with_budget_in(placement, dtype, shape, 0, page_tokens)?;
        pool.growable = true;
        Ok(pool)
    }

    /// Where the rows live.
    pub fn placement(&self) -> KvPlacement {
        match &self.tensors {
            Some(t) => KvPlacement::Tensors(t.device().clone()),
            None => KvPlacement::Host,
        }
    }

    /// The rows as device tensors, when the pool keeps them so.
    pub fn tensors(&self) -> Option<&DeviceRows> {
        self.tensors.as_ref()
    }

    /// The first device failure since the last call, if any (see [`KvPool::tensors`]).
    pub fn take_fault(&mut self) -> Option<String> {
        self.fault.take()
    }

    /// `seq`'s page table: its pages, in slot order.
    pub fn page_table(&self, seq: &SeqCache) -> &[PageId] {
        self.pages.table(seq.id).map_or(&[], |t| t.pages.as_slice())
    }

    pub fn dtype(&self) -> KvDtype {
        self.dtype
    }

    pub fn layers(&self) -> usize {
        self.layers
    }

    /// Values per slot per layer for K (and for V): kv_heads × head_dim.
    pub fn row(&self) -> usize {
        self.row
    }

    pub fn page_tokens(&self) -> usize {
        self.pages.page_tokens()
    }

    pub fn total_pages(&self) -> usize {
        self.pages.total_pages()
    }

    pub fn used_pages(&self) -> usize {
        self.pages.used_pages()
    }

    pub fn free_pages(&self) -> usize {
        self.pages.free_pages()
    }

    /// Pages a sequence of `tokens` tokens holds.
    pub fn pages_for(&self, tokens: usize) -> usize {
        self.pages.pages_for(tokens)
    }

    /// Bytes of one slot across all layers, K and V.
    pub fn slot_bytes(&self) -> u64 {
        2 * self.layers as u64 * row_bytes(self.dtype, self.row)
    }

    /// Bytes of one page across all layers, K and V.
    pub fn page_bytes(&self) -> u64 {
        self.slot_bytes() * self.page_tokens() as u64
    }

    /// Keys of `layer` for every physical slot (a host pool's).
    pub fn keys(&self, layer: usize) -> &KvRows {
        &self.keys[layer]
    }

    pub fn values(&self, layer: usize) -> &KvRows {
        &self.values[layer]
    }

    /// Start a sequence with no tokens.
    pub fn add_sequence(&mut self) -> SeqCache {
        let id = self.next_seq;
        self.next_seq += 1;
        self.pages.add(id).expect("sequence ids are fresh");
        SeqCache {
            id,
            logical: Vec::new(),
            rope: Vec::new(),
            hidden: Vec::new(),
            rerotate: false,
            evicted: 0,
            peak: 0,
            pending: Vec::new(),
        }
    }

    /// End a sequence: its pages go back to the pool.
    pub fn remove_sequence(&mut self, seq: &SeqCache) {
        let _ = self.pages.remove(seq.id);
    }

    /// Pages `seq` must take from the pool to grow by `tokens`.
    pub fn pages_to_grow(&self, seq: &SeqCache, tokens: usize) -> usize {
        self.pages.pages_to_grow(seq.id, tokens)
    }

    /// Pages `seq` holds.
    pub fn pages_of(&self, seq: &SeqCache) -> usize {
        self.pages.table(seq.id).map_or(0, |t| t.pages.len())
    }

    /// Physical slots of `seq`'s slots, in its order.
    pub fn physical_slots(&self, seq: &SeqCache) -> Vec<usize> {
        self.pages
            .physical_slots(seq.id)
            .expect("a sequence of this pool")
    }

    fn physical(&self, slot: Slot) -> usize {
        slot.page as usize * self.page_tokens() + slot.offset as usize
    }

    /// Take slots for `n` more tokens of `seq`, growing a growable pool.
    fn reserve(&mut self, seq: SeqId, n: usize) -> Result<Vec<usize>, PoolError> {
        let needed = self.pages.pages_to_grow(seq, n);
        if self.growable && needed > self.pages.free_pages() {
            let extra = (needed - self.pages.free_pages()).max(self.pages.total_pages() / 2);
            let slots = (self.pages.total_pages() + extra) * self.page_tokens();
            if let Some(t) = &mut self.tensors {
                t.grow(slots)
                    .map_err(|e| PoolError::Device(crate::model::candle_message(&e).to_string()))?;
            }
            self.pages.grow(extra);
            for rows in self.keys.iter_mut().chain(self.values.iter_mut()) {
                rows.resize(slots, self.row);
            }
        }
        let slots = self.pages.append(seq, n)?;
        Ok(slots.into_iter().map(|s| self.physical(s)).collect())
    }
}

/// The KV storage type runs use unless told otherwise; set once from `--kv-dtype`.
static ENGINE_DTYPE: std::sync::OnceLock<KvDtype> = std::sync::OnceLock::new();

thread_local! {
    /// A choice for this thread only, over the process's (see [`KvDtype::scoped_engine_default`]).
    static THREAD_DTYPE: std::cell::Cell<Option<KvDtype>> = const { std::cell::Cell::new(None) };
}

/// Restores the thread's previous default storage type when dropped.
pub struct DtypeScope(Option<KvDtype>);

impl Drop for DtypeScope {
    fn drop(&mut self) {
        THREAD_DTYPE.with(|d| d.set(self.0));
    }
}

impl KvDtype {
    /// The type the engine stores KV in by default: f16, as llama.cpp does, unless
    /// [`KvDtype::set_engine_default`] chose another.
    pub fn engine_default() -> KvDtype {
        THREAD_DTYPE
            .with(|d| d.get())
            .unwrap_or(*ENGINE_DTYPE.get().unwrap_or(&KvDtype::F16))
    }

    /// Make `dtype` the default for runs this thread starts until the scope drops: for checks
    /// of exact equivalences, which need f32 whatever the process default is.
    pub fn scoped_engine_default(dtype: KvDtype) -> DtypeScope {
        DtypeScope(THREAD_DTYPE.with(|d| d.replace(Some(dtype))))
    }

    /// Choose the engine's default storage type for this process (the `--kv-dtype` flag);
    /// the first choice stands.
    pub fn set_engine_default(dtype: KvDtype) {
        let _ = ENGINE_DTYPE.set(dtype);
    }

    /// Parse a `--kv-dtype` value: a storage type this engine has.
    pub fn parse_storage(s: &str) -> Result<KvDtype, String> {
        match KvDtype::parse(s) {
            Some(d) if d != KvDtype::Bf16 => Ok(d),
            _ => Err(format!("{s:?}: expected f16, f32 or q8_0")),
        }
    }

    /// Whether the engine can hold KV in this type for heads of `head_dim` values.
    pub fn check_storage(self, head_dim: usize) -> Result<(), String> {
        match self {
            KvDtype::F32 | KvDtype::F16 => Ok(()),
            KvDtype::Q8 if head_dim % Q8_BLOCK == 0 => Ok(()),
            KvDtype::Q8 => Err(format!(
                "q8_0 KV needs a head dim that is a multiple of {Q8_BLOCK}; this model's is {head_dim}"
            )),
            KvDtype::Bf16 => {
                Err("bf16 KV is not supported on the CPU: use f16, f32 or q8_0".into())
            }
        }
    }
}

/// One sequence's cache: its id in the pool, and per slot its logical position, RoPE position
/// and whether it is hidden from attention (the masked reference of the equivalence tests).
#[derive(Debug, Clone)]
pub struct SeqCache {
    id: SeqId,
    logical: Vec<u64>,
    rope: Vec<u64>,
    hidden: Vec<bool>,
    rerotate: bool,
    evicted: u64,
    peak: usize,
    /// Physical slots reserved by the last `begin_append`, for `write_layer`.
    pending: Vec<usize>,
}

impl SeqCache {
    pub fn set_rerotate(&mut self, on: bool) {
        self.rerotate = on;
    }

    pub fn rerotates(&self) -> bool {
        self.rerotate
    }

    /// Slots held (live entries).
    pub fn len(&self) -> usize {
        self.logical.len()
    }

    pub fn is_empty(&self) -> bool {
        self.logical.is_empty()
    }

    pub fn peak_len(&self) -> usize {
        self.peak
    }

    /// Logical position of every slot, in slot order (not sorted after an eviction).
    pub fn logical_positions(&self) -> &[u64] {
        &self.logical
    }

    pub fn rope_positions(&self) -> &[u64] {
        &self.rope
    }

    pub fn hidden(&self) -> &[bool] {
        &self.hidden
    }

    /// Entries evicted so far.
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

    /// Slots holding logical positions in `span`.
    pub fn count_in(&self, span: &Range<u64>) -> usize {
        self.logical.iter().filter(|p| span.contains(p)).count()
    }

    /// Reserve slots for tokens at `positions` (strictly increasing, after every held
    /// position); each layer then fills them with [`SeqCache::write_layer`]. Returns their
    /// RoPE positions.
    pub fn begin_append(
        &mut self,
        pool: &mut KvPool,
        positions: &[u64],
    ) -> Result<Vec<u64>, String> {
        let mut last = self.logical.iter().copied().max();
        for &p in positions {
            if let Some(l) = last.filter(|&l| p <= l) {
                return Err(format!(
                    "KV append at position {p} after position {l}: positions must increase"
                ));
            }
            last = Some(p);
        }
        let slots = pool.reserve(self.id, positions.len()).map_err(|e| {
            format!(
                "the KV pool cannot hold {} more tokens: {e}",
                positions.len()
            )
        })?;
        let rope: Vec<u64> = positions
            .iter()
            .map(|&p| self.rope_position_for(p))
            .collect();
        self.logical.extend_from_slice(positions);
        self.rope.extend_from_slice(&rope);
        self.hidden.resize(self.logical.len(), false);
        self.peak = self.peak.max(self.logical.len());
        self.pending = slots;
        Ok(rope)
    }

    /// Physical slots the last `begin_append` reserved, in order.
    pub fn pending_slots(&self) -> &[usize] {
        &self.pending
    }

    /// Write one layer's K and V rows (`t × row` each) for the slots the last `begin_append`
    /// reserved.
    pub fn write_layer(&self, pool: &mut KvPool, layer: usize, k: &[f32], v: &[f32]) {
        if let Some(t) = &pool.tensors {
            let slots: Vec<u32> = self.pending.iter().map(|&s| s as u32).collect();
            let rows =
                |x: &[f32]| candle_core::Tensor::from_slice(x, (slots.len(), pool.row), t.device());
            let done = rows(k)
                .and_then(|k| Ok((k, rows(v)?)))
                .and_then(|(k, v)| t.write(layer, &slots, &k, &v));
            if let Err(e) = done {
                pool.fault
                    .get_or_insert_with(|| crate::model::candle_message(&e).to_string());
            }
            return;
        }
        let row = pool.row;
        for (i, &slot) in self.pending.iter().enumerate() {
            pool.keys[layer].write(slot, &k[i * row..(i + 1) * row]);
            pool.values[layer].write(slot, &v[i * row..(i + 1) * row]);
        }
    }

    /// Free every slot whose logical position is in `span`. `rerotate` (required when the knob
    /// is on) turns later keys back by the number of entries removed. Returns the count freed.
    pub fn evict(
        &mut self,
        pool: &mut KvPool,
        span: Range<u64>,
        rerotate: Option<Rerotate<'_>>,
    ) -> usize {
        let n = self.remove(pool, &span);
        if n == 0 {
            return 0;
        }
        self.evicted += n as u64;
        if let (true, Some(turn)) = (self.rerotate, rerotate) {
            if pool.tensors.is_some() {
                self.rerotate_tensors(pool, &span, n as u64, turn);
                return n;
            }
            let row = pool.row;
            let physical = pool.physical_slots(self);
            let mut key = vec![0f32; row];
            for (i, p) in self.logical.iter().enumerate() {
                if *p < span.end {
                    continue;
                }
                for layer in 0..pool.layers {
                    pool.keys[layer].read(physical[i], row, 0, &mut key);
                    turn(&mut key, n as u64);
                    pool.keys[layer].write(physical[i], &key);
                }
                self.rope[i] -= n as u64;
            }
        }
        n
    }

    /// [`SeqCache::evict`]'s re-rotation for a pool of device tensors: the keys after the span
    /// come to the host, turn, and go back.
    fn rerotate_tensors(
        &mut self,
        pool: &mut KvPool,
        span: &Range<u64>,
        n: u64,
        turn: Rerotate<'_>,
    ) {
        let physical = pool.physical_slots(self);
        let later: Vec<usize> = (0..self.logical.len())
            .filter(|&i| self.logical[i] >= span.end)
            .collect();
        if later.is_empty() {
            return;
        }
        let slots: Vec<u32> = later.iter().map(|&i| physical[i] as u32).collect();
        let t = pool.tensors.as_ref().expect("a pool of device tensors");
        let row = pool.row;
        let mut done = Ok(());
        for layer in 0..pool.layers {
            done = t.read(layer, &slots).and_then(|(mut k, v)| {
                for key in k.chunks_exact_mut(row) {
                    turn(key, n);
                }
                let device = t.device();
                let k = candle_core::Tensor::from_vec(k, (slots.len(), row), device)?;
                let v = candle_core::Tensor::from_vec(v, (slots.len(), row), device)?;
                t.write(layer, &slots, &k, &v)
            });
            if done.is_err() {
                break;
            }
        }
        if let Err(e) = done {
            pool.fault
                .get_or_insert_with(|| crate::model::candle_message(&e).to_string());
        }
        for &i in &later {
            self.rope[i] -= n;
        }
    }

    /// Drop every slot from logical position `from` on (a rewind), e.g. to recompute them.
    pub fn truncate_from(&mut self, pool: &mut KvPool, from: u64) {
        self.remove(pool, &(from..u64::MAX));
    }

    /// Remove the slots of `span`, one run of consecutive slots at a time (last first): each
    /// run's whole pages go back to the pool and the sequence's tail fills its edge holes.
    fn remove(&mut self, pool: &mut KvPool, span: &Range<u64>) -> usize {
        let mut removed = 0;
        while let Some(last) = self.logical.iter().rposition(|p| span.contains(p)) {
            let mut first = last;
            while first > 0 && span.contains(&self.logical[first - 1]) {
                first -= 1;
            }
            let e = pool
                .pages
                .evict(self.id, first..last + 1)
                .expect("the slots of a sequence of this pool");
            let row = pool.row;
            if let Some(t) = &pool.tensors {
                let moves: Vec<(u32, u32)> = e
                    .moves
                    .iter()
                    .map(|m| {
                        (
                            pool.physical(m.from_slot) as u32,
                            pool.physical(m.to_slot) as u32,
                        )
                    })
                    .collect();
                if let Err(err) = t.copy_slots(&moves) {
                    pool.fault
                        .get_or_insert_with(|| crate::model::candle_message(&err).to_string());
                }
            } else {
                for m in &e.moves {
                    let (from, to) = (pool.physical(m.from_slot), pool.physical(m.to_slot));
                    for layer in 0..pool.layers {
                        pool.keys[layer].copy_slot(from, to, row);
                        pool.values[layer].copy_slot(from, to, row);
                    }
                }
            }
            e.apply_to(&mut self.logical);
            e.apply_to(&mut self.rope);
            e.apply_to(&mut self.hidden);
            removed += last + 1 - first;
        }
        removed
    }

    /// The physical slots attention reads, in logical-position order: every entry but the
    /// hidden ones. Reading in this order whatever the slot layout makes an evicted cache
    /// compute exactly what the masked full cache computes.
    pub fn attention_order(&self, pool: &KvPool) -> Vec<usize> {
        let physical = pool.physical_slots(self);
        let mut order: Vec<(u64, usize)> = self
            .logical
            .iter()
            .zip(&physical)
            .zip(&self.hidden)
            .filter(|(_, hidden)| !**hidden)
            .map(|((p, s), _)| (*p, *s))
            .collect();
        // Mostly sorted already: only an eviction's few moved slots are out of place.
        order.sort_unstable_by_key(|e| e.0);
        order.into_iter().map(|e| e.1).collect()
    }

    /// Hide the slots in `span` from attention without freeing them.
    pub fn mask(&mut self, span: Range<u64>) {
        for (h, p) in self.hidden.iter_mut().zip(&self.logical) {
            if span.contains(p) {
                *h = true;
            }
        }
    }

    /// `layer`'s K and V rows for the positions of `span`, in position order, as f32; `None`
    /// when any position of it is not cached.
    pub fn rows_f32(
        &self,
        pool: &KvPool,
        layer: usize,
        span: &Range<u64>,
    ) -> Option<(Vec<f32>, Vec<f32>)> {
        let mut slots: Vec<(u64, usize)> = self
            .logical
            .iter()
            .enumerate()
            .filter(|(_, p)| span.contains(p))
            .map(|(i, p)| (*p, i))
            .collect();
        if slots.len() as u64 != span.end - span.start {
            return None;
        }
        slots.sort_unstable();
        let row = pool.row;
        let physical = pool.physical_slots(self);
        if let Some(t) = &pool.tensors {
            let wanted: Vec<u32> = slots.iter().map(|&(_, i)| physical[i] as u32).collect();
            return t.read(layer, &wanted).ok();
        }
        let (mut k, mut v) = (vec![0f32; slots.len() * row], vec![0f32; slots.len() * row]);
        for (j, &(_, i)) in slots.iter().enumerate() {
            pool.keys[layer].read(physical[i], row, 0, &mut k[j * row..(j + 1) * row]);
            pool.values[layer].read(physical[i], row, 0, &mut v[j * row..(j + 1) * row]);
        }
        Some((k, v))
    }

    /// Bytes this sequence's tokens and pages take.
    pub fn memory(&self, pool: &KvPool) -> KvMemory {
        let pages = pool.pages_of(self);
        KvMemory {
            live_bytes: self.len() as u64 * pool.slot_bytes(),
            reserved_bytes: pages as u64 * pool.page_bytes(),
        }
    }
}
