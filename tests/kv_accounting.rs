//! KV accounting equals a brute-force recount, derived straight from the policy rules of
//! DESIGN §1.2, over random (and often malformed) structures and every policy.

use memento::kv::{KvDtype, KvPolicy, KvShape, SlidingWindow, simulate, step_index};
use memento::structure::{Boundary, Edge, Outline, Segmenter, SegmenterConfig, SpanKind};
use proptest::prelude::*;

#[derive(Debug, Clone)]
enum Piece {
    Text(usize),
    Tag(&'static str),
}

/// A mostly well-formed response with random lengths, optionally damaged.
fn structure() -> impl Strategy<Value = Vec<Piece>> {
    let block =
        (1usize..12, 0usize..3, 1usize..5, any::<bool>()).prop_map(|(body, gap, memento, gap2)| {
            let mut v = vec![
                Piece::Tag("<|block_start|>"),
                Piece::Text(body),
                Piece::Tag("<|block_end|>"),
            ];
            if gap > 0 {
                v.push(Piece::Text(gap));
            }
            v.extend([
                Piece::Tag("<|summary_start|>"),
                Piece::Text(memento),
                Piece::Tag("<|summary_end|>"),
            ]);
            if gap2 {
                v.push(Piece::Text(1));
            }
            v
        });
    let tags = prop::sample::select(vec![
        "<|block_start|>",
        "<|block_end|>",
        "<|summary_start|>",
        "<|summary_end|>",
        "</think>",
    ]);
    (
        prop::collection::vec(block, 0..8),
        prop::collection::vec((0usize..200, tags), 0..4),
        any::<bool>(),
        0usize..4,
    )
        .prop_map(|(blocks, damage, close_think, answer)| {
            let mut pieces = vec![Piece::Tag("<think>"), Piece::Text(1)];
            pieces.extend(blocks.into_iter().flatten());
            for (at, tag) in damage {
                let at = at % (pieces.len() + 1);
                pieces.insert(at.max(1), Piece::Tag(tag));
            }
            if close_think {
                pieces.push(Piece::Tag("</think>"));
                pieces.push(Piece::Text(answer));
            }
            pieces
        })
}

/// Token texts for the pieces: text runs are single letters per token; tags are one token,
/// or split into two when `split` says so.
fn tokens(pieces: &[Piece], split: &[bool]) -> Vec<String> {
    let mut out = Vec::new();
    for (i, p) in pieces.iter().enumerate() {
        match p {
            Piece::Text(n) => out.extend((0..*n).map(|_| "w".to_string())),
            Piece::Tag(t) if split.get(i).copied().unwrap_or(false) => {
                let mid = t.len() / 2;
                out.push(t[..mid].to_string());
                out.push(t[mid..].to_string());
            }
            Piece::Tag(t) => out.push(t.to_string()),
        }
    }
    out
}

fn policy() -> impl Strategy<Value = KvPolicy> {
    (-1i32..4, any::<bool>(), any::<bool>(), any::<bool>()).prop_map(
        |(keep, mask, kla, restart)| KvPolicy {
            keep_last_n_blocks: if restart { 0 } else { keep },
            mask_delimiters: mask,
            keep_last_block_for_answer: kla,
            max_block_tokens: 0,
            restart,
        },
    )
}

/// When each block leaves the cache (the position of the triggering step), by the rules.
fn eviction_steps(
    outline: &Outline,
    boundaries: &[Boundary],
    policy: &KvPolicy,
) -> Vec<Option<u64>> {
    let trigger: Vec<Option<u64>> = outline
        .blocks
        .iter()
        .map(|b| {
            b.memento_ended()
                .then(|| b.memento_close.as_ref().unwrap().at)
        })
        .collect();
    let completed: Vec<usize> = (0..outline.blocks.len())
        .filter(|&i| trigger[i].is_some())
        .collect();
    let think_close = boundaries
        .iter()
        .find(|b| b.span == SpanKind::Think && b.edge == Edge::Close)
        .map(|b| b.at);
    let mut out = vec![None; outline.blocks.len()];
    let keep = policy.keep_last_n_blocks;
    if keep < 0 {
        return out;
    }
    for (k, &i) in completed.iter().enumerate() {
        let t = trigger[i].unwrap();
        out[i] = if keep == 0 && policy.keep_last_block_for_answer && !policy.restart {
            let next_open = outline.blocks.iter().map(|b| b.open.at).find(|&at| at > t);
            match (next_open, think_close) {
                (Some(open), Some(close)) if close > t && close < open => None,
                (Some(open), _) => Some(open),
                (None, _) => None,
            }
        } else if keep == 0 {
            Some(t)
        } else {
            completed
                .get(k + keep as usize)
                .map(|&j| trigger[j].unwrap())
        };
    }
    out
}

fn evicted_set(
    outline: &Outline,
    steps: &[Option<u64>],
    policy: &KvPolicy,
    at_step: u64,
) -> Vec<bool> {
    let mut evicted = vec![false; outline.end as usize];
    for (b, step) in outline.blocks.iter().zip(steps) {
        if step.is_some_and(|s| s <= at_step) {
            let range = if policy.mask_delimiters || policy.restart {
                b.with_delimiters(outline.end)
            } else {
                b.content(outline.end)
            };
            for q in range {
                evicted[q as usize] = true;
            }
        }
    }
    evicted
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(600))]

    #[test]
    fn accounting_equals_brute_force(
        pieces in structure(),
        split in prop::collection::vec(any::<bool>(), 0..80),
        policy in policy(),
        prompt_len in 0u64..6,
        window in 1u64..12,
    ) {
        let toks = tokens(&pieces, &split);
        let mut seg = Segmenter::new(SegmenterConfig::response_only());
        let mut boundaries = Vec::new();
        for (i, t) in toks.iter().enumerate() {
            boundaries.extend(seg.push(prompt_len + i as u64, t));
        }
        let end = prompt_len + toks.len() as u64;
        boundaries.extend(seg.finish(end));

        let shape = KvShape {
            name: "test".into(),
            layers: 5,
            kv_heads: 2,
            head_dim: 4,
            dtype: KvDtype::F16,
            sliding_window: Some(SlidingWindow { layers: 3, window }),
            context_tokens: 1000,
        };
        let series = simulate(prompt_len, &boundaries, end, policy, Some(shape.clone()));
        let outline = Outline::from_boundaries(prompt_len, &boundaries, end);
        let steps = eviction_steps(&outline, &boundaries, &policy);

        let first = prompt_len.saturating_sub(1);
        let mut peak = 0;
        for p in first..end {
            let evicted = evicted_set(&outline, &steps, &policy, p);
            let live = (0..=p).filter(|&q| !evicted[q as usize]).count() as u64;
            let lo = (p + 1).saturating_sub(window);
            let in_window = (lo..=p).filter(|&q| !evicted[q as usize]).count() as u64;
            let per = 2 * 2 * 4 * 2;
            let bytes = per * (2 * live + 3 * in_window);
            let reading = series.readings[step_index(prompt_len, p)];
            prop_assert_eq!(reading.pos, p);
            prop_assert_eq!(reading.live, live, "live at {} under {:?}", p, policy);
            prop_assert_eq!(reading.bytes, bytes, "bytes at {}", p);
            peak = peak.max(live);
        }
        prop_assert_eq!(series.peak_live, peak);
        let evicted_total: u64 = series.evictions.iter().map(|(_, e)| e.freed).sum();
        prop_assert_eq!(series.evicted_total, evicted_total);
        // Each block is evicted at most once, and only by a policy that evicts.
        let mut seen = std::collections::HashSet::new();
        for (_, e) in &series.evictions {
            prop_assert!(seen.insert(e.block));
            prop_assert!(policy.evicts());
        }
    }
}

