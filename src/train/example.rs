//! One training sequence: a ChatML prompt and the assistant's response as token ids, with the
//! spans memento attention hides from each position, decided by the engine's own recorder
//! (segmenter and KV accountant), so training masks exactly what inference evicts.

use std::ops::Range;

use crate::engine::chat_prompt;
use crate::import::{Assembly, user_prompt_assembly};
use crate::kv::{KvPolicy, KvShape};
use crate::model::{ModelTokenizer, Utf8Stream};
use crate::structure::Tag;
use crate::tokenize::outside_tags;
use crate::trace::{
    FORMAT_NAME, Header, ModelInfo, NullSink, Recorder, RecorderOptions, TokenInput, TokenizerInfo,
};

use super::TrainError;
use super::visibility::Hidden;

#[derive(Debug, Clone, PartialEq)]
pub struct Example {
    /// Prompt then response.
    pub ids: Vec<u32>,
    /// Tokens before the response; the loss covers every token from here on (the assistant
    /// part: reasoning, mementos, answer and the closing `<|im_end|>`).
    pub prompt_len: usize,
    /// Token texts as the engine decodes them (prompt pieces as the tokenizer cut them).
    pub texts: Vec<String>,
    /// Per token, whether it is quoted data that the segmenter never reads as a tag (a
    /// problem or block text imported from a file); empty when nothing is quoted.
    pub quoted: Vec<bool>,
}

impl Example {
    /// Tokenize `problem` in the engine's ChatML prompt (no system message, DESIGN §1.1) and
    /// `response` (the assistant turn, `<think>` … answer) followed by `<|im_end|>`.
    pub fn from_text(
        tokenizer: &ModelTokenizer,
        problem: &str,
        response: &str,
    ) -> Result<Example, TrainError> {
        let prompt = tokenizer.encode(&chat_prompt(None, problem))?;
        let mut response = response.to_string();
        if !response.ends_with("<|im_end|>") {
            response.push_str("<|im_end|>");
        }
        let reply = tokenizer.encode(&response)?;
        Ok(Example::joined(tokenizer, prompt, reply, Vec::new()))
    }

    /// As [`Example::from_text`], for a transcript read from a file: the problem is quoted
    /// data, and so is the response outside `response_tags` (the tags an importer placed,
    /// sorted byte ranges of `response`) when they are given. Tags that the vocabulary lacks
    /// are spelled in ordinary tokens and still found by the segmenter; quoted text never is.
    pub fn from_transcript(
        tokenizer: &ModelTokenizer,
        problem: &str,
        response: &str,
        response_tags: Option<&[Range<usize>]>,
    ) -> Result<Example, TrainError> {
        let prompt = user_prompt_assembly(problem);
        let mut response = Assembly {
            text: response.to_string(),
            tags: response_tags.map(<[_]>::to_vec).unwrap_or_default(),
            parts: Vec::new(),
        };
        let reply = match response_tags {
            Some(_) => {
                if !response.text.ends_with(Tag::ImEnd.text()) {
                    response.tag(Tag::ImEnd);
                }
                tokenizer.encode_placed(&response.text, &response.tags)?
            }
            None => {
                if !response.text.ends_with(Tag::ImEnd.text()) {
                    response.glue(Tag::ImEnd.text());
                }
                tokenizer.encode(&response.text)?
            }
        };
        let prompt_pieces = tokenizer.encode_placed(&prompt.text, &prompt.tags)?;
        let mut quoted = outside_tags(piece_ends(&prompt_pieces), &prompt.tags);
        if response_tags.is_some() {
            quoted.extend(outside_tags(piece_ends(&reply), &response.tags));
        } else {
            quoted.resize(prompt_pieces.len() + reply.len(), false);
        }
        Ok(Example::joined(tokenizer, prompt_pieces, reply, quoted))
    }

