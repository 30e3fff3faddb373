//! The passcode probe: can a code written into an evicted block still be read from the KV
//! entries of mementos? Every sample is forced through the memento arm (the memento's KV
//! was computed with its block visible) and the restart arm (recomputed from its text
//! alone); a linear probe per arm, memento and layer is trained on some samples and tested
//! on others, against chance (10% a digit).

pub mod features;
pub mod linear;
pub mod passcode;

use rand::SeedableRng;
use rand::seq::SliceRandom;
use serde::{Deserialize, Serialize};

use crate::engine::{Run, RunOptions, SamplerConfig};
use crate::kv::KvPolicy;
use crate::model::{Model, ModelError, ModelTokenizer};
use crate::task::Task;
use crate::trace::NullSink;

use super::tables::wilson;
use features::pooled_kv;
use linear::{Dataset, evaluate};
use passcode::{ROLES, Sample, SampleContext};

/// The arms probed, by name and policy.
pub const ARMS: [(&str, KvPolicy); 2] = [
    ("memento", KvPolicy::MEMENTO),
    (
        "restart",
        KvPolicy {
            restart: true,
            ..KvPolicy::MEMENTO
        },
    ),
];

/// Chance accuracy of one digit.
pub const CHANCE: f64 = 0.1;

/// Fractions of the samples for training and validation; the rest is the test split.
const TRAIN: f64 = 0.6;
const VALIDATION: f64 = 0.2;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ProbeConfig {
    pub samples: usize,
    pub digits: u32,
    pub seed: u64,
    pub context: SampleContext,
    /// Samples from this task's passcode variant (the model's own task) instead of the
    /// generic filler blocks.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub task: Option<Task>,
}

/// The test result of one probe (arm, memento, layer).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ProbeRow {
    pub arm: String,
    /// 1–3, in order.
    pub memento: u32,
    /// control (before the code), direct (saw the block), masked (after its eviction).
    pub role: String,
    pub layer: u32,
    pub test_samples: u64,
    pub digits_correct: u64,
    pub digits_total: u64,
    pub accuracy: f64,
    /// 95% Wilson interval over the test digits.
    pub ci_low: f64,
    pub ci_high: f64,
    /// Accuracy on the validation split, which chose the penalty (and may choose a layer).
    pub validation_accuracy: f64,
    pub l2: f64,
}

