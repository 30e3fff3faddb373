//! GGUF metadata that would change the forward pass in ways memento does not apply: each is
//! refused by its key rather than silently ignored.
//!
//! Source: llama.cpp `llama-model.cpp` (`load_hparams`, the Llama/Qwen2/Qwen3 loaders): which
//! keys it reads for these architectures and what each changes.

use super::config::ModelConfig;
use super::error::ModelError;
use super::gguf_meta::{self, Metadata};

pub fn refuse_unapplied(md: &Metadata, arch: &str, c: &ModelConfig) -> Result<(), ModelError> {
    let key = |k: &str| format!("{arch}.{k}");
    let dims = [
        (
            "rope.dimension_count",
            "rotates only part of each head (partial RoPE)",
        ),
        (
            "attention.value_length",
            "gives values a different head size than keys",
        ),
    ];
    for (k, what) in dims {
        if let Some(n) = gguf_meta::uint(md, &key(k))?
            && n as usize != c.head_dim
        {
            return Err(ModelError::field(
                &key(k),
                &format!(
                    "{n} differs from the head size {}: the model {what}, which memento does not implement",
                    c.head_dim
                ),
            ));
        }
    }
    if let Some(n) = gguf_meta::uint(md, &key("expert_count"))?
        && n > 0
    {
        return Err(ModelError::field(
            &key("expert_count"),
            &format!("{n}: a mixture-of-experts model; memento runs dense decoders"),
        ));
    }
    if let Some(n) = gguf_meta::uint(md, &key("attention.sliding_window"))?
        && n > 0
        && (n as usize) < c.context
    {
        return Err(ModelError::field(
            &key("attention.sliding_window"),
            &format!(
                "{n}: sliding-window attention is not implemented; every token would see the whole context"
            ),
        ));
    }
    Ok(())
}
