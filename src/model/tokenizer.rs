//! The tokenizer a model runs with: its own vocabulary, nothing added (only the scripted
//! decoder, which has no embedding, adds whole words).
//!
//! MEMENTO's tags and `<think>` are single tokens when the vocabulary has them (the released
//! checkpoints). A model without them (SmolLM2) cannot embed new ids, so for it the tags are
//! spelled in ordinary tokens and the segmenter reassembles them across tokens.

use std::collections::HashMap;
use std::path::Path;

use tokenizers::Tokenizer;

use super::error::ModelError;
use crate::structure::Tag;
use crate::tokenize::load_gguf_tokenizer;
use crate::trace::TokenizerInfo;

pub struct ModelTokenizer {
    tokenizer: Tokenizer,
    info: TokenizerInfo,
    /// Inverse of GPT-2's byte → printable-char table, for byte-level vocabularies.
    byte_of: HashMap<char, u8>,
    vocab_size: usize,
}

impl ModelTokenizer {
    /// From a GGUF file's metadata or an HF directory's `tokenizer.json`.
    pub fn load(path: &Path) -> Result<ModelTokenizer, ModelError> {
        let (tokenizer, info) = if path.is_dir() {
            let file = path.join("tokenizer.json");
            let t = crate::tokenize::read_tokenizer_json(&file).map_err(|message| {
                ModelError::File {
                    path: file.clone(),
                    message,
                }
            })?;
            let info = TokenizerInfo::HfJson {
                path: file.display().to_string(),
                vocab_size: t.get_vocab_size(true) as u64,
            };
            (t, info)
        } else {
            let g = load_gguf_tokenizer(path).map_err(|message| ModelError::File {
                path: path.to_path_buf(),
                message,
            })?;
            let info = TokenizerInfo::Gguf {
                path: path.display().to_string(),
                pre: g.pre.clone(),
                vocab_size: g.vocab_size,
            };
            (g.tokenizer, info)
        };
        ModelTokenizer::with_tags(tokenizer, info)
    }

    /// `tokenizer` with MEMENTO's tags matched whole where its vocabulary has them.
    fn with_tags(
        mut tokenizer: Tokenizer,
        info: TokenizerInfo,
    ) -> Result<ModelTokenizer, ModelError> {
        crate::tokenize::match_present_tags(&mut tokenizer)
            .map_err(|e| ModelError::Input(format!("tokenizer: {e}")))?;
        let vocab_size = tokenizer.get_vocab_size(true);
        Ok(ModelTokenizer {
            tokenizer,
            info,
            byte_of: byte_level_inverse(),
            vocab_size,
        })
    }

    /// From a `tokenizer.json` held in memory, recorded in traces as `name`.
    pub fn from_json(bytes: &[u8], name: &str) -> Result<ModelTokenizer, ModelError> {
        let tokenizer = Tokenizer::from_bytes(bytes)
            .map_err(|e| ModelError::Input(format!("{name}: not a valid tokenizer.json: {e}")))?;
        let info = TokenizerInfo::Model {
            name: name.to_string(),
            vocab_size: tokenizer.get_vocab_size(true) as u64,
        };
        ModelTokenizer::with_tags(tokenizer, info)
    }

    /// Add each of `words` as one ordinary token (ids after the vocabulary's), for a decoder
    /// without weights that writes whole words; returns their ids in order. A model's own
    /// tokenizer never gets words added: its embedding has no rows for them.
    pub fn add_words(&mut self, words: &[&str]) -> Result<Vec<u32>, ModelError> {
        let added: Vec<tokenizers::AddedToken> = words
            .iter()
            .map(|w| tokenizers::AddedToken::from(w.to_string(), false))
            .collect();
        self.tokenizer
            .add_tokens(added)
            .map_err(|e| ModelError::Input(format!("adding words to the tokenizer: {e}")))?;
        self.vocab_size = self.tokenizer.get_vocab_size(true);
        if let TokenizerInfo::Model { vocab_size, .. } = &mut self.info {
            *vocab_size = self.vocab_size as u64;
        }
        words
            .iter()
            .map(|w| match self.encode(w)?.as_slice() {
                [(_, id)] => Ok(*id),
                pieces => Err(ModelError::Input(format!(
                    "the word {w:?} is {} tokens after adding it, not one",
                    pieces.len()
                ))),
            })
            .collect()
    }

    pub fn info(&self) -> TokenizerInfo {
        self.info.clone()
    }

    pub fn vocab_size(&self) -> usize {
        self.vocab_size
    }

    /// Refuse a tokenizer whose ids the model cannot embed.
    pub fn check_against(&self, model_vocab: usize) -> Result<(), ModelError> {
        if self.vocab_size > model_vocab {
            return Err(ModelError::Input(format!(
                "the tokenizer does not match the model: it has {} tokens but the model's \
                 embedding has {model_vocab} rows",
                self.vocab_size
            )));
        }
        Ok(())
    }

