//! Model metadata that changes the computation is applied, or the model is refused by the
//! field: RoPE scaling (GGUF `rope_freqs`, `rope.scaling.*`; HF `rope_scaling` and
//! `rope_parameters`), biases, tied embeddings, norms, sliding windows, partial rotary, and
//! which files hold the weights. Each applied field is shown to change the logits (and, where
//! an exact equivalence exists, to equal it); each refused one names the field.

mod common;

use std::collections::HashMap;
use std::path::Path;

use candle_core::quantized::gguf_file::Value;
use candle_core::{Device, Tensor};
use common::gguf::{rng_tensor, write_gguf};
use memento::model::{LogitRows, Model};
use rand::SeedableRng;

// ---------------------------------------------------------------------------------------------
// Helpers: tiny models written as real files, and their logits.

/// Logits at every position of `ids`, placed at `positions`.
fn logits_at(model: &Model, ids: &[u32], positions: &[u64]) -> Vec<Vec<f32>> {
    let mut store = model.new_store();
    model
        .forward(&mut store, ids, positions, LogitRows::All)
        .unwrap()
}

fn logits(model: &Model, n: usize) -> Vec<Vec<f32>> {
    let ids: Vec<u32> = (0..n as u32).map(|i| (i * 7 + 3) % 60).collect();
    let positions: Vec<u64> = (0..n as u64).collect();
    logits_at(model, &ids, &positions)
}

fn max_diff(a: &[Vec<f32>], b: &[Vec<f32>]) -> f32 {
    a.iter()
        .flatten()
        .zip(b.iter().flatten())
        .fold(0f32, |m, (x, y)| m.max((x - y).abs()))
}

fn load_err(path: &Path) -> String {
    match Model::load(path) {
        Ok(_) => panic!("{} loaded, but should have been refused", path.display()),
        Err(e) => e.to_string(),
    }
}

fn factors(value: f32) -> Tensor {
    Tensor::from_vec(vec![value; 4], &[4], &Device::Cpu).unwrap()
}

fn md(key: &str, v: Value) -> Vec<(String, Value)> {
    vec![(key.to_string(), v)]
}

/// A tiny HF directory with `config.json` patched by `patch` (a JSON object merged over the
/// defaults; `null` removes a key) and tensors `extra` added, `skip` left out.
fn write_hf(
    dir: &Path,
    shape: &common::TinyShape,
    patch: serde_json::Value,
    extra: Vec<(String, Tensor)>,
    skip: &[&str],
) {
    common::write_tiny_model(dir, shape, 3);
    let mut config = common::config_json(shape);
    for (k, v) in patch.as_object().unwrap() {
        if v.is_null() {
            config.as_object_mut().unwrap().remove(k);
        } else {
            config[k] = v.clone();
        }
    }
    std::fs::write(dir.join("config.json"), config.to_string()).unwrap();
    let path = dir.join("model.safetensors");
    let mut tensors: HashMap<String, Tensor> = candle_core::safetensors::load(&path, &Device::Cpu)
        .unwrap()
        .into_iter()
        .filter(|(n, _)| !skip.contains(&n.as_str()))
        .collect();
    tensors.extend(extra);
    candle_core::safetensors::save(&tensors, &path).unwrap();
}

const QWEN3: common::TinyShape = common::TINY_QWEN3;

fn hf_logits(dir: &Path, n: usize) -> Vec<Vec<f32>> {
    logits(&Model::load(dir).unwrap(), n)
}

// ---------------------------------------------------------------------------------------------
// GGUF: RoPE frequency factors and scaling.

