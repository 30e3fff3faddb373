//! Shared test helpers: tiny random models written as real safetensors directories.
#![allow(dead_code)]

pub mod batch;
pub mod gguf;

use std::collections::HashMap;
use std::path::Path;

use candle_core::{Device, Tensor};
use memento::model::{Model, ModelTokenizer};
use rand::{Rng, SeedableRng};

pub struct TinyShape {
    pub arch: &'static str,
    pub hidden: usize,
    pub layers: usize,
    pub heads: usize,
    pub kv_heads: usize,
    pub head_dim: usize,
    pub ffn: usize,
    pub vocab: usize,
}

pub const TINY_QWEN3: TinyShape = TinyShape {
    arch: "qwen3",
    hidden: 64,
    layers: 2,
    heads: 4,
    kv_heads: 2,
    head_dim: 32,
    ffn: 96,
    vocab: 300,
};

pub fn config_json(s: &TinyShape) -> serde_json::Value {
    serde_json::json!({
        "architectures": [format!("{}ForCausalLM", if s.arch == "qwen3" { "Qwen3" } else { "Qwen2" })],
        "model_type": s.arch,
        "vocab_size": s.vocab,
        "hidden_size": s.hidden,
        "intermediate_size": s.ffn,
        "num_hidden_layers": s.layers,
        "num_attention_heads": s.heads,
        "num_key_value_heads": s.kv_heads,
        "head_dim": s.head_dim,
        "attention_bias": false,
        "max_position_embeddings": 512,
        "sliding_window": null,
        "max_window_layers": s.layers,
        "use_sliding_window": false,
        "tie_word_embeddings": false,
        "rope_theta": 10000.0,
        "rms_norm_eps": 1e-6,
        "hidden_act": "silu",
        "bos_token_id": 256,
        "eos_token_id": 257,
        "torch_dtype": "float32"
    })
}

/// Write `config.json` and `model.safetensors` with weights drawn from `seed`.
pub fn write_tiny_model(dir: &Path, s: &TinyShape, seed: u64) {
    std::fs::create_dir_all(dir).unwrap();
    std::fs::write(
        dir.join("config.json"),
        serde_json::to_string_pretty(&config_json(s)).unwrap(),
    )
    .unwrap();
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
    let mut t = |dims: &[usize], scale: f32| {
        let n: usize = dims.iter().product();
        let v: Vec<f32> = (0..n).map(|_| rng.random_range(-scale..scale)).collect();
        Tensor::from_vec(v, dims, &Device::Cpu).unwrap()
    };
    let mut w: HashMap<String, Tensor> = HashMap::new();
    let (h, d) = (s.hidden, s.head_dim);
    w.insert("model.embed_tokens.weight".into(), t(&[s.vocab, h], 1.0));
    for i in 0..s.layers {
        let p = format!("model.layers.{i}");
        w.insert(
            format!("{p}.input_layernorm.weight"),
            t(&[h], 1.0).affine(0.5, 1.0).unwrap(),
        );
        w.insert(
            format!("{p}.post_attention_layernorm.weight"),
            t(&[h], 1.0).affine(0.5, 1.0).unwrap(),
        );
        w.insert(
            format!("{p}.self_attn.q_proj.weight"),
            t(&[s.heads * d, h], 0.3),
        );
        w.insert(
            format!("{p}.self_attn.k_proj.weight"),
            t(&[s.kv_heads * d, h], 0.3),
        );
        w.insert(
            format!("{p}.self_attn.v_proj.weight"),
            t(&[s.kv_heads * d, h], 0.3),
        );
        w.insert(
            format!("{p}.self_attn.o_proj.weight"),
            t(&[h, s.heads * d], 0.3),
        );
        // Qwen2 always has Q, K and V biases (transformers' modeling_qwen2.py).
        if s.arch == "qwen2" {
            w.insert(format!("{p}.self_attn.q_proj.bias"), t(&[s.heads * d], 0.3));
            w.insert(
                format!("{p}.self_attn.k_proj.bias"),
                t(&[s.kv_heads * d], 0.3),
            );
            w.insert(
                format!("{p}.self_attn.v_proj.bias"),
                t(&[s.kv_heads * d], 0.3),
            );
        }
        if s.arch == "qwen3" {
            w.insert(
                format!("{p}.self_attn.q_norm.weight"),
                t(&[d], 1.0).affine(0.5, 1.0).unwrap(),
            );
            w.insert(
                format!("{p}.self_attn.k_norm.weight"),
                t(&[d], 1.0).affine(0.5, 1.0).unwrap(),
            );
        }
        w.insert(format!("{p}.mlp.gate_proj.weight"), t(&[s.ffn, h], 0.3));
        w.insert(format!("{p}.mlp.up_proj.weight"), t(&[s.ffn, h], 0.3));
        w.insert(format!("{p}.mlp.down_proj.weight"), t(&[h, s.ffn], 0.3));
    }
    w.insert(
        "model.norm.weight".into(),
        t(&[h], 1.0).affine(0.5, 1.0).unwrap(),
    );
    w.insert("lm_head.weight".into(), t(&[s.vocab, h], 0.3));
    candle_core::safetensors::save(&w, dir.join("model.safetensors")).unwrap();
}

