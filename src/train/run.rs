//! The training loop: stages of steps, each step a packed batch, a forward and backward pass
//! and an AdamW update; checkpoints to resume from, a JSONL log, and the model written as an
//! HF directory the loader reads.

use std::path::{Path, PathBuf};
use std::time::Instant;

use rand::{Rng, SeedableRng};
use serde::{Deserialize, Serialize};

use super::TrainError;
use super::batch::{Batch, Masked, Packer};
use super::checkpoint::{self, Checkpoint, State};
use super::data::Source;
use super::example::Example;
use super::model::TrainModel;
use super::optim::{AdamW, AdamWConfig, Schedule};
use crate::kv::KvPolicy;
use crate::model::{Arch, ModelConfig, ModelTokenizer, RopeScaling, RopeStyle};
use crate::task::{Task, tokenizer as task_tokenizer};

/// One stage of the recipe: a policy to train under, for a number of updates.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StageSpec {
    /// `full` (stage 1 of the paper's recipe), `memento` (stage 2), or `keep-N`.
    pub mode: String,
    pub steps: u64,
}

impl StageSpec {
    pub fn policy(&self) -> Result<KvPolicy, TrainError> {
        let p = KvPolicy::parse(&self.mode).map_err(TrainError::Config)?;
        if p.restart {
            return Err(TrainError::Config(
                "stage mode `restart`: restart recomputes mementos and cannot be trained; \
                 expected full, memento or keep-N"
                    .into(),
            ));
        }
        Ok(p)
    }
}

/// The shape of a model trained from scratch (a Qwen3 decoder).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ScratchShape {
    pub hidden: usize,
    pub layers: usize,
    pub heads: usize,
    pub kv_heads: usize,
    pub head_dim: usize,
    pub ffn: usize,
    pub context: usize,
    pub rope_theta: f32,
}

impl Default for ScratchShape {
    fn default() -> Self {
        ScratchShape {
            hidden: 128,
            layers: 4,
            heads: 4,
            kv_heads: 2,
            head_dim: 32,
            ffn: 384,
            context: 4096,
            rope_theta: 10_000.0,
        }
    }
}

/// Where the weights start.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Init {
    /// Fresh weights of this shape, with the byte-level tokenizer.
    Scratch(ScratchShape),
    /// An HF checkpoint directory, with its own tokenizer.
    Checkpoint(PathBuf),
}

/// Where the sequences come from.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DataPlan {
    /// A synthetic task's training split, drawn with `seed`.
    Task { task: Task, seed: u64 },
    /// Transcript files (OpenMementos rows, segments JSON, tagged text), shuffled with `seed`.
    Files { paths: Vec<PathBuf>, seed: u64 },
}

/// Every setting of a training, saved as `train.json` beside the model: a resumed training
/// must have the same plan.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TrainPlan {
    pub init: Init,
    pub data: DataPlan,
    pub stages: Vec<StageSpec>,
    /// Rows per batch and tokens per row (sequences are packed into rows).
    pub rows: usize,
    pub row_tokens: usize,
    pub lr: f64,
    pub min_lr: f64,
    pub warmup: u64,
    pub adamw: AdamWConfig,
    /// Seeds the fresh weights.
    pub seed: u64,
    /// Updates between checkpoints.
    pub checkpoint_every: u64,
    /// Updates between held-out losses (0 = only at the end of each stage).
    pub eval_every: u64,
    pub eval_sequences: usize,
    /// Each training sequence's response starts after a random gap of up to this many
    /// positions (0 = none): RoPE then sees the prompt as far away as in longer sequences,
    /// which memento mode reaches with few live entries (positions are never compacted).
    #[serde(default)]
    pub position_gap: u64,
    /// In a stage that evicts (memento, keep-N), this share of the sequences (0–1, drawn per
    /// sequence from the seed) trains under full attention instead, so the model keeps
    /// working when nothing is evicted (the workbench's full-context side, restart's
    /// prefix before its first memento).
    #[serde(default)]
    pub full_share: f64,
}

