//! Load a decoder from a GGUF file (Llama, Qwen2, Qwen3), checking what it claims.

use std::collections::HashSet;
use std::fs::File;
use std::io::{Read, Seek, SeekFrom};
use std::path::Path;

use candle_core::quantized::gguf_file::Content;
use candle_core::quantized::{GgmlDType, QMatMul, QTensor};
use candle_core::{DType, Device};

use super::MatmulKernel;
use super::config::{Arch, ModelConfig};
use super::error::ModelError;
use super::linear::{Linear, Weight};
use super::q4_1::Q4_1Matrix;
use super::weights::{LayerWeights, Weights};

pub fn load_gguf(
    path: &Path,
    device: &Device,
    matmul: MatmulKernel,
) -> Result<(ModelConfig, Weights), ModelError> {
    let file_err = |message: String| ModelError::File {
        path: path.to_path_buf(),
        message,
    };
    let mut file = crate::textfile::open_regular(path)
        .map_err(|e| file_err(format!("cannot open the model file: {e}")))?;
    let file_len = file.metadata().map(|m| m.len()).unwrap_or(0);
    let mut magic = [0u8; 4];
    if file.read_exact(&mut magic).is_err() {
        return Err(file_err(format!(
            "not a GGUF file: {file_len} bytes, too short for a header"
        )));
    }
    if &magic != b"GGUF" {
        return Err(file_err(format!(
            "not a GGUF file: bad magic number {magic:02x?}, expected \"GGUF\""
        )));
    }
    file.seek(SeekFrom::Start(0))
        .map_err(|e| file_err(e.to_string()))?;
    let content = Content::read(&mut file).map_err(|e| {
        let e = super::error::candle_message(&e);
        if e.contains("unknown dtype") {
            match super::gguf_types::first_unsupported(path) {
                Some(found) => file_err(found),
                None => file_err(format!("unsupported tensor type ({e})")),
            }
        } else {
            file_err(format!("malformed or truncated GGUF header: {e}"))
        }
    })?;
    for (name, info) in &content.tensor_infos {
        let bytes =
            info.shape.elem_count() / info.ggml_dtype.block_size() * info.ggml_dtype.type_size();
        let end = content.tensor_data_offset + info.offset + bytes as u64;
        if end > file_len {
            return Err(file_err(format!(
                "truncated: tensor `{name}` ends at byte {end} but the file has {file_len} bytes"
            )));
        }
    }
    let mut config = ModelConfig::from_gguf(&content.metadata).map_err(|e| e.in_file(path))?;
    let mut reader = GgufTensors {
        content: &content,
        file: &mut file,
        device,
        matmul,
        used: HashSet::new(),
    };
    let weights = read_weights(&mut reader, &config).map_err(|e| e.in_file(path))?;
    // Llama 3.1+ carry their RoPE scaling as per-pair frequency divisors (llama.cpp divides each
    // frequency by its factor); only the Llama loader of llama.cpp reads them.
    const FREQS: &str = "rope_freqs.weight";
    if config.arch == Arch::Llama && reader.has(FREQS) {
        let factors = reader
            .dense(FREQS, &[config.head_dim / 2])
            .and_then(|t| Ok(t.to_vec1::<f32>()?))
            .map_err(|e| e.in_file(path))?;
        config.rope_freq_factors = Some(factors);
        config.check().map_err(|e| e.in_file(path))?;
    }
    reader.refuse_unused(&config).map_err(|e| e.in_file(path))?;
    Ok((config, weights))
}

struct GgufTensors<'a> {
    content: &'a Content,
    file: &'a mut File,
    device: &'a Device,
    matmul: MatmulKernel,
    used: HashSet<String>,
}

