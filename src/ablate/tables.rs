//! The aggregates the ablation's report, its figures and its TUI view all show: the Wilson
//! interval of a proportion, means per span kind and per block, and the channel's mean K and V
//! distances. A leaf: it depends only on the rows it aggregates.

use std::collections::BTreeMap;

use super::channel::ChannelRow;
use super::metrics::{Aggregate, PositionRow, SpanKind};

/// A proportion's 95% Wilson score interval.
pub fn wilson(successes: u64, n: u64) -> (f64, f64) {
    if n == 0 {
        return (0.0, 1.0);
    }
    let z = 1.959_963_984_540_054_f64;
    let (s, n) = (successes as f64, n as f64);
    let p = s / n;
    let centre = (p + z * z / (2.0 * n)) / (1.0 + z * z / n);
    let half = z * (p * (1.0 - p) / n + z * z / (4.0 * n * n)).sqrt() / (1.0 + z * z / n);
    ((centre - half).max(0.0), (centre + half).min(1.0))
}

/// Per arm (in the order of `arms`), the means over each span kind, in [`SpanKind::ALL`]'s
/// order.
pub fn by_span(arms: &[String], positions: &[PositionRow]) -> Vec<[Aggregate; 4]> {
    arms.iter()
        .map(|arm| {
            SpanKind::ALL
                .map(|k| Aggregate::of(positions.iter().filter(|r| &r.arm == arm && r.span == k)))
        })
        .collect()
}

/// Per block index (positions in the block or in its memento), each arm's means, in the order
/// of `arms`.
pub fn by_block<'a>(
    arms: &[String],
    positions: impl IntoIterator<Item = &'a PositionRow>,
) -> BTreeMap<u32, Vec<Aggregate>> {
    let mut blocks: BTreeMap<u32, Vec<&PositionRow>> = BTreeMap::new();
    for r in positions {
        if let Some(b) = r.block {
            blocks.entry(b).or_default().push(r);
        }
    }
    blocks
        .into_iter()
        .map(|(block, rows)| {
            let per_arm = arms
                .iter()
                .map(|arm| Aggregate::of(rows.iter().copied().filter(|r| &r.arm == arm)))
                .collect();
            (block, per_arm)
        })
        .collect()
}

/// Mean K and V distances of channel rows grouped by `key` (the layer, or block and layer).
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Distances {
    pub k: f64,
    pub v: f64,
    /// Rows (mementos) averaged.
    pub n: u64,
}

pub fn mean_distances<'a, K: Ord>(
    rows: impl IntoIterator<Item = &'a ChannelRow>,
    key: impl Fn(&ChannelRow) -> K,
) -> BTreeMap<K, Distances> {
    let mut sums: BTreeMap<K, (f64, f64, u64)> = BTreeMap::new();
    for c in rows {
        let e = sums.entry(key(c)).or_default();
        e.0 += c.k_distance;
        e.1 += c.v_distance;
        e.2 += 1;
    }
    sums.into_iter()
        .map(|(key, (k, v, n))| {
            let d = Distances {
                k: k / n as f64,
                v: v / n as f64,
                n,
            };
            (key, d)
        })
        .collect()
}

/// The mementos the channel rows cover.
pub fn mementos<'a>(rows: impl IntoIterator<Item = &'a ChannelRow>) -> usize {
    rows.into_iter()
        .map(|c| (c.item.as_str(), c.block))
        .collect::<std::collections::BTreeSet<_>>()
        .len()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wilson_interval_matches_known_values() {
        // 5 of 10: 0.2366–0.7634 (the textbook Wilson interval at 95%).
        let (lo, hi) = wilson(5, 10);
        assert!(
            (lo - 0.2366).abs() < 1e-4 && (hi - 0.7634).abs() < 1e-4,
            "{lo} {hi}"
        );
        let (lo, hi) = wilson(0, 20);
        assert_eq!(lo, 0.0);
        assert!((hi - 0.1611).abs() < 1e-4, "{hi}");
    }
}
