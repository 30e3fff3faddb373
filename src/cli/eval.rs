//! `memento eval`: a model on its own task — accuracy per KV mode, blocks and mementos, peak
//! KV — decoded greedily on a split of the task's problems.

use std::io::IsTerminal;

use anyhow::{Context, anyhow};
use clap::Args;
use comfy_table::{Table, presets::UTF8_FULL_CONDENSED};
use serde::Serialize;

use super::args::ModelArgs;
use crate::ablate::tables::wilson;
use crate::kv::KvPolicy;
use crate::task::eval::{Outcome, evaluate};
use crate::task::{Split, Task};

#[derive(Args, Debug)]
pub struct EvalArgs {
    #[command(flatten)]
    pub model: ModelArgs,
    /// Which problems: train, heldout (other seeds) or longer (longer than any in training)
    #[arg(long, value_enum, default_value = "heldout")]
    pub split: Split,
    /// Seed of the split's problems
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Problems to decode
    #[arg(long, default_value_t = 100)]
    pub problems: u64,
    /// KV modes, comma-separated (full, memento, keep-N, restart)
    #[arg(long, default_value = "full,memento,restart", value_delimiter = ',')]
    pub modes: Vec<String>,
    #[arg(long, default_value_t = 2048, value_parser = clap::value_parser!(u32).range(1..))]
    pub max_tokens: u32,
    /// Print the results as JSON
    #[arg(long)]
    pub json: bool,
}

/// One mode's figures over the problems.
#[derive(Debug, Clone, Serialize)]
pub struct ModeFigures {
    pub mode: String,
    pub problems: u64,
    pub correct: u64,
    pub accuracy: f64,
    /// 95% Wilson interval.
    pub ci_low: f64,
    pub ci_high: f64,
    pub mean_blocks: f64,
    pub mean_block_tokens: f64,
    pub mean_memento_tokens: f64,
    /// Share of closed blocks whose memento is shorter than the block.
    pub memento_shorter: f64,
    pub median_peak_live: f64,
    pub mean_generated: f64,
    pub outcomes: Vec<Outcome>,
}

impl ModeFigures {
    fn of(mode: &str, outcomes: Vec<Outcome>) -> ModeFigures {
        let n = outcomes.len() as u64;
        let correct = outcomes.iter().filter(|o| o.correct).count() as u64;
        let (ci_low, ci_high) = wilson(correct, n);
        let mean =
            |f: &dyn Fn(&Outcome) -> f64| outcomes.iter().map(f).sum::<f64>() / (n.max(1)) as f64;
        let blocks: Vec<u64> = outcomes
            .iter()
            .flat_map(|o| o.block_tokens.clone())
            .collect();
        let mementos: Vec<u64> = outcomes
            .iter()
            .flat_map(|o| o.memento_tokens.clone())
            .collect();
        let pairs: Vec<(u64, u64)> = outcomes
            .iter()
            .flat_map(|o| {
                o.block_tokens
                    .iter()
                    .copied()
                    .zip(o.memento_tokens.iter().copied())
            })
            .collect();
        let avg = |v: &[u64]| v.iter().sum::<u64>() as f64 / v.len().max(1) as f64;
        ModeFigures {
            mode: mode.to_string(),
            problems: n,
            correct,
            accuracy: correct as f64 / n.max(1) as f64,
            ci_low,
            ci_high,
            mean_blocks: mean(&|o| o.block_tokens.len() as f64),
            mean_block_tokens: avg(&blocks),
            mean_memento_tokens: avg(&mementos),
            memento_shorter: pairs.iter().filter(|(b, m)| m < b).count() as f64
                / pairs.len().max(1) as f64,
            median_peak_live: median(outcomes.iter().map(|o| o.peak_live as f64).collect()),
            mean_generated: mean(&|o| o.generated as f64),
            outcomes,
        }
    }
}

pub fn median(mut v: Vec<f64>) -> f64 {
    if v.is_empty() {
        return 0.0;
    }
    v.sort_by(f64::total_cmp);
    let n = v.len();
    if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    }
}

