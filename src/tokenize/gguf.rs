//! Rebuild a byte-level BPE tokenizer from a GGUF file's metadata, with the pre-tokenizer the
//! file names in `tokenizer.ggml.pre` (the same split rules llama.cpp applies).

use std::collections::HashMap;
use std::path::Path;

use candle_core::quantized::gguf_file::{Content, Value};
use tokenizers::decoders::byte_level::ByteLevel as ByteLevelDecoder;
use tokenizers::models::bpe::BPE;
use tokenizers::pre_tokenizers::byte_level::ByteLevel;
use tokenizers::pre_tokenizers::digits::Digits;
use tokenizers::pre_tokenizers::sequence::Sequence;
use tokenizers::pre_tokenizers::split::{Split, SplitPattern};
use tokenizers::{AddedToken, PreTokenizerWrapper, SplitDelimiterBehavior, Tokenizer};

/// llama.cpp token types (`tokenizer.ggml.token_type`).
const TOKEN_TYPE_CONTROL: i32 = 3;
const TOKEN_TYPE_USER_DEFINED: i32 = 4;

/// The GPT-4-style split used by Llama 3 (`llama-bpe`, `llama3`): digits in groups of 3.
const LLAMA3_SPLIT: &str = r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+";
/// Qwen2 and Qwen3 (`qwen2`): the same, but every digit alone.
const QWEN2_SPLIT: &str = r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+";

/// Pre-tokenizers this build can rebuild.
pub const SUPPORTED_PRE: &[&str] = &["smollm", "llama-bpe", "llama3", "qwen2", "gpt2", "default"];

#[derive(Debug, Clone)]
pub struct GgufTokenizer {
    pub tokenizer: Tokenizer,
    pub pre: String,
    pub vocab_size: u64,
    pub bos: Option<u32>,
    pub eos: Option<u32>,
}

pub fn load_gguf_tokenizer(path: &Path) -> Result<GgufTokenizer, String> {
    let mut file = std::fs::File::open(path).map_err(|e| e.to_string())?;
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
    let pre = match md.get("tokenizer.ggml.pre") {
        Some(v) => v
            .to_string()
            .map_err(|e| format!("metadata `tokenizer.ggml.pre`: {}", candle_message(&e)))?
            .clone(),
        None => "default".to_string(),
    };
    let pre_tokenizer = pre_tokenizer_for(&pre)?;

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

fn pre_tokenizer_for(pre: &str) -> Result<PreTokenizerWrapper, String> {
    let byte_level_plain = || PreTokenizerWrapper::ByteLevel(ByteLevel::new(false, false, false));
    let split = |pattern: &str| -> Result<PreTokenizerWrapper, String> {
        let split = Split::new(
            SplitPattern::Regex(pattern.to_string()),
            SplitDelimiterBehavior::Isolated,
            false,
        )
        .map_err(|e| e.to_string())?;
        Ok(PreTokenizerWrapper::Split(split))
    };
    Ok(match pre {
        // Digits one by one, then the GPT-2 split with byte-level mapping.
        "smollm" => PreTokenizerWrapper::Sequence(Sequence::new(vec![
            PreTokenizerWrapper::Digits(Digits::new(true)),
            PreTokenizerWrapper::ByteLevel(ByteLevel::new(false, false, true)),
        ])),
        "llama-bpe" | "llama3" => PreTokenizerWrapper::Sequence(Sequence::new(vec![
            split(LLAMA3_SPLIT)?,
            byte_level_plain(),
        ])),
        "qwen2" => PreTokenizerWrapper::Sequence(Sequence::new(vec![
            split(QWEN2_SPLIT)?,
            byte_level_plain(),
        ])),
        "gpt2" | "default" => PreTokenizerWrapper::ByteLevel(ByteLevel::new(false, false, true)),
        other => {
            return Err(format!(
                "metadata `tokenizer.ggml.pre` is \"{other}\", which this build cannot rebuild; supported: {}",
                SUPPORTED_PRE.join(", ")
            ));
        }
    })
}

/// candle appends a backtrace to its messages when RUST_BACKTRACE is set; keep the message.
fn candle_message(e: &candle_core::Error) -> String {
    e.to_string().lines().next().unwrap_or_default().to_string()
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
