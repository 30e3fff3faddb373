//! Remote attach: the workbench fed by an OpenAI-compatible server's stream instead of a local
//! model ([`RemoteEngine`]), and the parser of the stream's chunks ([`chunk`]).

pub mod chunk;
mod engine;

pub use engine::{RemoteConfig, RemoteEngine, kv_usage_in};

/// The label of the marker a remote run records each time it reads the server's own KV usage
/// (`vllm:kv_cache_usage_perc` from `/metrics`, a fraction in the note), beside the
/// reconstruction.
pub const SERVER_KV_MARKER: &str = "server_kv_usage";
