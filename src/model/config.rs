//! A decoder's hyper-parameters, read from GGUF metadata or an HF `config.json`.

use std::collections::HashMap;

use candle_core::quantized::gguf_file::Value;
use serde::Deserialize;

use super::error::ModelError;
use super::rope::RopeScaling;
use super::{gguf_audit, gguf_meta, rope_scaling};
use crate::kv::{KvDtype, KvShape};

/// The architectures the forward implements (the families of the released MEMENTO checkpoints
/// and of the default model).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Arch {
    Llama,
    Qwen2,
    Qwen3,
}

impl Arch {
    pub fn parse(name: &str) -> Option<Arch> {
        match name.to_ascii_lowercase().as_str() {
            "llama" => Some(Arch::Llama),
            "qwen2" => Some(Arch::Qwen2),
            "qwen3" => Some(Arch::Qwen3),
            _ => None,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Arch::Llama => "llama",
            Arch::Qwen2 => "qwen2",
            Arch::Qwen3 => "qwen3",
        }
    }
}

/// How RoPE pairs the dimensions of a head.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RopeStyle {
    /// Pairs (2i, 2i+1): GGUF Llama files, whose converter permuted Q and K for it.
    Interleaved,
    /// Pairs (i, i + d/2): HF checkpoints and GGUF Qwen files.
    Halves,
}

#[derive(Debug, Clone, PartialEq)]
pub struct ModelConfig {
    pub arch: Arch,
    pub hidden: usize,
    pub layers: usize,
    pub heads: usize,
    pub kv_heads: usize,
    pub head_dim: usize,
    pub ffn: usize,
    pub vocab: usize,
    pub rope_theta: f32,
    pub rope_style: RopeStyle,
    /// Context extension declared by the checkpoint (`rope_scaling`, GGUF `rope.scaling.*`).
    pub rope_scaling: RopeScaling,
    /// llama.cpp's per-pair frequency divisors (`rope_freqs.weight`, `head_dim/2` values):
    /// how Llama 3.1+ GGUF files carry their RoPE scaling.
    pub rope_freq_factors: Option<Vec<f32>>,
    pub rms_eps: f64,
    pub context: usize,
    /// Qwen3 normalises each query and key head before RoPE.
    pub qk_norm: bool,
    /// Biases on the Q, K and V projections (always for Qwen2; `attention_bias` otherwise).
    pub qkv_bias: bool,
    /// A bias on the attention output projection (Llama and Qwen3 `attention_bias`).
    pub o_bias: bool,
    /// Biases on the MLP projections (Llama `mlp_bias`).
    pub mlp_bias: bool,
    /// HF `tie_word_embeddings` as the checkpoint declares it (`None`: not declared, or a GGUF
    /// file, where a missing `output.weight` means tied, as in llama.cpp).
    pub tie_embeddings: Option<bool>,
    pub bos: Option<u32>,
    pub eos: Vec<u32>,
}

impl ModelConfig {
    /// The KV shape this model's cache has, for byte accounting (the store holds f32).
    pub fn kv_shape(&self, name: &str) -> KvShape {
        KvShape {
            name: name.to_string(),
            layers: self.layers as u32,
            kv_heads: self.kv_heads as u32,
            head_dim: self.head_dim as u32,
            dtype: KvDtype::F32,
            sliding_window: None,
            context_tokens: self.context as u64,
        }
    }

