//! The OpenAI-compatible request bodies `memento serve` reads, and how each becomes a run's
//! prompt and options. Fields follow the OpenAI API and vLLM's extensions
//! (`skip_special_tokens`, `spaces_between_special_tokens`, `return_token_ids`, `top_k`,
//! `min_p`, `repetition_penalty`); `kv_policy` is memento's own. Fields a request leaves out
//! take `memento generate`'s defaults (greedy, seed 0), so the same settings give the same
//! tokens on both.

use serde::Deserialize;

use crate::engine::RunOptions;
use crate::kv::KvPolicy;

/// `/v1/chat/completions`.
#[derive(Debug, Clone, Deserialize)]
pub struct ChatRequest {
    pub model: Option<String>,
    pub messages: Vec<ChatMessage>,
    /// Return each token's logprob (`top_logprobs` alternatives with it).
    #[serde(default)]
    pub logprobs: bool,
    pub top_logprobs: Option<u32>,
    pub max_completion_tokens: Option<u32>,
    /// Read from the same body by [`ChatRequest::from_value`].
    #[serde(skip)]
    pub common: Common,
}

#[derive(Debug, Clone, Deserialize)]
pub struct ChatMessage {
    pub role: String,
    pub content: MessageContent,
}

/// A message's content: a string, or a list of parts of which only text parts are read.
#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
pub enum MessageContent {
    Text(String),
    Parts(Vec<ContentPart>),
}

#[derive(Debug, Clone, Deserialize)]
pub struct ContentPart {
    #[serde(rename = "type")]
    pub kind: String,
    pub text: Option<String>,
}

/// `/v1/completions`.
#[derive(Debug, Clone, Deserialize)]
pub struct CompletionRequest {
    pub model: Option<String>,
    pub prompt: PromptField,
    /// Alternatives per token (0 = the chosen token's logprob only); absent = no logprobs.
    pub logprobs: Option<u32>,
    /// Read from the same body by [`CompletionRequest::from_value`].
    #[serde(skip)]
    pub common: Common,
}

/// A completion prompt: a string, or a list holding one string.
#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
pub enum PromptField {
    One(String),
    Many(Vec<String>),
}

/// Fields both APIs share.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct Common {
    pub max_tokens: Option<u32>,
    pub temperature: Option<f32>,
    pub top_p: Option<f32>,
    /// vLLM: −1 or 0 = off.
    pub top_k: Option<i64>,
    pub min_p: Option<f32>,
    pub repetition_penalty: Option<f32>,
    pub seed: Option<u64>,
    #[serde(default)]
    pub stream: bool,
    pub stream_options: Option<StreamOptions>,
    pub n: Option<u32>,
    pub stop: Option<serde_json::Value>,
    /// Drop special tokens (MEMENTO's tags among them) from the text (default true, as vLLM).
    pub skip_special_tokens: Option<bool>,
    /// Put a space between special tokens and the text around them (default true, as vLLM).
    pub spaces_between_special_tokens: Option<bool>,
    /// Return the prompt's token ids and each output token's id.
    #[serde(default)]
    pub return_token_ids: bool,
    /// Never end at end-of-sequence: generate `max_tokens` (vLLM's field, for load tests).
    #[serde(default)]
    pub ignore_eos: bool,
    /// The KV policy of this request: a mode name (`full`, `memento`, `keep-N`, `restart`) or
    /// an object with `mode` and the policy's switches. Default: the server's `--mode`.
    pub kv_policy: Option<serde_json::Value>,
}

#[derive(Debug, Clone, Default, Deserialize)]
pub struct StreamOptions {
    #[serde(default)]
    pub include_usage: bool,
}

/// `kv_policy` as an object.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PolicyObject {
    pub mode: String,
    #[serde(default)]
    pub mask_delimiters: bool,
    #[serde(default)]
    pub keep_last_block_for_answer: bool,
    #[serde(default)]
    pub max_block_tokens: u32,
}

/// A request the server refuses, with the field at fault.
#[derive(Debug, Clone, PartialEq)]
pub struct BadRequest(pub String);

/// `T` from a request body, or what is wrong and where. (The shared fields are read in a second
/// pass rather than flattened in, which would lose the path to a bad field.)
fn read<T: serde::de::DeserializeOwned>(body: &serde_json::Value) -> Result<T, BadRequest> {
    serde_path_to_error::deserialize(body).map_err(|e| match e.path().to_string().as_str() {
        "." | "" => BadRequest(format!("the body is not a valid request: {}", e.inner())),
        path => BadRequest(format!("field `{path}`: {}", e.inner())),
    })
}

impl ChatRequest {
    pub fn from_value(body: &serde_json::Value) -> Result<ChatRequest, BadRequest> {
        let mut r: ChatRequest = read(body)?;
        r.common = read(body)?;
        Ok(r)
    }
}