/// A tiny random Qwen3 and its byte-level tokenizer, written to a temporary folder (kept as
/// long as the returned guard) and loaded.
pub fn tiny_model(seed: u64) -> (tempfile::TempDir, Model, ModelTokenizer) {
    let dir = tempfile::tempdir().unwrap();
    write_tiny_model(dir.path(), &TINY_QWEN3, seed);
    write_tiny_tokenizer(dir.path());
    let model = Model::load(dir.path()).unwrap();
    let tok = ModelTokenizer::load(dir.path()).unwrap();
    (dir, model, tok)
}

/// max |a − b| / max |b|: the error relative to the logits' scale.
pub fn max_rel_err(ours: &[f32], oracle: &[f32]) -> f32 {
    let scale = oracle.iter().fold(0f32, |m, x| m.max(x.abs()));
    let diff = ours
        .iter()
        .zip(oracle)
        .fold(0f32, |m, (a, b)| m.max((a - b).abs()));
    diff / scale
}

/// A byte-level tokenizer for the tiny models: the 256 bytes as ids 0–255, then ChatML,
/// `<think>` and the four MEMENTO tags as special tokens (ids 256–263).
pub fn write_tiny_tokenizer(dir: &Path) {
    use tokenizers::decoders::byte_level::ByteLevel as ByteLevelDecoder;
    use tokenizers::models::bpe::BPE;
    use tokenizers::pre_tokenizers::byte_level::ByteLevel;
    use tokenizers::{AddedToken, Tokenizer};
    let alphabet = ByteLevel::alphabet();
    let mut chars: Vec<char> = alphabet.into_iter().collect();
    chars.sort_by_key(|c| byte_of(*c));
    let vocab: ahash::AHashMap<String, u32> = chars
        .iter()
        .map(|c| (c.to_string(), byte_of(*c) as u32))
        .collect();
    let bpe = BPE::builder()
        .vocab_and_merges(vocab, vec![])
        .build()
        .unwrap();
    let mut t = Tokenizer::new(bpe);
    t.with_pre_tokenizer(Some(ByteLevel::new(false, false, false)));
    t.with_decoder(Some(ByteLevelDecoder::default()));
    let specials = [
        "<|im_start|>",
        "<|im_end|>",
        "<think>",
        "</think>",
        "<|block_start|>",
        "<|block_end|>",
        "<|summary_start|>",
        "<|summary_end|>",
    ];
    t.add_special_tokens(specials.map(|s| AddedToken::from(s, true)))
        .unwrap();
    t.save(dir.join("tokenizer.json"), false).unwrap();
}

/// GPT-2's byte ↔ char table, byte side.
fn byte_of(c: char) -> u8 {
    let printable =
        |b: u32| (33..=126).contains(&b) || (161..=172).contains(&b) || (174..=255).contains(&b);
    let c = c as u32;
    if c < 256 && printable(c) {
        return c as u8;
    }
    let mut extra = 256;
    for b in 0..256u32 {
        if !printable(b) {
            if extra == c {
                return b as u8;
            }
            extra += 1;
        }
    }
    unreachable!("not a byte-level char: {c}")
}
