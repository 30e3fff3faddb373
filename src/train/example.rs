//! One training sequence: a ChatML prompt and the assistant's response as token ids, with the
//! spans memento attention hides from each position, decided by the engine's own recorder
//! (segmenter and KV accountant), so training masks exactly what inference evicts.

use crate::engine::chat_prompt;
use crate::kv::{KvPolicy, KvShape};
use crate::model::{ModelTokenizer, Utf8Stream};
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
        let mut ids: Vec<u32> = prompt.iter().map(|p| p.1).collect();
        let mut texts: Vec<String> = prompt.into_iter().map(|p| p.0).collect();
        let prompt_len = ids.len();
        let mut utf8 = Utf8Stream::default();
        for (_, id) in reply {
            ids.push(id);
            texts.push(utf8.push(&tokenizer.token_bytes(id)));
        }
        Ok(Example {
            ids,
            prompt_len,
            texts,
        })
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
        let outcome = recorder.prompt(&text, &prompt, None).map_err(io)?;
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
                    ..TokenInput::default()
                })
                .map_err(io)?;
            add(outcome.evictions, p);
        }
        Ok(hidden)
    }
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
}