impl CompletionRequest {
    pub fn from_value(body: &serde_json::Value) -> Result<CompletionRequest, BadRequest> {
        let mut r: CompletionRequest = read(body)?;
        r.common = read(body)?;
        Ok(r)
    }
}

/// How a request's output text is spelled.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TextOptions {
    pub skip_special_tokens: bool,
    pub spaces_between_special_tokens: bool,
}

/// What the server needs of a request, whichever API it came through.
#[derive(Debug, Clone)]
pub struct Generation {
    /// The prompt as given (a chat conversation's last user turn when the template is ours).
    pub prompt: String,
    pub options: RunOptions,
    pub stream: bool,
    pub include_usage: bool,
    pub text: TextOptions,
    pub return_token_ids: bool,
    /// `Some(k)`: logprobs with k alternatives.
    pub logprobs: Option<u32>,
}

/// What the server decides for every request: its defaults and limits.
#[derive(Debug, Clone)]
pub struct Defaults {
    pub policy: KvPolicy,
    pub max_tokens: u32,
    /// Whether runs are scaffolded (the model was never trained on mementos).
    pub scaffolded: bool,
    /// The most alternatives a request may ask for.
    pub max_logprobs: u32,
}

impl Common {
    fn check_plain(&self) -> Result<(), BadRequest> {
        if self.n.is_some_and(|n| n != 1) {
            return Err(BadRequest(
                "`n`: only one choice per request is served".into(),
            ));
        }
        let stop_given = match &self.stop {
            None | Some(serde_json::Value::Null) => false,
            Some(serde_json::Value::Array(a)) => !a.is_empty(),
            Some(_) => true,
        };
        if stop_given {
            return Err(BadRequest("`stop`: stop strings are not supported".into()));
        }
        Ok(())
    }

    /// The request's policy. Read from the raw value here (not by serde's untagged enums, under
    /// the flattened fields) so a bad one says what is wrong with it.
    fn policy(&self, default: KvPolicy) -> Result<KvPolicy, BadRequest> {
        let bad = |e: String| BadRequest(format!("`kv_policy`: {e}"));
        match &self.kv_policy {
            None | Some(serde_json::Value::Null) => Ok(default),
            Some(serde_json::Value::String(mode)) => KvPolicy::parse(mode).map_err(bad),
            Some(v @ serde_json::Value::Object(_)) => {
                let p: PolicyObject =
                    serde_json::from_value(v.clone()).map_err(|e| bad(e.to_string()))?;
                let mut policy = KvPolicy::parse(&p.mode).map_err(bad)?;
                policy.mask_delimiters = p.mask_delimiters;
                policy.keep_last_block_for_answer = p.keep_last_block_for_answer;
                policy.max_block_tokens = p.max_block_tokens;
                Ok(policy)
            }
            Some(other) => Err(bad(format!(
                "expected a mode name or an object with `mode`, got {other}"
            ))),
        }
    }

    /// The run's options: the sampler as `memento generate` builds it from the same flags.
    fn options(
        &self,
        max_tokens: Option<u32>,
        defaults: &Defaults,
        raw_prompt: bool,
    ) -> Result<RunOptions, BadRequest> {
        self.check_plain()?;
        let policy = self.policy(defaults.policy)?;
        let max_tokens = max_tokens.unwrap_or(defaults.max_tokens);
        if max_tokens == 0 {
            return Err(BadRequest("`max_tokens` must be at least 1".into()));
        }
        let top_k = match self.top_k {
            None | Some(-1) | Some(0) => None,
            Some(k) if k > 0 => Some(k as usize),
            Some(k) => return Err(BadRequest(format!("`top_k` {k} must be -1, 0 or positive"))),
        };
        let scaffolded = defaults.scaffolded && !raw_prompt;
        let base = crate::live::RunSettings::default();
        let settings = crate::live::RunSettings {
            temperature: self.temperature.unwrap_or(base.temperature),
            top_k: top_k.unwrap_or(base.top_k),
            top_p: self.top_p.unwrap_or(base.top_p),
            min_p: self.min_p.unwrap_or(base.min_p),
            repeat_penalty: self.repetition_penalty,
            seed: self.seed.unwrap_or(base.seed),
            max_tokens,
            ..base
        };
        let sampler = settings.sampler(scaffolded);
        sampler.check().map_err(|e| {
            BadRequest(format!(
                "sampler (`temperature`, `top_p`, `min_p`, `repetition_penalty`): {e}"
            ))
        })?;
        Ok(RunOptions {
            policy,
            sampler,
            max_tokens,
            scaffold: scaffolded.then(crate::engine::ScaffoldConfig::default),
            automatic: settings.automatic(scaffolded),
            raw_prompt,
            ignore_eos: self.ignore_eos,
            ..RunOptions::default()
        })
    }

