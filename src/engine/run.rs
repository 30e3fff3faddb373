//! One generation run: prefill the prompt, then decode token by token under a KV policy,
//! applying the accountant's evictions to the real cache and recording every event.

use std::collections::VecDeque;
use std::time::Instant;

use serde::Serialize;

use super::decoder::{Decoder, ModelDecoder};
use super::error::EngineError;
use super::sampler::{Sampler, SamplerConfig, log_sum_exp, logprobs};
use super::scaffold::{Scaffold, ScaffoldConfig};
use crate::kv::{Eviction, KvDtype, KvPolicy, KvReading, KvStore};
use crate::model::{LogitRows, Model, ModelTokenizer, Utf8Stream};
use crate::structure::{Boundary, DiagnosticCode, Severity};
use crate::trace::{
    Alternative, EndReason, EventSink, FORMAT_NAME, Header, ModelInfo, Recorder, RecorderOptions,
    RunState, SamplerInfo, SourceInfo, SourceKind, TokenInput,
};

#[derive(Debug, Clone)]
pub struct RunOptions {
    pub policy: KvPolicy,
    pub sampler: SamplerConfig,
    pub max_tokens: u32,
    /// Runtime-inserted blocks and mementos, for models not trained on them.
    pub scaffold: Option<ScaffoldConfig>,
    pub system: Option<String>,
    /// Close position gaps on eviction by re-rotating keys (an experiment; off by default).
    pub rerotate: bool,
    pub snapshot_every: u32,
    /// How many alternatives to record per token.
    pub top_alternatives: usize,
    /// Sampler settings chosen for the user rather than by them, with why (recorded in the
    /// trace header's `sampler.automatic`).
    pub automatic: std::collections::BTreeMap<String, String>,
    /// How the KV cache stores K and V (recorded in the header's model shape).
    pub kv_dtype: KvDtype,
    /// The prompt is the model's whole input, written as given (a completions request);
    /// otherwise it is the user's turn of a ChatML conversation ([`chat_prompt`]).
    pub raw_prompt: bool,
    /// Never choose an end-of-sequence token, so the run goes on to `max_tokens` (vLLM's
    /// `ignore_eos`, for load tests with a fixed output length).
    pub ignore_eos: bool,
}

impl Default for RunOptions {
    fn default() -> Self {
        RunOptions {
            policy: KvPolicy::MEMENTO,
            sampler: SamplerConfig::default(),
            max_tokens: 256,
            scaffold: None,
            system: None,
            rerotate: false,
            snapshot_every: 256,
            top_alternatives: 5,
            automatic: Default::default(),
            kv_dtype: KvDtype::engine_default(),
            raw_prompt: false,
            ignore_eos: false,
        }
    }
}

impl RunOptions {
    /// The text the model reads for `prompt`: the prompt itself when it is raw, else the
    /// ChatML conversation around it.
    pub fn model_input(&self, prompt: &str) -> String {
        match self.raw_prompt {
            true => prompt.to_string(),
            false => chat_prompt(self.system.as_deref(), prompt),
        }
    }

    /// The trace header of a run under these options, from an engine: `generator_note` (after
    /// memento's version), the source's `format` and `path` (a remote endpoint).
    pub fn header(
        &self,
        model: ModelInfo,
        tokenizer: crate::trace::TokenizerInfo,
        generator_note: &str,
        format: Option<String>,
        path: Option<String>,
    ) -> Header {
        Header {
            format: FORMAT_NAME.to_string(),
            version: crate::trace::format_version(),
            created: crate::import::created_now(),
            generator: format!("memento {}{generator_note}", env!("CARGO_PKG_VERSION")),
            model,
            tokenizer,
            policy: self.policy,
            source: Some(SourceInfo {
                kind: SourceKind::Engine,
                format,
                path,
                row: None,
                id: None,
                seed: Some(self.sampler.seed),
                answer: None,
            }),
            snapshot_every: Some(self.snapshot_every),
            sampler: Some(self.sampler_info()),
        }
    }

    /// Start recording `header` into `sink`, snapshotting as these options say.
    pub fn recorder<S: EventSink>(
        &self,
        header: &Header,
        sink: S,
    ) -> Result<Recorder<S>, EngineError> {
        let options = RecorderOptions {
            snapshot_every: self.snapshot_every,
            ..RecorderOptions::default()
        };
        Recorder::start(header, options, sink).map_err(EngineError::TraceWrite)
    }

