//! `memento generate`: decode a prompt headless, stream the text, record a trace.

use std::io::{Read, Write};
use std::path::PathBuf;

use anyhow::{Context, anyhow};
use clap::Args;

use super::args::{ModelArgs, PolicyArgs, SamplerArgs, load_model};
use crate::engine::{Run, RunOptions, ScaffoldConfig};
use crate::live::{ScaffoldChoice, SessionPaths};
use crate::task::{ProblemDraw, Task};
use crate::trace::{EndReason, TraceWriter};

/// Used when no prompt is given.
pub const BUILT_IN_PROMPT: &str = "A farmer has 17 sheep. He buys 3 pens with 4 sheep in each, \
then sells 5 sheep. How many sheep does he have now? Think step by step.";

#[derive(Args, Debug)]
pub struct GenerateArgs {
    /// The prompt; `-` reads standard input (default: a problem of the model's task, or a
    /// built-in math prompt for a model without one)
    pub prompt: Option<String>,
    /// Read the prompt from a file
    #[arg(long, value_name = "FILE", conflicts_with = "prompt")]
    pub prompt_file: Option<PathBuf>,
    #[command(flatten)]
    pub model: ModelArgs,
    #[command(flatten)]
    pub policy: PolicyArgs,
    /// Force `<|block_end|>` once a block holds this many tokens (0 = off)
    #[arg(long, default_value_t = 0)]
    pub max_block_tokens: u32,
    /// Runtime-inserted blocks and mementos, for models not trained on them
    #[arg(long, value_enum, default_value = "auto")]
    pub scaffold: ScaffoldChoice,
    #[command(flatten)]
    pub sampler: SamplerArgs,
    /// Tokens to generate at most (default: what the model's task needs, else 256)
    #[arg(long, value_parser = clap::value_parser!(u32).range(1..))]
    pub max_tokens: Option<u32>,
    /// With no prompt, the seed of the task problem drawn (default: a fresh one, printed)
    #[arg(long, value_name = "SEED")]
    pub problem_seed: Option<u64>,
    /// A system message (none by default)
    #[arg(long)]
    pub system: Option<String>,
    /// Re-rotate keys to close position gaps after evictions (experiment)
    #[arg(long)]
    pub rerotate: bool,
    /// Where to write the trace (default: the sessions directory)
    #[arg(long, value_name = "FILE")]
    pub trace: Option<PathBuf>,
    /// Print a JSON summary at the end instead of streaming the text
    #[arg(long)]
    pub json: bool,
}

