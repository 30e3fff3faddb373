//! Our own decoder forward for the Llama family (SmolLM2, Llama 3), Qwen2 and Qwen3, loaded
//! from GGUF or from an HF safetensors directory, with the KV cache passed in from outside.

mod attention;
mod config;
mod error;
mod forward;
mod forward_tensors;
mod gguf_audit;
mod gguf_meta;
mod gguf_types;
mod linear;
mod load_gguf;
mod load_hf;
mod paged_attention;
pub mod q4_1;
mod random;
mod rope;
mod rope_scaling;
pub(crate) mod simd;
mod tokenizer;
mod weights;

use std::path::{Path, PathBuf};

use candle_core::Device;

pub use config::{Arch, ModelConfig, RopeStyle};
pub use error::ModelError;
pub(crate) use error::candle_message;
pub use forward::{BatchInput, LogitRows, TENSOR_CHUNK, argmax};
pub use paged_attention::{PagedAttention, PagedSequence};
pub use random::shape as named_shape;
pub use rope::{Rope, RopeScaling};
pub use tokenizer::{ModelTokenizer, Utf8Stream};

use crate::kv::{KvPlacement, KvStore};
use weights::Weights;

/// Which kind of file a model came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ModelFormat {
    Gguf,
    HfDir,
}

/// Which implementation computes attention over the store.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum AttentionKernel {
    /// Our CPU kernel over the store's slots, threaded over heads: the fast path.
    #[default]
    Host,
    /// candle tensor ops in the reference models' order: for op-for-op comparisons.
    CandleOps,
    /// The GPU path's: the pool in device tensors, attended through the page tables by the
    /// paged kernels (on the CPU, their CPU reference). A CUDA model always takes it.
    Paged,
}

impl AttentionKernel {
    /// The kernel a model on `device` starts with: the host kernel on the CPU, else the paged.
    pub fn for_device(device: &Device) -> AttentionKernel {
        if device.is_cpu() {
            AttentionKernel::default()
        } else {
            AttentionKernel::Paged
        }
    }
}

/// Which implementation multiplies by quantized weights.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum MatmulKernel {
    /// Our AVX2 kernel for Q4_1 weights (candle's for every other type): the fast path.
    #[default]
    Native,
    /// candle's quantized matmul for every type: for op-for-op comparisons with its models.
    Candle,
}

pub struct Model {
    pub config: ModelConfig,
    pub format: ModelFormat,
    pub path: PathBuf,
    weights: Weights,
    rope: Rope,
    device: Device,
    attention: AttentionKernel,
}

impl Model {
    /// Load a `.gguf` file or an HF directory (`config.json` + `*.safetensors`).
    pub fn load(path: &Path) -> Result<Model, ModelError> {
        Model::load_with(path, MatmulKernel::default())
    }

    /// [`Model::load`] with a choice of quantized matmul kernel.
    pub fn load_with(path: &Path, matmul: MatmulKernel) -> Result<Model, ModelError> {
        Model::load_on(path, matmul, &Device::Cpu)
    }

    /// Load onto `device`. On a GPU every weight is a device tensor (candle's quantized matmul
    /// for GGUF types; safetensors in their own bf16/f16, else f32) and the KV cache takes the
    /// paged path.
    pub fn load_on(
        path: &Path,
        matmul: MatmulKernel,
        device: &Device,
    ) -> Result<Model, ModelError> {
        let device = device.clone();
        // Our Q4_1 kernel is a CPU one.
        let matmul = if device.is_cpu() {
            matmul
        } else {
            MatmulKernel::Candle
        };
        if !path.exists() {
            return Err(ModelError::File {
                path: path.to_path_buf(),
                message: "no such file or directory".into(),
            });
        }
        let (format, (config, weights)) = if path.is_dir() {
            (ModelFormat::HfDir, load_hf::load_hf_dir(path, &device)?)
        } else {
            (
                ModelFormat::Gguf,
                load_gguf::load_gguf(path, &device, matmul)?,
            )
        };
        let rope = Rope::for_config(&config);
        Ok(Model {
            config,
            format,
            path: path.to_path_buf(),
            weights,
            rope,
            attention: AttentionKernel::for_device(&device),
            device,
        })
    }

    /// The device the weights live on.
    pub fn device(&self) -> &Device {
        &self.device
    }

    /// Where this model's KV pools keep their rows: device tensors on the paged path, else
    /// host rows.
    ///
    /// On a GPU, a model whose shape the paged kernels do not serve
    /// ([`crate::gpu::paged_kernels_serve`]) keeps host rows and the host kernel.
    pub fn kv_placement(&self) -> KvPlacement {
        // A model on a GPU always has the paged kernel (`for_device`, `set_attention`); on
        // the CPU the paged kernel's CPU half serves any shape.
        let c = &self.config;
        let served = self.device.is_cpu()
            || crate::gpu::paged_kernels_serve(c.head_dim, c.heads, c.kv_heads);
        match self.attention {
            AttentionKernel::Paged if served => KvPlacement::Tensors(self.device.clone()),
            _ => KvPlacement::Host,
        }
    }

    /// Choose the attention kernel; a model on a GPU keeps the paged one.
    pub fn set_attention(&mut self, kernel: AttentionKernel) {
        if self.device.is_cpu() {
            self.attention = kernel;
        }
    }

    /// An empty f32 KV store shaped for this model (the exact reference).
    pub fn new_store(&self) -> KvStore {
        KvStore::with_dtype_in(
            &self.kv_placement(),
            crate::kv::KvDtype::F32,
            self.kv_layout(),
            crate::kv::KvPool::DEFAULT_PAGE_TOKENS,
        )
        .expect("f32 stores any head dim")
    }

    /// (layers, KV heads, head dim): the shape of a KV pool for this model.
    pub fn kv_layout(&self) -> (usize, usize, usize) {
        (
            self.config.layers,
            self.config.kv_heads,
            self.config.head_dim,
        )
    }

    /// An empty KV store holding K and V in `dtype` (f32, f16 or q8_0).
    pub fn new_store_in(&self, dtype: crate::kv::KvDtype) -> Result<KvStore, ModelError> {
        KvStore::with_dtype_in(
            &self.kv_placement(),
            dtype,
            self.kv_layout(),
            crate::kv::KvPool::DEFAULT_PAGE_TOKENS,
        )
        .map_err(ModelError::Input)
    }

    /// The model's RoPE, for re-rotating keys when the store compacts positions.
    pub fn rope(&self) -> &Rope {
        &self.rope
    }

    /// A short display name: the file or directory name.
    pub fn name(&self) -> String {
        self.path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| self.path.display().to_string())
    }

    /// Evict `span` from `store`, re-rotating later keys when the store compacts positions.
    pub fn evict(&self, store: &mut KvStore, span: std::ops::Range<u64>) -> usize {
        let (pool, seq) = store.parts_mut();
        let rope = &self.rope;
        let turn = |rows: &mut [f32], delta: u64| rope.unrotate(rows, delta);
        seq.evict(pool, span, Some(&turn))
    }
}