impl GgufTensors<'_> {
    fn has(&self, name: &str) -> bool {
        self.content.tensor_infos.contains_key(name)
    }

    /// llama.cpp refuses a file with tensors its architecture does not create ("wrong number
    /// of tensors"); so does memento, naming the first.
    fn refuse_unused(&self, c: &ModelConfig) -> Result<(), ModelError> {
        let mut unused: Vec<&String> = self
            .content
            .tensor_infos
            .keys()
            .filter(|name| !self.used.contains(*name))
            .collect();
        unused.sort();
        match unused.first() {
            None => Ok(()),
            Some(name) => Err(ModelError::tensor(
                name,
                format!(
                    "is not part of a {} model as memento (and llama.cpp) runs it; {} unused tensor(s) in all",
                    c.arch.name(),
                    unused.len()
                ),
            )),
        }
    }

    fn qtensor(&mut self, name: &str, dims: &[usize]) -> Result<QTensor, ModelError> {
        if !self.has(name) {
            return Err(ModelError::tensor(name, "missing from the file"));
        }
        self.used.insert(name.to_string());
        let t = self
            .content
            .tensor(self.file, name, self.device)
            .map_err(|e| ModelError::tensor(name, e.to_string()))?;
        if t.shape().dims() != dims {
            return Err(ModelError::tensor(
                name,
                format!("shape {:?}, expected {dims:?}", t.shape().dims()),
            ));
        }
        Ok(t)
    }

    fn dense(&mut self, name: &str, dims: &[usize]) -> Result<candle_core::Tensor, ModelError> {
        Ok(self
            .qtensor(name, dims)?
            .dequantize(self.device)?
            .to_dtype(DType::F32)?)
    }

    fn linear(&mut self, name: &str, out: usize, inp: usize) -> Result<Linear, ModelError> {
        let q = self.qtensor(&format!("{name}.weight"), &[out, inp])?;
        let bias_name = format!("{name}.bias");
        let bias = if self.has(&bias_name) {
            Some(self.dense(&bias_name, &[out])?)
        } else {
            None
        };
        let weight = if self.matmul == MatmulKernel::Native && q.dtype() == GgmlDType::Q4_1 {
            let bytes = q.data()?;
            Weight::Q4_1(
                Q4_1Matrix::from_gguf_bytes(&bytes, out, inp)
                    .map_err(|e| ModelError::tensor(&format!("{name}.weight"), e.to_string()))?,
            )
        } else {
            Weight::Quantized(QMatMul::from_qtensor(q)?)
        };
        Ok(Linear::new(weight, bias))
    }
}

fn read_weights(r: &mut GgufTensors<'_>, c: &ModelConfig) -> Result<Weights, ModelError> {
    let (h, d) = (c.hidden, c.head_dim);
    let embedding = r.dense("token_embd.weight", &[c.vocab, h])?;
    let mut layers = Vec::with_capacity(c.layers);
    for i in 0..c.layers {
        let p = format!("blk.{i}");
        let (q_norm, k_norm) = if c.qk_norm {
            (
                Some(r.dense(&format!("{p}.attn_q_norm.weight"), &[d])?),
                Some(r.dense(&format!("{p}.attn_k_norm.weight"), &[d])?),
            )
        } else {
            (None, None)
        };
        layers.push(LayerWeights {
            attn_norm: r.dense(&format!("{p}.attn_norm.weight"), &[h])?,
            q: r.linear(&format!("{p}.attn_q"), c.heads * d, h)?,
            k: r.linear(&format!("{p}.attn_k"), c.kv_heads * d, h)?,
            v: r.linear(&format!("{p}.attn_v"), c.kv_heads * d, h)?,
            o: r.linear(&format!("{p}.attn_output"), h, c.heads * d)?,
            q_norm,
            k_norm,
            ffn_norm: r.dense(&format!("{p}.ffn_norm.weight"), &[h])?,
            gate: r.linear(&format!("{p}.ffn_gate"), c.ffn, h)?,
            up: r.linear(&format!("{p}.ffn_up"), c.ffn, h)?,
            down: r.linear(&format!("{p}.ffn_down"), h, c.ffn)?,
        });
    }
    let final_norm = r.dense("output_norm.weight", &[h])?;
    // Tied embeddings: without an `output` tensor the token embedding is the LM head.
    let head_name = if r.has("output.weight") {
        "output"
    } else {
        "token_embd"
    };
    let lm_head = r.linear(head_name, c.vocab, h)?;
    Ok(Weights {
        embedding,
        layers,
        final_norm,
        lm_head,
    })
}