    /// Read the hyper-parameters from GGUF metadata as llama.cpp does (`llama-model.cpp`), and
    /// refuse every key that would change the forward pass in a way memento does not apply.
    pub fn from_gguf(md: &HashMap<String, Value>) -> Result<ModelConfig, ModelError> {
        let field = |key: &str| ModelError::field(key, "missing from the GGUF metadata");
        let arch_name = gguf_meta::string(md, "general.architecture")?
            .ok_or_else(|| field("general.architecture"))?;
        let arch = Arch::parse(arch_name).ok_or_else(|| {
            ModelError::Unsupported(format!(
                "GGUF architecture `{arch_name}`: expected llama, qwen2 or qwen3"
            ))
        })?;
        let key = |k: &str| format!("{arch_name}.{k}");
        let opt_uint = |k: &str| -> Result<Option<usize>, ModelError> {
            Ok(gguf_meta::uint(md, &key(k))?.map(|x| x as usize))
        };
        let uint =
            |k: &str| -> Result<usize, ModelError> { opt_uint(k)?.ok_or_else(|| field(&key(k))) };
        let hidden = uint("embedding_length")?;
        let heads = uint("attention.head_count")?;
        let kv_heads = opt_uint("attention.head_count_kv")?.unwrap_or(heads);
        let head_dim = opt_uint("attention.key_length")?.unwrap_or(hidden / heads.max(1));
        let vocab = md
            .get("tokenizer.ggml.tokens")
            .and_then(|v| v.to_vec().ok())
            .map(|v| v.len())
            .ok_or_else(|| field("tokenizer.ggml.tokens"))?;
        let token = |k: &str| md.get(k).and_then(|v| v.to_u32().ok());
        // llama.cpp requires the epsilon for these architectures; a guess would change every norm.
        let rms_name = key("attention.layer_norm_rms_epsilon");
        let rms_eps = gguf_meta::float(md, &rms_name)?.ok_or_else(|| field(&rms_name))?;
        let context = opt_uint("context_length")?.unwrap_or(4096);
        let rope_theta = gguf_meta::float(md, &key("rope.freq_base"))?.unwrap_or(10_000.0);
        let rope_scaling = rope_scaling::from_gguf(md, arch_name, context)?;
        // llama.cpp serves a YaRN model past its training context (with a warning); so does
        // memento, up to the original context times the factor.
        let context = match rope_scaling {
            RopeScaling::Yarn { .. } => rope_scaling::served_context(context, &rope_scaling),
            _ => context,
        };
        let config = ModelConfig {
            arch,
            hidden,
            layers: uint("block_count")?,
            heads,
            kv_heads,
            head_dim,
            ffn: uint("feed_forward_length")?,
            vocab,
            rope_theta: rope_theta as f32,
            rope_style: if arch == Arch::Llama {
                RopeStyle::Interleaved
            } else {
                RopeStyle::Halves
            },
            rope_scaling,
            rope_freq_factors: None,
            rms_eps,
            context,
            qk_norm: arch == Arch::Qwen3,
            qkv_bias: arch == Arch::Qwen2,
            o_bias: false,
            mlp_bias: false,
            tie_embeddings: None,
            bos: token("tokenizer.ggml.bos_token_id"),
            eos: token("tokenizer.ggml.eos_token_id").into_iter().collect(),
        };
        gguf_audit::refuse_unapplied(md, arch_name, &config)?;
        config.check()?;
        Ok(config)
    }