#[test]
fn gguf_rope_freqs_divide_each_frequency() {
    let dir = tempfile::tempdir().unwrap();
    let plain = dir.path().join("plain.gguf");
    let ones = dir.path().join("ones.gguf");
    let big = dir.path().join("big.gguf");
    write_gguf(&plain, "llama", vec![], vec![], &[]);
    write_gguf(
        &ones,
        "llama",
        vec![],
        vec![("rope_freqs.weight".into(), factors(1.0))],
        &[],
    );
    write_gguf(
        &big,
        "llama",
        vec![],
        vec![("rope_freqs.weight".into(), factors(1000.0))],
        &[],
    );
    let (a, b, c) = (
        logits(&Model::load(&plain).unwrap(), 12),
        logits(&Model::load(&ones).unwrap(), 12),
        logits(&Model::load(&big).unwrap(), 12),
    );
    assert_eq!(a, b, "factors of 1 change nothing");
    assert!(
        max_diff(&a, &c) > 1e-3,
        "factors of 1000 must change the logits"
    );
    // At position 0 every rotation is the identity, whatever the factors.
    assert_eq!(a[0], c[0]);
    // Dividing every frequency by 4 is linear scaling by 4.
    let quarter = dir.path().join("quarter.gguf");
    let linear = dir.path().join("linear.gguf");
    write_gguf(
        &quarter,
        "llama",
        vec![],
        vec![("rope_freqs.weight".into(), factors(4.0))],
        &[],
    );
    write_gguf(
        &linear,
        "llama",
        vec![
            (
                "llama.rope.scaling.type".into(),
                Value::String("linear".into()),
            ),
            ("llama.rope.scaling.factor".into(), Value::F32(4.0)),
        ],
        vec![],
        &[],
    );
    let (q, l) = (
        logits(&Model::load(&quarter).unwrap(), 12),
        logits(&Model::load(&linear).unwrap(), 12),
    );
    assert!(max_diff(&q, &l) < 1e-5, "{}", max_diff(&q, &l));
}

#[test]
fn gguf_linear_scaling_is_position_interpolation() {
    let dir = tempfile::tempdir().unwrap();
    let plain = dir.path().join("plain.gguf");
    let scaled = dir.path().join("scaled.gguf");
    let old_key = dir.path().join("old-key.gguf");
    write_gguf(&plain, "llama", vec![], vec![], &[]);
    // No type: llama.cpp reads a bare factor as linear.
    write_gguf(
        &scaled,
        "llama",
        md("llama.rope.scaling.factor", Value::F32(2.0)),
        vec![],
        &[],
    );
    write_gguf(
        &old_key,
        "llama",
        md("llama.rope.scale_linear", Value::F32(2.0)),
        vec![],
        &[],
    );
    let ids: Vec<u32> = (0..10).map(|i| (i * 5 + 1) % 60).collect();
    let even: Vec<u64> = (0..10).map(|i| 2 * i).collect();
    let unit: Vec<u64> = (0..10).collect();
    let a = logits_at(&Model::load(&scaled).unwrap(), &ids, &even);
    let b = logits_at(&Model::load(&plain).unwrap(), &ids, &unit);
    assert!(max_diff(&a, &b) < 1e-4, "{}", max_diff(&a, &b));
    let c = logits_at(&Model::load(&old_key).unwrap(), &ids, &even);
    assert_eq!(
        a, c,
        "rope.scale_linear is the older name of the same factor"
    );
    let d = logits_at(&Model::load(&plain).unwrap(), &ids, &even);
    assert!(max_diff(&a, &d) > 1e-3);
}

#[test]
fn gguf_yarn_is_applied_and_other_scalings_refused() {
    let dir = tempfile::tempdir().unwrap();
    let plain = dir.path().join("plain.gguf");
    let yarn = dir.path().join("yarn.gguf");
    write_gguf(&plain, "qwen3", vec![], vec![], &[]);
    write_gguf(
        &yarn,
        "qwen3",
        vec![
            (
                "qwen3.rope.scaling.type".into(),
                Value::String("yarn".into()),
            ),
            ("qwen3.rope.scaling.factor".into(), Value::F32(4.0)),
            (
                "qwen3.rope.scaling.original_context_length".into(),
                Value::U32(1024),
            ),
        ],
        vec![],
        &[],
    );
    let (a, b) = (
        logits(&Model::load(&plain).unwrap(), 12),
        logits(&Model::load(&yarn).unwrap(), 12),
    );
    assert!(max_diff(&a, &b) > 1e-3);
    let longrope = dir.path().join("longrope.gguf");
    write_gguf(
        &longrope,
        "qwen3",
        md("qwen3.rope.scaling.type", Value::String("longrope".into())),
        vec![],
        &[],
    );
    let err = load_err(&longrope);
    assert!(
        err.contains("qwen3.rope.scaling.type") && err.contains("longrope"),
        "{err}"
    );
    let attn = dir.path().join("attn.gguf");
    write_gguf(
        &attn,
        "qwen3",
        md("qwen3.rope.scaling.attn_factor", Value::F32(2.0)),
        vec![],
        &[],
    );
    let err = load_err(&attn);
    assert!(err.contains("qwen3.rope.scaling.attn_factor"), "{err}");
}

