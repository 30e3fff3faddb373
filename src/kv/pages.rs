//! The paged KV pool's bookkeeping: fixed-size pages shared by every sequence, and a page
//! table per sequence. This file decides which physical slot each cached token occupies; the
//! K and V data follow its decisions (the [`SlotMove`]s an eviction returns).
//!
//! A sequence's slots are numbered `0..len` through its page table: slot `i` lives on page
//! `table[i / page_tokens]` at offset `i % page_tokens`. Every page of a table is full except
//! the last, so a sequence reserves less than one page more than it holds (the bound the
//! serving literature's paged attention keeps, Kwon et al. 2023, §4.2).
//!
//! Eviction (MEMENTO's block eviction, DESIGN.md §1.2) removes a range of slots. Pages the range
//! covers whole go back to the pool untouched; the partial pages at its two edges leave holes,
//! which the sequence's last slots move into. Attention reads every cached slot with its own
//! position, so slot order carries no meaning and these moves change nothing a model computes.
//! An eviction therefore moves fewer than two pages of slots, whatever the length of the tail
//! behind it: its cost grows with the span's pages, not with the cache.

use std::collections::BTreeMap;
use std::ops::Range;

/// A page of the pool.
pub type PageId = u32;
/// A sequence the pool holds pages for.
pub type SeqId = u64;

/// Where one cached token's K and V live: a page and the slot within it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Slot {
    pub page: PageId,
    pub offset: u32,
}

/// One slot's data copied during an eviction's compaction: from the sequence's slot `from`
/// (physical `from_slot`) to its slot `to` (physical `to_slot`). Indices count after the
/// eviction's whole pages are dropped (see [`PageEviction::apply_to`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SlotMove {
    pub from: usize,
    pub to: usize,
    pub from_slot: Slot,
    pub to_slot: Slot,
}

/// What an eviction did: the pages it returned to the pool and the slot copies that keep the
/// table full but for its last page.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PageEviction {
    /// The slots evicted, in the numbering before the eviction.
    pub evicted: Range<usize>,
    /// The slots whose pages were dropped whole (a page-aligned part of `evicted`).
    pub dropped: Range<usize>,
    /// Returned to the pool: the dropped pages, then the emptied tail pages.
    pub freed: Vec<PageId>,
    /// Copies, in order.
    pub moves: Vec<SlotMove>,
    /// The sequence's length after the eviction.
    pub len: usize,
}

impl PageEviction {
    /// Make the same edit to per-slot data kept beside the pool (positions, flags, the K and V
    /// rows of a test): `meta[i]` describes slot `i` before the eviction and after it.
    pub fn apply_to<T: Clone>(&self, meta: &mut Vec<T>) {
        meta.drain(self.dropped.clone());
        for m in &self.moves {
            meta[m.to] = meta[m.from].clone();
        }
        meta.truncate(self.len);
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PoolError {
    #[error("sequence {0} is not in the pool")]
    UnknownSequence(SeqId),
    #[error("sequence {0} is already in the pool")]
    DuplicateSequence(SeqId),
    #[error("{needed} more pages needed, {free} free")]
    OutOfPages { needed: usize, free: usize },
    #[error("the device could not grow the KV pool: {0}")]
    Device(String),
    #[error("slots {start}..{end} are not within the sequence's {len}")]
    OutOfRange {
        start: usize,
        end: usize,
        len: usize,
    },
}

/// One sequence's pages and length.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PageTable {
    pub pages: Vec<PageId>,
    pub len: usize,
}

/// Fixed-size pages shared by sequences. Pages are handed out last-freed first, so a page an
/// eviction frees is the next one written (it is warm in cache).
#[derive(Debug, Clone)]
pub struct PagePool {
    page_tokens: usize,
    total: usize,
    free: Vec<PageId>,
    tables: BTreeMap<SeqId, PageTable>,
}

impl PagePool {
    /// A pool of `total` pages of `page_tokens` slots each.
    ///
    /// # Panics
    /// `page_tokens` is 0, or `total` does not fit a [`PageId`].
    pub fn new(total: usize, page_tokens: usize) -> PagePool {
        assert!(page_tokens > 0, "a page holds at least one slot");
        assert!(total <= PageId::MAX as usize, "{total} pages");
        PagePool {
            page_tokens,
            total,
            free: (0..total as PageId).rev().collect(),
            tables: BTreeMap::new(),
        }
    }