    /// The sampler as the trace header records it.
    pub fn sampler_info(&self) -> SamplerInfo {
        SamplerInfo {
            temperature: self.sampler.temperature,
            top_k: self.sampler.top_k as u64,
            top_p: self.sampler.top_p,
            min_p: self.sampler.min_p,
            repeat_penalty: self.sampler.repeat_penalty,
            repeat_last_n: self.sampler.repeat_last_n as u64,
            seed: self.sampler.seed,
            automatic: self.automatic.clone(),
        }
    }
}

/// The ChatML prompt (DESIGN §1.1): no system message unless one is given.
pub fn chat_prompt(system: Option<&str>, user: &str) -> String {
    match system {
        Some(system) => chat_conversation(&[("system", system), ("user", user)]),
        None => chat_conversation(&[("user", user)]),
    }
}

/// A whole conversation of (role, text) turns in ChatML, ending where the assistant's turn
/// begins.
pub fn chat_conversation(turns: &[(&str, &str)]) -> String {
    let mut s = String::new();
    for (role, text) in turns {
        s.push_str(&format!("<|im_start|>{role}\n{text}<|im_end|>\n"));
    }
    s.push_str("<|im_start|>assistant\n");
    s
}

/// What one decode step produced.
#[derive(Debug, Clone)]
pub struct Step {
    pub pos: u64,
    pub id: u32,
    pub text: String,
    pub scaffold: bool,
    /// Spans this token opened or closed.
    pub boundaries: Vec<Boundary>,
    pub evictions: Vec<Eviction>,
    pub reading: KvReading,
}

impl Step {
    /// Token `id` (its `text`) at `pos`, with what the recorder decided for it.
    pub fn recorded(
        pos: u64,
        id: u32,
        text: String,
        scaffold: bool,
        outcome: crate::trace::StepOutcome,
    ) -> Step {
        Step {
            pos,
            id,
            text,
            scaffold,
            boundaries: outcome.boundaries,
            evictions: outcome.evictions,
            reading: outcome.reading,
        }
    }
}

/// Speeds so far, for live readouts.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize)]
pub struct Timings {
    pub prompt_tokens: u64,
    pub generated: u64,
    pub prefill_seconds: f64,
    pub decode_seconds: f64,
}

impl Timings {
    pub fn prefill_tok_s(&self) -> f64 {
        rate(self.prompt_tokens as f64, self.prefill_seconds)
    }

    pub fn decode_tok_s(&self) -> f64 {
        rate(self.generated as f64, self.decode_seconds)
    }

    /// The engine time for the trace's end event.
    pub fn spent(&self) -> crate::trace::StageSeconds {
        crate::trace::StageSeconds {
            prefill: self.prefill_seconds,
            decode: self.decode_seconds,
        }
    }
}

fn rate(n: f64, seconds: f64) -> f64 {
    if seconds > 0.0 { n / seconds } else { 0.0 }
}

#[derive(Debug, Clone, Serialize)]
pub struct RunSummary {
    pub model: String,
    pub mode: String,
    pub scaffolded: bool,
    pub end: EndReason,
    pub prompt_tokens: u64,
    pub generated_tokens: u64,
    pub prefill_seconds: f64,
    pub decode_seconds: f64,
    pub prefill_tok_s: f64,
    pub decode_tok_s: f64,
    pub blocks_closed: u64,
    pub mementos_closed: u64,
    pub evictions: u64,
    pub evicted_entries: u64,
    pub peak_live_tokens: u64,
    pub peak_kv_bytes: u64,
    pub final_live_tokens: u64,
    pub kv_reserved_bytes: u64,
    pub kv_live_bytes: u64,
    pub text: String,
    /// Why the run stopped on an error (`end` is `error`), e.g. non-finite logits.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub failure: Option<String>,
}

