//! A small ablation result directory, written through the lab's own types and writer (so
//! its format cannot drift from what `memento ablate` writes), with figures easy to work out
//! by hand: two items, three arms, two seeds, four layers.
#![allow(dead_code)]

use std::path::Path;

use memento::ablate::channel::ChannelRow;
use memento::ablate::metrics::{Aggregate, PositionRow, SpanKind};
use memento::ablate::results::{AnswerRow, ArmSummary, ItemResult, PROBE, ProbeRow};
use memento::ablate::{LabConfig, ResultDir};
use memento::engine::{SamplerConfig, ScaffoldConfig};

pub const ARMS: [&str; 3] = ["full", "memento", "restart"];

/// The sample trace, copied as item `alpha`'s stream (`beta` has none).
pub const TRACE: &str = "sample-traces/synthetic-memento.trace.jsonl";

pub fn config() -> LabConfig {
    LabConfig {
        model: "test-model".into(),
        problems: "hand:2".into(),
        arms: ARMS.iter().map(|a| a.to_string()).collect(),
        seeds: vec![1, 2],
        max_tokens: 64,
        scaffold: Some(ScaffoldConfig::default()),
        sampler: SamplerConfig {
            temperature: 0.7,
            ..SamplerConfig::default()
        },
        system: None,
        probe: None,
    }
}

/// Per position: span, block, and per arm (KL, top-1 agrees). Logprobs are -1 (full),
/// -1.5 (memento) and -2 (restart) everywhere.
type Position = (SpanKind, Option<u32>, [(f64, bool); 3]);

fn alpha() -> Vec<Position> {
    use SpanKind::*;
    vec![
        (Block, Some(0), [(0.0, true), (0.0, true), (0.0, true)]),
        (Memento, Some(0), [(0.0, true), (0.0, true), (0.1, true)]),
        (Answer, None, [(0.0, true), (0.4, false), (0.8, false)]),
        (Other, None, [(0.0, true), (0.2, true), (0.3, false)]),
    ]
}

fn beta() -> Vec<Position> {
    use SpanKind::*;
    vec![
        (Block, Some(0), [(0.0, true), (0.0, true), (0.0, true)]),
        (Memento, Some(0), [(0.0, true), (0.0, true), (0.2, true)]),
        (Block, Some(1), [(0.0, true), (0.2, true), (0.3, false)]),
        (Memento, Some(1), [(0.0, true), (0.1, true), (0.3, true)]),
        (Answer, None, [(0.0, true), (0.6, false), (1.0, false)]),
        (Other, None, [(0.0, true), (0.1, true), (0.2, true)]),
    ]
}

fn rows(item: &str, positions: &[Position]) -> Vec<PositionRow> {
    let mut rows = Vec::new();
    for (index, (span, block, per_arm)) in positions.iter().enumerate() {
        for (a, (kl, top1)) in per_arm.iter().enumerate() {
            rows.push(PositionRow {
                item: item.into(),
                arm: ARMS[a].into(),
                index: index as u32,
                pos: 20 + index as u64,
                span: *span,
                block: *block,
                kl: *kl,
                top1_agrees: *top1,
                logprob: [-1.0, -1.5, -2.0][a],
            });
        }
    }
    rows
}

/// (answer, correct) per arm and seed.
fn answers(item: &str, per_arm: [[(Option<&str>, bool); 2]; 3]) -> Vec<AnswerRow> {
    let mut out = Vec::new();
    for (a, seeds) in per_arm.iter().enumerate() {
        for (s, (answer, correct)) in seeds.iter().enumerate() {
            out.push(AnswerRow {
                item: item.into(),
                arm: ARMS[a].into(),
                seed: s as u64 + 1,
                answer: answer.map(str::to_string),
                reference: Some("42".into()),
                correct: Some(*correct),
                tokens: 30,
                peak_kv: 40,
            });
        }
    }
    out
}

/// (block, per layer (K, V)).
fn channel(item: &str, mementos: &[(u32, [(f64, f64); 4])]) -> Vec<ChannelRow> {
    let mut out = Vec::new();
    for (block, layers) in mementos {
        for (layer, (k, v)) in layers.iter().enumerate() {
            out.push(ChannelRow {
                item: item.into(),
                block: *block,
                layer: layer as u32,
                positions: 3,
                k_distance: *k,
                v_distance: *v,
            });
        }
    }
    out
}

