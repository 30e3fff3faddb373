//! A tiny Llama-family GGUF written as a real file: f32 tensors, so no quantization rounds
//! the activations and two computations of the same model can be held to f32 rounding.

use std::path::Path;

use candle_core::quantized::gguf_file::{self, Value};
use candle_core::quantized::{GgmlDType, QTensor};
use candle_core::{Device, Tensor};
use rand::{Rng, SeedableRng};

pub fn rng_tensor(
    rng: &mut rand_chacha::ChaCha8Rng,
    dims: &[usize],
    scale: f32,
    offset: f32,
) -> Tensor {
    let n: usize = dims.iter().product();
    let v: Vec<f32> = (0..n)
        .map(|_| offset + rng.random_range(-scale..scale))
        .collect();
    Tensor::from_vec(v, dims, &Device::Cpu).unwrap()
}

/// A tiny Llama GGUF (1 layer, hidden 32, 4 heads of 8, 2 KV heads, vocab 64), with extra
/// metadata `md` and extra tensors `more`, minus the metadata keys in `drop`.
pub fn write_gguf(
    path: &Path,
    arch: &str,
    md: Vec<(String, Value)>,
    more: Vec<(String, Tensor)>,
    drop: &[&str],
) {
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(7);
    let tokens = Value::Array((0..64).map(|i| Value::String(format!("t{i}"))).collect());
    let key = |k: &str| format!("{arch}.{k}");
    let mut meta: Vec<(String, Value)> = vec![
        ("general.architecture".into(), Value::String(arch.into())),
        (key("block_count"), Value::U32(1)),
        (key("embedding_length"), Value::U32(32)),
        (key("feed_forward_length"), Value::U32(64)),
        (key("attention.head_count"), Value::U32(4)),
        (key("attention.head_count_kv"), Value::U32(2)),
        (key("context_length"), Value::U32(4096)),
        (key("rope.freq_base"), Value::F32(10_000.0)),
        (key("attention.layer_norm_rms_epsilon"), Value::F32(1e-5)),
        ("tokenizer.ggml.model".into(), Value::String("gpt2".into())),
        ("tokenizer.ggml.tokens".into(), tokens),
    ];
    meta.retain(|(k, _)| !drop.contains(&k.as_str()));
    for (k, v) in md {
        meta.retain(|(old, _)| *old != k);
        meta.push((k, v));
    }
    let mut tensors: Vec<(String, Tensor)> = vec![
        (
            "token_embd.weight".into(),
            rng_tensor(&mut rng, &[64, 32], 1.0, 0.0),
        ),
        (
            "blk.0.attn_norm.weight".into(),
            rng_tensor(&mut rng, &[32], 0.2, 1.0),
        ),
        (
            "blk.0.attn_q.weight".into(),
            rng_tensor(&mut rng, &[32, 32], 0.4, 0.0),
        ),
        (
            "blk.0.attn_k.weight".into(),
            rng_tensor(&mut rng, &[16, 32], 0.4, 0.0),
        ),
        (
            "blk.0.attn_v.weight".into(),
            rng_tensor(&mut rng, &[16, 32], 0.4, 0.0),
        ),
        (
            "blk.0.attn_output.weight".into(),
            rng_tensor(&mut rng, &[32, 32], 0.4, 0.0),
        ),
        (
            "blk.0.ffn_norm.weight".into(),
            rng_tensor(&mut rng, &[32], 0.2, 1.0),
        ),
        (
            "blk.0.ffn_gate.weight".into(),
            rng_tensor(&mut rng, &[64, 32], 0.4, 0.0),
        ),
        (
            "blk.0.ffn_up.weight".into(),
            rng_tensor(&mut rng, &[64, 32], 0.4, 0.0),
        ),
        (
            "blk.0.ffn_down.weight".into(),
            rng_tensor(&mut rng, &[32, 64], 0.4, 0.0),
        ),
        (
            "output_norm.weight".into(),
            rng_tensor(&mut rng, &[32], 0.2, 1.0),
        ),
    ];
    if arch == "qwen3" {
        tensors.push((
            "blk.0.attn_q_norm.weight".into(),
            rng_tensor(&mut rng, &[8], 0.2, 1.0),
        ));
        tensors.push((
            "blk.0.attn_k_norm.weight".into(),
            rng_tensor(&mut rng, &[8], 0.2, 1.0),
        ));
    }
    tensors.extend(more);
    let q: Vec<(String, QTensor)> = tensors
        .into_iter()
        .map(|(n, t)| (n, QTensor::quantize(&t, GgmlDType::F32).unwrap()))
        .collect();
    let md_refs: Vec<(&str, &Value)> = meta.iter().map(|(k, v)| (k.as_str(), v)).collect();
    let t_refs: Vec<(&str, &QTensor)> = q.iter().map(|(k, v)| (k.as_str(), v)).collect();
    let mut f = std::fs::File::create(path).unwrap();
    gguf_file::write(&mut f, &md_refs, &t_refs).unwrap();
}
