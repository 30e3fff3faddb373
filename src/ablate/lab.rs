//! The ablation lab: for each problem, generate one memento-mode stream, teacher-force it
//! through every arm, let every arm answer freely once per seed, and record it all in a
//! result directory, item by item.

use serde::{Deserialize, Serialize};

use crate::engine::{EngineError, Run, RunOptions, SamplerConfig, ScaffoldConfig};
use crate::kv::KvPolicy;
use crate::model::{Model, ModelTokenizer};
use crate::trace::NullSink;

use super::answer;
use super::arms::Arm;
use super::forced::{Forced, teacher_force};
use super::metrics::{Aggregate, SpanKind};
use super::probe::{self, ProbeConfig, ProbeError, ProbeRow};
use super::problems::Problem;
use super::results::{AnswerRow, ArmSummary, ItemResult, ResultDir, ResultsError};
use super::stream::Stream;

/// The settings of a run; a result directory is only resumed with the same ones.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LabConfig {
    pub model: String,
    /// Where the problems came from (`builtin:N:SEED` or a path).
    pub problems: String,
    pub arms: Vec<String>,
    /// The first seed also generates the teacher-forced stream.
    pub seeds: Vec<u64>,
    pub max_tokens: u32,
    /// Runtime-inserted blocks and mementos (models not trained on them), or none.
    pub scaffold: Option<ScaffoldConfig>,
    /// The sampler of the generated stream and the free-running answers (its seed is
    /// replaced by each of `seeds`).
    pub sampler: SamplerConfig,
    pub system: Option<String>,
    /// The passcode probe, run once every item is done; `None` skips it.
    #[serde(default)]
    pub probe: Option<ProbeConfig>,
}

pub struct Lab<'m> {
    pub model: &'m Model,
    pub tokenizer: &'m ModelTokenizer,
    pub arms: Vec<Arm>,
    pub config: LabConfig,
}

/// Everything one item produced.
pub struct ItemOutput {
    pub result: ItemResult,
    pub forced: Forced,
    pub answers: Vec<AnswerRow>,
}

#[derive(Debug, thiserror::Error)]
pub enum LabError {
    #[error("item {item}: {source}")]
    Model { item: String, source: EngineError },
    #[error(transparent)]
    Results(#[from] ResultsError),
}

impl<'m> Lab<'m> {
    fn options(&self, policy: KvPolicy, seed: u64) -> RunOptions {
        RunOptions {
            policy,
            sampler: SamplerConfig {
                seed,
                ..self.config.sampler
            },
            max_tokens: self.config.max_tokens,
            scaffold: self.config.scaffold.clone(),
            system: self.config.system.clone(),
            top_alternatives: 0,
            ..RunOptions::default()
        }
    }

    /// Run one problem through every stage.
    pub fn run_item(
        &self,
        problem: &Problem,
        trace: Option<&std::path::Path>,
    ) -> Result<ItemOutput, EngineError> {
        let first_seed = self.config.seeds.first().copied().unwrap_or(0);
        let stream = Stream::generate(
            self.model,
            self.tokenizer,
            &problem.prompt,
            self.options(KvPolicy::MEMENTO, first_seed),
            trace,
        )?;
        let forced = teacher_force(
            self.model,
            self.tokenizer,
            &problem.id,
            &stream,
            &self.arms,
            self.config.system.as_deref(),
            None,
        )?;
        let mut answers = Vec::new();
        for arm in &self.arms {
            for &seed in &self.config.seeds {
                answers.push(self.answer(problem, arm, seed)?);
            }
        }
        let arms = self
            .arms
            .iter()
            .map(|arm| {
                let of = |span: Option<SpanKind>| {
                    Aggregate::of(
                        forced
                            .rows
                            .iter()
                            .filter(|r| r.arm == arm.name && span.is_none_or(|s| r.span == s)),
                    )
                };
                let mine = answers.iter().filter(|a| a.arm == arm.name);
                ArmSummary {
                    arm: arm.name.clone(),
                    all: of(None),
                    block: of(Some(SpanKind::Block)),
                    memento: of(Some(SpanKind::Memento)),
                    answer: of(Some(SpanKind::Answer)),
                    correct: mine.clone().filter(|a| a.correct == Some(true)).count() as u64,
                    answered: mine.filter(|a| a.correct.is_some()).count() as u64,
                }
            })
            .collect();
        let result = ItemResult {
            item: problem.id.clone(),
            prompt: problem.prompt.clone(),
            reference: problem.answer.clone(),
            tokens: stream.ids.len() as u64,
            blocks: stream.blocks(),
            mementos: stream.summary.mementos_closed,
            arms,
        };
        Ok(ItemOutput {
            result,
            forced,
            answers,
        })
    }

    /// A free-running answer under `arm`.
    fn answer(&self, problem: &Problem, arm: &Arm, seed: u64) -> Result<AnswerRow, EngineError> {
        let mut run = Run::start(
            self.model,
            self.tokenizer,
            &problem.prompt,
            self.options(arm.policy, seed),
            NullSink,
        )?;
        while run.step()?.is_some() {}
        let (_, summary) = run.finish(None)?;
        let given = answer::extract(&summary.text);
        let correct = problem.answer.as_deref().map(|reference| {
            given
                .as_deref()
                .is_some_and(|g| answer::matches(g, reference))
        });
        Ok(AnswerRow {
            item: problem.id.clone(),
            arm: arm.name.clone(),
            seed,
            answer: given,
            reference: problem.answer.clone(),
            correct,
            tokens: summary.generated_tokens,
            peak_kv: summary.peak_live_tokens,
        })
    }

    /// Run every problem not yet in `results`, in order, stopping after `limit` new items
    /// when given. `progress` hears (items done, items in all) after each.
    pub fn run_all(
        &self,
        problems: &[Problem],
        results: &mut ResultDir,
        limit: Option<usize>,
        progress: &mut dyn FnMut(usize, usize),
    ) -> Result<usize, LabError> {
        let mut ran = 0;
        for problem in problems {
            if results.is_done(&problem.id) {
                continue;
            }
            if limit.is_some_and(|l| ran >= l) {
                break;
            }
            let trace = results.trace_path(&problem.id);
            let out = self
                .run_item(problem, Some(&trace))
                .map_err(|source| LabError::Model {
                    item: problem.id.clone(),
                    source,
                })?;
            results.write_item(
                &out.result,
                &out.forced.rows,
                &out.forced.channel,
                &out.answers,
            )?;
            ran += 1;
            progress(results.done.len(), problems.len());
        }
        Ok(ran)
    }

    /// The passcode probe over `problems`' prompts, when the config asks for it: collect
    /// (`collected` hears samples done), then train and test (`trained` hears probes done).
    pub fn probe(
        &self,
        problems: &[Problem],
        collected: &mut dyn FnMut(usize),
        trained: &mut dyn FnMut(usize, usize),
    ) -> Result<Option<Vec<ProbeRow>>, ProbeError> {
        let Some(config) = &self.config.probe else {
            return Ok(None);
        };
        config.check().map_err(ProbeError::Input)?;
        let prompts: Vec<String> = problems.iter().map(|p| p.prompt.clone()).collect();
        let samples = config.samples(&prompts).map_err(ProbeError::Input)?;
        let features = probe::collect(
            self.model,
            self.tokenizer,
            &samples,
            self.config.system.as_deref(),
            collected,
        )?;
        Ok(Some(probe::evaluate_all(&features, config.seed, trained)?))
    }
}