    pub fn from_hf_json(text: &str) -> Result<ModelConfig, ModelError> {
        let de = &mut serde_json::Deserializer::from_str(text);
        let raw: HfConfig = serde_path_to_error::deserialize(de).map_err(|e| {
            let path = e.path().to_string();
            ModelError::field(&path, &e.inner().to_string())
        })?;
        let arch_name = raw
            .model_type
            .clone()
            .or_else(|| {
                raw.architectures.as_ref().and_then(|a| {
                    a.first().map(|s| {
                        s.trim_end_matches("ForCausalLM")
                            .trim_end_matches("Model")
                            .to_ascii_lowercase()
                    })
                })
            })
            .ok_or_else(|| ModelError::field("model_type", "missing"))?;
        let arch = Arch::parse(&arch_name).ok_or_else(|| {
            ModelError::Unsupported(format!(
                "model_type `{arch_name}`: expected llama, qwen2 or qwen3"
            ))
        })?;
        let need = |v: Option<usize>, name: &str| {
            v.ok_or_else(|| ModelError::field(name, "missing (an integer is required)"))
        };
        let hidden = need(raw.hidden_size, "hidden_size")?;
        let heads = need(raw.num_attention_heads, "num_attention_heads")?;
        let layers = need(raw.num_hidden_layers, "num_hidden_layers")?;
        refuse_unapplied_hf(&raw, arch, layers)?;
        // transformers' defaults per architecture (LlamaConfig, Qwen2Config, Qwen3Config).
        let context = raw.max_position_embeddings.unwrap_or(match arch {
            Arch::Llama => 2048,
            Arch::Qwen2 | Arch::Qwen3 => 32_768,
        });
        let (rope_theta, rope_scaling) = rope_scaling::from_hf(
            raw.rope_theta,
            raw.rope_scaling.as_ref(),
            raw.rope_parameters.as_ref(),
            context,
        )?;
        let context = rope_scaling::served_context(context, &rope_scaling);
        let attention_bias = raw.attention_bias.unwrap_or(false);
        let config = ModelConfig {
            arch,
            hidden,
            layers,
            heads,
            kv_heads: raw.num_key_value_heads.unwrap_or(heads),
            head_dim: raw.head_dim.unwrap_or(hidden / heads.max(1)),
            ffn: need(raw.intermediate_size, "intermediate_size")?,
            vocab: need(raw.vocab_size, "vocab_size")?,
            rope_theta: rope_theta as f32,
            rope_style: RopeStyle::Halves,
            rope_scaling,
            rope_freq_factors: None,
            rms_eps: raw.rms_norm_eps.unwrap_or(1e-6),
            context,
            qk_norm: arch == Arch::Qwen3,
            // Qwen2 always has Q, K and V biases and never an output bias (modeling_qwen2.py).
            qkv_bias: arch == Arch::Qwen2 || attention_bias,
            o_bias: arch != Arch::Qwen2 && attention_bias,
            mlp_bias: arch == Arch::Llama && raw.mlp_bias.unwrap_or(false),
            tie_embeddings: raw.tie_word_embeddings,
            bos: raw.bos_token_id,
            eos: match raw.eos_token_id {
                Some(EosIds::One(id)) => vec![id],
                Some(EosIds::Many(ids)) => ids,
                None => Vec::new(),
            },
        };
        config.check()?;
        Ok(config)
    }

    /// The `config.json` an HF checkpoint of this model carries: what [`ModelConfig::from_hf_json`]
    /// reads back, plus the fields transformers needs to load it (`architectures`,
    /// `hidden_act`, `tie_word_embeddings`, `torch_dtype`). The inverse of reading, for the
    /// models `memento train` writes. A scaled model's `max_position_embeddings` is written as
    /// the context it serves.
    pub fn to_hf_json(&self, tie_word_embeddings: bool) -> serde_json::Value {
        let arch = match self.arch {
            Arch::Llama => "LlamaForCausalLM",
            Arch::Qwen2 => "Qwen2ForCausalLM",
            Arch::Qwen3 => "Qwen3ForCausalLM",
        };
        let eos = match self.eos.as_slice() {
            [one] => serde_json::json!(one),
            many => serde_json::json!(many),
        };
        let mut json = serde_json::json!({
            "architectures": [arch],
            "model_type": self.arch.name(),
            "hidden_size": self.hidden,
            "num_hidden_layers": self.layers,
            "num_attention_heads": self.heads,
            "num_key_value_heads": self.kv_heads,
            "head_dim": self.head_dim,
            "intermediate_size": self.ffn,
            "vocab_size": self.vocab,
            "rope_theta": self.rope_theta,
            "rms_norm_eps": self.rms_eps,
            "max_position_embeddings": self.context,
            "attention_bias": self.qkv_bias,
            "mlp_bias": self.mlp_bias,
            "hidden_act": "silu",
            "tie_word_embeddings": tie_word_embeddings,
            "bos_token_id": self.bos,
            "eos_token_id": eos,
            "torch_dtype": "float32",
        });
        if let Some(scaling) = rope_scaling::to_hf(&self.rope_scaling) {
            json["rope_scaling"] = scaling;
        }
        json
    }