/// What is wrong, extra metadata, extra tensors, metadata keys removed, the field named.
type GgufCase = (
    &'static str,
    Vec<(String, Value)>,
    Vec<(String, Tensor)>,
    Vec<&'static str>,
    &'static str,
);

#[test]
fn gguf_fields_memento_does_not_apply_are_refused_by_name() {
    let dir = tempfile::tempdir().unwrap();
    let cases: Vec<GgufCase> = vec![
        (
            "partial rotary",
            md("llama.rope.dimension_count", Value::U32(4)),
            vec![],
            vec![],
            "llama.rope.dimension_count",
        ),
        (
            "value head size",
            md("llama.attention.value_length", Value::U32(16)),
            vec![],
            vec![],
            "llama.attention.value_length",
        ),
        (
            "experts",
            md("llama.expert_count", Value::U32(8)),
            vec![],
            vec![],
            "llama.expert_count",
        ),
        (
            "sliding window",
            md("llama.attention.sliding_window", Value::U32(128)),
            vec![],
            vec![],
            "llama.attention.sliding_window",
        ),
        (
            "no epsilon",
            vec![],
            vec![],
            vec!["llama.attention.layer_norm_rms_epsilon"],
            "llama.attention.layer_norm_rms_epsilon",
        ),
        (
            "negative epsilon",
            md("llama.attention.layer_norm_rms_epsilon", Value::F32(-1.0)),
            vec![],
            vec![],
            "rms_norm_eps",
        ),
        (
            "zero theta",
            md("llama.rope.freq_base", Value::F32(0.0)),
            vec![],
            vec![],
            "rope_theta",
        ),
        (
            "per-layer heads",
            md(
                "llama.attention.head_count",
                Value::Array(vec![Value::U32(4)]),
            ),
            vec![],
            vec![],
            "llama.attention.head_count",
        ),
        (
            "bad factors",
            vec![],
            vec![("rope_freqs.weight".into(), factors(-1.0))],
            vec![],
            "rope_freqs.weight",
        ),
        (
            "stray tensor",
            vec![],
            vec![(
                "blk.0.ffn_gate_inp.weight".into(),
                Tensor::zeros(&[8, 32], candle_core::DType::F32, &Device::Cpu).unwrap(),
            )],
            vec![],
            "blk.0.ffn_gate_inp.weight",
        ),
    ];
    for (what, meta, more, drop, needle) in cases {
        let path = dir.path().join(format!("{}.gguf", what.replace(' ', "-")));
        write_gguf(&path, "llama", meta, more, &drop);
        let err = load_err(&path);
        assert!(err.contains(needle), "{what}: {err}");
        assert!(
            err.contains(&path.display().to_string()),
            "{what}: names the file: {err}"
        );
    }
    // llama.cpp reads `rope_freqs` for Llama only; on a Qwen3 file it is a stray tensor.
    let qwen = dir.path().join("qwen-freqs.gguf");
    write_gguf(
        &qwen,
        "qwen3",
        vec![],
        vec![("rope_freqs.weight".into(), factors(2.0))],
        &[],
    );
    assert!(load_err(&qwen).contains("rope_freqs.weight"));
}

