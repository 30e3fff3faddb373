//! Supervised fine-tuning under memento attention (`memento train`), on the CPU in candle.
//!
//! The paper's recipe (§4, A.2.1) is two stages of SFT on the same tagged traces: stage 1
//! with ordinary causal attention (`keep_last_n_blocks = −1`), stage 2 under memento
//! attention (`0`), where every position from a block's `<|summary_end|>` on no longer sees
//! the block, while the memento's own tokens still do. The mask is decided by the engine's own
//! KV accountant ([`example::Example::hidden`]), so training hides exactly what inference
//! evicts. The loss covers the assistant part only; AdamW, warmup + cosine, gradient clipping.
//!
//! Everything on the gradient path is differentiable: the attention, RoPE and RMSNorm are our
//! own ops with backward passes (candle's fused ones have none, #2168, #3569).

pub mod attention;
pub mod batch;
pub mod data;
pub mod example;
pub mod model;
pub mod ops;
pub mod optim;
pub mod visibility;

mod checkpoint;
mod curves;
mod run;

use std::path::PathBuf;

pub use checkpoint::{CHECKPOINT_DIR, LOG_FILE};
pub use run::{
    DataPlan, Init, LogLine, ScratchShape, StageSpec, TrainPlan, TrainSummary, heldout_loss, train,
};

use crate::model::ModelError;

#[derive(Debug, thiserror::Error)]
pub enum TrainError {
    #[error("{}: {message}", path.display())]
    File { path: PathBuf, message: String },
    #[error("{}: {message}", path.display())]
    Data { path: PathBuf, message: String },
    #[error("{0}")]
    Config(String),
    #[error("stopped after update {step}")]
    Stopped { step: u64 },
    #[error(transparent)]
    Model(#[from] ModelError),
    #[error("tensor op: {0}")]
    Tensor(#[from] candle_core::Error),
}