#[test]
fn memento_mode_on_a_simple_stream_counts_by_hand() {
    // prompt(3) <think> [bs a b c be] \n [ss m se] </think> x
    let toks = [
        "p",
        "p",
        "p",
        "<think>",
        "<|block_start|>",
        "a",
        "b",
        "c",
        "<|block_end|>",
        "\n",
        "<|summary_start|>",
        "m",
        "<|summary_end|>",
        "</think>",
        "x",
    ];
    let mut seg = Segmenter::new(SegmenterConfig::response_only());
    let mut boundaries = Vec::new();
    for (i, t) in toks.iter().enumerate() {
        boundaries.extend(seg.push(i as u64, t));
    }
    boundaries.extend(seg.finish(toks.len() as u64));
    let end = toks.len() as u64;
    let memento = simulate(3, &boundaries, end, KvPolicy::MEMENTO, None);
    let full = simulate(3, &boundaries, end, KvPolicy::FULL, None);
    // Peak just before <|summary_end|>: all 12 positions 0..=11.
    assert_eq!(memento.peak_live, 12);
    assert_eq!(full.peak_live, 15);
    // a b c leave at <|summary_end|> (position 12): 13 appended − 3.
    assert_eq!(memento.after(12).unwrap().live, 10);
    assert_eq!(memento.final_reading().unwrap().live, 12);
    let (step, e) = &memento.evictions[0];
    assert_eq!((*step, e.span.clone(), e.freed), (12, 5..8, 3));
    // Phi-4 style also drops both delimiters.
    let phi = KvPolicy {
        mask_delimiters: true,
        ..KvPolicy::MEMENTO
    };
    assert_eq!(
        simulate(3, &boundaries, end, phi, None)
            .final_reading()
            .unwrap()
            .live,
        10
    );
}
