//! A deterministic stand-in for a model, for testing the workbench without weights: it writes
//! a fixed structure (think, blocks, mementos, answer) with words picked from the seed and the
//! position, and records through the same recorder as the real engine, so the KV accountant
//! decides real evictions. After an eviction its words change (as a real model's would once
//! its context differs), so a compare run diverges exactly at the first eviction.

use std::time::{Duration, Instant};

use super::engine::{ActiveRun, DecodeEngine, LiveSink};
use crate::engine::{RunOptions, RunSummary, Step, Timings, chat_prompt};
use crate::kv::KvShape;
use crate::model::ModelError;
use crate::trace::{
    Alternative, EndReason, FORMAT_NAME, Header, ModelInfo, Recorder, RecorderOptions, SourceInfo,
    SourceKind, TokenInput, TokenizerInfo,
};

const WORDS: [&str; 16] = [
    " so", " the", " sum", " is", " 12", " then", " we", " add", " 5", " which", " gives", " 17",
    " check", " it", " again", " ok",
];

#[derive(Debug, Clone)]
pub struct FakeEngine {
    pub blocks: u32,
    pub block_words: u32,
    pub memento_words: u32,
    pub answer_words: u32,
    /// Sleep per decoded token, so a running stream takes time like a real one.
    pub token_delay: Duration,
}

impl Default for FakeEngine {
    fn default() -> Self {
        FakeEngine {
            blocks: 4,
            block_words: 12,
            memento_words: 4,
            answer_words: 6,
            token_delay: Duration::from_millis(1),
        }
    }
}

impl FakeEngine {
    /// The tokens of a whole run, before word choice: `None` is a word slot.
    fn script(&self) -> Vec<Option<&'static str>> {
        let mut s = vec![Some("<think>"), Some("\n")];
        for _ in 0..self.blocks {
            s.push(Some("<|block_start|>"));
            s.extend((0..self.block_words).map(|_| None));
            s.push(Some("<|block_end|>"));
            s.push(Some("<|summary_start|>"));
            s.extend((0..self.memento_words).map(|_| None));
            s.push(Some("<|summary_end|>"));
            s.push(Some("\n"));
        }
        s.push(Some("</think>"));
        s.extend((0..self.answer_words).map(|_| None));
        s
    }
}

fn mix(mut x: u64) -> u64 {
    x ^= x >> 33;
    x = x.wrapping_mul(0xff51afd7ed558ccd);
    x ^= x >> 33;
    x = x.wrapping_mul(0xc4ceb9fe1a85ec53);
    x ^ (x >> 33)
}

impl DecodeEngine for FakeEngine {
    fn name(&self) -> String {
        "fake".into()
    }

    fn has_memento_tags(&self) -> bool {
        true
    }

    fn start<'e>(
        &'e self,
        prompt: &str,
        options: RunOptions,
        sink: LiveSink,
    ) -> Result<Box<dyn ActiveRun + 'e>, ModelError> {
        let shape = KvShape::preset("smollm2-135m").expect("a built-in shape");
        let header = Header {
            format: FORMAT_NAME.to_string(),
            version: crate::trace::format_version(),
            created: crate::import::created_now(),
            generator: format!("memento {} (fake engine)", env!("CARGO_PKG_VERSION")),
            model: ModelInfo {
                name: "fake".into(),
                shape,
            },
            tokenizer: TokenizerInfo::Model {
                name: "fake".into(),
                vocab_size: WORDS.len() as u64,
            },
            policy: options.policy,
            source: Some(SourceInfo {
                kind: SourceKind::Engine,
                format: None,
                path: None,
                row: None,
                id: None,
                seed: Some(options.sampler.seed),
                answer: None,
            }),
            snapshot_every: Some(options.snapshot_every),
            sampler: Some(options.sampler_info()),
        };
        let io = ModelError::trace_write;
        let recorder_options = RecorderOptions {
            snapshot_every: options.snapshot_every,
            ..RecorderOptions::default()
        };
        let mut recorder = Recorder::start(&header, recorder_options, sink).map_err(io)?;
        let text = chat_prompt(None, prompt);
        let pieces: Vec<(String, Option<u32>)> = text
            .split_inclusive(' ')
            .map(|w| (w.to_string(), Some(0)))
            .collect();
        let t0 = Instant::now();
        recorder.prompt(&text, &pieces, Some(0.0)).map_err(io)?;
        Ok(Box::new(FakeRun {
            script: self.script(),
            at: 0,
            recorder,
            seed: options.sampler.seed,
            max_tokens: options.max_tokens,
            scaffold: options.scaffold.is_some(),
            delay: self.token_delay,
            started: t0,
            prefill_seconds: t0.elapsed().as_secs_f64().max(1e-6),
            decode_seconds: 0.0,
            end: None,
            text: String::new(),
            label: options.policy.label(),
        }))
    }
}

