//! A decoder without weights: it makes a greedy run write a script, and keeps only the
//! logical positions of its cache, so tests and the workbench's `--fake-engine` drive the real
//! [`super::Run`] (recording, the policy's evictions, restart's recompute, the end of the
//! stream) quickly and deterministically.
//!
//! A script is a list of [`Slot`]s: fixed tokens, and word slots filled at decode time from a
//! word list, picked from the seed, the position and how many entries were evicted so far.
//! After an eviction the words change, as a real model's would once its context differs, so a
//! full-context and a memento stream of the same prompt split at the first word after the first
//! eviction. The logits at each position put the chosen token at 0, three alternatives a little
//! below (so logprobs and alternatives look like a model's), and every other token at −30.

use std::ops::Range;
use std::time::Duration;

use super::decoder::{Decoder, DecoderInfo};
use crate::kv::{KvMemory, KvShape};
use crate::model::{LogitRows, ModelError, ModelTokenizer};
use crate::structure::Tag;

/// One position of a script.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Slot {
    /// This token, whatever the context.
    Token(u32),
    /// A word from the decoder's list, chosen by the context.
    Word,
}

/// The shape of a MEMENTO-style script: `<think>`, a newline, `blocks` blocks of
/// `block_words` words, each closed and followed by a memento of `memento_words` words and a
/// newline, then `</think>` and an answer of `answer_words` words.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ScriptShape {
    pub blocks: u32,
    pub block_words: u32,
    pub memento_words: u32,
    pub answer_words: u32,
}

impl Default for ScriptShape {
    fn default() -> Self {
        ScriptShape {
            blocks: 4,
            block_words: 12,
            memento_words: 4,
            answer_words: 6,
        }
    }
}

impl ScriptShape {
    /// Tokens in the whole script: `2 + blocks × (block_words + memento_words + 5) + 1 +
    /// answer_words`.
    pub fn tokens(&self) -> u64 {
        2 + self.blocks as u64 * (self.block_words as u64 + self.memento_words as u64 + 5)
            + 1
            + self.answer_words as u64
    }

    /// The slots, with the tags as `tokenizer` spells them (each must be one token).
    pub fn slots(&self, tokenizer: &ModelTokenizer) -> Result<Vec<Slot>, ModelError> {
        let one = |text: &str| {
            tokenizer
                .single_token(text)
                .map(Slot::Token)
                .ok_or_else(|| {
                    ModelError::Input(format!(
                        "a scripted run needs {text:?} as one token of the vocabulary"
                    ))
                })
        };
        let newline = match tokenizer.encode("\n")?.as_slice() {
            [(_, id)] => Slot::Token(*id),
            _ => return Err(ModelError::Input("a newline must be one token".into())),
        };
        let words = |n: u32| std::iter::repeat_n(Slot::Word, n as usize);
        let mut s = vec![one(Tag::ThinkOpen.text())?, newline];
        for _ in 0..self.blocks {
            s.push(one(Tag::BlockStart.text())?);
            s.extend(words(self.block_words));
            s.push(one(Tag::BlockEnd.text())?);
            s.push(one(Tag::SummaryStart.text())?);
            s.extend(words(self.memento_words));
            s.push(one(Tag::SummaryEnd.text())?);
            s.push(newline);
        }
        s.push(one(Tag::ThinkClose.text())?);
        s.extend(words(self.answer_words));
        Ok(s)
    }
}

pub struct ScriptedDecoder {
    script: Vec<Slot>,
    words: Vec<u32>,
    seed: u64,
    vocab: usize,
    eos: u32,
    context: usize,
    /// Where the prompt ends: the script starts at this logical position.
    prompt_end: Option<u64>,
    positions: Vec<u64>,
    /// Entries evicted so far (a restart's recompute does not count: it puts entries back).
    evicted: u64,
    /// Slept on every forward pass, so a stream takes time like a real one.
    delay: Duration,
    shape: KvShape,
}

