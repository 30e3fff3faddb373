//! How well a model does its task: each problem decoded greedily by the engine under a KV
//! policy, its answer checked, its blocks and mementos measured, its peak KV recorded.

use serde::Serialize;

use super::{Split, Task};
use crate::ablate::answer;
use crate::engine::{EngineError, Run, RunOptions, SamplerConfig};
use crate::kv::KvPolicy;
use crate::model::{Model, ModelTokenizer};
use crate::structure::{Edge, SpanKind};
use crate::trace::{EndReason, NullSink};

/// One problem, decoded once.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Outcome {
    pub id: String,
    pub reference: String,
    pub answer: Option<String>,
    pub correct: bool,
    pub generated: u64,
    /// Content tokens of each closed block, and of each closed memento, in order.
    pub block_tokens: Vec<u64>,
    pub memento_tokens: Vec<u64>,
    pub evictions: u64,
    pub peak_live: u64,
    pub end: EndReason,
}

/// Decode problems `0..count` of `split` (seed `seed`) under `policy`, greedily, up to
/// `max_tokens` each; `progress` hears each outcome.
#[allow(clippy::too_many_arguments)]
pub fn evaluate(
    model: &Model,
    tokenizer: &ModelTokenizer,
    task: &Task,
    split: Split,
    seed: u64,
    count: u64,
    policy: KvPolicy,
    max_tokens: u32,
    progress: &mut dyn FnMut(&Outcome),
) -> Result<Vec<Outcome>, EngineError> {
    let mut out = Vec::with_capacity(count as usize);
    for i in 0..count {
        let problem = task.problem(split, seed, i);
        let outcome = solve(model, tokenizer, &problem.prompt, policy, max_tokens)?;
        let given = answer::extract(&outcome.text);
        let correct = given
            .as_deref()
            .is_some_and(|g| answer::matches(g, &problem.answer));
        let o = Outcome {
            id: problem.id,
            reference: problem.answer,
            answer: given,
            correct,
            generated: outcome.generated,
            block_tokens: outcome.block_tokens,
            memento_tokens: outcome.memento_tokens,
            evictions: outcome.evictions,
            peak_live: outcome.peak_live,
            end: outcome.end,
        };
        progress(&o);
        out.push(o);
    }
    Ok(out)
}

/// What one greedy run produced.
pub struct Solved {
    pub text: String,
    pub generated: u64,
    pub block_tokens: Vec<u64>,
    pub memento_tokens: Vec<u64>,
    pub evictions: u64,
    pub peak_live: u64,
    pub end: EndReason,
}

/// Decode `prompt` greedily under `policy`.
pub fn solve(
    model: &Model,
    tokenizer: &ModelTokenizer,
    prompt: &str,
    policy: KvPolicy,
    max_tokens: u32,
) -> Result<Solved, EngineError> {
    let options = RunOptions {
        policy,
        sampler: SamplerConfig::default(),
        max_tokens,
        top_alternatives: 0,
        ..RunOptions::default()
    };
    let mut run = Run::start(model, tokenizer, prompt, options, NullSink)?;
    let mut opened: Vec<(SpanKind, u64)> = Vec::new();
    let (mut block_tokens, mut memento_tokens) = (Vec::new(), Vec::new());
    while let Some(step) = run.step()? {
        for b in &step.boundaries {
            match b.edge {
                Edge::Open => opened.push((b.span, b.tag_to())),
                Edge::Close => {
                    if let Some(i) = opened.iter().rposition(|(s, _)| *s == b.span) {
                        let (_, from) = opened.remove(i);
                        let len = b.tag_from().saturating_sub(from);
                        match b.span {
                            SpanKind::Block => block_tokens.push(len),
                            SpanKind::Summary => memento_tokens.push(len),
                            _ => {}
                        }
                    }
                }
            }
        }
    }
    let (_, summary) = run.finish(None)?;
    Ok(Solved {
        text: summary.text,
        generated: summary.generated_tokens,
        block_tokens,
        memento_tokens,
        evictions: summary.evictions,
        peak_live: summary.peak_live_tokens,
        end: summary.end,
    })
}
