//! The workbench attached to a remote OpenAI-compatible server (`memento run --remote URL`):
//! our own `memento serve`, or vLLM serving a MEMENTO checkpoint with its block-masking
//! overlay. Each run is one streaming chat request that asks for the markers to be kept
//! (`skip_special_tokens: false`, `spaces_between_special_tokens: false`), for token ids and
//! for logprobs. The stream is recorded token by token through the same recorder as a local run,
//! so the segmenter rebuilds the blocks and mementos and the one KV accountant rebuilds the
//! occupancy under the policy given on the command line: the server's own policy cannot be read
//! from vLLM (it is a server flag), so the occupancy shown is a reconstruction. Our own server
//! is also sent the policy (`kv_policy`), so the two agree.

use std::io::BufReader;
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use super::chunk::{RemoteToken, SseReader, parse_chunk};
use crate::engine::{EngineError, RunOptions, RunSummary, Step, Timings, chat_prompt};
use crate::kv::KvShape;
use crate::live::{ActiveRun, DecodeEngine, LiveSink};
use crate::trace::{Alternative, EndReason, ModelInfo, Recorder, TokenInput, TokenizerInfo};

/// How to reach the server and what to assume of its model.
#[derive(Debug, Clone)]
pub struct RemoteConfig {
    /// The server's base URL (`http://host:port`), without `/v1`.
    pub url: String,
    /// A second server for a compare run's second (memento) stream, when two servers are
    /// compared (one without block masking, one with); the first stream goes to `url`.
    pub compare_url: Option<String>,
    /// The model to ask for (default: the first `/v1/models` lists).
    pub model: Option<String>,
    /// The model's KV shape, for bytes (default: a preset named like the model, else
    /// Qwen3-8B's, the released MEMENTO checkpoint's).
    pub shape: Option<KvShape>,
    /// Alternatives asked for per token.
    pub top_logprobs: u32,
}

/// One server and its model.
#[derive(Debug, Clone)]
struct Target {
    url: String,
    model: String,
    max_model_len: Option<u64>,
    shape: KvShape,
}

pub struct RemoteEngine {
    config: RemoteConfig,
    /// The server of each stream of a session (the last serves any further stream).
    targets: Vec<Target>,
    agent: ureq::Agent,
}

fn agent() -> ureq::Agent {
    ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_connect(Some(Duration::from_secs(10)))
        .build()
        .into()
}

/// Ask the server at `url` for its model (`/v1/models`).
fn target(agent: &ureq::Agent, url: &str, config: &RemoteConfig) -> Result<Target, EngineError> {
    let base = url.trim_end_matches('/').to_string();
    let models_url = format!("{base}/v1/models");
    let mut response = agent
        .get(&models_url)
        .call()
        .map_err(|e| EngineError::request(format!("{models_url}: {e}")))?;
    if response.status() != 200 {
        return Err(EngineError::request(format!(
            "{models_url}: HTTP {}",
            response.status()
        )));
    }
    let text = response
        .body_mut()
        .with_config()
        .limit(1 << 20)
        .read_to_string()
        .map_err(|e| EngineError::request(format!("{models_url}: {e}")))?;
    let body: Value = serde_json::from_str(&text)
        .map_err(|e| EngineError::request(format!("{models_url}: not JSON: {e}")))?;
    let cards = body["data"].as_array().cloned().unwrap_or_default();
    let card = match &config.model {
        Some(m) => cards.iter().find(|c| c["id"] == json!(m)).cloned(),
        None => cards.first().cloned(),
    };
    let Some(card) = card else {
        return Err(EngineError::request(format!(
            "{models_url}: the server does not serve {}",
            config.model.as_deref().unwrap_or("any model")
        )));
    };
    let model = card["id"].as_str().unwrap_or_default().to_string();
    let max_model_len = card["max_model_len"].as_u64();
    let mut shape = config
        .shape
        .clone()
        .or_else(|| {
            let last = model.rsplit('/').next().unwrap_or(&model);
            KvShape::preset(last)
        })
        .or_else(|| KvShape::preset("qwen3-8b"))
        .expect("a built-in shape");
    // The gauge's context is the server's: vLLM's max_model_len caps the logical length.
    if let Some(max) = max_model_len {
        shape.context_tokens = max;
    }
    Ok(Target {
        url: base,
        model,
        max_model_len,
        shape,
    })
}