#[derive(Debug, Serialize)]
struct Report {
    model: String,
    task: String,
    split: Split,
    seed: u64,
    modes: Vec<ModeFigures>,
    /// Per problem, peak live KV of memento mode over full context (when both ran).
    median_peak_ratio: Option<f64>,
}

pub fn run(args: EvalArgs) -> anyhow::Result<()> {
    let policies: Vec<(String, KvPolicy)> = args
        .modes
        .iter()
        .map(|m| {
            KvPolicy::parse(m)
                .map(|p| (p.label(), p))
                .map_err(|e| anyhow!(e))
                .context("--modes")
        })
        .collect::<anyhow::Result<_>>()?;
    let path = args.model.path()?;
    let task = Task::of_model(&path)?.ok_or_else(|| {
        anyhow!(
            "{}: the model names no task ({} is missing); `memento eval` needs a model trained on one",
            path.display(),
            crate::task::TASK_FILE
        )
    })?;
    let (model, tokenizer) = super::args::load_model(&path, args.model.device)?;
    let terminal = std::io::stderr().is_terminal();
    let mut modes = Vec::new();
    for (label, policy) in &policies {
        let bar = if terminal {
            indicatif::ProgressBar::new(args.problems)
        } else {
            indicatif::ProgressBar::hidden()
        };
        bar.set_style(
            indicatif::ProgressStyle::with_template(
                "{prefix} [{bar:30}] {pos}/{len} problems · {msg} · ETA {eta}",
            )
            .expect("a valid template")
            .progress_chars("=> "),
        );
        bar.set_prefix(label.clone());
        let mut right = 0;
        let outcomes = evaluate(
            &model,
            &tokenizer,
            &task,
            args.split,
            args.seed,
            args.problems,
            *policy,
            args.max_tokens,
            &mut |o| {
                right += u64::from(o.correct);
                bar.inc(1);
                bar.set_message(format!("{right} right"));
            },
        )?;
        bar.finish_and_clear();
        modes.push(ModeFigures::of(label, outcomes));
    }
    let full = modes.iter().find(|m| m.mode == "full");
    let memento = modes.iter().find(|m| m.mode == "memento");
    let median_peak_ratio = full.zip(memento).map(|(f, m)| {
        median(
            f.outcomes
                .iter()
                .zip(&m.outcomes)
                .map(|(a, b)| b.peak_live as f64 / a.peak_live.max(1) as f64)
                .collect(),
        )
    });
    let report = Report {
        model: model.name(),
        task: task.name().to_string(),
        split: args.split,
        seed: args.seed,
        modes,
        median_peak_ratio,
    };
    if args.json {
        return super::output::emit(&serde_json::to_string_pretty(&report)?);
    }
    let mut t = Table::new();
    t.load_style(UTF8_FULL_CONDENSED);
    t.set_header(vec![
        "mode",
        "accuracy",
        "95% CI",
        "blocks",
        "block tok",
        "memento tok",
        "memento < block",
        "peak KV (median)",
        "tokens",
    ]);
    for m in &report.modes {
        t.add_row(vec![
            m.mode.clone(),
            format!("{}/{} = {:.1}%", m.correct, m.problems, 100.0 * m.accuracy),
            format!("{:.1}–{:.1}%", 100.0 * m.ci_low, 100.0 * m.ci_high),
            format!("{:.2}", m.mean_blocks),
            format!("{:.1}", m.mean_block_tokens),
            format!("{:.1}", m.mean_memento_tokens),
            format!("{:.1}%", 100.0 * m.memento_shorter),
            format!("{:.0}", m.median_peak_live),
            format!("{:.0}", m.mean_generated),
        ]);
    }
    let mut text = format!(
        "{} on {} ({} split, seed {}, {} problems, greedy)\n{t}",
        report.model,
        report.task,
        report.split.name(),
        report.seed,
        args.problems
    );
    if let Some(r) = report.median_peak_ratio {
        text.push_str(&format!(
            "\npeak KV, memento over full context, median per problem: {r:.3}"
        ));
    }
    super::output::emit(&text)
}