    pub fn page_tokens(&self) -> usize {
        self.page_tokens
    }

    pub fn total_pages(&self) -> usize {
        self.total
    }

    pub fn free_pages(&self) -> usize {
        self.free.len()
    }

    pub fn used_pages(&self) -> usize {
        self.total - self.free.len()
    }

    pub fn sequences(&self) -> impl Iterator<Item = (SeqId, &PageTable)> {
        self.tables.iter().map(|(id, t)| (*id, t))
    }

    pub fn table(&self, seq: SeqId) -> Result<&PageTable, PoolError> {
        self.tables.get(&seq).ok_or(PoolError::UnknownSequence(seq))
    }

    /// Pages needed to hold `tokens`.
    pub fn pages_for(&self, tokens: usize) -> usize {
        tokens.div_ceil(self.page_tokens)
    }

    /// Pages `seq` would need to take from the pool to grow by `tokens` (a new sequence counts
    /// from empty).
    pub fn pages_to_grow(&self, seq: SeqId, tokens: usize) -> usize {
        let (len, held) = self
            .tables
            .get(&seq)
            .map_or((0, 0), |t| (t.len, t.pages.len()));
        self.pages_for(len + tokens).saturating_sub(held)
    }

    /// Add `extra` pages to the pool (a pool that grows with its one sequence, as a
    /// single-run cache does).
    pub fn grow(&mut self, extra: usize) {
        let to = self.total + extra;
        assert!(to <= PageId::MAX as usize, "{to} pages");
        // Lowest new id on top, so new pages are handed out in order.
        self.free
            .splice(0..0, (self.total as PageId..to as PageId).rev());
        self.total = to;
    }

    /// Physical slot numbers (`page × page_tokens + offset`) of every slot of `seq`, in the
    /// sequence's order.
    pub fn physical_slots(&self, seq: SeqId) -> Result<Vec<usize>, PoolError> {
        let table = self.table(seq)?;
        let p = self.page_tokens;
        Ok((0..table.len)
            .map(|i| table.pages[i / p] as usize * p + i % p)
            .collect())
    }

    /// Start a sequence with no slots.
    pub fn add(&mut self, seq: SeqId) -> Result<(), PoolError> {
        if self.tables.contains_key(&seq) {
            return Err(PoolError::DuplicateSequence(seq));
        }
        self.tables.insert(seq, PageTable::default());
        Ok(())
    }

    /// Where slot `index` of `seq` lives.
    pub fn slot(&self, seq: SeqId, index: usize) -> Result<Slot, PoolError> {
        let table = self.table(seq)?;
        if index >= table.len {
            return Err(PoolError::OutOfRange {
                start: index,
                end: index + 1,
                len: table.len,
            });
        }
        Ok(self.locate(table, index))
    }

    fn locate(&self, table: &PageTable, index: usize) -> Slot {
        Slot {
            page: table.pages[index / self.page_tokens],
            offset: (index % self.page_tokens) as u32,
        }
    }

    /// Grow `seq` by `tokens` slots, taking pages as needed; returns the new slots in order.
    /// All or nothing: when the pool cannot supply the pages, nothing changes.
    pub fn append(&mut self, seq: SeqId, tokens: usize) -> Result<Vec<Slot>, PoolError> {
        let needed = self.pages_to_grow(seq, tokens);
        if !self.tables.contains_key(&seq) {
            return Err(PoolError::UnknownSequence(seq));
        }
        if needed > self.free.len() {
            return Err(PoolError::OutOfPages {
                needed,
                free: self.free.len(),
            });
        }
        let new_pages: Vec<PageId> = (0..needed).filter_map(|_| self.free.pop()).collect();
        let table = self.tables.get_mut(&seq).expect("checked above");
        table.pages.extend(new_pages);
        let from = table.len;
        table.len += tokens;
        let table = &self.tables[&seq];
        Ok((from..table.len).map(|i| self.locate(table, i)).collect())
    }