impl RemoteEngine {
    /// Ask each server for its model (`/v1/models`): fails with the reason when one cannot be
    /// reached or serves no model.
    pub fn connect(config: RemoteConfig) -> Result<RemoteEngine, EngineError> {
        let agent = agent();
        let mut targets = vec![target(&agent, &config.url, &config)?];
        if let Some(url) = &config.compare_url {
            targets.push(target(&agent, url, &config)?);
        }
        Ok(RemoteEngine {
            config,
            targets,
            agent,
        })
    }

    /// The request body for `prompt` under `options`.
    fn body(&self, target: &Target, prompt: &str, options: &RunOptions) -> Value {
        let mut messages = Vec::new();
        if let Some(system) = &options.system {
            messages.push(json!({"role": "system", "content": system}));
        }
        messages.push(json!({"role": "user", "content": prompt}));
        let s = &options.sampler;
        json!({
            "model": target.model,
            "messages": messages,
            "max_tokens": options.max_tokens,
            "temperature": s.temperature,
            "top_p": s.top_p,
            "top_k": if s.top_k == 0 { -1 } else { s.top_k as i64 },
            "min_p": s.min_p,
            "repetition_penalty": s.repeat_penalty,
            "seed": s.seed,
            "stream": true,
            "stream_options": {"include_usage": true},
            "skip_special_tokens": false,
            "spaces_between_special_tokens": false,
            "logprobs": true,
            "top_logprobs": self.config.top_logprobs,
            "return_token_ids": true,
            "kv_policy": {
                "mode": options.policy.mode_name(),
                "mask_delimiters": options.policy.mask_delimiters,
                "keep_last_block_for_answer": options.policy.keep_last_block_for_answer,
                "max_block_tokens": options.policy.max_block_tokens,
            },
        })
    }
}

impl DecodeEngine for RemoteEngine {
    fn name(&self) -> String {
        let urls: Vec<&str> = self.targets.iter().map(|t| t.url.as_str()).collect();
        format!(
            "{} at {} (KV reconstructed)",
            self.targets[0].model,
            urls.join(" vs ")
        )
    }

    fn has_memento_tags(&self) -> bool {
        true
    }

    fn start<'e>(
        &'e self,
        prompt: &str,
        options: RunOptions,
        sink: LiveSink,
    ) -> Result<Box<dyn ActiveRun + 'e>, EngineError> {
        self.start_stream(prompt, options, sink, 0)
    }

    /// Stream `stream` of a session goes to its server: the second of a compare run to
    /// `--remote-compare`'s, when one is given.
    fn start_stream<'e>(
        &'e self,
        prompt: &str,
        options: RunOptions,
        sink: LiveSink,
        stream: usize,
    ) -> Result<Box<dyn ActiveRun + 'e>, EngineError> {
        let target = &self.targets[stream.min(self.targets.len() - 1)];
        let url = format!("{}/v1/chat/completions", target.url);
        let started = Instant::now();
        let response = self
            .agent
            .post(&url)
            .header("content-type", "application/json")
            .send(self.body(target, prompt, &options).to_string().as_bytes())
            .map_err(|e| EngineError::request(format!("{url}: {e}")))?;
        if response.status() != 200 {
            let status = response.status();
            let text = response
                .into_body()
                .with_config()
                .limit(1 << 16)
                .read_to_string()
                .unwrap_or_default();
            let message = serde_json::from_str::<Value>(&text)
                .ok()
                .and_then(|v| v["error"]["message"].as_str().map(str::to_string))
                .unwrap_or(text);
            return Err(EngineError::request(format!(
                "{url}: HTTP {status}: {message}"
            )));
        }
        let reader: Box<dyn std::io::BufRead + Send> =
            Box::new(BufReader::new(response.into_body().into_reader()));
        let model = ModelInfo {
            name: target.model.clone(),
            shape: target.shape.clone(),
        };
        let tokenizer = TokenizerInfo::Model {
            name: format!("{} (remote)", target.model),
            vocab_size: 0,
        };
        let header = options.header(
            model,
            tokenizer,
            " (remote attach)",
            Some("remote".into()),
            Some(url.clone()),
        );
        let recorder = options.recorder(&header, sink)?;
        let mut run = RemoteRun {
            events: SseReader::new(reader),
            recorder,
            queue: std::collections::VecDeque::new(),
            started,
            first_token: None,
            generated: 0,
            end: None,
            text: String::new(),
            label: options.policy.label(),
            url,
            finish_seen: None,
            max_model_len: target.max_model_len,
            tags_seen: false,
            warned: false,
            metrics_url: Some(format!("{}/metrics", target.url)),
            last_poll: None,
            agent: self.agent.clone(),
        };
        run.record_prompt(&chat_prompt(options.system.as_deref(), prompt))?;
        Ok(Box::new(run))
    }
}

