//! The decode loop: sampler, KV policy modes, scaffolding; it emits trace events and never
//! touches the terminal.

pub mod batch;
mod decoder;
mod error;
mod run;
mod sampler;
mod scaffold;
pub mod scripted;

pub use decoder::{Decoder, DecoderInfo, ModelDecoder};
pub use error::EngineError;
pub use run::{Run, RunOptions, RunSummary, Step, Timings, chat_conversation, chat_prompt};
pub use sampler::{Sampler, SamplerConfig, logprobs};
pub use scaffold::{Scaffold, ScaffoldConfig};