    /// The generation of `prompt` under `options`, with `logprobs` alternatives per token
    /// when asked for, and this request's streaming and spelling choices.
    fn generation(
        &self,
        prompt: String,
        mut options: RunOptions,
        logprobs: Option<u32>,
        defaults: &Defaults,
    ) -> Result<Generation, BadRequest> {
        if let Some(k) = logprobs {
            check_logprobs(k, defaults)?;
            options.top_alternatives = options.top_alternatives.max(k as usize);
        }
        Ok(Generation {
            prompt,
            options,
            stream: self.stream,
            include_usage: self
                .stream_options
                .as_ref()
                .is_some_and(|s| s.include_usage),
            text: self.text_options(),
            return_token_ids: self.return_token_ids,
            logprobs,
        })
    }

    fn text_options(&self) -> TextOptions {
        TextOptions {
            skip_special_tokens: self.skip_special_tokens.unwrap_or(true),
            spaces_between_special_tokens: self.spaces_between_special_tokens.unwrap_or(true),
        }
    }
}

fn check_logprobs(k: u32, defaults: &Defaults) -> Result<(), BadRequest> {
    if k > defaults.max_logprobs {
        return Err(BadRequest(format!(
            "`top_logprobs`: at most {} alternatives per token",
            defaults.max_logprobs
        )));
    }
    Ok(())
}

impl ChatRequest {
    /// The run this chat asks for. A conversation of one user turn (after an optional system
    /// message) is templated exactly as `memento generate` templates its prompt; longer
    /// conversations are written out in ChatML turn by turn.
    pub fn generation(&self, defaults: &Defaults) -> Result<Generation, BadRequest> {
        let mut turns = Vec::with_capacity(self.messages.len());
        for (i, m) in self.messages.iter().enumerate() {
            let text = match &m.content {
                MessageContent::Text(t) => t.clone(),
                MessageContent::Parts(parts) => {
                    let mut text = String::new();
                    for p in parts {
                        match (p.kind.as_str(), &p.text) {
                            ("text", Some(t)) => text.push_str(t),
                            _ => {
                                return Err(BadRequest(format!(
                                    "`messages[{i}].content`: only text parts are supported"
                                )));
                            }
                        }
                    }
                    text
                }
            };
            if !matches!(m.role.as_str(), "system" | "user" | "assistant") {
                return Err(BadRequest(format!(
                    "`messages[{i}].role`: {:?} is not system, user or assistant",
                    m.role
                )));
            }
            turns.push((m.role.as_str(), text));
        }
        let (system, rest) = match turns.split_first() {
            Some((("system", s), rest)) => (Some(s.clone()), rest),
            _ => (None, turns.as_slice()),
        };
        let (prompt, raw) = match rest {
            [("user", user)] => (user.clone(), false),
            [] => return Err(BadRequest("`messages`: no user message".into())),
            _ => {
                let turns: Vec<(&str, &str)> =
                    turns.iter().map(|(r, t)| (*r, t.as_str())).collect();
                (crate::engine::chat_conversation(&turns), true)
            }
        };
        let mut options = self.common.options(
            self.max_completion_tokens.or(self.common.max_tokens),
            defaults,
            raw,
        )?;
        if !raw {
            options.system = system;
        }
        let logprobs = match (self.logprobs, self.top_logprobs) {
            (true, k) => Some(k.unwrap_or(0)),
            (false, Some(k)) if k > 0 => {
                return Err(BadRequest("`top_logprobs` needs `logprobs: true`".into()));
            }
            (false, _) => None,
        };
        self.common.generation(prompt, options, logprobs, defaults)
    }
}