impl RunSummary {
    /// A summary from the recorded totals; the KV figures are the recorded ones (a caller
    /// with a real cache replaces them with the cache's).
    pub fn from_totals(
        model: String,
        mode: String,
        scaffolded: bool,
        end: EndReason,
        timings: &Timings,
        state: &RunState,
        text: String,
    ) -> RunSummary {
        RunSummary {
            model,
            mode,
            scaffolded,
            end,
            prompt_tokens: timings.prompt_tokens,
            generated_tokens: state.generated,
            prefill_seconds: timings.prefill_seconds,
            decode_seconds: timings.decode_seconds,
            prefill_tok_s: timings.prefill_tok_s(),
            decode_tok_s: rate(state.generated as f64, timings.decode_seconds),
            blocks_closed: state.blocks_closed,
            mementos_closed: state.mementos_closed,
            evictions: state.evictions,
            evicted_entries: state.evicted,
            peak_live_tokens: state.peak,
            peak_kv_bytes: state.peak_bytes,
            final_live_tokens: state.live,
            kv_reserved_bytes: state.bytes,
            kv_live_bytes: state.bytes,
            text,
            failure: None,
        }
    }
}

/// One run's decode loop over a [`Decoder`]: the real model with its KV store by default.
pub struct Run<'m, S: EventSink, D: Decoder = ModelDecoder<'m>> {
    decoder: D,
    /// The decoder's name and context, read once.
    name: String,
    context: usize,
    tokenizer: &'m ModelTokenizer,
    options: RunOptions,
    recorder: Recorder<S>,
    sampler: Sampler,
    scaffold: Option<Scaffold>,
    /// Token id at every logical position, prompt included.
    ids: Vec<u32>,
    logits: Vec<f32>,
    forced: VecDeque<u32>,
    eos: Vec<u32>,
    /// Scaffolded mode: tokens that would spell a tag (`<|`), which only the runtime may
    /// write; `pipe_led` are those starting with `|`, banned right after a `<`.
    banned: Vec<u32>,
    pipe_led: Vec<u32>,
    utf8: Utf8Stream,
    started: Instant,
    prefill_seconds: f64,
    decode_seconds: f64,
    generated: u32,
    text: String,
    end: Option<EndReason>,
    failure: Option<String>,
}

impl<'m, S: EventSink> Run<'m, S, ModelDecoder<'m>> {
    /// Record the header, prefill the prompt and get ready to decode, in a cache of its own.
    pub fn start(
        model: &'m Model,
        tokenizer: &'m ModelTokenizer,
        prompt: &str,
        options: RunOptions,
        sink: S,
    ) -> Result<Self, EngineError> {
        let store = model.new_store_in(options.kv_dtype)?;
        Run::start_in(model, tokenizer, prompt, options, sink, store)
    }

    /// [`Run::start`] in a given cache.
    pub fn start_in(
        model: &'m Model,
        tokenizer: &'m ModelTokenizer,
        prompt: &str,
        options: RunOptions,
        sink: S,
        store: KvStore,
    ) -> Result<Self, EngineError> {
        let mut run = Run::open(model, tokenizer, options, sink, store)?;
        run.prefill(prompt)?;
        Ok(run)
    }

    /// Record the header in a given cache, without a prompt yet ([`Run::prefill`] follows): a
    /// batch's run opens with a sequence of the batch's shared pool and is lent the pool for
    /// its prefill.
    pub fn open(
        model: &'m Model,
        tokenizer: &'m ModelTokenizer,
        options: RunOptions,
        sink: S,
        store: KvStore,
    ) -> Result<Self, EngineError> {
        Run::with_decoder(ModelDecoder { model, store }, tokenizer, options, sink)
    }

    pub fn store(&self) -> &KvStore {
        &self.decoder.store
    }

    /// The cache, for a batch to lend its pool to and to pass to its forward pass.
    pub fn store_mut(&mut self) -> &mut KvStore {
        &mut self.decoder.store
    }
}

