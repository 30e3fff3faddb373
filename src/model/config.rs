//! A decoder's hyper-parameters, read from GGUF metadata or an HF `config.json`.

use std::collections::HashMap;

use candle_core::quantized::gguf_file::Value;
use serde::Deserialize;

use super::error::ModelError;
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
    pub rms_eps: f64,
    pub context: usize,
    /// Qwen3 normalises each query and key head before RoPE.
    pub qk_norm: bool,
    /// Qwen2 has biases on the Q, K and V projections.
    pub qkv_bias: bool,
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

    pub fn from_gguf(md: &HashMap<String, Value>) -> Result<ModelConfig, ModelError> {
        let field = |key: &str| ModelError::field(key, "missing from the GGUF metadata");
        let arch_name = md
            .get("general.architecture")
            .and_then(|v| v.to_string().ok())
            .ok_or_else(|| field("general.architecture"))?;
        let arch = Arch::parse(arch_name).ok_or_else(|| {
            ModelError::Unsupported(format!(
                "GGUF architecture `{arch_name}`: expected llama, qwen2 or qwen3"
            ))
        })?;
        let key = |k: &str| format!("{arch_name}.{k}");
        let uint = |k: &str| -> Result<usize, ModelError> {
            let name = key(k);
            let v = md.get(&name).ok_or_else(|| field(&name))?;
            v.to_u64()
                .or_else(|_| v.to_u32().map(u64::from))
                .or_else(|_| v.to_i32().map(|x| x.max(0) as u64))
                .map(|x| x as usize)
                .map_err(|_| ModelError::field(&name, "expected an unsigned integer"))
        };
        let float = |k: &str, default: f64| -> Result<f64, ModelError> {
            let name = key(k);
            match md.get(&name) {
                None => Ok(default),
                Some(v) => v
                    .to_f32()
                    .map(f64::from)
                    .or_else(|_| v.to_f64())
                    .map_err(|_| ModelError::field(&name, "expected a float")),
            }
        };
        let hidden = uint("embedding_length")?;
        let heads = uint("attention.head_count")?;
        let kv_heads = uint("attention.head_count_kv").unwrap_or(heads);
        let head_dim = uint("attention.key_length").unwrap_or(hidden / heads.max(1));
        let vocab = md
            .get("tokenizer.ggml.tokens")
            .and_then(|v| v.to_vec().ok())
            .map(|v| v.len())
            .ok_or_else(|| field("tokenizer.ggml.tokens"))?;
        let token = |k: &str| md.get(k).and_then(|v| v.to_u32().ok());
        let config = ModelConfig {
            arch,
            hidden,
            layers: uint("block_count")?,
            heads,
            kv_heads,
            head_dim,
            ffn: uint("feed_forward_length")?,
            vocab,
            rope_theta: float("rope.freq_base", 10_000.0)? as f32,
            rope_style: if arch == Arch::Llama {
                RopeStyle::Interleaved
            } else {
                RopeStyle::Halves
            },
            rms_eps: float("attention.layer_norm_rms_epsilon", 1e-6)?,
            context: uint("context_length").unwrap_or(4096),
            qk_norm: arch == Arch::Qwen3,
            qkv_bias: arch == Arch::Qwen2,
            bos: token("tokenizer.ggml.bos_token_id"),
            eos: token("tokenizer.ggml.eos_token_id").into_iter().collect(),
        };
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
        let config = ModelConfig {
            arch,
            hidden,
            layers: need(raw.num_hidden_layers, "num_hidden_layers")?,
            heads,
            kv_heads: raw.num_key_value_heads.unwrap_or(heads),
            head_dim: raw.head_dim.unwrap_or(hidden / heads.max(1)),
            ffn: need(raw.intermediate_size, "intermediate_size")?,
            vocab: need(raw.vocab_size, "vocab_size")?,
            rope_theta: raw.rope_theta.unwrap_or(10_000.0) as f32,
            rope_style: RopeStyle::Halves,
            rms_eps: raw.rms_norm_eps.unwrap_or(1e-6),
            context: raw.max_position_embeddings.unwrap_or(4096),
            qk_norm: arch == Arch::Qwen3,
            qkv_bias: raw.attention_bias.unwrap_or(arch == Arch::Qwen2),
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
    /// models `memento train` writes.
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
        serde_json::json!({
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
            "hidden_act": "silu",
            "tie_word_embeddings": tie_word_embeddings,
            "bos_token_id": self.bos,
            "eos_token_id": eos,
            "torch_dtype": "float32",
        })
    }

    fn check(&self) -> Result<(), ModelError> {
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
    rms_norm_eps: Option<f64>,
    max_position_embeddings: Option<usize>,
    attention_bias: Option<bool>,
    bos_token_id: Option<u32>,
    eos_token_id: Option<EosIds>,
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
        assert_eq!(ModelConfig::from_hf_json(&text).unwrap(), c);
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