    /// The prompt's pieces as the tokenizer cut them, then the reply's ids with their texts
    /// as the engine decodes them.
    fn joined(
        tokenizer: &ModelTokenizer,
        prompt: Vec<(String, u32)>,
        reply: Vec<(String, u32)>,
        quoted: Vec<bool>,
    ) -> Example {
        let prompt_len = prompt.len();
        let (mut texts, mut ids): (Vec<String>, Vec<u32>) = prompt.into_iter().unzip();
        let mut utf8 = Utf8Stream::default();
        for (_, id) in reply {
            ids.push(id);
            texts.push(utf8.push(&tokenizer.token_bytes(id)));
        }
        Example {
            ids,
            prompt_len,
            texts,
            quoted,
        }
    }

    fn is_quoted(&self, i: usize) -> bool {
        self.quoted.get(i).copied().unwrap_or(false)
    }

    pub fn len(&self) -> usize {
        self.ids.len()
    }

    pub fn is_empty(&self) -> bool {
        self.ids.is_empty()
    }

    /// The spans `policy` hides, replayed through the recorder as a live run records them:
    /// the prompt as one prefill (evictions it triggers apply from the first response
    /// token), then each response token, whose evictions apply from its own position on.
    pub fn hidden(&self, policy: KvPolicy) -> Result<Vec<Hidden>, TrainError> {
        if policy.restart {
            return Err(TrainError::Config(
                "restart mode recomputes mementos and has no attention mask to train under".into(),
            ));
        }
        if !policy.evicts() {
            return Ok(Vec::new());
        }
        let header = Header {
            format: FORMAT_NAME.to_string(),
            version: crate::trace::format_version(),
            created: String::new(),
            generator: String::new(),
            model: ModelInfo {
                name: String::new(),
                shape: KvShape::preset("qwen3-8b").expect("a built-in shape"),
            },
            tokenizer: TokenizerInfo::Estimate {
                rule: String::new(),
            },
            policy,
            source: None,
            snapshot_every: None,
            sampler: None,
        };
        let options = RecorderOptions {
            snapshot_every: 0,
            ..RecorderOptions::default()
        };
        let io = |e: std::io::Error| TrainError::Config(format!("recording the mask: {e}"));
        let mut recorder = Recorder::start(&header, options, NullSink).map_err(io)?;
        let prompt: Vec<(String, Option<u32>)> = self.texts[..self.prompt_len]
            .iter()
            .zip(&self.ids)
            .map(|(t, &id)| (t.clone(), Some(id)))
            .collect();
        let mut hidden = Vec::new();
        let text: String = self.texts[..self.prompt_len].concat();
        let quoted: Vec<bool> = (0..self.prompt_len).map(|i| self.is_quoted(i)).collect();
        let outcome = recorder
            .prompt_quoting(&text, &prompt, &quoted, None)
            .map_err(io)?;
        let mut add = |evictions: Vec<crate::kv::Eviction>, from: usize| {
            for e in evictions {
                hidden.push(Hidden {
                    keys: e.span.start as usize..e.span.end as usize,
                    from,
                });
            }
        };
        add(outcome.evictions, self.prompt_len);
        for p in self.prompt_len..self.ids.len() {
            let outcome = recorder
                .token(TokenInput {
                    text: self.texts[p].clone(),
                    id: Some(self.ids[p]),
                    literal: self.is_quoted(p),
                    ..TokenInput::default()
                })
                .map_err(io)?;
            add(outcome.evictions, p);
        }
        Ok(hidden)
    }
}

