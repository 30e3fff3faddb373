//! Trace events into OpenAI response bodies: the chunks of a stream and the whole response of a
//! plain request, for both APIs. Text is spelled as vLLM's detokenizer spells it: special tokens
//! dropped when `skip_special_tokens` is on, and a space around added tokens when
//! `spaces_between_special_tokens` is on (Hugging Face joins runs of ordinary text and added
//! tokens with spaces).

use serde_json::{Value, json};

use super::api::TextOptions;
use crate::model::ModelTokenizer;
use crate::trace::{EndReason, TokenEvent};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Api {
    Chat,
    Completion,
}

/// OpenAI's `finish_reason` for an end reason.
pub fn finish_reason(reason: EndReason) -> &'static str {
    match reason {
        EndReason::Eos | EndReason::Complete => "stop",
        EndReason::MaxTokens | EndReason::ContextFull => "length",
        EndReason::Stopped => "abort",
        EndReason::Error => "error",
    }
}

/// One output token as the response shows it.
#[derive(Debug, Clone, PartialEq)]
pub struct Piece {
    pub text: String,
    pub id: u32,
    /// The token's own text (for logprobs), whatever the spelling options dropped.
    pub token: String,
    pub logprob: Option<f32>,
    pub top: Vec<(String, f32)>,
}

/// Spells a stream of tokens as text under the request's options.
pub struct Spelling<'t> {
    tokenizer: &'t ModelTokenizer,
    options: TextOptions,
    /// Whether the last token written was an added token; `None` before any.
    last_added: Option<bool>,
}

impl<'t> Spelling<'t> {
    pub fn new(tokenizer: &'t ModelTokenizer, options: TextOptions) -> Self {
        Spelling {
            tokenizer,
            options,
            last_added: None,
        }
    }

    /// The piece of text `token` adds, with its logprobs (at most `top_k` alternatives).
    pub fn piece(&mut self, token: &TokenEvent, top_k: usize) -> Piece {
        let id = token.id.unwrap_or(u32::MAX);
        let special = self.tokenizer.is_special(id);
        let added = self.tokenizer.is_added(id);
        let text = if special && self.options.skip_special_tokens {
            String::new()
        } else {
            let space = self.options.spaces_between_special_tokens
                && self.last_added.is_some_and(|last| last || added);
            self.last_added = Some(added);
            match space {
                true => format!(" {}", token.text),
                false => token.text.clone(),
            }
        };
        Piece {
            text,
            id,
            token: token.text.clone(),
            logprob: token.logprob,
            top: token
                .top
                .iter()
                .flatten()
                .take(top_k)
                .map(|a| (a.text.clone(), a.logprob))
                .collect(),
        }
    }
}

fn bytes(s: &str) -> Vec<u8> {
    s.as_bytes().to_vec()
}

/// Chat logprobs of `pieces` (`logprobs.content`).
fn chat_logprobs(pieces: &[Piece]) -> Value {
    let content: Vec<Value> = pieces
        .iter()
        .map(|p| {
            json!({
                "token": p.token,
                "logprob": p.logprob,
                "bytes": bytes(&p.token),
                "top_logprobs": p.top.iter().map(|(t, lp)| json!({
                    "token": t, "logprob": lp, "bytes": bytes(t)
                })).collect::<Vec<_>>(),
            })
        })
        .collect();
    json!({ "content": content })
}

/// Completion logprobs of `pieces`, whose text starts at byte `offset` of the completion.
fn completion_logprobs(pieces: &[Piece], mut offset: usize) -> Value {
    let mut text_offset = Vec::with_capacity(pieces.len());
    for p in pieces {
        text_offset.push(offset);
        offset += p.text.len();
    }
    json!({
        "tokens": pieces.iter().map(|p| p.token.clone()).collect::<Vec<_>>(),
        "token_logprobs": pieces.iter().map(|p| p.logprob).collect::<Vec<_>>(),
        "top_logprobs": pieces.iter().map(|p| {
            p.top.iter().map(|(t, lp)| (t.clone(), json!(lp))).collect::<serde_json::Map<_, _>>()
        }).collect::<Vec<_>>(),
        "text_offset": text_offset,
    })
}

/// What every chunk and response carries.
#[derive(Debug, Clone)]
pub struct Envelope {
    pub api: Api,
    pub id: String,
    pub created: u64,
    pub model: String,
    pub logprobs: bool,
    pub token_ids: bool,
}