impl<'m, S: EventSink, D: Decoder> Run<'m, S, D> {
    /// Record the header over any decoder, without a prompt yet ([`Run::prefill`] follows).
    pub fn with_decoder(
        mut decoder: D,
        tokenizer: &'m ModelTokenizer,
        options: RunOptions,
        sink: S,
    ) -> Result<Self, EngineError> {
        let info = decoder.info();
        options.sampler.check().map_err(EngineError::Request)?;
        if options.rerotate && !info.can_rerotate {
            return Err(EngineError::Request(
                "--rerotate cannot be used with dynamic RoPE scaling: keys written at different lengths carry different frequencies, so no fixed rotation closes a gap".into(),
            ));
        }
        tokenizer.check_against(info.vocab)?;
        let model = ModelInfo {
            name: info.name.clone(),
            shape: info.shape.clone(),
        };
        let format = options.scaffold.as_ref().map(|_| "scaffolded".to_string());
        let header = options.header(model, tokenizer.info(), "", format, None);
        let recorder = options.recorder(&header, sink)?;
        decoder.set_rerotate(options.rerotate);
        let mut eos = info.eos.clone();
        eos.extend(tokenizer.single_token("<|im_end|>"));
        let (mut banned, mut pipe_led) = (Vec::new(), Vec::new());
        if options.scaffold.is_some() {
            for id in 0..info.vocab.min(tokenizer.vocab_size()) as u32 {
                let bytes = tokenizer.token_bytes(id);
                if eos.contains(&id) {
                    continue;
                }
                if bytes.windows(2).any(|w| w == b"<|") {
                    banned.push(id);
                } else if bytes.first() == Some(&b'|') {
                    pipe_led.push(id);
                }
            }
        }
        let run = Run {
            decoder,
            name: info.name,
            context: info.context,
            tokenizer,
            sampler: Sampler::new(options.sampler),
            scaffold: options.scaffold.clone().map(Scaffold::new),
            options,
            recorder,
            ids: Vec::new(),
            logits: Vec::new(),
            forced: VecDeque::new(),
            eos,
            banned,
            pipe_led,
            utf8: Utf8Stream::default(),
            started: Instant::now(),
            prefill_seconds: 0.0,
            decode_seconds: 0.0,
            generated: 0,
            text: String::new(),
            end: None,
            failure: None,
        };
        Ok(run)
    }

    /// Prefill the chat prompt around `prompt` (or `prompt` itself, when the options say it is
    /// raw), record it, and queue the scaffold's opening.
    pub fn prefill(&mut self, prompt: &str) -> Result<(), EngineError> {
        let text = self.options.model_input(prompt);
        let pieces = self.tokenizer.encode(&text)?;
        let ids: Vec<u32> = pieces.iter().map(|p| p.1).collect();
        if ids.len() >= self.context {
            return Err(EngineError::Request(format!(
                "the prompt is {} tokens, beyond the model's context of {} tokens",
                ids.len(),
                self.context
            )));
        }
        let positions: Vec<u64> = (0..ids.len() as u64).collect();
        let t0 = Instant::now();
        self.logits = self
            .decoder
            .forward(&ids, &positions, LogitRows::Last)?
            .remove(0);
        self.prefill_seconds = t0.elapsed().as_secs_f64();
        let recorded: Vec<(String, Option<u32>)> =
            pieces.into_iter().map(|(p, id)| (p, Some(id))).collect();
        let outcome = self
            .recorder
            .prompt(&text, &recorded, Some(self.elapsed()))
            .map_err(EngineError::TraceWrite)?;
        self.ids = ids;
        // Blocks inside the prompt are compacted after prefill.
        self.apply(&outcome.evictions, 0)?;
        if let Some(s) = self.scaffold.as_mut() {
            let opening = s.start();
            self.force_text(&opening)?;
        }
        Ok(())
    }

    fn elapsed(&self) -> f64 {
        self.started.elapsed().as_secs_f64()
    }

    /// The logits with the tokens the run forbids here masked (banned ids, and the ids that
    /// start with `|` right after a `<`, so an untrained model cannot half-spell a tag; the
    /// end-of-sequence ids under `ignore_eos`), or `None` when the run bans nothing.
    fn masked_logits(&self) -> Option<Vec<f32>> {
        if self.banned.is_empty() && !self.options.ignore_eos {
            return None;
        }
        let mut shaped = self.logits.clone();
        for &b in &self.banned {
            shaped[b as usize] = f32::NEG_INFINITY;
        }
        if self.options.ignore_eos {
            for &e in &self.eos {
                if let Some(l) = shaped.get_mut(e as usize) {
                    *l = f32::NEG_INFINITY;
                }
            }
        }
        if self.text.ends_with('<') {
            for &b in &self.pipe_led {
                shaped[b as usize] = f32::NEG_INFINITY;
            }
        }
        Some(shaped)
    }

    /// Queue `text` to be written next instead of sampled (teacher forcing; recorded as
    /// scaffold tokens).
    pub fn force_text(&mut self, text: &str) -> Result<(), EngineError> {
        for (_, id) in self.tokenizer.encode(text)? {
            self.forced.push_back(id);
        }
        Ok(())
    }

    /// Queue `ids` to be written next instead of sampled (teacher forcing).
    pub fn force_ids(&mut self, ids: &[u32]) {
        self.forced.extend(ids);
    }

