//! The workbench's engine without weights: the real decode loop ([`Run`]) over the scripted
//! decoder, spelling with the organism's vocabulary plus sixteen whole words. Runs record,
//! evict, restart and end exactly as with a model, so the workbench's tests and its
//! `--fake-engine` exercise every path a live run takes.

use std::time::Duration;

use super::engine::{ActiveRun, DecodeEngine, LiveSink};
use crate::engine::scripted::{ScriptShape, ScriptedDecoder};
use crate::engine::{EngineError, Run, RunOptions};
use crate::model::{ModelError, ModelTokenizer};

const WORDS: [&str; 16] = [
    " so", " the", " sum", " is", " 12", " then", " we", " add", " 5", " which", " gives", " 17",
    " check", " it", " again", " ok",
];

pub struct ScriptedEngine {
    pub shape: ScriptShape,
    /// Slept on every forward pass (a decode step), so a stream takes time like a real one.
    pub token_delay: Duration,
    tokenizer: ModelTokenizer,
    words: Vec<u32>,
}

impl ScriptedEngine {
    pub fn new(shape: ScriptShape, token_delay: Duration) -> Result<Self, ModelError> {
        let mut tokenizer =
            ModelTokenizer::from_json(crate::organism::tokenizer_json(), "scripted")?;
        let words = tokenizer.add_words(&WORDS)?;
        Ok(ScriptedEngine {
            shape,
            token_delay,
            tokenizer,
            words,
        })
    }
}

impl DecodeEngine for ScriptedEngine {
    fn name(&self) -> String {
        "scripted".into()
    }

    fn has_memento_tags(&self) -> bool {
        self.tokenizer.has_memento_tags()
    }

    fn start<'e>(
        &'e self,
        prompt: &str,
        options: RunOptions,
        sink: LiveSink,
    ) -> Result<Box<dyn ActiveRun + 'e>, EngineError> {
        let eos = self
            .tokenizer
            .single_token("<|im_end|>")
            .ok_or_else(|| EngineError::request("the vocabulary has no <|im_end|>"))?;
        let slots = self.shape.slots(&self.tokenizer)?;
        let decoder = ScriptedDecoder::from_slots(
            &self.tokenizer,
            slots,
            self.words.clone(),
            eos,
            options.sampler.seed,
        )
        .with_delay(self.token_delay);
        let mut run = Run::with_decoder(decoder, &self.tokenizer, options, sink)?;
        run.prefill(prompt)?;
        Ok(Box::new(run))
    }
}
