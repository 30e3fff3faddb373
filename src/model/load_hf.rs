//! Load a decoder from an HF directory: `config.json` and `*.safetensors` (bf16, f16 or f32).
//!
//! Which files hold the weights: `model.safetensors.index.json` when present (its `weight_map`
//! names the file of every tensor, and only those files are read, as vLLM does); otherwise
//! every `*.safetensors` in the directory, refused when two of them define the same tensor.
//! Every tensor read must be one the config calls for: a bias that `attention_bias: false`
//! leaves out, or any other stray tensor, is refused rather than silently dropped or used.

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};

use candle_core::safetensors::MmapedSafetensors;
use candle_core::{DType, Device, Tensor};

use super::config::ModelConfig;
use super::error::{ModelError, candle_message};
use super::linear::{Linear, Weight};
use super::weights::{LayerWeights, Weights};

/// The sharded checkpoint's index (transformers' `SAFE_WEIGHTS_INDEX_NAME`).
pub const INDEX_FILE: &str = "model.safetensors.index.json";

pub fn load_hf_dir(dir: &Path, device: &Device) -> Result<(ModelConfig, Weights), ModelError> {
    let config_path = dir.join("config.json");
    let text = crate::textfile::read_text(&config_path, crate::textfile::CONFIG_LIMIT).map_err(
        |message| ModelError::File {
            path: config_path.clone(),
            message,
        },
    )?;
    let config = ModelConfig::from_hf_json(&text).map_err(|e| e.in_file(&config_path))?;
    let mut r = HfTensors::open(dir, device)?;
    let weights = read_weights(&mut r, &config)?;
    r.refuse_unused(&config)?;
    Ok((config, weights))
}

/// The weight files of `dir` and, for each tensor, the file that holds it.
struct WeightFiles {
    files: Vec<PathBuf>,
    /// Tensor name → index into `files`; `None` routes by the files' own headers.
    index: Option<HashMap<String, usize>>,
}

fn weight_files(dir: &Path) -> Result<WeightFiles, ModelError> {
    let dir_err = |message: String| ModelError::File {
        path: dir.to_path_buf(),
        message,
    };
    let index_path = dir.join(INDEX_FILE);
    if index_path.exists() {
        let file_err = |message: String| ModelError::File {
            path: index_path.clone(),
            message,
        };
        let text = crate::textfile::read_text(&index_path, crate::textfile::CONFIG_LIMIT)
            .map_err(file_err)?;
        let json: serde_json::Value =
            serde_json::from_str(&text).map_err(|e| file_err(format!("not valid JSON: {e}")))?;
        let map = json
            .get("weight_map")
            .and_then(|m| m.as_object())
            .ok_or_else(|| {
                file_err(
                    "field `weight_map`: missing; expected an object of tensor name → file".into(),
                )
            })?;
        let mut files: Vec<PathBuf> = Vec::new();
        let mut index = HashMap::new();
        for (tensor, file) in map {
            let name = file.as_str().ok_or_else(|| {
                file_err(format!(
                    "field `weight_map.{tensor}`: {file}; expected a file name"
                ))
            })?;
            if name.contains('/') || name.contains('\\') || name == ".." {
                return Err(file_err(format!(
                    "field `weight_map.{tensor}`: \"{name}\" is not a file name in the model directory"
                )));
            }
            let path = dir.join(name);
            let at = match files.iter().position(|p| *p == path) {
                Some(at) => at,
                None => {
                    if !path.is_file() {
                        return Err(file_err(format!(
                            "field `weight_map.{tensor}` names {name}, which is not in the model directory"
                        )));
                    }
                    files.push(path);
                    files.len() - 1
                }
            };
            index.insert(tensor.clone(), at);
        }
        if files.is_empty() {
            return Err(file_err("field `weight_map` is empty".into()));
        }
        return Ok(WeightFiles {
            files,
            index: Some(index),
        });
    }
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .map_err(|e| dir_err(format!("cannot list the directory: {e}")))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "safetensors"))
        .collect();
    files.sort();
    if files.is_empty() {
        return Err(dir_err(
            "no *.safetensors files in the model directory".into(),
        ));
    }
    Ok(WeightFiles { files, index: None })
}