#[test]
fn an_unsupported_tensor_type_names_the_tensor_and_the_type() {
    let dir = tempfile::tempdir().unwrap();
    let good = dir.path().join("good.gguf");
    write_gguf(&good, "llama", vec![], vec![], &[]);
    let mut bytes = std::fs::read(&good).unwrap();
    let name = b"blk.0.ffn_down.weight";
    let at = bytes.windows(name.len()).position(|w| w == name).unwrap() + name.len();
    let n_dims = u32::from_le_bytes(bytes[at..at + 4].try_into().unwrap()) as usize;
    let type_at = at + 4 + 8 * n_dims;
    bytes[type_at..type_at + 4].copy_from_slice(&23u32.to_le_bytes());
    let bad = dir.path().join("iq4.gguf");
    std::fs::write(&bad, &bytes).unwrap();
    let err = load_err(&bad);
    assert!(
        err.contains("blk.0.ffn_down.weight") && err.contains("IQ4_XS"),
        "{err}"
    );
}

// ---------------------------------------------------------------------------------------------
// HF config.json: RoPE.

#[test]
fn hf_linear_scaling_is_position_interpolation() {
    let dir = tempfile::tempdir().unwrap();
    let (plain, scaled) = (dir.path().join("plain"), dir.path().join("scaled"));
    write_hf(&plain, &QWEN3, serde_json::json!({}), vec![], &[]);
    write_hf(
        &scaled,
        &QWEN3,
        serde_json::json!({"rope_scaling": {"rope_type": "linear", "factor": 2.0}}),
        vec![],
        &[],
    );
    let ids: Vec<u32> = (0..10).map(|i| (i * 5 + 1) % 250).collect();
    let even: Vec<u64> = (0..10).map(|i| 2 * i).collect();
    let unit: Vec<u64> = (0..10).collect();
    let a = logits_at(&Model::load(&scaled).unwrap(), &ids, &even);
    let b = logits_at(&Model::load(&plain).unwrap(), &ids, &unit);
    assert!(max_diff(&a, &b) < 1e-4, "{}", max_diff(&a, &b));
}

#[test]
fn hf_yarn_llama3_and_dynamic_change_the_logits_where_they_should() {
    let dir = tempfile::tempdir().unwrap();
    let plain = dir.path().join("plain");
    write_hf(&plain, &QWEN3, serde_json::json!({}), vec![], &[]);
    let base = hf_logits(&plain, 12);
    let cases = [
        (
            "yarn",
            serde_json::json!({"rope_scaling": {"rope_type": "yarn", "factor": 4.0, "original_max_position_embeddings": 128}}),
        ),
        (
            "llama3",
            serde_json::json!({"rope_scaling": {"rope_type": "llama3", "factor": 8.0, "low_freq_factor": 1.0, "high_freq_factor": 4.0, "original_max_position_embeddings": 64}}),
        ),
    ];
    for (name, patch) in cases {
        let d = dir.path().join(name);
        write_hf(&d, &QWEN3, patch, vec![], &[]);
        assert!(
            max_diff(&base, &hf_logits(&d, 12)) > 1e-3,
            "{name} must change the logits"
        );
    }
    // transformers 5 writes the same thing as `rope_parameters`, with the base inside.
    let v5 = dir.path().join("v5");
    write_hf(
        &v5,
        &QWEN3,
        serde_json::json!({"rope_theta": null, "rope_parameters": {"rope_type": "yarn", "rope_theta": 10000.0, "factor": 4.0, "original_max_position_embeddings": 128}}),
        vec![],
        &[],
    );
    assert_eq!(hf_logits(&v5, 12), hf_logits(&dir.path().join("yarn"), 12));
    // Dynamic NTK leaves lengths within max_position_embeddings (512 here) alone.
    let dynamic = dir.path().join("dynamic");
    write_hf(
        &dynamic,
        &QWEN3,
        serde_json::json!({"rope_scaling": {"rope_type": "dynamic", "factor": 4.0}}),
        vec![],
        &[],
    );
    assert_eq!(hf_logits(&dynamic, 12), base);
    // Past it, the base grows: compare with the same weights declared with a longer context.
    let long = dir.path().join("long");
    write_hf(
        &long,
        &QWEN3,
        serde_json::json!({"max_position_embeddings": 4096}),
        vec![],
        &[],
    );
    let ids = [5u32, 9, 11];
    let far = [600u64, 601, 602];
    let (a, b) = (
        logits_at(&Model::load(&dynamic).unwrap(), &ids, &far),
        logits_at(&Model::load(&long).unwrap(), &ids, &far),
    );
    assert!(
        max_diff(&a, &b) > 1e-4,
        "dynamic scaling past the context must change the logits"
    );
}