    /// `text` as (piece, id) pairs whose pieces concatenate to `text`.
    pub fn encode(&self, text: &str) -> Result<Vec<(String, u32)>, ModelError> {
        crate::tokenize::hf_pieces(&self.tokenizer, text)
            .map_err(|e| ModelError::Input(format!("tokenizing failed: {e}")))
    }

    /// `text` as [`ModelTokenizer::encode`] cuts it, where only the byte ranges `tags` (each
    /// one whole tag) are structure: no added or special token is matched anywhere else.
    pub fn encode_placed(
        &self,
        text: &str,
        tags: &[std::ops::Range<usize>],
    ) -> Result<Vec<(String, u32)>, ModelError> {
        crate::tokenize::hf_pieces_placed(&self.tokenizer, text, tags)
            .map_err(|e| ModelError::Input(format!("tokenizing failed: {e}")))
    }

    /// The id of `text` when the vocabulary holds it as one token.
    pub fn single_token(&self, text: &str) -> Option<u32> {
        self.tokenizer.token_to_id(text)
    }

    /// Whether every MEMENTO tag is one token of this vocabulary.
    pub fn has_memento_tags(&self) -> bool {
        Tag::ALL
            .iter()
            .all(|t| self.single_token(t.text()).is_some())
    }

    /// Whether token `id` is a special token (dropped from text by `skip_special_tokens`).
    pub fn is_special(&self, id: u32) -> bool {
        self.tokenizer
            .id_to_token(id)
            .is_some_and(|t| self.tokenizer.get_added_vocabulary().is_special_token(&t))
    }

    /// Whether token `id` was added to the vocabulary (special or not): Hugging Face's
    /// detokenizer puts a space around these when `spaces_between_special_tokens` is on.
    pub fn is_added(&self, id: u32) -> bool {
        self.tokenizer.id_to_token(id).is_some_and(|t| {
            self.tokenizer
                .get_added_vocabulary()
                .get_vocab()
                .contains_key(&t)
        })
    }

    /// The raw bytes token `id` stands for.
    pub fn token_bytes(&self, id: u32) -> Vec<u8> {
        let Some(tok) = self.tokenizer.id_to_token(id) else {
            return Vec::new();
        };
        if self.tokenizer.get_added_vocabulary().is_special_token(&tok)
            || self
                .tokenizer
                .get_added_vocabulary()
                .get_vocab()
                .contains_key(&tok)
        {
            return tok.into_bytes();
        }
        let mapped: Option<Vec<u8>> = tok.chars().map(|c| self.byte_of.get(&c).copied()).collect();
        mapped.unwrap_or_else(|| tok.into_bytes())
    }
}

/// Turns a stream of token bytes into text, holding back an incomplete UTF-8 sequence.
#[derive(Debug, Default)]
pub struct Utf8Stream {
    pending: Vec<u8>,
}

impl Utf8Stream {
    pub fn push(&mut self, bytes: &[u8]) -> String {
        self.pending.extend_from_slice(bytes);
        match std::str::from_utf8(&self.pending) {
            Ok(s) => {
                let out = s.to_string();
                self.pending.clear();
                out
            }
            Err(e) if e.error_len().is_none() => {
                // An incomplete sequence at the end: emit what is whole, keep the rest.
                let whole = e.valid_up_to();
                let out = String::from_utf8_lossy(&self.pending[..whole]).into_owned();
                self.pending.drain(..whole);
                out
            }
            Err(_) => {
                let out = String::from_utf8_lossy(&self.pending).into_owned();
                self.pending.clear();
                out
            }
        }
    }
}

/// GPT-2's table mapping each byte to a printable char, inverted.
fn byte_level_inverse() -> HashMap<char, u8> {
    let mut printable: Vec<u32> = (b'!' as u32..=b'~' as u32)
        .chain(0xA1..=0xAC)
        .chain(0xAE..=0xFF)
        .collect();
    let mut chars = printable.clone();
    let mut extra = 0;
    for b in 0..256u32 {
        if !printable.contains(&b) {
            printable.push(b);
            chars.push(256 + extra);
            extra += 1;
        }
    }
    printable
        .iter()
        .zip(chars)
        .filter_map(|(&b, c)| char::from_u32(c).map(|c| (c, b as u8)))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn byte_level_table_covers_every_byte() {
        let t = byte_level_inverse();
        assert_eq!(t.len(), 256);
        assert_eq!(t[&'Ġ'], b' ');
        assert_eq!(t[&'Ċ'], b'\n');
        assert_eq!(t[&'a'], b'a');
    }

    #[test]
    fn utf8_stream_holds_partial_characters() {
        let mut s = Utf8Stream::default();
        let e = "é".as_bytes();
        assert_eq!(s.push(&e[..1]), "");
        assert_eq!(s.push(&e[1..]), "é");
    }
}
