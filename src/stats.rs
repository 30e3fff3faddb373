//! Trace statistics: blocks, mementos, compression, and peak KV under the full-context and
//! memento policies for a chosen model shape.

use serde::Serialize;

use crate::kv::{KvPolicy, KvShape, simulate};
use crate::timeline::Timeline;

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TraceStats {
    pub name: String,
    pub prompt_tokens: u64,
    pub generated_tokens: u64,
    pub blocks: u64,
    pub mementos: u64,
    /// Content tokens of each block, in order.
    pub block_tokens: Vec<u64>,
    /// Text tokens of each memento, in order.
    pub memento_tokens: Vec<u64>,
    pub mean_block_tokens: Option<f64>,
    pub mean_memento_tokens: Option<f64>,
    /// Content tokens of the blocks that have a memento.
    pub summarised_block_tokens: u64,
    /// Block tokens per memento token, over blocks that have a memento.
    pub compression: Option<f64>,
    pub answer_tokens: u64,
    pub shape: String,
    pub full: PolicyPeak,
    pub memento: PolicyPeak,
    /// Memento peak over full peak, in tokens (bytes agree unless layers slide).
    pub peak_ratio_tokens: Option<f64>,
    pub peak_ratio_bytes: Option<f64>,
    pub warnings: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct PolicyPeak {
    pub peak_tokens: u64,
    pub peak_bytes: u64,
    pub final_tokens: u64,
}

pub fn trace_stats(
    name: &str,
    timeline: &Timeline,
    shape: &KvShape,
    mask_delimiters: bool,
) -> TraceStats {
    let outline = timeline.outline();
    let end = outline.end;
    let block_tokens: Vec<u64> = outline
        .blocks
        .iter()
        .map(|b| b.content_tokens(end))
        .collect();
    let with_memento: Vec<_> = outline.mementos().collect();
    let memento_tokens: Vec<u64> = with_memento.iter().map(|b| b.memento_tokens(end)).collect();
    let summarised_block_tokens: u64 = with_memento.iter().map(|b| b.content_tokens(end)).sum();
    let memento_total: u64 = memento_tokens.iter().sum();
    let run = |policy: KvPolicy| {
        let s = simulate(
            timeline.prompt_len(),
            timeline.boundaries(),
            end,
            policy,
            Some(shape.clone()),
        );
        PolicyPeak {
            peak_tokens: s.peak_live,
            peak_bytes: s.peak_bytes,
            final_tokens: s.final_reading().map_or(0, |r| r.live),
        }
    };
    let full = run(KvPolicy::FULL);
    let memento = run(KvPolicy {
        mask_delimiters,
        ..KvPolicy::MEMENTO
    });
    TraceStats {
        name: name.to_string(),
        prompt_tokens: timeline.prompt_len(),
        generated_tokens: timeline.len(),
        blocks: block_tokens.len() as u64,
        mementos: memento_tokens.len() as u64,
        mean_block_tokens: mean(&block_tokens),
        mean_memento_tokens: mean(&memento_tokens),
        summarised_block_tokens,
        compression: ratio(summarised_block_tokens, memento_total),
        answer_tokens: outline.answer.map_or(0, |r| r.end - r.start),
        shape: shape.name.clone(),
        peak_ratio_tokens: ratio(memento.peak_tokens, full.peak_tokens),
        peak_ratio_bytes: ratio(memento.peak_bytes, full.peak_bytes),
        full,
        memento,
        block_tokens,
        memento_tokens,
        warnings: timeline
            .diagnostics()
            .iter()
            .filter(|d| d.severity != crate::structure::Severity::Info)
            .count() as u64,
    }
}

/// Totals over many traces.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AggregateStats {
    pub traces: u64,
    pub blocks: u64,
    pub mementos: u64,
    pub mean_blocks_per_trace: Option<f64>,
    pub mean_block_tokens: Option<f64>,
    pub mean_memento_tokens: Option<f64>,
    pub compression: Option<f64>,
    pub mean_full_peak_tokens: Option<f64>,
    pub mean_memento_peak_tokens: Option<f64>,
    pub mean_full_peak_bytes: Option<f64>,
    pub mean_memento_peak_bytes: Option<f64>,
    /// Ratio of the mean peaks (memento / full), as the paper reports it.
    pub peak_ratio_tokens: Option<f64>,
    pub peak_ratio_bytes: Option<f64>,
}

pub fn aggregate(all: &[TraceStats]) -> AggregateStats {
    let blocks: Vec<u64> = all
        .iter()
        .flat_map(|s| s.block_tokens.iter().copied())
        .collect();
    let mementos: Vec<u64> = all
        .iter()
        .flat_map(|s| s.memento_tokens.iter().copied())
        .collect();
    let per_trace = |f: fn(&TraceStats) -> u64| mean(&all.iter().map(f).collect::<Vec<_>>());
    let summarised: u64 = all.iter().map(|s| s.summarised_block_tokens).sum();
    let full_tokens = per_trace(|s| s.full.peak_tokens);
    let memento_tokens = per_trace(|s| s.memento.peak_tokens);
    let full_bytes = per_trace(|s| s.full.peak_bytes);
    let memento_bytes = per_trace(|s| s.memento.peak_bytes);
    let div = |a: Option<f64>, b: Option<f64>| match (a, b) {
        (Some(a), Some(b)) if b > 0.0 => Some(a / b),
        _ => None,
    };
    AggregateStats {
        traces: all.len() as u64,
        blocks: blocks.len() as u64,
        mementos: mementos.len() as u64,
        mean_blocks_per_trace: per_trace(|s| s.blocks),
        mean_block_tokens: mean(&blocks),
        mean_memento_tokens: mean(&mementos),
        compression: ratio(summarised, mementos.iter().sum()),
        peak_ratio_tokens: div(memento_tokens, full_tokens),
        peak_ratio_bytes: div(memento_bytes, full_bytes),
        mean_full_peak_tokens: full_tokens,
        mean_memento_peak_tokens: memento_tokens,
        mean_full_peak_bytes: full_bytes,
        mean_memento_peak_bytes: memento_bytes,
    }
}

fn mean(values: &[u64]) -> Option<f64> {
    (!values.is_empty()).then(|| values.iter().sum::<u64>() as f64 / values.len() as f64)
}

fn ratio(a: u64, b: u64) -> Option<f64> {
    (b > 0).then(|| a as f64 / b as f64)
}