impl ScriptedDecoder {
    /// A decoder that writes `text` as `tokenizer` spells it, then ends the sequence with
    /// `eos`.
    pub fn new(tokenizer: &ModelTokenizer, text: &str, eos: u32) -> Result<Self, ModelError> {
        let script = tokenizer
            .encode(text)?
            .into_iter()
            .map(|p| Slot::Token(p.1))
            .collect();
        Ok(ScriptedDecoder::from_slots(
            tokenizer,
            script,
            Vec::new(),
            eos,
            0,
        ))
    }

    /// A decoder that writes `slots`, filling word slots from `words` (token ids) by `seed`,
    /// then ends the sequence with `eos`.
    pub fn from_slots(
        tokenizer: &ModelTokenizer,
        script: Vec<Slot>,
        words: Vec<u32>,
        eos: u32,
        seed: u64,
    ) -> Self {
        ScriptedDecoder {
            script,
            words,
            seed,
            vocab: tokenizer.vocab_size(),
            eos,
            context: 1 << 16,
            prompt_end: None,
            positions: Vec::new(),
            evicted: 0,
            delay: Duration::ZERO,
            shape: KvShape::preset("smollm2-135m").expect("a built-in shape"),
        }
    }

    /// Sleep `delay` in every forward pass.
    pub fn with_delay(mut self, delay: Duration) -> Self {
        self.delay = delay;
        self
    }

    /// The token the script puts at logical position `pos`.
    fn token_at(&self, pos: u64) -> u32 {
        let slot = self
            .prompt_end
            .and_then(|end| self.script.get(pos.checked_sub(end)? as usize));
        match slot {
            Some(Slot::Token(id)) => *id,
            Some(Slot::Word) if !self.words.is_empty() => {
                let pick = mix(self.seed ^ pos.wrapping_mul(0x9e37) ^ (self.evicted << 20));
                self.words[(pick % self.words.len() as u64) as usize]
            }
            _ => self.eos,
        }
    }

    /// Logits choosing what follows logical position `pos`.
    fn logits_after(&self, pos: u64) -> Vec<f32> {
        let next = self.token_at(pos + 1);
        let mut logits = vec![-30f32; self.vocab];
        // Three alternatives below the chosen token, their gaps varying with the position.
        let pool: Vec<u32> = match self.words.len() {
            0 => (1..=3).map(|k| (next + k) % self.vocab as u32).collect(),
            n => (1..=3)
                .map(|k| self.words[(mix(pos ^ k as u64) % n as u64) as usize])
                .collect(),
        };
        let jitter = (mix(pos) % 200) as f32 / 100.0;
        for (k, alt) in pool.into_iter().enumerate() {
            logits[alt as usize] = logits[alt as usize].max(-(0.3 + jitter + 0.7 * k as f32));
        }
        logits[next as usize] = 0.0;
        logits
    }
}

fn mix(mut x: u64) -> u64 {
    x ^= x >> 33;
    x = x.wrapping_mul(0xff51afd7ed558ccd);
    x ^= x >> 33;
    x = x.wrapping_mul(0xc4ceb9fe1a85ec53);
    x ^ (x >> 33)
}

impl Decoder for ScriptedDecoder {
    fn info(&self) -> DecoderInfo {
        DecoderInfo {
            name: "scripted".into(),
            shape: self.shape.clone(),
            vocab: self.vocab,
            context: self.context,
            eos: vec![self.eos],
            can_rerotate: true,
        }
    }

    fn set_rerotate(&mut self, _on: bool) {}

