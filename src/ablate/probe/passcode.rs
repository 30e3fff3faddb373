//! The passcode probe's samples (the paper's leakage experiment, DESIGN §1.3): a forced
//! memento-mode continuation of three blocks, each closed by a memento whose text never
//! mentions the code, with a random k-digit passcode written into block 2. Memento 1 was
//! written before the code existed (the causal control), memento 2 while block 2 was visible
//! (direct), memento 3 after block 2 was evicted (masked: anything it knows of the code came
//! through memento 2's KV entries).

use std::collections::HashSet;
use std::ops::Range;

use rand::seq::IndexedRandom;
use rand::{Rng, SeedableRng};
use serde::{Deserialize, Serialize};

use crate::model::{ModelError, ModelTokenizer};
use crate::structure::Tag;
use crate::task::Task;

/// The three mementos, in order, by what they could have seen of the code.
pub const ROLES: [&str; 3] = ["control", "direct", "masked"];

/// Neutral reasoning sentences the blocks are made of.
const FILLER: [&str; 16] = [
    "Let me restate what the question gives.",
    "First I write down the quantities involved.",
    "The numbers should be combined one step at a time.",
    "I will check each intermediate result as I go.",
    "It helps to name every quantity before computing.",
    "Nothing in the statement is contradictory so far.",
    "The order of the operations matters here.",
    "A quick estimate keeps the arithmetic honest.",
    "I should not skip any of the given facts.",
    "Carrying the units along avoids mistakes.",
    "The next step follows from the previous line.",
    "Let me double check the last computation.",
    "Writing the partial sums makes this easier.",
    "This part of the problem is straightforward.",
    "Keep the totals separate until the end.",
    "The result so far looks reasonable.",
];

/// Memento texts; drawn independently of the code, so they carry none of it.
const MEMENTOS: [&str; 6] = [
    "I restated the problem and listed the known quantities.",
    "The setup is clear and the computation can start.",
    "I noted the details of this step and moved on.",
    "The intermediate results so far are consistent.",
    "This step is done; the next one builds on it.",
    "I checked the work up to here and found no error.",
];

/// One probe sample: its prompt, its code, and the forced continuation.
#[derive(Debug, Clone)]
pub struct Sample {
    pub prompt: String,
    /// The passcode's digits, 0–9 each.
    pub code: Vec<u8>,
    /// The forced continuation, one text piece per entry; each piece is tokenized on its own
    /// so the mementos' token ranges are known exactly.
    pub pieces: Vec<String>,
    /// Indices into `pieces` of each memento's first and last piece (its two delimiters).
    pub mementos: [(usize, usize); 3],
    /// Index into `pieces` of each block's text (between its delimiters).
    pub blocks: [usize; 3],
}

/// A sample's forced token ids, with each memento's range of indices into them (from its
/// `<|summary_start|>` to its `<|summary_end|>`, both included) and each block text's.
#[derive(Debug, Clone)]
pub struct ForcedIds {
    pub ids: Vec<u32>,
    pub mementos: [Range<usize>; 3],
    pub blocks: [Range<usize>; 3],
}

impl Sample {
    /// The code as written into block 2.
    pub fn code_text(&self) -> String {
        code_text(&self.code)
    }

    /// The same sample with another code of the same length (for tests that compare two
    /// samples differing only in the code).
    pub fn with_code(&self, code: &[u8]) -> Sample {
        assert_eq!(code.len(), self.code.len(), "a code of the same length");
        let mut out = self.clone();
        let old = self.code_text();
        out.code = code.to_vec();
        let new = out.code_text();
        out.pieces[self.blocks[1]] = self.pieces[self.blocks[1]].replacen(&old, &new, 1);
        out
    }