struct HfTensors<'a> {
    files: Vec<PathBuf>,
    maps: Vec<MmapedSafetensors>,
    /// Tensor name → the file it is read from.
    route: HashMap<String, usize>,
    used: HashSet<String>,
    device: &'a Device,
    /// The type every weight is held in: f32 on the CPU (the host kernels'); on a GPU the
    /// checkpoint's own half type when its embedding has one (a bf16 Qwen3-8B takes 16 GB,
    /// not 32).
    dtype: DType,
}

impl<'a> HfTensors<'a> {
    fn open(dir: &Path, device: &'a Device) -> Result<HfTensors<'a>, ModelError> {
        let WeightFiles { files, index } = weight_files(dir)?;
        let mut maps = Vec::with_capacity(files.len());
        for file in &files {
            // SAFETY: the files are mapped read-only; like every safetensors reader, we rely on
            // no other process truncating them while the model loads.
            let map = unsafe { MmapedSafetensors::new(file) }.map_err(|e| ModelError::File {
                path: file.clone(),
                message: format!("not a readable safetensors file: {}", candle_message(&e)),
            })?;
            maps.push(map);
        }
        let route = match index {
            Some(index) => {
                for (tensor, &at) in &index {
                    if maps[at].get(tensor).is_err() {
                        return Err(ModelError::File {
                            path: files[at].clone(),
                            message: format!(
                                "tensor `{tensor}` is missing, but {INDEX_FILE} places it in this file"
                            ),
                        });
                    }
                }
                index
            }
            None => {
                let mut route: HashMap<String, usize> = HashMap::new();
                for (at, map) in maps.iter().enumerate() {
                    for (name, _) in map.tensors() {
                        if let Some(&first) = route.get(&name) {
                            return Err(ModelError::File {
                                path: dir.to_path_buf(),
                                message: format!(
                                    "ambiguous weights: tensor `{name}` is defined in both {} and {}; remove the stale file, or add the {INDEX_FILE} that says which holds what",
                                    file_name(&files[first]),
                                    file_name(&files[at])
                                ),
                            });
                        }
                        route.insert(name, at);
                    }
                }
                route
            }
        };
        let embedding = "model.embed_tokens.weight";
        let stored = route
            .get(embedding)
            .and_then(|&at| maps[at].get(embedding).ok())
            .and_then(|view| DType::try_from(view.dtype()).ok());
        let dtype = match stored {
            Some(half @ (DType::BF16 | DType::F16)) if !device.is_cpu() => half,
            _ => DType::F32,
        };
        Ok(HfTensors {
            files,
            maps,
            route,
            used: HashSet::new(),
            device,
            dtype,
        })
    }

    fn has(&self, name: &str) -> bool {
        self.route.contains_key(name)
    }

    fn dense(&mut self, name: &str, dims: &[usize]) -> Result<Tensor, ModelError> {
        let Some(&at) = self.route.get(name) else {
            return Err(self.in_dir(ModelError::tensor(
                name,
                "missing from the safetensors files",
            )));
        };
        let file_err = |message: String| ModelError::File {
            path: self.files[at].clone(),
            message: ModelError::tensor(name, message).to_string(),
        };
        let t = self.maps[at]
            .load(name, self.device)
            .map_err(|e| file_err(candle_message(&e)))?;
        if !matches!(t.dtype(), DType::BF16 | DType::F16 | DType::F32) {
            return Err(file_err(format!(
                "dtype {:?}, expected bf16, f16 or f32",
                t.dtype()
            )));
        }
        if t.dims() != dims {
            return Err(file_err(format!("shape {:?}, expected {dims:?}", t.dims())));
        }
        self.used.insert(name.to_string());
        Ok(t.to_dtype(self.dtype)?)
    }

    fn linear(
        &mut self,
        name: &str,
        out: usize,
        inp: usize,
        bias: bool,
    ) -> Result<Linear, ModelError> {
        let w = self.dense(&format!("{name}.weight"), &[out, inp])?;
        let b = if bias {
            Some(self.dense(&format!("{name}.bias"), &[out])?)
        } else {
            None
        };
        Ok(Linear::new(Weight::Dense(w), b))
    }

    /// Refuse any tensor the config did not call for: transformers would drop it with a warning,
    /// which is how a checkpoint that needs it runs wrong without a word.
    fn refuse_unused(&self, c: &ModelConfig) -> Result<(), ModelError> {
        let mut unused: Vec<&String> = self
            .route
            .keys()
            .filter(|name| !self.used.contains(*name))
            // Older Llama checkpoints store RoPE's inverse frequencies, which are recomputed.
            .filter(|name| !name.ends_with("rotary_emb.inv_freq"))
            // A tied model's own head is replaced by the embedding, as transformers ties it.
            .filter(|name| !(c.tie_embeddings == Some(true) && *name == "lm_head.weight"))
            .collect();
        unused.sort();
        if let Some(name) = unused.first() {
            let at = self.route[*name];
            let hint = if name.ends_with(".bias") {
                " (config.json leaves biases out: check attention_bias and mlp_bias)"
            } else {
                ""
            };
            return Err(ModelError::File {
                path: self.files[at].clone(),
                message: format!(
                    "tensor `{name}` is not part of a {} model with this config.json{hint}; {} unused tensor(s) in all",
                    c.arch.name(),
                    unused.len()
                ),
            });
        }
        Ok(())
    }

    fn in_dir(&self, e: ModelError) -> ModelError {
        match self.files.first().and_then(|f| f.parent()) {
            Some(dir) => e.in_file(dir),
            None => e,
        }
    }
}

fn read_weights(r: &mut HfTensors<'_>, c: &ModelConfig) -> Result<Weights, ModelError> {
    let (h, d) = (c.hidden, c.head_dim);
    let embedding = r.dense("model.embed_tokens.weight", &[c.vocab, h])?;
    let mut layers = Vec::with_capacity(c.layers);
    for i in 0..c.layers {
        let p = format!("model.layers.{i}");
        let (q_norm, k_norm) = if c.qk_norm {
            (
                Some(r.dense(&format!("{p}.self_attn.q_norm.weight"), &[d])?),
                Some(r.dense(&format!("{p}.self_attn.k_norm.weight"), &[d])?),
            )
        } else {
            (None, None)
        };
        let a = format!("{p}.self_attn");
        let m = format!("{p}.mlp");
        layers.push(LayerWeights {
            attn_norm: r.dense(&format!("{p}.input_layernorm.weight"), &[h])?,
            q: r.linear(&format!("{a}.q_proj"), c.heads * d, h, c.qkv_bias)?,
            k: r.linear(&format!("{a}.k_proj"), c.kv_heads * d, h, c.qkv_bias)?,
            v: r.linear(&format!("{a}.v_proj"), c.kv_heads * d, h, c.qkv_bias)?,
            o: r.linear(&format!("{a}.o_proj"), h, c.heads * d, c.o_bias)?,
            q_norm,
            k_norm,
            ffn_norm: r.dense(&format!("{p}.post_attention_layernorm.weight"), &[h])?,
            gate: r.linear(&format!("{m}.gate_proj"), c.ffn, h, c.mlp_bias)?,
            up: r.linear(&format!("{m}.up_proj"), c.ffn, h, c.mlp_bias)?,
            down: r.linear(&format!("{m}.down_proj"), h, c.ffn, c.mlp_bias)?,
        });
    }
    let final_norm = r.dense("model.norm.weight", &[h])?;
    let lm_head = if c.tie_embeddings == Some(true) {
        Linear::new(Weight::Dense(embedding.clone()), None)
    } else if r.has("lm_head.weight") {
        r.linear("lm_head", c.vocab, h, false)?
    } else {
        return Err(r.in_dir(ModelError::tensor(
            "lm_head.weight",
            "missing, and config.json does not set tie_word_embeddings: true (transformers would start this head from random weights)",
        )));
    };
    Ok(Weights {
        embedding,
        layers,
        final_norm,
        lm_head,
    })
}

fn file_name(p: &Path) -> String {
    p.file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| p.display().to_string())
}
