//! A decoder whose parameters are trainable: the same architecture and numerics as the
//! inference forward (`model::forward`), written with differentiable ops only.
//!
//! Parameters are candle `Var`s named as in an HF checkpoint (`model.layers.0.self_attn.q_proj.weight`,
//! …), so saving them is writing a `model.safetensors` the loader reads back. Qwen3 (per-head
//! query and key norms), Qwen2 (Q/K/V biases) and Llama shapes are supported; the output
//! projection is tied to the embedding unless a checkpoint has its own `lm_head.weight`.

use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;

use candle_core::{DType, Device, Tensor, Var};
use rand::SeedableRng;
use rand_distr::{Distribution, Normal};

use super::TrainError;
use super::attention::MaskedAttention;
use super::batch::Batch;
use super::ops::{RmsNormOp, RopeOp};
use crate::model::{ModelConfig, Rope, RopeScaling, RopeStyle};

/// The trainable parameters and the shape they follow.
pub struct TrainModel {
    pub config: ModelConfig,
    /// The output projection is the embedding (no `lm_head.weight`).
    pub tied: bool,
    /// In a fixed order: the order of the optimizer state and of the checkpoint.
    params: Vec<(String, Var)>,
    index: HashMap<String, usize>,
    rope: Arc<Rope>,
}

/// What one forward pass over a batch gives.
pub struct Output {
    /// Mean negative log-likelihood over the batch's targets (a scalar, differentiable).
    pub loss: Tensor,
    /// Per target, in the batch's order: −log p(target).
    pub token_nll: Tensor,
}

impl TrainModel {
    /// Fresh weights for `config` (which must use HF RoPE halves): N(0, 0.02) matrices, the
    /// residual outputs (`o_proj`, `down_proj`) scaled by 1/√(2·layers) as GPT-2 does, norms at 1.
    pub fn init(config: ModelConfig, seed: u64) -> Result<TrainModel, TrainError> {
        check_trainable(&config)?;
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
        let mut tensors = Vec::new();
        let residual = 0.02 / (2.0 * config.layers as f64).sqrt();
        for (name, shape) in param_shapes(&config, true) {
            let t = if shape.len() == 1 {
                if name.ends_with(".bias") {
                    Tensor::zeros(shape.as_slice(), DType::F32, &Device::Cpu)?
                } else {
                    Tensor::ones(shape.as_slice(), DType::F32, &Device::Cpu)?
                }
            } else {
                let std = if name.ends_with("o_proj.weight") || name.ends_with("down_proj.weight") {
                    residual
                } else {
                    0.02
                };
                let normal = Normal::new(0.0, std as f32).expect("a positive deviation");
                let n: usize = shape.iter().product();
                let data: Vec<f32> = (0..n).map(|_| normal.sample(&mut rng)).collect();
                Tensor::from_vec(data, shape.as_slice(), &Device::Cpu)?
            };
            tensors.push((name, t));
        }
        TrainModel::from_tensors(config, true, tensors)
    }