    /// A sample from a task's passcode variant: `response` is tagged reasoning whose second
    /// block holds `code`; the forced continuation runs to the end of the third memento.
    /// `None` when the response has fewer than three blocks, or the code is not in block 2
    /// alone.
    pub fn from_tagged(prompt: &str, code: &[u8], response: &str) -> Option<Sample> {
        let mut pieces: Vec<String> = Vec::new();
        let mut mementos = Vec::new();
        let mut blocks = Vec::new();
        let mut rest = response;
        let mut text = String::new();
        let mut memento_from = None;
        while !rest.is_empty() && mementos.len() < 3 {
            match Tag::at_start_of(rest) {
                Some(tag) => {
                    if !text.is_empty() {
                        if tag == Tag::BlockEnd {
                            blocks.push(pieces.len());
                        }
                        pieces.push(std::mem::take(&mut text));
                    }
                    if tag == Tag::SummaryStart {
                        memento_from = Some(pieces.len());
                    }
                    if tag == Tag::SummaryEnd {
                        mementos.push((memento_from?, pieces.len()));
                    }
                    pieces.push(tag.text().to_string());
                    rest = &rest[tag.text().len()..];
                }
                None => {
                    let ch = rest.chars().next()?;
                    text.push(ch);
                    rest = &rest[ch.len_utf8()..];
                }
            }
        }
        let code_text = code_text(code);
        let holding: Vec<usize> = (0..pieces.len())
            .filter(|&i| pieces[i].contains(&code_text))
            .collect();
        if mementos.len() < 3 || blocks.len() < 3 || holding != [blocks[1]] {
            return None;
        }
        Some(Sample {
            prompt: prompt.to_string(),
            code: code.to_vec(),
            pieces,
            mementos: [mementos[0], mementos[1], mementos[2]],
            blocks: [blocks[0], blocks[1], blocks[2]],
        })
    }

    pub fn forced_ids(&self, tokenizer: &ModelTokenizer) -> Result<ForcedIds, ModelError> {
        let mut ids = Vec::new();
        let mut starts = Vec::with_capacity(self.pieces.len());
        for piece in &self.pieces {
            starts.push(ids.len());
            ids.extend(tokenizer.encode(piece)?.into_iter().map(|(_, id)| id));
        }
        starts.push(ids.len());
        let range = |(first, last): (usize, usize)| starts[first]..starts[last + 1];
        Ok(ForcedIds {
            mementos: self.mementos.map(range),
            blocks: self.blocks.map(|b| range((b, b))),
            ids,
        })
    }
}

/// What besides the code differs between samples.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum SampleContext {
    /// One prompt, one set of block and memento texts: only the code varies, so any signal
    /// a probe finds is the code's.
    Fixed,
    /// Prompts cycle through the problem set and every sample draws its own block and
    /// memento texts: the probe must read the code across contexts (harder, needs more
    /// samples).
    Varied,
}

/// `count` samples of `task`'s passcode variant with distinct `digits`-digit codes, the same
/// for the same `seed`: under [`SampleContext::Fixed`] one walk for every sample, else a walk
/// of its own each.
pub fn task_samples(
    task: &Task,
    count: usize,
    digits: u32,
    seed: u64,
    context: SampleContext,
) -> Result<Vec<Sample>, String> {
    let codes = distinct_codes(count, digits, seed);
    codes
        .into_iter()
        .enumerate()
        .map(|(i, code)| {
            let index = match context {
                SampleContext::Fixed => 0,
                SampleContext::Varied => i as u64,
            };
            let p = task.passcode_problem(seed, index, &code);
            Sample::from_tagged(&p.prompt, &code, &p.response).ok_or_else(|| {
                format!(
                    "{} problem {}: its passcode variant lacks three blocks with the code in the second",
                    task.name(),
                    p.id
                )
            })
        })
        .collect()
}

/// A code's digits as text.
fn code_text(code: &[u8]) -> String {
    code.iter().map(|d| char::from(b'0' + d)).collect()
}

/// `count` distinct codes of `digits` digits drawn with `seed`.
fn distinct_codes(count: usize, digits: u32, seed: u64) -> Vec<Vec<u8>> {
    let mut codes = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
    let mut seen = HashSet::new();
    let mut out = Vec::with_capacity(count);
    while out.len() < count {
        let code: Vec<u8> = (0..digits).map(|_| codes.random_range(0..10u8)).collect();
        // A code seen before would put the same label in training and test.
        if seen.insert(code.clone()) {
            out.push(code);
        }
    }
    out
}

/// `count` samples with distinct `digits`-digit codes, the same for the same `seed`. Prompts
/// come from `prompts` (only the first under [`SampleContext::Fixed`]).
pub fn samples(
    count: usize,
    digits: u32,
    seed: u64,
    context: SampleContext,
    prompts: &[String],
) -> Vec<Sample> {
    let mut texts = rand_chacha::ChaCha8Rng::seed_from_u64(seed ^ 0x7465_7874);
    let mut out = Vec::with_capacity(count);
    for code in distinct_codes(count, digits, seed) {
        let which = match context {
            SampleContext::Fixed => 0,
            SampleContext::Varied => out.len() % prompts.len().max(1),
        };
        let prompt = prompts.get(which).cloned().unwrap_or_default();
        if context == SampleContext::Fixed {
            // The same text draws for every sample.
            texts = rand_chacha::ChaCha8Rng::seed_from_u64(seed ^ 0x7465_7874);
        }
        out.push(build(&mut texts, prompt, code));
    }
    out
}

