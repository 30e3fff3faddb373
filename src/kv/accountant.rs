//! The one implementation of the eviction policy (DESIGN §1.2).
//!
//! The accountant watches span boundaries and token appends, decides which spans to evict and
//! when, and keeps exact counts: live tokens, bytes for a model shape, the peak. The live
//! engine applies its decisions to a real cache; replay and statistics use it to simulate a
//! policy over a recorded structure. Positions are logical (RoPE) positions; they are never
//! compacted, so evicted spans leave gaps.
//!
//! Order within a step: boundaries completed by the token at position p are observed first
//! (an eviction triggered by `<|summary_end|>` happens before that token's own entry is
//! appended, as in the reference implementation), then the token is appended.

use std::collections::VecDeque;
use std::ops::Range;

use serde::{Deserialize, Serialize};

use super::policy::KvPolicy;
use super::shape::KvShape;
use crate::structure::{Boundary, Edge, SpanKind};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EvictionReason {
    /// The block's memento ended (keep 0).
    Memento,
    /// The block fell out of the last N kept blocks (keep N > 0).
    KeepN,
    /// A block deferred by `keep_last_block_for_answer`, flushed at the next block.
    Deferred,
    /// Restart ablation: the block and its delimiters go, the memento is recomputed.
    Restart,
}

/// A decision to drop a span of positions from the cache.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Eviction {
    pub block: u32,
    /// Logical positions removed, half-open.
    pub span: Range<u64>,
    /// Entries actually freed (positions of the span that were cached).
    pub freed: u64,
    /// Bytes freed across all layers (exact, sliding-window layers included).
    pub freed_bytes: u64,
    pub reason: EvictionReason,
    /// Restart only: the positions after the block (the memento and anything between the
    /// block's end and the memento) whose KV must be recomputed without the block.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub recompute: Option<Range<u64>>,
}

/// Cache occupancy after a step.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct KvReading {
    /// Position of the last entry appended.
    pub pos: u64,
    pub live: u64,
    pub bytes: u64,
}

#[derive(Debug, Clone)]
struct BlockTrack {
    index: u32,
    open_from: u64,
    open_to: u64,
    close: Option<(u64, u64)>,
    memento_from: Option<u64>,
    evicted: bool,
}

#[derive(Debug, Clone)]
pub struct KvAccountant {
    policy: KvPolicy,
    shape: Option<KvShape>,
    /// One past the last appended position.
    appended_to: u64,
    live: u64,
    peak_live: u64,
    peak_bytes: u64,
    evicted_total: u64,
    /// Evicted spans, sorted by start, disjoint.
    evicted: Vec<Range<u64>>,
    blocks: Vec<BlockTrack>,
    open_block: Option<usize>,
    /// Blocks whose memento ended and that are still cached, oldest first (keep N).
    completed: VecDeque<usize>,
    /// keep_last_block_for_answer: the block whose eviction waits for the next block.
    deferred: Option<usize>,
}

impl KvAccountant {
    pub fn new(policy: KvPolicy, shape: Option<KvShape>) -> Self {
        KvAccountant {
            policy,
            shape,
            appended_to: 0,
            live: 0,
            peak_live: 0,
            peak_bytes: 0,
            evicted_total: 0,
            evicted: Vec::new(),
            blocks: Vec::new(),
            open_block: None,
            completed: VecDeque::new(),
            deferred: None,
        }
    }

    pub fn policy(&self) -> &KvPolicy {
        &self.policy
    }

    pub fn shape(&self) -> Option<&KvShape> {
        self.shape.as_ref()
    }

    /// Observe a boundary; returns the evictions it triggers, already applied to the counts.
    pub fn observe(&mut self, b: &Boundary) -> Vec<Eviction> {
        let mut out = Vec::new();
        match (b.span, b.edge) {
            (SpanKind::Block, Edge::Open) => {
                if let Some(d) = self.deferred.take() {
                    out.extend(self.evict(d, EvictionReason::Deferred));
                }
                if let Some(index) = b.block {
                    self.blocks.push(BlockTrack {
                        index,
                        open_from: b.tag_from(),
                        open_to: b.tag_to(),
                        close: None,
                        memento_from: None,
                        evicted: false,
                    });
                    self.open_block = Some(self.blocks.len() - 1);
                }
            }
            (SpanKind::Block, Edge::Close) => {
                if let Some(slot) = self.slot(b.block) {
                    self.blocks[slot].close = Some((b.tag_from(), b.tag_to()));
                }
                self.open_block = None;
            }
            (SpanKind::Summary, Edge::Open) => {
                if let Some(slot) = self.slot(b.block) {
                    self.blocks[slot].memento_from = Some(b.tag_from());
                }
            }
            (SpanKind::Summary, Edge::Close) => {
                // Only a real `<|summary_end|>` triggers eviction; an implicit close does not.
                if !b.is_implicit() && self.policy.evicts() {
                    if let Some(slot) = self.slot(b.block) {
                        out.extend(self.memento_ended(slot));
                    }
                }
            }
            (SpanKind::Think, Edge::Close) => {
                // `</think>` before the next block: the deferred block stays for the answer.
                self.deferred = None;
            }
            (SpanKind::Think, Edge::Open) | (SpanKind::Answer, _) => {}
        }
        out
    }