impl Envelope {
    fn object(&self, chunk: bool) -> &'static str {
        match (self.api, chunk) {
            (Api::Chat, true) => "chat.completion.chunk",
            (Api::Chat, false) => "chat.completion",
            (Api::Completion, _) => "text_completion",
        }
    }

    fn wrap(&self, chunk: bool, choices: Vec<Value>) -> Value {
        json!({
            "id": self.id,
            "object": self.object(chunk),
            "created": self.created,
            "model": self.model,
            "choices": choices,
        })
    }

    /// The first chunk of a stream: the assistant's role (chat), and the prompt's ids when
    /// asked for.
    pub fn opening_chunk(&self, prompt_ids: &[u32]) -> Value {
        let choice = match self.api {
            Api::Chat => json!({
                "index": 0,
                "delta": {"role": "assistant", "content": ""},
                "logprobs": null,
                "finish_reason": null,
            }),
            Api::Completion => json!({
                "index": 0, "text": "", "logprobs": null, "finish_reason": null,
            }),
        };
        let mut v = self.wrap(true, vec![choice]);
        if self.token_ids {
            v["prompt_token_ids"] = json!(prompt_ids);
        }
        v
    }

    /// The chunk of one or more output tokens; `offset` is the completion's length so far
    /// (bytes), for completion logprobs.
    pub fn token_chunk(&self, pieces: &[Piece], offset: usize) -> Value {
        let text: String = pieces.iter().map(|p| p.text.as_str()).collect();
        let mut choice = match self.api {
            Api::Chat => json!({
                "index": 0,
                "delta": {"content": text},
                "logprobs": if self.logprobs { chat_logprobs(pieces) } else { Value::Null },
                "finish_reason": null,
            }),
            Api::Completion => json!({
                "index": 0,
                "text": text,
                "logprobs": if self.logprobs { completion_logprobs(pieces, offset) } else { Value::Null },
                "finish_reason": null,
            }),
        };
        if self.token_ids {
            choice["token_ids"] = json!(pieces.iter().map(|p| p.id).collect::<Vec<_>>());
        }
        self.wrap(true, vec![choice])
    }

    /// The chunk that says why the stream ended.
    pub fn closing_chunk(&self, reason: EndReason) -> Value {
        let choice = match self.api {
            Api::Chat => json!({
                "index": 0, "delta": {}, "logprobs": null,
                "finish_reason": finish_reason(reason),
            }),
            Api::Completion => json!({
                "index": 0, "text": "", "logprobs": null,
                "finish_reason": finish_reason(reason),
            }),
        };
        self.wrap(true, vec![choice])
    }

    /// The last chunk of a stream that asked for usage: no choices.
    pub fn usage_chunk(&self, usage: &Usage) -> Value {
        let mut v = self.wrap(true, Vec::new());
        v["usage"] = usage.json();
        v
    }

    /// The whole response of a plain request.
    pub fn response(
        &self,
        pieces: &[Piece],
        reason: EndReason,
        usage: &Usage,
        prompt_ids: &[u32],
    ) -> Value {
        let text: String = pieces.iter().map(|p| p.text.as_str()).collect();
        let mut choice = match self.api {
            Api::Chat => json!({
                "index": 0,
                "message": {"role": "assistant", "content": text},
                "logprobs": if self.logprobs { chat_logprobs(pieces) } else { Value::Null },
                "finish_reason": finish_reason(reason),
            }),
            Api::Completion => json!({
                "index": 0,
                "text": text,
                "logprobs": if self.logprobs { completion_logprobs(pieces, 0) } else { Value::Null },
                "finish_reason": finish_reason(reason),
            }),
        };
        if self.token_ids {
            choice["token_ids"] = json!(pieces.iter().map(|p| p.id).collect::<Vec<_>>());
        }
        let mut v = self.wrap(false, vec![choice]);
        v["usage"] = usage.json();
        if self.token_ids {
            v["prompt_token_ids"] = json!(prompt_ids);
        }
        v
    }
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Usage {
    pub prompt_tokens: u64,
    pub completion_tokens: u64,
}