    /// Load an HF directory (`config.json`, `*.safetensors`) to train from.
    pub fn load(dir: &Path) -> Result<TrainModel, TrainError> {
        let config_path = dir.join("config.json");
        let text = std::fs::read_to_string(&config_path).map_err(|e| TrainError::File {
            path: config_path.clone(),
            message: format!("cannot read: {e}"),
        })?;
        let config = ModelConfig::from_hf_json(&text).map_err(|e| TrainError::File {
            path: config_path.clone(),
            message: e.to_string(),
        })?;
        check_trainable(&config)?;
        let mut found: HashMap<String, (Tensor, std::path::PathBuf)> = HashMap::new();
        let mut files: Vec<_> = std::fs::read_dir(dir)
            .map_err(|e| TrainError::File {
                path: dir.to_path_buf(),
                message: format!("cannot list: {e}"),
            })?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.extension().is_some_and(|x| x == "safetensors"))
            .collect();
        files.sort();
        if files.is_empty() {
            return Err(TrainError::File {
                path: dir.to_path_buf(),
                message: "no *.safetensors files in the checkpoint directory".into(),
            });
        }
        for file in &files {
            let tensors = candle_core::safetensors::load(file, &Device::Cpu).map_err(|e| {
                TrainError::File {
                    path: file.clone(),
                    message: format!("not a readable safetensors file: {e}"),
                }
            })?;
            for (name, t) in tensors {
                found.insert(name, (t, file.clone()));
            }
        }
        // As transformers does: a declared `tie_word_embeddings` decides (a tied checkpoint's own
        // `lm_head.weight` is ignored); an undeclared one follows the file.
        let tied = config
            .tie_embeddings
            .unwrap_or(!found.contains_key("lm_head.weight"));
        if tied {
            found.remove("lm_head.weight");
        }
        let mut tensors = Vec::new();
        for (name, shape) in param_shapes(&config, tied) {
            let Some((t, file)) = found.remove(&name) else {
                return Err(TrainError::File {
                    path: dir.to_path_buf(),
                    message: format!(
                        "tensor `{name}` is missing: the checkpoint does not match its config.json"
                    ),
                });
            };
            if t.dims() != shape.as_slice() {
                return Err(TrainError::File {
                    path: file,
                    message: format!(
                        "tensor `{name}` has shape {:?}, but config.json implies {shape:?}",
                        t.dims()
                    ),
                });
            }
            tensors.push((name, t.to_dtype(DType::F32)?));
        }
        TrainModel::from_tensors(config, tied, tensors)
    }

    fn from_tensors(
        config: ModelConfig,
        tied: bool,
        tensors: Vec<(String, Tensor)>,
    ) -> Result<TrainModel, TrainError> {
        let mut params = Vec::with_capacity(tensors.len());
        let mut index = HashMap::new();
        for (name, t) in tensors {
            index.insert(name.clone(), params.len());
            params.push((name, Var::from_tensor(&t)?));
        }
        let rope = Arc::new(Rope::for_config(&config));
        Ok(TrainModel {
            config,
            tied,
            params,
            index,
            rope,
        })
    }

    /// Every parameter, in a fixed order, with its HF name.
    pub fn params(&self) -> &[(String, Var)] {
        &self.params
    }

    pub fn param_count(&self) -> usize {
        self.params.iter().map(|(_, v)| v.elem_count()).sum()
    }

    fn p(&self, name: &str) -> &Tensor {
        self.params[self.index[name]].1.as_tensor()
    }

    fn opt(&self, name: &str) -> Option<&Tensor> {
        self.index.get(name).map(|&i| self.params[i].1.as_tensor())
    }

    /// `x (n, in) · W(out, in)ᵀ (+ b)`.
    fn linear(&self, x: &Tensor, name: &str) -> candle_core::Result<Tensor> {
        let y = x.matmul(&self.p(&format!("{name}.weight")).t()?)?;
        match self.opt(&format!("{name}.bias")) {
            Some(b) => y.broadcast_add(b),
            None => Ok(y),
        }
    }

    /// The forward pass over `batch` and its loss on the batch's targets.
    pub fn forward(&self, batch: &Batch) -> Result<Output, TrainError> {
        let c = &self.config;
        let (b, t) = (batch.rows.len(), batch.t);
        let (h, kvh, d) = (c.heads, c.kv_heads, c.head_dim);
        let eps = c.rms_eps as f32;
        let norm = RmsNormOp { eps };
        let rope = RopeOp {
            rope: self.rope.clone(),
            positions: batch.positions.clone(),
        };
        let attention = MaskedAttention {
            rows: batch.rows.clone(),
            heads: h,
            kv_heads: kvh,
            head_dim: d,
        };
        let ids = Tensor::new(batch.ids.as_slice(), &Device::Cpu)?;
        let mut x = self.p("model.embed_tokens.weight").index_select(&ids, 0)?;
        for l in 0..c.layers {
            let p = format!("model.layers.{l}");
            let hs = norm.forward(&x, self.p(&format!("{p}.input_layernorm.weight")))?;
            let mut q = self
                .linear(&hs, &format!("{p}.self_attn.q_proj"))?
                .reshape((b, t, h, d))?;
            let mut k = self
                .linear(&hs, &format!("{p}.self_attn.k_proj"))?
                .reshape((b, t, kvh, d))?;
            let v = self
                .linear(&hs, &format!("{p}.self_attn.v_proj"))?
                .reshape((b, t, kvh, d))?;
            if c.qk_norm {
                q = norm.forward(&q, self.p(&format!("{p}.self_attn.q_norm.weight")))?;
                k = norm.forward(&k, self.p(&format!("{p}.self_attn.k_norm.weight")))?;
            }
            let q = rope.forward(&q)?;
            let k = rope.forward(&k)?;
            let a = attention.forward(&q, &k, &v)?.reshape((b * t, h * d))?;
            x = (x + self.linear(&a, &format!("{p}.self_attn.o_proj"))?)?;
            let hs = norm.forward(&x, self.p(&format!("{p}.post_attention_layernorm.weight")))?;
            let gate = self.linear(&hs, &format!("{p}.mlp.gate_proj"))?.silu()?;
            let up = self.linear(&hs, &format!("{p}.mlp.up_proj"))?;
            x = (x + self.linear(&(gate * up)?, &format!("{p}.mlp.down_proj"))?)?;
        }
        // Only the rows that predict a target need the output projection.
        let rows = Tensor::new(batch.target_rows.as_slice(), &Device::Cpu)?;
        let x = x.index_select(&rows, 0)?;
        let x = norm.forward(&x, self.p("model.norm.weight"))?;
        let head = if self.tied {
            self.p("model.embed_tokens.weight")
        } else {
            self.p("lm_head.weight")
        };
        let logits = x.matmul(&head.t()?)?;
        let logp = candle_nn::ops::log_softmax(&logits, candle_core::D::Minus1)?;
        let targets = Tensor::new(batch.target_ids.as_slice(), &Device::Cpu)?.unsqueeze(1)?;
        let token_nll = logp.gather(&targets, 1)?.squeeze(1)?.neg()?;
        let loss = token_nll.mean_all()?;
        Ok(Output { loss, token_nll })
    }

    /// Write the model as an HF directory the loader reads: `config.json`, `tokenizer.json`
    /// (the text given) and `model.safetensors`, each through a file renamed into place.
    pub fn save_dir(&self, dir: &Path, tokenizer_json: &str) -> Result<(), TrainError> {
        let config = serde_json::to_string_pretty(&self.config.to_hf_json(self.tied))
            .expect("JSON serialises");
        super::checkpoint::write_atomic(&dir.join("config.json"), (config + "\n").as_bytes())?;
        super::checkpoint::write_atomic(&dir.join("tokenizer.json"), tokenizer_json.as_bytes())?;
        let weights = dir.join("model.safetensors.partial");
        self.save_weights(&weights)?;
        super::checkpoint::rename(&weights, &dir.join("model.safetensors"))
    }

    /// Write the parameters as one safetensors file.
    pub fn save_weights(&self, path: &Path) -> Result<(), TrainError> {
        let map: HashMap<String, Tensor> = self
            .params
            .iter()
            .map(|(n, v)| (n.clone(), v.as_tensor().clone()))
            .collect();
        candle_core::safetensors::save(&map, path).map_err(|e| TrainError::File {
            path: path.to_path_buf(),
            message: format!("cannot write: {e}"),
        })
    }

    /// Replace every parameter's value with the tensors in `file` (a checkpoint of this model).
    pub fn restore_weights(&self, file: &Path) -> Result<(), TrainError> {
        let mut found =
            candle_core::safetensors::load(file, &Device::Cpu).map_err(|e| TrainError::File {
                path: file.to_path_buf(),
                message: format!("not a readable safetensors file: {e}"),
            })?;
        for (name, var) in &self.params {
            let t = found.remove(name).ok_or_else(|| TrainError::File {
                path: file.to_path_buf(),
                message: format!("tensor `{name}` is missing"),
            })?;
            if t.dims() != var.dims() {
                return Err(TrainError::File {
                    path: file.to_path_buf(),
                    message: format!(
                        "tensor `{name}` has shape {:?}, expected {:?}",
                        t.dims(),
                        var.dims()
                    ),
                });
            }
            var.set(&t.to_dtype(DType::F32)?)?;
        }
        Ok(())
    }
}

