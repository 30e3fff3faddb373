//! Models of a real checkpoint's shape with random weights, made on the device: for throughput
//! measurements, whose speed does not depend on the values (DESIGN.md §4), of models far too
//! large to ship or fetch here (Qwen3-8B: 16 GB in bf16).

use candle_core::{DType, Device, Tensor};

use super::config::{Arch, ModelConfig, RopeStyle};
use super::error::ModelError;
use super::linear::{Linear, Weight};
use super::rope::{Rope, RopeScaling};
use super::weights::{LayerWeights, Weights};
use super::{AttentionKernel, Model, ModelFormat};

/// A named shape: `qwen3-8b` (Qwen/Qwen3-8B's config.json: 36 layers, hidden 4096, 32 query
/// and 8 KV heads of 128, MLP 12288, vocab 151936, RoPE θ 1e6, context 40960), `qwen3-0.6b`, or
/// `tiny-qwen3` (for tests).
pub fn shape(name: &str) -> Result<ModelConfig, ModelError> {
    let qwen3 = |hidden, layers, heads, kv_heads, ffn, vocab, context| ModelConfig {
        arch: Arch::Qwen3,
        hidden,
        layers,
        heads,
        kv_heads,
        head_dim: 128,
        ffn,
        vocab,
        rope_theta: 1_000_000.0,
        rope_style: RopeStyle::Halves,
        rope_scaling: RopeScaling::None,
        rope_freq_factors: None,
        rms_eps: 1e-6,
        context,
        qk_norm: true,
        qkv_bias: false,
        o_bias: false,
        mlp_bias: false,
        tie_embeddings: Some(false),
        bos: None,
        eos: vec![151_645],
    };
    match name {
        "qwen3-8b" => Ok(qwen3(4096, 36, 32, 8, 12288, 151_936, 40_960)),
        "qwen3-0.6b" => Ok(ModelConfig {
            tie_embeddings: Some(true),
            ..qwen3(1024, 28, 16, 8, 3072, 151_936, 40_960)
        }),
        "tiny-qwen3" => Ok(ModelConfig {
            head_dim: 32,
            eos: vec![1],
            ..qwen3(128, 2, 4, 2, 256, 1024, 4096)
        }),
        other => Err(ModelError::Unsupported(format!(
            "model shape `{other}`: expected qwen3-8b, qwen3-0.6b or tiny-qwen3"
        ))),
    }
}

impl Model {
    /// A model of `config`'s shape with weights drawn from N(0, 0.02²) (norms 1) on `device`,
    /// in `dtype`; from `seed` on the CPU (the GPU's generator has its own sequence).
    pub fn random(
        config: ModelConfig,
        name: &str,
        device: &Device,
        dtype: DType,
        seed: u64,
    ) -> Result<Model, ModelError> {
        // The GPU draws its own numbers (fast for billions of weights); the CPU, which candle
        // cannot seed, draws from a seeded generator here.
        let host = device.is_cpu();
        if !host {
            device.set_seed(seed)?;
        }
        let rng = std::cell::RefCell::new(
            <rand_chacha::ChaCha8Rng as rand::SeedableRng>::seed_from_u64(seed),
        );
        let c = &config;
        let normal = |dims: &[usize]| -> Result<Tensor, ModelError> {
            let t = if host {
                use rand_distr::Distribution;
                let dist = rand_distr::Normal::new(0f32, 0.02).expect("a valid normal");
                let n: usize = dims.iter().product();
                let mut rng = rng.borrow_mut();
                let v: Vec<f32> = (0..n).map(|_| dist.sample(&mut *rng)).collect();
                Tensor::from_vec(v, dims, device)?
            } else {
                Tensor::randn(0f32, 0.02, dims, device)?
            };
            Ok(t.to_dtype(dtype)?)
        };
        let ones = |n: usize| -> Result<Tensor, ModelError> { Ok(Tensor::ones(n, dtype, device)?) };
        let dense = |out: usize, inp: usize| -> Result<Linear, ModelError> {
            Ok(Linear::new(Weight::Dense(normal(&[out, inp])?), None))
        };
        let (q, kv) = (c.heads * c.head_dim, c.kv_heads * c.head_dim);
        let mut layers = Vec::with_capacity(c.layers);
        for _ in 0..c.layers {
            layers.push(LayerWeights {
                attn_norm: ones(c.hidden)?,
                q: dense(q, c.hidden)?,
                k: dense(kv, c.hidden)?,
                v: dense(kv, c.hidden)?,
                o: dense(c.hidden, q)?,
                q_norm: if c.qk_norm {
                    Some(ones(c.head_dim)?)
                } else {
                    None
                },
                k_norm: if c.qk_norm {
                    Some(ones(c.head_dim)?)
                } else {
                    None
                },
                ffn_norm: ones(c.hidden)?,
                gate: dense(c.ffn, c.hidden)?,
                up: dense(c.ffn, c.hidden)?,
                down: dense(c.hidden, c.ffn)?,
            });
        }
        let embedding = normal(&[c.vocab, c.hidden])?;
        let lm_head = if c.tie_embeddings == Some(true) {
            Linear::new(Weight::Dense(embedding.clone()), None)
        } else {
            dense(c.vocab, c.hidden)?
        };
        let weights = Weights {
            embedding,
            layers,
            final_norm: ones(c.hidden)?,
            lm_head,
        };
        let rope = Rope::for_config(&config);
        Ok(Model {
            config,
            format: ModelFormat::HfDir,
            path: std::path::PathBuf::from(format!("random:{name}")),
            weights,
            rope,
            attention: AttentionKernel::for_device(device),
            device: device.clone(),
        })
    }

