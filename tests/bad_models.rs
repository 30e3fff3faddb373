//! Bad model files and prompts, each a one-line error naming the file and what is wrong, a
//! non-zero exit and no panic. Run through the real binary.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use candle_core::quantized::gguf_file::{self, Value};
use candle_core::quantized::{GgmlDType, QTensor};
use candle_core::{Device, Tensor};

const BIN: &str = env!("CARGO_BIN_EXE_memento");

/// Run `memento generate` on `model` and return its single stderr line.
fn fails(what: &str, model: &Path, prompt: &str) -> String {
    let trace = tempfile::NamedTempFile::new().unwrap();
    let out = Command::new(BIN)
        .args(["generate", "--max-tokens", "2", "--model"])
        .arg(model)
        .arg("--trace")
        .arg(trace.path())
        .arg(prompt)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr).to_string();
    assert_eq!(out.status.code(), Some(1), "{what}: {stderr}");
    assert!(!stderr.contains("panicked"), "{what}: {stderr}");
    let lines: Vec<&str> = stderr.lines().collect();
    assert_eq!(lines.len(), 1, "{what}: expected one line\n{stderr}");
    lines[0].to_string()
}

/// A tiny Llama GGUF: 1 layer, 32 wide, 64-token vocabulary, f32 tensors; `skip` leaves one
/// tensor out.
fn write_tiny_gguf(path: &Path, skip: Option<&str>) {
    let tokens = Value::Array((0..64).map(|i| Value::String(format!("t{i}"))).collect());
    let md: Vec<(&str, Value)> = vec![
        ("general.architecture", Value::String("llama".into())),
        ("llama.block_count", Value::U32(1)),
        ("llama.embedding_length", Value::U32(32)),
        ("llama.feed_forward_length", Value::U32(64)),
        ("llama.attention.head_count", Value::U32(4)),
        ("llama.attention.head_count_kv", Value::U32(2)),
        ("llama.context_length", Value::U32(64)),
        ("llama.attention.layer_norm_rms_epsilon", Value::F32(1e-5)),
        ("tokenizer.ggml.model", Value::String("gpt2".into())),
        ("tokenizer.ggml.tokens", tokens),
    ];
    let t = |dims: &[usize]| {
        let n: usize = dims.iter().product();
        let v: Vec<f32> = (0..n).map(|i| (i % 7) as f32 * 0.01).collect();
        QTensor::quantize(
            &Tensor::from_vec(v, dims, &Device::Cpu).unwrap(),
            GgmlDType::F32,
        )
        .unwrap()
    };
    let shapes: Vec<(&str, Vec<usize>)> = vec![
        ("token_embd.weight", vec![64, 32]),
        ("blk.0.attn_norm.weight", vec![32]),
        ("blk.0.attn_q.weight", vec![32, 32]),
        ("blk.0.attn_k.weight", vec![16, 32]),
        ("blk.0.attn_v.weight", vec![16, 32]),
        ("blk.0.attn_output.weight", vec![32, 32]),
        ("blk.0.ffn_norm.weight", vec![32]),
        ("blk.0.ffn_gate.weight", vec![64, 32]),
        ("blk.0.ffn_up.weight", vec![64, 32]),
        ("blk.0.ffn_down.weight", vec![32, 64]),
        ("output_norm.weight", vec![32]),
    ];
    let tensors: Vec<(&str, QTensor)> = shapes
        .iter()
        .filter(|(name, _)| Some(*name) != skip)
        .map(|(name, dims)| (*name, t(dims)))
        .collect();
    let md_refs: Vec<(&str, &Value)> = md.iter().map(|(k, v)| (*k, v)).collect();
    let t_refs: Vec<(&str, &QTensor)> = tensors.iter().map(|(k, v)| (*k, v)).collect();
    let mut f = std::fs::File::create(path).unwrap();
    gguf_file::write(&mut f, &md_refs, &t_refs).unwrap();
}