    /// The logits for the next position.
    pub fn logits(&self) -> &[f32] {
        &self.logits
    }

    pub fn is_done(&self) -> bool {
        self.end.is_some()
    }

    /// The decoder (the model and its cache, by default).
    pub fn decoder(&self) -> &D {
        &self.decoder
    }

    /// Rebuild the cache of a run whose pages were taken back (a batch's preemption): one
    /// forward pass over the tokens at `positions` (every entry the cache held, and the token
    /// whose forward pass was pending), whose last row gives the next logits. Entries are
    /// recomputed with the evicted spans absent, as restart mode computes mementos.
    pub fn recompute(&mut self, positions: &[u64]) -> Result<(), EngineError> {
        let ids: Vec<u32> = positions.iter().map(|&p| self.ids[p as usize]).collect();
        let t0 = Instant::now();
        if let Some(last) = self
            .decoder
            .forward(&ids, positions, LogitRows::Last)?
            .pop()
        {
            self.logits = last;
        }
        self.decode_seconds += t0.elapsed().as_secs_f64();
        Ok(())
    }

    pub fn recorder(&self) -> &Recorder<S> {
        &self.recorder
    }

    /// Ids at every logical position so far, prompt included.
    pub fn ids(&self) -> &[u32] {
        &self.ids
    }

    pub fn timings(&self) -> Timings {
        Timings {
            prompt_tokens: self.recorder.prompt_len(),
            generated: self.generated as u64,
            prefill_seconds: self.prefill_seconds,
            decode_seconds: self.decode_seconds,
        }
    }

    /// Decode one token. `None` once the run has ended.
    pub fn step(&mut self) -> Result<Option<Step>, EngineError> {
        let Some(step) = self.begin_step()? else {
            return Ok(None);
        };
        let t0 = Instant::now();
        let logits = self
            .forward_chunk(&[step.id], step.pos, LogitRows::Last)?
            .remove(0);
        self.add_decode_seconds(t0.elapsed().as_secs_f64());
        self.end_step(logits);
        Ok(Some(step))
    }

    /// Everything of a step but the forward pass: decide whether the run ends, choose the next
    /// token (forced or sampled), record it and apply the evictions it triggers. The caller then
    /// runs the forward pass for `step.id` at `step.pos` (alone, or batched with other runs)
    /// and hands the logits to [`Run::end_step`]. `None` once the run has ended.
    pub fn begin_step(&mut self) -> Result<Option<Step>, EngineError> {
        if self.end.is_some() {
            return Ok(None);
        }
        let pos = self.ids.len() as u64;
        if let Some(end) = self.stop_reason(pos)? {
            self.end = Some(end);
            return Ok(None);
        }
        let Some((id, scaffold)) = self.choose()? else {
            return Ok(None);
        };
        let (text, outcome) = self.record(id, scaffold)?;
        self.apply(&outcome.evictions, 1)?;
        if !scaffold {
            if let Some(next) = self.scaffold.as_mut().and_then(|s| s.after_token(&text)) {
                self.force_text(&next)?;
            }
        }
        self.ids.push(id);
        self.generated += 1;
        self.text.push_str(&text);
        Ok(Some(Step::recorded(pos, id, text, scaffold, outcome)))
    }

    /// The logits the forward pass of [`Run::begin_step`]'s token produced.
    pub fn end_step(&mut self, logits: Vec<f32>) {
        self.logits = logits;
    }

    /// Count `seconds` of forward passes as decode time (a batch splits its pass's time).
    pub fn add_decode_seconds(&mut self, seconds: f64) {
        self.decode_seconds += seconds;
    }

    /// Why the run ends before writing position `pos`, if it does: the token budget, the
    /// model's context, or logits that are not finite (recorded as a diagnostic).
    fn stop_reason(&mut self, pos: u64) -> Result<Option<EndReason>, EngineError> {
        if self.generated >= self.options.max_tokens {
            return Ok(Some(EndReason::MaxTokens));
        }
        if pos as usize >= self.context {
            return Ok(Some(EndReason::ContextFull));
        }
        let Some((token, value)) = first_non_finite(&self.logits) else {
            return Ok(None);
        };
        let message = format!(
            "the model's logits are not finite ({value} for token {token}) at position {pos}: its weights or arithmetic are broken, so the run stopped"
        );
        let t = Some(self.elapsed());
        self.recorder
            .diagnostic(
                pos,
                Severity::Error,
                DiagnosticCode::NonFiniteLogits,
                message.clone(),
                t,
            )
            .map_err(EngineError::TraceWrite)?;
        self.failure = Some(message);
        Ok(Some(EndReason::Error))
    }