    /// Bytes of weights one decode step reads: every matrix and norm once (the embedding only
    /// for the rows it looks up, so not counted; a tied LM head counts once).
    pub fn weight_bytes_per_step(&self) -> u64 {
        let w = &self.weights;
        let mut total: u64 = w.lm_head.bytes() + tensor_bytes(&w.final_norm);
        for l in &w.layers {
            total += [&l.q, &l.k, &l.v, &l.o, &l.gate, &l.up, &l.down]
                .iter()
                .map(|m| m.bytes())
                .sum::<u64>();
            total += tensor_bytes(&l.attn_norm) + tensor_bytes(&l.ffn_norm);
        }
        total
    }
}

fn tensor_bytes(t: &Tensor) -> u64 {
    (t.elem_count() * t.dtype().size_in_bytes()) as u64
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::LogitRows;

    #[test]
    fn a_random_model_runs_on_both_paths_alike() {
        let config = shape("tiny-qwen3").unwrap();
        let host = Model::random(config, "tiny-qwen3", &Device::Cpu, DType::F32, 7).unwrap();
        let ids: Vec<u32> = (0..20).map(|i| (i * 37) % 1024).collect();
        let positions: Vec<u64> = (0..20).collect();
        let mut a = host.new_store();
        let la = host
            .forward(&mut a, &ids, &positions, LogitRows::Last)
            .unwrap();
        let mut paged = host;
        paged.set_attention(AttentionKernel::Paged);
        let mut b = paged.new_store();
        let lb = paged
            .forward(&mut b, &ids, &positions, LogitRows::Last)
            .unwrap();
        let worst = la[0]
            .iter()
            .zip(&lb[0])
            .fold(0f32, |m, (x, y)| m.max((x - y).abs()));
        assert!(worst < 1e-5, "{worst}");
        assert!(
            la[0].iter().any(|&x| x.abs() > 1e-4),
            "the logits are not all zero"
        );
    }

    #[test]
    fn qwen3_8b_has_the_published_size() {
        let c = shape("qwen3-8b").unwrap();
        let per_layer = 4096 * (4096 + 2 * 1024) + 4096 * 4096 + 3 * 4096 * 12288;
        let params = c.layers * per_layer + 2 * c.vocab * c.hidden;
        // Qwen3-8B: 8.2 B parameters (its model card).
        assert!((8.1e9..8.3e9).contains(&(params as f64)), "{params}");
        assert!(
            shape("llama-70b")
                .unwrap_err()
                .to_string()
                .contains("expected qwen3-8b")
        );
    }
}
