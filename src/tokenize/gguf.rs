//! Rebuild a byte-level BPE tokenizer from a GGUF file's metadata, with the pre-tokenizer the
//! file names in `tokenizer.ggml.pre` (the same split rules llama.cpp applies).

use std::collections::HashMap;
use std::path::Path;

use candle_core::quantized::gguf_file::{Content, Value};
use tokenizers::decoders::byte_level::ByteLevel as ByteLevelDecoder;
use tokenizers::models::bpe::BPE;
use tokenizers::{AddedToken, Tokenizer};

use super::pre_split::PreSplit;
use crate::model::candle_message;

/// llama.cpp token types (`tokenizer.ggml.token_type`).
const TOKEN_TYPE_CONTROL: i32 = 3;
const TOKEN_TYPE_USER_DEFINED: i32 = 4;

#[derive(Debug, Clone)]
pub struct GgufTokenizer {
    pub tokenizer: Tokenizer,
    pub pre: String,
    pub vocab_size: u64,
    pub bos: Option<u32>,
    pub eos: Option<u32>,
}

pub fn load_gguf_tokenizer(path: &Path) -> Result<GgufTokenizer, String> {
    let mut file = crate::textfile::open_regular(path).map_err(|e| e.to_string())?;
    let content = Content::read(&mut file)
        .map_err(|e| format!("not a readable GGUF file: {}", candle_message(&e)))?;
    from_metadata(&content.metadata)
}

pub fn from_metadata(md: &HashMap<String, Value>) -> Result<GgufTokenizer, String> {
    let model = string(md, "tokenizer.ggml.model")?;
    if model != "gpt2" {
        return Err(format!(
            "metadata `tokenizer.ggml.model` is \"{model}\"; only byte-level BPE (\"gpt2\") tokenizers can be rebuilt"
        ));
    }
    // Missing or empty: llama.cpp falls back to its default split (with a warning).
    let pre = match md.get("tokenizer.ggml.pre") {
        Some(v) => v
            .to_string()
            .map_err(|e| format!("metadata `tokenizer.ggml.pre`: {}", candle_message(&e)))?
            .clone(),
        None => String::new(),
    };
    let pre = if pre.is_empty() {
        "default".to_string()
    } else {
        pre
    };
    let split = PreSplit::lookup(&pre)?;
    let pre_tokenizer = split.pre_tokenizer()?;

    let tokens = array(md, "tokenizer.ggml.tokens")?;
    let mut vocab = ahash::AHashMap::with_capacity(tokens.len());
    let mut texts = Vec::with_capacity(tokens.len());
    for (id, t) in tokens.iter().enumerate() {
        let text = t.to_string().map_err(|e| {
            format!(
                "metadata `tokenizer.ggml.tokens[{id}]`: {}",
                candle_message(&e)
            )
        })?;
        vocab.insert(text.clone(), id as u32);
        texts.push(text.clone());
    }
    let merges = array(md, "tokenizer.ggml.merges")?
        .iter()
        .enumerate()
        .map(|(i, m)| {
            let m = m.to_string().map_err(|e| format!("metadata `tokenizer.ggml.merges[{i}]`: {}", candle_message(&e)))?;
            m.split_once(' ')
                .map(|(a, b)| (a.to_string(), b.to_string()))
                .ok_or_else(|| format!("metadata `tokenizer.ggml.merges[{i}]`: expected two tokens separated by a space, found {m:?}"))
        })
        .collect::<Result<Vec<_>, _>>()?;
    let types: Vec<i32> = match md.get("tokenizer.ggml.token_type") {
        Some(v) => v
            .to_vec()
            .map_err(|e| {
                format!(
                    "metadata `tokenizer.ggml.token_type`: {}",
                    candle_message(&e)
                )
            })?
            .iter()
            .map(|t| t.to_i32().unwrap_or(1))
            .collect(),
        None => Vec::new(),
    };

    let bpe = BPE::builder()
        .vocab_and_merges(vocab, merges)
        .ignore_merges(split.ignore_merges)
        .build()
        .map_err(|e| format!("cannot build the BPE model from the GGUF vocabulary: {e}"))?;
    let mut tokenizer = Tokenizer::new(bpe);
    tokenizer.with_pre_tokenizer(Some(pre_tokenizer));
    tokenizer.with_decoder(Some(ByteLevelDecoder::default()));
    let specials: Vec<AddedToken> = types
        .iter()
        .enumerate()
        .filter(|(_, t)| **t == TOKEN_TYPE_CONTROL || **t == TOKEN_TYPE_USER_DEFINED)
        .filter_map(|(id, _)| texts.get(id))
        .map(|text| AddedToken::from(text.clone(), true))
        .collect();
    tokenizer
        .add_special_tokens(specials)
        .map_err(|e| e.to_string())?;

    let id = |key: &str| md.get(key).and_then(|v| v.to_u32().ok());
    Ok(GgufTokenizer {
        tokenizer,
        pre,
        vocab_size: texts.len() as u64,
        bos: id("tokenizer.ggml.bos_token_id"),
        eos: id("tokenizer.ggml.eos_token_id"),
    })
}

fn string<'a>(md: &'a HashMap<String, Value>, key: &str) -> Result<&'a String, String> {
    md.get(key)
        .ok_or_else(|| format!("metadata `{key}` is missing"))?
        .to_string()
        .map_err(|e| format!("metadata `{key}`: {}", candle_message(&e)))
}

fn array<'a>(md: &'a HashMap<String, Value>, key: &str) -> Result<&'a Vec<Value>, String> {
    md.get(key)
        .ok_or_else(|| format!("metadata `{key}` is missing"))?
        .to_vec()
        .map_err(|e| format!("metadata `{key}`: {}", candle_message(&e)))
}