    /// The next token and whether the runtime wrote it (forced) rather than the model; `None`
    /// when the model ends its turn (the run is then over).
    fn choose(&mut self) -> Result<Option<(u32, bool)>, EngineError> {
        // A trained model gets `<|block_end|>` forced once its block exceeds the budget.
        if self.forced.is_empty()
            && self.scaffold.is_none()
            && self.options.policy.max_block_tokens > 0
            && self.recorder.accountant().block_over_budget()
        {
            self.force_text("<|block_end|>")?;
        }
        if let Some(id) = self.forced.pop_front() {
            return Ok(Some((id, true)));
        }
        let recent = &self.ids[self.recorder.prompt_len() as usize..];
        let id = match self.masked_logits() {
            None => self.sampler.sample(&self.logits, recent),
            Some(shaped) => self.sampler.sample(&shaped, recent),
        };
        if !self.eos.contains(&id) {
            return Ok(Some((id, false)));
        }
        // An untrained model's end of turn becomes the scaffold's next move, if it has one.
        match self.scaffold.as_mut().and_then(|s| s.on_end_of_turn()) {
            Some(text) => {
                self.force_text(&text)?;
                Ok(Some((self.forced.pop_front().unwrap_or(id), true)))
            }
            None => {
                self.end = Some(EndReason::Eos);
                Ok(None)
            }
        }
    }

    /// The chosen token's logprob and the top alternatives, each with what the sampler saw
    /// when its penalty or masks changed the model's distribution (a "greedy" pick that is not
    /// the model's top token is explained there).
    fn alternatives(&self, id: u32, scaffold: bool) -> (f32, Vec<Alternative>) {
        let (logprob, top) = logprobs(&self.logits, id, self.options.top_alternatives);
        let sampled = (!scaffold && self.options.top_alternatives > 0)
            .then(|| {
                let recent = &self.ids[self.recorder.prompt_len() as usize..];
                let masked = self.masked_logits();
                let penalized = self
                    .sampler
                    .penalized(masked.as_deref().unwrap_or(&self.logits), recent);
                (penalized != self.logits).then_some(penalized)
            })
            .flatten();
        let sampled_lse = sampled.as_deref().map(log_sum_exp);
        let top = top
            .into_iter()
            .map(|(alt, lp)| Alternative {
                id: Some(alt),
                text: String::from_utf8_lossy(&self.tokenizer.token_bytes(alt)).into_owned(),
                logprob: lp,
                sampled_logprob: sampled
                    .as_ref()
                    .zip(sampled_lse)
                    .map(|(s, lse)| s[alt as usize] - lse),
            })
            .collect();
        (logprob, top)
    }

    /// Record the token in the trace; returns its text and what the recorder decided (spans
    /// opened or closed, evictions).
    fn record(
        &mut self,
        id: u32,
        scaffold: bool,
    ) -> Result<(String, crate::trace::StepOutcome), EngineError> {
        let (logprob, top) = self.alternatives(id, scaffold);
        let text = self.utf8.push(&self.tokenizer.token_bytes(id));
        let outcome = self
            .recorder
            .token(TokenInput {
                text: text.clone(),
                id: Some(id),
                logprob: Some(logprob),
                top: Some(top),
                scaffold,
                literal: false,
                t: Some(self.elapsed()),
            })
            .map_err(EngineError::TraceWrite)?;
        Ok((text, outcome))
    }