impl TrainPlan {
    pub fn check(&self) -> Result<(), TrainError> {
        let bad = |m: String| Err(TrainError::Config(m));
        if self.stages.is_empty() || self.stages.iter().all(|s| s.steps == 0) {
            return bad("no training steps: give --stage1-steps or --stage2-steps".into());
        }
        for s in &self.stages {
            s.policy()?;
        }
        if !(0.0..=1.0).contains(&self.full_share) {
            return bad(format!(
                "full_share: {} (expected a share from 0 to 1)",
                self.full_share
            ));
        }
        if self.rows == 0 || self.row_tokens < 8 {
            return bad(format!(
                "batch: {} rows of {} tokens (expected at least 1 row of 8 tokens)",
                self.rows, self.row_tokens
            ));
        }
        if !(self.lr > 0.0 && self.lr.is_finite() && (0.0..=self.lr).contains(&self.min_lr)) {
            return bad(format!(
                "learning rate {} (floor {}): expected 0 < floor ≤ rate",
                self.lr, self.min_lr
            ));
        }
        if self.checkpoint_every == 0 {
            return bad("--checkpoint-every must be at least 1".into());
        }
        if let Init::Scratch(s) = &self.init {
            if s.heads == 0 || s.kv_heads == 0 || s.heads % s.kv_heads != 0 {
                return bad(format!(
                    "{} heads over {} KV heads: the heads must be a multiple of the KV heads",
                    s.heads, s.kv_heads
                ));
            }
        }
        if let DataPlan::Task { task, .. } = &self.data {
            task.check().map_err(TrainError::Config)?;
        }
        Ok(())
    }

    /// The total updates over all stages.
    pub fn total_steps(&self) -> u64 {
        self.stages.iter().map(|s| s.steps).sum()
    }
}

/// What a step or an evaluation reports to whoever shows progress.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum LogLine {
    Step {
        /// 1-based, over all stages.
        step: u64,
        stage: usize,
        mode: String,
        loss: f64,
        lr: f64,
        grad_norm: f64,
        tokens: u64,
        sequences: u64,
        seconds: f64,
        tok_s: f64,
    },
    Eval {
        step: u64,
        stage: usize,
        mode: String,
        heldout_loss: f64,
        sequences: u64,
    },
}