fn tmp(dir: &Path, name: &str) -> PathBuf {
    dir.join(name)
}

#[test]
fn bad_model_files_get_clear_errors() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();

    let good = tmp(d, "tiny.gguf");
    write_tiny_gguf(&good, None);
    let bytes = std::fs::read(&good).unwrap();

    let truncated = tmp(d, "truncated.gguf");
    std::fs::write(&truncated, &bytes[..bytes.len() - 100]).unwrap();
    let line = fails("truncated GGUF", &truncated, "hi");
    assert!(
        line.contains("truncated.gguf") && line.contains("truncated"),
        "{line}"
    );

    let header_only = tmp(d, "header.gguf");
    std::fs::write(&header_only, &bytes[..40]).unwrap();
    let line = fails("truncated header", &header_only, "hi");
    assert!(
        line.contains("header.gguf") && line.contains("truncated"),
        "{line}"
    );

    let magic = tmp(d, "magic.gguf");
    let mut b = bytes.clone();
    b[..4].copy_from_slice(b"GGML");
    std::fs::write(&magic, &b).unwrap();
    let line = fails("wrong magic", &magic, "hi");
    assert!(
        line.contains("magic.gguf") && line.contains("bad magic"),
        "{line}"
    );

    let missing = tmp(d, "missing.gguf");
    write_tiny_gguf(&missing, Some("blk.0.ffn_up.weight"));
    let line = fails("missing tensor", &missing, "hi");
    assert!(
        line.contains("missing.gguf")
            && line.contains("blk.0.ffn_up.weight")
            && line.contains("missing"),
        "{line}"
    );

    // The tensor-info record of `output_norm.weight`: name, n_dims (u32), dims (u64 each),
    // then the ggml type (u32), which we set to an id no GGUF reader knows.
    let quant = tmp(d, "quant.gguf");
    let mut b = bytes.clone();
    let name = b"output_norm.weight";
    let at = b.windows(name.len()).position(|w| w == name).unwrap() + name.len();
    let n_dims = u32::from_le_bytes(b[at..at + 4].try_into().unwrap()) as usize;
    let type_at = at + 4 + 8 * n_dims;
    b[type_at..type_at + 4].copy_from_slice(&99u32.to_le_bytes());
    std::fs::write(&quant, &b).unwrap();
    let line = fails("unsupported quant type", &quant, "hi");
    assert!(
        line.contains("quant.gguf")
            && line.contains("output_norm.weight")
            && line.contains("type 99")
            && line.contains("cannot read"),
        "{line}"
    );

    let hf = d.join("no-fields");
    common::write_tiny_model(&hf, &common::TINY_QWEN3, 1);
    common::write_tiny_tokenizer(&hf);
    std::fs::write(
        hf.join("config.json"),
        r#"{"model_type": "qwen3", "hidden_size": 64}"#,
    )
    .unwrap();
    let line = fails("config.json with missing fields", &hf, "hi");
    assert!(
        line.contains("config.json") && line.contains("num_attention_heads"),
        "{line}"
    );

    let small_vocab = d.join("small-vocab");
    let shape = common::TinyShape {
        vocab: 200,
        ..common::TINY_QWEN3
    };
    common::write_tiny_model(&small_vocab, &shape, 1);
    common::write_tiny_tokenizer(&small_vocab);
    let line = fails("tokenizer that does not match", &small_vocab, "hi");
    assert!(
        line.contains("does not match") && line.contains("264") && line.contains("200"),
        "{line}"
    );

    let ok = d.join("ok");
    common::write_tiny_model(&ok, &common::TINY_QWEN3, 1);
    common::write_tiny_tokenizer(&ok);
    let long_prompt = "x".repeat(600);
    let line = fails("prompt beyond the context", &ok, &long_prompt);
    assert!(line.contains("beyond the model's context of 512"), "{line}");
}