#[test]
fn hf_fields_memento_does_not_apply_are_refused_by_name() {
    let dir = tempfile::tempdir().unwrap();
    let cases = [
        (
            "longrope",
            serde_json::json!({"rope_scaling": {"rope_type": "longrope", "factor": 2.0}}),
            "longrope",
        ),
        (
            "partial",
            serde_json::json!({"partial_rotary_factor": 0.5}),
            "partial_rotary_factor",
        ),
        (
            "gelu",
            serde_json::json!({"hidden_act": "gelu"}),
            "hidden_act",
        ),
        (
            "sliding",
            serde_json::json!({"use_sliding_window": true, "sliding_window": 64, "max_window_layers": 0}),
            "use_sliding_window",
        ),
        (
            "quantized",
            serde_json::json!({"quantization_config": {"quant_method": "gptq", "bits": 4}}),
            "quantization_config",
        ),
        (
            "negative eps",
            serde_json::json!({"rms_norm_eps": -1.0}),
            "rms_norm_eps",
        ),
        (
            "zero theta",
            serde_json::json!({"rope_theta": 0.0}),
            "rope_theta",
        ),
        (
            "layer types",
            serde_json::json!({"layer_types": ["full_attention", "linear_attention"]}),
            "layer_types",
        ),
        (
            "per-layer rope",
            serde_json::json!({"rope_parameters": {"full_attention": {"rope_type": "default", "rope_theta": 1e4}}}),
            "rope_parameters",
        ),
    ];
    for (what, patch, needle) in cases {
        let d = dir.path().join(what.replace(' ', "-"));
        write_hf(&d, &QWEN3, patch, vec![], &[]);
        let err = load_err(&d);
        assert!(err.contains(needle), "{what}: {err}");
    }
    // A sliding window that is off (the Qwen default) is fine.
    let off = dir.path().join("window-off");
    write_hf(
        &off,
        &QWEN3,
        serde_json::json!({"use_sliding_window": false, "sliding_window": 64, "max_window_layers": 0}),
        vec![],
        &[],
    );
    Model::load(&off).unwrap();
}

// ---------------------------------------------------------------------------------------------
// HF config.json: biases and tied embeddings.

fn bias(rng: &mut rand_chacha::ChaCha8Rng, n: usize) -> Tensor {
    rng_tensor(rng, &[n], 0.5, 0.0)
}