struct FakeRun {
    script: Vec<Option<&'static str>>,
    at: usize,
    recorder: Recorder<LiveSink>,
    seed: u64,
    max_tokens: u32,
    scaffold: bool,
    delay: Duration,
    started: Instant,
    prefill_seconds: f64,
    decode_seconds: f64,
    end: Option<EndReason>,
    text: String,
    label: String,
}

impl ActiveRun for FakeRun {
    fn step(&mut self) -> Result<Option<Step>, ModelError> {
        if self.end.is_some() {
            return Ok(None);
        }
        if self.at >= self.script.len() {
            self.end = Some(EndReason::Eos);
            return Ok(None);
        }
        if self.at as u32 >= self.max_tokens {
            self.end = Some(EndReason::MaxTokens);
            return Ok(None);
        }
        let t0 = Instant::now();
        std::thread::sleep(self.delay);
        let pos = self.recorder.next_pos();
        let evicted = self.recorder.state().evicted;
        let (text, tag) = match self.script[self.at] {
            Some(tag) => (tag.to_string(), true),
            None => {
                let pick = mix(self.seed ^ pos.wrapping_mul(0x9e37) ^ evicted << 20);
                (
                    WORDS[(pick % WORDS.len() as u64) as usize].to_string(),
                    false,
                )
            }
        };
        // Tags get ids past the words, as special tokens do.
        let id = match WORDS.iter().position(|w| *w == text) {
            Some(i) if !tag => i as u32,
            _ => WORDS.len() as u32 + self.at as u32,
        };
        let logprob = -((mix(pos) % 200) as f32) / 100.0;
        let top = (0..3)
            .map(|k| {
                let alt = (id as usize + k) % WORDS.len();
                Alternative {
                    id: Some(alt as u32),
                    text: WORDS[alt].to_string(),
                    logprob: logprob - k as f32 * 0.7,
                    sampled_logprob: None,
                }
            })
            .collect();
        let scaffold = tag && self.scaffold && text != "\n";
        let io = ModelError::trace_write;
        let outcome = self
            .recorder
            .token(TokenInput {
                text: text.clone(),
                id: Some(id),
                logprob: Some(logprob),
                top: Some(top),
                scaffold,
                literal: false,
                t: Some(self.started.elapsed().as_secs_f64()),
            })
            .map_err(io)?;
        self.at += 1;
        self.text.push_str(&text);
        self.decode_seconds += t0.elapsed().as_secs_f64();
        Ok(Some(Step::recorded(pos, id, text, scaffold, outcome)))
    }

    fn timings(&self) -> Timings {
        Timings {
            prompt_tokens: self.recorder.prompt_len(),
            generated: self.at as u64,
            prefill_seconds: self.prefill_seconds,
            decode_seconds: self.decode_seconds,
        }
    }

    fn finish(self: Box<Self>, reason: Option<EndReason>) -> Result<RunSummary, ModelError> {
        let end = self.end.or(reason).unwrap_or(EndReason::Stopped);
        let timings = self.timings();
        let t = self.started.elapsed().as_secs_f64();
        let io = ModelError::trace_write;
        let (_, state) = self
            .recorder
            .finish(end, Some(t), Some(timings.spent()))
            .map_err(io)?;
        Ok(RunSummary::from_totals(
            "fake".into(),
            self.label,
            self.scaffold,
            end,
            &timings,
            &state,
            self.text,
        ))
    }
}