    fn memento_ended(&mut self, slot: usize) -> Vec<Eviction> {
        let mut out = Vec::new();
        let keep = self.policy.keep_last_n_blocks;
        if keep == 0 && self.policy.keep_last_block_for_answer && !self.policy.restart {
            if let Some(d) = self.deferred.replace(slot) {
                out.extend(self.evict(d, EvictionReason::Deferred));
            }
            return out;
        }
        self.completed.push_back(slot);
        let reason = if self.policy.restart {
            EvictionReason::Restart
        } else if keep == 0 {
            EvictionReason::Memento
        } else {
            EvictionReason::KeepN
        };
        while self.completed.len() > keep.max(0) as usize {
            if let Some(oldest) = self.completed.pop_front() {
                out.extend(self.evict(oldest, reason));
            }
        }
        out
    }

    fn evict(&mut self, slot: usize, reason: EvictionReason) -> Option<Eviction> {
        let block = &mut self.blocks[slot];
        if block.evicted {
            return None;
        }
        block.evicted = true;
        let (close_from, close_to) = block.close.unwrap_or((self.appended_to, self.appended_to));
        let with_delimiters = self.policy.mask_delimiters || self.policy.restart;
        let span = if with_delimiters {
            block.open_from..close_to.max(block.open_from)
        } else {
            block.open_to..close_from.max(block.open_to)
        };
        // Everything after the block up to now (the memento and any text between the
        // block's end and the memento) was computed with the block visible: recompute it.
        let recompute = if reason == EvictionReason::Restart {
            block
                .memento_from
                .map(|from| span.end.min(from)..self.appended_to.max(from))
        } else {
            None
        };
        let index = block.index;
        let cached = span.start.min(self.appended_to)..span.end.min(self.appended_to);
        let freed = cached.end - cached.start - overlap(&self.evicted, &cached);
        let bytes_before = self.live_bytes();
        self.insert_evicted(span.clone());
        self.live -= freed;
        self.evicted_total += freed;
        Some(Eviction {
            block: index,
            span,
            freed,
            freed_bytes: bytes_before - self.live_bytes(),
            reason,
            recompute,
        })
    }

    fn insert_evicted(&mut self, span: Range<u64>) {
        if span.is_empty() {
            return;
        }
        let at = self.evicted.partition_point(|r| r.start < span.start);
        self.evicted.insert(at, span);
        // Merge neighbours so the list stays disjoint.
        let mut merged: Vec<Range<u64>> = Vec::with_capacity(self.evicted.len());
        for r in self.evicted.drain(..) {
            match merged.last_mut() {
                Some(last) if r.start <= last.end => last.end = last.end.max(r.end),
                _ => merged.push(r),
            }
        }
        self.evicted = merged;
    }

    fn slot(&self, block: Option<u32>) -> Option<usize> {
        let block = block?;
        self.blocks.iter().rposition(|b| b.index == block)
    }

    /// Append the entry for the token at `pos` (positions must increase).
    pub fn append(&mut self, pos: u64) -> KvReading {
        if pos >= self.appended_to {
            self.live += 1;
            self.appended_to = pos + 1;
        }
        self.note_peak();
        self.reading()
    }

    fn note_peak(&mut self) {
        self.peak_live = self.peak_live.max(self.live);
        let bytes = self.live_bytes();
        self.peak_bytes = self.peak_bytes.max(bytes);
    }

    /// Occupancy now.
    pub fn reading(&self) -> KvReading {
        KvReading {
            pos: self.appended_to.saturating_sub(1),
            live: self.live,
            bytes: self.live_bytes(),
        }
    }

    pub fn live_bytes(&self) -> u64 {
        let Some(shape) = &self.shape else { return 0 };
        let in_window = match shape.sliding_window {
            Some(w) => {
                let lo = self.appended_to.saturating_sub(w.window);
                let window = lo..self.appended_to;
                (window.end - window.start) - overlap(&self.evicted, &window)
            }
            None => self.live,
        };
        shape.bytes_for(self.live, in_window)
    }

    pub fn live(&self) -> u64 {
        self.live
    }

    pub fn peak_live(&self) -> u64 {
        self.peak_live
    }

    pub fn peak_bytes(&self) -> u64 {
        self.peak_bytes
    }

    pub fn evicted_total(&self) -> u64 {
        self.evicted_total
    }

    /// One past the last appended position: the next token's logical position.
    pub fn next_pos(&self) -> u64 {
        self.appended_to
    }

    /// Evicted spans so far, sorted and disjoint.
    pub fn evicted_spans(&self) -> &[Range<u64>] {
        &self.evicted
    }

    /// Content tokens of the open block so far.
    pub fn open_block_tokens(&self) -> u64 {
        self.open_block.map_or(0, |slot| {
            self.appended_to.saturating_sub(self.blocks[slot].open_to)
        })
    }

    /// True when `max_block_tokens` says the open block must end now.
    pub fn block_over_budget(&self) -> bool {
        self.policy.max_block_tokens > 0
            && self.open_block_tokens() >= self.policy.max_block_tokens as u64
    }
}

/// How many positions of `window` fall inside the sorted, disjoint `spans`.
fn overlap(spans: &[Range<u64>], window: &Range<u64>) -> u64 {
    if window.is_empty() {
        return 0;
    }
    let first = spans.partition_point(|r| r.end <= window.start);
    spans[first..]
        .iter()
        .take_while(|r| r.start < window.end)
        .map(|r| r.end.min(window.end) - r.start.max(window.start))
        .sum()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn overlap_counts_only_the_window() {
        let spans = vec![2..5, 8..10, 20..30];
        assert_eq!(overlap(&spans, &(0..100)), 3 + 2 + 10);
        assert_eq!(overlap(&spans, &(4..9)), 1 + 1);
        assert_eq!(overlap(&spans, &(10..20)), 0);
        assert_eq!(overlap(&spans, &(25..25)), 0);
    }
}