#[test]
fn attention_bias_is_applied_and_its_tensors_must_match_the_config() {
    let dir = tempfile::tempdir().unwrap();
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(11);
    let (q, kv) = (
        QWEN3.heads * QWEN3.head_dim,
        QWEN3.kv_heads * QWEN3.head_dim,
    );
    let mut biases = Vec::new();
    for l in 0..QWEN3.layers {
        let a = format!("model.layers.{l}.self_attn");
        biases.push((format!("{a}.q_proj.bias"), bias(&mut rng, q)));
        biases.push((format!("{a}.k_proj.bias"), bias(&mut rng, kv)));
        biases.push((format!("{a}.v_proj.bias"), bias(&mut rng, kv)));
        biases.push((format!("{a}.o_proj.bias"), bias(&mut rng, QWEN3.hidden)));
    }
    let plain = dir.path().join("plain");
    write_hf(&plain, &QWEN3, serde_json::json!({}), vec![], &[]);
    let with = dir.path().join("with");
    write_hf(
        &with,
        &QWEN3,
        serde_json::json!({"attention_bias": true}),
        biases.clone(),
        &[],
    );
    assert!(max_diff(&hf_logits(&plain, 8), &hf_logits(&with, 8)) > 1e-3);
    // Declared but absent: refused by the tensor.
    let absent = dir.path().join("absent");
    write_hf(
        &absent,
        &QWEN3,
        serde_json::json!({"attention_bias": true}),
        vec![],
        &[],
    );
    assert!(load_err(&absent).contains("q_proj.bias"));
    // Present but not declared: transformers would drop them; memento refuses.
    let stray = dir.path().join("stray");
    write_hf(&stray, &QWEN3, serde_json::json!({}), biases, &[]);
    let err = load_err(&stray);
    assert!(
        err.contains(".bias") && err.contains("attention_bias"),
        "{err}"
    );
}

#[test]
fn llama_mlp_bias_is_applied() {
    let shape = common::TinyShape {
        arch: "llama",
        ..common::TINY_QWEN3
    };
    let dir = tempfile::tempdir().unwrap();
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(12);
    let mut biases = Vec::new();
    for l in 0..shape.layers {
        let m = format!("model.layers.{l}.mlp");
        biases.push((format!("{m}.gate_proj.bias"), bias(&mut rng, shape.ffn)));
        biases.push((format!("{m}.up_proj.bias"), bias(&mut rng, shape.ffn)));
        biases.push((format!("{m}.down_proj.bias"), bias(&mut rng, shape.hidden)));
    }
    let plain = dir.path().join("plain");
    write_hf(&plain, &shape, serde_json::json!({}), vec![], &[]);
    let with = dir.path().join("with");
    write_hf(
        &with,
        &shape,
        serde_json::json!({"mlp_bias": true}),
        biases,
        &[],
    );
    assert!(max_diff(&hf_logits(&plain, 8), &hf_logits(&with, 8)) > 1e-3);
}

#[test]
fn tied_embeddings_follow_the_config() {
    let dir = tempfile::tempdir().unwrap();
    // Declared tied: the embedding is the head, whatever `lm_head.weight` holds.
    let tied = dir.path().join("tied");
    write_hf(
        &tied,
        &QWEN3,
        serde_json::json!({"tie_word_embeddings": true}),
        vec![],
        &[],
    );
    let tied_bare = dir.path().join("tied-bare");
    write_hf(
        &tied_bare,
        &QWEN3,
        serde_json::json!({"tie_word_embeddings": true}),
        vec![],
        &["lm_head.weight"],
    );
    let untied = dir.path().join("untied");
    write_hf(&untied, &QWEN3, serde_json::json!({}), vec![], &[]);
    assert_eq!(hf_logits(&tied, 6), hf_logits(&tied_bare, 6));
    assert!(max_diff(&hf_logits(&tied, 6), &hf_logits(&untied, 6)) > 1e-3);
    // Not tied and no head: transformers would start one from random weights.
    let headless = dir.path().join("headless");
    write_hf(
        &headless,
        &QWEN3,
        serde_json::json!({}),
        vec![],
        &["lm_head.weight"],
    );
    let err = load_err(&headless);
    assert!(
        err.contains("lm_head.weight") && err.contains("tie_word_embeddings"),
        "{err}"
    );
}

// ---------------------------------------------------------------------------------------------
// Which files make up the model.