/// The most distinct codes `samples` can draw for `digits`.
pub fn max_samples(digits: u32) -> usize {
    10usize.saturating_pow(digits)
}

fn build(rng: &mut impl Rng, prompt: String, code: Vec<u8>) -> Sample {
    let mut filler = || *FILLER.choose(rng).expect("filler is not empty");
    let (f1, f2, f3, f4, f5, f6) = (filler(), filler(), filler(), filler(), filler(), filler());
    let code_text: String = code.iter().map(|d| char::from(b'0' + d)).collect();
    let blocks = [
        format!("{f1} {f2}"),
        format!("{f3} The passcode is {code_text}. {f4}"),
        format!("{f5} {f6}"),
    ];
    let mut pieces = vec!["<think>\n".to_string()];
    let mut mementos = [(0, 0); 3];
    let mut block_pieces = [0; 3];
    for (b, text) in blocks.iter().enumerate() {
        let memento = *MEMENTOS.choose(rng).expect("mementos are not empty");
        pieces.push("<|block_start|>".into());
        block_pieces[b] = pieces.len();
        pieces.push(text.clone());
        pieces.push("<|block_end|>".into());
        pieces.push("\n".into());
        let first = pieces.len();
        pieces.push("<|summary_start|>".into());
        pieces.push(memento.into());
        pieces.push("<|summary_end|>".into());
        mementos[b] = (first, pieces.len() - 1);
        pieces.push("\n".into());
    }
    Sample {
        prompt,
        code,
        pieces,
        mementos,
        blocks: block_pieces,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn task_samples_cut_the_walk_after_its_third_memento_with_the_code_in_block_two() {
        let task = Task::TollWalk(crate::task::WalkConfig::default());
        let fixed = task_samples(&task, 4, 5, 9, SampleContext::Fixed).unwrap();
        for s in &fixed {
            assert_eq!(
                s.pieces.iter().filter(|p| *p == "<|summary_end|>").count(),
                3
            );
            assert_eq!(s.pieces.last().unwrap(), "<|summary_end|>");
            assert!(s.pieces[s.blocks[1]].contains(&format!("gate code {}", s.code_text())));
            for &(first, last) in &s.mementos {
                assert_eq!(s.pieces[first], "<|summary_start|>");
                assert_eq!(s.pieces[last], "<|summary_end|>");
                assert!(!s.pieces[first + 1].contains(&s.code_text()));
            }
            // Only the code differs between fixed samples.
            assert_eq!(s.with_code(&fixed[0].code).pieces, fixed[0].pieces);
            assert_eq!(s.prompt, fixed[0].prompt);
        }
        let varied = task_samples(&task, 4, 5, 9, SampleContext::Varied).unwrap();
        assert_ne!(varied[0].prompt, varied[1].prompt);
        // Text without a third memento gives no sample.
        assert!(Sample::from_tagged("p", &[1], "<think>\n<|block_start|>x<|block_end|>").is_none());
    }

    #[test]
    fn codes_are_distinct_and_only_block_two_holds_them() {
        let prompts = vec!["p".to_string()];
        let all = samples(200, 3, 7, SampleContext::Varied, &prompts);
        let codes: HashSet<_> = all.iter().map(|s| s.code.clone()).collect();
        assert_eq!(codes.len(), 200);
        for s in &all {
            assert_eq!(s.code.len(), 3);
            let holding: Vec<usize> = s
                .pieces
                .iter()
                .enumerate()
                .filter(|(_, p)| p.contains(&format!("passcode is {}", s.code_text())))
                .map(|(i, _)| i)
                .collect();
            // The second block's text, and nothing in a memento.
            assert_eq!(holding.len(), 1);
            assert_eq!(holding[0], s.blocks[1]);
            assert!(s.mementos[0].1 < s.blocks[1] && s.blocks[1] < s.mementos[1].0);
            for &(first, last) in &s.mementos {
                assert_eq!(s.pieces[first], "<|summary_start|>");
                assert_eq!(s.pieces[last], "<|summary_end|>");
            }
        }
        // The same seed gives the same samples.
        assert_eq!(
            samples(5, 3, 7, SampleContext::Varied, &prompts)[4].pieces,
            all[4].pieces
        );
        // Fixed context: the samples differ in the code alone.
        let fixed = samples(3, 3, 7, SampleContext::Fixed, &["a".into(), "b".into()]);
        for s in &fixed[1..] {
            assert_eq!(s.with_code(&fixed[0].code).pieces, fixed[0].pieces);
            assert_eq!(s.prompt, "a");
        }
    }
}
