//! Shared test helpers: tiny random models written as real safetensors directories.
#![allow(dead_code)]

use std::collections::HashMap;
use std::path::Path;

use candle_core::{Device, Tensor};
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

/// max |a − b| / max |b|: the error relative to the logits' scale.
pub fn max_rel_err(ours: &[f32], oracle: &[f32]) -> f32 {
    let scale = oracle.iter().fold(0f32, |m, x| m.max(x.abs()));
    let diff = ours
        .iter()
        .zip(oracle)
        .fold(0f32, |m, (a, b)| m.max((a - b).abs()));
    diff / scale
}