fn check_trainable(config: &ModelConfig) -> Result<(), TrainError> {
    if config.rope_style != RopeStyle::Halves {
        return Err(TrainError::Config(
            "training reads HF checkpoints (RoPE over halves); GGUF files cannot be trained".into(),
        ));
    }
    if config.rope_scaling != RopeScaling::None || config.rope_freq_factors.is_some() {
        return Err(TrainError::Config(
            "the checkpoint declares RoPE scaling (rope_scaling); training applies plain RoPE only"
                .into(),
        ));
    }
    if config.qkv_bias || config.o_bias || config.mlp_bias {
        return Err(TrainError::Config(
            "the checkpoint has attention or MLP biases (attention_bias, mlp_bias); training covers bias-free decoders".into(),
        ));
    }
    Ok(())
}

/// Every parameter's HF name and shape, in checkpoint order.
pub fn param_shapes(c: &ModelConfig, tied: bool) -> Vec<(String, Vec<usize>)> {
    let (hd, d) = (c.hidden, c.head_dim);
    let mut out = vec![("model.embed_tokens.weight".to_string(), vec![c.vocab, hd])];
    for l in 0..c.layers {
        let p = format!("model.layers.{l}");
        out.push((format!("{p}.input_layernorm.weight"), vec![hd]));
        out.push((
            format!("{p}.self_attn.q_proj.weight"),
            vec![c.heads * d, hd],
        ));
        out.push((
            format!("{p}.self_attn.k_proj.weight"),
            vec![c.kv_heads * d, hd],
        ));
        out.push((
            format!("{p}.self_attn.v_proj.weight"),
            vec![c.kv_heads * d, hd],
        ));
        if c.qkv_bias {
            out.push((format!("{p}.self_attn.q_proj.bias"), vec![c.heads * d]));
            out.push((format!("{p}.self_attn.k_proj.bias"), vec![c.kv_heads * d]));
            out.push((format!("{p}.self_attn.v_proj.bias"), vec![c.kv_heads * d]));
        }
        out.push((
            format!("{p}.self_attn.o_proj.weight"),
            vec![hd, c.heads * d],
        ));
        if c.qk_norm {
            out.push((format!("{p}.self_attn.q_norm.weight"), vec![d]));
            out.push((format!("{p}.self_attn.k_norm.weight"), vec![d]));
        }
        out.push((format!("{p}.post_attention_layernorm.weight"), vec![hd]));
        out.push((format!("{p}.mlp.gate_proj.weight"), vec![c.ffn, hd]));
        out.push((format!("{p}.mlp.up_proj.weight"), vec![c.ffn, hd]));
        out.push((format!("{p}.mlp.down_proj.weight"), vec![hd, c.ffn]));
    }
    out.push(("model.norm.weight".to_string(), vec![hd]));
    if !tied {
        out.push(("lm_head.weight".to_string(), vec![c.vocab, hd]));
    }
    out
}
