//! `memento train`: supervised fine-tuning in two stages (full attention, then memento
//! attention), from scratch on a synthetic task or from an HF checkpoint on transcript files.

use std::io::IsTerminal;
use std::path::{Path, PathBuf};

use anyhow::Context;
use clap::Args;

use crate::task::Task;
use crate::train::optim::AdamWConfig;
use crate::train::{DataPlan, Init, LogLine, ScratchShape};
use crate::train::{StageSpec, TrainPlan, train};

#[derive(Args, Debug)]
pub struct TrainArgs {
    /// Output directory: the model (config.json, tokenizer.json, model.safetensors), train.json,
    /// train-log.jsonl, loss.svg/png and checkpoint/
    #[arg(short, long = "output", alias = "out", value_name = "DIR")]
    pub out: PathBuf,
    /// Continue the training in --out from its last checkpoint (same settings)
    #[arg(long)]
    pub resume: bool,
    /// Train on a synthetic task: its name with default settings (toll-walk, the default
    /// unless --data is given), or a task file (`memento_task.json`) with its own settings
    #[arg(long, value_name = "NAME|FILE", conflicts_with = "data")]
    pub task: Option<String>,
    /// Train on transcript files instead: OpenMementos rows (JSONL or Parquet), segments JSON
    /// or tagged text, as `memento import` reads them
    #[arg(long, value_name = "FILE", num_args = 1..)]
    pub data: Vec<PathBuf>,
    /// Start from an HF checkpoint directory (its config.json, tokenizer.json and weights),
    /// or `organism`; default: fresh weights with the byte-level tokenizer
    #[arg(long, value_name = "DIR")]
    pub init: Option<PathBuf>,
    /// Stage 1: updates under full attention (keep −1)
    #[arg(long, default_value_t = 1000)]
    pub stage1_steps: u64,
    /// Stage 2: updates under memento attention (keep 0)
    #[arg(long, default_value_t = 1000)]
    pub stage2_steps: u64,
    /// Rows per batch
    #[arg(long, default_value_t = 4)]
    pub rows: usize,
    /// Tokens per row; sequences are packed into rows, longer ones cut
    #[arg(long, default_value_t = 1024)]
    pub row_tokens: usize,
    /// Peak learning rate
    #[arg(long, default_value_t = 2e-3)]
    pub lr: f64,
    /// Learning rate at the end of each stage's cosine
    #[arg(long, default_value_t = 2e-4)]
    pub min_lr: f64,
    /// Warmup updates at the start of each stage
    #[arg(long, default_value_t = 50)]
    pub warmup: u64,
    /// Decoupled weight decay on matrices
    #[arg(long, default_value_t = 0.1)]
    pub weight_decay: f64,
    /// Clip the global gradient norm (0 = off)
    #[arg(long, default_value_t = 1.0)]
    pub clip: f64,
    /// Seed of the fresh weights
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Seed of the training data (the task's problems, or the files' order)
    #[arg(long, default_value_t = 0)]
    pub data_seed: u64,
    /// From scratch: hidden size
    #[arg(long, default_value_t = ScratchShape::default().hidden)]
    pub hidden: usize,
    /// From scratch: layers
    #[arg(long, default_value_t = ScratchShape::default().layers)]
    pub layers: usize,
    /// From scratch: query heads
    #[arg(long, default_value_t = ScratchShape::default().heads)]
    pub heads: usize,
    /// From scratch: KV heads
    #[arg(long, default_value_t = ScratchShape::default().kv_heads)]
    pub kv_heads: usize,
    /// From scratch: head dimension
    #[arg(long, default_value_t = ScratchShape::default().head_dim)]
    pub head_dim: usize,
    /// From scratch: feed-forward size
    #[arg(long, default_value_t = ScratchShape::default().ffn)]
    pub ffn: usize,
    /// From scratch: context length (max_position_embeddings)
    #[arg(long, default_value_t = ScratchShape::default().context)]
    pub context: usize,
    /// Updates between checkpoints
    #[arg(long, default_value_t = 50)]
    pub checkpoint_every: u64,
    /// Updates between held-out losses (0 = at the end of each stage only)
    #[arg(long, default_value_t = 50)]
    pub eval_every: u64,
    /// Held-out sequences per evaluation
    #[arg(long, default_value_t = 16)]
    pub eval_sequences: usize,
    /// Start each training sequence's response after a random gap of up to N positions, so
    /// that longer sequences' distances to the prompt are seen in training (0 = none)
    #[arg(long, default_value_t = 0, value_name = "N")]
    pub position_gap: u64,
    /// In stage 2, train this share of the sequences (0–1) under full attention instead, so
    /// the model keeps working with full context
    #[arg(long, default_value_t = 0.0, value_name = "SHARE")]
    pub full_share: f64,
}