impl Usage {
    fn json(&self) -> Value {
        json!({
            "prompt_tokens": self.prompt_tokens,
            "completion_tokens": self.completion_tokens,
            "total_tokens": self.prompt_tokens + self.completion_tokens,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::trace::Alternative;

    fn organism() -> ModelTokenizer {
        ModelTokenizer::from_json(crate::organism::tokenizer_json(), "organism").unwrap()
    }

    fn token(tok: &ModelTokenizer, text: &str) -> TokenEvent {
        let id = tok.encode(text).unwrap()[0].1;
        TokenEvent {
            seq: 0,
            t: None,
            pos: 0,
            id: Some(id),
            text: text.to_string(),
            logprob: Some(-0.5),
            top: Some(vec![
                Alternative {
                    id: Some(id),
                    text: text.to_string(),
                    logprob: -0.5,
                    sampled_logprob: None,
                },
                Alternative {
                    id: Some(0),
                    text: "!".into(),
                    logprob: -2.0,
                    sampled_logprob: None,
                },
            ]),
            scaffold: false,
        }
    }

    fn spell(options: TextOptions, texts: &[&str]) -> String {
        let tok = organism();
        let mut s = Spelling::new(&tok, options);
        texts
            .iter()
            .map(|t| s.piece(&token(&tok, t), 0).text)
            .collect()
    }

    #[test]
    fn special_tokens_are_dropped_or_spaced_as_vllm_spells_them() {
        let texts = [
            "<think>",
            "\n",
            "<|block_start|>",
            "a",
            "b",
            "<|block_end|>",
        ];
        let skip = TextOptions {
            skip_special_tokens: true,
            spaces_between_special_tokens: true,
        };
        assert_eq!(spell(skip, &texts), "\nab");
        let keep = TextOptions {
            skip_special_tokens: false,
            spaces_between_special_tokens: false,
        };
        assert_eq!(
            spell(keep, &texts),
            "<think>\n<|block_start|>ab<|block_end|>"
        );
        let spaced = TextOptions {
            skip_special_tokens: false,
            spaces_between_special_tokens: true,
        };
        assert_eq!(
            spell(spaced, &texts),
            "<think> \n <|block_start|> ab <|block_end|>"
        );
    }

    #[test]
    fn chunks_carry_what_was_asked_for() {
        let tok = organism();
        let mut s = Spelling::new(
            &tok,
            TextOptions {
                skip_special_tokens: false,
                spaces_between_special_tokens: false,
            },
        );
        let pieces = vec![s.piece(&token(&tok, "a"), 1), s.piece(&token(&tok, "b"), 1)];
        let chat = Envelope {
            api: Api::Chat,
            id: "chatcmpl-1".into(),
            created: 0,
            model: "m".into(),
            logprobs: true,
            token_ids: true,
        };
        let c = chat.token_chunk(&pieces, 0);
        assert_eq!(c["object"], "chat.completion.chunk");
        assert_eq!(c["choices"][0]["delta"]["content"], "ab");
        assert_eq!(c["choices"][0]["logprobs"]["content"][1]["token"], "b");
        assert_eq!(
            c["choices"][0]["logprobs"]["content"][0]["top_logprobs"]
                .as_array()
                .unwrap()
                .len(),
            1
        );
        assert_eq!(c["choices"][0]["token_ids"].as_array().unwrap().len(), 2);
        assert_eq!(
            chat.opening_chunk(&[1, 2])["prompt_token_ids"],
            json!([1, 2])
        );
        let plain = Envelope {
            api: Api::Completion,
            logprobs: false,
            token_ids: false,
            ..chat
        };
        let c = plain.token_chunk(&pieces, 0);
        assert_eq!(c["choices"][0]["text"], "ab");
        assert!(c["choices"][0]["logprobs"].is_null());
        assert!(c["choices"][0].get("token_ids").is_none());
        let usage = Usage {
            prompt_tokens: 3,
            completion_tokens: 2,
        };
        let r = plain.response(&pieces, EndReason::MaxTokens, &usage, &[]);
        assert_eq!(r["choices"][0]["finish_reason"], "length");
        assert_eq!(r["usage"]["total_tokens"], 5);
        let logged = Envelope {
            logprobs: true,
            ..plain
        };
        let lp = &logged.token_chunk(&pieces, 10)["choices"][0]["logprobs"];
        assert_eq!(lp["text_offset"], json!([10, 11]));
        assert_eq!(lp["top_logprobs"][0]["a"], json!(-0.5));
    }
}