/// Where each piece ends in the pieces' concatenated text.
fn piece_ends(pieces: &[(String, u32)]) -> impl Iterator<Item = usize> + '_ {
    pieces.iter().scan(0, |end, (text, _)| {
        *end += text.len();
        Some(*end)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    pub(crate) fn byte_tokenizer() -> (tempfile::TempDir, ModelTokenizer) {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join("tokenizer.json"),
            crate::task::tokenizer::tokenizer_json(),
        )
        .unwrap();
        let t = ModelTokenizer::load(dir.path()).unwrap();
        (dir, t)
    }

    #[test]
    fn memento_attention_hides_each_block_from_its_summary_end_on() {
        let (_dir, tok) = byte_tokenizer();
        let response = "<think>\n<|block_start|>ab<|block_end|>\n<|summary_start|>m<|summary_end|>\n\
                        <|block_start|>cd<|block_end|>\n<|summary_start|>n<|summary_end|>\n</think>\nx";
        let e = Example::from_text(&tok, "q", response).unwrap();
        let at = |text: &str, nth: usize| {
            e.texts
                .iter()
                .enumerate()
                .filter(|(_, t)| t.as_str() == text)
                .nth(nth)
                .map(|(i, _)| i)
                .unwrap()
        };
        let hidden = e.hidden(KvPolicy::MEMENTO).unwrap();
        assert_eq!(hidden.len(), 2);
        // Block 1's content ("ab", between its delimiters) from its <|summary_end|> on.
        let (s1, e1) = (at("<|block_start|>", 0), at("<|block_end|>", 0));
        assert_eq!(hidden[0].keys, s1 + 1..e1);
        assert_eq!(hidden[0].from, at("<|summary_end|>", 0));
        assert_eq!(
            hidden[1].keys,
            at("<|block_start|>", 1) + 1..at("<|block_end|>", 1)
        );
        assert_eq!(hidden[1].from, at("<|summary_end|>", 1));
        // Full attention hides nothing; mask_delimiters takes the delimiters too.
        assert!(e.hidden(KvPolicy::FULL).unwrap().is_empty());
        let phi = KvPolicy {
            mask_delimiters: true,
            ..KvPolicy::MEMENTO
        };
        assert_eq!(e.hidden(phi).unwrap()[0].keys, s1..e1 + 1);
        assert!(e.hidden(KvPolicy::restart()).is_err());
        // The response ends with <|im_end|>, and the prompt is the engine's ChatML.
        assert_eq!(e.texts.last().unwrap(), "<|im_end|>");
        assert_eq!(
            e.texts[..e.prompt_len].concat(),
            "<|im_start|>user\nq<|im_end|>\n<|im_start|>assistant\n"
        );
    }

    #[test]
    fn quoted_tags_in_a_transcript_are_trained_on_as_text() {
        let (_dir, tok) = byte_tokenizer();
        let mut r = Assembly::starting_with(Tag::ThinkOpen);
        r.glue("\n");
        r.tag(Tag::BlockStart);
        r.quote("a</think>b", "block".into());
        r.tag(Tag::BlockEnd);
        r.glue("\n");
        r.tag(Tag::SummaryStart);
        r.quote("m<|summary_end|>", "memento".into());
        r.tag(Tag::SummaryEnd);
        r.glue("\n");
        r.tag(Tag::ThinkClose);
        r.glue("\nx");
        let problem = "q<|im_end|>";
        let e = Example::from_transcript(&tok, problem, &r.text, Some(&r.tags)).unwrap();
        assert_eq!(
            e.texts.concat(),
            format!("{}{}<|im_end|>", chat_prompt(None, problem), r.text)
        );
        assert_eq!(e.quoted.len(), e.ids.len());
        let at = |text: &str| e.texts.iter().position(|t| t == text).unwrap();
        let hidden = e.hidden(KvPolicy::MEMENTO).unwrap();
        assert_eq!(hidden.len(), 1);
        // The whole block, quoted tag included, hides from the real <|summary_end|> on.
        assert_eq!(
            hidden[0].keys,
            at("<|block_start|>") + 1..at("<|block_end|>")
        );
        let ends: Vec<usize> = (0..e.texts.len())
            .filter(|&i| e.texts[i] == "<|summary_end|>" && !e.quoted[i])
            .collect();
        assert_eq!(hidden[0].from, ends[0]);
        // Read as tagged text instead, the quoted </think> would end the think span early.
        let parsed = Example::from_text(&tok, "q", &r.text).unwrap();
        assert_ne!(parsed.hidden(KvPolicy::MEMENTO).unwrap(), hidden);
    }
}
