//! Where training sequences come from: a synthetic task's generator (endless, seeded) or
//! transcripts read by the importers (OpenMementos rows, segments JSON, tagged text), shuffled
//! once per epoch with a seed. Either way sequence `i` is the same for the same settings, so
//! a resumed training reads exactly what an uninterrupted one would have.

use std::path::PathBuf;

use rand::SeedableRng;
use rand::seq::SliceRandom;

use super::TrainError;
use super::example::Example;
use crate::import::{ImportOptions, read_transcripts, user_message};
use crate::model::ModelTokenizer;
use crate::task::{Split, Task};

pub enum Source {
    Task {
        task: Task,
        seed: u64,
    },
    Files {
        /// Every sequence, tokenized, in file order.
        examples: Vec<Example>,
        seed: u64,
    },
}

impl Source {
    /// Read and tokenize `paths` (any format `memento import` reads). Sequences longer than
    /// `max_len` tokens are cut to it (their loss covers what is left of the response); the
    /// number cut is returned with the source.
    pub fn files(
        paths: &[PathBuf],
        tokenizer: &ModelTokenizer,
        max_len: usize,
        seed: u64,
    ) -> Result<(Source, usize), TrainError> {
        let mut examples = Vec::new();
        let mut cut = 0;
        for path in paths {
            let transcripts = read_transcripts(path, &ImportOptions::default()).map_err(|e| {
                TrainError::Data {
                    path: path.clone(),
                    message: e.to_string(),
                }
            })?;
            for t in transcripts {
                let problem = t
                    .quoted_problem()
                    .map(str::to_string)
                    .or_else(|| t.prompt.as_deref().and_then(user_message))
                    .ok_or_else(|| TrainError::Data {
                        path: path.clone(),
                        message: format!(
                            "{}: no user prompt to train on (a tagged text needs its ChatML prompt)",
                            t.source.id.clone().unwrap_or_else(|| "a record".into())
                        ),
                    })?;
                let mut e = Example::from_transcript(
                    tokenizer,
                    &problem,
                    &t.response,
                    t.response_tags.as_deref(),
                )?;
                if e.len() > max_len {
                    if e.prompt_len + 1 >= max_len {
                        // Nothing of the response would be left to learn from.
                        cut += 1;
                        continue;
                    }
                    e.ids.truncate(max_len);
                    e.texts.truncate(max_len);
                    e.quoted.truncate(max_len);
                    cut += 1;
                }
                examples.push(e);
            }
        }
        if examples.is_empty() {
            return Err(TrainError::Data {
                path: paths.first().cloned().unwrap_or_default(),
                message: "no sequences to train on".into(),
            });
        }
        Ok((Source::Files { examples, seed }, cut))
    }

    /// Sequence `i` of the training stream.
    pub fn example(&self, tokenizer: &ModelTokenizer, i: u64) -> Result<Example, TrainError> {
        match self {
            Source::Task { task, seed } => {
                let p = task.problem(Split::Train, *seed, i);
                Example::from_text(tokenizer, &p.prompt, &p.response)
            }
            Source::Files { examples, seed } => {
                let n = examples.len() as u64;
                let (epoch, k) = (i / n, i % n);
                let mut order: Vec<usize> = (0..examples.len()).collect();
                let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed.wrapping_add(epoch));
                order.shuffle(&mut rng);
                Ok(examples[order[k as usize]].clone())
            }
        }
    }

    /// Held-out sequences for the loss curve: the task's held-out split, or (for files) the
    /// first few sequences in file order.
    pub fn heldout(
        &self,
        tokenizer: &ModelTokenizer,
        count: usize,
    ) -> Result<Vec<Example>, TrainError> {
        match self {
            Source::Task { task, seed } => (0..count as u64)
                .map(|i| {
                    let p = task.problem(Split::Heldout, *seed, i);
                    Example::from_text(tokenizer, &p.prompt, &p.response)
                })
                .collect(),
            Source::Files { examples, .. } => Ok(examples.iter().take(count).cloned().collect()),
        }
    }
}