    /// Remove slots `range` of `seq`: whole pages go back to the pool, and the sequence's last
    /// slots fill the holes the partial pages at the range's edges leave (fewer than
    /// 2 × page_tokens copies). Every page stays full but the last.
    pub fn evict(&mut self, seq: SeqId, range: Range<usize>) -> Result<PageEviction, PoolError> {
        let p = self.page_tokens;
        let table = self
            .tables
            .get_mut(&seq)
            .ok_or(PoolError::UnknownSequence(seq))?;
        if range.start > range.end || range.end > table.len {
            return Err(PoolError::OutOfRange {
                start: range.start,
                end: range.end,
                len: table.len,
            });
        }
        // Pages inside the range whole: dropped from the table, their data never touched.
        let first_whole = range.start.div_ceil(p);
        let end_whole = (range.end / p).max(first_whole);
        let mut freed: Vec<PageId> = table.pages.drain(first_whole..end_whole).collect();
        let dropped = if end_whole > first_whole {
            first_whole * p..end_whole * p
        } else {
            range.start..range.start
        };
        let shift = dropped.len();
        let mut len = table.len - shift;
        // The holes left: the evicted slots outside the dropped pages, renumbered.
        let mut holes: Vec<usize> = range
            .clone()
            .filter(|i| !dropped.contains(i))
            .map(|i| if i >= dropped.end { i - shift } else { i })
            .collect();
        // Fill each hole, lowest first, with the last live slot; a hole at the end just ends
        // the sequence sooner.
        let mut moves = Vec::new();
        holes.sort_unstable();
        let mut hole_set: std::collections::BTreeSet<usize> = holes.iter().copied().collect();
        while let Some(&lowest) = hole_set.iter().next() {
            let last = len - 1;
            if hole_set.remove(&last) {
                len -= 1;
                continue;
            }
            if lowest > last {
                break;
            }
            hole_set.remove(&lowest);
            let locate = |i: usize| Slot {
                page: table.pages[i / p],
                offset: (i % p) as u32,
            };
            moves.push(SlotMove {
                from: last,
                to: lowest,
                from_slot: locate(last),
                to_slot: locate(lowest),
            });
            len -= 1;
        }
        // Pages past the new end go back too.
        let keep = len.div_ceil(p);
        freed.extend(table.pages.drain(keep..));
        table.len = len;
        self.free.extend(freed.iter().rev());
        Ok(PageEviction {
            evicted: range,
            dropped,
            freed,
            moves,
            len,
        })
    }

    /// End `seq`: all its pages go back to the pool.
    pub fn remove(&mut self, seq: SeqId) -> Result<Vec<PageId>, PoolError> {
        let table = self
            .tables
            .remove(&seq)
            .ok_or(PoolError::UnknownSequence(seq))?;
        self.free.extend(table.pages.iter().rev());
        Ok(table.pages)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn appends_take_pages_as_they_fill_and_refuse_past_the_pool() {
        let mut pool = PagePool::new(4, 16);
        pool.add(1).unwrap();
        let slots = pool.append(1, 20).unwrap();
        assert_eq!(slots.len(), 20);
        assert_eq!(pool.used_pages(), 2);
        assert_eq!(slots[16].offset, 0);
        assert_ne!(slots[0].page, slots[16].page);
        pool.add(2).unwrap();
        assert_eq!(
            pool.append(2, 40),
            Err(PoolError::OutOfPages { needed: 3, free: 2 })
        );
        assert_eq!(
            pool.table(2).unwrap().len,
            0,
            "a refused append changes nothing"
        );
        assert_eq!(pool.append(3, 1), Err(PoolError::UnknownSequence(3)));
        assert_eq!(pool.add(1), Err(PoolError::DuplicateSequence(1)));
        assert_eq!(pool.remove(1).unwrap().len(), 2);
        assert_eq!(pool.free_pages(), 4);
    }

    #[test]
    fn an_eviction_drops_whole_pages_and_moves_fewer_than_two_pages_of_slots() {
        let p = 16;
        let mut pool = PagePool::new(64, p);
        pool.add(7).unwrap();
        pool.append(7, 600).unwrap();
        // A block of 290 slots starting mid-page, with 300 slots behind it.
        let e = pool.evict(7, 10..300).unwrap();
        assert_eq!(e.len, 310);
        assert_eq!(e.dropped, 16..288);
        assert!(e.moves.len() < 2 * p, "{} moves", e.moves.len());
        assert_eq!(pool.table(7).unwrap().pages.len(), 310usize.div_ceil(p));
        assert_eq!(pool.used_pages(), 310usize.div_ceil(p));
        // Evicting the whole tail moves nothing.
        let e = pool.evict(7, 100..310).unwrap();
        assert!(e.moves.is_empty());
        assert_eq!(pool.table(7).unwrap().len, 100);
    }

    /// The model of one sequence: the tokens it holds, as `apply_to` edits them.
    #[derive(Debug, Clone)]
    enum Op {
        Add,
        Append(usize, usize),
        Evict(usize, usize, usize),
        Remove(usize),
    }

    fn op() -> impl Strategy<Value = Op> {
        prop_oneof![
            1 => Just(Op::Add),
            4 => (0usize..4, 1usize..70).prop_map(|(s, n)| Op::Append(s, n)),
            3 => (0usize..4, 0usize..1000, 0usize..1000).prop_map(|(s, a, b)| Op::Evict(s, a, b)),
            1 => (0usize..4).prop_map(Op::Remove),
        ]
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(2000))]