/// The summary line the lab writes for an item: its aggregates per arm and span.
fn item(
    id: &str,
    tokens: u64,
    blocks: u64,
    rows: &[PositionRow],
    answers: &[AnswerRow],
) -> ItemResult {
    let arms = ARMS
        .iter()
        .map(|arm| {
            let of = |span: Option<SpanKind>| {
                Aggregate::of(
                    rows.iter()
                        .filter(|r| r.arm == *arm && span.is_none_or(|s| r.span == s)),
                )
            };
            let mine = answers.iter().filter(|a| a.arm == *arm);
            ArmSummary {
                arm: arm.to_string(),
                all: of(None),
                block: of(Some(SpanKind::Block)),
                memento: of(Some(SpanKind::Memento)),
                answer: of(Some(SpanKind::Answer)),
                correct: mine.clone().filter(|a| a.correct == Some(true)).count() as u64,
                answered: mine.filter(|a| a.correct.is_some()).count() as u64,
            }
        })
        .collect();
    ItemResult {
        item: id.into(),
        prompt: format!("What is 6 × 7? ({id})"),
        reference: Some("42".into()),
        tokens,
        blocks,
        mementos: blocks,
        arms,
    }
}

/// Write the directory: config, both items' rows and summaries, alpha's trace, and with
/// `probe` a `probe.csv` for the memento arm.
pub fn write(dir: &Path, probe: bool) {
    let mut results = ResultDir::open(dir, &config()).unwrap();
    let alpha_rows = rows("alpha", &alpha());
    let alpha_answers = answers(
        "alpha",
        [
            [(Some("42"), true), (Some("42"), true)],
            [(Some("42"), true), (Some("7"), false)],
            [(Some("7"), false), (Some("7"), false)],
        ],
    );
    let alpha_channel = channel(
        "alpha",
        &[(0, [(0.0, 0.0), (0.01, 0.02), (0.02, 0.04), (0.04, 0.08)])],
    );
    results
        .write_item(
            &item("alpha", 40, 1, &alpha_rows, &alpha_answers),
            &alpha_rows,
            &alpha_channel,
            &alpha_answers,
        )
        .unwrap();
    let beta_rows = rows("beta", &beta());
    let beta_answers = answers(
        "beta",
        [
            [(Some("42"), true), (Some("7"), false)],
            [(Some("7"), false), (None, false)],
            [(None, false), (Some("41"), false)],
        ],
    );
    let beta_channel = channel(
        "beta",
        &[
            (0, [(0.0, 0.0), (0.03, 0.01), (0.02, 0.01), (0.0, 0.01)]),
            (1, [(0.0, 0.0), (0.02, 0.02), (0.05, 0.04), (0.08, 0.16)]),
        ],
    );
    results
        .write_item(
            &item("beta", 60, 2, &beta_rows, &beta_answers),
            &beta_rows,
            &beta_channel,
            &beta_answers,
        )
        .unwrap();
    let trace = Path::new(env!("CARGO_MANIFEST_DIR")).join(TRACE);
    std::fs::copy(trace, results.trace_path("alpha")).unwrap();
    memento::ablate::report::write(&results).unwrap();
    if probe {
        let mut w = csv::Writer::from_path(dir.join(PROBE)).unwrap();
        for (memento, role, accuracy) in [
            (2, "direct", [0.25, 0.5, 0.75, 0.5]),
            (3, "masked", [0.5, 0.5, 0.5, 1.0]),
        ] {
            for (layer, acc) in accuracy.iter().enumerate() {
                w.serialize(ProbeRow {
                    arm: "memento".into(),
                    memento,
                    role: role.into(),
                    layer: layer as u32,
                    test_samples: 20,
                    digits_correct: (acc * 40.0) as u64,
                    digits_total: 40,
                    accuracy: *acc,
                    ci_low: (acc - 0.15f64).max(0.0),
                    ci_high: (acc + 0.15f64).min(1.0),
                    // Validation agrees with test except at the last layer, so the chosen
                    // layer differs from the best test layer for "masked".
                    validation_accuracy: if layer == 3 { 0.1 } else { *acc },
                    l2: 0.01,
                })
                .unwrap();
            }
        }
        w.flush().unwrap();
    }
}
