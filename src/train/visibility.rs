//! Which keys each query of a training row may attend to.
//!
//! A training row packs one or more sequences (documents). A query sees the keys of its own
//! document up to itself, minus the spans that memento attention has evicted by then. An
//! eviction is a key span with the first query it applies to: the reference implementation
//! evicts a block when `<|summary_end|>` is sampled, before that token's own entry is computed
//! (DESIGN §1.2, `gpu_model_runner.py`), so the `<|summary_end|>` row is the first that no
//! longer sees the block, while the memento's own rows still do (the dual information stream).

use std::ops::Range;

/// A key span hidden from query `from` onward, in row coordinates.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Hidden {
    pub keys: Range<usize>,
    pub from: usize,
}

/// One row's visible key ranges for every query, flattened.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RowVisibility {
    len: usize,
    /// `offsets[i]..offsets[i + 1]` index the ranges of query `i`.
    offsets: Vec<u32>,
    ranges: Vec<(u32, u32)>,
}

impl RowVisibility {
    /// Queries `0..len`; `docs` are the packed sequences (sorted, disjoint; a query outside
    /// every document sees nothing but itself, which is how padding is kept harmless);
    /// `hidden` the evicted spans.
    pub fn new(len: usize, docs: &[Range<usize>], hidden: &[Hidden]) -> RowVisibility {
        let mut offsets = Vec::with_capacity(len + 1);
        let mut ranges = Vec::new();
        let mut doc = 0;
        let mut active: Vec<Range<usize>> = Vec::new();
        offsets.push(0);
        for i in 0..len {
            while doc < docs.len() && docs[doc].end <= i {
                doc += 1;
            }
            let lo = match docs.get(doc) {
                Some(d) if d.start <= i => d.start,
                _ => i,
            };
            active.clear();
            active.extend(
                hidden
                    .iter()
                    .filter(|h| h.from <= i && h.keys.start <= i && h.keys.end > lo)
                    .map(|h| h.keys.start.max(lo)..h.keys.end.min(i + 1)),
            );
            active.sort_by_key(|r| r.start);
            let mut at = lo;
            for r in &active {
                if r.start > at {
                    ranges.push((at as u32, r.start as u32));
                }
                at = at.max(r.end);
            }
            if at <= i {
                ranges.push((at as u32, (i + 1) as u32));
            }
            offsets.push(ranges.len() as u32);
        }
        RowVisibility {
            len,
            offsets,
            ranges,
        }
    }

    /// Ordinary causal attention over one document of `len` tokens.
    pub fn causal(len: usize) -> RowVisibility {
        RowVisibility::new(len, std::slice::from_ref(&(0..len)), &[])
    }

    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The visible key ranges of query `i`, ascending.
    pub fn ranges(&self, i: usize) -> impl Iterator<Item = Range<usize>> + '_ {
        let (a, b) = (self.offsets[i] as usize, self.offsets[i + 1] as usize);
        self.ranges[a..b]
            .iter()
            .map(|&(s, e)| s as usize..e as usize)
    }

    /// How many keys query `i` sees.
    pub fn count(&self, i: usize) -> usize {
        self.ranges(i).map(|r| r.len()).sum()
    }

    pub fn sees(&self, query: usize, key: usize) -> bool {
        self.ranges(query).any(|r| r.contains(&key))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn causal_rows_see_everything_before_them() {
        let v = RowVisibility::causal(4);
        assert_eq!(v.ranges(0).collect::<Vec<_>>(), vec![0..1]);
        assert_eq!(v.ranges(3).collect::<Vec<_>>(), vec![0..4]);
    }

    #[test]
    fn documents_do_not_see_each_other() {
        let v = RowVisibility::new(6, &[0..3, 3..5], &[]);
        assert_eq!(v.ranges(4).collect::<Vec<_>>(), vec![3..5]);
        // Padding after the last document sees only itself.
        assert_eq!(v.ranges(5).collect::<Vec<_>>(), vec![5..6]);
    }

    #[test]
    fn an_eviction_applies_from_its_first_query() {
        let hidden = [Hidden {
            keys: 2..5,
            from: 7,
        }];
        let v = RowVisibility::new(9, std::slice::from_ref(&(0..9)), &hidden);
        assert!(v.sees(6, 3));
        assert!(!v.sees(7, 3));
        assert_eq!(v.ranges(8).collect::<Vec<_>>(), vec![0..2, 5..9]);
        assert_eq!(v.count(8), 6);
    }
}