        /// No page leaks or is held twice; every table is full but its last page; and the
        /// data each slot's physical place holds is the token the model says is there.
        #[test]
        fn the_pool_never_leaks_double_frees_or_loses_a_token(
            page_tokens in 1usize..9,
            ops in proptest::collection::vec(op(), 1..80),
        ) {
            let total = 40;
            let mut pool = PagePool::new(total, page_tokens);
            // Physical storage: one token id per slot of every page.
            let mut storage = vec![u64::MAX; total * page_tokens];
            let at = |s: Slot| s.page as usize * page_tokens + s.offset as usize;
            let mut model: BTreeMap<SeqId, Vec<u64>> = BTreeMap::new();
            let mut next_token = 0u64;
            let mut next_seq = 0u64;
            for op in ops {
                let seqs: Vec<SeqId> = model.keys().copied().collect();
                let pick = |i: usize| seqs.get(i % seqs.len().max(1)).copied();
                match op {
                    Op::Add => {
                        pool.add(next_seq).unwrap();
                        model.insert(next_seq, Vec::new());
                        next_seq += 1;
                    }
                    Op::Append(s, n) => {
                        let Some(seq) = pick(s) else { continue };
                        match pool.append(seq, n) {
                            Ok(slots) => {
                                for slot in slots {
                                    storage[at(slot)] = next_token;
                                    model.get_mut(&seq).unwrap().push(next_token);
                                    next_token += 1;
                                }
                            }
                            Err(PoolError::OutOfPages { needed, free }) => {
                                prop_assert!(needed > free);
                            }
                            Err(e) => prop_assert!(false, "{e}"),
                        }
                    }
                    Op::Evict(s, a, b) => {
                        let Some(seq) = pick(s) else { continue };
                        let len = model[&seq].len();
                        let (a, b) = (a.min(b).min(len), a.max(b).min(len));
                        // The surviving tokens, as a set: order within the cache is free.
                        let mut expect: Vec<u64> = model[&seq][..a]
                            .iter()
                            .chain(&model[&seq][b..])
                            .copied()
                            .collect();
                        let e = pool.evict(seq, a..b).unwrap();
                        prop_assert!(e.moves.len() < 2 * page_tokens);
                        for m in &e.moves {
                            storage[at(m.to_slot)] = storage[at(m.from_slot)];
                        }
                        let tokens = model.get_mut(&seq).unwrap();
                        e.apply_to(tokens);
                        let mut got = tokens.clone();
                        got.sort_unstable();
                        expect.sort_unstable();
                        prop_assert_eq!(got, expect);
                    }
                    Op::Remove(s) => {
                        let Some(seq) = pick(s) else { continue };
                        pool.remove(seq).unwrap();
                        model.remove(&seq);
                    }
                }
                // Invariants after every operation.
                let mut held: Vec<PageId> = pool.sequences().flat_map(|(_, t)| t.pages.clone()).collect();
                let in_use = held.len();
                held.extend(pool.free.iter().copied());
                held.sort_unstable();
                held.dedup();
                prop_assert_eq!(held.len(), total, "a page leaked or is held twice");
                prop_assert_eq!(in_use + pool.free_pages(), total);
                for (seq, table) in pool.sequences() {
                    prop_assert_eq!(table.len, model[&seq].len());
                    prop_assert_eq!(table.pages.len(), table.len.div_ceil(page_tokens), "full but the last");
                    for (i, token) in model[&seq].iter().enumerate() {
                        prop_assert_eq!(storage[at(pool.slot(seq, i).unwrap())], *token);
                    }
                }
            }
        }
    }
}