impl LogLine {
    pub fn step(&self) -> u64 {
        match self {
            LogLine::Step { step, .. } | LogLine::Eval { step, .. } => *step,
        }
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct TrainSummary {
    pub out: PathBuf,
    pub steps: u64,
    pub params: usize,
    pub tokens: u64,
    pub seconds: f64,
    pub final_loss: Option<f64>,
    pub heldout_loss: Option<f64>,
    /// Sequences longer than a row, cut to fit.
    pub cut: usize,
    pub resumed_from: Option<u64>,
}

/// The model, tokenizer and data a plan names.
struct Setup {
    model: TrainModel,
    tokenizer: ModelTokenizer,
    tokenizer_json: String,
    source: Source,
    cut: usize,
}

fn setup(plan: &TrainPlan, out: &Path) -> Result<Setup, TrainError> {
    let (model, tokenizer_json) = match &plan.init {
        Init::Scratch(s) => {
            let vocab = task_tokenizer::vocab_size();
            let im_end = task_tokenizer::special_id("<|im_end|>").expect("a special token");
            let config = ModelConfig {
                arch: Arch::Qwen3,
                hidden: s.hidden,
                layers: s.layers,
                heads: s.heads,
                kv_heads: s.kv_heads,
                head_dim: s.head_dim,
                ffn: s.ffn,
                vocab,
                rope_theta: s.rope_theta,
                rope_style: RopeStyle::Halves,
                rope_scaling: RopeScaling::None,
                rope_freq_factors: None,
                rms_eps: 1e-6,
                context: s.context,
                qk_norm: true,
                qkv_bias: false,
                o_bias: false,
                mlp_bias: false,
                tie_embeddings: None,
                bos: None,
                eos: vec![im_end],
            };
            (
                TrainModel::init(config, plan.seed)?,
                task_tokenizer::tokenizer_json(),
            )
        }
        Init::Checkpoint(dir) => {
            let file = dir.join("tokenizer.json");
            let text = std::fs::read_to_string(&file).map_err(|e| TrainError::File {
                path: file.clone(),
                message: format!("cannot read the checkpoint's tokenizer: {e}"),
            })?;
            (TrainModel::load(dir)?, text)
        }
    };
    // The tokenizer is read back from the text written into the model directory, so training
    // tokenizes exactly as the loaded model will.
    std::fs::create_dir_all(out).map_err(|e| TrainError::File {
        path: out.to_path_buf(),
        message: format!("cannot create the output directory: {e}"),
    })?;
    checkpoint::write_atomic(&out.join("tokenizer.json"), tokenizer_json.as_bytes())?;
    let tokenizer = ModelTokenizer::load(out)?;
    tokenizer.check_against(model.config.vocab)?;
    let (source, cut) = match &plan.data {
        DataPlan::Task { task, seed } => (
            Source::Task {
                task: task.clone(),
                seed: *seed,
            },
            0,
        ),
        DataPlan::Files { paths, seed } => {
            Source::files(paths, &tokenizer, plan.row_tokens, *seed)?
        }
    };
    Ok(Setup {
        model,
        tokenizer,
        tokenizer_json,
        source,
        cut,
    })
}

/// Run `plan`, writing into `out`; with `resume`, continue from `out`'s checkpoint (whose
/// plan must equal this one). `on_line` hears every log line as it is written, and stops the
/// training by returning `false` (as an interruption would: what the last checkpoint holds
/// is kept).
pub fn train(
    plan: &TrainPlan,
    out: &Path,
    resume: bool,
    on_line: &mut dyn FnMut(&LogLine) -> bool,
) -> Result<TrainSummary, TrainError> {
    plan.check()?;
    let saved = checkpoint::read_plan(out)?;
    let resume_state = if resume {
        let saved = saved.ok_or_else(|| TrainError::File {
            path: out.to_path_buf(),
            message: "nothing to resume: no train.json (start without --resume)".into(),
        })?;
        checkpoint::same_plan(&saved, plan, out)?;
        checkpoint::read_state(out)?
    } else {
        if saved.is_some() || out.join(checkpoint::CHECKPOINT_DIR).exists() {
            return Err(TrainError::File {
                path: out.to_path_buf(),
                message: "already holds a training: pass --resume to continue it, or choose \
                          another --out"
                    .into(),
            });
        }
        None
    };
    let s = setup(plan, out)?;
    if !resume {
        checkpoint::write_plan(out, plan)?;
    }
    let params = s.model.param_count();
    let mut state = State::default();
    let mut opt = AdamW::new(s.model.params(), plan.adamw);
    if let Some(st) = &resume_state {
        let Checkpoint { optimizer, weights } = checkpoint::files(out);
        s.model.restore_weights(&weights)?;
        opt = AdamW::load(s.model.params(), plan.adamw, st.optimizer_t, &optimizer)?;
        state = st.clone();
    }
    if resume {
        checkpoint::truncate_log(out, state.step)?;
    }
    let resumed_from = resume_state.as_ref().map(|st| st.step);
    let mut log = checkpoint::open_log(out)?;
    let heldout = s.source.heldout(&s.tokenizer, plan.eval_sequences)?;
    let started = Instant::now();
    let seconds_before = state.seconds;
    let mut last_loss = None;
    let mut last_heldout = None;
    while state.stage < plan.stages.len() {
        let stage = &plan.stages[state.stage];
        let policy = stage.policy()?;
        let schedule = Schedule {
            peak: plan.lr,
            min: plan.min_lr,
            warmup: plan.warmup.min(stage.steps / 2),
            total: stage.steps,
        };
        while state.stage_step < stage.steps {
            let t0 = Instant::now();
            let (batch, next) = next_batch(&s, plan, policy, state.cursor)?;
            let lr = schedule.lr(state.stage_step);
            let output = s.model.forward(&batch)?;
            let grads = output.loss.backward()?;
            let stats = opt.step(s.model.params(), &grads, lr)?;
            let loss = f64::from(output.loss.to_scalar::<f32>()?);
            if !loss.is_finite() {
                return Err(TrainError::Config(format!(
                    "the loss is {loss} at step {}: lower --lr",
                    state.step + 1
                )));
            }
            state.cursor = next;
            state.step += 1;
            state.stage_step += 1;
            state.optimizer_t = opt.t;
            state.tokens += batch.tokens as u64;
            let seconds = t0.elapsed().as_secs_f64();
            let line = LogLine::Step {
                step: state.step,
                stage: state.stage + 1,
                mode: stage.mode.clone(),
                loss,
                lr,
                grad_norm: stats.grad_norm,
                tokens: batch.tokens as u64,
                sequences: batch.sequences as u64,
                seconds,
                tok_s: batch.tokens as f64 / seconds.max(1e-9),
            };
            last_loss = Some(loss);
            checkpoint::append_log(&mut log, &line)?;
            if !on_line(&line) {
                return Err(TrainError::Stopped { step: state.step });
            }
            let stage_done = state.stage_step == stage.steps;
            let eval_now = stage_done || (plan.eval_every > 0 && state.step % plan.eval_every == 0);
            if eval_now && !heldout.is_empty() {
                let h = heldout_loss(&s.model, &heldout, policy, plan)?;
                let line = LogLine::Eval {
                    step: state.step,
                    stage: state.stage + 1,
                    mode: stage.mode.clone(),
                    heldout_loss: h,
                    sequences: heldout.len() as u64,
                };
                last_heldout = Some(h);
                checkpoint::append_log(&mut log, &line)?;
                if !on_line(&line) {
                    return Err(TrainError::Stopped { step: state.step });
                }
            }
            if stage_done {
                break;
            }
            if state.step % plan.checkpoint_every == 0 {
                state.seconds = seconds_before + started.elapsed().as_secs_f64();
                save(&s, plan, out, &opt, &state)?;
            }
        }
        // Each stage is its own fine-tuning run, with fresh optimizer moments.
        state.stage += 1;
        state.stage_step = 0;
        state.optimizer_t = 0;
        opt = AdamW::new(s.model.params(), plan.adamw);
        state.seconds = seconds_before + started.elapsed().as_secs_f64();
        save(&s, plan, out, &opt, &state)?;
    }
    super::curves::write(out)?;
    Ok(TrainSummary {
        out: out.to_path_buf(),
        steps: state.step,
        params,
        tokens: state.tokens,
        seconds: seconds_before + started.elapsed().as_secs_f64(),
        final_loss: last_loss,
        heldout_loss: last_heldout,
        cut: s.cut,
        resumed_from,
    })
}

/// Write the model directory's files and the checkpoint.
fn save(
    s: &Setup,
    plan: &TrainPlan,
    out: &Path,
    opt: &AdamW,
    state: &State,
) -> Result<(), TrainError> {
    s.model.save_dir(out, &s.tokenizer_json)?;
    if let DataPlan::Task { task, .. } = &plan.data {
        task.save(out).map_err(|e| TrainError::File {
            path: out.join(crate::task::TASK_FILE),
            message: format!("cannot write: {e}"),
        })?;
    }
    checkpoint::save(out, &s.model, opt, state)
}

/// A generator for one choice (`salt`) about sequence `index` alone: the same whenever that
/// sequence is read, a resumed training included.
fn sequence_rng(seed: u64, salt: u64, index: u64) -> rand_chacha::ChaCha8Rng {
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed ^ salt);
    rng.set_stream(index);
    rng
}

/// Pack sequences from `cursor` until a batch is full; returns it and the next cursor.
fn next_batch(
    s: &Setup,
    plan: &TrainPlan,
    policy: KvPolicy,
    cursor: u64,
) -> Result<(Batch, u64), TrainError> {
    let mut packer = Packer::new(plan.rows, plan.row_tokens);
    let mut next = cursor;
    loop {
        let mut example = s.source.example(&s.tokenizer, next)?;
        if example.len() > plan.row_tokens {
            example.ids.truncate(plan.row_tokens);
            example.texts.truncate(plan.row_tokens);
        }
        let sequence_policy = if policy.evicts()
            && sequence_rng(plan.seed, 0x6675_6c6c, next).random_bool(plan.full_share)
        {
            KvPolicy::FULL
        } else {
            policy
        };
        let mut masked = Masked::new(example, sequence_policy)?;
        if plan.position_gap > 0 {
            masked.gap =
                sequence_rng(plan.seed, 0x6761_7073, next).random_range(0..=plan.position_gap);
        }
        match packer.push(masked) {
            Ok(()) => next += 1,
            Err(_) if !packer.is_empty() => break,
            Err(_) => unreachable!("an example cut to a row fits an empty packer"),
        }
    }
    Ok((packer.finish(), next))
}

/// Mean loss per target token over `examples` under `policy` (no update).
pub fn heldout_loss(
    model: &TrainModel,
    examples: &[Example],
    policy: KvPolicy,
    plan: &TrainPlan,
) -> Result<f64, TrainError> {
    let mut sum = 0.0;
    let mut count = 0usize;
    let mut rest = examples.iter().peekable();
    while rest.peek().is_some() {
        let mut packer = Packer::new(plan.rows, plan.row_tokens);
        while let Some(e) = rest.peek() {
            let mut e = (*e).clone();
            e.ids.truncate(plan.row_tokens);
            e.texts.truncate(plan.row_tokens);
            if packer.push(Masked::new(e, policy)?).is_err() {
                break;
            }
            rest.next();
        }
        let batch = packer.finish();
        let out = model.forward(&batch)?;
        sum += out.token_nll.sum_all()?.to_scalar::<f32>()? as f64;
        count += batch.target_ids.len();
    }
    Ok(sum / count.max(1) as f64)
}