/// Split `dir/model.safetensors` into two shards with an index, and return the tensor names.
fn shard(dir: &Path) {
    let path = dir.join("model.safetensors");
    let all = candle_core::safetensors::load(&path, &Device::Cpu).unwrap();
    let mut names: Vec<&String> = all.keys().collect();
    names.sort();
    let (a, b): (Vec<_>, Vec<_>) = names.iter().enumerate().partition(|(i, _)| i % 2 == 0);
    let mut map = serde_json::Map::new();
    for (file, part) in [
        ("model-00001-of-00002.safetensors", a),
        ("model-00002-of-00002.safetensors", b),
    ] {
        let tensors: HashMap<String, Tensor> = part
            .iter()
            .map(|(_, n)| ((**n).clone(), all[**n].clone()))
            .collect();
        for n in tensors.keys() {
            map.insert(n.clone(), serde_json::Value::String(file.into()));
        }
        candle_core::safetensors::save(&tensors, dir.join(file)).unwrap();
    }
    std::fs::remove_file(&path).unwrap();
    let index = serde_json::json!({"metadata": {"total_size": 0}, "weight_map": map});
    std::fs::write(dir.join("model.safetensors.index.json"), index.to_string()).unwrap();
}

#[test]
fn the_index_says_which_files_hold_the_weights() {
    let dir = tempfile::tempdir().unwrap();
    let sharded = dir.path().join("sharded");
    write_hf(&sharded, &QWEN3, serde_json::json!({}), vec![], &[]);
    let whole = hf_logits(&sharded, 8);
    shard(&sharded);
    assert_eq!(
        hf_logits(&sharded, 8),
        whole,
        "the shards hold the same model"
    );
    // A stale single file with other weights beside the shards: the index decides.
    let other = dir.path().join("other");
    common::write_tiny_model(&other, &QWEN3, 99);
    std::fs::copy(
        other.join("model.safetensors"),
        sharded.join("model.safetensors"),
    )
    .unwrap();
    assert_eq!(
        hf_logits(&sharded, 8),
        whole,
        "a stale model.safetensors must not override the shards"
    );

    // Without the index, two files defining one tensor are ambiguous.
    std::fs::remove_file(sharded.join("model.safetensors.index.json")).unwrap();
    let err = load_err(&sharded);
    assert!(
        err.contains("ambiguous")
            && err.contains("model.safetensors")
            && err.contains("model-0000"),
        "{err}"
    );

    // An index naming a file that is not there.
    let broken = dir.path().join("broken");
    write_hf(&broken, &QWEN3, serde_json::json!({}), vec![], &[]);
    shard(&broken);
    std::fs::remove_file(broken.join("model-00002-of-00002.safetensors")).unwrap();
    let err = load_err(&broken);
    assert!(
        err.contains("model.safetensors.index.json")
            && err.contains("model-00002-of-00002.safetensors"),
        "{err}"
    );
}

// ---------------------------------------------------------------------------------------------
// Against llama.cpp (fixture: tests/fixtures/rope/, made by make_rope_fixture.py).

#[derive(serde::Deserialize)]
struct RopeFixture {
    ids: Vec<u32>,
    positions: Vec<usize>,
    cases: HashMap<String, HashMap<String, Vec<f32>>>,
}

/// Each scaling as an HF `rope_scaling` and as its GGUF form (`rope_freqs.weight` for Llama 3,
/// `rope.scaling.*` for YaRN and linear) gives llama.cpp's logits, far past the original
/// context.
#[test]
fn rope_scalings_match_llama_cpp() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/rope");
    let fixture: RopeFixture =
        serde_json::from_str(&std::fs::read_to_string(dir.join("llamacpp-rope.json")).unwrap())
            .unwrap();
    let positions: Vec<u64> = (0..fixture.ids.len() as u64).collect();
    for case in ["llama3", "yarn", "linear"] {
        let reference = &fixture.cases[case];
        for file in [format!("{case}.gguf"), format!("{case}-hf")] {
            let model = Model::load(&dir.join(&file)).unwrap();
            let ours = logits_at(&model, &fixture.ids, &positions);
            let mut worst = 0f32;
            for &p in &fixture.positions {
                let oracle = &reference[&p.to_string()];
                let err = common::max_rel_err(&ours[p], oracle);
                assert!(err < 1e-5, "{file} at position {p}: relative error {err}");
                worst = worst.max(err);
            }
            eprintln!("{file}: largest error relative to the logits' scale {worst:.1e}");
        }
    }
}
