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
