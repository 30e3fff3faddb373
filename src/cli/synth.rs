//! `memento synth`: write a deterministic synthetic trace.

use clap::builder::TypedValueParser as _;
use std::path::PathBuf;

use clap::Args;

use super::args::{PolicyArgs, ShapeArgs};
use crate::import::{RecordSettings, import_to};
use crate::synth::{SynthSettings, synthesize};
use crate::tokenize::TextTokenizer;

#[derive(Args, Debug)]
pub struct SynthArgs {
    /// Output trace file
    #[arg(
        short,
        long = "output",
        alias = "out",
        value_name = "PATH",
        default_value = "synthetic.trace.jsonl"
    )]
    pub out: PathBuf,
    /// Random seed
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Approximate number of generated tokens
    #[arg(long, default_value_t = 4000, value_parser = clap::value_parser!(u64).range(1..=10_000_000).map(|n| n as usize))]
    pub tokens: usize,
    /// Mean block length in tokens
    #[arg(long, default_value_t = 400)]
    pub block_tokens: usize,
    /// Count tokens with this tokenizer.json, directory or GGUF file (default: the estimate)
    #[arg(long, value_name = "PATH")]
    pub tokenizer: Option<PathBuf>,
    #[command(flatten)]
    pub shape: ShapeArgs,
    #[command(flatten)]
    pub policy: PolicyArgs,
}

pub fn run(args: SynthArgs) -> anyhow::Result<()> {
    let transcript = synthesize(&SynthSettings {
        seed: args.seed,
        tokens: args.tokens,
        mean_block_tokens: args.block_tokens.max(8),
    });
    let tokenizer = match &args.tokenizer {
        Some(p) => TextTokenizer::load(p)?,
        None => TextTokenizer::Estimate,
    };
    let totals = import_to(
        &args.out,
        &transcript,
        &RecordSettings {
            tokenizer: &tokenizer,
            shape: args.shape.resolve("qwen3-8b")?,
            policy: args.policy.resolve()?,
            lenient: false,
            snapshot_every: 256,
        },
    )?;
    eprintln!(
        "wrote {}: {} tokens, {} blocks",
        args.out.display(),
        totals.generated,
        totals.blocks_closed
    );
    Ok(())
}