struct RemoteRun {
    events: SseReader<Box<dyn std::io::BufRead + Send>>,
    recorder: Recorder<LiveSink>,
    /// Tokens read from the stream and not yet recorded (a chunk may hold several).
    queue: std::collections::VecDeque<RemoteToken>,
    started: Instant,
    first_token: Option<Instant>,
    generated: u64,
    end: Option<EndReason>,
    text: String,
    label: String,
    url: String,
    finish_seen: Option<EndReason>,
    max_model_len: Option<u64>,
    /// Whether any token opened or closed a span; `warned` once the lack is recorded.
    tags_seen: bool,
    warned: bool,
    /// The server's `/metrics`, polled about once a second while it answers.
    metrics_url: Option<String>,
    last_poll: Option<Instant>,
    agent: ureq::Agent,
}

/// How often the server's own KV usage is read.
const METRICS_EVERY: Duration = Duration::from_secs(1);

/// The KV usage (a fraction) in a Prometheus or OpenMetrics text: vLLM's
/// `vllm:kv_cache_usage_perc` (or its older `vllm:gpu_cache_usage_perc`), the largest over its
/// label sets (one per engine).
pub fn kv_usage_in(metrics: &str) -> Option<f64> {
    metrics
        .lines()
        .filter(|l| {
            ["vllm:kv_cache_usage_perc", "vllm:gpu_cache_usage_perc"]
                .iter()
                .any(|name| {
                    l.strip_prefix(name)
                        .is_some_and(|rest| rest.starts_with(' ') || rest.starts_with('{'))
                })
        })
        .filter_map(|l| l.split_whitespace().last()?.parse::<f64>().ok())
        .filter(|v| v.is_finite())
        .max_by(f64::total_cmp)
}

/// Tokens after which a stream with no tag at all is called out.
const TAGLESS_WARNING_AFTER: u64 = 256;

fn end_of(reason: &str) -> EndReason {
    match reason {
        "stop" => EndReason::Eos,
        "length" => EndReason::MaxTokens,
        "abort" => EndReason::Stopped,
        _ => EndReason::Error,
    }
}

impl RemoteRun {
    /// Read the server's own KV usage, at most once a [`METRICS_EVERY`], and record it as a
    /// marker; a server without `/metrics` (or without the figure) is not asked again.
    fn poll_metrics(&mut self) -> Result<(), EngineError> {
        let Some(url) = &self.metrics_url else {
            return Ok(());
        };
        if self.last_poll.is_some_and(|t| t.elapsed() < METRICS_EVERY) {
            return Ok(());
        }
        self.last_poll = Some(Instant::now());
        let reading = self
            .agent
            .get(url)
            .config()
            .timeout_global(Some(Duration::from_secs(2)))
            .build()
            .call()
            .ok()
            .filter(|r| r.status() == 200)
            .and_then(|mut r| {
                r.body_mut()
                    .with_config()
                    .limit(4 << 20)
                    .read_to_string()
                    .ok()
            })
            .and_then(|text| kv_usage_in(&text));
        match reading {
            Some(usage) => self
                .recorder
                .marker(super::SERVER_KV_MARKER, Some(format!("{usage}")))
                .map_err(EngineError::TraceWrite),
            None => {
                self.metrics_url = None;
                Ok(())
            }
        }
    }

    /// Record, once, that the stream carries no structure tags.
    fn warn_tagless(&mut self) -> Result<(), EngineError> {
        if self.tags_seen || self.warned || self.generated == 0 {
            return Ok(());
        }
        self.warned = true;
        let message = format!(
            "{} tokens from {} and not one MEMENTO tag: the server dropped special tokens (it ignored skip_special_tokens: false) or the model does not write mementos, so no block can be seen or evicted",
            self.generated, self.url
        );
        self.recorder
            .diagnostic(
                self.recorder.next_pos(),
                crate::structure::Severity::Warning,
                crate::structure::DiagnosticCode::NoStructureTags,
                message,
                Some(self.started.elapsed().as_secs_f64()),
            )
            .map_err(EngineError::TraceWrite)
    }