#[derive(Debug, thiserror::Error)]
pub enum ProbeError {
    #[error(transparent)]
    Model(#[from] ModelError),
    #[error(transparent)]
    Engine(#[from] crate::engine::EngineError),
    #[error("training the probe: {0}")]
    Train(#[from] candle_core::Error),
    #[error("passcode probe: {0}")]
    Input(String),
}

/// Pooled memento KV of every sample: `[arm][memento][layer]`, rows in sample order.
pub type Features = Vec<Vec<Vec<Dataset>>>;

impl ProbeConfig {
    pub fn check(&self) -> Result<(), String> {
        if self.digits == 0 || self.digits > 9 {
            return Err(format!("digits: {} (expected 1 to 9)", self.digits));
        }
        // Every split needs rows; the codes must be distinct.
        if self.samples < 10 || self.samples > passcode::max_samples(self.digits) {
            return Err(format!(
                "samples: {} (expected 10 to {} for {}-digit codes)",
                self.samples,
                passcode::max_samples(self.digits),
                self.digits
            ));
        }
        Ok(())
    }

    /// The samples: the task's passcode variant when there is a task, else filler blocks
    /// after `prompts`.
    pub fn samples(&self, prompts: &[String]) -> Result<Vec<Sample>, String> {
        match &self.task {
            Some(task) => {
                passcode::task_samples(task, self.samples, self.digits, self.seed, self.context)
            }
            None => Ok(passcode::samples(
                self.samples,
                self.digits,
                self.seed,
                self.context,
                prompts,
            )),
        }
    }
}

/// Force every sample through both arms and pool each memento's KV per layer. `progress`
/// hears the samples done.
pub fn collect(
    model: &Model,
    tokenizer: &ModelTokenizer,
    samples: &[Sample],
    system: Option<&str>,
    progress: &mut dyn FnMut(usize),
) -> Result<Features, ProbeError> {
    let mut features: Features = Vec::new();
    for (done, sample) in samples.iter().enumerate() {
        let forced = sample.forced_ids(tokenizer)?;
        for (a, &(arm, policy)) in ARMS.iter().enumerate() {
            let options = RunOptions {
                policy,
                sampler: SamplerConfig::default(),
                max_tokens: u32::MAX,
                scaffold: None,
                system: system.map(str::to_string),
                top_alternatives: 0,
                snapshot_every: u32::MAX,
                ..RunOptions::default()
            };
            let mut run = Run::start(model, tokenizer, &sample.prompt, options, NullSink)?;
            run.force_all(&forced.ids)?;
            let base = run.recorder().prompt_len();
            let at = |r: &std::ops::Range<usize>| base + r.start as u64..base + r.end as u64;
            // Block 2 (the code) must be gone from the cache, or the probe reads it directly.
            let code = at(&forced.blocks[1]);
            if run.store().count_in(&code) > 0 {
                return Err(ProbeError::Input(format!(
                    "arm {arm}: block 2 was not evicted (positions {code:?} still cached); \
                     the model's tokenizer may split the block tags differently"
                )));
            }
            if features.len() <= a {
                features.push(Vec::new());
            }
            for (m, range) in forced.mementos.iter().enumerate() {
                let pooled = pooled_kv(run.store(), &at(range)).ok_or_else(|| {
                    ProbeError::Input(format!("arm {arm}: memento {} is not cached", m + 1))
                })?;
                if features[a].len() <= m {
                    features[a].push(
                        pooled
                            .iter()
                            .map(|p| Dataset {
                                x: Vec::new(),
                                y: Vec::new(),
                                dim: p.len(),
                                digits: sample.code.len(),
                            })
                            .collect(),
                    );
                }
                for (layer, p) in pooled.into_iter().enumerate() {
                    let data = &mut features[a][m][layer];
                    data.x.extend(p);
                    data.y.extend_from_slice(&sample.code);
                }
            }
        }
        progress(done + 1);
    }
    Ok(features)
}

/// The train, validation and test rows: a shuffle of `rows` fixed by `seed`.
pub fn splits(rows: usize, seed: u64) -> [Vec<usize>; 3] {
    let mut order: Vec<usize> = (0..rows).collect();
    order.shuffle(&mut rand_chacha::ChaCha8Rng::seed_from_u64(seed));
    let train = ((rows as f64 * TRAIN).round() as usize).max(1);
    let validation = ((rows as f64 * VALIDATION).round() as usize).max(1);
    let test = order.split_off((train + validation).min(rows));
    let validation_rows = order.split_off(train.min(order.len()));
    [order, validation_rows, test]
}

/// Train and test a probe for every arm, memento and layer.
pub fn evaluate_all(
    features: &Features,
    seed: u64,
    progress: &mut dyn FnMut(usize, usize),
) -> Result<Vec<ProbeRow>, ProbeError> {
    let total: usize = features.iter().flatten().map(Vec::len).sum();
    let mut rows = Vec::with_capacity(total);
    for (a, per_memento) in features.iter().enumerate() {
        for (m, per_layer) in per_memento.iter().enumerate() {
            for (layer, data) in per_layer.iter().enumerate() {
                let [train, validation, test] = splits(data.rows(), seed);
                let (train, validation, test) = (
                    data.select(&train),
                    data.select(&validation),
                    data.select(&test),
                );
                let e = evaluate(&train, &validation, &test)?;
                let (ci_low, ci_high) = wilson(e.test.correct, e.test.total);
                rows.push(ProbeRow {
                    arm: ARMS[a].0.to_string(),
                    memento: m as u32 + 1,
                    role: ROLES[m].to_string(),
                    layer: layer as u32,
                    test_samples: test.rows() as u64,
                    digits_correct: e.test.correct,
                    digits_total: e.test.total,
                    accuracy: e.test.accuracy(),
                    ci_low,
                    ci_high,
                    validation_accuracy: e.validation.accuracy(),
                    l2: e.l2,
                });
                progress(rows.len(), total);
            }
        }
    }
    Ok(rows)
}

/// Per arm and role, the layer with the best validation accuracy (the earlier on a tie):
/// the headline result, chosen without looking at the test split.
pub fn selected(rows: &[ProbeRow]) -> Vec<&ProbeRow> {
    let mut out: Vec<&ProbeRow> = Vec::new();
    for row in rows {
        match out
            .iter_mut()
            .find(|r| r.arm == row.arm && r.memento == row.memento)
        {
            Some(best) => {
                if row.validation_accuracy > best.validation_accuracy {
                    *best = row;
                }
            }
            None => out.push(row),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_cover_every_row_once() {
        let [a, b, c] = splits(50, 3);
        assert_eq!((a.len(), b.len(), c.len()), (30, 10, 10));
        let mut all: Vec<usize> = a.iter().chain(&b).chain(&c).copied().collect();
        all.sort();
        assert_eq!(all, (0..50).collect::<Vec<_>>());
        assert_eq!(splits(50, 3), [a, b, c]);
    }

    #[test]
    fn config_limits() {
        let ok = ProbeConfig {
            samples: 100,
            digits: 2,
            seed: 1,
            context: SampleContext::Fixed,
            task: None,
        };
        assert!(ok.check().is_ok());
        assert!(
            ProbeConfig {
                samples: 101,
                ..ok.clone()
            }
            .check()
            .is_err()
        );
        assert!(ProbeConfig { digits: 0, ..ok }.check().is_err());
    }
}