pub fn run(args: GenerateArgs) -> anyhow::Result<()> {
    let mut policy = args.policy.resolve()?;
    let given = read_prompt(&args)?;
    let path = args.model.path()?;
    let task = Task::of_model(&path)?;
    let prompt = match given {
        Some(p) => p,
        None => match &task {
            Some(task) => {
                let mut draw = ProblemDraw::new(task.clone(), args.problem_seed);
                let p = draw.draw();
                eprintln!(
                    "{} problem {} (held-out, --problem-seed {}): reference answer {}",
                    task.name(),
                    p.id,
                    draw.seed,
                    p.answer
                );
                p.prompt
            }
            None => BUILT_IN_PROMPT.to_string(),
        },
    };
    let max_tokens = args
        .max_tokens
        .unwrap_or(crate::task::default_max_tokens(task.as_ref()));
    let (model, tokenizer) = load_model(&path, args.model.device)?;
    let scaffolded = args.scaffold.resolve(tokenizer.has_memento_tags());
    let mut scaffold = scaffolded.then(ScaffoldConfig::default);
    if args.max_block_tokens > 0 {
        policy.max_block_tokens = args.max_block_tokens;
        if let Some(s) = scaffold.as_mut() {
            s.max_block_tokens = args.max_block_tokens;
            s.min_block_tokens = s.min_block_tokens.min(args.max_block_tokens);
        }
    }
    // Every flag is checked before a trace file exists.
    let sampler = args.sampler.config(scaffolded)?;
    let (trace_path, writer) = match &args.trace {
        Some(p) => {
            let writer = TraceWriter::create(p)
                .with_context(|| format!("{}: cannot create the trace", p.display()))?;
            (p.clone(), writer)
        }
        None => {
            let dir = sessions_dir()?;
            let (paths, mut writers) = SessionPaths::create(&dir, &[policy.label()])
                .with_context(|| format!("{}: cannot create a trace there", dir.display()))?;
            (paths.paths[0].clone(), writers.remove(0))
        }
    };
    let options = RunOptions {
        policy,
        sampler,
        max_tokens,
        scaffold,
        system: args.system.clone(),
        rerotate: args.rerotate,
        automatic: args.sampler.automatic(scaffolded),
        ..RunOptions::default()
    };
    let mut run = Run::start(&model, &tokenizer, &prompt, options, writer)?;
    let stream = !args.json;
    let mut stdout = std::io::stdout().lock();
    let mut closed = false;
    while let Some(step) = run.step()? {
        if !stream {
            continue;
        }
        match stdout
            .write_all(step.text.as_bytes())
            .and_then(|()| stdout.flush())
        {
            Ok(()) => {}
            // The reader went away (`| head`): nothing more to decode for.
            Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => {
                closed = true;
                break;
            }
            Err(e) => {
                let (_, summary) = run.finish(Some(EndReason::Error))?;
                return Err(anyhow!(
                    "writing to standard output: {e}; stopped after {} tokens (trace {})",
                    summary.generated_tokens,
                    trace_path.display()
                ));
            }
        }
    }
    let (_, summary) = run.finish(closed.then_some(EndReason::Stopped))?;
    if args.json {
        let mut value = serde_json::to_value(&summary)?;
        value["trace"] = serde_json::Value::String(trace_path.display().to_string());
        writeln!(stdout, "{}", serde_json::to_string_pretty(&value)?)
            .and_then(|()| stdout.flush())
            .context("writing to standard output")?;
    } else if !closed {
        writeln!(stdout)
            .and_then(|()| stdout.flush())
            .context("writing to standard output")?;
    }
    eprintln!(
        "{} tokens ({} prompt) · prefill {:.1} tok/s · decode {:.1} tok/s on {} · {} · {} · peak KV {} tokens · trace {}",
        summary.generated_tokens,
        summary.prompt_tokens,
        summary.prefill_tok_s,
        summary.decode_tok_s,
        crate::threads::current(),
        crate::units::plural(summary.blocks_closed, "block"),
        crate::units::plural(summary.evictions, "eviction"),
        summary.peak_live_tokens,
        trace_path.display()
    );
    if let Some(failure) = &summary.failure {
        return Err(anyhow!("{failure} (trace {})", trace_path.display()));
    }
    Ok(())
}

/// The prompt given, if any.
fn read_prompt(args: &GenerateArgs) -> anyhow::Result<Option<String>> {
    if let Some(file) = &args.prompt_file {
        let text = crate::textfile::read_text(file, crate::textfile::PROMPT_LIMIT)
            .map_err(|e| anyhow!("{}: cannot read the prompt file: {e}", file.display()))?;
        let text = crate::textfile::prompt_text(&text);
        if text.trim().is_empty() {
            return Err(anyhow!("{}: the prompt file is empty", file.display()));
        }
        return Ok(Some(text));
    }
    match args.prompt.as_deref() {
        Some("-") => {
            let mut s = String::new();
            let limit = crate::textfile::PROMPT_LIMIT;
            std::io::stdin()
                .take(limit + 1)
                .read_to_string(&mut s)
                .context("reading the prompt from standard input")?;
            if s.len() as u64 > limit {
                return Err(anyhow!(
                    "the prompt on standard input is larger than {} MiB",
                    limit >> 20
                ));
            }
            let s = crate::textfile::prompt_text(&s);
            if s.trim().is_empty() {
                return Err(anyhow!("the prompt on standard input is empty"));
            }
            Ok(Some(s))
        }
        Some(p) if p.trim().is_empty() => Err(anyhow!("the prompt is empty")),
        Some(p) => Ok(Some(p.to_string())),
        None => Ok(None),
    }
}

/// `<data dir>/memento/sessions/<time>-<mode>.trace.jsonl`.
pub use crate::live::sessions_dir;
