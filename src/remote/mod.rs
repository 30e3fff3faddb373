//! Remote attach: the workbench fed by an OpenAI-compatible server's stream instead of a local
//! model ([`RemoteEngine`]), and the parser of the stream's chunks ([`chunk`]).

pub mod chunk;
mod engine;

pub use engine::{RemoteConfig, RemoteEngine};