    /// Teacher-force `ids` in as few forward passes as the evictions allow: tokens are
    /// recorded one by one (so blocks, mementos and evictions happen exactly where
    /// [`Run::step`] would put them), but each stretch between two evictions goes through
    /// the model as one chunk, like a prefill. No logprobs are recorded. For probes that
    /// need the cache a long forced text leaves, not the distribution at every position.
    pub fn force_all(&mut self, ids: &[u32]) -> Result<(), EngineError> {
        if self.end.is_some() {
            return Err(EngineError::Request("the run has already ended".into()));
        }
        if self.ids.len() + ids.len() > self.context {
            return Err(EngineError::Request(format!(
                "forcing {} tokens after {} goes beyond the model's context of {} tokens",
                ids.len(),
                self.ids.len(),
                self.context
            )));
        }
        // Tokens recorded (and in `self.ids`) but not yet in the cache.
        let mut pending: Vec<u32> = Vec::new();
        let mut from = self.ids.len() as u64;
        let t0 = Instant::now();
        for &id in ids {
            let text = self.utf8.push(&self.tokenizer.token_bytes(id));
            let outcome = self
                .recorder
                .token(TokenInput {
                    text: text.clone(),
                    id: Some(id),
                    logprob: None,
                    top: None,
                    scaffold: true,
                    literal: false,
                    t: Some(self.elapsed()),
                })
                .map_err(EngineError::TraceWrite)?;
            if !outcome.evictions.is_empty() {
                // The cache must hold everything before this token when the eviction (and a
                // restart's recompute over those ids) is applied.
                self.forward_chunk(&pending, from, LogitRows::None)?;
                pending.clear();
                from = self.ids.len() as u64;
                self.apply(&outcome.evictions, 1)?;
            }
            self.ids.push(id);
            pending.push(id);
            self.generated += 1;
            self.text.push_str(&text);
        }
        if !pending.is_empty() {
            self.logits = self
                .forward_chunk(&pending, from, LogitRows::Last)?
                .pop()
                .unwrap_or_default();
        }
        self.decode_seconds += t0.elapsed().as_secs_f64();
        Ok(())
    }

    /// One forward pass over `ids` at consecutive logical positions from `from`.
    fn forward_chunk(
        &mut self,
        ids: &[u32],
        from: u64,
        rows: LogitRows,
    ) -> Result<Vec<Vec<f32>>, EngineError> {
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let positions: Vec<u64> = (from..from + ids.len() as u64).collect();
        Ok(self.decoder.forward(ids, &positions, rows)?)
    }

    /// Apply the accountant's decisions to the real cache. Restart also recomputes the
    /// memento's entries from its tokens alone, with the block gone.
    /// `pending` counts tokens the accountant holds that the cache gets on the next forward
    /// pass (the token just sampled).
    fn apply(&mut self, evictions: &[Eviction], pending: u64) -> Result<(), EngineError> {
        for e in evictions {
            self.decoder.evict(e.span.clone());
            if let Some(r) = &e.recompute {
                self.decoder.truncate_from(r.start);
                let ids = self.ids[r.start as usize..r.end as usize].to_vec();
                let positions: Vec<u64> = r.clone().collect();
                self.decoder.forward(&ids, &positions, LogitRows::None)?;
            }
        }
        debug_assert_eq!(
            self.decoder.cached() as u64 + pending,
            self.recorder.accountant().live(),
            "the cache and the accountant disagree"
        );
        Ok(())
    }

    /// Run to the end, calling `on_step` after every token.
    pub fn run_to_end(&mut self, mut on_step: impl FnMut(&Step)) -> Result<(), EngineError> {
        while let Some(step) = self.step()? {
            on_step(&step);
        }
        Ok(())
    }

    /// Stop here (if not already ended), write the end event and summarise.
    pub fn finish(self, reason: Option<EndReason>) -> Result<(S, RunSummary), EngineError> {
        let end = self.end.or(reason).unwrap_or(EndReason::Stopped);
        let t = self.elapsed();
        let memory = self.decoder.memory();
        let final_live = self.decoder.cached() as u64;
        let timings = self.timings();
        let (sink, state) = self
            .recorder
            .finish(end, Some(t), Some(timings.spent()))
            .map_err(EngineError::TraceWrite)?;
        let mut summary = RunSummary::from_totals(
            self.name,
            self.options.policy.label(),
            self.scaffold.is_some(),
            end,
            &timings,
            &state,
            self.text,
        );
        // The real cache's own account, rather than the recorded one.
        summary.final_live_tokens = final_live;
        summary.failure = self.failure;
        summary.kv_reserved_bytes = memory.reserved_bytes;
        summary.kv_live_bytes = memory.live_bytes;
        Ok((sink, summary))
    }
}

/// The first logit that is NaN or infinite, with its token id.
fn first_non_finite(logits: &[f32]) -> Option<(usize, f32)> {
    logits
        .iter()
        .position(|x| !x.is_finite())
        .map(|i| (i, logits[i]))
}
