//! Teacher forcing: one token stream pushed through every arm in lockstep. Before each token
//! every arm's next-token distribution is compared with the full-context arm's; after the
//! token that ends a memento, the memento's KV entries in the memento arm are compared with
//! the restart arm's recomputed ones.

use crate::engine::{EngineError, Run, RunOptions, SamplerConfig};
use crate::model::{Model, ModelTokenizer};
use crate::trace::NullSink;

use super::arms::Arm;
use super::channel::{ChannelRow, layer_distances};
use super::metrics::{PositionRow, argmax, kl, log_softmax};
use super::stream::Stream;

pub struct Forced {
    pub rows: Vec<PositionRow>,
    pub channel: Vec<ChannelRow>,
}

/// Called after every forced token with the arms' runs (for tests and probes that look at
/// the caches).
pub type Inspect<'a, 'm> = &'a mut dyn FnMut(usize, &[Run<'m, NullSink>]);

/// Push `stream` through `arms` (the first is the reference every arm is measured against).
pub fn teacher_force<'m>(
    model: &'m Model,
    tokenizer: &'m ModelTokenizer,
    item: &str,
    stream: &Stream,
    arms: &[Arm],
    system: Option<&str>,
    mut inspect: Option<Inspect<'_, 'm>>,
) -> Result<Forced, EngineError> {
    let mut runs = Vec::with_capacity(arms.len());
    for arm in arms {
        let options = RunOptions {
            policy: arm.policy,
            sampler: SamplerConfig::default(),
            max_tokens: stream.ids.len() as u32,
            scaffold: None,
            system: system.map(str::to_string),
            top_alternatives: 0,
            snapshot_every: u32::MAX,
            ..RunOptions::default()
        };
        runs.push(Run::start(
            model,
            tokenizer,
            &stream.prompt,
            options,
            NullSink,
        )?);
    }
    if runs
        .first()
        .is_some_and(|r| r.recorder().prompt_len() != stream.prompt_len)
    {
        return Err(EngineError::Request(
            "the prompt tokenizes differently than when the stream was generated".into(),
        ));
    }
    let memento = arms.iter().position(|a| a.name == "memento");
    let restart = arms.iter().position(|a| a.name == "restart");
    let mut rows = Vec::with_capacity(stream.ids.len() * arms.len());
    let mut channel = Vec::new();
    for (index, &id) in stream.ids.iter().enumerate() {
        let pos = stream.prompt_len + index as u64;
        let (span, block) = stream
            .spans
            .get(index)
            .copied()
            .unwrap_or((super::metrics::SpanKind::Other, None));
        let reference = log_softmax(runs[0].logits());
        let reference_top = argmax(&reference);
        for (arm, run) in arms.iter().zip(&runs) {
            let lp = log_softmax(run.logits());
            rows.push(PositionRow {
                item: item.to_string(),
                arm: arm.name.clone(),
                index: index as u32,
                pos,
                span,
                block,
                kl: kl(&reference, &lp),
                top1_agrees: argmax(&lp) == reference_top,
                logprob: lp[id as usize],
            });
        }
        let mut recomputed = None;
        for (a, run) in runs.iter_mut().enumerate() {
            run.force_ids(&[id]);
            let step = run.step()?.ok_or_else(|| {
                EngineError::Request(format!("arm {} ended before the stream did", arms[a].name))
            })?;
            if Some(a) == restart {
                recomputed = step
                    .evictions
                    .iter()
                    .find_map(|e| e.recompute.clone().map(|r| (e.block, r)));
            }
        }
        if let (Some(m), Some(r), Some((block, span))) = (memento, restart, recomputed) {
            if let Some(layers) = layer_distances(runs[m].store(), runs[r].store(), &span) {
                for (layer, (k, v)) in layers.into_iter().enumerate() {
                    channel.push(ChannelRow {
                        item: item.to_string(),
                        block,
                        layer: layer as u32,
                        positions: span.end - span.start,
                        k_distance: k,
                        v_distance: v,
                    });
                }
            }
        }
        if let Some(f) = inspect.as_mut() {
            f(index, &runs);
        }
    }
    Ok(Forced { rows, channel })
}