impl TrainArgs {
    pub fn plan(&self) -> anyhow::Result<TrainPlan> {
        let init = match &self.init {
            Some(dir) => Init::Checkpoint(
                super::args::ModelArgs {
                    model: Some(dir.clone()),
                    device: crate::gpu::DeviceChoice::Cpu,
                }
                .path()?,
            ),
            None => Init::Scratch(ScratchShape {
                hidden: self.hidden,
                layers: self.layers,
                heads: self.heads,
                kv_heads: self.kv_heads,
                head_dim: self.head_dim,
                ffn: self.ffn,
                context: self.context,
                rope_theta: ScratchShape::default().rope_theta,
            }),
        };
        let data = if self.data.is_empty() {
            let name = self.task.as_deref().unwrap_or("toll-walk");
            let task = if Path::new(name).is_file() {
                Task::from_file(Path::new(name)).context("--task")?
            } else {
                Task::parse(name)
                    .map_err(anyhow::Error::msg)
                    .context("--task")?
            };
            DataPlan::Task {
                task,
                seed: self.data_seed,
            }
        } else {
            for p in &self.data {
                if !p.exists() {
                    anyhow::bail!("{}: no such file (--data)", p.display());
                }
            }
            DataPlan::Files {
                paths: self.data.clone(),
                seed: self.data_seed,
            }
        };
        Ok(TrainPlan {
            init,
            data,
            stages: vec![
                StageSpec {
                    mode: "full".into(),
                    steps: self.stage1_steps,
                },
                StageSpec {
                    mode: "memento".into(),
                    steps: self.stage2_steps,
                },
            ],
            rows: self.rows,
            row_tokens: self.row_tokens,
            lr: self.lr,
            min_lr: self.min_lr,
            warmup: self.warmup,
            adamw: AdamWConfig {
                weight_decay: self.weight_decay,
                clip: self.clip,
                ..AdamWConfig::default()
            },
            seed: self.seed,
            checkpoint_every: self.checkpoint_every,
            eval_every: self.eval_every,
            eval_sequences: self.eval_sequences,
            position_gap: self.position_gap,
            full_share: self.full_share,
        })
    }
}

pub fn run(args: TrainArgs) -> anyhow::Result<()> {
    let plan = args.plan()?;
    let total = plan.total_steps();
    let terminal = std::io::stderr().is_terminal();
    let bar = if terminal {
        indicatif::ProgressBar::new(total)
    } else {
        indicatif::ProgressBar::hidden()
    };
    bar.set_style(
        indicatif::ProgressStyle::with_template(
            "{prefix} [{bar:30}] {pos}/{len} updates · {msg} · {elapsed} elapsed · ETA {eta}",
        )
        .expect("a valid template")
        .progress_chars("=> "),
    );
    bar.set_prefix("train");
    let mut heldout = None;
    let mut on_line = |line: &LogLine| {
        match line {
            LogLine::Step {
                step,
                stage,
                mode,
                loss,
                tok_s,
                ..
            } => {
                bar.set_position(*step);
                let h = heldout.map_or(String::new(), |h: f64| format!(" · held-out {h:.4}"));
                bar.set_message(format!(
                    "stage {stage} ({mode}) · loss {loss:.4}{h} · {tok_s:.0} tok/s"
                ));
            }
            LogLine::Eval {
                step,
                stage,
                mode,
                heldout_loss,
                ..
            } => {
                heldout = Some(*heldout_loss);
                if !terminal {
                    eprintln!(
                        "step {step}/{total} · stage {stage} ({mode}) · held-out loss {heldout_loss:.4}"
                    );
                }
            }
        }
        true
    };
    let summary = train(&plan, &args.out, args.resume, &mut on_line)?;
    bar.finish_and_clear();
    if let Some(from) = summary.resumed_from {
        eprintln!("resumed from update {from}");
    }
    if summary.cut > 0 {
        eprintln!(
            "{} sequences were longer than a row ({} tokens) and were cut",
            summary.cut, plan.row_tokens
        );
    }
    eprintln!(
        "trained {} parameters for {} updates ({} tokens) in {:.0} s; final loss {}, held-out {}",
        summary.params,
        summary.steps,
        summary.tokens,
        summary.seconds,
        summary.final_loss.map_or("–".into(), |l| format!("{l:.4}")),
        summary
            .heldout_loss
            .map_or("–".into(), |l| format!("{l:.4}")),
    );
    super::output::emit(&summary.out.display().to_string())?;
    Ok(())
}
