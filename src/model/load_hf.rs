//! Load a decoder from an HF directory: `config.json` and `*.safetensors` (bf16, f16 or f32).

use std::path::{Path, PathBuf};

use candle_core::safetensors::MmapedSafetensors;
use candle_core::{DType, Device, Tensor};

use super::config::ModelConfig;
use super::error::ModelError;
use super::linear::{Linear, Weight};
use super::weights::{LayerWeights, Weights};

pub fn load_hf_dir(dir: &Path, device: &Device) -> Result<(ModelConfig, Weights), ModelError> {
    let config_path = dir.join("config.json");
    let text = std::fs::read_to_string(&config_path).map_err(|e| ModelError::File {
        path: config_path.clone(),
        message: format!("cannot read: {e}"),
    })?;
    let config = ModelConfig::from_hf_json(&text).map_err(|e| e.in_file(&config_path))?;
    let files = safetensors_files(dir)?;
    // SAFETY: the files are mapped read-only; like every safetensors reader, we rely on no
    // other process truncating them while the model loads.
    let st = unsafe { MmapedSafetensors::multi(&files) }.map_err(|e| ModelError::File {
        path: dir.to_path_buf(),
        message: format!("cannot read the safetensors files: {e}"),
    })?;
    let mut r = HfTensors { st: &st, device };
    let weights = read_weights(&mut r, &config).map_err(|e| e.in_file(dir))?;
    Ok((config, weights))
}

fn safetensors_files(dir: &Path) -> Result<Vec<PathBuf>, ModelError> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .map_err(|e| ModelError::File {
            path: dir.to_path_buf(),
            message: format!("cannot list the directory: {e}"),
        })?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "safetensors"))
        .collect();
    files.sort();
    if files.is_empty() {
        return Err(ModelError::File {
            path: dir.to_path_buf(),
            message: "no *.safetensors files in the model directory".into(),
        });
    }
    Ok(files)
}

struct HfTensors<'a> {
    st: &'a MmapedSafetensors,
    device: &'a Device,
}

impl HfTensors<'_> {
    fn has(&self, name: &str) -> bool {
        self.st.get(name).is_ok()
    }

    fn dense(&mut self, name: &str, dims: &[usize]) -> Result<Tensor, ModelError> {
        if !self.has(name) {
            return Err(ModelError::tensor(
                name,
                "missing from the safetensors files",
            ));
        }
        let t = self
            .st
            .load(name, self.device)
            .map_err(|e| ModelError::tensor(name, e.to_string()))?;
        if !matches!(t.dtype(), DType::BF16 | DType::F16 | DType::F32) {
            return Err(ModelError::tensor(
                name,
                format!("dtype {:?}, expected bf16, f16 or f32", t.dtype()),
            ));
        }
        if t.dims() != dims {
            return Err(ModelError::tensor(
                name,
                format!("shape {:?}, expected {dims:?}", t.dims()),
            ));
        }
        Ok(t.to_dtype(DType::F32)?)
    }

    fn linear(
        &mut self,
        name: &str,
        out: usize,
        inp: usize,
        bias: bool,
    ) -> Result<Linear, ModelError> {
        let w = self.dense(&format!("{name}.weight"), &[out, inp])?;
        let bias_name = format!("{name}.bias");
        let b = if bias || self.has(&bias_name) {
            Some(self.dense(&bias_name, &[out])?)
        } else {
            None
        };
        Ok(Linear::new(Weight::Dense(w), b))
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
            o: r.linear(&format!("{a}.o_proj"), h, c.heads * d, false)?,
            q_norm,
            k_norm,
            ffn_norm: r.dense(&format!("{p}.post_attention_layernorm.weight"), &[h])?,
            gate: r.linear(&format!("{m}.gate_proj"), c.ffn, h, false)?,
            up: r.linear(&format!("{m}.up_proj"), c.ffn, h, false)?,
            down: r.linear(&format!("{m}.down_proj"), h, c.ffn, false)?,
        });
    }
    let final_norm = r.dense("model.norm.weight", &[h])?;
    let lm_head = if r.has("lm_head.weight") {
        r.linear("lm_head", c.vocab, h, false)?
    } else {
        Linear::new(Weight::Dense(embedding.clone()), None)
    };
    Ok(Weights {
        embedding,
        layers,
        final_norm,
        lm_head,
    })
}