    fn forward(
        &mut self,
        ids: &[u32],
        positions: &[u64],
        rows: LogitRows,
    ) -> Result<Vec<Vec<f32>>, ModelError> {
        if ids.len() != positions.len() {
            return Err(ModelError::Input(format!(
                "{} tokens but {} positions",
                ids.len(),
                positions.len()
            )));
        }
        let last = self.positions.iter().copied().max();
        if let (Some(l), Some(&p)) = (last, positions.first()) {
            if p <= l {
                return Err(ModelError::Input(format!(
                    "KV append at position {p} after position {l}: positions must increase"
                )));
            }
        }
        if !self.delay.is_zero() {
            std::thread::sleep(self.delay);
        }
        self.positions.extend_from_slice(positions);
        self.positions.sort_unstable();
        // The first forward pass is the prompt's prefill.
        if self.prompt_end.is_none() {
            self.prompt_end = positions.last().map(|p| p + 1);
        }
        Ok(match rows {
            LogitRows::None => Vec::new(),
            LogitRows::Last => positions
                .last()
                .map(|&p| vec![self.logits_after(p)])
                .unwrap_or_default(),
            LogitRows::All => positions.iter().map(|&p| self.logits_after(p)).collect(),
        })
    }

    fn evict(&mut self, span: Range<u64>) -> usize {
        let before = self.positions.len();
        self.positions.retain(|p| !span.contains(p));
        let freed = before - self.positions.len();
        self.evicted += freed as u64;
        freed
    }

    fn truncate_from(&mut self, from: u64) {
        self.positions.retain(|&p| p < from);
    }

    fn cached(&self) -> usize {
        self.positions.len()
    }

    fn memory(&self) -> KvMemory {
        let bytes = self.positions.len() as u64 * self.shape.bytes_per_token();
        KvMemory {
            live_bytes: bytes,
            reserved_bytes: bytes,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tokenizer() -> (ModelTokenizer, Vec<u32>) {
        let mut t =
            ModelTokenizer::from_json(crate::organism::tokenizer_json(), "organism").unwrap();
        let words = t.add_words(&[" one", " two", " three"]).unwrap();
        (t, words)
    }

    #[test]
    fn the_shape_counts_its_slots() {
        let (t, _) = tokenizer();
        let shape = ScriptShape::default();
        let slots = shape.slots(&t).unwrap();
        assert_eq!(slots.len() as u64, shape.tokens());
        assert_eq!(shape.tokens(), 93);
        let words = slots.iter().filter(|s| **s == Slot::Word).count();
        assert_eq!(words, 4 * (12 + 4) + 6);
    }

    #[test]
    fn words_follow_the_evictions_and_the_chosen_token_leads_by_a_margin() {
        let (t, words) = tokenizer();
        let slots = vec![Slot::Word; 64];
        let mut d = ScriptedDecoder::from_slots(&t, slots, words.clone(), 0, 7);
        d.forward(&[1, 2, 3], &[0, 1, 2], LogitRows::Last).unwrap();
        let before: Vec<u32> = (3..64).map(|p| d.token_at(p)).collect();
        assert!(before.iter().all(|w| words.contains(w)));
        assert_eq!(d.evict(0..2), 2);
        let after: Vec<u32> = (3..64).map(|p| d.token_at(p)).collect();
        assert_ne!(before, after, "an eviction changes the words");
        let logits = d.logits_after(2);
        let top = (0..logits.len()).max_by(|&a, &b| logits[a].total_cmp(&logits[b]));
        assert_eq!(top, Some(d.token_at(3) as usize));
        let second = logits
            .iter()
            .filter(|&&l| l < 0.0)
            .fold(-30f32, |a, &b| a.max(b));
        assert!(second <= -0.3, "{second}");
    }

    #[test]
    fn a_vocabulary_without_the_tags_is_refused() {
        let gpt2_like = r#"{"version":"1.0","truncation":null,"padding":null,"added_tokens":[],
            "normalizer":null,"pre_tokenizer":null,"post_processor":null,"decoder":null,
            "model":{"type":"WordLevel","vocab":{"a":0,"\n":1,"[UNK]":2},"unk_token":"[UNK]"}}"#;
        let t = ModelTokenizer::from_json(gpt2_like.as_bytes(), "plain").unwrap();
        let err = ScriptShape::default().slots(&t).unwrap_err().to_string();
        assert!(err.contains("<think>"), "{err}");
    }
}