    /// Read chunks until the first one that carries the prompt's ids or a token, and record
    /// the prompt: as the server counted it when it returns the ids, else estimated.
    fn record_prompt(&mut self, text: &str) -> Result<(), EngineError> {
        let mut prompt_ids = None;
        while prompt_ids.is_none() && self.queue.is_empty() && self.finish_seen.is_none() {
            match self.next_chunk()? {
                Some(ids) => prompt_ids = ids,
                None => break,
            }
        }
        let pieces: Vec<(String, Option<u32>)> = match prompt_ids {
            // The server's count is what its cache holds; the text rides on the first piece.
            Some(ids) if !ids.is_empty() => ids
                .iter()
                .enumerate()
                .map(|(i, &id)| {
                    (
                        if i == 0 {
                            text.to_string()
                        } else {
                            String::new()
                        },
                        Some(id),
                    )
                })
                .collect(),
            _ => crate::tokenize::estimate_pieces(text)
                .into_iter()
                .map(|p| (p, None))
                .collect(),
        };
        let t = Some(self.started.elapsed().as_secs_f64());
        self.recorder
            .prompt(text, &pieces, t)
            .map_err(EngineError::TraceWrite)?;
        Ok(())
    }

    /// Read one chunk: its tokens go to the queue, its finish reason is kept; returns the
    /// prompt's ids when the chunk carries them (`Some(None)` when it does not), `None` at the
    /// end of the stream.
    fn next_chunk(&mut self) -> Result<Option<Option<Vec<u32>>>, EngineError> {
        let Some(payload) = self.events.next() else {
            return Ok(None);
        };
        let payload =
            payload.map_err(|e| EngineError::request(format!("{}: reading: {e}", self.url)))?;
        if payload.trim() == "[DONE]" {
            return Ok(None);
        }
        let chunk = parse_chunk(&payload)
            .map_err(|e| EngineError::request(format!("{}: {e}", self.url)))?;
        if let Some(e) = chunk.error {
            return Err(EngineError::request(format!(
                "{}: the server says: {e}",
                self.url
            )));
        }
        self.queue.extend(chunk.tokens);
        if let Some(reason) = chunk.finish_reason {
            self.finish_seen = Some(end_of(&reason));
        }
        Ok(Some(chunk.prompt_ids))
    }
}

impl ActiveRun for RemoteRun {
    fn step(&mut self) -> Result<Option<Step>, EngineError> {
        if self.end.is_some() {
            return Ok(None);
        }
        while self.queue.is_empty() {
            if self.next_chunk()?.is_none() {
                self.end = Some(self.finish_seen.unwrap_or(EndReason::Stopped));
                self.warn_tagless()?;
                return Ok(None);
            }
        }
        self.poll_metrics()?;
        let token = self.queue.pop_front().expect("not empty");
        let now = Instant::now();
        self.first_token.get_or_insert(now);
        let pos = self.recorder.next_pos();
        if self.max_model_len.is_some_and(|max| pos >= max) {
            // vLLM's max_model_len caps the logical length, evicted tokens included.
            self.end = Some(EndReason::ContextFull);
            return Ok(None);
        }
        let top = token
            .top
            .iter()
            .map(|(text, logprob)| Alternative {
                id: None,
                text: text.clone(),
                logprob: *logprob,
                sampled_logprob: None,
            })
            .collect();
        let outcome = self
            .recorder
            .token(TokenInput {
                text: token.text.clone(),
                id: token.id,
                logprob: token.logprob,
                top: Some(top),
                scaffold: false,
                literal: false,
                t: Some(self.started.elapsed().as_secs_f64()),
            })
            .map_err(EngineError::TraceWrite)?;
        self.generated += 1;
        self.text.push_str(&token.text);
        self.tags_seen |= !outcome.boundaries.is_empty();
        if self.generated == TAGLESS_WARNING_AFTER {
            self.warn_tagless()?;
        }
        Ok(Some(Step::recorded(
            pos,
            token.id.unwrap_or(u32::MAX),
            token.text,
            false,
            outcome,
        )))
    }

    fn timings(&self) -> Timings {
        let first = self.first_token.unwrap_or(self.started);
        Timings {
            prompt_tokens: self.recorder.prompt_len(),
            generated: self.generated,
            prefill_seconds: first.duration_since(self.started).as_secs_f64(),
            decode_seconds: first.elapsed().as_secs_f64(),
        }
    }

    fn finish(mut self: Box<Self>, reason: Option<EndReason>) -> Result<RunSummary, EngineError> {
        self.warn_tagless()?;
        let end = self.end.or(reason).unwrap_or(EndReason::Stopped);
        let timings = self.timings();
        let t = self.started.elapsed().as_secs_f64();
        let (_, state) = self
            .recorder
            .finish(end, Some(t), Some(timings.spent()))
            .map_err(EngineError::TraceWrite)?;
        Ok(RunSummary::from_totals(
            self.url, self.label, false, end, &timings, &state, self.text,
        ))
    }
}