    /// Refuse shapes and values that make no sense (a zero size, `rms_norm_eps: -1`,
    /// `rope_theta: 0`, bad frequency factors).
    pub fn check(&self) -> Result<(), ModelError> {
        let positive = [
            ("hidden size", self.hidden),
            ("layer count", self.layers),
            ("head count", self.heads),
            ("KV head count", self.kv_heads),
            ("head dim", self.head_dim),
            ("feed-forward size", self.ffn),
            ("vocabulary size", self.vocab),
        ];
        for (name, v) in positive {
            if v == 0 {
                return Err(ModelError::field(name, "must be positive"));
            }
        }
        if !(self.rms_eps.is_finite() && self.rms_eps > 0.0) {
            return Err(ModelError::field(
                "rms_norm_eps",
                &format!("{}; expected a small positive number", self.rms_eps),
            ));
        }
        if !(self.rope_theta.is_finite() && self.rope_theta > 1.0) {
            return Err(ModelError::field(
                "rope_theta",
                &format!("{}; expected a finite base above 1", self.rope_theta),
            ));
        }
        if self.context == 0 {
            return Err(ModelError::field("context length", "must be positive"));
        }
        if let Some(ff) = &self.rope_freq_factors {
            if ff.len() != self.head_dim / 2 {
                return Err(ModelError::tensor(
                    "rope_freqs.weight",
                    format!(
                        "{} factors, expected head_dim/2 = {}",
                        ff.len(),
                        self.head_dim / 2
                    ),
                ));
            }
            if let Some(bad) = ff.iter().find(|f| !(f.is_finite() && **f > 0.0)) {
                return Err(ModelError::tensor(
                    "rope_freqs.weight",
                    format!("holds {bad}; every frequency factor must be positive and finite"),
                ));
            }
        }
        if self.heads % self.kv_heads != 0 {
            return Err(ModelError::field(
                "KV head count",
                &format!(
                    "{} query heads are not a multiple of {} KV heads",
                    self.heads, self.kv_heads
                ),
            ));
        }
        if self.head_dim % 2 != 0 {
            return Err(ModelError::field("head dim", "must be even for RoPE"));
        }
        Ok(())
    }
}

#[derive(Debug, Deserialize)]
struct HfConfig {
    model_type: Option<String>,
    architectures: Option<Vec<String>>,
    hidden_size: Option<usize>,
    num_hidden_layers: Option<usize>,
    num_attention_heads: Option<usize>,
    num_key_value_heads: Option<usize>,
    head_dim: Option<usize>,
    intermediate_size: Option<usize>,
    vocab_size: Option<usize>,
    rope_theta: Option<f64>,
    rope_scaling: Option<serde_json::Value>,
    rope_parameters: Option<serde_json::Value>,
    partial_rotary_factor: Option<f64>,
    rms_norm_eps: Option<f64>,
    max_position_embeddings: Option<usize>,
    attention_bias: Option<bool>,
    mlp_bias: Option<bool>,
    tie_word_embeddings: Option<bool>,
    hidden_act: Option<String>,
    use_sliding_window: Option<bool>,
    sliding_window: Option<serde_json::Value>,
    max_window_layers: Option<usize>,
    layer_types: Option<Vec<String>>,
    quantization_config: Option<serde_json::Value>,
    bos_token_id: Option<u32>,
    eos_token_id: Option<EosIds>,
}

/// Refuse the `config.json` fields that change the forward pass in ways memento does not
/// implement (checked against transformers 5's Llama, Qwen2 and Qwen3 models).
fn refuse_unapplied_hf(raw: &HfConfig, arch: Arch, layers: usize) -> Result<(), ModelError> {
    if let Some(act) = &raw.hidden_act
        && act != "silu"
        && act != "swish"
    {
        return Err(ModelError::field(
            "hidden_act",
            &format!("\"{act}\": memento's MLP is SwiGLU with SiLU"),
        ));
    }
    if let Some(p) = raw.partial_rotary_factor {
        rope_scaling::refuse_partial_rotary("partial_rotary_factor", p)?;
    }
    if let Some(q) = &raw.quantization_config {
        let method = q
            .get("quant_method")
            .and_then(|m| m.as_str())
            .unwrap_or("unknown");
        return Err(ModelError::field(
            "quantization_config",
            &format!(
                "quant_method \"{method}\": quantized HF checkpoints are not supported; use unquantized safetensors or a GGUF file"
            ),
        ));
    }
    if let Some(types) = &raw.layer_types
        && let Some(bad) = types
            .iter()
            .find(|t| *t != "full_attention" && *t != "sliding_attention")
    {
        return Err(ModelError::field(
            "layer_types",
            &format!("\"{bad}\": memento runs full (or sliding) attention layers only"),
        ));
    }
    // Qwen2/Qwen3 slide only with `use_sliding_window`, on the layers `layer_types` marks (or
    // those from `max_window_layers` on); Llama has no sliding window.
    let window = match &raw.sliding_window {
        None | Some(serde_json::Value::Null) => None,
        Some(v) => v.as_u64(),
    };
    if arch != Arch::Llama && raw.use_sliding_window == Some(true) && window.is_some() {
        let sliding = match &raw.layer_types {
            Some(types) => types.iter().any(|t| t == "sliding_attention"),
            None => raw.max_window_layers.unwrap_or(28) < layers,
        };
        if sliding {
            return Err(ModelError::field(
                "use_sliding_window",
                &format!(
                    "true with sliding_window {}: sliding-window attention is not implemented",
                    window.unwrap_or(0)
                ),
            ));
        }
    }
    Ok(())
}