impl CompletionRequest {
    /// The run this completion asks for: the prompt is the model's whole input.
    pub fn generation(&self, defaults: &Defaults) -> Result<Generation, BadRequest> {
        let prompt = match &self.prompt {
            PromptField::One(p) => p.clone(),
            PromptField::Many(v) if v.len() == 1 => v[0].clone(),
            PromptField::Many(_) => {
                return Err(BadRequest(
                    "`prompt`: one prompt per request is served".into(),
                ));
            }
        };
        if prompt.is_empty() {
            return Err(BadRequest("`prompt` is empty".into()));
        }
        let options = self
            .common
            .options(self.common.max_tokens, defaults, true)?;
        self.common
            .generation(prompt, options, self.logprobs, defaults)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn defaults() -> Defaults {
        Defaults {
            policy: KvPolicy::MEMENTO,
            max_tokens: 64,
            scaffolded: false,
            max_logprobs: 20,
        }
    }

    fn chat(body: &str) -> Result<Generation, BadRequest> {
        ChatRequest::from_value(&serde_json::from_str(body).unwrap())?.generation(&defaults())
    }

    #[test]
    fn one_user_turn_is_templated_like_generate() {
        let g = chat(r#"{"messages":[{"role":"user","content":"2+2?"}]}"#).unwrap();
        assert_eq!(g.prompt, "2+2?");
        assert!(!g.options.raw_prompt);
        assert_eq!(
            g.options.model_input(&g.prompt),
            crate::engine::chat_prompt(None, "2+2?")
        );
        assert_eq!(g.options.max_tokens, 64);
        assert!(g.options.sampler.is_greedy());
        let g = chat(
            r#"{"messages":[{"role":"system","content":"Be brief."},{"role":"user","content":[{"type":"text","text":"Hi"}]}],"temperature":0.5,"seed":3,"max_completion_tokens":9}"#,
        )
        .unwrap();
        assert_eq!(
            g.options.model_input(&g.prompt),
            crate::engine::chat_prompt(Some("Be brief."), "Hi")
        );
        assert_eq!(
            (g.options.sampler.temperature, g.options.sampler.seed),
            (0.5, 3)
        );
        assert_eq!(g.options.max_tokens, 9);
    }

    #[test]
    fn a_longer_conversation_is_written_out_turn_by_turn() {
        let g = chat(
            r#"{"messages":[{"role":"user","content":"a"},{"role":"assistant","content":"b"},{"role":"user","content":"c"}]}"#,
        )
        .unwrap();
        assert!(g.options.raw_prompt);
        assert_eq!(
            g.prompt,
            "<|im_start|>user\na<|im_end|>\n<|im_start|>assistant\nb<|im_end|>\n<|im_start|>user\nc<|im_end|>\n<|im_start|>assistant\n"
        );
    }

    #[test]
    fn the_policy_field_takes_a_mode_or_an_object() {
        let g =
            chat(r#"{"messages":[{"role":"user","content":"x"}],"kv_policy":"keep-2"}"#).unwrap();
        assert_eq!(g.options.policy, KvPolicy::keep_n(2));
        let g = chat(
            r#"{"messages":[{"role":"user","content":"x"}],"kv_policy":{"mode":"memento","mask_delimiters":true}}"#,
        )
        .unwrap();
        assert!(g.options.policy.mask_delimiters);
        let g = chat(r#"{"messages":[{"role":"user","content":"x"}]}"#).unwrap();
        assert_eq!(g.options.policy, KvPolicy::MEMENTO);
    }

    #[test]
    fn bad_values_name_their_field() {
        for (body, field) in [
            (
                r#"{"messages":[{"role":"user","content":"x"}],"kv_policy":"sometimes"}"#,
                "kv_policy",
            ),
            (
                r#"{"messages":[{"role":"user","content":"x"}],"temperature":-1}"#,
                "temperature",
            ),
            (
                r#"{"messages":[{"role":"user","content":"x"}],"top_p":0}"#,
                "top-p",
            ),
            (
                r#"{"messages":[{"role":"user","content":"x"}],"top_k":-5}"#,
                "top_k",
            ),
            (
                r#"{"messages":[{"role":"user","content":"x"}],"n":2}"#,
                "`n`",
            ),
            (
                r#"{"messages":[{"role":"user","content":"x"}],"stop":["\n"]}"#,
                "stop",
            ),
            (
                r#"{"messages":[{"role":"user","content":"x"}],"max_tokens":0}"#,
                "max_tokens",
            ),
            (r#"{"messages":[{"role":"tool","content":"x"}]}"#, "role"),
            (r#"{"messages":[]}"#, "messages"),
            (
                r#"{"messages":[{"role":"user","content":"x"}],"max_tokens":"many"}"#,
                "`max_tokens`",
            ),
            (
                r#"{"messages":[{"role":"user","content":"x"}],"kv_policy":{"mode":"full","evict":1}}"#,
                "evict",
            ),
            (
                r#"{"messages":[{"role":"user","content":"x"}],"logprobs":true,"top_logprobs":99}"#,
                "top_logprobs",
            ),
        ] {
            let BadRequest(message) = chat(body).unwrap_err();
            assert!(message.contains(field), "{body}: {message}");
        }
    }

    #[test]
    fn a_completion_is_raw_and_asks_for_its_alternatives() {
        let c = CompletionRequest::from_value(
            &serde_json::from_str(r#"{"prompt":["Once"],"logprobs":3,"stream":true}"#).unwrap(),
        )
        .unwrap();
        let g = c.generation(&defaults()).unwrap();
        assert!(g.options.raw_prompt);
        assert_eq!(g.options.model_input(&g.prompt), "Once");
        assert_eq!(g.logprobs, Some(3));
        assert!(g.options.top_alternatives >= 3);
        assert!(g.stream && !g.include_usage);
        assert!(g.text.skip_special_tokens && g.text.spaces_between_special_tokens);
    }
}
