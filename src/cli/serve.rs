//! `memento serve`: the OpenAI-compatible server over the batched engine.

use std::io::Write;
use std::path::PathBuf;

use anyhow::{anyhow, bail};
use clap::Args;

use super::args::{ModelArgs, PolicyArgs, load_model};
use crate::engine::batch::BatchConfig;
use crate::kv::KvDtype;
use crate::live::ScaffoldChoice;
use crate::server::{Defaults, ServeConfig};

#[derive(Args, Debug)]
pub struct ServeArgs {
    #[command(flatten)]
    pub model: ModelArgs,
    /// The default KV policy (a request may pick its own in `kv_policy`)
    #[command(flatten)]
    pub policy: PolicyArgs,
    /// Address to listen on (loopback by default)
    #[arg(long, default_value = "127.0.0.1")]
    pub host: String,
    /// Port to listen on; 0 picks a free one (printed at start)
    #[arg(long, default_value_t = 8000)]
    pub port: u16,
    /// The model's name in the API (default: the model's own name)
    #[arg(long, value_name = "NAME")]
    pub served_model_name: Option<String>,
    /// KV budget in pages, shared by every request
    #[arg(long, default_value_t = 2048, value_parser = clap::value_parser!(u64).range(1..))]
    pub kv_pages: u64,
    /// Tokens per KV page
    #[arg(long, default_value_t = 16, value_parser = clap::value_parser!(u64).range(1..=4096))]
    pub page_tokens: u64,
    /// Requests decoding at once (vLLM's --max-num-seqs)
    #[arg(long, default_value_t = 64, value_parser = clap::value_parser!(u64).range(1..))]
    pub max_num_seqs: u64,
    /// Requests queued beyond those before the server answers 503
    #[arg(long, default_value_t = 256)]
    pub max_waiting: usize,
    /// Largest request body, in bytes (413 beyond)
    #[arg(long, default_value_t = 1 << 20)]
    pub max_body_bytes: usize,
    /// Tokens generated when a request does not say (default: what the model's task needs,
    /// else 256)
    #[arg(long, value_parser = clap::value_parser!(u32).range(1..))]
    pub max_tokens: Option<u32>,
    /// Most alternatives a request may ask for per token
    #[arg(long, default_value_t = 20)]
    pub max_logprobs: u32,
    /// Runtime-inserted blocks and mementos for chat requests, for models not trained on them
    #[arg(long, value_enum, default_value = "auto")]
    pub scaffold: ScaffoldChoice,
    /// Record each request's trace in this directory (off by default)
    #[arg(long, value_name = "DIR")]
    pub record: Option<PathBuf>,
}

pub fn run(args: ServeArgs) -> anyhow::Result<()> {
    let policy = args.policy.resolve()?;
    if let Some(dir) = &args.record {
        if !dir.is_dir() {
            bail!("{}: --record: no such directory", dir.display());
        }
    }
    let path = args.model.path()?;
    let task = crate::task::Task::of_model(&path)?;
    let (model, tokenizer) = load_model(&path, args.model.device)?;
    let scaffolded = args.scaffold.resolve(tokenizer.has_memento_tags());
    let config = ServeConfig {
        host: args.host,
        port: args.port,
        model_name: args
            .served_model_name
            .unwrap_or_else(|| served_name(&args.model, &model)),
        batch: BatchConfig {
            pages: args.kv_pages as usize,
            page_tokens: args.page_tokens as usize,
            dtype: KvDtype::engine_default(),
            max_running: args.max_num_seqs as usize,
        },
        defaults: Defaults {
            policy,
            max_tokens: args
                .max_tokens
                .unwrap_or(crate::task::default_max_tokens(task.as_ref())),
            scaffolded,
            max_logprobs: args.max_logprobs,
        },
        max_waiting: args.max_waiting,
        max_body_bytes: args.max_body_bytes,
        record: args.record,
    };
    std::io::stdout().flush().ok();
    crate::server::serve(model, tokenizer, config).map_err(|e| anyhow!("memento serve: {e:#}"))
}

/// The model's name in the API: the name it was asked for by (`organism`, `smollm2`), else
/// the model's own.
fn served_name(args: &ModelArgs, model: &crate::model::Model) -> String {
    match &args.model {
        None => crate::organism::NAME.to_string(),
        Some(p) if !p.exists() => p.display().to_string(),
        Some(_) => model.name(),
    }
}