#[derive(Debug, Deserialize)]
#[serde(untagged)]
enum EosIds {
    One(u32),
    Many(Vec<u32>),
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hf_config_missing_field_names_it() {
        let err = ModelConfig::from_hf_json(r#"{"model_type":"qwen3","hidden_size":64}"#)
            .unwrap_err()
            .to_string();
        assert!(err.contains("num_attention_heads"), "{err}");
    }

    #[test]
    fn hf_config_wrong_type_names_the_field() {
        let err = ModelConfig::from_hf_json(r#"{"model_type":"qwen3","hidden_size":"big"}"#)
            .unwrap_err()
            .to_string();
        assert!(err.contains("hidden_size"), "{err}");
    }

    #[test]
    fn written_config_reads_back() {
        let c = ModelConfig::from_hf_json(
            r#"{"model_type":"qwen3","hidden_size":64,"num_hidden_layers":2,
            "num_attention_heads":4,"num_key_value_heads":2,"head_dim":32,
            "intermediate_size":96,"vocab_size":300,"rope_theta":5000.0,
            "rms_norm_eps":1e-5,"max_position_embeddings":1024,"eos_token_id":[5,6]}"#,
        )
        .unwrap();
        let text = c.to_hf_json(true).to_string();
        let tied = ModelConfig {
            tie_embeddings: Some(true),
            ..c
        };
        assert_eq!(ModelConfig::from_hf_json(&text).unwrap(), tied);
    }

    #[test]
    fn a_nonsense_rope_base_is_refused_by_name() {
        for theta in ["0.0", "-1.0", "1.0"] {
            let err = ModelConfig::from_hf_json(&format!(
                r#"{{"model_type":"qwen3","hidden_size":64,"num_hidden_layers":2,
                "num_attention_heads":4,"intermediate_size":96,"vocab_size":300,
                "rope_theta":{theta}}}"#
            ))
            .unwrap_err()
            .to_string();
            assert!(err.contains("rope_theta"), "{theta}: {err}");
        }
        let c = ModelConfig::from_hf_json(
            r#"{"model_type":"qwen3","hidden_size":64,"num_hidden_layers":2,
            "num_attention_heads":4,"intermediate_size":96,"vocab_size":300}"#,
        )
        .unwrap();
        let infinite = ModelConfig {
            rope_theta: f32::INFINITY,
            ..c
        };
        assert!(
            infinite
                .check()
                .unwrap_err()
                .to_string()
                .contains("rope_theta")
        );
    }

    #[test]
    fn qwen3_config_reads_head_dim_and_norms() {
        let c = ModelConfig::from_hf_json(
            r#"{"model_type":"qwen3","hidden_size":64,"num_hidden_layers":2,
            "num_attention_heads":4,"num_key_value_heads":2,"head_dim":32,
            "intermediate_size":96,"vocab_size":300,"eos_token_id":[5,6]}"#,
        )
        .unwrap();
        assert_eq!(c.head_dim, 32);
        assert!(c.qk_norm && !c.qkv_bias);
        assert_eq!(c.eos, vec![5, 6]);
        assert_eq!(c.rope_style, RopeStyle::Halves);
    }
}
